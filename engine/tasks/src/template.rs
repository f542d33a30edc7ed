//! Jinja over a record's fields, as lm-eval renders its templates (Jinja2, `StrictUndefined`,
//! `keep_trailing_newline`, its `regex_replace` filter), in minijinja made Python-compatible
//! where lm-eval's templates need it:
//!
//! - values print as Python's `str()` does (`['a', 'b']`, `None`, `True`, `1e-05`), because
//!   lm-eval `ast.literal_eval`s what a `doc_to_choice` template printed;
//! - Python methods: `str.strip/lstrip/rstrip/upper/lower/capitalize/title/replace/split/
//!   splitlines/startswith/endswith/join/format/find/index/count/isdigit/isalpha/isspace`,
//!   `list.index/count`, `dict.get/keys/values/items`;
//! - a missing field is an error that names it.
//!
//! Templates are compiled once per source text and kept (per thread) for the process.

use std::cell::RefCell;
use std::collections::HashMap;

use std::sync::Arc;

use minijinja::value::{from_args, Enumerator, Kwargs, Object, ObjectRepr, Rest, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::pyliteral;
use crate::spec::Doc;

/// Compiled templates, keyed by their source text.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// More distinct templates than any task set has; past it the cache starts over.
const MAX_TEMPLATES: usize = 4096;

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // Template names are their sources; never HTML-escape whatever they end with.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_formatter(|out, _state, value| {
            out.write_str(&py_str(value)).map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
        });
        env.set_unknown_method_callback(py_method);
        env.add_filter("regex_replace", regex_replace);
        env.add_filter("join", join);
        env.add_filter("string", |v: Value| py_str(&v));
        Templates { env }
    }

    /// Compiles `source` unless it already is: syntax errors only.
    pub fn check(&mut self, source: &str) -> Result<(), String> {
        if self.env.get_template(source).is_ok() {
            return Ok(());
        }
        if self.env.templates().count() >= MAX_TEMPLATES {
            self.env.clear_templates();
        }
        // Jinja2 normalises the template's own newlines to `\n` (the records' text is untouched).
        let normalised = source.replace("\r\n", "\n").replace('\r', "\n");
        self.env.add_template_owned(source.to_string(), normalised).map_err(|e| describe(&e, source, None))
    }

    /// Renders `source` with the record's fields as variables, as `template.render(**doc)`.
    pub fn render(&mut self, source: &str, doc: &Doc) -> Result<String, String> {
        self.check(source)?;
        let template = self.env.get_template(source).map_err(|e| describe(&e, source, None))?;
        template.render(Value::from_serialize(doc)).map_err(|e| describe(&e, source, Some(doc)))
    }
}

thread_local! {
    static CACHE: RefCell<Templates> = RefCell::new(Templates::new());
}

/// Renders `source` over `doc` with this thread's compiled-template cache.
pub fn render(source: &str, doc: &Doc) -> Result<String, String> {
    CACHE.with(|t| t.borrow_mut().render(source, doc))
}

/// Whether `source` is a valid template (syntax only; fields are checked when rendering).
pub fn check(source: &str) -> Result<(), String> {
    CACHE.with(|t| t.borrow_mut().check(source))
}

/// An error in words: which field is missing, or what failed where, with the template's line.
fn describe(err: &Error, source: &str, doc: Option<&Doc>) -> String {
    let snippet = err.range().and_then(|r| source.get(r)).map(str::trim).filter(|s| !s.is_empty());
    let line = err.line().map(|l| format!(" (template line {l})")).unwrap_or_default();
    if err.kind() == ErrorKind::UndefinedError {
        if let (Some(doc), Some(snippet)) = (doc, snippet) {
            let root: String = snippet.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !root.is_empty() && !doc.contains_key(&root) {
                let fields = doc.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                return format!("the record has no field `{root}` (its fields: {fields}){line}");
            }
            return format!("`{snippet}` is undefined (no such key, attribute or method){line}");
        }
    }
    let what = match err.kind() {
        ErrorKind::SyntaxError => "syntax error".to_string(),
        kind => kind.to_string(),
    };
    let detail = err.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let at = snippet.map(|s| format!(" at `{s}`")).unwrap_or_default();
    format!("{what}{detail}{at}{line}")
}

/// Python's `str()` of a template value.
pub fn py_str(value: &Value) -> String {
    if let Some(s) = value.as_str() {
        return s.to_string();
    }
    if let Some(view) = value.downcast_object_ref::<DictView>() {
        return format!("dict_{}({})", view.kind, py_str(&Value::from(view.items.clone())));
    }
    match serde_json::to_value(value) {
        Ok(json) => pyliteral::py_str(&json),
        Err(_) => value.to_string(),
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

/// Python methods minijinja does not have (called for any method it does not know).
fn py_method(_state: &State, value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        return str_method(s, name, args);
    }
    match value.kind() {
        ValueKind::Seq => list_method(value, name, args),
        ValueKind::Map => dict_method(value, name, args),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// Python's `str.isspace` characters (Rust's list lacks the ASCII separators 0x1c-0x1f).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

fn strip_set(chars: Option<&str>) -> impl Fn(char) -> bool + '_ {
    move |c| match chars {
        Some(set) => set.contains(c),
        None => is_py_space(c),
    }
}

fn str_method(s: &str, name: &str, args: &[Value]) -> Result<Value, Error> {
    let text = |t: String| Ok(Value::from(t));
    match name {
        "strip" | "lstrip" | "rstrip" => {
            let (chars,): (Option<&str>,) = from_args(args)?;
            let set = strip_set(chars);
            let out = match name {
                "strip" => s.trim_matches(set),
                "lstrip" => s.trim_start_matches(set),
                _ => s.trim_end_matches(set),
            };
            text(out.to_string())
        }
        "upper" | "lower" | "capitalize" | "title" => {
            let () = from_args(args)?;
            text(match name {
                "upper" => s.to_uppercase(),
                "lower" => s.to_lowercase(),
                "capitalize" => capitalize(s),
                _ => title(s),
            })
        }
        "replace" => {
            let (old, new, count): (&str, &str, Option<i64>) = from_args(args)?;
            text(match count {
                Some(n) if n >= 0 => s.replacen(old, new, n as usize),
                _ => s.replace(old, new),
            })
        }
        "split" => {
            let (sep, maxsplit): (Option<&str>, Option<i64>) = from_args(args)?;
            let max = maxsplit.filter(|m| *m >= 0).map(|m| m as usize);
            let parts = match sep {
                Some("") => return Err(invalid("str.split: empty separator")),
                Some(sep) => match max {
                    Some(m) => s.splitn(m + 1, sep).map(str::to_string).collect(),
                    None => s.split(sep).map(str::to_string).collect(),
                },
                None => split_whitespace(s, max),
            };
            Ok(Value::from(parts))
        }
        "splitlines" => {
            let () = from_args(args)?;
            Ok(Value::from(s.lines().map(str::to_string).collect::<Vec<_>>()))
        }
        "startswith" | "endswith" => {
            let (affix,): (Value,) = from_args(args)?;
            // Python accepts a tuple of alternatives.
            let options: Vec<String> = match affix.as_str() {
                Some(a) => vec![a.to_string()],
                None => affix
                    .try_iter()?
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(|| invalid(format!("str.{name}: not a string: {v}"))))
                    .collect::<Result<_, _>>()?,
            };
            let hit = options.iter().any(|o| if name == "startswith" { s.starts_with(o.as_str()) } else { s.ends_with(o.as_str()) });
            Ok(Value::from(hit))
        }
        "join" => {
            let (items,): (Value,) = from_args(args)?;
            let parts = items
                .try_iter()?
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| invalid(format!("str.join: sequence item is not a string: {}", py_str(&v))))
                })
                .collect::<Result<Vec<_>, _>>()?;
            text(parts.join(s))
        }
        "format" => {
            let (positional, kwargs): (Rest<Value>, Kwargs) = from_args(args)?;
            text(format(s, &positional.0, &kwargs)?)
        }
        "find" | "index" => {
            let (sub,): (&str,) = from_args(args)?;
            match s.find(sub) {
                // Python counts characters, not bytes.
                Some(byte) => Ok(Value::from(s[..byte].chars().count())),
                None if name == "find" => Ok(Value::from(-1)),
                None => Err(invalid(format!("str.index: substring {} not found", pyliteral::str_repr(sub)))),
            }
        }
        "count" => {
            let (sub,): (&str,) = from_args(args)?;
            let n = if sub.is_empty() { s.chars().count() + 1 } else { s.matches(sub).count() };
            Ok(Value::from(n))
        }
        "isdigit" | "isalpha" | "isspace" => {
            let () = from_args(args)?;
            let test: fn(char) -> bool = match name {
                "isdigit" => |c| c.is_ascii_digit(),
                "isalpha" => char::is_alphabetic,
                _ => is_py_space,
            };
            Ok(Value::from(!s.is_empty() && s.chars().all(test)))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// `str.split()` with no separator: runs of whitespace, none at the ends; after `max` splits
/// the rest is kept whole (its leading whitespace dropped).
fn split_whitespace(s: &str, max: Option<usize>) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = s.trim_start_matches(is_py_space);
    while !rest.is_empty() {
        if max.is_some_and(|m| parts.len() == m) {
            parts.push(rest.to_string());
            break;
        }
        let end = rest.find(is_py_space).unwrap_or(rest.len());
        parts.push(rest[..end].to_string());
        rest = rest[end..].trim_start_matches(is_py_space);
    }
    parts
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.as_str().to_lowercase().chars()).collect(),
        None => String::new(),
    }
}

/// Python's `str.title`: a letter after a non-letter starts a word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        if prev_cased {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_cased = c.is_alphabetic();
    }
    out
}

/// `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}`; conversions and format specs are
/// refused rather than ignored.
fn format(template: &str, positional: &[Value], kwargs: &Kwargs) -> Result<String, Error> {
    let mut out = String::new();
    let mut auto = 0usize;
    let mut manual = false;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let field: String = chars.by_ref().take_while(|c| *c != '}').collect();
                if field.contains([':', '!', '[', '.']) {
                    return Err(invalid(format!("str.format: `{{{field}}}`: conversions, specs and lookups are not supported")));
                }
                if (field.is_empty() && manual) || (field.parse::<usize>().is_ok() && auto > 0) {
                    return Err(invalid("str.format: cannot mix automatic and manual field numbering"));
                }
                let value = if field.is_empty() {
                    auto += 1;
                    positional.get(auto - 1).cloned()
                } else if let Ok(i) = field.parse::<usize>() {
                    manual = true;
                    positional.get(i).cloned()
                } else {
                    kwargs.get::<Option<Value>>(&field)?
                };
                let value = value.ok_or_else(|| invalid(format!("str.format: no argument for `{{{field}}}`")))?;
                out.push_str(&py_str(&value));
            }
            '}' => return Err(invalid("str.format: single `}` in the format string")),
            c => out.push(c),
        }
    }
    kwargs.assert_all_used()?;
    Ok(out)
}

fn list_method(list: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    let (needle,): (Value,) = from_args(args)?;
    let items = list.try_iter()?;
    match name {
        "index" => items
            .into_iter()
            .position(|item| item == needle)
            .map(Value::from)
            .ok_or_else(|| invalid(format!("list.index: {} is not in list {}", py_repr(&needle), py_repr(list)))),
        "count" => Ok(Value::from(items.filter(|item| *item == needle).count())),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

fn dict_method(map: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    match name {
        "get" => {
            let (key, default): (Value, Option<Value>) = from_args(args)?;
            let found = map.get_item(&key)?;
            Ok(if found.is_undefined() { default.unwrap_or(Value::from(())) } else { found })
        }
        "keys" | "values" | "items" => {
            let () = from_args(args)?;
            let mut items = Vec::new();
            for key in map.try_iter()? {
                let value = map.get_item(&key)?;
                items.push(match name {
                    "keys" => key,
                    "values" => value,
                    _ => Value::from(vec![key, value]),
                });
            }
            let kind = match name {
                "keys" => "keys",
                "values" => "values",
                _ => "items",
            };
            Ok(Value::from_object(DictView { kind, items }))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// `dict.keys()` / `values()` / `items()`: a sequence that prints as Python's view does
/// (`dict_keys(['a', 'b'])`).
#[derive(Debug)]
struct DictView {
    kind: &'static str,
    items: Vec<Value>,
}

impl Object for DictView {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.items.get(key.as_usize()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items.len())
    }
}

/// Python's `repr()` of a template value (strings quoted).
fn py_repr(value: &Value) -> String {
    match value.as_str() {
        Some(s) => pyliteral::str_repr(s),
        None => py_str(value),
    }
}

/// Jinja2's `join`: `str()` of every item, joined.
fn join(value: Value, sep: Option<String>) -> Result<String, Error> {
    let parts: Vec<String> = value.try_iter()?.map(|v| py_str(&v)).collect();
    Ok(parts.join(sep.as_deref().unwrap_or("")))
}

thread_local! {
    static REGEXES: RefCell<HashMap<String, regex::Regex>> = RefCell::new(HashMap::new());
}

/// lm-eval's `regex_replace(string, pattern, repl, count=0)`: Python's `re.sub`. The pattern is
/// Python `re` syntax as far as Rust's `regex` accepts it (no look-around, no backreferences).
fn regex_replace(s: String, pattern: String, repl: String, count: Option<usize>) -> Result<String, Error> {
    let re = REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(re) = cache.get(&pattern) {
            return Ok(re.clone());
        }
        let re = regex::Regex::new(&pattern).map_err(|e| invalid(format!("regex_replace: pattern {pattern:?}: {e}")))?;
        cache.insert(pattern.clone(), re.clone());
        Ok::<_, Error>(re)
    })?;
    let replacement = python_replacement(&repl)?;
    Ok(re.replacen(&s, count.unwrap_or(0), replacement.as_str()).into_owned())
}

/// A Python `re.sub` replacement (`\1`, `\g<name>`, `\n`, `\\`) in `regex`'s syntax (`${1}`,
/// `$$` for a literal dollar).
fn python_replacement(repl: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(repl.len());
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = d.to_string();
                    if let Some(e) = chars.peek().filter(|e| e.is_ascii_digit()) {
                        group.push(*e);
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    if chars.next() != Some('<') {
                        return Err(invalid("regex_replace: `\\g` must be followed by `<group>`"));
                    }
                    let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(e) if e.is_ascii_alphabetic() => return Err(invalid(format!("regex_replace: bad escape `\\{e}` in the replacement"))),
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: serde_json::Value) -> Doc {
        v.as_object().expect("an object").clone()
    }

    fn r(source: &str, d: &serde_json::Value) -> String {
        render(source, &doc(d.clone())).unwrap_or_else(|e| panic!("{source:?}: {e}"))
    }

    #[test]
    fn fields_and_python_str_methods() {
        let d = json!({"question": "  What is 2+2?\n", "name": "ada lovelace", "csv": "a,b,,c", "ws": " x  y z "});
        assert_eq!(r("Question: {{question.strip()}}\nAnswer:", &d), "Question: What is 2+2?\nAnswer:");
        assert_eq!(r("[{{question.lstrip()}}|{{question.rstrip()}}]", &d), "[What is 2+2?\n|  What is 2+2?]");
        assert_eq!(
            r("{{ name.upper() }} {{ name.title() }} {{ name.capitalize() }} {{ 'ABC'.lower() }}", &d),
            "ADA LOVELACE Ada Lovelace Ada lovelace abc"
        );
        assert_eq!(r("{{ name.replace('a', 'o') }} {{ name.replace('a', 'o', 1) }}", &d), "odo loveloce oda lovelace");
        assert_eq!(
            r("{{ csv.split(',') }} {{ ws.split() }} {{ ws.split(None, 1) }}", &d),
            "['a', 'b', '', 'c'] ['x', 'y', 'z'] ['x', 'y z ']"
        );
        assert_eq!(r("{{ name.startswith('ada') }} {{ name.endswith(('x', 'ace')) }}", &d), "True True");
        assert_eq!(r("{{ ', '.join(csv.split(',')) }}", &d), "a, b, , c");
        assert_eq!(r("{{ '{} + {} = {x}'.format(1, 2, x='y') }} {{ '{1}{0}{{}}'.format('a', 'b') }}", &d), "1 + 2 = y ba{}");
        assert!(render("{{ '{} {0}'.format(1) }}", &doc(d.clone())).is_err());
        assert_eq!(
            r("{{ name.strip('ade') }} {{ name.find('love') }} {{ name.count('a') }} {{ '12'.isdigit() }}", &d),
            " lovelac 4 3 True"
        );
        assert_eq!(r("{{ question.strip()[:4] }}{{ name[-3:] }}{{ name[::-1][:3] }}", &d), "Whataceeca");
    }

    #[test]
    fn lists_and_dicts() {
        let d = json!({"choices": {"text": ["red", "green", "blue"], "label": ["A", "B", "C"]}, "answerKey": "B", "n": 2});
        assert_eq!(r("{{choices.label.index(answerKey)}}", &d), "1");
        assert_eq!(r("{{choices.text}}", &d), "['red', 'green', 'blue']");
        assert_eq!(
            r("{{choices.keys()}} {{choices.get('nope', 'dflt')}} {{choices.get('label')}}", &d),
            "dict_keys(['text', 'label']) dflt ['A', 'B', 'C']"
        );
        assert_eq!(r("{% for k, v in choices.items() %}{{k}}={{v|length}};{% endfor %}", &d), "text=3;label=3;");
        assert_eq!(r("{{ choices.values()|length }} {{ choices.text.count('red') }}", &d), "2 1");
        assert_eq!(r("{{ choices.text|join(', ') }} {{ [1, 2.5, none]|join('/') }}", &d), "red, green, blue 1/2.5/None");
        assert_eq!(r("{{ choices.text[n] }} {{ choices.text[-1] }} {{ choices.text[1:] }}", &d), "blue blue ['green', 'blue']");
        let err = render("{{choices.label.index('Z')}}", &doc(d)).unwrap_err();
        assert!(err.contains("'Z' is not in list ['A', 'B', 'C']"), "{err}");
    }

    #[test]
    fn values_print_as_python() {
        let d = json!({"flag": true, "nothing": null, "x": 1.0, "tiny": 0.00001, "big": 1e16, "i": 7, "q": ["it's", "say \"hi\"", "a\\b"]});
        assert_eq!(r("{{ flag }} {{ nothing }} {{ x }} {{ tiny }} {{ big }} {{ i }}", &d), "True None 1.0 1e-05 1e+16 7");
        assert_eq!(r("{{ q }}", &d), r#"["it's", 'say "hi"', 'a\\b']"#);
        assert_eq!(r(r#"{{ ["yes", "no"] }}"#, &d), "['yes', 'no']");
        assert_eq!(r("{{ [flag, nothing, i, x] }} {{ {'k': i} }}", &d), "[True, None, 7, 1.0] {'k': 7}");
        assert_eq!(r("{{ i / 2 }} {{ i // 2 }} {{ flag|string }}", &d), "3.5 3 True");
        // What a template printed reads back as the same value.
        assert_eq!(pyliteral::literal_eval(&r("{{ q }}", &d)).unwrap(), d["q"]);
    }

    #[test]
    fn regex_replace_is_re_sub() {
        let d = json!({"t": "The  cat [title] sat.  Done $5"});
        assert_eq!(r(r#"{{ t|regex_replace('\\s+', ' ') }}"#, &d), "The cat [title] sat. Done $5");
        assert_eq!(r(r#"{{ t|regex_replace(' \\[title\\]', '. ') }}"#, &d), "The  cat.  sat.  Done $5");
        assert_eq!(r(r#"{{ t|regex_replace('(\\w+) \\[(\\w+)\\]', '\\2-\\1') }}"#, &d), "The  title-cat sat.  Done $5");
        assert_eq!(r(r#"{{ t|regex_replace('\\s+', ' ', 1) }}"#, &d), "The cat [title] sat.  Done $5");
        assert_eq!(r(r#"{{ t|regex_replace('(?P<w>c\\w+)', '<\\g<w>>') }}"#, &d), "The  <cat> [title] sat.  Done $5");
        assert!(render(r#"{{ t|regex_replace('(', '') }}"#, &doc(d)).unwrap_err().contains("regex_replace"));
    }

    #[test]
    fn whitespace_and_newlines_kept() {
        let d = json!({"a": "x"});
        assert_eq!(r("{{a}}\n", &d), "x\n");
        assert_eq!(r("{% if a %}\n{{a}}\n{% endif %}\n", &d), "\nx\n\n");
        assert_eq!(r("{{a}}\r\nend", &d), "x\nend");
    }

    #[test]
    fn missing_field_is_named() {
        let d = doc(json!({"question": "q", "answer": "a"}));
        let err = render("Q: {{questoin}}", &d).unwrap_err();
        assert!(err.contains("no field `questoin`") && err.contains("`question`, `answer`"), "{err}");
        let err = render("{{ question.nope }}", &d).unwrap_err();
        assert!(err.contains("`question.nope` is undefined"), "{err}");
        let err = render("{% if missing %}x{% endif %}", &d).unwrap_err();
        assert!(err.contains("missing"), "{err}");
        assert!(render("{{ question.frobnicate() }}", &d).is_err());
    }

    #[test]
    fn syntax_errors_and_cache() {
        assert!(check("{{ a }}").is_ok());
        let err = check("line one\n{{ a ").unwrap_err();
        assert!(err.contains("syntax error") && err.contains("line 2"), "{err}");
        let mut t = Templates::new();
        let d = doc(json!({"a": 1}));
        for _ in 0..3 {
            assert_eq!(t.render("{{ a + 1 }}", &d).unwrap(), "2");
        }
        assert_eq!(t.env.templates().count(), 1);
    }
}
