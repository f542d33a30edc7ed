//! The best-of-N estimator (`stats::best_of_n`) against brute force over every subset.

use syco_data::rng::SplitMix64;
use syco_eval::stats::{best_of_n, best_of_n_sizes};

/// The average over all subsets of size `n` of the metric of the subset's best sample (highest
/// score; of equal scores the lowest index).
fn brute_force(scores: &[f64], metric: &[f64], n: usize) -> f64 {
    let m = scores.len();
    let (mut sum, mut count) = (0.0, 0usize);
    for mask in 0u32..(1 << m) {
        if mask.count_ones() as usize != n {
            continue;
        }
        let mut best: Option<usize> = None;
        for i in 0..m {
            if mask & (1 << i) != 0 && best.is_none_or(|b| scores[i] > scores[b]) {
                best = Some(i);
            }
        }
        sum += metric[best.unwrap()];
        count += 1;
    }
    sum / count as f64
}

#[test]
fn sizes_are_powers_of_two_and_n_max() {
    assert_eq!(best_of_n_sizes(0), Vec::<usize>::new());
    assert_eq!(best_of_n_sizes(1), vec![1]);
    assert_eq!(best_of_n_sizes(8), vec![1, 2, 4, 8]);
    assert_eq!(best_of_n_sizes(6), vec![1, 2, 4, 6]);
    assert_eq!(best_of_n_sizes(16), vec![1, 2, 4, 8, 16]);
}

#[test]
fn equals_brute_force_over_all_subsets_with_ties() {
    let mut rng = SplitMix64::new(22);
    for case in 0..400 {
        let m = 1 + case % 8;
        // Scores from a few values, so ties are common; metrics 0/1 or real.
        let levels = 1 + rng.below(4);
        let scores: Vec<f64> = (0..m).map(|_| rng.below(levels) as f64 * 0.5 - 0.3).collect();
        let metric: Vec<f64> = (0..m).map(|_| if case % 2 == 0 { rng.below(2) as f64 } else { rng.next_f64() * 10.0 - 5.0 }).collect();
        let curve = best_of_n(&scores, &metric).unwrap();
        assert_eq!(curve.iter().map(|p| p.n).collect::<Vec<_>>(), best_of_n_sizes(m));
        for p in &curve {
            let want = brute_force(&scores, &metric, p.n);
            assert!(
                (p.expected - want).abs() < 1e-12,
                "case {case}: scores {scores:?} metric {metric:?} N {}: {} vs {want}",
                p.n,
                p.expected
            );
        }
        // N = 1 is the mean; N = N_max the top sample's metric (the first of the highest score).
        let mean = metric.iter().sum::<f64>() / m as f64;
        assert!((curve[0].expected - mean).abs() < 1e-12);
        let top = (0..m).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
        assert!((curve.last().unwrap().expected - metric[top]).abs() < 1e-12, "case {case}");
    }
}

#[test]
fn hand_values_and_the_tie_rule() {
    // Scores 1 < 2 < 3, metrics 10, 20, 30: best of 2 is 30 in two of three pairs, 20 in one.
    let c = best_of_n(&[2.0, 3.0, 1.0], &[20.0, 30.0, 10.0]).unwrap();
    assert_eq!(c.iter().map(|p| p.n).collect::<Vec<_>>(), vec![1, 2, 3]);
    for (p, want) in c.iter().zip([20.0, (30.0 * 2.0 + 20.0) / 3.0, 30.0]) {
        assert!((p.expected - want).abs() < 1e-12, "{c:?}");
    }
    // All scores tied: the first sample wins every subset that holds it.
    let c = best_of_n(&[1.0; 4], &[1.0, 0.0, 0.0, 0.0]).unwrap();
    for (p, want) in c.iter().zip([0.25, 0.5, 1.0]) {
        assert!((p.expected - want).abs() < 1e-15, "{c:?}");
    }
    assert!(best_of_n(&[1.0, 2.0], &[1.0]).is_none());
    assert_eq!(best_of_n(&[], &[]).unwrap(), vec![]);
}

#[test]
fn large_n_max_has_no_overflow() {
    // 2000 samples with metric = score rank: E[max rank of N of M] = N(M+1)/(N+1).
    let m = 2000;
    let scores: Vec<f64> = (0..m).map(|i| ((i * 7919) % m) as f64).collect();
    let metric: Vec<f64> = scores.iter().map(|s| s + 1.0).collect();
    for p in best_of_n(&scores, &metric).unwrap() {
        let want = p.n as f64 * (m as f64 + 1.0) / (p.n as f64 + 1.0);
        assert!((p.expected - want).abs() < 1e-9 * want, "N {}: {} vs {want}", p.n, p.expected);
    }
}
