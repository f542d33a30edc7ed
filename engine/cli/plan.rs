//! The ML sections of a manifest (`[model.*]`, `[datasets.*]`, `[adapters.*]`, `[defaults.*]`,
//! `[eval]`, `[analysis]`, `[import.*]`, `[[expect]]`) turned into stage definitions.
//!
//! Stage ids and what each reads:
//! `model/M` (nothing) · `data/D` (nothing or a file) · `train/A` (model + its datasets) ·
//! `combine/A` (other adapters) · `respond/MODEL/TASK` (model [+ adapter] + dataset) ·
//! `eval/MODEL/TASK` (responses + dataset) · `import/MODEL` (files) · `analysis` (every eval/import).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use syco_core::manifest::{Manifest, ManifestError};
use syco_core::stage::{InputRef, Resources, SectionPlanner, StageDef};

pub const BENCHMARKS: [&str; 4] = ["gsm8k", "mmlu", "truthfulqa", "hellaswag"];
pub const SYCOPHANCY_TASKS: [&str; 3] = ["feedback", "are_you_sure", "answer"];

/// `[model.NAME]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub source: Value,
    #[serde(default = "auto")]
    pub chat_template: String,
    #[serde(default = "f32")]
    pub dtype: String,
    #[serde(default = "cpu")]
    pub device: String,
    /// "chat": prompts are conversations rendered by the chat template; "raw": the study's
    /// literal prompt strings (Llama-2 `[INST]` markup written by hand, `<s>` included).
    #[serde(default = "chat")]
    pub prompt_format: String,
    /// "f32", or "bf16": evaluation's products (scoring, prompt prefill, decoding) take bf16
    /// operands with f32 sums (AMX tiles on CPUs that have them). Training is unaffected.
    #[serde(default = "f32")]
    pub matmul: String,
}

/// `[datasets.NAME]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub kind: String,
    #[serde(default)]
    pub source: Option<Value>,
    /// Separate files for the two halves (the study's committed splits).
    #[serde(default)]
    pub train_source: Option<Value>,
    #[serde(default)]
    pub test_source: Option<Value>,
    #[serde(default)]
    pub split: Option<Value>,
    #[serde(default)]
    pub sample: Option<Value>,
    /// Prompt / training-text templates replacing the study's defaults.
    #[serde(default)]
    pub templates: Option<Value>,
    /// `antisyc` datasets: the sycophancy datasets whose records become SFT examples.
    #[serde(default)]
    pub from: Vec<String>,
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
    pub method: Option<String>,
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
    #[serde(default = "seed")]
    pub scoring: String,
    #[serde(default = "batch")]
    pub batch_size: usize,
    /// Items per task (all when absent).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Per-task overrides of the study's max_new_tokens.
    #[serde(default)]
    pub max_new_tokens: BTreeMap<String, usize>,
    #[serde(default)]
    pub seed: Option<u64>,
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
fn f32() -> String {
    "f32".into()
}
fn cpu() -> String {
    "cpu".into()
}
fn chat() -> String {
    "chat".into()
}
fn seed() -> String {
    "seed".into()
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
        &["model", "datasets", "adapters", "defaults", "eval", "analysis", "import", "expect"]
    }

    fn plan(&self, m: &Manifest, out: &mut Vec<StageDef>) -> Result<(), ManifestError> {
        let mut p = Planner { m, out, models: BTreeMap::new(), datasets: BTreeMap::new(), adapters: BTreeMap::new() };
        p.models()?;
        p.datasets()?;
        p.adapters()?;
        let evaluated = p.evals()?;
        let imported = p.imports()?;
        p.analysis(evaluated, imported)?;
        Ok(())
    }
}

struct Planner<'a> {
    m: &'a Manifest,
    out: &'a mut Vec<StageDef>,
    models: BTreeMap<String, ModelSpec>,
    datasets: BTreeMap<String, DatasetSpec>,
    /// adapter name -> (stage id, base model name)
    adapters: BTreeMap<String, (String, String)>,
}

/// What the analysis stage gets per evaluated model: task -> eval stage id.
type Evaluated = BTreeMap<String, BTreeMap<String, String>>;

impl Planner<'_> {
    fn stage(
        &mut self,
        id: String,
        kind: &str,
        params: Value,
        inputs: Vec<(String, String)>,
        exclusive_device: Option<&str>,
        publish: Option<String>,
        origin: &[&str],
    ) {
        let resources = match exclusive_device {
            Some(d) => Resources { gpu: true, device: d.to_string() },
            None => Resources::default(),
        };
        self.out.push(StageDef {
            id,
            kind: kind.to_string(),
            params,
            inputs: inputs.into_iter().map(|(name, stage)| InputRef { name, stage }).collect(),
            resources,
            publish,
            origin: Some(self.m.locate(origin)),
        });
    }

    fn models(&mut self) -> Result<(), ManifestError> {
        for name in self.m.table_keys(&["model"]) {
            let spec: ModelSpec = self.m.deserialize(&["model", &name])?;
            let origin = ["model", name.as_str()];
            if !matches!(spec.prompt_format.as_str(), "chat" | "raw") {
                return Err(self.m.error(&["model", &name, "prompt_format"], "expected \"chat\" or \"raw\""));
            }
            if !matches!(spec.dtype.as_str(), "f32" | "bf16" | "f16") {
                return Err(self.m.error(&["model", &name, "dtype"], "expected \"f32\", \"bf16\" or \"f16\""));
            }
            if !matches!(spec.matmul.as_str(), "f32" | "bf16") {
                return Err(self.m.error(&["model", &name, "matmul"], "expected \"f32\" or \"bf16\""));
            }
            self.stage(format!("model/{name}"), "model", json!({ "source": spec.source }), vec![], None, None, &origin);
            self.models.insert(name, spec);
        }
        Ok(())
    }

    fn datasets(&mut self) -> Result<(), ManifestError> {
        // Carried random streams: name -> (seed, the last dataset drawing from it so far).
        let mut streams: BTreeMap<String, (u64, String)> = BTreeMap::new();
        for name in self.m.table_keys(&["datasets"]) {
            let spec: DatasetSpec = self.m.deserialize(&["datasets", &name])?;
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
                    Some((_, prev)) if *prev != name => inputs.push((crate::stages::dataset::stream_input(stream), format!("data/{prev}"))),
                    _ => {}
                }
                streams.insert(stream.to_string(), (seed, name.clone()));
            }
            let params = serde_json::to_value(&spec).expect("dataset spec serialises");
            self.stage(format!("data/{name}"), "dataset", params, inputs, None, Some(format!("data/{name}")), &path);
            self.datasets.insert(name, spec);
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
                let method = spec.method.clone().unwrap_or_else(|| "cat".into());
                if !matches!(method.as_str(), "cat" | "linear" | "svd") {
                    return Err(self.m.error(&["adapters", name, "method"], "expected \"cat\", \"linear\" or \"svd\""));
                }
                let params = json!({ "parts": spec.combine, "method": method, "weights": spec.weights, "rank": spec.rank });
                let id = format!("combine/{name}");
                self.stage(id.clone(), "combine", params, inputs, None, Some(format!("adapters/{name}")), &at);
                self.adapters.insert(name.clone(), (id, base));
                continue;
            }
            if spec.data.is_empty() {
                return Err(self.m.error(&at, "an adapter needs `data = [\"DATASET\", ...]` (or `combine = [...]`)"));
            }
            let mut inputs = vec![("model".to_string(), format!("model/{base}"))];
            for d in &spec.data {
                if !self.datasets.contains_key(d) {
                    return Err(self.m.error(
                        &["adapters", name, "data"],
                        format!("no dataset `{d}`; declared: {}", self.datasets.keys().cloned().collect::<Vec<_>>().join(", ")),
                    ));
                }
                inputs.push((format!("data/{d}"), format!("data/{d}")));
            }
            let lora = merged(&lora_defaults, spec.lora.as_ref());
            let train = merged(&train_defaults, spec.train.as_ref());
            // Check the tables now, so a typo is reported with its line before anything runs.
            for (table, own, value) in [("lora", spec.lora.as_ref(), &lora), ("train", spec.train.as_ref(), &train)] {
                let json = toml_to_json(&toml::Value::Table(value.clone()));
                if let Err((field, msg)) = crate::stages::check_table(table, &json) {
                    let at: Vec<&str> = match own.is_some_and(|t| t.contains_key(&field)) {
                        true => vec!["adapters", name, table, &field],
                        false if lora_defaults.contains_key(&field) || train_defaults.contains_key(&field) => {
                            vec!["defaults", table, &field]
                        }
                        false => vec!["adapters", name],
                    };
                    return Err(self.m.error(&at, msg));
                }
            }
            let params = json!({
                "data": spec.data,
                "mix": spec.mix,
                "lora": toml_to_json(&toml::Value::Table(lora)),
                "train": toml_to_json(&toml::Value::Table(train)),
                "model": model_runtime(&model),
            });
            let id = format!("train/{name}");
            self.stage(id.clone(), "train", params, inputs, Some(&model.device), Some(format!("adapters/{name}")), &at);
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
        let mut evaluated = Evaluated::new();
        if self.m.get(&["eval"]).is_none() {
            return Ok(evaluated);
        }
        let spec: EvalSpec = self.m.deserialize(&["eval"])?;
        if !matches!(spec.scoring.as_str(), "seed" | "strict") {
            return Err(self.m.error(&["eval", "scoring"], "expected \"seed\" or \"strict\""));
        }
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
            let allowed: &[&str] = if *field == "benchmarks" { &BENCHMARKS } else { &SYCOPHANCY_TASKS };
            if !allowed.contains(&ds.kind.as_str()) {
                return Err(self.m.error(
                    &["eval", field],
                    format!("dataset `{task}` has kind `{}`, which is not one of {}", ds.kind, allowed.join(", ")),
                ));
            }
        }
        for (name, base, adapter) in self.eval_models(&spec)? {
            let model = self.models[&base].clone();
            for (task, _) in &tasks {
                let kind = self.datasets[task].kind.clone();
                let mut inputs = vec![("model".to_string(), format!("model/{base}")), ("data".to_string(), format!("data/{task}"))];
                if let Some(a) = &adapter {
                    inputs.push(("adapter".to_string(), a.clone()));
                }
                let respond_params = json!({
                    "task": kind,
                    "scoring": spec.scoring,
                    "batch_size": spec.batch_size,
                    "limit": spec.limit,
                    "max_new_tokens": spec.max_new_tokens.get(task),
                    "seed": spec.seed.unwrap_or(experiment_seed(self.m)),
                    "model": inference_runtime(&model),
                });
                let respond = format!("respond/{name}/{task}");
                self.stage(respond.clone(), "respond", respond_params, inputs, Some(&model.device), None, &["eval"]);
                let eval = format!("eval/{name}/{task}");
                let eval_params = json!({ "task": kind, "scoring": spec.scoring, "limit": spec.limit, "seed": spec.seed.unwrap_or(experiment_seed(self.m)) });
                let inputs = vec![("responses".to_string(), respond), ("data".to_string(), format!("data/{task}"))];
                self.stage(eval.clone(), "eval", eval_params, inputs, None, Some(format!("models/{name}/{task}")), &["eval"]);
                evaluated.entry(name.clone()).or_default().insert(kind, eval);
            }
        }
        Ok(evaluated)
    }

    fn imports(&mut self) -> Result<BTreeMap<String, String>, ManifestError> {
        let mut imported = BTreeMap::new();
        for name in self.m.table_keys(&["import"]) {
            let at = ["import", name.as_str()];
            let spec: ImportSpec = self.m.deserialize(&at)?;
            let resolve = |p: &str| self.m.dir().join(p).to_string_lossy().into_owned();
            let params = json!({
                "name": name,
                "baseline": spec.baseline,
                "benchmarks": spec.benchmarks.iter().map(|p| resolve(p)).collect::<Vec<_>>(),
                "sycophancy": spec.sycophancy.as_deref().map(resolve),
                "results": spec.results.as_deref().map(resolve),
            });
            if spec.results.is_none() && spec.benchmarks.is_empty() && spec.sycophancy.is_none() {
                return Err(self.m.error(&at, "an import needs `results = FILE` or `benchmarks = [FILES]` / `sycophancy = FILE`"));
            }
            let id = format!("import/{name}");
            self.stage(id.clone(), "import", params, vec![], None, None, &at);
            imported.insert(name, id);
        }
        Ok(imported)
    }

    fn analysis(&mut self, evaluated: Evaluated, imported: BTreeMap<String, String>) -> Result<(), ManifestError> {
        let expect = self.m.get(&["expect"]).map(toml_to_json).unwrap_or(Value::Array(vec![]));
        if self.m.get(&["analysis"]).is_none() {
            if !expect.as_array().is_none_or(|a| a.is_empty()) {
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
        let mut available: Vec<String> = order.into_iter().filter(|n| evaluated.contains_key(n) || imported.contains_key(n)).collect();
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
                models.push(json!({ "name": n, "import": id }));
            } else {
                let tasks = &evaluated[n];
                for id in tasks.values() {
                    inputs.push((id.clone(), id.clone()));
                }
                let train = self.adapters.get(n).map(|(s, _)| s.clone());
                if let Some(t) = &train {
                    inputs.push((t.clone(), t.clone()));
                }
                models.push(json!({ "name": n, "tasks": tasks, "train": train }));
            }
        }
        let params = json!({
            "experiment": self.m.name(),
            "baseline": baseline,
            "models": models,
            "expect": expect,
            "bootstrap": spec.bootstrap.unwrap_or(2000),
            "seed": experiment_seed(self.m),
        });
        // "." publishes the analysis into the run folder itself.
        self.stage("analysis".into(), "analysis", params, inputs, None, Some(".".into()), &["analysis"]);
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

/// `[experiment] seed` (42 when absent, the study's seed).
fn experiment_seed(m: &Manifest) -> u64 {
    m.get(&["experiment", "seed"]).and_then(toml::Value::as_integer).map(|s| s as u64).unwrap_or(42)
}

/// What a stage needs to know about how to load and drive a model (part of its key).
fn model_runtime(m: &ModelSpec) -> Value {
    json!({ "chat_template": m.chat_template, "dtype": m.dtype, "device": m.device, "prompt_format": m.prompt_format })
}

/// `model_runtime` for an evaluation: with `matmul` when it is not the default, so that
/// manifests without it keep their stage keys (and training never depends on it).
fn inference_runtime(m: &ModelSpec) -> Value {
    let mut v = model_runtime(m);
    if m.matmul != "f32" {
        v["matmul"] = json!(m.matmul);
    }
    v
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

pub fn toml_to_json(v: &toml::Value) -> Value {
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
