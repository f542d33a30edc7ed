//! `TrainConfig`: every knob of a LoRA training run. Defaults are the study's recipe (SPEC §4):
//! AdamW 2e-4 (0.9, 0.999, 1e-8), weight decay 0.01, cosine with 100 warmup steps, 2 x 8
//! sequences per step, max_len 512, 3 epochs, loss over the whole text, 90/10 split,
//! eval every 200 steps with keep-best, max_grad_norm 1.0, seed 42.
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Linear warmup, then constant (HF `get_constant_schedule_with_warmup`).
    Constant,
    /// Linear warmup, then linear decay to 0 (HF `get_linear_schedule_with_warmup`).
    Linear,
    /// Linear warmup, then half a cosine to 0 (HF `get_cosine_schedule_with_warmup`).
    Cosine,
}

/// Which tokens are loss targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossOn {
    /// Every non-pad token, prompt included (the study: DataCollatorForLanguageModeling).
    All,
    /// Only response tokens.
    Response,
}

/// How the loss of one optimizer step is averaged over its micro-batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossNorm {
    /// Mean over micro-batches of each micro-batch's token mean: transformers <= 4.45, which
    /// the study used (4.43.3; accelerate divides each micro-batch loss by grad_accum).
    MicroMean,
    /// Sum over the step's target tokens divided by their count: transformers >= 4.46.
    StepTokens,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub lr: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    /// Decoupled (AdamW) weight decay, applied to every trainable tensor.
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Warmup in optimizer steps; exclusive with `warmup_ratio`.
    pub warmup_steps: Option<usize>,
    /// Warmup as a fraction of all steps, rounded up (HF `get_warmup_steps`).
    pub warmup_ratio: Option<f64>,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub eval_batch_size: usize,
    /// Global-norm gradient clipping (torch `clip_grad_norm_`); `None` or 0 turns it off.
    pub max_grad_norm: Option<f64>,
    /// Sequences longer than this are truncated (right side); batches pad to their longest.
    pub max_len: usize,
    pub loss: LossOn,
    pub loss_norm: LossNorm,
    /// Seeds the data order (a fresh permutation per epoch) and the dropout streams.
    pub seed: u64,
    /// Shuffle the training examples each epoch; off keeps the given order (parity tests).
    pub shuffle: bool,
    pub epochs: usize,
    /// Overrides `epochs` when set.
    pub max_steps: Option<usize>,
    /// Fraction of the examples held out for validation, taken from the end (the study:
    /// train = first int(0.9 n)). Ignored when validation examples are given explicitly.
    pub val_fraction: f64,
    /// Evaluate validation loss every N optimizer steps; `None` (written `0`) never evaluates.
    #[serde(deserialize_with = "zero_is_off")]
    pub eval_steps: Option<usize>,
    /// Restore the weights of the best evaluated step at the end (HF load_best_model_at_end).
    pub keep_best: bool,
    /// Write a checkpoint every N optimizer steps when a checkpoint dir is given.
    #[serde(deserialize_with = "zero_is_off")]
    pub save_steps: Option<usize>,
    /// How many checkpoints to keep (oldest deleted first); 0 keeps all.
    pub save_total_limit: usize,
    /// Keep only a layer's input during the forward and recompute the layer in the backward
    /// (HF `gradient_checkpointing`), for the layers whose activations exceed a memory budget
    /// (on the CPU's f32 path, 0.72x the weights' size: the top layers keep theirs; candle's graph
    /// recomputes every layer). Results are the same either way.
    pub gradient_checkpointing: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lr: 2e-4,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.01,
            schedule: Schedule::Cosine,
            warmup_steps: Some(100),
            warmup_ratio: None,
            batch_size: 2,
            grad_accum: 8,
            eval_batch_size: 8,
            max_grad_norm: Some(1.0),
            max_len: 512,
            loss: LossOn::All,
            loss_norm: LossNorm::MicroMean,
            seed: 42,
            shuffle: true,
            epochs: 3,
            max_steps: None,
            val_fraction: 0.1,
            eval_steps: Some(200),
            keep_best: true,
            save_steps: Some(200),
            save_total_limit: 3,
            gradient_checkpointing: true,
        }
    }
}

/// `eval_steps` / `save_steps`: both default to 200, and TOML has no null, so a manifest turns
/// them off with 0.
fn zero_is_off<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    Ok(Option::<usize>::deserialize(d)?.filter(|&n| n > 0))
}

fn bad(field: &'static str, message: impl Into<String>) -> TrainError {
    TrainError::Config { field, message: message.into() }
}

impl TrainConfig {
    /// Rejects values that would make training meaningless or crash later.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(bad("lr", format!("must be finite and >= 0, got {}", self.lr)));
        }
        for (i, b) in self.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                return Err(bad("betas", format!("betas[{i}] must be in [0, 1), got {b}")));
            }
        }
        // NaN fails too.
        if self.eps.is_nan() || self.eps <= 0.0 {
            return Err(bad("eps", format!("must be > 0, got {}", self.eps)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(bad("weight_decay", format!("must be >= 0, got {}", self.weight_decay)));
        }
        if self.warmup_steps.is_some() && self.warmup_ratio.is_some() {
            return Err(bad("warmup_ratio", "set warmup_steps or warmup_ratio, not both"));
        }
        if let Some(r) = self.warmup_ratio {
            if !(0.0..=1.0).contains(&r) {
                return Err(bad("warmup_ratio", format!("must be in [0, 1], got {r}")));
            }
        }
        for (field, v) in [
            ("batch_size", self.batch_size),
            ("grad_accum", self.grad_accum),
            ("eval_batch_size", self.eval_batch_size),
            ("max_len", self.max_len),
        ] {
            if v == 0 {
                return Err(bad(field, "must be >= 1"));
            }
        }
        if self.max_len < 2 {
            return Err(bad("max_len", "must be >= 2 (a causal LM target needs two tokens)"));
        }
        if let Some(n) = self.max_grad_norm {
            if !(n.is_finite() && n >= 0.0) {
                return Err(bad("max_grad_norm", format!("must be >= 0, got {n}")));
            }
        }
        if self.max_steps.is_none() && self.epochs == 0 {
            return Err(bad("epochs", "must be >= 1 unless max_steps is set"));
        }
        if self.max_steps == Some(0) {
            return Err(bad("max_steps", "must be >= 1"));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err(bad("val_fraction", format!("must be in [0, 1), got {}", self.val_fraction)));
        }
        for (field, v) in [("eval_steps", self.eval_steps), ("save_steps", self.save_steps)] {
            if v == Some(0) {
                return Err(bad(field, "must be >= 1 (0 in a manifest turns it off)"));
            }
        }
        Ok(())
    }

    /// Warmup steps for a run of `total_steps` optimizer steps.
    pub fn warmup_for(&self, total_steps: usize) -> usize {
        match (self.warmup_steps, self.warmup_ratio) {
            (Some(w), _) => w,
            (None, Some(r)) => (r * total_steps as f64).ceil() as usize,
            (None, None) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_fields_rejected() {
        TrainConfig::default().validate().unwrap();
        let cfg: TrainConfig = serde_json::from_str(r#"{"lr": 1e-4, "schedule": "linear"}"#).unwrap();
        assert_eq!(cfg.lr, 1e-4);
        assert_eq!(cfg.schedule, Schedule::Linear);
        assert_eq!(cfg.batch_size, 2);
        let err = serde_json::from_str::<TrainConfig>(r#"{"learning_rate": 1e-4}"#).unwrap_err();
        assert!(err.to_string().contains("learning_rate"), "{err}");
    }

    #[test]
    fn zero_turns_evaluation_and_checkpoints_off() {
        let cfg: TrainConfig = serde_json::from_str(r#"{"eval_steps": 0, "save_steps": 0}"#).unwrap();
        assert_eq!((cfg.eval_steps, cfg.save_steps), (None, None));
        let cfg: TrainConfig = serde_json::from_str(r#"{"eval_steps": 5}"#).unwrap();
        assert_eq!((cfg.eval_steps, cfg.save_steps), (Some(5), Some(200)));
    }

    #[test]
    fn validation_names_the_field() {
        let cfg = TrainConfig { warmup_ratio: Some(0.1), ..Default::default() };
        assert!(matches!(cfg.validate(), Err(TrainError::Config { field: "warmup_ratio", .. })));
        let cfg = TrainConfig { batch_size: 0, ..Default::default() };
        assert!(matches!(cfg.validate(), Err(TrainError::Config { field: "batch_size", .. })));
        let cfg = TrainConfig { warmup_steps: None, warmup_ratio: Some(0.1), ..Default::default() };
        assert_eq!(cfg.warmup_for(99), 10);
    }
}
