//! Concurrency (issue 11, part 2): 4 `syco run` processes at once on one cache with overlapping
//! manifests (two stages shared by all four, two of each its own). All must succeed, each shared
//! stage must be computed once (the per-key lock) and every process's outputs must equal those of
//! a run alone on a fresh cache; `syco cache verify` stays clean.
//!
//! Default: 2 rounds. `SYCO_LONG_TESTS=1`: 10.

#[path = "reliability/common.rs"]
mod common;

use std::collections::BTreeMap;
use std::process::Stdio;

use common::*;

const PROCESSES: usize = 4;

#[test]
fn four_concurrent_runs_share_one_cache_without_corruption() {
    let rounds = if long_mode() { 10 } else { 2 };
    let s = Scratch::new();
    let prefixes: Vec<String> = (0..PROCESSES).map(|i| format!("p{i}")).collect();

    // References: each manifest alone on its own cache.
    let ref_log = s.path("ref.log");
    let mut want = BTreeMap::new();
    for p in &prefixes {
        let m = s.write(&format!("ref-{p}.toml"), &diamond_manifest(p, &ref_log, 0.02));
        let out = s.path(&format!("ref-{p}-out"));
        run_ok(&s.path(&format!("ref-{p}-cache")), &m, &out, 2);
        want.insert(p.clone(), snapshot(&out));
    }

    let mut runs = 0;
    for round in 0..rounds {
        let log = s.path(&format!("exec-{round}.log"));
        let cache = s.path(&format!("cache-{round}"));
        let children: Vec<_> = prefixes
            .iter()
            .map(|p| {
                let m = s.write(&format!("{p}-{round}.toml"), &diamond_manifest(p, &log, 0.02));
                let out = s.path(&format!("out-{p}-{round}"));
                let child = syco(&cache, &["run", path_str(&m), "--out", path_str(&out), "-j", "2"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start syco");
                (p.clone(), out, child)
            })
            .collect();
        for (p, out, child) in children {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: process {p} failed:\n{}", text(&o));
            assert_same(&want[&p], &snapshot(&out), &format!("round {round}: process {p}"));
            runs += 1;
        }
        let ran = executions(&log);
        let count = |name: &str| ran.iter().filter(|r| *r == name).count();
        for shared in ["src", "left"] {
            assert_eq!(count(shared), 1, "round {round}: shared stage {shared} ran {} times: {ran:?}", count(shared));
        }
        for p in &prefixes {
            for own in [format!("{p}_right"), format!("{p}_join")] {
                assert_eq!(count(&own), 1, "round {round}: {own} ran {} times", count(&own));
            }
        }
        let (clean, report) = verify(&cache);
        assert!(clean, "round {round}: verify after concurrent runs:\n{report}");
        // 2 shared + 2 per process.
        assert_eq!(record_keys(&cache).len(), 2 + 2 * PROCESSES, "round {round}: records");
    }
    eprintln!("concurrency: {runs} runs in {rounds} rounds of {PROCESSES} processes, all succeeded with identical outputs");
    make_writable(s.dir.path());
}

/// The same manifest in all four processes: every stage is contended.
#[test]
fn four_concurrent_runs_of_one_manifest_compute_each_stage_once() {
    let s = Scratch::new();
    let log = s.path("exec.log");
    let m = s.write("m.toml", &diamond_manifest("same", &log, 0.02));
    let ref_out = s.path("ref-out");
    run_ok(&s.path("ref-cache"), &m, &ref_out, 2);
    let want = snapshot(&ref_out);
    let _ = std::fs::remove_file(&log);
    let cache = s.path("cache");
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let out = s.path(&format!("out-{i}"));
            let child = syco(&cache, &["run", path_str(&m), "--out", path_str(&out), "-j", "2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (out, child)
        })
        .collect();
    for (out, child) in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_same(&want, &snapshot(&out), "concurrent run of one manifest");
    }
    let mut ran = executions(&log);
    ran.sort();
    let mut stages = diamond_stages("same");
    stages.sort();
    assert_eq!(ran, stages, "each stage must run exactly once");
    assert!(verify(&cache).0);
    make_writable(s.dir.path());
}
