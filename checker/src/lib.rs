//! faultline's checker: histories in, verdicts out. Pure and synchronous: no
//! async, no processes; clocks only to honour a deadline passed in.
//!
//! - [`history`]: the JSON Lines event record (DESIGN.md's field table).
//! - [`format`]: readers for jsonl, Porcupine's etcd and kv logs, and
//!   Jepsen/Knossos EDN; each pairs invokes and completions into a [`History`].
//! - [`model`]: sequential specifications (register, cas-register, kv,
//!   kv-append, counter, set, list-append).
//! - [`search`]: the per-key linearizability search.
//! - [`check`]: splits a history by key, searches every key on all cores and
//!   explains violations.
//! - [`witness`]: verifies a witness order independently of the search.
//! - [`synth`]: synthetic histories from a simulated object, linearizable or
//!   with one anomaly injected, in every format the readers take.
//! - [`anomaly`]: named anomalies (lost write, rollback, divergence, ...) and
//!   the report the checks below return.
//! - [`append`]: the list-append check: appends are never lost or rolled back,
//!   seen by clients.
//! - [`set_check`]: the set check: acknowledged adds are never lost.
//! - [`raftlog`]: committed log entries are never rolled back, seen from the
//!   nodes' `raftlog.jsonl` samples.
//! - [`revision`]: etcd's acknowledged writes read back at their revisions
//!   (`revisions.jsonl`) still hold their values.

pub mod anomaly;
pub mod append;
pub mod check;
mod elements;
mod error;
pub mod format;
pub mod history;
mod lines;
pub mod model;
mod op;
#[doc(hidden)]
pub mod oracle;
pub mod raftlog;
pub mod revision;
pub mod search;
pub mod set_check;
pub mod synth;
mod values;
pub mod witness;

pub use anomaly::{Anomaly, AnomalyKind, AnomalyReport};
pub use append::check_list_append;
pub use check::{check, CheckOptions, KeyOutcome, KeyReport, Report, Verdict, Violation};
pub use error::{Error, Result};
pub use format::Format;
pub use history::{Event, EventType, Process};
pub use model::ModelKind;
pub use op::{History, Op, Outcome};
pub use raftlog::{check_raftlog, read_samples, LogEntry, LogSample};
pub use revision::{
    acknowledged_writes, check_revisions, read_revision_reads, RevisionRead, RevisionWrite,
};
pub use set_check::check_set;
pub use values::{ValueTable, NULL_ID};
