//! LoRA adapters: their settings (PEFT's `LoraConfig` subset that matters here), and attaching,
//! activating, merging and removing them on a `Llama`. The forward pass that applies them is
//! `model.rs` / `linear.rs`.
//!
//! Mixed precision: an adapter's A and B are kept in `Llama::lora_dtype`, f32 under a bf16 or
//! f16 base, as PEFT does (`autocast_adapter_dtype`): they are the master weights that are
//! trained, optimised (AdamW moments in f32) and saved (`adapter_model.safetensors` in f32). The
//! forward computes the adapter's branch in that dtype and rounds its sum with the base product
//! to the activation dtype once (`linear.rs`, `autograd::lora_linear`). An f32 model's adapters
//! are f32, as before, and computed exactly as before.

use crate::init;
use crate::linear::LoraPair;
use crate::model::{Llama, PROJECTIONS};
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use syco_data::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank r of A (r, in) and B (out, r).
    pub r: usize,
    /// The update is scaled by alpha / r.
    pub alpha: f64,
    /// Dropout probability on the adapter's input while training.
    pub dropout: f64,
    /// Projection names: any of q_proj k_proj v_proj o_proj gate_proj up_proj down_proj.
    pub targets: Vec<String>,
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    pub fn validate(&self) -> Result<()> {
        if self.r == 0 {
            bail!("LoRA rank r must be positive");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("LoRA dropout {} must be in [0, 1)", self.dropout);
        }
        if self.targets.is_empty() {
            bail!("LoRA targets are empty");
        }
        for t in &self.targets {
            if !PROJECTIONS.iter().any(|(p, _)| p == t) {
                let known: Vec<&str> = PROJECTIONS.iter().map(|(p, _)| *p).collect();
                bail!("unknown LoRA target `{t}`; known: {}", known.join(", "));
            }
        }
        Ok(())
    }
}

/// A shape as every LoRA loading message writes it: `(4, 32)`.
pub fn shape(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("({})", parts.join(", "))
}

/// PEFT's tensor name for one LoRA matrix (`which` = "lora_A" | "lora_B").
pub fn peft_name(layer: usize, proj: &str, which: &str) -> String {
    let module = PROJECTIONS.iter().find(|(p, _)| *p == proj).map(|(_, m)| *m).unwrap_or("mlp");
    format!("base_model.model.model.layers.{layer}.{module}.{proj}.{which}.weight")
}

impl Llama {
    /// The dtype of this model's LoRA weights: f32 master weights under a half-precision base
    /// (bf16, f16); the model's own dtype otherwise (f32, f64).
    pub fn lora_dtype(&self) -> DType {
        match self.dtype {
            DType::BF16 | DType::F16 => DType::F32,
            other => other,
        }
    }

    /// Attach a new adapter with PEFT's init: A ~ kaiming-uniform(a=√5) = U(±1/√in), B = 0.
    pub fn add_lora(&mut self, name: &str, cfg: &LoraConfig, seed: u64) -> Result<()> {
        cfg.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut tensors = HashMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for (j, (proj, _)) in PROJECTIONS.iter().enumerate() {
                if !cfg.targets.iter().any(|t| t == proj) {
                    continue;
                }
                let (out, inp) = layer.projs[j].base.dims();
                let bound = 1.0 / (inp as f64).sqrt();
                let a = Tensor::from_vec(init::uniform(&mut rng, cfg.r * inp, -bound, bound), (cfg.r, inp), &self.device)?;
                let b = Tensor::zeros((out, cfg.r), DType::F32, &self.device)?;
                tensors.insert(peft_name(i, proj, "lora_A"), a);
                tensors.insert(peft_name(i, proj, "lora_B"), b);
            }
        }
        self.insert_lora(name, cfg, tensors)
    }

    /// Attach an adapter from tensors named as PEFT writes them
    /// (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`). Every target
    /// projection of every layer must be present; unknown names are an error.
    pub fn insert_lora(&mut self, name: &str, cfg: &LoraConfig, tensors: HashMap<String, Tensor>) -> Result<()> {
        self.attach(name, cfg, tensors, true)
    }

    /// Like `insert_lora`, but a target projection may be absent from some layers (PEFT's
    /// `layers_to_transform`, `exclude_modules`): those compute the base alone. Each module
    /// present needs both A and B, at least one module must be present, and unknown names are
    /// still an error.
    pub fn insert_lora_modules(&mut self, name: &str, cfg: &LoraConfig, tensors: HashMap<String, Tensor>) -> Result<()> {
        self.attach(name, cfg, tensors, false)
    }

    /// The projections an adapter can adapt, by HF module name
    /// (`model.layers.N.self_attn.q_proj`), with their weight's shape (out, in), in layer then
    /// `PROJECTIONS` order.
    pub fn lora_modules(&self) -> Vec<(String, (usize, usize))> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for ((proj, module), p) in PROJECTIONS.iter().zip(&layer.projs) {
                out.push((format!("model.layers.{i}.{module}.{proj}"), p.base.dims()));
            }
        }
        out
    }

    fn attach(&mut self, name: &str, cfg: &LoraConfig, mut tensors: HashMap<String, Tensor>, every_layer: bool) -> Result<()> {
        cfg.validate()?;
        if self.adapters.contains_key(name) {
            bail!("adapter `{name}` is already attached");
        }
        // PEFT files may or may not carry the adapter name (`lora_A.default.weight`).
        let keys: Vec<String> = tensors.keys().cloned().collect();
        for k in keys {
            let norm = k
                .replace(&format!(".lora_A.{name}.weight"), ".lora_A.weight")
                .replace(&format!(".lora_B.{name}.weight"), ".lora_B.weight")
                .replace(".lora_A.default.weight", ".lora_A.weight")
                .replace(".lora_B.default.weight", ".lora_B.weight");
            if norm != k {
                let t = tensors.remove(&k).expect("key listed above");
                tensors.insert(norm, t);
            }
        }
        let mut pairs: Vec<(usize, usize, LoraPair)> = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for (j, (proj, _)) in PROJECTIONS.iter().enumerate() {
                if !cfg.targets.iter().any(|t| t == proj) {
                    continue;
                }
                let (out, inp) = layer.projs[j].base.dims();
                let an = peft_name(i, proj, "lora_A");
                let bn = peft_name(i, proj, "lora_B");
                let (a, bt) = match (tensors.remove(&an), tensors.remove(&bn)) {
                    (Some(a), Some(b)) => (a, b),
                    (None, None) if !every_layer => continue,
                    (None, _) => bail!("adapter `{name}` lacks `{an}`"),
                    (_, None) => bail!("adapter `{name}` lacks `{bn}`"),
                };
                ensure!(a.dims() == [cfg.r, inp], "`{an}` has shape {}, expected ({}, {inp})", shape(a.dims()), cfg.r);
                ensure!(bt.dims() == [out, cfg.r], "`{bn}` has shape {}, expected ({out}, {})", shape(bt.dims()), cfg.r);
                // Whatever dtype the file holds, the adapter is kept in the master dtype.
                let var = |t: Tensor| -> Result<Var> { Ok(Var::from_tensor(&t.to_device(&self.device)?.to_dtype(self.lora_dtype())?)?) };
                pairs.push((i, j, LoraPair { a: var(a)?, b: var(bt)?, scale: cfg.scale(), dropout: cfg.dropout }));
            }
        }
        if let Some(extra) = tensors.keys().next() {
            bail!("adapter `{name}` has tensor `{extra}` that matches no target projection of this model");
        }
        ensure!(!pairs.is_empty(), "adapter `{name}` has no LoRA tensors");
        for (i, j, pair) in pairs {
            self.layers[i].projs[j].loras.insert(name.to_string(), pair);
        }
        self.adapters.insert(name.to_string(), cfg.clone());
        if self.active.is_none() {
            self.active = Some(name.to_string());
        }
        Ok(())
    }

    /// The adapter's trainable tensors, by PEFT name, in layer then projection order.
    pub fn lora_vars(&self, name: &str) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            for (j, (proj, _)) in PROJECTIONS.iter().enumerate() {
                if let Some(p) = layer.projs[j].loras.get(name) {
                    out.push((peft_name(i, proj, "lora_A"), p.a.clone()));
                    out.push((peft_name(i, proj, "lora_B"), p.b.clone()));
                }
            }
        }
        out
    }

    pub fn lora_config(&self, name: &str) -> Option<&LoraConfig> {
        self.adapters.get(name)
    }

    pub fn adapter_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.adapters.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn active_adapter(&self) -> Option<&str> {
        self.active.as_deref()
    }

    /// Choose which adapter the forward pass applies (`None`: the base model alone).
    pub fn set_active_adapter(&mut self, name: Option<&str>) -> Result<()> {
        if let Some(n) = name {
            if !self.adapters.contains_key(n) {
                bail!("no adapter named `{n}` (attached: {:?})", self.adapter_names());
            }
        }
        self.active = name.map(str::to_string);
        Ok(())
    }

    pub fn remove_adapter(&mut self, name: &str) -> Result<()> {
        if self.merged.iter().any(|m| m == name) {
            self.unmerge_adapter(name)?;
        }
        self.adapters.remove(name).with_context(|| format!("no adapter named `{name}`"))?;
        for l in &mut self.layers {
            for p in &mut l.projs {
                p.loras.remove(name);
            }
        }
        if self.active.as_deref() == Some(name) {
            self.active = None;
        }
        Ok(())
    }

    /// Fold `scale·BA` into the base weights; the adapter then costs nothing at inference.
    pub fn merge_adapter(&mut self, name: &str) -> Result<()> {
        ensure!(self.adapters.contains_key(name), "no adapter named `{name}`");
        ensure!(!self.merged.iter().any(|m| m == name), "adapter `{name}` is already merged");
        for l in &mut self.layers {
            for p in &mut l.projs {
                p.fold(name, 1.0)?;
            }
        }
        self.merged.push(name.to_string());
        Ok(())
    }

    pub fn unmerge_adapter(&mut self, name: &str) -> Result<()> {
        let pos = self.merged.iter().position(|m| m == name).with_context(|| format!("adapter `{name}` is not merged"))?;
        for l in &mut self.layers {
            for p in &mut l.projs {
                p.fold(name, -1.0)?;
            }
        }
        self.merged.remove(pos);
        Ok(())
    }
}
