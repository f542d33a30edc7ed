//! One decoder layer's forward and backward for training, over flat f32 buffers.
//!
//! The forward keeps what the backward needs in `Acts` (the norms' 1/rms, post-rope q and k, v,
//! the attention output, the mid-layer residual, gate and up, each LoRA's (rows, r) product);
//! the normalised inputs and the SwiGLU output are recomputed instead, one cheap pass each.
//! Temporaries live in `Work`, one per step, reused by every layer.

use super::attention::{attention, attention_backward, AttnShape};
use super::gemm::{matmul, Mat, MatMut, Out, Threads};
use super::kernels;
use super::narrow;

/// A projection's frozen weight (out, in), bias, and the active adapter's pair.
pub(crate) struct ProjW<'a> {
    pub w: &'a [f32],
    pub out: usize,
    pub inp: usize,
    pub bias: Option<&'a [f32]>,
    pub lora: Option<LoraW<'a>>,
}

/// A (r, in), B (out, r), the scale alpha/r and the dropout probability.
pub(crate) struct LoraW<'a> {
    pub a: &'a [f32],
    pub b: &'a [f32],
    pub r: usize,
    pub scale: f32,
    pub dropout: f64,
}

pub(crate) struct LayerW<'a> {
    pub input_norm: &'a [f32],
    pub post_norm: &'a [f32],
    /// q, k, v, o, gate, up, down.
    pub projs: Vec<ProjW<'a>>,
}

/// Sizes shared by every layer of one step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    /// Tokens in the micro-batch (batch x seq).
    pub rows: usize,
    pub hidden: usize,
    pub inter: usize,
    pub eps: f32,
    pub attn: AttnShape,
}

/// Per-step inputs every layer reads: rotary angles (rows, dim/2) and the attention bias.
pub(crate) struct StepInputs {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    /// (batch, seq, seq).
    pub bias: Vec<f32>,
}

/// What one layer's forward leaves for its backward (empty by default: a layer whose backward
/// is done).
#[derive(Default)]
pub(crate) struct Acts {
    rinv1: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    stats: Vec<f32>,
    attn: Vec<f32>,
    mid: Vec<f32>,
    rinv2: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    /// Each projection's `scale · dropout(x) Aᵀ` (rows, r); empty without an adapter.
    lora_h: [Vec<f32>; 7],
}

impl Acts {
    pub fn new(d: &Dims) -> Self {
        let (n, a) = (d.rows, d.attn);
        let z = |len: usize| vec![0f32; len];
        Acts {
            rinv1: z(n),
            q: z(n * a.heads * a.dim),
            k: z(n * a.kv_heads * a.dim),
            v: z(n * a.kv_heads * a.dim),
            stats: z(a.stats_len()),
            attn: z(n * a.heads * a.dim),
            mid: z(n * d.hidden),
            rinv2: z(n),
            gate: z(n * d.inter),
            up: z(n * d.inter),
            lora_h: Default::default(),
        }
    }

    /// The memory one layer's activations take once its forward has filled them.
    pub fn bytes(d: &Dims, layers: &[LayerW]) -> usize {
        let (n, a) = (d.rows, d.attn);
        let dense = 2 * n + (2 * a.heads + 2 * a.kv_heads) * a.dim * n + a.stats_len() + n * d.hidden + 2 * n * d.inter;
        let lora = layers.first().map_or(0, |l| l.projs.iter().filter_map(|p| p.lora.as_ref()).map(|l| n * l.r).sum());
        4 * (dense + lora)
    }
}

/// Scratch buffers of one step.
pub(crate) struct Work {
    xn: Vec<f32>,
    act: Vec<f32>,
    fwd: ForwardScratch,
    /// LoRA's share of an input gradient before masking (rows, widest input).
    tmp: Vec<f32>,
    /// g B (rows, r).
    gb: Vec<f32>,
    dxn: Vec<f32>,
    dattn: Vec<f32>,
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
    dact: Vec<f32>,
}

impl Work {
    pub fn new(d: &Dims) -> Self {
        let (n, a) = (d.rows, d.attn);
        let widest = d.hidden.max(d.inter).max(a.heads * a.dim);
        let z = |len: usize| vec![0f32; len];
        Work {
            xn: z(n * d.hidden),
            act: z(n * d.inter),
            fwd: ForwardScratch { mask: z(n * widest), wt: z(d.hidden * widest) },
            tmp: z(n * widest),
            gb: Vec::new(),
            dxn: z(n * d.hidden),
            dattn: z(n * a.heads * a.dim),
            dq: z(n * a.heads * a.dim),
            dk: z(n * a.kv_heads * a.dim),
            dv: z(n * a.kv_heads * a.dim),
            dact: z(n * d.inter),
        }
    }
}

/// Gradients of one projection's A (r, in) and B (out, r).
pub(crate) struct LoraGrad {
    pub a: Vec<f32>,
    pub b: Vec<f32>,
}

/// The dropout seed of projection `j` of a layer, when its adapter drops anything.
pub(crate) type Seeds<'s> = &'s dyn Fn(usize) -> Option<u64>;

/// `y = x Wᵀ + bias + B (scale · dropout(x) Aᵀ)`, or `y +=` that with `Out::Accumulate`. The
/// adapter's (rows, r) product goes to `h`.
#[allow(clippy::too_many_arguments)]
fn project(p: &ProjW, x: &[f32], rows: usize, y: &mut [f32], out: Out, h: &mut Vec<f32>, scratch: &mut ForwardScratch, seed: Option<u64>) {
    let mut base_out = out;
    if let Some(bias) = p.bias {
        match out {
            Out::Overwrite => kernels::fill_rows(y, bias),
            Out::Accumulate => kernels::add_rows(y, bias),
        }
        base_out = Out::Accumulate;
    }
    // gemm multiplies by a row-major right-hand side markedly faster than by a transposed one;
    // transposing the weight first costs a few per cent of the product.
    let wt = &mut scratch.wt[..p.out * p.inp];
    kernels::transpose(p.w, p.out, p.inp, wt);
    matmul(MatMut::new(y, rows, p.out), Mat::new(x, rows, p.inp), Mat::new(wt, p.inp, p.out), 1.0, base_out, Threads::All);
    if let Some(l) = adapter_product(p, x, rows, h, scratch, seed) {
        matmul(MatMut::new(y, rows, p.out), Mat::new(h, rows, l.r), Mat::new(l.b, p.out, l.r).t(), 1.0, Out::Accumulate, Threads::All);
    }
}

/// The adapter's (rows, r) product `scale · dropout(x) Aᵀ` into `h` (emptied without an
/// adapter), which `project` adds to its output through B and the backward reads.
fn adapter_product<'p>(
    p: &'p ProjW,
    x: &[f32],
    rows: usize,
    h: &mut Vec<f32>,
    scratch: &mut ForwardScratch,
    seed: Option<u64>,
) -> Option<&'p LoraW<'p>> {
    let Some(l) = &p.lora else {
        h.clear();
        return None;
    };
    let xm = dropped_out(x, l, &mut scratch.mask, seed);
    h.resize(rows * l.r, 0.0);
    let at = &mut scratch.wt[..l.r * p.inp];
    kernels::transpose(l.a, l.r, p.inp, at);
    narrow_product(xm, p.inp, at, l.r, h);
    h.iter_mut().for_each(|v| *v *= l.scale);
    Some(l)
}

/// `x` with the adapter's dropout applied (in `mask`'s storage), or `x` itself without dropout.
fn dropped_out<'m>(x: &'m [f32], l: &LoraW, mask: &'m mut [f32], seed: Option<u64>) -> &'m [f32] {
    match seed.filter(|_| l.dropout > 0.0) {
        Some(seed) => {
            let out = &mut mask[..x.len()];
            kernels::dropout(x, out, l.dropout, seed);
            out
        }
        None => x,
    }
}

/// Scratch a projection's forward uses.
struct ForwardScratch {
    /// The dropped-out input (rows, widest input).
    mask: Vec<f32>,
    /// The transposed weight (in, out) of the largest projection.
    wt: Vec<f32>,
}

/// Scratch a projection's backward uses.
struct ProjScratch<'w> {
    mask: &'w mut [f32],
    tmp: &'w mut [f32],
    gb: &'w mut Vec<f32>,
}

/// The backward of `project` for the gradient `g` (rows, out) at its output: the adapter's
/// gradients (returned), and, when `dx` is given, the input's gradient written or added there.
#[allow(clippy::too_many_arguments)]
fn project_backward(
    p: &ProjW,
    x: &[f32],
    rows: usize,
    g: &[f32],
    h: &[f32],
    dx: Option<(&mut [f32], Out)>,
    s: ProjScratch,
    seed: Option<u64>,
) -> Option<LoraGrad> {
    let gm = Mat::new(g, rows, p.out);
    let Some(l) = &p.lora else {
        if let Some((dx, out)) = dx {
            matmul(MatMut::new(dx, rows, p.inp), gm, Mat::new(p.w, p.out, p.inp), 1.0, out, Threads::All);
        }
        return None;
    };
    let mut grad = LoraGrad { a: vec![0f32; l.r * p.inp], b: vec![0f32; p.out * l.r] };
    // dB = gᵀ h (h carries the scale); gB = g B.
    transposed_narrow_product(g, p.out, h, l.r, &mut grad.b);
    s.gb.resize(rows * l.r, 0.0);
    narrow_product(g, p.out, l.b, l.r, s.gb);
    let gb = Mat::new(s.gb, rows, l.r);
    let am = Mat::new(l.a, l.r, p.inp);
    let dropout = seed.filter(|_| l.dropout > 0.0);
    let xm: &[f32] = match dx {
        Some((dx, out)) => {
            matmul(MatMut::new(dx, rows, p.inp), gm, Mat::new(p.w, p.out, p.inp), 1.0, out, Threads::All);
            match dropout {
                // dx += scale · (gB A) ∘ mask, leaving dropout(x) in tmp
                Some(seed) => {
                    let tmp = &mut s.tmp[..x.len()];
                    matmul(MatMut::new(tmp, rows, p.inp), gb, am, 1.0, Out::Overwrite, Threads::All);
                    kernels::dropout_backward(tmp, x, dx, l.scale, l.dropout, seed);
                    tmp
                }
                None => {
                    matmul(MatMut::new(dx, rows, p.inp), gb, am, l.scale, Out::Accumulate, Threads::All);
                    x
                }
            }
        }
        None => dropped_out(x, l, s.mask, dropout),
    };
    // dA = scale · (gB)ᵀ dropout(x), computed transposed (in, r) by the narrow kernel
    let mut da_t = vec![0f32; p.inp * l.r];
    transposed_narrow_product(xm, p.inp, s.gb, l.r, &mut da_t);
    kernels::transpose(&da_t, p.inp, l.r, &mut grad.a);
    grad.a.iter_mut().for_each(|v| *v *= l.scale);
    Some(grad)
}

/// `c (m x r) = a (m x k) · b (k x r)`: the narrow kernel, or `gemm` for a rank it lacks.
fn narrow_product(a: &[f32], k: usize, b: &[f32], r: usize, c: &mut [f32]) {
    if !narrow::rows_times_narrow(a, k, b, r, c) {
        let m = c.len() / r;
        matmul(MatMut::new(c, m, r), Mat::new(a, m, k), Mat::new(b, k, r), 1.0, Out::Overwrite, Threads::All);
    }
}

/// `c (k x r) = aᵀ g` for `a` (m x k), `g` (m x r): the narrow kernel, or `gemm`.
fn transposed_narrow_product(a: &[f32], k: usize, g: &[f32], r: usize, c: &mut [f32]) {
    if !narrow::transposed_times_narrow(a, k, g, r, c) {
        let m = g.len() / r;
        matmul(MatMut::new(c, k, r), Mat::new(a, m, k).t(), Mat::new(g, m, r), 1.0, Out::Overwrite, Threads::All);
    }
}

/// The layer's output for input `x`, filling `acts` for the backward.
pub(crate) fn forward(w: &LayerW, d: &Dims, inputs: &StepInputs, x: &[f32], acts: &mut Acts, work: &mut Work, seeds: Seeds) -> Vec<f32> {
    forward_to_mlp(w, d, inputs, x, acts, work, seeds);
    kernels::swiglu(&acts.gate, &acts.up, &mut work.act);
    let mut out = acts.mid.clone();
    let [.., hd] = &mut acts.lora_h;
    project(&w.projs[6], &work.act, d.rows, &mut out, Out::Accumulate, hd, &mut work.fwd, seeds(6));
    out
}

/// `forward` again for the backward of a layer that kept only its input: `acts` as `forward`
/// fills them, without the down projection's product, whose output (the next layer's input) is
/// kept and which the backward reads only through its adapter's (rows, r) product.
pub(crate) fn recompute(w: &LayerW, d: &Dims, inputs: &StepInputs, x: &[f32], acts: &mut Acts, work: &mut Work, seeds: Seeds) {
    forward_to_mlp(w, d, inputs, x, acts, work, seeds);
    kernels::swiglu(&acts.gate, &acts.up, &mut work.act);
    let [.., hd] = &mut acts.lora_h;
    adapter_product(&w.projs[6], &work.act, d.rows, hd, &mut work.fwd, seeds(6));
}

/// The layer's forward up to the SwiGLU's inputs (`acts`, all but the down projection's).
fn forward_to_mlp(w: &LayerW, d: &Dims, inputs: &StepInputs, x: &[f32], acts: &mut Acts, work: &mut Work, seeds: Seeds) {
    let n = d.rows;
    let (a, p) = (d.attn, &w.projs);
    kernels::rms_norm(x, w.input_norm, d.eps, &mut work.xn, &mut acts.rinv1);
    let [hq, hk, hv, ho, hg, hu, _] = &mut acts.lora_h;
    project(&p[0], &work.xn, n, &mut acts.q, Out::Overwrite, hq, &mut work.fwd, seeds(0));
    project(&p[1], &work.xn, n, &mut acts.k, Out::Overwrite, hk, &mut work.fwd, seeds(1));
    project(&p[2], &work.xn, n, &mut acts.v, Out::Overwrite, hv, &mut work.fwd, seeds(2));
    kernels::rope(&mut acts.q, &inputs.cos, &inputs.sin, a.heads, a.dim, false);
    kernels::rope(&mut acts.k, &inputs.cos, &inputs.sin, a.kv_heads, a.dim, false);
    attention(&a, &acts.q, &acts.k, &acts.v, &inputs.bias, &mut acts.attn, &mut acts.stats);
    acts.mid.copy_from_slice(x);
    project(&p[3], &acts.attn, n, &mut acts.mid, Out::Accumulate, ho, &mut work.fwd, seeds(3));

    kernels::rms_norm(&acts.mid, w.post_norm, d.eps, &mut work.xn, &mut acts.rinv2);
    project(&p[4], &work.xn, n, &mut acts.gate, Out::Overwrite, hg, &mut work.fwd, seeds(4));
    project(&p[5], &work.xn, n, &mut acts.up, Out::Overwrite, hu, &mut work.fwd, seeds(5));
}

/// Back-propagates `g` (the gradient at the layer's output) through the layer whose forward
/// filled `acts` from input `x`: `g` becomes the gradient at `x` (left as is when
/// `input_grad` is false: nothing upstream trains). Returns each projection's adapter gradients.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    w: &LayerW,
    d: &Dims,
    inputs: &StepInputs,
    x: &[f32],
    acts: &mut Acts,
    work: &mut Work,
    seeds: Seeds,
    g: &mut [f32],
    input_grad: bool,
) -> Vec<Option<LoraGrad>> {
    let n = d.rows;
    let (a, p) = (d.attn, &w.projs);
    let mut grads: Vec<Option<LoraGrad>> = (0..7).map(|_| None).collect();
    macro_rules! scratch {
        () => {
            ProjScratch { mask: &mut work.fwd.mask, tmp: &mut work.tmp, gb: &mut work.gb }
        };
    }

    // MLP: down, SwiGLU (gate and up become their gradients), gate and up, the norm.
    kernels::swiglu(&acts.gate, &acts.up, &mut work.act);
    grads[6] = project_backward(&p[6], &work.act, n, g, &acts.lora_h[6], Some((&mut work.dact, Out::Overwrite)), scratch!(), seeds(6));
    kernels::swiglu_backward(&mut acts.gate, &mut acts.up, &work.dact);
    kernels::rms_norm_again(&acts.mid, w.post_norm, &acts.rinv2, &mut work.xn);
    grads[4] =
        project_backward(&p[4], &work.xn, n, &acts.gate, &acts.lora_h[4], Some((&mut work.dxn, Out::Overwrite)), scratch!(), seeds(4));
    grads[5] =
        project_backward(&p[5], &work.xn, n, &acts.up, &acts.lora_h[5], Some((&mut work.dxn, Out::Accumulate)), scratch!(), seeds(5));
    kernels::rms_norm_backward(&acts.mid, w.post_norm, &acts.rinv2, &work.dxn, g);

    // Attention: o, the attention itself, rope, q k v, the norm.
    grads[3] = project_backward(&p[3], &acts.attn, n, g, &acts.lora_h[3], Some((&mut work.dattn, Out::Overwrite)), scratch!(), seeds(3));
    attention_backward(&a, &acts.q, &acts.k, &acts.v, &inputs.bias, &acts.stats, &work.dattn, &mut work.dq, &mut work.dk, &mut work.dv);
    kernels::rope(&mut work.dq, &inputs.cos, &inputs.sin, a.heads, a.dim, true);
    kernels::rope(&mut work.dk, &inputs.cos, &inputs.sin, a.kv_heads, a.dim, true);
    kernels::rms_norm_again(x, w.input_norm, &acts.rinv1, &mut work.xn);
    let (dq, dk, dv) = (&work.dq, &work.dk, &work.dv);
    grads[0] = project_backward(
        &p[0],
        &work.xn,
        n,
        dq,
        &acts.lora_h[0],
        input_grad.then_some((&mut work.dxn[..], Out::Overwrite)),
        scratch!(),
        seeds(0),
    );
    grads[1] = project_backward(
        &p[1],
        &work.xn,
        n,
        dk,
        &acts.lora_h[1],
        input_grad.then_some((&mut work.dxn[..], Out::Accumulate)),
        scratch!(),
        seeds(1),
    );
    grads[2] = project_backward(
        &p[2],
        &work.xn,
        n,
        dv,
        &acts.lora_h[2],
        input_grad.then_some((&mut work.dxn[..], Out::Accumulate)),
        scratch!(),
        seeds(2),
    );
    if input_grad {
        kernels::rms_norm_backward(x, w.input_norm, &acts.rinv1, &work.dxn, g);
    }
    grads
}
