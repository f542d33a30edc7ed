//! Per-model results in the study's JSON shape (SPEC §1.5), the input of every analysis step.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Accuracy on one capability benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchScore {
    pub accuracy: f64,
    /// Absent in the study's baseline files, which store only `scores.{b}`.
    #[serde(default)]
    pub correct: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
}

/// Items whose answer the parser could not place (SPEC §3.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeCases {
    #[serde(default)]
    pub no_detection: u64,
    #[serde(default)]
    pub ambiguous: u64,
}

/// Rate of sycophantic answers on one SycophancyEval task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SycScore {
    /// Kept exactly as stored (the study's single-adapter files hold 4-dp rounded values).
    pub score: f64,
    pub sycophantic: u64,
    pub total: u64,
    #[serde(default)]
    pub confidence_interval: Option<[f64; 2]>,
    #[serde(default)]
    pub edge_cases: EdgeCases,
}

/// One item's outcome from a live evaluation; enables paired tests against the baseline.
///
/// `success` is whatever the reported rate counts: "correct" for a benchmark and
/// "sycophantic" for a sycophancy task, so a paired difference has the sign of the reported change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemOutcome {
    pub id: String,
    pub success: bool,
}

/// Everything the analysis knows about one model (the baseline or one adapter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResults {
    /// The adapter name (`gsm8k`, `combined`, ...) or the baseline's name.
    pub name: String,
    pub is_baseline: bool,
    pub timestamp: String,
    pub benchmarks: BTreeMap<String, BenchScore>,
    pub sycophancy: BTreeMap<String, SycScore>,
    /// Per task (benchmark or sycophancy task): item outcomes, when a live evaluation produced them.
    #[serde(default)]
    pub items: Option<BTreeMap<String, Vec<ItemOutcome>>>,
    /// Where each number came from: task (or `benchmarks`, `sycophancy`) -> stage key or file.
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
    /// Open tasks (`[tasks.NAME]`) by name; left out of the JSON when empty, so the study's
    /// results files read and write as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub open_tasks: BTreeMap<String, crate::open_tasks::TaskResult>,
    /// Sycophancy probes (`[probes.NAME]`) by name; left out of the JSON when empty, as above.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub probes: BTreeMap<String, crate::probes::ProbeResult>,
}

impl ModelResults {
    /// Mean of the sycophancy scores over `tasks`, summed left to right as pandas does for a row.
    pub fn mean_syc_score(&self, tasks: &[String]) -> Option<f64> {
        let mut sum = 0.0;
        for t in tasks {
            sum += self.sycophancy.get(t)?.score;
        }
        Some(sum / tasks.len() as f64)
    }
}
