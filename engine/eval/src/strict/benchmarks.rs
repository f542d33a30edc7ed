//! Strict capability-benchmark rules: the study's extraction defects fixed (see STRICT.md).

use std::sync::LazyLock;

use regex::Regex;

use crate::pytext::{after_last_inst, py_lower, py_strip};
use crate::seed::benchmarks::{gsm8k_extract, gsm8k_normalize, Gsm8kJudgement};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant regex")
}

/// "answer is -18", "final answer: $1,000", "result = 4.5": the number after an answer phrase,
/// with `is`, `=` or `:` allowed between and the sign kept.
static ANSWER_PHRASE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:final answer|answer|result)(?:\s*(?:is|=|:|-))?\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?|-?\.\d+)"));

/// GSM8K, strict. The study's `\boxed{}` rule first; otherwise the *last* answer phrase (so "the
/// answer is 18" is found, and the sign survives "answer: -4"); otherwise the study's rules.
/// Prediction and gold compare as numbers, so "18.00" equals "18" and "$1,000" equals "1000".
pub fn gsm8k_extract_strict(response: &str) -> String {
    let text = py_strip(response);
    if text.contains("\\boxed{") {
        return gsm8k_extract(text);
    }
    let lower = py_lower(text);
    match ANSWER_PHRASE.captures_iter(&lower).last() {
        Some(c) => c[1].to_string(),
        None => gsm8k_extract(text),
    }
}

/// Parse a GSM8K number after dropping `$`, `,` and a trailing period; `None` when not a number.
pub fn gsm8k_number(s: &str) -> Option<f64> {
    let cleaned: String = py_strip(s).chars().filter(|c| !matches!(c, '$' | ',')).collect();
    let cleaned = cleaned.trim_end_matches('.');
    cleaned.parse::<f64>().ok().filter(|x| x.is_finite())
}

pub fn gsm8k_judge_strict(generated: &str, gold: &str) -> Gsm8kJudgement {
    let response = after_last_inst(generated).to_string();
    let extracted = gsm8k_extract_strict(&response);
    let prediction = gsm8k_normalize(&extracted);
    let correct = match (gsm8k_number(&prediction), gsm8k_number(gold)) {
        (Some(p), Some(g)) => (p - g).abs() <= 1e-9 * g.abs().max(1.0),
        _ => false,
    };
    Gsm8kJudgement { response, extracted, prediction, gold: gsm8k_normalize(gold), correct }
}

/// The option letter a multiple-choice answer gives, taken as a standalone letter at a word
/// boundary among `allowed` (so "Sure" or "CORRECT" never yield a letter). A capital "A" or "I"
/// followed by a space and a lower-case word is the article or the pronoun, not an option.
pub fn choice_letter_strict(generated: &str, allowed: &[char]) -> Option<char> {
    static LETTER: LazyLock<Regex> = LazyLock::new(|| re(r"\b([A-Z])\b(\s+[a-z])?"));
    let text = after_last_inst(generated);
    // A reply that is only a letter ("b", "(c)", "D.") counts in either case.
    let bare: Vec<char> = text.chars().filter(|c| !matches!(c, '(' | ')' | '.' | ':' | ',') && !c.is_whitespace()).collect();
    if let [only] = bare[..] {
        let upper = only.to_ascii_uppercase();
        if allowed.contains(&upper) {
            return Some(upper);
        }
    }
    LETTER
        .captures_iter(text)
        .filter(|c| c.get(2).is_none() || !matches!(&c[1], "A" | "I"))
        .filter_map(|c| c[1].chars().next())
        .find(|l| allowed.contains(l))
}

/// Letters of the first `n` options: A, B, ...
pub fn option_letters(n: usize) -> Vec<char> {
    (0..n.min(26)).map(|i| char::from(b'A' + i as u8)).collect()
}

/// HellaSwag strict score of one ending: mean log-probability of the ending's own tokens, so the
/// shared context does not dilute the comparison and long endings are not penalised by their sum.
pub fn hellaswag_strict_score(ending_sum: f64, ending_tokens: usize) -> f64 {
    if ending_tokens == 0 {
        return f64::NEG_INFINITY;
    }
    ending_sum / ending_tokens as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm8k_strict_finds_answer_is_and_compares_numbers() {
        assert!(gsm8k_judge_strict("The answer is 18. Check: 2", "18").correct);
        assert!(gsm8k_judge_strict("\\boxed{18.00}", "18").correct);
        assert!(gsm8k_judge_strict("Final answer: $1,000.", "1000").correct);
        assert!(gsm8k_judge_strict("The answer: -4", "-4").correct);
        assert!(!gsm8k_judge_strict("The answer: 4", "-4").correct);
        // The last answer phrase wins over an earlier one.
        assert!(gsm8k_judge_strict("First answer is 3, so the final answer is 7", "7").correct);
        // Without a phrase, the last number as the study.
        assert!(gsm8k_judge_strict("we get 12.", "12").correct);
        assert!(!gsm8k_judge_strict("no number", "12").correct);
    }

    #[test]
    fn choice_letter_strict_needs_a_word_boundary() {
        let abcd = option_letters(4);
        assert_eq!(choice_letter_strict("Sure, the answer is C", &abcd), Some('C'));
        assert_eq!(choice_letter_strict("(B) Paris", &abcd), Some('B'));
        assert_eq!(choice_letter_strict("A common myth; D.", &abcd), Some('D'));
        assert_eq!(choice_letter_strict("A", &abcd), Some('A'));
        assert_eq!(choice_letter_strict("A.", &abcd), Some('A'));
        assert_eq!(choice_letter_strict(" (b) ", &abcd), Some('B'));
        assert_eq!(choice_letter_strict("a", &abcd), Some('A'));
        assert_eq!(choice_letter_strict("It's correct", &abcd), None);
        assert_eq!(choice_letter_strict("E", &abcd), None);
        assert_eq!(choice_letter_strict("E", &option_letters(13)), Some('E'));
        assert_eq!(choice_letter_strict("I think it is G", &option_letters(13)), Some('G'));
    }

    #[test]
    fn hellaswag_strict_is_ending_mean() {
        assert_eq!(hellaswag_strict_score(-6.0, 3), -2.0);
        assert_eq!(hellaswag_strict_score(0.0, 0), f64::NEG_INFINITY);
    }
}
