//! Corruption (issue 11, part 3): flipped bytes and truncation in an object, an object deleted
//! under a live record, a half-written record. `syco cache verify` must find each one, and
//! `syco run` must never hand a bad object to a stage or the run folder: it recomputes.

#[path = "reliability/common.rs"]
mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

#[derive(Debug, Clone, Copy)]
enum Damage {
    FlipByte,
    Truncate,
    DeleteObject,
    HalfWrittenRecord,
}

const ALL: [Damage; 4] = [Damage::FlipByte, Damage::Truncate, Damage::DeleteObject, Damage::HalfWrittenRecord];

/// (record key, object path) of the file `file` in the result of stage `stage`.
fn object_of(cache: &Path, stage: &str, file: &str) -> (String, PathBuf) {
    for key in record_keys(cache) {
        let Ok(text) = fs::read(cache.join("records").join(&key).join("record.json")) else { continue };
        let rec: serde_json::Value = serde_json::from_slice(&text).expect("record.json is JSON");
        if rec["stage"] != stage {
            continue;
        }
        for f in rec["files"].as_array().expect("files") {
            if f["path"] == file {
                let h = f["hash"].as_str().unwrap();
                return (key, cache.join("objects").join(&h[..2]).join(&h[2..]));
            }
        }
    }
    panic!("no object for {stage} {file} in {}", cache.display());
}

fn writable(p: &Path) {
    fs::set_permissions(p, fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// Damages the result of `stages/src` (every other stage reads it) in place.
fn inject(cache: &Path, damage: Damage, offset: u64) {
    let (key, obj) = object_of(cache, "stages/src", "nums.txt");
    match damage {
        Damage::FlipByte => {
            writable(&obj);
            let mut bytes = fs::read(&obj).unwrap();
            let i = (offset as usize) % bytes.len();
            bytes[i] ^= 0x01;
            // Rewrite in place (same inode): hard links to the object see the damage too, as
            // they would after a disk error.
            use std::io::{Seek, Write};
            let mut f = fs::OpenOptions::new().write(true).open(&obj).unwrap();
            f.seek(std::io::SeekFrom::Start(i as u64)).unwrap();
            f.write_all(&bytes[i..i + 1]).unwrap();
        }
        Damage::Truncate => {
            writable(&obj);
            let len = fs::metadata(&obj).unwrap().len();
            fs::OpenOptions::new().write(true).open(&obj).unwrap().set_len(offset % len).unwrap();
        }
        Damage::DeleteObject => fs::remove_file(&obj).unwrap(),
        Damage::HalfWrittenRecord => {
            let rec = cache.join("records").join(&key).join("record.json");
            writable(&rec);
            let len = fs::metadata(&rec).unwrap().len();
            fs::OpenOptions::new().write(true).open(&rec).unwrap().set_len(1 + offset % (len - 1)).unwrap();
        }
    }
}

/// A cache holding a full run of the diamond, and what that run published.
fn fresh(s: &Scratch, name: &str) -> (PathBuf, PathBuf, std::collections::BTreeMap<String, Vec<u8>>) {
    let manifest = s.write("m.toml", &diamond_manifest("c", &s.path("exec.log"), 0.0));
    let cache = s.path(name);
    let out = s.path(&format!("{name}-out"));
    run_ok(&cache, &manifest, &out, 2);
    (cache, manifest, snapshot(&out))
}

#[test]
fn verify_finds_every_injected_corruption_and_a_rerun_recomputes() {
    let mut rng = Rng::from_env();
    let rounds = if long_mode() { 12 } else { 2 };
    let s = Scratch::new();
    let (mut injected, mut detected) = (0, 0);
    for round in 0..rounds {
        for damage in ALL {
            let name = format!("cache-{round}-{damage:?}");
            let (cache, manifest, want) = fresh(&s, &name);
            inject(&cache, damage, rng.next());
            injected += 1;
            let (clean, report) = verify(&cache);
            assert!(!clean, "{damage:?}: verify did not notice:\n{report}");
            // The damaged result must be gone: its record removed.
            assert!(record_keys(&cache).len() < 4, "{damage:?}: verify kept every record:\n{report}");
            detected += 1;
            let (clean, report) = verify(&cache);
            assert!(clean, "{damage:?}: a second verify is not clean:\n{report}");
            let out = s.path(&format!("{name}-rerun"));
            run_ok(&cache, &manifest, &out, 2);
            assert_same(&want, &snapshot(&out), &format!("{damage:?}: rerun after verify"));
            assert!(verify(&cache).0, "{damage:?}: verify not clean after the rerun");
        }
    }
    eprintln!("corruption: {detected}/{injected} detected by `syco cache verify`");
    make_writable(s.dir.path());
}

/// Without a `verify` in between, `syco run` must notice the damage itself.
fn run_recomputes_after(damage: Damage) {
    let s = Scratch::new();
    let (cache, manifest, want) = fresh(&s, "cache");
    inject(&cache, damage, 12345);
    let out = s.path("rerun");
    let o = syco(&cache, &["run", path_str(&manifest), "--out", path_str(&out), "-j", "2"]).output().unwrap();
    assert!(o.status.success(), "{damage:?}: run failed:\n{}", text(&o));
    assert_same(&want, &snapshot(&out), &format!("{damage:?}: run over a damaged cache"));
    make_writable(s.dir.path());
}

#[test]
fn run_recomputes_when_an_object_was_deleted() {
    run_recomputes_after(Damage::DeleteObject);
}

#[test]
fn run_recomputes_when_an_object_has_a_flipped_byte() {
    run_recomputes_after(Damage::FlipByte);
}

#[test]
fn run_recomputes_when_an_object_is_truncated() {
    run_recomputes_after(Damage::Truncate);
}

#[test]
fn run_recomputes_when_a_record_is_half_written() {
    run_recomputes_after(Damage::HalfWrittenRecord);
}
