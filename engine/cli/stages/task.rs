//! Open tasks (`[tasks.NAME]`): records from files, prompts from templates, metrics as
//! lm-evaluation-harness defines them (syco-tasks does the task logic; this is the glue).
//!
//! - `data/NAME` (kind `task`): every split the task reads, loaded, split, and checked by rendering
//!   each record once, so a bad record is reported with its file and line before any model runs.
//!   Output: `test.jsonl` (evaluated), `train.jsonl` (trained on), `fewshot.jsonl` (examples, when
//!   they come from their own split) and `task.json` (the resolved task).
//! - `respond/MODEL/NAME` (kind `task_respond`): every request of every evaluated record and the
//!   model's responses, cached item by item so an interrupted run resumes.
//! - `eval/MODEL/NAME` (kind `task_eval`): `items.jsonl` (per record) and `metrics.json`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use syco_core::stage::{PlanEnv, StageCtx, StageDef, StageKind};
use syco_data::docs::{read_docs_jsonl, write_docs_jsonl, LocatedDoc};
use syco_data::{SplitSizes, SplitSpec, Stream};
use syco_eval::files::{read_jsonl, write_jsonl, ITEMS_FILE, METRICS_FILE, RESPONSES_FILE};
use syco_tasks::{Doc, ItemRequests, Request, Response, TaskError, TaskSpec};

use super::runtime::{self, Loaded, Matmul, ModelRuntime};
use super::source::{self, Source};

const TASK_FILE: &str = "task.json";

/// The params of a `data/NAME` stage of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDataParams {
    pub task: String,
    pub spec: TaskSpec,
    /// Split name -> the sources whose records it holds, in order. `all` is divided by `split`.
    pub files: BTreeMap<String, Vec<Value>>,
    /// Divides `all` into `train` and `test` (the seeded split of `[datasets]`).
    pub split: Option<SplitSpec>,
    /// The split that is evaluated.
    pub eval_split: String,
    /// The split few-shot examples are drawn from. None: the evaluated records, each record kept
    /// out of its own examples (lm-eval does that only when the few-shot split is the test split).
    pub fewshot_split: Option<String>,
    /// The split an adapter trains on, when there is one.
    pub train_split: Option<String>,
    /// The lm-eval task file the task was read from (its content is in `spec`).
    pub task_file: Option<String>,
}

/// What `task.json` records: the resolved task, for the stages downstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskMeta {
    pub task: String,
    pub spec: TaskSpec,
    pub test: usize,
    pub train: usize,
    /// Examples come from `fewshot.jsonl` (else from the evaluated records).
    pub fewshot: Option<usize>,
}

pub fn is_task_dir(dir: &Path) -> bool {
    dir.join(TASK_FILE).is_file()
}

pub fn read_meta(dir: &Path) -> Result<TaskMeta> {
    let path = dir.join(TASK_FILE);
    serde_json::from_slice(&std::fs::read(&path).with_context(|| path.display().to_string())?).with_context(|| path.display().to_string())
}

/// The key as a manifest table spells it, for a key as syco-tasks (and lm-eval) names it.
pub fn manifest_key(lm_eval_key: &str) -> &str {
    match lm_eval_key {
        "doc_to_text" => "text",
        "doc_to_target" => "target",
        "doc_to_choice" => "choices",
        "filter_list" => "filters",
        "metric_list" => "metrics",
        "generation_kwargs" => "until",
        other => other,
    }
}

/// Where a task key is written: its line in the lm-eval file, or the manifest table.
fn key_location(def: &StageDef, spec: &TaskSpec, task_file: Option<&str>, key: &str) -> String {
    match (task_file, spec.lines.get(key)) {
        (Some(_), Some(at)) => format!("{at}: `{key}`"),
        (Some(file), None) => format!("{file}: `{key}`"),
        (None, _) => {
            let at = def.origin.as_ref().map(|o| format!("{o}: ")).unwrap_or_default();
            let name = def.id.trim_start_matches("data/");
            format!("{at}`tasks.{name}.{}`", manifest_key(key))
        }
    }
}

pub struct TaskDataStage;

impl StageKind for TaskDataStage {
    fn name(&self) -> &'static str {
        "task"
    }
    fn version(&self) -> u32 {
        1
    }

    fn key_extras(&self, def: &StageDef, env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        let p: TaskDataParams = serde_json::from_value(def.params.clone())?;
        let mut extras = runtime::locked_crates(env!("SYCO_LOCKED_TASKS"));
        for (split, sources) in &p.files {
            for (i, v) in sources.iter().enumerate() {
                let src = Source::parse(v).with_context(|| format!("{}: files.{split}", def.id))?;
                extras.extend(source::identity(&src, &format!("{split}.{i}"), def, env)?);
            }
        }
        Ok(extras)
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: TaskDataParams = serde_json::from_value(ctx.def.params.clone())?;
        let mut splits: BTreeMap<String, Vec<LocatedDoc>> = BTreeMap::new();
        let mut origins: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (split, sources) in &p.files {
            for (i, v) in sources.iter().enumerate() {
                let src = Source::parse(v)?;
                let (docs, file) = source::load_docs(&src, ctx, &format!("{split}-{i}"))?;
                let at = origins.entry(split.clone()).or_default();
                at.extend(docs.iter().map(|d| match d.line {
                    Some(line) => format!("{file}:{line}"),
                    None => format!("{file}: row {}", d.row + 1),
                }));
                splits.entry(split.clone()).or_default().extend(docs);
            }
        }
        if let Some(split) = &p.split {
            let all = splits.remove("all").context("a seeded `split` needs a `source`")?;
            let all_at = origins.remove("all").unwrap_or_default();
            let sizes = SplitSizes { len: all.len(), train: split.train, test: split.test };
            let idx = Stream::new(split.seed).split(sizes).context("`split`")?;
            for (name, picked) in [("train", &idx.train), ("test", &idx.test)] {
                splits.insert(name.into(), picked.iter().map(|&i| all[i].clone()).collect());
                origins.insert(name.into(), picked.iter().map(|&i| all_at[i].clone()).collect());
            }
        }
        let docs_of = |split: &Option<String>| -> Vec<Doc> {
            split.as_ref().and_then(|s| splits.get(s)).map(|d| d.iter().map(|d| d.doc.clone()).collect()).unwrap_or_default()
        };
        let Some(eval) = splits.get(&p.eval_split) else {
            bail!(
                "task `{}` has no `{}` split to evaluate (it has: {})",
                p.task,
                p.eval_split,
                splits.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        };
        let eval: Vec<Doc> = eval.iter().map(|d| d.doc.clone()).collect();
        if eval.is_empty() {
            bail!("task `{}`: the `{}` split has no records", p.task, p.eval_split);
        }
        let fewshot = p.fewshot_split.as_ref().map(|_| docs_of(&p.fewshot_split));
        let train = docs_of(&p.train_split);

        // Render every record once now, where the file and line of each are known.
        let blame = |e: TaskError, split: &str| -> anyhow::Error {
            let record = e.doc.and_then(|d| origins.get(split).and_then(|o| o.get(d))).cloned();
            let key = key_location(ctx.def, &p.spec, p.task_file.as_deref(), &e.key);
            match record {
                Some(at) => anyhow::anyhow!("{at}: task `{}`, {key}: {}", p.task, e.message),
                None => anyhow::anyhow!("task `{}`, {key}: {}", p.task, e.message),
            }
        };
        syco_tasks::check(&p.spec).map_err(|e| blame(e, ""))?;
        syco_tasks::build_requests(&p.spec, &eval, fewshot.as_deref()).map_err(|e| blame(e, &p.eval_split))?;
        for (split, docs) in [(&p.fewshot_split, fewshot.as_deref().unwrap_or_default()), (&p.train_split, &train[..])] {
            for (i, doc) in docs.iter().enumerate() {
                let split = split.as_deref().unwrap_or_default();
                syco_tasks::training_text(&p.spec, doc, i).map_err(|e| blame(e.at_doc(i), split))?;
            }
        }

        write_docs_jsonl(&ctx.out_dir.join("test.jsonl"), &eval)?;
        write_docs_jsonl(&ctx.out_dir.join("train.jsonl"), &train)?;
        if let Some(f) = &fewshot {
            write_docs_jsonl(&ctx.out_dir.join("fewshot.jsonl"), f)?;
        }
        let meta = TaskMeta {
            task: p.task.clone(),
            spec: p.spec.clone(),
            test: eval.len(),
            train: train.len(),
            fewshot: fewshot.as_ref().map(Vec::len),
        };
        std::fs::write(ctx.out_dir.join(TASK_FILE), serde_json::to_vec_pretty(&meta)?)?;
        ctx.log.line(&format!("task {}: {} evaluated, {} training records", p.task, eval.len(), train.len()));
        Ok(())
    }
}

/// The records and examples of a built task folder: (task, evaluated docs, few-shot docs).
pub fn task_docs(dir: &Path) -> Result<(TaskMeta, Vec<Doc>, Option<Vec<Doc>>)> {
    let meta = read_meta(dir)?;
    let test = read_docs_jsonl(&dir.join("test.jsonl"))?;
    let fewshot = meta.fewshot.map(|_| read_docs_jsonl(&dir.join("fewshot.jsonl"))).transpose()?;
    Ok((meta, test, fewshot))
}

/// The training texts of a built task folder's training split.
pub fn training_texts(dir: &Path) -> Result<(TaskSpec, Vec<syco_tasks::TrainingText>)> {
    let meta = read_meta(dir)?;
    let docs = read_docs_jsonl(&dir.join("train.jsonl"))?;
    let texts = docs.iter().enumerate().map(|(i, d)| syco_tasks::training_text(&meta.spec, d, i)).collect::<Result<Vec<_>, _>>();
    Ok((meta.spec, texts.map_err(|e| anyhow::anyhow!("task `{}`: {e}", meta.task))?))
}

/// The params of a `respond/MODEL/NAME` stage of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRespondParams {
    pub task: String,
    pub batch_size: usize,
    /// The first `limit` evaluated records (all when absent).
    pub limit: Option<usize>,
    /// Overrides the task's `max_gen_toks`.
    pub max_new_tokens: Option<usize>,
    pub model: ModelRuntime,
    pub matmul: Matmul,
}

/// One line of a task's `responses.jsonl`: the record's requests and what the model answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskResponse {
    #[serde(flatten)]
    pub item: ItemRequests,
    pub responses: Vec<Response>,
}

pub struct TaskRespondStage;

impl StageKind for TaskRespondStage {
    fn name(&self) -> &'static str {
        "task_respond"
    }
    fn version(&self) -> u32 {
        4 // 4: fused causal attention and SwiGLU kernels in inference passes, scoring logits by row slices, AVX-512 BF16 products (issue 25); 3: adapters on a bf16/f16 model run their branch in f32; 2: the choices of one question share their context's forward pass
    }

    fn key_extras(&self, def: &StageDef, _env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(runtime::device_extras(def))
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: TaskRespondParams = serde_json::from_value(ctx.def.params.clone())?;
        let dir = ctx.inputs.get("data").context("stage has no `data` input")?;
        let (mut meta, test, fewshot) = task_docs(dir)?;
        if let Some(n) = p.max_new_tokens {
            meta.spec.generation.max_gen_toks = n;
        }
        let mut items =
            syco_tasks::build_requests(&meta.spec, &test, fewshot.as_deref()).map_err(|e| anyhow::anyhow!("task `{}`: {e}", p.task))?;
        if let Some(n) = p.limit {
            items.truncate(n);
        }
        // Everything that determines an item's responses, except the item itself.
        let scope = format!(
            "task_respond v{}\n{}\n{}\n{}",
            self.version(),
            serde_json::to_string(&ctx.def.params)?,
            serde_json::to_string(&meta.spec)?,
            ctx.inputs.iter().filter(|(k, _)| *k != "data").map(|(k, v)| format!("{k}={}", v.display())).collect::<Vec<_>>().join("\n")
        );
        let item_key = |item: &ItemRequests| -> Result<blake3::Hash> {
            Ok(blake3::hash(format!("{scope}\n{}", serde_json::to_string(&item.requests)?).as_bytes()))
        };
        let mut done: Vec<Option<Vec<Response>>> = Vec::with_capacity(items.len());
        for item in &items {
            done.push(ctx.items.get(&item_key(item)?).and_then(|b| serde_json::from_slice(&b).ok()));
        }
        let todo: Vec<usize> = (0..items.len()).filter(|&i| done[i].is_none()).collect();
        let requests: usize = todo.iter().map(|&i| items[i].requests.len()).sum();
        ctx.progress.set_length(requests as u64);
        runtime::with_resident(ctx, &p.model, p.matmul, |m| {
            // Items in chunks, so the item store fills as the run goes and a killed run resumes.
            for chunk in todo.chunks(p.batch_size.max(1) * 4) {
                let reqs: Vec<&Request> = chunk.iter().flat_map(|&i| &items[i].requests).collect();
                let mut answers = answer(m, &meta.spec, &reqs, p.batch_size)?.into_iter();
                for &i in chunk {
                    let got: Vec<Response> = answers.by_ref().take(items[i].requests.len()).collect();
                    ctx.items.put(&item_key(&items[i])?, &serde_json::to_vec(&got)?)?;
                    done[i] = Some(got);
                }
                ctx.progress.inc(reqs.len() as u64);
            }
            Ok(())
        })?;
        let lines: Vec<TaskResponse> =
            items.into_iter().zip(done).map(|(item, r)| TaskResponse { item, responses: r.expect("every item answered") }).collect();
        write_jsonl(&ctx.out_dir.join(RESPONSES_FILE), &lines)?;
        ctx.log.line(&format!("{} records of task {}", lines.len(), p.task));
        Ok(())
    }
}

/// Generations that can share a batch: the same stop strings and token budget.
type Decoding = (Vec<String>, usize);

/// The model's responses to `reqs`, in order: log-likelihoods batched together, generations
/// batched by their decoding settings.
fn answer(m: &Loaded, spec: &TaskSpec, reqs: &[&Request], batch: usize) -> Result<Vec<Response>> {
    let mut out: Vec<Option<Response>> = vec![None; reqs.len()];
    let mut pairs = vec![];
    let mut pair_of = vec![];
    let mut gens: BTreeMap<Decoding, Vec<(usize, Vec<u32>)>> = BTreeMap::new();
    let tok = &m.lm.tokenizer;
    for (i, r) in reqs.iter().enumerate() {
        match r {
            Request::Loglik { context, continuation } => {
                let ctx_text = prompt_text(m, spec, context)?;
                pairs.push(encode_pair(m, &ctx_text, continuation)?);
                pair_of.push(i);
            }
            Request::Generate { prompt, until, max_gen_toks } => {
                let ids = m.fit_prompt(tok.encode_plain(&prompt_text(m, spec, prompt)?)?, *max_gen_toks);
                gens.entry((until.clone(), *max_gen_toks)).or_default().push((i, ids));
            }
        }
    }
    for (k, l) in syco_ml::continuation_logliks(&m.lm, &pairs, batch)?.into_iter().enumerate() {
        out[pair_of[k]] = Some(Response::Loglik { logprob: l.sum, greedy: l.greedy, tokens: l.tokens });
    }
    for ((until, max_gen_toks), group) in gens {
        let cfg = syco_ml::GenerationConfig { max_new_tokens: max_gen_toks, stop: until, batch_size: batch, ..Default::default() };
        let prompts: Vec<Vec<u32>> = group.iter().map(|(_, ids)| ids.clone()).collect();
        for ((i, _), text) in group.iter().zip(syco_ml::generate_until(&m.lm, &prompts, &cfg)?) {
            out[*i] = Some(Response::Text { text });
        }
    }
    Ok(out.into_iter().map(|r| r.expect("every request answered")).collect())
}

/// The text a prompt is fed as: plain (lm-eval's default) or through the model's chat template.
fn prompt_text(m: &Loaded, spec: &TaskSpec, p: &syco_tasks::Prompt) -> Result<String> {
    if spec.chat {
        m.chat.render(&runtime::to_chat(&p.turns), true)
    } else {
        Ok(p.text.clone())
    }
}

/// Context and continuation tokens as lm-eval's `_encode_pair`: trailing spaces of the context
/// move to the continuation; the whole text is encoded once and the context's own encoding sets
/// the boundary; an empty context is the prefix token (BOS, else EOS). No special tokens added.
fn encode_pair(m: &Loaded, context: &str, continuation: &str) -> Result<(Vec<u32>, Vec<u32>)> {
    let tok = &m.lm.tokenizer;
    let trimmed = context.trim_end_matches(' ');
    let (context, continuation) = (trimmed, format!("{}{continuation}", &context[trimmed.len()..]));
    let whole = tok.encode_plain(&format!("{context}{continuation}"))?;
    let mut ctx_ids = tok.encode_plain(context)?;
    let cont_ids = whole[ctx_ids.len().min(whole.len())..].to_vec();
    if context.is_empty() {
        let prefix = tok.bos.or(tok.eos.first().copied()).context("the tokenizer has neither BOS nor EOS to start an empty context")?;
        ctx_ids = vec![prefix];
    }
    if cont_ids.is_empty() {
        bail!("the continuation {continuation:?} has no tokens of its own after {:?}", context.chars().rev().take(40).collect::<String>());
    }
    Ok((ctx_ids, cont_ids))
}

/// The params of an `eval/MODEL/NAME` stage of a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEvalParams {
    pub task: String,
}

pub struct TaskEvalStage;

impl StageKind for TaskEvalStage {
    fn name(&self) -> &'static str {
        "task_eval"
    }
    fn version(&self) -> u32 {
        1
    }

    fn key_extras(&self, _def: &StageDef, _env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(runtime::locked_crates(env!("SYCO_LOCKED_TASKS")))
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: TaskEvalParams = serde_json::from_value(ctx.def.params.clone())?;
        let meta = read_meta(ctx.inputs.get("data").context("stage has no `data` input")?)?;
        let dir = ctx.inputs.get("responses").context("stage has no `responses` input")?;
        let lines: Vec<TaskResponse> = read_jsonl(&dir.join(RESPONSES_FILE))?;
        let (items, responses): (Vec<ItemRequests>, Vec<Vec<Response>>) = lines.into_iter().map(|l| (l.item, l.responses)).unzip();
        let scored = syco_tasks::score(&meta.spec, &items, &responses).map_err(|e| anyhow::anyhow!("task `{}`: {e}", p.task))?;
        write_jsonl(&ctx.out_dir.join(ITEMS_FILE), &scored.items)?;
        let mut metrics = serde_json::Map::new();
        metrics.insert("task".into(), json!(p.task));
        metrics.extend(scored.metrics);
        std::fs::write(ctx.out_dir.join(METRICS_FILE), serde_json::to_vec_pretty(&Value::Object(metrics.clone()))?)?;
        std::fs::copy(dir.join(RESPONSES_FILE), ctx.out_dir.join(RESPONSES_FILE))?;
        ctx.log.line(&serde_json::to_string(&metrics)?);
        Ok(())
    }
}
