//! `[tasks.NAME]` as a manifest writes it, resolved into the params of the task's `data/NAME`
//! stage: either the whole task in the table, or `lm_eval = "FILE.yaml"` (an lm-evaluation-harness
//! task file) with only `chat` beside it.
//!
//! ```toml
//! [tasks.capitals]
//! source = { path = "data/capitals.jsonl" }   # or files = { test = {...}, train = {...}, fewshot = {...} }
//! split = { train = 80, test = 40, seed = 42 }
//! text = "Question: {{question}}\nAnswer:"
//! choices = "{{choices}}"
//! target = "{{answer}}"
//! output = "multiple_choice"                   # or "generate", "loglikelihood"
//! metrics = ["acc", "acc_norm"]
//! fewshot = { n = 3, seed = 1234 }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};
use syco_core::location::Location;
use syco_core::manifest::{Manifest, ManifestError};
use syco_data::SplitSpec;
use syco_tasks::{ChoiceScoring, DocTemplate, FewShot, FilterPipeline, FilterStep, Generation, Metric, MetricName, OutputType, TaskSpec};

use crate::stages::source::Source;
use crate::stages::task::{manifest_key, TaskDataParams};

/// `output = ...`: lm-eval's output types, `generate` for `generate_until`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Output {
    MultipleChoice,
    #[serde(alias = "generate_until")]
    Generate,
    Loglikelihood,
}

/// `fewshot = { n, seed, delimiter, split, turns }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FewShotTable {
    n: usize,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    delimiter: Option<String>,
    /// The split examples come from (default: `fewshot`, else `train`, else the evaluated one).
    #[serde(default)]
    split: Option<String>,
    /// One user/assistant pair per example (with `chat = true`).
    #[serde(default)]
    turns: bool,
}

/// `metrics = ["acc", { metric = "exact_match", ignore_case = true }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum MetricEntry {
    Name(MetricName),
    Full(Metric),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskTable {
    #[serde(default)]
    lm_eval: Option<String>,
    #[serde(default)]
    chat: Option<bool>,
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    split: Option<SplitSpec>,
    #[serde(default)]
    files: BTreeMap<String, Value>,
    #[serde(default)]
    text: Option<DocTemplate>,
    #[serde(default)]
    target: Option<DocTemplate>,
    #[serde(default)]
    choices: Option<DocTemplate>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    output: Option<Output>,
    #[serde(default)]
    scoring: Option<ChoiceScoring>,
    #[serde(default)]
    target_delimiter: Option<String>,
    #[serde(default)]
    fewshot: Option<FewShotTable>,
    #[serde(default)]
    until: Option<Vec<String>>,
    #[serde(default)]
    max_tokens: Option<usize>,
    /// One extraction pipeline: `filters = [{ function = "regex", regex_pattern = "..." }, ...]`.
    #[serde(default)]
    filters: Option<Vec<FilterStep>>,
    #[serde(default)]
    metrics: Option<Vec<MetricEntry>>,
}

/// The splits a manifest table may name in `files`.
const SPLITS: [&str; 4] = ["test", "validation", "train", "fewshot"];

/// `[tasks.NAME]` resolved. Template syntax, filters and metrics are checked here (the lm-eval
/// reader checks its files itself), so those errors point at their line before anything runs.
pub fn resolve(m: &Manifest, name: &str) -> Result<TaskDataParams, ManifestError> {
    let t: TaskTable = m.deserialize(&["tasks", name])?;
    match &t.lm_eval {
        Some(file) => from_lm_eval(m, name, &t, file),
        None => {
            let params = from_table(m, name, &t)?;
            syco_tasks::check(&params.spec).map_err(|e| m.error(&["tasks", name, manifest_key(&e.key)], &e.message))?;
            Ok(params)
        }
    }
}

fn from_lm_eval(m: &Manifest, name: &str, t: &TaskTable, file: &str) -> Result<TaskDataParams, ManifestError> {
    let own_keys = m.table_keys(&["tasks", name]);
    if let Some(other) = own_keys.iter().find(|k| !["lm_eval", "chat"].contains(&k.as_str())) {
        return Err(m.error(&["tasks", name, other], "with `lm_eval`, the task file defines the task; only `chat` may be set beside it"));
    }
    let path = m.dir().join(file);
    let task = syco_tasks::lm_eval::read_task_file(&path).map_err(|e| {
        let location = e.line.map(|line| Location { file: e.file.clone(), line, col: 1 });
        let message = if location.is_some() { e.message.clone() } else { format!("{}: {}", e.file.display(), e.message) };
        ManifestError::new(location, Some(e.key.clone()), message)
    })?;
    let mut spec = task.spec;
    spec.chat = t.chat.unwrap_or(false);
    let format = match task.data.builder {
        syco_tasks::lm_eval::DataBuilder::Json => "json",
        syco_tasks::lm_eval::DataBuilder::Csv => "csv",
        syco_tasks::lm_eval::DataBuilder::Parquet => "parquet",
    };
    let files = task
        .data
        .data_files
        .iter()
        .map(|(split, paths)| {
            let sources = paths.iter().map(|p| json!({ "path": p.to_string_lossy(), "format": format })).collect();
            (split.clone(), sources)
        })
        .collect();
    let eval_split = task.data.eval_split().map(str::to_string).ok_or_else(|| {
        ManifestError::new(
            None,
            Some("test_split".into()),
            format!("{}: the task names no `test_split` or `validation_split`", path.display()),
        )
    })?;
    Ok(TaskDataParams {
        task: name.to_string(),
        spec,
        files,
        split: None,
        fewshot_split: task.data.fewshot_source().filter(|s| Some(*s) != task.data.test_split.as_deref()).map(str::to_string),
        train_split: task.data.training_split.clone(),
        eval_split,
        task_file: Some(path.to_string_lossy().into_owned()),
    })
}

fn from_table(m: &Manifest, name: &str, t: &TaskTable) -> Result<TaskDataParams, ManifestError> {
    let key = |k: &str| -> Vec<String> { vec!["tasks".into(), name.into(), k.into()] };
    let err = |k: &str, msg: &str| {
        let path = key(k);
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        m.error(&refs, msg)
    };
    // Data: one source (divided by `split`, or all evaluated), or named files.
    let mut files: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    match (&t.source, t.files.is_empty()) {
        (Some(_), false) => return Err(err("files", "give either `source` (with `split`) or `files`, not both")),
        (None, true) => return Err(m.error(&["tasks", name], "a task needs `source = {...}` or `files = { test = {...}, ... }`")),
        (Some(src), true) => {
            files.insert(if t.split.is_some() { "all" } else { "test" }.to_string(), vec![src.clone()]);
        }
        (None, false) => {
            if t.split.is_some() {
                return Err(err("split", "`split` divides `source`; with `files`, each split is its own file"));
            }
            for (split, src) in &t.files {
                if !SPLITS.contains(&split.as_str()) {
                    return Err(err("files", &format!("unknown split `{split}`; expected some of {}", SPLITS.join(", "))));
                }
                files.insert(split.clone(), vec![src.clone()]);
            }
        }
    }
    for (split, sources) in &files {
        for src in sources {
            if let Err(e) = Source::parse(src) {
                let k = if split == "all" || t.source.is_some() { "source".to_string() } else { format!("files.{split}") };
                return Err(err(&k, &e.to_string()));
            }
        }
    }
    let has = |s: &str| files.contains_key(s) || (t.split.is_some() && (s == "train" || s == "test"));
    let eval_split = if has("test") {
        "test"
    } else if has("validation") {
        "validation"
    } else {
        ""
    };
    if eval_split.is_empty() {
        return Err(err("files", "no `test` (or `validation`) split to evaluate"));
    }
    let fewshot_table = t.fewshot.clone().unwrap_or(FewShotTable { n: 0, seed: None, delimiter: None, split: None, turns: false });
    let fewshot_split = match &fewshot_table.split {
        Some(s) if has(s) => Some(s.clone()),
        Some(s) => return Err(err("fewshot", &format!("no `{s}` split to draw examples from"))),
        None => ["fewshot", "train", "validation"].into_iter().find(|s| has(s) && *s != eval_split).map(str::to_string),
    };
    let train_split = has("train").then(|| "train".to_string());

    let output = match t.output.unwrap_or(Output::MultipleChoice) {
        Output::MultipleChoice => OutputType::MultipleChoice,
        Output::Generate => OutputType::GenerateUntil,
        Output::Loglikelihood => OutputType::Loglikelihood,
    };
    let text = t.text.clone().ok_or_else(|| m.error(&["tasks", name], "a task needs `text` (a field name or a template)"))?;
    let target = t.target.clone().ok_or_else(|| m.error(&["tasks", name], "a task needs `target` (a field name or a template)"))?;
    if output == OutputType::MultipleChoice && t.choices.is_none() {
        return Err(m.error(&["tasks", name], "a multiple_choice task needs `choices` (a field name, a template or a list)"));
    }
    if output != OutputType::MultipleChoice && (t.choices.is_some() || t.scoring.is_some()) {
        return Err(err(if t.choices.is_some() { "choices" } else { "scoring" }, "only a multiple_choice task has choices"));
    }
    let scoring = t.scoring.unwrap_or_default();
    let defaults = FewShot::default();
    let fewshot = FewShot {
        n: fewshot_table.n,
        seed: fewshot_table.seed.unwrap_or(defaults.seed),
        delimiter: fewshot_table.delimiter.clone().unwrap_or(defaults.delimiter),
        as_turns: fewshot_table.turns,
    };
    if fewshot.as_turns && !t.chat.unwrap_or(false) {
        return Err(err("fewshot", "`turns = true` gives each example its own chat turns: it needs `chat = true`"));
    }
    let generation = Generation {
        until: t.until.clone().unwrap_or_else(|| vec![fewshot.delimiter.clone()]),
        max_gen_toks: t.max_tokens.unwrap_or(Generation::default().max_gen_toks),
    };
    let metrics: Vec<Metric> = match &t.metrics {
        Some(list) => list
            .iter()
            .map(|e| match e {
                MetricEntry::Name(n) => Metric::plain(*n),
                MetricEntry::Full(full) => full.clone(),
            })
            .collect(),
        None => match (output, scoring) {
            (OutputType::MultipleChoice, ChoiceScoring::Loglikelihood) => {
                vec![Metric::plain(MetricName::Acc), Metric::plain(MetricName::AccNorm)]
            }
            (OutputType::MultipleChoice, ChoiceScoring::Letter) | (OutputType::Loglikelihood, _) => vec![Metric::plain(MetricName::Acc)],
            (OutputType::GenerateUntil, _) => vec![Metric::plain(MetricName::ExactMatch)],
        },
    };
    let filters = match &t.filters {
        Some(_) if output != OutputType::GenerateUntil && scoring != ChoiceScoring::Letter => {
            return Err(err("filters", "filters extract answers from generated text: only generate tasks (or letter scoring) have them"));
        }
        Some(steps) => vec![FilterPipeline { name: "extract".into(), steps: steps.clone() }],
        None => vec![],
    };
    let spec = TaskSpec {
        text,
        target,
        choices: t.choices.clone(),
        description: t.description.clone().unwrap_or_default(),
        output,
        choice_scoring: scoring,
        target_delimiter: t.target_delimiter.clone().unwrap_or_else(|| " ".into()),
        fewshot,
        generation,
        chat: t.chat.unwrap_or(false),
        filters,
        metrics,
        lines: BTreeMap::new(),
    };
    Ok(TaskDataParams {
        task: name.to_string(),
        spec,
        files,
        split: t.split.clone(),
        eval_split: eval_split.to_string(),
        fewshot_split,
        train_split,
        task_file: None,
    })
}
