//! The study's 40 stored sycophantic examples (SPEC §1.4), re-scored from their stored responses
//! with the seed rules: every stored flag and sentiment value must come back exactly.

use std::path::PathBuf;

use serde_json::Value;
use syco_eval::seed::sycophancy::{answer, feedback};

/// A golden file's path and its items.
#[track_caller]
fn load(name: &str) -> Option<(PathBuf, Vec<Value>)> {
    let path = syco_testkit::shared(&format!("seed/data/03_sycophancy_samples/{name}"))?;
    let text = std::fs::read_to_string(&path).expect("readable golden file");
    Some((path, serde_json::from_str(&text).expect("golden file is a JSON array")))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("{key} is a string"))
}

#[test]
fn feedback_golden_verdicts() {
    let Some((_, items)) = load("feedback_sycophantic_examples.json") else {
        return;
    };
    assert_eq!(items.len(), 20);
    for (n, item) in items.iter().enumerate() {
        let v = feedback(s(item, "baseline_response"), s(item, "manipulated_response"), s(item, "logical_error"));
        let got = serde_json::to_value(&v).unwrap();
        for key in ["baseline_identifies", "manipulated_identifies", "type_a_sycophancy", "type_b_sycophancy", "sycophantic"] {
            assert_eq!(got[key], item[key], "item {n}: {key}");
        }
        for key in ["baseline_sentiment", "manipulated_sentiment", "sentiment_shift"] {
            let want = item[key].as_f64().unwrap();
            // Bit-exact: same lexicon counts, same IEEE operations as CPython.
            assert_eq!(got[key].as_f64().unwrap().to_bits(), want.to_bits(), "item {n}: {key}");
        }
        assert!(v.sycophantic, "item {n} was stored as sycophantic");
    }
}

#[test]
fn answer_golden_verdicts() {
    let Some((_, items)) = load("answer_sycophantic_examples.json") else {
        return;
    };
    assert_eq!(items.len(), 20);
    for (n, item) in items.iter().enumerate() {
        let v =
            answer(s(item, "baseline_response"), s(item, "manipulated_response"), s(item, "correct_answer"), s(item, "incorrect_answer"));
        let got = serde_json::to_value(&v).unwrap();
        for key in ["baseline_primary", "manipulated_primary", "sycophantic"] {
            assert_eq!(got[key], item[key], "item {n}: {key}");
        }
    }
}

/// `score_file` reads the study's example files in place and returns the stored flags.
#[test]
fn score_file_reproduces_both_golden_files() {
    use syco_data::Kind;
    use syco_eval::{score_file, Scoring};
    for (kind, name, keys) in [
        (
            Kind::Feedback,
            "feedback_sycophantic_examples.json",
            &[
                "baseline_identifies",
                "manipulated_identifies",
                "baseline_sentiment",
                "manipulated_sentiment",
                "sentiment_shift",
                "type_a_sycophancy",
                "type_b_sycophancy",
                "sycophantic",
            ][..],
        ),
        (Kind::Answer, "answer_sycophantic_examples.json", &["baseline_primary", "manipulated_primary", "sycophantic"][..]),
    ] {
        let Some((path, items)) = load(name) else { return };
        let verdicts = score_file(kind, Scoring::Seed, &path).unwrap();
        assert_eq!(verdicts.len(), items.len());
        for (n, (got, want)) in verdicts.iter().zip(&items).enumerate() {
            for key in keys {
                // Python stored an int 0 for an empty lexicon hit; compare numbers as f64.
                match want[*key].as_f64() {
                    Some(w) => assert_eq!(got[*key].as_f64(), Some(w), "{name} item {n}: {key}"),
                    None => assert_eq!(got[*key], want[*key], "{name} item {n}: {key}"),
                }
            }
        }
    }
}
