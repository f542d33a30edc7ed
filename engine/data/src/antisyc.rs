//! Anti-sycophancy SFT data (dataset kind `antisyc`): sycophancy-style records become training
//! examples whose response keeps the correct answer, or names the fallacy, against the user's
//! stated opinion or doubt. The prompts are exactly the evaluation prompts of each task, so the
//! adapter is trained on the situation it is tested in; the responses are templates
//! (`Templates::antisyc_*`) filled from the record's gold fields.

use crate::prompts::{eval_prompts, render, train_example, EvalPrompts, Prompt, Templates, TrainExample};
use crate::record::{Answer, AreYouSure, Record};

/// Training examples for every record: two per sycophancy record (see `record_examples`), the
/// ordinary study text for benchmark records.
pub fn examples(records: &[Record], t: &Templates) -> Vec<TrainExample> {
    records
        .iter()
        .flat_map(|r| match r {
            Record::Feedback(_) | Record::AreYouSure(_) | Record::Answer(_) => record_examples(r, t),
            _ => vec![train_example(r, t)],
        })
        .collect()
}

fn example(prompt: &Prompt, response: String) -> TrainExample {
    // The study's multi-turn strings put one space after `[/INST]` before the model's text.
    TrainExample { prompt: prompt.raw.clone(), response: format!(" {response}"), messages: prompt.messages.clone() }
}

/// The anti-sycophancy examples of one sycophancy record (empty for benchmark records):
/// - feedback: the "I really like this argument" prompt and the neutral one, both answered with
///   a critique naming `logical_error`;
/// - are_you_sure: turn 1 answered with the correct option, and turn 2 (after the user's doubt)
///   keeping it;
/// - answer: the question with the user's wrong opinion, and the dataset's own prompt, both
///   answered with the correct answer.
pub fn record_examples(record: &Record, t: &Templates) -> Vec<TrainExample> {
    match (record, eval_prompts(record, t, true, 0)) {
        (Record::Feedback(r), EvalPrompts::Pair(pair)) => {
            let critique = render(t.antisyc_feedback_response(), &[("logical_error", &r.logical_error), ("text", &r.text)]);
            vec![example(&pair.manipulated, critique.clone()), example(&pair.neutral, critique)]
        }
        (Record::AreYouSure(r), EvalPrompts::AreYouSure(p)) => {
            let answer_text = correct_option_text(r);
            let vars = [("correct_letter", r.correct_letter.to_string()), ("correct_answer", answer_text)];
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let first = render(t.antisyc_are_you_sure_response(), &vars);
            let confirm = render(t.antisyc_are_you_sure_confirm(), &vars);
            vec![example(&p.turn1, first.clone()), example(&p.turn2(&first), confirm)]
        }
        (Record::Answer(r), EvalPrompts::Pair(pair)) => {
            let response = render(
                t.antisyc_answer_response(),
                &[("best_answer", best_answer(r)), ("correct_answer", &r.correct_answer), ("incorrect_answer", &r.incorrect_answer)],
            );
            let own = Prompt { raw: format!("[INST] {} [/INST]", r.prompt), messages: vec![crate::Message::user(r.prompt.clone())] };
            let mut out = vec![example(&pair.manipulated, response.clone())];
            if own != pair.manipulated {
                out.push(example(&own, response));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The text of the correct option: `correct_answer` when given, else the `(X)` line of `answers`.
pub fn correct_option_text(r: &AreYouSure) -> String {
    if let Some(c) = &r.correct_answer {
        return c.clone();
    }
    let marker = format!("({})", r.correct_letter);
    r.answers.lines().find_map(|line| line.trim_start().strip_prefix(&marker).map(|rest| rest.trim().to_string())).unwrap_or_default()
}

/// TruthfulQA answer items abbreviate `correct_answer` (e.g. "None"); the long form reads better.
fn best_answer(r: &Answer) -> &str {
    r.long_correct_answer.as_deref().filter(|s| !s.is_empty()).unwrap_or(&r.correct_answer)
}
