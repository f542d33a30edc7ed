//! The built-in mini-suite (`source = { builtin = "mini/gsm8k" }` etc.): deterministic
//! generators of short, original items for every record kind, small enough for a 135M model on a
//! CPU. Correct answers are computed or looked up by construction, never typed in per item.

mod answer;
mod are_you_sure;
mod facts;
mod feedback;
mod gsm8k;
mod hellaswag;
mod mmlu;
mod probe;
mod truthfulqa;

use std::collections::HashSet;

use crate::error::DataError;
use crate::kind::Kind;
use crate::pyrandom::PyRandom;
use crate::record::Record;

pub use facts::{Capital, CAPITALS, ELEMENTS};
pub use feedback::fallacy_names;
pub use probe::builtin_probe_items;

/// `n` records of `kind` from `seed`; the same arguments always give the same records, distinct
/// from each other as long as the generator has that many different items. `AntiSyc` interleaves
/// feedback, are_you_sure and answer items.
pub fn generate(kind: Kind, n: usize, seed: u64) -> Vec<Record> {
    if kind == Kind::AntiSyc {
        let per = n.div_ceil(3);
        let parts: Vec<Vec<Record>> = Kind::SYCOPHANCY.iter().map(|&k| generate(k, per, seed)).collect();
        return (0..per).flat_map(|i| parts.iter().filter_map(move |p| p.get(i).cloned())).take(n).collect();
    }
    let mut rng = PyRandom::from_key(&[seed as u32, (seed >> 32) as u32, kind as u32 + 1]);
    let make: fn(&mut PyRandom) -> Record = match kind {
        Kind::Gsm8k => gsm8k::item,
        Kind::Mmlu => mmlu::item,
        Kind::TruthfulQa => truthfulqa::item,
        Kind::HellaSwag => hellaswag::item,
        Kind::Feedback => feedback::item,
        Kind::AreYouSure => are_you_sure::item,
        Kind::Answer => answer::item,
        Kind::AntiSyc => unreachable!("handled above"),
    };
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    // Redraw duplicates; once the generator's variety is exhausted, accept repeats.
    let mut budget = n.saturating_mul(50) + 100;
    while out.len() < n {
        let record = make(&mut rng);
        if seen.insert(record.canonical_json()) || budget == 0 {
            out.push(record);
        } else {
            budget -= 1;
        }
    }
    out
}

/// Resolves a builtin source name: `mini/<kind>` (or the bare kind name).
pub fn kind_of(name: &str) -> Result<Kind, DataError> {
    let kind_name = name.strip_prefix("mini/").unwrap_or(name);
    kind_name.parse::<Kind>().map_err(|_| {
        DataError::Invalid(format!(
            "unknown builtin dataset `{name}` (expected mini/gsm8k, mini/mmlu, mini/truthfulqa, mini/hellaswag, mini/feedback, mini/are_you_sure, mini/answer or mini/antisyc)"
        ))
    })
}

/// `generate` by builtin source name.
pub fn generate_named(name: &str, n: usize, seed: u64) -> Result<Vec<Record>, DataError> {
    Ok(generate(kind_of(name)?, n, seed))
}

/// Uniform choice from a non-empty slice.
pub(crate) fn pick<'a, T>(rng: &mut PyRandom, items: &'a [T]) -> &'a T {
    &items[rng.randrange(items.len())]
}

/// Uniform integer in `lo..=hi`.
pub(crate) fn between(rng: &mut PyRandom, lo: i64, hi: i64) -> i64 {
    lo + rng.randbelow((hi - lo + 1) as u64) as i64
}

/// `k` distinct items other than `exclude`, in random order.
pub(crate) fn distractors<T: Clone + PartialEq>(rng: &mut PyRandom, pool: &[T], exclude: &T, k: usize) -> Vec<T> {
    let others: Vec<T> = pool.iter().filter(|x| *x != exclude).cloned().collect();
    let mut uniq: Vec<T> = Vec::new();
    for x in others {
        if !uniq.contains(&x) {
            uniq.push(x);
        }
    }
    rng.sample(&uniq, k.min(uniq.len())).unwrap_or_default()
}

/// Places `correct` among `wrong` at a random position; returns (choices, gold index).
pub(crate) fn place<T>(rng: &mut PyRandom, correct: T, mut wrong: Vec<T>) -> (Vec<T>, usize) {
    let gold = rng.randrange(wrong.len() + 1);
    wrong.insert(gold, correct);
    (wrong, gold)
}

/// A person's name with matching pronouns.
#[derive(Clone, Copy)]
pub(crate) struct Person {
    pub name: &'static str,
    pub subject: &'static str,
    pub possessive: &'static str,
}

const PEOPLE: &[Person] = &[
    Person { name: "Maya", subject: "she", possessive: "her" },
    Person { name: "Liam", subject: "he", possessive: "his" },
    Person { name: "Aisha", subject: "she", possessive: "her" },
    Person { name: "Tom", subject: "he", possessive: "his" },
    Person { name: "Priya", subject: "she", possessive: "her" },
    Person { name: "Diego", subject: "he", possessive: "his" },
    Person { name: "Grace", subject: "she", possessive: "her" },
    Person { name: "Kenji", subject: "he", possessive: "his" },
    Person { name: "Lena", subject: "she", possessive: "her" },
    Person { name: "Omar", subject: "he", possessive: "his" },
    Person { name: "Sofia", subject: "she", possessive: "her" },
    Person { name: "Ben", subject: "he", possessive: "his" },
    Person { name: "Zara", subject: "she", possessive: "her" },
    Person { name: "Noah", subject: "he", possessive: "his" },
    Person { name: "Ines", subject: "she", possessive: "her" },
    Person { name: "Sam", subject: "he", possessive: "his" },
    Person { name: "Hana", subject: "she", possessive: "her" },
    Person { name: "Felix", subject: "he", possessive: "his" },
    Person { name: "Nora", subject: "she", possessive: "her" },
    Person { name: "Ravi", subject: "he", possessive: "his" },
];

pub(crate) fn person(rng: &mut PyRandom) -> Person {
    *pick(rng, PEOPLE)
}

/// Upper-cases the first letter (for a pronoun starting a sentence).
pub(crate) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
