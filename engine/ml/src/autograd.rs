//! Training-path ops whose forward runs a fast kernel and whose backward is written out by hand.
//!
//! Why not candle's own backward: its `Matmul` backward also computes the gradient of the frozen
//! base weight (one extra GEMM per projection, as costly as the forward, kept alive until the
//! backward ends), a broadcast `Mul`/`Add` computes gradients for untracked masks and biases, and
//! candle-nn's fused rms_norm / rope / softmax kernels have no backward at all. Here each op
//! computes its value on detached inputs with the fast kernel, and the graph keeps one node
//! holding the input and the output; the backward closure computes only the input's gradient.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Storage, Tensor, TensorId, D};

type GradFn = dyn Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor> + Send + Sync;

/// `value` (computed from `arg.detach()`) as the output of an op on `arg` whose gradient is
/// `grad(arg, output, grad_output)`.
pub(crate) fn with_grad(
    arg: &Tensor,
    value: Tensor,
    grad: impl Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor> + Send + Sync + 'static,
) -> candle_core::Result<Tensor> {
    if !arg.track_op() {
        return Ok(value); // nothing upstream wants a gradient: no node, no copy
    }
    arg.apply_op1(Explicit { value: Mutex::new(Some(contiguous_from_zero(value)?)), grad: Box::new(grad) })
}

struct Explicit {
    /// Taken by the forward (which candle runs once, eagerly), so it is not kept twice.
    value: Mutex<Option<Tensor>>,
    grad: Box<GradFn>,
}

impl CustomOp1 for Explicit {
    fn name(&self) -> &'static str {
        "syco-explicit-grad"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_copy(&take_value(&self.value)?)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(&self, _: &candle_core::CudaStorage, _: &Layout) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        cuda_copy(&take_value(&self.value)?)
    }

    fn bwd(&self, arg: &Tensor, res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some((self.grad)(arg, res, grad_res)?))
    }
}

/// The storage of a contiguous, offset-0 tensor, copied (a custom op must return owned storage).
fn cpu_copy(value: &Tensor) -> candle_core::Result<(CpuStorage, Shape)> {
    let (storage, layout) = value.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else { candle_core::bail!("explicit-gradient op: value is not on the CPU") };
    let (start, end) = layout.contiguous_offsets().expect("made contiguous by contiguous_from_zero");
    let out = match cpu {
        CpuStorage::F32(v) => CpuStorage::F32(v[start..end].to_vec()),
        CpuStorage::BF16(v) => CpuStorage::BF16(v[start..end].to_vec()),
        CpuStorage::F16(v) => CpuStorage::F16(v[start..end].to_vec()),
        CpuStorage::F64(v) => CpuStorage::F64(v[start..end].to_vec()),
        _ => candle_core::bail!("explicit-gradient op: unsupported dtype {:?}", value.dtype()),
    };
    Ok((out, layout.shape().clone()))
}

#[cfg(feature = "cuda")]
fn cuda_copy(value: &Tensor) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
    use candle_core::backend::BackendStorage;
    let (storage, layout) = value.storage_and_layout();
    let Storage::Cuda(cuda) = &*storage else { candle_core::bail!("explicit-gradient op: value is not on CUDA") };
    // The callers made the value contiguous from offset 0, so its buffer is exactly the tensor.
    Ok((cuda.try_clone(layout)?, layout.shape().clone()))
}

fn contiguous_from_zero(value: Tensor) -> candle_core::Result<Tensor> {
    if value.is_contiguous() && value.layout().start_offset() == 0 {
        Ok(value)
    } else {
        value.copy()
    }
}

type GradFn2 = dyn Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<(Tensor, Tensor)> + Send + Sync;

/// `with_grad` for an op of two inputs: `grad(a, b, grad_output)` gives both gradients.
pub(crate) fn with_grad2(
    a: &Tensor,
    b: &Tensor,
    value: Tensor,
    grad: impl Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<(Tensor, Tensor)> + Send + Sync + 'static,
) -> candle_core::Result<Tensor> {
    if !a.track_op() && !b.track_op() {
        return Ok(value);
    }
    a.apply_op2(b, Explicit2 { value: Mutex::new(Some(contiguous_from_zero(value)?)), grad: Box::new(grad) })
}

struct Explicit2 {
    value: Mutex<Option<Tensor>>,
    grad: Box<GradFn2>,
}

impl CustomOp2 for Explicit2 {
    fn name(&self) -> &'static str {
        "syco-explicit-grad2"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        cpu_copy(&take_value(&self.value)?)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        cuda_copy(&take_value(&self.value)?)
    }

    fn bwd(&self, a: &Tensor, b: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (ga, gb) = (self.grad)(a, b, grad_res)?;
        Ok((Some(ga), Some(gb)))
    }
}

fn take_value(slot: &Mutex<Option<Tensor>>) -> candle_core::Result<Tensor> {
    slot.lock()
        .map_err(|_| candle_core::Error::Msg("explicit-gradient op: poisoned lock".into()))?
        .take()
        .ok_or_else(|| candle_core::Error::Msg("explicit-gradient op: forward ran twice".into()))
}

/// `x` (..., in) times the frozen `w`ᵀ (out, in): the backward gives `x` its gradient and never
/// computes one for `w`.
pub(crate) fn frozen_linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let value = crate::linear::matmul_t(&x.detach(), w)?;
    let w = w.clone();
    with_grad(x, value, move |arg, _, g| {
        let out = w.dim(0)?;
        let rows = g.elem_count() / out;
        g.reshape((rows, out))?.matmul(&w)?.reshape(arg.shape())
    })
}

/// RMSNorm `w · x / sqrt(mean(x²) + eps)` over the last dim; `w` is frozen.
pub(crate) fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let value = match x.dtype() {
        // candle-nn's kernel has no f64; the composed form is only used by precision tests.
        DType::F64 => {
            let x = x.detach();
            x.broadcast_div(&(x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?)?.broadcast_mul(w)?
        }
        _ => candle_nn::ops::rms_norm(&x.detach().contiguous()?, w, eps as f32)?,
    };
    let w = w.clone();
    with_grad(x, value, move |arg, _, g| {
        // dx = r·(g∘w) - x·r³·mean(g∘w∘x), r = (mean(x²) + eps)^-½, in f32 (f64 stays f64).
        let dt = arg.dtype();
        let acc = accumulation_dtype(dt);
        let x = arg.detach().to_dtype(acc)?;
        let gw = g.to_dtype(acc)?.broadcast_mul(&w.to_dtype(acc)?)?;
        let r = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
        let dot = (&gw * &x)?.mean_keepdim(D::Minus1)?;
        let dx = (gw.broadcast_mul(&r)? - x.broadcast_mul(&(r.powf(3.0)? * dot)?)?)?;
        dx.to_dtype(dt)
    })
}

/// Rotary embedding in HF's half-split layout; `cos`, `sin` (B, T, D/2). Its backward is the
/// inverse rotation: rope with `-sin`.
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, neg_sin: &Tensor) -> candle_core::Result<Tensor> {
    let value = candle_nn::rotary_emb::rope(&x.detach().contiguous()?, cos, sin)?;
    let (cos, neg_sin) = (cos.clone(), neg_sin.clone());
    with_grad(x, value, move |_, _, g| candle_nn::rotary_emb::rope(&g.contiguous()?, &cos, &neg_sin))
}

/// `softmax(scale · scores + bias)` over the last dim, in f32 for half types, returned in
/// `scores`' dtype. `bias` (broadcastable) holds the causal and padding mask.
pub(crate) fn masked_softmax(scores: &Tensor, scale: f64, bias: &Tensor) -> candle_core::Result<Tensor> {
    let dt = scores.dtype();
    let acc = accumulation_dtype(dt);
    let z = (scores.detach().to_dtype(acc)? * scale)?.broadcast_add(&bias.to_dtype(acc)?)?;
    let value = candle_nn::ops::softmax_last_dim(&z)?.to_dtype(dt)?;
    with_grad(scores, value, move |_, p, g| {
        // d scores = scale · p ∘ (g - Σ g∘p)
        let p = p.to_dtype(acc)?;
        let g = g.to_dtype(acc)?;
        let dot = (&g * &p)?.sum_keepdim(D::Minus1)?;
        ((g.broadcast_sub(&dot)? * p)? * scale)?.to_dtype(dt)
    })
}

/// Softmax and norms run in f32 for half-precision models, otherwise in the model's dtype.
pub(crate) fn accumulation_dtype(dt: DType) -> DType {
    match dt {
        DType::BF16 | DType::F16 => DType::F32,
        other => other,
    }
}

/// `x ∘ mask`, with `mask` (same shape as `x`) holding 0 or 1/(1-p): inverted dropout.
pub(crate) fn apply_mask(x: &Tensor, mask: Tensor) -> candle_core::Result<Tensor> {
    let value = (x.detach() * &mask)?;
    with_grad(x, value, move |_, _, g| g * &mask)
}

/// `silu(gate) ∘ up`, the SwiGLU of the MLP, as one node.
pub(crate) fn swiglu(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    let value = (gate.detach().silu()? * up.detach())?;
    with_grad2(gate, up, value, |gate, up, g| {
        // silu'(z) = σ(z) (1 + z (1 - σ(z)))
        let (gate, up) = (gate.detach(), up.detach());
        let sig = candle_nn::ops::sigmoid(&gate)?;
        let dsilu = (&sig * ((&gate * (1.0 - &sig)?)? + 1.0)?)?;
        let g_up = (g * &up)?;
        Ok(((g_up * dsilu)?, (g * (gate * sig)?)?))
    })
}

/// `gelu(gate) ∘ up` with the tanh approximation of GELU (`gelu_pytorch_tanh`, candle's
/// `gelu`): Gemma's GeGLU, as one node.
pub(crate) fn geglu(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    let value = (gate.detach().gelu()? * up.detach())?;
    with_grad2(gate, up, value, |gate, up, g| {
        // gelu(z) = z Φ(z) with Φ(z) = (1 + tanh u) / 2, u = c (z + a z³);
        // gelu'(z) = Φ(z) + z (1 - tanh² u) c (1 + 3 a z²) / 2. In f32 for half types.
        const A: f64 = 0.044715;
        let c = (2.0 / std::f64::consts::PI).sqrt();
        let dt = gate.dtype();
        let acc = accumulation_dtype(dt);
        let (z, up, g) = (gate.detach().to_dtype(acc)?, up.detach().to_dtype(acc)?, g.to_dtype(acc)?);
        let z2 = z.sqr()?;
        let th = ((&z + (&z * &z2)? * A)? * c)?.tanh()?;
        let phi = ((&th + 1.0)? * 0.5)?;
        let dphi = (((1.0 - th.sqr()?)? * ((z2 * (3.0 * A))? + 1.0)?)? * (0.5 * c))?;
        let dgelu = (&phi + (&z * dphi)?)?;
        let g_gate = ((&g * &up)? * dgelu)?;
        let g_up = (&g * (&z * &phi)?)?;
        Ok((g_gate.to_dtype(dt)?, g_up.to_dtype(dt)?))
    })
}

/// Gradients of trainable tensors computed inside explicit ops (LoRA A and B), kept beside
/// candle's `GradStore`, by tensor id, summed over uses.
#[derive(Clone, Default)]
pub(crate) struct GradSink(Arc<Mutex<HashMap<TensorId, Tensor>>>);

impl GradSink {
    fn add(&self, id: TensorId, grad: Tensor) -> candle_core::Result<()> {
        let mut map = self.0.lock().map_err(|_| candle_core::Error::Msg("gradient sink: poisoned lock".into()))?;
        let sum = match map.remove(&id) {
            Some(prev) => (prev + grad)?,
            None => grad,
        };
        map.insert(id, sum);
        Ok(())
    }

    /// Removes and returns the gradient of `t`.
    pub fn take(&self, t: &Tensor) -> Option<Tensor> {
        self.0.lock().ok()?.remove(&t.id())
    }
}

/// One LoRA adapter on a projection: `scale · B A (mask ∘ x)`; `a` (r, in), `b` (out, r).
pub(crate) struct LoraTerm<'a> {
    pub a: &'a Tensor,
    pub b: &'a Tensor,
    pub scale: f64,
    /// Inverted-dropout multipliers shaped like the input, in training.
    pub mask: Option<Tensor>,
}

/// The base product `y` plus an adapter's branch `d`. Under a bf16/f16 base the branch is in
/// the adapter's f32 (`linear.rs`, mixed precision): the sum is taken in f32 and rounded once to
/// `y`'s dtype. Same dtypes: `y + d`.
pub(crate) fn add_lora_branch(y: &Tensor, d: &Tensor) -> candle_core::Result<Tensor> {
    match y.dtype() == d.dtype() {
        true => y + d,
        false => (y.to_dtype(d.dtype())? + d)?.to_dtype(y.dtype()),
    }
}

/// `x Wᵀ (+ bias) + scale · ((mask ∘ x) Aᵀ) Bᵀ` as one node on `x`: its backward gives `x` its
/// gradient and puts those of A and B into `sink`. The graph keeps `x`, the output, the mask and
/// the (rows, r) product, instead of the six full-size tensors of the composed form and their
/// zero-filled gradient buffers. `x` must be tracked (a Var or downstream of one).
///
/// A and B may be f32 master weights beside a bf16/f16 `x` and `w` (mixed precision, see
/// `linear.rs`): the LoRA branch, its mask, and the gradients of A and B are then computed in
/// f32 from `x` and the incoming gradient cast up, and the branch's gradient into `x` is rounded
/// to `x`'s dtype. With A and B in `x`'s dtype every cast is the identity.
pub(crate) fn lora_linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, lora: LoraTerm, sink: &GradSink) -> candle_core::Result<Tensor> {
    let in_dim = x.dim(D::Minus1)?;
    let rows = x.elem_count() / in_dim;
    let out_dim = w.dim(0)?;
    let (dt, lt) = (x.dtype(), lora.a.dtype()); // activations', adapter's
    let mask = lora.mask.map(|m| m.reshape((rows, in_dim))).transpose()?;
    // The dropped-out input is recomputed in the backward rather than kept in the graph.
    let masked = move |x2: Tensor, mask: &Option<Tensor>| match mask {
        Some(m) => x2 * m,
        None => Ok(x2),
    };
    let x2 = x.detach().reshape((rows, in_dim))?;
    let (a, b) = (lora.a.detach(), lora.b.detach());
    let h = (masked(x2.to_dtype(lt)?, &mask)?.matmul(&a.t()?)? * lora.scale)?; // (rows, r), scale folded in
    let mut y = add_lora_branch(&x2.matmul(&w.t()?)?, &h.matmul(&b.t()?)?)?;
    if let Some(bias) = bias {
        y = y.broadcast_add(bias)?;
    }
    let mut out_dims = x.dims().to_vec();
    *out_dims.last_mut().expect("x has a last dim") = out_dim;
    let value = y.reshape(out_dims)?;
    let (w, sink, scale) = (w.clone(), sink.clone(), lora.scale);
    let (a_id, b_id) = (lora.a.id(), lora.b.id());
    with_grad(x, value, move |arg, _, g| {
        let g = g.reshape((rows, out_dim))?;
        let gl = g.to_dtype(lt)?; // the incoming gradient in the adapter's dtype
        let gb = gl.matmul(&b)?; // (rows, r)
        let xm = masked(arg.detach().reshape((rows, in_dim))?.to_dtype(lt)?, &mask)?;
        sink.add(b_id, gl.t()?.matmul(&h)?)?; // h already carries the scale
        sink.add(a_id, (gb.t()?.matmul(&xm)? * scale)?)?;
        let through_lora = masked((gb.matmul(&a)? * scale)?, &mask)?.to_dtype(dt)?;
        (g.matmul(&w)? + through_lora)?.reshape(arg.shape())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Gradient of `sum(f(x) ∘ probe)` w.r.t. `x` through `op` and through the reference.
    fn compare(
        x: &Tensor,
        op: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
        reference: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    ) -> candle_core::Result<()> {
        let xv = Var::from_tensor(x)?;
        let (a, b) = (op(xv.as_tensor())?, reference(xv.as_tensor())?);
        let value_diff = (&a - &b)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(value_diff < 1e-5, "values differ by {value_diff}");
        let probe = Tensor::randn(0f32, 1.0, a.shape(), x.device())?;
        let ga = (a * &probe)?.sum_all()?.backward()?.get(xv.as_tensor()).expect("op gradient").clone();
        let gb = (b * &probe)?.sum_all()?.backward()?.get(xv.as_tensor()).expect("reference gradient").clone();
        let grad_diff = (&ga - &gb)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = gb.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
        assert!(grad_diff < 1e-4 * scale, "gradients differ by {grad_diff} (scale {scale})");
        Ok(())
    }

    #[test]
    fn frozen_linear_matches_matmul_and_gives_no_weight_gradient() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 5), &dev)?;
        let w = Tensor::randn(0f32, 1.0, (4, 5), &dev)?;
        compare(&x, |x| frozen_linear(x, &w), |x| crate::linear::matmul_t(x, &w))?;
        let wv = Var::from_tensor(&w)?;
        let xv = Var::from_tensor(&x)?;
        let grads = frozen_linear(xv.as_tensor(), wv.as_tensor())?.sum_all()?.backward()?;
        assert!(grads.get(wv.as_tensor()).is_none(), "the frozen weight got a gradient");
        Ok(())
    }

    #[test]
    fn rms_norm_matches_composed_ops() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 2.0, (2, 3, 8), &dev)?;
        let w = Tensor::randn(1f32, 0.3, 8, &dev)?;
        let eps = 1e-5;
        compare(
            &x,
            |x| rms_norm(x, &w, eps),
            |x| {
                let r = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?;
                x.broadcast_div(&r)?.broadcast_mul(&w)
            },
        )
    }

    #[test]
    fn rope_matches_composed_ops() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (b, h, t, d) = (2, 3, 4, 8);
        let x = Tensor::randn(0f32, 1.0, (b, h, t, d), &dev)?;
        let angles = Tensor::randn(0f32, 2.0, (b, t, d / 2), &dev)?;
        let (cos, sin) = (angles.cos()?, angles.sin()?);
        let neg_sin = sin.neg()?;
        compare(
            &x,
            |x| rope(x, &cos, &sin, &neg_sin),
            |x| {
                let c = Tensor::cat(&[&cos, &cos], D::Minus1)?.unsqueeze(1)?;
                let s = Tensor::cat(&[&sin, &sin], D::Minus1)?.unsqueeze(1)?;
                let x1 = x.narrow(D::Minus1, 0, d / 2)?;
                let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
                let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
                x.broadcast_mul(&c)? + rotated.broadcast_mul(&s)?
            },
        )
    }

    #[test]
    fn masked_softmax_matches_composed_ops() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 4, 4), &dev)?;
        let bias: Vec<f32> = (0..16).map(|i| if i % 4 > i / 4 { -1e30 } else { 0.0 }).collect();
        let bias = Tensor::from_vec(bias, (1, 1, 4, 4), &dev)?;
        compare(&x, |x| masked_softmax(x, 0.5, &bias), |x| candle_nn::ops::softmax(&(x * 0.5)?.broadcast_add(&bias)?, D::Minus1))
    }

    #[test]
    fn geglu_matches_composed_ops() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let gate = Tensor::randn(0f32, 2.0, (2, 3, 6), &dev)?;
        let up = Tensor::randn(0f32, 1.0, (2, 3, 6), &dev)?;
        // Through either input, the other held fixed; the reference is candle's `gelu` (tanh
        // approximation, with candle's own backward) times the other input.
        compare(&gate, |g| geglu(g, &up), |g| g.gelu()? * &up)?;
        compare(&up, |u| geglu(&gate, u), |u| gate.gelu()? * u)
    }

    /// The gradients of `sum(geglu(gate, up) ∘ probe)` against central finite differences in
    /// f64, entry by entry, over gate values from the tails to zero.
    #[test]
    fn geglu_gradient_matches_finite_differences() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let n = 24;
        let gate: Vec<f64> = (0..n).map(|i| (i as f64 - 11.5) * 0.4).collect();
        let up: Vec<f64> = (0..n).map(|i| ((i * 7 % 11) as f64 - 5.0) * 0.3).collect();
        let probe = Tensor::new((0..n).map(|i| ((i * 5 % 13) as f64 - 6.0) * 0.2).collect::<Vec<_>>(), &dev)?;
        let f = |g: &[f64], u: &[f64]| -> candle_core::Result<f64> {
            let y = geglu(&Tensor::new(g, &dev)?, &Tensor::new(u, &dev)?)?;
            (y * &probe)?.sum_all()?.to_scalar::<f64>()
        };
        let (gv, uv) = (Var::new(gate.as_slice(), &dev)?, Var::new(up.as_slice(), &dev)?);
        let grads = (geglu(gv.as_tensor(), uv.as_tensor())? * &probe)?.sum_all()?.backward()?;
        let dg: Vec<f64> = grads.get(gv.as_tensor()).expect("gate gradient").to_vec1()?;
        let du: Vec<f64> = grads.get(uv.as_tensor()).expect("up gradient").to_vec1()?;
        let eps = 1e-6;
        for i in 0..n {
            let shift = |v: &[f64], d: f64| -> Vec<f64> {
                let mut v = v.to_vec();
                v[i] += d;
                v
            };
            let fd_g = (f(&shift(&gate, eps), &up)? - f(&shift(&gate, -eps), &up)?) / (2.0 * eps);
            let fd_u = (f(&gate, &shift(&up, eps))? - f(&gate, &shift(&up, -eps))?) / (2.0 * eps);
            assert!((dg[i] - fd_g).abs() < 1e-8, "d/dgate[{i}] at {}: {} vs {fd_g}", gate[i], dg[i]);
            assert!((du[i] - fd_u).abs() < 1e-8, "d/dup[{i}]: {} vs {fd_u}", du[i]);
        }
        Ok(())
    }

    /// Gemma's norm on the training path (`Llama::rms_norm` with the f32 multiplier 1 + w):
    /// value and input gradient against HF's formula and its finite differences in f64.
    #[test]
    fn gemma_norm_gradient_matches_finite_differences() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let d = 8;
        let w: Vec<f64> = (0..d).map(|i| (i as f64 - 3.5) * 0.2).collect();
        let x: Vec<f64> = (0..d).map(|i| ((i * 3 % 7) as f64 - 3.0) * 0.7).collect();
        let probe: Vec<f64> = (0..d).map(|i| ((i * 5 % 9) as f64 - 4.0) * 0.3).collect();
        let eps = 1e-6;
        // HF: x · rsqrt(mean(x²) + eps) · (1 + w)
        let formula = |x: &[f64]| -> f64 {
            let r = 1.0 / (x.iter().map(|v| v * v).sum::<f64>() / d as f64 + eps).sqrt();
            x.iter().zip(&w).zip(&probe).map(|((x, w), p)| x * r * (1.0 + w) * p).sum()
        };
        let one_plus_w = (Tensor::new(w.as_slice(), &dev)?.to_dtype(DType::F32)? + 1.0)?;
        let xv = Var::new(x.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(), &dev)?;
        let y = rms_norm(xv.as_tensor(), &one_plus_w, eps)?;
        let probe_t = Tensor::new(probe.iter().map(|&v| v as f32).collect::<Vec<_>>().as_slice(), &dev)?;
        let value = (&y * &probe_t)?.sum_all()?.to_scalar::<f32>()? as f64;
        assert!((value - formula(&x)).abs() < 1e-5, "{value} vs {}", formula(&x));
        let g: Vec<f32> = (y * probe_t)?.sum_all()?.backward()?.get(xv.as_tensor()).expect("x gradient").to_vec1()?;
        let h = 1e-6;
        for i in 0..d {
            let mut up = x.clone();
            up[i] += h;
            let mut down = x.clone();
            down[i] -= h;
            let fd = (formula(&up) - formula(&down)) / (2.0 * h);
            assert!((g[i] as f64 - fd).abs() < 1e-4 * fd.abs().max(1.0), "d/dx[{i}]: {} vs {fd}", g[i]);
        }
        Ok(())
    }

    #[test]
    fn mask_matches_mul() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (3, 5), &dev)?;
        let mask = Tensor::rand(0f32, 1.0, (3, 5), &dev)?.ge(0.5)?.to_dtype(DType::F32)?;
        compare(&x, |x| apply_mask(x, mask.clone()), |x| x * &mask)
    }
}
