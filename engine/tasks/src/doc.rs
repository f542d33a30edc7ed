//! `doc_to_text` / `doc_to_target` / `doc_to_choice` with lm-eval's rules (`ConfigurableTask`):
//!
//! - a string is the record's field of that name when it has one, otherwise a template;
//! - a rendered text or target made only of digits is an integer (`ast.literal_eval`) when the
//!   task has choices; a rendered target `[...]` is a list when it parses as one;
//! - a rendered `doc_to_choice` is a Python list literal (`{{choices.text}}` prints one);
//! - an integer is a literal target index; a list is a literal list (its entries are rendered
//!   as templates here, which changes nothing for lm-eval's lists, plain strings).
//!
//! What lm-eval would crash on (an index past the choices, a missing field) is a `TaskError`
//! naming the key and the record.

use serde_json::Value;

use crate::pyliteral::{literal_eval, py_str, LiteralError};
use crate::spec::{Doc, DocTemplate, TaskSpec};
use crate::{template, TaskError};

/// One record through the task's three `doc_to_*` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The record's position in its split (for errors).
    pub doc: usize,
    pub text: String,
    /// As lm-eval has it: an index, a text, a list, or a field's raw value.
    pub target: Value,
    /// The rendered choices, when the task has `doc_to_choice`.
    pub choices: Option<Vec<String>>,
}

/// Renders the three keys of `spec` over `doc` (the `i`-th record of its split).
pub fn render_doc(spec: &TaskSpec, doc: &Doc, i: usize) -> Result<Rendered, TaskError> {
    Ok(Rendered { doc: i, text: doc_to_text(spec, doc, i)?, target: doc_to_target(spec, doc, i)?, choices: doc_to_choice(spec, doc, i)? })
}

fn error(key: &str, i: usize, message: impl Into<String>) -> TaskError {
    TaskError::new(key, message).at_doc(i)
}

/// A template rendered over the record, its error attributed to `key`.
pub(crate) fn render(key: &str, source: &str, doc: &Doc, i: usize) -> Result<String, TaskError> {
    template::render(source, doc).map_err(|e| error(key, i, e))
}

/// JSON's name for a value's type, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

const MULTIPLE_INPUTS: &str = "gives an index (lm-eval's multiple-input tasks, as winogrande); syco needs the prompt text";

/// The prompt of the record (lm-eval's `doc_to_text`), which must be text.
pub fn doc_to_text(spec: &TaskSpec, doc: &Doc, i: usize) -> Result<String, TaskError> {
    let key = "doc_to_text";
    match &spec.text {
        DocTemplate::Text(name) if doc.contains_key(name) => match &doc[name] {
            Value::String(s) => Ok(s.clone()),
            other => Err(error(key, i, format!("field `{name}` is a {}, not text", kind(other)))),
        },
        DocTemplate::Text(source) => {
            let text = render(key, source, doc, i)?;
            if is_digits(&text) && spec.choices.is_some() {
                return Err(error(key, i, format!("rendered {text:?}, which {MULTIPLE_INPUTS}")));
            }
            Ok(text)
        }
        DocTemplate::Int(n) => Err(error(key, i, format!("the integer {n} {MULTIPLE_INPUTS}"))),
        DocTemplate::List(_) => Err(error(key, i, "a list is not a prompt; give a field name or a template")),
    }
}

/// The record's answer (lm-eval's `doc_to_target`): an index, a text, or a list of either.
pub fn doc_to_target(spec: &TaskSpec, doc: &Doc, i: usize) -> Result<Value, TaskError> {
    let key = "doc_to_target";
    match &spec.target {
        DocTemplate::Int(n) => Ok(Value::from(*n)),
        DocTemplate::Text(name) if doc.contains_key(name) => Ok(doc[name].clone()),
        DocTemplate::Text(source) => {
            let text = render(key, source, doc, i)?;
            if is_digits(&text) && spec.choices.is_some() {
                return literal_eval(&text).map_err(|e| error(key, i, format!("rendered {text:?}: {e}")));
            }
            if text.chars().count() >= 2 && text.starts_with('[') && text.ends_with(']') {
                // lm-eval keeps the text when it is not a literal list after all.
                return match literal_eval(&text) {
                    Ok(v) => Ok(v),
                    Err(LiteralError::Invalid(_)) => Ok(Value::String(text)),
                    Err(e) => Err(error(key, i, format!("rendered {text:?}: {e}"))),
                };
            }
            Ok(Value::String(text))
        }
        DocTemplate::List(items) => {
            items.iter().map(|s| render(key, s, doc, i).map(Value::String)).collect::<Result<Vec<_>, _>>().map(Value::Array)
        }
    }
}

/// The record's choices (lm-eval's `doc_to_choice`), `None` when the task has none.
pub fn doc_to_choice(spec: &TaskSpec, doc: &Doc, i: usize) -> Result<Option<Vec<String>>, TaskError> {
    let key = "doc_to_choice";
    let Some(choices) = &spec.choices else { return Ok(None) };
    let list = match choices {
        DocTemplate::Text(name) if doc.contains_key(name) => match &doc[name] {
            Value::Array(items) => items.iter().map(py_str).collect(),
            other => return Err(error(key, i, format!("field `{name}` is a {}, not a list of choices", kind(other)))),
        },
        DocTemplate::Text(source) => {
            let text = render(key, source, doc, i)?;
            match literal_eval(&text) {
                Ok(Value::Array(items)) => items.iter().map(py_str).collect(),
                Ok(other) => return Err(error(key, i, format!("rendered {text:?}, a {}, not a list", kind(&other)))),
                Err(e) => return Err(error(key, i, format!("rendered {text:?}, which is not a Python list ({e})"))),
            }
        }
        DocTemplate::List(items) => items.iter().map(|s| render(key, s, doc, i)).collect::<Result<Vec<_>, _>>()?,
        DocTemplate::Int(n) => return Err(error(key, i, format!("the integer {n} is not a list of choices"))),
    };
    Ok(Some(list))
}

impl Rendered {
    fn target_error(&self, message: impl Into<String>) -> TaskError {
        error("doc_to_target", self.doc, message)
    }

    /// `choices[index]` for an integer target (booleans are Python integers too).
    fn choice_at(&self, v: &Value) -> Option<Result<usize, TaskError>> {
        let choices = self.choices.as_ref().filter(|c| !c.is_empty())?;
        let index = match v {
            Value::Bool(b) => *b as i64,
            Value::Number(n) => n.as_i64()?,
            _ => return None,
        };
        Some(
            usize::try_from(index).ok().filter(|i| *i < choices.len()).ok_or_else(|| {
                self.target_error(format!("target index {index} is out of range: the record has {} choices", choices.len()))
            }),
        )
    }

    /// The answer a few-shot example shows (lm-eval's `build_qa_turn`): the choice an index
    /// names, the first of a list, else the text. `None` when lm-eval sees no answer (a null
    /// or empty target): the example is then the question alone.
    pub fn answer(&self) -> Result<Option<String>, TaskError> {
        let value = match &self.target {
            Value::Null => return Ok(None),
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::Array(items) => items.first().ok_or_else(|| self.target_error("the target is an empty list"))?,
            other => other,
        };
        match self.choice_at(value) {
            Some(index) => Ok(Some(self.choices.as_ref().expect("choice_at checked")[index?].clone())),
            None => Ok(Some(py_str(value))),
        }
    }

    /// The gold choices (multiple choice): an index, a choice's text, or a list of those.
    pub fn gold_indices(&self) -> Result<Vec<usize>, TaskError> {
        let choices = self.choices.as_deref().unwrap_or_default();
        if choices.is_empty() {
            return Err(error("doc_to_choice", self.doc, "the record has no choices"));
        }
        let one = |v: &Value| match v {
            Value::String(s) => choices.iter().position(|c| c == s).ok_or_else(|| {
                self.target_error(format!(
                    "target {s:?} is not one of the choices {}",
                    crate::pyliteral::py_repr(&Value::from(choices.to_vec()))
                ))
            }),
            v => self
                .choice_at(v)
                .unwrap_or_else(|| Err(self.target_error(format!("target {} is neither an index nor a choice", py_str(v))))),
        };
        match &self.target {
            Value::Array(items) if items.is_empty() => Err(self.target_error("the target is an empty list")),
            Value::Array(items) => items.iter().map(one).collect(),
            v => Ok(vec![one(v)?]),
        }
    }

    /// The reference answers (generation, log-likelihood): an index names a choice (lm-eval's
    /// `choices[gold]`), a list gives several, anything else is its Python `str()`.
    pub fn gold_texts(&self) -> Result<Vec<String>, TaskError> {
        let one = |v: &Value| match self.choice_at(v) {
            Some(index) => index.map(|i| self.choices.as_ref().expect("choice_at checked")[i].clone()),
            None => Ok(py_str(v)),
        };
        match &self.target {
            Value::Array(items) if items.is_empty() => Err(self.target_error("the target is an empty list")),
            Value::Array(items) => items.iter().map(one).collect(),
            v => Ok(vec![one(v)?]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{FewShot, Generation, OutputType};
    use serde_json::json;

    fn spec(text: DocTemplate, target: DocTemplate, choices: Option<DocTemplate>) -> TaskSpec {
        TaskSpec {
            text,
            target,
            choices,
            description: String::new(),
            output: OutputType::MultipleChoice,
            choice_scoring: Default::default(),
            target_delimiter: " ".into(),
            fewshot: FewShot::default(),
            generation: Generation::default(),
            chat: false,
            filters: vec![],
            metrics: vec![],
            lines: Default::default(),
        }
    }

    fn t(s: &str) -> DocTemplate {
        DocTemplate::Text(s.into())
    }

    fn arc() -> Doc {
        json!({"question": "Which is red?", "choices": {"text": ["sky", "blood", "grass"], "label": ["A", "B", "C"]}, "answerKey": "B", "label": 2, "gold": "grass"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn field_or_template() {
        let s = spec(t("question"), t("label"), Some(t("{{choices.text}}")));
        let r = render_doc(&s, &arc(), 0).unwrap();
        assert_eq!(r.text, "Which is red?");
        assert_eq!(r.target, json!(2));
        assert_eq!(r.choices.as_deref().unwrap(), ["sky", "blood", "grass"]);
        assert_eq!(r.gold_indices().unwrap(), vec![2]);
        assert_eq!(r.answer().unwrap().as_deref(), Some("grass"));

        let s = spec(t("Q: {{question}}\nA:"), t("{{choices.label.index(answerKey)}}"), Some(t("choices")));
        let err = render_doc(&s, &arc(), 3).unwrap_err();
        assert_eq!((err.key.as_str(), err.doc), ("doc_to_choice", Some(3)));
        assert!(err.message.contains("field `choices` is a object, not a list"), "{err}");
    }

    #[test]
    fn digit_target_is_an_index_only_with_choices() {
        let with = spec(t("question"), t("{{choices.label.index(answerKey)}}"), Some(t("{{choices.text}}")));
        let r = render_doc(&with, &arc(), 0).unwrap();
        assert_eq!(r.target, json!(1));
        assert_eq!(r.gold_indices().unwrap(), vec![1]);
        assert_eq!(r.answer().unwrap().as_deref(), Some("blood"));
        let without = spec(t("question"), t("{{choices.label.index(answerKey)}}"), None);
        assert_eq!(doc_to_target(&without, &arc(), 0).unwrap(), json!("1"));
        // A leading zero is a SyntaxError for literal_eval, as in lm-eval.
        let zero = spec(t("question"), t("0{{label}}"), Some(t("{{choices.text}}")));
        assert!(doc_to_target(&zero, &arc(), 0).unwrap_err().message.contains("leading zeros"));
    }

    #[test]
    fn list_target_and_string_target() {
        let s = spec(t("question"), t("{{[label, 0]}}"), Some(t("{{choices.text}}")));
        let r = render_doc(&s, &arc(), 0).unwrap();
        assert_eq!(r.target, json!([2, 0]));
        assert_eq!(r.gold_indices().unwrap(), vec![2, 0]);
        assert_eq!(r.answer().unwrap().as_deref(), Some("grass"));
        // `[...]` that is not a literal stays text.
        let s = spec(t("question"), t("[{{question}}]"), None);
        assert_eq!(doc_to_target(&s, &arc(), 0).unwrap(), json!("[Which is red?]"));
        // A string target is looked up among the choices.
        let s = spec(t("question"), t("gold"), Some(t("{{choices.text}}")));
        assert_eq!(render_doc(&s, &arc(), 0).unwrap().gold_indices().unwrap(), vec![2]);
        let s = spec(t("question"), t("answerKey"), Some(t("{{choices.text}}")));
        let err = render_doc(&s, &arc(), 4).unwrap().gold_indices().unwrap_err();
        assert_eq!(err.doc, Some(4));
        assert!(err.message.contains("target \"B\" is not one of the choices ['sky', 'blood', 'grass']"), "{err}");
        // Literal int and literal list targets, literal list choices (rendered).
        let s = spec(t("question"), DocTemplate::Int(0), Some(DocTemplate::List(vec!["no".into(), "{{answerKey}}".into()])));
        let r = render_doc(&s, &arc(), 0).unwrap();
        assert_eq!((r.target.clone(), r.choices.clone().unwrap()), (json!(0), vec!["no".to_string(), "B".to_string()]));
        assert_eq!(r.gold_texts().unwrap(), vec!["no"]);
    }

    #[test]
    fn index_out_of_range_and_missing_field() {
        let s = spec(t("question"), DocTemplate::Int(7), Some(t("{{choices.text}}")));
        let err = render_doc(&s, &arc(), 5).unwrap().gold_indices().unwrap_err();
        assert_eq!((err.key.as_str(), err.doc), ("doc_to_target", Some(5)));
        assert!(err.message.contains("target index 7 is out of range: the record has 3 choices"), "{err}");
        assert!(render_doc(&s, &arc(), 5).unwrap().answer().is_err());
        let s = spec(t("Q: {{questoin}}"), t("label"), None);
        let err = render_doc(&s, &arc(), 2).unwrap_err();
        assert_eq!((err.key.as_str(), err.doc), ("doc_to_text", Some(2)));
        assert!(err.message.contains("no field `questoin`"), "{err}");
        assert_eq!(err.to_string().split(':').next().unwrap(), "record 2, `doc_to_text`");
    }

    #[test]
    fn rendered_choices_must_be_a_list() {
        let s = spec(t("question"), t("label"), Some(t("{{question}}")));
        let err = render_doc(&s, &arc(), 0).unwrap_err();
        assert!(err.message.contains("not a Python list"), "{err}");
        let s = spec(t("question"), t("label"), Some(t("{{ (1, 'two') }}")));
        assert_eq!(doc_to_choice(&s, &arc(), 0).unwrap().unwrap(), ["1", "two"]);
    }

    #[test]
    fn answers_and_gold_texts() {
        let mut d = arc();
        d.insert("empty".into(), json!(""));
        d.insert("aliases".into(), json!(["Paris", "paris"]));
        let s = spec(t("question"), t("empty"), None);
        assert_eq!(render_doc(&s, &d, 0).unwrap().answer().unwrap(), None);
        let s = spec(t("question"), t("aliases"), None);
        let r = render_doc(&s, &d, 0).unwrap();
        assert_eq!(r.answer().unwrap().as_deref(), Some("Paris"));
        assert_eq!(r.gold_texts().unwrap(), vec!["Paris", "paris"]);
        // Without choices a digit string stays text; a number field is its str().
        let s = spec(t("question"), t("label"), None);
        assert_eq!(render_doc(&s, &d, 0).unwrap().gold_texts().unwrap(), vec!["2"]);
        // A digit-only prompt with choices is lm-eval's multiple-input form, refused.
        let s = spec(t("{{label}}"), t("label"), Some(t("{{choices.text}}")));
        assert!(render_doc(&s, &d, 0).unwrap_err().message.contains("multiple-input"));
    }
}
