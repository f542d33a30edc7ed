//! Causal grouped-query attention over token-major buffers, forward and backward.
//!
//! Queries are (tokens, heads x dim) and keys/values (tokens, kv_heads x dim), exactly as the
//! projections write them: a head is a strided column block, so nothing is transposed or
//! copied per head. Batch rows are independent and go to rayon's threads; each computes its
//! heads one after another with single-threaded products. The probabilities are not kept: the
//! forward saves each row's softmax max and 1/sum, and the backward recomputes them (one
//! (T x T x dim) product per head, against T x T floats per head and layer held otherwise).

use rayon::prelude::*;

use super::gemm::{matmul, Mat, MatMut, Out, Threads};
use super::kernels::{softmax_backward_rows, softmax_rows, softmax_rows_again};

/// Shape of one attention call: `batch` sequences of `seq` tokens.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AttnShape {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub dim: usize,
    /// What `q kᵀ` is multiplied by (1/sqrt(dim) unless the family says otherwise).
    pub scale: f32,
}

impl AttnShape {
    fn q_width(&self) -> usize {
        self.heads * self.dim
    }

    fn kv_width(&self) -> usize {
        self.kv_heads * self.dim
    }

    /// Floats of softmax statistics the forward saves: (batch, heads, seq, 2).
    pub fn stats_len(&self) -> usize {
        self.batch * self.heads * self.seq * 2
    }

    /// The heads sharing one key/value head.
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// Queries handled together: a block attends to the keys up to its last query only.
const QUERY_BLOCK: usize = 64;

/// The query blocks of one sequence as (first query, end, keys to compute). Training is causal,
/// so a block's later keys are masked for all its queries and their probabilities are exactly
/// 0, except in a row with no key allowed at all, which softmax spreads over every key: a
/// block holding such a row (a left-padded position) keeps all the keys.
fn query_blocks(t: usize, bias: &[f32]) -> Vec<(usize, usize, usize)> {
    (0..t)
        .step_by(QUERY_BLOCK)
        .map(|q0| {
            let q1 = (q0 + QUERY_BLOCK).min(t);
            let all_rows_attend = (q0..q1).all(|q| bias[q * t..(q + 1) * t].contains(&0.0));
            (q0, q1, if all_rows_attend { q1 } else { t })
        })
        .collect()
}

/// Scores of head `head` for queries `q0..q1` against keys `..keys` of one sequence, into `p`
/// ((q1 - q0) x keys): `bias + scale · q kᵀ`.
#[allow(clippy::too_many_arguments)]
fn scores(s: &AttnShape, head: usize, (q0, q1, keys): (usize, usize, usize), q: &[f32], k: &[f32], bias: &[f32], p: &mut [f32]) {
    let (t, d) = (s.seq, s.dim);
    let kv = head / s.group();
    for (row, q) in p.chunks_mut(keys).zip(q0..q1) {
        row.copy_from_slice(&bias[q * t..][..keys]);
    }
    let qh = Mat::strided(&q[q0 * s.q_width() + head * d..], q1 - q0, d, s.q_width());
    let kh = Mat::strided(&k[kv * d..], keys, d, s.kv_width());
    matmul(MatMut::new(p, q1 - q0, keys), qh, kh.t(), s.scale, Out::Accumulate, Threads::One);
}

/// `out = softmax(scale · q kᵀ + bias) v` for every head; `bias` is (batch, seq, seq) with 0
/// where a query may attend and the mask value elsewhere, and causal. Softmax stats go to
/// `stats`.
pub(crate) fn attention(s: &AttnShape, q: &[f32], k: &[f32], v: &[f32], bias: &[f32], out: &mut [f32], stats: &mut [f32]) {
    let (t, d) = (s.seq, s.dim);
    let (qw, kw) = (s.q_width(), s.kv_width());
    out.par_chunks_mut(t * qw).zip(stats.par_chunks_mut(s.heads * t * 2)).enumerate().for_each(|(b, (out, stats))| {
        let (q, k, v) = (&q[b * t * qw..][..t * qw], &k[b * t * kw..][..t * kw], &v[b * t * kw..][..t * kw]);
        let bias = &bias[b * t * t..][..t * t];
        let blocks = query_blocks(t, bias);
        let mut p = vec![0f32; QUERY_BLOCK.min(t) * t];
        for head in 0..s.heads {
            for &(q0, q1, keys) in &blocks {
                let p = &mut p[..(q1 - q0) * keys];
                scores(s, head, (q0, q1, keys), q, k, bias, p);
                softmax_rows(p, keys, &mut stats[(head * t + q0) * 2..(head * t + q1) * 2]);
                let vh = Mat::strided(&v[(head / s.group()) * d..], keys, d, kw);
                let oh = MatMut::strided(&mut out[q0 * qw + head * d..], q1 - q0, d, qw);
                matmul(oh, Mat::new(p, q1 - q0, keys), vh, 1.0, Out::Overwrite, Threads::One);
            }
        }
    });
}

/// Gradients of `attention`'s inputs given `dout` at its output: `dq` is overwritten, `dk` and
/// `dv` too (each sums over the heads of its group).
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_backward(
    s: &AttnShape,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bias: &[f32],
    stats: &[f32],
    dout: &[f32],
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) {
    let (t, d) = (s.seq, s.dim);
    let (qw, kw) = (s.q_width(), s.kv_width());
    dq.par_chunks_mut(t * qw).zip(dk.par_chunks_mut(t * kw).zip(dv.par_chunks_mut(t * kw))).enumerate().for_each(|(b, (dq, (dk, dv)))| {
        let (q, k, v) = (&q[b * t * qw..][..t * qw], &k[b * t * kw..][..t * kw], &v[b * t * kw..][..t * kw]);
        let (bias, dout) = (&bias[b * t * t..][..t * t], &dout[b * t * qw..][..t * qw]);
        let stats = &stats[b * s.heads * t * 2..][..s.heads * t * 2];
        let blocks = query_blocks(t, bias);
        dk.fill(0.0);
        dv.fill(0.0);
        let (mut p, mut dp) = (vec![0f32; QUERY_BLOCK.min(t) * t], vec![0f32; QUERY_BLOCK.min(t) * t]);
        for head in 0..s.heads {
            let kv = head / s.group();
            for &(q0, q1, keys) in &blocks {
                let rows = q1 - q0;
                let (p, dp) = (&mut p[..rows * keys], &mut dp[..rows * keys]);
                scores(s, head, (q0, q1, keys), q, k, bias, p);
                softmax_rows_again(p, keys, &stats[(head * t + q0) * 2..(head * t + q1) * 2]);
                let douth = Mat::strided(&dout[q0 * qw + head * d..], rows, d, qw);
                let qh = Mat::strided(&q[q0 * qw + head * d..], rows, d, qw);
                let (kh, vh) = (Mat::strided(&k[kv * d..], keys, d, kw), Mat::strided(&v[kv * d..], keys, d, kw));
                // dP = dO vᵀ; dv += Pᵀ dO
                matmul(MatMut::new(dp, rows, keys), douth, vh.t(), 1.0, Out::Overwrite, Threads::One);
                matmul(
                    MatMut::strided(&mut dv[kv * d..], keys, d, kw),
                    Mat::new(p, rows, keys).t(),
                    douth,
                    1.0,
                    Out::Accumulate,
                    Threads::One,
                );
                // dS (gradient of the unscaled scores) = scale · P ∘ (dP - Σ dP∘P); dq = dS k, dk += dSᵀ q
                softmax_backward_rows(p, dp, keys, s.scale);
                let dqh = MatMut::strided(&mut dq[q0 * qw + head * d..], rows, d, qw);
                matmul(dqh, Mat::new(dp, rows, keys), kh, 1.0, Out::Overwrite, Threads::One);
                matmul(
                    MatMut::strided(&mut dk[kv * d..], keys, d, kw),
                    Mat::new(dp, rows, keys).t(),
                    qh,
                    1.0,
                    Out::Accumulate,
                    Threads::One,
                );
            }
        }
    });
}
