//! AdamW exactly as torch.optim.AdamW (single-tensor path) and torch's global-norm clipping.
//!
//! The optimizer's arithmetic is f32 whatever the parameters' dtype: the moments are f32, each
//! gradient is cast to f32, and the update is computed on the parameter cast to f32 and written
//! back in the parameter's dtype. Models keep f32 master weights under a bf16/f16 base
//! (`syco_ml::Llama::lora_dtype`), so the cast back is the identity there; a model whose
//! trainable tensors are themselves half precision still trains, but updates smaller than the
//! parameter's rounding step are lost. For f32 parameters every cast is the identity.
use candle_core::{DType, Tensor, Var};

use crate::error::Result;

/// Per-tensor moment estimates and the shared step count: everything a checkpoint must keep.
#[derive(Debug, Clone)]
pub struct AdamState {
    /// Number of updates done so far (torch's `state["step"]`).
    pub t: u64,
    /// First and second moments, f32, shaped like the parameters.
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
}

#[derive(Debug)]
pub struct AdamW {
    params: Vec<Var>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    pub state: AdamState,
}

impl AdamW {
    pub fn new(params: Vec<Var>, betas: [f64; 2], eps: f64, weight_decay: f64) -> Result<Self> {
        let m = params.iter().map(|p| Tensor::zeros(p.shape(), DType::F32, p.device())).collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self { params, beta1: betas[0], beta2: betas[1], eps, weight_decay, state: AdamState { t: 0, m, v } })
    }

    /// One update with learning rate `lr`; `grads[i]` belongs to `params[i]`.
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        self.state.t += 1;
        let t = self.state.t as i32;
        let bias1 = 1.0 - self.beta1.powi(t);
        let bias2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let step_size = lr / bias1;
        for (i, (p, g)) in self.params.iter().zip(grads).enumerate() {
            let g = g.to_dtype(DType::F32)?;
            // Decoupled decay first, as torch does: p *= 1 - lr * wd.
            let decayed = p.as_tensor().to_dtype(DType::F32)?.affine(1.0 - lr * self.weight_decay, 0.0)?;
            // m.lerp_(g, 1 - b1) == m + (1 - b1) * (g - m)
            let m = (&self.state.m[i] + ((&g - &self.state.m[i])? * (1.0 - self.beta1))?)?;
            let v = ((&self.state.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let denom = ((v.sqrt()? / bias2_sqrt)? + self.eps)?;
            let update = ((&m / &denom)? * step_size)?;
            p.set(&(decayed - update)?.to_dtype(p.dtype())?)?;
            self.state.m[i] = m;
            self.state.v[i] = v;
        }
        Ok(())
    }
}

/// Global L2 norm of all gradients (torch `clip_grad_norm_` with norm_type 2).
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let mut total = 0f64;
    for g in grads {
        total += g.to_dtype(DType::F32)?.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
    }
    Ok(total.sqrt())
}

/// Scales `grads` in place so their global norm is at most `max_norm`; returns the norm before
/// clipping. torch: coef = max_norm / (norm + 1e-6), clamped to 1.
pub fn clip_global_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let norm = global_norm(grads)?;
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for g in grads.iter_mut() {
            *g = (&*g * coef)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Reference AdamW on f64 scalars, transcribed from torch's `_single_tensor_adamw`.
    fn reference(p0: f64, grads: &[f64], lr: f64, wd: f64) -> f64 {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
        for (k, g) in grads.iter().enumerate() {
            let t = (k + 1) as i32;
            p *= 1.0 - lr * wd;
            m += (1.0 - b1) * (g - m);
            v = v * b2 + (1.0 - b2) * g * g;
            let denom = v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            p -= lr / (1.0 - b1.powi(t)) * m / denom;
        }
        p
    }

    #[test]
    fn adamw_matches_torch_formula() -> Result<()> {
        let dev = Device::Cpu;
        let var = Var::from_tensor(&Tensor::new(&[0.5f32, -1.25], &dev)?)?;
        let mut opt = AdamW::new(vec![var.clone()], [0.9, 0.999], 1e-8, 0.01)?;
        let gs = [[0.3f64, -2.0], [0.1, 0.5], [-0.7, 0.25]];
        for g in &gs {
            opt.step(&[Tensor::new(&[g[0] as f32, g[1] as f32], &dev)?], 0.1)?;
        }
        let got = var.as_tensor().to_vec1::<f32>()?;
        for (j, p0) in [0.5, -1.25].into_iter().enumerate() {
            let want = reference(p0, &gs.iter().map(|g| g[j]).collect::<Vec<_>>(), 0.1, 0.01);
            assert!((got[j] as f64 - want).abs() < 1e-6, "{j}: {} vs {want}", got[j]);
        }
        assert_eq!(opt.state.t, 3);
        Ok(())
    }

    /// Half-precision parameters with a gradient in yet another dtype: the moments stay f32,
    /// the parameter keeps its dtype, and the step is torch's formula rounded once.
    #[test]
    fn moments_are_f32_for_half_precision_parameters() -> Result<()> {
        let dev = Device::Cpu;
        for dtype in [DType::BF16, DType::F16] {
            let var = Var::from_tensor(&Tensor::new(&[0.5f32, -1.25], &dev)?.to_dtype(dtype)?)?;
            let mut opt = AdamW::new(vec![var.clone()], [0.9, 0.999], 1e-8, 0.01)?;
            assert!(opt.state.m.iter().chain(&opt.state.v).all(|t| t.dtype() == DType::F32));
            opt.step(&[Tensor::new(&[0.3f32, -2.0], &dev)?.to_dtype(DType::BF16)?], 0.1)?;
            assert_eq!(var.dtype(), dtype);
            assert!(opt.state.m.iter().chain(&opt.state.v).all(|t| t.dtype() == DType::F32));
            let got = var.as_tensor().to_dtype(DType::F32)?.to_vec1::<f32>()?;
            for (j, (p0, g)) in [(0.5, 0.3), (-1.25, -2.0)].into_iter().enumerate() {
                let want = reference(p0, &[g], 0.1, 0.01);
                // One rounding of the result to 8 (bf16) or 11 (f16) significant bits.
                assert!((got[j] as f64 - want).abs() <= want.abs() * 2f64.powi(-8), "{dtype:?} {j}: {} vs {want}", got[j]);
            }
        }
        Ok(())
    }

    #[test]
    fn clipping_scales_to_max_norm() -> Result<()> {
        let dev = Device::Cpu;
        let mut g = vec![Tensor::new(&[3f32, 0.0], &dev)?, Tensor::new(&[4f32], &dev)?];
        let norm = clip_global_norm(&mut g, 1.0)?;
        assert!((norm - 5.0).abs() < 1e-6);
        assert!((global_norm(&g)? - 1.0).abs() < 1e-5);
        let mut small = vec![Tensor::new(&[0.3f32], &dev)?];
        clip_global_norm(&mut small, 1.0)?;
        assert_eq!(small[0].to_vec1::<f32>()?, vec![0.3]);
        Ok(())
    }
}
