//! Task documents ("docs"): the records of an arbitrary task as JSON objects, read from the files
//! HF `datasets` builders read (JSON Lines, JSON, CSV, parquet), and the canonical JSONL that
//! carries them between stages.
//!
//! Unlike `load`, nothing here knows a record layout: a doc is whatever object the file holds,
//! keys in file order. Every error names the file and the line (the row for parquet) and, where
//! one is to blame, the field.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{DataError, FieldError};
use crate::load::{jsonl_items, raw_offset, read_text, LineIndex};

/// One doc with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedDoc {
    pub doc: Map<String, Value>,
    /// 1-based line the record starts on, in text formats (`None` for parquet).
    pub line: Option<usize>,
    /// 0-based index of the record in the file.
    pub row: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocFormat {
    /// One object per line; blank lines skipped.
    Jsonl,
    /// As HF's `json` builder: JSON Lines when the first line is a whole value, otherwise an
    /// array of objects or an object whose one list member holds them (`{"data": [..]}`).
    Json,
    /// A header row; each column typed as pandas' `read_csv` would (see `csv_docs`).
    Csv,
    Parquet,
}

impl DocFormat {
    /// The format a file name implies (`.jsonl`/`.ndjson`, `.json`, `.csv`, `.parquet`/`.pq`), if any.
    pub fn from_path(path: &Path) -> Option<DocFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => Some(DocFormat::Jsonl),
            "json" => Some(DocFormat::Json),
            "csv" => Some(DocFormat::Csv),
            "parquet" | "pq" => Some(DocFormat::Parquet),
            _ => None,
        }
    }

    /// The format of an HF `datasets` packaged builder name (`load_dataset("json", ..)`):
    /// `json` (JSON or JSON Lines, told apart by content), `csv`, `parquet`; `jsonl` is accepted too.
    pub fn from_builder(name: &str) -> Result<DocFormat, DataError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(DocFormat::Json),
            "jsonl" | "ndjson" => Ok(DocFormat::Jsonl),
            "csv" => Ok(DocFormat::Csv),
            "parquet" => Ok(DocFormat::Parquet),
            other => Err(DataError::Invalid(format!("unsupported dataset builder `{other}` (supported: json, csv, parquet)"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocFormat::Jsonl => "jsonl",
            DocFormat::Json => "json",
            DocFormat::Csv => "csv",
            DocFormat::Parquet => "parquet",
        }
    }
}

impl std::fmt::Display for DocFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parquet files start (and end) with these four bytes.
const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Loads every doc of `path`. `format` defaults to the extension, then to the content
/// (parquet's magic bytes, else JSON/JSON Lines/CSV as `load` sniffs).
pub fn load_docs(path: &Path, format: Option<DocFormat>) -> Result<Vec<LocatedDoc>, DataError> {
    let named = format.or_else(|| DocFormat::from_path(path));
    if named == Some(DocFormat::Parquet) || (named.is_none() && starts_with_parquet_magic(path)?) {
        return crate::parquet::parquet_docs(path);
    }
    let text = read_text(path).map_err(|e| match starts_with_parquet_magic(path) {
        Ok(true) => DataError::Invalid(format!("{e} (this looks like a parquet file: give `format = \"parquet\"`)")),
        _ => e,
    })?;
    // Files saved by some editors and spreadsheet tools start with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let trimmed = text.trim_start();
    match named {
        Some(DocFormat::Jsonl) => jsonl_docs(path, text),
        Some(DocFormat::Csv) => csv_docs(path, text),
        _ if trimmed.is_empty() => Ok(Vec::new()),
        _ if trimmed.starts_with('[') => json_docs(path, text),
        _ if trimmed.starts_with('{') => {
            // HF's json builder reads JSON Lines first; a value spanning lines is one JSON document.
            let first_line = trimmed.lines().next().unwrap_or("");
            if serde_json::from_str::<&RawValue>(first_line).is_ok() {
                jsonl_docs(path, text)
            } else {
                json_docs(path, text)
            }
        }
        None => csv_docs(path, text),
        Some(_) => {
            Err(DataError::syntax(path, 1, "expected JSON: an array of objects, an object with one list of them, or one object per line"))
        }
    }
}

fn starts_with_parquet_magic(path: &Path) -> Result<bool, DataError> {
    let mut head = Vec::with_capacity(4);
    let file = fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, 4), &mut head).map_err(|e| DataError::io(path, e))?;
    Ok(head == PARQUET_MAGIC)
}

/// Writes docs as JSON Lines, one object per line, keys in their order: the canonical form
/// between stages.
pub fn write_docs_jsonl(path: &Path, docs: &[Map<String, Value>]) -> Result<(), DataError> {
    let mut buf = Vec::new();
    for doc in docs {
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut buf, doc);
        buf.push(b'\n');
    }
    let mut file = fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    file.write_all(&buf).map_err(|e| DataError::io(path, e))
}

/// Reads docs written by `write_docs_jsonl` (any JSON Lines file of objects).
pub fn read_docs_jsonl(path: &Path) -> Result<Vec<Map<String, Value>>, DataError> {
    let text = read_text(path)?;
    Ok(jsonl_docs(path, &text)?.into_iter().map(|d| d.doc).collect())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn jsonl_docs(path: &Path, text: &str) -> Result<Vec<LocatedDoc>, DataError> {
    let mut docs = Vec::new();
    for item in jsonl_items(path, text)? {
        let Value::Object(doc) = item.value else {
            let got = json_type(&item.value);
            return Err(DataError::syntax(path, item.line, format!("expected a JSON object (one record per line), got {got}")));
        };
        docs.push(LocatedDoc { doc, line: Some(item.line), row: docs.len() });
    }
    Ok(docs)
}

/// An array of objects, or an object with exactly one list member holding them (HF's `field=`
/// for the common `{"version": .., "data": [..]}` layout; with several lists the choice is ambiguous).
fn json_docs(path: &Path, text: &str) -> Result<Vec<LocatedDoc>, DataError> {
    let syntax = |e: serde_json::Error| DataError::syntax(path, e.line().max(1), format!("invalid JSON at column {}: {e}", e.column()));
    let top: &RawValue = serde_json::from_str(text).map_err(syntax)?;
    let lines = LineIndex::new(text);
    let array: &RawValue =
        if top.get().starts_with('[') {
            top
        } else if top.get().starts_with('{') {
            let members: BTreeMap<String, &RawValue> = serde_json::from_str(top.get()).map_err(syntax)?;
            let lists: Vec<(&String, &RawValue)> = members.iter().filter(|(_, v)| v.get().starts_with('[')).map(|(k, v)| (k, *v)).collect();
            match lists.as_slice() {
                [(_, list)] => list,
                [] => return Err(DataError::syntax(
                    path,
                    lines.line_of(raw_offset(text, top)),
                    "expected an array of records, or an object with one list of records (e.g. {\"data\": [..]}); this object has no list",
                )),
                several => {
                    let names: Vec<&str> = several.iter().map(|(k, _)| k.as_str()).collect();
                    return Err(DataError::syntax(
                        path,
                        lines.line_of(raw_offset(text, top)),
                        format!("the JSON object has several lists ({}); expected one list of records", names.join(", ")),
                    ));
                }
            }
        } else {
            return Err(DataError::syntax(path, 1, "expected a JSON array of records or an object with one list of records"));
        };
    let elements: Vec<&RawValue> = serde_json::from_str(array.get())
        .map_err(|e| DataError::syntax(path, lines.line_of(raw_offset(text, array)), format!("expected an array of records: {e}")))?;
    let mut docs = Vec::with_capacity(elements.len());
    for (row, raw) in elements.into_iter().enumerate() {
        let line = lines.line_of(raw_offset(text, raw));
        let value: Value = serde_json::from_str(raw.get()).map_err(|e| DataError::syntax(path, line, e.to_string()))?;
        let Value::Object(doc) = value else {
            return Err(DataError::syntax(path, line, format!("record {row}: expected a JSON object, got {}", json_type(&value))));
        };
        docs.push(LocatedDoc { doc, line: Some(line), row });
    }
    Ok(docs)
}

/// The type a CSV column is read as: the first of int, float, bool whose syntax every non-empty
/// cell has, else string (pandas' `read_csv` inference, which HF's csv builder uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvType {
    Int,
    Float,
    Bool,
    Str,
}

/// `[+-]digits`, the integers pandas reads (leading zeros included: `007` is 7, as in pandas).
fn int_syntax(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[+-]digits[.digits][e[+-]digits]` with a digit somewhere before the exponent; not `nan`/`inf`,
/// which JSON cannot hold.
fn float_syntax(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mantissa_ok = (!int_part.is_empty() || !frac.is_empty())
        && int_part.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    mantissa_ok && exponent.is_none_or(int_syntax)
}

/// pandas' default `true_values`/`false_values`.
fn csv_bool(s: &str) -> Option<bool> {
    match s {
        "True" | "TRUE" | "true" => Some(true),
        "False" | "FALSE" | "false" => Some(false),
        _ => None,
    }
}

fn csv_int(s: &str) -> Option<Value> {
    if !int_syntax(s) {
        return None;
    }
    let digits = s.strip_prefix('+').unwrap_or(s);
    // pandas reads integers past int64 as uint64 when they fit.
    digits.parse::<i64>().map(Value::from).ok().or_else(|| digits.parse::<u64>().map(Value::from).ok())
}

fn infer_csv_type<'a>(cells: impl Iterator<Item = &'a str>) -> CsvType {
    let (mut int, mut float, mut bool) = (true, true, true);
    for cell in cells.map(str::trim).filter(|c| !c.is_empty()) {
        int &= csv_int(cell).is_some();
        float &= float_syntax(cell) && cell.parse::<f64>().is_ok_and(f64::is_finite);
        bool &= csv_bool(cell).is_some();
        if !(int || float || bool) {
            return CsvType::Str;
        }
    }
    if int {
        CsvType::Int
    } else if float {
        CsvType::Float
    } else if bool {
        CsvType::Bool
    } else {
        CsvType::Str
    }
}

/// The cell's value in a column of type `ty` (inference guaranteed it parses); empty cells are null.
fn csv_value(ty: CsvType, cell: &str) -> Value {
    let t = cell.trim();
    if cell.is_empty() {
        return Value::Null;
    }
    match ty {
        CsvType::Int => csv_int(t).unwrap_or(Value::Null),
        CsvType::Float => t.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number),
        CsvType::Bool => csv_bool(t).map_or(Value::Null, Value::Bool),
        CsvType::Str => Value::String(cell.to_string()),
    }
}

/// Header names as pandas makes them: an empty name is `Unnamed: {i}`, a repeated one `name.1`, `name.2`, ...
fn csv_headers<'a>(raw: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (i, name) in raw.enumerate() {
        let base = if name.is_empty() { format!("Unnamed: {i}") } else { name.to_string() };
        let mut candidate = base.clone();
        let mut k = 1;
        while names.contains(&candidate) {
            candidate = format!("{base}.{k}");
            k += 1;
        }
        names.push(candidate);
    }
    names
}

/// CSV with a header row. Each column is typed from all its cells (`infer_csv_type`); empty
/// cells are null. Unlike pandas, strings such as `NA` or `None` stay strings (answers can be
/// "None"), and an integer column with empty cells stays integer instead of turning float.
fn csv_docs(path: &Path, text: &str) -> Result<Vec<LocatedDoc>, DataError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let headers = match records.next() {
        None => return Ok(Vec::new()),
        Some(row) => csv_headers(row.map_err(|e| DataError::syntax(path, 1, format!("unreadable CSV header: {e}")))?.iter()),
    };
    let mut rows: Vec<(usize, csv::StringRecord)> = Vec::new();
    for result in records {
        let row = result.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            DataError::syntax(path, line, format!("malformed CSV row: {e}"))
        })?;
        let line = row.position().map_or(0, |p| p.line() as usize);
        if row.len() != headers.len() {
            return Err(DataError::syntax(
                path,
                line,
                format!("malformed CSV row: {} fields, the header has {} ({})", row.len(), headers.len(), headers.join(", ")),
            ));
        }
        rows.push((line, row));
    }
    let types: Vec<CsvType> = (0..headers.len()).map(|c| infer_csv_type(rows.iter().map(|(_, r)| &r[c]))).collect();
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(index, (line, row))| {
            let doc = headers.iter().zip(&types).zip(row.iter()).map(|((name, &ty), cell)| (name.clone(), csv_value(ty, cell))).collect();
            LocatedDoc { doc, line: Some(line), row: index }
        })
        .collect())
}

/// A field error in a file without lines (parquet): `FILE: row N: field `x`: message`.
pub(crate) fn row_error(path: &Path, row: usize, field: &FieldError) -> DataError {
    let place = if field.field.is_empty() { String::new() } else { format!(" field `{}`:", field.field) };
    DataError::Invalid(format!("{}: row {row}:{place} {}", path.display(), field.message))
}
