//! `train/NAME`: one LoRA adapter trained on one or more datasets; `combine/NAME`: an adapter
//! built from trained ones.
//!
//! Output: the PEFT files (`adapter_config.json`, `adapter_model.safetensors`), `train_log.jsonl`,
//! `training_loss.png`/`.svg` and `training_meta.json`. Checkpoints live in the stage's state folder,
//! so a killed run resumes from its last checkpoint on the next `syco run`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use syco_core::stage::{Report, StageCtx, StageKind};
use syco_data::prompts::Templates;
use syco_train::{Mix, TrainConfig, TrainData, TrainIo};

use super::dataset::read_split;
use super::runtime::{self, Matmul, ModelRuntime};

pub struct TrainStage;

/// An adapter's `lora` table (`[defaults.lora]` overlaid by its own), defaults filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraParams {
    #[serde(default = "default_r")]
    pub r: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default = "default_targets")]
    pub targets: Vec<String>,
    #[serde(default)]
    pub init_seed: Option<u64>,
}

fn default_r() -> usize {
    16
}
fn default_alpha() -> f64 {
    32.0
}
fn default_targets() -> Vec<String> {
    projection_names().map(str::to_string).collect()
}

fn projection_names() -> impl Iterator<Item = &'static str> {
    syco_ml::PROJECTIONS.iter().map(|(name, _)| *name)
}

/// The params of a `train/NAME` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// Dataset names; each is the input `data/NAME`.
    pub data: Vec<String>,
    /// `"concat"` or `{ interleave = [w, ...], seed = S }` (see `parse_mix`).
    pub mix: Option<Value>,
    pub lora: LoraParams,
    pub train: TrainConfig,
    pub model: ModelRuntime,
}

impl TrainParams {
    /// The `lora` and `train` tables as this stage reads them, each a JSON table (defaults
    /// overlaid): `Err((table, field, message))` names the first thing wrong, for the planner
    /// to point at its line.
    pub fn tables(lora: &Value, train: &Value) -> Result<(LoraParams, TrainConfig), (&'static str, String, String)> {
        let lora: LoraParams = typed(lora).map_err(|(f, m)| ("lora", f, m))?;
        check_lora(&lora).map_err(|(f, m)| ("lora", f, m))?;
        let train: TrainConfig = typed(train).map_err(|(f, m)| ("train", f, m))?;
        check_train(&train).map_err(|(f, m)| ("train", f, m))?;
        Ok((lora, train))
    }
}

/// `mix = "concat"` (the study) or `mix = { interleave = [w, ...], seed = S }`.
fn parse_mix(v: Option<&Value>, seed: u64) -> Result<Mix> {
    match v {
        None | Some(Value::Null) => Ok(Mix::Concat),
        Some(Value::String(s)) if s == "concat" => Ok(Mix::Concat),
        Some(Value::Object(o)) if o.contains_key("interleave") => {
            let weights: Vec<f64> =
                serde_json::from_value(o["interleave"].clone()).context("`mix.interleave` must be a list of weights")?;
            let seed = o.get("seed").and_then(Value::as_u64).unwrap_or(seed);
            Ok(Mix::Interleave { weights, seed })
        }
        Some(other) => bail!("`mix` must be \"concat\" or {{ interleave = [weights], seed = S }}, got {other}"),
    }
}

/// The first field of a `lora` table that is out of range, and why.
fn check_lora(lora: &LoraParams) -> Result<(), (String, String)> {
    match lora.targets.iter().find(|t| !projection_names().any(|p| p == t.as_str())) {
        Some(t) => {
            Err(("targets".into(), format!("unknown module `{t}`; expected some of {}", projection_names().collect::<Vec<_>>().join(", "))))
        }
        None => Ok(()),
    }
}

/// The first field of a `train` table that is out of range, and why.
fn check_train(train: &TrainConfig) -> Result<(), (String, String)> {
    train.validate().map_err(|e| match e {
        syco_train::TrainError::Config { field, message } => (field.to_string(), message),
        other => (String::new(), other.to_string()),
    })
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let msg = e.inner().to_string();
        // serde names an unknown field in its message, not in the path.
        let field =
            msg.split('`').nth(1).filter(|_| msg.starts_with("unknown field")).map(str::to_string).unwrap_or_else(|| e.path().to_string());
        (field, msg)
    })
}

impl StageKind for TrainStage {
    fn name(&self) -> &'static str {
        "train"
    }
    // 2: seeded LoRA dropout, explicit-gradient ops, activation checkpointing.
    // 3: training_meta.json records the held-out loss before training.
    fn version(&self) -> u32 {
        4 // 4: the hand-written CPU training step (66f5be2 and after) changed the f32 results
    }

    fn key_extras(&self, def: &syco_core::stage::StageDef, _env: &syco_core::stage::PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(runtime::device_extras(def))
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: TrainParams = serde_json::from_value(ctx.def.params.clone())?;
        // Checked by the planner already; a stage def written by hand gets the same checks.
        check_lora(&p.lora).map_err(|(field, msg)| anyhow::anyhow!("lora.{field}: {msg}"))?;
        check_train(&p.train).map_err(|(field, msg)| anyhow::anyhow!("train.{field}: {msg}"))?;
        let (lora, cfg) = (&p.lora, &p.train);
        let adapter_name = ctx.def.id.trim_start_matches("train/").to_string();

        ctx.progress.set_message("loading model".into());
        let mut loaded = runtime::load_model(ctx, &p.model, Matmul::F32)?;

        // Examples of each dataset in order, then mixed as declared.
        let mut lists = vec![];
        for name in &p.data {
            let dir = ctx.inputs.get(&format!("data/{name}")).with_context(|| format!("input data/{name}"))?;
            if super::task::is_task_dir(dir) {
                let examples = task_examples(&loaded, dir)?;
                ctx.log.line(&format!("{name}: {} training examples", examples.len()));
                lists.push(examples);
                continue;
            }
            let templates = runtime::dataset_templates(dir)?;
            let records = read_split(dir, "train")?;
            let examples: Vec<syco_train::TrainExample> = records
                .iter()
                .flat_map(|r| examples_of(r, &templates))
                .map(|ex| runtime::format_example(&loaded, &p.model, &ex))
                .collect::<Result<_>>()?;
            ctx.log.line(&format!("{name}: {} training examples", examples.len()));
            lists.push(examples);
        }
        let examples = syco_train::mix(&lists, &parse_mix(p.mix.as_ref(), cfg.seed)?)?;
        if examples.is_empty() {
            bail!("no training examples in {:?}", p.data);
        }
        let tokenized = syco_train::tokenize(&examples, |text| loaded.lm.tokenizer.encode(text))?;

        let ml_lora = syco_ml::LoraConfig { r: lora.r, alpha: lora.alpha, dropout: lora.dropout, targets: lora.targets.clone() };
        loaded.lm.model.add_lora(&adapter_name, &ml_lora, lora.init_seed.unwrap_or(cfg.seed))?;
        loaded.lm.model.set_active_adapter(Some(&adapter_name))?;

        let log_file = BufWriter::new(File::create(ctx.out_dir.join("train_log.jsonl"))?);
        let progress = ctx.progress.clone();
        let io = TrainIo {
            checkpoint_dir: Some(ctx.state_dir.join("checkpoints")),
            progress: Some(Box::new(move |pr: &syco_train::Progress| {
                progress.set_length(pr.total as u64);
                progress.set_message(format!("loss {:.3}, {:.0} tok/s", pr.loss, pr.tokens_per_s));
                progress.inc(1);
                ControlFlow::Continue(())
            })),
            log: Some(Box::new(log_file)),
        };
        let data = TrainData { examples: &tokenized, val: None, pad_id: loaded.pad_id() };
        let outcome = syco_train::train(&loaded.lm.model, &adapter_name, data, cfg, io)?;
        ctx.log.line(&format!(
            "{} steps, final loss {:.4}, best step {:?} (eval loss {:?}), {:.0} tok/s",
            outcome.steps,
            outcome.final_loss,
            outcome.best_step,
            outcome.best_eval_loss,
            outcome.tokens as f64 / outcome.seconds.max(1e-9)
        ));

        let config = syco_train::llama::adapter_config(&ml_lora, Some(&loaded.name));
        syco_train::save_adapter(&ctx.out_dir, &loaded.lm.model, &adapter_name, &config)?;
        let meta = json!({
            "adapter": adapter_name,
            "datasets": p.data,
            "train_examples": outcome.train_examples,
            "val_examples": outcome.val_examples,
            "steps": outcome.steps,
            "total_steps": outcome.total_steps,
            "final_loss": outcome.final_loss,
            "best_step": outcome.best_step,
            "best_eval_loss": outcome.best_eval_loss,
            "initial_eval_loss": outcome.initial_eval_loss,
            "restored_best": outcome.restored_best,
            "resumed_from": outcome.resumed_from,
            "seed": cfg.seed,
            "model": loaded.name,
        });
        std::fs::write(ctx.out_dir.join("training_meta.json"), serde_json::to_vec_pretty(&meta)?)?;
        let curve = syco_analysis::figures::loss_curves(&[(adapter_name.clone(), ctx.out_dir.join("train_log.jsonl"))], &ctx.out_dir);
        if let Err(e) = curve {
            ctx.log.line(&format!("loss curve not drawn: {e:#}"));
        }
        Ok(())
    }

    /// What the adapter learned of its own held-out data: the validation loss before the first
    /// step (the base model's) and at the kept step.
    fn report(&self, def: &syco_core::stage::StageDef, out_dir: &std::path::Path) -> Result<Option<Report>> {
        let Some(t) = held_out_losses(&def.id, out_dir).ok().flatten() else { return Ok(None) };
        let text = format!(
            "held-out loss {:.4} -> {:.4} ({:+.1} %) at step {} of {}, on {} held-out examples",
            t.loss_before,
            t.loss_after,
            100.0 * (t.loss_after - t.loss_before) / t.loss_before,
            t.kept_step,
            t.steps,
            t.held_out_examples,
        );
        Ok(Some(Report { text, failed: false }))
    }
}

/// An open task's training split: its prompt (plain, or chat turns when the task renders through
/// the chat template) and its target, the loss on the target.
fn task_examples(m: &runtime::Loaded, dir: &Path) -> Result<Vec<syco_train::TrainExample>> {
    let (spec, texts) = super::task::training_texts(dir)?;
    texts
        .iter()
        .map(|t| match spec.chat {
            true => runtime::chat_example(m, &t.prompt.turns, &t.target),
            false => Ok(syco_train::TrainExample { prompt: t.prompt.text.clone(), response: t.target.clone() }),
        })
        .collect()
}

/// Benchmark records give the study's training text; sycophancy records (antisyc datasets) give
/// their anti-sycophancy examples.
fn examples_of(r: &syco_data::Record, t: &Templates) -> Vec<syco_data::prompts::TrainExample> {
    if r.kind().is_sycophancy() {
        syco_data::antisyc::record_examples(r, t)
    } else {
        vec![syco_data::prompts::train_example(r, t)]
    }
}

pub struct CombineStage;

/// How `combine/NAME` builds an adapter from others (`syco_train::CombineMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CombineMethodName {
    #[default]
    Cat,
    Linear,
    /// Needs `rank`.
    Svd,
}

/// The params of a `combine/NAME` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CombineParams {
    /// Adapter names; each is an input of the same name.
    pub parts: Vec<String>,
    pub method: CombineMethodName,
    /// One per part (all 1.0 when absent).
    pub weights: Option<Vec<f64>>,
    /// The rank `svd` truncates to.
    pub rank: Option<usize>,
}

impl StageKind for CombineStage {
    fn name(&self) -> &'static str {
        "combine"
    }
    fn version(&self) -> u32 {
        1
    }

    // The combined weights are computed by candle and written by safetensors.
    fn key_extras(&self, _def: &syco_core::stage::StageDef, _env: &syco_core::stage::PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(runtime::engine_extras())
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: CombineParams = serde_json::from_value(ctx.def.params.clone())?;
        let weights = p.weights.clone().unwrap_or_else(|| vec![1.0; p.parts.len()]);
        if weights.len() != p.parts.len() {
            bail!("{} weights for {} adapters", weights.len(), p.parts.len());
        }
        let mut adapters = vec![];
        for (part, w) in p.parts.iter().zip(&weights) {
            let dir = ctx.inputs.get(part).with_context(|| format!("input {part}"))?;
            adapters.push((*w, syco_train::peft::load(dir, &syco_ml::Device::Cpu)?));
        }
        let method = match (p.method, p.rank) {
            (CombineMethodName::Cat, _) => syco_train::CombineMethod::Cat,
            (CombineMethodName::Linear, _) => syco_train::CombineMethod::Linear,
            (CombineMethodName::Svd, Some(rank)) => syco_train::CombineMethod::Svd { rank },
            (CombineMethodName::Svd, None) => bail!("method \"svd\" needs `rank = N`"),
        };
        let combined = syco_train::combine(&adapters, method)?;
        syco_train::peft::save(&ctx.out_dir, &combined.adapter.config, &combined.adapter.tensors)?;
        let meta = json!({
            "parts": p.parts, "weights": weights, "method": p.method, "rank": combined.adapter.config.r,
            "exact_delta_sum": combined.exact,
        });
        std::fs::write(ctx.out_dir.join("combine_meta.json"), serde_json::to_vec_pretty(&meta)?)?;
        ctx.log.line(&format!("combined {:?} by {:?}: rank {}, exact: {}", p.parts, p.method, combined.adapter.config.r, combined.exact));
        Ok(())
    }
}

/// The held-out losses a train stage recorded (`training_meta.json`); `None` when it kept no
/// validation split or predates the record of the loss before training.
pub(crate) fn held_out_losses(adapter: &str, train_dir: &Path) -> Result<Option<syco_analysis::report::TrainingSummary>> {
    let path = train_dir.join("training_meta.json");
    let meta: Value = serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?)?;
    let (Some(before), Some(after)) = (meta["initial_eval_loss"].as_f64(), meta["best_eval_loss"].as_f64()) else {
        return Ok(None);
    };
    let count = |k: &str| meta[k].as_u64().unwrap_or(0) as usize;
    Ok(Some(syco_analysis::report::TrainingSummary {
        adapter: adapter.to_string(),
        held_out_examples: count("val_examples"),
        loss_before: before,
        loss_after: after,
        kept_step: count("best_step"),
        steps: count("steps"),
    }))
}
