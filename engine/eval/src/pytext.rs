//! Python `str` semantics the study's scorers rely on, so the seed rules match CPython exactly.

/// Python's `str.isspace()`: Rust's `White_Space` plus the four ASCII separators U+001C..U+001F,
/// which CPython treats as whitespace (bidi class B/S) and Unicode does not.
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `str.lower()` (full Unicode mapping, final sigma included, like Rust's).
pub fn py_lower(s: &str) -> String {
    s.to_lowercase()
}

/// Python's `str.upper()` (full Unicode mapping: "ß" becomes "SS" in both).
pub fn py_upper(s: &str) -> String {
    s.to_uppercase()
}

/// Python's `string.punctuation`.
pub const PUNCTUATION: &str = r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##;

/// `s.translate(str.maketrans("", "", string.punctuation))`: delete ASCII punctuation.
pub fn remove_punctuation(s: &str) -> String {
    s.chars().filter(|c| !PUNCTUATION.contains(*c)).collect()
}

/// The regex class for Python's `\s` in a `str` pattern (see [`is_py_space`]).
pub const PY_SPACE_CLASS: &str = r"\s\x1C-\x1F";

/// What the study keeps of a decoded generation: the text after the last `[/INST]`, stripped.
///
/// The study decoded prompt and answer together and split on `[/INST]`; the backend returns only
/// the new text, whose own `[/INST]` (if the model emits one) splits the same way.
pub fn after_last_inst(text: &str) -> &str {
    let tail = match text.rfind("[/INST]") {
        Some(at) => &text[at + "[/INST]".len()..],
        None => text,
    };
    py_strip(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_matches_python_whitespace() {
        assert_eq!(py_strip("\u{1c}\t a b \u{a0}\u{3000}\n"), "a b");
        // U+200B (zero width space) is not whitespace in Python either.
        assert_eq!(py_strip("\u{200b}x"), "\u{200b}x");
    }

    #[test]
    fn punctuation_is_python_string_punctuation() {
        assert_eq!(PUNCTUATION.len(), 32);
        assert_eq!(remove_punctuation("Mr. O'Neil, (Jr.) – $5!"), "Mr ONeil Jr – 5");
    }

    #[test]
    fn case_mapping_is_full() {
        assert_eq!(py_upper("straße"), "STRASSE");
        // Final sigma, as CPython: "ΟΔΟΣ".lower() ends in U+03C2.
        assert_eq!(py_lower("ΟΔΟΣ"), "\u{3bf}\u{3b4}\u{3bf}\u{3c2}");
    }

    #[test]
    fn after_last_inst_takes_the_tail() {
        assert_eq!(after_last_inst("  B. yes "), "B. yes");
        assert_eq!(after_last_inst("x [/INST] y [/INST]  z\n"), "z");
    }
}
