//! What a task is, resolved: how one record becomes a prompt with its choices or target, how the
//! model's output is reduced to an answer, and which metrics score it. The same struct comes from
//! a manifest's `[tasks.NAME]` table or from an lm-evaluation-harness YAML file (`lm_eval`), and
//! is serialised into the stage params, so every field is part of the stage keys.
//!
//! Where a task's records come from (sources, splits) is not here: the data stage resolves that
//! and hands the docs over split by split.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One record of a task's data, as loaded: field name -> JSON value.
pub type Doc = serde_json::Map<String, serde_json::Value>;

/// `doc_to_text` / `doc_to_target` / `doc_to_choice` as lm-eval reads them: a string is a field
/// name when the record has a field of that name, otherwise a Jinja template; an integer is a
/// literal (a target index); a list is a literal list (of choice templates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocTemplate {
    Int(i64),
    Text(String),
    List(Vec<String>),
}

/// How the model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputType {
    /// Each choice scored by its log-likelihood after the prompt (`acc`, `acc_norm`).
    #[default]
    MultipleChoice,
    /// The model writes the answer; filters extract it; `exact_match` / `numeric_match` score it.
    GenerateUntil,
    /// The log-likelihood of the target after the prompt; `acc` = the target is the greedy
    /// continuation.
    Loglikelihood,
}

/// For `multiple_choice`: compare the choices' log-likelihoods (lm-eval), or show them lettered
/// and let the model generate the letter, which is then extracted (the study's way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChoiceScoring {
    #[default]
    Loglikelihood,
    Letter,
}

/// Few-shot examples prepended to every prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewShot {
    /// Examples per prompt (0 = zero-shot).
    pub n: usize,
    /// Seed of the sampler (lm-eval's `fewshot_config.random_seed`, 1234 by default).
    pub seed: u64,
    /// Between examples, and between the last example and the question.
    pub delimiter: String,
    /// One user/assistant turn pair per example instead of one plain text (needs `chat`).
    pub as_turns: bool,
}

impl Default for FewShot {
    fn default() -> Self {
        FewShot { n: 0, seed: 1234, delimiter: "\n\n".into(), as_turns: false }
    }
}

/// `generate_until`'s decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generation {
    /// Stop strings; the response is cut before the first. lm-eval's default is the few-shot
    /// delimiter.
    pub until: Vec<String>,
    pub max_gen_toks: usize,
}

impl Default for Generation {
    fn default() -> Self {
        Generation { until: vec!["\n\n".into()], max_gen_toks: 256 }
    }
}

/// One step of a filter pipeline, applied to a generated response in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "function", rename_all = "snake_case", deny_unknown_fields)]
pub enum FilterStep {
    /// lm-eval's `regex`: all matches of `regex_pattern`; `group_select` picks one (negative
    /// counts from the end, -1 = the last); a match with groups yields its first non-empty
    /// group; no match yields `fallback`.
    Regex {
        regex_pattern: String,
        #[serde(default)]
        group_select: i64,
        #[serde(default = "invalid")]
        fallback: String,
    },
    /// The first number in the response (commas and a trailing `.` dropped), else `fallback`.
    FirstNumber {
        #[serde(default = "invalid")]
        fallback: String,
    },
    /// The last number in the response, else `fallback`.
    LastNumber {
        #[serde(default = "invalid")]
        fallback: String,
    },
    /// lm-eval's `take_first`: of the repeats of one request, the first (syco samples once).
    TakeFirst,
    Lowercase,
    Uppercase,
    /// lm-eval's `remove_whitespace`: whitespace removed at both ends (as lm-eval 0.4.13 does).
    RemoveWhitespace,
    Strip,
}

fn invalid() -> String {
    "[invalid]".into()
}

/// A named pipeline (`filter_list[i]`); metrics are reported per pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterPipeline {
    pub name: String,
    pub steps: Vec<FilterStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricName {
    /// multiple_choice: argmax of the log-likelihoods is the gold choice. loglikelihood: the
    /// target is the greedy continuation.
    Acc,
    /// multiple_choice: argmax of log-likelihood / len(choice) (lm-eval's length normalisation).
    AccNorm,
    /// generate_until: the filtered response equals the target after the options below.
    ExactMatch,
    /// generate_until: both parse as numbers and are equal (commas, `$` and trailing `.` ignored).
    NumericMatch,
}

/// `metric_list[i]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub metric: MetricName,
    #[serde(default)]
    pub ignore_case: bool,
    #[serde(default)]
    pub ignore_punctuation: bool,
    #[serde(default)]
    pub ignore_numbers: bool,
    /// Removed from both sides before comparing (Python `re` syntax the Rust `regex` accepts).
    #[serde(default)]
    pub regexes_to_ignore: Vec<String>,
}

impl Metric {
    pub fn plain(metric: MetricName) -> Self {
        Metric { metric, ignore_case: false, ignore_punctuation: false, ignore_numbers: false, regexes_to_ignore: vec![] }
    }
}

/// A task, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// `doc_to_text`: the prompt.
    pub text: DocTemplate,
    /// `doc_to_target`: the gold choice (index or text) or the reference answer.
    pub target: DocTemplate,
    /// `doc_to_choice` (multiple choice only).
    #[serde(default)]
    pub choices: Option<DocTemplate>,
    /// Prepended once, before the few-shot examples.
    #[serde(default)]
    pub description: String,
    pub output: OutputType,
    #[serde(default)]
    pub choice_scoring: ChoiceScoring,
    /// Between the prompt and the continuation (lm-eval's default " ").
    pub target_delimiter: String,
    pub fewshot: FewShot,
    pub generation: Generation,
    /// Render prompts through the model's chat template (lm-eval's default: no).
    pub chat: bool,
    /// Pipelines for `generate_until` (none = the raw response, lm-eval's "none" filter).
    #[serde(default)]
    pub filters: Vec<FilterPipeline>,
    pub metrics: Vec<Metric>,
    /// Where each key was written (`KEY` -> `file:line`), so errors found while rendering
    /// records can point at the template. Filled by the YAML reader; empty for manifest tables,
    /// whose stage carries its table's location.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lines: BTreeMap<String, String>,
}
