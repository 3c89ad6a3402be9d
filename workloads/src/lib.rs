//! Clients and operation generators: what `faultline run` does to a cluster
//! between starting it and checking the history.
//!
//! - [`Workload`] (`workload`): register, append, counter, set, queue, txn; each names
//!   the model that judges it and its key rotation defaults.
//! - [`Generator`], [`OpRequest`] (`generator`): the seeded op mixes, with
//!   values unique per key and keys retired after a number of ops.
//! - [`MicroOp`] (`txn`): the micro-ops of a `txn` op, and how a
//!   transaction's reads are filled in.
//! - [`Client`], [`Completion`], [`Answer`], [`LogPage`] (`client`): what a
//!   client protocol provides: ops, the current leader, the committed log.
//! - [`RaftkvClient`] (`raftkv`): the raftkv HTTP protocol
//!   (docs/protocol.md): redirects, and each answer mapped to ok/fail/info.
//! - [`EtcdClient`], [`ReadMode`] (`etcd`): etcd's v3 JSON gateway
//!   (docs/etcd.md): put, range, txn; which workloads etcd supports; reads
//!   of acknowledged writes at their revisions.
//! - [`NatsClient`] (`nats`): NATS JetStream through `async-nats`
//!   (docs/nats.md): a stream per key, publishes with message ids, whole
//!   streams read node by node.
//! - [`Recorder`], [`MemoryRecorder`] (`recorder`): where events go.
//! - [`ClientStats`] (`stats`): live counts for a progress display.
//! - [`run_clients`], [`RunnerOptions`] (`runner`): concurrent clients,
//!   process numbering, rate, leader tracking.
//! - [`wait_for_recovery`], [`final_reads`] (`final_phase`): after the heal.
//!
//! docs/workloads.md states the mixes and how every answer is recorded.

#![warn(missing_docs)]

mod client;
mod error;
mod etcd;
mod final_phase;
mod generator;
mod nats;
mod raftkv;
mod recorder;
mod runner;
mod stats;
mod txn;
mod workload;

#[cfg(test)]
mod fake;

pub use client::{Answer, Client, Completion, LogPage, DEFAULT_OP_TIMEOUT};
pub use error::{Error, Result};
pub use etcd::{
    EtcdClient, EtcdStatus, ReadMode, UnknownReadMode, GUARD_FAILED, MAX_REVISION_READS,
    MAX_UPDATE_ATTEMPTS,
};
pub use final_phase::{
    final_reads, wait_for_recovery, FinalReads, FINAL_TXN_KEYS, RECOVERY_PROBE_KEY, RETRY_PAUSE,
};
pub use generator::{Generator, OpRequest};
pub use nats::{message_id, subject, NatsClient};
pub use raftkv::{
    NodeStatus, RaftkvClient, DEFAULT_REQUEST_TIMEOUT, MAX_REDIRECTS, STATUS_TIMEOUT,
};
pub use recorder::{MemoryRecorder, Recorder};
pub use runner::{
    run_clients, ClientsDone, RunnerOptions, FAILURE_BACKOFF, LEADER_REFRESH, OP_TIMEOUT_MARGIN,
};
pub use stats::{ClientCounts, ClientStats};
pub use txn::MicroOp;
pub use workload::Workload;
