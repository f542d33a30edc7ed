//! `y = x Wᵀ` with bf16 operands and f32 sums, for inference (`matmul = "bf16"`): scoring,
//! prompt prefill and batched decoding, where the f32 products are compute-bound.
//!
//! The product of two bf16 values is exact in f32, so the result equals the f32 product of the
//! operands rounded to bf16 (to nearest, ties to even), up to the order of the float summation.
//! On CPUs with AMX (Intel Xeon since Sapphire Rapids) the products run on the tile unit, one
//! 16 x 16 x 32 multiply per `tdpbf16ps`; on CPUs with AVX-512 BF16 but no AMX (AMD Zen 4/5)
//! on `vdpbf16ps` (`dot`), 16 x 2 multiply-adds per instruction; both read the same packed
//! weight. Elsewhere the rounded operands would go through the f32 GEMM, slower than plain
//! f32 products, so there `bf16_products_help` is false and models keep f32 products. A
//! manifest gives the same numbers on every CPU up to summation order (and the two bf16
//! instructions' flushing of denormals). Every output element is computed the same way
//! whatever the number of rows, so a sequence scores the same batched or alone.
//!
//! AMX layout: a weight (out, in) is packed once into 1 KB tiles of 16 output columns by 32
//! inputs; tile row r holds inputs 2r and 2r+1 of each of the 16 columns (the pairs
//! `tdpbf16ps` multiplies). Activations are rounded per call into a row-major bf16 matrix whose
//! rows are padded to a multiple of 32 with zeros. Each task computes 32 x 32 blocks of the
//! output in four accumulator tiles, two activation tiles and two weight tiles.
use candle_core::{CpuStorage, DType, Storage, Tensor};
use rayon::prelude::*;
use std::sync::OnceLock;

use crate::simd::{choose, features, Features};

#[cfg(target_arch = "x86_64")]
mod dot;

/// From this many rows on, products with a model's GGUF blocks also go through the tiles; fewer
/// rows (decoding a few sequences) read the blocks, rounding as the tiles do (`qgemv`), because
/// there streaming the 4-5 bit weights costs less than the tiles' 16-bit ones.
pub(crate) const TILES_FROM_ROWS: usize = 8;

/// Inputs per tile (and per weight block along `in`).
const TK: usize = 32;
/// Rows and columns of an output tile.
const TN: usize = 16;
/// u16 elements in one packed weight tile.
const TILE: usize = TK * TN;
/// Packed weight bytes one parallel task multiplies: its columns' panel stays in L2 (2 MB per
/// core on Sapphire Rapids) while the task's row blocks pass over it.
const TASK_WEIGHT_BYTES: usize = 1 << 20;
/// Tasks per thread at least, splitting rows too when the columns give fewer (load balance).
const TASKS_PER_THREAD: usize = 2;

/// A frozen weight (out, in) ready for bf16 products.
pub(crate) struct Bf16Weight {
    out_dim: usize,
    in_dim: usize,
    packing: Packing,
}

enum Packing {
    /// AMX tiles: `(ceil(out/16)) * k_blocks` tiles, column block-major.
    Tiles { k_blocks: usize, data: Vec<u16> },
    /// The weight with every element rounded to bf16, kept in f32 for candle's GEMM.
    Rounded(Tensor),
}

impl std::fmt::Debug for Bf16Weight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.packing {
            Packing::Tiles { .. } => "amx",
            Packing::Rounded(_) => "rounded f32",
        };
        write!(f, "Bf16Weight({}x{}, {how})", self.out_dim, self.in_dim)
    }
}

/// Round to the nearest bf16, ties to even (NaN stays NaN).
#[inline(always)]
fn bf16_bits(v: f32) -> u16 {
    let b = v.to_bits();
    let rounded = ((b as u64 + 0x7fff + ((b >> 16) & 1) as u64) >> 16) as u16;
    if v.is_nan() {
        ((b >> 16) as u16) | 0x40
    } else {
        rounded
    }
}

/// `v` rounded to the nearest bf16 (ties to even), as an f32.
#[inline(always)]
pub(crate) fn round_to_bf16(v: f32) -> f32 {
    f32::from_bits((bf16_bits(v) as u32) << 16)
}

/// What the tile code (`amx`, inline assembly rather than `#[target_feature]` functions) runs:
/// tile loads and stores (AMX-TILE) and `tdpbf16ps` (AMX-BF16).
pub(crate) const AMX_TILES: Features = Features::named(&["amx-tile", "amx-bf16"]);

/// Whether this process may use AMX bf16 tiles (CPU support, and the kernel's permission to
/// use the tile state, which Linux grants per process on request).
pub(crate) fn amx_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| choose(features(), &[(AMX_TILES, true)], false) && amx::request())
}

/// Whether this process may use `vdpbf16ps` (`dot`): AVX-512 BF16, not turned off.
pub(crate) fn dot_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return choose(features(), &[(dot::DOT_BF16, true)], false);
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether bf16 products are faster than f32 ones on this CPU: it multiplies bf16 directly
/// (AMX or AVX-512 BF16). Without either, rounding into the f32 GEMM only costs time.
pub fn bf16_products_help() -> bool {
    bf16_instructions().is_some()
}

/// The instructions bf16 products run on in this process: `"amx"`, `"avx512-bf16"`, or `None`
/// on a CPU with neither (or with them turned off: `simd`).
pub fn bf16_instructions() -> Option<&'static str> {
    if amx_available() {
        Some("amx")
    } else if dot_available() {
        Some("avx512-bf16")
    } else {
        None
    }
}

/// Runs `f` on the elements of a contiguous f32 CPU tensor; `None` for any other tensor.
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (s, l) = t.storage_and_layout();
    match (&*s, l.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(v)), Some((a, b))) => Some(f(&v[a..b])),
        _ => None,
    }
}

impl Bf16Weight {
    /// Packs a 2-D f32 CPU weight (out, in): AMX tiles when `tiles`, else rounded f32.
    pub fn pack(w: &Tensor, tiles: bool) -> candle_core::Result<Option<Self>> {
        let (out_dim, in_dim) = w.dims2()?;
        let w = w.contiguous()?;
        let Some(packing) = with_f32(&w, |wv| Self::pack_slice(wv, out_dim, in_dim, tiles)) else { return Ok(None) };
        Ok(Some(Bf16Weight { out_dim, in_dim, packing: packing? }))
    }

    fn pack_slice(wv: &[f32], out_dim: usize, in_dim: usize, tiles: bool) -> candle_core::Result<Packing> {
        Ok(if tiles {
            let k_blocks = in_dim.div_ceil(TK);
            let col_blocks = out_dim.div_ceil(TN);
            let mut data = vec![0u16; col_blocks * k_blocks * TILE];
            data.par_chunks_mut(k_blocks * TILE).enumerate().for_each(|(nb, tiles)| {
                for (kb, tile) in tiles.chunks_mut(TILE).enumerate() {
                    for n in 0..TN.min(out_dim.saturating_sub(nb * TN)) {
                        let row = &wv[(nb * TN + n) * in_dim..(nb * TN + n + 1) * in_dim];
                        for k in 0..TK.min(in_dim - kb * TK) {
                            tile[(k / 2) * 2 * TN + n * 2 + k % 2] = bf16_bits(row[kb * TK + k]);
                        }
                    }
                }
            });
            Packing::Tiles { k_blocks, data }
        } else {
            let rounded: Vec<f32> = wv.iter().map(|&v| round_to_bf16(v)).collect();
            Packing::Rounded(Tensor::from_vec(rounded, (out_dim, in_dim), &candle_core::Device::Cpu)?)
        })
    }

    /// Packs for this CPU: tiles when it multiplies bf16 directly (AMX or AVX-512 BF16).
    pub fn pack_for_cpu(w: &Tensor) -> candle_core::Result<Option<Self>> {
        Self::pack(w, bf16_products_help())
    }
}

/// `x` (..., in) f32 on the CPU times each weightᵀ (all of the same `in`); `None` when `x` is
/// not an untracked f32 CPU tensor.
pub(crate) fn matmul_t_many(x: &Tensor, ws: &[&Bf16Weight]) -> candle_core::Result<Option<Vec<Tensor>>> {
    let dims = x.dims().to_vec();
    let in_dim = *dims.last().unwrap_or(&0);
    if x.dtype() != DType::F32 || x.track_op() || !x.device().is_cpu() || ws.iter().any(|w| w.in_dim != in_dim) {
        return Ok(None);
    }
    let rows = x.elem_count() / in_dim.max(1);
    let x2 = x.reshape((rows, in_dim))?.contiguous()?;
    let shape = |w: &Bf16Weight| {
        let mut d = dims.clone();
        *d.last_mut().unwrap() = w.out_dim;
        d
    };
    if rows == 0 {
        let empty = ws.iter().map(|w| Tensor::zeros(shape(w), DType::F32, x.device()));
        return Ok(Some(empty.collect::<candle_core::Result<_>>()?));
    }
    if ws.iter().all(|w| matches!(w.packing, Packing::Tiles { .. })) {
        if amx_available() {
            let a = ActivationTiles::new(&x2, rows, in_dim)?;
            return Ok(Some(ws.iter().map(|w| Tensor::from_vec(a.times(w), shape(w), x.device())).collect::<candle_core::Result<_>>()?));
        }
        #[cfg(target_arch = "x86_64")]
        if dot_available() {
            let a = dot_rows(&x2, rows, in_dim)?;
            return Ok(Some(
                ws.iter().map(|w| Tensor::from_vec(dot_times(&a, w), shape(w), x.device())).collect::<candle_core::Result<_>>()?,
            ));
        }
    }
    let xr = x2.to_dtype(DType::BF16)?.to_dtype(DType::F32)?;
    let ys = ws.iter().map(|w| {
        let wr = match &w.packing {
            Packing::Rounded(t) => t.clone(),
            Packing::Tiles { .. } => unpack_tiles(w, x.device())?,
        };
        // `linear::matmul_t`: a few rows (decoding) read the weight in place instead of having
        // the GEMM pack all of it on every call.
        crate::linear::matmul_t(&xr, &wr)?.reshape(shape(w))
    });
    Ok(Some(ys.collect::<candle_core::Result<_>>()?))
}

/// The rounded f32 weight back from its tiles (a CPU without AMX reading tiles packed on one
/// with; only tests and odd set-ups get here).
fn unpack_tiles(w: &Bf16Weight, dev: &candle_core::Device) -> candle_core::Result<Tensor> {
    let Packing::Tiles { k_blocks, data } = &w.packing else { unreachable!("called on tiles") };
    let mut out = vec![0f32; w.out_dim * w.in_dim];
    for o in 0..w.out_dim {
        for i in 0..w.in_dim {
            let tile = &data[((o / TN) * k_blocks + i / TK) * TILE..][..TILE];
            let (n, k) = (o % TN, i % TK);
            out[o * w.in_dim + i] = f32::from_bits((tile[(k / 2) * 2 * TN + n * 2 + k % 2] as u32) << 16);
        }
    }
    Tensor::from_vec(out, (w.out_dim, w.in_dim), dev)
}

/// Activations rounded to bf16 in tiles of 16 rows by 32 inputs (1 KB each, row-block-major),
/// rows padded to a multiple of 32 and inputs to a multiple of 32 with zeros. A tile load then
/// reads one contiguous KB instead of 16 rows strided across the matrix.
struct ActivationTiles {
    rows: usize,
    padded_rows: usize,
    k_blocks: usize,
    data: Vec<u16>,
}

impl ActivationTiles {
    fn new(x: &Tensor, rows: usize, in_dim: usize) -> candle_core::Result<Self> {
        let k_blocks = in_dim.div_ceil(TK);
        let padded_rows = rows.div_ceil(2 * TN) * 2 * TN;
        let mut data = vec![0u16; padded_rows * k_blocks * TK];
        with_f32(x, |xv| {
            // One task per 16-row block: round each row once, then scatter it into its tiles.
            data.par_chunks_mut(TN * k_blocks * TK).zip(xv.par_chunks(TN * in_dim)).for_each(|(tiles, src)| {
                let mut row = vec![0u16; k_blocks * TK];
                for (r, s) in src.chunks(in_dim).enumerate() {
                    round_row(s, &mut row[..in_dim]);
                    for (kb, part) in row.chunks(TK).enumerate() {
                        tiles[kb * TILE + r * TK..][..TK].copy_from_slice(part);
                    }
                }
            })
        })
        .ok_or_else(|| candle_core::Error::Msg("bf16 products need a contiguous f32 CPU input".into()))?;
        Ok(ActivationTiles { rows, padded_rows, k_blocks, data })
    }

    /// `self` times `w`ᵀ, (rows, out) row-major.
    fn times(&self, w: &Bf16Weight) -> Vec<f32> {
        let Packing::Tiles { k_blocks, data } = &w.packing else { unreachable!("checked by the caller") };
        let n = w.out_dim;
        // Not zeroed first: the tasks write every element, and zeroing a scoring batch's logits
        // (400 MB at 16 x 128 tokens) would be a pass over memory for nothing.
        let len = self.rows * n;
        let mut y: Vec<f32> = Vec::with_capacity(len);
        advise_huge_pages(&mut y);
        let out = SendPtr(y.as_mut_ptr());
        Split::new(self.padded_rows, n, *k_blocks, 2 * TN, 2 * TN).run(|rows, cols| {
            let out = &out;
            // SAFETY: AMX was granted (checked by the caller); each task writes only its own
            // block of `y`, within the `len` elements allocated.
            unsafe { amx::task(self, data, *k_blocks, rows, cols, out.0, n) };
        });
        // SAFETY: the tasks above wrote all `len` elements.
        unsafe { y.set_len(len) };
        y
    }
}

/// How a product's output splits into parallel tasks: column ranges whose packed weight stays
/// in L2 while the task's rows pass over it, and row ranges too when the columns alone give
/// fewer than `TASKS_PER_THREAD` tasks per thread.
struct Split {
    rows: usize,
    n: usize,
    row_step: usize,
    col_step: usize,
}

impl Split {
    /// `rows` is a multiple of `row_unit`; steps are multiples of the units.
    fn new(rows: usize, n: usize, k_blocks: usize, row_unit: usize, col_unit: usize) -> Self {
        let wanted = TASKS_PER_THREAD * rayon::current_num_threads();
        let mut col_step = (TASK_WEIGHT_BYTES / (2 * k_blocks * TK)).max(1).div_ceil(col_unit) * col_unit;
        let row_blocks = rows.div_ceil(row_unit).max(1);
        let row_tasks = wanted.div_ceil(n.div_ceil(col_step)).clamp(1, row_blocks);
        // Few rows (decoding) cannot be split: split the columns finer instead.
        let col_tasks = wanted.div_ceil(row_tasks);
        if n.div_ceil(col_step) < col_tasks {
            col_step = n.div_ceil(col_tasks).div_ceil(col_unit).max(1) * col_unit;
        }
        Split { rows, n, row_step: row_blocks.div_ceil(row_tasks) * row_unit, col_step }
    }

    /// Runs `task(rows, cols)` for every block, in parallel.
    fn run(&self, task: impl Fn(std::ops::Range<usize>, std::ops::Range<usize>) + Sync) {
        let row_tasks = self.rows.div_ceil(self.row_step).max(1);
        let col_tasks = self.n.div_ceil(self.col_step);
        (0..col_tasks * row_tasks).into_par_iter().for_each(|t| {
            let (c, r) = (t / row_tasks, t % row_tasks);
            task(r * self.row_step..((r + 1) * self.row_step).min(self.rows), c * self.col_step..((c + 1) * self.col_step).min(self.n));
        });
    }
}

/// `x` (rows, in) rounded into `dot`'s row-major bf16 rows, padded to whole tiles of inputs.
#[cfg(target_arch = "x86_64")]
fn dot_rows(x: &Tensor, rows: usize, in_dim: usize) -> candle_core::Result<dot::Rows> {
    let stride = in_dim.div_ceil(TK) * TK;
    let mut data = vec![0u16; rows * stride];
    with_f32(x, |xv| {
        data.par_chunks_mut(stride).zip(xv.par_chunks(in_dim)).for_each(|(dst, src)| round_row(src, &mut dst[..in_dim]));
    })
    .ok_or_else(|| candle_core::Error::Msg("bf16 products need a contiguous f32 CPU input".into()))?;
    Ok(dot::Rows { rows, stride, data })
}

/// `a` times `w`ᵀ with `vdpbf16ps`, (rows, out) row-major.
#[cfg(target_arch = "x86_64")]
fn dot_times(a: &dot::Rows, w: &Bf16Weight) -> Vec<f32> {
    let Packing::Tiles { k_blocks, data } = &w.packing else { unreachable!("checked by the caller") };
    let n = w.out_dim;
    let len = a.rows * n;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    advise_huge_pages(&mut y);
    let out = SendPtr(y.as_mut_ptr());
    Split::new(a.rows, n, *k_blocks, dot::MR, dot::NR * TN).run(|rows, cols| {
        let out = &out;
        // SAFETY: the caller checked `dot_available`; the rows were padded to the weight's
        // `k_blocks` tiles of inputs; each task writes only its own block of `y`'s `len`.
        unsafe { dot::task(a, data, *k_blocks, rows, cols, out.0, n) };
    });
    // SAFETY: the tasks above wrote all `len` elements.
    unsafe { y.set_len(len) };
    y
}

/// Asks Linux to back a large fresh buffer with 2 MB pages: the logits of a scoring batch
/// (400 MB at 16 x 128 tokens) otherwise take 100 000 page faults on first touch.
fn advise_huge_pages(buf: &mut Vec<f32>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = buf.as_mut_ptr() as usize;
        let end = start + buf.capacity() * 4;
        let (a, b) = (start.div_ceil(HUGE) * HUGE, end / HUGE * HUGE);
        if b > a {
            // SAFETY: the range lies inside the buffer's allocation; the advice changes no contents.
            unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_HUGEPAGE) };
        }
    }
}

struct SendPtr(*mut f32);
// SAFETY (both): tasks write disjoint blocks of the buffer behind the pointer.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Rounds a row to bf16 bits; a loop LLVM vectorises (16 lanes under AVX-512).
fn round_row(src: &[f32], dst: &mut [u16]) {
    type Kernel = unsafe fn(&[f32], &mut [u16]);
    #[cfg(target_arch = "x86_64")]
    let candidates: &[(Features, Kernel)] = &[(ROUND_ROW_AVX512, round_row_avx512)];
    #[cfg(not(target_arch = "x86_64"))]
    let candidates: &[(Features, Kernel)] = &[];
    let kernel = choose(features(), candidates, round_row_portable);
    // SAFETY: `choose` returns the AVX-512 copy only when the CPU has its features.
    unsafe { kernel(src, dst) }
}

#[cfg(target_arch = "x86_64")]
crate::simd::target_fn! {
    pub(crate) const ROUND_ROW_AVX512 = ["avx512f", "avx512bw"];
    fn round_row_avx512(src: &[f32], dst: &mut [u16]) {
        round_row_portable(src, dst)
    }
}

#[inline(always)]
fn round_row_portable(src: &[f32], dst: &mut [u16]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = bf16_bits(s);
    }
}

#[cfg(target_arch = "x86_64")]
mod amx {
    use super::{ActivationTiles, TILE, TK, TN};
    use std::arch::asm;

    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;

    /// Asks Linux for the tile state (refused when the kernel or hypervisor does not expose
    /// it); for a CPU with `AMX_TILES`.
    pub(super) fn request() -> bool {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: a plain syscall with integer arguments.
            unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0 }
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Palette 1 with all eight tiles 16 rows x 64 bytes (f32 accumulators 16 x 16, bf16
    /// operands 16 x 32 or 16 pairs x 16 columns).
    #[repr(C, align(64))]
    pub(super) struct Config(pub(super) [u8; 64]);

    pub(super) fn config() -> Config {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
        }
        Config(c)
    }

    /// Output rows `rows` and columns `cols` (ranges starting at multiples of 32) written into
    /// `y` (a.rows, n) row-major.
    ///
    /// # Safety
    /// AMX must be granted to this process; `y` must hold `a.rows * n` floats, `packed` the
    /// weight's tiles with `k_blocks` per column block, and `cols.end <= n`.
    pub(super) unsafe fn task(
        a: &ActivationTiles,
        packed: &[u16],
        k_blocks: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
        y: *mut f32,
        n: usize,
    ) {
        let cfg = config();
        // SAFETY: AMX is granted (the caller); the configuration is a valid palette-1 layout.
        unsafe { asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly)) };
        let mut scratch = [0f32; 4 * TN * TN];
        for m0 in rows.step_by(2 * TN) {
            for n0 in cols.clone().step_by(2 * TN) {
                // SAFETY: activation row blocks m0 / 16 and the next lie within the padded rows
                // (m0 < padded_rows, a multiple of 32), and weight column blocks n0 / 16 (and the
                // next when n0 + 16 < n) within the packed tiles (the caller's `k_blocks`); the
                // tiles configured above are what `block` and `store` use; stores stay inside
                // `y`'s a.rows x n floats or `scratch`.
                unsafe {
                    let a0 = a.data.as_ptr().add((m0 / TN) * a.k_blocks * TILE);
                    let a1 = a0.add(a.k_blocks * TILE);
                    let b0 = packed.as_ptr().add((n0 / TN) * k_blocks * TILE);
                    // A last lone column block multiplies zeros in its second half (never stored).
                    let b1 = if n0 + TN < n { b0.add(k_blocks * TILE) } else { b0 };
                    block(a0, a1, b0, b1, k_blocks);
                    let full = m0 + 2 * TN <= a.rows && n0 + 2 * TN <= n;
                    if full {
                        store(y.add(m0 * n + n0), n * 4);
                    } else {
                        store(scratch.as_mut_ptr(), 2 * TN * 4);
                        for r in 0..(a.rows.saturating_sub(m0)).min(2 * TN) {
                            for c in 0..(n - n0).min(2 * TN) {
                                *y.add((m0 + r) * n + n0 + c) = scratch[r * 2 * TN + c];
                            }
                        }
                    }
                }
            }
        }
        // SAFETY: releases the tile state configured above.
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }

    /// Accumulates a 32 x 32 output block over all `k_blocks` into tiles 0-3.
    ///
    /// # Safety
    /// The tiles must be configured as `config()` sets them; `a0`, `a1`, `b0` and `b1` must each
    /// point to `k_blocks` consecutive 1 KB tiles.
    #[inline(always)]
    pub(super) unsafe fn block(a0: *const u16, a1: *const u16, b0: *const u16, b1: *const u16, k_blocks: usize) {
        // SAFETY: the caller's guarantees: configured tiles, and the operand tiles in bounds.
        unsafe { asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem)) };
        for kb in 0..k_blocks {
            // SAFETY: as above; tile kb < k_blocks of each operand.
            unsafe {
                asm!(
                    // Each load just before the first product that needs it, so loads overlap
                    // the products already issued (tile registers are not renamed).
                    "tileloadd tmm4, [{a0} + {s}*1]",
                    "tileloadd tmm6, [{b0} + {s}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tileloadd tmm7, [{b1} + {s}*1]",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tileloadd tmm5, [{a1} + {s}*1]",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0.add(kb * TILE),
                    a1 = in(reg) a1.add(kb * TILE),
                    b0 = in(reg) b0.add(kb * TILE),
                    b1 = in(reg) b1.add(kb * TILE),
                    s = in(reg) 2 * TK,
                    options(nostack, readonly),
                );
            }
        }
    }

    /// Stores tiles 0-3 as a 32 x 32 f32 block at `c` with row stride `ldc` bytes.
    ///
    /// # Safety
    /// The tiles must be configured as `config()` sets them, and `c` must be valid for writing
    /// 32 rows of 32 floats, `ldc` bytes apart.
    #[inline(always)]
    pub(super) unsafe fn store(c: *mut f32, ldc: usize) {
        // SAFETY: the caller's guarantees.
        unsafe {
            asm!(
                "tilestored [{c0} + {ldc}*1], tmm0",
                "tilestored [{c1} + {ldc}*1], tmm1",
                "tilestored [{c2} + {ldc}*1], tmm2",
                "tilestored [{c3} + {ldc}*1], tmm3",
                c0 = in(reg) c,
                c1 = in(reg) c.add(TN),
                c2 = in(reg) (c as *mut u8).add(TN * ldc) as *mut f32,
                c3 = in(reg) ((c as *mut u8).add(TN * ldc) as *mut f32).add(TN),
                ldc = in(reg) ldc,
                options(nostack),
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod amx {
    pub(super) fn request() -> bool {
        false
    }

    /// # Safety
    /// Never callable: AMX is never available off x86_64.
    pub(super) unsafe fn task(
        _: &super::ActivationTiles,
        _: &[u16],
        _: usize,
        _: std::ops::Range<usize>,
        _: std::ops::Range<usize>,
        _: *mut f32,
        _: usize,
    ) {
        unreachable!("AMX is never available off x86_64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The f32 product of the operands rounded to bf16: what both paths must equal.
    fn reference(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        let r = |t: &Tensor| t.to_dtype(DType::BF16)?.to_dtype(DType::F32);
        r(x)?.matmul(&r(w)?.t()?)
    }

    #[test]
    fn rounding_matches_half_including_ties_and_specials() {
        // 1 + 1/256 and 1 + 3/256 lie halfway between two bf16 values (ties to even: down, up).
        let ties = [1.0 + 1.0 / 256.0, 1.0 + 3.0 / 256.0];
        for v in [0.0f32, -0.0, 1.0, ties[0], ties[1], std::f32::consts::PI, -2.5e-39, 1e38, f32::MAX, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(bf16_bits(v), half::bf16::from_f32(v).to_bits(), "{v}");
        }
        assert!(f32::from_bits((bf16_bits(f32::NAN) as u32) << 16).is_nan());
    }

    #[test]
    fn both_packings_equal_the_rounded_f32_product_for_ragged_shapes() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // Row counts 1-9 and 17 and column counts around the 16/48-wide blocks reach every
        // register-block shape of `dot` and the AMX tail blocks.
        let shapes = [(1, 1, 1), (3, 17, 40), (33, 48, 64), (64, 192, 576), (70, 100, 37), (5, 33, 1536), (2, 64, 96), (4, 80, 33)];
        let more = [(6, 97, 64), (7, 15, 70), (8, 49, 128), (9, 32, 31), (17, 145, 200)];
        for (rows, out, inp) in shapes.into_iter().chain(more) {
            let x = Tensor::randn(0f32, 1.0, (rows, inp), &dev)?;
            let w = Tensor::randn(0f32, 1.0, (out, inp), &dev)?;
            let want = reference(&x, &w)?;
            let tol = 1e-5 * (inp as f32).sqrt() * 4.0;
            let mut packings = vec![false];
            if bf16_products_help() {
                packings.push(true);
            }
            for tiles in packings {
                let pw = Bf16Weight::pack(&w, tiles)?.expect("f32 CPU weight");
                let got = matmul_t_many(&x, &[&pw])?.expect("f32 CPU input").remove(0);
                assert_eq!(got.dims(), &[rows, out]);
                let diff = (&got - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < tol, "tiles {tiles}, {rows}x{out}x{inp}: differs by {diff}");
            }
        }
        Ok(())
    }

    #[test]
    fn no_rows_give_an_empty_product() -> candle_core::Result<()> {
        let w = Bf16Weight::pack_for_cpu(&Tensor::ones((8, 32), DType::F32, &Device::Cpu)?)?.expect("f32");
        let y = matmul_t_many(&Tensor::zeros((0, 32), DType::F32, &Device::Cpu)?, &[&w])?.expect("f32").remove(0);
        assert_eq!(y.dims(), &[0, 8]);
        Ok(())
    }

    #[test]
    fn a_row_gives_the_same_bits_alone_or_among_others() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (45, 96), &dev)?;
        let w = Tensor::randn(0f32, 1.0, (80, 96), &dev)?;
        let pw = Bf16Weight::pack_for_cpu(&w)?.expect("f32 CPU weight");
        let all = matmul_t_many(&x, &[&pw])?.expect("f32").remove(0);
        for r in [0, 31, 32, 44] {
            let one = matmul_t_many(&x.narrow(0, r, 1)?, &[&pw])?.expect("f32").remove(0);
            let got: Vec<f32> = all.narrow(0, r, 1)?.flatten_all()?.to_vec1()?;
            let alone: Vec<f32> = one.flatten_all()?.to_vec1()?;
            if bf16_products_help() {
                assert_eq!(got, alone, "row {r}");
            } else {
                let d = got.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(d < 1e-4, "row {r} differs by {d}");
            }
        }
        Ok(())
    }

    #[test]
    fn the_bf16_instructions_are_used_where_the_cpu_has_them() {
        let f = features();
        let amx = choose(f, &[(AMX_TILES, true)], false);
        let dot = cfg!(target_arch = "x86_64") && choose(f, &[(Features::named(&["avx512bf16"]), true)], false);
        // AMX may still be refused by the kernel (`amx::request`); AVX-512 BF16 never is.
        if !amx && dot {
            assert_eq!(bf16_instructions(), Some("avx512-bf16"));
        }
        if !amx && !dot {
            assert_eq!(bf16_instructions(), None);
        }
        let w = Bf16Weight::pack_for_cpu(&Tensor::ones((4, 8), DType::F32, &candle_core::Device::Cpu).unwrap()).unwrap().expect("f32");
        assert_eq!(matches!(w.packing, Packing::Tiles { .. }), bf16_instructions().is_some(), "{w:?}");
    }

    #[test]
    fn tiles_unpack_to_the_rounded_weight() -> candle_core::Result<()> {
        let w = Tensor::randn(0f32, 1.0, (21, 70), &Device::Cpu)?;
        let tiles = Bf16Weight::pack(&w, true)?.expect("f32");
        let rounded = w.to_dtype(DType::BF16)?.to_dtype(DType::F32)?;
        let back = unpack_tiles(&tiles, &Device::Cpu)?;
        assert_eq!(back.flatten_all()?.to_vec1::<f32>()?, rounded.flatten_all()?.to_vec1::<f32>()?);
        Ok(())
    }
}
