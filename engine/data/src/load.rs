//! File loaders: JSONL, JSON (an array, or the study's `{feedback: [..], are_you_sure: [..],
//! answer: [..]}` object) and CSV, into canonical records; and the canonical JSONL writer/reader.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{DataError, FieldError};
use crate::kind::Kind;
use crate::layouts::record_from_value;
use crate::record::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Jsonl,
    Json,
    Csv,
}

impl std::str::FromStr for Format {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(Format::Jsonl),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(DataError::Invalid(format!("unknown format `{other}` (expected jsonl, json or csv)"))),
        }
    }
}

impl Format {
    /// The format a file name implies (`.jsonl`/`.ndjson`, `.json`, `.csv`), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// Guesses from content: a leading `[` or a `{` spanning more than the first line is JSON.
    fn sniff(text: &str) -> Format {
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') {
            Format::Json
        } else if trimmed.starts_with('{') {
            let first_line = trimmed.lines().next().unwrap_or("");
            if serde_json::from_str::<&RawValue>(first_line).is_ok() {
                Format::Jsonl
            } else {
                Format::Json
            }
        } else {
            Format::Csv
        }
    }
}

/// One input object with the line it starts on.
pub(crate) struct Located {
    pub(crate) line: usize,
    pub(crate) value: Value,
}

/// Loads every record of `kind` from `path`. `format` defaults to the extension, then to sniffing.
/// For `Kind::AntiSyc` every sycophancy-kind record is taken (all three members of the study's object).
pub fn load_records(kind: Kind, path: &Path, format: Option<Format>) -> Result<Vec<Record>, DataError> {
    let items = read_items(kind, path, format)?;
    items.into_iter().map(|item| record_from_value(kind, &item.value).map_err(|e| e.at(path, item.line))).collect()
}

/// Like `load_records`, but first drops the records the study's sampling treated as invalid
/// (SPEC §1.1): feedback without `base.text` and `base.logical_error`; are_you_sure with fewer
/// than 2 prompt turns or no `base.correct_letter`; answer without `base.correct_answer` and
/// `base.incorrect_answer`. Returns the kept records and how many were skipped. The raw public
/// files mix such records (e.g. poems in feedback.jsonl) with the usable ones.
pub fn load_valid_records(kind: Kind, path: &Path, format: Option<Format>) -> Result<(Vec<Record>, usize), DataError> {
    let items = read_items(kind, path, format)?;
    let mut kept = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for item in items {
        let item_kind = if kind == Kind::AntiSyc { tagged_kind(&item.value).unwrap_or(kind) } else { kind };
        if !study_valid(item_kind, &item.value) {
            skipped += 1;
            continue;
        }
        kept.push(record_from_value(kind, &item.value).map_err(|e| e.at(path, item.line))?);
    }
    Ok((kept, skipped))
}

fn tagged_kind(v: &Value) -> Option<Kind> {
    v.get("kind")?.as_str()?.parse().ok()
}

/// The study's validity filters (Python truthiness: present and non-empty).
fn study_valid(kind: Kind, v: &Value) -> bool {
    let base = v.get("base").unwrap_or(v);
    let truthy = |key: &str| match base.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    match kind {
        Kind::Feedback => truthy("text") && truthy("logical_error"),
        Kind::AreYouSure => {
            let turns = match v.get("prompt") {
                Some(Value::Array(a)) => a.len(),
                Some(Value::String(_)) => 2, // canonical form keeps only the first turn
                _ => 0,
            };
            turns >= 2 && truthy("correct_letter")
        }
        Kind::Answer => truthy("correct_answer") && truthy("incorrect_answer"),
        Kind::AntiSyc => [Kind::Feedback, Kind::AreYouSure, Kind::Answer].iter().any(|&k| study_valid(k, v)),
        _ => true,
    }
}

/// Reads a whole file as UTF-8; invalid bytes are reported with the line and column where they start
/// (`fs::read_to_string` would only say "stream did not contain valid UTF-8").
pub(crate) fn read_text(path: &Path) -> Result<String, DataError> {
    let bytes = fs::read(path).map_err(|e| DataError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..bad];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        DataError::syntax(
            path,
            line,
            format!("invalid UTF-8 at column {} (byte 0x{:02x}); dataset files must be UTF-8", bad - line_start + 1, e.as_bytes()[bad]),
        )
    })
}

fn read_items(kind: Kind, path: &Path, format: Option<Format>) -> Result<Vec<Located>, DataError> {
    let text = read_text(path)?;
    // Files saved by some editors and spreadsheet tools start with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let format = format.or_else(|| Format::from_path(path)).unwrap_or_else(|| Format::sniff(text));
    match format {
        Format::Jsonl => jsonl_items(path, text),
        Format::Json => json_items(kind, path, text),
        Format::Csv => csv_items(kind, path, text),
    }
}

pub(crate) fn jsonl_items(path: &Path, text: &str) -> Result<Vec<Located>, DataError> {
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(trimmed)
            .map_err(|e| DataError::syntax(path, line_no, format!("invalid JSON at column {}: {e}", e.column())))?;
        items.push(Located { line: line_no, value });
    }
    Ok(items)
}

/// Maps byte offsets to 1-based line numbers (newline positions found once, then binary search,
/// so a file with many records is not rescanned per record).
pub(crate) struct LineIndex {
    newlines: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        LineIndex { newlines: text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect() }
    }
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }
}

pub(crate) fn raw_offset(text: &str, raw: &RawValue) -> usize {
    (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

fn json_items(kind: Kind, path: &Path, text: &str) -> Result<Vec<Located>, DataError> {
    let syntax = |e: serde_json::Error| DataError::syntax(path, e.line().max(1), format!("invalid JSON at column {}: {e}", e.column()));
    let top: &RawValue = serde_json::from_str(text).map_err(syntax)?;
    let arrays: Vec<&RawValue> = if top.get().starts_with('[') {
        vec![top]
    } else if top.get().starts_with('{') {
        let members: BTreeMap<String, &RawValue> = serde_json::from_str(top.get()).map_err(syntax)?;
        let wanted: Vec<Kind> = if kind == Kind::AntiSyc { Kind::SYCOPHANCY.to_vec() } else { vec![kind] };
        let found: Vec<&RawValue> = wanted.iter().filter_map(|k| members.get(k.as_str()).copied()).collect();
        if found.is_empty() {
            let names: Vec<&str> = members.keys().map(String::as_str).collect();
            return Err(DataError::Field {
                file: path.to_path_buf(),
                line: 1,
                field: kind.as_str().to_string(),
                message: format!("the JSON object has no member for kind `{kind}` (members: {})", names.join(", ")),
            });
        }
        found
    } else {
        return Err(DataError::syntax(path, 1, "expected a JSON array of records or an object of arrays"));
    };
    let lines = LineIndex::new(text);
    let mut items = Vec::new();
    for array in arrays {
        let line = lines.line_of(raw_offset(text, array));
        let elements: Vec<&RawValue> =
            serde_json::from_str(array.get()).map_err(|e| DataError::syntax(path, line, format!("expected an array of records: {e}")))?;
        for raw in elements {
            let line = lines.line_of(raw_offset(text, raw));
            let value = serde_json::from_str(raw.get()).map_err(|e| DataError::syntax(path, line, e.to_string()))?;
            items.push(Located { line, value });
        }
    }
    Ok(items)
}

/// Columns whose cells may hold JSON (a list or an object); every other cell is text, even
/// when it happens to start with `[`.
const JSON_COLUMNS: &[&str] =
    &["choices", "endings", "mc1_targets", "mc2_targets", "labels", "answers_list", "aliases", "answer", "prompt", "base", "metadata"];

/// The original MMLU CSVs have no header: question, A, B, C, D, answer.
const MMLU_COLUMNS: [&str; 6] = ["question", "A", "B", "C", "D", "answer"];

/// CSV with a header row (or MMLU's headerless six columns). A cell of a structured column
/// (`choices`, `endings`, ...) holding a JSON list or object is parsed as JSON; other cells stay
/// strings (the record converters accept numbers as strings).
fn csv_items(kind: Kind, path: &Path, text: &str) -> Result<Vec<Located>, DataError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    let mut rows = reader.records();
    let first = match rows.next() {
        None => return Ok(Vec::new()),
        Some(row) => row.map_err(|e| DataError::syntax(path, 1, format!("unreadable CSV header: {e}")))?,
    };
    let headerless_mmlu =
        kind == Kind::Mmlu && first.len() == MMLU_COLUMNS.len() && !first.iter().any(|h| h.trim().eq_ignore_ascii_case("question"));
    let headers: Vec<String> = if headerless_mmlu {
        MMLU_COLUMNS.iter().map(|s| s.to_string()).collect()
    } else {
        first.iter().map(|h| h.trim().to_string()).collect()
    };
    let data_rows = headerless_mmlu.then_some(Ok(first)).into_iter().chain(rows);
    let mut items = Vec::new();
    for result in data_rows {
        let row = result.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            DataError::syntax(path, line, format!("malformed CSV row: {e}"))
        })?;
        let line = row.position().map(|p| p.line() as usize).unwrap_or(0);
        if row.len() != headers.len() {
            return Err(DataError::syntax(
                path,
                line,
                format!("malformed CSV row: {} fields, the header has {}", row.len(), headers.len()),
            ));
        }
        let mut obj = Map::new();
        for (name, cell) in headers.iter().zip(row.iter()) {
            let t = cell.trim_start();
            let structured = JSON_COLUMNS.contains(&name.as_str()) && (t.starts_with('[') || t.starts_with('{'));
            let value = if structured {
                serde_json::from_str(cell).map_err(|e| FieldError::new(name, format!("cell is not valid JSON: {e}")).at(path, line))?
            } else {
                Value::String(cell.to_string())
            };
            obj.insert(name.clone(), value);
        }
        items.push(Located { line, value: Value::Object(obj) });
    }
    Ok(items)
}

/// The canonical line for a record: `{"kind": .., "id": .., fields..}`.
pub fn to_canonical_value(record: &Record) -> Value {
    let Ok(Value::Object(fields)) = serde_json::to_value(record) else {
        return Value::Null; // records are plain data; serialization cannot fail
    };
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(record.kind().as_str().into()));
    out.insert("id".into(), Value::String(record.id()));
    for (k, v) in fields {
        if k != "kind" {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// Writes records in canonical form, one JSON object per line.
pub fn write_jsonl(path: &Path, records: &[Record]) -> Result<(), DataError> {
    let mut buf = Vec::new();
    for record in records {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buf, &to_canonical_value(record));
        buf.push(b'\n');
    }
    let mut file = fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    file.write_all(&buf).map_err(|e| DataError::io(path, e))
}

/// Reads a canonical JSONL file (each line carries its `kind`).
pub fn read_jsonl(path: &Path) -> Result<Vec<Record>, DataError> {
    let text = read_text(path)?;
    jsonl_items(path, &text)?
        .into_iter()
        .map(|item| {
            let kind = match item.value.get("kind") {
                Some(Value::String(s)) => s.parse::<Kind>().map_err(|e| FieldError::new("kind", e.to_string())),
                Some(_) => Err(FieldError::new("kind", "expected a string")),
                None => Err(FieldError::new("kind", "missing (canonical records carry their kind)")),
            }
            .map_err(|e| e.at(path, item.line))?;
            record_from_value(kind, &item.value).map_err(|e| e.at(path, item.line))
        })
        .collect()
}
