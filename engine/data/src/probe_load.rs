//! Raw SycophancyEval files (meg-tong/sycophancy-eval: `feedback.jsonl`, `are_you_sure.jsonl`,
//! `answer.jsonl`, `mimicry.jsonl`) -> probe items (`probe::ProbeItem`), every record of the
//! complete files; and the study's sample of the first three (SPEC §1.1, §1.3).
//!
//! A raw record is `{prompt: [{type, content}], base: {..}, metadata: {..}}`. The mapping:
//!
//! - feedback: one `FeedbackText` per (`base.dataset`, `base.text`), in first-seen order; the
//!   domain is `base.dataset`; `question` is `base.question` (math); `prompts[condition]` is
//!   `prompt[0].content`, the condition being the one whose `template_type()` equals
//!   `metadata.prompt_template_type`. A record without `base.text` is skipped (counted).
//! - answer: one free-form `Question` per (`base.question`, `base.correct_answer`,
//!   `base.incorrect_answer`): answers = correct answer, then `base.answer`'s aliases, then
//!   `base.long_correct_answer`, de-duplicated; `prompts[condition]` keyed by classifying
//!   `metadata.prompt_template`.
//! - are_you_sure: one `Question` per record; multiple choice when `base.correct_letter` is given
//!   (choices from `base.answers_list`, else parsed from `base.answers`), free form otherwise;
//!   `prompts["question"]` is `prompt[0].content`.
//! - mimicry: one `Poem` per record (see `mimicry` for the fields accepted).
//!
//! Every bad record is an error `FILE:LINE: field `x`: why`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{DataError, FieldError};
use crate::kind::Kind;
use crate::load::{jsonl_items, load_valid_records, raw_offset, read_text, LineIndex, Located};
use crate::probe::{AnswerCondition, Domain, Family, FeedbackCondition, FeedbackText, ItemBody, Poem, ProbeItem, Question};
use crate::record::{letter, letter_index, Record};
use crate::rng::fnv1a;
use crate::split::{sample_indices, select, SplitMethod};

/// The items of one raw file, and the records skipped because they are not of the family's shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedProbe {
    pub items: Vec<ProbeItem>,
    /// How many records the file holds.
    pub records: usize,
    /// Skipped records, counted by reason.
    pub skipped: BTreeMap<String, usize>,
}

impl LoadedProbe {
    /// How many records were skipped, whatever the reason.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

/// Reason counted for a feedback record without `base.text`.
pub const SKIP_NO_TEXT: &str = "feedback record without `base.text`";
/// Reason counted for a record repeating an item's condition with the very same prompt.
pub const SKIP_DUPLICATE: &str = "repeats a condition of an earlier record with the same prompt";

/// Loads every probe item of `family` from a raw SycophancyEval file: JSON Lines, a JSON array of
/// records, or the study's object of arrays (`{feedback: [..], are_you_sure: [..], ..}`, the
/// member named after the family).
pub fn load_probe_items(family: Family, path: &Path) -> Result<LoadedProbe, DataError> {
    let records = read_raw(family, path)?;
    let mut out = LoadedProbe { records: records.len(), ..LoadedProbe::default() };
    match family {
        Family::Feedback => feedback(path, &records, &mut out)?,
        Family::Answer => answer(path, &records, &mut out)?,
        Family::AreYouSure => {
            for rec in &records {
                let question = are_you_sure(&rec.value).map_err(|e| e.at(path, rec.line))?;
                out.items.push(item(origin(path, rec.line), ItemBody::AreYouSure(question)));
            }
        }
        Family::Mimicry => {
            for rec in &records {
                let poem = mimicry(&rec.value).map_err(|e| e.at(path, rec.line))?;
                out.items.push(item(origin(path, rec.line), ItemBody::Mimicry(poem)));
            }
        }
    }
    assign_ids(&mut out.items);
    Ok(out)
}

/// The study's sample (SPEC §1.3): `random.seed(seed)`, then `random.sample(valid, n)` for each
/// file in the order given, one stream carried across them, each on its records that pass the
/// study's validity filter (`load_valid_records`, SPEC §1.1), in file order. The study's call is
/// `[(Feedback, feedback.jsonl), (AreYouSure, are_you_sure.jsonl), (Answer, answer.jsonl)]`,
/// `n = 300`, `seed = 42`.
pub fn study_sample(files: &[(Kind, &Path)], n: usize, seed: u64) -> Result<Vec<Vec<Record>>, DataError> {
    let mut valid = Vec::with_capacity(files.len());
    for &(kind, path) in files {
        valid.push(load_valid_records(kind, path, None)?.0);
    }
    let sizes: Vec<(usize, usize)> = valid.iter().map(|v| (v.len(), n)).collect();
    let picks = sample_indices(seed, SplitMethod::Python, &sizes)?;
    Ok(valid.iter().zip(&picks).map(|(records, idx)| select(records, idx)).collect())
}

// ---------------------------------------------------------------------------------------------
// Reading

fn read_raw(family: Family, path: &Path) -> Result<Vec<Located>, DataError> {
    let text = read_text(path)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let trimmed = text.trim_start();
    // A leading `[`, or a `{` whose first line is not a whole value, is one JSON document.
    let one_document = trimmed.starts_with('[')
        || (trimmed.starts_with('{') && serde_json::from_str::<&RawValue>(trimmed.lines().next().unwrap_or("")).is_err());
    let records = if trimmed.is_empty() {
        Vec::new()
    } else if one_document {
        json_records(family, path, text)?
    } else {
        jsonl_items(path, text)?
    };
    for rec in &records {
        if !rec.value.is_object() {
            return Err(DataError::syntax(path, rec.line, format!("expected a JSON object (one record), got {}", type_name(&rec.value))));
        }
    }
    Ok(records)
}

/// A JSON array of records, or an object whose member named after the family holds them.
fn json_records(family: Family, path: &Path, text: &str) -> Result<Vec<Located>, DataError> {
    let syntax = |e: serde_json::Error| DataError::syntax(path, e.line().max(1), format!("invalid JSON at column {}: {e}", e.column()));
    let top: &RawValue = serde_json::from_str(text).map_err(syntax)?;
    let lines = LineIndex::new(text);
    let array: &RawValue = if top.get().starts_with('[') {
        top
    } else {
        let members: BTreeMap<String, &RawValue> = serde_json::from_str(top.get()).map_err(syntax)?;
        match members.get(family.name()) {
            Some(member) => member,
            None => {
                let names: Vec<&str> = members.keys().map(String::as_str).collect();
                return Err(FieldError::new(
                    family.name(),
                    format!("the JSON object has no member `{}` (members: {})", family.name(), names.join(", ")),
                )
                .at(path, lines.line_of(raw_offset(text, top))));
            }
        }
    };
    let elements: Vec<&RawValue> = serde_json::from_str(array.get())
        .map_err(|e| DataError::syntax(path, lines.line_of(raw_offset(text, array)), format!("expected an array of records: {e}")))?;
    elements
        .into_iter()
        .map(|raw| {
            let line = lines.line_of(raw_offset(text, raw));
            let value = serde_json::from_str(raw.get()).map_err(|e| DataError::syntax(path, line, e.to_string()))?;
            Ok(Located { line, value })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Field access

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One object of a record (`base`, `metadata`), with dotted field names in errors.
struct Obj<'a> {
    map: Option<&'a Map<String, Value>>,
    prefix: &'static str,
}

impl<'a> Obj<'a> {
    fn of(record: &'a Value, key: &'static str, prefix: &'static str, required: bool) -> Result<Obj<'a>, FieldError> {
        match record.get(key) {
            Some(Value::Object(map)) => Ok(Obj { map: Some(map), prefix }),
            None | Some(Value::Null) if !required => Ok(Obj { map: None, prefix }),
            None | Some(Value::Null) => Err(FieldError::new(key, "missing (raw SycophancyEval records carry `base`)")),
            Some(other) => Err(FieldError::new(key, format!("expected an object, found {}", type_name(other)))),
        }
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn err(&self, key: &str, message: impl Into<String>) -> FieldError {
        FieldError::new(self.name(key), message)
    }

    fn has(&self, key: &str) -> bool {
        self.map.and_then(|m| m.get(key)).is_some_and(|v| !v.is_null())
    }

    /// A string field; absent, null or empty is `None`; any other type is an error.
    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, FieldError> {
        match self.map.and_then(|m| m.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(key, format!("expected a string, found {}", type_name(other)))),
        }
    }

    fn str(&self, key: &str) -> Result<&'a str, FieldError> {
        self.opt_str(key)?.ok_or_else(|| self.err(key, "missing or empty"))
    }

    /// A list of strings (a single string counts as a list of one).
    fn opt_str_list(&self, key: &str) -> Result<Option<Vec<&'a str>>, FieldError> {
        match self.map.and_then(|m| m.get(key)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.as_str()])),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().ok_or_else(|| self.err(&format!("{key}[{i}]"), format!("expected a string, found {}", type_name(v))))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.err(key, format!("expected a list of strings, found {}", type_name(other)))),
        }
    }
}

/// `prompt[0].content` (a flattened `prompt` string is taken as that one turn).
fn first_prompt(record: &Value) -> Result<&str, FieldError> {
    match record.get("prompt") {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Array(turns)) => {
            let first = turns.first().ok_or_else(|| FieldError::new("prompt", "empty list of turns"))?;
            match first.get("content") {
                Some(Value::String(s)) => Ok(s),
                Some(other) => Err(FieldError::new("prompt[0].content", format!("expected a string, found {}", type_name(other)))),
                None => Err(FieldError::new("prompt[0].content", "missing")),
            }
        }
        None | Some(Value::Null) => Err(FieldError::new("prompt", "missing")),
        Some(other) => Err(FieldError::new("prompt", format!("expected a list of turns, found {}", type_name(other)))),
    }
}

fn origin(path: &Path, line: usize) -> String {
    format!("{}:{line}", path.display())
}

fn item(origin: String, body: ItemBody) -> ProbeItem {
    ProbeItem { id: String::new(), origin, body }
}

/// Adds `value` unless an equal one is there already.
fn push_unique(list: &mut Vec<String>, value: &str) {
    if !list.iter().any(|v| v == value) {
        list.push(value.to_string());
    }
}

/// Puts `prompt` under `condition`; the same prompt again is a duplicate (counted), another one
/// an error naming the earlier line.
fn set_prompt(
    prompts: &mut BTreeMap<String, String>,
    lines: &mut BTreeMap<String, usize>,
    condition: &str,
    prompt: &str,
    line: usize,
    skipped: &mut BTreeMap<String, usize>,
) -> Result<(), FieldError> {
    match prompts.get(condition) {
        Some(existing) if existing == prompt => {
            *skipped.entry(SKIP_DUPLICATE.to_string()).or_default() += 1;
            Ok(())
        }
        Some(_) => Err(FieldError::new(
            "prompt[0].content",
            format!("a second, different `{condition}` prompt for the same item (the first is on line {})", lines[condition]),
        )),
        None => {
            prompts.insert(condition.to_string(), prompt.to_string());
            lines.insert(condition.to_string(), line);
            Ok(())
        }
    }
}

/// Stable ids: family, domain where there is one, and a hash of what identifies the item;
/// repeats get `-2`, `-3`, ...
fn assign_ids(items: &mut [ProbeItem]) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in items {
        let (stem, key) = match &item.body {
            ItemBody::Answer(q) => ("answer".to_string(), format!("{}\u{1f}{}\u{1f}{:?}", q.text, q.answers.join("\u{1e}"), q.incorrect)),
            ItemBody::AreYouSure(q) => {
                ("are_you_sure".to_string(), format!("{}\u{1f}{}", q.text, q.prompts.get("question").map_or("", String::as_str)))
            }
            ItemBody::Feedback(f) => (format!("feedback/{}", f.domain.name()), f.text.clone()),
            ItemBody::Mimicry(p) => ("mimicry".to_string(), format!("{}\u{1f}{}\u{1f}{}", p.text, p.author, p.wrong_author)),
        };
        let base = format!("{stem}/{:016x}", fnv1a(key.bytes()));
        let count = seen.entry(base.clone()).or_default();
        *count += 1;
        item.id = if *count == 1 { base } else { format!("{base}-{count}") };
    }
}

// ---------------------------------------------------------------------------------------------
// feedback

fn feedback(path: &Path, records: &[Located], out: &mut LoadedProbe) -> Result<(), DataError> {
    // (domain, text) -> index into out.items, with the line of each condition's prompt.
    let mut index: HashMap<(Domain, String), (usize, BTreeMap<String, usize>)> = HashMap::new();
    for rec in records {
        let at = |e: FieldError| e.at(path, rec.line);
        let base = Obj::of(&rec.value, "base", "base.", true).map_err(at)?;
        let Some(text) = base.opt_str("text").map_err(at)? else {
            *out.skipped.entry(SKIP_NO_TEXT.to_string()).or_default() += 1;
            continue;
        };
        let dataset = base.str("dataset").map_err(at)?;
        let domain = Domain::parse(dataset)
            .ok_or_else(|| at(base.err("dataset", format!("unknown feedback dataset `{dataset}` (expected arguments, math or poems)"))))?;
        let meta = Obj::of(&rec.value, "metadata", "metadata.", false).map_err(at)?;
        let template_type = match meta.map.and_then(|m| m.get("prompt_template_type")) {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) => return Err(at(meta.err("prompt_template_type", "missing"))),
            Some(other) => return Err(at(meta.err("prompt_template_type", format!("expected a string, found {}", type_name(other))))),
        };
        let condition = FeedbackCondition::ALL.into_iter().find(|c| c.template_type() == template_type).ok_or_else(|| {
            let known: Vec<String> = FeedbackCondition::ALL.iter().map(|c| format!("\"{}\"", c.template_type())).collect();
            at(meta
                .err("prompt_template_type", format!("unknown template type \"{template_type}\" (expected one of {})", known.join(", "))))
        })?;
        let question = base.opt_str("question").map_err(at)?;
        let prompt = first_prompt(&rec.value).map_err(at)?;
        let (i, lines) = index.entry((domain, text.to_string())).or_insert_with(|| {
            out.items.push(item(
                origin(path, rec.line),
                ItemBody::Feedback(FeedbackText { domain, text: text.to_string(), question: None, prompts: BTreeMap::new() }),
            ));
            (out.items.len() - 1, BTreeMap::new())
        });
        let ItemBody::Feedback(f) = &mut out.items[*i].body else { unreachable!("feedback items only") };
        if let Some(q) = question {
            match &f.question {
                None => f.question = Some(q.to_string()),
                Some(existing) if existing != q => {
                    return Err(at(base.err("question", "differs from the question an earlier record gives for the same text")));
                }
                Some(_) => {}
            }
        }
        set_prompt(&mut f.prompts, lines, condition.name(), prompt, rec.line, &mut out.skipped).map_err(at)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// answer

/// The condition of one of SycophancyEval's answer templates.
pub fn answer_condition(template: &str) -> Option<AnswerCondition> {
    let t = template.trim();
    if t == "{question}" {
        Some(AnswerCondition::None)
    } else if t.contains("I don't think the answer is {correct_answer}") {
        Some(AnswerCondition::DoubtCorrect)
    } else if t.contains("I think the answer is {correct_answer}") {
        Some(AnswerCondition::SuggestCorrect)
    } else if t.contains("I think the answer is {incorrect_answer}") {
        Some(AnswerCondition::SuggestWrong)
    } else {
        None
    }
}

fn answer(path: &Path, records: &[Located], out: &mut LoadedProbe) -> Result<(), DataError> {
    type Key = (String, String, Option<String>);
    let mut index: HashMap<Key, (usize, BTreeMap<String, usize>)> = HashMap::new();
    for rec in records {
        let at = |e: FieldError| e.at(path, rec.line);
        let base = Obj::of(&rec.value, "base", "base.", true).map_err(at)?;
        let question = base.str("question").map_err(at)?;
        let correct = base.str("correct_answer").map_err(at)?;
        let incorrect = base.opt_str("incorrect_answer").map_err(at)?;
        let aliases = base.opt_str_list("answer").map_err(at)?.unwrap_or_default();
        let long = base.opt_str("long_correct_answer").map_err(at)?;
        let meta = Obj::of(&rec.value, "metadata", "metadata.", false).map_err(at)?;
        let template = meta.str("prompt_template").map_err(at)?;
        let condition = answer_condition(template).ok_or_else(|| {
            at(meta.err(
                "prompt_template",
                format!(
                    "unknown answer template `{}` (expected `{{question}}`, or `{{question}}` with \"I don't think the answer is {{correct_answer}}\", \"I think the answer is {{correct_answer}}\" or \"I think the answer is {{incorrect_answer}}\")",
                    short(template)
                ),
            ))
        })?;
        if condition == AnswerCondition::SuggestWrong && incorrect.is_none() {
            return Err(at(base.err("incorrect_answer", "missing, but the template suggests the incorrect answer")));
        }
        let prompt = first_prompt(&rec.value).map_err(at)?;
        let key = (question.to_string(), correct.to_string(), incorrect.map(str::to_string));
        let (i, lines) = index.entry(key).or_insert_with(|| {
            out.items.push(item(
                origin(path, rec.line),
                ItemBody::Answer(Question {
                    text: question.to_string(),
                    choices: Vec::new(),
                    gold: None,
                    answers: vec![correct.to_string()],
                    incorrect: incorrect.map(str::to_string),
                    prompts: BTreeMap::new(),
                }),
            ));
            (out.items.len() - 1, BTreeMap::new())
        });
        let ItemBody::Answer(q) = &mut out.items[*i].body else { unreachable!("answer items only") };
        for alias in aliases.iter().copied().chain(long) {
            if !alias.trim().is_empty() {
                push_unique(&mut q.answers, alias);
            }
        }
        set_prompt(&mut q.prompts, lines, condition.name(), prompt, rec.line, &mut out.skipped).map_err(at)?;
    }
    Ok(())
}

fn short(s: &str) -> String {
    const MAX: usize = 120;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// are_you_sure

fn are_you_sure(record: &Value) -> Result<Question, FieldError> {
    let base = Obj::of(record, "base", "base.", true)?;
    let text = base.str("question")?.to_string();
    let prompt = first_prompt(record)?.to_string();
    let incorrect = base.opt_str("incorrect_answer")?.map(str::to_string);
    let prompts = BTreeMap::from([("question".to_string(), prompt)]);
    if let Some(correct_letter) = base.opt_str("correct_letter")? {
        let choices: Vec<String> = match base.opt_str_list("answers_list")? {
            Some(list) if !list.is_empty() => list.into_iter().map(str::to_string).collect(),
            _ => parse_lettered(base.str("answers")?).map_err(|m| base.err("answers", m))?,
        };
        let gold = single_letter(correct_letter)
            .and_then(letter_index)
            .ok_or_else(|| base.err("correct_letter", format!("expected a single letter A-Z, found `{correct_letter}`")))?;
        if gold >= choices.len() {
            return Err(base.err(
                "correct_letter",
                format!("`{correct_letter}` is out of range: there are {} choices (A-{})", choices.len(), letter(choices.len().max(1) - 1)),
            ));
        }
        return Ok(Question { text, choices, gold: Some(gold), answers: Vec::new(), incorrect, prompts });
    }
    let mut answers = Vec::new();
    if let Some(correct) = base.opt_str("correct_answer")? {
        push_unique(&mut answers, correct);
    }
    for alias in base.opt_str_list("answer")?.unwrap_or_default() {
        if !alias.trim().is_empty() {
            push_unique(&mut answers, alias);
        }
    }
    if answers.is_empty() {
        return Err(base.err(
            "correct_answer",
            "missing: a free-form question needs `base.correct_answer` or `base.answer` (no `base.correct_letter` either)",
        ));
    }
    Ok(Question { text, choices: Vec::new(), gold: None, answers, incorrect, prompts })
}

fn single_letter(s: &str) -> Option<char> {
    let mut chars = s.trim().chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c.to_ascii_uppercase()),
        _ => None,
    }
}

/// `(A) first\n(B) second` (aqua writes `(A)first`) -> options in letter order.
fn parse_lettered(answers: &str) -> Result<Vec<String>, String> {
    let mut options: Vec<String> = Vec::new();
    for line in answers.lines() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let b = t.as_bytes();
        if b.len() >= 3 && b[0] == b'(' && b[1].is_ascii_uppercase() && b[2] == b')' {
            let expected = letter(options.len());
            if b[1] as char != expected {
                return Err(format!("option `({})` where `({expected})` was expected", b[1] as char));
            }
            options.push(t[3..].trim().to_string());
        } else if let Some(last) = options.last_mut() {
            // An option running over several lines.
            last.push('\n');
            last.push_str(t);
        } else {
            return Err(format!("expected lettered options `(A) ...`, found `{}`", short(t)));
        }
    }
    if options.len() < 2 {
        return Err(format!("expected at least two lettered options `(A) ...`, found {}", options.len()));
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// mimicry

/// A mimicry record -> `Poem`. Accepted fields:
/// - the poem: `base.text` or `base.poem`, else the `{text}`/`{poem}` slot of
///   `metadata.prompt_template` matched against the prompt;
/// - the true poet: `base.author`, `base.correct_attribution`, or `base.attribution` when there
///   is no `base.author` (the public file's `attribution` is the true poet);
/// - the wrong poet: `base.wrong_author`, `base.incorrect_author`, `base.incorrect_attribution`,
///   `metadata.incorrect_attribution`, `base.attribution` when `base.author` is the true poet,
///   else a slot of the template so named, else the poet the template (then the prompt) names
///   after "by" / "by the poet".
fn mimicry(record: &Value) -> Result<Poem, FieldError> {
    let base = Obj::of(record, "base", "base.", true)?;
    let meta = Obj::of(record, "metadata", "metadata.", false)?;
    let prompt = first_prompt(record)?;
    let template = meta.opt_str("prompt_template")?;
    let slots = template.map(|t| match_template(t, prompt)).unwrap_or_default();
    let slot = |names: &[&str]| names.iter().find_map(|n| slots.get(*n).filter(|v| !v.trim().is_empty()).cloned());

    let text = match base.opt_str("text")?.or(base.opt_str("poem")?) {
        Some(t) => t.to_string(),
        None => slot(&["text", "poem"])
            .ok_or_else(|| base.err("text", "missing: no poem in `base.text`, `base.poem` or the prompt template"))?,
    };
    let has_author = base.has("author");
    let author = match (base.opt_str("author")?, base.opt_str("correct_attribution")?) {
        (Some(a), _) | (None, Some(a)) => a.to_string(),
        (None, None) if !has_author => match base.opt_str("attribution")? {
            Some(a) => a.to_string(),
            None => {
                return Err(base.err("author", "missing: no true poet in `base.author`, `base.correct_attribution` or `base.attribution`"))
            }
        },
        (None, None) => return Err(base.err("author", "missing or empty")),
    };
    let mut wrong_field = "incorrect_attribution";
    let mut wrong: Option<String> = None;
    for key in ["wrong_author", "incorrect_author", "incorrect_attribution"] {
        if let Some(w) = base.opt_str(key)? {
            wrong = Some(w.to_string());
            wrong_field = key;
            break;
        }
    }
    if wrong.is_none() {
        wrong = meta.opt_str("incorrect_attribution")?.map(str::to_string);
    }
    if wrong.is_none() && has_author {
        wrong = base.opt_str("attribution")?.map(str::to_string);
        wrong_field = "attribution";
    }
    let wrong = match wrong.or_else(|| slot(&["incorrect_attribution", "wrong_author", "incorrect_author", "attribution"])) {
        Some(w) => w,
        None => template
            .and_then(named_poet)
            .filter(|w| !same_poet(w, &author))
            .or_else(|| named_poet(prompt).filter(|w| !same_poet(w, &author)))
            .ok_or_else(|| {
                base.err(
                    "incorrect_attribution",
                    "missing: no wrong poet in `base.wrong_author`, `base.incorrect_author`, `base.incorrect_attribution`, `metadata.incorrect_attribution`, or the prompt template",
                )
            })?,
    };
    if same_poet(&wrong, &author) {
        return Err(base.err(wrong_field, format!("the wrong attribution `{wrong}` is the true poet")));
    }
    Ok(Poem { text, author, wrong_author: wrong, title: base.opt_str("title")?.map(str::to_string), prompt: Some(prompt.to_string()) })
}

fn same_poet(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The values of a Python format template's `{name}` slots in `filled`, when it matches.
fn match_template(template: &str, filled: &str) -> HashMap<String, String> {
    let slot = regex::Regex::new(r"\{([A-Za-z_][A-Za-z0-9_]*)\}").expect("valid regex");
    let mut pattern = String::from("(?s)^");
    let mut names: Vec<String> = Vec::new();
    let mut last = 0;
    for cap in slot.captures_iter(template) {
        let whole = cap.get(0).expect("match");
        pattern.push_str(&regex::escape(&template[last..whole.start()]));
        // A repeated slot must hold the same text; the regex crate has no backreferences, so each
        // occurrence matches anything and the repeats are compared below.
        pattern.push_str("(.*?)");
        names.push(cap[1].to_string());
        last = whole.end();
    }
    pattern.push_str(&regex::escape(&template[last..]));
    pattern.push('$');
    let mut out = HashMap::new();
    let Ok(re) = regex::Regex::new(&pattern) else { return out };
    let Some(caps) = re.captures(filled) else { return out };
    for (i, name) in names.into_iter().enumerate() {
        let value = caps.get(i + 1).map_or("", |m| m.as_str()).to_string();
        match out.get(&name) {
            Some(existing) if *existing != value => return HashMap::new(),
            _ => {
                out.insert(name, value);
            }
        }
    }
    out
}

/// The poet a sentence names: "... by the poet NAME." or "... by NAME." / "NAME's poem".
fn named_poet(text: &str) -> Option<String> {
    let re = regex::Regex::new(r"\bby (?:the poet )?([A-Z][\w'.-]*(?: [A-Z][\w'.-]*)*)").expect("valid regex");
    let caps = re.captures(text)?;
    let name = caps[1].trim_end_matches('.').trim();
    (!name.is_empty() && !name.contains('{')).then(|| name.to_string())
}
