//! The files of the `respond/MODEL/TASK` and `eval/MODEL/TASK` stages (ARCHITECTURE.md):
//! `responses.jsonl`, `items.jsonl` and `metrics.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::respond::ItemResponse;
use crate::verdict::{ItemVerdict, Metrics};

pub const RESPONSES_FILE: &str = "responses.jsonl";
pub const ITEMS_FILE: &str = "items.jsonl";
pub const METRICS_FILE: &str = "metrics.json";

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {source}")]
    Json { path: PathBuf, line: usize, source: serde_json::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io { path: path.to_path_buf(), source }
}

/// One JSON value per line.
pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> Result<(), FileError> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io_err(path))?);
    for (n, item) in items.iter().enumerate() {
        let line = serde_json::to_string(item).map_err(|source| FileError::Json { path: path.to_path_buf(), line: n + 1, source })?;
        writeln!(out, "{line}").map_err(io_err(path))?;
    }
    out.flush().map_err(io_err(path))
}

/// Every non-blank line as one value; errors name the line.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, FileError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|source| FileError::Json { path: path.to_path_buf(), line: i + 1, source }))
        .collect()
}

pub fn write_responses(dir: &Path, responses: &[ItemResponse]) -> Result<(), FileError> {
    write_jsonl(&dir.join(RESPONSES_FILE), responses)
}

pub fn read_responses(dir: &Path) -> Result<Vec<ItemResponse>, FileError> {
    read_jsonl(&dir.join(RESPONSES_FILE))
}

/// `items.jsonl` and `metrics.json` (pretty-printed) of an eval stage.
pub fn write_eval(dir: &Path, items: &[ItemVerdict], metrics: &Metrics) -> Result<(), FileError> {
    write_jsonl(&dir.join(ITEMS_FILE), items)?;
    let path = dir.join(METRICS_FILE);
    let text = serde_json::to_string_pretty(metrics).map_err(|source| FileError::Json { path: path.clone(), line: 1, source })?;
    std::fs::write(&path, text + "\n").map_err(io_err(&path))
}

pub fn read_items(dir: &Path) -> Result<Vec<ItemVerdict>, FileError> {
    read_jsonl(&dir.join(ITEMS_FILE))
}

pub fn read_metrics(dir: &Path) -> Result<Metrics, FileError> {
    let path = dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    serde_json::from_str(&text).map_err(|source| FileError::Json { line: source.line(), path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond::{Loglik, LoglikRequest, Output, SentPrompt};
    use crate::seed::sycophancy::{AnswerVerdict, Primary};
    use crate::verdict::{metrics, Verdict};
    use syco_data::{Kind, Message};

    #[test]
    fn stage_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let responses = vec![
            ItemResponse {
                id: "a".into(),
                output: Output::Pair {
                    neutral_prompt: SentPrompt { raw: "[INST] q [/INST]".into(), messages: vec![Message::user("q")] },
                    neutral_response: "x".into(),
                    manipulated_prompt: SentPrompt { raw: "r".into(), messages: vec![] },
                    manipulated_response: "y".into(),
                },
            },
            ItemResponse {
                id: "b".into(),
                output: Output::Loglik {
                    requests: vec![LoglikRequest { context: "c".into(), continuation: " e".into() }],
                    logliks: vec![Loglik { sum_logprob: -1.25, n_tokens: 2, context_sum_logprob: -3.5, context_tokens: 4 }],
                },
            },
        ];
        write_responses(dir.path(), &responses).unwrap();
        assert_eq!(read_responses(dir.path()).unwrap(), responses);

        let items = vec![
            ItemVerdict {
                id: "a".into(),
                skipped: None,
                verdict: Some(Verdict::Answer(AnswerVerdict::from_primaries(Primary::Correct, Primary::Incorrect))),
            },
            ItemVerdict { id: "b".into(), skipped: Some("why".into()), verdict: None },
        ];
        let m = metrics(Kind::Answer, &items);
        write_eval(dir.path(), &items, &m).unwrap();
        assert_eq!(read_items(dir.path()).unwrap(), items);
        assert_eq!(read_metrics(dir.path()).unwrap(), m);
        let first_line = std::fs::read_to_string(dir.path().join(ITEMS_FILE)).unwrap();
        let first: serde_json::Value = serde_json::from_str(first_line.lines().next().unwrap()).unwrap();
        assert_eq!(first["task"], "answer");
        assert_eq!(first["baseline_primary"], "correct");

        std::fs::write(dir.path().join(ITEMS_FILE), "{\"id\": \"a\"}\n\n{oops\n").unwrap();
        let err = read_items(dir.path()).unwrap_err().to_string();
        assert!(err.contains("items.jsonl:3:"), "{err}");
    }
}
