//! Parquet files (the format of HF datasets) as docs, through the `parquet` crate's record API
//! (no arrow): each row becomes a JSON object with the values pyarrow's `to_pylist()` gives.
//!
//! Types: strings, integers, floats and booleans as themselves; lists as arrays; structs (e.g.
//! ARC's `choices: {text: [..], label: [..]}`) as objects; maps as objects; nulls as null.
//! JSON has no NaN or infinity, so those floats become null (as pandas' `to_json` writes them);
//! dates and times become strings; decimals become numbers. Binary values must be UTF-8 text.

use std::fs::File;
use std::path::Path;

use ::parquet::basic::Compression;
use ::parquet::data_type::Decimal;
use ::parquet::file::reader::{FileReader, SerializedFileReader};
use ::parquet::record::Field;
use serde_json::{Map, Value};

use crate::docs::{row_error, LocatedDoc};
use crate::error::{DataError, FieldError};

/// Reads every row of a parquet file, in order across row groups.
pub(crate) fn parquet_docs(path: &Path) -> Result<Vec<LocatedDoc>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| DataError::Invalid(format!("{}: not a readable parquet file: {e}", path.display())))?;
    check_codecs(path, &reader)?;
    let rows = reader.get_row_iter(None).map_err(|e| DataError::Invalid(format!("{}: cannot read rows: {e}", path.display())))?;
    let mut docs = Vec::new();
    for (index, row) in rows.enumerate() {
        let row = row.map_err(|e| row_error(path, index, &FieldError::new("", format!("unreadable: {e}"))))?;
        let mut doc = Map::new();
        for (name, field) in row.get_column_iter() {
            let value = to_json(field).map_err(|mut e| {
                e.path.push(name.clone());
                e.path.reverse();
                row_error(path, index, &FieldError::new(e.path.concat(), e.message))
            })?;
            doc.insert(name.clone(), value);
        }
        docs.push(LocatedDoc { doc, line: None, row: index });
    }
    Ok(docs)
}

/// The codecs this build decodes: pyarrow's default (snappy), gzip and zstd (also common on the
/// Hub), and none. The crate would fail on the others only when it reaches their first page, with
/// a message that names no column; this names the codec, the column and what to do.
fn check_codecs(path: &Path, reader: &SerializedFileReader<File>) -> Result<(), DataError> {
    let mut first_row = 0usize;
    for group in reader.metadata().row_groups() {
        for column in group.columns() {
            let codec = column.compression();
            if !matches!(codec, Compression::UNCOMPRESSED | Compression::SNAPPY | Compression::GZIP(_) | Compression::ZSTD(_)) {
                let name = match codec {
                    Compression::LZO => "LZO",
                    Compression::BROTLI(_) => "BROTLI",
                    Compression::LZ4 => "LZ4",
                    Compression::LZ4_RAW => "LZ4_RAW",
                    _ => "an unknown codec",
                };
                let message = format!(
                    "compressed with {name}, which syco does not read (it reads uncompressed, SNAPPY, GZIP and ZSTD); \
                     rewrite the file, e.g. pyarrow.parquet.write_table(table, path, compression=\"zstd\")"
                );
                return Err(row_error(path, first_row, &FieldError::new(column.column_path().string(), message)));
            }
        }
        first_row += usize::try_from(group.num_rows()).unwrap_or(0);
    }
    Ok(())
}

/// Where a value failed, innermost segment first (reversed once, at the top).
struct ConvError {
    path: Vec<String>,
    message: String,
}

impl ConvError {
    fn new(message: impl Into<String>) -> Self {
        ConvError { path: Vec::new(), message: message.into() }
    }
}

fn float(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn to_json(field: &Field) -> Result<Value, ConvError> {
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => Value::from(*n),
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float16(x) => float(f64::from(*x)),
        Field::Float(x) => float(f64::from(*x)),
        Field::Double(x) => float(*x),
        Field::Decimal(d) => decimal(d)?,
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => Value::String(s.to_string()),
            Err(_) => return Err(ConvError::new(format!("a binary value ({} bytes) that is not UTF-8 text has no JSON form", b.len()))),
        },
        // The crate's Display gives ISO-like UTC text (`2009-04-01 00:00:00.000 +00:00`).
        Field::Date(_) | Field::TimeMillis(_) | Field::TimeMicros(_) | Field::TimestampMillis(_) | Field::TimestampMicros(_) => {
            Value::String(field.to_string())
        }
        Field::Group(row) => {
            let mut object = Map::new();
            for (name, child) in row.get_column_iter() {
                let value = to_json(child).map_err(|mut e| {
                    e.path.push(format!(".{name}"));
                    e
                })?;
                object.insert(name.clone(), value);
            }
            Value::Object(object)
        }
        Field::ListInternal(list) => Value::Array(
            list.elements()
                .iter()
                .enumerate()
                .map(|(i, element)| {
                    to_json(element).map_err(|mut e| {
                        e.path.push(format!("[{i}]"));
                        e
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Field::MapInternal(map) => {
            let mut object = Map::new();
            for (key, value) in map.entries() {
                let key = match key {
                    Field::Str(s) => s.clone(),
                    other => other.to_string(),
                };
                let value = to_json(value).map_err(|mut e| {
                    e.path.push(format!("[{key:?}]"));
                    e
                })?;
                object.insert(key, value);
            }
            Value::Object(object)
        }
    })
}

/// A decimal as a JSON number (`12.34`), from its big-endian two's-complement unscaled value.
/// Own conversion: the crate's Display asserts (panics) on a malformed scale.
fn decimal(d: &Decimal) -> Result<Value, ConvError> {
    let bytes = d.data();
    if bytes.is_empty() || bytes.len() > 16 {
        return Err(ConvError::new(format!("a decimal of {} bytes is beyond what syco reads (1 to 16)", bytes.len())));
    }
    let scale = usize::try_from(d.scale()).map_err(|_| ConvError::new(format!("a decimal with negative scale {}", d.scale())))?;
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut wide = [fill; 16];
    wide[16 - bytes.len()..].copy_from_slice(bytes);
    let unscaled = i128::from_be_bytes(wide);
    let digits = unscaled.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int_part, frac) = digits.split_at(digits.len() - scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    let text = if frac.is_empty() { format!("{sign}{int_part}") } else { format!("{sign}{int_part}.{frac}") };
    serde_json::from_str(&text).map_err(|e| ConvError::new(format!("decimal {text}: {e}")))
}
