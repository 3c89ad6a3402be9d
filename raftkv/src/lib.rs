//! raftkv: a small Raft key-value node that can be broken on purpose.
//!
//! The reference system under test for faultline. It depends on none of
//! faultline's crates: it only speaks its HTTP client protocol
//! (`docs/protocol.md`) and its own peer protocol.
//!
//! Modules:
//! - [`raft`]: the Raft core, a state machine with no I/O (tick / step /
//!   propose / read_index, then ready / advance), where each `--bug` switch
//!   sits on the line of the rule it breaks;
//! - [`wal`]: the crash-safe append-only log file (length + CRC-32 records);
//! - [`kv`]: the replicated key-value state (registers, lists, counters,
//!   sets) and list-append transactions;
//! - [`transport`]: framed TCP between nodes, with bounded queues and reconnects;
//! - [`api`]: the client HTTP API (axum);
//! - [`node`]: the driver thread that ties them together;
//! - [`reply`]: the driver's answers to client requests, as HTTP;
//! - [`bugs`]: the `--bug` switches;
//! - [`cli`]: flags and start-up, [`main_from_args`].

pub mod api;
pub mod bugs;
pub mod cli;
pub mod error;
pub mod kv;
pub mod node;
pub mod raft;
pub mod reply;
pub mod transport;
pub mod types;
pub mod wal;

pub use bugs::{Bug, Bugs};
pub use cli::main_from_args;
pub use error::{Error, Result};
pub use raft::{Config, Raft, Ready, Role};
pub use types::{Entry, HardState, LogIndex, Message, MessageBody, NodeId, Term};
