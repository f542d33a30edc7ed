//! Crash tests (issue 11, part 1): `syco run` on a multi-stage manifest is `kill -9`ed at random
//! moments; afterwards `syco cache verify` must be clean and a rerun must finish with published
//! outputs byte-identical to an uninterrupted run's.
//!
//! Default: 6 kills. `SYCO_LONG_TESTS=1`: 60. `SYCO_RELIABILITY_SEED=N` replays a schedule.
//! Half the kills hit only the `syco` process (its running commands are orphaned and finish on
//! their own, as after an OOM kill of the parent), half hit its whole process group (as after a
//! node crash or `scancel`).

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
