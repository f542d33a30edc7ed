//! The ML sections of a manifest (`[model.*]`, `[datasets.*]`, `[adapters.*]`, `[defaults.*]`,
//! `[eval]`, `[analysis]`, `[import.*]`, `[[expect]]`) turned into stage definitions.
//!
//! Stage ids and what each reads:
//! `model/M` (nothing) · `data/D` (nothing or a file) · `train/A` (model + its datasets) ·
//! `combine/A` (other adapters) · `respond/MODEL/TASK` (model [+ adapter] + dataset) ·
//! `eval/MODEL/TASK` (responses + dataset) · `probe/P` (a task's records, a file, or nothing) ·
//! `respond/MODEL/P` (model [+ adapter] + probe) · `judge/MODEL/P` (the judge model + probe + responses) ·
//! `eval/MODEL/P` (probe + responses [+ judgements]) · `import/MODEL` (files) · `analysis` (every eval/import).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use syco_analysis::expect::Expectation;
use syco_core::manifest::{Manifest, ManifestError};
use syco_core::stage::{InputRef, Resources, SectionPlanner, StageDef};
use syco_data::Kind;
use syco_eval::Scoring;

use crate::stages::analysis::{AnalysisParams, ImportParams, ModelEntry};
use crate::stages::best_of_n::{BonEvalParams, PmParams, SampleParams, DEFAULT_PM_TEMPLATE, NON_SYCOPHANTIC_PREFIX, PMS, PM_PLACEHOLDERS};
use crate::stages::dataset::{stream_input, DatasetParams};
use crate::stages::eval::{EvalParams, RespondParams};
use crate::stages::model::ModelParams;
use crate::stages::probe::{ProbeEvalParams, ProbeParams, ProbeRespondParams};
use crate::stages::runtime::{Dtype, Matmul, ModelRuntime, PromptFormat};
use crate::stages::task::{TaskDataParams, TaskEvalParams, TaskRespondParams};
use crate::stages::train::{CombineMethodName, CombineParams, TrainParams};

/// `[model.NAME]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub source: Value,
    #[serde(default = "auto")]
    pub chat_template: String,
    #[serde(default)]
    pub dtype: Dtype,
    #[serde(default = "cpu")]
    pub device: String,
    #[serde(default)]
    pub prompt_format: PromptFormat,
    /// bf16: evaluation's products take bf16 operands with f32 sums (AMX tiles on CPUs that
    /// have them). Training is unaffected.
    #[serde(default)]
    pub matmul: Matmul,
}

/// `[adapters.NAME]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSpec {
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub data: Vec<String>,
    #[serde(default)]
    pub mix: Option<Value>,
    #[serde(default)]
    pub lora: Option<toml::Table>,
    #[serde(default)]
    pub train: Option<toml::Table>,
    /// Build this adapter from existing ones instead of training: `combine = ["a", "b"]`.
    #[serde(default)]
    pub combine: Vec<String>,
    #[serde(default)]
    pub method: CombineMethodName,
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    #[serde(default)]
    pub rank: Option<usize>,
}

/// `[eval]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    #[serde(default = "all_models")]
    pub models: Vec<String>,
    #[serde(default)]
    pub benchmarks: Vec<String>,
    #[serde(default)]
    pub sycophancy: Vec<String>,
    /// Open tasks (`[tasks.NAME]`) to evaluate; every declared task when absent.
    #[serde(default)]
    pub tasks: Option<Vec<String>>,
    /// Sycophancy probes (`[probes.NAME]`) to run; every declared probe when absent.
    #[serde(default)]
    pub probes: Option<Vec<String>>,
    #[serde(default)]
    pub scoring: Scoring,
    #[serde(default = "batch")]
    pub batch_size: usize,
    /// Items per task (all when absent).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Per-task overrides of `limit` (`task_limits = { gsm8k = 100 }`): the first N test items.
    #[serde(default)]
    pub task_limits: BTreeMap<String, usize>,
    /// Per-task overrides of the study's max_new_tokens.
    #[serde(default)]
    pub max_new_tokens: BTreeMap<String, usize>,
    #[serde(default)]
    pub seed: Option<u64>,
}

/// `[best_of_n.NAME]`: sample a probe's conversations, pick the best of N by a preference model.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BestOfNSpec {
    /// A `[probes.NAME]` whose conversations are sampled (their last turn).
    pub probe: String,
    /// The model or adapter sampled (the only model when absent).
    #[serde(default)]
    pub policy: Option<String>,
    /// The preference model: a model or adapter (the policy when absent).
    #[serde(default)]
    pub pm: Option<String>,
    #[serde(default = "default_n_max")]
    pub n_max: usize,
    #[serde(default = "one")]
    pub temperature: f64,
    #[serde(default = "one")]
    pub top_p: f64,
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// The PM's question, with `{conversation}` (or `{prompt}` and `{response}`).
    #[serde(default)]
    pub pm_template: Option<String>,
    /// The preference token and its opposite.
    #[serde(default)]
    pub pm_tokens: Option<[String; 2]>,
    /// What the non-sycophantic PM is told first.
    #[serde(default)]
    pub non_sycophantic_prefix: Option<String>,
}

fn default_n_max() -> usize {
    4
}
fn one() -> f64 {
    1.0
}

/// `[analysis]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSpec {
    #[serde(default)]
    pub baseline: Option<String>,
    #[serde(default)]
    pub models: Option<Vec<String>>,
    #[serde(default)]
    pub bootstrap: Option<usize>,
}

fn auto() -> String {
    "auto".into()
}
fn cpu() -> String {
    "cpu".into()
}
fn batch() -> usize {
    16
}
fn all_models() -> Vec<String> {
    vec!["*".into()]
}

pub struct MlPlanner;

impl SectionPlanner for MlPlanner {
    fn sections(&self) -> &'static [&'static str] {
        &["model", "datasets", "tasks", "probes", "best_of_n", "adapters", "defaults", "eval", "analysis", "import", "expect"]
    }

    fn plan(&self, m: &Manifest, out: &mut Vec<StageDef>) -> Result<(), ManifestError> {
        let mut p = Planner {
            m,
            out,
            models: BTreeMap::new(),
            datasets: BTreeMap::new(),
            tasks: BTreeMap::new(),
            probes: BTreeMap::new(),
            adapters: BTreeMap::new(),
        };
        p.models()?;
        p.datasets()?;
        p.tasks()?;
        p.probes()?;
        p.adapters()?;
        let mut evaluated = p.evals()?;
        evaluated.best_of_n = p.best_of_n()?;
        let imported = p.imports()?;
        p.analysis(evaluated, imported)?;
        Ok(())
    }
}

struct Planner<'a> {
    m: &'a Manifest,
    out: &'a mut Vec<StageDef>,
    models: BTreeMap<String, ModelSpec>,
    datasets: BTreeMap<String, DatasetParams>,
    /// Open tasks (`[tasks.NAME]`); their records are the stage `data/NAME` too.
    tasks: BTreeMap<String, TaskDataParams>,
    /// Sycophancy probes (`[probes.NAME]`, stage `probe/NAME`) -> the judge of a feedback probe.
    probes: BTreeMap<String, (ProbeParams, Option<String>)>,
    /// adapter name -> (stage id, base model name)
    adapters: BTreeMap<String, (String, String)>,
}

/// What the analysis stage gets per evaluated model: task -> eval stage id, for the study's
/// kinds and for open tasks.
#[derive(Default)]
struct Evaluated {
    study: BTreeMap<String, BTreeMap<String, String>>,
    open: BTreeMap<String, BTreeMap<String, String>>,
    probes: BTreeMap<String, BTreeMap<String, String>>,
    /// `[best_of_n.NAME]` -> its `bon/NAME` stage id.
    best_of_n: BTreeMap<String, String>,
}

impl Evaluated {
    fn contains(&self, model: &str) -> bool {
        self.study.contains_key(model) || self.open.contains_key(model) || self.probes.contains_key(model)
    }
}

impl Planner<'_> {
    /// Adds a stage; `params` is its kind's own params struct. The caller sets where it runs
    /// and what it publishes on the definition returned.
    fn stage(&mut self, id: String, kind: &str, params: &impl Serialize, inputs: Vec<(String, String)>, origin: &[&str]) -> &mut StageDef {
        self.out.push(StageDef {
            id,
            kind: kind.to_string(),
            params: serde_json::to_value(params).expect("stage params serialise to JSON"),
            inputs: inputs.into_iter().map(|(name, stage)| InputRef { name, stage }).collect(),
            resources: Resources::default(),
            publish: None,
            origin: Some(self.m.locate(origin)),
        });
        self.out.last_mut().expect("just pushed")
    }

    fn models(&mut self) -> Result<(), ManifestError> {
        for name in self.m.table_keys(&["model"]) {
            let spec: ModelSpec = self.m.deserialize(&["model", &name])?;
            let origin = ["model", name.as_str()];
            let params = ModelParams { source: spec.source.clone() };
            self.stage(format!("model/{name}"), "model", &params, vec![], &origin);
            self.models.insert(name, spec);
        }
        Ok(())
    }

    fn datasets(&mut self) -> Result<(), ManifestError> {
        // Carried random streams: name -> (seed, the last dataset drawing from it so far).
        let mut streams: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for name in self.m.table_keys(&["datasets"]) {
            let spec: DatasetParams = self.m.deserialize(&["datasets", &name])?;
            let path = ["datasets", name.as_str()];
            let mut inputs = vec![];
            for from in &spec.from {
                if !self.datasets.contains_key(from) {
                    return Err(self.m.error(&["datasets", &name, "from"], format!("no dataset `{from}` is declared above this one")));
                }
                inputs.push((from.clone(), format!("data/{from}")));
            }
            let has_one = spec.source.is_some();
            let has_two = spec.train_source.is_some() || spec.test_source.is_some();
            if has_one && has_two {
                return Err(self.m.error(&path, "give either `source` or `train_source`/`test_source`, not both"));
            }
            if !has_one && !has_two && spec.from.is_empty() {
                return Err(self.m.error(&path, "missing `source` (or `train_source`/`test_source`, or `from` for antisyc)"));
            }
            for (field, value) in [("split", &spec.split), ("sample", &spec.sample)] {
                let Some(stream) = value.as_ref().and_then(|v| v.get("stream")) else { continue };
                let Some(stream) = stream.as_str() else {
                    return Err(self.m.error(&["datasets", &name, field, "stream"], "expected a stream name (a string)"));
                };
                let seed = value.as_ref().and_then(|v| v.get("seed")).and_then(Value::as_u64).unwrap_or(42);
                match streams.get(stream) {
                    Some((first_seed, _)) if *first_seed != seed => {
                        return Err(self.m.error(
                            &["datasets", &name, field],
                            format!("stream `{stream}` is seeded with {first_seed} by an earlier dataset; every dataset in a stream takes the same seed"),
                        ))
                    }
                    Some((_, prev)) if *prev != name => inputs.push((stream_input(stream), format!("data/{prev}"))),
                    _ => {}
                }
                streams.insert(stream.to_string(), (seed, name.clone()));
            }
            self.stage(format!("data/{name}"), "dataset", &spec, inputs, &path).publish = Some(format!("data/{name}"));
            self.datasets.insert(name, spec);
        }
        Ok(())
    }

    fn tasks(&mut self) -> Result<(), ManifestError> {
        for name in self.m.table_keys(&["tasks"]) {
            let at = ["tasks", name.as_str()];
            if self.datasets.contains_key(&name) {
                return Err(self.m.error(&at, format!("`{name}` is both a dataset and a task; give them different names")));
            }
            let params = crate::task_table::resolve(self.m, &name)?;
            self.stage(format!("data/{name}"), "task", &params, vec![], &at).publish = Some(format!("data/{name}"));
            self.tasks.insert(name, params);
        }
        Ok(())
    }

    fn probes(&mut self) -> Result<(), ManifestError> {
        let tasks: Vec<String> = self.tasks.keys().cloned().collect();
        for name in self.m.table_keys(&["probes"]) {
            let at = ["probes", name.as_str()];
            if self.datasets.contains_key(&name) || self.tasks.contains_key(&name) {
                return Err(self.m.error(&at, format!("`{name}` is already a dataset or task; give the probe another name")));
            }
            let resolved = crate::probe_table::resolve(self.m, &name, &tasks, experiment_seed(self.m))?;
            let inputs = match &resolved.params.task {
                Some(task) => vec![("data".to_string(), format!("data/{task}"))],
                None => vec![],
            };
            self.stage(format!("probe/{name}"), "probe", &resolved.params, inputs, &at).publish = Some(format!("probes/{name}"));
            self.probes.insert(name, (resolved.params, resolved.judge));
        }
        Ok(())
    }

    fn default_model(&self, at: &[&str]) -> Result<String, ManifestError> {
        match self.models.keys().next() {
            Some(first) if self.models.len() == 1 => Ok(first.clone()),
            Some(_) => Err(self.m.error(at, "several models are declared: say which with `base = \"NAME\"`")),
            None => Err(self.m.error(at, "no [model.NAME] is declared")),
        }
    }

    fn adapters(&mut self) -> Result<(), ManifestError> {
        let lora_defaults = self.m.get(&["defaults", "lora"]).and_then(|v| v.as_table()).cloned().unwrap_or_default();
        let train_defaults = self.m.get(&["defaults", "train"]).and_then(|v| v.as_table()).cloned().unwrap_or_default();
        for key in self.m.table_keys(&["defaults"]) {
            if key != "lora" && key != "train" {
                return Err(self.m.error(&["defaults", &key], "unknown defaults table; expected `lora` or `train`"));
            }
        }
        let names = self.m.table_keys(&["adapters"]);
        // Trained adapters first, then combinations of them, whatever the file order.
        let (combos, trained): (Vec<_>, Vec<_>) = names.iter().cloned().partition(|n| self.m.get(&["adapters", n, "combine"]).is_some());
        for name in trained.iter().chain(combos.iter()) {
            let spec: AdapterSpec = self.m.deserialize(&["adapters", name])?;
            let at = ["adapters", name.as_str()];
            if name == "base" || self.models.contains_key(name) {
                return Err(self.m.error(&at, "an adapter cannot share its name with a model"));
            }
            let base = match &spec.base {
                Some(b) if self.models.contains_key(b) => b.clone(),
                Some(b) => {
                    return Err(self.m.error(
                        &["adapters", name, "base"],
                        format!("no model `{b}`; declared: {}", self.models.keys().cloned().collect::<Vec<_>>().join(", ")),
                    ))
                }
                None => self.default_model(&at)?,
            };
            let model = self.models[&base].clone();
            if !spec.combine.is_empty() {
                let mut inputs = vec![];
                for part in &spec.combine {
                    match self.adapters.get(part) {
                        Some((stage, _)) => inputs.push((part.clone(), stage.clone())),
                        None => return Err(self.m.error(&["adapters", name, "combine"], format!("no adapter `{part}`"))),
                    }
                }
                let params =
                    CombineParams { parts: spec.combine.clone(), method: spec.method, weights: spec.weights.clone(), rank: spec.rank };
                let id = format!("combine/{name}");
                self.stage(id.clone(), "combine", &params, inputs, &at).publish = Some(format!("adapters/{name}"));
                self.adapters.insert(name.clone(), (id, base));
                continue;
            }
            if spec.data.is_empty() {
                return Err(self.m.error(&at, "an adapter needs `data = [\"DATASET\", ...]` (or `combine = [...]`)"));
            }
            let mut inputs = vec![("model".to_string(), format!("model/{base}"))];
            for d in &spec.data {
                if let Some(task) = self.tasks.get(d) {
                    if task.train_split.is_none() {
                        return Err(self.m.error(
                            &["adapters", name, "data"],
                            format!("task `{d}` has no training split (give it `split = {{ train = N, ... }}` or `files.train`)"),
                        ));
                    }
                } else if !self.datasets.contains_key(d) {
                    let declared: Vec<String> = self.datasets.keys().chain(self.tasks.keys()).cloned().collect();
                    return Err(self
                        .m
                        .error(&["adapters", name, "data"], format!("no dataset or task `{d}`; declared: {}", declared.join(", "))));
                }
                inputs.push((format!("data/{d}"), format!("data/{d}")));
            }
            let lora = merged(&lora_defaults, spec.lora.as_ref());
            let train = merged(&train_defaults, spec.train.as_ref());
            // Read the tables now, so a typo is reported with its line before anything runs.
            let tables = TrainParams::tables(&toml_to_json(&toml::Value::Table(lora)), &toml_to_json(&toml::Value::Table(train)));
            let (lora, train) = match tables {
                Ok(t) => t,
                Err((table, field, msg)) => {
                    let own = if table == "lora" { spec.lora.as_ref() } else { spec.train.as_ref() };
                    let at: Vec<&str> = match own.is_some_and(|t| t.contains_key(&field)) {
                        true => vec!["adapters", name, table, &field],
                        false if lora_defaults.contains_key(&field) || train_defaults.contains_key(&field) => {
                            vec!["defaults", table, &field]
                        }
                        false => vec!["adapters", name],
                    };
                    return Err(self.m.error(&at, format!("{table}: {msg}")));
                }
            };
            let params = TrainParams { data: spec.data.clone(), mix: spec.mix.clone(), lora, train, model: model_runtime(&model) };
            let id = format!("train/{name}");
            let def = self.stage(id.clone(), "train", &params, inputs, &at);
            def.resources = exclusive(&model.device);
            def.publish = Some(format!("adapters/{name}"));
            self.adapters.insert(name.clone(), (id, base));
        }
        Ok(())
    }

    /// `[eval] models`: "NAME" of a model, "adapters.NAME", "adapters.*", or "*" for everything.
    fn eval_models(&self, spec: &EvalSpec) -> Result<Vec<(String, String, Option<String>)>, ManifestError> {
        let mut chosen: Vec<(String, String, Option<String>)> = vec![];
        let mut push = |name: String, base: String, adapter: Option<String>| {
            if !chosen.iter().any(|(n, _, _)| *n == name) {
                chosen.push((name, base, adapter));
            }
        };
        for entry in &spec.models {
            if entry == "*" || entry == "adapters.*" {
                if entry == "*" {
                    for m in self.models.keys() {
                        push(m.clone(), m.clone(), None);
                    }
                }
                for (a, (stage, base)) in &self.adapters {
                    push(a.clone(), base.clone(), Some(stage.clone()));
                }
            } else if let Some(a) = entry.strip_prefix("adapters.") {
                match self.adapters.get(a) {
                    Some((stage, base)) => push(a.to_string(), base.clone(), Some(stage.clone())),
                    None => return Err(self.m.error(&["eval", "models"], format!("no adapter `{a}`"))),
                }
            } else if self.models.contains_key(entry) {
                push(entry.clone(), entry.clone(), None);
            } else {
                return Err(self.m.error(&["eval", "models"], format!("`{entry}` is neither a model nor `adapters.NAME`")));
            }
        }
        Ok(chosen)
    }

    fn evals(&mut self) -> Result<Evaluated, ManifestError> {
        let mut evaluated = Evaluated::default();
        if self.m.get(&["eval"]).is_none() {
            return Ok(evaluated);
        }
        let spec: EvalSpec = self.m.deserialize(&["eval"])?;
        let tasks: Vec<(String, &str)> = spec
            .benchmarks
            .iter()
            .map(|t| (t.clone(), "benchmarks"))
            .chain(spec.sycophancy.iter().map(|t| (t.clone(), "sycophancy")))
            .collect();
        for (task, field) in &tasks {
            let Some(ds) = self.datasets.get(task) else {
                return Err(self.m.error(&["eval", field], format!("no dataset `{task}` to evaluate on")));
            };
            let allowed: &[Kind] = if *field == "benchmarks" { &Kind::BENCHMARKS } else { &Kind::SYCOPHANCY };
            if !allowed.contains(&ds.kind) {
                let names: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
                return Err(self.m.error(
                    &["eval", field],
                    format!("dataset `{task}` has kind `{}`, which is not one of {}", ds.kind, names.join(", ")),
                ));
            }
        }
        // The analysis files results under their kind (the study's columns), so two evaluated
        // datasets of one kind would overwrite each other there: refuse instead.
        let mut by_kind: BTreeMap<Kind, &str> = BTreeMap::new();
        for (task, field) in &tasks {
            if let Some(first) = by_kind.insert(self.datasets[task].kind, task).filter(|first| first != task) {
                return Err(self.m.error(
                    &["eval", field],
                    format!(
                        "datasets `{first}` and `{task}` both have kind `{}`; [eval] takes one dataset per kind, since results are filed by kind",
                        self.datasets[task].kind
                    ),
                ));
            }
        }
        let open: Vec<String> = match &spec.tasks {
            None => self.tasks.keys().cloned().collect(),
            Some(list) => {
                for t in list {
                    if !self.tasks.contains_key(t) {
                        let declared: Vec<&str> = self.tasks.keys().map(String::as_str).collect();
                        let hint = match declared.is_empty() {
                            true => "no [tasks.NAME] is declared".to_string(),
                            false => format!("declared: {}", declared.join(", ")),
                        };
                        return Err(self.m.error(&["eval", "tasks"], format!("no task `{t}`; {hint}")));
                    }
                }
                list.clone()
            }
        };
        let probes: Vec<String> = match &spec.probes {
            None => self.probes.keys().cloned().collect(),
            Some(list) => {
                for p in list {
                    if !self.probes.contains_key(p) {
                        let declared: Vec<&str> = self.probes.keys().map(String::as_str).collect();
                        let hint = match declared.is_empty() {
                            true => "no [probes.NAME] is declared".to_string(),
                            false => format!("declared: {}", declared.join(", ")),
                        };
                        return Err(self.m.error(&["eval", "probes"], format!("no probe `{p}`; {hint}")));
                    }
                }
                list.clone()
            }
        };
        // A per-task setting for a task that is not evaluated would silently do nothing.
        for (field, named) in [("task_limits", &spec.task_limits), ("max_new_tokens", &spec.max_new_tokens)] {
            for task in named.keys() {
                if !tasks.iter().any(|(t, _)| t == task) && !open.contains(task) {
                    let evaluated: Vec<&str> = tasks.iter().map(|(t, _)| t.as_str()).chain(open.iter().map(String::as_str)).collect();
                    return Err(self.m.error(
                        &["eval", field, task],
                        format!("`{task}` is not an evaluated task (evaluated: {})", evaluated.join(", ")),
                    ));
                }
            }
        }
        let limit_of = |task: &str| spec.task_limits.get(task).copied().or(spec.limit);
        let models = self.eval_models(&spec)?;
        for (name, base, adapter) in &models {
            for probe in &probes {
                let eval = self.probe_stages(&spec, &models, name, base, adapter.as_deref(), probe)?;
                evaluated.probes.entry(name.clone()).or_default().insert(probe.clone(), eval);
            }
        }
        for (name, base, adapter) in models {
            let model = self.models[&base].clone();
            for (task, _) in &tasks {
                let kind = self.datasets[task].kind;
                let mut inputs = vec![("model".to_string(), format!("model/{base}")), ("data".to_string(), format!("data/{task}"))];
                if let Some(a) = &adapter {
                    inputs.push(("adapter".to_string(), a.clone()));
                }
                let respond_params = RespondParams {
                    task: kind,
                    scoring: spec.scoring,
                    batch_size: spec.batch_size,
                    limit: limit_of(task),
                    max_new_tokens: spec.max_new_tokens.get(task).copied(),
                    seed: spec.seed.unwrap_or(experiment_seed(self.m)),
                    model: model_runtime(&model),
                    matmul: model.matmul,
                };
                let respond = format!("respond/{name}/{task}");
                self.stage(respond.clone(), "respond", &respond_params, inputs, &["eval"]).resources = exclusive(&model.device);
                let eval = format!("eval/{name}/{task}");
                let eval_params = EvalParams { task: kind, scoring: spec.scoring, limit: limit_of(task) };
                let inputs = vec![("responses".to_string(), respond), ("data".to_string(), format!("data/{task}"))];
                self.stage(eval.clone(), "eval", &eval_params, inputs, &["eval"]).publish = Some(format!("models/{name}/{task}"));
                evaluated.study.entry(name.clone()).or_default().insert(kind.as_str().to_string(), eval);
            }
            for task in &open {
                let mut inputs = vec![("model".to_string(), format!("model/{base}")), ("data".to_string(), format!("data/{task}"))];
                if let Some(a) = &adapter {
                    inputs.push(("adapter".to_string(), a.clone()));
                }
                let respond_params = TaskRespondParams {
                    task: task.clone(),
                    batch_size: spec.batch_size,
                    limit: limit_of(task),
                    max_new_tokens: spec.max_new_tokens.get(task).copied(),
                    model: model_runtime(&model),
                    matmul: model.matmul,
                };
                let respond = format!("respond/{name}/{task}");
                self.stage(respond.clone(), "task_respond", &respond_params, inputs, &["eval"]).resources = exclusive(&model.device);
                let eval = format!("eval/{name}/{task}");
                let inputs = vec![("responses".to_string(), respond), ("data".to_string(), format!("data/{task}"))];
                let params = TaskEvalParams { task: task.clone() };
                self.stage(eval.clone(), "task_eval", &params, inputs, &["eval"]).publish = Some(format!("models/{name}/{task}"));
                evaluated.open.entry(name.clone()).or_default().insert(task.clone(), eval);
            }
        }
        Ok(evaluated)
    }

    /// `respond/M/P`, for feedback `judge/M/P`, and `eval/M/P` of one probe on one model; the
    /// eval stage's id. The judge is any evaluated model or adapter, or a declared model.
    fn probe_stages(
        &mut self,
        spec: &EvalSpec,
        models: &[(String, String, Option<String>)],
        name: &str,
        base: &str,
        adapter: Option<&str>,
        probe: &str,
    ) -> Result<String, ManifestError> {
        let models_by_name = self.models.clone();
        let runtime_of = |base: &str| {
            let model = &models_by_name[base];
            ProbeRespondParams { probe: probe.to_string(), batch_size: spec.batch_size, model: model_runtime(model), matmul: model.matmul }
        };
        let with_model = |base: &str, adapter: Option<&str>| {
            let mut inputs = vec![("model".to_string(), format!("model/{base}")), ("probe".to_string(), format!("probe/{probe}"))];
            if let Some(a) = adapter {
                inputs.push(("adapter".to_string(), a.to_string()));
            }
            inputs
        };
        let respond = format!("respond/{name}/{probe}");
        let (params, inputs) = (runtime_of(base), with_model(base, adapter));
        let device = self.models[base].device.clone();
        self.stage(respond.clone(), "probe_respond", &params, inputs, &["eval"]).resources = exclusive(&device);
        let mut eval_inputs = vec![("probe".to_string(), format!("probe/{probe}")), ("responses".to_string(), respond.clone())];
        if let Some(judge) = self.probes[probe].1.clone() {
            let (judge_base, judge_adapter) = if self.models.contains_key(&judge) {
                (judge.clone(), None)
            } else if let Some((stage, b)) = self.adapters.get(&judge) {
                (b.clone(), Some(stage.clone()))
            } else {
                let known: Vec<&str> = self.models.keys().chain(models.iter().map(|(n, _, _)| n)).map(String::as_str).collect();
                return Err(self
                    .m
                    .error(&["probes", probe, "judge"], format!("no model or adapter `{judge}`; known: {}", known.join(", "))));
            };
            let judged = format!("judge/{name}/{probe}");
            let mut inputs = with_model(&judge_base, judge_adapter.as_deref());
            inputs.push(("responses".to_string(), respond));
            let (params, device) = (runtime_of(&judge_base), self.models[&judge_base].device.clone());
            self.stage(judged.clone(), "probe_judge", &params, inputs, &["probes", probe, "judge"]).resources = exclusive(&device);
            eval_inputs.push(("judgements".to_string(), judged));
        }
        let eval = format!("eval/{name}/{probe}");
        let params = ProbeEvalParams { probe: probe.to_string() };
        self.stage(eval.clone(), "probe_eval", &params, eval_inputs, &["eval"]).publish = Some(format!("models/{name}/{probe}"));
        Ok(eval)
    }

    /// A model or an adapter by name: (base model, adapter stage).
    fn model_or_adapter(&self, name: &str, at: &[&str]) -> Result<(String, Option<String>), ManifestError> {
        if self.models.contains_key(name) {
            return Ok((name.to_string(), None));
        }
        if let Some((stage, base)) = self.adapters.get(name) {
            return Ok((base.clone(), Some(stage.clone())));
        }
        let known: Vec<&str> = self.models.keys().chain(self.adapters.keys()).map(String::as_str).collect();
        Err(self.m.error(at, format!("no model or adapter `{name}`; known: {}", known.join(", "))))
    }

    fn best_of_n(&mut self) -> Result<BTreeMap<String, String>, ManifestError> {
        let mut out = BTreeMap::new();
        let batch_size = match self.m.get(&["eval"]) {
            Some(_) => self.m.deserialize::<EvalSpec>(&["eval"])?.batch_size,
            None => batch(),
        };
        for name in self.m.table_keys(&["best_of_n"]) {
            let at = ["best_of_n", name.as_str()];
            let key = |k: &'static str| ["best_of_n", name.as_str(), k];
            let spec: BestOfNSpec = self.m.deserialize(&at)?;
            let Some((_, judge)) = self.probes.get(&spec.probe).cloned() else {
                let declared: Vec<&str> = self.probes.keys().map(String::as_str).collect();
                return Err(self.m.error(&key("probe"), format!("no probe `{}`; declared: {}", spec.probe, declared.join(", "))));
            };
            if spec.n_max == 0 {
                return Err(self.m.error(&key("n_max"), "must be at least 1"));
            }
            if !(spec.temperature >= 0.0 && spec.temperature.is_finite()) {
                return Err(self.m.error(&key("temperature"), "must be 0 (greedy) or more"));
            }
            if !(spec.top_p > 0.0 && spec.top_p <= 1.0) {
                return Err(self.m.error(&key("top_p"), "must be in (0, 1]"));
            }
            if spec.max_tokens == Some(0) {
                return Err(self.m.error(&key("max_tokens"), "must be at least 1"));
            }
            let template = spec.pm_template.clone().unwrap_or_else(|| DEFAULT_PM_TEMPLATE.to_string());
            syco_eval::probe::build::check_template(&template, &PM_PLACEHOLDERS, &[])
                .map_err(|e| self.m.error(&key("pm_template"), e.to_string()))?;
            if !template.contains("{conversation}") && !template.contains("{response}") {
                return Err(self.m.error(&key("pm_template"), "the PM must see the response: use {conversation} or {response}"));
            }
            let policy = match &spec.policy {
                Some(p) => p.clone(),
                None => self.default_model(&at)?,
            };
            let (policy_base, policy_adapter) = self.model_or_adapter(&policy, &key("policy"))?;
            let pm = spec.pm.clone().unwrap_or_else(|| policy.clone());
            let (pm_base, pm_adapter) = self.model_or_adapter(&pm, &key("pm"))?;
            let with_model = |base: &str, adapter: &Option<String>, rest: Vec<(String, String)>| {
                let mut inputs = vec![("model".to_string(), format!("model/{base}"))];
                if let Some(a) = adapter {
                    inputs.push(("adapter".to_string(), a.clone()));
                }
                inputs.extend(rest);
                inputs
            };
            let probe_input = ("probe".to_string(), format!("probe/{}", spec.probe));
            let policy_model = self.models[&policy_base].clone();
            let sample = format!("bon/{name}/sample");
            let params = SampleParams {
                name: name.clone(),
                n_max: spec.n_max,
                temperature: spec.temperature,
                top_p: spec.top_p,
                max_tokens: spec.max_tokens,
                batch_size,
                model: model_runtime(&policy_model),
                matmul: policy_model.matmul,
            };
            let inputs = with_model(&policy_base, &policy_adapter, vec![probe_input.clone()]);
            self.stage(sample.clone(), "bon_sample", &params, inputs, &at).resources = exclusive(&policy_model.device);
            let mut eval_inputs = vec![probe_input.clone(), ("samples".to_string(), sample.clone())];
            let pm_model = self.models[&pm_base].clone();
            let [yes, no] = spec.pm_tokens.clone().unwrap_or_else(|| ["Yes".to_string(), "No".to_string()]);
            for which in PMS {
                let prefix = match which {
                    "pm" => String::new(),
                    _ => spec.non_sycophantic_prefix.clone().unwrap_or_else(|| NON_SYCOPHANTIC_PREFIX.to_string()),
                };
                let params = PmParams {
                    name: name.clone(),
                    template: template.clone(),
                    prefix,
                    yes: yes.clone(),
                    no: no.clone(),
                    batch_size,
                    model: model_runtime(&pm_model),
                    matmul: pm_model.matmul,
                };
                let id = format!("bon/{name}/{which}");
                let inputs = with_model(&pm_base, &pm_adapter, vec![("samples".to_string(), sample.clone())]);
                self.stage(id.clone(), "bon_pm", &params, inputs, &key("pm")).resources = exclusive(&pm_model.device);
                eval_inputs.push((which.to_string(), id));
            }
            if let Some(judge) = judge {
                let (judge_base, judge_adapter) = self.model_or_adapter(&judge, &["probes", &spec.probe, "judge"])?;
                let judge_model = self.models[&judge_base].clone();
                let params = ProbeRespondParams {
                    probe: spec.probe.clone(),
                    batch_size,
                    model: model_runtime(&judge_model),
                    matmul: judge_model.matmul,
                };
                let id = format!("bon/{name}/judge");
                let inputs = with_model(&judge_base, &judge_adapter, vec![probe_input.clone(), ("samples".to_string(), sample.clone())]);
                self.stage(id.clone(), "bon_judge", &params, inputs, &at).resources = exclusive(&judge_model.device);
                eval_inputs.push(("judgements".to_string(), id));
            }
            let id = format!("bon/{name}");
            let params = BonEvalParams { name: name.clone(), probe: spec.probe.clone(), policy };
            self.stage(id.clone(), "bon_eval", &params, eval_inputs, &at).publish = Some(format!("best_of_n/{name}"));
            out.insert(name, id);
        }
        Ok(out)
    }

    fn imports(&mut self) -> Result<BTreeMap<String, String>, ManifestError> {
        let mut imported = BTreeMap::new();
        for name in self.m.table_keys(&["import"]) {
            let at = ["import", name.as_str()];
            let spec: ImportSpec = self.m.deserialize(&at)?;
            let resolve = |p: &str| self.m.dir().join(p).to_string_lossy().into_owned();
            let params = ImportParams {
                name: name.clone(),
                baseline: spec.baseline,
                benchmarks: spec.benchmarks.iter().map(|p| resolve(p)).collect(),
                sycophancy: spec.sycophancy.as_deref().map(resolve),
                results: spec.results.as_deref().map(resolve),
            };
            if spec.results.is_none() && spec.benchmarks.is_empty() && spec.sycophancy.is_none() {
                return Err(self.m.error(&at, "an import needs `results = FILE` or `benchmarks = [FILES]` / `sycophancy = FILE`"));
            }
            let id = format!("import/{name}");
            self.stage(id.clone(), "import", &params, vec![], &at);
            imported.insert(name, id);
        }
        Ok(imported)
    }

    fn analysis(&mut self, evaluated: Evaluated, imported: BTreeMap<String, String>) -> Result<(), ManifestError> {
        let expect: Vec<Expectation> = match self.m.get(&["expect"]) {
            Some(_) => self.m.deserialize(&["expect"])?,
            None => vec![],
        };
        if self.m.get(&["analysis"]).is_none() {
            if !expect.is_empty() {
                return Err(self.m.error(&["expect"], "[[expect]] needs an [analysis] section to check against"));
            }
            return Ok(());
        }
        let spec: AnalysisSpec = self.m.deserialize(&["analysis"])?;
        // Models in declaration order: models and imports first, then adapters as declared.
        let mut order: Vec<String> = vec![];
        for n in self.models.keys().chain(imported.keys()) {
            order.push(n.clone());
        }
        for n in self.m.table_keys(&["adapters"]) {
            order.push(n);
        }
        let mut available: Vec<String> = order.into_iter().filter(|n| evaluated.contains(n) || imported.contains_key(n)).collect();
        if let Some(models) = &spec.models {
            for n in models {
                if !available.contains(n) {
                    return Err(self.m.error(&["analysis", "models"], format!("`{n}` was neither evaluated nor imported")));
                }
            }
            available = models.clone();
        }
        let baseline = match &spec.baseline {
            Some(b) if available.contains(b) => b.clone(),
            Some(b) => return Err(self.m.error(&["analysis", "baseline"], format!("`{b}` was neither evaluated nor imported"))),
            None => available.first().cloned().ok_or_else(|| self.m.error(&["analysis"], "nothing to analyse: no [eval] or [import.*]"))?,
        };
        let mut inputs = vec![];
        let mut models = vec![];
        for n in &available {
            if let Some(id) = imported.get(n) {
                inputs.push((id.clone(), id.clone()));
                models.push(ModelEntry {
                    name: n.clone(),
                    import: Some(id.clone()),
                    tasks: BTreeMap::new(),
                    open_tasks: BTreeMap::new(),
                    probes: BTreeMap::new(),
                    train: None,
                });
            } else {
                let tasks = evaluated.study.get(n).cloned().unwrap_or_default();
                let open_tasks = evaluated.open.get(n).cloned().unwrap_or_default();
                let probes = evaluated.probes.get(n).cloned().unwrap_or_default();
                for id in tasks.values().chain(open_tasks.values()).chain(probes.values()) {
                    inputs.push((id.clone(), id.clone()));
                }
                let train = self.adapters.get(n).map(|(s, _)| s.clone());
                if let Some(t) = &train {
                    inputs.push((t.clone(), t.clone()));
                }
                models.push(ModelEntry { name: n.clone(), import: None, tasks, open_tasks, probes, train });
            }
        }
        for id in evaluated.best_of_n.values() {
            inputs.push((id.clone(), id.clone()));
        }
        let params = AnalysisParams {
            best_of_n: evaluated.best_of_n.clone(),
            experiment: self.m.name().to_string(),
            baseline,
            models,
            expect,
            bootstrap: spec.bootstrap.unwrap_or(2000),
            seed: experiment_seed(self.m),
        };
        // "." publishes the analysis into the run folder itself.
        self.stage("analysis".into(), "analysis", &params, inputs, &["analysis"]).publish = Some(".".into());
        Ok(())
    }
}

/// `[import.NAME]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportSpec {
    #[serde(default)]
    baseline: bool,
    #[serde(default)]
    benchmarks: Vec<String>,
    #[serde(default)]
    sycophancy: Option<String>,
    #[serde(default)]
    results: Option<String>,
}

/// A model-backed stage holds its device for itself while it runs.
fn exclusive(device: &str) -> Resources {
    Resources { gpu: true, device: device.to_string() }
}

/// `[experiment] seed` (42 when absent, the study's seed).
fn experiment_seed(m: &Manifest) -> u64 {
    m.get(&["experiment", "seed"]).and_then(toml::Value::as_integer).map(|s| s as u64).unwrap_or(42)
}

/// What a stage needs to know about how to load and drive a model (part of its key); `matmul`
/// travels separately, in the respond params only.
fn model_runtime(m: &ModelSpec) -> ModelRuntime {
    ModelRuntime { chat_template: m.chat_template.clone(), dtype: m.dtype, device: m.device.clone(), prompt_format: m.prompt_format }
}

/// `[defaults.X]` overlaid by an adapter's own `X` table, key by key.
fn merged(defaults: &toml::Table, own: Option<&toml::Table>) -> toml::Table {
    let mut t = defaults.clone();
    if let Some(own) = own {
        for (k, v) in own {
            t.insert(k.clone(), v.clone());
        }
    }
    t
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}
