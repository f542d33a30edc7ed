//! A toy causal LM with one LoRA-adapted projection, for fast trainer tests.
#![allow(dead_code)]
use std::cell::Cell;

use candle_core::{DType, Device, Tensor, Var};
use syco_train::rng::SplitMix64;
use syco_train::TrainableModel;

pub const A_NAME: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
pub const B_NAME: &str = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";

pub struct ToyLm {
    pub embed: Tensor,
    pub base: Tensor,
    pub head: Tensor,
    pub lora_a: Var,
    pub lora_b: Var,
    pub scale: f64,
    pub dropout: f32,
    /// Forward calls so far; with `nan_after`, logits turn NaN after that many calls.
    pub calls: Cell<usize>,
    pub nan_after: Option<usize>,
    pub detach_a: bool,
}

fn randn(rng: &mut SplitMix64, shape: (usize, usize), std: f64) -> Tensor {
    let n = shape.0 * shape.1;
    // Sum of uniforms: close enough to normal for a toy.
    let v: Vec<f32> = (0..n).map(|_| ((0..4).map(|_| rng.next_f64()).sum::<f64>() - 2.0) as f32 * std as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

impl ToyLm {
    pub fn new(vocab: usize, dim: usize, r: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        Self {
            embed: randn(&mut rng, (vocab, dim), 1.0),
            base: randn(&mut rng, (dim, dim), 0.5),
            head: randn(&mut rng, (vocab, dim), 0.5),
            lora_a: Var::from_tensor(&randn(&mut rng, (r, dim), 0.3)).unwrap(),
            lora_b: Var::from_tensor(&randn(&mut rng, (dim, r), 0.1)).unwrap(),
            scale: 2.0,
            dropout: 0.0,
            calls: Cell::new(0),
            nan_after: None,
            detach_a: false,
        }
    }
}

impl TrainableModel for ToyLm {
    fn forward_logits(&self, ids: &Tensor, _mask: &Tensor, dropout_seed: Option<u64>) -> candle_core::Result<Tensor> {
        self.calls.set(self.calls.get() + 1);
        let (b, t) = ids.dims2()?;
        let x = self.embed.index_select(&ids.flatten_all()?, 0)?; // (B*T, d)
        let mut xd = x.clone();
        if let (Some(seed), true) = (dropout_seed, self.dropout > 0.0) {
            let mut rng = SplitMix64::new(seed);
            let keep = 1.0 - self.dropout;
            let m: Vec<f32> = (0..x.elem_count()).map(|_| if (rng.next_f64() as f32) < keep { 1.0 / keep } else { 0.0 }).collect();
            xd = (xd * Tensor::from_vec(m, x.shape(), x.device())?)?;
        }
        let a = if self.detach_a { self.lora_a.as_tensor().detach() } else { self.lora_a.as_tensor().clone() };
        let lora = xd.matmul(&a.t()?)?.matmul(&self.lora_b.as_tensor().t()?)?;
        let h = (x.matmul(&self.base.t()?)? + (lora * self.scale)?)?.tanh()?;
        // A causal mix: each position also sees the running mean of earlier states.
        let h3 = h.reshape((b, t, ()))?;
        let counts = Tensor::arange(1f32, t as f32 + 1.0, h.device())?.reshape((1, t, 1))?;
        let mix = h3.cumsum(1)?.broadcast_div(&counts)?;
        let logits = (h3 + mix)?.broadcast_matmul(&self.head.t()?)?;
        if self.nan_after.is_some_and(|n| self.calls.get() > n) {
            return logits.affine(f64::NAN, 0.0);
        }
        logits.to_dtype(DType::F32)
    }

    fn trainable(&self, _adapter: &str) -> Vec<(String, Var)> {
        vec![(A_NAME.to_string(), self.lora_a.clone()), (B_NAME.to_string(), self.lora_b.clone())]
    }
}

/// Deterministic token sequences with learnable structure (next = prev + 1 mod vocab).
pub fn examples(n: usize, vocab: u32, seed: u64) -> Vec<syco_train::TokenizedExample> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let len = 4 + rng.below(6) as usize;
            let start = rng.below(vocab as u64 - 1) as u32 + 1;
            let ids = (0..len as u32).map(|k| 1 + (start + k) % (vocab - 1)).collect();
            syco_train::TokenizedExample { ids, prompt_len: 2 }
        })
        .collect()
}
