//! The conversation contract between the probe builders and the ML glue: a [`Dialogue`] says what
//! to ask and how each assistant turn is produced; a [`Transcript`] is the dialogue with what the
//! model did at each assistant step. Both serialise to stable JSON (one object per line).

use serde::{Deserialize, Serialize};
use syco_data::Message;

/// One conversation to run: which item and condition (and variant) it asks about, and its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dialogue {
    pub item: String,
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub steps: Vec<Step>,
}

/// One step of a dialogue. `User` adds a user message; the two assistant steps add one assistant
/// message each, whose content is `prefill` followed by what the model produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    User {
        content: String,
    },
    /// The assistant's turn, greedy, continuing `prefill` (which is part of the turn).
    Generate {
        prefill: String,
        max_tokens: usize,
    },
    /// The assistant's turn as the choice with the highest log-likelihood after `prefill`.
    Choose {
        prefill: String,
        choices: Vec<String>,
    },
}

impl Step {
    /// Whether the step is an assistant turn (one [`Turn`] in the transcript).
    pub fn is_assistant(&self) -> bool {
        !matches!(self, Step::User { .. })
    }

    /// The assistant's full text for this step given what the model did: `prefill` + generated
    /// text, or `prefill` + the chosen choice. `None` for a user step, a turn of the other kind,
    /// or a choice index out of range.
    pub fn assistant_text(&self, turn: &Turn) -> Option<String> {
        match (self, turn) {
            (Step::Generate { prefill, .. }, Turn::Text { text }) => Some(format!("{prefill}{text}")),
            (Step::Choose { prefill, choices }, Turn::Choice { chosen, .. }) => choices.get(*chosen).map(|c| format!("{prefill}{c}")),
            _ => None,
        }
    }
}

/// What the model did at each assistant step, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Turn {
    /// The generated continuation of the step's prefill (without the prefill).
    Text { text: String },
    /// The log-likelihood of each choice (same order as the step's `choices`) and the chosen one.
    Choice { logliks: Vec<f64>, chosen: usize },
}

impl Turn {
    /// The generated text of a `Text` turn.
    pub fn text(&self) -> Option<&str> {
        match self {
            Turn::Text { text } => Some(text),
            Turn::Choice { .. } => None,
        }
    }

    /// The index of the highest log-likelihood (the first on ties); `None` when empty or NaN.
    pub fn argmax(logliks: &[f64]) -> Option<usize> {
        if logliks.iter().any(|l| l.is_nan()) {
            return None;
        }
        logliks
            .iter()
            .enumerate()
            .fold(None, |best: Option<(usize, f64)>, (i, &l)| match best {
                Some((_, b)) if b >= l => best,
                _ => Some((i, l)),
            })
            .map(|(i, _)| i)
    }
}

impl Dialogue {
    /// `item/condition` or `item/condition/variant`: the dialogue's key within a probe.
    pub fn key(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.item, self.condition, v),
            None => format!("{}/{}", self.item, self.condition),
        }
    }

    /// The number of assistant steps (turns a transcript must hold).
    pub fn assistant_steps(&self) -> usize {
        self.steps.iter().filter(|s| s.is_assistant()).count()
    }

    /// The assistant steps, in order.
    pub fn assistant_step(&self, k: usize) -> Option<&Step> {
        self.steps.iter().filter(|s| s.is_assistant()).nth(k)
    }

    /// The messages the model sees before assistant step `k` (0-based), given the turns before
    /// it; the step's own prefill is not included. `None` when `turns` has fewer than `k` turns
    /// or one of them does not fit its step.
    pub fn messages_before(&self, k: usize, turns: &[Turn]) -> Option<Vec<Message>> {
        let mut messages = Vec::new();
        let mut seen = 0;
        for step in &self.steps {
            match step {
                Step::User { content } => messages.push(Message::user(content.clone())),
                _ if seen == k => return Some(messages),
                _ => {
                    messages.push(Message::assistant(step.assistant_text(turns.get(seen)?)?));
                    seen += 1;
                }
            }
        }
        None
    }
}

/// A dialogue and what the model did at its assistant steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub dialogue: Dialogue,
    pub turns: Vec<Turn>,
}

impl Transcript {
    /// Checks that there is one turn per assistant step, of the step's kind: `Text` for
    /// `Generate`, `Choice` for `Choose` with one log-likelihood per choice and `chosen` in range.
    pub fn check(&self) -> Result<(), String> {
        let key = self.dialogue.key();
        let expected = self.dialogue.assistant_steps();
        if self.turns.len() != expected {
            return Err(format!("{key}: {} turns for {expected} assistant steps", self.turns.len()));
        }
        for (k, (step, turn)) in self.dialogue.steps.iter().filter(|s| s.is_assistant()).zip(&self.turns).enumerate() {
            match (step, turn) {
                (Step::Generate { .. }, Turn::Text { .. }) => {}
                (Step::Choose { choices, .. }, Turn::Choice { logliks, chosen }) => {
                    if logliks.len() != choices.len() {
                        return Err(format!("{key}: turn {k} has {} log-likelihoods for {} choices", logliks.len(), choices.len()));
                    }
                    if *chosen >= choices.len() {
                        return Err(format!("{key}: turn {k} chose {chosen} of {} choices", choices.len()));
                    }
                }
                (Step::Generate { .. }, _) => return Err(format!("{key}: turn {k} is a choice where the step generates")),
                _ => return Err(format!("{key}: turn {k} is text where the step chooses")),
            }
        }
        Ok(())
    }

    /// The assistant's full text at assistant step `k` (prefill + generated text or choice).
    pub fn assistant_text(&self, k: usize) -> Option<String> {
        self.dialogue.assistant_step(k)?.assistant_text(self.turns.get(k)?)
    }

    /// The conversation as far as the turns go: user messages and the assistant's full texts,
    /// stopping at the first assistant step without a turn. `None` when a turn does not fit its
    /// step.
    pub fn messages(&self) -> Option<Vec<Message>> {
        let mut messages = Vec::new();
        let mut seen = 0;
        for step in &self.dialogue.steps {
            match step {
                Step::User { content } => messages.push(Message::user(content.clone())),
                _ if seen == self.turns.len() => break,
                _ => {
                    messages.push(Message::assistant(step.assistant_text(&self.turns[seen])?));
                    seen += 1;
                }
            }
        }
        Some(messages)
    }
}
