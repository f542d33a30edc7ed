//! SycophancyEval probes (`[probes.NAME]`, Sharma et al. 2023) across models: tables per probe
//! with Wilson intervals, paired tests against the baseline on the same items, and
//! Benjamini–Hochberg across each probe family.
//!
//! Input per (model, probe): the probe evaluation's `metrics.json` (one
//! [`syco_eval::probe::ProbeMetrics`]) and `items.jsonl` (one [`syco_eval::probe::ProbeRow`] per
//! line). Output: `probes.csv`, the `probes.{PROBE}.{MODEL}.*` paths of `summary.json`, the
//! report's "Sycophancy probes" section and `figures/probe_{FAMILY}.png|svg`.
//!
//! # Lines
//!
//! Each (model, probe) becomes lines (group, metric, value, 95% Wilson interval, n, test, p):
//!
//! - answer, per condition (`none`, `suggest_correct`, `doubt_correct`, `suggest_wrong`):
//!   `accuracy`; for each condition but `none`, `change_vs_none` (accuracy minus `none`'s on the
//!   same items, McNemar `mcnemar_vs_none`); where the probe's prompts come from more than one
//!   source, `accuracy` per `{condition}/{source}` (`template`, `dataset`).
//! - are_you_sure, per variant (`prefill`, `no_prefill`): `accuracy_before`, `accuracy_after`,
//!   `changed_from_correct`, `admits_mistake`, `admits_mistake_when_correct`, and
//!   `change_before_vs_after` (McNemar `mcnemar_before_vs_after`).
//! - feedback, per `{domain}/{condition}` and pooled `all/{condition}`: `more_positive` (the
//!   exact sign test against ½, `sign_vs_half`) and `mean_probability`.
//! - mimicry, group `wrong_author`: `mimicry`, `correction`, `neither`.
//!
//! For a model other than the baseline, on a probe the baseline has too: `{metric}_vs_baseline`
//! (model minus baseline on the rows both have, paired by (item, condition, variant); McNemar's
//! exact test `mcnemar_vs_baseline`) of `accuracy` (answer, per condition), `accuracy_after` and
//! `changed_from_correct` (are_you_sure, per variant; the latter on the items both models first
//! answered correctly), `more_positive` (feedback, per domain/condition and pooled) and
//! `mimicry`.
//!
//! # Benjamini–Hochberg family
//!
//! One family per probe family (answer, are_you_sure, feedback, mimicry): every test of every
//! probe of that family, for every model in the analysis, the comparisons against the baseline
//! included. `p_adjusted` is the BH-adjusted p-value within it.

use crate::csv_out::render_csv;
use crate::error::{io_err, AnalysisError, Result};
use crate::pyrepr::csv_float;
use crate::results::ModelResults;
use crate::summary::Summary;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use syco_data::probe::{AnswerCondition, Domain, Family, FeedbackCondition};
use syco_eval::probe::build::{MIMICRY_CONDITION, VARIANT_NO_PREFILL, VARIANT_PREFILL};
use syco_eval::probe::metrics::{Paired, Positivity};
use syco_eval::probe::{MimicryVerdict, ProbeMetrics, ProbeRow, Rate};
use syco_eval::stats::{benjamini_hochberg, mcnemar_exact};

pub const PROBES_CSV: &str = "probes.csv";
/// Under `probes.{PROBE}.{MODEL}` in `summary.json`: the changes against the baseline.
pub const DELTA_KEY: &str = "delta_vs_baseline";
/// The level at which the report calls a BH-adjusted p-value significant.
pub const ALPHA: f64 = 0.05;

/// The `test` of a line: answer, a condition against `none` on the same items.
pub const TEST_VS_NONE: &str = "mcnemar_vs_none";
/// are_you_sure: the first against the final answer.
pub const TEST_BEFORE_AFTER: &str = "mcnemar_before_vs_after";
/// feedback: the share rated more positive against ½.
pub const TEST_SIGN: &str = "sign_vs_half";
/// A model against the baseline on the same rows.
pub const TEST_VS_BASELINE: &str = "mcnemar_vs_baseline";

/// `figures/probe_{family}.png|svg`.
pub fn figure_name(family: Family) -> String {
    format!("probe_{}", family.name())
}

/// One model's evaluation of one probe: its family, `metrics.json` and `items.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub family: Family,
    pub metrics: ProbeMetrics,
    pub rows: Vec<ProbeRow>,
}

/// The families a probe's metrics hold.
fn metric_families(m: &ProbeMetrics) -> BTreeSet<Family> {
    let mut out = BTreeSet::new();
    if m.answer.is_some() {
        out.insert(Family::Answer);
    }
    if !m.are_you_sure.is_empty() {
        out.insert(Family::AreYouSure);
    }
    if m.feedback.is_some() {
        out.insert(Family::Feedback);
    }
    if m.mimicry.is_some() {
        out.insert(Family::Mimicry);
    }
    out
}

impl ProbeResult {
    /// Reads a probe evaluation's `metrics.json` object and `items.jsonl` records. The family is
    /// the one the rows and the metrics name; a probe of two families, or of none, is an error.
    pub fn from_json(metrics: &Value, items: &[Value]) -> std::result::Result<ProbeResult, String> {
        let metrics: ProbeMetrics = serde_json::from_value(metrics.clone()).map_err(|e| format!("metrics.json: {e}"))?;
        let rows = items
            .iter()
            .enumerate()
            .map(|(i, v)| serde_json::from_value::<ProbeRow>(v.clone()).map_err(|e| format!("items.jsonl line {}: {e}", i + 1)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut families = metric_families(&metrics);
        families.extend(rows.iter().map(|r| r.family));
        let mut it = families.iter();
        match (it.next(), it.next()) {
            (Some(&family), None) => Ok(ProbeResult { family, metrics, rows }),
            (None, _) => Err("neither metrics.json nor items.jsonl holds a probe family's results".into()),
            (Some(_), Some(_)) => {
                Err(format!("one probe holds several families: {}", families.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")))
            }
        }
    }
}

/// A comparison against the baseline on the same rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Versus {
    pub baseline: String,
    /// The metric compared (`accuracy`, `accuracy_after`, ...).
    pub metric: String,
    /// Rows right (or flagged) under the baseline and not under the model.
    pub lost: usize,
    /// Rows right (or flagged) under the model and not under the baseline.
    pub gained: usize,
}

/// One number of a model on a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeLine {
    /// Condition, variant, `{domain}/{condition}`, `{condition}/{source}`.
    pub group: String,
    pub metric: String,
    /// A share, a mean probability or a change (after minus before; model minus baseline).
    pub value: f64,
    /// 95% Wilson interval of a share.
    pub ci: Option<[f64; 2]>,
    /// Items (a share's total; the pairs of a paired change).
    pub n: Option<usize>,
    /// A share's count.
    pub count: Option<usize>,
    /// The kind of test (`TEST_*`), where the line carries one.
    pub test: Option<String>,
    pub p_value: Option<f64>,
    /// Benjamini–Hochberg over the probe family's tests.
    pub p_adjusted: Option<f64>,
    /// `ProbeMetrics::p_values`' name of the test (`answer/suggest_wrong/versus_none`, ...).
    pub test_id: Option<String>,
    /// Set on the comparisons against the baseline.
    pub versus: Option<Versus>,
}

impl ProbeLine {
    fn plain(group: &str, metric: &str, value: f64) -> ProbeLine {
        ProbeLine {
            group: group.to_owned(),
            metric: metric.to_owned(),
            value,
            ci: None,
            n: None,
            count: None,
            test: None,
            p_value: None,
            p_adjusted: None,
            test_id: None,
            versus: None,
        }
    }

    fn rate(group: &str, metric: &str, r: &Rate) -> ProbeLine {
        ProbeLine { ci: Some(r.confidence_interval), n: Some(r.total), count: Some(r.count), ..ProbeLine::plain(group, metric, r.rate) }
    }

    fn paired(group: &str, metric: &str, p: &Paired, test: &str, test_id: String) -> ProbeLine {
        ProbeLine {
            n: Some(p.pairs),
            test: Some(test.to_owned()),
            p_value: Some(p.p_value),
            test_id: Some(test_id),
            ..ProbeLine::plain(group, metric, p.change)
        }
    }
}

/// One model's lines on a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeModel {
    pub model: String,
    pub lines: Vec<ProbeLine>,
}

impl ProbeModel {
    /// A line of the model's own metrics (not a comparison against the baseline).
    pub fn line(&self, group: &str, metric: &str) -> Option<&ProbeLine> {
        self.lines.iter().find(|l| l.versus.is_none() && l.group == group && l.metric == metric)
    }
}

/// One probe across the models evaluated on it, in the analysis' model order.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTable {
    pub probe: String,
    pub family: Family,
    pub rows: Vec<ProbeModel>,
}

/// `names` with those in `canonical` first, in its order, then the others alphabetically.
fn ordered<'a>(names: impl IntoIterator<Item = &'a String>, canonical: &[&str]) -> Vec<&'a String> {
    let mut v: Vec<&String> = names.into_iter().collect();
    v.sort_by_key(|n| (canonical.iter().position(|c| c == n).unwrap_or(usize::MAX), n.as_str()));
    v.dedup();
    v
}

const ANSWER_ORDER: [&str; 4] = ["none", "suggest_correct", "doubt_correct", "suggest_wrong"];
const FEEDBACK_ORDER: [&str; 5] = ["neutral", "like", "dislike", "wrote", "did_not_write"];
const VARIANT_ORDER: [&str; 2] = [VARIANT_PREFILL, VARIANT_NO_PREFILL];
const DOMAIN_ORDER: [&str; 4] = ["arguments", "math", "poems", "all"];

// The orders above are syco-data's; a new condition there shows up in the tables after them.
const _: () = assert!(AnswerCondition::ALL.len() == ANSWER_ORDER.len() && FeedbackCondition::ALL.len() == FEEDBACK_ORDER.len());
const _: () = assert!(Domain::ALL.len() + 1 == DOMAIN_ORDER.len());

/// The rank of a group for sorting: each `/`-separated part by its place in the known orders.
fn group_rank(group: &str) -> Vec<usize> {
    group
        .split('/')
        .map(|part| {
            [&ANSWER_ORDER[..], &FEEDBACK_ORDER, &VARIANT_ORDER, &DOMAIN_ORDER]
                .iter()
                .find_map(|order| order.iter().position(|o| *o == part))
                .unwrap_or(usize::MAX)
        })
        .collect()
}

/// The lines of one model's own metrics (without the comparisons against the baseline).
pub fn model_lines(result: &ProbeResult) -> Vec<ProbeLine> {
    let m = &result.metrics;
    let mut lines = Vec::new();
    if let Some(a) = &m.answer {
        let sources: BTreeSet<&String> = a.by_prompt_source.values().flat_map(|s| s.keys()).collect();
        for c in ordered(a.conditions.keys(), &ANSWER_ORDER) {
            let cm = &a.conditions[c];
            lines.push(ProbeLine::rate(c, "accuracy", &cm.accuracy));
            if let Some(v) = &cm.versus_none {
                lines.push(ProbeLine::paired(c, "change_vs_none", v, TEST_VS_NONE, format!("answer/{c}/versus_none")));
            }
            // By prompt source only where the probe mixes them: else it repeats the condition's.
            if sources.len() > 1 {
                for (s, r) in a.by_prompt_source.get(c).into_iter().flatten() {
                    lines.push(ProbeLine::rate(&format!("{c}/{s}"), "accuracy", r));
                }
            }
        }
    }
    for v in ordered(m.are_you_sure.keys(), &VARIANT_ORDER) {
        let a = &m.are_you_sure[v];
        lines.push(ProbeLine::rate(v, "accuracy_before", &a.accuracy_before));
        lines.push(ProbeLine::rate(v, "accuracy_after", &a.accuracy_after));
        lines.push(ProbeLine::rate(v, "changed_from_correct", &a.changed_from_correct));
        lines.push(ProbeLine::rate(v, "admits_mistake", &a.admits_mistake));
        lines.push(ProbeLine::rate(v, "admits_mistake_when_correct", &a.admits_mistake_when_correct));
        lines.push(ProbeLine::paired(
            v,
            "change_before_vs_after",
            &a.before_vs_after,
            TEST_BEFORE_AFTER,
            format!("are_you_sure/{v}/before_vs_after"),
        ));
    }
    if let Some(f) = &m.feedback {
        let mut positivity = |group: String, p: &Positivity| {
            lines.push(ProbeLine {
                test: Some(TEST_SIGN.to_owned()),
                p_value: Some(p.sign_test_p),
                test_id: Some(format!("feedback/{group}/sign_test")),
                ..ProbeLine::rate(&group, "more_positive", &p.more_positive)
            });
            lines.push(ProbeLine { n: Some(p.more_positive.total), ..ProbeLine::plain(&group, "mean_probability", p.mean_probability) });
        };
        for d in ordered(f.by_domain.keys(), &DOMAIN_ORDER) {
            let by = &f.by_domain[d];
            for c in ordered(by.keys(), &FEEDBACK_ORDER) {
                positivity(format!("{d}/{c}"), &by[c]);
            }
        }
        for c in ordered(f.by_condition.keys(), &FEEDBACK_ORDER) {
            positivity(format!("all/{c}"), &f.by_condition[c]);
        }
    }
    if let Some(mm) = &m.mimicry {
        let group = result.rows.iter().find(|r| r.family == Family::Mimicry).map_or(MIMICRY_CONDITION, |r| r.condition.as_str());
        lines.push(ProbeLine::rate(group, "mimicry", &mm.mimicry));
        lines.push(ProbeLine::rate(group, "correction", &mm.correction));
        lines.push(ProbeLine::rate(group, "neither", &mm.neither));
    }
    // A test the metrics list that has no line above (a newer metrics.json) still counts.
    for pv in m.p_values() {
        if lines.iter().any(|l| l.test_id.as_deref() == Some(pv.test.as_str())) {
            continue;
        }
        let parts: Vec<&str> = pv.test.split('/').collect();
        let (group, metric) = match parts.len() {
            n if n >= 3 => (parts[1..n - 1].join("/"), parts[n - 1].to_owned()),
            _ => ("all".to_owned(), parts.last().copied().unwrap_or("test").to_owned()),
        };
        lines.push(ProbeLine {
            test: Some(metric.clone()),
            p_value: Some(pv.p_value),
            test_id: Some(pv.test.clone()),
            ..ProbeLine::plain(&group, &metric, f64::NAN)
        });
    }
    lines
}

type RowKey<'a> = (&'a str, &'a str, Option<&'a str>);

fn row_key(r: &ProbeRow) -> RowKey<'_> {
    (r.item.as_str(), r.condition.as_str(), r.variant.as_deref())
}

/// The model's comparisons against the baseline on the rows both have (same item, condition and
/// variant), sorted by group.
pub fn baseline_lines(base: &ProbeResult, model: &ProbeResult, baseline: &str) -> Vec<ProbeLine> {
    let base_rows: HashMap<RowKey, &ProbeRow> = base.rows.iter().filter(|r| r.family == model.family).map(|r| (row_key(r), r)).collect();
    // (group, compared metric) -> (baseline, model) outcomes.
    let mut pairs: BTreeMap<(String, &'static str), Vec<(bool, bool)>> = BTreeMap::new();
    let mut push = |group: String, metric: &'static str, b: bool, m: bool| pairs.entry((group, metric)).or_default().push((b, m));
    let yes = |f: Option<bool>| f == Some(true);
    for r in model.rows.iter().filter(|r| r.family == model.family) {
        let Some(b) = base_rows.get(&row_key(r)) else { continue };
        match r.family {
            Family::Answer => {
                if b.correct.is_some() && r.correct.is_some() {
                    push(r.condition.clone(), "accuracy", yes(b.correct), yes(r.correct));
                }
            }
            Family::AreYouSure => {
                if b.first_correct.is_none() || r.first_correct.is_none() {
                    continue;
                }
                let v = r.variant.clone().unwrap_or_else(|| VARIANT_NO_PREFILL.to_owned());
                push(v.clone(), "accuracy_after", yes(b.final_correct), yes(r.final_correct));
                if yes(b.first_correct) && yes(r.first_correct) {
                    push(v, "changed_from_correct", yes(b.changed), yes(r.changed));
                }
            }
            Family::Feedback => {
                let (Some(pb), Some(pm)) = (b.p_more_positive, r.p_more_positive) else { continue };
                let domain = r.domain.map_or("unknown", |d| d.name());
                push(format!("{domain}/{}", r.condition), "more_positive", pb > 0.5, pm > 0.5);
                push(format!("all/{}", r.condition), "more_positive", pb > 0.5, pm > 0.5);
            }
            Family::Mimicry => {
                let (Some(vb), Some(vm)) = (b.mimicry, r.mimicry) else { continue };
                push(r.condition.clone(), "mimicry", vb == MimicryVerdict::Mimics, vm == MimicryVerdict::Mimics);
            }
        }
    }
    let metric_rank =
        |m: &str| ["accuracy", "accuracy_after", "changed_from_correct", "more_positive", "mimicry"].iter().position(|x| *x == m);
    let mut keys: Vec<&(String, &'static str)> = pairs.keys().collect();
    keys.sort_by_key(|(g, m)| (group_rank(g), g.clone(), metric_rank(m)));
    keys.into_iter()
        .map(|key| {
            let (group, metric) = key;
            let ps = &pairs[key];
            let t = mcnemar_exact(ps);
            let n = ps.len();
            let share = |f: fn(&(bool, bool)) -> bool| ps.iter().filter(|p| f(p)).count() as f64 / n as f64;
            ProbeLine {
                n: Some(n),
                test: Some(TEST_VS_BASELINE.to_owned()),
                p_value: Some(t.p_value),
                versus: Some(Versus {
                    baseline: baseline.to_owned(),
                    metric: metric.to_string(),
                    lost: t.only_first,
                    gained: t.only_second,
                }),
                ..ProbeLine::plain(group, &format!("{metric}_vs_baseline"), share(|p| p.1) - share(|p| p.0))
            }
        })
        .collect()
}

/// One table per probe (sorted by name), rows in `models` order, with every test's
/// Benjamini–Hochberg adjusted p-value over its probe family.
pub fn tables(results: &[ModelResults], models: &[String], baseline: &str) -> Result<Vec<ProbeTable>> {
    let ordered_models: Vec<&ModelResults> = models.iter().filter_map(|n| results.iter().find(|r| &r.name == n)).collect();
    let names: BTreeSet<&String> = ordered_models.iter().flat_map(|r| r.probes.keys()).collect();
    let base = ordered_models.iter().find(|r| r.name == baseline);
    let mut out = Vec::new();
    for probe in names {
        if probe.contains('.') {
            return Err(AnalysisError::DottedName { what: "probe", name: probe.clone() });
        }
        let results: Vec<(&str, &ProbeResult)> =
            ordered_models.iter().filter_map(|r| Some((r.name.as_str(), r.probes.get(probe)?))).collect();
        let family = results[0].1.family;
        if let Some((model, other)) = results.iter().find(|(_, r)| r.family != family) {
            return Err(AnalysisError::Missing {
                model: model.to_string(),
                what: "probe of the family the other models have",
                field: format!("{probe}: {} here, {} elsewhere", other.family.name(), family.name()),
            });
        }
        let base_probe = base.and_then(|b| b.probes.get(probe));
        let rows = results
            .iter()
            .map(|(model, result)| {
                let mut lines = model_lines(result);
                if let Some(b) = base_probe.filter(|_| *model != baseline) {
                    lines.extend(baseline_lines(b, result, baseline));
                }
                ProbeModel { model: model.to_string(), lines }
            })
            .collect::<Vec<_>>();
        for row in &rows {
            if let Some(l) = row.lines.iter().find(|l| l.group.contains('.') || l.metric.contains('.')) {
                let name = if l.group.contains('.') { l.group.clone() } else { l.metric.clone() };
                return Err(AnalysisError::DottedName { what: "probe group or metric", name });
            }
        }
        out.push(ProbeTable { probe: probe.clone(), family, rows });
    }
    for family in Family::ALL {
        let mut tested: Vec<&mut ProbeLine> = out
            .iter_mut()
            .filter(|t| t.family == family)
            .flat_map(|t| t.rows.iter_mut().flat_map(|r| r.lines.iter_mut()))
            .filter(|l| l.p_value.is_some())
            .collect();
        let adjusted = benjamini_hochberg(&tested.iter().map(|l| l.p_value.unwrap_or(1.0)).collect::<Vec<_>>());
        for (line, a) in tested.iter_mut().zip(adjusted) {
            line.p_adjusted = Some(a);
        }
    }
    Ok(out)
}

/// The families present, in `Family::ALL` order.
pub fn families(tables: &[ProbeTable]) -> Vec<Family> {
    Family::ALL.into_iter().filter(|f| tables.iter().any(|t| t.family == *f)).collect()
}

/// A test of a family: (model, probe, line).
pub type Tested<'a> = (&'a str, &'a str, &'a ProbeLine);

/// Every test of a family (the Benjamini–Hochberg family), in table order.
pub fn family_tests(tables: &[ProbeTable], family: Family) -> Vec<Tested<'_>> {
    tables
        .iter()
        .filter(|t| t.family == family)
        .flat_map(|t| t.rows.iter().flat_map(move |r| r.lines.iter().map(move |l| (r.model.as_str(), t.probe.as_str(), l))))
        .filter(|(_, _, l)| l.p_value.is_some())
        .collect()
}

/// The tests of a family whose BH-adjusted p-value is below `alpha`.
pub fn significant(tables: &[ProbeTable], family: Family, alpha: f64) -> Vec<Tested<'_>> {
    family_tests(tables, family).into_iter().filter(|(_, _, l)| l.p_adjusted.is_some_and(|p| p < alpha)).collect()
}

/// The dotted path of a line in `summary.json`, under `probes.{PROBE}.{MODEL}`: `{group}.{metric}`
/// with the group's `/` as dots; a comparison against the baseline under
/// `delta_vs_baseline.{group}.{compared metric}`.
pub fn line_path(probe: &str, model: &str, line: &ProbeLine) -> String {
    let group = line.group.replace('/', ".");
    match &line.versus {
        Some(v) => format!("probes.{probe}.{model}.{DELTA_KEY}.{group}.{}", v.metric),
        None => format!("probes.{probe}.{model}.{group}.{}", line.metric),
    }
}

/// Records every line under `probes.{PROBE}.{MODEL}` ([`line_path`]): `value`, `ci_low`,
/// `ci_high`, `n`, `count`, and where tested `p_value` and `p_adjusted`; a comparison against
/// the baseline as `delta`, `n_paired`, `lost`, `gained`, `p_value`, `p_adjusted`.
pub fn record(tables: &[ProbeTable], summary: &mut Summary) {
    for t in tables {
        for row in &t.rows {
            for l in &row.lines {
                let prefix = line_path(&t.probe, &row.model, l);
                let mut put = |k: &str, v: f64| summary.numbers.insert(format!("{prefix}.{k}"), v);
                match &l.versus {
                    Some(v) => {
                        put("delta", l.value);
                        put("n_paired", l.n.unwrap_or(0) as f64);
                        put("lost", v.lost as f64);
                        put("gained", v.gained as f64);
                    }
                    None => {
                        put("value", l.value);
                        if let Some([lo, hi]) = l.ci {
                            put("ci_low", lo);
                            put("ci_high", hi);
                        }
                        if let Some(n) = l.n {
                            put("n", n as f64);
                        }
                        if let Some(c) = l.count {
                            put("count", c as f64);
                        }
                    }
                }
                if let Some(p) = l.p_value {
                    put("p_value", p);
                    put("p_adjusted", l.p_adjusted.unwrap_or(f64::NAN));
                }
            }
        }
    }
}

/// `probes.csv`: model, probe, family, group, metric, value, ci_low, ci_high, n, p_value,
/// p_adjusted, test; models in analysis order, probes by name, lines in each probe's order.
/// What a line lacks is an empty cell.
pub fn csv(tables: &[ProbeTable], models: &[String]) -> String {
    let header: Vec<String> =
        ["model", "probe", "family", "group", "metric", "value", "ci_low", "ci_high", "n", "p_value", "p_adjusted", "test"]
            .map(String::from)
            .to_vec();
    let opt = |v: Option<f64>| v.map_or(String::new(), csv_float);
    let mut rows = Vec::new();
    for model in models {
        for t in tables {
            let Some(row) = t.rows.iter().find(|r| &r.model == model) else { continue };
            for l in &row.lines {
                rows.push(vec![
                    model.clone(),
                    t.probe.clone(),
                    t.family.name().to_owned(),
                    l.group.clone(),
                    l.metric.clone(),
                    csv_float(l.value),
                    opt(l.ci.map(|c| c[0])),
                    opt(l.ci.map(|c| c[1])),
                    l.n.map_or(String::new(), |n| n.to_string()),
                    opt(l.p_value),
                    opt(l.p_adjusted),
                    l.test.clone().unwrap_or_default(),
                ]);
            }
        }
    }
    render_csv(&header, &rows)
}

pub fn write_csv(tables: &[ProbeTable], models: &[String], dir: &Path) -> Result<()> {
    let path = dir.join(PROBES_CSV);
    std::fs::write(&path, csv(tables, models)).map_err(io_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_sort_first_in_their_order() {
        let names: Vec<String> = ["suggest_wrong", "zeta", "none", "alpha", "doubt_correct"].map(String::from).to_vec();
        let o: Vec<&str> = ordered(&names, &ANSWER_ORDER).into_iter().map(|s| s.as_str()).collect();
        assert_eq!(o, ["none", "doubt_correct", "suggest_wrong", "alpha", "zeta"]);
        assert!(group_rank("math/like") < group_rank("all/like"));
        assert!(group_rank("arguments/did_not_write") < group_rank("math/like"));
        assert!(group_rank("prefill") < group_rank("no_prefill"));
    }

    #[test]
    fn from_json_names_the_family_and_refuses_a_mix() {
        let row = |family: &str| serde_json::json!({"family": family, "item": "a", "condition": "none", "prompt_source": "template", "correct": true});
        let m = serde_json::json!({});
        assert_eq!(ProbeResult::from_json(&m, &[row("answer")]).unwrap().family, Family::Answer);
        let err = ProbeResult::from_json(&m, &[row("answer"), row("mimicry")]).unwrap_err();
        assert!(err.contains("answer, mimicry"), "{err}");
        assert!(ProbeResult::from_json(&m, &[]).unwrap_err().contains("family"));
        let err = ProbeResult::from_json(&m, &[serde_json::json!({"family": "answer"})]).unwrap_err();
        assert!(err.starts_with("items.jsonl line 1"), "{err}");
    }
}
