//! Filter pipelines: a generated response -> the answer the metrics compare, step by step as
//! lm-eval's filters do (`regex`, `take_first`, `lowercase`, `uppercase`, `remove_whitespace`),
//! plus syco's `first_number` / `last_number` / `strip`, and the option letter of letter-scored
//! multiple choice.
//!
//! Patterns are Python `re` patterns run by Rust's `regex`: the syntax they share means the same,
//! Python's own spellings are respelled (`translate`), matches are enumerated as `re.findall` /
//! `re.sub` enumerate them, and a pattern Rust cannot compile (look-around, back-references) is
//! an error naming it. Known difference: Python's `$`
//! also matches before a final `\n`; here it matches only at the very end.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::spec::{FilterPipeline, FilterStep, OutputType, TaskSpec};
use crate::TaskError;

/// Python's `str.isspace()`: Unicode `White_Space` plus U+001C..U+001F, which CPython also
/// counts as whitespace.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// A Python `re` pattern compiled for Rust's `regex`.
#[derive(Debug, Clone)]
pub struct PyRegex {
    re: Regex,
    groups: usize,
}

/// One `re.findall` element: the whole match (no groups), the group (one group; `""` when it
/// did not take part), or every group (several; `""` for those that did not take part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Text(String),
    Groups(Vec<String>),
}

impl PyRegex {
    /// Compiles `pattern`; the error is the reason Rust's `regex` gives (one line).
    pub fn new(pattern: &str) -> Result<Self, String> {
        let re = Regex::new(&translate(pattern)).map_err(|e| {
            let text = e.to_string();
            // The parser's message repeats the pattern with a caret; its last line is the reason.
            text.lines().rev().find(|l| l.starts_with("error:")).map_or(text.clone(), |l| l.trim_start_matches("error: ").to_string())
        })?;
        let groups = re.captures_len() - 1;
        Ok(PyRegex { re, groups })
    }

    /// The matches in the order and with the empty matches Python's `finditer` yields: after a
    /// non-empty match an empty one may follow at its end (Rust's iterator skips it); after an
    /// empty match the next must not be empty at the same place. Where Python would then retry
    /// the pattern's other alternatives at that place (a lazy `a*?`, `|a`), this moves one
    /// character on instead.
    fn matches<'h>(&self, text: &'h str) -> Vec<Captures<'h>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut after_empty = false;
        while pos <= text.len() {
            let Some(c) = self.re.captures_at(text, pos) else { break };
            let m = c.get(0).expect("group 0 always takes part");
            if after_empty && m.is_empty() && m.start() == pos {
                match text[pos..].chars().next() {
                    Some(ch) => pos += ch.len_utf8(),
                    None => break,
                }
                after_empty = false;
                continue;
            }
            pos = m.end();
            after_empty = m.is_empty();
            out.push(c);
        }
        out
    }

    /// Python's `re.findall(pattern, text)`.
    pub fn findall(&self, text: &str) -> Vec<Found> {
        let group = |c: &Captures, i: usize| c.get(i).map_or("", |m| m.as_str()).to_string();
        self.matches(text)
            .iter()
            .map(|c| match self.groups {
                0 => Found::Text(group(c, 0)),
                1 => Found::Text(group(c, 1)),
                n => Found::Groups((1..=n).map(|i| group(c, i)).collect()),
            })
            .collect()
    }

    /// Python's `re.sub(pattern, "", text)`.
    pub fn remove(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for c in self.matches(text) {
            let m = c.get(0).expect("group 0 always takes part");
            out.push_str(&text[last..m.start()]);
            last = m.end();
        }
        out.push_str(&text[last..]);
        out
    }
}

/// Python's reading of a pattern, spelled for Rust's `regex`:
/// - `\Z` (the very end) is Rust's `\z`;
/// - a `{` that does not open a Python quantifier (`{m}`, `{m,n}`, `{,n}`, `{m,}`, `{,}`) is a
///   literal brace ("\boxed{", "a{}", "a{ 2}"), and `{,n}` is `{0,n}`;
/// - in a character class, `[`, `&` and `~` are literal characters (Rust reads nested classes
///   and `&&` / `~~` set operations there).
fn translate(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    // Inside a class: the index of its first member (a `]` there is a literal).
    let mut class: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        match (c, class) {
            ('\\', _) => {
                out.push('\\');
                match chars.get(i + 1) {
                    Some('Z') if class.is_none() => out.push('z'),
                    Some(&next) => out.push(next),
                    None => {}
                }
                i += 2;
                continue;
            }
            ('[', None) => {
                out.push('[');
                let first = if chars.get(i + 1) == Some(&'^') { i + 2 } else { i + 1 };
                if first == i + 2 {
                    out.push('^');
                }
                class = Some(first);
                i = first;
                continue;
            }
            (']', Some(first)) if i > first => {
                out.push(']');
                class = None;
            }
            ('[' | '&' | '~', Some(_)) => {
                out.push('\\');
                out.push(c);
            }
            ('{', None) => match quantifier(&chars[i + 1..]) {
                Some((lo, hi, len)) => {
                    out.push_str(&format!("{{{}{}}}", if lo.is_empty() { "0" } else { &lo }, hi));
                    i += 1 + len;
                    continue;
                }
                None => out.push_str("\\{"),
            },
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// After a `{`: Python's quantifier body `digits* (, digits*)? }` (not `}` alone), as the lower
/// bound, the rest (`""`, `",n"` or `","`) and the number of characters through the `}`.
fn quantifier(rest: &[char]) -> Option<(String, String, usize)> {
    if rest.first() == Some(&'}') {
        return None;
    }
    let digits = |from: usize| rest[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let lo_len = digits(0);
    let mut at = lo_len;
    let mut hi = String::new();
    if rest.get(at) == Some(&',') {
        let hi_len = digits(at + 1);
        hi = rest[at..at + 1 + hi_len].iter().collect();
        at += 1 + hi_len;
    }
    (rest.get(at) == Some(&'}')).then(|| (rest[..lo_len].iter().collect(), hi, at + 1))
}

/// A number as `first_number` / `last_number` see it: an optional sign and `$`, digits with
/// optional comma grouping, an optional decimal part. A trailing `.` is not part of it.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"-?\$?(?:\d[\d,]*(?:\.\d+)?|\.\d+)").expect("constant regex"));

/// The numbers of `text`, `$` and commas dropped. A `-` right after a letter or digit is a
/// hyphen ("3-5", "x-1"), not a sign.
fn numbers(text: &str) -> impl Iterator<Item = String> + '_ {
    NUMBER.find_iter(text).map(move |m| {
        let mut s = m.as_str();
        let hyphen = s.starts_with('-') && text[..m.start()].chars().next_back().is_some_and(|c| c.is_alphanumeric());
        if hyphen {
            s = &s[1..];
        }
        s.chars().filter(|c| !matches!(c, '$' | ',')).collect()
    })
}

#[derive(Debug, Clone)]
enum Step {
    Regex { regex: PyRegex, group_select: i64, fallback: String },
    FirstNumber { fallback: String },
    LastNumber { fallback: String },
    TakeFirst,
    Lowercase,
    Uppercase,
    RemoveWhitespace,
    Strip,
}

impl Step {
    fn apply(&self, text: String) -> String {
        match self {
            Step::Regex { regex, group_select, fallback } => regex_select(regex, *group_select, fallback, &text),
            Step::FirstNumber { fallback } => numbers(&text).next().unwrap_or_else(|| fallback.clone()),
            Step::LastNumber { fallback } => numbers(&text).last().unwrap_or_else(|| fallback.clone()),
            // syco asks for one response per request: the first is the only one.
            Step::TakeFirst => text,
            Step::Lowercase => text.to_lowercase(),
            Step::Uppercase => text.to_uppercase(),
            // lm-eval 0.4.13's `remove_whitespace` is `resp.strip()` (older releases: lstrip).
            Step::RemoveWhitespace | Step::Strip => py_strip(&text).to_string(),
        }
    }
}

/// lm-eval's `RegexFilter` on one response. The chosen match is stripped; a tuple of groups
/// gives its first non-empty group, or the fallback (stripped too, as lm-eval strips it there).
/// No match gives the fallback as written. A `group_select` past the matches is an IndexError
/// in lm-eval that ends the run; here it gives the fallback, as no match does.
fn regex_select(regex: &PyRegex, group_select: i64, fallback: &str, text: &str) -> String {
    let mut found = regex.findall(text);
    let n = found.len() as i64;
    let at = if group_select < 0 { group_select + n } else { group_select };
    if !(0..n).contains(&at) {
        return fallback.to_string();
    }
    let chosen = match found.swap_remove(at as usize) {
        Found::Text(t) => t,
        Found::Groups(g) => g.into_iter().find(|s| !s.is_empty()).unwrap_or_else(|| fallback.to_string()),
    };
    py_strip(&chosen).to_string()
}

/// A pipeline ready to apply.
#[derive(Debug, Clone)]
pub struct Pipeline {
    name: String,
    steps: Vec<Step>,
}

impl Pipeline {
    /// Compiles the pipeline's regexes; a pattern Rust's `regex` cannot run is an error on
    /// `filter_list` naming the pipeline, the pattern and the reason.
    pub fn compile(p: &FilterPipeline) -> Result<Pipeline, TaskError> {
        let steps = p
            .steps
            .iter()
            .map(|s| {
                Ok(match s {
                    FilterStep::Regex { regex_pattern, group_select, fallback } => {
                        let regex = PyRegex::new(regex_pattern).map_err(|why| {
                            TaskError::new(
                                "filter_list",
                                format!("filter `{}`: regex_pattern `{regex_pattern}` cannot be used: {why}", p.name),
                            )
                        })?;
                        Step::Regex { regex, group_select: *group_select, fallback: fallback.clone() }
                    }
                    FilterStep::FirstNumber { fallback } => Step::FirstNumber { fallback: fallback.clone() },
                    FilterStep::LastNumber { fallback } => Step::LastNumber { fallback: fallback.clone() },
                    FilterStep::TakeFirst => Step::TakeFirst,
                    FilterStep::Lowercase => Step::Lowercase,
                    FilterStep::Uppercase => Step::Uppercase,
                    FilterStep::RemoveWhitespace => Step::RemoveWhitespace,
                    FilterStep::Strip => Step::Strip,
                })
            })
            .collect::<Result<_, TaskError>>()?;
        Ok(Pipeline { name: p.name.clone(), steps })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pipeline's answer for one response.
    pub fn apply(&self, response: &str) -> String {
        self.steps.iter().fold(response.to_string(), |text, step| step.apply(text))
    }
}

/// The spec's pipelines, compiled, after [`check`]'s rules.
pub fn compile(spec: &TaskSpec) -> Result<Vec<Pipeline>, TaskError> {
    let mut names: Vec<&str> = Vec::new();
    for p in &spec.filters {
        if p.name.is_empty() || p.name.contains(',') {
            return Err(TaskError::new(
                "filter_list",
                format!("filter name `{}` must be non-empty and without `,` (metrics are reported as `METRIC,NAME`)", p.name),
            ));
        }
        if names.contains(&p.name.as_str()) {
            return Err(TaskError::new("filter_list", format!("two filters are named `{}`; their metrics would share one name", p.name)));
        }
        names.push(&p.name);
        // Only generated text has anything to filter; take_first is a no-op everywhere.
        let only_take_first = p.steps.iter().all(|s| *s == FilterStep::TakeFirst);
        if spec.output != OutputType::GenerateUntil && !only_take_first {
            return Err(TaskError::new(
                "filter_list",
                format!("filter `{}` applies to generated text, but the task's output_type is {:?}", p.name, spec.output),
            ));
        }
    }
    spec.filters.iter().map(Pipeline::compile).collect()
}

/// Validates the spec's filters: every regex compiles, names are distinct, and filters are only
/// given to `generate_until`.
pub fn check(spec: &TaskSpec) -> Result<(), TaskError> {
    compile(spec).map(|_| ())
}

/// The option letter of a letter-scored answer, as an index into the `n` choices (A = 0).
///
/// Rule: the first capital letter among the valid ones (A .. the `n`-th letter) that stands
/// alone, i.e. is neither preceded nor followed by a letter, digit or `_`. So "B", "(B)", "B.",
/// "B) Paris" and "The answer is B" give B, while "Sure" or "CORRECT" give nothing. A standalone
/// "A" or "I" followed by whitespace and a lower-case letter is the article or the pronoun ("A
/// good answer is C" gives C). A response that is nothing but one valid letter, in either case,
/// with optional brackets, `.`, `:` or whitespace around it ("b", " (c). ") gives that letter.
/// `None` when there is no such letter, or `n` is 0 or above 26.
pub fn extract_letter(response: &str, n: usize) -> Option<usize> {
    if n == 0 || n > 26 {
        return None;
    }
    let valid = |c: char| c.is_ascii_uppercase() && ((c as u8 - b'A') as usize) < n;
    let bare: Vec<char> = response.chars().filter(|c| !matches!(c, '(' | ')' | '.' | ':') && !is_py_space(*c)).collect();
    if let [only] = bare[..] {
        let upper = only.to_ascii_uppercase();
        if valid(upper) {
            return Some((upper as u8 - b'A') as usize);
        }
    }
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
    let chars: Vec<char> = response.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !valid(c) || word(i.checked_sub(1).and_then(|j| chars.get(j))) || word(chars.get(i + 1)) {
            continue;
        }
        if matches!(c, 'A' | 'I') {
            let rest = &chars[i + 1..];
            let spaces = rest.iter().take_while(|c| is_py_space(**c)).count();
            if spaces > 0 && rest.get(spaces).is_some_and(|c| c.is_lowercase()) {
                continue;
            }
        }
        return Some((c as u8 - b'A') as usize);
    }
    None
}
