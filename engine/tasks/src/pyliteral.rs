//! Python literals both ways, as lm-eval meets them: `ast.literal_eval` of what a template
//! rendered (`['a', 'b']`, `3`), and Python's `str()` / `repr()` of a record's values (what
//! Jinja2 prints for a list, `None`, `True`, a float).
//!
//! Values are JSON values: lists and tuples become arrays, dicts with string keys objects.
//! Sets, bytes, complex numbers and non-string dict keys have no JSON form and are reported as
//! unsupported (Python would accept them).

use serde_json::{Map, Number, Value};

/// Why a text is not a literal we can represent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiteralError {
    /// Python would reject it too (`SyntaxError` / `ValueError`).
    Invalid(String),
    /// Python would accept it, but the value has no JSON form.
    Unsupported(String),
}

impl std::fmt::Display for LiteralError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiteralError::Invalid(m) => write!(f, "not a Python literal: {m}"),
            LiteralError::Unsupported(m) => write!(f, "unsupported Python literal: {m}"),
        }
    }
}

/// `ast.literal_eval(text)`.
pub fn literal_eval(text: &str) -> Result<Value, LiteralError> {
    let mut p = Parser { s: text.as_bytes(), src: text, i: 0, depth: 0 };
    p.skip_space();
    let value = p.expr()?;
    p.skip_space();
    if p.i < p.s.len() {
        return Err(p.invalid("unexpected text after the literal"));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    /// Bracket nesting: newlines are whitespace only inside brackets (and at the ends).
    depth: usize,
}

impl Parser<'_> {
    fn invalid(&self, what: &str) -> LiteralError {
        LiteralError::Invalid(format!("{what} at offset {} of {:?}", self.i, self.src))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Spaces, tabs, comments, backslash continuations; newlines too (eval mode tolerates them
    /// at the ends, brackets inside; a newline between two values is still an error, since the
    /// second value is then unexpected).
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0c' | b'\r' | b'\n' => self.i += 1,
                b'\\' if matches!(self.s.get(self.i + 1), Some(b'\n')) => self.i += 2,
                b'#' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Value, LiteralError> {
        self.skip_space();
        match self.peek() {
            Some(b'-') | Some(b'+') => {
                let negative = self.peek() == Some(b'-');
                self.i += 1;
                self.skip_space();
                // literal_eval allows one sign on a number (`-1`, `-(1)`), nothing more.
                let v = self.atom()?;
                match v {
                    Value::Number(n) if !negative => Ok(Value::Number(n)),
                    Value::Number(n) => negate(&n).map(Value::Number).ok_or_else(|| self.invalid("number out of range")),
                    _ => Err(self.invalid("a sign applies to numbers only")),
                }
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Value, LiteralError> {
        match self.peek() {
            None => Err(self.invalid("missing literal")),
            Some(b'[') => {
                self.i += 1;
                self.sequence(b']').map(Value::Array)
            }
            Some(b'(') => self.paren(),
            Some(b'{') => self.dict(),
            Some(c) if c.is_ascii_digit() || (c == b'.' && self.s.get(self.i + 1).is_some_and(u8::is_ascii_digit)) => self.number(),
            Some(b'\'') | Some(b'"') => self.strings(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.name_or_prefixed_string(),
            Some(_) => Err(self.invalid("unexpected character")),
        }
    }

    fn enter(&mut self) -> Result<(), LiteralError> {
        self.depth += 1;
        // CPython's parser gives up on deep nesting too; this keeps recursion bounded.
        if self.depth > 200 {
            return Err(self.invalid("too deeply nested"));
        }
        Ok(())
    }

    /// Items up to `close`, a trailing comma allowed; the opening bracket is consumed.
    fn sequence(&mut self, close: u8) -> Result<Vec<Value>, LiteralError> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                break;
            }
            items.push(self.expr()?);
            if self.eat(close) {
                break;
            }
            if !self.eat(b',') {
                return Err(self.invalid("expected `,` or a closing bracket"));
            }
        }
        self.depth -= 1;
        Ok(items)
    }

    /// `()`, `(x)`, `(x,)`, `(x, y)`.
    fn paren(&mut self) -> Result<Value, LiteralError> {
        self.i += 1;
        self.enter()?;
        if self.eat(b')') {
            self.depth -= 1;
            return Ok(Value::Array(vec![]));
        }
        let first = self.expr()?;
        if self.eat(b')') {
            self.depth -= 1;
            return Ok(first);
        }
        if !self.eat(b',') {
            return Err(self.invalid("expected `,` or `)`"));
        }
        self.depth -= 1;
        let mut items = vec![first];
        items.extend(self.sequence(b')')?);
        Ok(Value::Array(items))
    }

    fn dict(&mut self) -> Result<Value, LiteralError> {
        self.i += 1;
        self.enter()?;
        let mut map = Map::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let key = self.expr()?;
            if !self.eat(b':') {
                // `{1, 2}` is a set, which literal_eval accepts but JSON cannot hold.
                return Err(LiteralError::Unsupported(format!("sets have no JSON form: {:?}", self.src)));
            }
            let value = self.expr()?;
            let Value::String(key) = key else {
                return Err(LiteralError::Unsupported(format!("dict keys other than strings: {:?}", self.src)));
            };
            map.insert(key, value);
            if self.eat(b'}') {
                break;
            }
            if !self.eat(b',') {
                return Err(self.invalid("expected `,` or `}`"));
            }
        }
        self.depth -= 1;
        Ok(Value::Object(map))
    }

    fn name_or_prefixed_string(&mut self) -> Result<Value, LiteralError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.i += 1;
        }
        let name = &self.src[start..self.i];
        if matches!(self.peek(), Some(b'\'') | Some(b'"')) && name.len() <= 2 {
            self.i = start;
            return self.strings();
        }
        match name {
            "True" => Ok(Value::Bool(true)),
            "False" => Ok(Value::Bool(false)),
            "None" => Ok(Value::Null),
            _ => {
                self.i = start;
                Err(self.invalid(&format!("`{name}` is a name, not a literal")))
            }
        }
    }

    fn number(&mut self) -> Result<Value, LiteralError> {
        let start = self.i;
        let lower = |c: Option<u8>| c.map(|c| c.to_ascii_lowercase());
        if self.peek() == Some(b'0') && matches!(lower(self.s.get(self.i + 1).copied()), Some(b'x' | b'o' | b'b')) {
            let radix = match lower(self.s.get(self.i + 1).copied()) {
                Some(b'x') => 16,
                Some(b'o') => 8,
                _ => 2,
            };
            self.i += 2;
            let digits_start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                self.i += 1;
            }
            let digits = self.src[digits_start..self.i].replace('_', "");
            return i128::from_str_radix(&digits, radix).map_err(|_| self.invalid("malformed integer")).and_then(|n| self.int(n));
        }
        let mut is_float = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' | b'_' => self.i += 1,
                b'.' => {
                    is_float = true;
                    self.i += 1;
                }
                b'e' | b'E' => {
                    is_float = true;
                    self.i += 1;
                    if matches!(self.peek(), Some(b'+' | b'-')) {
                        self.i += 1;
                    }
                }
                b'j' | b'J' => return Err(LiteralError::Unsupported(format!("complex numbers: {:?}", self.src))),
                _ => break,
            }
        }
        let text = self.src[start..self.i].replace('_', "");
        if is_float {
            let f: f64 = text.parse().map_err(|_| self.invalid("malformed number"))?;
            return Number::from_f64(f).map(Value::Number).ok_or_else(|| LiteralError::Unsupported(format!("{f} has no JSON form")));
        }
        if text.len() > 1 && text.starts_with('0') && text.bytes().any(|c| c != b'0') {
            return Err(self.invalid("leading zeros in a decimal integer"));
        }
        let n: i128 = text.parse().map_err(|_| LiteralError::Unsupported(format!("integer {text} is too large")))?;
        self.int(n)
    }

    fn int(&self, n: i128) -> Result<Value, LiteralError> {
        if let Ok(v) = i64::try_from(n) {
            Ok(Value::from(v))
        } else if let Ok(v) = u64::try_from(n) {
            Ok(Value::from(v))
        } else {
            Err(LiteralError::Unsupported(format!("integer {n} is too large")))
        }
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Result<Value, LiteralError> {
        let mut out = String::new();
        loop {
            self.skip_space_inline();
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            let prefix = self.src[start..self.i].to_ascii_lowercase();
            if !matches!(self.peek(), Some(b'\'' | b'"')) {
                self.i = start;
                break;
            }
            let raw = match prefix.as_str() {
                "" | "u" => false,
                "r" => true,
                "b" | "br" | "rb" => return Err(LiteralError::Unsupported(format!("bytes: {:?}", self.src))),
                _ => return Err(self.invalid(&format!("string prefix `{prefix}`"))),
            };
            self.string(raw, &mut out)?;
        }
        Ok(Value::String(out))
    }

    /// Whitespace between adjacent strings (newlines only inside brackets).
    fn skip_space_inline(&mut self) {
        let save = self.i;
        self.skip_space();
        if self.depth == 0 && self.src[save..self.i].contains('\n') && self.i < self.s.len() {
            self.i = save;
        }
    }

    fn string(&mut self, raw: bool, out: &mut String) -> Result<(), LiteralError> {
        let quote = self.s[self.i];
        let triple = self.s.get(self.i..self.i + 3) == Some(&[quote; 3][..]);
        self.i += if triple { 3 } else { 1 };
        loop {
            let rest = &self.src[self.i..];
            let Some(c) = rest.chars().next() else { return Err(self.invalid("unterminated string")) };
            if c as u32 == quote as u32 && (!triple || rest.as_bytes().starts_with(&[quote; 3])) {
                self.i += if triple { 3 } else { 1 };
                return Ok(());
            }
            if c == '\n' && !triple {
                return Err(self.invalid("newline in a string"));
            }
            if c == '\\' {
                self.i += 1;
                let Some(e) = self.src[self.i..].chars().next() else { return Err(self.invalid("unterminated string")) };
                if raw {
                    // Raw strings keep the backslash; it still protects the quote after it.
                    out.push('\\');
                    out.push(e);
                    self.i += e.len_utf8();
                } else {
                    self.escape(e, out)?;
                }
                continue;
            }
            out.push(c);
            self.i += c.len_utf8();
        }
    }

    /// The escape after a backslash (the backslash consumed; `e` not yet).
    fn escape(&mut self, e: char, out: &mut String) -> Result<(), LiteralError> {
        self.i += e.len_utf8();
        let simple = match e {
            '\n' => Some(None),
            '\\' => Some(Some('\\')),
            '\'' => Some(Some('\'')),
            '"' => Some(Some('"')),
            'a' => Some(Some('\x07')),
            'b' => Some(Some('\x08')),
            'f' => Some(Some('\x0c')),
            'n' => Some(Some('\n')),
            'r' => Some(Some('\r')),
            't' => Some(Some('\t')),
            'v' => Some(Some('\x0b')),
            _ => None,
        };
        if let Some(c) = simple {
            out.extend(c);
            return Ok(());
        }
        let code = match e {
            '0'..='7' => {
                let start = self.i - 1;
                while self.i - start < 3 && self.peek().is_some_and(|c| (b'0'..=b'7').contains(&c)) {
                    self.i += 1;
                }
                u32::from_str_radix(&self.src[start..self.i], 8).ok()
            }
            'x' => self.hex(2)?,
            'u' => self.hex(4)?,
            'U' => self.hex(8)?,
            'N' => return Err(LiteralError::Unsupported(format!("\\N{{...}} escapes: {:?}", self.src))),
            // Unknown escapes keep their backslash (Python warns, but accepts).
            other => {
                out.push('\\');
                out.push(other);
                return Ok(());
            }
        };
        match code.and_then(char::from_u32) {
            Some(c) => {
                out.push(c);
                Ok(())
            }
            None => Err(LiteralError::Unsupported(format!("escape outside Unicode scalar values in {:?}", self.src))),
        }
    }

    fn hex(&mut self, len: usize) -> Result<Option<u32>, LiteralError> {
        let digits = self.src.get(self.i..self.i + len).filter(|d| d.bytes().all(|c| c.is_ascii_hexdigit()));
        let Some(digits) = digits else { return Err(self.invalid("truncated \\x/\\u/\\U escape")) };
        self.i += len;
        Ok(u32::from_str_radix(digits, 16).ok())
    }
}

fn negate(n: &Number) -> Option<Number> {
    if let Some(i) = n.as_i64() {
        // -i64::MIN is 2^63, which still fits a u64.
        return Some(i.checked_neg().map(Number::from).unwrap_or_else(|| Number::from(1u64 << 63)));
    }
    if let Some(u) = n.as_u64() {
        // -u fits in i64 only up to 2^63; Python has big ints, JSON does not.
        return i64::try_from(u).ok().map(|i| Number::from(-i)).or_else(|| (u == 1 << 63).then(|| Number::from(i64::MIN)));
    }
    n.as_f64().and_then(|f| Number::from_f64(-f))
}

/// Python's `str(value)`: strings as they are, everything else as `repr`.
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr(value)`: `['a', "it's"]`, `None`, `True`, `{'k': 1}`, `1.0`, `1e-05`.
pub fn py_repr(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

fn write_repr(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&float_repr(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&str_repr(s)),
        Value::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_repr(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (k, (key, item)) in map.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                out.push_str(&str_repr(key));
                out.push_str(": ");
                write_repr(item, out);
            }
            out.push('}');
        }
    }
}

/// Python's float repr: the shortest round-trip digits, in fixed notation for exponents -4..16,
/// otherwise `d.ddde+XX`.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits too: "1.5e-5", "-1e16".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let (sign, mantissa) = mantissa.strip_prefix('-').map(|m| ("-", m)).unwrap_or(("", mantissa));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
    }
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`; escapes for the
/// quote, backslash, `\t\n\r`, and characters Python does not print.
pub fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable` for one character: control characters, format characters,
/// separators other than the space, and surrogates/private use are not printable. Covers the
/// characters that occur in text; unassigned code points are treated as printable.
fn is_printable(c: char) -> bool {
    let code = c as u32;
    !(c.is_control()
        || matches!(code, 0xa0 | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x1680 | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f
            | 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000 | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0x110bd | 0x1d173..=0x1d17a
            | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..=0x10ffff))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(s: &str) -> Value {
        literal_eval(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn scalars() {
        assert_eq!(ok("3"), json!(3));
        assert_eq!(ok(" 3\n"), json!(3));
        assert_eq!(ok("\n1"), json!(1));
        assert_eq!(ok("-1"), json!(-1));
        assert_eq!(ok("- 1"), json!(-1));
        assert_eq!(ok("+1"), json!(1));
        assert_eq!(ok("-(1)"), json!(-1));
        assert_eq!(ok("00"), json!(0));
        assert_eq!(ok("1_000"), json!(1000));
        assert_eq!(ok("0x1F"), json!(31));
        assert_eq!(ok("1."), json!(1.0));
        assert_eq!(ok(".5"), json!(0.5));
        assert_eq!(ok("1e3"), json!(1000.0));
        assert_eq!(ok("-1.5"), json!(-1.5));
        assert_eq!(ok("True"), json!(true));
        assert_eq!(ok("False"), json!(false));
        assert_eq!(ok("None"), json!(null));
        assert_eq!(ok("1 # comment"), json!(1));
    }

    #[test]
    fn strings() {
        assert_eq!(ok("'a'"), json!("a"));
        assert_eq!(ok("\"it's\""), json!("it's"));
        assert_eq!(ok("'a' 'b'"), json!("ab"));
        assert_eq!(ok("u'x'"), json!("x"));
        assert_eq!(ok(r"r'\n'"), json!("\\n"));
        assert_eq!(ok(r"'\x41\101\u00e9\n\t\\\''"), json!("AAé\n\t\\'"));
        assert_eq!(ok("'''a'b'''"), json!("a'b"));
        assert_eq!(ok(r"'\d'"), json!("\\d"));
        assert_eq!(ok("'é ü'"), json!("é ü"));
    }

    #[test]
    fn containers() {
        assert_eq!(ok("['a', 'b']"), json!(["a", "b"]));
        assert_eq!(ok("[1,]"), json!([1]));
        assert_eq!(ok("[\n1,\n2\n]"), json!([1, 2]));
        assert_eq!(ok("()"), json!([]));
        assert_eq!(ok("(1,)"), json!([1]));
        assert_eq!(ok("(1)"), json!(1));
        assert_eq!(ok("('a', [None, True])"), json!(["a", [null, true]]));
        assert_eq!(ok("{'k': [1, 2.5]}"), json!({"k": [1, 2.5]}));
        assert_eq!(ok("['it\\'s', \"a\\\"b\"]"), json!(["it's", "a\"b"]));
    }

    #[test]
    fn rejects_what_python_rejects() {
        for bad in ["", "--1", "01", "[1 2]", "[1,", "'abc", "x", "1\n2", "f'x'", "-'a'", "[1]]", "1 +"] {
            assert!(matches!(literal_eval(bad), Err(LiteralError::Invalid(_))), "{bad:?} should be invalid");
        }
        for unsupported in ["{1, 2}", "{1: 2}", "b'x'", "1j", "1e400", "99999999999999999999999"] {
            assert!(matches!(literal_eval(unsupported), Err(LiteralError::Unsupported(_))), "{unsupported:?} should be unsupported");
        }
        assert!(literal_eval(&"[".repeat(1000)).is_err());
    }

    #[test]
    fn repr_matches_python() {
        // Expected strings printed by CPython 3.11's repr().
        assert_eq!(
            py_repr(&json!(["it's", "a\"b", "both'\"", "nl\n", "\u{a0}x", "\u{200b}z", "é", "\u{1f}", "tab\t", "\\"])),
            r#"["it's", 'a"b', 'both\'"', 'nl\n', '\xa0x', '\u200bz', 'é', '\x1f', 'tab\t', '\\']"#
        );
        assert_eq!(py_repr(&json!([null, true, false, 3, -2, 1.0, {"k": "v"}])), "[None, True, False, 3, -2, 1.0, {'k': 'v'}]");
        assert_eq!(py_str(&json!("plain")), "plain");
        for (f, want) in [
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (0.1, "0.1"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.5e-4, "0.00015"),
            (-0.0, "-0.0"),
            (2.5, "2.5"),
            (100.0, "100.0"),
            (1234.5678, "1234.5678"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(float_repr(f), want, "{f}");
        }
    }

    #[test]
    fn repr_round_trips() {
        let v = json!(["a'b\"c", "\\x", "\u{7f}", "😀", [1, -3, 0.25], null]);
        assert_eq!(literal_eval(&py_repr(&v)).unwrap(), v);
    }
}
