//! Parsed contents of the cache's small files (stage records, last-key pointers), remembered
//! across runs by each file's stat identity (inode, size, mtime). A fully cached run then stats
//! each record instead of opening, reading and parsing it: on a 1000-stage no-op that is 3
//! syscalls per stage instead of 12.
//!
//! The memo is only a hint. An entry is used only while the file still has the identity it had
//! when it was read (records and pointers are replaced by rename, which gives a new inode); a
//! missing or damaged memo file is ignored; concurrent writers race harmlessly (the last rename
//! wins and the loser's entries are read again next time).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cache::Stored;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    inode: u64,
    size: u64,
    mtime_ns: i64,
}

impl FileId {
    pub fn of(meta: &fs::Metadata) -> FileId {
        FileId { inode: meta.ino(), size: meta.size(), mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec() }
    }
}

/// Format version of the memo file; a mismatch discards it.
const FORMAT: u32 = 1;

#[derive(Default, Serialize, Deserialize)]
struct Entries {
    format: u32,
    /// Record key -> what its `record.json` says about the stored output.
    records: HashMap<String, (FileId, Stored)>,
    /// Stage id -> the key in its `stages/` pointer.
    last_keys: HashMap<String, (FileId, String)>,
}

struct State {
    entries: Entries,
    /// Something was read from disk or written since the memo was loaded.
    dirty: bool,
}

pub struct FileMemo {
    /// The memo file.
    path: PathBuf,
    state: Mutex<Option<State>>,
}

/// How a file's text becomes the remembered value.
trait Parse: Sized {
    fn parse(bytes: &[u8]) -> Option<Self>;
}

impl Parse for Stored {
    /// The fields of a whole record that `Stored` names; the rest are skipped.
    fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

impl Parse for String {
    fn parse(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?.trim();
        (!text.is_empty()).then(|| text.to_string())
    }
}

impl FileMemo {
    pub fn new(path: PathBuf) -> FileMemo {
        FileMemo { path, state: Mutex::new(None) }
    }

    /// The output listed by `file` (the `record.json` of `key`), read only if it changed.
    pub fn stored(&self, key: &str, file: &Path) -> Option<Stored> {
        self.lookup(key, file, |e| &mut e.records)
    }

    /// The key in a stage's pointer `file`, read only if it changed.
    pub fn last_key(&self, stage: &str, file: &Path) -> Option<String> {
        self.lookup(stage, file, |e| &mut e.last_keys)
    }

    /// After writing a pointer: remember what was written, so the next lookup needs no read.
    pub fn wrote_last_key(&self, stage: &str, file: &Path, key: &str) {
        if let Ok(meta) = fs::metadata(file) {
            self.with(|state| {
                state.entries.last_keys.insert(stage.to_string(), (FileId::of(&meta), key.to_string()));
                state.dirty = true;
            });
        }
    }

    fn lookup<T: Parse + Clone + Serialize + DeserializeOwned>(
        &self,
        name: &str,
        file: &Path,
        map: impl Fn(&mut Entries) -> &mut HashMap<String, (FileId, T)>,
    ) -> Option<T> {
        let id = FileId::of(&fs::metadata(file).ok()?);
        let hit = self.with(|state| match map(&mut state.entries).get(name) {
            Some((seen, value)) if *seen == id => Some(value.clone()),
            _ => None,
        });
        if hit.is_some() {
            return hit;
        }
        // The identity comes from the opened file itself, so a rename between the stat above
        // and this read can never pair new content with an old identity.
        let mut f = File::open(file).ok()?;
        let id = FileId::of(&f.metadata().ok()?);
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).ok()?;
        let value = T::parse(&bytes)?;
        self.with(|state| {
            map(&mut state.entries).insert(name.to_string(), (id, value.clone()));
            state.dirty = true;
        });
        Some(value)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = guard.get_or_insert_with(|| State { entries: load(&self.path), dirty: false });
        f(state)
    }

    /// Forgets everything, on disk too (after `gc` or `verify` removed records).
    pub fn clear(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(State { entries: Entries::default(), dirty: false });
        let _ = fs::remove_file(&self.path);
    }

    /// Writes the memo if this process learned something, through `temp` and a rename so a
    /// reader never sees half a file. Errors only cost speed next time, so they are ignored.
    pub fn save(&self, temp: &Path) {
        let bytes = {
            let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let Some(state) = guard.as_mut().filter(|s| s.dirty) else { return };
            state.entries.format = FORMAT;
            match serde_json::to_vec(&state.entries) {
                Ok(bytes) => bytes,
                Err(_) => return,
            }
        };
        if File::create(temp).and_then(|mut f| f.write_all(&bytes)).is_err() || fs::rename(temp, &self.path).is_err() {
            let _ = fs::remove_file(temp);
        }
    }
}

fn load(path: &Path) -> Entries {
    let Ok(bytes) = fs::read(path) else { return Entries::default() };
    match serde_json::from_slice::<Entries>(&bytes) {
        Ok(e) if e.format == FORMAT => e,
        _ => Entries::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::FileEntry;

    fn stored(tree: &str) -> Stored {
        Stored { tree: tree.into(), files: vec![FileEntry { path: "a".into(), hash: "h".into(), size: 1, executable: false }] }
    }

    /// Writes `value` as JSON to a fresh file renamed over `path`, the way records are published.
    fn publish(path: &Path, value: &impl Serialize) {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, serde_json::to_vec(value).unwrap()).unwrap();
        fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn a_later_process_reuses_entries_and_sees_replaced_files() {
        let dir = tempfile::tempdir().unwrap();
        let (memo_path, record, pointer) = (dir.path().join("memo.json"), dir.path().join("record.json"), dir.path().join("ptr"));
        publish(&record, &stored("t1"));
        fs::write(&pointer, "k1\n").unwrap();

        let first = FileMemo::new(memo_path.clone());
        assert_eq!(first.stored("k", &record).unwrap().tree, "t1");
        assert_eq!(first.last_key("s", &pointer).as_deref(), Some("k1"));
        first.save(&dir.path().join("memo.tmp"));
        assert!(memo_path.exists());

        // A second process trusts the memo while the files keep their identity: prove it by
        // giving the memo a value the files do not hold.
        let mut entries = load(&memo_path);
        entries.records.get_mut("k").unwrap().1.tree = "from-memo".into();
        publish(&memo_path, &entries);
        let second = FileMemo::new(memo_path.clone());
        assert_eq!(second.stored("k", &record).unwrap().tree, "from-memo");

        // A record replaced by rename (a new inode) is read again.
        publish(&record, &stored("t2"));
        assert_eq!(second.stored("k", &record).unwrap().tree, "t2");
        // A deleted file is gone, whatever the memo says.
        fs::remove_file(&pointer).unwrap();
        assert_eq!(second.last_key("s", &pointer), None);
    }

    #[test]
    fn a_damaged_or_foreign_memo_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (memo_path, record) = (dir.path().join("memo.json"), dir.path().join("record.json"));
        publish(&record, &stored("t1"));
        for junk in
            [&b"{\"format\": 1, \"records\": {\"k\": [tru"[..], b"\x00\xff", b"{\"format\": 999, \"records\": {}, \"last_keys\": {}}"]
        {
            fs::write(&memo_path, junk).unwrap();
            let memo = FileMemo::new(memo_path.clone());
            assert_eq!(memo.stored("k", &record).unwrap().tree, "t1");
        }
    }

    #[test]
    fn nothing_is_written_when_nothing_was_learned_and_clear_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let memo_path = dir.path().join("memo.json");
        let memo = FileMemo::new(memo_path.clone());
        assert!(memo.stored("k", &dir.path().join("missing")).is_none());
        memo.save(&dir.path().join("memo.tmp"));
        assert!(!memo_path.exists());

        let pointer = dir.path().join("ptr");
        fs::write(&pointer, "k1").unwrap();
        memo.wrote_last_key("s", &pointer, "k1");
        memo.save(&dir.path().join("memo.tmp"));
        assert!(memo_path.exists() && !dir.path().join("memo.tmp").exists());
        memo.clear();
        assert!(!memo_path.exists());
        assert_eq!(memo.last_key("s", &pointer).as_deref(), Some("k1"));
    }
}
