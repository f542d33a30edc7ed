//! syco-analysis: the study's CSVs and derived numbers from per-model metrics, figures,
//! `report.md`/`report.html`, and the `[[expect]]` claim table (SPEC §5, §7).
//!
//! The stage glue calls, in order:
//! [`import::read_study_results`] (or builds [`ModelResults`] from live evaluations),
//! [`analyze`] (CSVs, `summary.json`, `figures/`), [`expect::evaluate`] +
//! [`expect::render_table`] / [`expect::write_json`], [`figures::loss_curves`] for
//! `train_log.jsonl` files, and [`report::write`].

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

/// Writes the three CSVs, `summary.json` and (if asked) the figures into `out_dir`; with open
/// tasks, also `tasks.csv` and `figures/tasks.*`; with sycophancy probes, `probes.csv` and
/// `figures/probe_{FAMILY}.*`. Without any of the study's benchmarks or sycophancy tasks (a
/// manifest of open tasks or probes only) the study's CSVs and numbers are left out.
pub fn analyze(results: &[ModelResults], opts: &AnalysisOptions, out_dir: &Path) -> Result<Summary> {
    std::fs::create_dir_all(out_dir).map_err(error::io_err(out_dir))?;
    let frame = frame::Frame::new(results, opts)?;
    let study = frame.has_study();
    if study {
        csv_out::write_all(&frame, out_dir)?;
    }
    let mut summary = summary::summarize(&frame);
    significance::paired_tests(&frame, opts, &mut summary);
    let model_order = summary.meta.models.clone();
    let tasks = open_tasks::tables(results, &model_order, &opts.baseline)?;
    open_tasks::record(&tasks, &mut summary);
    let probes = probes::tables(results, &model_order, &opts.baseline)?;
    probes::record(&probes, &mut summary);
    summary.write(&out_dir.join("summary.json"))?;
    if !tasks.is_empty() {
        open_tasks::write_csv(&tasks, &model_order, out_dir)?;
    }
    if !probes.is_empty() {
        probes::write_csv(&probes, &model_order, out_dir)?;
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
    }
    Ok(summary)
}
