//! Errors as values: every input problem names the model, file or field at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("model `{model}` has no {what} `{field}`")]
    Missing { model: String, what: &'static str, field: String },
    #[error("the analysis needs the baseline model `{0}` among the results")]
    NoBaseline(String),
    #[error("model `{0}` is listed in [analysis].models but has no results")]
    UnknownModel(String),
    #[error("{what} name `{name}` contains a dot, which would break the summary's dotted paths")]
    DottedName { what: &'static str, name: String },
    #[error("model `{0}` appears twice in the results")]
    DuplicateModel(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {msg}")]
    Json { path: PathBuf, line: usize, column: usize, msg: String },
    #[error("{path}: field `{field}`: {msg}")]
    Field { path: PathBuf, field: String, msg: String },
    #[error("font {path} is missing or unreadable ({detail}); install the Debian package `fonts-dejavu-core`")]
    Font { path: PathBuf, detail: String },
    #[error("drawing {figure}: {msg}")]
    Plot { figure: String, msg: String },
}

pub type Result<T> = std::result::Result<T, AnalysisError>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AnalysisError {
    let path = path.into();
    move |source| AnalysisError::Io { path, source }
}
