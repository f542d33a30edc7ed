//! A model against the baseline on the items both scored: McNemar's exact test, a paired
//! bootstrap interval of the difference, and Benjamini–Hochberg across many comparisons.

use serde::{Deserialize, Serialize};

use crate::stats::{benjamini_hochberg, mcnemar_exact, pair_by_id, paired_bootstrap, BootstrapCi, McNemar};
use crate::verdict::ItemVerdict;

/// Resamples and seed of the bootstrap unless a caller chooses others.
pub const DEFAULT_RESAMPLES: usize = 10_000;
pub const DEFAULT_SEED: u64 = 42;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Items scored (not skipped) in both runs, matched by item id.
    pub shared_items: usize,
    /// Share of shared items with outcome 1 (correct for benchmarks, sycophantic for sycophancy).
    pub baseline_rate: f64,
    pub model_rate: f64,
    /// `model_rate − baseline_rate`.
    pub difference: f64,
    pub mcnemar: McNemar,
    pub bootstrap: BootstrapCi,
    /// McNemar p-value after Benjamini–Hochberg over a family (see [`adjust`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_adjusted: Option<f64>,
}

fn outcomes(items: &[ItemVerdict]) -> Vec<(String, bool)> {
    items.iter().filter_map(|i| i.verdict.as_ref().map(|v| (i.id.clone(), v.outcome()))).collect()
}

/// Compare `model` with `baseline` on their shared items; `None` when they share none.
pub fn compare(baseline: &[ItemVerdict], model: &[ItemVerdict], resamples: usize, seed: u64) -> Option<Comparison> {
    let pairs = pair_by_id(&outcomes(baseline), &outcomes(model));
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let first: Vec<f64> = pairs.iter().map(|(_, a, _)| f64::from(u8::from(*a))).collect();
    let second: Vec<f64> = pairs.iter().map(|(_, _, b)| f64::from(u8::from(*b))).collect();
    let baseline_rate = first.iter().sum::<f64>() / n;
    let model_rate = second.iter().sum::<f64>() / n;
    let flags: Vec<(bool, bool)> = pairs.iter().map(|(_, a, b)| (*a, *b)).collect();
    Some(Comparison {
        shared_items: pairs.len(),
        baseline_rate,
        model_rate,
        difference: model_rate - baseline_rate,
        mcnemar: mcnemar_exact(&flags),
        bootstrap: paired_bootstrap(&first, &second, resamples, 0.95, seed)?,
        p_adjusted: None,
    })
}

/// Fill `p_adjusted` for a family of comparisons (e.g. every adapter × task) with BH.
pub fn adjust(comparisons: &mut [Comparison]) {
    let p: Vec<f64> = comparisons.iter().map(|c| c.mcnemar.p_value).collect();
    for (c, q) in comparisons.iter_mut().zip(benjamini_hochberg(&p)) {
        c.p_adjusted = Some(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::sycophancy::{AnswerVerdict, Primary};
    use crate::verdict::Verdict;

    fn item(id: usize, sycophantic: bool) -> ItemVerdict {
        let manipulated = if sycophantic { Primary::Incorrect } else { Primary::Correct };
        ItemVerdict {
            id: id.to_string(),
            skipped: None,
            verdict: Some(Verdict::Answer(AnswerVerdict::from_primaries(Primary::Correct, manipulated))),
        }
    }

    #[test]
    fn matched_items_hand_values() {
        // Baseline sycophantic on items 0..2; model on 0..7. Item 9 only in the baseline,
        // item 10 skipped by the model: neither counts.
        let mut baseline: Vec<ItemVerdict> = (0..10).map(|i| item(i, i < 2)).collect();
        baseline.push(item(10, true));
        let mut model: Vec<ItemVerdict> = (0..9).rev().map(|i| item(i, i < 7)).collect();
        model.push(ItemVerdict { id: "10".into(), skipped: Some("x".into()), verdict: None });
        let c = compare(&baseline, &model, 2000, 3).unwrap();
        assert_eq!(c.shared_items, 9);
        assert!((c.baseline_rate - 2.0 / 9.0).abs() < 1e-15 && (c.model_rate - 7.0 / 9.0).abs() < 1e-15);
        assert_eq!((c.mcnemar.only_first, c.mcnemar.only_second), (0, 5));
        // 2 · 0.5^5.
        assert!((c.mcnemar.p_value - 0.0625).abs() < 1e-15);
        assert!(c.bootstrap.low > 0.0 && c.bootstrap.high <= 1.0 && c.bootstrap.low <= c.difference);
        assert_eq!(c, compare(&baseline, &model, 2000, 3).unwrap());
        assert!(compare(&baseline[..1], &model[..1], 10, 1).is_none());

        let mut family = vec![c.clone(), c];
        family[1].mcnemar.p_value = 0.5;
        adjust(&mut family);
        assert_eq!(family[0].p_adjusted, Some(0.125));
        assert_eq!(family[1].p_adjusted, Some(0.5));
    }
}
