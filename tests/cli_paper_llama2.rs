//! `experiments/paper-llama2.toml` end to end, as written, through the `syco` binary, on a local
//! copy of a checkpoint: a tiny random model with Llama-2-7b-chat-hf's files and config keys
//! (two f16 safetensors shards + index, tokenizer files, generation config; syco-testkit's
//! `hf::tiny_llama2_chat`) in an HF cache under `HF_HOME` (`hub/models--meta-llama--Llama-2-7b-chat-hf`,
//! blobs + snapshots + refs/main), `HF_HUB_OFFLINE=1`, and the study's data from `SYCO_SHARED`.
//! The run takes the `--set`s the manifest's header gives a user without a GPU who wants it small
//! (CPU, f32, the first 2 items of each task, 2 steps per adapter) and completes every stage:
//! the five adapters are trained on the study's rows (shuffled by one `random.seed(42)` stream
//! before the 90/10 split, SPEC §4), every model is evaluated, the analysis writes the report and
//! the CSVs. `--check` then compares the published numbers with this tiny model's and fails, one
//! line per expectation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use syco_testkit::cli::{read_jsonl, text};
use syco_testkit::hf::{put_snapshot, set_ref, tiny_llama2_chat};

const REPO_FOLDER: &str = "models--meta-llama--Llama-2-7b-chat-hf";
/// Any commit: the cache maps `main` to it.
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const BENCHMARKS: [&str; 4] = ["gsm8k", "mmlu", "truthfulqa", "hellaswag"];
const TASKS: [&str; 3] = ["feedback", "are_you_sure", "answer"];
const MODELS: [&str; 6] = ["base", "gsm8k", "mmlu", "truthfulqa", "hellaswag", "combined"];

fn syco(dir: &Path, hf_home: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syco"))
        .args(args)
        .current_dir(dir)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HUB_CACHE")
        .output()
        .expect("syco runs")
}

fn manifest() -> PathBuf {
    syco_testkit::workspace_root().join("experiments/paper-llama2.toml")
}

/// `syco CMD experiments/paper-llama2.toml --cache cache EXTRA... --set S...`.
fn args(cmd: &str, extra: &[&str], sets: &[String]) -> Vec<String> {
    let mut a: Vec<String> = vec![cmd.into(), manifest().display().to_string(), "--cache".into(), "cache".into()];
    a.extend(extra.iter().map(|s| s.to_string()));
    for s in sets {
        a.push("--set".into());
        a.push(s.clone());
    }
    a
}

/// What a user without a GPU writes to run the study small, with the data at `data`.
fn user_sets(data: &Path) -> Vec<String> {
    vec![
        format!("vars.data={}", data.display()),
        "model.base.device=cpu".into(),
        "model.base.dtype=f32".into(),
        "eval.limit=2".into(),
        "defaults.train.max_steps=2".into(),
    ]
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn csv_rows(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).lines().map(str::to_string).collect()
}

fn plan(dir: &Path, hf_home: &Path, sets: &[String]) -> BTreeMap<String, String> {
    let out = syco(dir, hf_home, &args("plan", &["--json"], sets));
    assert!(out.status.success(), "{}", text(&out));
    let stages: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    stages.iter().map(|s| (s["stage"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())).collect()
}

#[test]
fn paper_llama2_runs_end_to_end_on_a_tiny_llama2_from_the_hf_cache_and_check_fails_readably() {
    let Some(data) = syco_testkit::shared("seed/data") else { return };
    let dir = tempfile::tempdir().unwrap();
    let hf_home = dir.path().join("hf");
    let hub = hf_home.join("hub");
    put_snapshot(&hub, REPO_FOLDER, COMMIT, &tiny_llama2_chat(None));
    set_ref(&hub, REPO_FOLDER, "main", COMMIT);
    let sets = user_sets(&data);

    // The plan: every stage of the study.
    let planned = plan(dir.path(), &hf_home, &sets);
    let mut want = vec!["model/base".to_string(), "analysis".into()];
    for b in BENCHMARKS {
        want.push(format!("data/{b}"));
        want.push(format!("data/{b}_train"));
    }
    for t in TASKS {
        want.push(format!("data/{t}"));
    }
    for m in &MODELS[1..] {
        want.push(format!("train/{m}"));
    }
    for m in MODELS {
        for t in BENCHMARKS.iter().chain(&TASKS) {
            want.push(format!("respond/{m}/{t}"));
            want.push(format!("eval/{m}/{t}"));
        }
    }
    want.sort();
    assert_eq!(planned.keys().cloned().collect::<Vec<_>>(), want);
    assert!(planned.values().all(|s| s == "run"), "{planned:?}");

    let out = syco(dir.path(), &hf_home, &args("run", &["--out", "run", "-j", "2"], &sets));
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    // Every stage ran or was found identical to one that had (an adapter two steps into its
    // warmup answers as the base model does, so their evaluations share keys).
    let (ran, cached) = counts(&log, want.len());
    assert_eq!(ran + cached, want.len(), "{log}");
    assert!(ran > want.len() / 2, "{log}");
    let run = dir.path().join("run");

    // The model stage fetched the whole sharded checkpoint from the cache.
    let fetched: Vec<PathBuf> = syco_testkit::files_under(&dir.path().join("cache"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "model-00002-of-00002.safetensors"))
        .collect();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    let model_dir = fetched[0].parent().unwrap();
    for f in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json"] {
        assert!(model_dir.join(f).is_file(), "{f} not fetched into {}", model_dir.display());
    }

    // The adapters trained on the study's rows: one random.seed(42) stream shuffling the
    // committed train files in order gsm8k, mmlu, truthfulqa, hellaswag (SPEC §4's first indices).
    let first_rows = [
        ("gsm8k", [776, 507, 895, 922, 33], 1000),
        ("mmlu", [606, 998, 471, 699, 701], 1000),
        ("truthfulqa", [315, 274, 579, 166, 192], 600),
        ("hellaswag", [134, 862, 219, 940, 508], 1000),
    ];
    for (b, first, n) in first_rows {
        let file = read_jsonl(&data.join(format!("02_general_benchmarks_splits/train_splits/{b}_train.jsonl")));
        let got = read_jsonl(&run.join(format!("data/{b}_train/train.jsonl")));
        assert_eq!(got.len(), n, "{b}");
        let key = if b == "hellaswag" { "ctx" } else { "question" };
        let text_of = |r: &Value| -> String {
            // Canonical records may nest the source fields; find the field wherever it is.
            fn find(v: &Value, key: &str) -> Option<String> {
                match v {
                    Value::Object(m) => {
                        m.get(key).and_then(|x| x.as_str().map(str::to_string)).or_else(|| m.values().find_map(|x| find(x, key)))
                    }
                    _ => None,
                }
            }
            find(r, key).unwrap_or_else(|| panic!("no `{key}` in {r}"))
        };
        for (pos, idx) in first.iter().enumerate() {
            assert_eq!(text_of(&got[pos]), text_of(&file[*idx]), "{b}: row {pos} of the shuffled list is not file row {idx}");
        }
        let test = read_jsonl(&run.join(format!("data/{b}/test.jsonl")));
        assert_eq!(test.len(), if b == "truthfulqa" { 200 } else { 500 }, "{b} test split");
    }
    // 90/10 by position after the shuffle; the combined list is the four concatenated.
    for (adapter, train, val, datasets) in [
        ("gsm8k", 900, 100, vec!["gsm8k_train"]),
        ("mmlu", 900, 100, vec!["mmlu_train"]),
        ("truthfulqa", 540, 60, vec!["truthfulqa_train"]),
        ("hellaswag", 900, 100, vec!["hellaswag_train"]),
        ("combined", 3240, 360, vec!["gsm8k_train", "mmlu_train", "truthfulqa_train", "hellaswag_train"]),
    ] {
        let meta = json(&run.join(format!("adapters/{adapter}/training_meta.json")));
        assert_eq!(meta["train_examples"], train, "{adapter}: {meta}");
        assert_eq!(meta["val_examples"], val, "{adapter}: {meta}");
        assert_eq!(meta["steps"], 2, "{adapter}: {meta}");
        assert_eq!(meta["datasets"], serde_json::json!(datasets), "{adapter}: {meta}");
        assert!(meta["final_loss"].as_f64().is_some_and(f64::is_finite), "{adapter}: {meta}");
        assert!(meta["initial_eval_loss"].as_f64().is_some_and(f64::is_finite), "{adapter}: {meta}");
        let cfg = json(&run.join(format!("adapters/{adapter}/adapter_config.json")));
        assert_eq!(
            (cfg["r"].as_u64(), cfg["lora_alpha"].as_f64(), cfg["lora_dropout"].as_f64()),
            (Some(16), Some(32.0), Some(0.1)),
            "{cfg}"
        );
        assert_eq!(cfg["target_modules"].as_array().map(Vec::len), Some(7), "{cfg}");
        assert!(run.join(format!("adapters/{adapter}/adapter_model.safetensors")).is_file());
        let log = read_jsonl(&run.join(format!("adapters/{adapter}/train_log.jsonl")));
        assert_eq!(log.len(), 2, "{adapter}");
        // Warmup 100 steps, as the study: step 1 trains at lr 0 (HF's schedule), step 2 at 2e-6.
        assert!((log[1]["lr"].as_f64().unwrap() - 2e-6).abs() < 1e-12, "{adapter}: {:?}", log[1]);
    }

    // Every model on every task: the first 2 items (eval.limit), scored.
    for m in MODELS {
        for t in BENCHMARKS.iter().chain(&TASKS) {
            let items = read_jsonl(&run.join(format!("models/{m}/{t}/items.jsonl")));
            assert_eq!(items.len(), 2, "{m}/{t}");
            assert!(run.join(format!("models/{m}/{t}/metrics.json")).is_file(), "{m}/{t}");
        }
    }

    // The analysis: the study's three CSVs and the report, with the expectations' table.
    let complete = csv_rows(&run.join("complete_results.csv"));
    assert_eq!(complete.len(), 7, "{complete:?}");
    assert!(complete[0].starts_with("model_type_bench,adapter_name,timestamp,gsm8k,mmlu,truthfulqa,hellaswag"), "{}", complete[0]);
    for m in MODELS {
        assert!(complete.iter().any(|r| r.split(',').nth(1) == Some(m)), "{m} not in complete_results.csv");
    }
    assert_eq!(csv_rows(&run.join("performance_changes.csv")).len(), 6);
    assert_eq!(csv_rows(&run.join("correlation_analysis.csv")).len(), 13);
    let summary = json(&run.join("summary.json"));
    assert_eq!(summary["meta"]["models"], serde_json::json!(MODELS), "{}", summary["meta"]);
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(report.contains("Combined adapter: average benchmark change +0.183"), "no expectations in report.md");

    // Without --check the run succeeds although the tiny model misses the published numbers;
    // the table says so.
    let expectations = std::fs::read_to_string(manifest()).unwrap().lines().filter(|l| l.starts_with("[[expect]]")).count();
    assert!(expectations >= 40, "{expectations} [[expect]] blocks");
    let claims = format!("{expectations} claims, ");
    assert!(log.contains(&claims), "no expectation table in the run's output:\n{log}");

    // --check: everything cached, one line per expectation, and a failure.
    let check = syco(dir.path(), &hf_home, &args("run", &["--out", "run", "--check"], &sets));
    let out = text(&check);
    assert!(!check.status.success(), "--check passed on a tiny random model:\n{out}");
    assert_eq!(counts(&out, want.len()), (0, want.len()), "{out}");
    assert!(out.contains("a check failed (--check)"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("claim ")).collect();
    let rows: Vec<&str> = table.iter().skip(2).take(expectations).copied().collect();
    assert_eq!(rows.len(), expectations, "{out}");
    for (row, metric_claim) in
        rows.iter().zip(std::fs::read_to_string(manifest()).unwrap().lines().filter_map(|l| l.strip_prefix("claim = \"")))
    {
        let claim = metric_claim.trim_end_matches('"');
        assert!(row.starts_with(claim), "row `{row}` is not the claim `{claim}`");
        assert!(row.contains("PASS") || row.contains("FAIL"), "{row}");
    }
    assert!(rows.iter().filter(|r| r.contains("FAIL")).count() >= expectations / 2, "{out}");
    assert!(out.contains("Baseline: gsm8k accuracy 0.07") && out.contains("+0.07"), "{out}");
    assert!(out.contains(&format!("{expectations} claims, ")) && out.contains(" unexpected"), "{out}");
    let outcomes = json(&run.join("expectations.json"));
    assert_eq!(outcomes.as_array().map(Vec::len), Some(expectations));

    // A local copy outside the HF cache, by the other `--set` the header gives: the snapshot folder.
    let snapshot = hub.join(REPO_FOLDER).join("snapshots").join(COMMIT);
    let mut by_path = sets.clone();
    by_path.push(format!("model.base.source={{ path = \"{}\" }}", snapshot.display()));
    let out = syco(dir.path(), &hf_home, &args("run", &["model/base"], &by_path));
    assert!(out.status.success(), "{}", text(&out));
    let planned = plan(dir.path(), &hf_home, &by_path);
    assert_eq!(planned["model/base"], "cached", "{planned:?}");
    assert_eq!(planned["data/gsm8k_train"], "cached", "{planned:?}");
}

/// (ran, cached) from the run's last line, `N stages: R ran, C cached...`.
fn counts(log: &str, n: usize) -> (usize, usize) {
    let line = log.lines().find(|l| l.starts_with(&format!("{n} stages: "))).unwrap_or_else(|| panic!("no `{n} stages:` line in {log}"));
    let num = |after: &str| -> usize {
        let i = line.find(after).unwrap_or_else(|| panic!("`{after}` not in `{line}`"));
        line[..i].rsplit(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    assert!(!line.contains("failed"), "{line}");
    (num(" ran"), num(" cached"))
}
