//! The cache's one memo of file identity: what was learned from a file's content (its blake3
//! hash, the output a `record.json` lists, the key in a `stages/` pointer), remembered across runs
//! by the file's path and stat identity (inode, size, mtime). A fully cached run then stats each
//! record and object instead of opening, reading, hashing and parsing it.
//!
//! The memo is only a hint. An entry is used only while the file still has the identity it had
//! when it was read (records and pointers are replaced by rename, which gives a new inode); a
//! missing or damaged memo file is ignored. Several processes may share it: each one writes back
//! only the entries it learned, merged into the file as it is at that moment, under
//! `files.lock`, through a temp file renamed into place. `compact` (run by `gc`) drops entries
//! whose file is gone or changed, so the memo does not grow without end.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::record::Stored;

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
const FORMAT: u32 = 2;

/// What was learned from one version of a file; all of it is dropped when the identity changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Facts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    /// For a `record.json`: the output it lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stored: Option<Stored>,
    /// For a `stages/` pointer: the key in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

type Files = HashMap<String, (FileId, Facts)>;

#[derive(Default, Serialize, Deserialize)]
struct Entries {
    format: u32,
    /// Absolute path -> its identity when read and what was learned from it.
    files: Files,
}

struct State {
    files: Files,
    /// Paths whose entry this process added or changed since loading; only these are written back.
    learned: HashSet<String>,
}

pub struct FileMemo {
    /// The memo file.
    path: PathBuf,
    state: Mutex<Option<State>>,
}

impl FileMemo {
    pub fn new(path: PathBuf) -> FileMemo {
        FileMemo { path, state: Mutex::new(None) }
    }

    /// The content hash of `file` (computed by `hash_reader`), read only if the file changed.
    pub fn hash(&self, file: &Path, hash_reader: impl FnOnce(&mut File) -> io::Result<String>) -> io::Result<String> {
        fs::metadata(file)?;
        let mut error = None;
        let got = self.lookup(file, |f| f.hash.clone(), |f, h| f.hash = Some(h), |f| hash_reader(f).map_err(|e| error = Some(e)).ok());
        got.ok_or_else(|| error.unwrap_or_else(|| io::Error::other(format!("{} changed while it was read", file.display()))))
    }

    /// After writing a file whose hash is known (a fresh object): remember it without reading.
    pub fn knew_hash(&self, file: &Path, hash: &str) {
        self.remember(file, |f| f.hash = Some(hash.to_string()));
    }

    /// The output listed by a `record.json`, read only if it changed.
    pub fn stored(&self, file: &Path) -> Option<Stored> {
        self.lookup(file, |f| f.stored.clone(), |f, v| f.stored = Some(v), |f| serde_json::from_slice(&read_all(f)?).ok())
    }

    /// The key in a stage's pointer `file`, read only if it changed.
    pub fn last_key(&self, file: &Path) -> Option<String> {
        self.lookup(
            file,
            |f| f.key.clone(),
            |f, v| f.key = Some(v),
            |f| {
                let bytes = read_all(f)?;
                let text = std::str::from_utf8(&bytes).ok()?.trim();
                (!text.is_empty()).then(|| text.to_string())
            },
        )
    }

    /// After writing a pointer: remember what was written, so the next lookup needs no read.
    pub fn wrote_last_key(&self, file: &Path, key: &str) {
        self.remember(file, |f| f.key = Some(key.to_string()));
    }

    fn remember(&self, file: &Path, set: impl FnOnce(&mut Facts)) {
        let (Some(name), Ok(meta)) = (file.to_str(), fs::metadata(file)) else { return };
        let id = FileId::of(&meta);
        self.with(|state| {
            let entry = state.files.entry(name.to_string()).or_insert_with(|| (id, Facts::default()));
            if entry.0 != id {
                *entry = (id, Facts::default());
            }
            set(&mut entry.1);
            state.learned.insert(name.to_string());
        });
    }

    /// The fact `get` of `file` while its identity is unchanged; else `compute`s it from the
    /// opened file and remembers it under that file's identity.
    fn lookup<T>(
        &self,
        file: &Path,
        get: impl Fn(&Facts) -> Option<T>,
        put: impl FnOnce(&mut Facts, T),
        compute: impl FnOnce(&mut File) -> Option<T>,
    ) -> Option<T>
    where
        T: Clone,
    {
        // Paths that are not UTF-8 cannot be written in the memo; they are read every time.
        let name = file.to_str();
        let id = FileId::of(&fs::metadata(file).ok()?);
        if let Some(name) = name {
            let hit = self.with(|state| match state.files.get(name) {
                Some((seen, facts)) if *seen == id => get(facts),
                _ => None,
            });
            if hit.is_some() {
                return hit;
            }
        }
        // The identity comes from the opened file itself, so a rename between the stat above
        // and this read can never pair new content with an old identity.
        let mut f = File::open(file).ok()?;
        let id = FileId::of(&f.metadata().ok()?);
        let value = compute(&mut f)?;
        if let Some(name) = name {
            self.with(|state| {
                let entry = state.files.entry(name.to_string()).or_insert_with(|| (id, Facts::default()));
                if entry.0 != id {
                    *entry = (id, Facts::default());
                }
                put(&mut entry.1, value.clone());
                state.learned.insert(name.to_string());
            });
        }
        Some(value)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = guard.get_or_insert_with(|| State { files: load(&self.path), learned: HashSet::new() });
        f(state)
    }

    /// Writes what this process learned into the memo file, merged with what other processes
    /// wrote there meanwhile. Errors only cost speed next time, so they are ignored.
    pub fn save(&self, temp: &Path) {
        let learned: Files = self.with(|state| {
            let learned = std::mem::take(&mut state.learned);
            learned.into_iter().filter_map(|p| state.files.get(&p).map(|e| (p, e.clone()))).collect()
        });
        if learned.is_empty() {
            return;
        }
        let Some(_lock) = self.lock() else { return };
        let mut files = load(&self.path);
        files.extend(learned);
        write(&self.path, temp, files);
    }

    /// Saves, then drops every entry whose file is gone or no longer has the identity it was
    /// read with. Returns (entries kept, entries dropped).
    pub fn compact(&self, temp: &Path) -> io::Result<(usize, usize)> {
        let lock = self.lock().ok_or_else(|| io::Error::other(format!("cannot lock {}", self.lock_path().display())))?;
        let mut files = load(&self.path);
        let merged = self.with(|state| {
            let learned = std::mem::take(&mut state.learned);
            let merged = !learned.is_empty();
            for p in learned {
                if let Some(e) = state.files.get(&p) {
                    files.insert(p, e.clone());
                }
            }
            merged
        });
        let before = files.len();
        files.retain(|path, (id, _)| fs::metadata(path).is_ok_and(|m| FileId::of(&m) == *id));
        let kept = files.len();
        if kept < before || merged {
            write(&self.path, temp, files.clone());
        }
        drop(lock);
        self.with(|state| state.files = files);
        Ok((kept, before - kept))
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    /// Held while the memo file is read, merged and replaced, so no writer loses another's entries.
    fn lock(&self) -> Option<File> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(self.lock_path()).ok()?;
        file.lock().ok()?;
        Some(file)
    }
}

fn read_all(f: &mut File) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Through `temp` and a rename, so a reader never sees half a file.
fn write(path: &Path, temp: &Path, files: Files) {
    let Ok(bytes) = serde_json::to_vec(&Entries { format: FORMAT, files }) else { return };
    if File::create(temp).and_then(|mut f| f.write_all(&bytes)).is_err() || fs::rename(temp, path).is_err() {
        let _ = fs::remove_file(temp);
    }
}

fn load(path: &Path) -> Files {
    let Ok(bytes) = fs::read(path) else { return Files::default() };
    match serde_json::from_slice::<Entries>(&bytes) {
        Ok(e) if e.format == FORMAT => e.files,
        _ => Files::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::FileEntry;

    fn stored(tree: &str) -> Stored {
        Stored { tree: tree.into(), files: vec![FileEntry { path: "a".into(), hash: "h".into(), size: 1, executable: false }] }
    }

    /// Writes `value` as JSON to a fresh file renamed over `path`, the way records are published.
    fn publish(path: &Path, value: &impl Serialize) {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, serde_json::to_vec(value).unwrap()).unwrap();
        fs::rename(&tmp, path).unwrap();
    }

    fn hasher(f: &mut File) -> io::Result<String> {
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        Ok(blake3::hash(&bytes).to_hex().to_string())
    }

    #[test]
    fn a_later_process_reuses_entries_and_sees_replaced_files() {
        let dir = tempfile::tempdir().unwrap();
        let (memo_path, record, pointer) = (dir.path().join("memo.json"), dir.path().join("record.json"), dir.path().join("ptr"));
        publish(&record, &stored("t1"));
        fs::write(&pointer, "k1\n").unwrap();

        let first = FileMemo::new(memo_path.clone());
        assert_eq!(first.stored(&record).unwrap().tree, "t1");
        assert_eq!(first.last_key(&pointer).as_deref(), Some("k1"));
        first.save(&dir.path().join("memo.tmp"));
        assert!(memo_path.exists());

        // A second process trusts the memo while the files keep their identity: prove it by
        // giving the memo a value the files do not hold.
        let mut files = load(&memo_path);
        files.get_mut(record.to_str().unwrap()).unwrap().1.stored.as_mut().unwrap().tree = "from-memo".into();
        publish(&memo_path, &Entries { format: FORMAT, files });
        let second = FileMemo::new(memo_path.clone());
        assert_eq!(second.stored(&record).unwrap().tree, "from-memo");

        // A record replaced by rename (a new inode) is read again.
        publish(&record, &stored("t2"));
        assert_eq!(second.stored(&record).unwrap().tree, "t2");
        // A deleted file is gone, whatever the memo says.
        fs::remove_file(&pointer).unwrap();
        assert_eq!(second.last_key(&pointer), None);
    }

    #[test]
    fn hashes_share_the_memo_and_follow_changes() {
        let dir = tempfile::tempdir().unwrap();
        let memo_path = dir.path().join("memo.json");
        let f = dir.path().join("w.bin");
        fs::write(&f, "abc").unwrap();
        let memo = FileMemo::new(memo_path.clone());
        assert_eq!(memo.hash(&f, hasher).unwrap(), blake3::hash(b"abc").to_hex().to_string());
        // Remembered: the reader is not called again.
        assert_eq!(memo.hash(&f, |_| panic!("rehashed an unchanged file")).unwrap(), blake3::hash(b"abc").to_hex().to_string());
        memo.save(&dir.path().join("memo.tmp"));
        let again = FileMemo::new(memo_path);
        assert!(again.hash(&f, |_| panic!("a later process rehashed an unchanged file")).is_ok());
        fs::write(&f, "abcd").unwrap();
        assert_eq!(again.hash(&f, hasher).unwrap(), blake3::hash(b"abcd").to_hex().to_string());
        assert_eq!(again.hash(&dir.path().join("missing"), hasher).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_damaged_or_foreign_memo_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (memo_path, record) = (dir.path().join("memo.json"), dir.path().join("record.json"));
        publish(&record, &stored("t1"));
        for junk in [&b"{\"format\": 2, \"files\": {\"k\": [tru"[..], b"\x00\xff", b"{\"format\": 999, \"files\": {}}"] {
            fs::write(&memo_path, junk).unwrap();
            let memo = FileMemo::new(memo_path.clone());
            assert_eq!(memo.stored(&record).unwrap().tree, "t1");
        }
    }

    #[test]
    fn nothing_is_written_when_nothing_was_learned() {
        let dir = tempfile::tempdir().unwrap();
        let memo_path = dir.path().join("memo.json");
        let memo = FileMemo::new(memo_path.clone());
        assert!(memo.stored(&dir.path().join("missing")).is_none());
        memo.save(&dir.path().join("memo.tmp"));
        assert!(!memo_path.exists());

        let pointer = dir.path().join("ptr");
        fs::write(&pointer, "k1").unwrap();
        memo.wrote_last_key(&pointer, "k1");
        memo.save(&dir.path().join("memo.tmp"));
        assert!(memo_path.exists() && !dir.path().join("memo.tmp").exists());
    }

    /// Two processes that learned different files both keep theirs: saves merge, they never
    /// replace each other's entries.
    #[test]
    fn concurrent_savers_merge_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let memo_path = dir.path().join("memo.json");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "A").unwrap();
        fs::write(&b, "B").unwrap();
        let (p1, p2) = (FileMemo::new(memo_path.clone()), FileMemo::new(memo_path.clone()));
        p1.hash(&a, hasher).unwrap();
        p2.hash(&b, hasher).unwrap();
        p1.save(&dir.path().join("t1"));
        p2.save(&dir.path().join("t2"));
        let files = load(&memo_path);
        assert!(files.contains_key(a.to_str().unwrap()) && files.contains_key(b.to_str().unwrap()), "{:?}", files.keys());
    }

    #[test]
    fn compact_drops_entries_of_gone_and_changed_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let memo_path = dir.path().join("memo.json");
        let (keep, gone, changed) = (dir.path().join("keep"), dir.path().join("gone"), dir.path().join("changed"));
        for f in [&keep, &gone, &changed] {
            fs::write(f, "x").unwrap();
        }
        let writer = FileMemo::new(memo_path.clone());
        for f in [&keep, &gone, &changed] {
            writer.hash(f, hasher).unwrap();
        }
        writer.save(&dir.path().join("t"));
        fs::remove_file(&gone).unwrap();
        // Replaced by rename: a new inode, so the entry no longer describes the file.
        fs::write(dir.path().join("new"), "y").unwrap();
        fs::rename(dir.path().join("new"), &changed).unwrap();

        // `gc` runs in another process than the one that learned the entries.
        let gc = FileMemo::new(memo_path.clone());
        assert_eq!(gc.compact(&dir.path().join("t")).unwrap(), (1, 2));
        let files = load(&memo_path);
        assert_eq!(files.keys().collect::<Vec<_>>(), vec![keep.to_str().unwrap()]);
        assert!(gc.hash(&keep, |_| panic!("compaction lost a good entry")).is_ok());
        assert_eq!(gc.hash(&changed, hasher).unwrap(), blake3::hash(b"y").to_hex().to_string());
        gc.save(&dir.path().join("t"));
        // Nothing left to drop: a second compaction keeps both entries.
        assert_eq!(FileMemo::new(memo_path).compact(&dir.path().join("t")).unwrap(), (2, 0));
    }
}
