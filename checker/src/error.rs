//! The checker's error type: bad input, named by where it is and what was expected.

/// Everything that can go wrong before a verdict: unreadable or malformed input,
/// or a history that does not fit the chosen model. A violation is never an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line (or EDN form) could not be read.
    #[error("{source_name}:{line}: {reason}")]
    BadLine {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// What was wrong and what was expected.
        reason: String,
    },
    /// A completion with no open invoke of the same process.
    #[error("{source_name}:{line}: {kind} of process {process} has no open invoke before it")]
    UnmatchedCompletion {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number of the completion.
        line: u64,
        /// The process.
        process: u64,
        /// `ok`, `fail` or `info`.
        kind: String,
    },
    /// A process invoked while its previous operation was still open.
    #[error(
        "{source_name}:{line}: process {process} invokes again while its op from line {open_line} is still open"
    )]
    OverlappingInvoke {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number of the second invoke.
        line: u64,
        /// 1-based line number of the open invoke.
        open_line: u64,
        /// The process.
        process: u64,
    },
    /// An operation does not fit the model (unknown `f`, wrong value shape).
    #[error("{source_name}:{line}: {reason}")]
    ModelMismatch {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number of the operation's invoke.
        line: u64,
        /// What was expected.
        reason: String,
    },
    /// The format could not be recognised, or the model could not be inferred.
    #[error("{source_name}: {reason}")]
    Undecided {
        /// The file or stream name.
        source_name: String,
        /// What could not be decided and how to decide it.
        reason: String,
    },
    /// Reading the file failed.
    #[error("{source_name}: {source}")]
    Io {
        /// The file name.
        source_name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The checker's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
