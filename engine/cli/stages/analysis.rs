//! `import/NAME`: a model's recorded results in the study's JSON shape, read as if evaluated here.
//! `analysis`: the study's CSVs, derived numbers, figures, report, and the `[[expect]]` checks;
//! for open tasks `tasks.csv`, `summary.json`'s `tasks` and the report's Tasks section; for
//! sycophancy probes `probes.csv`, `summary.json`'s `probes` and the report's probes section; for
//! best-of-N (`bon.json` of each `bon/NAME`) `best_of_n.csv`, `summary.json`'s `best_of_n`, a
//! figure each and the report's best-of-N section.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use syco_analysis::best_of_n::{BestOfNResult, BON_FILE};
use syco_analysis::expect::Expectation;
use syco_analysis::import::StudySource;
use syco_analysis::{AnalysisInput, AnalysisOptions, ItemOutcome, ModelResults};
use syco_core::stage::{PlanEnv, Report, StageCtx, StageDef, StageKind};

use syco_eval::files::{ITEMS_FILE, RESPONSES_FILE};

use super::eval::read_metrics;

pub struct ImportStage;

/// The params of an `import/NAME` stage: `[import.NAME]` with the file paths made absolute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    pub name: String,
    pub baseline: bool,
    /// The study's per-benchmark result files (with `sycophancy`).
    pub benchmarks: Vec<String>,
    pub sycophancy: Option<String>,
    /// An adapter's single results file.
    pub results: Option<String>,
}

impl ImportParams {
    fn files(&self) -> Vec<&String> {
        self.benchmarks.iter().chain(&self.sycophancy).chain(&self.results).collect()
    }
}

const RESULTS_FILE: &str = "results.json";
const EXPECTATIONS_FILE: &str = "expectations.json";

impl StageKind for ImportStage {
    fn name(&self) -> &'static str {
        "import"
    }
    fn version(&self) -> u32 {
        1
    }

    fn key_extras(&self, def: &StageDef, env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        let p: ImportParams = serde_json::from_value(def.params.clone())?;
        let mut extras = BTreeMap::new();
        for f in p.files() {
            let hash = env.cache.hash_file(Path::new(f)).with_context(|| format!("{}: {f}", def.id))?;
            extras.insert(format!("file {f}"), hash.to_string());
        }
        Ok(extras)
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: ImportParams = serde_json::from_value(ctx.def.params.clone())?;
        let source = match (&p.results, &p.sycophancy) {
            (Some(results), _) => StudySource::Adapter { results: PathBuf::from(results) },
            (None, Some(syc)) => {
                StudySource::Baseline { benchmarks: p.benchmarks.iter().map(PathBuf::from).collect(), sycophancy: PathBuf::from(syc) }
            }
            (None, None) => anyhow::bail!("import {} names no result files", p.name),
        };
        let mut results = syco_analysis::import::read_study_results(&p.name, &source)?;
        results.is_baseline = p.baseline;
        std::fs::write(ctx.out_dir.join(RESULTS_FILE), serde_json::to_vec_pretty(&results)?)?;
        Ok(())
    }
}

pub struct AnalysisStage;

/// One model of the analysis: an import stage, or its eval stages (and the train stage of an
/// adapter). Every stage named is an input of the same name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub import: Option<String>,
    /// task -> eval stage id
    pub tasks: BTreeMap<String, String>,
    /// Open task (`[tasks.NAME]`) -> its eval stage id. Left out of the params when empty, so an
    /// analysis without open tasks keeps its stage key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open_tasks: BTreeMap<String, String>,
    /// Sycophancy probe (`[probes.NAME]`) -> its eval stage id; left out when empty, as above.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: BTreeMap<String, String>,
    pub train: Option<String>,
}

/// The params of the `analysis` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisParams {
    pub experiment: String,
    pub baseline: String,
    /// In the report's order.
    pub models: Vec<ModelEntry>,
    pub expect: Vec<Expectation>,
    pub bootstrap: usize,
    pub seed: u64,
    /// Best-of-N (`[best_of_n.NAME]`) -> its `bon/NAME` stage id (an input of the same name,
    /// whose output holds `bon.json`); left out when empty, so an analysis without best-of-N
    /// keeps its stage key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub best_of_n: BTreeMap<String, String>,
}

/// The stage key a number is traced back to: the folder of a content-addressed output
/// (`records/KEY/out` in the cache).
fn provenance_of(dir: &Path) -> String {
    let key_dir = if dir.file_name().is_some_and(|n| n == "out") { dir.parent().unwrap_or(dir) } else { dir };
    key_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string())
}

/// One evaluated model's results, assembled from its per-task eval outputs.
fn evaluated_results(ctx: &StageCtx, entry: &ModelEntry, baseline: &str) -> Result<(ModelResults, BTreeMap<String, Vec<Value>>)> {
    let mut results = ModelResults {
        name: entry.name.clone(),
        is_baseline: entry.name == baseline,
        timestamp: String::new(),
        benchmarks: BTreeMap::new(),
        sycophancy: BTreeMap::new(),
        items: Some(BTreeMap::new()),
        provenance: BTreeMap::new(),
        open_tasks: BTreeMap::new(),
        probes: BTreeMap::new(),
    };
    let mut item_records = BTreeMap::new();
    for (task, stage) in &entry.tasks {
        let dir = ctx.inputs.get(stage).with_context(|| format!("input {stage}"))?;
        let metrics = read_metrics(dir)?;
        let is_benchmark = metrics.get("accuracy").is_some();
        if is_benchmark {
            results.benchmarks.insert(task.clone(), serde_json::from_value(metrics.clone()).with_context(|| format!("{stage}: metrics"))?);
        } else {
            results.sycophancy.insert(task.clone(), serde_json::from_value(metrics.clone()).with_context(|| format!("{stage}: metrics"))?);
        }
        let items = read_jsonl(&dir.join(ITEMS_FILE))?;
        let flag = if is_benchmark { "correct" } else { "sycophantic" };
        let outcomes = items
            .iter()
            .filter_map(|v| Some(ItemOutcome { id: v.get("id")?.as_str()?.to_string(), success: v.get(flag)?.as_bool()? }))
            .collect();
        results.items.as_mut().expect("set above").insert(task.clone(), outcomes);
        results.provenance.insert(task.clone(), format!("{stage} {}", provenance_of(dir)));
        if !is_benchmark {
            item_records.insert(task.clone(), gallery_records(&items, &read_jsonl(&dir.join(RESPONSES_FILE))?));
        }
    }
    for (task, stage) in &entry.open_tasks {
        let dir = ctx.inputs.get(stage).with_context(|| format!("input {stage}"))?;
        let items_path = dir.join(ITEMS_FILE);
        let result = syco_analysis::open_tasks::TaskResult::from_json(&read_metrics(dir)?, &read_jsonl(&items_path)?)
            .map_err(|e| anyhow::anyhow!("{stage} ({}): {e}", dir.display()))?;
        results.open_tasks.insert(task.clone(), result);
        // A study kind of the same name keeps its own provenance line.
        let what = if entry.tasks.contains_key(task) { format!("{task} (task)") } else { task.clone() };
        results.provenance.insert(what, format!("{stage} {}", provenance_of(dir)));
    }
    for (probe, stage) in &entry.probes {
        let dir = ctx.inputs.get(stage).with_context(|| format!("input {stage}"))?;
        let items_path = dir.join(ITEMS_FILE);
        let result = syco_analysis::probes::ProbeResult::from_json(&read_metrics(dir)?, &read_jsonl(&items_path)?)
            .map_err(|e| anyhow::anyhow!("{stage} ({}): {e}", dir.display()))?;
        results.probes.insert(probe.clone(), result);
        // A task of the same name keeps its own provenance line.
        let what = if entry.tasks.contains_key(probe) || entry.open_tasks.contains_key(probe) {
            format!("{probe} (probe)")
        } else {
            probe.clone()
        };
        results.provenance.insert(what, format!("{stage} {}", provenance_of(dir)));
    }
    Ok((results, item_records))
}

/// Items for the report's gallery: each verdict with the two responses it compared
/// (neutral vs manipulated; are_you_sure: first answer vs the answer after the challenge).
fn gallery_records(verdicts: &[Value], responses: &[Value]) -> Vec<Value> {
    let by_id: BTreeMap<&str, &Value> = responses.iter().filter_map(|r| Some((r.get("id")?.as_str()?, r))).collect();
    verdicts
        .iter()
        .filter_map(|v| {
            let id = v.get("id")?.as_str()?;
            let r = by_id.get(id)?;
            let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            let (neutral, manipulated) = match r.get("type").and_then(Value::as_str)? {
                "pair" => (text("neutral_response"), text("manipulated_response")),
                "two_turn" => (text("initial_response"), text("challenged_response")),
                _ => return None,
            };
            let question = r
                .pointer("/neutral_prompt/messages/0/content")
                .or_else(|| r.pointer("/turn1_prompt/messages/0/content"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Some(serde_json::json!({
                "id": id,
                "sycophantic": v.get("sycophantic").and_then(Value::as_bool).unwrap_or(false),
                "neutral_response": neutral,
                "manipulated_response": manipulated,
                "question": question,
            }))
        })
        .collect()
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    Ok(syco_eval::files::read_jsonl(path)?)
}

impl StageKind for AnalysisStage {
    fn name(&self) -> &'static str {
        "analysis"
    }
    fn version(&self) -> u32 {
        2 // 2: report.md has the adapters' held-out losses
    }

    // The figures are drawn, rasterised and encoded by these crates.
    fn key_extras(&self, _def: &StageDef, _env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        Ok(super::runtime::locked_crates(env!("SYCO_LOCKED_FIGURES")))
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let p: AnalysisParams = serde_json::from_value(ctx.def.params.clone())?;
        let mut all = vec![];
        let mut items = BTreeMap::new();
        let mut curves: Vec<(String, PathBuf)> = vec![];
        let mut training = vec![];
        for entry in &p.models {
            if let Some(import) = &entry.import {
                let dir = ctx.inputs.get(import).with_context(|| format!("input {import}"))?;
                let mut r: ModelResults = serde_json::from_slice(&std::fs::read(dir.join(RESULTS_FILE))?)?;
                r.is_baseline = entry.name == p.baseline;
                all.push(r);
            } else {
                let (r, its) = evaluated_results(ctx, entry, &p.baseline)?;
                all.push(r);
                items.insert(entry.name.clone(), its);
            }
            if let Some(train) = &entry.train {
                let dir = ctx.inputs.get(train).with_context(|| format!("input {train}"))?;
                curves.push((entry.name.clone(), dir.join("train_log.jsonl")));
                training.extend(super::train::held_out_losses(&entry.name, dir)?);
            }
        }
        let mut best_of_n = vec![];
        for (name, stage) in &p.best_of_n {
            let dir = ctx.inputs.get(stage).with_context(|| format!("input {stage}"))?;
            let mut r = BestOfNResult::read(&dir.join(BON_FILE)).with_context(|| format!("best-of-N {name} ({stage})"))?;
            // The manifest's name keys the summary, the CSV and the figure.
            r.name = name.clone();
            r.provenance = Some(format!("{stage} {}", provenance_of(dir)));
            best_of_n.push(r);
        }
        let opts = AnalysisOptions {
            baseline: p.baseline.clone(),
            models: Some(p.models.iter().map(|m| m.name.clone()).collect()),
            bootstrap_resamples: p.bootstrap,
            seed: p.seed,
            ..AnalysisOptions::default()
        };
        ctx.progress.set_message("tables and figures".into());
        let input = AnalysisInput { results: all, best_of_n };
        let summary = syco_analysis::analyze_input(&input, &opts, &ctx.out_dir)?;
        let figures = ctx.out_dir.join("figures");
        if !curves.is_empty() {
            syco_analysis::figures::loss_curves(&curves, &figures)?;
        }
        let outcomes = syco_analysis::expect::evaluate(&p.expect, &summary);
        syco_analysis::expect::write_json(&outcomes, &ctx.out_dir.join(EXPECTATIONS_FILE))?;
        let report = syco_analysis::report::ReportInput {
            title: format!("syco: {}", p.experiment),
            results: &input.results,
            summary: &summary,
            outcomes: &outcomes,
            figures_dir: figures.exists().then_some(figures),
            records: items,
            training,
        };
        syco_analysis::report::write(&report, &ctx.out_dir)?;
        Ok(())
    }

    fn report(&self, _def: &StageDef, out_dir: &Path) -> Result<Option<Report>> {
        let path = out_dir.join(EXPECTATIONS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let outcomes: Vec<syco_analysis::expect::Outcome> = serde_json::from_slice(&std::fs::read(&path)?)?;
        if outcomes.is_empty() {
            return Ok(None);
        }
        let failed = outcomes.iter().any(|o| !o.as_expected);
        Ok(Some(Report { text: syco_analysis::expect::render_table(&outcomes), failed }))
    }
}
