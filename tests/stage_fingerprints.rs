//! Stage keys rely on each kind's hand-bumped `version()`: this test makes a forgotten bump fail.
//!
//! It runs every registered stage kind (model, dataset, task, train, combine, respond, eval,
//! task_respond, task_eval, import, analysis, command) through the `syco` binary on a small fixture (the tiny random Llama in
//! engine/train/tests/golden/tiny, the built-in mini datasets, a study-shaped import file, one
//! shell stage), then compares, stage by stage, the blake3 of each output file that counts with
//! tests/stage_fingerprints.tsv. The kind's version comes from the engine itself: the cache's
//! record of each stage stores the `version()` its key was computed with.
//!
//! - Output changed, version unchanged, inputs unchanged: fails naming the kind, the file and the
//!   `version()` to bump. A stage whose inputs changed is only reported as following from them.
//! - Version changed but the table not re-recorded: fails asking to re-record.
//! - Re-record: `SYCO_UPDATE_FINGERPRINTS=1 cargo test --release --test stage_fingerprints`.
//!
//! Which files count (`rule` names every file each kind writes): the results a downstream stage
//! or a person reads. Left out: timings (`tokens_per_s` in train_log.jsonl), pictures
//! (`training_loss.*`, `figures/*`: the numbers behind them count, and the crates that draw them
//! are in the analysis key through engine/cli/build.rs), and `report.md`/`report.html`, which
//! name upstream stage keys: keys change when params are restructured, and that must not fail
//! this test. Paths a stage records (model.json, import's results.json) are hashed with the
//! fixture's and the workspace's folders replaced by `$FIXTURE` and `$WORKSPACE`.
//!
//! Floating-point results may depend on the CPU's vector instructions (the kernels pick AVX-512,
//! AVX2 or portable code). The run uses one stage at a time, 2 rayon threads and f32 (on the
//! recording machine the outputs were the same with 1 to 8 threads, 4 jobs, and with
//! SYCO_NO_AVX512=1). On a CPU whose instruction set differs from the recording machine's (named
//! in the table header), changed outputs of the model-backed kinds are printed as such, not
//! failed as a missing bump.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const TABLE: &str = "tests/stage_fingerprints.tsv";
const UPDATE: &str = "SYCO_UPDATE_FINGERPRINTS";
const RERECORD: &str = "SYCO_UPDATE_FINGERPRINTS=1 cargo test --release --test stage_fingerprints";
/// Kinds whose own outputs come from float kernels that depend on the instruction set.
const FLOAT_KINDS: [&str; 4] = ["train", "combine", "respond", "task_respond"];

/// How one output file enters the fingerprint.
enum Rule {
    Bytes,
    /// JSON or JSON lines with these fields removed wherever they occur (timings).
    JsonWithout(&'static [&'static str]),
    /// Text with the fixture's folder replaced by `$FIXTURE` and the workspace's by `$WORKSPACE`
    /// (paths a stage records, which differ between checkouts).
    PathsReplaced,
    /// Not counted; the reason is the string.
    Ignored(&'static str),
}

/// Every file a kind writes must be named here, counted or not, so a new output file is a
/// decision rather than an accident.
fn rule(kind: &str, file: &str) -> Option<Rule> {
    const TIMINGS: &[&str] = &["tokens_per_s"];
    Some(match (kind, file) {
        ("model", "model.json") => Rule::PathsReplaced,
        ("model", _) => Rule::Bytes,
        ("dataset", "train.jsonl" | "test.jsonl" | "dataset.json") => Rule::Bytes,
        ("train", "adapter_config.json" | "adapter_model.safetensors") => Rule::Bytes,
        ("train", "training_meta.json" | "train_log.jsonl") => Rule::JsonWithout(TIMINGS),
        ("train", "training_loss.png" | "training_loss.svg") => Rule::Ignored("a picture of train_log.jsonl"),
        ("combine", "adapter_config.json" | "adapter_model.safetensors" | "combine_meta.json") => Rule::Bytes,
        ("respond", "responses.jsonl") => Rule::Bytes,
        ("eval", "items.jsonl" | "metrics.json" | "responses.jsonl") => Rule::Bytes,
        ("task", "test.jsonl" | "train.jsonl" | "fewshot.jsonl" | "task.json") => Rule::Bytes,
        ("task_respond", "responses.jsonl") => Rule::Bytes,
        ("task_eval", "items.jsonl" | "metrics.json" | "responses.jsonl") => Rule::Bytes,
        ("probe", "items.jsonl" | "dialogues.jsonl" | "probe.json") => Rule::Bytes,
        ("probe_respond", "transcripts.jsonl") => Rule::Bytes,
        ("probe_judge", "judgements.jsonl") => Rule::Bytes,
        ("probe_eval", "items.jsonl" | "metrics.json" | "transcripts.jsonl" | "judgements.jsonl") => Rule::Bytes,
        ("bon_sample", "samples.jsonl") => Rule::Bytes,
        ("bon_pm", "scores.jsonl") => Rule::Bytes,
        ("bon_judge", "judgements.jsonl") => Rule::Bytes,
        ("bon_eval", "bon.json" | "items.jsonl" | "samples.jsonl") => Rule::Bytes,
        ("import", "results.json") => Rule::PathsReplaced,
        ("analysis", "summary.json" | "expectations.json") => Rule::Bytes,
        ("analysis", f) if f.ends_with(".csv") => Rule::Bytes,
        ("analysis", "report.md" | "report.html") => Rule::Ignored("names upstream stage keys"),
        ("analysis", f) if f.starts_with("figures/") => Rule::Ignored("pictures of the CSVs' numbers"),
        ("command", _) => Rule::Bytes,
        _ => return None,
    })
}

fn fixture(dir: &Path) -> PathBuf {
    let study = r#"{
  "timestamp": "2024-01-01T00:00:00",
  "benchmarks": {"gsm8k": {"accuracy": 0.5, "correct": 1, "total": 2}, "hellaswag": {"accuracy": 0.25, "correct": 1, "total": 4}},
  "sycophancy": {"feedback": {"score": 0.5, "sycophantic": 1, "total": 2}}
}
"#;
    std::fs::write(dir.join("study.json"), study).unwrap();
    let model = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    let m = format!(
        r#"[experiment]
name = "fingerprints"
seed = 7

[model.tiny]
source = {{ path = "{model}" }}
chat_template = "chatml"
prompt_format = "raw"
dtype = "f32"

[datasets.gsm8k]
kind = "gsm8k"
source = {{ builtin = "mini/gsm8k", n = 30 }}
split = {{ train = 8, test = 3, seed = 1 }}

[datasets.hellaswag]
kind = "hellaswag"
source = {{ builtin = "mini/hellaswag", n = 4 }}

[datasets.feedback]
kind = "feedback"
source = {{ builtin = "mini/feedback", n = 20 }}
sample = 2

[tasks.pick]
source = {{ builtin = "mini/mmlu", n = 6 }}
split = {{ train = 3, test = 3, seed = 1 }}
text = "{{{{question.strip()}}}}\nAnswer:"
choices = "choices"
target = "answer"
metrics = ["acc", "acc_norm"]
fewshot = {{ n = 1 }}

[tasks.sum]
source = {{ builtin = "mini/gsm8k", n = 4 }}
text = "Question: {{{{question}}}}\nAnswer:"
target = "{{{{answer.split('#### ')[-1]}}}}"
output = "generate"
until = ["\n"]
max_tokens = 3
filters = [{{ function = "first_number" }}]
metrics = ["exact_match", "numeric_match"]

[probes.ask]
probe = "answer"
from = "pick"
question = "{{{{question.strip()}}}}"
max_tokens = 3

[probes.sure]
probe = "are_you_sure"
source = {{ builtin = "mini", n = 6 }}
n = 2
max_tokens = 3

[probes.praise]
probe = "feedback"
source = {{ builtin = "mini", n = 6 }}
n = 3
max_tokens = 3
judge = "tiny"

[probes.poet]
probe = "mimicry"
source = {{ builtin = "mini", n = 4 }}
n = 2
max_tokens = 3

[best_of_n.poet]
probe = "poet"
n_max = 3

[best_of_n.praise]
probe = "praise"
n_max = 2
policy = "a"

[adapters.a]
data = ["gsm8k"]

[adapters.b]
data = ["gsm8k"]
train = {{ lr = 2e-2 }}

[adapters.c]
combine = ["a", "b"]
method = "svd"
rank = 2

[defaults.lora]
r = 2
alpha = 4
targets = ["q_proj", "v_proj"]

[defaults.train]
lr = 1e-2
max_steps = 2
batch_size = 2
grad_accum = 1
max_len = 32
warmup_steps = 0

[eval]
models = ["tiny", "adapters.a", "adapters.c"]
benchmarks = ["gsm8k", "hellaswag"]
sycophancy = ["feedback"]
tasks = ["pick", "sum"]
probes = ["ask", "sure", "praise", "poet"]
max_new_tokens = {{ gsm8k = 3, feedback = 3 }}

[import.study]
results = "study.json"

[analysis]
baseline = "tiny"
bootstrap = 50
# Not `c`: the analysis reads training_meta.json from every adapter's stage, which a combined
# adapter does not write.
models = ["tiny", "study", "a"]

[[expect]]
metric = "baseline.benchmarks.gsm8k"
value = 0.0
tol = 1.0
claim = "the tiny model answers gsm8k"

[stages.digest]
cmd = "head -n $SYCO_PARAM_LINES \"$SYCO_IN_DATA_GSM8K/train.jsonl\" | wc -c > bytes.txt && sort \"$SYCO_IN_DATA_GSM8K/test.jsonl\" > sorted.jsonl"
inputs = ["data/gsm8k"]
params = {{ lines = 2 }}
outs = ["bytes.txt", "sorted.jsonl"]
"#,
        model = model.display()
    );
    let path = dir.join("fingerprints.toml");
    std::fs::write(&path, m).unwrap();
    path
}

/// One stage as the run left it.
struct StageOut {
    kind: String,
    version: u32,
    /// Upstream stage ids.
    inputs: Vec<String>,
    /// The Cargo.lock versions in its key (`crate NAME` extras), for telling a dependency
    /// update from a forgotten bump.
    crates: String,
    /// file -> fingerprint, counted files only.
    files: BTreeMap<String, String>,
    /// Files left out, with the reason.
    ignored: Vec<(String, &'static str)>,
}

fn short_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..16].to_string()
}

fn strip_fields(v: &mut Value, drop: &[&str]) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !drop.contains(&k.as_str()));
            map.values_mut().for_each(|c| strip_fields(c, drop));
        }
        Value::Array(items) => items.iter_mut().for_each(|c| strip_fields(c, drop)),
        _ => {}
    }
}

fn fingerprint(rule: &Rule, bytes: &[u8], fixture_dir: &Path) -> String {
    match rule {
        Rule::Bytes | Rule::Ignored(_) => short_hash(bytes),
        Rule::JsonWithout(drop) => {
            let text = std::str::from_utf8(bytes).expect("JSON output is UTF-8");
            // One JSON document, or JSON lines.
            let mut values: Vec<Value> = match serde_json::from_str(text) {
                Ok(v) => vec![v],
                Err(_) => text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("a JSON line")).collect(),
            };
            let mut out = String::new();
            for v in &mut values {
                strip_fields(v, drop);
                out.push_str(&v.to_string());
                out.push('\n');
            }
            short_hash(out.as_bytes())
        }
        Rule::PathsReplaced => {
            let text = std::str::from_utf8(bytes).expect("text output is UTF-8");
            // JSON escapes nothing in these paths, so the folders appear verbatim.
            let text = text.replace(&fixture_dir.display().to_string(), "$FIXTURE");
            short_hash(text.replace(&syco_testkit::workspace_root().display().to_string(), "$WORKSPACE").as_bytes())
        }
    }
}

fn files_under(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files_under(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Every stage's outputs, read from the cache: `stages/ID` holds the key of the stage's result,
/// `records/KEY/record.json` what it was computed from, `records/KEY/out/` its files. (Two stages
/// with equal keys share one record, so records alone would not name every stage.)
fn read_run(cache: &Path, fixture_dir: &Path, problems: &mut Vec<String>) -> BTreeMap<String, StageOut> {
    let mut stages = BTreeMap::new();
    for entry in std::fs::read_dir(cache.join("stages")).expect("the run left stage pointers") {
        let entry = entry.unwrap();
        let stage = entry.file_name().to_string_lossy().replace("%2F", "/").replace("%25", "%");
        let key = std::fs::read_to_string(entry.path()).unwrap().trim().to_string();
        let dir = cache.join("records").join(&key);
        let record: Value = serde_json::from_slice(&std::fs::read(dir.join("record.json")).unwrap()).unwrap();
        let kind = record["kind"].as_str().unwrap().to_string();
        let version = record["version"].as_u64().unwrap() as u32;
        // The ids of the stages that produced its inputs (equal content to its own inputs' when
        // the record is shared).
        let inputs = record["inputs"].as_object().unwrap().values().map(|i| i["stage"].as_str().unwrap().to_string()).collect();
        let crates: Vec<String> = record["extras"]
            .as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("crate ").map(|name| format!("{name}={}", v.as_str().unwrap())))
            .collect();
        let out = dir.join("out");
        let mut names = vec![];
        if out.is_dir() {
            files_under(&out, &out, &mut names);
        }
        let (mut files, mut ignored) = (BTreeMap::new(), vec![]);
        for name in names {
            match rule(&kind, &name) {
                None => problems.push(format!(
                    "kind `{kind}` wrote `{name}` (stage {stage}), which tests/stage_fingerprints.rs neither counts nor ignores: \
                     add it to `rule` there"
                )),
                Some(Rule::Ignored(why)) => ignored.push((name, why)),
                Some(r) => {
                    files.insert(name.clone(), fingerprint(&r, &std::fs::read(out.join(&name)).unwrap(), fixture_dir));
                }
            }
        }
        stages.insert(stage, StageOut { kind, version, inputs, crates: crates.join(" "), files, ignored });
    }
    stages
}

/// The instruction-set features the kernels choose between.
fn cpu_signature() -> String {
    #[cfg(target_arch = "x86_64")]
    {
        let mut s = vec!["x86_64"];
        for (name, on) in [
            ("avx2", is_x86_feature_detected!("avx2")),
            ("fma", is_x86_feature_detected!("fma")),
            ("avx512f", is_x86_feature_detected!("avx512f")),
            ("avx512bw", is_x86_feature_detected!("avx512bw")),
            ("avx512vl", is_x86_feature_detected!("avx512vl")),
        ] {
            if on {
                s.push(name);
            }
        }
        s.join(" ")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH.to_string()
    }
}

/// `AMD EPYC, family 26 model 2`, from /proc/cpuinfo (for people reading the table).
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map_or("?".to_string(), |(_, v)| v.trim().to_string())
    };
    format!("{}, family {} model {}", field("model name"), field("cpu family"), field("model"))
}

/// Kind name -> the file whose `impl StageKind` defines it, found in the engine's source so a new
/// kind cannot be left out of the fixture.
fn registered_kinds() -> BTreeMap<String, String> {
    let mut kinds = BTreeMap::new();
    let mut files = vec![];
    for dir in ["engine/cli", "engine/core/src"] {
        files_under(&syco_testkit::workspace_root(), &syco_testkit::workspace_root().join(dir), &mut files);
    }
    for f in files.iter().filter(|f| f.ends_with(".rs")) {
        let text = std::fs::read_to_string(syco_testkit::workspace_root().join(f)).unwrap();
        for (at, _) in text.match_indices("impl StageKind for ") {
            let rest = &text[at..];
            let name = rest
                .find("fn name(")
                .and_then(|n| rest[n..].find('"').map(|q| n + q + 1))
                .and_then(|start| rest[start..].find('"').map(|end| rest[start..start + end].to_string()))
                .unwrap_or_else(|| panic!("{f}: an `impl StageKind` without a `fn name` returning a string literal"));
            kinds.insert(name, f.clone());
        }
    }
    kinds
}

struct Table {
    cpu: String,
    /// (stage) -> (kind, version, crates, file -> fingerprint)
    stages: BTreeMap<String, (String, u32, String, BTreeMap<String, String>)>,
}

const CRATES_ROW: &str = "[crates in key]";

fn read_table() -> Option<Table> {
    let text = std::fs::read_to_string(syco_testkit::workspace_root().join(TABLE)).ok()?;
    let mut t = Table { cpu: String::new(), stages: BTreeMap::new() };
    for line in text.lines() {
        if let Some(cpu) = line.strip_prefix("# cpu features: ") {
            t.cpu = cpu.to_string();
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "{TABLE}: expected kind, version, stage, file, fingerprint in `{line}`");
        let e = t
            .stages
            .entry(cols[2].to_string())
            .or_insert_with(|| (cols[0].to_string(), cols[1].parse().unwrap(), String::new(), BTreeMap::new()));
        if cols[3] == CRATES_ROW {
            e.2 = cols[4].to_string();
        } else {
            e.3.insert(cols[3].to_string(), cols[4].to_string());
        }
    }
    Some(t)
}

fn write_table(run: &BTreeMap<String, StageOut>) {
    let mut out = String::new();
    out.push_str("# Output fingerprints of every stage kind on the fixture in tests/stage_fingerprints.rs\n");
    out.push_str("# (which files count, and why others do not, is said there). Do not edit by hand; re-record with\n");
    out.push_str(&format!("# {RERECORD}\n"));
    out.push_str("# after bumping the `version()` of each kind whose outputs changed.\n");
    out.push_str(&format!("# recorded on: {} ({} CPUs), 1 stage at a time, 2 rayon threads, f32\n", cpu_model(), num_cpus()));
    out.push_str(&format!("# cpu features: {}\n", cpu_signature()));
    // (kind, reason) -> files left out for it.
    let mut ignored: BTreeMap<(&str, &str), BTreeSet<&str>> = BTreeMap::new();
    for s in run.values() {
        for (f, why) in &s.ignored {
            ignored.entry((&s.kind, why)).or_default().insert(f);
        }
    }
    for ((kind, why), files) in ignored {
        let files: Vec<&str> = files.into_iter().collect();
        out.push_str(&format!("# not counted ({kind}): {} ({why})\n", files.join(" ")));
    }
    out.push_str("# kind\tversion\tstage\tfile\tblake3 (16 hex)\n");
    let mut rows: Vec<(&String, &StageOut)> = run.iter().collect();
    rows.sort_by(|a, b| (&a.1.kind, a.0).cmp(&(&b.1.kind, b.0)));
    for (stage, s) in rows {
        if !s.crates.is_empty() {
            out.push_str(&format!("{}\t{}\t{stage}\t{CRATES_ROW}\t{}\n", s.kind, s.version, s.crates));
        }
        for (file, fp) in &s.files {
            out.push_str(&format!("{}\t{}\t{stage}\t{file}\t{fp}\n", s.kind, s.version));
        }
    }
    std::fs::write(syco_testkit::workspace_root().join(TABLE), out).unwrap();
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[test]
fn every_stage_kind_changes_its_version_when_its_outputs_change() {
    let dir = tempfile::tempdir().unwrap();
    let fixture_dir = dir.path().canonicalize().unwrap();
    let m = fixture(&fixture_dir);
    let out = Command::new(env!("CARGO_BIN_EXE_syco"))
        .args(["run", m.to_str().unwrap(), "--cache", "cache", "--out", "run", "--jobs", "1"])
        .current_dir(&fixture_dir)
        // The recorded conditions: same thread split, the kernels this CPU has.
        .env("RAYON_NUM_THREADS", "2")
        .env_remove("SYCO_NO_AVX512")
        .output()
        .expect("syco runs");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the fixture run failed:\n{log}");

    let mut problems = vec![];
    let run = read_run(&fixture_dir.join("cache"), &fixture_dir, &mut problems);
    let registered = registered_kinds();
    let ran: BTreeSet<&str> = run.values().map(|s| s.kind.as_str()).collect();
    for (kind, file) in &registered {
        if !ran.contains(kind.as_str()) {
            problems.push(format!(
                "kind `{kind}` ({file}) is registered but the fixture in tests/stage_fingerprints.rs never runs it: add it there"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    if std::env::var_os(UPDATE).is_some() {
        write_table(&run);
        eprintln!("stage_fingerprints: recorded {} stages in {TABLE}", run.len());
        return;
    }
    let table = read_table().unwrap_or_else(|| panic!("{TABLE} is missing: record it with\n  {RERECORD}"));

    // Versions: the engine's against the table's, per kind.
    let mut versions: BTreeMap<&str, (u32, Option<u32>)> = BTreeMap::new();
    for s in run.values() {
        versions.insert(&s.kind, (s.version, None));
    }
    for (kind, version, _, _) in table.stages.values() {
        if let Some(v) = versions.get_mut(kind.as_str()) {
            v.1 = Some(*version);
        }
    }
    let stale: Vec<String> = versions
        .iter()
        .filter(|(_, (now, recorded))| Some(*now) != *recorded)
        .map(|(k, (now, recorded))| {
            format!("`{k}` is at version {now}, the table has {}", recorded.map_or("none".into(), |r| r.to_string()))
        })
        .collect();
    assert!(stale.is_empty(), "stage kind versions changed ({}): re-record the table with\n  {RERECORD}", stale.join(", "));
    let (ours, theirs): (BTreeSet<&String>, BTreeSet<&String>) = (run.keys().collect(), table.stages.keys().collect());
    assert!(
        ours == theirs,
        "the fixture's stages differ from {TABLE} (new: {:?}, gone: {:?}): re-record with\n  {RERECORD}",
        ours.difference(&theirs).collect::<Vec<_>>(),
        theirs.difference(&ours).collect::<Vec<_>>()
    );

    // Outputs: a stage whose counted files changed while its inputs did not is the one to blame.
    let same_cpu = table.cpu == cpu_signature();
    let changed: BTreeSet<&String> = run.keys().filter(|s| run[*s].files != table.stages[*s].3).collect();
    let mut notes = vec![];
    for stage in &changed {
        let s = &run[*stage];
        let recorded = &table.stages[*stage];
        let upstream: Vec<&String> = s.inputs.iter().filter(|i| changed.contains(i)).collect();
        let files: Vec<String> = s
            .files
            .keys()
            .chain(recorded.3.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|f| s.files.get(*f) != recorded.3.get(*f))
            .map(|f| {
                format!(
                    "`{f}` ({} -> {})",
                    recorded.3.get(f).map_or("absent", String::as_str),
                    s.files.get(f).map_or("absent", String::as_str)
                )
            })
            .collect();
        if !upstream.is_empty() {
            notes.push(format!("{stage}: changed with its inputs {upstream:?}"));
        } else if s.crates != recorded.2 {
            let (was, now): (BTreeSet<&str>, BTreeSet<&str>) = (recorded.2.split(' ').collect(), s.crates.split(' ').collect());
            problems.push(format!(
                "{stage} (kind `{}`): {} changed with the locked crates in its key ({:?} -> {:?}). Its key changed with them; \
                 re-record with\n  {RERECORD}",
                s.kind,
                files.join(", "),
                was.difference(&now).collect::<Vec<_>>(),
                now.difference(&was).collect::<Vec<_>>()
            ));
        } else if !same_cpu && FLOAT_KINDS.contains(&s.kind.as_str()) {
            notes.push(format!(
                "{stage}: {} differ on this CPU ({}) from the recording machine's ({}); not a missing bump",
                files.join(", "),
                cpu_signature(),
                table.cpu
            ));
        } else {
            let at = registered.get(&s.kind).map_or("its file", String::as_str);
            problems.push(format!(
                "kind `{}` (stage {stage}) wrote different output at unchanged version {}: {}.\n  Its outputs changed, so its keys must: \
                 bump `fn version` of the `{}` kind in {at}, then re-record with\n  {RERECORD}\n  (If a dependency update did it, \
                 list that crate in engine/cli/build.rs so it enters the key.)",
                s.kind,
                s.version,
                files.join(", "),
                s.kind
            ));
        }
    }
    for n in &notes {
        eprintln!("stage_fingerprints: {n}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `model.json` records where a local model lies, so the `model` stage's key names that place:
/// the same relative path from two manifests in two folders is two results, not one result
/// pointing into the first folder.
#[test]
fn a_local_model_in_another_folder_is_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    for side in ["one", "two"] {
        let d = dir.path().join(side);
        std::fs::create_dir_all(d.join("tiny")).unwrap();
        for f in std::fs::read_dir(&tiny).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), d.join("tiny").join(f.file_name())).unwrap();
        }
        std::fs::write(d.join("m.toml"), "[model.tiny]\nsource = { path = \"tiny\" }\n").unwrap();
    }
    let syco = |side: &str, args: &[&str]| {
        let m = dir.path().join(side).join("m.toml");
        let cache = dir.path().join("cache");
        let mut all = vec![args[0], m.to_str().unwrap(), "--cache", cache.to_str().unwrap()];
        all.extend(&args[1..]);
        let out = Command::new(env!("CARGO_BIN_EXE_syco")).args(&all).current_dir(dir.path()).output().expect("syco runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{text}");
        out.stdout
    };
    syco("one", &["run", "model/tiny"]);
    let plan: Vec<Value> = serde_json::from_slice(&syco("two", &["plan", "--json"])).unwrap();
    let model = plan.iter().find(|e| e["stage"] == "model/tiny").expect("model/tiny is planned");
    assert_eq!(model["status"], "run", "{model}");
}
