//! A YAML document as a tree with the line of every node, read the way lm-eval reads its task
//! files: PyYAML's YAML 1.1 resolution of plain scalars (`yes` is a boolean, `010` is 8, `1e3`
//! is a string), tags kept on the node (`!function utils.process_docs`) for the reader to
//! reject with its key. saphyr-parser gives the events and their line markers.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    /// 1-based line where the node starts.
    pub line: usize,
    /// A tag other than YAML's own (`!!str`, ... are applied and dropped), e.g. `!function`.
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A plain scalar PyYAML reads as a date or time (kept as written, for the message).
    Timestamp(String),
    Seq(Vec<Node>),
    /// Entries in file order; keys are nodes (usually strings).
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What the value is, in words, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Timestamp(_) => "a date",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct YamlError {
    pub line: usize,
    pub message: String,
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, YamlError> {
    Err(YamlError { line, message: message.into() })
}

/// Parses one YAML document. An empty stream is `Null` (as PyYAML's `load` returns None); more
/// than one document is an error (PyYAML's `load` refuses it too).
pub(crate) fn parse(text: &str) -> Result<Node, YamlError> {
    let mut builder = Builder { parser: Parser::new_from_str(text), anchors: HashMap::new(), last_line: 1 };
    let mut root = None;
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return err(span.start.line(), "more than one YAML document in the file");
                }
                let (event, span) = builder.next()?;
                root = Some(builder.node(event, span)?);
            }
            other => return err(span.start.line(), format!("unexpected YAML event {other:?}")),
        }
    }
    Ok(root.unwrap_or(Node { value: Value::Null, line: 1, tag: None }))
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    last_line: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next() {
            Some(Ok((event, span))) => {
                self.last_line = span.start.line();
                Ok((event, span))
            }
            Some(Err(e)) => err(e.marker().line().max(1), e.info().to_string()),
            None => err(self.last_line, "unexpected end of the YAML stream"),
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, YamlError> {
        let line = span.start.line().max(1);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => (scalar(&text, style, tag.as_deref(), line)?, anchor),
            Event::SequenceStart(anchor, tag) => {
                let tag = collection_tag(tag.as_deref(), "seq", line)?;
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break;
                    }
                    items.push(self.node(event, span)?);
                }
                (Node { value: Value::Seq(items), line, tag }, anchor)
            }
            Event::MappingStart(anchor, tag) => {
                let tag = collection_tag(tag.as_deref(), "map", line)?;
                let mut entries: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if let Event::MappingEnd = event {
                        break;
                    }
                    let key = self.node(event, span)?;
                    if key.value == Value::Str("<<".into()) && key.tag.is_none() {
                        return err(key.line, "YAML merge keys (`<<`) are not supported; write the keys out or use `include:`");
                    }
                    // PyYAML keeps the last of duplicate keys without a word; a duplicate is almost
                    // always a mistake, so it is an error here.
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.value == key.value) {
                        return err(key.line, format!("duplicate key {} (first on line {})", describe_key(&key), first.line));
                    }
                    let (event, span) = self.next()?;
                    let value = self.node(event, span)?;
                    entries.push((key, value));
                }
                (Node { value: Value::Map(entries), line, tag }, anchor)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                // An alias is the anchored node again; its line is the alias's, where it is used.
                Some(node) => return Ok(Node { line, ..node.clone() }),
                None => return err(line, "alias of an unknown anchor"),
            },
            other => return err(line, format!("unexpected YAML event {other:?}")),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

fn describe_key(key: &Node) -> String {
    match &key.value {
        Value::Str(s) => format!("`{s}`"),
        other => other.kind().to_string(),
    }
}

fn collection_tag(tag: Option<&Tag>, core: &str, line: usize) -> Result<Option<String>, YamlError> {
    match tag {
        None => Ok(None),
        Some(t) if t.is_yaml_core_schema() => {
            if t.suffix == core {
                Ok(None)
            } else {
                err(line, format!("tag `!!{}` on a {}", t.suffix, if core == "seq" { "list" } else { "mapping" }))
            }
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>, line: usize) -> Result<Node, YamlError> {
    let node = |value| Ok(Node { value, line, tag: None });
    match tag {
        Some(t) if t.is_yaml_core_schema() => {
            let resolved = resolve_plain(text, line)?;
            match (t.suffix.as_str(), resolved) {
                ("str", _) => node(Value::Str(text.to_string())),
                ("null", v @ Value::Null) | ("bool", v @ Value::Bool(_)) | ("int", v @ Value::Int(_)) => node(v),
                ("float", Value::Float(f)) => node(Value::Float(f)),
                ("float", Value::Int(i)) => node(Value::Float(i as f64)),
                (suffix, _) => err(line, format!("`!!{suffix} {text}` is not a valid {suffix}")),
            }
        }
        // Another tag (`!function ...`): the text as written; the reader rejects the tag.
        Some(t) => Ok(Node { value: Value::Str(text.to_string()), line, tag: Some(t.to_string()) }),
        None if style == ScalarStyle::Plain => node(resolve_plain(text, line)?),
        None => node(Value::Str(text.to_string())),
    }
}

// PyYAML's implicit resolvers (YAML 1.1), which lm-eval's loader uses.
static BOOL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$").unwrap());
static INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$")
        .unwrap()
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .unwrap()
});
static NULL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:~|null|Null|NULL|)$").unwrap());
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$").unwrap()
});

fn resolve_plain(text: &str, line: usize) -> Result<Value, YamlError> {
    if NULL.is_match(text) {
        return Ok(Value::Null);
    }
    if BOOL.is_match(text) {
        return Ok(Value::Bool(matches!(text.to_ascii_lowercase().as_str(), "yes" | "true" | "on")));
    }
    if INT.is_match(text) {
        return parse_int(text).map(Value::Int).ok_or(YamlError { line, message: format!("integer `{text}` out of range") });
    }
    if FLOAT.is_match(text) {
        return parse_float(text).map(Value::Float).ok_or(YamlError { line, message: format!("sexagesimal number `{text}`; quote it") });
    }
    if TIMESTAMP.is_match(text) {
        return Ok(Value::Timestamp(text.to_string()));
    }
    Ok(Value::Str(text.to_string()))
}

fn parse_int(text: &str) -> Option<i64> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, digits) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let magnitude: i128 = if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if digits.contains(':') {
        // Base 60: `1:30` is 90.
        digits.split(':').try_fold(0i128, |acc, part| Some(acc * 60 + part.parse::<i128>().ok()?))?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i128::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<i128>().ok()?
    };
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

fn parse_float(text: &str) -> Option<f64> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if clean.contains(':') {
        return None;
    }
    let lower = clean.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        ".inf" => Some(if lower.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
        ".nan" => Some(f64::NAN),
        _ => clean.parse::<f64>().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        match parse(&format!("k: {text}\n")).unwrap().value {
            Value::Map(mut entries) => entries.remove(0).1.value,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_scalars_resolve_as_pyyaml_does() {
        assert_eq!(value("yes"), Value::Bool(true));
        assert_eq!(value("Off"), Value::Bool(false));
        assert_eq!(value("~"), Value::Null);
        assert_eq!(value(""), Value::Null);
        assert_eq!(value("010"), Value::Int(8));
        assert_eq!(value("0x1F"), Value::Int(31));
        assert_eq!(value("1_000"), Value::Int(1000));
        assert_eq!(value("1:30"), Value::Int(90));
        assert_eq!(value("-3"), Value::Int(-3));
        assert_eq!(value("1.5"), Value::Float(1.5));
        assert_eq!(value("1.0e+3"), Value::Float(1000.0));
        assert_eq!(value("1e3"), Value::Str("1e3".into()));
        assert_eq!(value("'yes'"), Value::Str("yes".into()));
        assert_eq!(value("!!str 010"), Value::Str("010".into()));
        assert_eq!(value("2024-01-02"), Value::Timestamp("2024-01-02".into()));
        assert_eq!(value("\"a\\nb\""), Value::Str("a\nb".into()));
    }

    #[test]
    fn tags_lines_aliases_and_errors() {
        let doc = parse("a: 1\nb: !function utils.f\nc: &x [1, 2]\nd: *x\n").unwrap();
        let Value::Map(entries) = doc.value else { panic!() };
        assert_eq!(entries[1].1.tag.as_deref(), Some("!function"));
        assert_eq!(entries[1].1.value, Value::Str("utils.f".into()));
        assert_eq!(entries[1].0.line, 2);
        assert_eq!(entries[3].1.value, entries[2].1.value);
        assert_eq!(entries[3].1.line, 4);
        assert_eq!(parse("a: 1\na: 2\n").unwrap_err().line, 2);
        assert!(parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err().line > 1);
        assert_eq!(parse("a: 1\n---\nb: 2\n").unwrap_err().line, 2);
        assert_eq!(parse("").unwrap().value, Value::Null);
    }
}
