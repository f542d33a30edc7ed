//! Hostile dataset files through the binary (issue 11, part 4): a `[datasets.x]` with a local
//! `source = { path = ... }` pointing at truncated JSONL, wrong field types, an empty file, a
//! 16 MB line, invalid UTF-8. `syco run` must fail without a panic, name the file (and the line
//! where there is one), publish no record, and write nothing outside its run and cache folders.
//! (The loaders' own unit tests live in engine/data; this drives the whole stage.)

#[path = "reliability/common.rs"]
mod common;

use std::fs;

use common::*;

const GOOD: &str = "{\"question\": \"What is 1+1?\", \"answer\": \"1+1=2\\n#### 2\"}\n";

fn cases() -> Vec<(&'static str, Vec<u8>, Option<usize>)> {
    let good = GOOD.as_bytes().to_vec();
    let mut truncated = good.repeat(3);
    truncated.extend_from_slice(b"{\"question\": \"cut here");
    let mut wrong_type = good.repeat(2);
    wrong_type.extend_from_slice(b"{\"question\": 5, \"answer\": [1, 2]}\n");
    let mut huge = good.clone();
    huge.extend_from_slice(b"{\"question\": \"");
    huge.extend(std::iter::repeat_n(b'x', 16 << 20));
    huge.extend_from_slice(b"\", \"answer\": 3}\n");
    let mut bad_utf8 = good.repeat(2);
    bad_utf8.extend_from_slice(b"{\"question\": \"\xff\xfe\", \"answer\": \"#### 1\"}\n");
    let not_object = [good.clone(), b"[1, 2, 3]\n".to_vec()].concat();
    vec![
        ("truncated.jsonl", truncated, Some(4)),
        ("wrong_type.jsonl", wrong_type, Some(3)),
        ("empty.jsonl", Vec::new(), None),
        ("huge_line.jsonl", huge, Some(2)),
        ("bad_utf8.jsonl", bad_utf8, Some(3)),
        ("not_object.jsonl", not_object, Some(2)),
    ]
}

#[test]
fn malformed_dataset_files_fail_with_file_and_line_and_no_panic() {
    let s = Scratch::new();
    let mut failures = Vec::new();
    for (name, bytes, line) in cases() {
        let dir = s.path(name.trim_end_matches(".jsonl"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), &bytes).unwrap();
        let m = dir.join("m.toml");
        fs::write(&m, format!("[experiment]\nname = \"bad\"\n\n[datasets.x]\nkind = \"gsm8k\"\nsource = {{ path = \"{name}\" }}\n"))
            .unwrap();
        let cache = dir.join("cache");
        let o = syco(&cache, &["run", path_str(&m), "--out", path_str(&dir.join("run"))]).current_dir(&dir).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let mut problems = Vec::new();
        if o.status.success() {
            problems.push("succeeded".to_string());
        }
        if o.status.code() == Some(101) || err.contains("panicked") {
            problems.push("panicked".to_string());
        }
        if !err.contains(name) {
            problems.push("error does not name the file".to_string());
        }
        if let Some(l) = line {
            if !(err.contains(&format!("{name}:{l}")) || err.contains(&format!("line {l}"))) {
                problems.push(format!("error does not name line {l}"));
            }
        }
        if !record_keys(&cache)
            .iter()
            .all(|k| fs::read_to_string(cache.join("records").join(k).join("record.json")).is_ok_and(|r| !r.contains("\"data/x\"")))
        {
            problems.push("a record for data/x was published".to_string());
        }
        // Nothing beside the input, the manifest, the cache and the run folder.
        let mut written: Vec<String> =
            fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        written.retain(|n| n != name && n != "m.toml" && n != "cache" && n != "run");
        if !written.is_empty() {
            problems.push(format!("wrote outside run and cache: {written:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{}", problems.join("; "), &err[..err.len().min(600)]));
        }
    }
    make_writable(s.dir.path());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
