//! Responses -> per-item results and the task's metrics, named as lm-eval reports them.
//!
//! Items (one JSON object per record, keys in this order; metrics only those the task asks for):
//! - multiple_choice, log-likelihood: `doc_id, id, choices, loglik, greedy, pred, pred_norm, gold,
//!   acc, acc_norm`.
//! - multiple_choice, letter: `doc_id, id, choices, response, extracted, pred, gold, acc`
//!   (`extracted` and `pred` null when no letter is found).
//! - generate_until: `doc_id, id, response, filtered {PIPELINE: answer} ("none": the raw response
//!   when there are no filters), extracted (the first pipeline's answer), target`, then per metric
//!   `M` (first pipeline) and, with several pipelines, `M,PIPELINE` for each.
//! - loglikelihood: `doc_id, id, loglik, greedy, acc`.
//!
//! `gold` / `target` is one value, or a list when the record has several. Per-item metrics are
//! 0 or 1.
//!
//! Metrics: per item metric key `K`, its mean under `K` and `sqrt(sample variance / n)` under
//! `K_stderr` (`M_stderr,PIPELINE` for `M,PIPELINE`), then `n`, the number of items. As in
//! lm-eval, the stderr of fewer than two items is not given (null); the mean of no items is null.

use serde_json::{json, Map, Value};

use crate::filter::{self, Pipeline};
use crate::metric::{self, TextMetric};
use crate::request::{Gold, ItemRequests, Request, Response};
use crate::spec::{ChoiceScoring, MetricName, OutputType, TaskSpec};
use crate::TaskError;

/// The scored task: one object per item, and the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub items: Vec<Value>,
    pub metrics: Map<String, Value>,
}

/// Scores `responses[i][j]`, the answer to `items[i].requests[j]`. Errors (key `responses`) when
/// the counts or kinds of responses do not fit the requests, (key `doc_to_target`) when a gold
/// is missing or outside the choices, and whatever the spec's filters and metrics fail
/// `filter::check` / `metric::check` with.
pub fn score(spec: &TaskSpec, items: &[ItemRequests], responses: &[Vec<Response>]) -> Result<Scored, TaskError> {
    if items.len() != responses.len() {
        return Err(TaskError::new("responses", format!("{} items but {} lists of responses", items.len(), responses.len())));
    }
    let pipelines = filter::compile(spec)?;
    let metrics = metric::compile(spec)?;
    let keys = metric_keys(spec, &metrics, &pipelines);
    let mut columns: Vec<Vec<f64>> = vec![Vec::with_capacity(items.len()); keys.len()];
    let mut out = Vec::with_capacity(items.len());
    for (item, resps) in items.iter().zip(responses) {
        let scored = score_item(spec, &metrics, &pipelines, item, resps).map_err(|e| e.at_doc(item.doc_id))?;
        let mut obj = scored.fields;
        for ((key, column), v) in keys.iter().zip(&mut columns).zip(scored.values) {
            obj.insert(key.clone(), json!(v as u8));
            column.push(if v { 1.0 } else { 0.0 });
        }
        out.push(Value::Object(obj));
    }
    let mut agg = Map::new();
    for (key, column) in keys.iter().zip(&columns) {
        agg.insert(key.clone(), number(mean(column)));
        agg.insert(stderr_key(key), number(mean_stderr(column)));
    }
    agg.insert("n".into(), json!(items.len()));
    Ok(Scored { items: out, metrics: agg })
}

/// The per-item metric keys, in the order items and metrics list them.
fn metric_keys(spec: &TaskSpec, metrics: &[TextMetric], pipelines: &[Pipeline]) -> Vec<String> {
    let mut keys = Vec::new();
    for m in metrics {
        let name = metric::name(m.metric.metric);
        keys.push(name.to_string());
        if spec.output == OutputType::GenerateUntil && pipelines.len() > 1 {
            keys.extend(pipelines.iter().map(|p| format!("{name},{}", p.name())));
        }
    }
    keys
}

/// `acc` -> `acc_stderr`; `exact_match,flex` -> `exact_match_stderr,flex` (lm-eval's naming).
fn stderr_key(key: &str) -> String {
    match key.split_once(',') {
        Some((m, pipeline)) => format!("{m}_stderr,{pipeline}"),
        None => format!("{key}_stderr"),
    }
}

/// lm-eval's `mean`: `sum(arr) / len(arr)`, summed left to right.
fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// lm-eval's `mean_stderr`: the sample standard deviation (n - 1) over `sqrt(n)`; lm-eval
/// reports "N/A" for fewer than two items.
fn mean_stderr(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let mu = mean(xs)?;
    let var = xs.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / (xs.len() - 1) as f64;
    Some(var.sqrt() / (xs.len() as f64).sqrt())
}

fn number(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |x| json!(x))
}

/// One item's fields (without its metrics) and its metric values, in `metric_keys` order.
struct ItemScore {
    fields: Map<String, Value>,
    values: Vec<bool>,
}

fn score_item(
    spec: &TaskSpec,
    metrics: &[TextMetric],
    pipelines: &[Pipeline],
    item: &ItemRequests,
    resps: &[Response],
) -> Result<ItemScore, TaskError> {
    if resps.len() != item.requests.len() {
        return Err(TaskError::new("responses", format!("{} requests but {} responses", item.requests.len(), resps.len())));
    }
    let mut fields = Map::new();
    fields.insert("doc_id".into(), json!(item.doc_id));
    fields.insert("id".into(), json!(item.id));
    let values = match (spec.output, spec.choice_scoring) {
        (OutputType::MultipleChoice, ChoiceScoring::Loglikelihood) => choices_by_loglik(metrics, item, resps, &mut fields)?,
        (OutputType::MultipleChoice, ChoiceScoring::Letter) => choice_by_letter(metrics, item, resps, &mut fields)?,
        (OutputType::GenerateUntil, _) => generated(metrics, pipelines, item, resps, &mut fields)?,
        (OutputType::Loglikelihood, _) => {
            let (logprob, greedy) = one_loglik(item, resps)?;
            fields.insert("loglik".into(), json!(logprob));
            fields.insert("greedy".into(), json!(greedy));
            // The only metric that fits is acc: the target is the greedy continuation.
            metrics.iter().map(|_| greedy).collect()
        }
    };
    Ok(ItemScore { fields, values })
}

/// The gold choice indices, each inside the choices.
fn gold_choices(item: &ItemRequests) -> Result<&[usize], TaskError> {
    let n = item.choices.len();
    match &item.gold {
        Gold::Choices(g) if g.is_empty() => Err(TaskError::new("doc_to_target", "no gold choice")),
        Gold::Choices(g) => match g.iter().find(|&&i| i >= n) {
            // lm-eval warns and scores such a record 0; a target outside the choices is a data error.
            Some(i) => Err(TaskError::new("doc_to_target", format!("gold choice {i} is outside the {n} choices"))),
            None => Ok(g),
        },
        Gold::Text(_) => Err(TaskError::new("doc_to_target", "a multiple-choice record needs a gold choice index, not reference text")),
    }
}

/// One value, or the list when there are several (as lm-eval's target is a value or a list).
fn one_or_list<T: serde::Serialize>(xs: &[T]) -> Value {
    match xs {
        [one] => json!(one),
        _ => json!(xs),
    }
}

fn choices_by_loglik(
    metrics: &[TextMetric],
    item: &ItemRequests,
    resps: &[Response],
    fields: &mut Map<String, Value>,
) -> Result<Vec<bool>, TaskError> {
    if resps.len() != item.choices.len() || item.choices.is_empty() {
        return Err(TaskError::new("responses", format!("{} choices but {} log-likelihoods", item.choices.len(), resps.len())));
    }
    let mut lls = Vec::with_capacity(resps.len());
    let mut greedy = Vec::with_capacity(resps.len());
    for r in resps {
        match r {
            Response::Loglik { logprob, greedy: g, .. } => {
                lls.push(*logprob);
                greedy.push(*g);
            }
            Response::Text { .. } => return Err(TaskError::new("responses", "a choice was answered with text, not a log-likelihood")),
        }
    }
    let gold = gold_choices(item)?;
    let (pred, pred_norm) = metric::choice_predictions(&lls, &item.choices)
        .ok_or_else(|| TaskError::new("responses", "one log-likelihood per choice is needed"))?;
    fields.insert("choices".into(), json!(item.choices));
    fields.insert("loglik".into(), json!(lls));
    fields.insert("greedy".into(), json!(greedy));
    fields.insert("pred".into(), json!(pred));
    fields.insert("pred_norm".into(), json!(pred_norm));
    fields.insert("gold".into(), one_or_list(gold));
    Ok(metrics
        .iter()
        .map(|m| match m.metric.metric {
            MetricName::AccNorm => gold.contains(&pred_norm),
            _ => gold.contains(&pred),
        })
        .collect())
}

fn one_text<'r>(item: &ItemRequests, resps: &'r [Response]) -> Result<&'r str, TaskError> {
    match (&item.requests[..], resps) {
        ([Request::Generate { .. }], [Response::Text { text }]) => Ok(text),
        _ => Err(TaskError::new("responses", "expected one generation request answered with text")),
    }
}

fn one_loglik(item: &ItemRequests, resps: &[Response]) -> Result<(f64, bool), TaskError> {
    match (&item.requests[..], resps) {
        ([Request::Loglik { .. }], [Response::Loglik { logprob, greedy, .. }]) => Ok((*logprob, *greedy)),
        _ => Err(TaskError::new("responses", "expected one log-likelihood request answered with a log-likelihood")),
    }
}

fn choice_by_letter(
    metrics: &[TextMetric],
    item: &ItemRequests,
    resps: &[Response],
    fields: &mut Map<String, Value>,
) -> Result<Vec<bool>, TaskError> {
    let text = one_text(item, resps)?;
    if item.choices.len() > 26 {
        return Err(TaskError::new("doc_to_choice", format!("{} choices: letters go up to 26", item.choices.len())));
    }
    let gold = gold_choices(item)?;
    let pred = filter::extract_letter(text, item.choices.len());
    let letter = pred.map(|i| char::from(b'A' + i as u8).to_string());
    fields.insert("choices".into(), json!(item.choices));
    fields.insert("response".into(), json!(text));
    fields.insert("extracted".into(), json!(letter));
    fields.insert("pred".into(), json!(pred));
    fields.insert("gold".into(), one_or_list(gold));
    // The only metric that fits is acc.
    let correct = pred.is_some_and(|p| gold.contains(&p));
    Ok(metrics.iter().map(|_| correct).collect())
}

fn generated(
    metrics: &[TextMetric],
    pipelines: &[Pipeline],
    item: &ItemRequests,
    resps: &[Response],
    fields: &mut Map<String, Value>,
) -> Result<Vec<bool>, TaskError> {
    let text = one_text(item, resps)?;
    let references = match &item.gold {
        Gold::Text(r) if r.is_empty() => return Err(TaskError::new("doc_to_target", "no reference answer")),
        Gold::Text(r) => r,
        Gold::Choices(_) => return Err(TaskError::new("doc_to_target", "a generated answer needs reference text, not a choice index")),
    };
    // No filters is lm-eval's "none" pipeline: the response as it came.
    let answers: Vec<(String, String)> = if pipelines.is_empty() {
        vec![("none".into(), text.to_string())]
    } else {
        pipelines.iter().map(|p| (p.name().to_string(), p.apply(text))).collect()
    };
    fields.insert("response".into(), json!(text));
    fields.insert("filtered".into(), Value::Object(answers.iter().map(|(n, a)| (n.clone(), json!(a))).collect()));
    fields.insert("extracted".into(), json!(answers[0].1));
    fields.insert("target".into(), one_or_list(references));
    let mut values = Vec::new();
    for m in metrics {
        let hit = |answer: &str| {
            m.matches(answer, references).ok_or_else(|| TaskError::new("metric_list", "acc and acc_norm do not score generated text"))
        };
        values.push(hit(&answers[0].1)?);
        if pipelines.len() > 1 {
            for (_, a) in &answers {
                values.push(hit(a)?);
            }
        }
    }
    Ok(values)
}
