//! bf16 products with AVX-512 BF16's `vdpbf16ps`, for CPUs that have it but no AMX (AMD Zen 4
//! and 5, Intel Cooper Lake). One instruction multiplies 16 pairs of bf16 values by 16 others
//! and adds each lane's two exact products to its f32 sum: twice the multiply-adds of an f32 FMA
//! on half the bytes.
//!
//! It reads the weight tiles packed for AMX as they are: a tile row holds inputs 2p and 2p + 1
//! of 16 output columns, which is one `vdpbf16ps` operand, and a column block's rows follow each
//! other across its tiles, so pair p of block b is the 64 bytes at `b * panel + 32 p`. The
//! activations are rounded once per call into row-major bf16 rows padded with zeros to the
//! weight's padded input length; one row's pair is a 32-bit broadcast.
//!
//! A register block is up to 8 rows by 3 column blocks (48 outputs): 24 accumulators, 3 weight
//! vectors and a broadcast in the 32 vector registers. Each output is the sum over the pairs in
//! order whatever the number of rows or the block it falls in, so a row gives the same bits
//! alone or batched. Like AMX (and unlike an f32 FMA), the instruction treats denormal inputs
//! and results as zero.
use std::arch::x86_64::*;
use std::ops::Range;

use super::{TILE, TK, TN};

/// Rows of a register block.
pub(super) const MR: usize = 8;
/// Column blocks (of `TN` outputs) of a register block.
pub(super) const NR: usize = 3;

/// Activations rounded to bf16, row-major, each row `stride` elements (zero-padded).
pub(super) struct Rows {
    pub rows: usize,
    pub stride: usize,
    pub data: Vec<u16>,
}

crate::simd::target_fn! {
    /// What `task` is compiled for (AVX-512 BF16 implies AVX-512 F and BW).
    pub(crate) const DOT_BF16 = ["avx512bf16"];
    /// Output rows `rows` and columns `cols` (`cols.start` a multiple of `TN`) of `y` (a.rows, n)
    /// row-major.
    ///
    /// # Safety
    /// The CPU must have `DOT_BF16`; `packed` must hold the weight's tiles with `k_blocks` per
    /// column block for at least `n.div_ceil(TN)` blocks, `a.stride == k_blocks * TK`, `y` must
    /// hold `a.rows * n` floats, and `rows.end <= a.rows`, `cols.end <= n`.
    pub(super) unsafe fn task(a: &Rows, packed: &[u16], k_blocks: usize, rows: Range<usize>, cols: Range<usize>, y: *mut f32, n: usize) {
        debug_assert_eq!(a.stride, k_blocks * TK);
        debug_assert!(packed.len() >= n.div_ceil(TN) * k_blocks * TILE && rows.end <= a.rows && cols.end <= n);
        let panel = k_blocks * TILE;
        let pairs = k_blocks * TK / 2;
        let mut c0 = cols.start;
        while c0 < cols.end {
            let width = (cols.end - c0).min(NR * TN);
            let mut r0 = rows.start;
            while r0 < rows.end {
                let height = (rows.end - r0).min(MR);
                // SAFETY: the block's rows and columns lie inside the operands and `y` (the
                // caller's bounds), and the CPU has the kernel's features (every arm below).
                unsafe {
                    let at = Block {
                        a: a.data.as_ptr().add(r0 * a.stride),
                        stride: a.stride,
                        b: packed.as_ptr().add((c0 / TN) * panel),
                        panel,
                        pairs,
                        y: y.add(r0 * n + c0),
                        ldy: n,
                        width,
                    };
                    macro_rules! dispatch {
                        ($($h:literal)+) => {
                            match (height, width.div_ceil(TN)) {
                                $(($h, 1) => at.run::<$h, 1>(), ($h, 2) => at.run::<$h, 2>(), ($h, _) => at.run::<$h, 3>(),)+
                                _ => unreachable!("a block has 1 to {MR} rows"),
                            }
                        };
                    }
                    dispatch!(1 2 3 4 5 6 7 8);
                }
                r0 += height;
            }
            c0 += width;
        }
    }
}

/// One register block's operands: `R` activation rows from `a` and `C` column blocks from `b`,
/// written to `width` columns of `y`.
struct Block {
    a: *const u16,
    stride: usize,
    b: *const u16,
    panel: usize,
    pairs: usize,
    y: *mut f32,
    ldy: usize,
    width: usize,
}

impl Block {
    /// # Safety
    /// As `task`'s; `R <= MR`, `C <= NR`, `width <= C * TN`.
    #[inline(always)]
    unsafe fn run<const R: usize, const C: usize>(&self) {
        // SAFETY: the caller's bounds and features; every lane sums its pairs in order.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); C]; R];
            for p in 0..self.pairs {
                let w: [__m512bh; C] =
                    std::array::from_fn(|c| std::mem::transmute(_mm512_loadu_si512(self.b.add(c * self.panel + 2 * TN * p).cast())));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let pair = std::ptr::read_unaligned(self.a.add(r * self.stride + 2 * p).cast::<i32>());
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                    for c in 0..C {
                        acc_r[c] = _mm512_dpbf16_ps(acc_r[c], x, w[c]);
                    }
                }
            }
            for (r, acc_r) in acc.iter().enumerate() {
                for (c, v) in acc_r.iter().enumerate() {
                    let left = self.width.saturating_sub(c * TN).min(TN);
                    let mask: __mmask16 = if left == TN { u16::MAX } else { (1u16 << left) - 1 };
                    _mm512_mask_storeu_ps(self.y.add(r * self.ldy + c * TN), mask, *v);
                }
            }
        }
    }
}
