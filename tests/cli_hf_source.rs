//! `hf` sources end to end through the `syco` binary, offline, from a hub cache laid out exactly as
//! `huggingface_hub` lays it out (`HF_HUB_CACHE` pointing at a temp folder, `HF_HUB_OFFLINE=1`):
//! a model `{ hf = "test-org/tiny", revision = "main" }` whose checkpoint is two safetensors shards
//! (the golden tiny Llama split), a task and a dataset read from dataset repos; reruns cached, a
//! moved `refs/main` reruns the model stage, a revision the cache lacks is an error saying so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use syco_testkit::cli::text;

use serde_json::Value;

const COMMIT_A: &str = "0123456789abcdef0123456789abcdef01234567";
const COMMIT_B: &str = "89abcdef0123456789abcdef0123456789abcdef";
const COMMIT_D: &str = "fedcba9876543210fedcba9876543210fedcba98";

fn syco(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syco"))
        .args(args)
        .current_dir(dir)
        .env("HF_HUB_CACHE", cache)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HOME")
        .output()
        .expect("syco runs")
}

/// `files` as the snapshot `commit` of `folder`: blobs by content hash, relative symlinks.
fn put_snapshot(cache: &Path, folder: &str, commit: &str, files: &[(&str, Vec<u8>)]) {
    let root = cache.join(folder);
    std::fs::create_dir_all(root.join("blobs")).unwrap();
    for (rel, bytes) in files {
        let hash = blake3::hash(bytes).to_hex().to_string();
        let blob = root.join("blobs").join(&hash);
        if !blob.exists() {
            std::fs::write(&blob, bytes).unwrap();
        }
        let link = root.join("snapshots").join(commit).join(rel);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(format!("{}blobs/{hash}", "../".repeat(rel.split('/').count() + 1)), &link).unwrap();
    }
}

fn set_ref(cache: &Path, folder: &str, revision: &str, commit: &str) {
    let p = cache.join(folder).join("refs").join(revision);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, commit).unwrap();
}

/// A safetensors file of the tensors `keep` picks from `bytes` (the format: an 8-byte
/// little-endian header length, the JSON header with each tensor's byte range, the data).
fn safetensors_subset(bytes: &[u8], keep: impl Fn(&str) -> bool) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let (mut out_header, mut out_data) = (serde_json::Map::new(), vec![]);
    for (name, info) in header.iter().filter(|(k, _)| *k != "__metadata__" && keep(k)) {
        let range: Vec<usize> = info["data_offsets"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let start = out_data.len();
        out_data.extend_from_slice(&data[range[0]..range[1]]);
        let mut info = info.clone();
        info["data_offsets"] = serde_json::json!([start, out_data.len()]);
        out_header.insert(name.clone(), info);
    }
    let mut h = Value::Object(out_header).to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(out_data);
    out
}

/// The golden tiny Llama as a sharded repo: two shards + index, tokenizer, generation config.
fn sharded_model() -> Vec<(&'static str, Vec<u8>)> {
    let g = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    let bytes = std::fs::read(g.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut names: Vec<&String> = header.keys().filter(|k| *k != "__metadata__").collect();
    names.sort();
    let mut weight_map = serde_json::Map::new();
    let mut shard_of = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        weight_map.insert(n.to_string(), format!("model-0000{}-of-00002.safetensors", i % 2 + 1).into());
        shard_of.insert(n.to_string(), i % 2);
    }
    let shard = |i: usize| safetensors_subset(&bytes, |name| shard_of[name] == i);
    vec![
        ("config.json", std::fs::read(g.join("config.json")).unwrap()),
        ("tokenizer.json", std::fs::read(g.join("tokenizer.json")).unwrap()),
        ("generation_config.json", br#"{"max_new_tokens": 5}"#.to_vec()),
        ("model.safetensors.index.json", serde_json::json!({ "metadata": {}, "weight_map": weight_map }).to_string().into_bytes()),
        ("model-00001-of-00002.safetensors", shard(0)),
        ("model-00002-of-00002.safetensors", shard(1)),
    ]
}

/// 8 records: a question, four options, the right index.
fn colours() -> Vec<u8> {
    let words = ["red", "blue", "green", "black", "white", "pink", "gray", "gold"];
    let mut lines = String::new();
    for (i, w) in words.iter().enumerate() {
        let mut choices: Vec<&str> = (0..4).map(|k| words[(i + k * 3) % words.len()]).collect();
        choices.swap(0, i % 4);
        lines.push_str(&format!(
            "{}\n",
            serde_json::json!({ "question": format!("Which colour is {w}?"), "options": choices, "label": i % 4 })
        ));
    }
    lines.into_bytes()
}

fn gsm8k() -> Vec<u8> {
    (1..=6)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({ "question": format!("What is {i} + {i}?"), "answer": format!("{i} + {i} = {}\n#### {}", 2 * i, 2 * i) })
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn write_cache(cache: &Path) {
    put_snapshot(cache, "models--test-org--tiny", COMMIT_A, &sharded_model());
    set_ref(cache, "models--test-org--tiny", "main", COMMIT_A);
    put_snapshot(cache, "datasets--test-org--colours", COMMIT_D, &[("data/colours.jsonl", colours())]);
    set_ref(cache, "datasets--test-org--colours", "main", COMMIT_D);
    put_snapshot(cache, "datasets--test-org--gsm", COMMIT_D, &[("main/train.jsonl", gsm8k())]);
    set_ref(cache, "datasets--test-org--gsm", "main", COMMIT_D);
}

fn manifest(dir: &Path, revision: &str) -> PathBuf {
    let m = format!(
        r#"[experiment]
name = "hf"
seed = 7

[model.tiny]
source = {{ hf = "test-org/tiny", revision = "{revision}" }}
chat_template = "chatml"

[datasets.g]
kind = "gsm8k"
source = {{ hf = "test-org/gsm", file = "main/train.jsonl" }}

[tasks.colours]
source = {{ hf = "test-org/colours", repo_type = "dataset", file = "data/colours.jsonl" }}
text = "Q: {{{{question}}}}\nA:"
choices = "options"
target = "label"
output = "multiple_choice"

[eval]
models = ["tiny"]
tasks = ["colours"]
batch_size = 4
"#
    );
    let path = dir.join("m.toml");
    std::fs::write(&path, m).unwrap();
    path
}

fn plan_status(dir: &Path, cache: &Path, m: &Path) -> HashMap<String, String> {
    let plan = syco(dir, cache, &["plan", m.to_str().unwrap(), "--cache", "cache", "--json"]);
    assert!(plan.status.success(), "{}", text(&plan));
    let stages: Vec<Value> = serde_json::from_slice(&plan.stdout).unwrap();
    stages.iter().map(|s| (s["stage"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string())).collect()
}

#[test]
fn a_sharded_hub_model_and_hub_datasets_run_offline_and_a_moved_ref_reruns_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    write_cache(&hf);
    let m = manifest(dir.path(), "main");
    let out = syco(dir.path(), &hf, &["run", m.to_str().unwrap(), "--cache", "cache", "--out", "run"]);
    assert!(out.status.success(), "{}", text(&out));
    let metrics: Value = serde_json::from_slice(&std::fs::read(dir.path().join("run/models/tiny/colours/metrics.json")).unwrap()).unwrap();
    assert!(metrics["acc"].is_number(), "{metrics}");
    let items = std::fs::read_to_string(dir.path().join("run/models/tiny/colours/items.jsonl")).unwrap();
    assert_eq!(items.lines().count(), 8);

    // The model stage's output holds the whole sharded checkpoint.
    let model_dirs: Vec<PathBuf> = syco_testkit::files_under(&dir.path().join("cache"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "model.safetensors.index.json"))
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    assert!(!model_dirs.is_empty(), "no model output with the index under the cache");
    for f in
        ["config.json", "tokenizer.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    {
        assert!(model_dirs.iter().any(|d| d.join(f).is_file()), "{f} not beside the index in {model_dirs:?}");
    }

    let status = plan_status(dir.path(), &hf, &m);
    assert!(status.values().all(|s| s == "cached"), "{status:?}");
    assert_eq!(status.get("model/tiny").map(String::as_str), Some("cached"), "{status:?}");
    assert_eq!(status.get("data/g").map(String::as_str), Some("cached"), "{status:?}");

    // refs/main moves to another commit (the same model, unsharded): the model stage reruns.
    let g = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    let single: Vec<(&str, Vec<u8>)> =
        ["config.json", "tokenizer.json", "model.safetensors"].into_iter().map(|f| (f, std::fs::read(g.join(f)).unwrap())).collect();
    put_snapshot(&hf, "models--test-org--tiny", COMMIT_B, &single);
    set_ref(&hf, "models--test-org--tiny", "main", COMMIT_B);
    let status = plan_status(dir.path(), &hf, &m);
    assert_eq!(status["model/tiny"], "run", "{status:?}");
    assert_eq!(status["data/colours"], "cached", "{status:?}");
    assert_eq!(status["data/g"], "cached", "{status:?}");
    let again = syco(dir.path(), &hf, &["run", m.to_str().unwrap(), "--cache", "cache", "--out", "run"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(plan_status(dir.path(), &hf, &m).values().all(|s| s == "cached"));

    // Pinned to the first commit (no refs/ needed): its own key, and it runs offline.
    let by_commit = manifest(dir.path(), COMMIT_A);
    assert_eq!(plan_status(dir.path(), &hf, &by_commit)["model/tiny"], "run");
    let out = syco(dir.path(), &hf, &["run", by_commit.to_str().unwrap(), "--cache", "cache"]);
    assert!(out.status.success(), "{}", text(&out));

    // A revision the cache lacks, offline: an error naming repo, revision and cache folder.
    let missing = manifest(dir.path(), "v9");
    let out = syco(dir.path(), &hf, &["run", missing.to_str().unwrap(), "--cache", "cache"]);
    assert!(!out.status.success(), "{}", text(&out));
    let msg = text(&out);
    for want in ["test-org/tiny", "`v9`", "not in the HF cache", hf.to_str().unwrap(), "HF_HUB_OFFLINE"] {
        assert!(msg.contains(want), "`{want}` not in: {msg}");
    }
    assert!(!msg.contains("panicked"), "{msg}");
}

#[test]
fn bad_hf_sources_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    write_cache(&hf);
    let m = manifest(dir.path(), "main");
    let base = std::fs::read_to_string(&m).unwrap();
    for (from, to, want) in [
        (r#"file = "data/colours.jsonl" }"#, r#"file = "data/colours.jsonl", files = ["x"] }"#, "`file` or `files`, not both"),
        (
            r#"repo_type = "dataset", file = "data/colours.jsonl""#,
            r#"repo_type = "dataset", config = "default""#,
            "`config` and `split` go together",
        ),
        (
            r#"repo_type = "dataset", file = "data/colours.jsonl""#,
            r#"repo_type = "dataset", config = "default", split = "test""#,
            "revision `refs/convert/parquet` is not in the HF cache",
        ),
        (r#"repo_type = "dataset", file = "data/colours.jsonl""#, r#"repo_type = "dataset""#, "name the data with `file"),
        (r#"repo_type = "dataset", file = "data/colours.jsonl""#, r#"file = "data/other.jsonl""#, "`data/other.jsonl`"),
        (r#"revision = "main" }"#, r#"revision = "main", repo_type = "dataset" }"#, "model repo"),
    ] {
        assert!(base.contains(from), "{from}");
        std::fs::write(&m, base.replace(from, to)).unwrap();
        let out = syco(dir.path(), &hf, &["run", m.to_str().unwrap(), "--cache", "cache"]);
        assert!(!out.status.success(), "{to}: {}", text(&out));
        let msg = text(&out);
        assert!(msg.contains(want) && !msg.contains("panicked"), "{to}: `{want}` not in: {msg}");
    }
}

/// A checkpoint the cache holds incompletely, or whose tensors disagree with its config.json,
/// fails the model stage with an error naming the file (and the tensor), the repo and the commit.
#[test]
fn an_incomplete_or_misshapen_checkpoint_fails_the_model_stage_naming_the_file() {
    let shard2 = "model-00002-of-00002.safetensors";
    let llama2 = |reshape| syco_testkit::hf::tiny_llama2_chat(reshape);
    type Files = Vec<(String, Vec<u8>)>;
    let cases: Vec<(&str, Files, Vec<&str>)> = vec![
        (
            "a missing shard",
            llama2(None).into_iter().filter(|(f, _)| f != shard2).collect(),
            vec![shard2, "not in the HF cache", "HF_HUB_OFFLINE"],
        ),
        (
            "a tensor shaped unlike the config",
            llama2(Some(("model.layers.0.self_attn.k_proj.weight", vec![16, 32]))),
            vec!["`model.layers.0.self_attn.k_proj.weight`", "`model-00001-of-00002.safetensors`", "[16, 32]", "[32, 32]", "config.json"],
        ),
    ];
    for (what, files, wants) in cases {
        let dir = tempfile::tempdir().unwrap();
        let hf = dir.path().join("hf");
        write_cache(&hf);
        syco_testkit::hf::put_snapshot(&hf, "models--test-org--tiny", COMMIT_B, &files);
        set_ref(&hf, "models--test-org--tiny", "main", COMMIT_B);
        let m = manifest(dir.path(), "main");
        let out = syco(dir.path(), &hf, &["run", m.to_str().unwrap(), "model/tiny", "--cache", "cache"]);
        assert!(!out.status.success(), "{what}: {}", text(&out));
        let msg = text(&out);
        for want in wants.iter().copied().chain(["test-org/tiny", COMMIT_B]) {
            assert!(msg.contains(want), "{what}: `{want}` not in: {msg}");
        }
        assert!(!msg.contains("panicked"), "{what}: {msg}");
    }
}
