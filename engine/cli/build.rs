//! Reads Cargo.lock and hands the locked versions of the crates that compute stage outputs to the
//! `syco` binary, so a `cargo update` of any of them changes the keys of the stages they feed
//! (see the table in engine/core/src/key.rs). A crate named here but absent from the lock file
//! fails the build: a silent default would put a version into keys that no longer describes the
//! code that ran.

use std::collections::BTreeMap;
use std::path::Path;

/// Numerics and text of every model-backed stage (train, combine, respond): candle and the gemm
/// kernels it calls (with pulp, gemm's SIMD dispatch), the half-precision types, the weight file
/// format, the tokenizer with its regex engine and normaliser, and the chat-template engine.
const ML: &[&str] = &[
    "candle-core",
    "candle-nn",
    "gemm",
    "gemm-common",
    "gemm-f16",
    "gemm-f32",
    "gemm-f64",
    "gemm-c32",
    "gemm-c64",
    "pulp",
    "half",
    "safetensors",
    "tokenizers",
    "onig",
    "onig_sys",
    "unicode-normalization-alignments",
    "minijinja",
];

/// Open tasks' records and rules: the file readers (CSV, parquet and its codecs), the template
/// engine and the regex engine of filters and metrics.
const TASKS: &[&str] = &["csv", "parquet", "snap", "flate2", "zstd", "minijinja", "regex", "regex-syntax"];

/// The analysis stage's figures (plotters draws them, ab_glyph rasterises their text, png encodes
/// the bitmaps).
const FIGURES: &[&str] = &["plotters", "plotters-bitmap", "plotters-svg", "ab_glyph", "image", "png"];

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=engine/cli/build.rs");
    let lock_path = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("Cargo.lock");
    let text = std::fs::read_to_string(&lock_path).unwrap_or_else(|e| panic!("cannot read {}: {e}", lock_path.display()));
    let lock: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", lock_path.display()));
    // name -> every locked version (a crate can be in the graph at more than one version).
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pkg in lock.get("package").and_then(toml::Value::as_array).expect("Cargo.lock has [[package]] entries") {
        let field = |k: &str| pkg.get(k).and_then(toml::Value::as_str).unwrap_or_else(|| panic!("a Cargo.lock package has no `{k}`"));
        versions.entry(field("name").to_string()).or_default().push(field("version").to_string());
    }
    for (var, names) in [("SYCO_LOCKED_ML", ML), ("SYCO_LOCKED_TASKS", TASKS), ("SYCO_LOCKED_FIGURES", FIGURES)] {
        let pairs: Vec<String> = names
            .iter()
            .map(|n| match versions.get(*n) {
                Some(v) => {
                    let mut v = v.clone();
                    v.sort();
                    format!("{n}={}", v.join("+"))
                }
                None => panic!(
                    "engine/cli/build.rs: `{n}` is not in Cargo.lock; stage keys name it. If it was replaced, list its \
                     successor in ML or FIGURES instead"
                ),
            })
            .collect();
        println!("cargo:rustc-env={var}={}", pairs.join(";"));
    }
}
