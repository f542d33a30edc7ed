//! `y = x Wᵀ` for a few f32 rows of `x` against a weight kept in GGUF's Q4_1 or Q8_0 blocks.
//!
//! Decoding reads every weight once per step, so its speed is the weights' size in memory:
//! Q4_1 is 20 bytes per 32 weights and Q8_0 34, against 128 in f32. Each block is expanded to
//! f32 in registers (Q4_1: w = d·q + m, Q8_0: w = d·q, with d and m f16) and multiplied with
//! unquantised f32 activations, so the result equals the product with the dequantised dense
//! matrix up to the order of the float summation (d·q is exact in f32, so each expanded
//! weight is bit-equal to candle's `dequantize`). No activation is rounded to 8 bits.
//!
//! Layouts (ggml's, as candle's `BlockQ4_1`/`BlockQ8_0`): a Q4_1 block is f16 d, f16 m and 16
//! bytes whose low nibbles are elements 0..16 and high nibbles elements 16..32; a Q8_0 block
//! is f16 d and 32 signed bytes.
//!
//! Kernels: AVX-512 (16 lanes, up to 8 rows of `x` per expanded block), AVX2 + FMA (8 lanes,
//! up to 4 rows), and a portable one; chosen at run time. Output rows are split across threads.
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{CpuStorage, Storage, Tensor};
use half::f16;
use rayon::prelude::*;

use crate::simd::{choose, features, Features};
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{BLOCK_AVX2, BLOCK_AVX512};

/// Up to this many rows of `x` take this path (as `gemv::MAX_ROWS`).
pub(crate) const MAX_ROWS: usize = 32;

const QK: usize = 32;

/// A block format, and whether each expanded weight is rounded to bf16 (the `...Bf16` kinds:
/// the same blocks read for `bf16mm`'s products, whose weights are the dense ones rounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Q4_1,
    Q8_0,
    Q4_1Bf16,
    Q8_0Bf16,
}

impl BlockKind {
    fn bytes(self) -> usize {
        match self {
            BlockKind::Q4_1 | BlockKind::Q4_1Bf16 => 20,
            BlockKind::Q8_0 | BlockKind::Q8_0Bf16 => 34,
        }
    }

    fn rounded(self) -> Self {
        match self {
            BlockKind::Q4_1 | BlockKind::Q4_1Bf16 => BlockKind::Q4_1Bf16,
            BlockKind::Q8_0 | BlockKind::Q8_0Bf16 => BlockKind::Q8_0Bf16,
        }
    }

    fn rounds(self) -> bool {
        matches!(self, BlockKind::Q4_1Bf16 | BlockKind::Q8_0Bf16)
    }
}

/// A weight (out, in) as GGUF blocks, row-major: each output row is `in / 32` blocks.
pub(crate) struct QBlocks {
    kind: BlockKind,
    out_dim: usize,
    in_dim: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for QBlocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QBlocks({:?}, {}x{})", self.kind, self.out_dim, self.in_dim)
    }
}

impl QBlocks {
    /// The blocks of a 2-D Q4_1 or Q8_0 tensor on the CPU; `None` for other formats.
    pub fn from_qtensor(q: &QTensor) -> candle_core::Result<Option<Self>> {
        let kind = match q.dtype() {
            GgmlDType::Q4_1 => BlockKind::Q4_1,
            GgmlDType::Q8_0 => BlockKind::Q8_0,
            _ => return Ok(None),
        };
        let Ok((out_dim, in_dim)) = q.shape().dims2() else { return Ok(None) };
        if !in_dim.is_multiple_of(QK) || !matches!(q.device(), candle_core::Device::Cpu) {
            return Ok(None);
        }
        let data = q.data()?.into_owned();
        if data.len() != out_dim * in_dim / QK * kind.bytes() {
            return Ok(None);
        }
        Ok(Some(QBlocks { kind, out_dim, in_dim, data }))
    }

    pub fn dims(&self) -> (usize, usize) {
        (self.out_dim, self.in_dim)
    }

    /// The dense (out, in) f32 values, as candle's `dequantize` gives them.
    #[cfg(test)]
    pub fn dequantize(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.out_dim * self.in_dim];
        for (blk, out) in self.data.chunks_exact(self.kind.bytes()).zip(w.chunks_exact_mut(QK)) {
            out.copy_from_slice(&expand(self.kind, blk));
        }
        w
    }

    /// `x` (rows, in) f32 on the CPU times Wᵀ, or `None` when `x` is not of that kind or has
    /// more than `MAX_ROWS` rows (the caller then uses another path).
    #[cfg(test)]
    pub fn matmul_t(&self, x: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(matmul_t_many(&[self], x)?.and_then(|mut ys| ys.pop()))
    }

    #[cfg(test)]
    fn few_rows(&self, x: &[f32], rows: usize, kernel: Kernel) -> Vec<f32> {
        few_rows_many(&[self], x, rows, kernel, false).pop().expect("one matrix")
    }
}

/// `x` times each weight's transpose, all in one parallel pass: decoding multiplies q, k and v
/// (and gate and up) by the same normalised input, and one hand-off to the thread pool instead
/// of one per weight saves its wake-ups. `None` as for `QBlocks::matmul_t`, or when the
/// weights differ in input size.
pub(crate) fn matmul_t_many(mats: &[&QBlocks], x: &Tensor) -> candle_core::Result<Option<Vec<Tensor>>> {
    products(mats, x, false)
}

/// `matmul_t_many` with `x` and every expanded weight rounded to bf16 (nearest, ties to even):
/// the products `bf16mm` computes from the same model's dense weights, up to summation order.
pub(crate) fn matmul_t_many_bf16(mats: &[&QBlocks], x: &Tensor) -> candle_core::Result<Option<Vec<Tensor>>> {
    products(mats, x, true)
}

fn products(mats: &[&QBlocks], x: &Tensor, bf16: bool) -> candle_core::Result<Option<Vec<Tensor>>> {
    let (rows, in_dim) = x.dims2()?;
    if rows == 0 || rows > MAX_ROWS || mats.iter().any(|m| m.in_dim != in_dim) {
        return Ok(None);
    }
    let (xs, xl) = x.storage_and_layout();
    let Storage::Cpu(CpuStorage::F32(xv)) = &*xs else { return Ok(None) };
    let Some((x0, x1)) = xl.contiguous_offsets() else { return Ok(None) };
    let ys = match bf16 {
        false => few_rows_many(mats, &xv[x0..x1], rows, select_kernel(features()), false),
        true => {
            let xr: Vec<f32> = xv[x0..x1].iter().map(|&v| crate::bf16mm::round_to_bf16(v)).collect();
            few_rows_many(mats, &xr, rows, select_kernel(features()), true)
        }
    };
    let ys = ys.into_iter().zip(mats).map(|(y, m)| Tensor::from_vec(y, (rows, m.out_dim), x.device()));
    Ok(Some(ys.collect::<candle_core::Result<_>>()?))
}

/// Row-major `x` (rows, in); returns each `y` (rows, out).
fn few_rows_many(mats: &[&QBlocks], x: &[f32], rows: usize, kernel: Kernel, bf16: bool) -> Vec<Vec<f32>> {
    // Two tasks per thread: long contiguous streams for the hardware prefetcher (on a quiet
    // 2-vCPU machine batch 1 decoded 44 new tok/s with 2 per thread against 41-43 with 4 or 8),
    // and still some slack when another process takes a core for a while.
    let total_out: usize = mats.iter().map(|m| m.out_dim).sum();
    let per_task = total_out.div_ceil(rayon::current_num_threads() * 2).max(8);
    // Each task owns a contiguous block of one `yt` (out, rows), transposed once at the end.
    let mut yts: Vec<Vec<f32>> = mats.iter().map(|m| vec![0f32; m.out_dim * rows]).collect();
    let mut tasks = Vec::new();
    for (m, yt) in mats.iter().zip(yts.iter_mut()) {
        for (t, chunk) in yt.chunks_mut(per_task * rows).enumerate() {
            tasks.push((*m, t * per_task, chunk));
        }
    }
    tasks.into_par_iter().for_each(|(m, o0, chunk)| {
        let row_bytes = m.in_dim / QK * m.kind.bytes();
        let n = chunk.len() / rows;
        let w = &m.data[o0 * row_bytes..(o0 + n) * row_bytes];
        let kind = if bf16 { m.kind.rounded() } else { m.kind };
        // SAFETY: `select_kernel` returned a kernel whose target features this CPU has;
        // `w` holds `n` whole rows of blocks and `x` `rows` rows of `in_dim` values.
        unsafe { kernel(kind, x, rows, m.in_dim, w, chunk) };
    });
    if rows == 1 {
        return yts;
    }
    yts.into_iter()
        .zip(mats)
        .map(|(yt, m)| {
            let mut y = vec![0f32; rows * m.out_dim];
            for (o, col) in yt.chunks_exact(rows).enumerate() {
                for (r, v) in col.iter().enumerate() {
                    y[r * m.out_dim + o] = *v;
                }
            }
            y
        })
        .collect()
}

/// `out[o * rows + m] = w[o] · x[m]` for every weight row `o` in `w` (whole rows of blocks).
/// `unsafe` to call because some are compiled for extra CPU features and read through raw
/// pointers: call only what `select_kernel` returned for this CPU's features, with `rows >= 1`,
/// `in_dim` a multiple of 32, `x` at least `rows · in_dim` floats and `w` exactly
/// `out.len() / rows` rows of `in_dim / 32` blocks.
type Kernel = unsafe fn(BlockKind, &[f32], usize, usize, &[u8], &mut [f32]);

fn select_kernel(f: Features) -> Kernel {
    #[cfg(target_arch = "x86_64")]
    let candidates: &[(Features, Kernel)] = &[(BLOCK_AVX512, x86::block_avx512), (BLOCK_AVX2, x86::block_avx2)];
    #[cfg(not(target_arch = "x86_64"))]
    let candidates: &[(Features, Kernel)] = &[];
    choose(f, candidates, block_portable)
}

/// One block as 32 f32 weights.
#[inline(always)]
fn expand(kind: BlockKind, blk: &[u8]) -> [f32; QK] {
    let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
    let mut w = [0f32; QK];
    match kind {
        BlockKind::Q4_1 | BlockKind::Q4_1Bf16 => {
            let m = f16::from_le_bytes([blk[2], blk[3]]).to_f32();
            for (j, &q) in blk[4..20].iter().enumerate() {
                w[j] = (q & 0x0F) as f32 * d + m;
                w[j + 16] = (q >> 4) as f32 * d + m;
            }
        }
        BlockKind::Q8_0 | BlockKind::Q8_0Bf16 => {
            for (j, &q) in blk[2..34].iter().enumerate() {
                w[j] = q as i8 as f32 * d;
            }
        }
    }
    if kind.rounds() {
        w.iter_mut().for_each(|v| *v = crate::bf16mm::round_to_bf16(*v));
    }
    w
}

/// Portable kernel: each block is expanded once and dotted with every row of `x`.
fn block_portable(kind: BlockKind, x: &[f32], rows: usize, in_dim: usize, w: &[u8], out: &mut [f32]) {
    let bytes = kind.bytes();
    let row_bytes = in_dim / QK * bytes;
    let mut acc = vec![[0f32; 8]; rows];
    for (wr, o) in w.chunks_exact(row_bytes).zip(out.chunks_exact_mut(rows)) {
        acc.iter_mut().for_each(|a| *a = [0.0; 8]);
        for (b, blk) in wr.chunks_exact(bytes).enumerate() {
            let wv = expand(kind, blk);
            for (m, a) in acc.iter_mut().enumerate() {
                let xs = &x[m * in_dim + b * QK..m * in_dim + (b + 1) * QK];
                for (wc, xc) in wv.chunks_exact(8).zip(xs.chunks_exact(8)) {
                    for j in 0..8 {
                        a[j] += wc[j] * xc[j];
                    }
                }
            }
        }
        for (y, a) in o.iter_mut().zip(&acc) {
            *y = a.iter().sum();
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BlockKind, QK};
    use std::arch::x86_64::*;

    /// f16 scale(s) at `p` (d, or d then m) as f32 lanes 0 and 1.
    ///
    /// # Safety
    /// The CPU must have AVX and F16C, and `p` must be valid for reading 4 bytes.
    #[inline]
    #[target_feature(enable = "avx,f16c")]
    unsafe fn scales(p: *const u8) -> __m128 {
        // SAFETY: the caller guarantees 4 readable bytes at `p`.
        _mm_cvtph_ps(_mm_cvtsi32_si128(unsafe { std::ptr::read_unaligned(p as *const i32) }))
    }

    // ---------------------------------------------------------------- AVX-512

    /// One block as two 16-lane vectors (elements 0..16, 16..32).
    ///
    /// # Safety
    /// The CPU must have AVX-512F, F16C and FMA, and `p` must point to one whole block of `kind`
    /// (`kind.bytes()` readable bytes).
    #[inline]
    #[target_feature(enable = "avx512f,f16c,fma")]
    unsafe fn expand512(kind: BlockKind, p: *const u8) -> (__m512, __m512) {
        // SAFETY: a block starts with its f16 scale(s), 4 bytes for both kinds.
        let s = unsafe { scales(p) };
        let d = _mm512_broadcastss_ps(s);
        match kind {
            BlockKind::Q4_1 | BlockKind::Q4_1Bf16 => {
                // The 16 possible weights d·q + m, looked up by nibble: vpermps reads only the low
                // four bits of each index, so the bytes need no masking.
                let m = _mm512_broadcastss_ps(_mm_movehdup_ps(s));
                let iota = _mm512_setr_ps(0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 10., 11., 12., 13., 14., 15.);
                let mut table = _mm512_fmadd_ps(iota, d, m);
                if kind.rounds() {
                    table = round512(table);
                }
                // SAFETY: a Q4_1 block holds 16 bytes of nibbles after its 4 bytes of scales.
                let q = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(p.add(4) as *const __m128i) });
                (_mm512_permutexvar_ps(q, table), _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), table))
            }
            BlockKind::Q8_0 | BlockKind::Q8_0Bf16 => {
                // SAFETY: a Q8_0 block holds 32 bytes after its 2-byte scale.
                let (a, b) = unsafe { (_mm_loadu_si128(p.add(2) as *const __m128i), _mm_loadu_si128(p.add(18) as *const __m128i)) };
                let a = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(a)), d);
                let b = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), d);
                match kind.rounds() {
                    true => (round512(a), round512(b)),
                    false => (a, b),
                }
            }
        }
    }

    /// Each lane rounded to bf16 (nearest, ties to even), kept as f32.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn round512(v: __m512) -> __m512 {
        let bits = _mm512_castps_si512(v);
        let odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
        let up = _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
        _mm512_castsi512_ps(_mm512_and_si512(up, _mm512_set1_epi32(0xffff_0000u32 as i32)))
    }

    /// Dot products of one weight row (`nb` blocks at `w`) with `R` rows of `x` at `x`.
    /// Two accumulators per row (one per half block) keep two FMA chains in flight.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, F16C and FMA; `x` must point to `R` rows of `in_dim >= 32 · nb`
    /// floats, `w` to `nb` blocks of `kind`, and `out` to `R` writable floats.
    #[inline]
    #[target_feature(enable = "avx512f,f16c,fma")]
    unsafe fn rows512<const R: usize>(kind: BlockKind, x: *const f32, in_dim: usize, w: *const u8, nb: usize, out: *mut f32) {
        let mut a0 = [_mm512_setzero_ps(); R];
        let mut a1 = [_mm512_setzero_ps(); R];
        let bytes = kind.bytes();
        for b in 0..nb {
            // SAFETY: block b < nb of the row, and 32 floats of row r < R at column 32·b (the
            // caller's bounds).
            unsafe {
                let (w0, w1) = expand512(kind, w.add(b * bytes));
                for r in 0..R {
                    let xp = x.add(r * in_dim + b * QK);
                    a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xp), a0[r]);
                    a1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xp.add(16)), a1[r]);
                }
            }
        }
        for r in 0..R {
            // SAFETY: `out` holds R floats.
            unsafe { *out.add(r) = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r])) };
        }
    }

    /// `rows512::<1>` with two blocks in flight: four accumulator chains instead of two, so the
    /// FMA latency of one chain no longer paces the loop (a single row was slower than two).
    ///
    /// # Safety
    /// The CPU must have AVX-512F, F16C and FMA; `x` must point to `32 · nb` floats, `w` to `nb`
    /// blocks of `kind`, and `out` to one writable float.
    #[inline]
    #[target_feature(enable = "avx512f,f16c,fma")]
    unsafe fn row512(kind: BlockKind, x: *const f32, w: *const u8, nb: usize, out: *mut f32) {
        let mut acc = [_mm512_setzero_ps(); 4];
        let bytes = kind.bytes();
        let mut b = 0;
        while b + 2 <= nb {
            // SAFETY: blocks b and b + 1 < nb, and the 64 floats of `x` they multiply.
            unsafe {
                let (w0, w1) = expand512(kind, w.add(b * bytes));
                let (w2, w3) = expand512(kind, w.add((b + 1) * bytes));
                let xp = x.add(b * QK);
                acc[0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xp), acc[0]);
                acc[1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xp.add(16)), acc[1]);
                acc[2] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xp.add(32)), acc[2]);
                acc[3] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xp.add(48)), acc[3]);
            }
            b += 2;
        }
        if b < nb {
            // SAFETY: the last block b < nb and its 32 floats of `x`.
            unsafe {
                let (w0, w1) = expand512(kind, w.add(b * bytes));
                let xp = x.add(b * QK);
                acc[0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xp), acc[0]);
                acc[1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xp.add(16)), acc[1]);
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        // SAFETY: `out` is writable.
        unsafe { *out = _mm512_reduce_add_ps(sum) };
    }

    /// From this many rows of `x` on, weight rows are expanded once into an f32 buffer and
    /// multiplied in register tiles; below it each block is expanded in registers per row group.
    pub(super) const TILE_FROM: usize = 4;

    crate::simd::target_fn! {
        pub(crate) const BLOCK_AVX512 = ["avx512f", "f16c", "fma"];
        /// The AVX-512 `Kernel` (16 lanes, up to 8 rows of `x` per expanded block).
        ///
        /// # Safety
        /// The CPU must have `BLOCK_AVX512`; `rows >= 1`, `in_dim` a multiple of 32, `x` at least
        /// `rows · in_dim` floats, and `w` exactly `out.len() / rows` rows of `in_dim / 32` blocks
        /// of `kind`.
        pub(super) unsafe fn block_avx512(kind: BlockKind, x: &[f32], rows: usize, in_dim: usize, w: &[u8], out: &mut [f32]) {
            let nb = in_dim / QK;
            let row_bytes = nb * kind.bytes();
            debug_assert!(x.len() >= rows * in_dim && w.len() == out.len() / rows * row_bytes);
            if rows >= TILE_FROM {
                // SAFETY: the same bounds, passed on.
                return unsafe { tiled512(kind, x, rows, in_dim, w, out) };
            }
            for (o, y) in out.chunks_exact_mut(rows).enumerate() {
                // SAFETY: weight row o < out.len() / rows (the caller's bounds).
                let wp = unsafe { w.as_ptr().add(o * row_bytes) };
                let mut m = 0;
                while m < rows {
                    let n = (rows - m).min(8);
                    // SAFETY: rows m..m + n of `x`, and n floats of `y` from m.
                    unsafe {
                        let xp = x.as_ptr().add(m * in_dim);
                        let yp = y.as_mut_ptr().add(m);
                        match n {
                            8 => rows512::<8>(kind, xp, in_dim, wp, nb, yp),
                            7 => rows512::<7>(kind, xp, in_dim, wp, nb, yp),
                            6 => rows512::<6>(kind, xp, in_dim, wp, nb, yp),
                            5 => rows512::<5>(kind, xp, in_dim, wp, nb, yp),
                            4 => rows512::<4>(kind, xp, in_dim, wp, nb, yp),
                            3 => rows512::<3>(kind, xp, in_dim, wp, nb, yp),
                            2 => rows512::<2>(kind, xp, in_dim, wp, nb, yp),
                            _ => row512(kind, xp, wp, nb, yp),
                        }
                    }
                    m += n;
                }
            }
        }
    }

    /// Many rows: two weight rows at a time are expanded to f32 (once for all rows of `x`),
    /// then multiplied with up to six rows of `x` per register tile (12 accumulators), so each
    /// 16-lane load serves several FMAs.
    ///
    /// # Safety
    /// As `block_avx512`.
    #[target_feature(enable = "avx512f,f16c,fma")]
    unsafe fn tiled512(kind: BlockKind, x: &[f32], rows: usize, in_dim: usize, w: &[u8], out: &mut [f32]) {
        let nb = in_dim / QK;
        let row_bytes = nb * kind.bytes();
        let n_out = out.len() / rows;
        let mut buf = vec![0f32; 2 * in_dim];
        let mut o = 0;
        while o < n_out {
            let rn = (n_out - o).min(2);
            for k in 0..rn {
                // SAFETY: weight row o + k < n_out has nb blocks; `buf` row k holds in_dim = 32 · nb floats.
                unsafe {
                    let wp = w.as_ptr().add((o + k) * row_bytes);
                    let dst = buf.as_mut_ptr().add(k * in_dim);
                    for b in 0..nb {
                        let (w0, w1) = expand512(kind, wp.add(b * kind.bytes()));
                        _mm512_storeu_ps(dst.add(b * QK), w0);
                        _mm512_storeu_ps(dst.add(b * QK + 16), w1);
                    }
                }
            }
            let mut m = 0;
            while m < rows {
                let rm = (rows - m).min(6);
                // SAFETY: rows m..m + rm of `x`; `out` holds n_out · rows floats, of which the
                // tile writes (o + n) · rows + m + j for n < rn, j < rm.
                unsafe {
                    let (bp, xp, yp) = (buf.as_ptr(), x.as_ptr().add(m * in_dim), out.as_mut_ptr().add(o * rows + m));
                    macro_rules! go {
                        ($($n:literal $m:literal),*) => {
                            match (rn, rm) {
                                $(($n, $m) => tile512::<$n, $m>(bp, xp, in_dim, yp, rows),)*
                                _ => unreachable!(),
                            }
                        };
                    }
                    go!(2 6, 2 5, 2 4, 2 3, 2 2, 2 1, 1 6, 1 5, 1 4, 1 3, 1 2, 1 1);
                }
                m += rm;
            }
            o += rn;
        }
    }

    /// `out[n * stride + m] = w[n] · x[m]` for `RN` expanded weight rows and `RM` rows of `x`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and FMA; `w` must point to `RN` rows and `x` to `RM` rows of
    /// `in_dim` floats (a multiple of 16), and `out[n * stride + m]` be writable for each n, m.
    #[inline]
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn tile512<const RN: usize, const RM: usize>(w: *const f32, x: *const f32, in_dim: usize, out: *mut f32, stride: usize) {
        let mut acc = [[_mm512_setzero_ps(); RM]; RN];
        let mut c = 0;
        while c < in_dim {
            // SAFETY: columns c..c + 16 < in_dim of the RN rows of `w` and RM rows of `x`.
            unsafe {
                let mut wv = [_mm512_setzero_ps(); RN];
                for (n, wv) in wv.iter_mut().enumerate() {
                    *wv = _mm512_loadu_ps(w.add(n * in_dim + c));
                }
                for m in 0..RM {
                    let xv = _mm512_loadu_ps(x.add(m * in_dim + c));
                    for (acc, &wv) in acc.iter_mut().zip(&wv) {
                        acc[m] = _mm512_fmadd_ps(wv, xv, acc[m]);
                    }
                }
            }
            c += 16;
        }
        for (n, acc) in acc.iter().enumerate() {
            for (m, &a) in acc.iter().enumerate() {
                // SAFETY: the caller's bounds on `out`.
                unsafe { *out.add(n * stride + m) = _mm512_reduce_add_ps(a) };
            }
        }
    }

    // ---------------------------------------------------------------- AVX2

    /// The low 8 bytes of `v` as 8 f32 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn cvt8(v: __m128i, signed: bool) -> __m256 {
        if signed {
            _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
        } else {
            _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
        }
    }

    /// One block as four 8-lane vectors (elements 0..8, 8..16, 16..24, 24..32).
    ///
    /// # Safety
    /// The CPU must have AVX2, F16C and FMA, and `p` must point to one whole block of `kind`.
    #[inline]
    #[target_feature(enable = "avx2,f16c,fma")]
    unsafe fn expand256(kind: BlockKind, p: *const u8) -> [__m256; 4] {
        // SAFETY: a block starts with its f16 scale(s), 4 bytes for both kinds.
        let s = unsafe { scales(p) };
        let d = _mm256_broadcastss_ps(s);
        let w = match kind {
            BlockKind::Q4_1 | BlockKind::Q4_1Bf16 => {
                let m = _mm256_broadcastss_ps(_mm_movehdup_ps(s));
                // SAFETY: a Q4_1 block holds 16 bytes of nibbles after its 4 bytes of scales.
                let qs = unsafe { _mm_loadu_si128(p.add(4) as *const __m128i) };
                let mask = _mm_set1_epi8(0x0F);
                let lo = _mm_and_si128(qs, mask);
                let hi = _mm_and_si128(_mm_srli_epi16(qs, 4), mask);
                [
                    _mm256_fmadd_ps(cvt8(lo, false), d, m),
                    _mm256_fmadd_ps(cvt8(_mm_srli_si128(lo, 8), false), d, m),
                    _mm256_fmadd_ps(cvt8(hi, false), d, m),
                    _mm256_fmadd_ps(cvt8(_mm_srli_si128(hi, 8), false), d, m),
                ]
            }
            BlockKind::Q8_0 | BlockKind::Q8_0Bf16 => {
                // SAFETY: a Q8_0 block holds 32 bytes after its 2-byte scale.
                let (a, b) = unsafe { (_mm_loadu_si128(p.add(2) as *const __m128i), _mm_loadu_si128(p.add(18) as *const __m128i)) };
                [
                    _mm256_mul_ps(cvt8(a, true), d),
                    _mm256_mul_ps(cvt8(_mm_srli_si128(a, 8), true), d),
                    _mm256_mul_ps(cvt8(b, true), d),
                    _mm256_mul_ps(cvt8(_mm_srli_si128(b, 8), true), d),
                ]
            }
        };
        match kind.rounds() {
            true => w.map(|v| round256(v)),
            false => w,
        }
    }

    /// Each lane rounded to bf16 (nearest, ties to even), kept as f32.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn round256(v: __m256) -> __m256 {
        let bits = _mm256_castps_si256(v);
        let odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
        let up = _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
        _mm256_castsi256_ps(_mm256_and_si256(up, _mm256_set1_epi32(0xffff_0000u32 as i32)))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// # Safety
    /// As `rows512`, for a CPU with AVX2, F16C and FMA.
    #[inline]
    #[target_feature(enable = "avx2,f16c,fma")]
    unsafe fn rows256<const R: usize>(kind: BlockKind, x: *const f32, in_dim: usize, w: *const u8, nb: usize, out: *mut f32) {
        let mut a0 = [_mm256_setzero_ps(); R];
        let mut a1 = [_mm256_setzero_ps(); R];
        let bytes = kind.bytes();
        for b in 0..nb {
            // SAFETY: block b < nb of the row, and 32 floats of row r < R at column 32·b (the
            // caller's bounds).
            unsafe {
                let wv = expand256(kind, w.add(b * bytes));
                for r in 0..R {
                    let xp = x.add(r * in_dim + b * QK);
                    a0[r] = _mm256_fmadd_ps(wv[0], _mm256_loadu_ps(xp), a0[r]);
                    a1[r] = _mm256_fmadd_ps(wv[1], _mm256_loadu_ps(xp.add(8)), a1[r]);
                    a0[r] = _mm256_fmadd_ps(wv[2], _mm256_loadu_ps(xp.add(16)), a0[r]);
                    a1[r] = _mm256_fmadd_ps(wv[3], _mm256_loadu_ps(xp.add(24)), a1[r]);
                }
            }
        }
        for r in 0..R {
            // SAFETY: `out` holds R floats.
            unsafe { *out.add(r) = hsum256(_mm256_add_ps(a0[r], a1[r])) };
        }
    }

    crate::simd::target_fn! {
        pub(crate) const BLOCK_AVX2 = ["avx2", "f16c", "fma"];
        /// The AVX2 `Kernel` (8 lanes, up to 4 rows of `x` per expanded block).
        ///
        /// # Safety
        /// The CPU must have `BLOCK_AVX2`; the slices as for `block_avx512`.
        pub(super) unsafe fn block_avx2(kind: BlockKind, x: &[f32], rows: usize, in_dim: usize, w: &[u8], out: &mut [f32]) {
            let nb = in_dim / QK;
            let row_bytes = nb * kind.bytes();
            debug_assert!(x.len() >= rows * in_dim && w.len() == out.len() / rows * row_bytes);
            for (o, y) in out.chunks_exact_mut(rows).enumerate() {
                // SAFETY: weight row o < out.len() / rows (the caller's bounds).
                let wp = unsafe { w.as_ptr().add(o * row_bytes) };
                let mut m = 0;
                while m < rows {
                    let n = (rows - m).min(4);
                    // SAFETY: rows m..m + n of `x`, and n floats of `y` from m.
                    unsafe {
                        let xp = x.as_ptr().add(m * in_dim);
                        let yp = y.as_mut_ptr().add(m);
                        match n {
                            4 => rows256::<4>(kind, xp, in_dim, wp, nb, yp),
                            3 => rows256::<3>(kind, xp, in_dim, wp, nb, yp),
                            2 => rows256::<2>(kind, xp, in_dim, wp, nb, yp),
                            _ => rows256::<1>(kind, xp, in_dim, wp, nb, yp),
                        }
                    }
                    m += n;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn kernels() -> Vec<(&'static str, Kernel)> {
        let mut k: Vec<(&'static str, Kernel)> = vec![("portable", block_portable)];
        #[cfg(target_arch = "x86_64")]
        for (name, needs, kernel) in [("avx512", BLOCK_AVX512, x86::block_avx512 as Kernel), ("avx2", BLOCK_AVX2, x86::block_avx2)] {
            if features().has(needs) {
                k.push((name, kernel));
            }
        }
        k
    }

    #[test]
    fn expanded_blocks_equal_candles_dequantize() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for dt in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let w = Tensor::randn(0f32, 1.0, (37, 96), &dev)?;
            let q = QTensor::quantize(&w, dt)?;
            let qb = QBlocks::from_qtensor(&q)?.expect("a 2-D Q4_1/Q8_0 tensor");
            let want = q.dequantize(&dev)?.flatten_all()?.to_vec1::<f32>()?;
            assert_eq!(qb.dequantize(), want, "{dt:?}");
        }
        Ok(())
    }

    #[test]
    fn equals_the_dequantised_matmul_for_every_kernel_row_count_and_shape() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for dt in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            for (out, inp) in [(1, 32), (7, 64), (65, 576), (130, 96), (200, 1536)] {
                let w = Tensor::randn(0f32, 1.0, (out, inp), &dev)?;
                let q = QTensor::quantize(&w, dt)?;
                let qb = QBlocks::from_qtensor(&q)?.expect("a 2-D Q4_1/Q8_0 tensor");
                let dense = Tensor::from_vec(qb.dequantize(), (out, inp), &dev)?;
                for rows in (1..=MAX_ROWS).filter(|r| *r <= 9 || r % 5 == 0 || *r == MAX_ROWS) {
                    let x = Tensor::randn(0f32, 1.0, (rows, inp), &dev)?;
                    let want = x.matmul(&dense.t()?)?;
                    let xv = x.flatten_all()?.to_vec1::<f32>()?;
                    for (name, k) in kernels() {
                        let got = Tensor::from_vec(qb.few_rows(&xv, rows, k), (rows, out), &dev)?;
                        let diff = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                        let tol = 1e-5 * inp as f32;
                        assert!(diff < tol, "{dt:?} {name}: rows {rows} out {out} in {inp}: differs by {diff}");
                    }
                    let got = qb.matmul_t(&x)?.expect("f32 CPU rows take this path");
                    assert_eq!(got.dims(), [rows, out]);
                }
            }
        }
        let qb =
            QBlocks::from_qtensor(&QTensor::quantize(&Tensor::zeros((3, 32), candle_core::DType::F32, &dev)?, GgmlDType::Q4_1)?)?.unwrap();
        assert!(qb.matmul_t(&Tensor::zeros((MAX_ROWS + 1, 32), candle_core::DType::F32, &dev)?)?.is_none());
        assert!(qb.matmul_t(&Tensor::zeros((1, 32), candle_core::DType::BF16, &dev)?)?.is_none());
        Ok(())
    }

    /// Rounded blocks compute what the bf16 tiles compute from the dense weights (both sum
    /// exact products of the same bf16 operands in f32), for every kernel and few-row count.
    #[test]
    fn rounded_blocks_equal_bf16_products_of_the_dense_weights() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for dt in [GgmlDType::Q4_1, GgmlDType::Q8_0] {
            let (out, inp) = (70, 576);
            let q = QTensor::quantize(&Tensor::randn(0f32, 1.0, (out, inp), &dev)?, dt)?;
            let qb = QBlocks::from_qtensor(&q)?.expect("Q4_1/Q8_0");
            let dense = Tensor::from_vec(qb.dequantize(), (out, inp), &dev)?;
            let packed = crate::bf16mm::Bf16Weight::pack_for_cpu(&dense)?.expect("f32 CPU weight");
            for rows in 1..crate::bf16mm::TILES_FROM_ROWS {
                let x = Tensor::randn(0f32, 1.0, (rows, inp), &dev)?;
                let want = crate::bf16mm::matmul_t_many(&x, &[&packed])?.expect("f32").remove(0);
                let xr: Vec<f32> = x.flatten_all()?.to_vec1::<f32>()?.into_iter().map(crate::bf16mm::round_to_bf16).collect();
                for (name, k) in kernels() {
                    let got = few_rows_many(&[&qb], &xr, rows, k, true).pop().expect("one matrix");
                    let got = Tensor::from_vec(got, (rows, out), &dev)?;
                    let diff = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                    assert!(diff < 1e-5 * inp as f32, "{dt:?} {name} rows {rows}: differs by {diff}");
                }
                let got = matmul_t_many_bf16(&[&qb], &x)?.expect("f32 rows").remove(0);
                let diff = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-5 * inp as f32, "{dt:?} rows {rows}: differs by {diff}");
                // And the rounding shows: unrounded blocks give other numbers.
                let exact = matmul_t_many(&[&qb], &x)?.expect("f32 rows").remove(0);
                assert!((&exact - &want)?.abs()?.max_all()?.to_scalar::<f32>()? > 1e-4);
            }
        }
        Ok(())
    }

    #[test]
    fn several_weights_in_one_pass_equal_one_at_a_time() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // q, k, v of a tiny GQA layer, mixed formats; and a weight of another input size.
        let mats: Vec<QBlocks> = [(96, GgmlDType::Q4_1), (32, GgmlDType::Q8_0), (32, GgmlDType::Q4_1)]
            .into_iter()
            .map(|(out, dt)| {
                let q = QTensor::quantize(&Tensor::randn(0f32, 1.0, (out, 64), &dev)?, dt)?;
                Ok(QBlocks::from_qtensor(&q)?.expect("Q4_1/Q8_0"))
            })
            .collect::<candle_core::Result<_>>()?;
        let refs: Vec<&QBlocks> = mats.iter().collect();
        for rows in [1, 3, 16] {
            let x = Tensor::randn(0f32, 1.0, (rows, 64), &dev)?;
            let together = matmul_t_many(&refs, &x)?.expect("f32 CPU rows take this path");
            for (m, got) in mats.iter().zip(&together) {
                let alone = m.matmul_t(&x)?.expect("same path");
                // Task boundaries may differ, and with them the order of a row's sums.
                let diff = (got - &alone)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-4, "rows {rows}: differs by {diff}");
            }
        }
        let other =
            QBlocks::from_qtensor(&QTensor::quantize(&Tensor::zeros((4, 32), candle_core::DType::F32, &dev)?, GgmlDType::Q4_1)?)?.unwrap();
        assert!(matmul_t_many(&[&mats[0], &other], &Tensor::zeros((1, 64), candle_core::DType::F32, &dev)?)?.is_none());
        Ok(())
    }
}

/// Throughput of the kernels alone (`cargo test --release -p syco-ml --lib qgemv::speed -- --ignored --nocapture`).
#[cfg(test)]
mod speed {
    use super::*;
    use candle_core::Device;
    use std::time::Instant;

    #[test]
    #[ignore = "a throughput measurement, not a check: run it by hand with --ignored --nocapture"]
    fn speed() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        for (dt, out, inp) in [(GgmlDType::Q8_0, 49152, 576), (GgmlDType::Q4_1, 1536, 576), (GgmlDType::Q4_1, 576, 1536)] {
            let w = Tensor::randn(0f32, 1.0, (out, inp), &dev)?;
            let q = QTensor::quantize(&w, dt)?;
            let qb = QBlocks::from_qtensor(&q)?.unwrap();
            for rows in [1usize, 1, 2, 3, 4, 8, 16] {
                let x = Tensor::randn(0f32, 1.0, (rows, inp), &dev)?;
                let xv = x.flatten_all()?.to_vec1::<f32>()?;
                let reps = (200_000_000 / (out * inp)).max(3);
                let t = Instant::now();
                for _ in 0..reps {
                    std::hint::black_box(qb.few_rows(&xv, rows, select_kernel(features())));
                }
                let s = t.elapsed().as_secs_f64() / reps as f64;
                let t = Instant::now();
                for _ in 0..reps {
                    std::hint::black_box(crate::gemv::matmul_t(&x, &w)?);
                }
                let s32 = t.elapsed().as_secs_f64() / reps as f64;
                eprintln!(
                    "{dt:?} {out}x{inp} rows {rows}: blocks {:.1} us ({:.2} GB/s), f32 gemv {:.1} us ({:.2} GB/s)",
                    s * 1e6,
                    qb.data.len() as f64 / s / 1e9,
                    s32 * 1e6,
                    (out * inp * 4) as f64 / s32 / 1e9
                );
            }
        }
        Ok(())
    }
}
