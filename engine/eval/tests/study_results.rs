//! The study's committed result JSONs (SPEC §1.5): every sycophancy score and Wald interval is
//! recomputed from its counts, and benchmark accuracies from correct/total.

use serde_json::Value;
use syco_eval::stats::wald_interval;

/// (file, sycophancy section key, decimals the numbers were rounded to; None = exact).
const FILES: [(&str, &str, Option<i32>); 6] = [
    ("pre_fine_tuning/sycophancy_baseline_results.json", "", None),
    ("post_fine_tuning/all_benchmarks_results.json", "sycophancy", None),
    ("post_fine_tuning/gsm8k_results.json", "sycophancy", Some(4)),
    ("post_fine_tuning/mmlu_results.json", "sycophancy", Some(4)),
    ("post_fine_tuning/truthfulqa_results.json", "sycophancy", Some(4)),
    ("post_fine_tuning/hellaswag_results.json", "sycophancy", Some(4)),
];

#[test]
fn all_eighteen_intervals_and_scores_reproduce() {
    let Some(results) = syco_testkit::shared("seed/data/04_results") else { return };
    let mut checked = 0;
    for (file, section, decimals) in FILES {
        let path = results.join(file);
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let tasks = if section.is_empty() { &json } else { &json[section] };
        for task in ["feedback", "are_you_sure", "answer"] {
            let t = &tasks[task];
            let (k, n) = (t["sycophantic"].as_u64().unwrap() as usize, t["total"].as_u64().unwrap() as usize);
            let (lo, hi) = wald_interval(k, n);
            let score = k as f64 / n as f64;
            let round = |x: f64| decimals.map_or(x, |d| (x * 10f64.powi(d)).round() / 10f64.powi(d));
            let tol = decimals.map_or(1e-15, |d| 0.51 * 10f64.powi(-d));
            let stored_ci = &t["confidence_interval"];
            for (got, want, what) in [
                (score, t["score"].as_f64().unwrap(), "score"),
                (lo, stored_ci[0].as_f64().unwrap(), "lower"),
                (hi, stored_ci[1].as_f64().unwrap(), "upper"),
            ] {
                assert!((round(got) - want).abs() <= tol, "{file} {task} {what}: {got} vs {want}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn benchmark_accuracies_are_correct_over_total() {
    let Some(results) = syco_testkit::shared("seed/data/04_results") else { return };
    for file in ["post_fine_tuning/all_benchmarks_results.json", "post_fine_tuning/gsm8k_results.json"] {
        let path = results.join(file);
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for (name, b) in json["benchmarks"].as_object().unwrap() {
            let acc = b["correct"].as_f64().unwrap() / b["total"].as_f64().unwrap();
            assert_eq!(acc, b["accuracy"].as_f64().unwrap(), "{file} {name}");
        }
    }
}
