//! Every derived number of SPEC §5.3 under stable dotted paths, and `summary.json`.
//!
//! Paths read `{measure}.{benchmark or task}.{model}` (e.g. `accuracy.truthfulqa.combined`,
//! `percent_change.answer.mmlu`), `correlation.{benchmark}.{task}` and `ranking.{scheme}.{model}`.

use crate::csv_out::correlations;
use crate::error::{io_err, AnalysisError, Result};
use crate::frame::Frame;
use crate::stats::{argmax, argmin, linear_fit, mean, mean_skipna, min_max, pearson};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Weighting schemes of the ranking figure: (name, benchmark weight, sycophancy weight).
pub const RANKING_SCHEMES: [(&str, f64, f64); 5] = [
    ("balanced", 0.5, 0.5),
    ("benchmark_heavy", 0.7, 0.3),
    ("sycophancy_heavy", 0.3, 0.7),
    ("benchmark_only", 1.0, 0.0),
    ("sycophancy_only", 0.0, 1.0),
];

/// Which models, benchmarks and tasks the numbers cover, in analysis order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryMeta {
    pub baseline: String,
    pub models: Vec<String>,
    pub benchmarks: Vec<String>,
    pub tasks: Vec<String>,
}

/// The derived numbers (NaN where undefined, written as JSON null) and text labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub meta: SummaryMeta,
    pub numbers: BTreeMap<String, f64>,
    pub labels: BTreeMap<String, String>,
}

impl Summary {
    pub fn get(&self, path: &str) -> Option<f64> {
        self.numbers.get(path).copied()
    }

    pub fn label(&self, path: &str) -> Option<&str> {
        self.labels.get(path).map(String::as_str)
    }

    fn set(&mut self, path: String, value: f64) {
        self.numbers.insert(path, value);
    }

    /// Adapters (models other than the baseline), in analysis order.
    pub fn adapters(&self) -> Vec<String> {
        self.meta.models.iter().filter(|m| **m != self.meta.baseline).cloned().collect()
    }

    /// The nested JSON object of `summary.json`: dotted paths become nested keys.
    pub fn to_json(&self) -> Value {
        let mut root = Map::new();
        root.insert("meta".into(), serde_json::to_value(&self.meta).expect("meta serialises"));
        let numbers = self.numbers.iter().map(|(k, v)| (k, serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number)));
        let labels = self.labels.iter().map(|(k, v)| (k, Value::String(v.clone())));
        for (path, value) in numbers.chain(labels) {
            let mut node = &mut root;
            let parts: Vec<&str> = path.split('.').collect();
            for part in &parts[..parts.len() - 1] {
                node = node
                    .entry(part.to_string())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .unwrap_or_else(|| panic!("summary path {path} runs through a value"));
            }
            node.insert(parts[parts.len() - 1].to_string(), value);
        }
        Value::Object(root)
    }

    /// Reads back what `to_json` wrote.
    pub fn from_json(value: &Value) -> std::result::Result<Self, String> {
        let obj = value.as_object().ok_or("summary.json is not an object")?;
        let meta = match obj.get("meta") {
            Some(m) => serde_json::from_value(m.clone()).map_err(|e| format!("meta: {e}"))?,
            None => SummaryMeta::default(),
        };
        let mut s = Summary { meta, ..Summary::default() };
        fn walk(prefix: &str, v: &Value, s: &mut Summary) -> std::result::Result<(), String> {
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                        walk(&path, child, s)?;
                    }
                }
                Value::Number(n) => {
                    s.numbers.insert(prefix.to_string(), n.as_f64().unwrap_or(f64::NAN));
                }
                Value::Null => {
                    s.numbers.insert(prefix.to_string(), f64::NAN);
                }
                Value::String(t) => {
                    s.labels.insert(prefix.to_string(), t.clone());
                }
                other => return Err(format!("{prefix}: unexpected {other}")),
            }
            Ok(())
        }
        for (k, v) in obj.iter().filter(|(k, _)| *k != "meta") {
            walk(k, v, &mut s)?;
        }
        Ok(s)
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.to_json()).expect("summary serialises");
        std::fs::write(path, text + "\n").map_err(io_err(path))
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| AnalysisError::Json {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            msg: e.to_string(),
        })?;
        Summary::from_json(&value).map_err(|msg| AnalysisError::Field { path: path.into(), field: "summary".into(), msg })
    }
}

/// Computes every derived number from the frame.
pub fn summarize(f: &Frame) -> Summary {
    let mut s = Summary {
        meta: SummaryMeta {
            baseline: f.name(f.baseline).to_string(),
            models: f.models.iter().map(|m| m.name.clone()).collect(),
            benchmarks: f.benchmarks.clone(),
            tasks: f.tasks.clone(),
        },
        ..Summary::default()
    };
    // Open tasks only: the study's numbers would all be undefined.
    if !f.has_study() {
        return s;
    }
    raw_scores(f, &mut s);
    changes(f, &mut s);
    for (b, t, r) in correlations(f) {
        s.set(format!("correlation.{b}.{t}"), r);
    }
    tradeoff(f, &mut s);
    progression(f, &mut s);
    ranking(f, &mut s);
    s
}

fn raw_scores(f: &Frame, s: &mut Summary) {
    for row in f.all_rows() {
        let m = f.name(row);
        for (bi, b) in f.benchmarks.iter().enumerate() {
            s.set(format!("accuracy.{b}.{m}"), f.accuracy[row][bi]);
        }
        for (ti, t) in f.tasks.iter().enumerate() {
            s.set(format!("score.{t}.{m}"), f.score[row][ti]);
            s.set(format!("sycophantic.{t}.{m}"), f.sycophantic[row][ti] as f64);
        }
        s.set(format!("total_sycophancy_score.{m}"), f.mean_score[row]);
    }
}

/// Changes, percentage changes, per-adapter averages, labels, best/worst and the counts.
fn changes(f: &Frame, s: &mut Summary) {
    let adapters = f.adapters();
    let base = f.baseline;
    let percent = |change: f64, baseline: f64| {
        if baseline == 0.0 {
            0.0
        } else {
            change / baseline * 100.0
        }
    };
    let (mut avg_bench, mut avg_syc) = (Vec::new(), Vec::new());
    for &row in &adapters {
        let m = f.name(row);
        let bench: Vec<f64> = (0..f.benchmarks.len()).map(|b| f.bench_change(row, b)).collect();
        let syc: Vec<f64> = (0..f.tasks.len()).map(|t| f.syc_change(row, t)).collect();
        for (bi, b) in f.benchmarks.iter().enumerate() {
            s.set(format!("change.{b}.{m}"), bench[bi]);
            s.set(format!("percent_change.{b}.{m}"), percent(bench[bi], f.accuracy[base][bi]));
        }
        for (ti, t) in f.tasks.iter().enumerate() {
            s.set(format!("change.{t}.{m}"), syc[ti]);
            s.set(format!("percent_change.{t}.{m}"), percent(syc[ti], f.score[base][ti]));
        }
        let (ab, asy) = (mean(&bench), mean(&syc));
        s.set(format!("avg_bench_change.{m}"), ab);
        s.set(format!("avg_syc_change.{m}"), asy);
        s.set(format!("direction.avg_syc_change.{m}"), sign(asy));
        // The notebook's rule; an adapter that fits neither gets no label.
        let label = if asy < 0.0 && ab > 0.0 {
            "WIN-WIN"
        } else if asy > 0.0 && ab > 0.0 {
            "TRADE-OFF"
        } else {
            "none"
        };
        s.labels.insert(format!("label.{m}"), label.into());
        avg_bench.push(ab);
        avg_syc.push(asy);
    }
    for key in f.benchmarks.iter().chain(&f.tasks) {
        let pcts: Vec<f64> = adapters.iter().map(|&r| s.numbers[&format!("percent_change.{key}.{}", f.name(r))]).collect();
        if let (Some(lo), Some(hi)) = (argmin(&pcts), argmax(&pcts)) {
            s.set(format!("percent_change_extent.{key}.min"), pcts[lo]);
            s.set(format!("percent_change_extent.{key}.max"), pcts[hi]);
        }
    }
    s.set("count.syc_reduction".into(), avg_syc.iter().filter(|v| **v < 0.0).count() as f64);
    s.set("count.syc_increase".into(), avg_syc.iter().filter(|v| **v > 0.0).count() as f64);
    let mut pick = |name: &str, idx: Option<usize>, values: &[f64]| {
        if let Some(i) = idx {
            s.labels.insert(format!("{name}.adapter"), f.name(adapters[i]).to_string());
            s.numbers.insert(format!("{name}.value"), values[i]);
        }
    };
    pick("best.syc_reduction", argmin(&avg_syc), &avg_syc);
    pick("worst.syc_increase", argmax(&avg_syc), &avg_syc);
    pick("best.benchmark", argmax(&avg_bench), &avg_bench);
}

fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Benchmark accuracy vs mean sycophancy score over all rows (the trade-off figure).
fn tradeoff(f: &Frame, s: &mut Summary) {
    let rows = f.all_rows();
    for (bi, b) in f.benchmarks.iter().enumerate() {
        let x = f.accuracy_column(&rows, bi);
        let (slope, intercept) = linear_fit(&x, &f.mean_score);
        s.set(format!("tradeoff.r.{b}"), pearson(&x, &f.mean_score));
        s.set(format!("tradeoff.slope.{b}"), slope);
        s.set(format!("tradeoff.intercept.{b}"), intercept);
    }
}

/// Average benchmark change vs each task's change over the adapters (the progression figure).
fn progression(f: &Frame, s: &mut Summary) {
    let adapters = f.adapters();
    let x: Vec<f64> = adapters.iter().map(|r| s.numbers[&format!("avg_bench_change.{}", f.name(*r))]).collect();
    for (ti, t) in f.tasks.iter().enumerate() {
        let y: Vec<f64> = adapters.iter().map(|&r| f.syc_change(r, ti)).collect();
        let (slope, intercept) = linear_fit(&x, &y);
        s.set(format!("progression.r.{t}"), pearson(&x, &y));
        s.set(format!("progression.slope.{t}"), slope);
        s.set(format!("progression.intercept.{t}"), intercept);
    }
}

/// Min-max normalised composites over the adapters and the five weighting schemes.
fn ranking(f: &Frame, s: &mut Summary) {
    let adapters = f.adapters();
    let n = adapters.len();
    let bench_norm: Vec<Vec<f64>> = (0..f.benchmarks.len()).map(|b| min_max(&f.accuracy_column(&adapters, b))).collect();
    // Lower sycophancy is better, so its normalised score is flipped.
    let syc_norm: Vec<Vec<f64>> =
        (0..f.tasks.len()).map(|t| min_max(&f.score_column(&adapters, t)).into_iter().map(|v| 1.0 - v).collect()).collect();
    // A constant column normalises to NaN; pandas' row mean skips it.
    let bench_comp: Vec<f64> = (0..n).map(|i| mean_skipna(&bench_norm.iter().map(|c| c[i]).collect::<Vec<_>>())).collect();
    let syc_comp: Vec<f64> = (0..n).map(|i| mean_skipna(&syc_norm.iter().map(|c| c[i]).collect::<Vec<_>>())).collect();
    for (i, &row) in adapters.iter().enumerate() {
        s.set(format!("ranking.bench_comp.{}", f.name(row)), bench_comp[i]);
        s.set(format!("ranking.syc_comp.{}", f.name(row)), syc_comp[i]);
    }
    for (scheme, wb, ws) in RANKING_SCHEMES {
        let overall: Vec<f64> = (0..n).map(|i| wb * bench_comp[i] + ws * syc_comp[i]).collect();
        let mut order: Vec<usize> = (0..n).collect();
        // Highest first; stable, so ties keep adapter order.
        order.sort_by(|&a, &b| overall[b].total_cmp(&overall[a]));
        for (rank, &i) in order.iter().enumerate() {
            let m = f.name(adapters[i]);
            s.set(format!("ranking.{scheme}.{m}"), overall[i]);
            s.set(format!("rank.{scheme}.{m}"), (rank + 1) as f64);
        }
        let names: Vec<&str> = order.iter().map(|&i| f.name(adapters[i])).collect();
        s.labels.insert(format!("ranking_order.{scheme}"), names.join(" > "));
    }
}
