//! End-to-end tests of the engine through the `syco` binary, on command-stage manifests only:
//! exact reruns, parameter invalidation and `explain`, early cutoff, error locations, a `kill -9`
//! in the middle of a stage, two concurrent runs on one cache, and the `plan --json` shape.
//!
//! Every stage command appends its name to an execution log, so a test knows exactly which
//! stages ran. The cache is always given as an absolute `--cache` path in a fresh temp dir.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("temp dir") }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn cache(&self) -> PathBuf {
        self.path("cache")
    }
    fn log(&self) -> PathBuf {
        self.path("exec.log")
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).expect("write manifest");
        p
    }
    /// A `syco` command with cwd = the scratch dir and an absolute `--cache` there.
    fn syco(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_syco"));
        c.args(args).arg("--cache").arg(self.cache()).current_dir(self.dir.path());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.syco(args).output().expect("start syco")
    }
    fn run_ok(&self, args: &[&str]) -> Output {
        let o = self.run(args);
        assert!(o.status.success(), "syco {args:?} failed: {}", text(&o));
        o
    }
    /// Stage names executed since the last call, in order; empties the log.
    fn executed(&self) -> Vec<String> {
        let got = std::fs::read_to_string(self.log()).unwrap_or_default();
        let _ = std::fs::write(self.log(), "");
        got.split_whitespace().map(str::to_owned).collect()
    }
    /// `syco plan --json` as (stage, status) pairs, stage names without the `stages/` prefix.
    fn plan(&self, manifest: &Path) -> Vec<(String, String)> {
        let o = self.run_ok(&["plan", path_str(manifest), "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).expect("plan --json is JSON");
        v.as_array()
            .expect("plan --json is an array")
            .iter()
            .map(|e| (short(e["stage"].as_str().expect("stage")), e["status"].as_str().expect("status").to_owned()))
            .collect()
    }
    fn to_run(&self, manifest: &Path) -> BTreeSet<String> {
        self.plan(manifest).into_iter().filter(|(_, s)| s == "run").map(|(n, _)| n).collect()
    }
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn short(stage: &str) -> String {
    stage.rsplit('/').next().unwrap_or(stage).to_owned()
}

fn name(i: usize) -> String {
    format!("s{i:04}")
}

/// Stage `i` reads stage `i-1`, and stage `i-7` too when `i >= 7 && i % 3 == 0`
/// (the shape of shared/checks/engine_contract.py).
fn deps(i: usize) -> Vec<usize> {
    let mut d = Vec::new();
    if i > 0 {
        d.push(i - 1);
    }
    if i >= 7 && i.is_multiple_of(3) {
        d.push(i - 7);
    }
    d
}

/// An `n`-stage chain-with-skips plus `e0 -> e1`, where `e0`'s output does not depend on its param.
/// `changed` gives that stage `v = 2` instead of 1.
fn chain_manifest(log: &Path, n: usize, changed: Option<usize>, early_param: u32) -> String {
    let log = path_str(log);
    let mut m = String::from("[experiment]\nname = \"engine-cli\"\n\n");
    for i in 0..n {
        let ins = deps(i);
        let cat: Vec<String> = ins.iter().map(|j| format!("\"$SYCO_IN_S{j:04}/out.txt\"")).collect();
        let body = if ins.is_empty() { ": > out.txt".to_owned() } else { format!("cat {} | cksum > out.txt", cat.join(" ")) };
        let inputs: Vec<String> = ins.iter().map(|j| format!("\"{}\"", name(*j))).collect();
        m += &format!(
            "[stages.{s}]\ncmd = 'echo {s} >> {log}; {body}; echo {s}=$SYCO_PARAM_V >> out.txt'\ninputs = [{}]\nparams = {{ v = {} }}\nouts = [\"out.txt\"]\n\n",
            inputs.join(", "),
            if changed == Some(i) { 2 } else { 1 },
            s = name(i),
        );
    }
    m += &format!(
        "[stages.e0]\ncmd = 'echo e0 >> {log}; echo constant > out.txt'\nparams = {{ p = {early_param} }}\nouts = [\"out.txt\"]\n\n\
         [stages.e1]\ncmd = 'echo e1 >> {log}; cat \"$SYCO_IN_E0/out.txt\" > out.txt'\ninputs = [\"e0\"]\nouts = [\"out.txt\"]\n"
    );
    m
}

/// `changed` and every stage downstream of it, among `n`.
fn descendants(n: usize, changed: usize) -> BTreeSet<String> {
    let mut hit = vec![false; n];
    hit[changed] = true;
    for i in changed + 1..n {
        hit[i] = deps(i).iter().any(|&j| hit[j]);
    }
    (0..n).filter(|&i| hit[i]).map(name).collect()
}

#[test]
fn reruns_exactly_what_changed_and_cuts_off_early() {
    const N: usize = 30;
    let s = Scratch::new();
    let m = s.write("m.toml", &chain_manifest(&s.log(), N, None, 1));

    s.run_ok(&["run", path_str(&m)]);
    assert_eq!(s.executed().len(), N + 2, "first run executes every stage");
    let plan = s.plan(&m);
    assert_eq!(plan.len(), N + 2);
    assert!(plan.iter().all(|(_, st)| st == "cached"), "after a full run all is cached: {plan:?}");
    s.run_ok(&["run", path_str(&m)]);
    assert_eq!(s.executed(), Vec::<String>::new(), "second run executes nothing");

    // One param changes: exactly that stage and its descendants rerun.
    let changed = 12;
    let want = descendants(N, changed);
    assert!(want.len() > 1 && want.len() < N, "the test graph has a non-trivial downstream set");
    let m = s.write("m.toml", &chain_manifest(&s.log(), N, Some(changed), 1));
    assert_eq!(s.to_run(&m), want, "plan after one param change");
    let ex = text(&s.run_ok(&["explain", path_str(&m), &format!("stages/{}", name(changed))]));
    let names_change = regex::Regex::new(r"\bv\b[^\n]*\b1\b[^\n]*\b2\b").unwrap();
    assert!(names_change.is_match(&ex), "explain names param v with 1 and 2: {ex}");
    s.run_ok(&["run", path_str(&m)]);
    assert_eq!(s.executed().into_iter().collect::<BTreeSet<_>>(), want, "rerun after one param change");

    // Early cutoff: e0 reruns, produces the same bytes, so e1 stays cached.
    let m = s.write("m.toml", &chain_manifest(&s.log(), N, Some(changed), 2));
    s.run_ok(&["run", path_str(&m)]);
    assert_eq!(s.executed(), vec!["e0".to_owned()], "only e0 reruns");
    assert!(s.to_run(&m).is_empty(), "all cached after the early-cutoff run");
}

/// Runs `manifest` expecting failure; returns the message.
fn error_of(s: &Scratch, manifest: &Path) -> String {
    let o = s.run(&["run", path_str(manifest)]);
    assert!(!o.status.success(), "syco run {} should fail", manifest.display());
    text(&o)
}

#[test]
fn manifest_errors_carry_file_and_line() {
    let s = Scratch::new();
    let bad = s.write("bad.toml", "[experiment]\nname = \"x\"\n\n[stages.a]\ncmdd = \"true\"\ncmd = \"true\"\nouts = []\n");
    let err = error_of(&s, &bad);
    assert!(err.contains("bad.toml:5"), "unknown key at bad.toml:5: {err}");
    assert!(err.contains("cmdd") && err.contains("did you mean") && err.contains("`cmd`"), "{err}");

    let cyc = s.write(
        "cyc.toml",
        "[experiment]\nname = \"x\"\n[stages.a]\ncmd = \"true\"\ninputs = [\"b\"]\nouts = []\n\
         [stages.b]\ncmd = \"true\"\ninputs = [\"a\"]\nouts = []\n",
    );
    let err = error_of(&s, &cyc);
    assert!(regex::Regex::new(r"cyc\.toml:\d+").unwrap().is_match(&err), "cycle error has file:line: {err}");
    assert!(err.to_lowercase().contains("cycle") && err.contains("stages/a") && err.contains("stages/b"), "{err}");

    let missing = s.write("missing.toml", "[experiment]\nname = \"x\"\n[stages.a]\ncmd = \"true\"\ninputs = [\"nope\"]\nouts = []\n");
    let err = error_of(&s, &missing);
    assert!(err.contains("missing.toml:5") && err.contains("nope"), "missing input at missing.toml:5: {err}");
    assert!(!s.log().exists(), "no stage ran");
}

extern "C" {
    #[link_name = "kill"]
    fn sys_kill(pid: i32, sig: i32) -> i32;
}

/// Waits until the execution log holds `line`.
fn wait_for_log(log: &Path, line: &str, within: Duration) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if std::fs::read_to_string(log).unwrap_or_default().lines().any(|l| l == line) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{line} never started");
}

#[test]
fn kill_9_during_a_stage_leaves_no_record_and_the_next_run_completes() {
    let s = Scratch::new();
    let log = path_str(&s.log()).to_owned();
    let m = s.write(
        "m.toml",
        &format!(
            "[experiment]\nname = \"k\"\n[stages.a]\ncmd = 'echo a >> {log}; echo a > out.txt'\nouts = [\"out.txt\"]\n\
             [stages.slow]\ncmd = 'echo slow >> {log}; echo half > out.txt; sleep 1; echo done >> out.txt'\n\
             inputs = [\"a\"]\nouts = [\"out.txt\"]\n"
        ),
    );
    let mut child =
        s.syco(&["run", path_str(&m)]).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0).spawn().expect("start syco");
    wait_for_log(&s.log(), "slow", Duration::from_secs(10));
    // SAFETY: kill(2) on the process group of a child this test started.
    unsafe { sys_kill(-(child.id() as i32), 9) };
    let _ = child.wait();
    assert_eq!(s.executed(), vec!["a", "slow"]);
    assert_eq!(
        s.plan(&m),
        vec![("a".to_owned(), "cached".to_owned()), ("slow".to_owned(), "run".to_owned())],
        "the killed stage has no record"
    );

    let o = s.run_ok(&["run", path_str(&m), "--out", path_str(&s.path("runs"))]);
    assert_eq!(s.executed(), vec!["slow"], "{}", text(&o));
    assert!(s.to_run(&m).is_empty());
}

#[test]
fn two_concurrent_runs_on_one_cache_both_succeed_with_one_result_per_stage() {
    const N: usize = 12;
    let s = Scratch::new();
    let m = s.write("m.toml", &chain_manifest(&s.log(), N, None, 1));
    let start = |out: &str| {
        s.syco(&["run", path_str(&m), "--out", path_str(&s.path(out))])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start syco")
    };
    let (a, b) = (start("runs-a"), start("runs-b"));
    for o in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert!(o.status.success(), "concurrent run failed: {}", text(&o));
    }
    let records = std::fs::read_dir(s.cache().join("records")).expect("records dir").count();
    assert_eq!(records, N + 2, "one result per stage");
    let ran = s.executed();
    assert_eq!(ran.iter().collect::<BTreeSet<_>>().len(), N + 2, "every stage ran: {ran:?}");
    assert!(s.to_run(&m).is_empty());
    s.run_ok(&["run", path_str(&m)]);
    assert!(s.executed().is_empty(), "a third run executes nothing");
}

#[test]
fn plan_json_has_the_agreed_shape() {
    let s = Scratch::new();
    let m = s.write("m.toml", &chain_manifest(&s.log(), 3, None, 1));
    let check = |want_status: &str| {
        let o = s.run_ok(&["plan", path_str(&m), "--json"]);
        let v: Value = serde_json::from_slice(&o.stdout).expect("plan --json is JSON");
        let entries = v.as_array().expect("a JSON array");
        let names: Vec<&str> = entries.iter().map(|e| e["stage"].as_str().expect("stage is a string")).collect();
        let want: BTreeSet<&str> = BTreeSet::from(["stages/s0000", "stages/s0001", "stages/s0002", "stages/e0", "stages/e1"]);
        assert_eq!(names.len(), want.len(), "one entry per stage: {names:?}");
        assert_eq!(names.iter().copied().collect::<BTreeSet<_>>(), want);
        for e in entries {
            let obj = e.as_object().expect("each entry is an object");
            let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
            assert_eq!(keys, BTreeSet::from(["reason", "stage", "status"]), "entry keys: {e}");
            assert_eq!(e["status"], want_status, "{e}");
            assert!(!e["reason"].as_str().expect("reason is a string").is_empty());
        }
    };
    check("run");
    assert!(s.executed().is_empty(), "plan executes nothing");
    s.run_ok(&["run", path_str(&m)]);
    s.executed();
    check("cached");
}

#[test]
fn relative_cache_path_works_for_downstream_stages() {
    let s = Scratch::new();
    s.write("m.toml", &chain_manifest(&s.log(), 3, None, 1));
    let o = Command::new(env!("CARGO_BIN_EXE_syco"))
        .args(["run", "m.toml", "--cache", "rel-cache"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

/// A misspelt `--set` key fails before anything runs, naming the override and the likely key;
/// a key the stage's table may have but the manifest leaves out is taken.
#[test]
fn set_of_a_key_the_manifest_lacks_fails_before_anything_runs() {
    let s = Scratch::new();
    let log = path_str(&s.log()).to_owned();
    let m = s.write(
        "m.toml",
        &format!(
            "[vars]\nn_train = 5\n\n[stages.a]\ncmd = 'echo a >> {log}; echo $SYCO_PARAM_N > out.txt'\nparams = {{ n = \"${{vars.n_train}}\" }}\n"
        ),
    );
    let o = s.run(&["run", path_str(&m), "--set", "vars.n_trian=7"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--set vars.n_trian=7: the manifest has no `vars.n_trian` (did you mean `vars.n_train`?)"), "{}", text(&o));
    let o = s.run(&["plan", path_str(&m), "--set", "stages.a.outz=[\"out.txt\"]"]);
    assert!(!o.status.success() && text(&o).contains("did you mean `stages.a.outs`"), "{}", text(&o));
    assert!(s.executed().is_empty(), "a stage ran despite a bad --set");
    // `outs` is optional in a command stage: setting it adds it.
    s.run_ok(&["run", path_str(&m), "--set", "vars.n_train=7", "--set", "stages.a.outs=[\"out.txt\"]", "--out", "run"]);
    assert_eq!(s.executed(), vec!["a"]);
}

/// `generate` and `score` show only the options they read, and each command its own.
#[test]
fn each_command_shows_only_the_options_it_reads() {
    let help = |args: &[&str]| -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_syco")).args(args).arg("--help").output().expect("start syco");
        assert!(o.status.success(), "{args:?} --help: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let run_only = ["--jobs", "--keep-going", "--executor", "--check", "--out"];
    let cases: [(&[&str], &[&str], &[&str]); 8] = [
        (&["generate"], &["--model", "--prompt", "--cache"], &["--set", "--jobs", "--keep-going", "--executor", "--check", "--out"]),
        (&["score"], &["--task", "--scoring"], &["--cache", "--set", "--jobs", "--keep-going", "--executor", "--check", "--out"]),
        (&["run"], &["--cache", "--set", "--jobs", "--keep-going", "--executor", "--check", "--out"], &[]),
        (&["plan"], &["--cache", "--set", "--json"], &run_only),
        (&["explain"], &["--cache", "--set"], &run_only),
        (&["status"], &["--cache", "--set"], &run_only),
        (&["gc"], &["--cache"], &["--set", "--jobs", "--out", "--check", "--executor"]),
        (&["log"], &["--cache"], &["--set", "--jobs", "--out", "--check", "--executor"]),
    ];
    for (cmd, has, lacks) in cases {
        let h = help(cmd);
        for opt in has {
            assert!(
                h.contains(&format!("{opt} ")) || h.contains(&format!("{opt}=")) || h.contains(&format!("{opt}\n")),
                "{cmd:?} lacks {opt}:\n{h}"
            );
        }
        for opt in lacks {
            assert!(!h.contains(opt), "{cmd:?} shows {opt}, which it does not read:\n{h}");
        }
    }
    let h = help(&["cache", "verify"]);
    assert!(h.contains("--cache") && !h.contains("--set"), "{h}");
}

/// The file memo is one file, `index/files.json`, and `gc` keeps it to files that still exist.
#[test]
fn the_file_memo_is_one_file_and_gc_compacts_it() {
    let s = Scratch::new();
    let m = s.write("m.toml", &chain_manifest(&s.log(), 3, None, 1));
    s.run_ok(&["run", path_str(&m)]);
    let index = s.cache().join("index");
    let names: BTreeSet<String> =
        std::fs::read_dir(&index).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.contains("files.json") && !names.contains("hashes.tsv"), "{names:?}");
    // A changed param replaces a result: gc drops the old one and the memo's entries for it.
    s.write("m.toml", &chain_manifest(&s.log(), 3, Some(0), 1));
    s.run_ok(&["run", path_str(&m)]);
    let before: Value = serde_json::from_slice(&std::fs::read(index.join("files.json")).unwrap()).unwrap();
    let o = s.run_ok(&["gc"]);
    let after: Value = serde_json::from_slice(&std::fs::read(index.join("files.json")).unwrap()).unwrap();
    let count = |v: &Value| v["files"].as_object().map_or(0, |m| m.len());
    assert!(count(&after) < count(&before), "gc kept every memo entry ({}):\n{}", count(&after), text(&o));
    for path in after["files"].as_object().unwrap().keys() {
        assert!(Path::new(path).exists(), "gc kept the memo entry of a removed file {path}");
    }
    assert!(text(&o).contains("stale file-memo entries"), "{}", text(&o));
}
