//! Stage keys: blake3 over the stage kind, its version, canonical params, the output tree hash of
//! every input and the kind's extras. Canonical JSON sorts object keys itself because serde_json's
//! `preserve_order` is on in this workspace.
//!
//! A key must change whenever the stage's output can change, and should change for nothing else.
//!
//! # What goes into a key
//!
//! | input | computed in | changes when |
//! |---|---|---|
//! | the tag `syco-key-v1` | [`KeyParts::key`] | the key algorithm changes (every key at once) |
//! | kind | `StageDef::kind`, set by the planner (`engine/cli/plan.rs`, `command.rs`) | never for a given stage kind |
//! | kind version | `StageKind::version()` in `engine/cli/stages/*.rs` and `command.rs` | bumped by hand when a kind's outputs change; `tests/stage_fingerprints.rs` fails when a bump is forgotten |
//! | params, as canonical JSON | `StageDef::params`, built by the planner from the manifest after `[vars]`, `[matrix]` and `--set` | any manifest value the stage reads, and any change to the shape of the params (a renamed field changes keys, not outputs) |
//! | each input's name and output tree hash | `exec::Session::resolve`; `cache::tree_hash` over (path, blake3 of the content, executable bit) of the upstream output | any byte, name or mode of an upstream output file; renaming an input |
//! | extras: `source.content`, `train_source.content`, ... | `key_extras` of `model` and `dataset` (`stages/source.rs::identity`): blake3 of a local file or folder | the local model or data file's content |
//! | extras: `source.sha256` | the same, for a pip source with a pinned hash | the pinned hash |
//! | extras: `source.location` | `key_extras` of `model`: the canonical path of a local model, which its `model.json` records | the model's place on disk |
//! | extras: `file PATH` | `key_extras` of `import`: blake3 of each result file | that file's content |
//! | extras: `crate NAME` (model-backed stages: train, combine, respond) | `stages/runtime.rs::engine_extras`, from `Cargo.lock` via `engine/cli/build.rs` (candle, gemm, pulp, half, safetensors, tokenizers, onig, minijinja, ...) | `cargo update` of any of them |
//! | extras: `crate NAME` (analysis) | `key_extras` of `analysis`: the figure crates (plotters, ab_glyph, image, png), same source | `cargo update` of any of them |
//! | extras: `engine` | `engine_extras`: the `syco` package version | a release |
//! | extras: `device` (train, respond) | `key_extras`: the stage's device (`cpu`, `cuda:0`) | the manifest's device |
//!
//! Extras are re-derived after a stage runs; a file that changed meanwhile fails the stage
//! instead of recording a result under a key that names other content.
//!
//! # What deliberately does not go into a key
//!
//! - **The stage id** (`train/a`) and the ids and keys of upstream stages. Inputs are named by the
//!   content of their outputs, so renaming a stage, or an upstream change that reproduces the same
//!   output, reuses the downstream results. The id is kept in the record, for `explain`.
//! - **Where results go and how they are scheduled**: the run folder (`--out`), `publish`
//!   paths, the cache location, `--jobs`, `--keep-going`, the executor (local or Slurm), the
//!   `gpu` flag of a command stage.
//! - **Absolute locations of local data and import files**: a data file enters a key by its
//!   content hash (above) and by its path only as written in the manifest, inside params.
//!   (Import params hold paths resolved against the manifest's folder, so an import's key does
//!   follow the manifest; it is cheap to rerun.) A local model is the exception: it is used in
//!   place and `model.json` names it, so its location is keyed (`source.location`).
//! - **File metadata** (mtime, inode, size): only a memo of content hashes, never the key.
//! - **The record's bookkeeping**: `engine_version` (already an extra where it matters),
//!   creation time, duration.
//! - **Unpinned remote sources**: a hub model named by repo (and revision, if given) or an
//!   unpinned pip wheel enter as written in params, not by content. Pin `revision`/`sha256`
//!   for exact reruns.
//! - **The CPU's instruction set, `SYCO_NO_AVX512`, the thread count and the compiler**: kernels
//!   pick AVX-512, AVX2 or portable code at run time and may round differently within float
//!   tolerance (on the fingerprint fixture they agree bit for bit, as do 1 to 8 threads). A cache
//!   shared by machines of different kinds reuses whichever computed first; both are valid runs.
//! - **The plotting crates for train's `training_loss.png`/`.svg`**: pictures of `train_log.jsonl`; retraining
//!   an adapter because a plot would be drawn differently is not worth its hours.
//! - **Parsers and printers with specified behaviour** (serde_json, csv, regex, toml): a change
//!   in what they read or write would be a bug fix of theirs, not a change of numerics.
//! - **Tools a command stage calls** (`sh`, python, their packages): the command enters as
//!   text; pin tool versions in the command or pass them in as an input.

use std::collections::BTreeMap;

use serde_json::Value;

/// JSON text with object keys sorted recursively and no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `{"a": {"b": 1}, "c": [1, 2]}` -> `a.b = 1`, `c = [1,2]` (arrays kept whole, values as canonical JSON).
pub fn flatten_params(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    flatten_into(v, String::new(), &mut out);
    out
}

fn flatten_into(v: &Value, prefix: String, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
            for (k, child) in map {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten_into(child, p, out);
            }
        }
        other => {
            out.insert(prefix, canonical_json(other));
        }
    }
}

/// Everything a stage's key is computed from.
pub struct KeyParts<'a> {
    pub kind: &'a str,
    pub version: u32,
    pub params: &'a Value,
    /// input name -> (stage id, output tree hash)
    pub inputs: &'a BTreeMap<String, (String, String)>,
    pub extras: &'a BTreeMap<String, String>,
}

impl KeyParts<'_> {
    pub fn key(&self) -> String {
        let mut h = blake3::Hasher::new();
        // Every field is length-prefixed so no two different inputs give the same byte stream.
        let mut field = |bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(b"syco-key-v1");
        field(self.kind.as_bytes());
        field(&self.version.to_le_bytes());
        field(canonical_json(self.params).as_bytes());
        field(&(self.inputs.len() as u64).to_le_bytes());
        for (name, (_stage, tree)) in self.inputs {
            field(name.as_bytes());
            field(tree.as_bytes());
        }
        field(&(self.extras.len() as u64).to_le_bytes());
        for (k, v) in self.extras {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        h.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 1}], "c": "s"}});
        assert_eq!(canonical_json(&a), r#"{"a":{"c":"s","z":[1,{"x":1,"y":2}]},"b":1}"#);
    }

    #[test]
    fn flatten_gives_dotted_paths() {
        let f = flatten_params(&json!({"lr": 0.1, "lora": {"r": 8, "t": ["q", "v"]}, "e": {}}));
        assert_eq!(f["lr"], "0.1");
        assert_eq!(f["lora.r"], "8");
        assert_eq!(f["lora.t"], r#"["q","v"]"#);
        assert_eq!(f["e"], "{}");
    }

    #[test]
    fn key_depends_on_every_part_but_not_on_key_order() {
        let inputs = BTreeMap::from([("a".to_string(), ("stages/a".to_string(), "t1".to_string()))]);
        let extras = BTreeMap::new();
        let p1 = json!({"x": 1, "y": 2});
        let p2 = json!({"y": 2, "x": 1});
        let k = |params: &Value, version: u32, inputs: &BTreeMap<String, (String, String)>| {
            KeyParts { kind: "command", version, params, inputs, extras: &extras }.key()
        };
        assert_eq!(k(&p1, 1, &inputs), k(&p2, 1, &inputs));
        assert_ne!(k(&p1, 1, &inputs), k(&p1, 2, &inputs));
        assert_ne!(k(&p1, 1, &inputs), k(&json!({"x": 2, "y": 2}), 1, &inputs));
        let other = BTreeMap::from([("a".to_string(), ("stages/a".to_string(), "t2".to_string()))]);
        assert_ne!(k(&p1, 1, &inputs), k(&p1, 1, &other));
    }
}
