//! `respond/MODEL/TASK`: the model's outputs for every item of a task (generation or
//! log-likelihood), cached item by item so an interrupted evaluation resumes where it stopped.
//! `eval/MODEL/TASK`: those outputs scored (seed or strict rules) into per-item verdicts and the
//! study's metrics. Rescoring never regenerates: only `eval/*` depends on the scoring rules' code.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use syco_core::stage::{ItemStore, PlanEnv, StageCtx, StageDef, StageKind};
use syco_data::Kind;
use syco_eval::files::{read_jsonl, write_jsonl, ITEMS_FILE, METRICS_FILE, RESPONSES_FILE};
use syco_eval::{Backend, GenRequest, ItemCache, ItemResponse, Loglik, LoglikRequest, RespondOptions, Scoring};

use super::dataset::read_split;
use super::runtime::{self, Loaded, Matmul, ModelRuntime};

/// The params of a `respond/MODEL/TASK` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondParams {
    pub task: Kind,
    /// Strict scoring asks with the strict prompts.
    pub scoring: Scoring,
    pub batch_size: usize,
    /// The first `limit` test records (all when absent).
    pub limit: Option<usize>,
    /// Overrides the study's max_new_tokens for the task.
    pub max_new_tokens: Option<usize>,
    pub seed: u64,
    pub model: ModelRuntime,
    pub matmul: Matmul,
}

/// The params of an `eval/MODEL/TASK` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalParams {
    pub task: Kind,
    pub scoring: Scoring,
    /// The same `limit` as the responses'.
    pub limit: Option<usize>,
}

/// The records a task evaluates: the dataset's test split, the first `limit` of them.
fn task_records(ctx: &StageCtx, limit: Option<usize>) -> Result<Vec<syco_data::Record>> {
    let dir = ctx.inputs.get("data").context("stage has no `data` input")?;
    let mut records = read_split(dir, "test")?;
    if let Some(n) = limit {
        records.truncate(n);
    }
    Ok(records)
}

/// Finished items in the engine's item store, scoped to everything that determines them
/// (model, adapter, task options), so a rerun of the same stage key picks them up.
struct StoreCache<'a> {
    store: &'a ItemStore,
    scope: String,
}

impl StoreCache<'_> {
    fn key(&self, item: &str) -> blake3::Hash {
        blake3::hash(format!("{}\n{}", self.scope, item).as_bytes())
    }
}

impl ItemCache for StoreCache<'_> {
    fn get(&mut self, key: &str) -> Result<Option<ItemResponse>> {
        // A damaged entry is recomputed, never trusted.
        Ok(self.store.get(&self.key(key)).and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }
    fn put(&mut self, key: &str, value: &ItemResponse) -> Result<()> {
        Ok(self.store.put(&self.key(key), &serde_json::to_vec(value)?)?)
    }
}

/// syco-eval's view of a loaded model.
struct ModelBackend<'a> {
    m: &'a Loaded,
    rt: &'a ModelRuntime,
    batch: usize,
    ctx: &'a StageCtx<'a>,
}

impl Backend for ModelBackend<'_> {
    fn generate(&mut self, reqs: &[GenRequest]) -> Result<Vec<String>> {
        let prompts: Vec<String> = reqs
            .iter()
            .map(|r| match (&r.raw, self.rt.raw()) {
                (Some(raw), true) => Ok(raw.clone()),
                _ => self.m.chat.render(&runtime::to_chat(&r.conversation), true),
            })
            .collect::<Result<_>>()?;
        let max_new = reqs.iter().map(|r| r.max_new_tokens).max().unwrap_or(0);
        let cfg = syco_ml::GenerationConfig { max_new_tokens: max_new, batch_size: self.batch, ..Default::default() };
        let out = self.m.generate(&prompts, &cfg)?;
        self.ctx.progress.inc(reqs.len() as u64);
        Ok(out)
    }

    fn loglik(&mut self, reqs: &[LoglikRequest]) -> Result<Vec<Loglik>> {
        let pairs: Vec<(String, String)> = reqs.iter().map(|r| (r.context.clone(), r.continuation.clone())).collect();
        let out = self.m.loglik(&pairs, self.batch)?;
        self.ctx.progress.inc(reqs.len() as u64);
        Ok(out
            .into_iter()
            .map(|o| Loglik {
                sum_logprob: o.cont_sum,
                n_tokens: o.cont_count,
                context_sum_logprob: o.ctx_sum,
                context_tokens: o.ctx_count,
            })
            .collect())
    }
}

pub struct RespondStage;

impl StageKind for RespondStage {
    fn name(&self) -> &'static str {
        "respond"
    }
    fn version(&self) -> u32 {
        // 4: fused causal attention and SwiGLU kernels in inference passes, scoring logits by row
        // slices, AVX-512 BF16 products, lettered choices share their prompt's pass (issue 25);
        // 3: adapters on a bf16/f16 model run their branch in f32 (f32 master weights);
        // 2: one-pass log-softmax, decoding kernels, KV cache
        4
    }

    fn key_extras(&self, def: &StageDef, _env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(runtime::device_extras(def))
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: RespondParams = serde_json::from_value(ctx.def.params.clone())?;
        let task = p.task;
        let records = task_records(ctx, p.limit)?;
        let data_dir = ctx.inputs.get("data").context("stage has no `data` input")?;
        let opts = RespondOptions {
            templates: runtime::dataset_templates(data_dir)?,
            strict_prompts: p.scoring == Scoring::Strict,
            seed: p.seed,
            batch_size: p.batch_size,
            max_new_tokens: p.max_new_tokens,
        };
        // Everything that determines an item's output, except the item itself.
        let scope = format!(
            "respond v{}\n{}\n{}",
            self.version(),
            serde_json::to_string(&ctx.def.params)?,
            ctx.inputs.iter().filter(|(k, _)| *k != "data").map(|(k, v)| format!("{k}={}", v.display())).collect::<Vec<_>>().join("\n")
        );
        let mut cache = StoreCache { store: &ctx.items, scope };
        let units = if task == Kind::HellaSwag {
            4
        } else if task.is_sycophancy() {
            2
        } else {
            1
        };
        ctx.progress.set_length((records.len() * units) as u64);
        let responses = runtime::with_resident(ctx, &p.model, p.matmul, |m| {
            let mut backend = ModelBackend { m, rt: &p.model, batch: p.batch_size, ctx };
            syco_eval::respond(task, &records, &mut backend, &opts, &mut cache)
        })?;
        write_jsonl(&ctx.out_dir.join(RESPONSES_FILE), &responses)?;
        ctx.log.line(&format!("{} items of {}", responses.len(), task.as_str()));
        Ok(())
    }
}

pub struct EvalStage;

impl StageKind for EvalStage {
    fn name(&self) -> &'static str {
        "eval"
    }
    fn version(&self) -> u32 {
        1
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: EvalParams = serde_json::from_value(ctx.def.params.clone())?;
        let (task, scoring) = (p.task, p.scoring);
        let records = task_records(ctx, p.limit)?;
        let dir = ctx.inputs.get("responses").context("stage has no `responses` input")?;
        let responses: Vec<ItemResponse> = read_jsonl(&dir.join(RESPONSES_FILE))?;
        let (verdicts, metrics) = syco_eval::score(task, &records, &responses, scoring)?;
        write_jsonl(&ctx.out_dir.join(ITEMS_FILE), &verdicts)?;
        std::fs::write(ctx.out_dir.join(METRICS_FILE), serde_json::to_vec_pretty(&metrics)?)?;
        // The responses travel with the verdicts, so the run folder has prompts and answers side by side.
        std::fs::copy(dir.join(RESPONSES_FILE), ctx.out_dir.join(RESPONSES_FILE))?;
        ctx.log.line(&serde_json::to_string(&metrics)?);
        Ok(())
    }
}

pub fn read_metrics(dir: &Path) -> Result<Value> {
    let path = dir.join(METRICS_FILE);
    Ok(serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("{}", path.display()))?)?)
}
