//! Sycophancy probes (`[probes.NAME]`, Sharma et al. 2023): syco-data loads the items, syco-eval
//! builds the conversations and judges the answers; this is the glue that runs the model.
//!
//! - `probe/NAME` (kind `probe`): the items (from a task's records, a raw SycophancyEval file or
//!   the built-in mini items), sampled, and every conversation to hold with them. Output:
//!   `items.jsonl`, `dialogues.jsonl`, `probe.json`.
//! - `respond/MODEL/NAME` (kind `probe_respond`): the conversations held with the model, turn by
//!   turn (`transcripts.jsonl`), cached conversation by conversation so a killed run resumes.
//! - `judge/MODEL/NAME` (kind `probe_judge`, feedback only): the judge model's pairwise
//!   comparisons of each condition's comment with the neutral one (`judgements.jsonl`).
//! - `eval/MODEL/NAME` (kind `probe_eval`): per-conversation verdicts (`items.jsonl`) and the
//!   family's metrics (`metrics.json`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use syco_core::stage::{PlanEnv, StageCtx, StageDef, StageKind};
use syco_data::probe::{Domain, Family, ItemBody, ProbeItem, Question};
use syco_eval::files::{read_jsonl, write_jsonl, ITEMS_FILE, METRICS_FILE};
use syco_eval::probe::{Dialogue, Step, Transcript, Turn};
use syco_ml::ChatMessage;
use syco_tasks::{Gold, TaskSpec};

use super::runtime::{self, Loaded, Matmul, ModelRuntime};
use super::source::{self, Source};
use super::task;

pub const DIALOGUES_FILE: &str = "dialogues.jsonl";
pub const TRANSCRIPTS_FILE: &str = "transcripts.jsonl";
pub const JUDGEMENTS_FILE: &str = "judgements.jsonl";
const PROBE_FILE: &str = "probe.json";

/// are_you_sure's two ways of asking for a multiple-choice answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The answer turns start with the paper's "The answer is (".
    Prefill,
    NoPrefill,
}

/// The params of a `probe/NAME` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeParams {
    pub probe: String,
    pub family: Family,
    /// The task whose records are asked about (input `data`).
    pub task: Option<String>,
    /// A raw SycophancyEval file, or `{ builtin = "mini", n }`.
    pub source: Option<Value>,
    /// A seeded sample of this many items.
    pub n: Option<usize>,
    pub seed: u64,
    /// Templates over a task's record: the question asked, and its correct answer (free form).
    pub question: Option<String>,
    pub answer: Option<String>,
    pub max_tokens: Option<usize>,
    pub variants: Vec<Variant>,
    pub domains: Vec<Domain>,
    pub judge_template: Option<String>,
}

/// What `probe.json` records for the stages downstream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeMeta {
    pub probe: String,
    pub family: Family,
    pub items: usize,
    pub dialogues: usize,
    /// Records of a raw file left out, by reason.
    pub skipped: BTreeMap<String, usize>,
    pub judge_template: Option<String>,
    pub max_tokens: Option<usize>,
}

pub fn read_meta(dir: &Path) -> Result<ProbeMeta> {
    let path = dir.join(PROBE_FILE);
    serde_json::from_slice(&std::fs::read(&path).with_context(|| path.display().to_string())?).with_context(|| path.display().to_string())
}

/// The builders' options: the seed of Y, and `max_tokens` (when set) as every turn's budget.
fn options(p: &ProbeParams) -> syco_eval::probe::BuildOptions {
    let max_tokens = match p.max_tokens {
        Some(n) => syco_eval::probe::MaxTokens { answer: n, are_you_sure_answer: n, are_you_sure_reply: n, feedback: n, mimicry: n },
        None => Default::default(),
    };
    syco_eval::probe::BuildOptions { seed: p.seed, max_tokens }
}

/// Whether a conversation belongs to one of the are_you_sure variants asked for.
fn variant_kept(d: &Dialogue, variants: &[Variant]) -> bool {
    match d.variant.as_deref() {
        Some(syco_eval::probe::build::VARIANT_PREFILL) => variants.contains(&Variant::Prefill),
        Some(syco_eval::probe::build::VARIANT_NO_PREFILL) => variants.contains(&Variant::NoPrefill),
        _ => true,
    }
}

pub struct ProbeStage;

impl StageKind for ProbeStage {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn version(&self) -> u32 {
        1
    }

    fn key_extras(&self, def: &StageDef, env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        let p: ProbeParams = serde_json::from_value(def.params.clone())?;
        let mut extras = runtime::locked_crates(env!("SYCO_LOCKED_TASKS"));
        if let Some(v) = &p.source {
            extras.extend(source::identity(&Source::parse(v)?, "source", def, env)?);
        }
        Ok(extras)
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: ProbeParams = serde_json::from_value(ctx.def.params.clone())?;
        let (mut items, skipped) = match (&p.task, &p.source) {
            (Some(task), _) => (task_items(&p, task, ctx.inputs.get("data").context("stage has no `data` input")?)?, BTreeMap::new()),
            (None, Some(v)) => source_items(&p, &Source::parse(v)?, ctx)?,
            (None, None) => bail!("probe `{}` has neither a task nor a source", p.probe),
        };
        if p.family == Family::Feedback {
            items.retain(|i| matches!(&i.body, ItemBody::Feedback(f) if p.domains.contains(&f.domain)));
        }
        if items.is_empty() {
            bail!("probe `{}`: no {} items", p.probe, p.family.name());
        }
        if let Some(n) = p.n.filter(|&n| n < items.len()) {
            items = syco_data::sample(&items, n, p.seed)?;
        }
        let mut dialogues = syco_eval::probe::dialogues(&items, &options(&p)).map_err(|e| anyhow::anyhow!("probe `{}`: {e}", p.probe))?;
        dialogues.retain(|d| variant_kept(d, &p.variants));
        write_jsonl(&ctx.out_dir.join(ITEMS_FILE), &items)?;
        write_jsonl(&ctx.out_dir.join(DIALOGUES_FILE), &dialogues)?;
        let meta = ProbeMeta {
            probe: p.probe.clone(),
            family: p.family,
            items: items.len(),
            dialogues: dialogues.len(),
            skipped,
            judge_template: p.judge_template.clone(),
            max_tokens: p.max_tokens,
        };
        std::fs::write(ctx.out_dir.join(PROBE_FILE), serde_json::to_vec_pretty(&meta)?)?;
        ctx.log.line(&format!("probe {}: {} {} items, {} conversations", p.probe, items.len(), p.family.name(), dialogues.len()));
        Ok(())
    }
}

/// Items of a raw SycophancyEval file or the built-in ones, and the raw records left out.
fn source_items(p: &ProbeParams, src: &Source, ctx: &StageCtx) -> Result<(Vec<ProbeItem>, BTreeMap<String, usize>)> {
    let path = match src {
        Source::Builtin { builtin, n, seed } => {
            if builtin != "mini" && builtin != &format!("mini/{}", p.family.name()) {
                bail!("builtin `{builtin}`: the built-in probe items are `mini` (or `mini/{}`)", p.family.name());
            }
            return Ok((syco_data::builtin::builtin_probe_items(p.family, *n, seed.unwrap_or(p.seed)), BTreeMap::new()));
        }
        Source::Path { path, .. } => source::resolve(&source::manifest_dir(ctx.def), path),
        Source::Hf { .. } | Source::Pip { .. } => {
            let dir = ctx.scratch.join("source");
            std::fs::create_dir_all(&dir)?;
            source::fetch(src, ctx.def, &dir)?
        }
    };
    let loaded = syco_data::probe_load::load_probe_items(p.family, &path)?;
    for (reason, n) in &loaded.skipped {
        ctx.log.line(&format!("{}: skipped {n} records: {reason}", path.display()));
    }
    Ok((loaded.items, loaded.skipped))
}

/// The questions of a task's evaluated records: the task's text (or the probe's `question`
/// template), its choices and gold for multiple choice, its target (or the `answer` template)
/// for free form.
fn task_items(p: &ProbeParams, task: &str, dir: &Path) -> Result<Vec<ProbeItem>> {
    let (meta, docs, _) = task::task_docs(dir)?;
    let spec: &TaskSpec = &meta.spec;
    let requests = syco_tasks::build_requests(spec, &docs, None).map_err(|e| anyhow::anyhow!("task `{task}`: {e}"))?;
    let at = |i: usize, key: &str, e: String| anyhow::anyhow!("probe `{}`: task `{task}`, record {i}: `{key}`: {e}", p.probe);
    let mut items = Vec::with_capacity(docs.len());
    for (i, (doc, req)) in docs.iter().zip(&requests).enumerate() {
        let text = match &p.question {
            Some(t) => syco_tasks::template::render(t, doc).map_err(|e| at(i, "question", e))?,
            None => syco_tasks::doc::doc_to_text(spec, doc, i).map_err(|e| at(i, "text", e.message))?,
        };
        let mut q = Question {
            text: text.trim().to_string(),
            choices: vec![],
            gold: None,
            answers: vec![],
            incorrect: None,
            prompts: BTreeMap::new(),
        };
        match &req.gold {
            Gold::Choices(g) if !req.choices.is_empty() => {
                q.choices = req.choices.iter().map(|c| c.trim().to_string()).collect();
                q.gold = g.first().copied();
            }
            Gold::Choices(_) => bail!("probe `{}`: task `{task}` has no choices to ask about", p.probe),
            Gold::Text(golds) => {
                q.answers = match &p.answer {
                    Some(t) => vec![syco_tasks::template::render(t, doc).map_err(|e| at(i, "answer", e))?.trim().to_string()],
                    None => golds.iter().map(|g| g.trim().to_string()).collect(),
                };
            }
        }
        if q.answers.iter().all(|a| a.is_empty()) && q.choices.is_empty() {
            bail!("probe `{}`: task `{task}`, record {i}: no correct answer to compare with", p.probe);
        }
        let body = if p.family == Family::Answer { ItemBody::Answer(q) } else { ItemBody::AreYouSure(q) };
        items.push(ProbeItem { id: req.id.clone(), origin: format!("task {task}, record {i}"), body });
    }
    Ok(items)
}

/// The params of a `respond/MODEL/NAME` stage of a probe, and of its `judge/MODEL/NAME` stage
/// (where `model` is the judge's).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRespondParams {
    pub probe: String,
    pub batch_size: usize,
    pub model: ModelRuntime,
    pub matmul: Matmul,
}

pub struct ProbeRespondStage;

impl StageKind for ProbeRespondStage {
    fn name(&self) -> &'static str {
        "probe_respond"
    }
    fn version(&self) -> u32 {
        2 // 2: fused causal attention and SwiGLU kernels in inference passes, scoring logits by row slices, AVX-512 BF16 products (issue 25)
    }
    fn key_extras(&self, def: &StageDef, _env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(runtime::device_extras(def))
    }
    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let dir = ctx.inputs.get("probe").context("stage has no `probe` input")?;
        let dialogues: Vec<Dialogue> = read_jsonl(&dir.join(DIALOGUES_FILE))?;
        let transcripts = hold(ctx, self.name(), self.version(), &dialogues)?;
        write_jsonl(&ctx.out_dir.join(TRANSCRIPTS_FILE), &transcripts)?;
        ctx.log.line(&format!("{} conversations", transcripts.len()));
        Ok(())
    }
}

pub struct ProbeJudgeStage;

impl StageKind for ProbeJudgeStage {
    fn name(&self) -> &'static str {
        "probe_judge"
    }
    fn version(&self) -> u32 {
        2 // 2: fused causal attention and SwiGLU kernels in inference passes, scoring logits by row slices, AVX-512 BF16 products (issue 25)
    }
    fn key_extras(&self, def: &StageDef, _env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(runtime::device_extras(def))
    }
    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let meta = read_meta(ctx.inputs.get("probe").context("stage has no `probe` input")?)?;
        let dir = ctx.inputs.get("responses").context("stage has no `responses` input")?;
        let transcripts: Vec<Transcript> = read_jsonl(&dir.join(TRANSCRIPTS_FILE))?;
        let items: Vec<ProbeItem> = read_jsonl(&ctx.inputs["probe"].join(ITEMS_FILE))?;
        let judge = syco_eval::probe::judge_dialogues(
            &items,
            &transcripts,
            meta.judge_template.as_deref().unwrap_or(syco_eval::probe::build::DEFAULT_JUDGE_TEMPLATE),
        )
        .map_err(|e| anyhow::anyhow!("probe `{}`: judge: {e}", meta.probe))?;
        let judged = hold(ctx, self.name(), self.version(), &judge)?;
        write_jsonl(&ctx.out_dir.join(JUDGEMENTS_FILE), &judged)?;
        ctx.log.line(&format!("{} comparisons", judged.len()));
        Ok(())
    }
}

/// Holds every conversation with the stage's model, cached one by one: conversations run in
/// chunks, each chunk advancing step by step so generations and choices batch across them.
pub(crate) fn hold(ctx: &StageCtx, kind: &str, version: u32, dialogues: &[Dialogue]) -> Result<Vec<Transcript>> {
    let p: ProbeRespondParams = serde_json::from_value(ctx.def.params.clone())?;
    // Everything that determines a conversation's turns, except the conversation itself.
    let scope = format!(
        "{kind} v{version}\n{}\n{}",
        serde_json::to_string(&ctx.def.params)?,
        ctx.inputs
            .iter()
            .filter(|(k, _)| !["probe", "responses"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", v.display()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let key = |d: &Dialogue| -> Result<blake3::Hash> { Ok(blake3::hash(format!("{scope}\n{}", serde_json::to_string(d)?).as_bytes())) };
    let mut done: Vec<Option<Vec<Turn>>> = Vec::with_capacity(dialogues.len());
    for d in dialogues {
        done.push(ctx.items.get(&key(d)?).and_then(|b| serde_json::from_slice(&b).ok()));
    }
    let todo: Vec<usize> = (0..dialogues.len()).filter(|&i| done[i].is_none()).collect();
    ctx.progress.set_length(todo.len() as u64);
    if !todo.is_empty() {
        runtime::with_resident(ctx, &p.model, p.matmul, |m| {
            for chunk in todo.chunks(p.batch_size.max(1) * 4) {
                let group: Vec<&Dialogue> = chunk.iter().map(|&i| &dialogues[i]).collect();
                for (&i, turns) in chunk.iter().zip(converse(m, &group, p.batch_size)?) {
                    ctx.items.put(&key(&dialogues[i])?, &serde_json::to_vec(&turns)?)?;
                    done[i] = Some(turns);
                }
                ctx.progress.inc(chunk.len() as u64);
            }
            Ok(())
        })?;
    }
    Ok(dialogues
        .iter()
        .zip(done)
        .map(|(d, turns)| Transcript { dialogue: d.clone(), turns: turns.expect("every conversation held") })
        .collect())
}

/// Runs the conversations side by side: at each step every conversation that has one takes it;
/// the generations of a step share batches (grouped by token budget), and so do the choices.
pub(crate) fn converse(m: &Loaded, dialogues: &[&Dialogue], batch: usize) -> Result<Vec<Vec<Turn>>> {
    let mut messages: Vec<Vec<ChatMessage>> = vec![vec![]; dialogues.len()];
    let mut turns: Vec<Vec<Turn>> = vec![vec![]; dialogues.len()];
    let steps = dialogues.iter().map(|d| d.steps.len()).max().unwrap_or(0);
    let tok = &m.lm.tokenizer;
    for s in 0..steps {
        let mut gens: BTreeMap<usize, Vec<(usize, Vec<u32>, String)>> = BTreeMap::new();
        let mut pairs: Vec<(Vec<u32>, Vec<u32>)> = vec![];
        let mut chooses: Vec<(usize, usize)> = vec![]; // (dialogue, number of choices)
        for (d, dialogue) in dialogues.iter().enumerate() {
            match dialogue.steps.get(s) {
                None => {}
                Some(Step::User { content }) => messages[d].push(ChatMessage { role: "user".into(), content: content.clone() }),
                Some(Step::Generate { prefill, max_tokens }) => {
                    let prompt = format!("{}{prefill}", m.chat.render(&messages[d], true)?);
                    let ids = m.fit_prompt(tok.encode_plain(&prompt)?, *max_tokens);
                    gens.entry(*max_tokens).or_default().push((d, ids, prefill.clone()));
                }
                Some(Step::Choose { prefill, choices }) => {
                    // The context and each choice are encoded apart, as the model would go on from
                    // the context's last token when it generates (the prefill often ends in "(").
                    let context = tok.encode_plain(&format!("{}{prefill}", m.chat.render(&messages[d], true)?))?;
                    for c in choices {
                        let choice = tok.encode_plain(c)?;
                        if choice.is_empty() {
                            bail!("conversation {}: the choice {c:?} has no tokens", dialogue.key());
                        }
                        pairs.push((context.clone(), choice));
                    }
                    chooses.push((d, choices.len()));
                }
            }
        }
        for (max_tokens, group) in gens {
            let cfg = syco_ml::GenerationConfig { max_new_tokens: max_tokens, batch_size: batch, ..Default::default() };
            let prompts: Vec<Vec<u32>> = group.iter().map(|(_, ids, _)| ids.clone()).collect();
            for ((d, _, prefill), text) in group.into_iter().zip(syco_ml::generate_until(&m.lm, &prompts, &cfg)?) {
                messages[d].push(ChatMessage { role: "assistant".into(), content: format!("{prefill}{text}") });
                turns[d].push(Turn::Text { text });
            }
        }
        let mut scored = syco_ml::continuation_logliks(&m.lm, &pairs, batch)?.into_iter();
        for (d, n) in chooses {
            let logliks: Vec<f64> = scored.by_ref().take(n).map(|l| l.sum).collect();
            let chosen = argmax(&logliks);
            let Some(Step::Choose { prefill, choices }) = dialogues[d].steps.get(s) else { unreachable!("collected from a Choose step") };
            messages[d].push(ChatMessage { role: "assistant".into(), content: format!("{prefill}{}", choices[chosen]) });
            turns[d].push(Turn::Choice { logliks, chosen });
        }
    }
    Ok(turns)
}

/// The first index of the largest value (ties to the earlier choice, as lm-eval's argmax).
fn argmax(xs: &[f64]) -> usize {
    xs.iter().enumerate().fold((0, f64::NEG_INFINITY), |best, (i, &x)| if x > best.1 { (i, x) } else { best }).0
}

/// The params of an `eval/MODEL/NAME` stage of a probe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeEvalParams {
    pub probe: String,
}

pub struct ProbeEvalStage;

impl StageKind for ProbeEvalStage {
    fn name(&self) -> &'static str {
        "probe_eval"
    }
    fn version(&self) -> u32 {
        1
    }
    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: ProbeEvalParams = serde_json::from_value(ctx.def.params.clone())?;
        let dir = ctx.inputs.get("probe").context("stage has no `probe` input")?;
        let meta = read_meta(dir)?;
        let items: Vec<ProbeItem> = read_jsonl(&dir.join(ITEMS_FILE))?;
        let responses = ctx.inputs.get("responses").context("stage has no `responses` input")?;
        let transcripts: Vec<Transcript> = read_jsonl(&responses.join(TRANSCRIPTS_FILE))?;
        let judgements: Vec<Transcript> = match ctx.inputs.get("judgements") {
            Some(j) => read_jsonl(&j.join(JUDGEMENTS_FILE))?,
            None => vec![],
        };
        let held: Vec<Transcript> = transcripts.iter().chain(&judgements).cloned().collect();
        let rows = syco_eval::probe::verdicts(&items, &held).map_err(|e| anyhow::anyhow!("probe `{}`: {e}", p.probe))?;
        if rows.iter().any(|r| r.family != meta.family) {
            bail!("probe `{}`: verdicts of another family than {}", p.probe, meta.family.name());
        }
        let metrics = syco_eval::probe::metrics(&rows);
        write_jsonl(&ctx.out_dir.join(ITEMS_FILE), &rows)?;
        std::fs::write(ctx.out_dir.join(METRICS_FILE), serde_json::to_vec_pretty(&metrics)?)?;
        write_jsonl(&ctx.out_dir.join(TRANSCRIPTS_FILE), &transcripts)?;
        if !judgements.is_empty() {
            write_jsonl(&ctx.out_dir.join(JUDGEMENTS_FILE), &judgements)?;
        }
        ctx.log.line(&format!("probe {}: {} verdicts", p.probe, rows.len()));
        Ok(())
    }
}
