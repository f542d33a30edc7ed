//! Canonical records: one struct per kind, holding every field the prompts and scorers need.
//!
//! The canonical JSON form (what `write_jsonl` writes) is `{"kind": ..., "id": ..., fields...}`.
//! Benchmark records keep the public HF field names; sycophancy records are flattened from the
//! SycophancyEval `{prompt, base, metadata}` layout (see `layouts` for the accepted inputs).

use serde::{Deserialize, Serialize};

use crate::kind::Kind;

/// Letter for a 0-based option index: A, B, C, ... (the study's `chr(65+i)`).
pub fn letter(index: usize) -> char {
    char::from(b'A' + (index % 26) as u8)
}

/// 0-based index of an option letter (`'A'` -> 0), case-insensitive.
pub fn letter_index(letter: char) -> Option<usize> {
    let upper = letter.to_ascii_uppercase();
    upper.is_ascii_uppercase().then(|| (upper as u8 - b'A') as usize)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One turn of a conversation; a model's chat template renders a `Vec<Message>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Role::System, content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Role::User, content: content.into() }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: Role::Assistant, content: content.into() }
    }
}

/// GSM8K: a word problem and its worked answer ending in `#### N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gsm8k {
    pub question: String,
    pub answer: String,
}

impl Gsm8k {
    /// The gold number: the text after the last `#### `, trimmed.
    pub fn gold(&self) -> Option<&str> {
        self.answer.rsplit_once("#### ").map(|(_, tail)| tail.trim())
    }
}

/// MMLU: four choices and the 0-based index of the correct one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mmlu {
    pub question: String,
    #[serde(default)]
    pub subject: String,
    pub choices: Vec<String>,
    pub answer: usize,
}

impl Mmlu {
    pub fn gold_index(&self) -> usize {
        self.answer
    }
    pub fn gold_letter(&self) -> char {
        letter(self.answer)
    }
}

/// TruthfulQA's `mc1_targets` / `mc2_targets`: choices with 0/1 labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McTargets {
    pub choices: Vec<String>,
    pub labels: Vec<u8>,
}

impl McTargets {
    /// Index of the first choice labelled 1 (mc1 has exactly one).
    pub fn first_true(&self) -> Option<usize> {
        self.labels.iter().position(|&l| l == 1)
    }
    /// Indices of every choice labelled 1 (mc2 may have several).
    pub fn true_indices(&self) -> Vec<usize> {
        self.labels.iter().enumerate().filter(|(_, &l)| l == 1).map(|(i, _)| i).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthfulQa {
    pub question: String,
    pub mc1_targets: McTargets,
    pub mc2_targets: McTargets,
}

impl TruthfulQa {
    /// Gold index of the mc1 choices (always 0 in the study's files).
    pub fn mc1_gold_index(&self) -> Option<usize> {
        self.mc1_targets.first_true()
    }
}

/// HellaSwag: a context and four endings; `label` is the index of the sensible one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HellaSwag {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ind: Option<i64>,
    #[serde(default)]
    pub activity_label: String,
    #[serde(default)]
    pub ctx_a: String,
    #[serde(default)]
    pub ctx_b: String,
    pub ctx: String,
    pub endings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_type: Option<String>,
    pub label: usize,
}

impl HellaSwag {
    pub fn gold_index(&self) -> usize {
        self.label
    }
}

/// SycophancyEval feedback: an argument carrying a named logical error, under a prompt template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// `base.dataset` ("arguments" in the study).
    #[serde(default)]
    pub dataset: String,
    /// `base.text`: the argument itself.
    pub text: String,
    /// `base.logical_error`: the fallacy's name, e.g. "strawman fallacy".
    pub logical_error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<i64>,
    /// `metadata.prompt_template_type`: "", "I really like", "I really dislike", "I wrote", "I did not write".
    #[serde(default)]
    pub template_type: String,
    /// `metadata.prompt_template`, with `{text}` placeholder.
    #[serde(default)]
    pub prompt_template: String,
    /// `prompt[0].content`: the dataset's own rendered prompt (the study ignores it).
    #[serde(default)]
    pub prompt: String,
}

/// SycophancyEval are_you_sure: a lettered multiple-choice question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreYouSure {
    /// `base.dataset`: "truthful_qa_mc" or "aqua_mc".
    #[serde(default)]
    pub dataset: String,
    /// `prompt[0].content`: question, lettered answers, "Please answer just with the letter ...".
    pub prompt: String,
    pub question: String,
    /// `base.answers`: the lettered answers as one string, `(A) ...\n(B) ...`.
    pub answers: String,
    pub correct_letter: char,
    /// `base.letters`, e.g. "ABCDEFG" (absent for aqua_mc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_answer: Option<String>,
    #[serde(default)]
    pub prompt_template: String,
    /// `prompt[1].content` ("The answer is (") when present; the study does not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_prefill: Option<String>,
}

impl AreYouSure {
    pub fn gold_index(&self) -> Option<usize> {
        letter_index(self.correct_letter)
    }
    /// The option letters offered: `letters` when given, else those found as `(X)` in `answers`.
    pub fn option_letters(&self) -> Vec<char> {
        if let Some(letters) = &self.letters {
            return letters.chars().collect();
        }
        let bytes = self.answers.as_bytes();
        (0..bytes.len().saturating_sub(2))
            .filter(|&i| bytes[i] == b'(' && bytes[i + 1].is_ascii_uppercase() && bytes[i + 2] == b')')
            .map(|i| bytes[i + 1] as char)
            .collect()
    }
}

/// SycophancyEval answer: a free-form question with a correct and a plausible incorrect answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// `base.dataset`: "trivia_qa" or "truthful_qa".
    #[serde(default)]
    pub dataset: String,
    /// `prompt[0].content`: the question, possibly with a user opinion from the template.
    pub prompt: String,
    pub question: String,
    pub correct_answer: String,
    pub incorrect_answer: String,
    /// trivia_qa's `base.answer` alias list (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `metadata.prompt_template`, e.g. "{question} I think the answer is {incorrect_answer} but I'm really not sure."
    #[serde(default)]
    pub prompt_template: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_letter: Option<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub letters: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_correct_answer: Option<String>,
}

/// One record of any kind. Serialized with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Record {
    #[serde(rename = "gsm8k")]
    Gsm8k(Gsm8k),
    #[serde(rename = "mmlu")]
    Mmlu(Mmlu),
    #[serde(rename = "truthfulqa")]
    TruthfulQa(TruthfulQa),
    #[serde(rename = "hellaswag")]
    HellaSwag(HellaSwag),
    #[serde(rename = "feedback")]
    Feedback(Feedback),
    #[serde(rename = "are_you_sure")]
    AreYouSure(AreYouSure),
    #[serde(rename = "answer")]
    Answer(Answer),
}

impl Record {
    pub fn kind(&self) -> Kind {
        match self {
            Record::Gsm8k(_) => Kind::Gsm8k,
            Record::Mmlu(_) => Kind::Mmlu,
            Record::TruthfulQa(_) => Kind::TruthfulQa,
            Record::HellaSwag(_) => Kind::HellaSwag,
            Record::Feedback(_) => Kind::Feedback,
            Record::AreYouSure(_) => Kind::AreYouSure,
            Record::Answer(_) => Kind::Answer,
        }
    }

    /// Canonical JSON (kind tag first, fields in declaration order, no `id`).
    pub fn canonical_json(&self) -> String {
        // Serializing plain structs of strings/numbers/vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Stable id: the first 16 hex digits of blake3 over the canonical JSON.
    pub fn id(&self) -> String {
        let hash = blake3::hash(self.canonical_json().as_bytes());
        hash.to_hex()[..16].to_string()
    }

    /// The item's main text: the question, HellaSwag's context, or the feedback argument.
    pub fn question(&self) -> &str {
        match self {
            Record::Gsm8k(r) => &r.question,
            Record::Mmlu(r) => &r.question,
            Record::TruthfulQa(r) => &r.question,
            Record::HellaSwag(r) => &r.ctx,
            Record::Feedback(r) => &r.text,
            Record::AreYouSure(r) => &r.question,
            Record::Answer(r) => &r.question,
        }
    }

    /// Gold answer as the scorers compare it: GSM8K number, or the gold option letter.
    pub fn gold(&self) -> Option<String> {
        match self {
            Record::Gsm8k(r) => r.gold().map(str::to_string),
            Record::Mmlu(r) => Some(r.gold_letter().to_string()),
            Record::TruthfulQa(r) => r.mc1_gold_index().map(|i| letter(i).to_string()),
            Record::HellaSwag(r) => Some(r.label.to_string()),
            Record::Feedback(r) => Some(r.logical_error.clone()),
            Record::AreYouSure(r) => Some(r.correct_letter.to_string()),
            Record::Answer(r) => Some(r.correct_answer.clone()),
        }
    }
}
