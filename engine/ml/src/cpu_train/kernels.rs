//! Row-wise kernels of the decoder layer and their backward passes, on f32 slices, rows split
//! over rayon's threads. Each writes into a buffer its caller owns: nothing here allocates.

use rayon::prelude::*;

use crate::fastmath::{exp_nonpositive, sigmoid};
use crate::rng::{mask_block, MASK_BLOCK};
use crate::simd::Features;

/// The features the AVX-512 copy of every `simd_fn!` kernel is compiled with (AVX-512F: the
/// loops vectorise 16 lanes wide instead of the baseline's 4).
pub(crate) const AVX512: Features = Features::named(&["avx512f"]);

/// Defines `fn name(args)` that runs its body compiled for `AVX512` when the CPU has it, else as
/// plain code. The body is one parallel task's work, so each task dispatches once.
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn portable($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            crate::simd::target_fn! {
                const NEEDS = ["avx512f"];
                fn avx512($($arg: $ty),*) {
                    portable($($arg),*)
                }
            }

            #[cfg(target_arch = "x86_64")]
            {
                // The list above is the one `AVX512` names (what the selection tests read).
                const { assert!(NEEDS.is(AVX512)) };
                if crate::simd::choose(crate::simd::features(), &[(NEEDS, true)], false) {
                    // SAFETY: `choose` said the CPU has the features of `avx512`.
                    return unsafe { avx512($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

/// Rows per rayon task: about 64K elements, enough work to pay for the hand-off.
fn rows_per_task(width: usize) -> usize {
    (65_536 / width.max(1)).max(1)
}

/// Elements per rayon task of the element-wise kernels.
const CHUNK: usize = 65_536;

/// Σ a∘b in 16 lanes, which LLVM vectorises (a sequential f32 sum it would not reorder).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for j in 0..16 {
            lanes[j] += x[j] * y[j];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The largest entry of `row` (NaNs skipped) in 16 lanes, which LLVM vectorises.
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    // By whole chunks of 16 (element j in lane j % 16): indexing lanes by `j % 16` kept it scalar.
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(c) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    for (lane, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = if v > *lane { v } else { *lane };
    }
    lanes.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// RMSNorm of each row of `x` (width `w.len()`): `out = x · r · w`, r = (mean(x²) + eps)^-½,
/// with each row's r written to `rinv` for the backward.
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32], rinv: &mut [f32]) {
    let rows = rows_per_task(w.len());
    out.par_chunks_mut(rows * w.len())
        .zip(rinv.par_chunks_mut(rows))
        .zip(x.par_chunks(rows * w.len()))
        .for_each(|((out, rinv), x)| rms_norm_task(x, w, eps, out, rinv));
}

simd_fn! {
    fn rms_norm_task(x: &[f32], w: &[f32], eps: f32, out: &mut [f32], rinv: &mut [f32]) {
        let h = w.len();
        for ((o, r), x) in out.chunks_mut(h).zip(rinv.iter_mut()).zip(x.chunks(h)) {
            *r = 1.0 / (dot(x, x) / h as f32 + eps).sqrt();
            scale_row(x, *r, w, o);
        }
    }
}

/// The RMSNorm output again from the input and the saved `rinv` (bit-identical to `rms_norm`'s).
pub(crate) fn rms_norm_again(x: &[f32], w: &[f32], rinv: &[f32], out: &mut [f32]) {
    let rows = rows_per_task(w.len());
    out.par_chunks_mut(rows * w.len())
        .zip(rinv.par_chunks(rows))
        .zip(x.par_chunks(rows * w.len()))
        .for_each(|((out, rinv), x)| rms_norm_again_task(x, w, rinv, out));
}

simd_fn! {
    fn rms_norm_again_task(x: &[f32], w: &[f32], rinv: &[f32], out: &mut [f32]) {
        let h = w.len();
        for ((o, &r), x) in out.chunks_mut(h).zip(rinv).zip(x.chunks(h)) {
            scale_row(x, r, w, o);
        }
    }
}

#[inline(always)]
fn scale_row(x: &[f32], r: f32, w: &[f32], out: &mut [f32]) {
    for ((o, &x), &w) in out.iter_mut().zip(x).zip(w) {
        *o = x * r * w;
    }
}

/// Adds RMSNorm's input gradient to `dx`: r·(g∘w) - x·r³·mean(g∘w∘x) for each row, where `g`
/// is the gradient at the norm's output.
pub(crate) fn rms_norm_backward(x: &[f32], w: &[f32], rinv: &[f32], g: &[f32], dx: &mut [f32]) {
    let (h, rows) = (w.len(), rows_per_task(w.len()));
    dx.par_chunks_mut(rows * h)
        .zip(rinv.par_chunks(rows))
        .zip(x.par_chunks(rows * h).zip(g.par_chunks(rows * h)))
        .for_each(|((dx, rinv), (x, g))| rms_norm_backward_task(x, w, rinv, g, dx));
}

simd_fn! {
    fn rms_norm_backward_task(x: &[f32], w: &[f32], rinv: &[f32], g: &[f32], dx: &mut [f32]) {
        let h = w.len();
        for (((dx, &r), x), g) in dx.chunks_mut(h).zip(rinv).zip(x.chunks(h)).zip(g.chunks(h)) {
            let mut lanes = [0f32; 16];
            for (j, ((&g, &w), &x)) in g.iter().zip(w).zip(x).enumerate() {
                lanes[j % 16] += g * w * x;
            }
            let mean = lanes.iter().sum::<f32>() / h as f32;
            let c = r * r * r * mean;
            for (((d, &g), &w), &x) in dx.iter_mut().zip(g).zip(w).zip(x) {
                *d += r * (g * w) - x * c;
            }
        }
    }
}

/// Rotary embedding in place, HF's half-split layout: each row of `x` holds `heads` vectors of
/// `dim`; `cos`/`sin` hold dim/2 angles per row. `inverse` rotates back (the backward pass).
pub(crate) fn rope(x: &mut [f32], cos: &[f32], sin: &[f32], heads: usize, dim: usize, inverse: bool) {
    let (half, width) = (dim / 2, heads * dim);
    let rows = rows_per_task(width);
    let sign = if inverse { -1.0 } else { 1.0 };
    x.par_chunks_mut(rows * width)
        .zip(cos.par_chunks(rows * half).zip(sin.par_chunks(rows * half)))
        .for_each(|(x, (cos, sin))| rope_task(x, cos, sin, width, dim, sign));
}

simd_fn! {
    fn rope_task(x: &mut [f32], cos: &[f32], sin: &[f32], width: usize, dim: usize, sign: f32) {
        let half = dim / 2;
        for ((row, c), s) in x.chunks_mut(width).zip(cos.chunks(half)).zip(sin.chunks(half)) {
            for head in row.chunks_mut(dim) {
                let (x1, x2) = head.split_at_mut(half);
                for i in 0..half {
                    let (a, b, c, s) = (x1[i], x2[i], c[i], sign * s[i]);
                    x1[i] = a * c - b * s;
                    x2[i] = b * c + a * s;
                }
            }
        }
    }
}

/// SwiGLU: `act = silu(gate) ∘ up`.
pub(crate) fn swiglu(gate: &[f32], up: &[f32], act: &mut [f32]) {
    act.par_chunks_mut(CHUNK)
        .zip(gate.par_chunks(CHUNK).zip(up.par_chunks(CHUNK)))
        .for_each(|(act, (gate, up))| swiglu_task(gate, up, act));
}

simd_fn! {
    fn swiglu_task(gate: &[f32], up: &[f32], act: &mut [f32]) {
        for ((a, &g), &u) in act.iter_mut().zip(gate).zip(up) {
            *a = g * sigmoid(g) * u;
        }
    }
}

/// SwiGLU's backward in place: given the gradient `dact` at its output, `gate` becomes the
/// gradient of the gate and `up` that of up. silu'(z) = σ(z)(1 + z(1 - σ(z))).
pub(crate) fn swiglu_backward(gate: &mut [f32], up: &mut [f32], dact: &[f32]) {
    gate.par_chunks_mut(CHUNK)
        .zip(up.par_chunks_mut(CHUNK))
        .zip(dact.par_chunks(CHUNK))
        .for_each(|((gate, up), dact)| swiglu_backward_task(gate, up, dact));
}

simd_fn! {
    fn swiglu_backward_task(gate: &mut [f32], up: &mut [f32], dact: &[f32]) {
        for ((g, u), &d) in gate.iter_mut().zip(up.iter_mut()).zip(dact) {
            let (z, v) = (*g, *u);
            let s = sigmoid(z);
            *g = d * v * s * (1.0 + z * (1.0 - s));
            *u = d * z * s;
        }
    }
}

simd_fn! {
    /// Softmax of each row of `z` (width `width`) in place, keeping each row's max and 1/sum in
    /// `stats` (two per row) so `softmax_rows_again` can redo it exactly. A row whose entries are
    /// all the mask value comes out uniform, as candle's softmax gives it.
    pub(crate) fn softmax_rows(z: &mut [f32], width: usize, stats: &mut [f32]) {
        for (row, stats) in z.chunks_mut(width).zip(stats.chunks_mut(2)) {
            let max = row_max(row);
            // Element j summed in lane j % 16, by whole chunks so that the loop vectorises.
            let mut sums = [0f32; 16];
            let mut chunks = row.chunks_exact_mut(16);
            for c in &mut chunks {
                for (sum, v) in sums.iter_mut().zip(c) {
                    *v = exp_nonpositive(*v - max);
                    *sum += *v;
                }
            }
            for (sum, v) in sums.iter_mut().zip(chunks.into_remainder()) {
                *v = exp_nonpositive(*v - max);
                *sum += *v;
            }
            let inv = 1.0 / sums.iter().sum::<f32>();
            row.iter_mut().for_each(|v| *v *= inv);
            stats.copy_from_slice(&[max, inv]);
        }
    }
}

simd_fn! {
    /// The softmax of rows of `z` again from their saved stats, in place (bit-identical).
    pub(crate) fn softmax_rows_again(z: &mut [f32], width: usize, stats: &[f32]) {
        for (row, stats) in z.chunks_mut(width).zip(stats.chunks(2)) {
            let (max, inv) = (stats[0], stats[1]);
            row.iter_mut().for_each(|v| *v = exp_nonpositive(*v - max) * inv);
        }
    }
}

simd_fn! {
    /// Softmax's backward in place, times `scale`: `dp` (the gradient at the probabilities `p`)
    /// becomes `scale · p ∘ (dp - Σ dp∘p)` row by row.
    pub(crate) fn softmax_backward_rows(p: &[f32], dp: &mut [f32], width: usize, scale: f32) {
        for (dp, p) in dp.chunks_mut(width).zip(p.chunks(width)) {
            let s = dot(dp, p);
            for (d, &p) in dp.iter_mut().zip(p) {
                *d = scale * p * (*d - s);
            }
        }
    }
}

/// `out = x ∘ mask`, the mask being `rng::dropout_mask(x.len(), p, seed)`.
pub(crate) fn dropout(x: &[f32], out: &mut [f32], p: f64, seed: u64) {
    out.par_chunks_mut(MASK_BLOCK).zip(x.par_chunks(MASK_BLOCK)).enumerate().for_each(|(i, (out, x))| {
        mask_block(out, p, seed, i);
        mul_assign(out, x);
    });
}

simd_fn! {
    fn mul_assign(dst: &mut [f32], src: &[f32]) {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d *= s);
    }
}

/// Dropout's backward for the same mask: `dx += scale · g ∘ mask` for the gradient `g` at the
/// dropped-out input, after which `g` holds `x ∘ mask` (what the adapter's A saw).
pub(crate) fn dropout_backward(g: &mut [f32], x: &[f32], dx: &mut [f32], scale: f32, p: f64, seed: u64) {
    g.par_chunks_mut(MASK_BLOCK).zip(x.par_chunks(MASK_BLOCK).zip(dx.par_chunks_mut(MASK_BLOCK))).enumerate().for_each(
        |(i, (g, (x, dx)))| {
            let mut mask = [0f32; MASK_BLOCK];
            let mask = &mut mask[..g.len()];
            mask_block(mask, p, seed, i);
            dropout_backward_task(g, x, dx, mask, scale);
        },
    );
}

simd_fn! {
    fn dropout_backward_task(g: &mut [f32], x: &[f32], dx: &mut [f32], mask: &[f32], scale: f32) {
        for (((g, &x), dx), &m) in g.iter_mut().zip(x).zip(dx.iter_mut()).zip(mask) {
            *dx += scale * *g * m;
            *g = m * x;
        }
    }
}

/// `dst` (cols x rows) = `src` (rows x cols) transposed, both row-major: tasks take 16 rows of
/// `dst` each and move 16 x 16 tiles through a local array.
pub(crate) fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    assert!(src.len() == rows * cols && dst.len() == rows * cols, "transpose of {rows}x{cols}");
    if rows == 0 || cols == 0 {
        return;
    }
    dst.par_chunks_mut(TILE * rows).enumerate().for_each(|(block, d)| transpose_task(src, rows, cols, block * TILE, d));
}

const TILE: usize = 16;

simd_fn! {
    /// Rows `c0..` of the transpose (columns `c0..` of `src`) into `d`.
    fn transpose_task(src: &[f32], rows: usize, cols: usize, c0: usize, d: &mut [f32]) {
        let nc = d.len() / rows;
        for r0 in (0..rows).step_by(TILE) {
            let nr = TILE.min(rows - r0);
            if nr == TILE && nc == TILE {
                let mut tile = [[0f32; TILE]; TILE];
                for (r, t) in tile.iter_mut().enumerate() {
                    t.copy_from_slice(&src[(r0 + r) * cols + c0..][..TILE]);
                }
                for c in 0..TILE {
                    let out = &mut d[c * rows + r0..][..TILE];
                    for r in 0..TILE {
                        out[r] = tile[r][c];
                    }
                }
            } else {
                for r in r0..r0 + nr {
                    for c in 0..nc {
                        d[c * rows + r] = src[r * cols + c0 + c];
                    }
                }
            }
        }
    }
}

/// Cross-entropy of rows of `logits` (width `vocab`) at `targets` (negative: no target), and its
/// gradient in place: returns `weight · Σ (lse - x[target])` (f64) and leaves
/// `weight · (softmax(x) - onehot(target))` in each row with a target, zeros in the others.
/// A non-finite row gives a non-finite loss (the trainer reports the step).
pub(crate) fn cross_entropy_in_place(logits: &mut [f32], vocab: usize, targets: &[i64], weight: f32) -> f64 {
    logits.par_chunks_mut(vocab).zip(targets.par_iter()).map(|(row, &target)| cross_entropy_row(row, target, weight)).sum()
}

simd_fn! {
    fn cross_entropy_row_into(row: &mut [f32], target: i64, weight: f32, loss: &mut f64) {
        let Ok(target) = usize::try_from(target) else {
            row.fill(0.0);
            *loss = 0.0;
            return;
        };
        let max = row_max(row);
        // Summed in f64 lanes (49k terms in f32 lose the last digits), element j in lane j % 16,
        // by whole chunks so that the loop vectorises.
        let mut sums = [0f64; 16];
        let mut chunks = row.chunks_exact(16);
        for c in &mut chunks {
            for (sum, &v) in sums.iter_mut().zip(c) {
                *sum += exp_nonpositive(v - max) as f64;
            }
        }
        for (sum, &v) in sums.iter_mut().zip(chunks.remainder()) {
            *sum += exp_nonpositive(v - max) as f64;
        }
        let lse = max + (sums.iter().sum::<f64>().ln() as f32);
        *loss = (weight * (lse - row[target])) as f64;
        if !lse.is_finite() {
            *loss = f64::NAN;
        }
        for v in row.iter_mut() {
            *v = weight * exp_nonpositive(*v - lse);
        }
        row[target] -= weight;
    }
}

fn cross_entropy_row(row: &mut [f32], target: i64, weight: f32) -> f64 {
    let mut loss = 0.0;
    cross_entropy_row_into(row, target, weight, &mut loss);
    loss
}

/// Each row of `dst` (width `row.len()`) set to `row`.
pub(crate) fn fill_rows(dst: &mut [f32], row: &[f32]) {
    dst.chunks_mut(row.len()).for_each(|d| d.copy_from_slice(row));
}

/// `row` added to each row of `dst`.
pub(crate) fn add_rows(dst: &mut [f32], row: &[f32]) {
    dst.chunks_mut(row.len()).for_each(|d| d.iter_mut().zip(row).for_each(|(d, r)| *d += r));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.61 + salt).sin() * 1.7).collect()
    }

    /// Central differences of `f` at `x` along the probe direction `p`: (f(x+hp) - f(x-hp)) / 2h.
    fn directional(f: impl Fn(&[f32]) -> f64, x: &[f32], p: &[f32]) -> f64 {
        let h = 1e-3f32;
        let plus: Vec<f32> = x.iter().zip(p).map(|(x, p)| x + h * p).collect();
        let minus: Vec<f32> = x.iter().zip(p).map(|(x, p)| x - h * p).collect();
        (f(&plus) - f(&minus)) / (2.0 * h as f64)
    }

    fn close(a: f64, b: f64, what: &str) {
        assert!((a - b).abs() <= 2e-3 * b.abs().max(1.0), "{what}: analytic {a} vs numeric {b}");
    }

    #[test]
    fn rms_norm_backward_matches_finite_differences() {
        let (rows, h) = (3, 40);
        let (x, w, g, p) = (ramp(rows * h, 0.2), ramp(h, 1.1), ramp(rows * h, 2.3), ramp(rows * h, 3.9));
        let loss = |x: &[f32]| {
            let (mut out, mut r) = (vec![0f32; rows * h], vec![0f32; rows]);
            rms_norm(x, &w, 1e-5, &mut out, &mut r);
            out.iter().zip(&g).map(|(o, g)| (*o as f64) * (*g as f64)).sum::<f64>()
        };
        let (mut out, mut r) = (vec![0f32; rows * h], vec![0f32; rows]);
        rms_norm(&x, &w, 1e-5, &mut out, &mut r);
        let mut again = vec![0f32; rows * h];
        rms_norm_again(&x, &w, &r, &mut again);
        assert_eq!(out, again);
        let mut dx = vec![0.5f32; rows * h]; // accumulates onto what is there
        rms_norm_backward(&x, &w, &r, &g, &mut dx);
        let analytic: f64 = dx.iter().zip(&p).map(|(d, p)| (*d as f64 - 0.5) * *p as f64).sum();
        close(analytic, directional(loss, &x, &p), "rms_norm");
    }

    #[test]
    fn dropout_and_its_backward_use_the_masks_of_rng() {
        let n = 2 * MASK_BLOCK + 77;
        let (x, g0, p, seed) = (ramp(n, 0.5), ramp(n, 1.9), 0.25, 5);
        let mask = crate::rng::dropout_mask(n, p, seed);
        let mut out = vec![0f32; n];
        dropout(&x, &mut out, p, seed);
        assert!(out.iter().zip(&x).zip(&mask).all(|((o, x), m)| *o == x * m));
        let (mut g, mut dx) = (g0.clone(), vec![1f32; n]);
        dropout_backward(&mut g, &x, &mut dx, 0.5, p, seed);
        assert_eq!(g, out);
        assert!(dx.iter().zip(&g0).zip(&mask).all(|((d, g), m)| (d - (1.0 + 0.5 * g * m)).abs() < 1e-6));
    }

    #[test]
    fn transpose_swaps_indices() {
        for (rows, cols) in [(1, 1), (3, 70), (65, 33), (40, 1), (48, 64)] {
            let src = ramp(rows * cols, 0.2);
            let mut dst = vec![0f32; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * rows + r], src[r * cols + c]);
                }
            }
        }
    }

    #[test]
    fn rope_inverse_undoes_rope_and_is_its_transpose() {
        let (rows, heads, dim) = (4, 3, 8);
        let x = ramp(rows * heads * dim, 0.3);
        let angles = ramp(rows * dim / 2, 0.9);
        let (cos, sin): (Vec<f32>, Vec<f32>) = angles.iter().map(|a| (a.cos(), a.sin())).unzip();
        let mut y = x.clone();
        rope(&mut y, &cos, &sin, heads, dim, false);
        // Rotation by the HF formula, element by element.
        for r in 0..rows {
            for h in 0..heads {
                for i in 0..dim / 2 {
                    let base = r * heads * dim + h * dim;
                    let (a, b) = (x[base + i], x[base + i + dim / 2]);
                    let (c, s) = (cos[r * dim / 2 + i], sin[r * dim / 2 + i]);
                    assert!((y[base + i] - (a * c - b * s)).abs() < 1e-6);
                    assert!((y[base + i + dim / 2] - (b * c + a * s)).abs() < 1e-6);
                }
            }
        }
        rope(&mut y, &cos, &sin, heads, dim, true);
        assert!(y.iter().zip(&x).all(|(a, b)| (a - b).abs() < 1e-5));
    }

    #[test]
    fn swiglu_backward_matches_finite_differences() {
        let n = 50;
        let (gate, up, dact, p) = (ramp(n, 0.1), ramp(n, 0.8), ramp(n, 1.5), ramp(n, 2.2));
        let out = |gate: &[f32], up: &[f32]| {
            let mut act = vec![0f32; n];
            swiglu(gate, up, &mut act);
            act.iter().zip(&dact).map(|(a, d)| (*a as f64) * (*d as f64)).sum::<f64>()
        };
        let (mut dg, mut du) = (gate.clone(), up.clone());
        swiglu_backward(&mut dg, &mut du, &dact);
        let along = |d: &[f32]| d.iter().zip(&p).map(|(d, p)| (*d as f64) * (*p as f64)).sum::<f64>();
        close(along(&dg), directional(|g| out(g, &up), &gate, &p), "swiglu gate");
        close(along(&du), directional(|u| out(&gate, u), &up, &p), "swiglu up");
    }

    #[test]
    fn softmax_rows_again_and_backward_agree_with_the_definition() {
        let width = 9;
        let z = ramp(2 * width, 0.4);
        let mut p = z.clone();
        let mut stats = vec![0f32; 4];
        softmax_rows(&mut p, width, &mut stats);
        let mut again = z.clone();
        softmax_rows_again(&mut again, width, &stats);
        assert_eq!(p, again);
        assert!((p[..width].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let (g, probe) = (ramp(2 * width, 1.3), ramp(2 * width, 2.7));
        let loss = |z: &[f32]| {
            let mut p = z.to_vec();
            softmax_rows(&mut p, width, &mut [0f32; 4]);
            p.iter().zip(&g).map(|(p, g)| 0.5 * (*p as f64) * (*g as f64)).sum::<f64>()
        };
        let mut dz = g.clone();
        softmax_backward_rows(&p, &mut dz, width, 0.5);
        let analytic: f64 = dz.iter().zip(&probe).map(|(d, p)| (*d as f64) * (*p as f64)).sum();
        close(analytic, directional(loss, &z, &probe), "softmax");
        // A fully masked row is uniform, not NaN.
        let mut masked = vec![-1e30f32; width];
        let mut stats = [0f32; 2];
        softmax_rows(&mut masked, width, &mut stats);
        assert!(masked.iter().all(|&v| (v - 1.0 / width as f32).abs() < 1e-6));
        let mut again = vec![-1e30f32; width];
        softmax_rows_again(&mut again, width, &stats);
        assert_eq!(masked, again);
    }
}
