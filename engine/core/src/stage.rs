//! What a stage is: its definition (id, kind, params, inputs) and the traits that stage kinds and
//! manifest-section planners implement.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::cache::Cache;
pub use crate::items::ItemStore;
pub use crate::location::Location;
use crate::manifest::{Manifest, ManifestError};

/// One upstream dependency: `name` is how the stage refers to it (env `SYCO_IN_<NAME>` for
/// command stages, the key of `StageCtx::inputs`), `stage` the upstream stage id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRef {
    pub name: String,
    pub stage: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Needs exclusive use of `device` while it runs.
    pub gpu: bool,
    /// "cpu", "cuda:0", ...
    pub device: String,
}

impl Default for Resources {
    fn default() -> Self {
        Resources { gpu: false, device: "cpu".to_string() }
    }
}

#[derive(Debug, Clone)]
pub struct StageDef {
    /// Readable id, e.g. "train/gsm8k", "stages/NAME".
    pub id: String,
    /// Registry name of the stage kind.
    pub kind: String,
    /// A JSON object; part of the key.
    pub params: serde_json::Value,
    pub inputs: Vec<InputRef>,
    pub resources: Resources,
    /// Copy this stage's outputs to RUN_FOLDER/<publish> after the run.
    pub publish: Option<String>,
    pub origin: Option<Location>,
}

/// What a stage kind's report says after a run (ran or cached).
#[derive(Debug, Clone)]
pub struct Report {
    pub text: String,
    /// Makes `syco run --check` exit non-zero.
    pub failed: bool,
}

/// What planning-time code may look at.
pub struct PlanEnv<'a> {
    pub cache: &'a Cache,
    pub manifest_dir: PathBuf,
}

pub trait StageKind: Send + Sync {
    fn name(&self) -> &'static str;
    /// Bump when outputs change; part of the key.
    fn version(&self) -> u32;
    /// Key components known without running (content hash of an external file, device class, dtype).
    fn key_extras(&self, _def: &StageDef, _env: &PlanEnv) -> anyhow::Result<BTreeMap<String, String>> {
        Ok(BTreeMap::new())
    }
    fn run(&self, ctx: &StageCtx) -> anyhow::Result<()>;
    /// Called after a run for every selected stage (ran or cached) with its output dir.
    fn report(&self, _def: &StageDef, _out_dir: &Path) -> anyhow::Result<Option<Report>> {
        Ok(None)
    }
}

/// Turns the top-level manifest sections it owns into stage definitions.
pub trait SectionPlanner: Send + Sync {
    fn sections(&self) -> &'static [&'static str];
    fn plan(&self, m: &Manifest, out: &mut Vec<StageDef>) -> Result<(), ManifestError>;
}

/// Everything a running stage gets.
pub struct StageCtx<'a> {
    pub def: &'a StageDef,
    /// Empty at the start; everything written here is the result.
    pub out_dir: PathBuf,
    /// Input name -> upstream output dir (read-only).
    pub inputs: BTreeMap<String, PathBuf>,
    /// Persists across crashed attempts of the same key; deleted after the result is published.
    pub state_dir: PathBuf,
    pub items: ItemStore,
    pub progress: StageProgress,
    pub log: StageLog,
    pub cache: &'a Cache,
    /// Temporary directory, discarded after the run.
    pub scratch: PathBuf,
}

/// A stage's progress bar (or nothing when the output is not a terminal). Cheap to clone.
#[derive(Clone, Default)]
pub struct StageProgress {
    bar: Option<indicatif::ProgressBar>,
}

impl StageProgress {
    pub(crate) fn new(bar: Option<indicatif::ProgressBar>) -> Self {
        StageProgress { bar }
    }
    pub fn set_length(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.set_length(n);
        }
    }
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    pub fn set_message(&self, msg: String) {
        if let Some(b) = &self.bar {
            b.set_message(msg);
        }
    }
}

/// Lines appended to the stage's `log.txt`, kept with its result.
#[derive(Clone)]
pub struct StageLog {
    file: Arc<Mutex<File>>,
    path: PathBuf,
}

impl StageLog {
    pub(crate) fn create(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(StageLog { file: Arc::new(Mutex::new(file)), path: path.to_path_buf() })
    }
    pub fn line(&self, text: &str) {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        // A log line that cannot be written must not fail the stage.
        let _ = writeln!(f, "{text}");
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// A handle the stage can give a child process as stdout/stderr.
    pub fn file_handle(&self) -> std::io::Result<File> {
        self.file.lock().unwrap_or_else(|e| e.into_inner()).try_clone()
    }
}
