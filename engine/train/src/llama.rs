//! The bridge to `syco_ml::Llama`: it is a `TrainableModel`, and PEFT adapters convert to and
//! from its `LoraConfig`.
use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use syco_ml::{Llama, LoraConfig, Objective, PROJECTIONS};

use crate::error::{Result, TrainError};
use crate::model::TrainableModel;
use crate::peft::{self, llama_modules, Adapter, AdapterConfig, BaseModule};

/// Trains the model's *active* adapter: `adapter` selects which tensors are updated, so it
/// must be the active one (otherwise no gradient reaches them and `train` says so).
impl TrainableModel for Llama {
    fn forward_logits(&self, ids: &Tensor, mask: &Tensor, dropout_seed: Option<u64>) -> candle_core::Result<Tensor> {
        let logits = match dropout_seed {
            Some(seed) => self.forward_train(ids, Some(mask), seed),
            None => self.forward(ids, Some(mask), false),
        };
        logits.map_err(ml_error)
    }

    fn loss_and_grads(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_seed: u64,
        checkpoint: bool,
        objective: Objective,
    ) -> candle_core::Result<(Tensor, GradStore)> {
        Llama::loss_and_grads(self, ids, mask, dropout_seed, checkpoint, objective).map_err(ml_error)
    }

    fn trainable(&self, adapter: &str) -> Vec<(String, Var)> {
        self.lora_vars(adapter)
    }
}

fn ml_error(e: anyhow::Error) -> candle_core::Error {
    candle_core::Error::Msg(format!("{e:#}"))
}

/// The PEFT config to save a syco-ml adapter with.
pub fn adapter_config(cfg: &LoraConfig, base_model: Option<&str>) -> AdapterConfig {
    let mut targets = cfg.targets.clone();
    targets.sort();
    targets.dedup();
    AdapterConfig {
        r: cfg.r,
        alpha: cfg.alpha,
        dropout: cfg.dropout,
        target_modules: targets,
        base_model: base_model.map(str::to_string),
        use_rslora: false,
    }
}

/// Attaches a loaded PEFT adapter to `model` under `name`. Modules it has no tensors for
/// (layers left out by `layers_to_transform`, say) compute the base alone.
pub fn insert_adapter(model: &mut Llama, name: &str, adapter: &Adapter) -> Result<()> {
    let tensors: HashMap<String, Tensor> = adapter.tensors.clone().into_iter().collect();
    model
        .insert_lora_modules(name, &adapter.config.lora_config(), tensors)
        .map_err(|e| TrainError::Data(format!("cannot attach adapter `{name}`: {e:#}")))
}

/// `model`'s modules as transformers names them, for matching an adapter's config.
pub fn base_modules(model: &Llama) -> Vec<BaseModule> {
    let shapes: HashMap<String, (usize, usize)> = model.lora_modules().into_iter().collect();
    let module = |proj: &str| PROJECTIONS.iter().find(|(p, _)| *p == proj).map_or("mlp", |(_, m)| *m);
    llama_modules(model.config().num_hidden_layers, |i, proj| shapes.get(&format!("model.layers.{i}.{}.{proj}", module(proj))).copied())
}

/// Reads the PEFT adapter in `dir`, applies its config to `model`'s modules as PEFT does
/// (`peft::AdapterFiles::select`) and attaches it under `name`. Returns the warnings (tensors the
/// config does not select, which PEFT ignores too; an `exclude_modules` that excludes nothing).
pub fn load_into(model: &mut Llama, name: &str, dir: &Path) -> Result<Vec<String>> {
    let files = peft::read(dir, model.device())?;
    let selected = files.select(&base_modules(model))?;
    insert_adapter(model, name, &selected.adapter)?;
    Ok(selected.warnings)
}
