//! `[probes.NAME]` as a manifest writes it, resolved into the params of the probe's `probe/NAME`
//! stage. A probe is one SycophancyEval family (Sharma et al. 2023) asked of a declared task,
//! of a raw SycophancyEval file, or of the built-in mini items:
//!
//! ```toml
//! [probes.capitals_answer]
//! probe = "answer"            # answer | are_you_sure | feedback | mimicry
//! from = "capitals"           # a [tasks.NAME] (answer, are_you_sure), or:
//! # source = { path = "answer.jsonl" }   a raw SycophancyEval file
//! # source = { builtin = "mini", n = 12 } the built-in items
//! n = 50                      # a seeded sample of the items (all when absent)
//!
//! [probes.feedback]
//! probe = "feedback"
//! source = { builtin = "mini" }
//! judge = "base"              # the model (or adapter) that compares two comments
//! ```

use serde::Deserialize;
use serde_json::Value;
use syco_core::manifest::{Manifest, ManifestError};
use syco_data::probe::{Domain, Family};

use crate::stages::probe::{ProbeParams, Variant};
use crate::stages::source::Source;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeTable {
    probe: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    source: Option<Value>,
    #[serde(default)]
    n: Option<usize>,
    #[serde(default)]
    seed: Option<u64>,
    /// The question as the user asks it, a template over the task's record (default: the task's `text`).
    #[serde(default)]
    question: Option<String>,
    /// The correct answer X of a free-form task's record, a template (default: the task's target).
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    max_tokens: Option<usize>,
    /// are_you_sure: `["prefill", "no_prefill"]` (both by default; free-form questions have no prefill).
    #[serde(default)]
    variants: Option<Vec<Variant>>,
    /// feedback: the domains kept (all by default).
    #[serde(default)]
    domains: Option<Vec<String>>,
    /// feedback: the model or adapter that judges which comment is more positive.
    #[serde(default)]
    judge: Option<String>,
    #[serde(default)]
    judge_template: Option<String>,
}

/// A resolved probe: its stage params and, for feedback, the judge's name.
pub struct ResolvedProbe {
    pub params: ProbeParams,
    pub judge: Option<String>,
}

/// `[probes.NAME]` resolved and checked: the family, where its items come from, the judge's
/// template. `tasks` are the declared task names.
pub fn resolve(m: &Manifest, name: &str, tasks: &[String], seed: u64) -> Result<ResolvedProbe, ManifestError> {
    let at = |key: &str| -> Vec<String> { vec!["probes".into(), name.into(), key.into()] };
    let err = |key: &str, msg: String| {
        let path = at(key);
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        m.error(&path, msg)
    };
    let t: ProbeTable = m.deserialize(&["probes", name])?;
    let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
    let family = Family::parse(&t.probe)
        .ok_or_else(|| err("probe", format!("unknown probe `{}`; expected one of {}", t.probe, names.join(", "))))?;
    match (&t.from, &t.source) {
        (Some(_), Some(_)) => return Err(err("from", "give either `from = \"TASK\"` or `source`, not both".into())),
        (None, None) => {
            return Err(m.error(
                &["probes", name],
                "a probe needs `from = \"TASK\"` (a [tasks.NAME]) or `source` (a raw SycophancyEval file, or `{ builtin = \"mini\" }`)",
            ))
        }
        (Some(task), None) => {
            if !matches!(family, Family::Answer | Family::AreYouSure) {
                return Err(err("from", format!("the {} probe asks about its own texts: give `source` instead of `from`", family.name())));
            }
            if !tasks.contains(task) {
                let hint =
                    if tasks.is_empty() { "no [tasks.NAME] is declared".to_string() } else { format!("declared: {}", tasks.join(", ")) };
                return Err(err("from", format!("no task `{task}`; {hint}")));
            }
        }
        (None, Some(src)) => {
            Source::parse(src).map_err(|e| err("source", format!("{e:#}")))?;
        }
    }
    for (key, set) in [("question", t.question.is_some()), ("answer", t.answer.is_some())] {
        if set && t.from.is_none() {
            return Err(err(key, format!("`{key}` is a template over a task's records: it needs `from = \"TASK\"`")));
        }
        if let Some(source) = if key == "question" { &t.question } else { &t.answer } {
            syco_tasks::template::check(source).map_err(|e| err(key, e.to_string()))?;
        }
    }
    if t.variants.is_some() && family != Family::AreYouSure {
        return Err(err("variants", "`variants` belongs to the are_you_sure probe".into()));
    }
    let domains = match &t.domains {
        None => Domain::ALL.to_vec(),
        Some(_) if family != Family::Feedback => return Err(err("domains", "`domains` belongs to the feedback probe".into())),
        Some(list) => list
            .iter()
            .map(|d| Domain::parse(d).ok_or_else(|| err("domains", format!("unknown domain `{d}`; expected arguments, math or poems"))))
            .collect::<Result<_, _>>()?,
    };
    let judge = match (family, &t.judge) {
        (Family::Feedback, None) => {
            return Err(m.error(
                &["probes", name],
                "the feedback probe needs `judge = \"MODEL\"`: the model that compares two comments for positivity",
            ))
        }
        (Family::Feedback, Some(j)) => Some(j.clone()),
        (_, Some(_)) => return Err(err("judge", "`judge` belongs to the feedback probe".into())),
        (_, None) => None,
    };
    if t.judge_template.is_some() && family != Family::Feedback {
        return Err(err("judge_template", "`judge_template` belongs to the feedback probe".into()));
    }
    if let Some(template) = &t.judge_template {
        syco_eval::probe::check_judge_template(template).map_err(|e| err("judge_template", e.to_string()))?;
    }
    if t.max_tokens == Some(0) {
        return Err(err("max_tokens", "must be at least 1".into()));
    }
    if t.n == Some(0) {
        return Err(err("n", "must be at least 1".into()));
    }
    let params = ProbeParams {
        probe: name.to_string(),
        family,
        task: t.from.clone(),
        source: t.source.clone(),
        n: t.n,
        seed: t.seed.unwrap_or(seed),
        question: t.question.clone(),
        answer: t.answer.clone(),
        max_tokens: t.max_tokens,
        variants: t.variants.clone().unwrap_or_else(|| vec![Variant::Prefill, Variant::NoPrefill]),
        domains,
        judge_template: t.judge_template.clone(),
    };
    Ok(ResolvedProbe { params, judge })
}
