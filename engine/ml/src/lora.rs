//! LoRA adapter settings (PEFT's `LoraConfig` subset that matters here).

use crate::model::PROJECTIONS;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

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
