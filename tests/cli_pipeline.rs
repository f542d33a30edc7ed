//! The ML pipeline end to end through the `syco` binary, on the tiny random Llama the trainer's
//! golden test uses (no download): datasets -> LoRA training -> evaluation -> analysis, then a
//! no-op rerun, an incremental rerun, and the commands around it.

use std::path::{Path, PathBuf};
use std::process::Output;

use syco_testkit::cli::{self, text};

#[track_caller]
fn shared_data() -> Option<PathBuf> {
    syco_testkit::shared("seed/data")
}

fn syco(dir: &Path, args: &[&str]) -> Output {
    cli::run(env!("CARGO_BIN_EXE_syco"), dir, args)
}

fn tiny_manifest(dir: &Path) -> PathBuf {
    let model = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    let m = format!(
        r#"[experiment]
name = "tiny"
seed = 7

[model.tiny]
source = {{ path = "{}" }}
chat_template = "chatml"
prompt_format = "raw"

[datasets.gsm8k]
kind = "gsm8k"
source = {{ builtin = "mini/gsm8k", n = 30 }}
split = {{ train = 8, test = 3, seed = 1 }}

[datasets.feedback]
kind = "feedback"
source = {{ builtin = "mini/feedback", n = 20 }}
sample = 2

[adapters.a]
data = ["gsm8k"]

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
models = ["tiny", "adapters.*"]
benchmarks = ["gsm8k"]
sycophancy = ["feedback"]
max_new_tokens = {{ gsm8k = 3, feedback = 3 }}
task_limits = {{}}

[analysis]
baseline = "tiny"
"#,
        model.display()
    );
    let path = dir.join("m.toml");
    std::fs::write(&path, m).unwrap();
    path
}

/// Each stage's `plan --json` status ("run", "cached") with one `--set`.
fn plan_statuses(dir: &Path, manifest: &str, set: &str) -> std::collections::BTreeMap<String, String> {
    let plan = syco(dir, &["plan", manifest, "--cache", "cache", "--json", "--set", set]);
    assert!(plan.status.success(), "{}", text(&plan));
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&plan.stdout).unwrap();
    plan.iter().map(|e| (e["stage"].as_str().unwrap().to_string(), e["status"].as_str().unwrap().to_string())).collect()
}

#[test]
fn tiny_pipeline_runs_end_to_end_then_reruns_nothing_and_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_manifest(dir.path());
    let m = m.to_str().unwrap();
    let run = syco(dir.path(), &["run", m, "--cache", "cache", "--out", "run"]);
    assert!(run.status.success(), "{}", text(&run));
    for f in [
        "report.md",
        "report.html",
        "complete_results.csv",
        "summary.json",
        "adapters/a/adapter_model.safetensors",
        "adapters/a/adapter_config.json",
        "models/a/gsm8k/items.jsonl",
        "models/tiny/feedback/metrics.json",
    ] {
        assert!(dir.path().join("run").join(f).exists(), "missing run/{f}\n{}", text(&run));
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/adapters/a/adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfg["r"], 2);
    assert_eq!(cfg["peft_type"], "LORA");

    let again = syco(dir.path(), &["run", m, "--cache", "cache", "--out", "run"]);
    assert!(again.status.success() && text(&again).contains(": 0 ran,"), "second run executed stages:\n{}", text(&again));

    // A training change reruns the adapter and what reads it; the base model's answers stay cached.
    let status = plan_statuses(dir.path(), m, "defaults.train.lr=0.02");
    assert_eq!(status["train/a"], "run");
    assert_eq!(status["respond/a/gsm8k"], "run");
    assert_eq!(status["respond/tiny/gsm8k"], "cached");
    assert_eq!(status["data/gsm8k"], "cached");
    // bf16 products change what evaluations compute, never what training does.
    let status = plan_statuses(dir.path(), m, "model.tiny.matmul=bf16");
    assert_eq!(status["train/a"], "cached");
    assert_eq!(status["respond/tiny/gsm8k"], "run");
    assert_eq!(status["respond/a/feedback"], "run");
    // A per-task limit reruns that task's evaluations only.
    let status = plan_statuses(dir.path(), m, "eval.task_limits={ feedback = 1 }");
    assert_eq!(status["respond/tiny/feedback"], "run");
    assert_eq!(status["respond/a/feedback"], "run");
    assert_eq!(status["respond/tiny/gsm8k"], "cached");
    // Per-task settings for a task that is not evaluated would do nothing: an error naming it.
    for set in ["eval.task_limits={ mmlu = 1 }", "eval.max_new_tokens={ gsm8k = 3, feedbak = 3 }"] {
        let bad = syco(dir.path(), &["plan", m, "--cache", "cache", "--set", set]);
        let t = text(&bad);
        let task = if set.contains("mmlu") { "`mmlu` is not an evaluated task" } else { "`feedbak` is not an evaluated task" };
        assert!(!bad.status.success() && t.contains(task) && t.contains("gsm8k, feedback"), "{set}: {t}");
    }
    let bad = syco(dir.path(), &["plan", m, "--cache", "cache", "--set", "model.tiny.matmul=fp8"]);
    assert!(!bad.status.success() && text(&bad).contains("matmul"), "{}", text(&bad));
    let explain = syco(dir.path(), &["explain", m, "train/a", "--cache", "cache", "--set", "defaults.train.lr=0.02"]);
    let e = text(&explain);
    assert!(e.contains("lr") && e.contains("0.01") && e.contains("0.02"), "{e}");
}

#[test]
fn a_typo_in_the_training_table_names_file_line_and_key_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_manifest(dir.path());
    let text_m = std::fs::read_to_string(&m).unwrap().replace("lr = 1e-2", "lrr = 1e-2");
    std::fs::write(&m, text_m).unwrap();
    let out = syco(dir.path(), &["plan", m.to_str().unwrap(), "--cache", "cache"]);
    let t = text(&out);
    assert!(!out.status.success());
    assert!(t.contains("m.toml:") && t.contains("lrr"), "{t}");
    assert!(!dir.path().join("cache/records").exists() || std::fs::read_dir(dir.path().join("cache/records")).unwrap().next().is_none());
}

#[test]
fn two_evaluated_datasets_of_one_kind_are_an_error_not_an_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_manifest(dir.path());
    let text_m = std::fs::read_to_string(&m).unwrap().replace(
        "[datasets.feedback]",
        "[datasets.gsm8k_hard]\nkind = \"gsm8k\"\nsource = { builtin = \"mini/gsm8k\", n = 10 }\n\n[datasets.feedback]",
    );
    let text_m = text_m.replace(r#"benchmarks = ["gsm8k"]"#, r#"benchmarks = ["gsm8k", "gsm8k_hard"]"#);
    std::fs::write(&m, text_m).unwrap();
    let out = syco(dir.path(), &["plan", m.to_str().unwrap(), "--cache", "cache"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("m.toml:") && t.contains("`gsm8k` and `gsm8k_hard` both have kind `gsm8k`"), "{t}");
}

#[test]
fn score_reproduces_the_studys_golden_verdicts() {
    let Some(data) = shared_data() else { return };
    for (task, file, flags) in [
        (
            "feedback",
            "feedback_sycophantic_examples.json",
            &[
                "baseline_identifies",
                "manipulated_identifies",
                "baseline_sentiment",
                "manipulated_sentiment",
                "sentiment_shift",
                "type_a_sycophancy",
                "type_b_sycophancy",
                "sycophantic",
            ][..],
        ),
        ("answer", "answer_sycophantic_examples.json", &["baseline_primary", "manipulated_primary", "sycophantic"][..]),
    ] {
        let path = data.join("03_sycophancy_samples").join(file);
        let out = syco(&syco_testkit::workspace_root(), &["score", "--task", task, "--scoring", "seed", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let golden: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), golden.len());
        for (got, want) in lines.iter().zip(&golden) {
            for f in flags {
                let (g, w) = (&got[*f], &want[*f]);
                let same = match (g.as_f64(), w.as_f64()) {
                    (Some(a), Some(b)) => a == b,
                    _ => g == w,
                };
                assert!(same, "{task} {f}: {g} vs {w}");
            }
        }
    }
}

#[test]
fn the_study_is_reproduced_byte_for_byte_and_its_claims_checked() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let manifest = syco_testkit::workspace_root().join("experiments/reproduce-venostellar.toml");
    let set = format!("vars.data={}", data.display());
    let out = syco(dir.path(), &["run", manifest.to_str().unwrap(), "--check", "--set", &set, "--cache", "cache", "--out", "run"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("-0.805 is correlation.hellaswag.feedback"), "{t}");
    for f in ["complete_results.csv", "performance_changes.csv", "correlation_analysis.csv"] {
        let ours = std::fs::read(dir.path().join("run").join(f)).unwrap();
        let theirs = std::fs::read(data.join("04_analysis/analysis_results").join(f)).unwrap();
        assert!(ours == theirs, "{f} differs from the study's");
    }
}

#[test]
fn the_paper_manifests_plan_without_downloading_anything() {
    let Some(data) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let set = format!("vars.data={}", data.display());
    for (name, stages) in [("paper-llama2.toml", 102), ("paper-smollm2.toml", 117), ("study-smollm2.toml", 102)] {
        let manifest = syco_testkit::workspace_root().join("experiments").join(name);
        let out = syco(dir.path(), &["plan", manifest.to_str().unwrap(), "--json", "--set", &set, "--cache", "cache"]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let plan: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(plan.len(), stages, "{name}");
        assert!(plan.iter().all(|e| e["status"] == "run"));
    }
}

/// SPEC §1.2/§1.3: datasets naming one `stream` draw from a single `random.seed(seed)` in declared
/// order, as the study's notebooks did; a later dataset resumes where the earlier one left off.
#[test]
fn datasets_in_one_stream_continue_a_single_python_random_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let lens = [("a", 50usize), ("b", 60), ("c", 40), ("d", 45)];
    for (name, len) in lens {
        let lines: String = (0..len).map(|i| format!("{{\"question\":\"{name}{i}\",\"answer\":\"#### {i}\"}}\n")).collect();
        std::fs::write(dir.join(format!("{name}.jsonl")), lines).unwrap();
    }
    let m = r#"[experiment]
name = "streams"

[datasets.a]
kind = "gsm8k"
source = { path = "a.jsonl" }
split = { train = 10, test = 5, seed = 7, stream = "splits" }

[datasets.b]
kind = "gsm8k"
source = { path = "b.jsonl" }
split = { train = 10, test = 5, seed = 7, stream = "splits" }

[datasets.c]
kind = "gsm8k"
source = { path = "c.jsonl" }
sample = { n = 4, seed = 3, stream = "samples" }

[datasets.d]
kind = "gsm8k"
source = { path = "d.jsonl" }
sample = { n = 4, seed = 3, stream = "samples" }
"#;
    std::fs::write(dir.join("m.toml"), m).unwrap();
    let o = syco(dir, &["run", "m.toml", "--out", "run", "--cache", "cache"]);
    assert!(o.status.success(), "{}", text(&o));

    let questions = |name: &str, split: &str| -> Vec<String> {
        let t = std::fs::read_to_string(dir.join(format!("run/data/{name}/{split}.jsonl"))).unwrap();
        t.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["question"].as_str().unwrap().to_string()).collect()
    };
    let names = |name: &str, idx: &[usize]| -> Vec<String> { idx.iter().map(|i| format!("{name}{i}")).collect() };
    let sizes = [(50, 10, 5), (60, 10, 5)].map(syco_data::SplitSizes::from);
    let want = syco_data::split_indices(7, syco_data::SplitMethod::Python, &sizes).unwrap();
    for (name, w) in ["a", "b"].into_iter().zip(&want) {
        assert_eq!(questions(name, "train"), names(name, &w.train), "{name} train");
        assert_eq!(questions(name, "test"), names(name, &w.test), "{name} test");
    }
    // The second dataset really continues the stream: a fresh seed would split it differently.
    let fresh = syco_data::split_indices(7, syco_data::SplitMethod::Python, &sizes[1..]).unwrap();
    assert_ne!(fresh[0], want[1]);
    let want = syco_data::sample_indices(3, syco_data::SplitMethod::Python, &[(40, 4), (45, 4)]).unwrap();
    assert_eq!(questions("c", "test"), names("c", &want[0]));
    assert_eq!(questions("d", "test"), names("d", &want[1]));

    // Resizing the first dataset moves the second one's split: it is an input of b's key.
    let o = syco(dir, &["plan", "m.toml", "--cache", "cache", "--set", "datasets.a.split.train=11"]);
    let plan = text(&o);
    assert!(plan.contains("data/b"), "{plan}");
    let o = syco(dir, &["plan", "m.toml", "--cache", "cache", "--json", "--set", "datasets.a.split.train=11"]);
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let status = |id: &str| plan.iter().find(|e| e["stage"] == id).unwrap()["status"].as_str().unwrap().to_string();
    assert_eq!((status("data/a"), status("data/b"), status("data/c")), ("run".into(), "run".into(), "cached".into()));

    // A stream with two seeds is a manifest error at the field.
    let bad = m.replace(
        "split = { train = 10, test = 5, seed = 7, stream = \"splits\" }\n\n[datasets.c]",
        "split = { train = 10, test = 5, seed = 8, stream = \"splits\" }\n\n[datasets.c]",
    );
    std::fs::write(dir.join("bad.toml"), bad).unwrap();
    let o = syco(dir, &["plan", "bad.toml", "--cache", "cache"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("bad.toml:12") && text(&o).contains("seeded with 7"), "{}", text(&o));
}
