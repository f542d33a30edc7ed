//! The study's capability-benchmark rules (SPEC §3.1), quirks included.

use std::sync::LazyLock;

use regex::Regex;

use crate::pytext::{after_last_inst, py_lower, py_strip, py_upper, PY_SPACE_CLASS};

/// Max new tokens the study generated per benchmark (SPEC §3.1).
pub const GSM8K_MAX_NEW_TOKENS: usize = 512;
pub const MMLU_MAX_NEW_TOKENS: usize = 10;
pub const TRUTHFULQA_MAX_NEW_TOKENS: usize = 3;
/// Every sycophancy generation (SPEC §3.2).
pub const SYCOPHANCY_MAX_NEW_TOKENS: usize = 150;

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this module; a typo is caught by the unit tests.
    Regex::new(pattern).expect("constant regex")
}

static BOXED: LazyLock<Regex> = LazyLock::new(|| re(r"\\boxed\{(.+?)\}"));
static ANSWER_AFTER: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?:final answer|answer|result)[{PY_SPACE_CLASS}:\-]*([$\-\d\.\,]+)")));
static ANSWER_BEFORE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"([$\-\d\.\,]+)(?:[{PY_SPACE_CLASS}]*(?:is the answer|as the answer))")));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"-?\d+\.?\d*"));
static NOT_NUMERIC: LazyLock<Regex> = LazyLock::new(|| re(r"[^\d\.\-]"));

/// GSM8K gold as the study read it: `answer.split("#### ")[1].strip()`; `None` (the study's
/// exception, which skips the item) when the answer has no `#### `.
pub fn gsm8k_gold(answer: &str) -> Option<&str> {
    answer.split("#### ").nth(1).map(py_strip)
}

/// `extract_gsm8k_answer`: the first rule that matches of \boxed{}, "answer ... N" /
/// "N is the answer" on the lowercased text, the last number, else the whole text.
pub fn gsm8k_extract(response: &str) -> String {
    let text = py_strip(response);
    if let Some(c) = BOXED.captures(text) {
        return py_strip(&c[1]).to_string();
    }
    let lower = py_lower(text);
    for pattern in [&*ANSWER_AFTER, &*ANSWER_BEFORE] {
        if let Some(c) = pattern.captures(&lower) {
            return py_strip(&c[1]).to_string();
        }
    }
    match NUMBER.find_iter(text).last() {
        Some(m) => m.as_str().to_string(),
        None => text.to_string(),
    }
}

/// The study's normalisation before comparing: keep only digits, `.` and `-`.
pub fn gsm8k_normalize(s: &str) -> String {
    NOT_NUMERIC.replace_all(s, "").into_owned()
}

/// One GSM8K item under the seed rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gsm8kJudgement {
    pub response: String,
    pub extracted: String,
    pub prediction: String,
    pub gold: String,
    pub correct: bool,
}

/// `generated` is the backend's new text; `gold` the text after `#### `.
pub fn gsm8k_judge(generated: &str, gold: &str) -> Gsm8kJudgement {
    let response = after_last_inst(generated).to_string();
    let extracted = gsm8k_extract(&response);
    let prediction = gsm8k_normalize(&extracted);
    let gold = gsm8k_normalize(gold);
    let correct = !prediction.is_empty() && !gold.is_empty() && prediction == gold;
    Gsm8kJudgement { response, extracted, prediction, gold, correct }
}

/// MMLU: the first A–D anywhere in the uppercased response, inside words too ("Sure" -> "A"
/// is not possible, but "SURE, THE ANSWER" gives the A of "ANSWER").
pub fn mmlu_letter(generated: &str) -> Option<char> {
    py_upper(after_last_inst(generated)).chars().find(|c| ('A'..='D').contains(c))
}

/// TruthfulQA: the new text stripped, every non-ASCII-letter deleted, uppercased; its first
/// character when it is A–D.
pub fn truthfulqa_letter(generated: &str) -> Option<char> {
    let letters: String = py_strip(generated).chars().filter(char::is_ascii_alphabetic).collect();
    letters.to_ascii_uppercase().chars().next().filter(|c| ('A'..='D').contains(c))
}

/// HellaSwag seed score of one ending: mean log-probability of every token after BOS of
/// `ctx + " " + ending`, the context's tokens included.
pub fn hellaswag_seed_score(context_sum: f64, context_tokens: usize, ending_sum: f64, ending_tokens: usize) -> f64 {
    (context_sum + ending_sum) / (context_tokens + ending_tokens) as f64
}

/// Python's `scores.index(max(scores))`: the first index of the maximum. `None` when empty or
/// when a score is NaN (Python's `max` would then depend on order; we refuse to guess).
pub fn argmax_first(scores: &[f64]) -> Option<usize> {
    if scores.is_empty() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate().skip(1) {
        if s > scores[best] {
            best = i;
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gsm(resp: &str, gold: &str) -> bool {
        gsm8k_judge(resp, gold).correct
    }

    #[test]
    fn gsm8k_boxed_wins_over_everything() {
        assert_eq!(gsm8k_extract("The answer: 5. So \\boxed{ 18 } and 7"), "18");
        assert!(gsm("so \\boxed{18}", "18"));
        // Non-greedy up to the first closing brace.
        assert_eq!(gsm8k_extract("\\boxed{\\frac{1}{2}}"), "\\frac{1");
    }

    #[test]
    fn gsm8k_answer_patterns_on_lowercase() {
        assert_eq!(gsm8k_extract("Final Answer: $1,000. Then 3"), "$1,000.");
        assert!(gsm("Final Answer: $1,000", "1000"));
        // The separator class `[\s:\-]*` eats the minus sign greedily, so the sign is lost.
        assert_eq!(gsm8k_extract("Result: -4 apples, and 9"), "4");
        assert_eq!(gsm8k_extract("Result - -4 apples, and 9"), "4");
        assert_eq!(gsm8k_extract("final answer $-4"), "$-4");
        assert_eq!(gsm8k_extract("So 42 is the answer"), "42");
        assert_eq!(gsm8k_extract("I take 42 as the answer"), "42");
        // The first pattern wins: "answer" followed by "," captures the comma.
        assert_eq!(gsm8k_extract("So 42 is the answer, not 7"), ",");
    }

    #[test]
    fn gsm8k_answer_is_falls_through_to_last_number() {
        // "is" is not allowed between "answer" and the number.
        assert_eq!(gsm8k_extract("The answer is 18, since 3 times 6 equals 18. Check: 2"), "2");
        assert!(!gsm("The answer is 18. Check: 2", "18"));
        assert!(gsm("The answer is 18", "18"));
    }

    #[test]
    fn gsm8k_last_number_and_whole_text() {
        assert_eq!(gsm8k_extract("we get 3.5 then 12."), "12.");
        assert_eq!(gsm8k_extract("-7 and then -3.25x"), "-3.25");
        assert_eq!(gsm8k_extract("  no digits here "), "no digits here");
        assert!(!gsm("no digits here", "18"));
    }

    #[test]
    fn gsm8k_comparison_is_textual_after_normalisation() {
        assert!(!gsm("\\boxed{18.00}", "18"));
        assert!(gsm("\\boxed{$1,000}", "1000"));
        assert!(gsm("\\boxed{18 dollars}", "18"));
        // Empty on either side is wrong.
        assert!(!gsm("\\boxed{x}", ""));
        assert!(!gsm8k_judge("\\boxed{}", "18").correct);
        // A trailing period survives normalisation, so "12." != "12".
        assert!(!gsm("we get 12.", "12"));
    }

    #[test]
    fn gsm8k_takes_text_after_last_inst() {
        assert!(gsm("[/INST] \\boxed{3} [/INST] \\boxed{18}", "18"));
    }

    #[test]
    fn gsm8k_gold_is_first_split_piece() {
        assert_eq!(gsm8k_gold("a\n#### 18 "), Some("18"));
        assert_eq!(gsm8k_gold("a #### 1 #### 2"), Some("1"));
        assert_eq!(gsm8k_gold("no marker"), None);
    }

    #[test]
    fn mmlu_first_letter_anywhere() {
        assert_eq!(mmlu_letter("Sure, the answer"), Some('A'));
        assert_eq!(mmlu_letter("  b) four"), Some('B'));
        assert_eq!(mmlu_letter("It's correct"), Some('C'));
        assert_eq!(mmlu_letter("xyz"), None);
        assert_eq!(mmlu_letter(""), None);
    }

    #[test]
    fn truthfulqa_first_letter_after_dropping_non_letters() {
        assert_eq!(truthfulqa_letter(" (a)"), Some('A'));
        assert_eq!(truthfulqa_letter("1. B"), Some('B'));
        assert_eq!(truthfulqa_letter("E"), None);
        assert_eq!(truthfulqa_letter("The"), None);
        assert_eq!(truthfulqa_letter("Da"), Some('D'));
        assert_eq!(truthfulqa_letter("!?"), None);
    }

    #[test]
    fn hellaswag_seed_mean_and_first_argmax() {
        assert_eq!(hellaswag_seed_score(-6.0, 3, -2.0, 1), -2.0);
        assert_eq!(argmax_first(&[-1.0, -0.5, -0.5, -3.0]), Some(1));
        assert_eq!(argmax_first(&[]), None);
        assert_eq!(argmax_first(&[0.0, f64::NAN]), None);
    }
}
