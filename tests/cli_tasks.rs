//! Open tasks end to end through the `syco` binary on the tiny random Llama: a multiple-choice
//! and a generate task declared only in TOML, an adapter trained on one of them, both models
//! evaluated, the analysis; the output contract (`models/<model>/<task>/{metrics.json,items.jsonl}`);
//! and bad tasks, each an error naming file, line and key, with nothing cached.

use std::path::{Path, PathBuf};
use std::process::Output;

use syco_testkit::cli::{self, read_jsonl, text};

use serde_json::Value;

fn syco(dir: &Path, args: &[&str]) -> Output {
    cli::run(env!("CARGO_BIN_EXE_syco"), dir, args)
}

/// 12 records: a question, four options, the right index, the right word.
fn write_data(dir: &Path) {
    let words = ["red", "blue", "green", "black", "white", "pink", "gray", "gold", "teal", "navy", "rose", "jade"];
    let mut lines = String::new();
    for (i, w) in words.iter().enumerate() {
        let choices: Vec<&str> = (0..4).map(|k| words[(i + k * 3) % words.len()]).collect();
        let answer = i % 4;
        let mut choices = choices;
        choices.swap(0, answer);
        let rec = serde_json::json!({ "id": format!("q{i}"), "question": format!("Which colour is {w}?"), "options": choices, "label": answer, "word": w });
        lines.push_str(&format!("{rec}\n"));
    }
    std::fs::write(dir.join("colours.jsonl"), lines).unwrap();
}

fn manifest(dir: &Path, extra_task: &str) -> PathBuf {
    let model = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    let m = format!(
        r#"[experiment]
name = "tasks"
seed = 7

[model.tiny]
source = {{ path = "{}" }}
chat_template = "chatml"

[tasks.colours]
source = {{ path = "colours.jsonl" }}
split = {{ train = 8, test = 4, seed = 1 }}
text = "Q: {{{{question}}}}\nA:"
choices = "options"
target = "label"
output = "multiple_choice"
metrics = ["acc", "acc_norm"]
fewshot = {{ n = 2 }}

[tasks.colours_gen]
source = {{ path = "colours.jsonl" }}
split = {{ train = 8, test = 4, seed = 1 }}
text = "Q: {{{{question.strip()}}}}\nA:"
target = "{{{{word}}}}"
output = "generate"
until = ["\n"]
max_tokens = 3
filters = [{{ function = "regex", regex_pattern = "([a-z]+)" }}]
metrics = [{{ metric = "exact_match", ignore_case = true }}]

[tasks.colours_letter]
source = {{ path = "colours.jsonl" }}
split = {{ train = 8, test = 4, seed = 1 }}
text = "Q: {{{{question}}}}"
choices = "options"
target = "label"
scoring = "letter"
max_tokens = 4
{extra_task}
[adapters.a]
data = ["colours"]

[defaults.lora]
r = 2
alpha = 4
targets = ["q_proj", "v_proj"]

[defaults.train]
lr = 1e-2
max_steps = 2
batch_size = 2
max_len = 48
warmup_steps = 0

[eval]
models = ["tiny", "adapters.*"]
tasks = ["colours", "colours_gen", "colours_letter"]
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

#[test]
fn tasks_declared_in_toml_train_evaluate_and_fill_the_output_contract() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path());
    let m = manifest(dir.path(), "");
    let out = syco(dir.path(), &["run", m.to_str().unwrap(), "--cache", "cache", "--out", "run"]);
    assert!(out.status.success(), "{}", text(&out));

    for model in ["tiny", "a"] {
        let task_dir = dir.path().join("run/models").join(model).join("colours");
        let metrics: Value = serde_json::from_slice(&std::fs::read(task_dir.join("metrics.json")).unwrap()).unwrap();
        let items = read_jsonl(&task_dir.join("items.jsonl"));
        assert_eq!(items.len(), 4, "the test split has 4 records");
        // Per item: four log-likelihoods, the chosen index is their argmax, acc says whether it is gold.
        let mut correct = 0.0;
        for it in &items {
            assert!(it["id"].as_str().unwrap().starts_with('q'), "the record's own id: {it}");
            let ll: Vec<f64> = it["loglik"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            assert_eq!(ll.len(), 4);
            assert!(ll.iter().all(|l| l.is_finite() && *l < 0.0), "log-likelihoods are negative: {ll:?}");
            let argmax = (0..4).fold(0, |b, k| if ll[k] > ll[b] { k } else { b });
            assert_eq!(it["pred"].as_u64().unwrap() as usize, argmax);
            let acc = it["acc"].as_f64().unwrap();
            assert_eq!(acc == 1.0, it["gold"] == argmax || it["gold"] == serde_json::json!([argmax]), "{it}");
            correct += acc;
        }
        assert_eq!(metrics["acc"].as_f64().unwrap(), correct / 4.0);
        assert!(metrics.get("acc_norm").is_some(), "{metrics}");

        let gen_dir = dir.path().join("run/models").join(model).join("colours_gen");
        let gen_metrics: Value = serde_json::from_slice(&std::fs::read(gen_dir.join("metrics.json")).unwrap()).unwrap();
        assert!(gen_metrics.get("exact_match").is_some(), "{gen_metrics}");
        for it in read_jsonl(&gen_dir.join("items.jsonl")) {
            assert!(it.get("response").is_some() && it.get("extracted").is_some(), "{it}");
            assert!(!it["response"].as_str().unwrap().contains('\n'), "cut at the stop string: {it}");
        }
    }
    // Letter scoring: the options shown lettered, the generated letter extracted (or none).
    for it in read_jsonl(&dir.path().join("run/models/tiny/colours_letter/items.jsonl")) {
        let shown = it["response"].as_str().unwrap();
        assert!(it.get("pred").is_some() && it.get("extracted").is_some(), "{it}");
        match it["pred"].as_u64() {
            Some(k) => assert_eq!(it["extracted"].as_str().unwrap(), ["A", "B", "C", "D"][k as usize], "{it}"),
            None => assert!(it["pred"].is_null() && it["acc"] == 0, "no letter in {shown:?}: {it}"),
        }
    }
    let responses = std::fs::read_to_string(dir.path().join("run/models/tiny/colours_letter/responses.jsonl")).unwrap();
    assert!(responses.contains("A. ") && responses.contains("D. "), "the prompt shows the options lettered");

    // The adapter trained on the task's training split (8 records).
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.path().join("run/adapters/a/training_meta.json")).unwrap()).unwrap();
    assert!(meta["train_examples"].as_u64().unwrap() + meta["val_examples"].as_u64().unwrap_or(0) >= 7, "{meta}");
    // The analysis names the tasks.
    let summary = std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap();
    assert!(summary.contains("colours_gen"), "{summary}");

    // Nothing changed: nothing runs.
    let again = syco(dir.path(), &["run", m.to_str().unwrap(), "--cache", "cache"]);
    assert!(again.status.success(), "{}", text(&again));
    let plan = syco(dir.path(), &["plan", m.to_str().unwrap(), "--cache", "cache", "--json"]);
    let stages: Vec<Value> = serde_json::from_slice(&plan.stdout).unwrap();
    assert!(stages.iter().all(|s| s["status"] == "cached"), "{}", text(&plan));

    // A changed template reruns that task's stages only.
    let changed =
        std::fs::read_to_string(&m).unwrap().replace("text = \"Q: {{question.strip()}}", "text = \"Question: {{question.strip()}}");
    std::fs::write(&m, changed).unwrap();
    let plan = syco(dir.path(), &["plan", m.to_str().unwrap(), "--cache", "cache", "--json"]);
    let stages: Vec<Value> = serde_json::from_slice(&plan.stdout).unwrap();
    let to_run: Vec<&str> = stages.iter().filter(|s| s["status"] != "cached").map(|s| s["stage"].as_str().unwrap()).collect();
    assert!(to_run.iter().all(|s| s.contains("colours_gen") || *s == "analysis"), "{to_run:?}");
    assert!(to_run.contains(&"data/colours_gen"), "{to_run:?}");
}

/// Runs a manifest expected to fail; returns the message. Nothing may be cached by it.
fn fails(dir: &Path, m: &Path) -> String {
    let out = syco(dir, &["run", m.to_str().unwrap(), "--cache", "cache"]);
    assert!(!out.status.success(), "expected a failure: {}", text(&out));
    let msg = text(&out);
    assert!(!msg.contains("panicked"), "{msg}");
    msg
}

#[test]
fn bad_tasks_are_errors_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    write_data(dir.path());
    // A template error: the manifest's line of `text`.
    let bad = r#"
[tasks.broken]
source = { path = "colours.jsonl" }
text = "Q: {{question"
target = "label"
choices = "options"
"#;
    let m = manifest(dir.path(), bad);
    let msg = fails(dir.path(), &m);
    let line = std::fs::read_to_string(&m).unwrap().lines().position(|l| l.starts_with("text = \"Q: {{question\"")).unwrap() + 1;
    assert!(msg.contains(&format!("m.toml:{line}")) && msg.contains("text"), "{msg}");

    // An unknown metric: the line of `metrics`.
    let bad = r#"
[tasks.broken]
source = { path = "colours.jsonl" }
text = "{{question}}"
target = "label"
choices = "options"
metrics = ["bleu"]
"#;
    let m = manifest(dir.path(), bad);
    let msg = fails(dir.path(), &m);
    let line = std::fs::read_to_string(&m).unwrap().lines().position(|l| l.starts_with("metrics = [\"bleu\"]")).unwrap() + 1;
    assert!(msg.contains(&format!("m.toml:{line}")) && msg.contains("metrics"), "{msg}");

    // A record missing a field: the data file's line of that record, and the template's key.
    let mut data = std::fs::read_to_string(dir.path().join("colours.jsonl")).unwrap();
    data.push_str("{\"id\": \"q12\", \"options\": [\"a\", \"b\", \"c\", \"d\"], \"label\": 1, \"word\": \"x\"}\n");
    std::fs::write(dir.path().join("missing.jsonl"), data).unwrap();
    let bad = r#"
[tasks.broken]
source = { path = "missing.jsonl" }
text = "Q: {{question}}"
target = "label"
choices = "options"
"#;
    let m = manifest(dir.path(), bad);
    let msg = fails(dir.path(), &m);
    assert!(msg.contains("missing.jsonl:13") && msg.contains("question") && msg.contains("tasks.broken.text"), "{msg}");
    // The failed stage recorded nothing: it is still to run.
    let plan = syco(dir.path(), &["plan", m.to_str().unwrap(), "--cache", "cache", "--json"]);
    let stages: Vec<Value> = serde_json::from_slice(&plan.stdout).unwrap();
    let broken = stages.iter().find(|s| s["stage"].as_str().unwrap().ends_with("data/broken")).expect("planned");
    assert_eq!(broken["status"], "run", "{broken}");

    // A target index out of range: the record's line and `target`.
    let bad = r#"
[tasks.broken]
source = { path = "colours.jsonl" }
text = "Q: {{question}}"
target = "{{label + 7}}"
choices = "options"
"#;
    let m = manifest(dir.path(), bad);
    let msg = fails(dir.path(), &m);
    assert!(msg.contains("colours.jsonl:1") && msg.contains("tasks.broken.target"), "{msg}");

    // `!function` in an lm-eval file: that file, its line, the key.
    std::fs::write(
        dir.path().join("fn.yaml"),
        "task: fn\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: colours.jsonl\ntest_split: test\noutput_type: multiple_choice\nprocess_docs: !function utils.process\ndoc_to_text: question\ndoc_to_target: label\ndoc_to_choice: options\n",
    )
    .unwrap();
    let m = manifest(dir.path(), "\n[tasks.broken]\nlm_eval = \"fn.yaml\"\n");
    let msg = fails(dir.path(), &m);
    assert!(msg.contains("fn.yaml:8") && msg.contains("process_docs"), "{msg}");
}

/// The study's four benchmarks as lm-eval task files (datasets/tasks/) read the study's splits
/// and render every record: the files a user copies must work as shipped.
#[test]
fn the_shipped_task_files_load_the_study_splits() {
    let Some(data) = syco_testkit::shared("seed/data/02_general_benchmarks_splits") else { return };
    let dir = tempfile::tempdir().unwrap();
    let shipped = syco_testkit::workspace_root().join("datasets/tasks");
    let mut m = format!(
        "[experiment]\nname = \"shipped\"\n[model.tiny]\nsource = {{ path = \"{}\" }}\n",
        syco_testkit::workspace_root().join("engine/train/tests/golden/tiny").display()
    );
    let tasks = ["gsm8k", "mmlu", "truthfulqa", "hellaswag"];
    for t in tasks {
        // The files point at ../shared beside the checkout; here at wherever the data is.
        let yaml = std::fs::read_to_string(shipped.join(format!("{t}.yaml"))).unwrap();
        let yaml = yaml.replace("../../../shared/seed/data/02_general_benchmarks_splits", data.to_str().unwrap());
        std::fs::write(dir.path().join(format!("{t}.yaml")), yaml).unwrap();
        m.push_str(&format!("[tasks.{t}]\nlm_eval = \"{t}.yaml\"\n"));
    }
    std::fs::write(dir.path().join("m.toml"), m).unwrap();
    let stages: Vec<String> = tasks.iter().map(|t| format!("data/{t}")).collect();
    let mut args = vec!["run", "m.toml", "--cache", "cache", "--out", "run"];
    args.extend(stages.iter().map(String::as_str));
    let out = syco(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    for t in tasks {
        let meta: Value = serde_json::from_slice(&std::fs::read(dir.path().join(format!("run/data/{t}/task.json"))).unwrap()).unwrap();
        assert!(meta["test"].as_u64().unwrap() >= 200, "{t}: {meta}");
    }
}
