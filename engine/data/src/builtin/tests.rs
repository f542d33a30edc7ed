//! The mini-suite is deterministic, varied, short, and its gold answers are right by construction.

use std::collections::{HashMap, HashSet};

use super::facts::*;
use super::*;
use crate::record::*;

const ALL: [Kind; 7] = [Kind::Gsm8k, Kind::Mmlu, Kind::TruthfulQa, Kind::HellaSwag, Kind::Feedback, Kind::AreYouSure, Kind::Answer];

fn main_text(r: &Record) -> String {
    match r {
        Record::Gsm8k(x) => x.question.clone(),
        Record::Mmlu(x) => x.question.clone(),
        Record::TruthfulQa(x) => x.question.clone(),
        Record::HellaSwag(x) => x.ctx.clone(),
        Record::Feedback(x) => x.text.clone(),
        Record::AreYouSure(x) => x.question.clone(),
        Record::Answer(x) => x.question.clone(),
    }
}

/// The text a model reads for the item (prompt-ish length check).
fn shown_text(r: &Record) -> String {
    match r {
        Record::Gsm8k(x) => x.question.clone(),
        Record::Mmlu(x) => format!("{} {}", x.question, x.choices.join(" ")),
        Record::TruthfulQa(x) => format!("{} {}", x.question, x.mc1_targets.choices.join(" ")),
        Record::HellaSwag(x) => format!("{} {}", x.ctx, x.endings[x.label]),
        Record::Feedback(x) => x.text.clone(),
        Record::AreYouSure(x) => x.prompt.clone(),
        Record::Answer(x) => x.prompt.clone(),
    }
}

#[test]
fn generators_are_deterministic_and_seed_dependent() {
    for kind in Kind::ALL {
        let a = generate(kind, 40, 7);
        assert_eq!(a.len(), 40, "{kind}");
        assert_eq!(a, generate(kind, 40, 7), "{kind}");
        assert_ne!(a, generate(kind, 40, 8), "{kind}");
        if kind != Kind::AntiSyc {
            assert!(a.iter().all(|r| r.kind() == kind));
        }
    }
    let mixed = generate(Kind::AntiSyc, 9, 1);
    let kinds: HashSet<Kind> = mixed.iter().map(Record::kind).collect();
    assert_eq!(kinds.len(), 3);
}

#[test]
fn generators_are_varied_distinct_and_short() {
    for kind in ALL {
        let items = generate(kind, 250, 42);
        let distinct: HashSet<String> = items.iter().map(Record::canonical_json).collect();
        assert_eq!(distinct.len(), 250, "{kind}: records repeat");
        let texts: HashSet<String> = items.iter().map(main_text).collect();
        // TruthfulQA items reuse ~70 questions with varied choices, as the real set reuses themes.
        let min_distinct = if kind == Kind::TruthfulQa { 50 } else { 120 };
        assert!(texts.len() >= min_distinct, "{kind}: only {} distinct questions/texts", texts.len());
        let short = items.iter().filter(|r| shown_text(r).split_whitespace().count() <= 50).count();
        assert!(short * 10 >= items.len() * 9, "{kind}: only {short}/250 items are short");
    }
}

#[test]
fn gold_positions_are_spread() {
    let mut counts = [0usize; 4];
    for r in generate(Kind::Mmlu, 400, 3) {
        let Record::Mmlu(m) = r else { unreachable!() };
        counts[m.answer] += 1;
    }
    assert!(counts.iter().all(|&c| c >= 60), "mmlu {counts:?}");
    let mut counts = [0usize; 4];
    for r in generate(Kind::HellaSwag, 400, 3) {
        let Record::HellaSwag(h) = r else { unreachable!() };
        counts[h.label] += 1;
    }
    assert!(counts.iter().all(|&c| c >= 60), "hellaswag {counts:?}");
    let letters: HashSet<char> = generate(Kind::AreYouSure, 200, 3)
        .iter()
        .map(|r| match r {
            Record::AreYouSure(a) => a.correct_letter,
            _ => unreachable!(),
        })
        .collect();
    assert!(letters.len() >= 4, "{letters:?}");
}

/// Evaluates `a op b op c ...` with * and / before + and - (the annotations' grammar).
fn eval_expr(expr: &str) -> Option<i64> {
    let mut sum = 0i64;
    for (sign, term) in split_terms(expr)? {
        let mut factors = term.split(['*', '/']);
        let mut value: i64 = factors.next()?.trim().parse().ok()?;
        let ops: Vec<char> = term.chars().filter(|c| *c == '*' || *c == '/').collect();
        for (op, f) in ops.into_iter().zip(factors) {
            let f: i64 = f.trim().parse().ok()?;
            value = if op == '*' {
                value * f
            } else if f != 0 && value % f == 0 {
                value / f
            } else {
                return None;
            };
        }
        sum += sign * value;
    }
    Some(sum)
}

fn split_terms(expr: &str) -> Option<Vec<(i64, String)>> {
    let mut out = Vec::new();
    let mut sign = 1;
    let mut cur = String::new();
    for c in expr.chars() {
        if c == '+' || c == '-' {
            out.push((sign, std::mem::take(&mut cur)));
            sign = if c == '+' { 1 } else { -1 };
        } else {
            cur.push(c);
        }
    }
    out.push((sign, cur));
    Some(out)
}

#[test]
fn gsm8k_rationales_compute_and_end_in_the_gold_number() {
    let re = regex::Regex::new(r"<<([^=]+)=(-?\d+)>>(-?\d+)").unwrap();
    for r in generate(Kind::Gsm8k, 300, 11) {
        let Record::Gsm8k(g) = &r else { unreachable!() };
        let mut last = None;
        for cap in re.captures_iter(&g.answer) {
            let value = eval_expr(&cap[1]).unwrap_or_else(|| panic!("bad expression {}", &cap[1]));
            assert_eq!(value.to_string(), &cap[2], "{}", g.answer);
            assert_eq!(&cap[2], &cap[3]);
            last = Some(value);
        }
        let gold: i64 = g.gold().unwrap().parse().unwrap();
        assert_eq!(Some(gold), last, "{}", g.answer);
        assert!(gold >= 0, "{}", g.question);
    }
}

#[test]
fn mmlu_answers_are_right() {
    let capitals: HashMap<&str, &str> = CAPITALS.iter().map(|c| (c.country, c.capital)).collect();
    let product = regex::Regex::new(r"^What is (?:the product of )?(\d+) (?:x|and) (\d+)\?$").unwrap();
    for r in generate(Kind::Mmlu, 400, 5) {
        let Record::Mmlu(m) = &r else { unreachable!() };
        assert_eq!(m.choices.len(), 4);
        assert_eq!(m.choices.iter().collect::<HashSet<_>>().len(), 4, "{m:?}");
        let gold = &m.choices[m.answer];
        if let Some(country) = capitals
            .keys()
            .find(|c| m.question.contains(&format!("capital of {c}?")) || m.question.ends_with(&format!("capital city of {c} is")))
        {
            assert_eq!(gold, capitals[country], "{m:?}");
        } else if let Some(c) = product.captures(&m.question) {
            let v: i64 = c[1].parse::<i64>().unwrap() * c[2].parse::<i64>().unwrap();
            assert_eq!(gold, &v.to_string());
        } else if let Some(&(_, sides)) = POLYGONS.iter().find(|(s, _)| m.question == format!("How many sides does a {s} have?")) {
            assert_eq!(gold, &sides.to_string());
        } else if let Some(&(_, sym, _)) = ELEMENTS.iter().find(|(n, _, _)| m.question == format!("What is the chemical symbol for {n}?")) {
            assert_eq!(gold, sym);
        } else if let Some(&(_, class)) =
            ANIMAL_CLASSES.iter().find(|(a, _)| m.question.contains(&format!(" {a} ")) || m.question.ends_with(&format!(" {a}?")))
        {
            assert_eq!(gold, class, "{m:?}");
        } else if let Some(t) = TRIVIA.iter().find(|t| t.question == m.question) {
            assert_eq!(gold, t.correct);
        }
    }
}

#[test]
fn hellaswag_gold_ending_fits_and_the_others_do_not() {
    for r in generate(Kind::HellaSwag, 300, 9) {
        let Record::HellaSwag(h) = &r else { unreachable!() };
        assert_eq!(h.endings.len(), 4);
        assert_eq!(h.ctx, format!("{} {}", h.ctx_a, h.ctx_b));
        for (i, e) in h.endings.iter().enumerate() {
            assert_eq!(hellaswag::is_sensible(&h.activity_label, e), i == h.label, "{h:?}");
        }
    }
}

#[test]
fn truthfulqa_first_mc1_choice_is_the_truth() {
    let myths: HashMap<&str, &truthfulqa::Myth> = truthfulqa::MYTHS.iter().map(|m| (m.question, m)).collect();
    for r in generate(Kind::TruthfulQa, 300, 4) {
        let Record::TruthfulQa(t) = &r else { unreachable!() };
        assert_eq!(t.mc1_gold_index(), Some(0));
        assert_eq!(t.mc1_targets.labels.iter().filter(|&&l| l == 1).count(), 1);
        assert!((2..=4).contains(&t.mc1_targets.choices.len()));
        assert_eq!(t.mc2_targets.true_indices(), vec![0, 1]);
        let truth = &t.mc1_targets.choices[0];
        match myths.get(t.question.as_str()) {
            Some(m) => {
                assert!(m.truths.contains(&truth.as_str()));
                assert!(t.mc1_targets.choices[1..].iter().all(|c| m.falsehoods.contains(&c.as_str())));
            }
            None => {
                let row = CAPITALS.iter().find(|c| t.question == format!("What is the capital of {}?", c.country)).expect("capital item");
                assert_eq!(truth, &format!("The capital of {} is {}.", row.country, row.capital));
                assert!(t.mc1_targets.choices[1..].iter().all(|c| !c.ends_with(&format!(" {}.", row.capital))));
            }
        }
    }
}

#[test]
fn feedback_items_carry_a_known_fallacy_and_the_studys_templates() {
    let names: HashSet<&str> = fallacy_names().collect();
    let mut types = HashSet::new();
    for r in generate(Kind::Feedback, 300, 2) {
        let Record::Feedback(f) = &r else { unreachable!() };
        assert!(names.contains(f.logical_error.as_str()));
        assert!(!f.text.contains('{') && !f.text.contains('}'), "{}", f.text);
        assert_eq!(f.prompt, f.prompt_template.replace("{text}", &f.text));
        types.insert(f.template_type.clone());
    }
    assert_eq!(types.len(), 5);
}

#[test]
fn are_you_sure_correct_letter_points_at_the_right_option() {
    let capitals: HashMap<&str, &str> = CAPITALS.iter().map(|c| (c.country, c.capital)).collect();
    let pct = regex::Regex::new(r"^What is (\d+)% of (\d+)\?$").unwrap();
    for r in generate(Kind::AreYouSure, 300, 6) {
        let Record::AreYouSure(a) = &r else { unreachable!() };
        let list = a.answers_list.as_ref().unwrap();
        let gold = a.gold_index().unwrap();
        assert_eq!(a.correct_answer.as_deref(), Some(list[gold].as_str()));
        assert_eq!(a.option_letters().len(), list.len());
        assert_eq!(crate::antisyc::correct_option_text(a), list[gold]);
        assert!(a.prompt.starts_with(&a.question) && a.prompt.ends_with("Please answer just with the letter of the correct answer."));
        assert_eq!(list.iter().collect::<HashSet<_>>().len(), list.len(), "{a:?}");
        if let Some(country) = a.question.strip_prefix("Which city is the capital of ").and_then(|s| s.strip_suffix('?')) {
            assert_eq!(list[gold], capitals[country]);
        }
        if let Some(c) = pct.captures(&a.question) {
            let v = c[1].parse::<i64>().unwrap() * c[2].parse::<i64>().unwrap() / 100;
            assert_eq!(list[gold], v.to_string());
        }
    }
}

#[test]
fn answer_items_render_the_studys_templates_with_right_answers() {
    let capitals: HashMap<&str, &Capital> = CAPITALS.iter().map(|c| (c.country, c)).collect();
    let times = regex::Regex::new(r"^What is (\d+) times (\d+)\?$").unwrap();
    let mut templates = HashSet::new();
    for r in generate(Kind::Answer, 300, 8) {
        let Record::Answer(a) = &r else { unreachable!() };
        assert_ne!(a.correct_answer, a.incorrect_answer);
        let rendered = a
            .prompt_template
            .replace("{question}", &a.question)
            .replace("{correct_answer}", &a.correct_answer)
            .replace("{incorrect_answer}", &a.incorrect_answer);
        assert_eq!(a.prompt, rendered);
        templates.insert(a.prompt_template.clone());
        if let Some(country) = a.question.rsplit_once("capital of ").map(|(_, c)| c.trim_end_matches('?')) {
            assert_eq!(a.correct_answer, capitals[country].capital);
        }
        if let Some(c) = times.captures(&a.question) {
            assert_eq!(a.correct_answer, (c[1].parse::<i64>().unwrap() * c[2].parse::<i64>().unwrap()).to_string());
        }
    }
    assert_eq!(templates.len(), 4);
}

#[test]
fn generated_records_round_trip_through_canonical_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in ALL {
        let items = generate(kind, 30, 1);
        let path = tmp.path().join(format!("{kind}.jsonl"));
        crate::write_jsonl(&path, &items).unwrap();
        assert_eq!(crate::read_jsonl(&path).unwrap(), items);
        assert_eq!(crate::load_records(kind, &path, None).unwrap(), items);
    }
}

#[test]
fn builtin_names_resolve() {
    assert_eq!(kind_of("mini/gsm8k").unwrap(), Kind::Gsm8k);
    assert_eq!(kind_of("mini/are_you_sure").unwrap(), Kind::AreYouSure);
    assert!(kind_of("mini/nope").unwrap_err().to_string().contains("mini/nope"));
    assert_eq!(generate_named("mini/mmlu", 3, 1).unwrap(), generate(Kind::Mmlu, 3, 1));
}
