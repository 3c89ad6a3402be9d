//! faultline's checker: histories in, verdicts out. Pure and synchronous: no
//! async, no processes; clocks only to honour a deadline passed in.
//!
//! Two kinds of check, each in its folder:
//!
//! - [`linearizability`]: is there one order of the ops, respecting real
//!   time, that a sequential [`model`] explains? Split by key, searched on all
//!   cores, a violation explained in sentences; a witness order checked
//!   independently.
//! - [`anomalies`]: named anomalies (lost write, rollback, divergence,
//!   duplicate, phantom) found directly: the list-append and set checks over
//!   histories, and the committed-log and revision checks over the nodes'
//!   `raftlog.jsonl` and etcd's `revisions.jsonl`.
//!
//! What they read and share:
//!
//! - [`event`]: the JSON Lines event record, one line of `history.jsonl`
//!   (docs/design.md's field table).
//! - [`history`]: a [`History`] of [`Op`]s, each an invoke paired with its
//!   completion: the unit every check works on.
//! - [`format`](mod@format): readers for jsonl, Porcupine's etcd and kv logs, and
//!   Jepsen/Knossos EDN; each pairs invokes and completions into a [`History`].
//! - [`model`]: sequential specifications (register, cas-register, kv,
//!   kv-append, counter, set, list-append).
//! - [`verdict`]: valid, unknown or invalid, and the exit code of each.
//! - [`synth`]: synthetic histories from a simulated object, linearizable or
//!   with one anomaly injected, in every format the readers take.

pub mod anomalies;
mod error;
pub mod event;
pub mod format;
pub mod history;
pub mod linearizability;
mod lines;
pub mod model;
pub mod synth;
mod values;
pub mod verdict;

pub use anomalies::list_append::check_list_append;
pub use anomalies::queue::check_queue;
pub use anomalies::raftlog::{check_raftlog, read_samples, LogEntry, LogSample};
pub use anomalies::revision::{
    acknowledged_writes, check_revisions, read_revision_reads, RevisionRead, RevisionWrite,
};
pub use anomalies::set::check_set;
pub use anomalies::{Anomaly, AnomalyKind, AnomalyReport};
pub use error::{Error, Result};
pub use event::{Event, EventType, Process};
pub use format::Format;
pub use history::{History, Op, Outcome};
pub use linearizability::{check, CheckOptions, KeyOutcome, KeyReport, Report, Violation};
pub use model::ModelKind;
pub use values::{ValueTable, NULL_ID};
pub use verdict::Verdict;
