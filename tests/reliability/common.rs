//! Shared by the `tests/reliability_*.rs` suites: driving the `syco` binary, a multi-stage
//! command-stage manifest with deterministic outputs, snapshots of published outputs, and a
//! seeded random source so a failing kill schedule can be replayed (`SYCO_RELIABILITY_SEED`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const SYCO: &str = env!("CARGO_BIN_EXE_syco");

/// `SYCO_LONG_TESTS=1` turns on the long mode (>= 50 kills, more corruption rounds).
pub fn long_mode() -> bool {
    std::env::var_os("SYCO_LONG_TESTS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// A `syco` command with the cache given explicitly and no inherited `SYCO_CACHE`.
pub fn syco(cache: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(SYCO);
    c.args(args).arg("--cache").arg(cache).env_remove("SYCO_CACHE").stdin(Stdio::null());
    c
}

pub fn text(o: &Output) -> String {
    format!("status {:?}\n--- stdout\n{}\n--- stderr\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Runs `syco run MANIFEST --out OUT -j JOBS` to completion and asserts success.
pub fn run_ok(cache: &Path, manifest: &Path, out: &Path, jobs: usize) -> Output {
    let o = syco(cache, &["run", path_str(manifest), "--out", path_str(out), "-j", &jobs.to_string()]).output().expect("start syco");
    assert!(o.status.success(), "syco run failed:\n{}", text(&o));
    o
}

/// `syco cache verify`: (exit success, printed text).
pub fn verify(cache: &Path) -> (bool, String) {
    let o = syco(cache, &["cache", "verify"]).output().expect("start syco");
    (o.status.success(), text(&o))
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Relative path -> content of every file under `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// Asserts two snapshots hold the same files with the same bytes, naming the first difference.
pub fn assert_same(want: &BTreeMap<String, Vec<u8>>, got: &BTreeMap<String, Vec<u8>>, context: &str) {
    let wk: Vec<&String> = want.keys().collect();
    let gk: Vec<&String> = got.keys().collect();
    assert_eq!(wk, gk, "{context}: different files");
    for (k, v) in want {
        assert!(got[k] == *v, "{context}: {k} differs ({} vs {} bytes)", v.len(), got[k].len());
    }
}

/// A diamond of command stages with deterministic outputs, a few hundred KB each so a kill can
/// land while objects are being written. `prefix` names the stages; stages marked `shared`
/// are identical across prefixes (same name, cmd and params), so their keys coincide.
///
/// Each stage appends its name to `exec_log` so tests can count executions.
pub fn diamond_manifest(prefix: &str, exec_log: &Path, sleep_s: f64) -> String {
    let log = exec_log.display();
    let sleep = format!("sleep {sleep_s}");
    let mut m = format!("[experiment]\nname = \"rel-{prefix}\"\n\n");
    // Shared source stage: the same in every manifest built by this function.
    m += &format!(
        "[stages.src]\ncmd = 'echo src >> {log}; {sleep}; seq 1 60000 > nums.txt; mkdir -p sub; seq 1 7 100000 > sub/odd.txt'\n\
         outs = [\"nums.txt\", \"sub\"]\npublish = \"src\"\n\n"
    );
    m += &format!(
        "[stages.left]\ncmd = 'echo left >> {log}; {sleep}; sort -r \"$SYCO_IN_SRC/nums.txt\" > rev.txt; wc -l < \"$SYCO_IN_SRC/sub/odd.txt\" > n.txt'\n\
         inputs = [\"src\"]\nouts = [\"rev.txt\", \"n.txt\"]\npublish = \"left\"\n\n"
    );
    m += &format!(
        "[stages.{prefix}_right]\ncmd = 'echo {prefix}_right >> {log}; {sleep}; awk \"{{ print \\$1 * 3 }}\" \"$SYCO_IN_SRC/nums.txt\" > tri.txt; echo $SYCO_PARAM_TAG >> tri.txt'\n\
         inputs = [\"src\"]\nparams = {{ tag = \"{prefix}\" }}\nouts = [\"tri.txt\"]\npublish = \"right\"\n\n"
    );
    m += &format!(
        "[stages.{prefix}_join]\ncmd = 'echo {prefix}_join >> {log}; {sleep}; cat \"$SYCO_IN_LEFT/rev.txt\" \"$SYCO_IN_{up}_RIGHT/tri.txt\" | cksum > sum.txt; head -c 300000 \"$SYCO_IN_LEFT/rev.txt\" > head.bin; chmod +x head.bin'\n\
         inputs = [\"left\", \"{prefix}_right\"]\nouts = [\"sum.txt\", \"head.bin\"]\npublish = \"join\"\n\n",
        up = prefix.to_uppercase()
    );
    m
}

/// The stage names `diamond_manifest` writes, in dependency order.
pub fn diamond_stages(prefix: &str) -> Vec<String> {
    vec!["src".into(), "left".into(), format!("{prefix}_right"), format!("{prefix}_join")]
}

/// Lines of an execution log (one stage name each).
pub fn executions(log: &Path) -> Vec<String> {
    fs::read_to_string(log).unwrap_or_default().lines().map(str::to_string).collect()
}

/// xorshift64*: enough randomness for kill schedules, reproducible from the printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env() -> Rng {
        let seed = std::env::var("SYCO_RELIABILITY_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        });
        eprintln!("reliability seed: {seed} (replay with SYCO_RELIABILITY_SEED={seed})");
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A scratch folder for one test: `cache/`, manifests, run folders.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch { dir: tempfile::tempdir().expect("tempdir") }
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        fs::write(&p, text).expect("write scratch file");
        p
    }
}

/// Makes every file and folder under `dir` writable again (the cache stores read-only objects),
/// so the temp folder can be removed.
pub fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let mode = if p.is_dir() { 0o755 } else { 0o644 };
            let _ = fs::set_permissions(&p, fs::Permissions::from_mode(mode));
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

/// Every published object file (hash, path) in a cache.
pub fn objects(cache: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for d in fs::read_dir(cache.join("objects")).into_iter().flatten().flatten() {
        let prefix = d.file_name().to_string_lossy().into_owned();
        for o in fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let name = o.file_name().to_string_lossy().into_owned();
            if !name.starts_with(".tmp") {
                out.push((format!("{prefix}{name}"), o.path()));
            }
        }
    }
    out.sort();
    out
}

/// Keys of every record folder in a cache.
pub fn record_keys(cache: &Path) -> Vec<String> {
    let mut out: Vec<String> =
        fs::read_dir(cache.join("records")).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    out.sort();
    out
}
