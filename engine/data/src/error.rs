//! Errors are values that name where the input is bad: `FILE:LINE: field `x`: what is wrong`.

use std::path::{Path, PathBuf};

/// A problem with one field of one input record, before it is tied to a file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `base.correct_letter` (empty when the whole record is wrong).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }

    /// Ties the error to a place in a file.
    pub fn at(self, file: &Path, line: usize) -> DataError {
        DataError::Field { file: file.to_path_buf(), line, field: self.field, message: self.message }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}:{line}: field `{field}`: {message}", file.display())]
    Field { file: PathBuf, line: usize, field: String, message: String },
    #[error("{}:{line}: {message}", file.display())]
    Syntax { file: PathBuf, line: usize, message: String },
    #[error("{}: {source}", file.display())]
    Io { file: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub(crate) fn io(file: &Path, source: std::io::Error) -> Self {
        DataError::Io { file: file.to_path_buf(), source }
    }
    pub(crate) fn syntax(file: &Path, line: usize, message: impl Into<String>) -> Self {
        DataError::Syntax { file: file.to_path_buf(), line, message: message.into() }
    }
}
