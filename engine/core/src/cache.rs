//! The content-addressed cache: objects (files named by the blake3 of their content, read-only),
//! records (one folder per stage key, published by renaming a complete temp folder), per-key locks
//! so several processes can share one cache, and one memo of what was read from files (hashes,
//! records, pointers) by (path, size, mtime, inode).
//!
//! Layout under the root: `objects/ab/cdef…` (read-only, named by blake3), `records/KEY/`
//! (`record.json`, `log.txt`, `out/` of hard links to objects), `stages/ID` (the key of a stage
//! id's last result, for `explain`, `status` and `gc`), `locks/KEY.lock`, `state/KEY/` (what a
//! running stage keeps across a crash: checkpoints), `tmp/` (work dirs, named by host and pid),
//! `failed/` (logs of failed stages), `items/` (per-item results of evaluations) and `index/`
//! (`files.json`, the file memo, see `file_memo`; compacted by `gc`). Everything in `index/` is a
//! hint that can be deleted at any time.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Context, Result};

use crate::file_memo::FileMemo;
use crate::items::ItemStore;
pub use crate::record::{FileEntry, InputRecord, Record, Stored};

pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Cache {
    root: PathBuf,
    /// Hashes, records and last-key pointers already read by this or an earlier run.
    files: FileMemo,
    tmp_counter: AtomicU64,
}

/// What the file memo learned is written when the process is done with the cache (and by
/// `save_index` earlier).
impl Drop for Cache {
    fn drop(&mut self) {
        self.save_index();
    }
}

/// Replaces `/` and `%` so a stage id is one file name.
pub fn escape_id(id: &str) -> String {
    id.replace('%', "%25").replace('/', "%2F")
}

/// Hash of a set of files: over sorted (relative path, content hash, executable bit).
pub fn tree_hash(files: &[FileEntry]) -> String {
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut h = blake3::Hasher::new();
    h.update(b"syco-tree-v1\n");
    for f in sorted {
        h.update(f.path.as_bytes());
        h.update(b"\0");
        h.update(f.hash.as_bytes());
        h.update(if f.executable { b"\0x\n" } else { b"\0-\n" });
    }
    h.finalize().to_hex().to_string()
}

fn hash_reader(mut r: impl Read) -> io::Result<String> {
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_hex().to_string())
}

fn fsync_dir(dir: &Path) {
    // Directory fsync makes a rename durable; failure (e.g. unsupported FS) only weakens durability.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// This machine's name, so temp files of jobs on other nodes sharing the cache are told apart.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates when it fits.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if r == 0 { String::from_utf8_lossy(buf.split(|&b| b == 0).next().unwrap_or_default()).into_owned() } else { String::new() };
    // `+` ends the host part of a temp name; hostnames never hold it, but be sure.
    let name = name.replace(['+', '/'], "_");
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// Prefix of this process's temp names: `HOST+PID`.
fn temp_owner() -> String {
    format!("{}+{}", hostname(), std::process::id())
}

/// Whether a temp name (`HOST+PID-...`, or the older `PID-...`) belongs to a process on this
/// machine that is gone. Another host's files are never judged: its job may still be running.
fn temp_abandoned(name: &str) -> bool {
    let (host, rest) = match name.split_once('+') {
        Some((h, r)) => (Some(h), r),
        None => (None, name),
    };
    if host.is_some_and(|h| h != hostname()) {
        return false;
    }
    let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
    pid.is_some_and(|p| p != std::process::id() && !pid_alive(p))
}

/// Is the process with this id alive (on this machine)?
fn pid_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Held while a stage with this key is being computed; released on drop (or by the OS on a crash).
pub struct KeyLock {
    _file: File,
}

/// A folder a stage writes into before its result is published.
pub struct WorkDir {
    pub root: PathBuf,
    pub out: PathBuf,
    pub scratch: PathBuf,
    pub log: PathBuf,
}

/// Removed on drop, so no exit path (an error in `publish`, a full disk) leaves it behind.
impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = remove_tree(&self.root);
    }
}

#[derive(Debug, Default)]
pub struct GcReport {
    pub records_removed: usize,
    pub objects_removed: usize,
    pub bytes_freed: u64,
    pub temp_removed: usize,
    /// Entries of the file memo whose file is gone or changed.
    pub memo_entries_removed: usize,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub objects_checked: usize,
    pub corrupt_objects: Vec<String>,
    pub records_removed: Vec<String>,
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache> {
        for sub in ["objects", "records", "stages", "locks", "tmp", "state", "items", "index", "failed"] {
            let p = root.join(sub);
            if !p.is_dir() {
                fs::create_dir_all(&p).with_context(|| format!("cannot create cache folder {}", p.display()))?;
            }
        }
        // Absolute, so paths handed to stages (SYCO_IN_*) still resolve from their scratch folder.
        let root = fs::canonicalize(root).with_context(|| format!("cannot open cache {}", root.display()))?;
        let files = FileMemo::new(root.join("index").join("files.json"));
        Ok(Cache { root, files, tmp_counter: AtomicU64::new(0) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn object_path(&self, hash: &str) -> PathBuf {
        self.root.join("objects").join(&hash[..2]).join(&hash[2..])
    }

    pub fn record_dir(&self, key: &str) -> PathBuf {
        self.root.join("records").join(key)
    }

    /// The output folder of a published result.
    pub fn output_dir(&self, key: &str) -> PathBuf {
        self.record_dir(key).join("out")
    }

    pub fn log_path(&self, key: &str) -> PathBuf {
        self.record_dir(key).join("log.txt")
    }

    pub fn failed_log_path(&self, stage: &str) -> PathBuf {
        self.root.join("failed").join(format!("{}.log.txt", escape_id(stage)))
    }

    pub fn items(&self) -> ItemStore {
        ItemStore::new(self.root.join("items"))
    }

    pub fn state_dir(&self, key: &str) -> PathBuf {
        self.root.join("state").join(key)
    }

    /// The published record for `key`, if any.
    pub fn record(&self, key: &str) -> Option<Record> {
        let text = fs::read(self.record_dir(key).join("record.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn has_record(&self, key: &str) -> bool {
        self.record_dir(key).join("record.json").exists()
    }

    /// Key of the last result published (or found cached) for a stage id.
    pub fn last_key(&self, stage: &str) -> Option<String> {
        self.files.last_key(&self.root.join("stages").join(escape_id(stage)))
    }

    pub fn set_last_key(&self, stage: &str, key: &str) -> Result<()> {
        if self.last_key(stage).as_deref() == Some(key) {
            return Ok(());
        }
        let dir = self.root.join("stages");
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(key.as_bytes())?;
        let path = dir.join(escape_id(stage));
        tmp.persist(&path).map_err(|e| e.error)?;
        self.files.wrote_last_key(&path, key);
        Ok(())
    }

    /// Every stage id with a last result.
    pub fn last_keys(&self) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for e in fs::read_dir(self.root.join("stages"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp") {
                continue;
            }
            let id = name.replace("%2F", "/").replace("%25", "%");
            if let Ok(k) = fs::read_to_string(e.path()) {
                out.insert(id, k.trim().to_string());
            }
        }
        Ok(out)
    }

    /// Blocks until no other process computes `key`.
    pub fn lock_key(&self, key: &str) -> Result<KeyLock> {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open lock {}", path.display()))?;
        file.lock().with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(KeyLock { _file: file })
    }

    /// A fresh temp folder named after this process, so `gc` can tell abandoned ones.
    pub fn work_dir(&self, stage: &str) -> Result<WorkDir> {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let root = self.root.join("tmp").join(format!("{}-{}-{}", temp_owner(), n, escape_id(stage)));
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        let wd = WorkDir { out: root.join("out"), scratch: root.join("scratch"), log: root.join("log.txt"), root };
        fs::create_dir_all(&wd.out)?;
        fs::create_dir_all(&wd.scratch)?;
        Ok(wd)
    }

    /// Content hash of a file, memoised by (path, size, mtime, inode) across runs.
    pub fn hash_file(&self, path: &Path) -> Result<String> {
        let abs = fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
        self.files.hash(&abs, |f| hash_reader(f)).with_context(|| format!("cannot read {}", abs.display()))
    }

    /// A temp path for writing the file memo, named after this process so `gc` can tell it.
    fn memo_temp(&self) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!("{}-{}-files-memo", temp_owner(), n))
    }

    /// Writes what the file memo learned so far (merged with other processes' entries), so a
    /// later crash of this process does not cost the next one a rehash.
    pub fn save_index(&self) {
        self.files.save(&self.memo_temp());
    }

    /// Whether the object for `hash` is present, `size` bytes long and still hashes to its name.
    /// A stat per call; the hash is memoised by (inode, size, mtime), so an object is read once
    /// and again only after something wrote to it. A damaged object is deleted, so the next
    /// store of that content writes a good one.
    pub fn object_intact(&self, hash: &str, size: u64) -> bool {
        let obj = self.object_path(hash);
        let Ok(meta) = fs::symlink_metadata(&obj) else { return false };
        if meta.is_file() && meta.size() == size && self.files.hash(&obj, |f| hash_reader(f)).is_ok_and(|h| h == hash) {
            return true;
        }
        let _ = fs::remove_file(&obj);
        false
    }

    /// The published record for `key` if it can be used: every file's object intact (see
    /// `object_intact`). The record's `out/` files are hard links to those objects.
    pub fn intact_record(&self, key: &str) -> Option<Record> {
        let rec = self.record(key)?;
        self.objects_intact(&rec.files).then_some(rec)
    }

    /// `intact_record` for the scheduler's question (can this stage be skipped, with which
    /// output tree?), answered from the file memo: a stat of the record, none of its contents,
    /// unless it changed since a run read it.
    pub fn intact(&self, key: &str) -> Option<Stored> {
        let stored = self.files.stored(&self.record_dir(key).join("record.json"))?;
        self.objects_intact(&stored.files).then_some(stored)
    }

    fn objects_intact(&self, files: &[FileEntry]) -> bool {
        files.iter().all(|f| self.object_intact(&f.hash, f.size))
    }

    /// Removes the record folder of `key` (caller holds the key lock): renamed into tmp/ first,
    /// so a crash mid-delete never leaves a half-deleted folder under records/.
    pub fn discard_record(&self, key: &str) -> Result<()> {
        let dir = self.record_dir(key);
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let aside = self.root.join("tmp").join(format!("{}-{}-discarded-{}", temp_owner(), n, key));
        match fs::rename(&dir, &aside) {
            Ok(()) => remove_tree(&aside).with_context(|| format!("cannot remove {}", aside.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot move {} aside", dir.display())),
        }
    }

    /// Moves every file under `out` into the object store and lists them.
    fn store_objects(&self, out: &Path) -> Result<Vec<FileEntry>> {
        let mut files = Vec::new();
        let mut stack = vec![out.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in fs::read_dir(&dir)? {
                let e = e?;
                let path = e.path();
                let rel = path.strip_prefix(out).expect("walked under out").to_string_lossy().replace('\\', "/");
                // Not followed: a link to `/` would copy the filesystem, a loop would never end.
                let meta = fs::symlink_metadata(&path).with_context(|| format!("cannot read output {}", path.display()))?;
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                if !meta.is_file() {
                    bail!("output `{rel}` is a symlink or special file: outs must be regular files or folders");
                }
                let hash = hash_reader(File::open(&path)?)?;
                let obj = self.object_path(&hash);
                if !self.object_intact(&hash, meta.size()) {
                    let parent = obj.parent().expect("object has a parent");
                    fs::create_dir_all(parent)?;
                    let tmp = parent.join(format!(".tmp-{}-{}", temp_owner(), self.tmp_counter.fetch_add(1, Ordering::Relaxed)));
                    let written = (|| -> io::Result<()> {
                        // Moved when it is the file's only name (the work dir goes away anyway);
                        // copied when it may be a hard link to an input, which must not change mode.
                        if meta.nlink() > 1 || fs::rename(&path, &tmp).is_err() {
                            fs::copy(&path, &tmp)?;
                        }
                        File::open(&tmp)?.sync_all()?;
                        fs::set_permissions(&tmp, fs::Permissions::from_mode(if meta.mode() & 0o111 != 0 { 0o555 } else { 0o444 }))?;
                        fs::rename(&tmp, &obj)?;
                        // Known good now: later cache hits check it by a stat, without rehashing.
                        self.files.knew_hash(&obj, &hash);
                        Ok(())
                    })();
                    if let Err(e) = written {
                        // A partial object on a full disk would keep the disk full.
                        let _ = fs::remove_file(&tmp);
                        return Err(e).with_context(|| format!("cannot store output `{rel}`"));
                    }
                }
                files.push(FileEntry { path: rel, hash, size: meta.size(), executable: meta.mode() & 0o111 != 0 });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Stores the work dir's output and publishes `record` (its `tree` and `files` filled in here)
    /// by renaming a complete folder into place. Returns the finished record. The caller holds
    /// the key lock.
    pub fn publish(&self, wd: &WorkDir, mut record: Record) -> Result<Record> {
        let files = self.store_objects(&wd.out)?;
        record.tree = tree_hash(&files);
        record.files = files;
        record.created_unix = now_unix();
        let staging = wd.root.join("record");
        let out = staging.join("out");
        fs::create_dir_all(&out)?;
        for f in &record.files {
            let dest = out.join(&f.path);
            if let Some(p) = dest.parent() {
                fs::create_dir_all(p)?;
            }
            let obj = self.object_path(&f.hash);
            if fs::hard_link(&obj, &dest).is_err() {
                fs::copy(&obj, &dest)?;
            }
        }
        if wd.log.exists() {
            fs::rename(&wd.log, staging.join("log.txt"))?;
        }
        let json = serde_json::to_vec_pretty(&record)?;
        let mut f = File::create(staging.join("record.json"))?;
        f.write_all(&json)?;
        f.sync_all()?;
        fsync_dir(&staging);
        let dest = self.record_dir(&record.key);
        if dest.exists() {
            if let Some(first) = self.record(&record.key) {
                // Published meanwhile by a process that did not honour the lock: keep the first.
                return Ok(first);
            }
            // A half-written or unreadable record (a crash, a disk error) would block this key
            // forever: replace it.
            self.discard_record(&record.key)?;
        }
        // No fsync of records/ after the rename: losing the rename to a power cut costs a rerun,
        // never consistency (the objects and the record were synced before it).
        fs::rename(&staging, &dest).with_context(|| format!("cannot publish {}", dest.display()))?;
        Ok(record)
    }

    /// Drops records no stage id points at as its last result, objects no record references,
    /// and temp folders of processes that are gone.
    pub fn gc(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        let keep: HashSet<String> = self.last_keys()?.into_values().collect();
        let mut referenced = HashSet::new();
        for e in fs::read_dir(self.root.join("records"))? {
            let e = e?;
            let key = e.file_name().to_string_lossy().into_owned();
            if keep.contains(&key) {
                if let Some(r) = self.record(&key) {
                    referenced.extend(r.files.into_iter().map(|f| f.hash));
                    continue;
                }
            }
            let _lock = self.lock_key(&key)?;
            remove_tree(&e.path())?;
            let _ = fs::remove_file(self.root.join("locks").join(format!("{key}.lock")));
            report.records_removed += 1;
        }
        for e in fs::read_dir(self.root.join("objects"))? {
            let dir = e?.path();
            if !dir.is_dir() {
                continue;
            }
            for o in fs::read_dir(&dir)? {
                let o = o?;
                let name = o.file_name().to_string_lossy().into_owned();
                let hash = format!("{}{}", dir.file_name().unwrap_or_default().to_string_lossy(), name);
                let unreferenced = match name.strip_prefix(".tmp-") {
                    Some(owner) => temp_abandoned(owner),
                    None => !referenced.contains(&hash),
                };
                if unreferenced {
                    report.bytes_freed += o.metadata().map(|m| m.len()).unwrap_or(0);
                    fs::remove_file(o.path())?;
                    report.objects_removed += 1;
                }
            }
        }
        for e in fs::read_dir(self.root.join("tmp"))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if temp_abandoned(&name) {
                remove_tree(&e.path())?;
                report.temp_removed += 1;
            }
        }
        // The memo keeps entries for every file it ever read; drop those of removed or changed files.
        (_, report.memo_entries_removed) = self.files.compact(&self.memo_temp()).context("cannot compact the file memo")?;
        // The hash memo of earlier versions, now part of `files.json`.
        let _ = fs::remove_file(self.root.join("index").join("hashes.tsv"));
        Ok(report)
    }

    /// Rehashes every object; drops corrupt ones and every record that references them.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut corrupt = HashSet::new();
        for e in fs::read_dir(self.root.join("objects"))? {
            let dir = e?.path();
            if !dir.is_dir() {
                continue;
            }
            let prefix = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            for o in fs::read_dir(&dir)? {
                let o = o?;
                let name = o.file_name().to_string_lossy().into_owned();
                if name.starts_with(".tmp-") {
                    continue;
                }
                report.objects_checked += 1;
                let expected = format!("{prefix}{name}");
                let actual = File::open(o.path()).and_then(hash_reader).unwrap_or_default();
                if actual != expected {
                    fs::remove_file(o.path())?;
                    report.corrupt_objects.push(expected.clone());
                    corrupt.insert(expected);
                }
            }
        }
        for e in fs::read_dir(self.root.join("records"))? {
            let e = e?;
            let key = e.file_name().to_string_lossy().into_owned();
            let bad = match self.record(&key) {
                Some(r) => r.files.iter().any(|f| corrupt.contains(&f.hash) || !self.object_path(&f.hash).exists()),
                None => true,
            };
            if bad {
                let _lock = self.lock_key(&key)?;
                remove_tree(&e.path())?;
                report.records_removed.push(key);
            }
        }
        if !report.records_removed.is_empty() || !report.corrupt_objects.is_empty() {
            self.files.compact(&self.memo_temp()).context("cannot compact the file memo")?;
        }
        Ok(report)
    }
}

/// Removes a folder tree that may hold read-only files.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            // Read-only folders block deletion for non-root users: make them writable and retry.
            let mut stack = vec![path.to_path_buf()];
            while let Some(d) = stack.pop() {
                let _ = fs::set_permissions(&d, fs::Permissions::from_mode(0o755));
                if let Ok(rd) = fs::read_dir(&d) {
                    for e in rd.flatten() {
                        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            stack.push(e.path());
                        }
                    }
                }
            }
            fs::remove_dir_all(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str) -> Record {
        Record {
            key: key.into(),
            stage: "stages/a".into(),
            kind: "command".into(),
            version: 1,
            params: BTreeMap::new(),
            inputs: BTreeMap::new(),
            extras: BTreeMap::new(),
            engine_version: ENGINE_VERSION.into(),
            tree: String::new(),
            files: vec![],
            created_unix: 0,
            duration_s: 0.0,
        }
    }

    #[test]
    fn publish_gc_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let wd = cache.work_dir("stages/a").unwrap();
        fs::write(wd.out.join("x.txt"), "hello").unwrap();
        fs::create_dir(wd.out.join("sub")).unwrap();
        fs::write(wd.out.join("sub/y.txt"), "world").unwrap();
        let rec = cache.publish(&wd, record("k1")).unwrap();
        assert_eq!(rec.files.len(), 2);
        assert_eq!(fs::read_to_string(cache.output_dir("k1").join("sub/y.txt")).unwrap(), "world");
        assert!(cache.has_record("k1"));
        // Same content, same tree.
        let wd2 = cache.work_dir("stages/b").unwrap();
        fs::write(wd2.out.join("x.txt"), "hello").unwrap();
        fs::create_dir(wd2.out.join("sub")).unwrap();
        fs::write(wd2.out.join("sub/y.txt"), "world").unwrap();
        let rec2 = cache.publish(&wd2, record("k2")).unwrap();
        assert_eq!(rec.tree, rec2.tree);

        cache.set_last_key("stages/a", "k1").unwrap();
        let gc = cache.gc().unwrap();
        assert_eq!(gc.records_removed, 1);
        assert!(cache.has_record("k1") && !cache.has_record("k2"));

        // Corrupt an object: verify drops it and the record.
        let obj = cache.object_path(&rec.files[0].hash);
        fs::set_permissions(&obj, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&obj, "tampered").unwrap();
        let v = cache.verify().unwrap();
        assert_eq!(v.corrupt_objects.len(), 1);
        assert_eq!(v.records_removed, vec!["k1".to_string()]);
        assert!(!cache.has_record("k1"));
    }

    #[test]
    fn an_output_with_a_second_name_is_copied_into_the_store_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c")).unwrap();
        let input = dir.path().join("input.txt");
        fs::write(&input, "shared").unwrap();
        fs::set_permissions(&input, fs::Permissions::from_mode(0o644)).unwrap();
        let wd = cache.work_dir("stages/a").unwrap();
        fs::hard_link(&input, wd.out.join("linked.txt")).unwrap();
        fs::write(wd.out.join("own.txt"), "mine").unwrap();
        let rec = cache.publish(&wd, record("k1")).unwrap();
        // The input keeps its name, content and mode; the store holds read-only copies.
        assert_eq!(fs::read_to_string(&input).unwrap(), "shared");
        assert_eq!(fs::metadata(&input).unwrap().mode() & 0o777, 0o644);
        for f in &rec.files {
            let obj = cache.object_path(&f.hash);
            assert_eq!(fs::metadata(&obj).unwrap().mode() & 0o222, 0, "{} is writable", f.path);
            assert_ne!(fs::metadata(&obj).unwrap().ino(), fs::metadata(&input).unwrap().ino());
        }
        assert_eq!(fs::read_to_string(cache.output_dir("k1").join("own.txt")).unwrap(), "mine");
        assert!(cache.intact("k1").is_some());
    }

    #[test]
    fn hash_file_is_memoised_and_tracks_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c")).unwrap();
        let f = dir.path().join("w.bin");
        fs::write(&f, "abc").unwrap();
        let h1 = cache.hash_file(&f).unwrap();
        assert_eq!(h1, blake3::hash(b"abc").to_hex().to_string());
        let again = Cache::open(&dir.path().join("c")).unwrap();
        assert_eq!(again.hash_file(&f).unwrap(), h1);
        fs::write(&f, "abcd").unwrap();
        assert_eq!(again.hash_file(&f).unwrap(), blake3::hash(b"abcd").to_hex().to_string());
    }

    #[test]
    fn gc_compacts_the_file_memo_to_files_that_still_exist() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("c");
        let (kept, gone) = (dir.path().join("kept.bin"), dir.path().join("gone.bin"));
        fs::write(&kept, "k").unwrap();
        fs::write(&gone, "g").unwrap();
        let cache = Cache::open(&root).unwrap();
        cache.hash_file(&kept).unwrap();
        cache.hash_file(&gone).unwrap();
        drop(cache);
        let memo_paths = || -> Vec<String> {
            let v: serde_json::Value = serde_json::from_slice(&fs::read(root.join("index/files.json")).unwrap()).unwrap();
            let mut keys: Vec<String> = v["files"].as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        let canon = |p: &Path| fs::canonicalize(p).unwrap().to_string_lossy().into_owned();
        assert_eq!(memo_paths(), vec![canon(&gone), canon(&kept)]);
        let gone_name = canon(&gone);
        fs::remove_file(&gone).unwrap();
        fs::write(root.join("index/hashes.tsv"), "a memo of an earlier version\n").unwrap();

        let report = Cache::open(&root).unwrap().gc().unwrap();
        assert_eq!(report.memo_entries_removed, 1);
        assert!(!memo_paths().contains(&gone_name));
        assert_eq!(memo_paths(), vec![canon(&kept)]);
        assert!(!root.join("index/hashes.tsv").exists());
    }

    #[test]
    fn run_time_check_finds_damaged_objects_and_publish_replaces_a_broken_record() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let wd = cache.work_dir("stages/a").unwrap();
        fs::write(wd.out.join("x.txt"), "hello world").unwrap();
        let rec = cache.publish(&wd, record("k1")).unwrap();
        drop(wd);
        assert!(cache.intact_record("k1").is_some());
        // Same size, one byte changed in place (mtime moves): the memo misses, the rehash differs.
        let obj = cache.object_path(&rec.files[0].hash);
        fs::set_permissions(&obj, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&obj, "hello World").unwrap();
        assert!(cache.intact_record("k1").is_none());
        assert!(!obj.exists(), "a damaged object is deleted so the next store rewrites it");
        // A half-written record.json does not block republishing the key.
        let json = cache.record_dir("k1").join("record.json");
        fs::set_permissions(&json, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&json, "{\"key\": ").unwrap();
        let wd = cache.work_dir("stages/a").unwrap();
        fs::write(wd.out.join("x.txt"), "hello world").unwrap();
        let again = cache.publish(&wd, record("k1")).unwrap();
        assert_eq!(again.tree, rec.tree);
        assert!(cache.intact_record("k1").is_some());
        assert_eq!(fs::read_to_string(cache.output_dir("k1").join("x.txt")).unwrap(), "hello world");
        drop(wd);
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0, "work and discarded folders are removed");
    }

    #[test]
    fn symlink_outputs_are_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c")).unwrap();
        let wd = cache.work_dir("stages/a").unwrap();
        std::os::unix::fs::symlink("/", wd.out.join("root")).unwrap();
        let err = format!("{:#}", cache.publish(&wd, record("k1")).unwrap_err());
        assert!(err.contains("`root`") && err.contains("regular files or folders"), "{err}");
        let wd = cache.work_dir("stages/b").unwrap();
        fs::create_dir(wd.out.join("d")).unwrap();
        std::os::unix::fs::symlink("..", wd.out.join("d/loop")).unwrap();
        assert!(cache.publish(&wd, record("k2")).is_err());
        assert!(!cache.has_record("k1") && !cache.has_record("k2"));
    }

    #[test]
    fn relative_root_is_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let rel = dir.path().strip_prefix(std::env::current_dir().unwrap()).map(Path::to_path_buf);
        // The test's temp folder is usually not under the working folder; build a relative path.
        let rel = rel.unwrap_or_else(|_| {
            let depth = std::env::current_dir().unwrap().components().count() - 1;
            let mut p: PathBuf = std::iter::repeat_n("..", depth).collect();
            p.push(dir.path().strip_prefix("/").unwrap());
            p
        });
        let cache = Cache::open(&rel.join("c")).unwrap();
        assert!(cache.root().is_absolute());
        assert_eq!(cache.root(), fs::canonicalize(dir.path().join("c")).unwrap());
    }

    #[test]
    fn gc_skips_temp_files_of_other_hosts_and_live_processes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        // No process has this id on Linux (pid_max is at most 2^22).
        let dead = 99_999_999u32;
        let tmp = cache.root().join("tmp");
        let other_host = tmp.join(format!("{}-elsewhere+{dead}-0-stages%2Fa", hostname()));
        let mine_dead = tmp.join(format!("{}+{dead}-0-stages%2Fa", hostname()));
        let mine_alive = tmp.join(format!("{}-1-stages%2Fa", temp_owner()));
        let legacy_dead = tmp.join(format!("{dead}-0-stages%2Fa"));
        for d in [&other_host, &mine_dead, &mine_alive, &legacy_dead] {
            fs::create_dir_all(d).unwrap();
        }
        let objs = cache.root().join("objects").join("ab");
        fs::create_dir_all(&objs).unwrap();
        let other_obj = objs.join(format!(".tmp-{}-elsewhere+{dead}-0", hostname()));
        let dead_obj = objs.join(format!(".tmp-{}+{dead}-0", hostname()));
        fs::write(&other_obj, "x").unwrap();
        fs::write(&dead_obj, "x").unwrap();
        let report = cache.gc().unwrap();
        assert_eq!(report.temp_removed, 2);
        assert!(other_host.exists() && mine_alive.exists());
        assert!(!mine_dead.exists() && !legacy_dead.exists());
        assert!(other_obj.exists() && !dead_obj.exists());
    }
}
