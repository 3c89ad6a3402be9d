//! The store's errors: every one names the path it is about.

use std::path::PathBuf;

/// What can go wrong writing a run to disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A directory could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be created, written or renamed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value could not be serialized.
    #[error("cannot serialize {what} for {path}: {source}")]
    Serialize {
        /// What was being written.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, Error>;
