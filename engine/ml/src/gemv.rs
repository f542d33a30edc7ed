//! `y = x Wᵀ` for a few rows of `x` (decoding: one new token per sequence) on the CPU in f32.
//!
//! gemm packs the whole weight matrix into its panel layout on every call; with 1-32 rows that
//! copy costs more than the arithmetic (profiles: `bench-results/ml.md`). Decoding is bound
//! by reading the weights once, so here each weight row is read in place and dotted with every
//! row of `x` while it is in cache. Output features are split across threads.
use candle_core::{CpuStorage, Storage, Tensor};
use rayon::prelude::*;

use crate::simd::{choose, features, Features};

/// Up to this many rows of `x` take this path; larger batches are GEMM-shaped.
pub(crate) const MAX_ROWS: usize = 32;

/// Output features per parallel task (a few hundred KB of weights).
const BLOCK: usize = 64;

/// Below this many weights (256 KB in f32) one thread does the product: handing work to the pool
/// costs more than it saves (LoRA's A and B in decoding are 8 x 576 and 576 x 8).
const SERIAL_BELOW: usize = 65_536;

/// `x` (rows, in) times `w`ᵀ with `w` (out, in), both f32 CPU tensors, or `None` when the
/// operands are not of that kind (the caller then uses the GEMM).
pub(crate) fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Option<Tensor>> {
    let (rows, in_dim) = x.dims2()?;
    let out_dim = w.dim(0)?;
    if rows > MAX_ROWS || w.dims() != [out_dim, in_dim] {
        return Ok(None);
    }
    let (xs, xl) = x.storage_and_layout();
    let (ws, wl) = w.storage_and_layout();
    let (Storage::Cpu(CpuStorage::F32(xv)), Storage::Cpu(CpuStorage::F32(wv))) = (&*xs, &*ws) else { return Ok(None) };
    let (Some((x0, x1)), Some((w0, w1))) = (xl.contiguous_offsets(), wl.contiguous_offsets()) else { return Ok(None) };
    let y = few_rows(&xv[x0..x1], rows, &wv[w0..w1], out_dim, in_dim);
    Ok(Some(Tensor::from_vec(y, (rows, out_dim), x.device())?))
}

/// Row-major `x` (rows, in) and `w` (out, in); returns `y` (rows, out).
fn few_rows(x: &[f32], rows: usize, w: &[f32], out_dim: usize, in_dim: usize) -> Vec<f32> {
    // Each task owns a contiguous block of `yt` (out, rows), transposed once at the end.
    let mut yt = vec![0f32; out_dim * rows];
    let kernel = select_kernel(features());
    let task = |(b, chunk): (usize, &mut [f32])| {
        let o0 = b * BLOCK;
        let n = chunk.len() / rows;
        // SAFETY: `select_kernel` returned a kernel whose target features this CPU has.
        unsafe { kernel(x, rows, &w[o0 * in_dim..(o0 + n) * in_dim], in_dim, chunk) };
    };
    if out_dim * in_dim < SERIAL_BELOW {
        yt.chunks_mut(BLOCK * rows).enumerate().for_each(task);
    } else {
        yt.par_chunks_mut(BLOCK * rows).enumerate().for_each(task);
    }
    let mut y = vec![0f32; rows * out_dim];
    for (o, col) in yt.chunks(rows).enumerate() {
        for (m, v) in col.iter().enumerate() {
            y[m * out_dim + o] = *v;
        }
    }
    y
}

/// A kernel below; `unsafe` to call because some are compiled for extra CPU features: call only
/// what `select_kernel` returned for this CPU's features.
type Kernel = unsafe fn(&[f32], usize, &[f32], usize, &mut [f32]);

fn select_kernel(f: Features) -> Kernel {
    #[cfg(target_arch = "x86_64")]
    let candidates: &[(Features, Kernel)] = &[(BLOCK_AVX512, block_avx512), (BLOCK_AVX2, block_avx2)];
    #[cfg(not(target_arch = "x86_64"))]
    let candidates: &[(Features, Kernel)] = &[];
    choose(f, candidates, block_portable)
}

#[cfg(target_arch = "x86_64")]
crate::simd::target_fn! {
    pub(crate) const BLOCK_AVX512 = ["avx512f", "fma"];
    fn block_avx512(x: &[f32], rows: usize, w: &[f32], in_dim: usize, out: &mut [f32]) {
        block_wide(x, rows, w, in_dim, out)
    }
}

#[cfg(target_arch = "x86_64")]
crate::simd::target_fn! {
    pub(crate) const BLOCK_AVX2 = ["avx2", "fma"];
    fn block_avx2(x: &[f32], rows: usize, w: &[f32], in_dim: usize, out: &mut [f32]) {
        block::<true>(x, rows, w, in_dim, out)
    }
}

fn block_portable(x: &[f32], rows: usize, w: &[f32], in_dim: usize, out: &mut [f32]) {
    block::<false>(x, rows, w, in_dim, out)
}

/// `out[o * rows + m] = w[o] · x[m]` for the weight rows of `w`, four rows of `x` at a time so
/// each weight vector loaded serves four accumulators. Inlined into each target-feature
/// wrapper, where the 16-lane accumulator arrays become vector registers.
#[inline(always)]
fn block<const FMA: bool>(x: &[f32], rows: usize, w: &[f32], in_dim: usize, out: &mut [f32]) {
    for (wr, o) in w.chunks_exact(in_dim).zip(out.chunks_mut(rows)) {
        let mut m = 0;
        while m + 4 <= rows {
            o[m..m + 4].copy_from_slice(&dot4::<FMA>(&x[m * in_dim..(m + 4) * in_dim], wr));
            m += 4;
        }
        for (k, y) in o.iter_mut().enumerate().skip(m) {
            *y = dot4::<FMA>(&x[k * in_dim..(k + 1) * in_dim], wr)[0];
        }
    }
}

/// `block` four weight rows at a time: each step loads four weight vectors and four row
/// vectors for sixteen FMAs (`block` loads five for four), which keeps AVX-512's FMA units
/// busy instead of its load ports. Needs 16 + 8 vector registers: AVX-512 has 32 (AVX2's 16
/// would spill). Every output is the same sum in the same order as `block`'s (one 16-lane
/// accumulator over the chunks, its lanes summed, then the tail), so the results are identical.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_wide(x: &[f32], rows: usize, w: &[f32], in_dim: usize, out: &mut [f32]) {
    let quads = w.len() / in_dim / 4;
    let (w4, w_rest) = w.split_at(quads * 4 * in_dim);
    let (out4, out_rest) = out.split_at_mut(quads * 4 * rows);
    for (wq, oq) in w4.chunks_exact(4 * in_dim).zip(out4.chunks_exact_mut(4 * rows)) {
        let mut m = 0;
        while m + 4 <= rows {
            let y = dot4x4(&x[m * in_dim..(m + 4) * in_dim], wq, in_dim);
            for (wi, ys) in y.iter().enumerate() {
                oq[wi * rows + m..wi * rows + m + 4].copy_from_slice(ys);
            }
            m += 4;
        }
        for (wi, wr) in wq.chunks_exact(in_dim).enumerate() {
            for k in m..rows {
                oq[wi * rows + k] = dot4::<true>(&x[k * in_dim..(k + 1) * in_dim], wr)[0];
            }
        }
    }
    block::<true>(x, rows, w_rest, in_dim, out_rest);
}

/// `out[i][k]` = weight row i of `ws` (four, packed) · row k of `xs` (four, packed), each summed
/// as `dot4` sums it. The sixteen accumulators are named locals, not an indexed array, so that
/// they stay in registers (an array of them was kept on the stack, a store per FMA).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dot4x4(xs: &[f32], ws: &[f32], n: usize) -> [[f32; 4]; 4] {
    type V = [f32; LANES];
    #[inline(always)]
    fn fma(a: &mut V, x: &V, w: &V) {
        for j in 0..LANES {
            a[j] = x[j].mul_add(w[j], a[j]);
        }
    }
    let full = n - n % LANES;
    fn row(s: &[f32], r: usize, n: usize, full: usize) -> &[f32] {
        &s[r * n..r * n + full]
    }
    let row = |s, r| row(s, r, n, full);
    let (x0, x1, x2, x3) = (row(xs, 0), row(xs, 1), row(xs, 2), row(xs, 3));
    let (w0, w1, w2, w3) = (row(ws, 0), row(ws, 1), row(ws, 2), row(ws, 3));
    let z = [0f32; LANES];
    let (mut a00, mut a01, mut a02, mut a03) = (z, z, z, z);
    let (mut a10, mut a11, mut a12, mut a13) = (z, z, z, z);
    let (mut a20, mut a21, mut a22, mut a23) = (z, z, z, z);
    let (mut a30, mut a31, mut a32, mut a33) = (z, z, z, z);
    let lanes = |s: &[f32], c: usize| -> V { s[c..c + LANES].try_into().expect("LANES elements") };
    for c in (0..full).step_by(LANES) {
        let (xc0, xc1, xc2, xc3) = (lanes(x0, c), lanes(x1, c), lanes(x2, c), lanes(x3, c));
        let wc = lanes(w0, c);
        fma(&mut a00, &xc0, &wc);
        fma(&mut a01, &xc1, &wc);
        fma(&mut a02, &xc2, &wc);
        fma(&mut a03, &xc3, &wc);
        let wc = lanes(w1, c);
        fma(&mut a10, &xc0, &wc);
        fma(&mut a11, &xc1, &wc);
        fma(&mut a12, &xc2, &wc);
        fma(&mut a13, &xc3, &wc);
        let wc = lanes(w2, c);
        fma(&mut a20, &xc0, &wc);
        fma(&mut a21, &xc1, &wc);
        fma(&mut a22, &xc2, &wc);
        fma(&mut a23, &xc3, &wc);
        let wc = lanes(w3, c);
        fma(&mut a30, &xc0, &wc);
        fma(&mut a31, &xc1, &wc);
        fma(&mut a32, &xc2, &wc);
        fma(&mut a33, &xc3, &wc);
    }
    let acc = [[a00, a01, a02, a03], [a10, a11, a12, a13], [a20, a21, a22, a23], [a30, a31, a32, a33]];
    std::array::from_fn(|i| {
        std::array::from_fn(|k| {
            let tail: f32 = (full..n).map(|t| xs[k * n + t] * ws[i * n + t]).sum();
            acc[i][k].iter().sum::<f32>() + tail
        })
    })
}

const LANES: usize = 16;

/// Dot products of `w` with each of the (up to four) rows packed in `xs`.
#[inline(always)]
fn dot4<const FMA: bool>(xs: &[f32], w: &[f32]) -> [f32; 4] {
    let n = w.len();
    let k_rows = xs.len() / n;
    let mut acc = [[0f32; LANES]; 4];
    let full = n - n % LANES;
    for c in (0..full).step_by(LANES) {
        let wc: &[f32; LANES] = w[c..c + LANES].try_into().expect("LANES elements");
        for (k, a) in acc.iter_mut().enumerate().take(k_rows) {
            let xc: &[f32; LANES] = xs[k * n + c..k * n + c + LANES].try_into().expect("LANES elements");
            for j in 0..LANES {
                a[j] = if FMA { xc[j].mul_add(wc[j], a[j]) } else { xc[j] * wc[j] + a[j] };
            }
        }
    }
    let mut out = [0f32; 4];
    for (k, o) in out.iter_mut().enumerate().take(k_rows) {
        let tail: f32 = (full..n).map(|i| xs[k * n + i] * w[i]).sum();
        *o = acc[k].iter().sum::<f32>() + tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Every FMA kernel this CPU has (the four-weight-row AVX-512 one included) gives the very
    /// bits of the one-row sum in software FMA: which kernel a CPU takes never changes a result.
    #[test]
    fn the_fma_kernels_agree_bit_for_bit() {
        #[allow(unused_mut)]
        let mut kernels: Vec<(&str, Kernel)> = Vec::new();
        #[cfg(target_arch = "x86_64")]
        for (name, needs, kernel) in [("avx512", BLOCK_AVX512, block_avx512 as Kernel), ("avx2", BLOCK_AVX2, block_avx2)] {
            if features().has(needs) {
                kernels.push((name, kernel));
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        for (rows, out, inp) in [(1, 4, 16), (5, 9, 37), (32, 67, 576), (7, 3, 15), (4, 8, 1), (13, 130, 100)] {
            let x: Vec<f32> = (0..rows * inp).map(|_| next()).collect();
            let w: Vec<f32> = (0..out * inp).map(|_| next()).collect();
            let mut want = vec![0f32; rows * out];
            block::<true>(&x, rows, &w, inp, &mut want);
            for (name, kernel) in &kernels {
                let mut got = vec![0f32; rows * out];
                // SAFETY: only kernels whose features this CPU has are listed.
                unsafe { kernel(&x, rows, &w, inp, &mut got) };
                let same = want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{name}: rows {rows} out {out} in {inp}");
            }
        }
    }

    #[test]
    fn equals_the_gemm_for_every_row_count_and_ragged_sizes() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for (rows, out, inp) in [(1, 1, 1), (1, 130, 37), (5, 64, 576), (16, 200, 100), (32, 65, 17), (3, 300, 250)] {
            let x = Tensor::randn(0f32, 1.0, (rows, inp), &dev)?;
            let w = Tensor::randn(0f32, 1.0, (out, inp), &dev)?;
            let got = matmul_t(&x, &w)?.expect("f32 CPU operands take this path");
            let want = x.matmul(&w.t()?)?;
            let diff = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4 * (inp as f32).sqrt(), "rows {rows} out {out} in {inp}: differs by {diff}");
        }
        let many = Tensor::zeros((MAX_ROWS + 1, 4), candle_core::DType::F32, &dev)?;
        assert!(matmul_t(&many, &Tensor::zeros((3, 4), candle_core::DType::F32, &dev)?)?.is_none());
        Ok(())
    }
}
