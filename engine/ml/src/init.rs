//! Random initialisation, reproducible on every device (candle's CPU RNG cannot be seeded):
//! the tiny random models of the tests and benchmarks, and LoRA's A matrices (`lora.rs`).

use crate::config::{Family, LlamaConfig};
use crate::model::{proj_shape, Llama, PROJECTIONS};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use syco_data::rng::SplitMix64;

impl Llama {
    /// A randomly initialised model (normal(0, 0.02) weights, unit norms), reproducible by seed.
    pub fn random(cfg: &LlamaConfig, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        cfg.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut normal = |shape: (usize, usize)| -> Result<Tensor> {
            let v = normal(&mut rng, shape.0 * shape.1, 0.02);
            Ok(Tensor::from_vec(v, shape, device)?.to_dtype(dtype)?)
        };
        let vector = |t: Tensor| -> Result<Tensor> { Ok(t.flatten_all()?) };
        let mut tensors = HashMap::new();
        tensors.insert("model.embed_tokens.weight".to_string(), normal((cfg.vocab_size, cfg.hidden_size))?);
        if !cfg.tie_word_embeddings {
            tensors.insert("lm_head.weight".to_string(), normal((cfg.vocab_size, cfg.hidden_size))?);
        }
        // Unit norms: HF's weight 1 (Llama-style), or 0 where the norm multiplies by 1 + w (Gemma).
        let gemma = cfg.family() == Family::Gemma3;
        let ones = |n: usize| if gemma { Tensor::zeros(n, dtype, device) } else { Tensor::ones(n, dtype, device) };
        tensors.insert("model.norm.weight".into(), ones(cfg.hidden_size)?);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            tensors.insert(format!("{p}.input_layernorm.weight"), ones(cfg.hidden_size)?);
            tensors.insert(format!("{p}.post_attention_layernorm.weight"), ones(cfg.hidden_size)?);
            if gemma {
                tensors.insert(format!("{p}.pre_feedforward_layernorm.weight"), ones(cfg.hidden_size)?);
                tensors.insert(format!("{p}.post_feedforward_layernorm.weight"), ones(cfg.hidden_size)?);
            }
            if cfg.has_qk_norm() {
                tensors.insert(format!("{p}.self_attn.q_norm.weight"), ones(cfg.head_dim())?);
                tensors.insert(format!("{p}.self_attn.k_norm.weight"), ones(cfg.head_dim())?);
            }
            for (name, module) in PROJECTIONS {
                let (out, inp) = proj_shape(cfg, name);
                tensors.insert(format!("{p}.{module}.{name}.weight"), normal((out, inp))?);
                let o_bias = name == "o_proj" && cfg.has_o_bias();
                if o_bias || (cfg.has_qkv_bias() && matches!(name, "q_proj" | "k_proj" | "v_proj")) {
                    tensors.insert(format!("{p}.{module}.{name}.bias"), vector(normal((1, out))?)?);
                }
            }
        }
        let mut get = |name: &str| -> Result<Option<Tensor>> { Ok(tensors.remove(name)) };
        Self::from_weights(cfg, &mut get, device, dtype)
    }
}

/// `n` draws uniform in [lo, hi).
pub(crate) fn uniform(rng: &mut SplitMix64, n: usize, lo: f64, hi: f64) -> Vec<f32> {
    (0..n).map(|_| (lo + (hi - lo) * rng.next_f64()) as f32).collect()
}

/// `n` draws from Normal(0, std), by Box-Muller (one draw per pair of uniforms).
pub(crate) fn normal(rng: &mut SplitMix64, n: usize, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
            let u2 = rng.next_f64();
            (std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect()
}
