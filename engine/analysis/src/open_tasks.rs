//! Open tasks (`[tasks.NAME]`, lm-eval YAML): any number of tasks keyed by name, each with the
//! metrics its `metrics.json` lists, compared across models and against the baseline.
//!
//! Input per (model, task): `metrics.json` (`{"task": .., "acc": 0.41, "acc_stderr": 0.05, "n": 100}`;
//! a metric `M` or `M,PIPELINE` has its standard error under `M_stderr` or `M_stderr,PIPELINE`,
//! possibly null) and `items.jsonl` (per record `doc_id`, `id` and the metric's per-item value).
//! Output: `tasks.csv`, the `tasks.{TASK}.{MODEL}.*` paths of `summary.json`, the report's Tasks
//! section and `figures/tasks.png|svg`.

use crate::csv_out::render_csv;
use crate::error::{io_err, AnalysisError, Result};
use crate::pyrepr::csv_float;
use crate::results::ModelResults;
use crate::summary::Summary;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use syco_eval::stats::mcnemar_exact;

pub const TASKS_CSV: &str = "tasks.csv";
/// `figures/tasks.png` and `.svg`.
pub const TASKS_FIGURE: &str = "tasks";
/// Under `tasks.{TASK}.{MODEL}` in `summary.json`: the change against the baseline, per metric.
pub const DELTA_KEY: &str = "delta_vs_baseline";

/// One metric of one model on one task, as `metrics.json` states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMetric {
    pub name: String,
    /// None where `metrics.json` holds null.
    pub value: Option<f64>,
    /// None where the standard error is null or absent.
    pub stderr: Option<f64>,
    /// Whether `metrics.json` has the stderr key at all (null included).
    pub has_stderr_key: bool,
}

/// One record's per-metric values from `items.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskItem {
    /// `doc_id` and `id` together: two models' items pair only when both agree.
    pub key: String,
    pub values: BTreeMap<String, f64>,
}

/// One model's results on one open task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// In the order of `metrics.json`.
    pub metrics: Vec<TaskMetric>,
    /// `n` of `metrics.json`, else the number of items.
    pub n: Option<u64>,
    pub items: Vec<TaskItem>,
}

/// The stderr key of a metric: `acc` -> `acc_stderr`, `exact_match,flex` -> `exact_match_stderr,flex`.
pub fn stderr_key(metric: &str) -> String {
    match metric.split_once(',') {
        Some((m, pipeline)) => format!("{m}_stderr,{pipeline}"),
        None => format!("{metric}_stderr"),
    }
}

fn is_stderr_key(key: &str) -> bool {
    key.split(',').next().is_some_and(|m| m.ends_with("_stderr"))
}

/// Keys of `metrics.json` that describe the run, not a metric.
const NOT_METRICS: [&str; 2] = ["task", "n"];

impl TaskResult {
    /// Reads a task's `metrics.json` object and `items.jsonl` records. Every numeric (or null)
    /// key but `n` and the stderr keys is a metric.
    pub fn from_json(metrics: &Value, items: &[Value]) -> std::result::Result<TaskResult, String> {
        let obj = metrics.as_object().ok_or("metrics.json is not an object")?;
        let mut out = Vec::new();
        for (k, v) in obj {
            if NOT_METRICS.contains(&k.as_str()) || is_stderr_key(k) || !(v.is_number() || v.is_null()) {
                continue;
            }
            let se_key = stderr_key(k);
            let se = obj.get(&se_key);
            let stderr = match se {
                None | Some(Value::Null) => None,
                Some(x) => Some(x.as_f64().ok_or_else(|| format!("`{se_key}` is not a number: {x}"))?),
            };
            out.push(TaskMetric { name: k.clone(), value: v.as_f64(), stderr, has_stderr_key: se.is_some() });
        }
        let n = match obj.get("n") {
            None | Some(Value::Null) => None,
            Some(x) => Some(x.as_u64().ok_or_else(|| format!("`n` is not a count: {x}"))?),
        };
        let mut parsed = Vec::with_capacity(items.len());
        for (line, it) in items.iter().enumerate() {
            let id = |k: &str| match it.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(v @ Value::Number(_)) => Some(v.to_string()),
                _ => None,
            };
            let (doc_id, rid) = (id("doc_id"), id("id"));
            if doc_id.is_none() && rid.is_none() {
                return Err(format!("items.jsonl line {}: neither `doc_id` nor `id`", line + 1));
            }
            let values = out
                .iter()
                .filter_map(|m| {
                    let v = match it.get(&m.name)? {
                        Value::Bool(b) => *b as u8 as f64,
                        Value::Number(x) => x.as_f64()?,
                        _ => return None,
                    };
                    Some((m.name.clone(), v))
                })
                .collect();
            parsed.push(TaskItem { key: format!("{}/{}", doc_id.unwrap_or_default(), rid.unwrap_or_default()), values });
        }
        Ok(TaskResult { n: n.or(Some(parsed.len() as u64)), metrics: out, items: parsed })
    }

    pub fn metric(&self, name: &str) -> Option<&TaskMetric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// A model's metric compared with the baseline's.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Model value minus baseline value, both from `metrics.json`; NaN where one is null.
    pub delta: f64,
    /// Items both evaluated (same `doc_id` and `id`) with a value of this metric.
    pub paired: usize,
    /// Exact McNemar on the paired items, when every paired value is 0 or 1 (and some are paired).
    pub test: Option<McNemarTest>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct McNemarTest {
    /// Baseline 1, model 0.
    pub lost: usize,
    /// Baseline 0, model 1.
    pub gained: usize,
    pub p_value: f64,
}

/// One model's row of a task's table.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub model: String,
    pub result: TaskResult,
    /// Per metric of the table; None for the baseline, or where the baseline lacks the task or metric.
    pub vs_baseline: Vec<Option<Delta>>,
}

/// One task across the models evaluated on it, in the analysis' model order.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskTable {
    pub task: String,
    /// Every metric some model reports, in the first reporting model's order.
    pub metrics: Vec<String>,
    /// The one the figure shows: `acc` (multiple choice), else `exact_match` (generate, the first
    /// pipeline's when named per pipeline), else the first.
    pub primary: String,
    pub rows: Vec<TaskRow>,
}

impl TaskTable {
    /// (value, stderr) of a model's metric.
    pub fn value(&self, model: &str, metric: &str) -> Option<(Option<f64>, Option<f64>)> {
        let row = self.rows.iter().find(|r| r.model == model)?;
        row.result.metric(metric).map(|m| (m.value, m.stderr))
    }
}

fn primary_metric(metrics: &[String]) -> String {
    let pick = |pred: &dyn Fn(&str) -> bool| metrics.iter().find(|m| pred(m)).cloned();
    pick(&|m| m == "acc")
        .or_else(|| pick(&|m| m == "exact_match"))
        .or_else(|| pick(&|m| m.starts_with("exact_match,")))
        .or_else(|| metrics.first().cloned())
        .unwrap_or_default()
}

/// Compares a model's metric with the baseline's: the change, and McNemar on the paired items.
pub fn compare(base: &TaskResult, model: &TaskResult, metric: &str) -> Option<Delta> {
    let (b, m) = (base.metric(metric)?, model.metric(metric)?);
    let delta = match (b.value, m.value) {
        (Some(b), Some(m)) => m - b,
        _ => f64::NAN,
    };
    let base_by_key: BTreeMap<&str, f64> = base.items.iter().filter_map(|it| Some((it.key.as_str(), *it.values.get(metric)?))).collect();
    let pairs: Vec<(f64, f64)> =
        model.items.iter().filter_map(|it| Some((*base_by_key.get(it.key.as_str())?, *it.values.get(metric)?))).collect();
    let binary = |v: f64| v == 0.0 || v == 1.0;
    // McNemar is defined for 0/1 outcomes only; a graded per-item metric gets no test.
    let test = (!pairs.is_empty() && pairs.iter().all(|&(b, m)| binary(b) && binary(m))).then(|| {
        let bools: Vec<(bool, bool)> = pairs.iter().map(|&(b, m)| (b == 1.0, m == 1.0)).collect();
        let t = mcnemar_exact(&bools);
        McNemarTest { lost: t.only_first, gained: t.only_second, p_value: t.p_value }
    });
    Some(Delta { delta, paired: pairs.len(), test })
}

/// One table per open task (sorted by name), rows in `models` order.
pub fn tables(results: &[ModelResults], models: &[String], baseline: &str) -> Result<Vec<TaskTable>> {
    let ordered: Vec<&ModelResults> = models.iter().filter_map(|n| results.iter().find(|r| &r.name == n)).collect();
    let names: std::collections::BTreeSet<&String> = ordered.iter().flat_map(|r| r.open_tasks.keys()).collect();
    let base = ordered.iter().find(|r| r.name == baseline);
    let mut out = Vec::new();
    for task in names {
        if task.contains('.') {
            return Err(AnalysisError::DottedName { what: "task", name: task.clone() });
        }
        let mut metrics: Vec<String> = Vec::new();
        for r in &ordered {
            for m in r.open_tasks.get(task).iter().flat_map(|t| &t.metrics) {
                if m.name.contains('.') {
                    return Err(AnalysisError::DottedName { what: "metric", name: m.name.clone() });
                }
                if !metrics.contains(&m.name) {
                    metrics.push(m.name.clone());
                }
            }
        }
        let base_task = base.and_then(|b| b.open_tasks.get(task));
        let rows = ordered
            .iter()
            .filter_map(|r| {
                let result = r.open_tasks.get(task)?;
                let vs_baseline = metrics
                    .iter()
                    .map(|m| match base_task {
                        Some(b) if r.name != baseline => compare(b, result, m),
                        _ => None,
                    })
                    .collect();
                Some(TaskRow { model: r.name.clone(), result: result.clone(), vs_baseline })
            })
            .collect();
        out.push(TaskTable { task: task.clone(), primary: primary_metric(&metrics), metrics, rows });
    }
    Ok(out)
}

/// Records every table under `tasks.{TASK}.{MODEL}`: each metric, its stderr key, `n`, and
/// `delta_vs_baseline.{metric}.{delta, n_paired, lost, gained, p_value}`.
pub fn record(tables: &[TaskTable], summary: &mut Summary) {
    let nan = f64::NAN;
    for t in tables {
        for row in &t.rows {
            let prefix = format!("tasks.{}.{}", t.task, row.model);
            let mut put = |k: String, v: f64| summary.numbers.insert(format!("{prefix}.{k}"), v);
            for m in &row.result.metrics {
                put(m.name.clone(), m.value.unwrap_or(nan));
                if m.has_stderr_key {
                    put(stderr_key(&m.name), m.stderr.unwrap_or(nan));
                }
            }
            if let Some(n) = row.result.n {
                put("n".into(), n as f64);
            }
            for (metric, d) in t.metrics.iter().zip(&row.vs_baseline) {
                let Some(d) = d else { continue };
                let p = format!("{DELTA_KEY}.{metric}");
                put(format!("{p}.delta"), d.delta);
                put(format!("{p}.n_paired"), d.paired as f64);
                match &d.test {
                    Some(test) => {
                        put(format!("{p}.lost"), test.lost as f64);
                        put(format!("{p}.gained"), test.gained as f64);
                        put(format!("{p}.p_value"), test.p_value);
                    }
                    // Written as null: no test was possible (no paired items, or graded values).
                    None => {
                        put(format!("{p}.p_value"), nan);
                    }
                }
            }
        }
    }
}

/// `tasks.csv`: model, task, metric, value, stderr, n; models in analysis order, tasks by name,
/// metrics in each task's order. Null values and stderrs are empty cells.
pub fn csv(tables: &[TaskTable], models: &[String]) -> String {
    let header: Vec<String> = ["model", "task", "metric", "value", "stderr", "n"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for model in models {
        for t in tables {
            let Some(row) = t.rows.iter().find(|r| &r.model == model) else { continue };
            for m in &row.result.metrics {
                rows.push(vec![
                    model.clone(),
                    t.task.clone(),
                    m.name.clone(),
                    m.value.map_or(String::new(), csv_float),
                    m.stderr.map_or(String::new(), csv_float),
                    row.result.n.map_or(String::new(), |n| n.to_string()),
                ]);
            }
        }
    }
    render_csv(&header, &rows)
}

pub fn write_csv(tables: &[TaskTable], models: &[String], dir: &Path) -> Result<()> {
    let path = dir.join(TASKS_CSV);
    std::fs::write(&path, csv(tables, models)).map_err(io_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(metrics: Value, items: Vec<Value>) -> TaskResult {
        TaskResult::from_json(&metrics, &items).unwrap()
    }

    fn model(name: &str, tasks: Vec<(&str, TaskResult)>) -> ModelResults {
        ModelResults {
            name: name.into(),
            is_baseline: false,
            timestamp: String::new(),
            benchmarks: BTreeMap::new(),
            sycophancy: BTreeMap::new(),
            items: None,
            provenance: BTreeMap::new(),
            open_tasks: tasks.into_iter().map(|(t, r)| (t.to_string(), r)).collect(),
            probes: BTreeMap::new(),
        }
    }

    /// `acc` per item from a 0/1 string; `doc_id` is the position, `id` "r{position}".
    fn items(acc: &str) -> Vec<Value> {
        acc.chars().enumerate().map(|(i, c)| json!({"doc_id": i, "id": format!("r{i}"), "acc": (c == '1') as u8, "pred": 2})).collect()
    }

    #[test]
    fn metrics_json_keys_split_into_metrics_stderrs_and_n() {
        let r = result(
            json!({"task": "arc", "acc": 0.5, "acc_stderr": 0.25, "acc_norm": 0.75, "acc_norm_stderr": null,
                   "exact_match,flex": 0.125, "exact_match_stderr,flex": 0.0625, "n": 4}),
            items("1010"),
        );
        let names: Vec<&str> = r.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["acc", "acc_norm", "exact_match,flex"]);
        assert_eq!(r.metric("acc").unwrap().stderr, Some(0.25));
        assert_eq!(r.metric("acc_norm").unwrap().stderr, None);
        assert!(r.metric("acc_norm").unwrap().has_stderr_key);
        assert_eq!(r.metric("exact_match,flex").unwrap().stderr, Some(0.0625));
        assert_eq!(r.n, Some(4));
        assert_eq!(r.items[1].key, "1/r1");
        assert_eq!(r.items[2].values.get("acc"), Some(&1.0));
        // `pred` is not a metric of metrics.json, so it is not kept.
        assert!(!r.items[0].values.contains_key("pred"));
        assert!(TaskResult::from_json(&json!({"acc": 0.5}), &[json!({"acc": 1})]).unwrap_err().contains("doc_id"));
        assert!(TaskResult::from_json(&json!({"acc": 0.5, "acc_stderr": "x"}), &[]).is_err());
    }

    #[test]
    fn delta_and_mcnemar_on_the_shared_items() {
        // Baseline right on 0..6, adapter right on 2..10: 2 lost (0, 1), 4 gained (6..10) of 10 pairs.
        let base = result(json!({"acc": 0.6, "acc_stderr": 0.16, "n": 10}), items("1111110000"));
        let adapter = result(json!({"acc": 0.8, "acc_stderr": 0.13, "n": 10}), items("0011111111"));
        let d = compare(&base, &adapter, "acc").unwrap();
        assert!((d.delta - 0.2).abs() < 1e-12, "{d:?}");
        assert_eq!(d.paired, 10);
        let t = d.test.unwrap();
        assert_eq!((t.lost, t.gained), (2, 4));
        // Exact two-sided: 2 * P(X <= 2), X ~ Bin(6, 1/2) = 2 * 22/64.
        assert!((t.p_value - 44.0 / 64.0).abs() < 1e-12, "{}", t.p_value);

        // Only the items both evaluated pair: the adapter's last four are other records.
        let mut other = items("0011111111");
        for it in &mut other[6..] {
            it["id"] = json!("elsewhere");
        }
        let d = compare(&base, &result(json!({"acc": 0.8}), other), "acc").unwrap();
        assert_eq!(d.paired, 6);
        assert_eq!(d.test.as_ref().map(|t| (t.lost, t.gained)), Some((2, 0)));

        // A graded per-item metric gets a change but no McNemar test.
        let graded = |v: f64| vec![json!({"doc_id": 0, "id": "a", "f1": v})];
        let d = compare(&result(json!({"f1": 0.5}), graded(0.5)), &result(json!({"f1": 0.25}), graded(0.25)), "f1").unwrap();
        assert_eq!((d.delta, d.paired, d.test), (-0.25, 1, None));
        // A null value leaves the change undefined.
        let d = compare(&result(json!({"acc": null}), items("1")), &result(json!({"acc": 1.0}), items("1")), "acc").unwrap();
        assert!(d.delta.is_nan());
    }

    #[test]
    fn tables_summary_paths_and_csv() {
        let base = model(
            "base",
            vec![
                (
                    "arc",
                    result(
                        json!({"task": "arc", "acc": 0.5, "acc_stderr": 0.25, "acc_norm": 0.25, "acc_norm_stderr": 0.2, "n": 4}),
                        items("1100"),
                    ),
                ),
                ("gen", result(json!({"task": "gen", "exact_match,strict": 0.5, "exact_match_stderr,strict": null, "n": 2}), vec![])),
            ],
        );
        let a = model(
            "a",
            vec![(
                "arc",
                result(
                    json!({"task": "arc", "acc": 0.75, "acc_stderr": 0.2, "acc_norm": 0.5, "acc_norm_stderr": 0.25, "n": 4}),
                    items("0111"),
                ),
            )],
        );
        // Not in the analysis order: left out.
        let stray = model("stray", vec![("zzz", result(json!({"acc": 1.0}), items("1")))]);
        let order = vec!["base".to_string(), "a".to_string()];
        let t = tables(&[a, base, stray], &order, "base").unwrap();
        assert_eq!(t.iter().map(|t| t.task.as_str()).collect::<Vec<_>>(), ["arc", "gen"]);
        assert_eq!(t[0].primary, "acc");
        assert_eq!(t[1].primary, "exact_match,strict");
        assert_eq!(t[0].rows.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(), ["base", "a"]);
        assert_eq!(t[0].rows[0].vs_baseline, vec![None, None]);

        let mut s = Summary::default();
        record(&t, &mut s);
        assert_eq!(s.get("tasks.arc.a.acc"), Some(0.75));
        assert_eq!(s.get("tasks.arc.a.acc_stderr"), Some(0.2));
        assert_eq!(s.get("tasks.arc.a.n"), Some(4.0));
        assert_eq!(s.get("tasks.arc.a.delta_vs_baseline.acc.delta"), Some(0.25));
        assert_eq!(s.get("tasks.arc.a.delta_vs_baseline.acc.lost"), Some(1.0));
        assert_eq!(s.get("tasks.arc.a.delta_vs_baseline.acc.gained"), Some(2.0));
        assert_eq!(s.get("tasks.arc.a.delta_vs_baseline.acc.p_value"), Some(1.0));
        assert!(s.get("tasks.gen.base.exact_match_stderr,strict").unwrap().is_nan());
        assert!(s.get("tasks.arc.base.delta_vs_baseline.acc.delta").is_none());
        // The JSON nests them as {TASK: {MODEL: {metric: value}}}, null for NaN.
        let j = s.to_json();
        assert_eq!(j["tasks"]["arc"]["a"]["acc_norm"], json!(0.5));
        assert_eq!(j["tasks"]["gen"]["base"]["exact_match_stderr,strict"], Value::Null);
        assert_eq!(Summary::from_json(&j).unwrap().numbers.len(), s.numbers.len());

        assert_eq!(
            csv(&t, &order),
            "model,task,metric,value,stderr,n\n\
             base,arc,acc,0.5,0.25,4\nbase,arc,acc_norm,0.25,0.2,4\nbase,gen,\"exact_match,strict\",0.5,,2\n\
             a,arc,acc,0.75,0.2,4\na,arc,acc_norm,0.5,0.25,4\n"
        );
    }

    #[test]
    fn dotted_task_names_are_errors() {
        let m = model("base", vec![("mmlu.law", result(json!({"acc": 1.0}), items("1")))]);
        let err = tables(&[m], &["base".into()], "base").unwrap_err();
        assert!(err.to_string().contains("mmlu.law"), "{err}");
    }
}
