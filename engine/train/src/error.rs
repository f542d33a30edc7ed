//! Errors of the training crate: values, never panics, with the file or field at fault.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A configuration field has a value the trainer cannot use.
    #[error("train config field `{field}`: {message}")]
    Config { field: &'static str, message: String },
    /// The loss went NaN or infinite; `step` is the 1-based optimizer step being computed.
    #[error("loss is not finite ({loss}) at optimizer step {step}")]
    NonFiniteLoss { step: usize, loss: f64 },
    /// A trainable tensor received no gradient: the model detached it somewhere.
    #[error("no gradient reached trainable tensor `{0}` (detached in the forward pass?)")]
    NoGradient(String),
    /// Input data cannot be trained on (empty set, empty example, ...).
    #[error("training data: {0}")]
    Data(String),
    /// An adapter or checkpoint file is malformed.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Adapters cannot be combined as asked.
    #[error("combine: {0}")]
    Combine(String),
    /// The progress callback asked to stop; the latest checkpoint (if any) lets a later call resume.
    #[error("training interrupted after optimizer step {step}")]
    Interrupted { step: usize },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { path, source }
}

pub(crate) fn file_err(path: impl Into<PathBuf>, message: impl Into<String>) -> TrainError {
    TrainError::File { path: path.into(), message: message.into() }
}
