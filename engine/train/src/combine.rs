//! Combining trained LoRA adapters into one.
//!
//! Each adapter i with weight w_i adds w_i · s_i · B_i A_i to a module (s_i = its alpha/r or
//! alpha/sqrt(r)). The result is written with alpha = r and no rsLoRA, i.e. scale 1, so all
//! scales are folded into the tensors.
use std::collections::{BTreeMap, BTreeSet};

use candle_core::{DType, Device, Tensor};

use crate::error::{Result, TrainError};
use crate::linalg::{svd_square, thin_qr, Mat};
use crate::peft::{module_of, Adapter, AdapterConfig};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CombineMethod {
    /// A stacked, B concatenated with the weights folded in: rank = sum of ranks; exact.
    Cat,
    /// Same rank required: A = sum c_i A_i, B = sum |c_i| B_i with c_i = sign(w_i) sqrt(|w_i| s_i).
    /// The cross terms B_i A_j make it inexact.
    Linear,
    /// Exact delta sum, then a truncated SVD to at most `rank`; exact iff rank >= true rank.
    Svd { rank: usize },
}

#[derive(Debug, Clone)]
pub struct Combined {
    pub adapter: Adapter,
    /// Whether B·A of the result equals the weighted sum of the inputs' deltas (up to float error).
    pub exact: bool,
}

struct ModuleParts<'a> {
    /// (adapter index, weight · scale, A, B) per adapter that has this module.
    parts: Vec<(usize, f64, &'a Tensor, &'a Tensor)>,
}

pub fn combine(adapters: &[(f64, Adapter)], method: CombineMethod) -> Result<Combined> {
    let first = adapters.first().ok_or_else(|| TrainError::Combine("no adapters given".into()))?;
    let base_models: BTreeSet<&String> = adapters.iter().filter_map(|(_, a)| a.config.base_model.as_ref()).collect();
    if base_models.len() > 1 {
        return Err(TrainError::Combine(format!("adapters were trained on different base models: {base_models:?}")));
    }
    let modules = collect_modules(adapters)?;
    let mut tensors = BTreeMap::new();
    let (r_out, exact) = match method {
        CombineMethod::Cat => {
            let r_sum: usize = adapters.iter().map(|(_, a)| a.config.r).sum();
            for (module, m) in &modules {
                let (a, b) = cat_module(adapters, m)?;
                insert(&mut tensors, module, a, b);
            }
            (r_sum, true)
        }
        CombineMethod::Linear => {
            let r = first.1.config.r;
            if let Some((_, a)) = adapters.iter().find(|(_, a)| a.config.r != r) {
                return Err(TrainError::Combine(format!("linear needs equal ranks, got r = {r} and r = {}", a.config.r)));
            }
            for (module, m) in &modules {
                let mut a_sum: Option<Tensor> = None;
                let mut b_sum: Option<Tensor> = None;
                for &(_, ws, a, b) in &m.parts {
                    let c = ws.signum() * ws.abs().sqrt();
                    let (a, b) = ((a * c)?, (b * c.abs())?);
                    a_sum = Some(match a_sum {
                        Some(s) => (s + a)?,
                        None => a,
                    });
                    b_sum = Some(match b_sum {
                        Some(s) => (s + b)?,
                        None => b,
                    });
                }
                insert(&mut tensors, module, a_sum.expect("module has parts"), b_sum.expect("module has parts"));
            }
            (r, adapters.len() == 1)
        }
        CombineMethod::Svd { rank } => {
            if rank == 0 {
                return Err(TrainError::Combine("svd rank cap must be >= 1".into()));
            }
            let r_sum: usize = adapters.iter().map(|(_, a)| a.config.r).sum();
            let r_out = rank.min(r_sum);
            let mut exact = true;
            for (module, m) in &modules {
                let (a_cat, b_cat) = cat_module(adapters, m)?;
                let (a, b, true_rank) = truncated_svd(&a_cat, &b_cat, r_out)?;
                exact &= true_rank <= r_out;
                insert(&mut tensors, module, a, b);
            }
            (r_out, exact)
        }
    };
    let targets: BTreeSet<String> = adapters.iter().flat_map(|(_, a)| a.config.target_modules.iter().cloned()).collect();
    let config = AdapterConfig {
        r: r_out,
        alpha: r_out as f64,
        dropout: first.1.config.dropout,
        target_modules: targets.into_iter().collect(),
        base_model: base_models.into_iter().next().cloned(),
        use_rslora: false,
    };
    Ok(Combined { adapter: Adapter { config, tensors }, exact })
}

fn insert(tensors: &mut BTreeMap<String, Tensor>, module: &str, a: Tensor, b: Tensor) {
    tensors.insert(format!("{module}.lora_A.weight"), a);
    tensors.insert(format!("{module}.lora_B.weight"), b);
}

fn collect_modules(adapters: &[(f64, Adapter)]) -> Result<BTreeMap<String, ModuleParts<'_>>> {
    let mut modules: BTreeMap<String, ModuleParts> = BTreeMap::new();
    for (i, (w, ad)) in adapters.iter().enumerate() {
        if !w.is_finite() {
            return Err(TrainError::Combine(format!("adapter {i}: weight {w} is not finite")));
        }
        let ws = w * ad.config.scale();
        for name in ad.tensors.keys().filter(|n| n.ends_with(".lora_A.weight")) {
            let module = module_of(name).expect("ends with lora_A.weight");
            let a = &ad.tensors[name];
            let b = ad
                .tensors
                .get(&format!("{module}.lora_B.weight"))
                .ok_or_else(|| TrainError::Combine(format!("adapter {i}: `{module}` has lora_A but no lora_B")))?;
            modules.entry(module.to_string()).or_insert_with(|| ModuleParts { parts: vec![] }).parts.push((i, ws, a, b));
        }
    }
    Ok(modules)
}

/// A stacked and B concatenated (weights folded into B) over all adapters, with zero blocks
/// for adapters lacking the module so every module has the same rank.
fn cat_module(adapters: &[(f64, Adapter)], m: &ModuleParts) -> Result<(Tensor, Tensor)> {
    let (_, _, a0, b0) = m.parts[0];
    let (in_dim, out_dim) = (a0.dim(1)?, b0.dim(0)?);
    let dev = a0.device().clone();
    let mut a_blocks = vec![];
    let mut b_blocks = vec![];
    for (i, (_, ad)) in adapters.iter().enumerate() {
        match m.parts.iter().find(|p| p.0 == i) {
            Some(&(_, ws, a, b)) => {
                if a.dim(1)? != in_dim || b.dim(0)? != out_dim {
                    return Err(TrainError::Combine(format!(
                        "adapter {i}: module shapes A {:?} / B {:?} differ from {in_dim} inputs / {out_dim} outputs",
                        a.dims(),
                        b.dims()
                    )));
                }
                a_blocks.push(a.to_dtype(DType::F32)?);
                b_blocks.push((b.to_dtype(DType::F32)? * ws)?);
            }
            None => {
                a_blocks.push(Tensor::zeros((ad.config.r, in_dim), DType::F32, &dev)?);
                b_blocks.push(Tensor::zeros((out_dim, ad.config.r), DType::F32, &dev)?);
            }
        }
    }
    Ok((Tensor::cat(&a_blocks, 0)?, Tensor::cat(&b_blocks, 1)?))
}

fn to_mat(t: &Tensor) -> Result<Mat> {
    let (rows, cols) = t.dims2()?;
    let data = t.to_dtype(DType::F64)?.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f64>()?;
    Ok(Mat { rows, cols, data })
}

fn from_mat(m: &Mat, like: &Tensor) -> Result<Tensor> {
    Ok(Tensor::from_vec(m.data.clone(), (m.rows, m.cols), &Device::Cpu)?.to_dtype(DType::F32)?.to_device(like.device())?)
}

/// B·A truncated to `cap` singular triplets, as (A (cap x in), B (out x cap), true rank).
/// QR of B and A^T first, so the SVD is of a small R x R matrix (R = rows of A).
fn truncated_svd(a: &Tensor, b: &Tensor, cap: usize) -> Result<(Tensor, Tensor, usize)> {
    let (am, bm) = (to_mat(a)?, to_mat(b)?);
    let (qb, rb) = thin_qr(&bm);
    let (qa, ra) = thin_qr(&am.transpose());
    let (u, s, v) = svd_square(&rb.matmul(&ra.transpose()));
    let tol = s.first().copied().unwrap_or(0.0) * 1e-6;
    let true_rank = s.iter().filter(|&&x| x > tol && x > 0.0).count();
    let big_u = qb.matmul(&u);
    let big_v = qa.matmul(&v);
    let mut b_out = Mat::zeros(bm.rows, cap);
    let mut a_out = Mat::zeros(cap, am.cols);
    for (k, &sk) in s.iter().enumerate().take(cap) {
        let root = sk.sqrt();
        for r in 0..bm.rows {
            b_out.data[r * cap + k] = big_u.at(r, k) * root;
        }
        for c in 0..am.cols {
            a_out.data[k * am.cols + c] = big_v.at(c, k) * root;
        }
    }
    Ok((from_mat(&a_out, a)?, from_mat(&b_out, b)?, true_rank))
}
