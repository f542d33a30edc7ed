//! The core subcommands (`run`, `plan`, `explain`, `status`, `gc`, `cache verify`, `log`,
//! `exec-stage`), for the binary to flatten into its own CLI. Each command takes only the options
//! it reads: `ManifestOpts` where a manifest is read, `RunOpts` for `run`, `CacheOpts` elsewhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::cache::{escape_id, Cache};
use crate::exec::{RunOptions, Session, Status};
use crate::manifest::Manifest;
use crate::registry::Registry;
use crate::ui::Ui;

/// `--cache`, for the commands that open a cache without a manifest.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CacheOpts {
    /// Cache folder [default: ./cache]
    #[arg(long, env = "SYCO_CACHE")]
    pub cache: Option<PathBuf>,
}

impl CacheOpts {
    pub fn dir(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(|| PathBuf::from("cache"))
    }
}

/// What every command that reads a manifest takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ManifestOpts {
    /// Cache folder [default: `[cache] dir` of the manifest, else ./cache]
    #[arg(long, env = "SYCO_CACHE")]
    pub cache: Option<PathBuf>,
    /// Override a manifest value: `--set vars.x=1`, `--set any.dotted.path=value` (TOML, else a string)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// What only `run` takes.
#[derive(clap::Args, Debug, Clone)]
pub struct RunOpts {
    /// Stages run at once [default: `[executor] jobs`, else the number of cores]
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Go on with independent stages after a failure
    #[arg(long)]
    pub keep_going: bool,
    /// Run folder for published results [default: runs/<experiment name>/]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit non-zero when a stage's report says a check failed
    #[arg(long)]
    pub check: bool,
    /// Where stages run
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    pub executor: ExecutorKind,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutorKind {
    Local,
    Slurm,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum CoreCommand {
    /// Run the named stages (all when none) and what they need; cached stages are skipped
    Run(RunArgs),
    /// Show what `run` would do now, with the reason for each stage that would run
    Plan(PlanArgs),
    /// Say field by field what differs from the last result of a stage
    Explain(ExplainArgs),
    /// Cache contents, or the state of every stage of a manifest
    Status(StatusArgs),
    /// Drop results no stage points at, unreferenced objects, abandoned temp folders and stale file-memo entries
    Gc(GcArgs),
    /// Cache maintenance
    Cache(CacheArgs),
    /// Print the log of a stage's last result (or of its last failure)
    Log(LogArgs),
    /// Run exactly one stage whose inputs have results (used by the Slurm executor)
    ExecStage(ExecStageArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    pub manifest: PathBuf,
    /// Stage ids, or an unambiguous suffix (`NAME` for `stages/NAME`) or prefix (`train` for `train/*`)
    pub stages: Vec<String>,
    #[command(flatten)]
    pub opts: ManifestOpts,
    #[command(flatten)]
    pub run: RunOpts,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PlanArgs {
    pub manifest: PathBuf,
    pub stages: Vec<String>,
    /// Print a JSON array of {"stage", "status": "run"|"cached", "reason"}
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub opts: ManifestOpts,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ExplainArgs {
    pub manifest: PathBuf,
    pub stage: String,
    #[command(flatten)]
    pub opts: ManifestOpts,
}

#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    /// Without one: what the cache holds
    pub manifest: Option<PathBuf>,
    #[command(flatten)]
    pub opts: ManifestOpts,
}

#[derive(clap::Args, Debug, Clone)]
pub struct GcArgs {
    #[command(flatten)]
    pub cache: CacheOpts,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub cmd: CacheCmd,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum CacheCmd {
    /// Rehash every object; drop corrupt ones and the records that reference them
    Verify(CacheOpts),
}

#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// Stage id (or an unambiguous suffix/prefix of one)
    pub stage: String,
    #[command(flatten)]
    pub cache: CacheOpts,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ExecStageArgs {
    pub manifest: PathBuf,
    pub stage: String,
    #[command(flatten)]
    pub opts: ManifestOpts,
}

/// `[executor]` (the Slurm executor's settings live there too)
use crate::slurm::ExecutorSection;

/// `[cache]`
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    dir: Option<String>,
}

struct Loaded {
    manifest: Manifest,
    cache: Cache,
    jobs: Option<usize>,
    executor: ExecutorSection,
}

fn load(path: &Path, opts: &ManifestOpts) -> Result<Loaded> {
    let manifest = Manifest::load(path, &opts.set)?;
    let exec: ExecutorSection = manifest.deserialize(&["executor"])?;
    if let Some(kind) = &exec.kind {
        if kind != "local" && kind != "slurm" {
            return Err(manifest
                .error(&["executor", "kind"], format!("unknown executor `{kind}`; expected \"local\" or \"slurm\""))
                .into());
        }
    }
    let section: CacheSection = manifest.deserialize(&["cache"])?;
    let root = match (&opts.cache, section.dir) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => manifest.dir().join(dir),
        (None, None) => PathBuf::from("cache"),
    };
    let cache = Cache::open(&root)?;
    Ok(Loaded { manifest, cache, jobs: exec.jobs, executor: exec })
}

pub fn execute(cmd: CoreCommand, registry: &Registry) -> Result<ExitCode> {
    match cmd {
        CoreCommand::Run(a) => run(&a, registry),
        CoreCommand::Plan(a) => plan(&a, registry),
        CoreCommand::Explain(a) => explain(&a, registry),
        CoreCommand::Status(a) => status(&a, registry),
        CoreCommand::Gc(a) => {
            let cache = Cache::open(&a.cache.dir())?;
            let r = cache.gc()?;
            println!(
                "removed {} records, {} objects ({:.1} MB), {} abandoned temp folders, {} stale file-memo entries",
                r.records_removed,
                r.objects_removed,
                r.bytes_freed as f64 / 1e6,
                r.temp_removed,
                r.memo_entries_removed
            );
            Ok(ExitCode::SUCCESS)
        }
        CoreCommand::Cache(CacheArgs { cmd: CacheCmd::Verify(opts) }) => {
            let cache = Cache::open(&opts.dir())?;
            let r = cache.verify()?;
            for h in &r.corrupt_objects {
                println!("corrupt object {h} (removed)");
            }
            for k in &r.records_removed {
                println!("record {k} referenced a corrupt or missing object (removed)");
            }
            println!(
                "checked {} objects: {} corrupt, {} records removed",
                r.objects_checked,
                r.corrupt_objects.len(),
                r.records_removed.len()
            );
            Ok(if r.corrupt_objects.is_empty() && r.records_removed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        CoreCommand::Log(a) => log(&a),
        CoreCommand::ExecStage(a) => exec_stage(&a, registry),
    }
}

fn run(a: &RunArgs, registry: &Registry) -> Result<ExitCode> {
    let (opts, loaded) = (&a.run, load(&a.manifest, &a.opts)?);
    let jobs = opts.jobs.or(loaded.jobs).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let session = Session::new(loaded.manifest, registry, &loaded.cache)?;
    let selected = session.graph.select(&a.stages)?;
    let ui = Ui::new(false);
    let summary = if crate::slurm::wanted(opts.executor == ExecutorKind::Slurm, &loaded.executor) {
        let inv = crate::slurm::Invocation::current(&a.manifest, loaded.cache.root(), &a.opts.set)?;
        crate::slurm::run(&session, &selected, &loaded.executor, &inv, opts.keep_going)?
    } else {
        session.run(&selected, &RunOptions { jobs, keep_going: opts.keep_going }, &ui)?
    };
    let run_dir = opts.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(session.manifest.name()));
    let published = session.publish(&summary, &run_dir)?;
    let mut check_failed = false;
    for (id, report) in session.reports(&summary)? {
        println!("== {id}\n{}", report.text.trim_end());
        check_failed |= report.failed;
    }
    let mut line = format!("{} stages: {} ran, {} cached", selected.len(), summary.ran, summary.cached);
    if !summary.failed.is_empty() {
        line += &format!(", {} failed ({})", summary.failed.len(), summary.failed.join(", "));
    }
    if summary.skipped > 0 {
        line += &format!(", {} not run", summary.skipped);
    }
    if published > 0 {
        line += &format!("; results in {}", run_dir.display());
    }
    println!("{line}");
    if !summary.failed.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    if opts.check && check_failed {
        eprintln!("a check failed (--check)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn plan(a: &PlanArgs, registry: &Registry) -> Result<ExitCode> {
    let loaded = load(&a.manifest, &a.opts)?;
    let session = Session::new(loaded.manifest, registry, &loaded.cache)?;
    let selected = session.graph.select(&a.stages)?;
    let plan = session.plan(&selected)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        let items: Vec<serde_json::Value> = plan
            .iter()
            .map(|(i, s)| serde_json::json!({ "stage": session.graph.defs[*i].id, "status": s.label(), "reason": s.reason() }))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
    } else {
        let width = plan.iter().map(|(i, _)| session.graph.defs[*i].id.len()).max().unwrap_or(0);
        for (i, s) in &plan {
            let reason = match s {
                Status::Cached { .. } => String::new(),
                Status::Run { reason, .. } => reason.clone(),
            };
            writeln!(out, "{:<6} {:<width$}  {reason}", s.label(), session.graph.defs[*i].id)?;
        }
        let to_run = plan.iter().filter(|(_, s)| matches!(s, Status::Run { .. })).count();
        writeln!(out, "{} stages: {} to run, {} cached", plan.len(), to_run, plan.len() - to_run)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn explain(a: &ExplainArgs, registry: &Registry) -> Result<ExitCode> {
    let loaded = load(&a.manifest, &a.opts)?;
    let session = Session::new(loaded.manifest, registry, &loaded.cache)?;
    let targets = session.graph.find(&a.stage)?;
    let selected = session.graph.select(&a.stage.split_whitespace().map(str::to_string).collect::<Vec<_>>())?;
    let plan = session.plan(&selected)?;
    for t in targets {
        let id = &session.graph.defs[t].id;
        let (_, status) = plan.iter().find(|(i, _)| *i == t).expect("target is selected");
        println!("{id}:");
        match status {
            Status::Cached { resolved, .. } => println!("  cached: key {}", resolved.key),
            Status::Run { key, .. } => {
                let resolved = match key {
                    Some(_) => {
                        let done = plan
                            .iter()
                            .filter_map(|(i, s)| match s {
                                Status::Cached { resolved, tree } => {
                                    Some((session.graph.defs[*i].id.clone(), (resolved.key.clone(), tree.clone())))
                                }
                                _ => None,
                            })
                            .collect();
                        session.resolve(t, &done)?
                    }
                    None => None,
                };
                let diffs = session.differences(t, resolved.as_ref())?;
                if diffs.is_empty() {
                    println!(
                        "  will run: no result for key {} (nothing differs from the last result's recorded components)",
                        key.as_deref().unwrap_or("?")
                    );
                }
                for d in diffs {
                    println!("  {d}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(a: &StatusArgs, registry: &Registry) -> Result<ExitCode> {
    if let Some(m) = &a.manifest {
        let loaded = load(m, &a.opts)?;
        let session = Session::new(loaded.manifest, registry, &loaded.cache)?;
        let plan = session.plan(session.graph.order())?;
        let cached = plan.iter().filter(|(_, s)| matches!(s, Status::Cached { .. })).count();
        println!("{}: {} stages, {} cached, {} to run", session.manifest.name(), plan.len(), cached, plan.len() - cached);
        for (i, s) in &plan {
            let def = &session.graph.defs[*i];
            match s {
                Status::Cached { resolved, .. } => {
                    let took = loaded.cache.record(&resolved.key).map(|r| format!("{:.2} s", r.duration_s)).unwrap_or_default();
                    println!("  cached {}  {}  {took}", def.id, &resolved.key[..12]);
                }
                Status::Run { reason, .. } => {
                    let failed = loaded.cache.failed_log_path(&def.id);
                    let note = if failed.exists() { format!(" (last attempt failed: {})", failed.display()) } else { String::new() };
                    println!("  run    {}  {reason}{note}", def.id);
                }
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cache = Cache::open(&CacheOpts { cache: a.opts.cache.clone() }.dir())?;
    let last = cache.last_keys()?;
    let (mut objects, mut bytes) = (0usize, 0u64);
    for d in std::fs::read_dir(cache.root().join("objects"))?.flatten() {
        for o in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            objects += 1;
            bytes += o.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    let records = std::fs::read_dir(cache.root().join("records"))?.count();
    println!("cache {}: {records} results, {objects} objects, {:.1} MB", cache.root().display(), bytes as f64 / 1e6);
    for (id, key) in last {
        println!("  {id}  {}", &key[..key.len().min(12)]);
    }
    Ok(ExitCode::SUCCESS)
}

fn log(a: &LogArgs) -> Result<ExitCode> {
    let cache = Cache::open(&a.cache.dir())?;
    let mut ids: Vec<String> = cache.last_keys()?.into_keys().collect();
    for e in std::fs::read_dir(cache.root().join("failed"))?.flatten() {
        if let Some(n) = e.file_name().to_string_lossy().strip_suffix(".log.txt") {
            ids.push(n.replace("%2F", "/").replace("%25", "%"));
        }
    }
    ids.sort();
    ids.dedup();
    let matches: Vec<&String> = if ids.contains(&a.stage) {
        ids.iter().filter(|i| **i == a.stage).collect()
    } else {
        ids.iter().filter(|i| i.ends_with(&format!("/{}", a.stage)) || i.starts_with(&format!("{}/", a.stage))).collect()
    };
    let id = match matches.as_slice() {
        [one] => (*one).clone(),
        [] => bail!("no stage `{}` has a result or a failed attempt in {}", a.stage, cache.root().display()),
        many => bail!("`{}` matches several stages: {}", a.stage, many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
    };
    let failed = cache.failed_log_path(&id);
    let done = cache.last_key(&id).map(|k| cache.log_path(&k)).filter(|p| p.exists());
    // The newer of the last result's log and the last failure's log.
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let path = match (done, failed.exists()) {
        (Some(d), true) if mtime(&failed) > mtime(&d) => failed,
        (Some(d), _) => d,
        (None, true) => failed,
        (None, false) => bail!("stage {id} has no log"),
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    eprintln!("# {}", path.display());
    print!("{text}");
    let _ = escape_id;
    Ok(ExitCode::SUCCESS)
}

fn exec_stage(a: &ExecStageArgs, registry: &Registry) -> Result<ExitCode> {
    let loaded = load(&a.manifest, &a.opts)?;
    let session = Session::new(loaded.manifest, registry, &loaded.cache)?;
    let targets = session.graph.find(&a.stage)?;
    let [t] = targets[..] else { bail!("`{}` names {} stages; exec-stage runs exactly one", a.stage, targets.len()) };
    let selected = session.graph.select(&[session.graph.defs[t].id.clone()])?;
    let plan = session.plan(&selected)?;
    let done = plan
        .iter()
        .filter_map(|(i, s)| match s {
            Status::Cached { resolved, tree } => Some((session.graph.defs[*i].id.clone(), (resolved.key.clone(), tree.clone()))),
            _ => None,
        })
        .collect();
    let Some(resolved) = session.resolve(t, &done)? else {
        bail!("an input of {} has no result yet", session.graph.defs[t].id);
    };
    match session.run_stage(t, &resolved, Default::default()) {
        crate::exec::Outcome::Ran(r) | crate::exec::Outcome::Cached(r) => {
            println!("{} {}", session.graph.defs[t].id, r.key);
            Ok(ExitCode::SUCCESS)
        }
        crate::exec::Outcome::Failed { error, log } => {
            eprintln!(
                "FAILED {}: {error}{}",
                session.graph.defs[t].id,
                log.map(|p| format!(" (log: {})", p.display())).unwrap_or_default()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
