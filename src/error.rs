//! The crate's error type: every failure a user can cause names the file or key at fault.

use std::path::PathBuf;

/// Everything that can go wrong in the library, each variant naming what is at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not what it should be.
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A configuration key is unknown, of the wrong type or out of range.
    #[error("config key `{key}`: {msg}")]
    Config {
        /// The dotted key, e.g. `organism.width`.
        key: String,
        /// What is wrong with its value.
        msg: String,
    },
    /// A download failed or did not verify.
    #[error("download {url}: {msg}")]
    Download {
        /// The address fetched.
        url: String,
        /// What went wrong (HTTP status, checksum, size).
        msg: String,
    },
    /// The caller stopped a run (Ctrl-C in Python); nothing was written.
    #[error("interrupted after epoch {epoch}")]
    Interrupted {
        /// The last epoch completed.
        epoch: usize,
    },
    /// Anything else the caller asked for that cannot be done.
    #[error("{0}")]
    Invalid(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    /// An [`Error::Format`] in `path`.
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.into(), msg: msg.into() }
    }
    /// An [`Error::Config`] for `key`.
    pub fn config(key: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { key: key.into(), msg: msg.into() }
    }
}
