//! Crash tests (issue 11, part 1): `syco run` on a multi-stage manifest is `kill -9`ed at random
//! moments; afterwards `syco cache verify` must be clean and a rerun must finish with published
//! outputs byte-identical to an uninterrupted run's.
//!
//! Default: 6 kills. `SYCO_LONG_TESTS=1`: 60. `SYCO_RELIABILITY_SEED=N` replays a schedule.
//! Half the kills hit only the `syco` process (its running commands are orphaned and finish on
//! their own, as after an OOM kill of the parent), half hit its whole process group (as after a
//! node crash or `scancel`).
use std::collections::BTreeMap;

#[path = "reliability/common.rs"]
mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// One kill: wait `after`, then SIGKILL the process (or its group). Returns true if the run was
/// still going when the signal was sent.
fn run_and_kill(cache: &std::path::Path, manifest: &std::path::Path, out: &std::path::Path, after: Duration, group: bool) -> bool {
    let mut child = syco(cache, &["run", path_str(manifest), "--out", path_str(out), "-j", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start syco");
    let pid = child.id() as i32;
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        if child.try_wait().expect("poll syco").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: plain kill(2) on a child we started (or its own process group).
    unsafe { libc_kill(if group { -pid } else { pid }, 9) };
    let _ = child.wait();
    if !group {
        // Orphaned commands of the killed run are left to finish, like on a real machine; give
        // them a moment so the next process does not race them for the CPU forever.
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn kill_9_at_random_moments_never_corrupts_the_cache() {
    let kills = if long_mode() { 60 } else { 6 };
    let mut rng = Rng::from_env();
    let s = Scratch::new();
    let log = s.path("exec.log");
    let manifest = s.write("m.toml", &diamond_manifest("k", &log, 0.05));

    // The reference: one uninterrupted run, timed to spread the kills over its length.
    let reference_cache = s.path("ref-cache");
    let started = Instant::now();
    run_and_wait(&reference_cache, &manifest, &s.path("ref-out"));
    let full = started.elapsed();
    let want = snapshot(&s.path("ref-out"));
    assert!(want.len() >= 6, "reference run published {} files", want.len());

    let mut survived = 0;
    let mut landed = 0;
    for trial in 0..kills {
        let cache = s.path(&format!("cache-{trial}"));
        // One to three kills in a row on the same cache, each at a random moment of a run.
        let rounds = 1 + rng.below(3);
        for round in 0..rounds {
            let after = full.mul_f64(rng.unit() * 1.1);
            let group = rng.below(2) == 0;
            let out = s.path(&format!("killed-{trial}-{round}"));
            landed += run_and_kill(&cache, &manifest, &out, after, group) as usize;
            let (clean, report) = verify(&cache);
            assert!(clean, "trial {trial} round {round}: cache verify not clean after kill at {after:?} (group {group}):\n{report}");
        }
        let out = s.path(&format!("rerun-{trial}"));
        run_and_wait(&cache, &manifest, &out);
        assert_same(&want, &snapshot(&out), &format!("trial {trial}: rerun after kill"));
        let (clean, report) = verify(&cache);
        assert!(clean, "trial {trial}: cache verify not clean after the rerun:\n{report}");
        survived += 1;
        make_writable(&cache);
        let _ = std::fs::remove_dir_all(&cache);
    }
    eprintln!("crash harness: {survived}/{kills} trials survived, {landed} kills landed mid-run (full run {full:?})");
    assert_eq!(survived, kills);
    make_writable(s.dir.path());
}

fn run_and_wait(cache: &std::path::Path, manifest: &std::path::Path, out: &std::path::Path) {
    run_ok(cache, manifest, out, 2);
}

/// Hash of `file` in the last result of `stage`, read from the cache's records.
fn result_file_hash(cache: &std::path::Path, stage: &str, file: &str) -> Option<String> {
    for key in record_keys(cache) {
        let Ok(text) = std::fs::read(cache.join("records").join(&key).join("record.json")) else { continue };
        let Ok(rec) = serde_json::from_slice::<serde_json::Value>(&text) else { continue };
        if rec["stage"] == stage {
            let files = rec["files"].as_array()?;
            return files.iter().find(|f| f["path"] == file).and_then(|f| f["hash"].as_str()).map(str::to_string);
        }
    }
    None
}

/// A tiny LoRA training stage (the committed 2-layer random Llama of engine/train's golden
/// test, 6 steps with checkpoints every 2) plus a command stage reading the adapter.
fn training_manifest() -> String {
    let tiny = concat!(env!("CARGO_MANIFEST_DIR"), "/engine/train/tests/golden/tiny");
    format!(
        "[experiment]\nname = \"rel-train\"\n\n\
         [model.tiny]\nsource = {{ path = \"{tiny}\" }}\n\n\
         [datasets.d]\nkind = \"gsm8k\"\nsource = {{ builtin = \"mini/gsm8k\", n = 40 }}\nsplit = {{ train = 16, test = 4 }}\n\n\
         [adapters.a]\ndata = [\"d\"]\n\n\
         [defaults.train]\nmax_steps = 6\nbatch_size = 2\nsave_steps = 2\neval_steps = 3\n\n\
         [stages.after]\ncmd = 'cksum < \"$SYCO_IN_TRAIN_A/adapter_model.safetensors\" > sum.txt'\ninputs = [\"train/a\"]\nouts = [\"sum.txt\"]\npublish = \"after\"\n"
    )
}

/// The published files that must be identical after a kill: the adapter and what reads it. The
/// training log and meta record wall-clock throughput and the resume point, so they differ.
fn deterministic(snapshot: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    snapshot.into_iter().filter(|(k, _)| k.starts_with("after/") || k.contains("adapter_")).collect()
}

#[test]
fn kill_9_during_training_then_rerun_gives_the_same_adapter() {
    let kills = if long_mode() { 20 } else { 3 };
    let mut rng = Rng::from_env();
    let s = Scratch::new();
    let manifest = s.write("m.toml", &training_manifest());
    let reference_cache = s.path("ref-cache");
    let started = Instant::now();
    run_and_wait(&reference_cache, &manifest, &s.path("ref-out"));
    let full = started.elapsed();
    let want = result_file_hash(&reference_cache, "train/a", "adapter_model.safetensors").expect("reference adapter");
    let want_after = deterministic(snapshot(&s.path("ref-out")));
    for trial in 0..kills {
        let cache = s.path(&format!("cache-{trial}"));
        let after = full.mul_f64(0.2 + rng.unit() * 0.8);
        run_and_kill(&cache, &manifest, &s.path(&format!("killed-{trial}")), after, rng.below(2) == 0);
        let (clean, report) = verify(&cache);
        assert!(clean, "trial {trial}: verify after a kill at {after:?}:\n{report}");
        let out = s.path(&format!("rerun-{trial}"));
        run_and_wait(&cache, &manifest, &out);
        let got = result_file_hash(&cache, "train/a", "adapter_model.safetensors").expect("rerun adapter");
        assert_eq!(got, want, "trial {trial}: the adapter after a kill at {after:?} differs from an uninterrupted run's");
        assert_same(&want_after, &deterministic(snapshot(&out)), &format!("trial {trial}: published outputs"));
    }
    eprintln!("training crash harness: {kills}/{kills} kills survived (full run {full:?})");
    make_writable(s.dir.path());
}
