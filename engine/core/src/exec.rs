//! Deciding what runs (keys, cache lookups, reasons) and running it on this machine: independent
//! stages in parallel within `--jobs`, one GPU stage per device at a time.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::cache::{remove_tree, Cache, InputRecord, Record, ENGINE_VERSION};
use crate::graph::Graph;
use crate::key::{flatten_params, KeyParts};
use crate::manifest::Manifest;
use crate::paths::is_inside;
use crate::registry::Registry;
use crate::stage::{PlanEnv, Report, StageCtx, StageLog, StageProgress};
use crate::ui::Ui;

/// A stage's key and the components it was computed from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub key: String,
    /// input name -> (stage id, output tree hash)
    pub inputs: BTreeMap<String, (String, String)>,
    /// input name -> key of the upstream result read
    pub input_keys: BTreeMap<String, String>,
    pub extras: BTreeMap<String, String>,
}

/// Stage id -> (key, output tree hash) of the results known so far.
pub type Results = HashMap<String, (String, String)>;

#[derive(Debug, Clone)]
pub enum Status {
    Cached { resolved: Resolved, tree: String },
    Run { key: Option<String>, reason: String },
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Cached { .. } => "cached",
            Status::Run { .. } => "run",
        }
    }
    pub fn reason(&self) -> String {
        match self {
            Status::Cached { resolved, .. } => format!("cached: key {}", resolved.key),
            Status::Run { reason, .. } => reason.clone(),
        }
    }
}

/// What happened to one stage in a run.
#[derive(Debug)]
pub enum Outcome {
    Ran(Record),
    Cached(Record),
    Failed { error: String, log: Option<PathBuf> },
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub ran: usize,
    pub cached: usize,
    pub failed: Vec<String>,
    pub skipped: usize,
    /// stage index -> output dir, for every stage that has a result now.
    pub outputs: BTreeMap<usize, PathBuf>,
}

pub struct RunOptions {
    pub jobs: usize,
    pub keep_going: bool,
}

/// A manifest turned into a graph, against one cache.
pub struct Session<'a> {
    pub manifest: Manifest,
    pub graph: Graph,
    pub registry: &'a Registry,
    pub cache: &'a Cache,
}

/// `name: old -> new` for every key extra that differs between two derivations.
fn changed_extras(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| {
            let show = |v: Option<&String>| v.map_or("(unset)".to_string(), |v| short(v).to_string());
            format!("{k}: {} -> {}", show(before.get(k)), show(after.get(k)))
        })
        .collect()
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

impl<'a> Session<'a> {
    pub fn new(manifest: Manifest, registry: &'a Registry, cache: &'a Cache) -> Result<Session<'a>> {
        let defs = registry.plan(&manifest)?;
        let graph = Graph::build(defs, &manifest)?;
        Ok(Session { manifest, graph, registry, cache })
    }

    fn env(&self) -> PlanEnv<'_> {
        PlanEnv { cache: self.cache, manifest_dir: self.manifest.dir().to_path_buf() }
    }

    /// The key of stage `i`, given the output trees of its inputs (None: an input has no tree yet).
    pub fn resolve(&self, i: usize, done: &Results) -> Result<Option<Resolved>> {
        let def = &self.graph.defs[i];
        let mut inputs = BTreeMap::new();
        let mut input_keys = BTreeMap::new();
        for input in &def.inputs {
            match done.get(&input.stage) {
                Some((k, t)) => {
                    inputs.insert(input.name.clone(), (input.stage.clone(), t.clone()));
                    input_keys.insert(input.name.clone(), k.clone());
                }
                None => return Ok(None),
            }
        }
        let kind = self.registry.kind(&def.kind).ok_or_else(|| anyhow!("stage kind `{}` is not registered", def.kind))?;
        let extras = kind.key_extras(def, &self.env()).with_context(|| format!("stage `{}`", def.id))?;
        let key = KeyParts { kind: &def.kind, version: kind.version(), params: &def.params, inputs: &inputs, extras: &extras }.key();
        Ok(Some(Resolved { key, inputs, input_keys, extras }))
    }

    /// What `syco run` would do now for the selected stages (in dependency order).
    pub fn plan(&self, selected: &[usize]) -> Result<Vec<(usize, Status)>> {
        let mut done = Results::new();
        let mut out = Vec::with_capacity(selected.len());
        for &i in selected {
            let def = &self.graph.defs[i];
            let status = match self.resolve(i, &done)? {
                Some(resolved) => match self.cache.intact(&resolved.key) {
                    Some(stored) => {
                        done.insert(def.id.clone(), (resolved.key.clone(), stored.tree.clone()));
                        Status::Cached { resolved, tree: stored.tree }
                    }
                    None => {
                        let diffs = self.differences(i, Some(&resolved))?;
                        let reason = if self.cache.has_record(&resolved.key) {
                            format!("result for key {} is damaged (an object is missing or changed)", short(&resolved.key))
                        } else if diffs.is_empty() {
                            format!("no result for key {}", short(&resolved.key))
                        } else {
                            diffs.join("; ")
                        };
                        Status::Run { key: Some(resolved.key), reason }
                    }
                },
                None => {
                    let pending = def.inputs.iter().find(|inp| !done.contains_key(&inp.stage)).expect("an input lacks a tree");
                    Status::Run { key: None, reason: format!("input {} will be recomputed", pending.stage) }
                }
            };
            out.push((i, status));
        }
        Ok(out)
    }

    /// Field by field, how stage `i` now differs from its last result (empty: nothing differs
    /// or there is no last result to compare with; see `explain`).
    pub fn differences(&self, i: usize, resolved: Option<&Resolved>) -> Result<Vec<String>> {
        let def = &self.graph.defs[i];
        let Some(last) = self.cache.last_key(&def.id).and_then(|k| self.cache.record(&k)) else {
            return Ok(vec!["no earlier result for this stage".to_string()]);
        };
        let kind = self.registry.kind(&def.kind).ok_or_else(|| anyhow!("stage kind `{}` is not registered", def.kind))?;
        let mut diffs = Vec::new();
        if last.kind != def.kind {
            diffs.push(format!("kind {} -> {}", last.kind, def.kind));
        } else if last.version != kind.version() {
            diffs.push(format!("kind version {} -> {}", last.version, kind.version()));
        }
        let now = flatten_params(&def.params);
        for (k, v) in &now {
            match last.params.get(k) {
                Some(old) if old == v => {}
                Some(old) => diffs.push(format!("{k}: {old} -> {v}")),
                None => diffs.push(format!("{k}: (unset) -> {v}")),
            }
        }
        for (k, old) in &last.params {
            if !now.contains_key(k) {
                diffs.push(format!("{k}: {old} -> (unset)"));
            }
        }
        for input in &def.inputs {
            let new_tree = resolved.and_then(|r| r.inputs.get(&input.name)).map(|(_, t)| t.as_str());
            match (last.inputs.get(&input.name), new_tree) {
                (None, _) => diffs.push(format!("input {} added", input.stage)),
                (Some(old), Some(new)) if old.tree != new => {
                    diffs.push(format!("input {} changed: {} -> {}", input.stage, short(&old.tree), short(new)))
                }
                (Some(_), None) => diffs.push(format!("input {} will be recomputed", input.stage)),
                _ => {}
            }
        }
        for name in last.inputs.keys() {
            if !def.inputs.iter().any(|inp| &inp.name == name) {
                diffs.push(format!("input {} removed", last.inputs[name].stage));
            }
        }
        if let Some(r) = resolved {
            for (k, v) in &r.extras {
                match last.extras.get(k) {
                    Some(old) if old == v => {}
                    Some(old) => diffs.push(format!("{k}: {old} -> {v}")),
                    None => diffs.push(format!("{k}: (unset) -> {v}")),
                }
            }
            for (k, old) in &last.extras {
                if !r.extras.contains_key(k) {
                    diffs.push(format!("{k}: {old} -> (unset)"));
                }
            }
        }
        Ok(diffs)
    }

    /// Runs one stage whose inputs all have results (used by the scheduler and `exec-stage`).
    pub fn run_stage(&self, i: usize, resolved: &Resolved, progress: StageProgress) -> Outcome {
        match self.run_stage_inner(i, resolved, progress) {
            Ok(o) => o,
            Err(e) => Outcome::Failed { error: format!("{e:#}"), log: None },
        }
    }

    fn run_stage_inner(&self, i: usize, resolved: &Resolved, progress: StageProgress) -> Result<Outcome> {
        let def = &self.graph.defs[i];
        let kind = self.registry.kind(&def.kind).ok_or_else(|| anyhow!("stage kind `{}` is not registered", def.kind))?;
        let key = &resolved.key;
        let _lock = self.cache.lock_key(key)?;
        // Another process may have published this key while we waited for the lock.
        if let Some(rec) = self.cache.intact_record(key) {
            self.cache.set_last_key(&def.id, key)?;
            return Ok(Outcome::Cached(rec));
        }
        // A record with damaged objects: its `out/` links would hand the damage downstream.
        if self.cache.has_record(key) {
            self.cache.discard_record(key)?;
        }
        let wd = self.cache.work_dir(&def.id)?;
        let log = StageLog::create(&wd.log)?;
        let state_dir = self.cache.state_dir(key);
        std::fs::create_dir_all(&state_dir)?;
        let mut input_dirs = BTreeMap::new();
        for (name, key) in &resolved.input_keys {
            let dir = self.cache.output_dir(key);
            if !dir.is_dir() {
                bail!("input {} has no result (key {})", resolved.inputs[name].0, short(key));
            }
            input_dirs.insert(name.clone(), dir);
        }
        let ctx = StageCtx {
            def,
            out_dir: wd.out.clone(),
            inputs: input_dirs,
            state_dir: state_dir.clone(),
            items: self.cache.items(),
            progress,
            log: log.clone(),
            cache: self.cache,
            scratch: wd.scratch.clone(),
        };
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.run(&ctx))).unwrap_or_else(|p| {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(anyhow!("stage panicked: {}", msg.unwrap_or_default()))
        });
        // A file outside the cache (a model, a dataset) that changed while the stage read it would
        // leave a result computed from other content than its key names. Re-deriving the key's
        // extras costs a stat per file when nothing changed (hashes are memoised by inode and mtime).
        let result = result.and_then(|()| {
            let now = kind.key_extras(def, &self.env())?;
            let changed = changed_extras(&resolved.extras, &now);
            if changed.is_empty() {
                Ok(())
            } else {
                Err(anyhow!("an input changed while the stage ran ({}); nothing was recorded, run again", changed.join(", ")))
            }
        });
        if let Err(e) = result {
            log.line(&format!("error: {e:#}"));
            let failed = self.cache.failed_log_path(&def.id);
            let saved = std::fs::copy(&wd.log, &failed).is_ok();
            return Ok(Outcome::Failed { error: format!("{e:#}"), log: saved.then_some(failed) });
        }
        let record = Record {
            key: key.clone(),
            stage: def.id.clone(),
            kind: def.kind.clone(),
            version: kind.version(),
            params: flatten_params(&def.params),
            inputs: resolved.inputs.iter().map(|(n, (s, t))| (n.clone(), InputRecord { stage: s.clone(), tree: t.clone() })).collect(),
            extras: resolved.extras.clone(),
            engine_version: ENGINE_VERSION.to_string(),
            tree: String::new(),
            files: vec![],
            created_unix: 0,
            duration_s: started.elapsed().as_secs_f64(),
        };
        // `wd` is removed when dropped, on this path and on every error above.
        let record = self.cache.publish(&wd, record)?;
        remove_tree(&state_dir)?;
        self.cache.set_last_key(&def.id, key)?;
        Ok(Outcome::Ran(record))
    }

    /// Runs the selected stages (and nothing else), skipping those with results.
    pub fn run(&self, selected: &[usize], opts: &RunOptions, ui: &Ui) -> Result<RunSummary> {
        let n = self.graph.defs.len();
        let in_run: HashSet<usize> = selected.iter().copied().collect();
        let mut waiting: Vec<usize> = vec![0; n];
        for &i in selected {
            waiting[i] = self.graph.deps(i).filter(|d| in_run.contains(d)).count();
        }
        let mut ready: VecDeque<usize> = selected.iter().copied().filter(|&i| waiting[i] == 0).collect();
        let mut done = Results::new();
        let mut runnable: VecDeque<(usize, Resolved)> = VecDeque::new();
        let mut gpu_busy: HashSet<String> = HashSet::new();
        let mut summary = RunSummary::default();
        let mut running = 0usize;
        let mut stop = false;
        let mut index_saved: Option<Instant> = None;
        let jobs = opts.jobs.max(1);
        ui.start(selected.len());
        let (tx, rx) = mpsc::channel::<(usize, Resolved, Outcome, Duration)>();
        std::thread::scope(|scope| -> Result<()> {
            loop {
                // Cached stages complete at once; the rest queue for a worker.
                while let Some(i) = ready.pop_front() {
                    if stop {
                        continue;
                    }
                    let def = &self.graph.defs[i];
                    let resolved = self.resolve(i, &done)?.expect("all inputs of a ready stage have trees");
                    if let Some(stored) = self.cache.intact(&resolved.key) {
                        self.cache.set_last_key(&def.id, &resolved.key)?;
                        self.finish(i, &resolved.key, &stored.tree, &mut done, &mut summary, &mut waiting, &in_run, &mut ready);
                        summary.cached += 1;
                        ui.cached();
                    } else {
                        runnable.push_back((i, resolved));
                    }
                }
                // Dispatch within --jobs and one GPU stage per device.
                let mut blocked = VecDeque::new();
                while running < jobs && !stop {
                    let Some((i, resolved)) = runnable.pop_front() else { break };
                    let res = &self.graph.defs[i].resources;
                    if res.gpu && gpu_busy.contains(&res.device) {
                        blocked.push_back((i, resolved));
                        continue;
                    }
                    if res.gpu {
                        gpu_busy.insert(res.device.clone());
                    }
                    running += 1;
                    let progress = ui.stage_started(&self.graph.defs[i].id);
                    let tx = tx.clone();
                    scope.spawn(move || {
                        let t = Instant::now();
                        let outcome = self.run_stage(i, &resolved, progress);
                        let _ = tx.send((i, resolved, outcome, t.elapsed()));
                    });
                }
                blocked.extend(runnable.drain(..));
                runnable = blocked;
                if running == 0 {
                    break;
                }
                // Hashes learned for keys (model weights, data files) survive a crash of a long
                // stage: the file memo is written when the first stage starts, then now and then.
                if index_saved.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                    self.cache.save_index();
                    index_saved = Some(Instant::now());
                }
                let (i, _resolved, outcome, took) = rx.recv().expect("a worker is running");
                running -= 1;
                let def = &self.graph.defs[i];
                if def.resources.gpu {
                    gpu_busy.remove(&def.resources.device);
                }
                match outcome {
                    Outcome::Ran(rec) => {
                        ui.stage_done(&def.id, "ran", took);
                        summary.ran += 1;
                        self.finish(i, &rec.key, &rec.tree, &mut done, &mut summary, &mut waiting, &in_run, &mut ready);
                    }
                    Outcome::Cached(rec) => {
                        ui.stage_done(&def.id, "cached", took);
                        summary.cached += 1;
                        self.finish(i, &rec.key, &rec.tree, &mut done, &mut summary, &mut waiting, &in_run, &mut ready);
                    }
                    Outcome::Failed { error, log } => {
                        let where_ = log.map(|p| format!(" (log: {})", p.display())).unwrap_or_default();
                        ui.stage_failed(&def.id, &format!("{error}{where_}"));
                        summary.failed.push(def.id.clone());
                        if !opts.keep_going {
                            stop = true;
                            runnable.clear();
                        }
                    }
                }
            }
            Ok(())
        })?;
        ui.finish();
        summary.skipped = selected.len() - summary.ran - summary.cached - summary.failed.len();
        Ok(summary)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        i: usize,
        key: &str,
        tree: &str,
        done: &mut Results,
        summary: &mut RunSummary,
        waiting: &mut [usize],
        in_run: &HashSet<usize>,
        ready: &mut VecDeque<usize>,
    ) {
        done.insert(self.graph.defs[i].id.clone(), (key.to_string(), tree.to_string()));
        summary.outputs.insert(i, self.cache.output_dir(key));
        for d in self.graph.dependents(i) {
            if in_run.contains(&d) {
                waiting[d] -= 1;
                if waiting[d] == 0 {
                    ready.push_back(d);
                }
            }
        }
    }

    /// Reports of every stage with a result (the analysis stage's claim table, ...).
    pub fn reports(&self, summary: &RunSummary) -> Result<Vec<(String, Report)>> {
        let mut out = Vec::new();
        for (&i, dir) in &summary.outputs {
            let def = &self.graph.defs[i];
            let kind = self.registry.kind(&def.kind).expect("registered");
            if let Some(r) = kind.report(def, dir).with_context(|| format!("report of {}", def.id))? {
                out.push((def.id.clone(), r));
            }
        }
        Ok(out)
    }

    /// Copies the outputs of stages with `publish` into the run folder.
    pub fn publish(&self, summary: &RunSummary, run_dir: &std::path::Path) -> Result<usize> {
        let mut count = 0;
        for (&i, dir) in &summary.outputs {
            let Some(rel) = &self.graph.defs[i].publish else { continue };
            // Planners should reject such paths; this guards kinds planned outside syco-core.
            if !is_inside(rel) {
                bail!("stage {}: publish `{rel}` must be a relative path inside the run folder", self.graph.defs[i].id);
            }
            // Joined component by component: `run/.` would not be created by create_dir_all.
            let dest: std::path::PathBuf = std::iter::once(run_dir.as_os_str())
                .chain(std::path::Path::new(rel).components().filter(|c| *c != std::path::Component::CurDir).map(|c| c.as_os_str()))
                .collect();
            copy_tree(dir, &dest).with_context(|| format!("cannot publish {} to {}", self.graph.defs[i].id, dest.display()))?;
            count += 1;
        }
        Ok(count)
    }
}

/// Copies files (as writable copies, never links into the cache).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else {
            if dest.exists() {
                std::fs::remove_file(&dest)?;
            }
            std::fs::copy(e.path(), &dest)?;
            let mut perm = std::fs::metadata(&dest)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&dest, perm)?;
        }
    }
    Ok(())
}
