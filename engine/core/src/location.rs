//! Where in a manifest something was written. Its own module so that manifests, stages and the
//! graph can all name a place without depending on one another.

use std::path::PathBuf;

/// Where in a manifest something was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}
