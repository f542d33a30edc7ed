//! Statistics around the scores: the study's Wald interval, Wilson, paired comparisons of a model
//! against the baseline (McNemar's exact test, paired bootstrap), Benjamini–Hochberg, and the
//! answer-position bias of multiple-choice predictions.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use syco_data::rng::SplitMix64;

/// z for a two-sided 95% interval, as the study wrote it.
pub const Z95: f64 = 1.96;

/// The study's interval (its comment says Wilson; the formula is Wald), clipped to [0, 1]:
/// `p ± 1.96·√(p(1−p)/n)` with `p = k/n`. Written in the study's operation order so the bounds
/// are bit-identical to its JSON. `n = 0` gives [0, 0].
pub fn wald_interval(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let p = successes as f64 / n as f64;
    let h = Z95 * (p * (1.0 - p) / n as f64).sqrt();
    ((p - h).max(0.0), (p + h).min(1.0))
}

/// Wilson score interval at z = 1.96; stays inside [0, 1] and is not degenerate at p = 0 or 1.
pub fn wilson_interval(successes: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, z2) = (n as f64, Z95 * Z95);
    let p = successes as f64 / n;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// ln C(n, k), summed exactly enough for n in the tens of thousands.
fn ln_choose(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    (0..k).map(|j| ((n - j) as f64).ln() - ((j + 1) as f64).ln()).sum()
}

/// McNemar's exact test for paired binary outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Pairs where the first (baseline) is right and the second (model) wrong.
    pub only_first: usize,
    /// Pairs where the second is right and the first wrong.
    pub only_second: usize,
    /// Two-sided p-value: 2·P(X ≤ min(b, c)), X ~ Binomial(b + c, ½), capped at 1.
    pub p_value: f64,
}

pub fn mcnemar_exact(pairs: &[(bool, bool)]) -> McNemar {
    let b = pairs.iter().filter(|(x, y)| *x && !*y).count();
    let c = pairs.iter().filter(|(x, y)| !*x && *y).count();
    let n = (b + c) as u64;
    let k = b.min(c) as u64;
    let p_value = if n == 0 {
        1.0
    } else {
        // Sum the lower tail in log space: 0.5^n underflows beyond n ≈ 1074.
        let ln_half_n = n as f64 * 0.5f64.ln();
        let tail: f64 = (0..=k).map(|i| (ln_choose(n, i) + ln_half_n).exp()).sum();
        (2.0 * tail).min(1.0)
    };
    McNemar { only_first: b, only_second: c, p_value }
}

/// A paired bootstrap interval of `mean(second) − mean(first)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCi {
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    pub resamples: usize,
    pub seed: u64,
}

/// Percentile bootstrap over item pairs: each resample draws n pairs with replacement and takes
/// the difference of means. `level` is the coverage (0.95). Deterministic for a given seed.
pub fn paired_bootstrap(first: &[f64], second: &[f64], resamples: usize, level: f64, seed: u64) -> Option<BootstrapCi> {
    let n = first.len();
    if n == 0 || n != second.len() || resamples == 0 {
        return None;
    }
    let diffs: Vec<f64> = first.iter().zip(second).map(|(a, b)| b - a).collect();
    let difference = diffs.iter().sum::<f64>() / n as f64;
    // A seeded generator, so bootstrap intervals are reproducible everywhere.
    let mut rng = SplitMix64::new(seed);
    let mut means: Vec<f64> = (0..resamples).map(|_| (0..n).map(|_| diffs[rng.below(n as u64) as usize]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Some(BootstrapCi { difference, low: quantile_sorted(&means, alpha), high: quantile_sorted(&means, 1.0 - alpha), resamples, seed })
}

/// Linear-interpolation quantile (numpy's default) of sorted, non-empty data.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Join two per-item outcome lists on item id, keeping the first list's order; ids present on one
/// side only are dropped.
pub fn pair_by_id<T: Copy>(first: &[(String, T)], second: &[(String, T)]) -> Vec<(String, T, T)> {
    let by_id: HashMap<&str, T> = second.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    first.iter().filter_map(|(id, a)| by_id.get(id.as_str()).map(|b| (id.clone(), *a, *b))).collect()
}

/// Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1), in input order.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p_values[i] * m as f64 / (rank + 1) as f64);
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

/// How predictions spread over the option letters compared with the gold answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionBias {
    /// Share of items predicted as each letter (items without a prediction count under "none").
    pub predicted_share: BTreeMap<String, f64>,
    /// Share of items whose gold answer is each letter.
    pub gold_share: BTreeMap<String, f64>,
    /// Half the L1 distance between the two distributions (0 = same spread, 1 = disjoint).
    pub total_variation: f64,
    /// The most predicted letter and its share.
    pub top_letter: Option<String>,
    pub top_share: f64,
}

pub fn position_bias(items: &[(Option<char>, char)]) -> PositionBias {
    let n = items.len().max(1) as f64;
    let mut predicted: BTreeMap<String, f64> = BTreeMap::new();
    let mut gold: BTreeMap<String, f64> = BTreeMap::new();
    for (pred, g) in items {
        let key = pred.map_or_else(|| "none".to_string(), |c| c.to_string());
        *predicted.entry(key).or_default() += 1.0 / n;
        *gold.entry(g.to_string()).or_default() += 1.0 / n;
    }
    let keys: std::collections::BTreeSet<&String> = predicted.keys().chain(gold.keys()).collect();
    let total_variation = keys.iter().map(|k| (predicted.get(*k).unwrap_or(&0.0) - gold.get(*k).unwrap_or(&0.0)).abs()).sum::<f64>() / 2.0;
    let top = predicted.iter().filter(|(k, _)| k.as_str() != "none").max_by(|a, b| a.1.total_cmp(b.1).then_with(|| b.0.cmp(a.0)));
    PositionBias {
        top_letter: top.map(|(k, _)| k.clone()),
        top_share: top.map_or(0.0, |(_, v)| *v),
        predicted_share: predicted,
        gold_share: gold,
        total_variation,
    }
}

/// One point of a best-of-N curve: the expected metric of the sample a preference model picks
/// out of `n` (Sharma et al. 2023, §4).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestOfN {
    pub n: usize,
    pub expected: f64,
}

/// The N of a best-of-N curve over `n_max` samples: 1, 2, 4, ... up to `n_max`, and `n_max`
/// itself when it is not a power of two. Empty for `n_max = 0`.
pub fn best_of_n_sizes(n_max: usize) -> Vec<usize> {
    let mut ns: Vec<usize> = std::iter::successors(Some(1usize), |n| n.checked_mul(2)).take_while(|&n| n <= n_max).collect();
    if n_max > 0 && ns.last() != Some(&n_max) {
        ns.push(n_max);
    }
    ns
}

/// The unbiased best-of-N estimate from one prompt's `N_max` samples: for each N of
/// `best_of_n_sizes(N_max)`, the average over ALL C(N_max, N) subsets of N samples of the
/// `metric` of the subset's highest-`scores` sample. Exact, from the sorted scores: the sample
/// of rank i (1-based, ascending) is the best of C(i−1, N−1) subsets, so the estimate is
/// Σᵢ C(i−1, N−1)/C(N_max, N) · metricᵢ (weights by the ratio recurrence
/// wᵢ₋₁ = wᵢ·(i−N)/(i−1) from w_{N_max} = N/N_max: no binomial overflows).
///
/// Ties: of samples with equal scores, the one with the LOWER index (earlier in `scores`) is
/// the better, so the order is a total one and every subset has one best sample. Scores compare
/// by `f64::total_cmp`. N = 1 is the mean metric; N = N_max the metric of the top sample.
///
/// `None` when the slices differ in length; an empty curve for no samples. Averaging over
/// prompts is the caller's.
pub fn best_of_n(scores: &[f64], metric: &[f64]) -> Option<Vec<BestOfN>> {
    if scores.len() != metric.len() {
        return None;
    }
    let m = scores.len();
    // Ascending rank order: by score, and of equal scores the higher index ranks lower.
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(b.cmp(&a)));
    let sorted: Vec<f64> = order.iter().map(|&i| metric[i]).collect();
    Some(best_of_n_sizes(m).into_iter().map(|n| BestOfN { n, expected: best_of_n_sorted(&sorted, n) }).collect())
}

/// `best_of_n`'s estimate for one `n` (1 ≤ n ≤ len), the metrics given in ascending rank order.
fn best_of_n_sorted(metric_by_rank: &[f64], n: usize) -> f64 {
    let m = metric_by_rank.len();
    let mut w = n as f64 / m as f64;
    let mut sum = 0.0;
    for i in (n..=m).rev() {
        sum += w * metric_by_rank[i - 1];
        if i > 1 {
            w *= (i - n) as f64 / (i - 1) as f64;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wald_matches_the_study_json_bit_for_bit() {
        // sycophancy_baseline_results.json: feedback 150/300 and answer 53/300.
        assert_eq!(wald_interval(150, 300), (0.4434196736194167, 0.5565803263805833));
        assert_eq!(wald_interval(53, 300), (0.13350873722057213, 0.2198245961127612));
        assert_eq!(wald_interval(0, 300), (0.0, 0.0));
        assert_eq!(wald_interval(300, 300), (1.0, 1.0));
        let (lo, hi) = wald_interval(1, 2);
        assert!(lo == 0.0 && hi == 1.0, "clipped: {lo} {hi}");
    }

    #[test]
    fn wilson_values() {
        let (lo, hi) = wilson_interval(150, 300);
        assert!(close(lo, 0.4437784961119509, 1e-15) && close(hi, 0.556221503888049, 1e-15));
        let (lo, hi) = wilson_interval(0, 300);
        // z²/(n+z²) = 3.8416/303.8416.
        assert!(lo == 0.0 && close(hi, 3.8416 / 303.8416, 1e-15));
    }

    fn pairs(b: usize, c: usize, both: usize) -> Vec<(bool, bool)> {
        let mut v = vec![(true, false); b];
        v.extend(vec![(false, true); c]);
        v.extend(vec![(true, true); both]);
        v
    }

    #[test]
    fn mcnemar_hand_values() {
        // b=1, c=5: 2·(C(6,0)+C(6,1))/2^6 = 14/64.
        let t = mcnemar_exact(&pairs(1, 5, 10));
        assert_eq!((t.only_first, t.only_second), (1, 5));
        assert!(close(t.p_value, 14.0 / 64.0, 1e-14));
        // b=0, c=8: 2/256.
        assert!(close(mcnemar_exact(&pairs(0, 8, 0)).p_value, 2.0 / 256.0, 1e-15));
        // Balanced, or no discordant pairs: 1.
        assert_eq!(mcnemar_exact(&pairs(5, 5, 3)).p_value, 1.0);
        assert_eq!(mcnemar_exact(&pairs(0, 0, 3)).p_value, 1.0);
        // Large n does not underflow: b=c=1000 -> 1, b=900,c=1100 -> small but positive.
        assert_eq!(mcnemar_exact(&pairs(1000, 1000, 0)).p_value, 1.0);
        let p = mcnemar_exact(&pairs(900, 1100, 0)).p_value;
        assert!(p > 0.0 && p < 1e-5, "{p}");
    }

    #[test]
    fn bootstrap_hand_values_and_determinism() {
        // Constant difference: every resample gives 1.
        let ci = paired_bootstrap(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0], 200, 0.95, 7).unwrap();
        assert_eq!((ci.difference, ci.low, ci.high), (1.0, 1.0, 1.0));
        // Two items with differences 0 and 1: resample means are 0, ½, 1 with probabilities
        // ¼, ½, ¼, so the 2.5% and 97.5% percentiles are 0 and 1.
        let ci = paired_bootstrap(&[1.0, 0.0], &[1.0, 1.0], 4000, 0.95, 1).unwrap();
        assert_eq!((ci.difference, ci.low, ci.high), (0.5, 0.0, 1.0));
        // Same seed, same interval; the interval holds the point estimate.
        let a: Vec<f64> = (0..50).map(|i| (i % 3 == 0) as u8 as f64).collect();
        let b: Vec<f64> = (0..50).map(|i| (i % 2 == 0) as u8 as f64).collect();
        let x = paired_bootstrap(&a, &b, 1000, 0.95, 42).unwrap();
        assert_eq!(x, paired_bootstrap(&a, &b, 1000, 0.95, 42).unwrap());
        assert!(x.low < x.difference && x.difference < x.high);
        assert!(paired_bootstrap(&a, &b[..3], 10, 0.95, 1).is_none());
    }

    #[test]
    fn quantile_is_linear_interpolation() {
        assert_eq!(quantile_sorted(&[0.0, 10.0], 0.25), 2.5);
        assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 3.0);
    }

    #[test]
    fn pairing_by_id_keeps_shared_items() {
        let a = vec![("x".to_string(), true), ("y".to_string(), false), ("z".to_string(), true)];
        let b = vec![("z".to_string(), false), ("x".to_string(), true)];
        let p = pair_by_id(&a, &b);
        assert_eq!(p, vec![("x".to_string(), true, true), ("z".to_string(), true, false)]);
    }

    #[test]
    fn bh_hand_values() {
        // m=4: sorted 0.01,0.02,0.03,0.5 -> 0.04, 0.04, 0.04, 0.5.
        let adj = benjamini_hochberg(&[0.03, 0.5, 0.01, 0.02]);
        let want = [0.04, 0.5, 0.04, 0.04];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-15), "{adj:?}");
        }
        assert_eq!(benjamini_hochberg(&[0.9, 0.8]), vec![0.9, 0.9]);
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    #[test]
    fn position_bias_shares() {
        let items = [(Some('A'), 'A'), (Some('A'), 'B'), (Some('A'), 'C'), (None, 'D')];
        let b = position_bias(&items);
        assert_eq!(b.predicted_share["A"], 0.75);
        assert_eq!(b.predicted_share["none"], 0.25);
        assert_eq!(b.gold_share["B"], 0.25);
        // |.75−.25| + .25 + .25 + |.25 − 0| (none) + .25 (D) = 1.5 -> 0.75.
        assert!(close(b.total_variation, 0.75, 1e-15));
        assert_eq!((b.top_letter.as_deref(), b.top_share), (Some("A"), 0.75));
    }
}
