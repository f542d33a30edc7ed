//! The analysis of a manifest that evaluates open tasks only (no study benchmark or sycophancy
//! task), through the `syco` binary on the tiny random Llama: `tasks.csv`, `summary.json`'s
//! `tasks`, the report's Tasks section and `figures/tasks.*`, each number traced back to the
//! eval stages' `metrics.json` and `items.jsonl`; none of the study's tables or figures.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use syco_testkit::cli::{self, text};

use serde_json::Value;

fn syco(dir: &Path, args: &[&str]) -> Output {
    cli::run(env!("CARGO_BIN_EXE_syco"), dir, args)
}

fn write_manifest(dir: &Path) -> std::path::PathBuf {
    let words = ["red", "blue", "green", "black", "white", "pink", "gray", "gold", "teal", "navy", "rose", "jade"];
    let mut lines = String::new();
    for (i, w) in words.iter().enumerate() {
        let mut choices: Vec<&str> = (0..4).map(|k| words[(i + k * 3) % words.len()]).collect();
        choices.swap(0, i % 4);
        let rec = serde_json::json!({ "id": format!("q{i}"), "question": format!("Which colour is {w}?"), "options": choices, "label": i % 4, "word": w });
        lines.push_str(&format!("{rec}\n"));
    }
    std::fs::write(dir.join("colours.jsonl"), lines).unwrap();
    let model = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    let m = format!(
        r#"[experiment]
name = "open-only"
seed = 7

[model.tiny]
source = {{ path = "{}" }}
chat_template = "chatml"

[tasks.colours]
source = {{ path = "colours.jsonl" }}
split = {{ train = 6, test = 6, seed = 1 }}
text = "Q: {{{{question}}}}\nA:"
choices = "options"
target = "label"
output = "multiple_choice"
metrics = ["acc", "acc_norm"]

[tasks.colours_gen]
source = {{ path = "colours.jsonl" }}
split = {{ train = 6, test = 6, seed = 1 }}
text = "Q: {{{{question}}}}\nA:"
target = "{{{{word}}}}"
output = "generate"
until = ["\n"]
max_tokens = 3
metrics = [{{ metric = "exact_match", ignore_case = true }}]

[adapters.a]
data = ["colours"]

[defaults.lora]
r = 2
alpha = 4
targets = ["q_proj", "v_proj"]

[defaults.train]
lr = 5e-2
max_steps = 3
batch_size = 2
max_len = 48
warmup_steps = 0

[eval]
models = ["tiny", "adapters.*"]
tasks = ["colours", "colours_gen"]
batch_size = 4

[analysis]
baseline = "tiny"
"#,
        model.display()
    );
    let path = dir.join("m.toml");
    std::fs::write(&path, m).unwrap();
    path
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// `id` -> per-item `acc` (0 or 1) of one eval stage's items.jsonl.
fn item_acc(path: &Path) -> BTreeMap<String, u8> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|it| (it["id"].as_str().unwrap().to_string(), it["acc"].as_f64().unwrap() as u8))
        .collect()
}

#[test]
fn open_tasks_alone_are_analysed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_manifest(dir.path());
    let out = syco(dir.path(), &["run", m.to_str().unwrap(), "--cache", "cache", "--out", "run"]);
    assert!(out.status.success(), "{}", text(&out));
    let run = dir.path().join("run");

    // The study's CSVs and figures need its benchmarks or sycophancy tasks: none here.
    for f in ["complete_results.csv", "performance_changes.csv", "correlation_analysis.csv"] {
        assert!(!run.join(f).exists(), "{f} written without the study's data");
    }
    let mut figures: Vec<String> =
        std::fs::read_dir(run.join("figures")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    figures.sort();
    assert_eq!(figures, ["tasks.png", "tasks.svg", "training_loss.png", "training_loss.svg"]);

    // tasks.csv: a row per model, task and metric, with metrics.json's numbers.
    let csv = std::fs::read_to_string(run.join("tasks.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], ["model", "task", "metric", "value", "stderr", "n"]);
    let keys: Vec<String> = rows[1..].iter().map(|r| format!("{}/{}/{}", r[0], r[1], r[2])).collect();
    assert_eq!(
        keys,
        [
            "tiny/colours/acc",
            "tiny/colours/acc_norm",
            "tiny/colours_gen/exact_match",
            "a/colours/acc",
            "a/colours/acc_norm",
            "a/colours_gen/exact_match"
        ]
    );
    for r in &rows[1..] {
        let metrics = json(&run.join("models").join(r[0]).join(r[1]).join("metrics.json"));
        assert_eq!(r[3].parse::<f64>().unwrap(), metrics[r[2]].as_f64().unwrap(), "{r:?}");
        assert_eq!(r[4].parse::<f64>().unwrap(), metrics[format!("{}_stderr", r[2])].as_f64().unwrap(), "{r:?}");
        assert_eq!(r[5], "6");
    }

    // summary.json: the tasks' numbers only, and the change against the baseline with McNemar
    // on the items both models answered.
    let summary = json(&run.join("summary.json"));
    assert_eq!(summary.as_object().unwrap().keys().collect::<Vec<_>>(), ["meta", "tasks"], "{summary}");
    let (base, adapter) = (json(&run.join("models/tiny/colours/metrics.json")), json(&run.join("models/a/colours/metrics.json")));
    let d = &summary["tasks"]["colours"]["a"]["delta_vs_baseline"]["acc"];
    assert!((d["delta"].as_f64().unwrap() - (adapter["acc"].as_f64().unwrap() - base["acc"].as_f64().unwrap())).abs() < 1e-12, "{d}");
    let (b, a) = (item_acc(&run.join("models/tiny/colours/items.jsonl")), item_acc(&run.join("models/a/colours/items.jsonl")));
    let lost = b.iter().filter(|(id, v)| **v == 1 && a[*id] == 0).count() as f64;
    let gained = b.iter().filter(|(id, v)| **v == 0 && a[*id] == 1).count() as f64;
    assert_eq!((d["n_paired"].as_f64(), d["lost"].as_f64(), d["gained"].as_f64()), (Some(6.0), Some(lost), Some(gained)), "{d}");
    let p = d["p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p), "{d}");
    assert_eq!(summary["tasks"]["colours"]["tiny"]["acc"], base["acc"]);
    assert!(summary["tasks"]["colours"]["tiny"].get("delta_vs_baseline").is_none(), "the baseline has no change against itself");

    // The report: a table per task and the figure, none of the study's tables.
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("## Tasks\n") && md.contains("### colours\n") && md.contains("### colours_gen\n"), "{md}");
    assert!(md.contains("| model | n | acc | Δ acc | McNemar p (acc) |"), "{md}");
    assert!(md.contains("![tasks](figures/tasks.png)"), "{md}");
    assert!(!md.contains("Benchmark accuracy") && !md.contains("Sycophancy rate") && !md.contains("Ranking"), "{md}");
    // Provenance names each eval stage and its key (the cache's folder of that output).
    let line = md.lines().find(|l| l.starts_with("| a |  | colours | eval/a/colours ")).unwrap_or_else(|| panic!("{md}"));
    let key = line.trim_end_matches(" |").rsplit(' ').next().unwrap();
    assert!(key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<h2>Tasks</h2>") && html.matches("<svg").count() == 2, "the tasks and loss figures inlined");
}
