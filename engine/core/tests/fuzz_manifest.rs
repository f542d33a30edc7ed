//! Hostile and malformed manifests (issue 11, part 4): generated `[stages.*]` manifests with
//! unicode names, path traversal in `outs`, self-references, cycles, unknown keys, wrong types and
//! huge values, plus raw byte-level mutations of valid manifests and random `--set` overrides.
//! Every case goes through `Manifest::from_source`, `Registry::plan` and `Graph::build`; the
//! properties: never a panic, every error names the file and a line, and whatever the generator
//! made invalid (an escaping out, a cycle, an unknown input, a misspelt key) is rejected.
//!
//! Case counts: `PROPTEST_CASES` (default 256 per property); `SYCO_LONG_TESTS=1` runs 4096.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Component, Path};

use proptest::prelude::*;
use proptest::test_runner::Config;
use syco_core::graph::Graph;
use syco_core::manifest::Manifest;
use syco_core::Registry;

const FILE: &str = "m.toml";

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        if std::env::var_os("SYCO_LONG_TESTS").is_some() {
            4096
        } else {
            256
        }
    });
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// What happened to one manifest text.
#[derive(Debug)]
enum Verdict {
    /// Parsed and planned: stage ids in dependency order.
    Planned(Vec<String>),
    /// Rejected with this message (Display of the error).
    Rejected(String),
}

/// Parse, plan and build the graph; a panic anywhere fails the property with the input attached.
fn check(source: &str, overrides: &[String]) -> Result<Verdict, TestCaseError> {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Vec<String>, String> {
        let m = Manifest::from_source(Path::new(FILE), source.to_string(), overrides).map_err(|e| e.to_string())?;
        let defs = Registry::new().plan(&m).map_err(|e| e.to_string())?;
        let graph = Graph::build(defs, &m).map_err(|e| e.to_string())?;
        Ok(graph.order().iter().map(|&i| graph.defs[i].id.clone()).collect())
    }));
    match result {
        Ok(Ok(order)) => Ok(Verdict::Planned(order)),
        Ok(Err(msg)) => Ok(Verdict::Rejected(msg)),
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(TestCaseError::fail(format!("panic: {}\n--- manifest ---\n{source}\n--- overrides {overrides:?}", msg.unwrap_or_default())))
        }
    }
}

/// `m.toml:LINE:COL: ...` with LINE inside the file (or one past its end).
fn assert_located(msg: &str, source: &str) -> Result<(), TestCaseError> {
    let lines = source.lines().count().max(1) + 1;
    let rest = msg.strip_prefix("m.toml:").ok_or_else(|| TestCaseError::fail(format!("error names no file: {msg:?}\n{source}")))?;
    let line: usize =
        rest.split(':').next().and_then(|l| l.parse().ok()).ok_or_else(|| TestCaseError::fail(format!("error names no line: {msg:?}")))?;
    prop_assert!(line >= 1 && line <= lines, "line {line} outside 1..={lines}: {msg:?}");
    Ok(())
}

/// A TOML basic string holding exactly `s` (usable as a key or a value).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn escapes(path: &str) -> bool {
    let p = Path::new(path);
    path.is_empty() || p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir | Component::RootDir))
}

/// One generated `[stages.NAME]` table.
#[derive(Debug, Clone)]
struct StageGen {
    name: String,
    /// Indices into the manifest's stages (`% len`), or names that match none.
    inputs: Vec<InputGen>,
    outs: Vec<String>,
    publish: Option<String>,
    /// A key the command planner does not know.
    unknown_key: bool,
    /// `cmd` as an integer instead of a string.
    cmd_wrong_type: bool,
    huge: HugeValue,
}

#[derive(Debug, Clone)]
enum InputGen {
    Stage(usize),
    Unknown(String),
}

#[derive(Debug, Clone)]
enum HugeValue {
    None,
    MaxInt,
    HugeFloat,
    LongString(usize),
    DeepArray(usize),
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_-]{0,7}",
        1 => "\\PC{1,6}",
        1 => Just("..".to_string()),
        1 => Just("%2F".to_string()),
        1 => Just("é名🚀".to_string()),
        1 => Just("a.b".to_string()),
    ]
    .prop_map(no_interpolation)
}

/// `${` in a value starts a `[vars]` reference; generated names and paths stay literal.
fn no_interpolation(s: String) -> String {
    s.replace("${", "$")
}

fn out_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z]{1,6}(/[a-z]{1,4})?\\.txt",
        1 => Just("../../etc/passwd".to_string()),
        1 => Just("/etc/passwd".to_string()),
        1 => Just("a/../../x".to_string()),
        1 => Just("..".to_string()),
        1 => Just(String::new()),
        1 => "\\PC{1,10}",
    ]
    .prop_map(no_interpolation)
}

fn stage_strategy() -> impl Strategy<Value = StageGen> {
    let input = prop_oneof![4 => (0usize..8).prop_map(InputGen::Stage), 1 => "[a-z]{1,5}".prop_map(InputGen::Unknown)];
    let huge = prop_oneof![
        6 => Just(HugeValue::None),
        1 => Just(HugeValue::MaxInt),
        1 => Just(HugeValue::HugeFloat),
        1 => (1000usize..200_000).prop_map(HugeValue::LongString),
        1 => (1usize..64).prop_map(HugeValue::DeepArray),
    ];
    (
        name_strategy(),
        prop::collection::vec(input, 0..3),
        prop::collection::vec(out_strategy(), 0..3),
        prop::option::weighted(0.2, out_strategy()),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
        huge,
    )
        .prop_map(|(name, inputs, outs, publish, unknown_key, cmd_wrong_type, huge)| StageGen {
            name,
            inputs,
            outs,
            publish,
            unknown_key,
            cmd_wrong_type,
            huge,
        })
}

/// Stages with distinct names, written as a manifest, with what the planner must reject.
struct Generated {
    text: String,
    names: Vec<String>,
    /// name -> names of stages it reads (resolved indices only).
    edges: BTreeMap<String, Vec<String>>,
    unknown_input: bool,
    escaping_out: bool,
    escaping_publish: bool,
    unknown_key: bool,
    wrong_type: bool,
}

fn render(stages: &[StageGen]) -> Generated {
    let mut seen = BTreeSet::new();
    let stages: Vec<&StageGen> = stages.iter().filter(|s| seen.insert(s.name.clone())).collect();
    let names: Vec<String> = stages.iter().map(|s| s.name.clone()).collect();
    let mut g = Generated {
        text: "[experiment]\nname = \"fuzz\"\n\n".to_string(),
        names: names.clone(),
        edges: BTreeMap::new(),
        unknown_input: false,
        escaping_out: false,
        escaping_publish: false,
        unknown_key: false,
        wrong_type: false,
    };
    for s in &stages {
        let mut inputs = Vec::new();
        let mut edges = Vec::new();
        for i in &s.inputs {
            match i {
                InputGen::Stage(k) => {
                    let target = &names[k % names.len()];
                    // A name with '/' is taken as a full stage id, which no generated stage has.
                    if target.contains('/') {
                        g.unknown_input = true;
                    } else {
                        edges.push(target.clone());
                    }
                    inputs.push(target.clone());
                }
                InputGen::Unknown(n) => {
                    if !names.contains(n) {
                        g.unknown_input = true;
                    } else {
                        edges.push(n.clone());
                    }
                    inputs.push(n.clone());
                }
            }
        }
        g.escaping_out |= s.outs.iter().any(|o| escapes(o));
        g.escaping_publish |= s.publish.as_deref().is_some_and(escapes);
        g.unknown_key |= s.unknown_key;
        g.wrong_type |= s.cmd_wrong_type;
        g.edges.insert(s.name.clone(), edges);
        g.text += &format!("[stages.{}]\n", quoted(&s.name));
        g.text += if s.cmd_wrong_type { "cmd = 5\n" } else { "cmd = 'echo hi > out.txt'\n" };
        g.text += &format!("inputs = [{}]\n", inputs.iter().map(|i| quoted(i)).collect::<Vec<_>>().join(", "));
        g.text += &format!("outs = [{}]\n", s.outs.iter().map(|o| quoted(o)).collect::<Vec<_>>().join(", "));
        if let Some(p) = &s.publish {
            g.text += &format!("publish = {}\n", quoted(p));
        }
        if s.unknown_key {
            g.text += "cmdd = 'typo'\n";
        }
        match s.huge {
            HugeValue::None => {}
            HugeValue::MaxInt => g.text += "params = { n = 9223372036854775807, m = -9223372036854775808 }\n",
            HugeValue::HugeFloat => g.text += "params = { x = 1.7976931348623157e308, y = inf, z = nan }\n",
            HugeValue::LongString(n) => g.text += &format!("params = {{ s = {} }}\n", quoted(&"ü".repeat(n))),
            HugeValue::DeepArray(d) => g.text += &format!("params = {{ a = {}1{} }}\n", "[".repeat(d), "]".repeat(d)),
        }
        g.text += "\n";
    }
    g
}

/// Does the input graph (name -> names read) have a cycle (a self-reference included)?
fn has_cycle(edges: &BTreeMap<String, Vec<String>>) -> bool {
    fn visit(n: &str, edges: &BTreeMap<String, Vec<String>>, state: &mut BTreeMap<String, u8>) -> bool {
        match state.get(n) {
            Some(1) => return true,
            Some(2) => return false,
            _ => {}
        }
        state.insert(n.to_string(), 1);
        for m in edges.get(n).into_iter().flatten() {
            if visit(m, edges, state) {
                return true;
            }
        }
        state.insert(n.to_string(), 2);
        false
    }
    let mut state = BTreeMap::new();
    edges.keys().any(|n| visit(n, edges, &mut state))
}

/// A small valid manifest to mutate byte by byte.
const VALID: &str = r#"[experiment]
name = "seed"

[vars]
n = 3
tag = "v1"

[matrix]
b = ["x", "y"]

[stages.prep]
cmd = 'echo ${vars.tag} > a.txt'
outs = ["a.txt"]
params = { n = "${vars.n}" }

[stages."use-{b}"]
cmd = 'cat "$SYCO_IN_PREP/a.txt" > b.txt; echo {b} >> b.txt'
inputs = ["prep"]
outs = ["b.txt"]
"#;

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), prop_oneof!["[\\[\\]{}=\"'.,\\n#$]{1,4}", "\\PC{1,6}"]).prop_map(|(at, text)| Mutation::Insert { at, text }),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn char_floor(s: &str, at: usize) -> usize {
    let mut at = at % (s.len() + 1);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, m: &Mutation) -> String {
    match m {
        Mutation::Delete { at, len } => {
            let a = char_floor(text, *at);
            let b = char_floor(text, (a + len).min(text.len()));
            format!("{}{}", &text[..a], &text[b.max(a)..])
        }
        Mutation::Insert { at, text: ins } => {
            let a = char_floor(text, *at);
            format!("{}{ins}{}", &text[..a], &text[a..])
        }
        Mutation::DuplicateLine(_) | Mutation::SwapLines(..) if text.lines().next().is_none() => text.to_string(),
        Mutation::DuplicateLine(i) => {
            let lines: Vec<&str> = text.lines().collect();
            let i = i % lines.len();
            let mut out: Vec<&str> = lines.clone();
            out.insert(i, lines[i]);
            out.join("\n") + "\n"
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.lines().collect();
            let n = lines.len();
            lines.swap(a % n, b % n);
            lines.join("\n") + "\n"
        }
        Mutation::Truncate(at) => text[..char_floor(text, *at)].to_string(),
    }
}

#[test]
fn the_seed_manifest_plans() {
    match check(VALID, &[]).unwrap() {
        Verdict::Planned(mut order) => {
            assert_eq!(order[0], "stages/prep", "the input comes first: {order:?}");
            order.sort();
            assert_eq!(order, vec!["stages/prep", "stages/use-x", "stages/use-y"]);
        }
        Verdict::Rejected(e) => panic!("seed manifest rejected: {e}"),
    }
}

proptest! {
    #![proptest_config(config())]

    /// Generated stage tables: whatever the generator broke is rejected with FILE:LINE, and a
    /// manifest with nothing broken plans in an order where every input comes first.
    #[test]
    fn generated_manifests_are_planned_or_rejected_with_a_location(stages in prop::collection::vec(stage_strategy(), 1..7)) {
        let g = render(&stages);
        let must_reject = g.unknown_input || g.escaping_out || g.unknown_key || g.wrong_type || has_cycle(&g.edges);
        match check(&g.text, &[])? {
            Verdict::Rejected(msg) => {
                assert_located(&msg, &g.text)?;
                prop_assert!(must_reject || g.escaping_publish, "a valid manifest was rejected: {msg}\n{}", g.text);
            }
            Verdict::Planned(order) => {
                prop_assert!(!must_reject, "accepted a manifest that must be rejected (unknown input {}, escaping out {}, unknown key {}, wrong type {}, cycle {})\n{}",
                    g.unknown_input, g.escaping_out, g.unknown_key, g.wrong_type, has_cycle(&g.edges), g.text);
                prop_assert_eq!(order.len(), g.names.len());
                let pos: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
                for (name, inputs) in &g.edges {
                    for input in inputs {
                        let (a, b) = (pos[format!("stages/{input}").as_str()], pos[format!("stages/{name}").as_str()]);
                        prop_assert!(a < b, "{input} must come before {name}");
                    }
                }
            }
        }
    }

    /// Byte-level damage to a valid manifest (syntax errors, duplicated tables, cut-off files).
    #[test]
    fn mutated_manifests_never_panic_and_errors_name_a_line(muts in prop::collection::vec(mutation_strategy(), 1..4)) {
        let text = muts.iter().fold(VALID.to_string(), |t, m| apply(&t, m));
        if let Verdict::Rejected(msg) = check(&text, &[])? {
            assert_located(&msg, &text)?;
        }
    }

    /// Arbitrary text, including control characters and invalid TOML of every sort.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}|[\\[\\]{}=\"'.a-z \\n$]{0,200}") {
        if let Verdict::Rejected(msg) = check(&text, &[])? {
            assert_located(&msg, &text)?;
        }
    }

    /// `--set` with odd paths and values: never a panic, and a rejected override is named.
    #[test]
    fn overrides_never_panic(sets in prop::collection::vec(
        prop_oneof![
            "(vars|matrix|stages|experiment|cache)(\\.[a-z\"]{0,4}){0,3}=[a-z0-9\\[\\]{}\"=.]{0,8}",
            "\\PC{0,16}",
            Just("=".to_string()),
            Just("vars=1".to_string()),
            Just("matrix.b=[]".to_string()),
            Just("matrix.b=[[1]]".to_string()),
            Just("stages.prep.outs=[\"../x\"]".to_string()),
            Just("stages.prep.inputs=[\"prep\"]".to_string()),
        ], 1..4)) {
        match check(VALID, &sets)? {
            Verdict::Rejected(msg) => {
                prop_assert!(msg.contains("--set") || msg.starts_with("m.toml:"), "error names neither the override nor a line: {msg}");
            }
            Verdict::Planned(_) => {}
        }
    }
}

/// `publish` is a path under the run folder; `..` or an absolute path would make `syco run`
/// copy results outside it (exec.rs `Session::publish` joins it onto the run folder unchecked).
#[test]
fn publish_outside_the_run_folder_is_rejected() {
    for bad in ["../../etc/cron.d", "/tmp/elsewhere", "a/../../b"] {
        let src = format!("[stages.a]\ncmd = 'true'\nouts = []\npublish = {}\n", quoted(bad));
        match check(&src, &[]).unwrap() {
            Verdict::Rejected(msg) => assert!(msg.contains("publish"), "{msg}"),
            Verdict::Planned(_) => panic!("publish = {bad:?} was accepted"),
        }
    }
}

/// Self-reference and a 3-cycle name every stage on the cycle.
#[test]
fn cycles_name_their_stages() {
    let self_ref = "[stages.a]\ncmd = 'true'\ninputs = [\"a\"]\n";
    let Verdict::Rejected(msg) = check(self_ref, &[]).unwrap() else { panic!("self-reference accepted") };
    assert!(msg.contains("cycle") && msg.contains("stages/a"), "{msg}");
    let three =
        "[stages.a]\ncmd = 't'\ninputs = [\"c\"]\n[stages.b]\ncmd = 't'\ninputs = [\"a\"]\n[stages.c]\ncmd = 't'\ninputs = [\"b\"]\n";
    let Verdict::Rejected(msg) = check(three, &[]).unwrap() else { panic!("cycle accepted") };
    for s in ["stages/a", "stages/b", "stages/c"] {
        assert!(msg.contains(s), "{msg}");
    }
    assert_located(&msg, three).unwrap();
}
