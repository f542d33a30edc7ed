//! The requests of each item, and what the model answered.

use serde::{Deserialize, Serialize};
use syco_data::prompts::{letter_list, lettered_options};
use syco_data::Message;

use crate::doc::{render_doc, Rendered};
use crate::fewshot::{chat_turns, plain_context, Delimiters, Example, Sampler};
use crate::spec::{ChoiceScoring, Doc, DocTemplate, OutputType, TaskSpec};
use crate::{template, TaskError};

/// A prompt in both forms: the plain text (lm-eval's default, no chat template) and the chat
/// turns (few-shot examples as user/assistant pairs when the task asks for turns, then the
/// question as the last user turn). `TaskSpec::chat` says which one the backend renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub text: String,
    pub turns: Vec<Message>,
}

/// One request to the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// log p(continuation | context). Plain text: the context and the continuation are
    /// tokenised as lm-eval does (trailing spaces of the context move to the continuation; no
    /// BOS). Chat: the context is rendered with the generation prompt, the continuation follows.
    Loglik { context: Prompt, continuation: String },
    /// Greedy generation, cut before the first stop string.
    Generate { prompt: Prompt, until: Vec<String>, max_gen_toks: usize },
}

/// The requests of one record, in order (one per choice for multiple choice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRequests {
    /// Position in the evaluated split (lm-eval's `doc_id`).
    pub doc_id: usize,
    /// The record's own `id` field when it has one, else the doc_id as text.
    pub id: String,
    pub requests: Vec<Request>,
    /// The rendered choices (multiple choice; empty otherwise).
    pub choices: Vec<String>,
    pub gold: Gold,
}

/// The right answer of one record, resolved from `doc_to_target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gold {
    /// Indices into `choices` (one, or several when the target is a list).
    Choices(Vec<usize>),
    /// Reference strings (generate_until; several when the target is a list).
    Text(Vec<String>),
}

/// The model's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// Sum of the continuation's token log-probabilities; whether every continuation token was
    /// the argmax (lm-eval's `is_greedy`); how many tokens it had.
    Loglik { logprob: f64, greedy: bool, tokens: usize },
    /// The new text, already cut at the stop strings.
    Text { text: String },
}

/// A training example from one record: the prompt, and the target the loss is taken on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingText {
    pub prompt: Prompt,
    /// What follows the prompt (for plain text, with the target delimiter in front).
    pub target: String,
}

// ---- Building requests ------------------------------------------------------------------

/// The requests of every record of `docs` (the evaluated split), in order.
///
/// `fewshot_docs`: the split the examples come from; `None` means `docs` itself, and then each
/// record is kept out of its own examples (lm-eval does this when the few-shot split is the
/// test split). One sampler runs over all records in order, as lm-eval's does. lm-eval keeps
/// the record among its own candidates when the shared split is not its `test_split` (e.g. a
/// validation split evaluated with `fewshot_split: validation`): pass `Some(docs)` for that.
pub fn build_requests(spec: &TaskSpec, docs: &[Doc], fewshot_docs: Option<&[Doc]>) -> Result<Vec<ItemRequests>, TaskError> {
    let own_split = fewshot_docs.is_none();
    let pool = fewshot_docs.unwrap_or(docs);
    let mut sampler = Sampler::new(spec.fewshot.seed);
    // Each few-shot record is rendered once, however often it is drawn.
    let mut examples: Vec<Option<Example>> = vec![None; pool.len()];
    let mut items = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        // The record first, so that its own errors are reported as its own.
        let item = render_doc(spec, doc, i)?;
        let picks =
            sampler.sample(pool, spec.fewshot.n, own_split.then_some(doc)).map_err(|m| TaskError::new("num_fewshot", m).at_doc(i))?;
        let mut shots = Vec::with_capacity(picks.len());
        for j in picks {
            if examples[j].is_none() {
                examples[j] = Some(example(spec, &pool[j], j).map_err(|e| fewshot_error(e, own_split))?);
            }
            shots.push(examples[j].clone().expect("just rendered"));
        }
        items.push(item_requests(spec, doc, item, &shots)?);
    }
    Ok(items)
}

/// A few-shot record's error: its position is in the few-shot split, said in the message when
/// that is not the evaluated split.
fn fewshot_error(mut e: TaskError, own_split: bool) -> TaskError {
    if !own_split {
        if let Some(j) = e.doc.take() {
            e.message = format!("few-shot record {j}: {}", e.message);
        }
    }
    e
}

/// A labelled example: the question as the evaluated records show it, and its answer.
fn example(spec: &TaskSpec, doc: &Doc, j: usize) -> Result<Example, TaskError> {
    let item = render_doc(spec, doc, j)?;
    let answer = match letter_scoring(spec) {
        true => Some(gold_letter(&item)?),
        false => item.answer()?,
    };
    Ok(Example { question: question(spec, &item)?, answer })
}

fn letter_scoring(spec: &TaskSpec) -> bool {
    spec.output == OutputType::MultipleChoice && spec.choice_scoring == ChoiceScoring::Letter
}

fn gold_letter(item: &Rendered) -> Result<String, TaskError> {
    Ok(syco_data::letter(item.gold_indices()?[0]).to_string())
}

/// The question block: `doc_to_text`, or for letter scoring the text, the lettered choices
/// and an instruction to answer with a letter.
fn question(spec: &TaskSpec, item: &Rendered) -> Result<String, TaskError> {
    if !letter_scoring(spec) {
        return Ok(item.text.clone());
    }
    let choices = item.choices.as_deref().unwrap_or_default();
    if choices.is_empty() || choices.len() > 26 {
        let n = choices.len();
        return Err(TaskError::new("doc_to_choice", format!("letter scoring needs 1 to 26 choices, the record has {n}")).at_doc(item.doc));
    }
    Ok(format!(
        "{}\n{}\nAnswer with the letter of the correct option ({}).",
        item.text,
        lettered_options(choices),
        letter_list(choices.len())
    ))
}

/// `description`, a field or a template rendered over the evaluated record, as lm-eval's
/// `resolve_field`.
fn description(spec: &TaskSpec, doc: &Doc, i: usize) -> Result<String, TaskError> {
    let d = &spec.description;
    if d.is_empty() {
        return Ok(String::new());
    }
    match doc.get(d) {
        Some(v) => Ok(crate::pyliteral::py_str(v)),
        None => crate::doc::render("description", d, doc, i),
    }
}

fn delimiters(spec: &TaskSpec) -> Delimiters<'_> {
    Delimiters { target: &spec.target_delimiter, fewshot: &spec.fewshot.delimiter }
}

/// What goes between the prompt and a choice or answer: lm-eval drops the target delimiter
/// when the prompt goes through a chat template (the answer starts the assistant's turn).
fn continuation_delimiter(spec: &TaskSpec) -> &str {
    if spec.chat {
        ""
    } else {
        &spec.target_delimiter
    }
}

fn prompt(spec: &TaskSpec, description: &str, shots: &[Example], question: &str) -> Prompt {
    let d = delimiters(spec);
    Prompt {
        text: plain_context(description, shots, question, d),
        turns: chat_turns(description, shots, question, d, spec.fewshot.as_turns),
    }
}

/// The record's own `id` field (text or number), else its position.
fn item_id(doc: &Doc, doc_id: usize) -> String {
    match doc.get("id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => doc_id.to_string(),
    }
}

fn item_requests(spec: &TaskSpec, doc: &Doc, item: Rendered, shots: &[Example]) -> Result<ItemRequests, TaskError> {
    let i = item.doc;
    let prompt = prompt(spec, &description(spec, doc, i)?, shots, &question(spec, &item)?);
    let generate =
        |prompt: Prompt| Request::Generate { prompt, until: spec.generation.until.clone(), max_gen_toks: spec.generation.max_gen_toks };
    let (requests, gold) = match spec.output {
        OutputType::MultipleChoice => {
            let gold = Gold::Choices(item.gold_indices()?);
            let requests = match spec.choice_scoring {
                ChoiceScoring::Letter => vec![generate(prompt)],
                ChoiceScoring::Loglikelihood => {
                    let delim = continuation_delimiter(spec);
                    let choices = item.choices.as_deref().unwrap_or_default();
                    choices.iter().map(|c| Request::Loglik { context: prompt.clone(), continuation: format!("{delim}{c}") }).collect()
                }
            };
            (requests, gold)
        }
        OutputType::GenerateUntil => (vec![generate(prompt)], Gold::Text(item.gold_texts()?)),
        OutputType::Loglikelihood => {
            // lm-eval's continuation is the target as is (no delimiter: tasks put it in the target).
            let gold = item.gold_texts()?;
            (vec![Request::Loglik { context: prompt, continuation: gold[0].clone() }], Gold::Text(gold))
        }
    };
    Ok(ItemRequests { doc_id: i, id: item_id(doc, i), requests, choices: item.choices.unwrap_or_default(), gold })
}

/// A training example from one record: the zero-shot prompt of its requests, and the answer
/// after it (the target delimiter in front, as a few-shot example shows it).
pub fn training_text(spec: &TaskSpec, doc: &Doc, doc_id: usize) -> Result<TrainingText, TaskError> {
    let item = render_doc(spec, doc, doc_id)?;
    let prompt = prompt(spec, &description(spec, doc, doc_id)?, &[], &question(spec, &item)?);
    let delim = continuation_delimiter(spec);
    let answer = match spec.output {
        OutputType::MultipleChoice if letter_scoring(spec) => gold_letter(&item)?,
        OutputType::MultipleChoice => {
            let choices = item.choices.as_deref().unwrap_or_default();
            choices[item.gold_indices()?[0]].clone()
        }
        OutputType::GenerateUntil => {
            item.answer()?.ok_or_else(|| TaskError::new("doc_to_target", "the record has no target to train on").at_doc(doc_id))?
        }
        // As the request's continuation: lm-eval puts no delimiter before it.
        OutputType::Loglikelihood => return Ok(TrainingText { prompt, target: item.gold_texts()?.swap_remove(0) }),
    };
    Ok(TrainingText { prompt, target: format!("{delim}{answer}") })
}

/// Syntax of every template of the task, errors under the keys lm-eval names them by.
pub fn check_templates(spec: &TaskSpec) -> Result<(), TaskError> {
    let check = |key: &str, t: &DocTemplate| -> Result<(), TaskError> {
        let sources: Vec<&String> = match t {
            DocTemplate::Int(_) => vec![],
            DocTemplate::Text(s) => vec![s],
            DocTemplate::List(items) => items.iter().collect(),
        };
        sources.into_iter().try_for_each(|s| template::check(s).map_err(|e| TaskError::new(key, e)))
    };
    check("doc_to_text", &spec.text)?;
    check("doc_to_target", &spec.target)?;
    if let Some(choices) = &spec.choices {
        check("doc_to_choice", choices)?;
    }
    template::check(&spec.description).map_err(|e| TaskError::new("description", e))
}
