//! syco-tasks: open tasks. A task turns records into requests (log-likelihoods of choices, or
//! generations), and the model's responses into per-item results and metrics, the way
//! lm-evaluation-harness defines them, so an lm-eval task file gives the same prompts,
//! continuations, stop strings and numbers here.
//!
//! - `spec`: the resolved task (`TaskSpec`), from a manifest table or an lm-eval YAML file.
//! - `lm_eval`: lm-eval YAML task files (the supported subset, `include:`), errors with file/line/key.
//! - `template`: Jinja over a record's fields, Python-compatible enough for lm-eval's templates.
//! - `pyliteral`: Python literals (`['a', 'b']`, `3`) as lm-eval's `ast.literal_eval` reads them.
//! - `doc`: `doc_to_text` / `doc_to_target` / `doc_to_choice` with lm-eval's rules.
//! - `fewshot`: seeded few-shot contexts (CPython `random.sample`, as lm-eval draws them).
//! - `request`: the requests of each item, and a training example per record.
//! - `filter`, `metric`, `score`: responses -> extracted answers -> per-item results and metrics.

pub mod doc;
pub mod fewshot;
pub mod filter;
pub mod lm_eval;
pub mod metric;
pub mod pyliteral;
pub mod request;
pub mod score;
pub mod spec;
pub mod template;
mod yaml;

pub use request::{build_requests, training_text, Gold, ItemRequests, Prompt, Request, Response, TrainingText};
pub use score::{score, Scored};
pub use spec::{
    ChoiceScoring, Doc, DocTemplate, FewShot, FilterPipeline, FilterStep, Generation, Metric, MetricName, OutputType, TaskSpec,
};

/// A task that cannot be rendered or scored: which key of the task, which record, and why.
/// The caller adds the files (the task's, the data's) it knows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}`{key}`: {message}", doc.map(|d| format!("record {d}, ")).unwrap_or_default())]
pub struct TaskError {
    /// The task key at fault (`doc_to_text`, `metric_list`, ...), as the task file spells it.
    pub key: String,
    /// The record's 0-based position in its split, when one record is at fault.
    pub doc: Option<usize>,
    pub message: String,
}

impl TaskError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        TaskError { key: key.into(), doc: None, message: message.into() }
    }
    pub fn at_doc(mut self, doc: usize) -> Self {
        self.doc = Some(doc);
        self
    }
}

/// Everything about a task that can be checked without its records: template syntax, filter and
/// metric regexes, metrics that fit the output type. The error names the task key at fault.
pub fn check(spec: &TaskSpec) -> Result<(), TaskError> {
    request::check_templates(spec)?;
    filter::check(spec)?;
    metric::check(spec)
}
