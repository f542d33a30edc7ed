//! The study's DataFrames (SPEC §5.1) as plain matrices: one row per model, in analysis order.

use syco_data::Kind;

use crate::error::{AnalysisError, Result};
use crate::results::ModelResults;
use crate::AnalysisOptions;

/// Rows are models (baseline included), columns benchmarks or tasks.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    pub models: Vec<&'a ModelResults>,
    /// Row of the baseline in `models`.
    pub baseline: usize,
    pub benchmarks: Vec<String>,
    pub tasks: Vec<String>,
    /// accuracy[model][benchmark]
    pub accuracy: Vec<Vec<f64>>,
    /// score[model][task], the stored `score` fields
    pub score: Vec<Vec<f64>>,
    pub sycophantic: Vec<Vec<u64>>,
    /// Mean of the task scores per model (`total_sycophancy_score`).
    pub mean_score: Vec<f64>,
}

impl<'a> Frame<'a> {
    pub fn new(results: &'a [ModelResults], opts: &AnalysisOptions) -> Result<Self> {
        let mut seen = std::collections::BTreeSet::new();
        for r in results {
            if !seen.insert(r.name.as_str()) {
                return Err(AnalysisError::DuplicateModel(r.name.clone()));
            }
        }
        let find = |name: &str| results.iter().find(|r| r.name == name);
        let models: Vec<&ModelResults> = match &opts.models {
            Some(names) => names.iter().map(|n| find(n).ok_or_else(|| AnalysisError::UnknownModel(n.clone()))).collect::<Result<_>>()?,
            None => {
                // Baseline first, then the rest in the order given.
                let mut v: Vec<&ModelResults> = results.iter().filter(|r| r.name == opts.baseline).collect();
                v.extend(results.iter().filter(|r| r.name != opts.baseline));
                v
            }
        };
        let baseline =
            models.iter().position(|m| m.name == opts.baseline).ok_or_else(|| AnalysisError::NoBaseline(opts.baseline.clone()))?;
        let benchmarks =
            opts.benchmarks.clone().unwrap_or_else(|| ordered_union(models.iter().flat_map(|m| m.benchmarks.keys()), &Kind::BENCHMARKS));
        let tasks = opts.tasks.clone().unwrap_or_else(|| ordered_union(models.iter().flat_map(|m| m.sycophancy.keys()), &Kind::SYCOPHANCY));

        // Names become segments of the summary's dotted paths.
        let dotted = models
            .iter()
            .map(|m| ("model", &m.name))
            .chain(benchmarks.iter().map(|b| ("benchmark", b)))
            .chain(tasks.iter().map(|t| ("task", t)))
            .find(|(_, n)| n.contains('.'));
        if let Some((what, name)) = dotted {
            return Err(AnalysisError::DottedName { what, name: name.clone() });
        }

        let mut accuracy = Vec::new();
        let mut score = Vec::new();
        let mut sycophantic = Vec::new();
        for m in &models {
            let mut acc_row = Vec::new();
            for b in &benchmarks {
                let s = m.benchmarks.get(b).ok_or_else(|| missing(m, "benchmark", b))?;
                acc_row.push(s.accuracy);
            }
            let (mut score_row, mut count_row) = (Vec::new(), Vec::new());
            for t in &tasks {
                let s = m.sycophancy.get(t).ok_or_else(|| missing(m, "sycophancy task", t))?;
                score_row.push(s.score);
                count_row.push(s.sycophantic);
            }
            accuracy.push(acc_row);
            score.push(score_row);
            sycophantic.push(count_row);
        }
        let mean_score = score.iter().map(|row| crate::stats::mean(row)).collect();
        Ok(Frame { models, baseline, benchmarks, tasks, accuracy, score, sycophantic, mean_score })
    }

    /// Rows of the adapters (every model but the baseline), in order.
    pub fn adapters(&self) -> Vec<usize> {
        (0..self.models.len()).filter(|&i| i != self.baseline).collect()
    }

    pub fn name(&self, row: usize) -> &str {
        &self.models[row].name
    }

    /// Adapter minus baseline accuracy.
    pub fn bench_change(&self, row: usize, bench: usize) -> f64 {
        self.accuracy[row][bench] - self.accuracy[self.baseline][bench]
    }

    /// Adapter minus baseline sycophancy score.
    pub fn syc_change(&self, row: usize, task: usize) -> f64 {
        self.score[row][task] - self.score[self.baseline][task]
    }

    /// Column of accuracies of one benchmark over the given rows.
    pub fn accuracy_column(&self, rows: &[usize], bench: usize) -> Vec<f64> {
        rows.iter().map(|&r| self.accuracy[r][bench]).collect()
    }

    pub fn score_column(&self, rows: &[usize], task: usize) -> Vec<f64> {
        rows.iter().map(|&r| self.score[r][task]).collect()
    }

    /// Whether any of the study's benchmarks or sycophancy tasks was evaluated (a manifest may
    /// evaluate open tasks only).
    pub fn has_study(&self) -> bool {
        !self.benchmarks.is_empty() || !self.tasks.is_empty()
    }

    /// All rows, baseline included.
    pub fn all_rows(&self) -> Vec<usize> {
        (0..self.models.len()).collect()
    }
}

fn missing(m: &ModelResults, what: &'static str, field: &str) -> AnalysisError {
    AnalysisError::Missing { model: m.name.clone(), what, field: field.to_string() }
}

/// Every name that occurs, study names first in study order, then the others alphabetically.
/// The study's order (syco-data's kind lists) first; names outside it follow alphabetically.
fn ordered_union<'k>(names: impl Iterator<Item = &'k String>, study: &[Kind]) -> Vec<String> {
    let all: std::collections::BTreeSet<&String> = names.collect();
    let mut out: Vec<String> = study.iter().map(|k| k.as_str()).filter(|s| all.iter().any(|n| n == s)).map(str::to_string).collect();
    out.extend(all.into_iter().filter(|n| !study.iter().any(|k| k.as_str() == n.as_str())).cloned());
    out
}
