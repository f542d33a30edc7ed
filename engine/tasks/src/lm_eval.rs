//! lm-evaluation-harness task YAML files (as lm-eval 0.4.13 reads them), the supported subset:
//! local data through the `json` / `csv` / `parquet` builders, templates (no Python functions),
//! `multiple_choice` / `generate_until` / `loglikelihood`, greedy decoding, the `regex` /
//! `take_first` / case / whitespace filters, and `acc` / `acc_norm` / `exact_match`.
//!
//! `include:` works as lm-eval's loader: the included files first (in order, relative to the
//! including file), then the including file's own keys replace theirs, key by key at the top
//! level. Anything else lm-eval would act on is an error naming the file, line and key: a
//! silently skipped key would give other prompts or other numbers than lm-eval.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::spec::{ChoiceScoring, DocTemplate, FewShot, FilterPipeline, FilterStep, Generation, Metric, MetricName, OutputType, TaskSpec};
use crate::yaml::{self, Node, Value};

/// A task file that cannot be used: where, which key, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmEvalError {
    /// The file at fault (an included file when the fault is there).
    pub file: PathBuf,
    /// 1-based; none when the fault is a key that is missing, or the file cannot be read.
    pub line: Option<usize>,
    /// The key at fault (`doc_to_text`, `metric_list[1].metric`, ...); empty for a YAML syntax
    /// error or an unreadable file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for LmEvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LmEvalError {}

/// The datasets builder a task's `dataset_path` names (local files only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataBuilder {
    Json,
    Csv,
    Parquet,
}

/// Where a task's records come from, and which split serves which purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmEvalData {
    pub builder: DataBuilder,
    pub dataset_name: Option<String>,
    /// Split -> files, resolved against the directory of the YAML file that wrote them.
    pub data_files: BTreeMap<String, Vec<PathBuf>>,
    pub test_split: Option<String>,
    pub validation_split: Option<String>,
    pub training_split: Option<String>,
    /// `fewshot_config.split` when given (it overrides `fewshot_split`, as in lm-eval), else
    /// `fewshot_split`.
    pub fewshot_split: Option<String>,
}

impl LmEvalData {
    /// The evaluated split: the test split, else the validation split (lm-eval's `eval_docs`).
    pub fn eval_split(&self) -> Option<&str> {
        self.test_split.as_deref().or(self.validation_split.as_deref())
    }

    /// Where few-shot examples are drawn from: the few-shot split, else the training split, else
    /// the validation split, else the test split (lm-eval's `fewshot_docs`; the last with a
    /// warning there).
    pub fn fewshot_source(&self) -> Option<&str> {
        self.fewshot_split.as_deref().or(self.training_split.as_deref()).or(self.validation_split.as_deref()).or(self.test_split.as_deref())
    }
}

/// An lm-eval task file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct LmEvalTask {
    /// `task`.
    pub name: String,
    pub spec: TaskSpec,
    pub data: LmEvalData,
    /// The file read and every file it includes (for cache keys), each once, in reading order.
    pub files: Vec<PathBuf>,
}

/// Reads an lm-eval task YAML file (with its includes) into a task.
pub fn read_task_file(path: &Path) -> Result<LmEvalTask, LmEvalError> {
    let mut files = Vec::new();
    let entries = load(path, &mut Vec::new(), &mut files)?;
    let top = Arc::new(path.to_path_buf());
    let config = Config { entries, top };
    for entry in &config.entries {
        check_tags(&entry.file, &entry.key, &entry.value)?;
    }
    let mut task = interpret(&config)?;
    // What the renderer and scorer would reject later (template syntax, regexes), now, at the key.
    crate::check(&task.spec).map_err(|e| locate(&task.spec.lines, path, e))?;
    task.files = files;
    Ok(task)
}

/// A `TaskError` of the spec, placed at the line of its key (or of the nearest enclosing key
/// recorded in `lines`).
fn locate(lines: &BTreeMap<String, String>, top: &Path, e: crate::TaskError) -> LmEvalError {
    let mut key = e.key.as_str();
    let at = loop {
        if let Some(at) = lines.get(key) {
            break at.rsplit_once(':').and_then(|(file, line)| Some((PathBuf::from(file), line.parse().ok()?)));
        }
        match key.rfind(['.', '[']) {
            Some(i) => key = &key[..i],
            None => break None,
        }
    };
    let (file, line) = match at {
        Some((file, line)) => (file, Some(line)),
        None => (top.to_path_buf(), None),
    };
    LmEvalError { file, line, key: e.key, message: e.message }
}

/// One top-level key of the merged configuration, with the file that wrote it.
#[derive(Debug)]
struct Entry {
    key: String,
    key_line: usize,
    value: Node,
    file: Arc<PathBuf>,
}

struct Config {
    entries: Vec<Entry>,
    top: Arc<PathBuf>,
}

impl Config {
    fn get(&self, key: &str) -> Option<Field<'_>> {
        self.entries.iter().find(|e| e.key == key).map(|e| Field { file: &e.file, key: &e.key, node: &e.value })
    }

    /// The key's value unless absent or null.
    fn present(&self, key: &str) -> Option<Field<'_>> {
        self.get(key).filter(|f| f.node.value != Value::Null)
    }

    fn missing(&self, key: &str, message: impl Into<String>) -> LmEvalError {
        LmEvalError { file: self.top.to_path_buf(), line: None, key: key.into(), message: message.into() }
    }

    fn location(&self, key: &str) -> Option<String> {
        self.entries.iter().find(|e| e.key == key).map(|e| format!("{}:{}", e.file.display(), e.key_line))
    }
}

/// Reads one file and its includes, merged as lm-eval's `load_yaml` merges them.
fn load(path: &Path, stack: &mut Vec<PathBuf>, files: &mut Vec<PathBuf>) -> Result<Vec<Entry>, LmEvalError> {
    let file = Arc::new(path.to_path_buf());
    let fail = |line, key: &str, message: String| LmEvalError { file: path.to_path_buf(), line, key: key.into(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail(None, "", format!("cannot read the task file: {e}")))?;
    if !files.iter().any(|f| f == path) {
        files.push(path.to_path_buf());
    }
    let root = yaml::parse(&text).map_err(|e| fail(Some(e.line), "", format!("YAML: {}", e.message)))?;
    let Value::Map(map) = root.value else {
        return Err(fail(Some(root.line), "", format!("a task file is a mapping of keys, this is {}", root.value.kind())));
    };
    let mut own = Vec::new();
    let mut include = None;
    for (key, value) in map {
        if let Some(tag) = &key.tag {
            return Err(fail(Some(key.line), "", format!("tag `{tag}` on a key is not supported")));
        }
        let Value::Str(name) = key.value else {
            return Err(fail(Some(key.line), "", format!("a key must be a string, this is {}", key.value.kind())));
        };
        if name == "include" {
            include = Some(value);
        } else {
            own.push(Entry { key: name, key_line: key.line, value, file: file.clone() });
        }
    }
    let Some(include) = include else { return Ok(own) };
    let names: Vec<&Node> = match &include.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![&include],
    };
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    stack.push(canonical);
    let mut merged: Vec<Entry> = Vec::new();
    for name in names {
        let Value::Str(rel) = &name.value else {
            return Err(fail(Some(name.line), "include", format!("expected a file name, found {}", name.value.kind())));
        };
        if name.tag.is_some() {
            return Err(fail(Some(name.line), "include", format!("tag `{}` is not supported here", name.tag.as_deref().unwrap_or(""))));
        }
        let target = join(path.parent().unwrap_or(Path::new("")), rel);
        if !target.is_file() {
            return Err(fail(Some(name.line), "include", format!("included file {} does not exist", target.display())));
        }
        let target_canonical = target.canonicalize().unwrap_or_else(|_| target.clone());
        if stack.contains(&target_canonical) {
            return Err(fail(Some(name.line), "include", format!("{} includes itself (through {})", target.display(), rel)));
        }
        for entry in load(&target, stack, files)? {
            // lm-eval drops an included file's `task_list` (it is that file's own group listing).
            if entry.key == "task_list" {
                continue;
            }
            upsert(&mut merged, entry);
        }
    }
    stack.pop();
    for entry in own {
        upsert(&mut merged, entry);
    }
    Ok(merged)
}

/// `dict.update` for one key: a later file's value replaces an earlier one's, keeping its place.
fn upsert(entries: &mut Vec<Entry>, entry: Entry) {
    match entries.iter_mut().find(|e| e.key == entry.key) {
        Some(slot) => *slot = entry,
        None => entries.push(entry),
    }
}

/// Python functions (`!function`) and other tags are rejected wherever they are, even under
/// keys that are otherwise ignored: lm-eval would import and run them.
fn check_tags(file: &Path, key: &str, node: &Node) -> Result<(), LmEvalError> {
    if let Some(tag) = &node.tag {
        let written = match &node.value {
            Value::Str(s) => format!("`{tag} {s}`"),
            _ => format!("`{tag}`"),
        };
        let message = if tag == "!function" {
            format!("{written} names a Python function; syco cannot run Python, so a task must use templates, fields and literals only")
        } else {
            format!("unknown YAML tag {written}")
        };
        return Err(LmEvalError { file: file.to_path_buf(), line: Some(node.line), key: key.into(), message });
    }
    match &node.value {
        Value::Seq(items) => items.iter().enumerate().try_for_each(|(i, item)| check_tags(file, &format!("{key}[{i}]"), item)),
        Value::Map(entries) => entries.iter().try_for_each(|(k, v)| {
            let name = match &k.value {
                Value::Str(s) => format!("{key}.{s}"),
                _ => key.to_string(),
            };
            check_tags(file, &name, k)?;
            check_tags(file, &name, v)
        }),
        _ => Ok(()),
    }
}

/// A value with its file and its key path, for typed access with located errors.
#[derive(Clone, Copy)]
struct Field<'a> {
    file: &'a Path,
    key: &'a str,
    node: &'a Node,
}

// `Field::key` borrows; the owning `String` lives in the entry or is built per child.
impl<'a> Field<'a> {
    fn err(&self, message: impl Into<String>) -> LmEvalError {
        LmEvalError { file: self.file.to_path_buf(), line: Some(self.node.line), key: self.key.to_string(), message: message.into() }
    }

    fn expected(&self, what: &str) -> LmEvalError {
        let found = match &self.node.value {
            Value::Bool(b) => format!("a boolean ({b}; YAML 1.1, as lm-eval reads it; quote it for a string)"),
            Value::Timestamp(t) => format!("a date ({t}; quote it for a string)"),
            other => other.kind().to_string(),
        };
        self.err(format!("expected {what}, found {found}"))
    }

    fn string(&self) -> Result<String, LmEvalError> {
        match &self.node.value {
            Value::Str(s) => Ok(s.clone()),
            _ => Err(self.expected("a string")),
        }
    }

    fn opt_string(&self) -> Result<Option<String>, LmEvalError> {
        match &self.node.value {
            Value::Null => Ok(None),
            _ => self.string().map(Some),
        }
    }

    fn boolean(&self) -> Result<bool, LmEvalError> {
        match &self.node.value {
            Value::Bool(b) => Ok(*b),
            _ => Err(self.expected("true or false")),
        }
    }

    fn int(&self) -> Result<i64, LmEvalError> {
        match &self.node.value {
            Value::Int(i) => Ok(*i),
            _ => Err(self.expected("an integer")),
        }
    }

    fn count(&self) -> Result<usize, LmEvalError> {
        let i = self.int()?;
        usize::try_from(i).map_err(|_| self.err(format!("expected a count (0 or more), found {i}")))
    }

    fn number(&self) -> Result<f64, LmEvalError> {
        match &self.node.value {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            _ => Err(self.expected("a number")),
        }
    }

    fn items(&self) -> Result<Vec<(String, &'a Node)>, LmEvalError> {
        match &self.node.value {
            Value::Seq(items) => Ok(items.iter().enumerate().map(|(i, n)| (format!("{}[{i}]", self.key), n)).collect()),
            _ => Err(self.expected("a list")),
        }
    }

    /// A mapping's entries with their key paths; keys must be strings.
    fn entries(&self) -> Result<Vec<(String, &'a Node, &'a Node)>, LmEvalError> {
        let Value::Map(entries) = &self.node.value else { return Err(self.expected("a mapping")) };
        entries
            .iter()
            .map(|(k, v)| match &k.value {
                Value::Str(s) => Ok((s.clone(), k, v)),
                other => Err(LmEvalError {
                    file: self.file.to_path_buf(),
                    line: Some(k.line),
                    key: self.key.to_string(),
                    message: format!("a key must be a string, this is {}", other.kind()),
                }),
            })
            .collect()
    }

    fn string_list(&self) -> Result<Vec<String>, LmEvalError> {
        self.items()?.iter().map(|(key, node)| Field { file: self.file, key, node }.string()).collect()
    }
}

/// A key that lm-eval acts on but syco does not support: why, and what to write instead.
fn unsupported(key: &str) -> Option<&'static str> {
    Some(match key {
        "process_docs" => "it runs a Python function over the records; prepare the data file instead",
        "process_results" => "it scores with a Python function; use metric_list",
        "use_prompt" => "it takes the prompt from promptsource; write doc_to_text / doc_to_target",
        "custom_dataset" => "it loads data with a Python function; use dataset_path json/csv/parquet with data_files",
        "doc_to_image" | "doc_to_audio" => "multimodal tasks",
        "gen_prefix" => "a prefix of the answer",
        "task_list" => "it defines a group of tasks; give one task per file",
        "class" => "it names a Python task class",
        "group_alias" | "aggregate_metric_list" => "it belongs to a group file; give one task per file",
        _ => return None,
    })
}

fn interpret(config: &Config) -> Result<LmEvalTask, LmEvalError> {
    const KNOWN: &[&str] = &[
        "task",
        "task_alias",
        "tag",
        "group",
        "metadata",
        "dataset_path",
        "dataset_name",
        "dataset_kwargs",
        "test_split",
        "validation_split",
        "training_split",
        "fewshot_split",
        "doc_to_text",
        "doc_to_target",
        "doc_to_choice",
        "description",
        "output_type",
        "target_delimiter",
        "fewshot_delimiter",
        "num_fewshot",
        "fewshot_config",
        "generation_kwargs",
        "filter_list",
        "metric_list",
        "repeats",
        "should_decontaminate",
        "doc_to_decontamination_query",
        "unsafe_code",
    ];
    for entry in &config.entries {
        let at = Field { file: &entry.file, key: &entry.key, node: &entry.value };
        if let Some(why) = unsupported(&entry.key) {
            return Err(LmEvalError { line: Some(entry.key_line), ..at.err(format!("not supported: {why}")) });
        }
        if !KNOWN.contains(&entry.key.as_str()) {
            return Err(LmEvalError { line: Some(entry.key_line), ..at.err("unknown key (not an lm-eval 0.4.13 task key syco supports)") });
        }
    }
    // Checked for their type only; they change nothing syco computes (names, bookkeeping,
    // decontamination reports).
    for key in ["task_alias", "doc_to_decontamination_query"] {
        if let Some(f) = config.present(key) {
            f.string()?;
        }
    }
    if let Some(f) = config.present("should_decontaminate") {
        f.boolean()?;
    }
    if let Some(f) = config.present("unsafe_code") {
        if f.boolean()? {
            return Err(f.err("tasks that execute generated code are not supported"));
        }
    }
    if let Some(f) = config.present("repeats") {
        if f.int()? != 1 {
            return Err(f.err("only `repeats: 1` is supported (syco generates once per request)"));
        }
    }

    let name = config.present("task").ok_or_else(|| config.missing("task", "missing: the task's name"))?.string()?;
    let output = match config.present("output_type") {
        // TaskConfig's default.
        None => OutputType::GenerateUntil,
        Some(f) => match f.string()?.as_str() {
            "multiple_choice" => OutputType::MultipleChoice,
            "generate_until" => OutputType::GenerateUntil,
            "loglikelihood" => OutputType::Loglikelihood,
            other => {
                return Err(
                    f.err(format!("output type `{other}` is not supported (supported: multiple_choice, generate_until, loglikelihood)"))
                )
            }
        },
    };

    let text = match config.present("doc_to_text") {
        Some(f) => template(f, &["a string", "an integer"])?,
        None => return Err(config.missing("doc_to_text", "missing: the prompt template (lm-eval fails without it)")),
    };
    let target = match config.present("doc_to_target") {
        Some(f) => template(f, &["a string", "an integer", "a list"])?,
        None => return Err(config.missing("doc_to_target", "missing: the answer template (lm-eval fails without it)")),
    };
    let choices = config.present("doc_to_choice").map(|f| template(f, &["a string", "a list"])).transpose()?;
    if output == OutputType::MultipleChoice && choices.is_none() {
        return Err(config.missing("doc_to_choice", "missing: multiple_choice needs the choices"));
    }
    let description = config.present("description").map(|f| f.string()).transpose()?.unwrap_or_default();
    let target_delimiter = config.get("target_delimiter").map(|f| f.string()).transpose()?.unwrap_or_else(|| " ".into());
    let fewshot_delimiter = config.get("fewshot_delimiter").map(|f| f.string()).transpose()?.unwrap_or_else(|| "\n\n".into());
    let n = config.present("num_fewshot").map(|f| f.count()).transpose()?.unwrap_or(0);

    let mut fewshot_config_split = None;
    if let Some(f) = config.present("fewshot_config") {
        for (key, _, node) in f.entries()? {
            let path = format!("fewshot_config.{key}");
            let field = Field { file: f.file, key: &path, node };
            match key.as_str() {
                "sampler" => {
                    let sampler = field.string()?;
                    if sampler != "default" {
                        return Err(field.err(format!(
                            "sampler `{sampler}` is not supported; syco draws few-shot examples as lm-eval's `default` sampler does"
                        )));
                    }
                }
                "split" => fewshot_config_split = Some(field.opt_string()?),
                "random_seed" => {
                    return Err(field
                        .err("lm-eval 0.4.13 has no fewshot_config.random_seed (the seed is the evaluator's fewshot_random_seed, 1234)"))
                }
                _ => return Err(field.err("not supported (supported in fewshot_config: sampler: default, split)")),
            }
        }
    }

    let generation = generation(config, output, &fewshot_delimiter)?;
    let filters = config.present("filter_list").map(filter_list).transpose()?.unwrap_or_default();
    let metrics = match config.present("metric_list") {
        Some(f) => metric_list(f, output)?,
        // lm-eval's DEFAULT_METRIC_REGISTRY.
        None => match output {
            OutputType::MultipleChoice => vec![Metric::plain(MetricName::Acc), Metric::plain(MetricName::AccNorm)],
            OutputType::GenerateUntil => vec![Metric::plain(MetricName::ExactMatch)],
            OutputType::Loglikelihood => {
                return Err(config.missing(
                    "metric_list",
                    "missing: lm-eval's default for loglikelihood is perplexity and acc, and syco has no perplexity; write metric_list: [{metric: acc}]",
                ))
            }
        },
    };

    let data = data(config, fewshot_config_split)?;

    let mut lines = BTreeMap::new();
    for key in [
        "task",
        "doc_to_text",
        "doc_to_target",
        "doc_to_choice",
        "description",
        "output_type",
        "target_delimiter",
        "fewshot_delimiter",
        "num_fewshot",
        "fewshot_config",
        "generation_kwargs",
        "filter_list",
        "metric_list",
    ] {
        if let Some(at) = config.location(key) {
            lines.insert(key.to_string(), at);
        }
    }
    for key in ["filter_list", "metric_list"] {
        if let Some(entry) = config.entries.iter().find(|e| e.key == key) {
            if let Value::Seq(items) = &entry.value.value {
                for (i, item) in items.iter().enumerate() {
                    lines.insert(format!("{key}[{i}]"), format!("{}:{}", entry.file.display(), item.line));
                }
            }
        }
    }

    let spec = TaskSpec {
        text,
        target,
        choices,
        description,
        output,
        choice_scoring: ChoiceScoring::Loglikelihood,
        target_delimiter,
        fewshot: FewShot { n, seed: 1234, delimiter: fewshot_delimiter, as_turns: false },
        generation,
        chat: false,
        filters,
        metrics,
        lines,
    };
    Ok(LmEvalTask { name, spec, data, files: Vec::new() })
}

/// `doc_to_*`: a string (field name or template), an integer, or a list of strings.
fn template(f: Field<'_>, allowed: &[&str]) -> Result<DocTemplate, LmEvalError> {
    let what = allowed.join(" or ");
    let t = match &f.node.value {
        Value::Str(s) => DocTemplate::Text(s.clone()),
        Value::Int(i) => DocTemplate::Int(*i),
        Value::Seq(_) => DocTemplate::List(f.string_list()?),
        _ => return Err(f.expected(&what)),
    };
    let kind = match t {
        DocTemplate::Text(_) => "a string",
        DocTemplate::Int(_) => "an integer",
        DocTemplate::List(_) => "a list",
    };
    if !allowed.contains(&kind) {
        return Err(f.expected(&what));
    }
    Ok(t)
}

fn generation(config: &Config, output: OutputType, fewshot_delimiter: &str) -> Result<Generation, LmEvalError> {
    // TaskConfig: no `until` = [fewshot_delimiter]; the model's max_gen_toks default is 256.
    let mut generation = Generation { until: vec![fewshot_delimiter.to_string()], max_gen_toks: 256 };
    let Some(f) = config.present("generation_kwargs") else { return Ok(generation) };
    if output != OutputType::GenerateUntil {
        return Err(f.err("generation_kwargs apply to generate_until only (lm-eval ignores them here, with a warning)"));
    }
    let mut do_sample = None;
    let mut temperature = None;
    // lm-eval's normalize_gen_kwargs takes the first of these that is given.
    let mut max_tokens: [Option<(usize, String)>; 4] = Default::default();
    const MAX_KEYS: [&str; 4] = ["max_gen_toks", "max_new_tokens", "max_tokens", "max_completion_tokens"];
    for (key, _, node) in f.entries()? {
        let path = format!("generation_kwargs.{key}");
        let field = Field { file: f.file, key: &path, node };
        match key.as_str() {
            "until" => {
                generation.until = match &node.value {
                    Value::Str(s) => vec![s.clone()],
                    Value::Seq(_) => field.string_list()?,
                    _ => return Err(field.expected("a string or a list of strings")),
                }
            }
            "do_sample" => do_sample = Some((field.boolean()?, path.clone(), node)),
            "temperature" => temperature = Some((field.number()?, path.clone(), node)),
            k if MAX_KEYS.contains(&k) => {
                let i = MAX_KEYS.iter().position(|m| *m == k).unwrap_or(0);
                let n = field.count()?;
                if n == 0 {
                    return Err(field.err("must be at least 1"));
                }
                max_tokens[i] = Some((n, path.clone()));
            }
            _ => return Err(field.err("not supported (supported: until, max_gen_toks, do_sample: false, temperature: 0)")),
        }
    }
    if let Some((n, _)) = max_tokens.into_iter().flatten().next() {
        generation.max_gen_toks = n;
    }
    // As normalize_gen_kwargs decides: do_sample false is greedy whatever the temperature; no
    // do_sample samples when the temperature is above 0.
    let sampling = match (&do_sample, &temperature) {
        (Some((true, path, node)), _) => Some((path, *node)),
        (None, Some((t, path, node))) if *t > 0.0 => Some((path, *node)),
        _ => None,
    };
    if let Some((path, node)) = sampling {
        let at = Field { file: f.file, key: path, node };
        return Err(at.err("sampling is not supported; syco decodes greedily (do_sample: false, temperature: 0)"));
    }
    Ok(generation)
}

fn filter_list(f: Field<'_>) -> Result<Vec<FilterPipeline>, LmEvalError> {
    let mut pipelines: Vec<FilterPipeline> = Vec::new();
    for (key, node) in f.items()? {
        let pipeline = Field { file: f.file, key: &key, node };
        let mut name = None;
        let mut steps = None;
        for (k, _, v) in pipeline.entries()? {
            let path = format!("{key}.{k}");
            let field = Field { file: f.file, key: &path, node: v };
            match k.as_str() {
                "name" => name = Some(field.string()?),
                "filter" => steps = Some(filter_steps(field)?),
                _ => return Err(field.err("not supported (a filter pipeline has `name` and `filter`)")),
            }
        }
        let name = name.ok_or_else(|| pipeline.err("missing `name`"))?;
        let steps = steps.ok_or_else(|| pipeline.err("missing `filter` (the list of steps)"))?;
        if pipelines.iter().any(|p| p.name == name) {
            return Err(pipeline.err(format!("a second pipeline named `{name}`")));
        }
        pipelines.push(FilterPipeline { name, steps });
    }
    Ok(pipelines)
}

fn filter_steps(f: Field<'_>) -> Result<Vec<FilterStep>, LmEvalError> {
    let mut steps = Vec::new();
    for (key, node) in f.items()? {
        let step = Field { file: f.file, key: &key, node };
        let entries = step.entries()?;
        let function = entries.iter().find(|(k, _, _)| k == "function").ok_or_else(|| step.err("missing `function`"))?;
        let function_key = format!("{key}.function");
        let function_field = Field { file: f.file, key: &function_key, node: function.2 };
        let function = function_field.string()?;
        // RegexFilter's defaults.
        let mut regex_pattern = r"#### (\-?[0-9\.\,]+)".to_string();
        let mut group_select = 0;
        let mut fallback = "[invalid]".to_string();
        for (k, _, v) in &entries {
            if k == "function" {
                continue;
            }
            let path = format!("{key}.{k}");
            let field = Field { file: f.file, key: &path, node: v };
            match (function.as_str(), k.as_str()) {
                ("regex", "regex_pattern") => regex_pattern = field.string()?,
                ("regex", "group_select") => group_select = field.int()?,
                ("regex", "fallback") => fallback = field.string()?,
                _ => return Err(field.err(format!("filter `{function}` takes no argument `{k}`"))),
            }
        }
        steps.push(match function.as_str() {
            "regex" => FilterStep::Regex { regex_pattern, group_select, fallback },
            "take_first" => FilterStep::TakeFirst,
            "lowercase" => FilterStep::Lowercase,
            "uppercase" => FilterStep::Uppercase,
            "remove_whitespace" => FilterStep::RemoveWhitespace,
            other => {
                return Err(function_field.err(format!(
                    "filter `{other}` is not supported (supported: regex, take_first, lowercase, uppercase, remove_whitespace)"
                )))
            }
        });
    }
    Ok(steps)
}

fn metric_list(f: Field<'_>, output: OutputType) -> Result<Vec<Metric>, LmEvalError> {
    let mut metrics: Vec<Metric> = Vec::new();
    for (key, node) in f.items()? {
        let item = Field { file: f.file, key: &key, node };
        let entries = item.entries()?;
        let (_, _, metric_node) = entries.iter().find(|(k, _, _)| k == "metric").ok_or_else(|| item.err("missing `metric`"))?;
        let metric_key = format!("{key}.metric");
        let metric_field = Field { file: f.file, key: &metric_key, node: metric_node };
        let name = metric_field.string()?;
        let (metric, valid) = match name.as_str() {
            "acc" => (MetricName::Acc, output != OutputType::GenerateUntil),
            "acc_norm" => (MetricName::AccNorm, output == OutputType::MultipleChoice),
            "exact_match" => (MetricName::ExactMatch, output == OutputType::GenerateUntil),
            other => {
                return Err(metric_field.err(format!(
                    "metric `{other}` is not supported (supported: acc and acc_norm for multiple_choice, acc for loglikelihood, exact_match for generate_until)"
                )))
            }
        };
        if !valid {
            let output = serde_json::to_value(output).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            return Err(metric_field.err(format!("metric `{name}` is not supported for output_type {output}")));
        }
        if metrics.iter().any(|m| m.metric == metric) {
            return Err(metric_field.err(format!("`{name}` is listed twice")));
        }
        let mut m = Metric::plain(metric);
        for (k, _, v) in &entries {
            let path = format!("{key}.{k}");
            let field = Field { file: f.file, key: &path, node: v };
            let exact = metric == MetricName::ExactMatch;
            match k.as_str() {
                "metric" => {}
                "aggregation" => {
                    if field.string()? != "mean" {
                        return Err(field.err("only `aggregation: mean` is supported"));
                    }
                }
                "higher_is_better" => {
                    if !field.boolean()? {
                        return Err(field.err("`higher_is_better: false` is wrong for this metric"));
                    }
                }
                "ignore_case" if exact => m.ignore_case = field.boolean()?,
                "ignore_punctuation" if exact => m.ignore_punctuation = field.boolean()?,
                "ignore_numbers" if exact => m.ignore_numbers = field.boolean()?,
                // lm-eval iterates over it, so a single string would be taken letter by letter.
                "regexes_to_ignore" if exact => m.regexes_to_ignore = field.string_list()?,
                _ => return Err(field.err(format!("not supported for metric `{name}`"))),
            }
        }
        metrics.push(m);
    }
    Ok(metrics)
}

fn data(config: &Config, fewshot_config_split: Option<Option<String>>) -> Result<LmEvalData, LmEvalError> {
    let path_field = config.present("dataset_path").ok_or_else(|| {
        config.missing(
            "dataset_path",
            "missing: syco reads local files, `dataset_path: json` (or csv, parquet) with dataset_kwargs.data_files",
        )
    })?;
    let builder = match path_field.string()?.as_str() {
        "json" => DataBuilder::Json,
        "csv" => DataBuilder::Csv,
        "parquet" => DataBuilder::Parquet,
        other => {
            return Err(path_field.err(format!(
                "`{other}` is a Hub dataset or another builder; syco does not download: download the data, then write \
                 `dataset_path: json` (or csv, parquet) and list the files under dataset_kwargs.data_files"
            )))
        }
    };
    let dataset_name = config.present("dataset_name").map(|f| f.string()).transpose()?;
    let kwargs = config
        .present("dataset_kwargs")
        .ok_or_else(|| config.missing("dataset_kwargs", "missing: dataset_kwargs.data_files, the local files of each split"))?;
    let mut data_files = None;
    for (key, _, node) in kwargs.entries()? {
        let path = format!("dataset_kwargs.{key}");
        let field = Field { file: kwargs.file, key: &path, node };
        match key.as_str() {
            "data_files" => data_files = Some(files_by_split(field)?),
            _ => return Err(field.err("not supported (supported in dataset_kwargs: data_files)")),
        }
    }
    let data_files = data_files.ok_or_else(|| kwargs.err("missing `data_files`, the local files of each split"))?;

    let split = |key: &str| -> Result<Option<String>, LmEvalError> {
        let Some(f) = config.get(key) else { return Ok(None) };
        let Some(name) = f.opt_string()? else { return Ok(None) };
        if !data_files.contains_key(&name) {
            let known: Vec<&str> = data_files.keys().map(String::as_str).collect();
            return Err(f.err(format!("split `{name}` is not in dataset_kwargs.data_files (splits: {})", known.join(", "))));
        }
        Ok(Some(name))
    };
    let test_split = split("test_split")?;
    let validation_split = split("validation_split")?;
    let training_split = split("training_split")?;
    let mut fewshot_split = split("fewshot_split")?;
    if let Some(overriding) = fewshot_config_split {
        if let Some(name) = &overriding {
            if !data_files.contains_key(name) {
                let f = config.present("fewshot_config").unwrap_or(kwargs);
                return Err(f.err(format!("fewshot_config.split `{name}` is not in dataset_kwargs.data_files")));
            }
        }
        fewshot_split = overriding;
    }
    if test_split.is_none() && validation_split.is_none() {
        return Err(config.missing("test_split", "missing: lm-eval evaluates test_split, else validation_split; give one"));
    }
    Ok(LmEvalData { builder, dataset_name, data_files, test_split, validation_split, training_split, fewshot_split })
}

/// `data_files` as HF datasets takes it: a file or a list (the split `train`), or split -> file(s).
fn files_by_split(f: Field<'_>) -> Result<BTreeMap<String, Vec<PathBuf>>, LmEvalError> {
    let dir = f.file.parent().unwrap_or(Path::new(""));
    let resolve = |field: Field<'_>| -> Result<Vec<PathBuf>, LmEvalError> {
        let names = match &field.node.value {
            Value::Str(s) => vec![s.clone()],
            Value::Seq(_) => field.string_list()?,
            _ => return Err(field.expected("a file name or a list of file names")),
        };
        if names.is_empty() {
            return Err(field.err("no files"));
        }
        names
            .into_iter()
            .map(|name| {
                if name.contains("://") {
                    return Err(field.err(format!("`{name}` is a URL; syco reads local files only")));
                }
                if name.contains(['*', '?']) {
                    return Err(field.err(format!("`{name}` is a glob pattern; list the files")));
                }
                Ok(join(dir, &name))
            })
            .collect()
    };
    let mut out = BTreeMap::new();
    match &f.node.value {
        Value::Str(_) | Value::Seq(_) => {
            out.insert("train".to_string(), resolve(f)?);
        }
        Value::Map(_) => {
            for (split, _, node) in f.entries()? {
                let path = format!("{}.{split}", f.key);
                out.insert(split, resolve(Field { file: f.file, key: &path, node })?);
            }
            if out.is_empty() {
                return Err(f.err("no splits"));
            }
        }
        _ => return Err(f.expected("a file name, a list of file names, or split -> files")),
    }
    Ok(out)
}

/// `dir/rel` with `.` and `name/..` folded away, so a file reached through an include
/// (`nested/../data/x.jsonl`) is named once, the same way, in errors and cache keys.
fn join(dir: &Path, rel: &str) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in dir.join(rel).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
