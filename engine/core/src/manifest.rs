//! Manifests: TOML with `[vars]` + `${vars.x}` interpolation, `--set dotted.path=value`
//! overrides and `[matrix]` expansion of templated table names. Errors name FILE:LINE:COL and the
//! key, or the `--set` that wrote the value; the span map behind them is built only when an error
//! is reported, so that planning an unchanged 1000-stage manifest stays fast.
//!
//! `--set` never adds a key silently: under `vars` and `matrix` it only changes keys the manifest
//! has; elsewhere it may add a key to a table the manifest has (an optional field its author left
//! out) or add a top-level section, and the reader of that table, which knows its fields, rejects
//! an unknown one in the override's name.

use std::collections::HashMap;
use std::fmt::{self, Display};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::location::Location;
use crate::suggest::did_you_mean;

/// An error in a manifest, pointing at the key it is about.
#[derive(Debug, Clone)]
pub struct ManifestError {
    pub location: Option<Location>,
    /// The `--set KEY=VALUE` that wrote the value the error is about (then `location` is None).
    pub set: Option<String>,
    /// Dotted path of the key, when the error is about one.
    pub key: Option<String>,
    pub message: String,
}

impl ManifestError {
    pub fn new(location: Option<Location>, key: Option<String>, message: impl Display) -> Self {
        ManifestError { location, set: None, key, message: message.to_string() }
    }

    /// An error about what the override `text` (`KEY=VALUE`) wrote.
    pub fn of_override(text: &str, key: Option<String>, message: impl Display) -> Self {
        ManifestError { location: None, set: Some(text.to_string()), key, message: message.to_string() }
    }
}

impl Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        if let Some(text) = &self.set {
            write!(f, "--set {text}: ")?;
        }
        match &self.key {
            // "--set a.b=1: the manifest has no `a.b`" says it once.
            Some(key) if self.set.is_some() && self.message.contains(&format!("`{key}`")) => {}
            Some(key) => write!(f, "key `{key}`: ")?,
            None => {}
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ManifestError {}

pub struct Manifest {
    path: PathBuf,
    dir: PathBuf,
    source: String,
    root: Table,
    name: String,
    /// Expanded table path -> the template path it came from (`adapters.gsm8k` -> `adapters.{benchmark}`).
    aliases: HashMap<String, String>,
    /// Parsed lazily, only to locate keys for error messages.
    spans: OnceLock<Option<toml_edit::Document<String>>>,
    /// The `--set` overrides applied, in order.
    overrides: Vec<Override>,
}

/// One applied `--set`, so that errors about what it wrote name it instead of a manifest line.
#[derive(Debug, Clone)]
struct Override {
    path: Vec<String>,
    /// `KEY=VALUE` as given.
    text: String,
    /// How many leading segments of `path` the manifest had before the override.
    existed: usize,
}

impl Override {
    /// Whether the value at `path` was written by this override: it is at or under the
    /// override's key, or a table the override created on the way there.
    fn wrote(&self, path: &[&str]) -> bool {
        let common = self.path.iter().zip(path).take_while(|(a, b)| a == *b).count();
        common == self.path.len() || (common == path.len() && path.len() > self.existed)
    }
}

impl fmt::Debug for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manifest").field("path", &self.path).field("name", &self.name).finish()
    }
}

const CORE_SECTIONS: [&str; 6] = ["experiment", "vars", "matrix", "stages", "executor", "cache"];

impl Manifest {
    /// Reads `path` and applies `overrides` (`dotted.path=value`, the value parsed as TOML, else a string).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Manifest, ManifestError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ManifestError::new(None, None, format!("cannot read manifest {}: {e}", path.display())))?;
        Self::from_source(path, source, overrides)
    }

    /// Like `load`, with the text already in hand (`path` is used for messages and relative paths).
    pub fn from_source(path: &Path, source: String, overrides: &[String]) -> Result<Manifest, ManifestError> {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        let root: Table = match toml::from_str(&source) {
            Ok(t) => t,
            Err(e) => {
                let loc = e.span().map(|s| location_of(path, &source, s.start));
                return Err(ManifestError::new(loc, None, e.message().trim()));
            }
        };
        let mut m = Manifest {
            path: path.to_path_buf(),
            dir,
            source,
            root,
            name: String::new(),
            aliases: HashMap::new(),
            spans: OnceLock::new(),
            overrides: Vec::new(),
        };
        let parsed: Vec<(Vec<String>, Value, &String)> =
            overrides.iter().map(|o| parse_override(o).map(|(p, v)| (p, v, o))).collect::<Result<_, _>>()?;
        // Overrides of vars and matrix come first: they feed interpolation and expansion.
        let (early, late): (Vec<_>, Vec<_>) = parsed.into_iter().partition(|(p, _, _)| p[0] == "vars" || p[0] == "matrix");
        for (p, v, text) in early {
            let existed = set_path(&mut m.root, &p, v, true).map_err(|e| ManifestError::of_override(text, None, e))?;
            m.overrides.push(Override { path: p, text: text.clone(), existed });
        }
        m.interpolate_vars()?;
        m.expand_matrix()?;
        for (p, v, text) in late {
            let existed = set_path(&mut m.root, &p, v, false).map_err(|e| ManifestError::of_override(text, None, e))?;
            m.overrides.push(Override { path: p, text: text.clone(), existed });
        }
        m.name = m.read_experiment_name()?;
        Ok(m)
    }

    /// `[experiment] name`, or the file stem when absent.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The manifest's directory, for resolving relative paths.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole document after vars, overrides and matrix expansion.
    pub fn root(&self) -> &Table {
        &self.root
    }

    /// The value at a dotted path (after vars/overrides/matrix).
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut v = self.root.get(*first)?;
        for seg in rest {
            v = match v {
                Value::Table(t) => t.get(*seg)?,
                Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(v)
    }

    /// Keys of a table in file order (empty when the path is no table).
    pub fn table_keys(&self, path: &[&str]) -> Vec<String> {
        let table = if path.is_empty() { Some(&self.root) } else { self.get(path).and_then(Value::as_table) };
        table.map(|t| t.keys().cloned().collect()).unwrap_or_default()
    }

    /// Deserialises the value at `path`; unknown fields and type errors become errors at their key,
    /// with a "did you mean" for misspelt fields. A missing path deserialises an empty table.
    pub fn deserialize<T: DeserializeOwned>(&self, path: &[&str]) -> Result<T, ManifestError> {
        let value = self.get(path).cloned().unwrap_or_else(|| Value::Table(Table::new()));
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let mut full: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            for seg in e.path().iter() {
                match seg {
                    serde_path_to_error::Segment::Map { key } => full.push(key.clone()),
                    serde_path_to_error::Segment::Seq { index } => full.push(index.to_string()),
                    _ => {}
                }
            }
            let inner = e.into_inner();
            let message = inner.message().trim().to_string();
            if let Some((field, suggestion)) = unknown_field_suggestion(&message) {
                if full.last() != Some(&field) {
                    full.push(field.clone());
                }
                let refs: Vec<&str> = full.iter().map(String::as_str).collect();
                if let Some(o) = self.override_of(&refs).filter(|o| o.path.len() > o.existed) {
                    // A key the manifest does not have and the table's schema does not know.
                    let parent = full[..full.len() - 1].join(".");
                    let hint = suggestion.map(|s| format!(" (did you mean `{parent}.{s}`?)")).unwrap_or_default();
                    return ManifestError::of_override(
                        &o.text,
                        Some(full.join(".")),
                        format!("the manifest has no `{}`{hint}", full.join(".")),
                    );
                }
                let hint = match suggestion {
                    Some(s) => format!("unknown key `{field}` (did you mean `{s}`?)"),
                    None => format!("unknown key `{field}`"),
                };
                return self.error(&refs, hint);
            }
            let refs: Vec<&str> = full.iter().map(String::as_str).collect();
            self.error(&refs, message)
        })
    }

    /// An error about the key at `path`: "FILE:LINE:COL: key `a.b`: msg", or "--set KEY=VALUE:
    /// key `a.b`: msg" when an override wrote the value there.
    pub fn error(&self, path: &[&str], msg: impl Display) -> ManifestError {
        let key = if path.is_empty() { None } else { Some(path.join(".")) };
        match self.override_of(path) {
            Some(o) => ManifestError::of_override(&o.text, key, msg),
            None => ManifestError::new(Some(self.locate(path)), key, msg),
        }
    }

    /// The last override that wrote the value at `path`.
    fn override_of(&self, path: &[&str]) -> Option<&Override> {
        self.overrides.iter().rev().find(|o| !path.is_empty() && o.wrote(path))
    }

    /// Where the key at `path` is written (for an expanded matrix table: its template; for a key
    /// that exists only through `--set`: its closest written ancestor).
    pub fn locate(&self, path: &[&str]) -> Location {
        let mut segs: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        for n in (1..=segs.len()).rev() {
            if let Some(template) = self.aliases.get(&segs[..n].join("\u{1f}")) {
                let mut t: Vec<String> = template.split('\u{1f}').map(str::to_string).collect();
                t.extend(segs.drain(n..));
                segs = t;
                break;
            }
        }
        let offset = self.span_offset(&segs).unwrap_or(0);
        location_of(&self.path, &self.source, offset)
    }

    fn span_offset(&self, path: &[String]) -> Option<usize> {
        let doc = self.spans.get_or_init(|| toml_edit::Document::parse(self.source.clone()).ok()).as_ref()?;
        let mut best = None;
        let mut item: Option<toml_edit::Item> = None;
        let mut table: &toml_edit::Table = doc.as_table();
        // Walk tables by reference as long as possible; values inside inline tables/arrays by clone.
        let mut idx = 0;
        while idx < path.len() {
            let seg = &path[idx];
            match table.get(seg) {
                Some(next) => {
                    best = table.key(seg).and_then(|k| k.span()).or_else(|| next.span()).or(best);
                    idx += 1;
                    match next {
                        toml_edit::Item::Table(t) => table = t,
                        other => {
                            item = Some(other.clone());
                            break;
                        }
                    }
                }
                None => return best.map(|s: std::ops::Range<usize>| s.start),
            }
        }
        let mut cur = item;
        while idx < path.len() {
            let seg = &path[idx];
            let next = match cur.as_ref() {
                Some(toml_edit::Item::Value(toml_edit::Value::InlineTable(t))) => {
                    best = t.key(seg).and_then(|k| k.span()).or(best);
                    t.get(seg).cloned().map(toml_edit::Item::Value)
                }
                Some(toml_edit::Item::Value(toml_edit::Value::Array(a))) => {
                    seg.parse::<usize>().ok().and_then(|i| a.get(i)).cloned().map(toml_edit::Item::Value)
                }
                Some(toml_edit::Item::ArrayOfTables(a)) => {
                    seg.parse::<usize>().ok().and_then(|i| a.get(i)).cloned().map(toml_edit::Item::Table)
                }
                Some(toml_edit::Item::Table(t)) => {
                    best = t.key(seg).and_then(|k| k.span()).or(best);
                    t.get(seg).cloned()
                }
                _ => None,
            };
            match next {
                Some(n) => {
                    best = n.span().map(|s| s.start..s.end).or(best);
                    cur = Some(n);
                }
                None => break,
            }
            idx += 1;
        }
        best.map(|s| s.start)
    }

    /// Rejects top-level keys no one owns (core's own plus the planners' `owned`).
    pub fn check_sections(&self, owned: &[&str]) -> Result<(), ManifestError> {
        let known: Vec<&str> = CORE_SECTIONS.iter().chain(owned.iter()).copied().collect();
        for key in self.root.keys() {
            if !known.contains(&key.as_str()) {
                let hint = match did_you_mean(key, &known) {
                    Some(s) => format!("unknown top-level key `{key}` (did you mean `{s}`?)"),
                    None => format!("unknown top-level key `{key}`; known: {}", known.join(", ")),
                };
                return Err(self.error(&[key.as_str()], hint));
            }
        }
        Ok(())
    }

    fn read_experiment_name(&self) -> Result<String, ManifestError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Experiment {
            name: Option<String>,
            seed: Option<i64>,
            description: Option<String>,
            /// Run folder, relative to the working directory.
            out: Option<String>,
        }
        let exp: Experiment = self.deserialize(&["experiment"])?;
        Ok(exp
            .name
            .unwrap_or_else(|| self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "experiment".into())))
    }

    fn interpolate_vars(&mut self) -> Result<(), ManifestError> {
        let vars = match self.root.get("vars") {
            Some(Value::Table(t)) => t.clone(),
            Some(_) => return Err(self.error(&["vars"], "expected a table")),
            None => Table::new(),
        };
        let keys: Vec<String> = self.root.keys().filter(|k| *k != "vars").cloned().collect();
        for key in keys {
            let mut path = vec![key.clone()];
            let mut value = self.root.remove(&key).expect("key listed above");
            let result = interpolate(&mut value, &vars, &mut path);
            self.root.insert(key, value);
            if let Err((path, msg)) = result {
                let refs: Vec<&str> = path.iter().map(String::as_str).collect();
                return Err(self.error(&refs, msg));
            }
        }
        Ok(())
    }

    fn expand_matrix(&mut self) -> Result<(), ManifestError> {
        let matrix: Vec<(String, Vec<String>)> = match self.root.get("matrix") {
            None => return Ok(()),
            Some(Value::Table(t)) => {
                let mut out = Vec::new();
                for (k, v) in t {
                    let Value::Array(items) = v else {
                        return Err(self.error(&["matrix", k], "expected an array of values"));
                    };
                    let mut texts = Vec::new();
                    for it in items {
                        match scalar_text(it) {
                            Some(s) => texts.push(s),
                            None => return Err(self.error(&["matrix", k], "matrix values must be strings, numbers or booleans")),
                        }
                    }
                    out.push((k.clone(), texts));
                }
                out
            }
            Some(_) => return Err(self.error(&["matrix"], "expected a table")),
        };
        if matrix.is_empty() {
            return Ok(());
        }
        let mut root = std::mem::take(&mut self.root);
        let mut aliases = HashMap::new();
        let result = expand_table(&mut root, &matrix, &mut vec![], &mut vec![], &mut aliases);
        self.root = root;
        self.aliases = aliases;
        result.map_err(|(path, msg)| {
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            self.error(&refs, msg)
        })
    }
}

fn location_of(file: &Path, source: &str, offset: usize) -> Location {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = source[line_start..offset].chars().count() + 1;
    Location { file: file.to_path_buf(), line, col }
}

/// `a.b.c=value` -> (["a","b","c"], value parsed as TOML, else the raw string).
fn parse_override(text: &str) -> Result<(Vec<String>, Value), ManifestError> {
    let Some((path, raw)) = text.split_once('=') else {
        return Err(ManifestError::of_override(text, None, "expected KEY=VALUE"));
    };
    let path: Vec<String> = path.trim().split('.').map(|s| s.trim().trim_matches('"').to_string()).collect();
    if path.iter().any(String::is_empty) {
        return Err(ManifestError::of_override(text, None, "empty key segment"));
    }
    let value = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((path, value))
}

/// Writes `value` at `path`; returns how many leading segments of `path` existed. `existing_only`
/// (vars, matrix): the whole path must exist. Otherwise a new key may go into a table the
/// manifest has, or be a new top-level section with one key; a deeper new path is most likely a
/// misspelt table name, and would silently plan something else.
fn set_path(root: &mut Table, path: &[String], value: Value, existing_only: bool) -> Result<usize, String> {
    let mut existed = 0;
    let mut table: &Table = root;
    while existed < path.len() {
        match table.get(&path[existed]) {
            Some(Value::Table(t)) => table = t,
            Some(_) if existed + 1 < path.len() => return Err(format!("`{}` is not a table", path[..=existed].join("."))),
            Some(_) => {}
            None => break,
        }
        existed += 1;
    }
    let allowed = existed == path.len() || (!existing_only && (existed + 1 == path.len() || (existed == 0 && path.len() == 2)));
    if !allowed {
        let known: Vec<&str> = table.keys().map(String::as_str).collect();
        let prefix = |s: &str| path[..existed].iter().map(String::as_str).chain([s]).collect::<Vec<_>>().join(".");
        let hint = match did_you_mean(&path[existed], &known) {
            Some(s) => format!(" (did you mean `{}`?)", prefix(s)),
            None if existed > 0 && !known.is_empty() && known.len() <= 12 => {
                format!("; `{}` has {}", path[..existed].join("."), known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))
            }
            None => String::new(),
        };
        return Err(format!("the manifest has no `{}`{hint}", prefix(&path[existed])));
    }
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut table = root;
    for seg in parents {
        let entry = table.entry(seg.clone()).or_insert_with(|| Value::Table(Table::new()));
        table = entry.as_table_mut().expect("checked above: every parent is a table");
    }
    table.insert(last.clone(), value);
    Ok(existed)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

type PathError = (Vec<String>, String);

/// Replaces `${vars.x}` in every string; a string that is exactly one reference takes the var's type.
fn interpolate(value: &mut Value, vars: &Table, path: &mut Vec<String>) -> Result<(), PathError> {
    match value {
        Value::String(s) if s.contains("${") => {
            let lookup = |name: &str| -> Result<Value, PathError> {
                let mut cur: Option<&Value> = None;
                for (i, seg) in name.split('.').enumerate() {
                    cur = if i == 0 {
                        if seg != "vars" {
                            return Err((path.clone(), format!("`${{{name}}}`: only `${{vars.NAME}}` can be interpolated")));
                        }
                        None
                    } else if i == 1 {
                        vars.get(seg)
                    } else {
                        cur.and_then(|v| v.as_table()).and_then(|t| t.get(seg))
                    };
                    if i >= 1 && cur.is_none() {
                        let known: Vec<&str> = vars.keys().map(String::as_str).collect();
                        let hint = did_you_mean(seg, &known).map(|s| format!(" (did you mean `vars.{s}`?)")).unwrap_or_default();
                        return Err((path.clone(), format!("`${{{name}}}` is not defined{hint}")));
                    }
                }
                cur.cloned().ok_or_else(|| (path.clone(), format!("`${{{name}}}` names no variable")))
            };
            let trimmed = s.trim();
            if trimmed.starts_with("${") && trimmed.ends_with('}') && trimmed.matches("${").count() == 1 {
                *value = lookup(&trimmed[2..trimmed.len() - 1])?;
                return Ok(());
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let Some(end) = rest[start..].find('}') else {
                    return Err((path.clone(), "unterminated `${`".to_string()));
                };
                let name = &rest[start + 2..start + end];
                let v = lookup(name)?;
                match scalar_text(&v) {
                    Some(t) => out.push_str(&t),
                    None => return Err((path.clone(), format!("`${{{name}}}` is a table or array and cannot be part of a string"))),
                }
                rest = &rest[start + end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                path.push(k.clone());
                interpolate(v, vars, path)?;
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                path.push(i.to_string());
                interpolate(v, vars, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// Matrix variable names referenced as `{name}` in `key`.
fn placeholders<'a>(key: &str, matrix: &'a [(String, Vec<String>)]) -> Vec<&'a (String, Vec<String>)> {
    matrix.iter().filter(|(name, _)| key.contains(&format!("{{{name}}}"))).collect()
}

fn substitute_text(text: &str, binding: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (name, val) in binding {
        out = out.replace(&format!("{{{name}}}"), val);
    }
    out
}

fn substitute_value(value: &mut Value, binding: &[(&str, &str)]) {
    match value {
        Value::String(s) => *s = substitute_text(s, binding),
        Value::Array(a) => a.iter_mut().for_each(|v| substitute_value(v, binding)),
        Value::Table(t) => {
            let old = std::mem::take(t);
            for (k, mut v) in old {
                substitute_value(&mut v, binding);
                t.insert(substitute_text(&k, binding), v);
            }
        }
        _ => {}
    }
}

/// Expands every key holding `{matrix_var}` into one entry per value (the cartesian product when a
/// key names several), keeping file order; records expanded path -> template path in `aliases`.
fn expand_table(
    table: &mut Table,
    matrix: &[(String, Vec<String>)],
    path: &mut Vec<String>,
    template_path: &mut Vec<String>,
    aliases: &mut HashMap<String, String>,
) -> Result<(), PathError> {
    let at_top = path.is_empty();
    let old = std::mem::take(table);
    for (key, mut value) in old {
        if at_top && (key == "matrix" || key == "vars") {
            table.insert(key, value);
            continue;
        }
        let used = placeholders(&key, matrix);
        if used.is_empty() {
            path.push(key.clone());
            template_path.push(key.clone());
            if let Value::Table(t) = &mut value {
                expand_table(t, matrix, path, template_path, aliases)?;
            }
            path.pop();
            template_path.pop();
            table.insert(key, value);
            continue;
        }
        // Cartesian product over the referenced variables.
        let mut combos: Vec<Vec<(&str, &str)>> = vec![vec![]];
        for (name, values) in &used {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((name.as_str(), v.as_str()));
                        c
                    })
                })
                .collect();
        }
        for binding in combos {
            let new_key = substitute_text(&key, &binding);
            let mut v = value.clone();
            substitute_value(&mut v, &binding);
            path.push(new_key.clone());
            template_path.push(key.clone());
            if table.contains_key(&new_key) {
                return Err((template_path.clone(), format!("matrix expansion gives `{new_key}`, which is already declared")));
            }
            aliases.insert(path.join("\u{1f}"), template_path.join("\u{1f}"));
            if let Value::Table(t) = &mut v {
                expand_table(t, matrix, path, template_path, aliases)?;
            }
            path.pop();
            template_path.pop();
            table.insert(new_key, v);
        }
    }
    Ok(())
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`" into (x, closest expected).
fn unknown_field_suggestion(message: &str) -> Option<(String, Option<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, tail) = rest.split_once('`')?;
    let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    Some((field.to_string(), did_you_mean(field, &expected).map(str::to_string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str, sets: &[&str]) -> Result<Manifest, ManifestError> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Manifest::from_source(Path::new("m.toml"), src.to_string(), &sets)
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Spec {
        cmd: String,
        #[serde(default)]
        outs: Vec<String>,
    }

    #[test]
    fn unknown_field_names_line_and_suggestion() {
        let m = load("[experiment]\nname = \"x\"\n\n[stages.a]\ncmdd = \"true\"\ncmd = \"true\"\n", &[]).unwrap();
        let e = m.deserialize::<Spec>(&["stages", "a"]).unwrap_err().to_string();
        assert!(e.starts_with("m.toml:5:1: key `stages.a.cmdd`"), "{e}");
        assert!(e.contains("did you mean `cmd`"), "{e}");
    }

    #[test]
    fn type_error_points_at_value_key() {
        let m = load("[stages.a]\ncmd = \"x\"\nouts = [1]\n", &[]).unwrap();
        let e = m.deserialize::<Spec>(&["stages", "a"]).unwrap_err().to_string();
        assert!(e.starts_with("m.toml:3:"), "{e}");
        assert!(e.contains("stages.a.outs"), "{e}");
    }

    #[test]
    fn vars_overrides_and_interpolation() {
        let src =
            "[vars]\nlr = 1\nname = \"n\"\n[stages.a]\ncmd = \"run ${vars.name} --lr ${vars.lr}\"\nparams = { lr = \"${vars.lr}\" }\n";
        let m = load(src, &["vars.lr=2e-4", "stages.a.params.extra=hello world"]).unwrap();
        assert_eq!(m.get(&["stages", "a", "cmd"]).unwrap().as_str(), Some("run n --lr 0.0002"));
        assert_eq!(m.get(&["stages", "a", "params", "lr"]).unwrap().as_float(), Some(2e-4));
        assert_eq!(m.get(&["stages", "a", "params", "extra"]).unwrap().as_str(), Some("hello world"));
        let e = load("[stages.a]\ncmd = \"${vars.nope}\"\n", &[]).unwrap_err().to_string();
        assert!(e.contains("m.toml:2:1") && e.contains("vars.nope"), "{e}");
    }

    #[test]
    fn set_of_a_misspelt_var_is_an_error_with_a_suggestion() {
        let src = "[vars]\nn_train = 48\nn_test = 12\n[stages.a]\ncmd = \"run ${vars.n_train}\"\n";
        let e = load(src, &["vars.n_trian=5"]).unwrap_err().to_string();
        assert_eq!(e, "--set vars.n_trian=5: the manifest has no `vars.n_trian` (did you mean `vars.n_train`?)");
        let e = load(src, &["vars.zzz=5"]).unwrap_err().to_string();
        assert_eq!(e, "--set vars.zzz=5: the manifest has no `vars.zzz`; `vars` has `n_train`, `n_test`");
        // Matrix values too: only what the manifest declares.
        let e = load("[matrix]\nbench = [\"a\"]\n", &["matrix.bnech=[\"b\"]"]).unwrap_err().to_string();
        assert!(e.starts_with("--set matrix.bnech=[\"b\"]: ") && e.contains("did you mean `matrix.bench`"), "{e}");
        let m = load(src, &["vars.n_train=5"]).unwrap();
        assert_eq!(m.get(&["stages", "a", "cmd"]).unwrap().as_str(), Some("run 5"));
    }

    #[test]
    fn set_of_a_key_the_table_schema_does_not_know_is_an_error_naming_the_override() {
        let src = "[stages.a]\ncmd = \"x\"\n";
        let m = load(src, &["stages.a.outz=[\"o\"]"]).unwrap();
        let e = m.deserialize::<Spec>(&["stages", "a"]).unwrap_err();
        assert!(e.location.is_none() && e.set.as_deref() == Some("stages.a.outz=[\"o\"]"), "{e:?}");
        assert_eq!(e.to_string(), "--set stages.a.outz=[\"o\"]: the manifest has no `stages.a.outz` (did you mean `stages.a.outs`?)");
    }

    #[test]
    fn set_may_add_an_optional_key_the_author_left_out_or_a_section() {
        let src = "[stages.a]\ncmd = \"x\"\n";
        let m = load(src, &["stages.a.outs=[\"o\"]", "executor.jobs=2"]).unwrap();
        let spec: Spec = m.deserialize(&["stages", "a"]).unwrap();
        assert_eq!(spec.outs, vec!["o".to_string()]);
        assert_eq!(m.get(&["executor", "jobs"]).unwrap().as_integer(), Some(2));
        m.check_sections(&[]).unwrap();
        // A new section with a misspelt name: the section check names the override.
        let m = load(src, &["executr.jobs=2"]).unwrap();
        let e = m.check_sections(&[]).unwrap_err().to_string();
        assert!(e.starts_with("--set executr.jobs=2: ") && e.contains("did you mean `executor`"), "{e}");
    }

    #[test]
    fn set_below_a_table_the_manifest_lacks_is_an_error() {
        let src = "[stages.train]\ncmd = \"x\"\n";
        let e = load(src, &["stages.trian.cmd=y"]).unwrap_err().to_string();
        assert_eq!(e, "--set stages.trian.cmd=y: the manifest has no `stages.trian` (did you mean `stages.train`?)");
        let e = load(src, &["stages.train.cmd.x=1"]).unwrap_err().to_string();
        assert_eq!(e, "--set stages.train.cmd.x=1: `stages.train.cmd` is not a table");
        let e = load(src, &["nothing"]).unwrap_err().to_string();
        assert_eq!(e, "--set nothing: expected KEY=VALUE");
    }

    #[test]
    fn type_errors_in_overridden_values_name_the_override() {
        let src = "[stages.a]\ncmd = \"x\"\nouts = [\"o\"]\n";
        // A key the manifest has, given a value of the wrong type.
        let m = load(src, &["stages.a.outs=[1]"]).unwrap();
        let e = m.deserialize::<Spec>(&["stages", "a"]).unwrap_err().to_string();
        assert!(e.starts_with("--set stages.a.outs=[1]: key `stages.a.outs.0`: invalid type"), "{e}");
        // A key it lacks, likewise.
        let m = load("[stages.a]\ncmd = \"x\"\n", &["stages.a.outs=3"]).unwrap();
        let e = m.deserialize::<Spec>(&["stages", "a"]).unwrap_err().to_string();
        assert!(e.starts_with("--set stages.a.outs=3: key `stages.a.outs`: invalid type"), "{e}");
        // Errors about keys no override touched still point at the manifest.
        let m = load("[stages.a]\ncmd = 1\nouts = [\"o\"]\n", &["stages.a.outs=[\"p\"]"]).unwrap();
        let e = m.deserialize::<Spec>(&["stages", "a"]).unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:"), "{e}");
    }

    #[test]
    fn matrix_expands_tables_in_order_and_errors_point_at_template() {
        let src = "[matrix]\nb = [\"gsm8k\", \"mmlu\"]\n\n[adapters.first]\ndata = []\n\n[adapters.\"{b}\"]\ndata = [\"{b}\"]\n";
        let m = load(src, &[]).unwrap();
        assert_eq!(m.table_keys(&["adapters"]), vec!["first", "gsm8k", "mmlu"]);
        assert_eq!(m.get(&["adapters", "mmlu", "data", "0"]).unwrap().as_str(), Some("mmlu"));
        let e = m.error(&["adapters", "mmlu", "data"], "bad");
        assert_eq!(e.location.unwrap().line, 8);
    }

    #[test]
    fn parse_errors_and_unknown_sections() {
        let e = load("[a]\nx = \n", &[]).unwrap_err().to_string();
        assert!(e.starts_with("m.toml:2:"), "{e}");
        let m = load("[experiment]\nname = \"x\"\n[stagse.a]\ncmd = \"\"\n", &[]).unwrap();
        let e = m.check_sections(&[]).unwrap_err().to_string();
        assert!(e.contains("m.toml:3:") && e.contains("did you mean `stages`"), "{e}");
    }
}
