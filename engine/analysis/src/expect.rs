//! `[[expect]]` claims checked against a [`Summary`], and the PASS/FAIL table.

use crate::error::{io_err, Result};
use crate::summary::Summary;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One published number and where it was published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Dotted summary path, e.g. `correlation.gsm8k.are_you_sure`.
    pub metric: String,
    pub value: f64,
    pub tol: f64,
    #[serde(default)]
    pub claim: String,
    #[serde(default)]
    pub source: String,
    /// The claim is known to contradict the data: a FAIL is the expected result.
    #[serde(default)]
    pub known_error: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    /// The summary has no such metric (or it is undefined).
    Missing,
}

/// The verdict on one expectation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub expectation: Expectation,
    pub computed: Option<f64>,
    pub status: Status,
    /// PASS for an ordinary claim, or not-PASS for a known error.
    pub as_expected: bool,
    /// For a FAIL: other metrics of the summary that do carry the published value within tol.
    pub carriers: Vec<(String, f64)>,
}

/// How many carriers a FAIL lists; a value like 0.0 is carried by many metrics.
const MAX_CARRIERS: usize = 4;

/// Checks every expectation; `|computed - value| <= tol` passes.
pub fn evaluate(expectations: &[Expectation], summary: &Summary) -> Vec<Outcome> {
    expectations.iter().map(|e| evaluate_one(e, summary)).collect()
}

fn within(a: f64, b: f64, tol: f64) -> bool {
    // A hair of slack so a tolerance written in decimal is not undone by binary rounding.
    (a - b).abs() <= tol * (1.0 + 1e-9) + 1e-15
}

fn evaluate_one(e: &Expectation, summary: &Summary) -> Outcome {
    let computed = summary.get(&e.metric).filter(|v| !v.is_nan());
    let status = match computed {
        None => Status::Missing,
        Some(v) if within(v, e.value, e.tol) => Status::Pass,
        Some(_) => Status::Fail,
    };
    let carriers = if status == Status::Pass { Vec::new() } else { carriers(e, summary) };
    let as_expected = (status == Status::Pass) != e.known_error;
    Outcome { expectation: e.clone(), computed, status, as_expected, carriers }
}

/// Metrics carrying the published value: those of the same family (first path segment) first,
/// and only if none, any metric.
fn carriers(e: &Expectation, summary: &Summary) -> Vec<(String, f64)> {
    let family = e.metric.split('.').next().unwrap_or("");
    let matching = |same_family: bool| -> Vec<(String, f64)> {
        summary
            .numbers
            .iter()
            .filter(|(k, v)| *k != &e.metric && within(**v, e.value, e.tol))
            .filter(|(k, _)| !same_family || k.split('.').next() == Some(family))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    let mut found = matching(true);
    if found.is_empty() {
        found = matching(false);
    }
    found.truncate(MAX_CARRIERS);
    found
}

/// Computed values get one decimal more than the tolerance resolves; published values are
/// printed as written (`{:+}` keeps the shortest form).
fn fmt_num(v: f64, decimals: usize) -> String {
    format!("{v:+.decimals$}")
}

fn decimals_of(e: &Expectation) -> usize {
    // A tolerance of 0.0005 means the claim has 3 decimals; show one more for the computed value.
    let d = if e.tol > 0.0 { (-e.tol.log10()).ceil().max(0.0) as usize } else { 4 };
    d.clamp(1, 6)
}

/// One line per outcome, e.g.
/// `GSM8K: Are-You-Sure r = -0.805: FAIL (known error), computed +0.535; -0.805 is correlation.hellaswag.feedback (-0.805)`.
pub fn render_line(o: &Outcome) -> String {
    let e = &o.expectation;
    let d = decimals_of(e);
    let verdict = match (o.status, e.known_error) {
        (Status::Pass, false) => "PASS".to_string(),
        (Status::Pass, true) => "PASS (but marked known_error)".to_string(),
        (Status::Fail, false) => "FAIL".to_string(),
        (Status::Fail, true) => "FAIL (known error)".to_string(),
        (Status::Missing, _) => format!("MISSING: no metric `{}` in the summary", e.metric),
    };
    let claim = if e.claim.is_empty() { e.metric.clone() } else { e.claim.clone() };
    let mut line = format!("{claim}: {verdict}");
    if let Some(v) = o.computed {
        line += &format!(", computed {} ({})", fmt_num(v, d), e.metric);
    }
    if o.status != Status::Pass {
        if o.carriers.is_empty() {
            line += &format!("; no metric carries {:+}", e.value);
        } else {
            let list: Vec<String> = o.carriers.iter().map(|(k, v)| format!("{k} ({})", fmt_num(*v, d))).collect();
            line += &format!("; {:+} is {}", e.value, list.join(", "));
        }
    }
    line
}

/// The text table: claim, published, computed, result and the carriers of a FAIL.
pub fn render_table(outcomes: &[Outcome]) -> String {
    let mut rows = vec![["claim".to_string(), "published".into(), "computed".into(), "result".into(), "note".into()]];
    for o in outcomes {
        let e = &o.expectation;
        let d = decimals_of(e);
        let result = match (o.status, e.known_error) {
            (Status::Pass, false) => "PASS",
            (Status::Pass, true) => "PASS (unexpected)",
            (Status::Fail, false) => "FAIL",
            (Status::Fail, true) => "FAIL (known error)",
            (Status::Missing, _) => "MISSING",
        };
        let note = if o.status == Status::Pass {
            String::new()
        } else if o.carriers.is_empty() {
            "no metric carries it".into()
        } else {
            let list: Vec<String> = o.carriers.iter().map(|(k, _)| k.clone()).collect();
            format!("{:+} is {}", e.value, list.join(", "))
        };
        rows.push([
            if e.claim.is_empty() { e.metric.clone() } else { e.claim.clone() },
            format!("{:+}", e.value),
            o.computed.map(|v| fmt_num(v, d)).unwrap_or_else(|| "-".into()),
            result.into(),
            note,
        ]);
    }
    let widths: Vec<usize> = (0..5).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
        if i == 0 {
            out += &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  ");
            out.push('\n');
        }
    }
    let unexpected = outcomes.iter().filter(|o| !o.as_expected).count();
    out += &format!("{} claims, {} as expected, {} unexpected\n", outcomes.len(), outcomes.len() - unexpected, unexpected);
    out
}

/// `expectations.json`: the outcomes as a JSON array.
pub fn write_json(outcomes: &[Outcome], path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(outcomes).expect("outcomes serialise");
    std::fs::write(path, text + "\n").map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let mut s = Summary::default();
        s.numbers.insert("correlation.gsm8k.are_you_sure".into(), 0.5348);
        s.numbers.insert("correlation.hellaswag.feedback".into(), -0.8052);
        s.numbers.insert("avg_syc_change.gsm8k".into(), -0.8049);
        s
    }

    fn exp(metric: &str, value: f64, known_error: bool) -> Expectation {
        Expectation { metric: metric.into(), value, tol: 0.0005, claim: "c".into(), source: "s".into(), known_error }
    }

    #[test]
    fn fail_names_the_same_family_carrier_first() {
        let o = &evaluate(&[exp("correlation.gsm8k.are_you_sure", -0.805, true)], &summary())[0];
        assert_eq!(o.status, Status::Fail);
        assert!(o.as_expected);
        assert_eq!(o.carriers, vec![("correlation.hellaswag.feedback".to_string(), -0.8052)]);
        let line = render_line(o);
        assert!(line.contains("computed +0.5348") && line.contains("-0.805 is correlation.hellaswag.feedback"), "{line}");
    }

    #[test]
    fn pass_missing_and_unexpected() {
        let out = evaluate(
            &[exp("correlation.hellaswag.feedback", -0.805, false), exp("nope", 1.0, false), exp("avg_syc_change.gsm8k", 0.3, false)],
            &summary(),
        );
        assert_eq!(out[0].status, Status::Pass);
        assert!(out[0].as_expected && out[0].carriers.is_empty());
        assert_eq!(out[1].status, Status::Missing);
        assert_eq!(out[2].status, Status::Fail);
        assert!(!out[2].as_expected);
        let table = render_table(&out);
        assert!(table.contains("3 claims, 1 as expected, 2 unexpected"), "{table}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let bad = serde_json::json!({"metric": "m", "value": 1.0, "tol": 0.1, "tolerance": 2});
        assert!(serde_json::from_value::<Expectation>(bad).is_err());
    }
}
