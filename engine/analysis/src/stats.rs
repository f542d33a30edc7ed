//! The small statistics the analysis needs, written to reproduce numpy/pandas bit for bit where
//! the study's CSVs depend on them.

/// Arithmetic mean, summed left to right (numpy's pairwise sum is sequential below 8 items).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Mean over the non-NaN values (pandas' default `skipna=True`); NaN when none remain.
pub fn mean_skipna(xs: &[f64]) -> f64 {
    let kept: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if kept.is_empty() {
        f64::NAN
    } else {
        mean(&kept)
    }
}

/// Pearson r in the order of operations of `np.corrcoef` (which `Series.corr` calls): centre on
/// the means, co-moments scaled by `1/(n-1)`, then divide by each standard deviation in turn.
/// The co-moments are fused multiply-adds summed left to right, as the BLAS kernel behind
/// numpy's `dot` computes them; this reproduces the study's CSV bit for bit.
/// NaN when either series is constant or shorter than 2.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "pearson needs paired series");
    let n = x.len();
    if n < 2 {
        return f64::NAN;
    }
    let (mx, my) = (mean(x), mean(y));
    let dx: Vec<f64> = x.iter().map(|v| v - mx).collect();
    let dy: Vec<f64> = y.iter().map(|v| v - my).collect();
    let dot = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .fold(0.0f64, |acc, (p, q)| p.mul_add(*q, acc))
    };
    let scale = 1.0 / (n as f64 - 1.0);
    let cxx = dot(&dx, &dx) * scale;
    let cyy = dot(&dy, &dy) * scale;
    let cxy = dot(&dx, &dy) * scale;
    let r = cxy / cxx.sqrt() / cyy.sqrt();
    if r.is_nan() {
        r
    } else {
        r.clamp(-1.0, 1.0)
    }
}

/// Least-squares line `y = slope * x + intercept` (what `np.polyfit(x, y, 1)` returns).
/// Both NaN when x is constant.
pub fn linear_fit(x: &[f64], y: &[f64]) -> (f64, f64) {
    let (mx, my) = (mean(x), mean(y));
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    if sxx == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

/// `(x - min) / (max - min)`; NaN for every value when the range is zero (as pandas gives 0/0).
pub fn min_max(xs: &[f64]) -> Vec<f64> {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    xs.iter()
        .map(|x| (x - lo) / (hi - lo))
        .map(|v| if v.is_finite() { v } else { f64::NAN })
        .collect()
}

/// Index of the first minimum / maximum (pandas `idxmin`/`idxmax` keep the first on ties).
pub fn argmin(xs: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in xs.iter().enumerate() {
        if !x.is_nan() && best.is_none_or(|b| x < xs[b]) {
            best = Some(i);
        }
    }
    best
}

pub fn argmax(xs: &[f64]) -> Option<usize> {
    let neg: Vec<f64> = xs.iter().map(|x| -x).collect();
    argmin(&neg)
}

/// Exact two-sided McNemar test: `b` and `c` are the discordant pair counts.
/// p = min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2); 1 when there is no discordance.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Sum the binomial pmf in log space so large n does not underflow term by term.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut cdf = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        cdf += (ln_choose + ln_half_n).exp();
    }
    (2.0 * cdf).min(1.0)
}

/// Benjamini–Hochberg adjusted p-values (step-up, monotone, capped at 1), in input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0f64;
    for rank in (0..m).rev() {
        let i = order[rank];
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        adjusted[i] = running.min(1.0);
    }
    adjusted
}

/// SplitMix64: a tiny seeded generator so bootstrap intervals are reproducible run to run.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform index below `n` (Lemire's multiply-shift; the bias is below 2^-32 for our n).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// Percentile interval of the paired difference `mean(after) - mean(before)` from `resamples`
/// bootstrap draws of item indices. Returns (lo, hi) at `level` (e.g. 0.95).
pub fn paired_bootstrap_ci(
    before: &[bool],
    after: &[bool],
    resamples: usize,
    level: f64,
    seed: u64,
) -> (f64, f64) {
    assert_eq!(
        before.len(),
        after.len(),
        "paired bootstrap needs paired outcomes"
    );
    let n = before.len();
    if n == 0 || resamples == 0 {
        return (f64::NAN, f64::NAN);
    }
    let delta: Vec<i32> = before
        .iter()
        .zip(after)
        .map(|(&b, &a)| a as i32 - b as i32)
        .collect();
    let mut rng = SplitMix64::new(seed);
    let mut diffs: Vec<f64> = (0..resamples)
        .map(|_| {
            let sum: i64 = (0..n).map(|_| delta[rng.below(n)] as i64).sum();
            sum as f64 / n as f64
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    (
        quantile_sorted(&diffs, tail),
        quantile_sorted(&diffs, 1.0 - tail),
    )
}

/// Linear-interpolated quantile of sorted data (numpy's default method).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_of_a_line_is_one_and_constant_is_nan() {
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), 1.0);
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        assert!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_nan());
    }

    #[test]
    fn linear_fit_recovers_a_line() {
        let (s, i) = linear_fit(&[0.0, 1.0, 2.0, 3.0], &[1.0, 3.0, 5.0, 7.0]);
        assert!((s - 2.0).abs() < 1e-12 && (i - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mcnemar_matches_binomial_tables() {
        // b=0, c=5: 2 * 0.5^5 = 0.0625
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-15);
        // b=2, c=8: 2 * P(X<=2 | n=10) = 2 * 56/1024
        assert!((mcnemar_exact(2, 8) - 112.0 / 1024.0).abs() < 1e-12);
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large n stays finite and tiny.
        let p = mcnemar_exact(10, 400);
        assert!(p > 0.0 && p < 1e-80);
    }

    #[test]
    fn benjamini_hochberg_matches_hand_computation() {
        // p sorted: 0.01, 0.02, 0.03, 0.5 with m=4 -> 0.04, 0.04, 0.04, 0.5
        let adj = benjamini_hochberg(&[0.03, 0.5, 0.01, 0.02]);
        let want = [0.04, 0.5, 0.04, 0.04];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
    }

    #[test]
    fn bootstrap_interval_brackets_the_difference_and_is_reproducible() {
        let before: Vec<bool> = (0..200).map(|i| i % 2 == 0).collect();
        let after: Vec<bool> = (0..200).map(|i| i % 2 == 0 || i % 5 == 1).collect();
        // after gains the odd indices with i % 10 == 1: 20 of 200 items.
        let diff = 0.1;
        let (lo, hi) = paired_bootstrap_ci(&before, &after, 1000, 0.95, 7);
        assert!(lo < diff && diff < hi && lo > 0.0, "({lo}, {hi})");
        assert_eq!(
            (lo, hi),
            paired_bootstrap_ci(&before, &after, 1000, 0.95, 7)
        );
        let none = paired_bootstrap_ci(&before, &before, 200, 0.95, 1);
        assert_eq!(none, (0.0, 0.0));
    }

    #[test]
    fn min_max_and_argmin() {
        assert_eq!(min_max(&[1.0, 3.0, 2.0]), vec![0.0, 1.0, 0.5]);
        assert!(min_max(&[2.0, 2.0]).iter().all(|v| v.is_nan()));
        assert_eq!(argmin(&[3.0, 1.0, 1.0]), Some(1));
        assert_eq!(argmax(&[3.0, 1.0, 3.0]), Some(0));
    }
}
