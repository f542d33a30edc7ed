//! What the cache stores about a result: the record of what it was computed from and the files it
//! holds. Plain data, below both the cache and its file memo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One stored output file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the stage's output directory, `/`-separated.
    pub path: String,
    pub hash: String,
    pub size: u64,
    #[serde(default)]
    pub executable: bool,
}

/// One upstream input as it was when the key was computed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InputRecord {
    pub stage: String,
    /// Tree hash of that stage's output.
    pub tree: String,
}

/// What a result was computed from (the key's components) and what it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub stage: String,
    pub kind: String,
    pub version: u32,
    /// Params flattened to dotted paths -> JSON text.
    pub params: BTreeMap<String, String>,
    pub inputs: BTreeMap<String, InputRecord>,
    pub extras: BTreeMap<String, String>,
    pub engine_version: String,
    /// Tree hash of the output.
    pub tree: String,
    pub files: Vec<FileEntry>,
    pub created_unix: u64,
    pub duration_s: f64,
}

/// The part of a record a cached stage hands on: its output tree and the objects behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub tree: String,
    pub files: Vec<FileEntry>,
}
