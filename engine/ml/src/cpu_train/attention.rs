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

    fn scale(&self) -> f32 {
        1.0 / (self.dim as f32).sqrt()
    }

    /// The heads sharing one key/value head.
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// Scores of head `head` for one sequence, into `p` (seq x seq): `bias + scale · q kᵀ`.
fn scores(s: &AttnShape, head: usize, q: &[f32], k: &[f32], bias: &[f32], p: &mut [f32]) {
    let (t, d) = (s.seq, s.dim);
    let kv = head / s.group();
    p.copy_from_slice(bias);
    let qh = Mat::strided(&q[head * d..], t, d, s.q_width());
    let kh = Mat::strided(&k[kv * d..], t, d, s.kv_width());
    matmul(MatMut::new(p, t, t), qh, kh.t(), s.scale(), Out::Accumulate, Threads::One);
}

/// `out = softmax(scale · q kᵀ + bias) v` for every head; `bias` is (batch, seq, seq) with 0
/// where a query may attend and the mask value elsewhere. Softmax stats go to `stats`.
pub(crate) fn attention(s: &AttnShape, q: &[f32], k: &[f32], v: &[f32], bias: &[f32], out: &mut [f32], stats: &mut [f32]) {
    let (t, d) = (s.seq, s.dim);
    let (qw, kw) = (s.q_width(), s.kv_width());
    out.par_chunks_mut(t * qw).zip(stats.par_chunks_mut(s.heads * t * 2)).enumerate().for_each(|(b, (out, stats))| {
        let (q, k, v) = (&q[b * t * qw..][..t * qw], &k[b * t * kw..][..t * kw], &v[b * t * kw..][..t * kw]);
        let bias = &bias[b * t * t..][..t * t];
        let mut p = vec![0f32; t * t];
        for head in 0..s.heads {
            scores(s, head, q, k, bias, &mut p);
            softmax_rows(&mut p, t, &mut stats[head * t * 2..][..t * 2]);
            let vh = Mat::strided(&v[(head / s.group()) * d..], t, d, kw);
            matmul(MatMut::strided(&mut out[head * d..], t, d, qw), Mat::new(&p, t, t), vh, 1.0, Out::Overwrite, Threads::One);
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
        dk.fill(0.0);
        dv.fill(0.0);
        let (mut p, mut dp) = (vec![0f32; t * t], vec![0f32; t * t]);
        for head in 0..s.heads {
            let kv = head / s.group();
            scores(s, head, q, k, bias, &mut p);
            softmax_rows_again(&mut p, t, &stats[head * t * 2..][..t * 2]);
            let douth = Mat::strided(&dout[head * d..], t, d, qw);
            let (qh, kh, vh) = (Mat::strided(&q[head * d..], t, d, qw), Mat::strided(&k[kv * d..], t, d, kw), Mat::strided(&v[kv * d..], t, d, kw));
            // dP = dO vᵀ; dv += Pᵀ dO
            matmul(MatMut::new(&mut dp, t, t), douth, vh.t(), 1.0, Out::Overwrite, Threads::One);
            matmul(MatMut::strided(&mut dv[kv * d..], t, d, kw), Mat::new(&p, t, t).t(), douth, 1.0, Out::Accumulate, Threads::One);
            // dS (gradient of the unscaled scores) = scale · P ∘ (dP - Σ dP∘P); dq = dS k, dk += dSᵀ q
            softmax_backward_rows(&p, &mut dp, t, s.scale());
            matmul(MatMut::strided(&mut dq[head * d..], t, d, qw), Mat::new(&dp, t, t), kh, 1.0, Out::Overwrite, Threads::One);
            matmul(MatMut::strided(&mut dk[kv * d..], t, d, kw), Mat::new(&dp, t, t).t(), qh, 1.0, Out::Accumulate, Threads::One);
        }
    });
}
