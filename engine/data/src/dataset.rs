//! A built dataset on disk (the `data/NAME` stage output): `train.jsonl` and `test.jsonl` in
//! canonical form, and `dataset.json` with the kind and counts.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::kind::Kind;
use crate::load::{read_jsonl, write_jsonl};
use crate::record::Record;

pub const TRAIN_FILE: &str = "train.jsonl";
pub const TEST_FILE: &str = "test.jsonl";
pub const META_FILE: &str = "dataset.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetMeta {
    pub kind: Kind,
    pub train: usize,
    pub test: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub kind: Kind,
    pub train: Vec<Record>,
    pub test: Vec<Record>,
}

impl Dataset {
    pub fn meta(&self) -> DatasetMeta {
        DatasetMeta { kind: self.kind, train: self.train.len(), test: self.test.len() }
    }

    /// Writes the three files into `dir` (created if missing).
    pub fn write_dir(&self, dir: &Path) -> Result<(), DataError> {
        fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        write_jsonl(&dir.join(TRAIN_FILE), &self.train)?;
        write_jsonl(&dir.join(TEST_FILE), &self.test)?;
        let meta_path = dir.join(META_FILE);
        let json = serde_json::to_string_pretty(&self.meta()).map_err(|e| DataError::Invalid(e.to_string()))?;
        fs::write(&meta_path, json + "\n").map_err(|e| DataError::io(&meta_path, e))
    }

    /// Reads a directory written by `write_dir`, checking the counts against `dataset.json`.
    pub fn read_dir(dir: &Path) -> Result<Dataset, DataError> {
        let meta_path = dir.join(META_FILE);
        let text = fs::read_to_string(&meta_path).map_err(|e| DataError::io(&meta_path, e))?;
        let meta: DatasetMeta = serde_json::from_str(&text).map_err(|e| DataError::Syntax {
            file: meta_path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        let train = read_jsonl(&dir.join(TRAIN_FILE))?;
        let test = read_jsonl(&dir.join(TEST_FILE))?;
        let dataset = Dataset { kind: meta.kind, train, test };
        if dataset.meta() != meta {
            return Err(DataError::Invalid(format!(
                "{}: says {} train / {} test records, the files hold {} / {}",
                meta_path.display(),
                meta.train,
                meta.test,
                dataset.train.len(),
                dataset.test.len()
            )));
        }
        Ok(dataset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_dir_round_trips_and_checks_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let records = crate::builtin::generate(Kind::Mmlu, 5, 1);
        let ds = Dataset { kind: Kind::Mmlu, train: records[..3].to_vec(), test: records[3..].to_vec() };
        ds.write_dir(tmp.path()).unwrap();
        assert_eq!(Dataset::read_dir(tmp.path()).unwrap(), ds);
        fs::write(tmp.path().join(META_FILE), r#"{"kind":"mmlu","train":4,"test":2}"#).unwrap();
        let err = Dataset::read_dir(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("says 4 train / 2 test records, the files hold 3 / 2"), "{err}");
    }
}
