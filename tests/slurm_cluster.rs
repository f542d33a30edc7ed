//! The Slurm executor against a real cluster (issue 9): a multi-stage command manifest where every
//! stage must be its own Slurm job, started only after its inputs' jobs; a rerun submits nothing;
//! several jobs write the one cache at once and `syco cache verify` stays clean; a failing job is
//! reported with its job id and log.
//!
//! Needs a running cluster (`tests/slurm/cluster.sh start`) and `SYCO_SLURM_TESTS=1`; otherwise the
//! test prints a SKIP line and returns (a failure under SYCO_REQUIRE_SHARED=1, as in CI). The temp folder lives under /tmp, which every job sees because
//! the test cluster is this one machine (on a real cluster it would have to be a shared path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn enabled() -> bool {
    let on = std::env::var("SYCO_SLURM_TESTS").is_ok_and(|v| v == "1");
    let has_sbatch = Command::new("sbatch").arg("--version").output().is_ok_and(|o| o.status.success());
    if !(on && has_sbatch) {
        syco_testkit::skip("needs `sbatch` on PATH and SYCO_SLURM_TESTS=1 (start a cluster with tests/slurm/cluster.sh start)");
    }
    on && has_sbatch
}

fn syco(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syco")).args(args).arg("--cache").arg(cache).output().expect("start syco")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `submit STAGE (job ID)` lines -> stage -> job id.
fn submitted(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("submit ")?;
            let (stage, job) = rest.split_once(" (job ")?;
            Some((stage.to_string(), job.trim_end_matches(')').to_string()))
        })
        .collect()
}

/// (start, end) unix seconds of a finished job, from the controller (MinJobAge keeps it there).
fn job_times(id: &str) -> (i64, i64) {
    let out = Command::new("scontrol").args(["-o", "show", "job", id]).output().expect("scontrol");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |name: &str| -> i64 {
        let v = line.split_whitespace().find_map(|w| w.strip_prefix(name)).unwrap_or_else(|| panic!("no {name} in {line}"));
        let d = Command::new("date").args(["-d", v, "+%s"]).output().expect("date");
        String::from_utf8_lossy(&d.stdout).trim().parse().unwrap_or_else(|_| panic!("bad time {v}"))
    };
    (field("StartTime="), field("EndTime="))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("syco-slurm-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A diamond with a fan of four: `a` -> `w1..w4` -> `join`. Each stage records the Slurm job it
/// ran in; the four workers also write one identical file, so their jobs store the same object
/// into the cache at the same time.
const DIAMOND: &str = r#"
[experiment]
name = "slurm-diamond"

[executor]
kind = "slurm"
poll_seconds = 0.3

[stages.a]
cmd = "echo $SLURM_JOB_ID > job; echo seed > a.txt"
outs = ["job", "a.txt"]

[stages.w1]
cmd = "echo $SLURM_JOB_ID > job; cat $SYCO_IN_A/a.txt > w.txt; echo 1 >> w.txt; seq 1 20000 > same.txt"
inputs = ["a"]
outs = ["job", "w.txt", "same.txt"]

[stages.w2]
cmd = "echo $SLURM_JOB_ID > job; cat $SYCO_IN_A/a.txt > w.txt; echo 2 >> w.txt; seq 1 20000 > same.txt"
inputs = ["a"]
outs = ["job", "w.txt", "same.txt"]

[stages.w3]
cmd = "echo $SLURM_JOB_ID > job; cat $SYCO_IN_A/a.txt > w.txt; echo 3 >> w.txt; seq 1 20000 > same.txt"
inputs = ["a"]
outs = ["job", "w.txt", "same.txt"]

[stages.w4]
cmd = "echo $SLURM_JOB_ID > job; cat $SYCO_IN_A/a.txt > w.txt; echo 4 >> w.txt; seq 1 20000 > same.txt"
inputs = ["a"]
outs = ["job", "w.txt", "same.txt"]

[stages.join]
cmd = "echo $SLURM_JOB_ID > job; cat $SYCO_IN_W1/w.txt $SYCO_IN_W2/w.txt $SYCO_IN_W3/w.txt $SYCO_IN_W4/w.txt > all.txt"
inputs = ["w1", "w2", "w3", "w4"]
outs = ["job", "all.txt"]
publish = "join"
"#;

#[test]
fn stages_run_as_slurm_jobs_in_dependency_order_and_rerun_submits_nothing() {
    if !enabled() {
        return;
    }
    let dir = scratch("diamond");
    let manifest = dir.join("m.toml");
    std::fs::write(&manifest, DIAMOND).unwrap();
    let cache = dir.join("cache");
    let out_dir = dir.join("runs");
    let m = manifest.to_str().unwrap();

    let first = syco(&cache, &["run", m, "--out", out_dir.to_str().unwrap()]);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "run failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let jobs = submitted(&stdout);
    let stages = ["a", "w1", "w2", "w3", "w4", "join"].map(|s| format!("stages/{s}"));
    assert_eq!(
        jobs.keys().cloned().collect::<Vec<_>>(),
        {
            let mut s = stages.to_vec();
            s.sort();
            s
        },
        "{stdout}"
    );
    assert!(stdout.contains("6 stages: 6 ran, 0 cached"), "{stdout}");

    // Every stage ran inside the job submitted for it.
    let last_key = |stage: &str| std::fs::read_to_string(cache.join("stages").join(stage.replace('/', "%2F"))).unwrap();
    for s in &stages {
        let job_file = cache.join("records").join(last_key(s).trim()).join("out").join("job");
        let ran_in = std::fs::read_to_string(&job_file).unwrap();
        assert_eq!(ran_in.trim(), jobs[s], "stage {s} ran in job {} but was submitted as {}", ran_in.trim(), jobs[s]);
    }

    // Slurm ordered the DAG: no job started before the jobs of its inputs ended.
    let times: BTreeMap<&str, (i64, i64)> = stages.iter().map(|s| (s.as_str(), job_times(&jobs[s]))).collect();
    for w in ["stages/w1", "stages/w2", "stages/w3", "stages/w4"] {
        assert!(times[w].0 >= times["stages/a"].1, "{w} started before stages/a ended: {times:?}");
        assert!(times["stages/join"].0 >= times[w].1, "stages/join started before {w} ended: {times:?}");
    }
    let joined = std::fs::read_to_string(out_dir.join("join").join("all.txt")).unwrap();
    assert_eq!(joined, "seed\n1\nseed\n2\nseed\n3\nseed\n4\n");

    // Four jobs stored the same object at once; the cache must still verify.
    let verify = syco(&cache, &["cache", "verify"]);
    assert!(verify.status.success(), "cache verify: {}", text(&verify).0);

    // A rerun finds everything cached and submits nothing.
    let again = syco(&cache, &["run", m]);
    let (stdout2, stderr2) = text(&again);
    assert!(again.status.success(), "{stdout2}\n{stderr2}");
    assert!(submitted(&stdout2).is_empty(), "rerun submitted jobs:\n{stdout2}");
    assert!(stdout2.contains("6 stages: 0 ran, 6 cached"), "{stdout2}");
    let _ = std::fs::remove_dir_all(&dir);
}

const FAILING: &str = r#"
[experiment]
name = "slurm-failing"

[stages.ok]
cmd = "echo fine > ok.txt"
outs = ["ok.txt"]

[stages.bad]
cmd = "echo going down; exit 7"
inputs = ["ok"]
outs = ["never.txt"]

[stages.after]
cmd = "touch after.txt"
inputs = ["bad"]
outs = ["after.txt"]
"#;

#[test]
fn a_failing_job_is_reported_with_its_job_id_and_log() {
    if !enabled() {
        return;
    }
    let dir = scratch("failing");
    let manifest = dir.join("m.toml");
    std::fs::write(&manifest, FAILING).unwrap();
    let cache = dir.join("cache");
    // The executor chosen on the command line this time, the poll interval through --set.
    let run =
        syco(&cache, &["run", manifest.to_str().unwrap(), "--executor", "slurm", "--set", "executor.poll_seconds=0.3", "--keep-going"]);
    let (stdout, stderr) = text(&run);
    assert!(!run.status.success(), "the run should fail\n{stdout}\n{stderr}");
    let jobs = submitted(&stdout);
    assert_eq!(jobs.len(), 3, "{stdout}");
    let bad = &jobs["stages/bad"];
    let line = stderr.lines().find(|l| l.starts_with("FAILED stages/bad:")).unwrap_or_else(|| panic!("no failure line:\n{stderr}"));
    assert!(line.contains(&format!("job {bad} FAILED")), "{line}");
    let log = cache.join("slurm").join(format!("stages%2Fbad-{bad}.log"));
    assert!(line.contains(&log.display().to_string()), "{line}");
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("status 7"), "job log:\n{log_text}");
    // The dependent was cancelled by Slurm and is reported with the failed input's job.
    assert!(stderr.contains(&format!("FAILED stages/after: not run: its input stages/bad (job {bad}) failed")), "{stderr}");
    assert!(stdout.contains("1 ran") && stdout.contains("2 failed"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
