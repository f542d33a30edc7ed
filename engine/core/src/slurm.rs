//! The Slurm executor: every stage that must run becomes one `sbatch` job running
//! `syco exec-stage MANIFEST STAGE` against the same cache, chained with
//! `--dependency=afterok:` so Slurm orders the DAG. Cached stages are never submitted.
//!
//! Progress comes from `squeue` (and `sacct` for jobs the controller has already forgotten).
//! Whether a stage succeeded is decided by the cache, not only by the job state: a stage has run
//! when its job completed *and* a result for its key is published. A failed or cancelled job fails
//! its stage, with the job id and the job's log; Slurm cancels its dependents
//! (`--kill-on-invalid-dep=yes`) and they are reported with the failed input. Ctrl-C (SIGINT) or
//! SIGTERM cancels every submitted job that has not finished (`scancel`).
//!
//! # Shared-cache assumptions
//!
//! The cache folder, the manifest (and the files it names) and the `syco` binary must be at the same
//! absolute paths on the submitting machine and on every compute node (a shared filesystem).
//! Several jobs and the submitting process then write one cache at once. That is safe when the
//! filesystem gives:
//! - atomic `rename(2)` within one folder tree: results are published by renaming a complete
//!   folder into `records/`, objects by renaming a finished temp file, last-result pointers by
//!   renaming a temp file. NFS renames are atomic on the server; a reader on another client may see
//!   the old name for up to the attribute-cache time (`actimeo`), which only makes a result look
//!   absent for a moment (the stage then waits for the key lock and finds it).
//! - `flock(2)` that excludes across machines: `locks/KEY.lock` keeps two jobs from computing one
//!   key. Linux NFS clients (since 2.6.12) implement `flock` with POSIX byte-range locks, which
//!   NFSv4 (and NFSv3 with `lockd`) enforce across clients; mounting with `nolock` or `local_lock=all`
//!   makes the lock local to one machine, and then two jobs may compute the same key (both results
//!   are identical and the first published wins, so nothing is corrupted, but work is doubled).
//!   Lustre needs `-o flock`; BeeGFS and GPFS lock across nodes by default.
//! - close-to-open consistency (NFS default): a job reads its inputs after their producer's job
//!   has exited, so it sees the complete files.
//!
//! `syco gc` must not run while jobs run: it treats temp folders whose process id is not alive *on
//! the machine running gc* as abandoned, and a job on another node is not visible from there.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::cache::escape_id;
use crate::exec::{Results, RunSummary, Session, Status};

/// `[executor]` of a manifest: `kind` and `jobs` for every executor, the rest for Slurm.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSection {
    /// "local" or "slurm"
    pub kind: Option<String>,
    /// Stages run at once by the local executor
    pub jobs: Option<usize>,
    /// `sbatch --partition`
    pub partition: Option<String>,
    /// `sbatch --time`, e.g. "04:00:00" or "2-00:00:00"
    pub time: Option<String>,
    /// `sbatch --cpus-per-task`
    pub cpus: Option<u32>,
    /// `sbatch --mem`, e.g. "16G"
    pub mem: Option<String>,
    /// GPUs requested (`--gres=gpu:N`) by stages that need a GPU [default: 1]
    pub gpus: Option<u32>,
    /// Further `sbatch` arguments, passed as given (e.g. ["--account=lab", "--qos=short"])
    #[serde(default)]
    pub extra: Vec<String>,
    /// Seconds between `squeue` polls [default: 5]
    pub poll_seconds: Option<f64>,
}

impl ExecutorSection {
    pub fn is_slurm(&self) -> bool {
        self.kind.as_deref() == Some("slurm")
    }
}

/// How a job re-invokes syco: the binary, and the arguments that make it see the same manifest
/// and cache as the submitting process.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub exe: PathBuf,
    pub manifest: PathBuf,
    pub cache: PathBuf,
    pub sets: Vec<String>,
}

impl Invocation {
    /// This very binary, with absolute paths (jobs may start in another folder on another node).
    pub fn current(manifest: &Path, cache: &Path, sets: &[String]) -> Result<Invocation> {
        let exe = std::env::current_exe().context("cannot find the path of the running syco binary")?;
        let manifest = std::fs::canonicalize(manifest).with_context(|| format!("cannot resolve {}", manifest.display()))?;
        let cache = std::fs::canonicalize(cache).with_context(|| format!("cannot resolve {}", cache.display()))?;
        Ok(Invocation { exe, manifest, cache, sets: sets.to_vec() })
    }

    /// The batch script of one stage's job.
    pub fn script(&self, stage: &str) -> String {
        let mut words = vec![self.exe.display().to_string(), "exec-stage".into(), self.manifest.display().to_string(), stage.into()];
        words.push("--cache".into());
        words.push(self.cache.display().to_string());
        for s in &self.sets {
            words.push("--set".into());
            words.push(s.clone());
        }
        let line: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        format!("#!/bin/sh\n# syco stage {stage}\nexec {}\n", line.join(" "))
    }
}

/// Quotes a word for a POSIX shell.
fn sh_quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=%+@,".contains(&b)) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The `sbatch` arguments of one stage's job (the script comes on stdin).
pub fn sbatch_args(settings: &ExecutorSection, stage: &str, gpu: bool, log: &Path, after: &[String]) -> Vec<String> {
    let mut args = vec!["--parsable".to_string(), format!("--job-name=syco:{stage}"), format!("--output={}", log.display())];
    if let Some(p) = &settings.partition {
        args.push(format!("--partition={p}"));
    }
    if let Some(t) = &settings.time {
        args.push(format!("--time={t}"));
    }
    if let Some(c) = settings.cpus {
        args.push(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = &settings.mem {
        args.push(format!("--mem={m}"));
    }
    if gpu {
        args.push(format!("--gres=gpu:{}", settings.gpus.unwrap_or(1)));
    }
    if !after.is_empty() {
        args.push(format!("--dependency=afterok:{}", after.join(":")));
        // Without this, dependents of a failed job stay pending forever (DependencyNeverSatisfied).
        args.push("--kill-on-invalid-dep=yes".to_string());
    }
    args.extend(settings.extra.iter().cloned());
    args
}

/// The job id in `sbatch --parsable` output: `ID` or `ID;CLUSTER`.
pub fn parse_job_id(stdout: &str) -> Result<String> {
    let first = stdout.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let id = first.split(';').next().unwrap_or("");
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("sbatch printed no job id: {:?}", stdout.trim());
    }
    Ok(id.to_string())
}

/// A job's state as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...
    pub state: String,
    /// squeue's reason (pending) or the exit code `CODE:SIGNAL` (finished), when known.
    pub detail: String,
}

impl JobState {
    /// Has the job ended (for good)?
    pub fn finished(&self) -> bool {
        matches!(
            self.state.as_str(),
            "COMPLETED"
                | "FAILED"
                | "CANCELLED"
                | "TIMEOUT"
                | "OUT_OF_MEMORY"
                | "NODE_FAIL"
                | "BOOT_FAIL"
                | "DEADLINE"
                | "PREEMPTED"
                | "REVOKED"
        )
    }
}

/// `squeue -h -t all -o '%i|%T|%r'` lines -> job id -> state.
pub fn parse_squeue(out: &str) -> HashMap<String, JobState> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.trim().splitn(3, '|');
            let (id, state) = (f.next()?.trim(), f.next()?.trim());
            if id.is_empty() || state.is_empty() {
                return None;
            }
            Some((id.to_string(), JobState { state: state.to_string(), detail: f.next().unwrap_or("").trim().to_string() }))
        })
        .collect()
}

/// `sacct -X -n -P -o JobID,State,ExitCode` lines -> job id -> state ("CANCELLED by 0" -> CANCELLED).
pub fn parse_sacct(out: &str) -> HashMap<String, JobState> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            let [id, state, exit] = f[..] else { return None };
            let state = state.split_whitespace().next()?;
            Some((id.to_string(), JobState { state: state.to_string(), detail: exit.to_string() }))
        })
        .collect()
}

/// `scontrol -o show job ID` -> (JobState, ExitCode).
pub fn parse_scontrol(out: &str) -> Option<JobState> {
    let field = |name: &str| out.split_whitespace().find_map(|w| w.strip_prefix(name).map(str::to_string));
    Some(JobState { state: field("JobState=")?, detail: field("ExitCode=").unwrap_or_default() })
}

/// Runs a Slurm client command; its stdout, or an error with its stderr.
fn slurm_tool(program: &str, args: &[String], stdin: Option<&str>) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.spawn().with_context(|| format!("cannot run `{program}` (is Slurm installed and on PATH?)"))?;
    if let Some(text) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin is piped").write_all(text.as_bytes()).with_context(|| format!("cannot write to `{program}`"))?;
    }
    let out = child.wait_with_output().with_context(|| format!("`{program}` did not finish"))?;
    if !out.status.success() {
        bail!("`{program} {}` failed ({}): {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// States of `ids` now: squeue for what the controller knows, then sacct, then scontrol.
fn query_states(ids: &[String]) -> Result<HashMap<String, JobState>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = ids.join(",");
    // squeue fails as a whole when one listed id has been purged; then ask per job.
    let mut states = match slurm_tool(
        "squeue",
        &["-h".into(), "-t".into(), "all".into(), "-j".into(), list.clone(), "-o".into(), "%i|%T|%r".into()],
        None,
    ) {
        Ok(out) => parse_squeue(&out),
        Err(_) => HashMap::new(),
    };
    let missing: Vec<String> = ids.iter().filter(|id| !states.contains_key(*id)).cloned().collect();
    if !missing.is_empty() {
        if let Ok(out) = slurm_tool(
            "sacct",
            &["-X".into(), "-n".into(), "-P".into(), "-j".into(), missing.join(","), "-o".into(), "JobID,State,ExitCode".into()],
            None,
        ) {
            states.extend(parse_sacct(&out));
        }
        for id in missing {
            if states.contains_key(&id) {
                continue;
            }
            if let Some(s) =
                slurm_tool("scontrol", &["-o".into(), "show".into(), "job".into(), id.clone()], None).ok().and_then(|o| parse_scontrol(&o))
            {
                states.insert(id, s);
            }
        }
    }
    Ok(states)
}

/// The exit code of a finished job (squeue does not print it).
fn exit_code(id: &str) -> Option<String> {
    let out = slurm_tool("scontrol", &["-o".into(), "show".into(), "job".into(), id.to_string()], None).ok()?;
    parse_scontrol(&out).map(|s| s.detail).filter(|d| !d.is_empty())
}

fn cancel(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    if let Err(e) = slurm_tool("scancel", ids, None) {
        eprintln!("warning: {e:#}");
    }
}

/// Polls after which a job that squeue, sacct and scontrol all do not know counts as ended.
const FORGOTTEN_AFTER_POLLS: u32 = 3;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    // Only an atomic store: the one thing a signal handler may safely do here.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT/SIGTERM while jobs are out, so they can be cancelled; restores the old handlers.
struct InterruptGuard {
    old: [(libc::c_int, libc::sighandler_t); 2],
}

impl InterruptGuard {
    fn install() -> InterruptGuard {
        INTERRUPTED.store(false, Ordering::SeqCst);
        let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic.
        let old = [libc::SIGINT, libc::SIGTERM].map(|sig| (sig, unsafe { libc::signal(sig, handler) }));
        InterruptGuard { old }
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        for (sig, h) in self.old {
            // SAFETY: puts back the handler that was installed before.
            unsafe { libc::signal(sig, h) };
        }
    }
}

/// One submitted stage.
struct Job {
    stage: usize,
    id: String,
    log: PathBuf,
    last_state: String,
    /// Polls in a row in which no Slurm command knew the job (purged, no accounting).
    unknown_polls: u32,
    done: bool,
}

/// The last lines of a job's log, indented, for a failure message.
fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].iter().map(|l| format!("\n    {l}")).collect()
}

/// Runs the selected stages (in dependency order) as Slurm jobs and waits for them.
pub fn run(session: &Session, selected: &[usize], settings: &ExecutorSection, inv: &Invocation, keep_going: bool) -> Result<RunSummary> {
    let defs = &session.graph.defs;
    let mut summary = RunSummary::default();
    let mut done = Results::new();
    let mut to_run = Vec::new();
    for (i, status) in session.plan(selected)? {
        match status {
            Status::Cached { resolved, tree } => {
                session.cache.set_last_key(&defs[i].id, &resolved.key)?;
                summary.outputs.insert(i, session.cache.output_dir(&resolved.key));
                done.insert(defs[i].id.clone(), (resolved.key, tree));
                summary.cached += 1;
            }
            Status::Run { .. } => to_run.push(i),
        }
    }
    if to_run.is_empty() {
        return Ok(summary);
    }
    let log_dir = inv.cache.join("slurm");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;

    let _guard = InterruptGuard::install();
    let mut jobs: Vec<Job> = Vec::with_capacity(to_run.len());
    let mut job_of: HashMap<usize, usize> = HashMap::new();
    for &i in &to_run {
        if INTERRUPTED.load(Ordering::SeqCst) {
            cancel(&jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>());
            bail!("interrupted while submitting; cancelled {} submitted jobs", jobs.len());
        }
        let def = &defs[i];
        let after: Vec<String> = session.graph.deps(i).filter_map(|d| job_of.get(&d)).map(|&j| jobs[j].id.clone()).collect();
        // sbatch expands `%` patterns in --output (`%j`: the job id), so the id's own `%` is doubled.
        let log_pattern = log_dir.join(format!("{}-%j.log", escape_id(&def.id).replace('%', "%%")));
        let args = sbatch_args(settings, &def.id, def.resources.gpu, &log_pattern, &after);
        let submitted = slurm_tool("sbatch", &args, Some(&inv.script(&def.id))).and_then(|out| parse_job_id(&out));
        let id = match submitted {
            Ok(id) => id,
            Err(e) => {
                cancel(&jobs.iter().map(|j| j.id.clone()).collect::<Vec<_>>());
                return Err(e.context(format!("cannot submit stage {} (cancelled the {} jobs submitted before it)", def.id, jobs.len())));
            }
        };
        println!("submit {} (job {id})", def.id);
        let log = log_dir.join(format!("{}-{id}.log", escape_id(&def.id)));
        job_of.insert(i, jobs.len());
        jobs.push(Job { stage: i, id, log, last_state: "PENDING".into(), unknown_polls: 0, done: false });
    }

    // `nan`/`inf` are valid TOML floats; Duration would panic on them.
    let poll_s = settings.poll_seconds.filter(|s| s.is_finite()).unwrap_or(5.0).clamp(0.1, 600.0);
    let poll = Duration::from_secs_f64(poll_s);
    // Stage index -> why it did not run (a failed input), for dependents Slurm cancels.
    let mut failed_input: HashMap<usize, String> = HashMap::new();
    let mut cancelled_by_us: HashSet<String> = HashSet::new();
    loop {
        let open: Vec<String> = jobs.iter().filter(|j| !j.done).map(|j| j.id.clone()).collect();
        if open.is_empty() {
            break;
        }
        let states = match query_states(&open) {
            Ok(s) => s,
            Err(e) => {
                cancel(&open);
                return Err(e.context("cannot read job states; cancelled the open jobs"));
            }
        };
        // Dependency order, so an input's outcome is known before its dependents'.
        for j in 0..jobs.len() {
            if jobs[j].done {
                continue;
            }
            // A job no Slurm command knows any more has ended; the cache tells whether it succeeded.
            let forgotten = JobState { state: "UNKNOWN".into(), detail: String::new() };
            let state = match states.get(&jobs[j].id) {
                Some(s) => {
                    jobs[j].unknown_polls = 0;
                    s
                }
                None => {
                    jobs[j].unknown_polls += 1;
                    if jobs[j].unknown_polls < FORGOTTEN_AFTER_POLLS {
                        continue;
                    }
                    &forgotten
                }
            };
            let i = jobs[j].stage;
            let id = defs[i].id.clone();
            if state.state != jobs[j].last_state {
                jobs[j].last_state = state.state.clone();
                if !state.finished() {
                    println!("{:<6} {id} (job {})", state.state.to_lowercase(), jobs[j].id);
                }
            }
            if !state.finished() && state.state != "UNKNOWN" {
                continue;
            }
            jobs[j].done = true;
            let outcome = if state.state == "COMPLETED" || state.state == "UNKNOWN" {
                finished_result(session, i, &done)
            } else {
                Err(String::new())
            };
            match outcome {
                Ok((key, tree, took)) => {
                    println!("ran    {id} (job {}, {took:.2} s)", jobs[j].id);
                    summary.outputs.insert(i, session.cache.output_dir(&key));
                    done.insert(id, (key, tree));
                    summary.ran += 1;
                }
                Err(_) if cancelled_by_us.contains(&jobs[j].id) => summary.skipped += 1,
                Err(why) => {
                    let cause = match failed_input.get(&i) {
                        Some(input) if state.state == "CANCELLED" => format!("not run: its input {input} failed"),
                        _ => {
                            let exit = exit_code(&jobs[j].id).map(|c| format!(", exit {c}")).unwrap_or_default();
                            let why = if why.is_empty() { String::new() } else { format!(": {why}") };
                            format!(
                                "job {} {}{exit}{why}; log: {}{}",
                                jobs[j].id,
                                state.state,
                                jobs[j].log.display(),
                                log_tail(&jobs[j].log, 5)
                            )
                        }
                    };
                    eprintln!("FAILED {id}: {cause}");
                    summary.failed.push(id.clone());
                    for d in session.graph.dependents(i) {
                        failed_input.entry(d).or_insert_with(|| format!("{id} (job {})", jobs[j].id));
                    }
                    if !keep_going {
                        // Like the local executor: start nothing new, let running stages finish.
                        let pending: Vec<String> = jobs
                            .iter()
                            .filter(|k| !k.done && k.last_state == "PENDING" && !cancelled_by_us.contains(&k.id))
                            .map(|k| k.id.clone())
                            .collect();
                        cancel(&pending);
                        cancelled_by_us.extend(pending);
                    }
                }
            }
        }
        if jobs.iter().all(|j| j.done) {
            break;
        }
        let until = Instant::now() + poll;
        while Instant::now() < until {
            if INTERRUPTED.load(Ordering::SeqCst) {
                let open: Vec<String> = jobs.iter().filter(|j| !j.done).map(|j| j.id.clone()).collect();
                cancel(&open);
                bail!("interrupted; cancelled jobs {}", open.join(", "));
            }
            std::thread::sleep(Duration::from_millis(100).min(poll));
        }
    }
    Ok(summary)
}

/// After stage `i`'s job completed: its key (from its inputs' results) and the published result.
fn finished_result(session: &Session, i: usize, done: &Results) -> std::result::Result<(String, String, f64), String> {
    let resolved = session.resolve(i, done).map_err(|e| format!("{e:#}"))?.ok_or_else(|| "an input has no result".to_string())?;
    let rec = session
        .cache
        .record(&resolved.key)
        .ok_or_else(|| format!("the job completed but the cache has no result for key {}", resolved.key))?;
    Ok((rec.key, rec.tree, rec.duration_s))
}

/// The executor a `run` uses: `--executor slurm` or `[executor] kind = "slurm"`.
pub fn wanted(cli_slurm: bool, section: &ExecutorSection) -> bool {
    cli_slurm || section.is_slurm()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_args_carry_resources_dependencies_and_extra() {
        let s = ExecutorSection {
            partition: Some("gpu".into()),
            time: Some("01:00:00".into()),
            cpus: Some(8),
            mem: Some("16G".into()),
            gpus: Some(2),
            extra: vec!["--account=lab".into()],
            ..Default::default()
        };
        let args = sbatch_args(&s, "train/a", true, Path::new("/c/slurm/train%2Fa-%j.log"), &["12".into(), "13".into()]);
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=syco:train/a",
                "--output=/c/slurm/train%2Fa-%j.log",
                "--partition=gpu",
                "--time=01:00:00",
                "--cpus-per-task=8",
                "--mem=16G",
                "--gres=gpu:2",
                "--dependency=afterok:12:13",
                "--kill-on-invalid-dep=yes",
                "--account=lab"
            ]
        );
        let plain = sbatch_args(&ExecutorSection::default(), "x", false, Path::new("l"), &[]);
        assert_eq!(plain, ["--parsable", "--job-name=syco:x", "--output=l"]);
    }

    #[test]
    fn job_ids_from_parsable_output() {
        assert_eq!(parse_job_id("42\n").unwrap(), "42");
        assert_eq!(parse_job_id("42;cluster\n").unwrap(), "42");
        assert!(parse_job_id("sbatch: error: x\n").is_err());
        assert!(parse_job_id("").is_err());
    }

    #[test]
    fn states_from_squeue_sacct_scontrol() {
        let q = parse_squeue("7|PENDING|Dependency\n8|RUNNING|None\n9|COMPLETED|None\n\n");
        assert_eq!(q["7"], JobState { state: "PENDING".into(), detail: "Dependency".into() });
        assert!(!q["8"].finished() && q["9"].finished());
        let a = parse_sacct("10|CANCELLED by 0|0:15\n11|FAILED|3:0\n");
        assert_eq!(a["10"].state, "CANCELLED");
        assert_eq!(a["11"], JobState { state: "FAILED".into(), detail: "3:0".into() });
        let c = parse_scontrol(
            "JobId=1 JobName=x UserId=root(0) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 Nodes=vm",
        )
        .unwrap();
        assert_eq!(c, JobState { state: "FAILED".into(), detail: "3:0".into() });
        assert!(parse_scontrol("slurm_load_jobs error: Invalid job id specified").is_none());
    }

    #[test]
    fn script_quotes_every_word() {
        let inv = Invocation {
            exe: "/opt/syco/bin/syco".into(),
            manifest: "/home/a b/exp.toml".into(),
            cache: "/shared/cache".into(),
            sets: vec!["vars.msg=it's".into()],
        };
        let s = inv.script("stages/x");
        assert_eq!(
            s,
            "#!/bin/sh\n# syco stage stages/x\nexec /opt/syco/bin/syco exec-stage '/home/a b/exp.toml' stages/x --cache /shared/cache --set 'vars.msg=it'\\''s'\n"
        );
        // The shell gives back the original words.
        let out = Command::new("sh").arg("-c").arg(format!("printf '%s\\n' {}", sh_quote("a 'b' $c \"d\""))).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a 'b' $c \"d\"\n");
    }

    #[test]
    fn executor_section_rejects_unknown_fields() {
        let ok: ExecutorSection = toml::from_str("kind = \"slurm\"\npartition = \"p\"\nextra = [\"--qos=x\"]").unwrap();
        assert!(ok.is_slurm() && wanted(false, &ok));
        assert!(toml::from_str::<ExecutorSection>("partiton = \"p\"").is_err());
        assert!(!wanted(false, &ExecutorSection::default()) && wanted(true, &ExecutorSection::default()));
    }
}
