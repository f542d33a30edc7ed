//! Per-item results of stages (one evaluated prompt each), kept in the cache's `items/` folder
//! by the hash of everything that determines them, so an interrupted stage resumes.

use std::io::Write;
use std::path::PathBuf;

/// Shared per-item results (e.g. one evaluated prompt), so an interrupted stage resumes.
#[derive(Debug, Clone)]
pub struct ItemStore {
    root: PathBuf,
}

impl ItemStore {
    pub(crate) fn new(root: PathBuf) -> Self {
        ItemStore { root }
    }

    fn path(&self, key: &blake3::Hash) -> PathBuf {
        let hex = key.to_hex();
        self.root.join(&hex[..2]).join(&hex[2..])
    }

    pub fn get(&self, key: &blake3::Hash) -> Option<Vec<u8>> {
        std::fs::read(self.path(key)).ok()
    }

    /// Atomic: a reader sees the whole value or none.
    pub fn put(&self, key: &blake3::Hash, value: &[u8]) -> std::io::Result<()> {
        let path = self.path(key);
        let dir = path.parent().expect("item path has a parent");
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(value)?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}
