//! Seeded streams of the training step: per-(layer, projection) seeds and LoRA dropout masks,
//! drawn from the engine's SplitMix64 (`syco_data::rng`), so masks are reproducible on every
//! device and thread count.

use rayon::prelude::*;
use syco_data::rng::SplitMix64;

/// A seed for one consumer (`a`, `b`) of a parent seed, e.g. (layer, projection) of one step.
pub(crate) fn derive(seed: u64, a: u64, b: u64) -> u64 {
    let mut r = SplitMix64::new(seed ^ a.wrapping_mul(0xA24B_AED4_963E_E407) ^ b.wrapping_mul(0x9FB2_1C65_1E98_DF25));
    r.next_u64()
}

/// Inverted-dropout multipliers: each element 0 with probability `p`, else 1/(1-p). Drawn in
/// fixed blocks, each from its own derived stream, so the mask depends on `seed` only (not on
/// the thread count) and is generated in parallel. Each 64-bit draw decides four elements by
/// 16-bit uniforms: p is resolved to 1/65536, and generation is 4x cheaper (it ran twice per
/// projection per layer per micro-batch with checkpointing).
pub(crate) fn dropout_mask(n: usize, p: f64, seed: u64) -> Vec<f32> {
    let mut out = vec![0f32; n];
    dropout_mask_into(&mut out, p, seed);
    out
}

/// `dropout_mask(out.len(), p, seed)` written into `out`.
pub(crate) fn dropout_mask_into(out: &mut [f32], p: f64, seed: u64) {
    out.par_chunks_mut(MASK_BLOCK).enumerate().for_each(|(i, chunk)| mask_block(chunk, p, seed, i));
}

/// Elements of a dropout mask drawn from one stream: block `i` of a mask is `mask_block(.., i)`.
pub(crate) const MASK_BLOCK: usize = 4096;

/// Block `index` of the dropout mask of (`p`, `seed`), into `out` (at most `MASK_BLOCK` long).
pub(crate) fn mask_block(out: &mut [f32], p: f64, seed: u64, index: usize) {
    let keep = (1.0 / (1.0 - p)) as f32;
    let threshold = (p * 65536.0).round() as u64; // drop when the 16-bit uniform is below it
    let state = derive(seed, 0x6d61_736b, index as u64);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::choose(crate::simd::features(), &[(MASK_BLOCK_AVX512, true)], false) {
        // SAFETY: `choose` said the CPU has the features of `mask_block_avx512`.
        return unsafe { mask_block_avx512(out, state, threshold, keep) };
    }
    mask_block_portable(out, state, threshold, keep)
}

#[cfg(target_arch = "x86_64")]
crate::simd::target_fn! {
    // DQ: 64-bit lane multiplies.
    pub(crate) const MASK_BLOCK_AVX512 = ["avx512f", "avx512dq"];
    fn mask_block_avx512(out: &mut [f32], state: u64, threshold: u64, keep: f32) {
        mask_block_portable(out, state, threshold, keep)
    }
}

/// SplitMix64 is counter-based (`SplitMix64::draw_at`), so the draws of a block
/// need no sequential state and the loops vectorise: 16 draws at a time, whose 16-bit fields
/// (field j of draw q decides element 4q + j) are then compared all at once. The values are
/// `SplitMix64::new(state)`'s.
#[inline(always)]
fn mask_block_portable(out: &mut [f32], state: u64, threshold: u64, keep: f32) {
    const DRAWS: usize = 16;
    let threshold = threshold.min(1 << 16) as u32;
    for (round, chunk) in out.chunks_mut(4 * DRAWS).enumerate() {
        let mut fields = [0u32; 4 * DRAWS];
        for q in 0..DRAWS {
            let k = (round * DRAWS + q) as u64 + 1;
            let bits = SplitMix64::draw_at(state, k);
            for j in 0..4 {
                fields[4 * q + j] = ((bits >> (16 * j)) & 0xffff) as u32;
            }
        }
        for (v, &f) in chunk.iter_mut().zip(&fields) {
            *v = if f < threshold { 0.0 } else { keep };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_blocks_are_the_sequential_streams_draws() {
        let (p, seed) = (0.3, 99);
        let mask = dropout_mask(2 * MASK_BLOCK + 10, p, seed);
        for (i, block) in mask.chunks(MASK_BLOCK).enumerate() {
            let mut r = SplitMix64::new(derive(seed, 0x6d61_736b, i as u64));
            let threshold = (p * 65536.0).round() as u64;
            for quad in block.chunks(4) {
                let bits = r.next_u64();
                for (k, &v) in quad.iter().enumerate() {
                    assert_eq!(v == 0.0, (bits >> (16 * k)) & 0xffff < threshold);
                }
            }
        }
    }

    #[test]
    fn dropout_mask_is_seeded_and_has_the_right_rate() {
        let a = dropout_mask(100_000, 0.1, 7);
        assert_eq!(a, dropout_mask(100_000, 0.1, 7));
        assert_ne!(a, dropout_mask(100_000, 0.1, 8));
        let dropped = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "dropped {dropped}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.9).abs() < 1e-6));
    }
}
