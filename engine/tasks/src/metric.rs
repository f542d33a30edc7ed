//! Per-item metrics: `exact_match` (lm-eval's, from HF evaluate), syco's `numeric_match`, and
//! the argmax choices behind multiple choice `acc` / `acc_norm`; which metric fits which output.

use crate::filter::PyRegex;
use crate::spec::{ChoiceScoring, Metric, MetricName, OutputType, TaskSpec};
use crate::TaskError;

/// Python's `string.punctuation`.
const PUNCTUATION: &str = r##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##;

/// A metric ready to score text: its `regexes_to_ignore` compiled.
#[derive(Debug, Clone)]
pub struct TextMetric {
    pub metric: Metric,
    ignore: Vec<PyRegex>,
}

impl TextMetric {
    pub fn compile(metric: &Metric) -> Result<TextMetric, TaskError> {
        let ignore = metric
            .regexes_to_ignore
            .iter()
            .map(|p| PyRegex::new(p).map_err(|why| TaskError::new("metric_list", format!("regexes_to_ignore `{p}` cannot be used: {why}"))))
            .collect::<Result<_, _>>()?;
        Ok(TextMetric { metric: metric.clone(), ignore })
    }

    /// `exact_match`'s normalisation as HF evaluate applies it to one numpy array of strings:
    /// each of `regexes_to_ignore` removed in turn (`re.sub`), then lower-cased, then ASCII
    /// punctuation removed, then ASCII digits removed, as the options ask. numpy keeps strings at
    /// the array's width (its longest string, in code points), so a lower-casing that lengthens
    /// a string ("İ" -> "i̇") is cut back to that width; and it drops trailing NULs.
    fn normalise(&self, array: &[&str]) -> Vec<String> {
        let m = &self.metric;
        let mut out: Vec<String> = array.iter().map(|s| self.ignore.iter().fold(s.to_string(), |s, re| re.remove(&s))).collect();
        let width = out.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        for s in &mut out {
            if m.ignore_case {
                *s = s.to_lowercase().chars().take(width).collect();
            }
            if m.ignore_punctuation {
                s.retain(|c| !PUNCTUATION.contains(c));
            }
            if m.ignore_numbers {
                s.retain(|c| !c.is_ascii_digit());
            }
            let kept = s.trim_end_matches('\0').len();
            s.truncate(kept);
        }
        out
    }

    /// 1 when the prediction matches any reference (lm-eval's rule for a list target; one
    /// reference is the list of one). `acc` / `acc_norm` are not text metrics: `None`.
    pub fn matches(&self, prediction: &str, references: &[String]) -> Option<bool> {
        match self.metric.metric {
            MetricName::ExactMatch => {
                // lm-eval compares the prediction (repeated) with the references as two arrays.
                let p = self.normalise(&[prediction]).pop().unwrap_or_default();
                let refs: Vec<&str> = references.iter().map(|r| r.as_str()).collect();
                Some(self.normalise(&refs).contains(&p))
            }
            MetricName::NumericMatch => Some(references.iter().any(|r| numeric_match(prediction, r))),
            MetricName::Acc | MetricName::AccNorm => None,
        }
    }
}

/// A decimal number, exactly: sign, integer digits without leading zeros, fraction digits
/// without trailing zeros (zero has no sign).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    pub negative: bool,
    pub int: String,
    pub frac: String,
}

/// `s` as a number: surrounding whitespace, `$` and `,` dropped, then one trailing `.`; what is
/// left must be `[+-]?digits[.digits]` (or `[+-]?.digits`). No exponents, `inf` or `nan`.
pub fn parse_number(s: &str) -> Option<Decimal> {
    let cleaned: String = crate::filter::py_strip(s).chars().filter(|c| !matches!(c, '$' | ',')).collect();
    let body = cleaned.strip_suffix('.').unwrap_or(&cleaned);
    let (negative, body) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || (body.contains('.') && frac.is_empty()) {
        return None;
    }
    let int = int.trim_start_matches('0').to_string();
    let frac = frac.trim_end_matches('0').to_string();
    let zero = int.is_empty() && frac.is_empty();
    Some(Decimal { negative: negative && !zero, int, frac })
}

/// Both sides are numbers (see [`parse_number`]) and the same number: compared as exact
/// decimals, so "1,000" = "1000.0" = "$1000." and no float rounding makes two numbers equal.
pub fn numeric_match(prediction: &str, reference: &str) -> bool {
    match (parse_number(prediction), parse_number(reference)) {
        (Some(p), Some(r)) => p == r,
        _ => false,
    }
}

/// numpy's `argmax`: the first maximum; a NaN counts as the maximum (the first NaN wins).
/// `None` for no values.
pub fn argmax(values: &[f64]) -> Option<usize> {
    if let Some(i) = values.iter().position(|v| v.is_nan()) {
        return Some(i);
    }
    let mut best: Option<usize> = None;
    for (i, v) in values.iter().enumerate() {
        if best.is_none_or(|b| *v > values[b]) {
            best = Some(i);
        }
    }
    best
}

/// lm-eval's multiple-choice predictions: `pred` = argmax of the log-likelihoods, `pred_norm` =
/// argmax of log-likelihood / the choice's length in characters (Python `len`, code points; an
/// empty choice divides by zero as numpy does). `None` for no choices or a length mismatch.
pub fn choice_predictions(lls: &[f64], choices: &[String]) -> Option<(usize, usize)> {
    if lls.len() != choices.len() {
        return None;
    }
    let normed: Vec<f64> = lls.iter().zip(choices).map(|(ll, c)| ll / c.chars().count() as f64).collect();
    Some((argmax(lls)?, argmax(&normed)?))
}

/// Which metrics an output can have.
fn allowed(spec: &TaskSpec) -> (&'static [MetricName], &'static str) {
    match (spec.output, spec.choice_scoring) {
        (OutputType::MultipleChoice, ChoiceScoring::Loglikelihood) => {
            (&[MetricName::Acc, MetricName::AccNorm], "multiple_choice scored by log-likelihood")
        }
        (OutputType::MultipleChoice, ChoiceScoring::Letter) => (&[MetricName::Acc], "multiple_choice scored by letter"),
        (OutputType::GenerateUntil, _) => (&[MetricName::ExactMatch, MetricName::NumericMatch], "generate_until"),
        (OutputType::Loglikelihood, _) => (&[MetricName::Acc], "loglikelihood"),
    }
}

/// The metric's name as task files and results spell it.
pub fn name(m: MetricName) -> &'static str {
    match m {
        MetricName::Acc => "acc",
        MetricName::AccNorm => "acc_norm",
        MetricName::ExactMatch => "exact_match",
        MetricName::NumericMatch => "numeric_match",
    }
}

/// The spec's metrics, checked: at least one, each once, each fitting the output (`acc` /
/// `acc_norm` for log-likelihood multiple choice, `acc` for letters and loglikelihood,
/// `exact_match` / `numeric_match` for generate_until), options only on `exact_match`, and
/// `regexes_to_ignore` that compile.
pub fn compile(spec: &TaskSpec) -> Result<Vec<TextMetric>, TaskError> {
    let err = |m: String| TaskError::new("metric_list", m);
    if spec.metrics.is_empty() {
        return Err(err("no metrics: name at least one".into()));
    }
    let (fits, output) = allowed(spec);
    let mut seen = Vec::new();
    for m in &spec.metrics {
        let n = name(m.metric);
        if !fits.contains(&m.metric) {
            let ok: Vec<&str> = fits.iter().map(|f| name(*f)).collect();
            return Err(err(format!("`{n}` does not apply to {output} (it has: {})", ok.join(", "))));
        }
        if seen.contains(&m.metric) {
            return Err(err(format!("`{n}` is listed twice")));
        }
        seen.push(m.metric);
        let options = m.ignore_case || m.ignore_punctuation || m.ignore_numbers || !m.regexes_to_ignore.is_empty();
        if options && m.metric != MetricName::ExactMatch {
            return Err(err(format!(
                "`{n}` takes no options (ignore_case, ignore_punctuation, ignore_numbers, regexes_to_ignore are exact_match's)"
            )));
        }
    }
    spec.metrics.iter().map(TextMetric::compile).collect()
}

/// Validates the spec's metrics (see [`compile`]).
pub fn check(spec: &TaskSpec) -> Result<(), TaskError> {
    compile(spec).map(|_| ())
}
