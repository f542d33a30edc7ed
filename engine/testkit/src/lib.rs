//! Test-only helpers for tests that need something outside the repository: the study's data
//! (`SYCO_SHARED`, default `../shared` beside the workspace) or a downloaded model.
//!
//! Such a test never passes without checking. When what it needs is absent it prints
//! `SKIP <test>: <reason>` on stderr and returns; with `SYCO_REQUIRE_SHARED=1` (set by `.ci/run`)
//! the same message is a panic, so CI cannot go green on a machine that lacks the data.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the study's data lives; relative values are taken from the workspace root.
pub const SHARED_VAR: &str = "SYCO_SHARED";
/// Set (to anything but empty or `0`) to turn every skip into a failure.
pub const REQUIRE_VAR: &str = "SYCO_REQUIRE_SHARED";

/// The workspace root (this crate sits at `engine/testkit`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().and_then(Path::parent).expect("engine/testkit is two levels below the workspace root").to_path_buf()
}

/// The study's shared folder: `SYCO_SHARED`, else `../shared`, both relative to the workspace root.
pub fn shared_root() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os(SHARED_VAR).filter(|v| !v.is_empty()) {
        Some(v) => root.join(v),
        None => root.join("../shared"),
    }
}

/// Whether skips are failures (`SYCO_REQUIRE_SHARED`).
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `rel` under the shared folder, or `None` after a visible skip (a panic when [`required`]).
#[track_caller]
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    if p.exists() {
        return Some(p);
    }
    skip(&format!("needs {SHARED_VAR}/{rel} ({} is absent)", p.display()));
    None
}

/// Report that the calling test cannot check anything: `SKIP <test>: <reason>` on stderr, or a
/// panic with that message when [`required`].
#[track_caller]
pub fn skip(reason: &str) {
    let line = format!("SKIP {}: {reason}", test_name());
    if required() {
        panic!("{line}; {REQUIRE_VAR} is set, so this is a failure");
    }
    // Straight to the stream: libtest captures `eprintln!` of passing tests, which would hide it.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// libtest runs each test on a thread named after it; elsewhere the caller's location stands in.
#[track_caller]
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => std::panic::Location::caller().to_string(),
    }
}

/// A folder for files tests download (models), kept between runs in the build's target dir:
/// `<target>/syco-test-cache/<name>`, found from the running test or example binary
/// (`<target>/<profile>/{deps,examples}/<binary>`).
pub fn cache_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running binary's path");
    let target = exe.ancestors().nth(3).expect("a binary under <target>/<profile>/<kind>/").to_path_buf();
    target.join("syco-test-cache").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test touches the environment: tests in a binary share it and run in parallel.
    #[test]
    fn shared_resolves_from_the_workspace_root_and_skips_or_fails_when_absent() {
        std::env::remove_var(REQUIRE_VAR);
        std::env::set_var(SHARED_VAR, "engine");
        assert_eq!(shared_root(), workspace_root().join("engine"));
        assert_eq!(shared("testkit/Cargo.toml"), Some(workspace_root().join("engine/testkit/Cargo.toml")));
        assert_eq!(shared("no-such-dir"), None);

        std::env::set_var(SHARED_VAR, "/nonexistent-syco-shared");
        std::env::set_var(REQUIRE_VAR, "1");
        let err = std::panic::catch_unwind(|| shared("seed/data")).unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("SKIP tests::shared_resolves_from_the_workspace_root_and_skips_or_fails_when_absent: needs SYCO_SHARED/seed/data (/nonexistent-syco-shared/seed/data is absent)"),
            "{msg}"
        );
        std::env::set_var(REQUIRE_VAR, "0");
        assert!(!required());
        std::env::remove_var(SHARED_VAR);
        std::env::remove_var(REQUIRE_VAR);
        assert_eq!(shared_root(), workspace_root().join("../shared"));
    }

    #[test]
    fn cache_dir_is_inside_the_target_dir() {
        let dir = cache_dir("models");
        assert!(dir.ends_with("syco-test-cache/models"), "{}", dir.display());
        let exe = std::env::current_exe().unwrap();
        assert!(exe.starts_with(dir.parent().unwrap().parent().unwrap()), "{} / {}", exe.display(), dir.display());
    }
}

/// Helpers of the CLI integration tests (tests/cli_*.rs): running the binary, reading its output.
pub mod cli {
    use std::path::Path;
    use std::process::{Command, Output};

    /// Runs `bin` (the test's `env!("CARGO_BIN_EXE_syco")`) with `args` in `dir`.
    pub fn run(bin: &str, dir: &Path, args: &[&str]) -> Output {
        Command::new(bin).args(args).current_dir(dir).output().expect("the binary runs")
    }

    /// stdout then stderr, for assertions and their messages.
    pub fn text(o: &Output) -> String {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    }

    /// Every line of a JSON Lines file.
    pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
            .collect()
    }
}
