//! MMLU-style four-choice questions from the fact tables and from computed arithmetic. The gold
//! answer is the table row (or the computed value); distractors are other rows; its position is random.

use super::facts::*;
use super::{between, distractors, pick, place};
use crate::pyrandom::PyRandom;
use crate::record::{Mmlu, Record};

pub(super) fn item(rng: &mut PyRandom) -> Record {
    let makers: [fn(&mut PyRandom) -> Item; 10] =
        [capital, symbol, atomic_number, animal_class, planet, opposite, product, polygon, conversion, trivia];
    let (question, subject, correct, wrong) = pick(rng, &makers)(rng);
    let (choices, answer) = place(rng, correct, wrong);
    Record::Mmlu(Mmlu { question, subject: subject.to_string(), choices, answer })
}

/// (question, subject, correct choice, three wrong choices).
type Item = (String, &'static str, String, Vec<String>);

fn strings(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_string).collect()
}

fn capital(rng: &mut PyRandom) -> Item {
    let row = pick(rng, CAPITALS);
    let others: Vec<&str> = CAPITALS.iter().map(|c| c.capital).collect();
    // Half the time the well-known wrong city is among the options.
    let mut wrong = if rng.randrange(2) == 0 {
        let mut w = vec![row.plausible_wrong];
        w.extend(distractors(rng, &others, &row.capital, 2));
        w
    } else {
        distractors(rng, &others, &row.capital, 3)
    };
    rng.shuffle(&mut wrong);
    let question = match rng.randrange(3) {
        0 => format!("What is the capital of {}?", row.country),
        1 => format!("Which city is the capital of {}?", row.country),
        _ => format!("The capital city of {} is", row.country),
    };
    (question, "geography", row.capital.to_string(), strings(wrong))
}

fn symbol(rng: &mut PyRandom) -> Item {
    let &(name, sym, _) = pick(rng, ELEMENTS);
    let syms: Vec<&str> = ELEMENTS.iter().map(|e| e.1).collect();
    let names: Vec<&str> = ELEMENTS.iter().map(|e| e.0).collect();
    if rng.randrange(2) == 0 {
        (
            format!("What is the chemical symbol for {name}?"),
            "high_school_chemistry",
            sym.to_string(),
            strings(distractors(rng, &syms, &sym, 3)),
        )
    } else {
        (
            format!("Which element has the chemical symbol {sym}?"),
            "high_school_chemistry",
            name.to_string(),
            strings(distractors(rng, &names, &name, 3)),
        )
    }
}

fn atomic_number(rng: &mut PyRandom) -> Item {
    let &(name, _, z) = pick(rng, ELEMENTS);
    let names: Vec<&str> = ELEMENTS.iter().map(|e| e.0).collect();
    (
        format!("Which element has the atomic number {z}?"),
        "high_school_chemistry",
        name.to_string(),
        strings(distractors(rng, &names, &name, 3)),
    )
}

fn animal_class(rng: &mut PyRandom) -> Item {
    let &(animal, class) = pick(rng, ANIMAL_CLASSES);
    let question = match rng.randrange(2) {
        0 => format!("What kind of animal is a {animal}?"),
        _ => format!("A {animal} belongs to which group of animals?"),
    };
    (question, "high_school_biology", class.to_string(), strings(distractors(rng, ANIMAL_CLASS_NAMES, &class, 3)))
}

fn planet(rng: &mut PyRandom) -> Item {
    let i = rng.randrange(PLANETS.len());
    (
        format!("Which planet is the {} planet from the Sun?", ORDINALS[i]),
        "astronomy",
        PLANETS[i].to_string(),
        strings(distractors(rng, PLANETS, &PLANETS[i], 3)),
    )
}

fn opposite(rng: &mut PyRandom) -> Item {
    let &(word, opp) = pick(rng, OPPOSITES);
    let (word, opp) = if rng.randrange(2) == 0 { (word, opp) } else { (opp, word) };
    let pool: Vec<&str> = OPPOSITES.iter().flat_map(|&(a, b)| [a, b]).filter(|w| *w != word).collect();
    (format!("Which word means the opposite of \"{word}\"?"), "english", opp.to_string(), strings(distractors(rng, &pool, &opp, 3)))
}

fn product(rng: &mut PyRandom) -> Item {
    let (a, b) = (between(rng, 3, 15), between(rng, 3, 15));
    let c = a * b;
    let mut wrong: Vec<i64> = Vec::new();
    for w in [c + a, c - b, c + 10, c - 1, c + 2 * b, c - a - 1] {
        if w > 0 && w != c && !wrong.contains(&w) {
            wrong.push(w);
        }
    }
    let wrong = rng.sample(&wrong, 3).unwrap_or_default();
    let question = match rng.randrange(2) {
        0 => format!("What is {a} x {b}?"),
        _ => format!("What is the product of {a} and {b}?"),
    };
    (question, "elementary_mathematics", c.to_string(), wrong.iter().map(i64::to_string).collect())
}

fn polygon(rng: &mut PyRandom) -> Item {
    let &(shape, sides) = pick(rng, POLYGONS);
    let counts: Vec<u32> = POLYGONS.iter().map(|p| p.1).collect();
    let wrong = distractors(rng, &counts, &sides, 3);
    (
        format!("How many sides does a {shape} have?"),
        "high_school_mathematics",
        sides.to_string(),
        wrong.iter().map(u32::to_string).collect(),
    )
}

fn conversion(rng: &mut PyRandom) -> Item {
    let n = between(rng, 2, 12);
    let (question, factor, wrong_factors) = match rng.randrange(3) {
        0 => (format!("How many centimeters are in {n} meters?"), 100, [10, 1000, 50]),
        1 => (format!("How many minutes are in {n} hours?"), 60, [100, 30, 24]),
        _ => (format!("How many grams are in {n} kilograms?"), 1000, [100, 10, 500]),
    };
    let wrong = wrong_factors.iter().map(|f| (n * f).to_string()).collect();
    (question, "conceptual_physics", (n * factor).to_string(), wrong)
}

fn trivia(rng: &mut PyRandom) -> Item {
    let row = pick(rng, TRIVIA);
    let others: Vec<&str> = TRIVIA.iter().filter(|t| t.subject == row.subject).map(|t| t.correct).collect();
    let mut wrong = vec![row.plausible_wrong];
    for w in distractors(rng, &others, &row.correct, 2) {
        if w != row.plausible_wrong {
            wrong.push(w);
        }
    }
    let all_wrong: Vec<&str> = TRIVIA.iter().map(|t| t.plausible_wrong).collect();
    while wrong.len() < 3 {
        let w = *pick(rng, &all_wrong);
        if w != row.correct && !wrong.contains(&w) {
            wrong.push(w);
        }
    }
    rng.shuffle(&mut wrong);
    (row.question.to_string(), row.subject, row.correct.to_string(), strings(wrong))
}
