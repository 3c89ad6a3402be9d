//! The crate's error type.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::raft::ConfigError;

/// Everything that can stop a node from starting or running.
#[derive(Debug, Error)]
pub enum Error {
    /// A listen address could not be bound (in use, or not local).
    #[error("cannot listen on {role} address {addr}: {source}")]
    Bind {
        /// `client` or `peer`.
        role: &'static str,
        /// The address as given.
        addr: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The data directory could not be created or read.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// Reading, writing or syncing the log file failed.
    #[error("log file {path}: {source}")]
    Wal {
        /// The log file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The log file is damaged before its end: a complete record fails its
    /// checksum or makes no sense, or valid records follow a broken one. A
    /// torn tail (an incomplete last record) is repaired instead; damage
    /// before the end is refused, since cutting it off would silently forget
    /// entries and votes that were acknowledged.
    #[error(
        "log file {path} is damaged at byte {offset}: {reason}; refusing to start \
         (a torn tail would be an incomplete last record; restore the file or wipe the node)"
    )]
    WalDamaged {
        /// The log file.
        path: PathBuf,
        /// Where the first bad record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The settings cannot work together.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A flag was well-formed but unusable.
    #[error("{0}")]
    Usage(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T> = std::result::Result<T, Error>;
