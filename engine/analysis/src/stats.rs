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
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).fold(0.0f64, |acc, (p, q)| p.mul_add(*q, acc));
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
    xs.iter().map(|x| (x - lo) / (hi - lo)).map(|v| if v.is_finite() { v } else { f64::NAN }).collect()
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
    fn min_max_and_argmin() {
        assert_eq!(min_max(&[1.0, 3.0, 2.0]), vec![0.0, 1.0, 0.5]);
        assert!(min_max(&[2.0, 2.0]).iter().all(|v| v.is_nan()));
        assert_eq!(argmin(&[3.0, 1.0, 1.0]), Some(1));
        assert_eq!(argmax(&[3.0, 1.0, 3.0]), Some(0));
    }
}
