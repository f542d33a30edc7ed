//! syco-analysis: the study's CSVs and derived numbers from per-model metrics, figures,
//! `report.md`/`report.html`, and the `[[expect]]` claim table (SPEC §5, §7).
//!
//! The stage glue calls, in order:
//! [`import::read_study_results`] (or builds [`ModelResults`] from live evaluations),
//! [`analyze`] or, with best-of-N results, [`analyze_input`] (CSVs, `summary.json`, `figures/`), [`expect::evaluate`] +
//! [`expect::render_table`] / [`expect::write_json`], [`figures::loss_curves`] for
//! `train_log.jsonl` files, and [`report::write`].

pub mod best_of_n;
pub mod csv_out;
pub mod error;
pub mod expect;
pub mod figures;
pub mod frame;
pub mod import;
pub mod open_tasks;
pub mod probes;
pub mod pyrepr;
pub mod report;
pub mod results;
pub mod significance;
pub mod stats;
pub mod summary;

pub use best_of_n::BestOfNResult;
pub use error::{AnalysisError, Result};
pub use results::{BenchScore, EdgeCases, ItemOutcome, ModelResults, SycScore};
pub use significance::PairedTest;
pub use summary::Summary;

use std::path::Path;

/// What to analyse and how.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisOptions {
    /// Name of the baseline model; changes are adapter minus baseline.
    pub baseline: String,
    /// Row order of the tables (must include the baseline); default: baseline, then input order.
    pub models: Option<Vec<String>>,
    /// Benchmark columns; default: every benchmark present, in the study's order.
    pub benchmarks: Option<Vec<String>>,
    /// Sycophancy task columns; default: every task present, in the study's order.
    pub tasks: Option<Vec<String>>,
    /// Paired bootstrap draws per test.
    pub bootstrap_resamples: usize,
    /// Two-sided level of the bootstrap interval.
    pub confidence: f64,
    pub seed: u64,
    /// Render the study's figures into `figures/`.
    pub figures: bool,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            baseline: "baseline".into(),
            models: None,
            benchmarks: None,
            tasks: None,
            bootstrap_resamples: 2000,
            confidence: 0.95,
            seed: 42,
            figures: true,
        }
    }
}

/// Everything an analysis reads: per-model results and best-of-N curves (`bon.json`, one per
/// `[best_of_n.NAME]`, not tied to a model of the analysis).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalysisInput {
    pub results: Vec<ModelResults>,
    pub best_of_n: Vec<BestOfNResult>,
}

/// Writes the three CSVs, `summary.json` and (if asked) the figures into `out_dir`; with open
/// tasks, also `tasks.csv` and `figures/tasks.*`; with sycophancy probes, `probes.csv` and
/// `figures/probe_{FAMILY}.*`. Without any of the study's benchmarks or sycophancy tasks (a
/// manifest of open tasks or probes only) the study's CSVs and numbers are left out.
pub fn analyze(results: &[ModelResults], opts: &AnalysisOptions, out_dir: &Path) -> Result<Summary> {
    analyze_parts(results, &[], opts, out_dir)
}

/// [`analyze`], and with best-of-N results `best_of_n.csv`, `summary.json`'s `best_of_n` and
/// `figures/best_of_n_{NAME}.*`. With best-of-N results and no model at all, the per-model
/// tables are left out (no baseline is needed).
pub fn analyze_input(input: &AnalysisInput, opts: &AnalysisOptions, out_dir: &Path) -> Result<Summary> {
    analyze_parts(&input.results, &input.best_of_n, opts, out_dir)
}

fn analyze_parts(results: &[ModelResults], best_of_n: &[BestOfNResult], opts: &AnalysisOptions, out_dir: &Path) -> Result<Summary> {
    std::fs::create_dir_all(out_dir).map_err(error::io_err(out_dir))?;
    best_of_n::check(best_of_n)?;
    // Best-of-N only: no model, so no frame (nor baseline) to build.
    let with_models = !results.is_empty() || best_of_n.is_empty();
    let mut summary = Summary::default();
    summary.meta.baseline = opts.baseline.clone();
    let (mut tasks, mut probes) = (vec![], vec![]);
    let mut study = false;
    if with_models {
        let frame = frame::Frame::new(results, opts)?;
        study = frame.has_study();
        if study {
            csv_out::write_all(&frame, out_dir)?;
        }
        summary = summary::summarize(&frame);
        significance::paired_tests(&frame, opts, &mut summary);
        let model_order = summary.meta.models.clone();
        tasks = open_tasks::tables(results, &model_order, &opts.baseline)?;
        open_tasks::record(&tasks, &mut summary);
        probes = probes::tables(results, &model_order, &opts.baseline)?;
        probes::record(&probes, &mut summary);
    }
    best_of_n::record(best_of_n, &mut summary);
    summary.write(&out_dir.join("summary.json"))?;
    let model_order = summary.meta.models.clone();
    if !tasks.is_empty() {
        open_tasks::write_csv(&tasks, &model_order, out_dir)?;
    }
    if !probes.is_empty() {
        probes::write_csv(&probes, &model_order, out_dir)?;
    }
    if !best_of_n.is_empty() {
        best_of_n::write_csv(best_of_n, out_dir)?;
    }
    if opts.figures {
        let dir = out_dir.join("figures");
        if study {
            figures::study_figures(&summary, &dir)?;
        }
        if !tasks.is_empty() {
            figures::task_figure(&tasks, &opts.baseline, &dir)?;
        }
        if !probes.is_empty() {
            figures::probe_figures(&probes, &opts.baseline, &dir)?;
        }
        if !best_of_n.is_empty() {
            figures::best_of_n_figures(best_of_n, &dir)?;
        }
    }
    Ok(summary)
}
