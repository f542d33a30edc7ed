//! Step 1 of an evaluation: prompts and model outputs per item, through a `Backend` the ML layer
//! implements, resumable through an `ItemCache`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use syco_data::prompts::{eval_prompts, EvalPrompts, Prompt, Templates};
use syco_data::{Kind, Message, Record};

use crate::pytext::after_last_inst;
use crate::seed::benchmarks::{GSM8K_MAX_NEW_TOKENS, MMLU_MAX_NEW_TOKENS, SYCOPHANCY_MAX_NEW_TOKENS, TRUTHFULQA_MAX_NEW_TOKENS};

/// One generation. `raw` is the study's literal prompt, for `prompt_format = "raw"`; the backend
/// decides which form to feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenRequest {
    pub conversation: Vec<Message>,
    pub raw: Option<String>,
    pub max_new_tokens: usize,
}

/// Log-likelihood of `continuation` after `context` (tokenised together, as one text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoglikRequest {
    pub context: String,
    pub continuation: String,
}

/// Sums of log-probabilities of one `context + continuation` text, tokenised as one string with
/// BOS first (as the study tokenised `ctx + " " + ending`). Every token after BOS is scored given
/// its prefix; tokens that start inside the continuation belong to it, the others to the context.
/// So `context_tokens + n_tokens = T − 1`, and the study's HellaSwag score is
/// `(context_sum_logprob + sum_logprob) / (context_tokens + n_tokens)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Loglik {
    pub sum_logprob: f64,
    pub n_tokens: usize,
    pub context_sum_logprob: f64,
    pub context_tokens: usize,
}

/// What evaluation needs from a model.
pub trait Backend {
    /// Greedy (or configured) generation for each request; returns only the new text.
    fn generate(&mut self, reqs: &[GenRequest]) -> anyhow::Result<Vec<String>>;
    /// Per-request log-likelihood of `continuation` given `context`.
    fn loglik(&mut self, reqs: &[LoglikRequest]) -> anyhow::Result<Vec<Loglik>>;
}

/// A prompt as sent: both forms, the backend picked one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentPrompt {
    pub raw: String,
    pub messages: Vec<Message>,
}

impl From<&Prompt> for SentPrompt {
    fn from(p: &Prompt) -> Self {
        SentPrompt { raw: p.raw.clone(), messages: p.messages.clone() }
    }
}

/// The model's side of one item: what it was asked and what it said (raw new text, uncleaned).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// gsm8k, mmlu, truthfulqa.
    Generate {
        prompt: SentPrompt,
        response: String,
        /// `choice_order[shown] = original index` (identity unless strict prompts shuffled it).
        choice_order: Vec<usize>,
        /// Gold letter as shown (multiple choice); empty for gsm8k.
        gold: String,
    },
    /// hellaswag: one request and one result per ending.
    Loglik { requests: Vec<LoglikRequest>, logliks: Vec<Loglik> },
    /// feedback, answer.
    Pair { neutral_prompt: SentPrompt, neutral_response: String, manipulated_prompt: SentPrompt, manipulated_response: String },
    /// are_you_sure.
    TwoTurn { turn1_prompt: SentPrompt, initial_response: String, turn2_prompt: SentPrompt, challenged_response: String },
}

/// One line of `responses.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResponse {
    pub id: String,
    #[serde(flatten)]
    pub output: Output,
}

/// Finished items by key, so an interrupted run resumes. The glue backs it with the engine's
/// item store, scoped to the stage (model, task, options); the key is the record's id.
pub trait ItemCache {
    fn get(&mut self, key: &str) -> anyhow::Result<Option<ItemResponse>>;
    fn put(&mut self, key: &str, value: &ItemResponse) -> anyhow::Result<()>;
}

/// An item cache that remembers nothing.
pub struct NoCache;

impl ItemCache for NoCache {
    fn get(&mut self, _key: &str) -> anyhow::Result<Option<ItemResponse>> {
        Ok(None)
    }
    fn put(&mut self, _key: &str, _value: &ItemResponse) -> anyhow::Result<()> {
        Ok(())
    }
}

/// An in-memory item cache (tests, single runs).
#[derive(Default)]
pub struct MemoryCache(pub HashMap<String, ItemResponse>);

impl ItemCache for MemoryCache {
    fn get(&mut self, key: &str) -> anyhow::Result<Option<ItemResponse>> {
        Ok(self.0.get(key).cloned())
    }
    fn put(&mut self, key: &str, value: &ItemResponse) -> anyhow::Result<()> {
        self.0.insert(key.to_string(), value.clone());
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct RespondOptions {
    pub templates: Templates,
    /// Use data's strict prompt variants (shuffled TruthfulQA choices, question-only answer task).
    pub strict_prompts: bool,
    /// Seed of the per-item shuffles of strict prompts.
    pub seed: u64,
    /// Items sent to the backend together.
    pub batch_size: usize,
    /// Overrides the study's per-task max new tokens (512 / 10 / 3 / 150).
    pub max_new_tokens: Option<usize>,
}

impl Default for RespondOptions {
    fn default() -> Self {
        RespondOptions { templates: Templates::default(), strict_prompts: false, seed: 42, batch_size: 16, max_new_tokens: None }
    }
}

/// The study's max new tokens for a task.
pub fn study_max_new_tokens(task: Kind) -> usize {
    match task {
        Kind::Gsm8k => GSM8K_MAX_NEW_TOKENS,
        Kind::Mmlu => MMLU_MAX_NEW_TOKENS,
        Kind::TruthfulQa => TRUTHFULQA_MAX_NEW_TOKENS,
        _ => SYCOPHANCY_MAX_NEW_TOKENS,
    }
}

/// Split a scored text into context and continuation at its ending, moving the separating
/// whitespace onto the continuation (" ending"), as tokenisers attach a word's leading space.
/// Texts that do not end with the ending are scored whole as the continuation of "".
pub fn split_choice_text(text: &str, ending: &str) -> LoglikRequest {
    match text.strip_suffix(ending) {
        Some(head) if !ending.is_empty() => {
            let context = head.trim_end();
            LoglikRequest { context: context.to_string(), continuation: text[context.len()..].to_string() }
        }
        _ => LoglikRequest { context: String::new(), continuation: text.to_string() },
    }
}

fn gen(prompt: &Prompt, max_new_tokens: usize) -> GenRequest {
    GenRequest { conversation: prompt.messages.clone(), raw: Some(prompt.raw.clone()), max_new_tokens }
}

fn expect_len<T>(got: Vec<T>, want: usize, what: &str) -> anyhow::Result<Vec<T>> {
    anyhow::ensure!(got.len() == want, "backend returned {} {what} for {want} requests", got.len());
    Ok(got)
}

/// Prompts and model outputs for every record, in record order. Items already in `cache` are
/// not sent again; the others go to the backend `batch_size` items at a time and are stored in
/// `cache` as each batch completes. are_you_sure sends turn 1 for a batch, then turn 2 built from
/// the cleaned turn-1 responses (text after the last `[/INST]`, stripped, as the study).
pub fn respond(
    task: Kind,
    records: &[Record],
    backend: &mut dyn Backend,
    opts: &RespondOptions,
    cache: &mut dyn ItemCache,
) -> anyhow::Result<Vec<ItemResponse>> {
    let max_new = opts.max_new_tokens.unwrap_or_else(|| study_max_new_tokens(task));
    let mut done: Vec<Option<ItemResponse>> = Vec::with_capacity(records.len());
    let mut todo: Vec<(usize, String, EvalPrompts)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        anyhow::ensure!(record.kind() == task, "record {i} is a {} record in a {} evaluation", record.kind().as_str(), task.as_str());
        let id = record.id();
        let cached = cache.get(&id)?;
        if cached.is_none() {
            todo.push((i, id, eval_prompts(record, &opts.templates, opts.strict_prompts, opts.seed)));
        }
        done.push(cached);
    }
    for batch in todo.chunks(opts.batch_size.max(1)) {
        for (i, response) in run_batch(batch, backend, max_new)? {
            cache.put(&response.id, &response)?;
            done[i] = Some(response);
        }
    }
    Ok(done.into_iter().map(|r| r.expect("every item is cached or answered")).collect())
}

fn run_batch(
    batch: &[(usize, String, EvalPrompts)],
    backend: &mut dyn Backend,
    max_new: usize,
) -> anyhow::Result<Vec<(usize, ItemResponse)>> {
    // Every item of one task has the same prompt shape, so the batch is homogeneous.
    let mut gen_reqs = Vec::new();
    let mut ll_reqs = Vec::new();
    for (_, _, prompts) in batch {
        match prompts {
            EvalPrompts::Generate(g) => gen_reqs.push(gen(&g.prompt, max_new)),
            EvalPrompts::Pair(p) => {
                gen_reqs.push(gen(&p.neutral, max_new));
                gen_reqs.push(gen(&p.manipulated, max_new));
            }
            EvalPrompts::AreYouSure(a) => gen_reqs.push(gen(&a.turn1, max_new)),
            EvalPrompts::LogLikelihood(c) => ll_reqs.extend(c.texts.iter().zip(&c.endings).map(|(t, e)| split_choice_text(t, e))),
        }
    }
    let texts = if gen_reqs.is_empty() { Vec::new() } else { expect_len(backend.generate(&gen_reqs)?, gen_reqs.len(), "texts")? };
    let logliks = if ll_reqs.is_empty() { Vec::new() } else { expect_len(backend.loglik(&ll_reqs)?, ll_reqs.len(), "log-likelihoods")? };

    // Turn 2 of are_you_sure needs every turn-1 response of the batch.
    let turn2: Vec<Prompt> = batch
        .iter()
        .zip(&texts)
        .filter_map(|((_, _, p), first)| match p {
            EvalPrompts::AreYouSure(a) => Some(a.turn2(after_last_inst(first))),
            _ => None,
        })
        .collect();
    let challenged = if turn2.is_empty() {
        Vec::new()
    } else {
        let reqs: Vec<GenRequest> = turn2.iter().map(|p| gen(p, max_new)).collect();
        expect_len(backend.generate(&reqs)?, reqs.len(), "texts")?
    };

    let (mut texts, mut logliks, mut requests) = (texts.into_iter(), logliks.into_iter(), ll_reqs.into_iter());
    let (mut turn2, mut challenged) = (turn2.into_iter(), challenged.into_iter());
    let mut out = Vec::with_capacity(batch.len());
    for (i, id, prompts) in batch {
        let mut next = || texts.next().expect("one text per generation request");
        let output = match prompts {
            EvalPrompts::Generate(g) => {
                Output::Generate { prompt: (&g.prompt).into(), response: next(), choice_order: g.order.clone(), gold: g.gold.clone() }
            }
            EvalPrompts::Pair(p) => Output::Pair {
                neutral_prompt: (&p.neutral).into(),
                neutral_response: next(),
                manipulated_prompt: (&p.manipulated).into(),
                manipulated_response: next(),
            },
            EvalPrompts::AreYouSure(a) => Output::TwoTurn {
                turn1_prompt: (&a.turn1).into(),
                initial_response: next(),
                turn2_prompt: (&turn2.next().expect("one turn 2 per item")).into(),
                challenged_response: challenged.next().expect("one reply per turn 2"),
            },
            EvalPrompts::LogLikelihood(c) => Output::Loglik {
                requests: requests.by_ref().take(c.texts.len()).collect(),
                logliks: logliks.by_ref().take(c.texts.len()).collect(),
            },
        };
        out.push((*i, ItemResponse { id: id.clone(), output }));
    }
    Ok(out)
}
