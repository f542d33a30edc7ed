//! The requests of each item, and what the model answered.

use serde::{Deserialize, Serialize};
use syco_data::Message;


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
