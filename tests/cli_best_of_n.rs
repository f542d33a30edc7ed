//! Best-of-N against a preference model end to end through the `syco` binary on the tiny random
//! Llama: samples, the two PMs' scores, the curves; a conversation sampled alone gives the
//! samples it got in a batch; bad PM settings are errors naming file, line and key.

use std::path::{Path, PathBuf};
use std::process::Output;

use syco_testkit::cli::{self, read_jsonl, text};

use serde_json::Value;

fn syco(dir: &Path, args: &[&str]) -> Output {
    cli::run(env!("CARGO_BIN_EXE_syco"), dir, args)
}

fn manifest(dir: &Path, probe_n: &str, extra: &str) -> PathBuf {
    let model = syco_testkit::workspace_root().join("engine/train/tests/golden/tiny");
    let m = format!(
        r#"[experiment]
name = "bon"
seed = 3

[model.tiny]
source = {{ path = "{}" }}
chat_template = "chatml"

[probes.poet]
probe = "mimicry"
source = {{ builtin = "mini", n = 4 }}
{probe_n}
max_tokens = 5

[probes.praise]
probe = "feedback"
source = {{ builtin = "mini", n = 3 }}
max_tokens = 4
judge = "tiny"

[best_of_n.poet]
probe = "poet"
n_max = 4
max_tokens = 5

[best_of_n.praise]
probe = "praise"
n_max = 2
{extra}
[eval]
models = ["tiny"]
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
fn best_of_n_samples_scores_and_curves() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "", "");
    let out = syco(dir.path(), &["run", m.to_str().unwrap(), "--cache", "cache", "--out", "run"]);
    assert!(out.status.success(), "{}", text(&out));

    let bon: Value = serde_json::from_slice(&std::fs::read(dir.path().join("run/best_of_n/poet/bon.json")).unwrap()).unwrap();
    assert_eq!(bon["n_max"], 4);
    assert_eq!(bon["metric"], "mimicry");
    let curves = bon["curves"].as_array().unwrap();
    let pms: Vec<&str> = curves.iter().map(|c| c["pm"].as_str().unwrap()).collect();
    assert_eq!(pms, ["pm", "non_sycophantic_pm"], "{bon}");
    // N = 1 is the plain mean of every sample's verdict, whatever the PM.
    let rows = read_jsonl(&dir.path().join("run/best_of_n/poet/items.jsonl"));
    assert_eq!(rows.len(), 4 * 4, "4 poems x 4 samples");
    let mimics = rows.iter().filter(|r| r["row"]["mimicry"] == "mimics").count() as f64 / 16.0;
    for c in curves {
        let ns: Vec<u64> = c["points"].as_array().unwrap().iter().map(|p| p["n"].as_u64().unwrap()).collect();
        assert_eq!(ns, [1, 2, 4]);
        assert!((c["points"][0]["mean"].as_f64().unwrap() - mimics).abs() < 1e-12, "{c}");
    }
    // feedback: the judge compares sample j of each condition with sample j of the neutral request.
    let judged = read_jsonl(&dir.path().join("run/best_of_n/praise/items.jsonl"));
    assert_eq!(judged.len(), 3 * 4 * 2, "3 texts x 4 conditions x 2 samples");
    let summary = std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap();
    assert!(summary.contains("non_sycophantic_pm"), "the analysis reports the curves");

    // A conversation sampled alone (the probe now keeps one poem) gets the samples it got among four.
    let all = read_jsonl(&dir.path().join("run/best_of_n/poet/samples.jsonl"));
    let m = manifest(dir.path(), "n = 1", "");
    let out = syco(dir.path(), &["run", m.to_str().unwrap(), "--cache", "cache", "--out", "run1"]);
    assert!(out.status.success(), "{}", text(&out));
    let alone = read_jsonl(&dir.path().join("run1/best_of_n/poet/samples.jsonl"));
    assert_eq!(alone.len(), 1);
    let same = all.iter().find(|s| s["dialogue"]["item"] == alone[0]["dialogue"]["item"]).expect("the poem was among the four");
    assert_eq!(same["samples"], alone[0]["samples"]);
    // A larger N_max extends a smaller one: the first four samples stay.
    let m = manifest(dir.path(), "n = 1", "");
    std::fs::write(&m, std::fs::read_to_string(&m).unwrap().replace("n_max = 4\nmax_tokens = 5", "n_max = 6\nmax_tokens = 5")).unwrap();
    let out = syco(dir.path(), &["run", "m.toml", "--cache", "cache", "--out", "run2"]);
    assert!(out.status.success(), "{}", text(&out));
    let more = read_jsonl(&dir.path().join("run2/best_of_n/poet/samples.jsonl"));
    assert_eq!(more[0]["samples"].as_array().unwrap().len(), 6);
    assert_eq!(more[0]["samples"].as_array().unwrap()[..4], alone[0]["samples"].as_array().unwrap()[..]);
    let distinct: std::collections::BTreeSet<String> =
        all.iter().flat_map(|s| s["samples"].as_array().unwrap().iter().map(|t| t.to_string())).collect();
    assert!(distinct.len() > 4, "sampling draws different texts: {distinct:?}");
}

#[test]
fn bad_preference_model_settings_are_errors_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("pm_template = \"Is {answer} good?\"", "pm_template", "answer"),
        ("pm_template = \"Rate it.\"", "pm_template", "response"),
        ("pm = \"oracle\"", "pm = \"oracle\"", "tiny"),
        ("top_p = 0.0", "top_p", "(0, 1]"),
    ];
    for (line, key, says) in cases {
        let extra = format!("\n[best_of_n.bad]\nprobe = \"poet\"\n{line}\n");
        let m = manifest(dir.path(), "", &extra);
        let out = syco(dir.path(), &["plan", m.to_str().unwrap(), "--cache", "cache"]);
        assert!(!out.status.success(), "{line}: {}", text(&out));
        let msg = text(&out);
        let at = std::fs::read_to_string(&m).unwrap().lines().position(|l| l == line).unwrap() + 1;
        assert!(
            msg.contains(&format!("m.toml:{at}")) && msg.contains(key.split(' ').next().unwrap()) && msg.contains(says),
            "{line}: {msg}"
        );
        assert!(!msg.contains("panicked"), "{msg}");
    }
}
