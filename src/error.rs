//! The crate's error type: every failure a user can cause names the file or key at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what it should be.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A configuration key is unknown, of the wrong type or out of range.
    #[error("config key `{key}`: {msg}")]
    Config { key: String, msg: String },
    /// A download failed or did not verify.
    #[error("download {url}: {msg}")]
    Download { url: String, msg: String },
    /// The caller stopped a run (Ctrl-C in Python); nothing was written.
    #[error("interrupted after epoch {epoch}")]
    Interrupted { epoch: usize },
    /// Anything else the caller asked for that cannot be done.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.into(), msg: msg.into() }
    }
    pub fn config(key: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { key: key.into(), msg: msg.into() }
    }
}
