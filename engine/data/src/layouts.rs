//! Converts one JSON object into a canonical record, accepting the study's files, the public
//! layouts (HF datasets, raw SycophancyEval `{prompt, base, metadata}`) and our canonical form.
//! Values are taken leniently where public dumps differ (an int as a string, a letter for an
//! index) so CSV cells and HF exports both load; anything else is a `FieldError` naming the field.

use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::kind::Kind;
use crate::record::*;

type Obj = Map<String, Value>;

/// Converts `value` into a record of `kind`. `AntiSyc` takes whichever sycophancy kind the
/// object is (by its `kind` tag, or by its fields).
pub fn record_from_value(kind: Kind, value: &Value) -> Result<Record, FieldError> {
    let obj = value.as_object().ok_or_else(|| FieldError::new("", format!("expected a JSON object, found {}", type_name(value))))?;
    let kind = match kind {
        Kind::AntiSyc => sycophancy_kind_of(obj)?,
        k => k,
    };
    if let Some(tag) = obj.get("kind").and_then(Value::as_str) {
        if let Ok(tagged) = tag.parse::<Kind>() {
            if tagged != kind {
                return Err(FieldError::new("kind", format!("record is `{tagged}`, expected `{kind}`")));
            }
        }
    }
    Ok(match kind {
        Kind::Gsm8k => Record::Gsm8k(gsm8k(obj)?),
        Kind::Mmlu => Record::Mmlu(mmlu(obj)?),
        Kind::TruthfulQa => Record::TruthfulQa(truthfulqa(obj)?),
        Kind::HellaSwag => Record::HellaSwag(hellaswag(obj)?),
        Kind::Feedback => Record::Feedback(feedback(obj)?),
        Kind::AreYouSure => Record::AreYouSure(are_you_sure(obj)?),
        Kind::Answer => Record::Answer(answer(obj)?),
        Kind::AntiSyc => unreachable!("resolved above"),
    })
}

fn sycophancy_kind_of(obj: &Obj) -> Result<Kind, FieldError> {
    if let Some(tag) = obj.get("kind").and_then(Value::as_str) {
        return match tag.parse::<Kind>() {
            Ok(k) if k.is_sycophancy() => Ok(k),
            _ => Err(FieldError::new("kind", format!("`{tag}` is not a sycophancy kind (feedback, are_you_sure, answer)"))),
        };
    }
    let base = obj.get("base").and_then(Value::as_object).unwrap_or(obj);
    if base.contains_key("logical_error") {
        Ok(Kind::Feedback)
    } else if base.contains_key("correct_letter") && !base.contains_key("incorrect_answer") {
        Ok(Kind::AreYouSure)
    } else if base.contains_key("incorrect_answer") {
        Ok(Kind::Answer)
    } else {
        Err(FieldError::new("kind", "cannot tell the sycophancy kind: no `kind`, `logical_error`, `correct_letter` or `incorrect_answer`"))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field access with dotted names in errors (`prefix` is e.g. "base.").
struct Fields<'a> {
    obj: &'a Obj,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn new(obj: &'a Obj, prefix: &'a str) -> Self {
        Fields { obj, prefix }
    }
    fn name(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
    fn err(&self, key: &str, msg: impl Into<String>) -> FieldError {
        FieldError::new(self.name(key), msg)
    }
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }
    fn str(&self, key: &str) -> Result<String, FieldError> {
        self.opt_str(key)?.ok_or_else(|| self.err(key, "missing"))
    }
    fn opt_str(&self, key: &str) -> Result<Option<String>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(key, format!("expected a string, found {}", type_name(v)))),
        }
    }
    fn str_or_empty(&self, key: &str) -> Result<String, FieldError> {
        Ok(self.opt_str(key)?.unwrap_or_default())
    }
    fn opt_int(&self, key: &str) -> Result<Option<i64>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| self.err(key, format!("expected an integer, found {n}"))),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| self.err(key, format!("expected an integer, found \"{s}\""))),
            Some(v) => Err(self.err(key, format!("expected an integer, found {}", type_name(v)))),
        }
    }
    fn str_list(&self, key: &str) -> Result<Vec<String>, FieldError> {
        self.opt_str_list(key)?.ok_or_else(|| self.err(key, "missing"))
    }
    fn opt_str_list(&self, key: &str) -> Result<Option<Vec<String>>, FieldError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let items = list(v).ok_or_else(|| self.err(key, format!("expected a list of strings, found {}", type_name(v))))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(self.err(&format!("{key}[{i}]"), format!("expected a string, found {}", type_name(other)))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
    fn object(&self, key: &str) -> Result<&'a Obj, FieldError> {
        match self.get(key) {
            Some(Value::Object(o)) => Ok(o),
            Some(Value::String(s)) => Err(self.err(key, format!("expected an object, found the string \"{}\"", short(s)))),
            Some(v) => Err(self.err(key, format!("expected an object, found {}", type_name(v)))),
            None => Err(self.err(key, "missing")),
        }
    }
    /// A letter field that must be a single uppercase letter.
    fn letter(&self, key: &str) -> Result<char, FieldError> {
        let s = self.str(key)?;
        single_letter(&s).ok_or_else(|| self.err(key, format!("expected one letter A-Z, found \"{}\"", short(&s))))
    }
    fn opt_letter(&self, key: &str) -> Result<Option<char>, FieldError> {
        match self.opt_str(key)? {
            None => Ok(None),
            Some(s) => {
                single_letter(&s).map(Some).ok_or_else(|| self.err(key, format!("expected one letter A-Z, found \"{}\"", short(&s))))
            }
        }
    }
}

/// A JSON array, or a string holding one (CSV cells carry lists as JSON text).
fn list(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) => Some(a.clone()),
        Value::String(s) if s.trim_start().starts_with('[') => match serde_json::from_str(s) {
            Ok(Value::Array(a)) => Some(a),
            _ => None,
        },
        _ => None,
    }
}

fn single_letter(s: &str) -> Option<char> {
    let t = s.trim();
    let mut chars = t.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii_uppercase() => Some(c),
        _ => None,
    }
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

fn gsm8k(obj: &Obj) -> Result<Gsm8k, FieldError> {
    let f = Fields::new(obj, "");
    let answer = f.str("answer")?;
    if !answer.contains("#### ") {
        return Err(f.err("answer", "has no `#### ` before the final number"));
    }
    Ok(Gsm8k { question: f.str("question")?, answer })
}

/// An answer given as an index (int or digit string) or a letter, checked against `n` options.
fn option_index(f: &Fields, key: &str, n: usize) -> Result<usize, FieldError> {
    let v = f.get(key).ok_or_else(|| f.err(key, "missing"))?;
    let index = match v {
        Value::Number(num) => num.as_u64().map(|i| i as usize),
        Value::String(s) => {
            let t = s.trim();
            t.parse::<usize>().ok().or_else(|| single_letter(t).and_then(letter_index))
        }
        _ => None,
    };
    match index {
        Some(i) if i < n => Ok(i),
        Some(i) => Err(f.err(key, format!("index {i} is out of range for {n} options"))),
        None => Err(f.err(key, format!("expected an option index 0-{} or a letter, found {v}", n.saturating_sub(1)))),
    }
}

fn mmlu(obj: &Obj) -> Result<Mmlu, FieldError> {
    let f = Fields::new(obj, "");
    let choices = match f.opt_str_list("choices")? {
        Some(c) => c,
        // The original MMLU CSVs: question, A, B, C, D, answer.
        None if ["A", "B", "C", "D"].iter().all(|k| obj.contains_key(*k)) => {
            ["A", "B", "C", "D"].iter().map(|k| f.str(k)).collect::<Result<_, _>>()?
        }
        None => return Err(f.err("choices", "missing")),
    };
    if choices.len() < 2 {
        return Err(f.err("choices", format!("expected at least 2 choices, found {}", choices.len())));
    }
    let answer = option_index(&f, "answer", choices.len())?;
    Ok(Mmlu { question: f.str("question")?, subject: f.str_or_empty("subject")?, choices, answer })
}

fn mc_targets(f: &Fields, key: &str, need_one_true: bool) -> Result<McTargets, FieldError> {
    let obj = f.object(key)?;
    let prefix = format!("{}{}.", f.prefix, key);
    let inner = Fields::new(obj, &prefix);
    let choices = inner.str_list("choices")?;
    let raw = inner.get("labels").ok_or_else(|| inner.err("labels", "missing"))?;
    let items = list(raw).ok_or_else(|| inner.err("labels", format!("expected a list of 0/1, found {}", type_name(raw))))?;
    let labels = items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_u64() {
            Some(l @ (0 | 1)) => Ok(l as u8),
            _ => Err(inner.err(&format!("labels[{i}]"), format!("expected 0 or 1, found {v}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if labels.len() != choices.len() {
        return Err(inner.err("labels", format!("{} labels for {} choices", labels.len(), choices.len())));
    }
    if choices.is_empty() {
        return Err(inner.err("choices", "is empty"));
    }
    if need_one_true && !labels.contains(&1) {
        return Err(inner.err("labels", "no choice is labelled 1"));
    }
    Ok(McTargets { choices, labels })
}

fn truthfulqa(obj: &Obj) -> Result<TruthfulQa, FieldError> {
    let f = Fields::new(obj, "");
    Ok(TruthfulQa {
        question: f.str("question")?,
        mc1_targets: mc_targets(&f, "mc1_targets", true)?,
        mc2_targets: mc_targets(&f, "mc2_targets", false)?,
    })
}

fn hellaswag(obj: &Obj) -> Result<HellaSwag, FieldError> {
    let f = Fields::new(obj, "");
    let endings = f.str_list("endings")?;
    if endings.len() < 2 {
        return Err(f.err("endings", format!("expected at least 2 endings, found {}", endings.len())));
    }
    let ctx_a = f.str_or_empty("ctx_a")?;
    let ctx_b = f.str_or_empty("ctx_b")?;
    // HF HellaSwag always has `ctx`; other dumps may only carry ctx_a/ctx_b.
    let ctx = match f.opt_str("ctx")? {
        Some(c) => c,
        None if !ctx_a.is_empty() => format!("{ctx_a} {ctx_b}").trim_end().to_string(),
        None => return Err(f.err("ctx", "missing")),
    };
    Ok(HellaSwag {
        ind: f.opt_int("ind")?,
        activity_label: f.str_or_empty("activity_label")?,
        ctx_a,
        ctx_b,
        ctx,
        label: option_index(&f, "label", endings.len())?,
        endings,
        source_id: f.opt_str("source_id")?,
        split: f.opt_str("split")?,
        split_type: f.opt_str("split_type")?,
    })
}

/// The raw SycophancyEval layout: `prompt` is a list of `{type, content}` turns.
struct RawSyc<'a> {
    base: Fields<'a>,
    meta: Option<Fields<'a>>,
    turns: Vec<(String, String)>,
}

fn raw_syc(obj: &Obj) -> Result<Option<RawSyc<'_>>, FieldError> {
    let Some(Value::Object(base)) = obj.get("base") else {
        return Ok(None);
    };
    let top = Fields::new(obj, "");
    let meta = match obj.get("metadata") {
        Some(Value::Object(m)) => Some(Fields::new(m, "metadata.")),
        _ => None,
    };
    let mut turns = Vec::new();
    if let Some(Value::String(single)) = top.get("prompt") {
        // Some dumps flatten the conversation to its one human turn.
        turns.push(("human".to_string(), single.clone()));
    } else if let Some(v) = top.get("prompt") {
        let items = v.as_array().ok_or_else(|| top.err("prompt", format!("expected a list of turns, found {}", type_name(v))))?;
        for (i, item) in items.iter().enumerate() {
            let key = format!("prompt[{i}]");
            let turn = item.as_object().ok_or_else(|| FieldError::new(&key, "expected {type, content}"))?;
            let prefix = format!("{key}.");
            let tf = Fields::new(turn, &prefix);
            let role = tf.opt_str("type")?.or(tf.opt_str("role")?).unwrap_or_default();
            turns.push((role, tf.str("content")?));
        }
    }
    Ok(Some(RawSyc { base: Fields::new(base, "base."), meta, turns }))
}

impl RawSyc<'_> {
    fn first_content(&self) -> Option<String> {
        self.turns.first().map(|(_, c)| c.clone())
    }
    fn meta_str(&self, key: &str) -> Result<String, FieldError> {
        match &self.meta {
            Some(m) => m.str_or_empty(key),
            None => Ok(String::new()),
        }
    }
}

fn feedback(obj: &Obj) -> Result<Feedback, FieldError> {
    if let Some(raw) = raw_syc(obj)? {
        let b = &raw.base;
        return Ok(Feedback {
            dataset: b.str_or_empty("dataset")?,
            text: b.str("text")?,
            logical_error: b.str("logical_error")?,
            rating: b.opt_int("rating")?,
            template_type: raw.meta_str("prompt_template_type")?,
            prompt_template: raw.meta_str("prompt_template")?,
            prompt: raw.first_content().unwrap_or_default(),
        });
    }
    let f = Fields::new(obj, "");
    Ok(Feedback {
        dataset: f.str_or_empty("dataset")?,
        text: f.str("text")?,
        logical_error: f.str("logical_error")?,
        rating: f.opt_int("rating")?,
        template_type: f.str_or_empty("template_type")?,
        prompt_template: f.str_or_empty("prompt_template")?,
        prompt: f.str_or_empty("prompt")?,
    })
}

fn are_you_sure(obj: &Obj) -> Result<AreYouSure, FieldError> {
    if let Some(raw) = raw_syc(obj)? {
        let b = &raw.base;
        if raw.turns.is_empty() {
            return Err(FieldError::new("prompt", "missing or empty"));
        }
        return Ok(AreYouSure {
            dataset: b.str_or_empty("dataset")?,
            prompt: raw.turns[0].1.clone(),
            question: b.str("question")?,
            answers: b.str("answers")?,
            correct_letter: b.letter("correct_letter")?,
            letters: b.opt_str("letters")?,
            answers_list: b.opt_str_list("answers_list")?,
            correct_answer: b.opt_str("correct_answer")?,
            prompt_template: raw.meta_str("prompt_template")?,
            ai_prefill: raw.turns.get(1).map(|(_, c)| c.clone()),
        });
    }
    let f = Fields::new(obj, "");
    Ok(AreYouSure {
        dataset: f.str_or_empty("dataset")?,
        prompt: f.str("prompt")?,
        question: f.str("question")?,
        answers: f.str("answers")?,
        correct_letter: f.letter("correct_letter")?,
        letters: f.opt_str("letters")?,
        answers_list: f.opt_str_list("answers_list")?,
        correct_answer: f.opt_str("correct_answer")?,
        prompt_template: f.str_or_empty("prompt_template")?,
        ai_prefill: f.opt_str("ai_prefill")?,
    })
}

fn answer(obj: &Obj) -> Result<Answer, FieldError> {
    let (b, prompt, template, alias_key) = match raw_syc(obj)? {
        Some(raw) => {
            let prompt = raw.first_content().ok_or_else(|| FieldError::new("prompt", "missing or empty"))?;
            let template = raw.meta_str("prompt_template")?;
            (raw.base, prompt, template, "answer")
        }
        None => {
            let f = Fields::new(obj, "");
            let prompt = f.str("prompt")?;
            let template = f.str_or_empty("prompt_template")?;
            (f, prompt, template, "aliases")
        }
    };
    Ok(Answer {
        dataset: b.str_or_empty("dataset")?,
        prompt,
        question: b.str("question")?,
        correct_answer: b.str("correct_answer")?,
        incorrect_answer: b.str("incorrect_answer")?,
        aliases: b.opt_str_list(alias_key)?.unwrap_or_default(),
        prompt_template: template,
        correct_letter: b.opt_letter("correct_letter")?,
        letters: b.opt_str("letters")?,
        answers: b.opt_str("answers")?,
        answers_list: b.opt_str_list("answers_list")?,
        long_correct_answer: b.opt_str("long_correct_answer")?,
    })
}
