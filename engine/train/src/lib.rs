//! syco-train: LoRA fine-tuning on candle, PEFT adapter files, adapter combination.
//!
//! - [`train`] runs the study's recipe (HF Trainer semantics, SPEC §4) on any [`TrainableModel`],
//!   with checkpoints, resume, keep-best and a JSONL log.
//! - [`peft`] reads and writes PEFT LoRA adapters; [`combine`] merges adapters; [`mix`] mixes
//!   example lists for joint training.
//!
//! Tokenization: `train` takes pre-tokenized examples ([`TokenizedExample`]); build them with
//! [`tokenize`] and the model's tokenizer.
#![deny(unsafe_op_in_unsafe_fn)]
pub mod batch;
pub mod checkpoint;
pub mod combine;
pub mod config;
pub mod error;
mod linalg;
#[cfg(feature = "llama")]
pub mod llama;
pub mod mix;
pub mod model;
pub mod optim;
pub mod peft;
pub mod rng;
pub mod schedule;
pub mod trainer;

pub use batch::{tokenize, TokenizedExample, TrainExample};
pub use combine::{combine, CombineMethod, Combined};
pub use config::{LossNorm, LossOn, Schedule, TrainConfig};
pub use error::{Result, TrainError};
pub use mix::{mix, Mix};
pub use model::TrainableModel;
pub use peft::{Adapter, AdapterConfig};
pub use trainer::{train, LogRecord, Progress, TrainData, TrainIo, TrainOutcome};

use std::collections::BTreeMap;
use std::path::Path;

/// Writes `adapter` of `model` as a PEFT adapter directory.
pub fn save_adapter<M: TrainableModel + ?Sized>(dir: &Path, model: &M, adapter: &str, config: &AdapterConfig) -> Result<()> {
    let tensors: BTreeMap<String, candle_core::Tensor> =
        model.trainable(adapter).into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
    peft::save(dir, config, &tensors)
}
