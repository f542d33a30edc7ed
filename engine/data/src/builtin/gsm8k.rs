//! GSM8K-style word problems: two or three arithmetic steps, each computed here and written
//! with GSM8K's `<<expr=value>>` calculator annotations, ending in `#### N`.

use super::{between, capitalize, person, pick};
use crate::pyrandom::PyRandom;
use crate::record::{Gsm8k, Record};

const ITEMS: &[(&str, &str)] = &[
    ("notebook", "notebooks"),
    ("pen", "pens"),
    ("mango", "mangoes"),
    ("comic book", "comic books"),
    ("candle", "candles"),
    ("plant pot", "plant pots"),
    ("sandwich", "sandwiches"),
    ("toy car", "toy cars"),
    ("scarf", "scarves"),
    ("puzzle", "puzzles"),
];
const COLLECTIBLES: &[&str] = &["stickers", "stamps", "shells", "marbles", "trading cards", "coins", "beads", "seashells"];
const VEHICLES: &[&str] = &["bus", "train", "truck", "car", "ferry", "van"];
const THINGS: &[&str] = &["bike", "jacket", "game", "lamp", "backpack", "skateboard", "guitar", "tent"];
const PLANTS: &[&str] = &["tomato", "lettuce", "carrot", "bean", "pepper", "cabbage"];

type Problem = (String, Vec<String>, i64);

pub(super) fn item(rng: &mut PyRandom) -> Record {
    let makers: [fn(&mut PyRandom) -> Problem; 12] =
        [change, daily, share, trip, savings, pages, half, rows, discount, ages, tickets, boxes];
    let (question, steps, result) = pick(rng, &makers)(rng);
    let answer = format!("{}\n#### {result}", steps.join("\n"));
    Record::Gsm8k(Gsm8k { question, answer })
}

fn change(rng: &mut PyRandom) -> Problem {
    let p = person(rng);
    let (_, many) = *pick(rng, ITEMS);
    let count = between(rng, 2, 9);
    let price = between(rng, 2, 15);
    let cost = count * price;
    let bill = [20, 50, 100, 200].into_iter().find(|&b| b > cost).unwrap_or(500);
    (
        format!("{} buys {count} {many} for ${price} each and pays with a ${bill} bill. How much change does {} get?", p.name, p.subject),
        vec![
            format!("The {many} cost {count} * ${price} = $<<{count}*{price}={cost}>>{cost}."),
            format!("The change is ${bill} - ${cost} = $<<{bill}-{cost}={}>>{}.", bill - cost, bill - cost),
        ],
        bill - cost,
    )
}

fn daily(rng: &mut PyRandom) -> Problem {
    let p = person(rng);
    let what = *pick(rng, COLLECTIBLES);
    let (start, per_day, days) = (between(rng, 3, 40), between(rng, 2, 9), between(rng, 2, 7));
    let more = per_day * days;
    (
        format!(
            "{} has {start} {what}. {} gets {per_day} more every day for {days} days. How many {what} does {} have now?",
            p.name,
            capitalize(p.subject),
            p.subject
        ),
        vec![
            format!("{} gets {per_day} * {days} = <<{per_day}*{days}={more}>>{more} more {what}.", capitalize(p.subject)),
            format!("{} has {start} + {more} = <<{start}+{more}={}>>{} {what} now.", capitalize(p.subject), start + more, start + more),
        ],
        start + more,
    )
}

fn share(rng: &mut PyRandom) -> Problem {
    let p = person(rng);
    let trays = between(rng, 2, 5);
    let per_tray = between(rng, 3, 12);
    let total = trays * per_tray;
    // A friend count that divides the total evenly (trays itself always does).
    let options: Vec<i64> = (2..=8).filter(|k| total % k == 0).collect();
    let friends = *pick(rng, &options);
    let each = total / friends;
    (
        format!("{} bakes {trays} trays of {per_tray} cookies and shares them equally among {friends} friends. How many cookies does each friend get?", p.name),
        vec![
            format!("{} bakes {trays} * {per_tray} = <<{trays}*{per_tray}={total}>>{total} cookies.", capitalize(p.subject)),
            format!("Each friend gets {total} / {friends} = <<{total}/{friends}={each}>>{each} cookies."),
        ],
        each,
    )
}

fn trip(rng: &mut PyRandom) -> Problem {
    let vehicle = *pick(rng, VEHICLES);
    let (s1, h1, s2, h2) = (between(rng, 3, 12) * 5, between(rng, 1, 4), between(rng, 3, 12) * 5, between(rng, 1, 4));
    let (d1, d2) = (s1 * h1, s2 * h2);
    (
        format!("A {vehicle} travels at {s1} miles per hour for {h1} hours and then at {s2} miles per hour for {h2} hours. How many miles does it travel in total?"),
        vec![
            format!("First it travels {s1} * {h1} = <<{s1}*{h1}={d1}>>{d1} miles."),
            format!("Then it travels {s2} * {h2} = <<{s2}*{h2}={d2}>>{d2} miles."),
            format!("In total it travels {d1} + {d2} = <<{d1}+{d2}={}>>{} miles.", d1 + d2, d1 + d2),
        ],
        d1 + d2,
    )
}

fn savings(rng: &mut PyRandom) -> Problem {
    let p = person(rng);
    let thing = *pick(rng, THINGS);
    let (weekly, weeks) = (between(rng, 3, 25), between(rng, 3, 10));
    let saved = weekly * weeks;
    let spent = between(rng, 1, saved - 1);
    (
        format!(
            "{} saves ${weekly} each week for {weeks} weeks. Then {} spends ${spent} on a {thing}. How much money does {} have left?",
            p.name, p.subject, p.subject
        ),
        vec![
            format!("{} saves {weekly} * {weeks} = $<<{weekly}*{weeks}={saved}>>{saved}.", capitalize(p.subject)),
            format!("{} has ${saved} - ${spent} = $<<{saved}-{spent}={}>>{} left.", capitalize(p.subject), saved - spent, saved - spent),
        ],
        saved - spent,
    )
}

fn pages(rng: &mut PyRandom) -> Problem {
    let p = person(rng);
    let (per_day, days) = (between(rng, 5, 30), between(rng, 2, 7));
    let read = per_day * days;
    let total = read + between(rng, 10, 200);
    (
        format!("A book has {total} pages. {} reads {per_day} pages each day. How many pages are left after {days} days?", p.name),
        vec![
            format!("{} reads {per_day} * {days} = <<{per_day}*{days}={read}>>{read} pages.", capitalize(p.subject)),
            format!("There are {total} - {read} = <<{total}-{read}={}>>{} pages left.", total - read, total - read),
        ],
        total - read,
    )
}

fn half(rng: &mut PyRandom) -> Problem {
    let p = person(rng);
    let what = *pick(rng, COLLECTIBLES);
    let start = between(rng, 3, 30) * 2;
    let bought = between(rng, 2, 20);
    let kept = start / 2;
    (
        format!(
            "{} has {start} {what}. {} gives half of them to a friend and then buys {bought} more. How many {what} does {} have now?",
            p.name,
            capitalize(p.subject),
            p.subject
        ),
        vec![
            format!("{} keeps {start} / 2 = <<{start}/2={kept}>>{kept} {what}.", capitalize(p.subject)),
            format!("Then {} has {kept} + {bought} = <<{kept}+{bought}={}>>{} {what}.", p.subject, kept + bought, kept + bought),
        ],
        kept + bought,
    )
}

fn rows(rng: &mut PyRandom) -> Problem {
    let plant = *pick(rng, PLANTS);
    let (rows, per_row) = (between(rng, 3, 12), between(rng, 4, 15));
    let total = rows * per_row;
    let eaten = between(rng, 1, total / 2);
    (
        format!("A garden has {rows} rows with {per_row} {plant} plants in each row. Rabbits eat {eaten} of the plants. How many plants are left?"),
        vec![
            format!("The garden has {rows} * {per_row} = <<{rows}*{per_row}={total}>>{total} plants."),
            format!("After the rabbits, {total} - {eaten} = <<{total}-{eaten}={}>>{} plants are left.", total - eaten, total - eaten),
        ],
        total - eaten,
    )
}

fn discount(rng: &mut PyRandom) -> Problem {
    let (one, _) = *pick(rng, ITEMS);
    let price = between(rng, 1, 10) * 20;
    let pct = *pick(rng, &[10i64, 20, 25, 50]);
    let off = price * pct / 100; // exact: price is a multiple of 20
    (
        format!("A {one} costs ${price}. It is on sale for {pct}% off. What is the sale price in dollars?"),
        vec![
            format!("The discount is ${price} * {pct} / 100 = $<<{price}*{pct}/100={off}>>{off}."),
            format!("The sale price is ${price} - ${off} = $<<{price}-{off}={}>>{}.", price - off, price - off),
        ],
        price - off,
    )
}

fn ages(rng: &mut PyRandom) -> Problem {
    let p = person(rng);
    let (age, older, years) = (between(rng, 4, 30), between(rng, 2, 9), between(rng, 2, 15));
    let brother = age + older;
    (
        format!(
            "{} is {age} years old. {} brother is {older} years older. How old will {} brother be in {years} years?",
            p.name,
            capitalize(p.possessive),
            p.possessive
        ),
        vec![
            format!("The brother is {age} + {older} = <<{age}+{older}={brother}>>{brother} years old now."),
            format!(
                "In {years} years he will be {brother} + {years} = <<{brother}+{years}={}>>{} years old.",
                brother + years,
                brother + years
            ),
        ],
        brother + years,
    )
}

fn tickets(rng: &mut PyRandom) -> Problem {
    let (adult, child) = (between(rng, 8, 20), between(rng, 3, 7));
    let (adults, children) = (between(rng, 1, 4), between(rng, 1, 5));
    let (a, c) = (adult * adults, child * children);
    (
        format!("Adult tickets cost ${adult} and child tickets cost ${child}. A family buys {adults} adult and {children} child tickets. How much do they pay?"),
        vec![
            format!("The adult tickets cost {adults} * ${adult} = $<<{adults}*{adult}={a}>>{a}."),
            format!("The child tickets cost {children} * ${child} = $<<{children}*{child}={c}>>{c}."),
            format!("They pay ${a} + ${c} = $<<{a}+{c}={}>>{}.", a + c, a + c),
        ],
        a + c,
    )
}

fn boxes(rng: &mut PyRandom) -> Problem {
    let (boxes, per_box) = (between(rng, 3, 15), between(rng, 6, 24));
    let total = boxes * per_box;
    let sold = between(rng, 1, total - 1);
    (
        format!("A shop has {boxes} boxes of {per_box} pencils. It sells {sold} pencils. How many pencils are left?"),
        vec![
            format!("The shop has {boxes} * {per_box} = <<{boxes}*{per_box}={total}>>{total} pencils."),
            format!("It has {total} - {sold} = <<{total}-{sold}={}>>{} pencils left.", total - sold, total - sold),
        ],
        total - sold,
    )
}
