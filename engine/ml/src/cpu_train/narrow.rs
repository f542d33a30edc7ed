//! Products with one side as narrow as the LoRA rank, for the ranks a vector register holds a
//! multiple of (8, 16, 32, 64).
//!
//! A (tokens, r) product has too little work per element for a general GEMM: `gemm` packs both
//! operands of every call, which for a rank-16 product costs as much as the arithmetic (profiles:
//! `bench-results/train.md`). Here a row of the narrow side is
//! a fixed-size array: LLVM keeps it in vector registers and each step is one broadcast FMA.
//! Ranks outside the list return `false` and the caller uses `gemm`.

use rayon::prelude::*;

use crate::simd::{choose, features, Features};

/// `c (m x r) = a (m x k) · b (k x r)`, all row-major; `false` (nothing written) for another r.
pub(crate) fn rows_times_narrow(a: &[f32], k: usize, b: &[f32], r: usize, c: &mut [f32]) -> bool {
    match r {
        8 => rows_times::<8>(a, k, b, c),
        16 => rows_times::<16>(a, k, b, c),
        32 => rows_times::<32>(a, k, b, c),
        64 => rows_times::<64>(a, k, b, c),
        _ => return false,
    }
    true
}

/// `c (k x r) = aᵀ (k x m) · g (m x r)` for `a` (m x k) and `g` (m x r) row-major; `false`
/// (nothing written) for another r.
pub(crate) fn transposed_times_narrow(a: &[f32], k: usize, g: &[f32], r: usize, c: &mut [f32]) -> bool {
    // Rows of `c` kept in registers at once: 128 floats' worth (8 of the 32 AVX-512 registers).
    match r {
        16 => transposed_times::<16, 8>(a, k, g, c),
        32 => transposed_times::<32, 4>(a, k, g, c),
        64 => transposed_times::<64, 2>(a, k, g, c),
        _ => return false,
    }
    true
}

/// How a kernel body computes `a·b + c`: fused where the CPU has FMA (the AVX-512 copy), as a
/// product and a sum elsewhere (`mul_add` without FMA hardware is a slow libm call, and Rust
/// never fuses `a * b + c` by itself).
trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

struct Fused;
struct Separate;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Rows of `a` per task.
const ROWS_PER_TASK: usize = 64;

fn rows_times<const R: usize>(a: &[f32], k: usize, b: &[f32], c: &mut [f32]) {
    assert!(b.len() == k * R && a.len() * R == c.len() * k, "narrow product shapes");
    if k == 0 {
        c.fill(0.0);
        return;
    }
    type Kernel = unsafe fn(&[f32], usize, &[f32], &mut [f32]);
    #[cfg(target_arch = "x86_64")]
    let candidates: &[(Features, Kernel)] = &[(ROWS_TIMES_AVX512, rows_times_avx512::<R>)];
    #[cfg(not(target_arch = "x86_64"))]
    let candidates: &[(Features, Kernel)] = &[];
    let kernel = choose(features(), candidates, rows_times_task::<R, Separate>);
    c.par_chunks_mut(ROWS_PER_TASK * R).zip(a.par_chunks(ROWS_PER_TASK * k)).for_each(|(c, a)| {
        // SAFETY: `choose` returns a copy compiled for extra features only when the CPU has them.
        unsafe { kernel(a, k, b, c) }
    });
}

#[cfg(target_arch = "x86_64")]
crate::simd::target_fn! {
    pub(crate) const ROWS_TIMES_AVX512 = ["avx512f", "fma"];
    fn rows_times_avx512<const R: usize>(a: &[f32], k: usize, b: &[f32], c: &mut [f32]) {
        rows_times_task::<R, Fused>(a, k, b, c)
    }
}

/// Four rows at a time, so four independent accumulators hide the FMA latency.
#[inline(always)]
fn rows_times_task<const R: usize, M: MulAdd>(a: &[f32], k: usize, b: &[f32], c: &mut [f32]) {
    let mut a_rows = a.chunks_exact(4 * k);
    let mut c_rows = c.chunks_exact_mut(4 * R);
    for (a4, c4) in (&mut a_rows).zip(&mut c_rows) {
        let mut acc = [[0f32; R]; 4];
        for (kk, brow) in b.chunks_exact(R).enumerate() {
            let brow: &[f32; R] = brow.try_into().expect("chunks of R");
            for (i, acc) in acc.iter_mut().enumerate() {
                let av = a4[i * k + kk];
                for j in 0..R {
                    acc[j] = M::mul_add(av, brow[j], acc[j]);
                }
            }
        }
        for (out, acc) in c4.chunks_exact_mut(R).zip(&acc) {
            out.copy_from_slice(acc);
        }
    }
    for (a1, c1) in a_rows.remainder().chunks_exact(k).zip(c_rows.into_remainder().chunks_exact_mut(R)) {
        let mut acc = [0f32; R];
        for (&av, brow) in a1.iter().zip(b.chunks_exact(R)) {
            for j in 0..R {
                acc[j] = M::mul_add(av, brow[j], acc[j]);
            }
        }
        c1.copy_from_slice(&acc);
    }
}

/// Columns of `a` (rows of `c`) per task.
const COLS_PER_TASK: usize = 64;

fn transposed_times<const R: usize, const KB: usize>(a: &[f32], k: usize, g: &[f32], c: &mut [f32]) {
    assert!(c.len() == k * R && a.len() * R == g.len() * k, "narrow product shapes");
    type Kernel = unsafe fn(&[f32], usize, usize, &[f32], &mut [f32]);
    #[cfg(target_arch = "x86_64")]
    let candidates: &[(Features, Kernel)] = &[(TRANSPOSED_TIMES_AVX512, transposed_times_avx512::<R, KB>)];
    #[cfg(not(target_arch = "x86_64"))]
    let candidates: &[(Features, Kernel)] = &[];
    let kernel = choose(features(), candidates, transposed_times_task::<R, KB, Separate>);
    c.par_chunks_mut(COLS_PER_TASK * R).enumerate().for_each(|(block, c)| {
        // SAFETY: `choose` returns a copy compiled for extra features only when the CPU has them.
        unsafe { kernel(a, k, block * COLS_PER_TASK, g, c) }
    });
}

#[cfg(target_arch = "x86_64")]
crate::simd::target_fn! {
    pub(crate) const TRANSPOSED_TIMES_AVX512 = ["avx512f"];
    /// `transposed_times_task` with the accumulators written as AVX-512 registers: left to itself
    /// LLVM vectorised across the rows of `c` with gathers and scatters, at a fraction of the speed.
    fn transposed_times_avx512<const R: usize, const KB: usize>(a: &[f32], k: usize, k0: usize, g: &[f32], c: &mut [f32]) {
        use std::arch::x86_64::*;
        const REGS: usize = 8;
        let lanes = R / 16; // registers per row of `c`
        assert!(R.is_multiple_of(16) && KB * lanes == REGS, "register blocking of rank {R}");
        let cols = c.len() / R;
        let full = cols / KB * KB;
        for kb in (0..full).step_by(KB) {
            let mut acc = [_mm512_setzero_ps(); REGS];
            for (grow, arow) in g.chunks_exact(R).zip(a.chunks_exact(k)) {
                let x = &arow[k0 + kb..][..KB];
                for t in 0..KB {
                    let xt = _mm512_set1_ps(x[t]);
                    for v in 0..lanes {
                        // SAFETY: `grow` holds R = 16 · lanes floats.
                        let gv = unsafe { _mm512_loadu_ps(grow.as_ptr().add(16 * v)) };
                        acc[t * lanes + v] = _mm512_fmadd_ps(xt, gv, acc[t * lanes + v]);
                    }
                }
            }
            for t in 0..KB {
                let row = &mut c[(kb + t) * R..][..R];
                for v in 0..lanes {
                    // SAFETY: `row` holds R = 16 · lanes floats.
                    unsafe { _mm512_storeu_ps(row.as_mut_ptr().add(16 * v), acc[t * lanes + v]) };
                }
            }
        }
        if full < cols {
            transposed_times_task::<R, KB, Separate>(a, k, k0 + full, g, &mut c[full * R..]);
        }
    }
}

/// Rows `k0..` of `c`, `KB` at a time held in registers while every row m of `a` and `g`
/// adds `a[m, kk] · g[m]` to row kk: one load of `g[m]` serves `KB` FMAs.
#[inline(always)]
fn transposed_times_task<const R: usize, const KB: usize, M: MulAdd>(a: &[f32], k: usize, k0: usize, g: &[f32], c: &mut [f32]) {
    let cols = c.len() / R;
    for kb in (0..cols).step_by(KB) {
        let nk = KB.min(cols - kb);
        let mut acc = [[0f32; R]; KB];
        for (grow, arow) in g.chunks_exact(R).zip(a.chunks_exact(k)) {
            let grow: &[f32; R] = grow.try_into().expect("chunks of R");
            if nk == KB {
                let arow: &[f32; KB] = arow[k0 + kb..][..KB].try_into().expect("KB columns");
                for t in 0..KB {
                    for j in 0..R {
                        acc[t][j] = M::mul_add(arow[t], grow[j], acc[t][j]);
                    }
                }
            } else {
                for (t, &x) in arow[k0 + kb..][..nk].iter().enumerate() {
                    for j in 0..R {
                        acc[t][j] = M::mul_add(x, grow[j], acc[t][j]);
                    }
                }
            }
        }
        for (t, acc) in acc.iter().take(nk).enumerate() {
            c[(kb + t) * R..][..R].copy_from_slice(acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.43 + salt).sin()).collect()
    }

    #[test]
    fn narrow_products_match_the_definition_for_every_supported_rank() {
        for r in [8, 16, 32, 64] {
            // Row counts that leave remainders after groups of four and after a task's rows.
            for (m, k) in [(1, 5), (7, 3), (70, 33), (133, 130)] {
                let (a, b, g) = (ramp(m * k, 0.3), ramp(k * r, 1.1), ramp(m * r, 2.2));
                let mut c = vec![f32::NAN; m * r];
                assert!(rows_times_narrow(&a, k, &b, r, &mut c));
                for i in 0..m {
                    for j in 0..r {
                        let want: f32 = (0..k).map(|p| a[i * k + p] * b[p * r + j]).sum();
                        assert!((c[i * r + j] - want).abs() < 1e-4, "r {r} ({m}x{k}) row {i} col {j}");
                    }
                }
                let mut ct = vec![f32::NAN; k * r];
                if !transposed_times_narrow(&a, k, &g, r, &mut ct) {
                    assert_eq!(r, 8, "only rank 8 lacks the transposed kernel");
                    continue;
                }
                for p in 0..k {
                    for j in 0..r {
                        let want: f32 = (0..m).map(|i| a[i * k + p] * g[i * r + j]).sum();
                        assert!((ct[p * r + j] - want).abs() < 1e-3, "r {r} ({m}x{k}) transposed row {p} col {j}");
                    }
                }
            }
        }
        assert!(!rows_times_narrow(&[0.0; 12], 3, &[0.0; 12], 4, &mut [0.0; 16]));
        assert!(!transposed_times_narrow(&[0.0; 24], 3, &[0.0; 64], 8, &mut [0.0; 24]));
    }
}
