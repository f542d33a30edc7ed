//! Best-of-N against a preference model (Sharma et al. 2023 §4): the curves a `bon/NAME` stage
//! writes to `bon.json`, in `summary.json`, `best_of_n.csv`, the report and
//! `figures/best_of_n_{NAME}.png|svg`.
//!
//! # Input: `bon.json`
//!
//! One [`BestOfNResult`]: the policy sampled N_max responses per probe conversation; a preference
//! model (`pm`) and a PM told the user wants the truth (`non_sycophantic_pm`) scored them; for
//! each N in 1, 2, 4, …, N_max and each group (condition, `variant/condition` or
//! `domain/condition`) a point is the mean over the group's conversations of the expected metric
//! of the best-scored of N samples (exact: the average over every subset of N samples), with its
//! interval and the number of conversations (`items`).
//!
//! # Output
//!
//! - `summary.json`: the whole object under `best_of_n.{NAME}`, its curves as nested keys:
//!   `best_of_n.{NAME}.{name,probe,family,policy,metric,metric_meaning}` (text),
//!   `best_of_n.{NAME}.n_max`, and per point
//!   `best_of_n.{NAME}.curves.{GROUP}.{PM}.{N}.{mean,ci_low,ci_high,items}` (e.g.
//!   `best_of_n.feedback_bon.curves.like.pm.4.mean`), so an `[[expect]]` can name any point.
//!   Where the analysis knows the stage that produced it, `best_of_n.{NAME}.provenance` too.
//! - `best_of_n.csv`: one row per point: `name,probe,group,pm,n,mean,ci_low,ci_high,items`.

use crate::csv_out::render_csv;
use crate::error::{io_err, AnalysisError, Result};
use crate::pyrepr::csv_float;
use crate::summary::Summary;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syco_data::probe::{AnswerCondition, Domain, FeedbackCondition};
use syco_eval::probe::build::{VARIANT_NO_PREFILL, VARIANT_PREFILL};

/// The file a `bon/NAME` stage writes.
pub const BON_FILE: &str = "bon.json";
pub const BEST_OF_N_CSV: &str = "best_of_n.csv";
/// The top-level key of `summary.json`.
pub const SUMMARY_KEY: &str = "best_of_n";
/// The two PMs' names in `bon.json`.
pub const PM: &str = "pm";
pub const NON_SYCOPHANTIC_PM: &str = "non_sycophantic_pm";

/// `figures/best_of_n_{name}.png|svg`.
pub fn figure_name(name: &str) -> String {
    format!("best_of_n_{name}")
}

/// How a PM is named in the figure's legend and the report.
pub fn pm_label(pm: &str) -> String {
    match pm {
        PM => "PM".into(),
        NON_SYCOPHANTIC_PM => "non-sycophantic PM".into(),
        other => other.to_string(),
    }
}

/// A number that `bon.json` may hold as null (undefined): NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One point of a curve: the best of `n` samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestOfNPoint {
    pub n: usize,
    /// Mean over the group's conversations of the expected metric of the best of `n`.
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ci_low: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub ci_high: f64,
    /// Conversations averaged.
    pub items: usize,
}

/// One group's curve under one PM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestOfNCurve {
    /// The condition, `variant/condition` or `domain/condition`.
    pub group: String,
    /// [`PM`] or [`NON_SYCOPHANTIC_PM`].
    pub pm: String,
    pub points: Vec<BestOfNPoint>,
}

/// One `bon.json`: a policy's best-of-N curves on one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestOfNResult {
    pub name: String,
    pub probe: String,
    #[serde(default)]
    pub family: String,
    #[serde(default)]
    pub policy: String,
    pub n_max: usize,
    #[serde(default)]
    pub metric: String,
    #[serde(default)]
    pub metric_meaning: String,
    pub curves: Vec<BestOfNCurve>,
    /// The stage (and its key) that wrote the file; set by the analysis, not in `bon.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
}

/// The rank of a group for sorting: each `/`-separated part by its place among the known
/// conditions, variants and domains (in syco-data's order); unknown parts after them.
fn group_rank(group: &str) -> Vec<usize> {
    let known: Vec<&str> = AnswerCondition::ALL
        .iter()
        .map(|c| c.name())
        .chain(FeedbackCondition::ALL.iter().map(|c| c.name()))
        .chain([VARIANT_PREFILL, VARIANT_NO_PREFILL])
        .chain(Domain::ALL.iter().map(|d| d.name()))
        .chain(["all"])
        .collect();
    group.split('/').map(|part| known.iter().position(|k| *k == part).unwrap_or(usize::MAX)).collect()
}

impl BestOfNResult {
    /// Reads a `bon.json`; errors name the file, line and column.
    pub fn read(path: &Path) -> Result<BestOfNResult> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        serde_json::from_str(&text).map_err(|e| AnalysisError::Json {
            path: path.into(),
            line: e.line(),
            column: e.column(),
            msg: e.to_string(),
        })
    }

    /// The groups, conditions in syco-data's order (variant or domain first), others by name.
    pub fn groups(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.curves.iter().map(|c| c.group.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        v.sort_by_key(|g| (group_rank(g), *g));
        v
    }

    /// The PMs: [`PM`], then [`NON_SYCOPHANTIC_PM`], then any other by name.
    pub fn pms(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.curves.iter().map(|c| c.pm.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        v.sort_by_key(|p| ([PM, NON_SYCOPHANTIC_PM].iter().position(|k| k == p).unwrap_or(usize::MAX), *p));
        v
    }

    /// Every N of any curve, ascending.
    pub fn sizes(&self) -> Vec<usize> {
        self.curves.iter().flat_map(|c| c.points.iter().map(|p| p.n)).collect::<BTreeSet<_>>().into_iter().collect()
    }

    pub fn curve(&self, group: &str, pm: &str) -> Option<&BestOfNCurve> {
        self.curves.iter().find(|c| c.group == group && c.pm == pm)
    }

    /// Names become segments of the summary's dotted paths; a (group, PM) has one curve and a
    /// curve one point per N.
    fn check(&self) -> Result<()> {
        let dotted = [("best-of-N name", &self.name)]
            .into_iter()
            .chain(self.curves.iter().flat_map(|c| [("best-of-N group", &c.group), ("best-of-N PM", &c.pm)]))
            .find(|(_, n)| n.contains('.') || n.is_empty());
        if let Some((what, name)) = dotted {
            return Err(AnalysisError::DottedName { what, name: name.clone() });
        }
        let field = |msg: String| AnalysisError::Field { path: PathBuf::from(BON_FILE), field: format!("{} curves", self.name), msg };
        let mut seen = BTreeSet::new();
        for c in &self.curves {
            if !seen.insert((&c.group, &c.pm)) {
                return Err(field(format!("two curves of group `{}` under `{}`", c.group, c.pm)));
            }
            let ns: BTreeSet<usize> = c.points.iter().map(|p| p.n).collect();
            if ns.len() != c.points.len() {
                return Err(field(format!("group `{}` under `{}` has two points of the same N", c.group, c.pm)));
            }
            if ns.contains(&0) {
                return Err(field(format!("group `{}` under `{}` has a point at N = 0", c.group, c.pm)));
            }
        }
        Ok(())
    }
}

/// Checks every result (names usable as path segments, one per name, one curve per group and PM).
pub fn check(results: &[BestOfNResult]) -> Result<()> {
    let mut names = BTreeSet::new();
    for r in results {
        r.check()?;
        if !names.insert(r.name.as_str()) {
            return Err(AnalysisError::Field {
                path: PathBuf::from(BON_FILE),
                field: "name".into(),
                msg: format!("two best-of-N results are named `{}`", r.name),
            });
        }
    }
    Ok(())
}

/// Puts each result, whole, under `best_of_n.{NAME}` of the summary (paths in the module docs).
pub fn record(results: &[BestOfNResult], summary: &mut Summary) {
    for r in results {
        let prefix = format!("{SUMMARY_KEY}.{}", r.name);
        let texts = [
            ("name", &r.name),
            ("probe", &r.probe),
            ("family", &r.family),
            ("policy", &r.policy),
            ("metric", &r.metric),
            ("metric_meaning", &r.metric_meaning),
        ];
        for (k, v) in texts.into_iter().chain(r.provenance.as_ref().map(|p| ("provenance", p))) {
            summary.labels.insert(format!("{prefix}.{k}"), v.clone());
        }
        summary.numbers.insert(format!("{prefix}.n_max"), r.n_max as f64);
        for c in &r.curves {
            for p in &c.points {
                let at = format!("{prefix}.curves.{}.{}.{}", c.group, c.pm, p.n);
                summary.numbers.insert(format!("{at}.mean"), p.mean);
                summary.numbers.insert(format!("{at}.ci_low"), p.ci_low);
                summary.numbers.insert(format!("{at}.ci_high"), p.ci_high);
                summary.numbers.insert(format!("{at}.items"), p.items as f64);
            }
        }
    }
}

/// The results [`record`] put in a summary (read back from `summary.json`), by name; groups
/// and PMs in the order of [`BestOfNResult::groups`] and [`BestOfNResult::pms`].
pub fn from_summary(summary: &Summary) -> Vec<BestOfNResult> {
    let key = format!("{SUMMARY_KEY}.");
    let mut by_name: BTreeMap<String, BestOfNResult> = BTreeMap::new();
    for (path, text) in summary.labels.iter().filter_map(|(k, v)| Some((k.strip_prefix(&key)?, v))) {
        let Some((name, field)) = path.split_once('.') else { continue };
        let r = by_name.entry(name.to_string()).or_insert_with(|| empty(name));
        match field {
            "name" => {}
            "probe" => r.probe = text.clone(),
            "family" => r.family = text.clone(),
            "policy" => r.policy = text.clone(),
            "metric" => r.metric = text.clone(),
            "metric_meaning" => r.metric_meaning = text.clone(),
            "provenance" => r.provenance = Some(text.clone()),
            _ => {}
        }
    }
    // (name, group, pm) -> n -> point
    let mut points: BTreeMap<(String, String, String), BTreeMap<usize, BestOfNPoint>> = BTreeMap::new();
    for (path, &v) in summary.numbers.iter().filter_map(|(k, v)| Some((k.strip_prefix(&key)?, v))) {
        let parts: Vec<&str> = path.split('.').collect();
        match parts[..] {
            [name, "n_max"] => by_name.entry(name.to_string()).or_insert_with(|| empty(name)).n_max = v as usize,
            [name, "curves", group, pm, n, field] => {
                let Ok(n) = n.parse::<usize>() else { continue };
                by_name.entry(name.to_string()).or_insert_with(|| empty(name));
                let p = points.entry((name.to_string(), group.to_string(), pm.to_string())).or_default().entry(n).or_insert(BestOfNPoint {
                    n,
                    mean: f64::NAN,
                    ci_low: f64::NAN,
                    ci_high: f64::NAN,
                    items: 0,
                });
                match field {
                    "mean" => p.mean = v,
                    "ci_low" => p.ci_low = v,
                    "ci_high" => p.ci_high = v,
                    "items" => p.items = if v.is_finite() { v as usize } else { 0 },
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for ((name, group, pm), ps) in points {
        let r = by_name.get_mut(&name).expect("inserted above");
        r.curves.push(BestOfNCurve { group, pm, points: ps.into_values().collect() });
    }
    let mut out: Vec<BestOfNResult> = by_name.into_values().collect();
    for r in &mut out {
        let (groups, pms): (Vec<String>, Vec<String>) =
            (r.groups().into_iter().map(String::from).collect(), r.pms().into_iter().map(String::from).collect());
        r.curves.sort_by_key(|c| (groups.iter().position(|g| *g == c.group), pms.iter().position(|p| *p == c.pm)));
    }
    out
}

fn empty(name: &str) -> BestOfNResult {
    BestOfNResult {
        name: name.to_string(),
        probe: String::new(),
        family: String::new(),
        policy: String::new(),
        n_max: 0,
        metric: String::new(),
        metric_meaning: String::new(),
        curves: vec![],
        provenance: None,
    }
}

/// `best_of_n.csv`: a row per point; results in the order given, then groups, PMs, N ascending.
pub fn csv(results: &[BestOfNResult]) -> String {
    let header: Vec<String> = ["name", "probe", "group", "pm", "n", "mean", "ci_low", "ci_high", "items"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for r in results {
        for g in r.groups() {
            for pm in r.pms() {
                let Some(c) = r.curve(g, pm) else { continue };
                let mut points: Vec<&BestOfNPoint> = c.points.iter().collect();
                points.sort_by_key(|p| p.n);
                for p in points {
                    rows.push(vec![
                        r.name.clone(),
                        r.probe.clone(),
                        g.to_string(),
                        pm.to_string(),
                        p.n.to_string(),
                        csv_float(p.mean),
                        csv_float(p.ci_low),
                        csv_float(p.ci_high),
                        p.items.to_string(),
                    ]);
                }
            }
        }
    }
    render_csv(&header, &rows)
}

pub fn write_csv(results: &[BestOfNResult], dir: &Path) -> Result<()> {
    let path = dir.join(BEST_OF_N_CSV);
    std::fs::write(&path, csv(results)).map_err(io_err(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_in_condition_order_and_pm_first() {
        let curve = |group: &str, pm: &str| BestOfNCurve { group: group.into(), pm: pm.into(), points: vec![] };
        let r = BestOfNResult {
            curves: vec![
                curve("zeta", NON_SYCOPHANTIC_PM),
                curve("math/like", PM),
                curve("arguments/dislike", NON_SYCOPHANTIC_PM),
                curve("arguments/like", PM),
                curve("all/like", PM),
            ],
            ..empty("x")
        };
        assert_eq!(r.groups(), ["arguments/like", "arguments/dislike", "math/like", "all/like", "zeta"]);
        assert_eq!(r.pms(), [PM, NON_SYCOPHANTIC_PM]);
    }
}
