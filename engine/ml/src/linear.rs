//! A projection `y = x Wᵀ (+ b)` over frozen base weights, with any number of named LoRA
//! adapters beside it: `y += scale · B(A(dropout(x)))` for the active one (PEFT semantics).
//!
//! Mixed precision (a bf16/f16 base, f32 adapter weights: `Llama::lora_dtype`): the adapter's
//! branch runs in the adapter's dtype, as PEFT's `Linear.forward` does without autocast — `x` is
//! cast up to f32, the dropout mask is f32, `scale · B(A(x))` is an f32 product, and the branch is
//! added to the base product in f32 and the sum rounded once to the activation dtype. Rounding
//! A, B and the (rows, r) product to bf16 instead would add three roundings to a term that starts
//! at zero (B = 0) and grows by learning-rate-sized steps; the f32 branch costs O(rows·r·(in+out))
//! beside the base's O(rows·in·out), plus casting x up, and gives A and B gradients summed in f32.
//! For an f32 model every cast is the identity, so its numbers are exactly as before.

use anyhow::{bail, Result};
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Module, Tensor, Var};
use std::collections::HashMap;
use std::sync::Arc;

use crate::autograd::{self, GradSink, LoraTerm};
use crate::bf16mm::{self, Bf16Weight};
use crate::gemv;
use crate::qgemv::{self, QBlocks};
use crate::rng::dropout_mask;

/// Frozen base weight, (out, in). `Quant` keeps GGUF blocks for fast inference only.
#[derive(Clone)]
pub(crate) enum BaseWeight {
    Dense(Tensor),
    Quant(Arc<QTensor>, QMatMul),
}

impl BaseWeight {
    pub fn quant(q: QTensor) -> Result<Self> {
        let q = Arc::new(q);
        Ok(BaseWeight::Quant(q.clone(), QMatMul::from_arc(q)?))
    }

    pub fn dims(&self) -> (usize, usize) {
        let d = match self {
            BaseWeight::Dense(t) => t.dims().to_vec(),
            BaseWeight::Quant(q, _) => q.shape().dims().to_vec(),
        };
        (d[0], d[1])
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self, BaseWeight::Quant(..))
    }
}

/// One adapter's pair on one projection: A (r, in), B (out, r), in `Llama::lora_dtype` (f32
/// master weights under a bf16/f16 base).
#[derive(Clone)]
pub(crate) struct LoraPair {
    pub a: Var,
    pub b: Var,
    pub scale: f64,
    pub dropout: f64,
}

impl LoraPair {
    /// scale · B A, shaped like the base weight (out, in).
    pub fn delta(&self) -> Result<Tensor> {
        Ok((self.b.as_tensor().matmul(self.a.as_tensor())? * self.scale)?)
    }
}

/// Whether a pass records a graph for a backward, and where LoRA gradients go.
#[derive(Clone, Copy)]
pub(crate) enum Grad<'a> {
    /// Inference: no graph at all.
    None,
    /// Inference in a model switched to bf16 products: no graph, and projections that keep a
    /// `bf16` weight multiply with bf16 operands and f32 sums.
    NoneBf16,
    /// candle's graph of composed ops: `backward()` returns every gradient.
    Graph,
    /// Each projection is one explicit node; LoRA gradients are put into the sink.
    Sink(&'a GradSink),
}

impl Grad<'_> {
    pub fn records(&self) -> bool {
        !matches!(self, Grad::None | Grad::NoneBf16)
    }
}

#[derive(Clone)]
pub(crate) struct Proj {
    pub base: BaseWeight,
    pub bias: Option<Tensor>,
    pub loras: HashMap<String, LoraPair>,
    /// The GGUF blocks `base` was dequantised from (Q4_1/Q8_0, f32 models on the CPU): graph-free
    /// products with a few rows (decoding) stream these instead of the f32 weights. Dropped
    /// when the base weight changes (merge).
    pub blocks: Option<Arc<QBlocks>>,
    /// The base weight packed for bf16 products (`Llama::set_bf16_products`); used by
    /// `Grad::NoneBf16` passes only. Repacked when the base weight changes.
    pub bf16: Option<Arc<Bf16Weight>>,
}

/// The bf16 products of `x` with every projection's base weight, when the pass asks for them
/// and every projection has a packed weight; `None` otherwise.
fn bf16_products(projs: &[&Proj], x: &Tensor, grad: Grad) -> candle_core::Result<Option<Vec<Tensor>>> {
    if !matches!(grad, Grad::NoneBf16) {
        return Ok(None);
    }
    let Some(ws) = projs.iter().map(|p| p.bf16.as_deref()).collect::<Option<Vec<_>>>() else { return Ok(None) };
    let blocks: Option<Vec<&QBlocks>> = projs.iter().map(|p| p.blocks.as_deref()).collect();
    bf16_products_of(x, &ws, blocks.as_deref())
}

/// `x` times each weight in bf16 products: a few rows read the GGUF blocks when there are any
/// (rounding each expanded weight, so the numbers are the tiles' up to summation order), more
/// rows multiply on the packed tiles. Without AMX every row count the block kernels take reads
/// the blocks: there the alternative is an f32 product on rounded dense weights.
pub(crate) fn bf16_products_of(x: &Tensor, ws: &[&Bf16Weight], blocks: Option<&[&QBlocks]>) -> candle_core::Result<Option<Vec<Tensor>>> {
    let in_dim = x.dims().last().copied().unwrap_or(0);
    let rows = x.elem_count() / in_dim.max(1);
    let few = match bf16mm::amx_available() {
        true => rows < bf16mm::TILES_FROM_ROWS,
        false => rows <= qgemv::MAX_ROWS,
    };
    if let (Some(blocks), true, false) = (blocks, few, x.track_op()) {
        if x.dtype() == DType::F32 {
            let x2 = x.reshape((rows, in_dim))?.contiguous()?;
            if let Some(ys) = qgemv::matmul_t_many_bf16(blocks, &x2)? {
                let shaped = ys.into_iter().zip(blocks).map(|(y, b)| {
                    let mut d = x.dims().to_vec();
                    *d.last_mut().unwrap() = b.dims().0;
                    y.reshape(d)
                });
                return Ok(Some(shaped.collect::<candle_core::Result<_>>()?));
            }
        }
    }
    bf16mm::matmul_t_many(x, ws)
}

/// `x` (..., in) times the blocks' weightᵀ when `x` is a few untracked f32 rows, else `None`.
pub(crate) fn blocks_matmul_t(x: &Tensor, blocks: &QBlocks) -> candle_core::Result<Option<Tensor>> {
    Ok(blocks_matmul_t_many(x, &[blocks])?.and_then(|mut ys| ys.pop()))
}

/// `blocks_matmul_t` for several weights of one input, in one pass over their blocks.
fn blocks_matmul_t_many(x: &Tensor, blocks: &[&QBlocks]) -> candle_core::Result<Option<Vec<Tensor>>> {
    let dims = x.dims().to_vec();
    let in_dim = *dims.last().unwrap_or(&0);
    let rows = x.elem_count() / in_dim.max(1);
    if rows > qgemv::MAX_ROWS || x.dtype() != DType::F32 || x.track_op() {
        return Ok(None);
    }
    let x2 = x.reshape((rows, in_dim))?.contiguous()?;
    let Some(ys) = qgemv::matmul_t_many(blocks, &x2)? else { return Ok(None) };
    let shaped = ys.into_iter().zip(blocks).map(|(y, b)| {
        let mut out_dims = dims.clone();
        *out_dims.last_mut().unwrap() = b.dims().0;
        y.reshape(out_dims)
    });
    Ok(Some(shaped.collect::<candle_core::Result<_>>()?))
}

/// Inference product with a base weight, `blocks` first when they apply. A quantised base with
/// more rows than the block kernel takes is dequantised for the call and multiplied in f32 on
/// the CPU (candle's quantised matmul rounds activations to 8 bits and is slow for many rows).
pub(crate) fn base_matmul_t(x: &Tensor, base: &BaseWeight, blocks: Option<&QBlocks>) -> candle_core::Result<Tensor> {
    if let Some(b) = blocks {
        if let Some(y) = blocks_matmul_t(x, b)? {
            return Ok(y);
        }
    }
    match base {
        BaseWeight::Dense(w) => matmul_t(x, w),
        BaseWeight::Quant(q, qm) => {
            let dt = x.dtype();
            let x = x.to_dtype(DType::F32)?;
            if blocks.is_some() && x.device().is_cpu() {
                return matmul_t(&x, &q.dequantize(x.device())?)?.to_dtype(dt);
            }
            qm.forward(&x.contiguous()?)?.to_dtype(dt)
        }
    }
}

/// `x` (..., in) times `w`ᵀ with `w` (out, in), flattening leading dims so one GEMM runs.
/// A few rows without a graph (decoding) take the weight-streaming kernel in `gemv`.
pub(crate) fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims().to_vec();
    let in_dim = *dims.last().unwrap_or(&0);
    let rows = x.elem_count() / in_dim.max(1);
    let x2 = x.reshape((rows, in_dim))?;
    let mut out_dims = dims;
    *out_dims.last_mut().unwrap() = w.dim(0)?;
    if rows <= gemv::MAX_ROWS && !x.track_op() && !w.track_op() {
        if let Some(y) = gemv::matmul_t(&x2, w)? {
            return y.reshape(out_dims);
        }
    }
    x2.matmul(&w.t()?)?.reshape(out_dims)
}

/// The LoRA dropout mask for `x` when a training pass (`dropout` seed) meets an adapter with
/// dropout; `None` otherwise. In the adapter's dtype, where the branch is computed (f32 under a
/// bf16 base, so the multiplier 1/(1-p) is not rounded to bf16).
fn dropout_mask_for(x: &Tensor, pair: Option<&LoraPair>, dropout: Option<u64>) -> Result<Option<Tensor>> {
    Ok(match (pair, dropout) {
        (Some(pair), Some(seed)) if pair.dropout > 0.0 => {
            let mask = dropout_mask(x.elem_count(), pair.dropout, seed);
            Some(Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(pair.a.dtype())?)
        }
        _ => None,
    })
}

impl Proj {
    pub fn dense(w: Tensor, bias: Option<Tensor>) -> Self {
        Proj { base: BaseWeight::Dense(w), bias, loras: HashMap::new(), blocks: None, bf16: None }
    }

    /// `active` names the adapter to apply, unless it is merged into the base already.
    /// `dropout` seeds the LoRA dropout mask of a training pass (`None`: no dropout). `grad`
    /// says whether and how the pass records a graph for a backward; with one, the base weight
    /// is frozen explicitly so the backward never computes its gradient.
    pub fn forward(&self, x: &Tensor, active: Option<&str>, dropout: Option<u64>, grad: Grad) -> Result<Tensor> {
        let pair = active.and_then(|name| self.loras.get(name));
        let mask = dropout_mask_for(x, pair, dropout)?;
        if let (BaseWeight::Dense(w), Grad::Sink(sink), Some(pair)) = (&self.base, grad, pair) {
            let term = LoraTerm { a: pair.a.as_tensor(), b: pair.b.as_tensor(), scale: pair.scale, mask };
            return Ok(autograd::lora_linear(x, w, self.bias.as_ref(), term, sink)?);
        }
        let y = match &self.base {
            BaseWeight::Dense(w) if grad.records() => autograd::frozen_linear(x, w)?,
            base => match bf16_products(&[self], x, grad)? {
                Some(mut ys) => ys.remove(0),
                None => base_matmul_t(x, base, self.blocks.as_deref())?,
            },
        };
        self.add_bias_and_lora(x, y, pair, mask, grad)
    }

    /// `forward` of several projections of the same input. In a bf16 pass the input is rounded
    /// once for all of them; when it is a few untracked f32 rows (decoding) and every
    /// projection keeps GGUF blocks, their base products are one pass over the blocks (one
    /// hand-off to the thread pool instead of one per projection).
    pub fn forward_many(
        projs: &[&Proj],
        x: &Tensor,
        active: Option<&str>,
        dropout: impl Fn(usize) -> Option<u64>,
        grad: Grad,
    ) -> Result<Vec<Tensor>> {
        let blocks: Option<Vec<&QBlocks>> = projs.iter().map(|p| p.blocks.as_deref()).collect();
        let bases = match bf16_products(projs, x, grad)? {
            Some(ys) => Some(ys),
            None => match (grad.records(), blocks) {
                (false, Some(blocks)) => blocks_matmul_t_many(x, &blocks)?,
                _ => None,
            },
        };
        if let Some(bases) = bases {
            return projs
                .iter()
                .zip(bases)
                .enumerate()
                .map(|(j, (p, y))| {
                    let pair = active.and_then(|name| p.loras.get(name));
                    p.add_bias_and_lora(x, y, pair, dropout_mask_for(x, pair, dropout(j))?, grad)
                })
                .collect();
        }
        projs.iter().enumerate().map(|(j, p)| p.forward(x, active, dropout(j), grad)).collect()
    }

    /// The base product `y` of `x`, plus the bias and the active adapter's term.
    fn add_bias_and_lora(&self, x: &Tensor, mut y: Tensor, pair: Option<&LoraPair>, mask: Option<Tensor>, grad: Grad) -> Result<Tensor> {
        if let Some(b) = &self.bias {
            y = y.broadcast_add(b)?;
        }
        if let Some(pair) = pair {
            // The branch in the adapter's dtype (module doc): x cast up (identity for f32).
            let x = x.to_dtype(pair.a.dtype())?;
            let x = match mask {
                Some(mask) => autograd::apply_mask(&x, mask)?,
                None => x,
            };
            let (a, b) = match grad.records() {
                true => (pair.a.as_tensor().clone(), pair.b.as_tensor().clone()),
                false => (pair.a.as_tensor().detach(), pair.b.as_tensor().detach()),
            };
            // Scaling the (rows, r) product is r/out times cheaper than scaling the output.
            let d = matmul_t(&(matmul_t(&x, &a)? * pair.scale)?, &b)?;
            y = autograd::add_lora_branch(&y, &d)?;
        }
        Ok(y)
    }

    /// Add (`sign` = 1) or subtract (`sign` = -1) an adapter's delta into the dense base weight.
    pub fn fold(&mut self, name: &str, sign: f64) -> Result<()> {
        let Some(pair) = self.loras.get(name) else { return Ok(()) };
        let BaseWeight::Dense(w) = &self.base else {
            bail!("cannot merge an adapter into quantised weights; load the model with a dense dtype (f32/bf16)")
        };
        let delta = (pair.delta()?.to_dtype(DType::F32)? * sign)?;
        let merged = (w.to_dtype(DType::F32)? + delta)?.to_dtype(w.dtype())?;
        if self.bf16.is_some() {
            self.bf16 = Bf16Weight::pack_for_cpu(&merged)?.map(Arc::new);
        }
        self.base = BaseWeight::Dense(merged.detach());
        self.blocks = None;
        Ok(())
    }
}
