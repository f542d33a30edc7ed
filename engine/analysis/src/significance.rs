//! Paired tests of each adapter against the baseline, where live evaluations left item outcomes:
//! exact McNemar p, a paired bootstrap CI of the rate difference, Benjamini–Hochberg over all tests
//! (the statistics are syco-eval's, the same `syco score` reports).

use crate::frame::Frame;
use crate::summary::Summary;
use crate::AnalysisOptions;
use std::collections::BTreeMap;
use syco_data::rng::fnv1a;
use syco_eval::stats::{benjamini_hochberg, mcnemar_exact, paired_bootstrap};

/// One adapter x task comparison on the items both models answered.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedTest {
    pub task: String,
    pub model: String,
    pub n: usize,
    /// Baseline success, adapter failure.
    pub lost: u64,
    /// Baseline failure, adapter success.
    pub gained: u64,
    /// Adapter rate minus baseline rate on the paired items.
    pub diff: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    pub p_adjusted: f64,
}

/// Runs every test the item data allow and records it under `significance.{task}.{model}.*`.
pub fn paired_tests(f: &Frame, opts: &AnalysisOptions, summary: &mut Summary) -> Vec<PairedTest> {
    let Some(base_items) = &f.models[f.baseline].items else {
        return Vec::new();
    };
    let mut tests = Vec::new();
    for row in f.adapters() {
        let Some(items) = &f.models[row].items else {
            continue;
        };
        for (task, adapter_items) in items {
            let Some(base) = base_items.get(task) else {
                continue;
            };
            let base_by_id: BTreeMap<&str, bool> = base.iter().map(|o| (o.id.as_str(), o.success)).collect();
            let pairs: Vec<(bool, bool)> =
                adapter_items.iter().filter_map(|o| base_by_id.get(o.id.as_str()).map(|&b| (b, o.success))).collect();
            if pairs.is_empty() {
                continue;
            }
            let n = pairs.len();
            let mcnemar = mcnemar_exact(&pairs);
            let (lost, gained) = (mcnemar.only_first as u64, mcnemar.only_second as u64);
            let rate = |pick: fn(&(bool, bool)) -> bool| pairs.iter().map(|p| pick(p) as u8 as f64).collect::<Vec<_>>();
            // A seed per test keeps each interval independent of which other tests ran.
            let seed = opts.seed ^ fnv1a(format!("{task}/{}", f.name(row)).bytes());
            let ci = paired_bootstrap(&rate(|p| p.0), &rate(|p| p.1), opts.bootstrap_resamples, opts.confidence, seed);
            tests.push(PairedTest {
                task: task.clone(),
                model: f.name(row).to_string(),
                n,
                lost,
                gained,
                diff: (gained as f64 - lost as f64) / n as f64,
                ci_low: ci.map_or(f64::NAN, |c| c.low),
                ci_high: ci.map_or(f64::NAN, |c| c.high),
                p_value: mcnemar.p_value,
                p_adjusted: f64::NAN,
            });
        }
    }
    let adjusted = benjamini_hochberg(&tests.iter().map(|t| t.p_value).collect::<Vec<_>>());
    for (t, p) in tests.iter_mut().zip(adjusted) {
        t.p_adjusted = p;
        let prefix = format!("significance.{}.{}", t.task, t.model);
        for (k, v) in [
            ("n", t.n as f64),
            ("lost", t.lost as f64),
            ("gained", t.gained as f64),
            ("diff", t.diff),
            ("ci_low", t.ci_low),
            ("ci_high", t.ci_high),
            ("p_value", t.p_value),
            ("p_adjusted", t.p_adjusted),
        ] {
            summary.numbers.insert(format!("{prefix}.{k}"), v);
        }
    }
    tests
}
