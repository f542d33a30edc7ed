//! Training checkpoints: everything needed to continue a run bit-for-bit.
//!
//! Layout: `DIR/checkpoint-<step>/{tensors.safetensors, state.json}`. A checkpoint is
//! written into `DIR/.tmp-checkpoint-<step>` and renamed into place, so a crash never leaves
//! a half-written checkpoint under a valid name. Data order and dropout streams are derived
//! from (seed, step), so the step number is the whole RNG state.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{file_err, io_err, Result};
use crate::peft::write_safetensors;
use crate::trainer::LogRecord;

const TENSORS: &str = "tensors.safetensors";
const STATE: &str = "state.json";
const DIR_PREFIX: &str = "checkpoint-";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimizer steps completed.
    pub step: usize,
    /// AdamW's update count (equals `step` unless the run changed optimizers).
    pub adam_t: u64,
    pub best_step: Option<usize>,
    pub best_eval_loss: Option<f64>,
    /// Validation loss before the first step (the untrained adapter's, which is the base model's).
    #[serde(default)]
    pub initial_eval_loss: Option<f64>,
    /// Everything about the run that must match for a resume to be valid.
    pub fingerprint: serde_json::Value,
    pub log: Vec<LogRecord>,
}

/// Tensors of a checkpoint, keyed by the trainable tensor's name.
#[derive(Debug, Clone, Default)]
pub struct CheckpointTensors {
    pub params: BTreeMap<String, Tensor>,
    pub exp_avg: BTreeMap<String, Tensor>,
    pub exp_avg_sq: BTreeMap<String, Tensor>,
    /// Weights of the best evaluated step, when keep-best has one.
    pub best: BTreeMap<String, Tensor>,
}

const GROUPS: [&str; 4] = ["param", "exp_avg", "exp_avg_sq", "best"];

impl CheckpointTensors {
    fn groups(&self) -> [&BTreeMap<String, Tensor>; 4] {
        [&self.params, &self.exp_avg, &self.exp_avg_sq, &self.best]
    }
    fn groups_mut(&mut self) -> [&mut BTreeMap<String, Tensor>; 4] {
        [&mut self.params, &mut self.exp_avg, &mut self.exp_avg_sq, &mut self.best]
    }
}

/// Writes checkpoint `state.step` atomically, then deletes the oldest beyond `keep` (0 = all).
pub fn write(dir: &Path, state: &CheckpointState, tensors: &CheckpointTensors, keep: usize) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = format!("{DIR_PREFIX}{}", state.step);
    let tmp = dir.join(format!(".tmp-{name}"));
    let fin = dir.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let mut flat = BTreeMap::new();
    for (group, map) in GROUPS.iter().zip(tensors.groups()) {
        for (k, t) in map {
            flat.insert(format!("{group}/{k}"), t.clone());
        }
    }
    write_safetensors(&tmp.join(TENSORS), &flat, None)?;
    let json = serde_json::to_vec_pretty(state).expect("state serializes");
    std::fs::write(tmp.join(STATE), json).map_err(io_err(tmp.join(STATE)))?;
    sync_dir(&tmp);
    if fin.exists() {
        std::fs::remove_dir_all(&fin).map_err(io_err(&fin))?;
    }
    std::fs::rename(&tmp, &fin).map_err(io_err(&fin))?;
    sync_dir(dir);
    if keep > 0 {
        let all = list(dir)?;
        for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
            std::fs::remove_dir_all(old).map_err(io_err(old))?;
        }
    }
    Ok(fin)
}

/// Best effort: make the rename durable. Failure only weakens crash safety, never correctness.
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Complete checkpoints in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut out = vec![];
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(step) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)).and_then(|s| s.parse::<usize>().ok()) else { continue };
        if entry.path().join(STATE).is_file() && entry.path().join(TENSORS).is_file() {
            out.push((step, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

pub fn read(path: &Path, device: &Device) -> Result<(CheckpointState, CheckpointTensors)> {
    let state_path = path.join(STATE);
    let text = std::fs::read_to_string(&state_path).map_err(io_err(&state_path))?;
    let state: CheckpointState = serde_json::from_str(&text).map_err(|e| file_err(&state_path, format!("line {}: {e}", e.line())))?;
    let tensor_path = path.join(TENSORS);
    let flat = candle_core::safetensors::load(&tensor_path, device).map_err(|e| file_err(&tensor_path, e.to_string()))?;
    let mut tensors = CheckpointTensors::default();
    for (k, t) in flat {
        let (group, name) = k.split_once('/').ok_or_else(|| file_err(&tensor_path, format!("unexpected tensor `{k}`")))?;
        let gi =
            GROUPS.iter().position(|g| *g == group).ok_or_else(|| file_err(&tensor_path, format!("unexpected tensor group `{group}`")))?;
        tensors.groups_mut()[gi].insert(name.to_string(), t);
    }
    Ok((state, tensors))
}
