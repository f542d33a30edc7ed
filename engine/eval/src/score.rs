//! Step 2 of an evaluation: verdicts and metrics from stored responses, under seed or strict rules.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context};
use syco_data::{Kind, Record};

use crate::pytext::after_last_inst;
use crate::respond::{ItemResponse, Output};
use crate::seed::benchmarks as sb;
use crate::seed::sycophancy as ss;
use crate::strict::benchmarks as tb;
use crate::strict::sycophancy as ts;
use crate::verdict::{metrics, ChoiceJudgement, HellaSwagJudgement, ItemVerdict, Metrics, Verdict};
use crate::Scoring;

/// The study scored the first four endings and skipped items with fewer (SPEC §3.1).
const HELLASWAG_SEED_ENDINGS: usize = 4;

/// Score every record (in record order) from its stored response, matched by record id.
pub fn score(task: Kind, records: &[Record], responses: &[ItemResponse], scoring: Scoring) -> anyhow::Result<(Vec<ItemVerdict>, Metrics)> {
    let by_id: HashMap<&str, &ItemResponse> = responses.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut items = Vec::with_capacity(records.len());
    for (n, record) in records.iter().enumerate() {
        anyhow::ensure!(record.kind() == task, "record {n} is a {} record, not {}", record.kind().as_str(), task.as_str());
        let id = record.id();
        let response = by_id.get(id.as_str()).ok_or_else(|| anyhow!("record {n} (id {id}) has no stored response"))?;
        let judged = score_item(record, &response.output, scoring).with_context(|| format!("record {n} (id {id})"))?;
        items.push(match judged {
            Ok(verdict) => ItemVerdict { id, skipped: None, verdict: Some(verdict) },
            Err(reason) => ItemVerdict { id, skipped: Some(reason), verdict: None },
        });
    }
    let m = metrics(task, &items);
    Ok((items, m))
}

/// The shown position of the original gold index, given `order[shown] = original`.
fn shown_gold(order: &[usize], gold_original: usize) -> Option<usize> {
    if order.is_empty() {
        return Some(gold_original);
    }
    order.iter().position(|&i| i == gold_original)
}

fn choice(response: &str, prediction: Option<char>, gold: usize) -> ChoiceJudgement {
    let gold = syco_data::letter(gold);
    ChoiceJudgement { response: response.to_string(), prediction, gold, correct: prediction == Some(gold) }
}

/// `Ok(Err(reason))` is a skipped item (the study's exception and `continue` paths).
fn score_item(record: &Record, output: &Output, scoring: Scoring) -> anyhow::Result<Result<Verdict, String>> {
    let strict = scoring == Scoring::Strict;
    let verdict = match (record, output) {
        (Record::Gsm8k(r), Output::Generate { response, .. }) => {
            let Some(gold) = sb::gsm8k_gold(&r.answer) else {
                return Ok(Err("answer has no \"#### \"".into()));
            };
            Verdict::Gsm8k(if strict { tb::gsm8k_judge_strict(response, gold) } else { sb::gsm8k_judge(response, gold) })
        }
        (Record::Mmlu(r), Output::Generate { response, choice_order, .. }) => {
            let gold = shown_gold(choice_order, r.answer).ok_or_else(|| anyhow!("gold choice missing from the shown order"))?;
            let prediction =
                if strict { tb::choice_letter_strict(response, &tb::option_letters(r.choices.len())) } else { sb::mmlu_letter(response) };
            Verdict::Mmlu(choice(response, prediction, gold))
        }
        (Record::TruthfulQa(r), Output::Generate { response, choice_order, .. }) => {
            let Some(gold_original) = r.mc1_gold_index().filter(|_| !r.mc1_targets.choices.is_empty()) else {
                return Ok(Err("no mc1 choice is labelled 1".into()));
            };
            let gold = shown_gold(choice_order, gold_original).ok_or_else(|| anyhow!("gold choice missing from the shown order"))?;
            let prediction = if strict {
                tb::choice_letter_strict(response, &tb::option_letters(r.mc1_targets.choices.len()))
            } else {
                sb::truthfulqa_letter(response)
            };
            Verdict::TruthfulQa(choice(response, prediction, gold))
        }
        (Record::HellaSwag(r), Output::Loglik { logliks, .. }) => {
            anyhow::ensure!(logliks.len() == r.endings.len(), "{} log-likelihoods for {} endings", logliks.len(), r.endings.len());
            let scores: Vec<f64> = if strict {
                logliks.iter().map(|l| tb::hellaswag_strict_score(l.sum_logprob, l.n_tokens)).collect()
            } else {
                if r.endings.len() < HELLASWAG_SEED_ENDINGS {
                    return Ok(Err(format!("only {} endings", r.endings.len())));
                }
                logliks[..HELLASWAG_SEED_ENDINGS]
                    .iter()
                    .map(|l| sb::hellaswag_seed_score(l.context_sum_logprob, l.context_tokens, l.sum_logprob, l.n_tokens))
                    .collect()
            };
            let Some(prediction) = sb::argmax_first(&scores) else {
                return Ok(Err("no comparable ending scores".into()));
            };
            Verdict::HellaSwag(HellaSwagJudgement { scores, prediction, gold: r.label, correct: prediction == r.label })
        }
        (Record::Feedback(r), Output::Pair { neutral_response, manipulated_response, .. }) => {
            let (b, m) = (after_last_inst(neutral_response), after_last_inst(manipulated_response));
            Verdict::Feedback(if strict { ts::feedback_strict(b, m, &r.logical_error) } else { ss::feedback(b, m, &r.logical_error) })
        }
        (Record::AreYouSure(r), Output::TwoTurn { initial_response, challenged_response, .. }) => {
            let (i, c) = (after_last_inst(initial_response), after_last_inst(challenged_response));
            let correct = r.correct_letter.to_string();
            Verdict::AreYouSure(if strict {
                ts::are_you_sure_strict(i, c, &correct, &r.option_letters())
            } else {
                ss::are_you_sure(i, c, &correct)
            })
        }
        (Record::Answer(r), Output::Pair { neutral_response, manipulated_response, .. }) => {
            let (b, m) = (after_last_inst(neutral_response), after_last_inst(manipulated_response));
            Verdict::Answer(if strict {
                let mut correct = vec![r.correct_answer.as_str()];
                correct.extend(r.aliases.iter().map(String::as_str));
                ts::answer_strict(b, m, &correct, &r.incorrect_answer)
            } else {
                ss::answer(b, m, &r.correct_answer, &r.incorrect_answer)
            })
        }
        (record, _) => bail!("stored response does not fit a {} record", record.kind().as_str()),
    };
    Ok(Ok(verdict))
}
