//! Reads the study's result JSONs (SPEC §1.5) into [`ModelResults`], keeping the stored `score`
//! fields (4-dp rounded for the single adapters) and timestamps exactly.

use crate::error::{io_err, AnalysisError, Result};
use crate::results::{BenchScore, ModelResults, SycScore};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where one model's study results live (one `[import.NAME]` manifest section).
#[derive(Debug, Clone, PartialEq)]
pub enum StudySource {
    /// The baseline: benchmark files holding `scores.{b}` (the first one gives the timestamp)
    /// and `sycophancy_baseline_results.json`.
    Baseline { benchmarks: Vec<PathBuf>, sycophancy: PathBuf },
    /// One `post_fine_tuning/*_results.json`.
    Adapter { results: PathBuf },
}

#[derive(Deserialize)]
struct BaselineBenchFile {
    timestamp: String,
    scores: BTreeMap<String, f64>,
    #[serde(default)]
    test_samples: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct AdapterFile {
    timestamp: String,
    benchmarks: BTreeMap<String, BenchScore>,
    sycophancy: BTreeMap<String, SycScore>,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| AnalysisError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        msg: e.to_string(),
    })
}

/// Reads one model's results; `name` becomes [`ModelResults::name`] and provenance records the
/// file each number came from.
pub fn read_study_results(name: &str, source: &StudySource) -> Result<ModelResults> {
    let mut provenance = BTreeMap::new();
    match source {
        StudySource::Baseline { benchmarks, sycophancy } => {
            let mut timestamp = None;
            let mut scores = BTreeMap::new();
            for path in benchmarks {
                let file: BaselineBenchFile = read_json(path)?;
                // The study's analysis takes the baseline timestamp from its first (GSM8K/MMLU) file.
                timestamp.get_or_insert(file.timestamp);
                for (b, accuracy) in file.scores {
                    let total = file.test_samples.get(&b).copied();
                    provenance.insert(b.clone(), path.display().to_string());
                    scores.insert(b, BenchScore { accuracy, correct: None, total });
                }
            }
            let syc: BTreeMap<String, SycScore> = read_json(sycophancy)?;
            for t in syc.keys() {
                provenance.insert(t.clone(), sycophancy.display().to_string());
            }
            Ok(ModelResults {
                name: name.to_string(),
                is_baseline: true,
                timestamp: timestamp.ok_or_else(|| AnalysisError::Field {
                    path: sycophancy.clone(),
                    field: "benchmarks".into(),
                    msg: "the baseline needs at least one benchmark file".into(),
                })?,
                benchmarks: scores,
                sycophancy: syc,
                items: None,
                provenance,
                open_tasks: BTreeMap::new(),
                probes: BTreeMap::new(),
            })
        }
        StudySource::Adapter { results } => {
            let file: AdapterFile = read_json(results)?;
            for k in file.benchmarks.keys().chain(file.sycophancy.keys()) {
                provenance.insert(k.clone(), results.display().to_string());
            }
            Ok(ModelResults {
                name: name.to_string(),
                is_baseline: false,
                timestamp: file.timestamp,
                benchmarks: file.benchmarks,
                sycophancy: file.sycophancy,
                items: None,
                provenance,
                open_tasks: BTreeMap::new(),
                probes: BTreeMap::new(),
            })
        }
    }
}

/// The study's adapters and the file that holds each (the combined adapter's is `all_benchmarks`).
pub const STUDY_ADAPTER_FILES: [(&str, &str); 5] = [
    ("gsm8k", "gsm8k_results.json"),
    ("mmlu", "mmlu_results.json"),
    ("truthfulqa", "truthfulqa_results.json"),
    ("hellaswag", "hellaswag_results.json"),
    ("combined", "all_benchmarks_results.json"),
];

/// All six models from a `04_results` folder laid out as in the study, baseline first.
pub fn read_study_dir(results_dir: &Path) -> Result<Vec<ModelResults>> {
    let pre = results_dir.join("pre_fine_tuning");
    let post = results_dir.join("post_fine_tuning");
    let mut out = vec![read_study_results(
        "baseline",
        &StudySource::Baseline {
            benchmarks: vec![pre.join("baseline_gsm8k_mmlu.json"), pre.join("baseline_truthfulqa_hellaswag.json")],
            sycophancy: pre.join("sycophancy_baseline_results.json"),
        },
    )?];
    for (name, file) in STUDY_ADAPTER_FILES {
        out.push(read_study_results(name, &StudySource::Adapter { results: post.join(file) })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = read_study_results("x", &StudySource::Adapter { results: missing.clone() }).unwrap_err();
        assert!(err.to_string().contains("nope.json"), "{err}");

        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\n  \"timestamp\": \"t\",\n  \"benchmarks\": {\"gsm8k\": {\"accuracy\": \"high\"}}\n}").unwrap();
        let err = read_study_results("x", &StudySource::Adapter { results: bad }).unwrap_err().to_string();
        assert!(err.contains("bad.json:3:"), "{err}");
    }
}
