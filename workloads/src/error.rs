//! The crate's error type.

/// What can go wrong in this crate that a caller can observe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A workload name that is not one of [`crate::Workload::ALL`].
    #[error(
        "unknown workload {name:?}; expected one of register, append, counter, set, queue, txn"
    )]
    UnknownWorkload {
        /// The name given.
        name: String,
    },
}

/// This crate's `Result`.
pub type Result<T> = std::result::Result<T, Error>;
