//! Named anomalies, found directly rather than by a search: each check names
//! what it found (a lost write, a rollback, ...) with the ops and values
//! involved. These checks never run out of budget.
//!
//! - [`report`]: the anomaly kinds and the report every check below returns.
//! - [`list_append`]: appends are never lost or rolled back, seen by clients.
//! - [`set`]: acknowledged adds are never lost, seen by clients.
//! - `elements`: the element rules list-append and set share
//!   (lost, phantom and duplicate elements).
//! - [`queue`]: a stream per key (NATS JetStream): acknowledged messages
//!   are never lost, duplicated or moved, and every node serves one stream.
//! - [`txn`]: transactions (list-append micro-ops) checked for isolation
//!   anomalies by dependency-graph cycles, in the spirit of Elle.
//! - [`raftlog`]: committed log entries are never rolled back, seen from the
//!   nodes' `raftlog.jsonl` samples.
//! - [`revision`]: etcd's acknowledged writes read back at their revisions
//!   (`revisions.jsonl`) still hold their values.

mod elements;
pub mod list_append;
pub mod queue;
pub mod raftlog;
pub mod report;
pub mod revision;
pub mod set;
#[cfg(test)]
mod test_rows;
pub mod txn;

pub use report::{Anomaly, AnomalyKind, AnomalyReport, MAX_LISTED_PER_KIND};
