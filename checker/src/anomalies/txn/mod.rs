//! Transactions: an isolation checker for list-append histories in the
//! spirit of Elle (docs/checks.md, "txn-list-append").
//!
//! The types and entry points below are the contract between the checker,
//! its readers, the generator and the harness. Change a signature only
//! together with its callers.
//!
//! - [`TxnHistory`]: the transactions of a history, keys interned, micro-ops
//!   and read elements in flat arrays (1M transactions must fit in well
//!   under 2 GiB and be walked fast).
//! - [`TxnHistory::from_history`]: from the generic [`History`] (any reader).
//! - [`read_jsonl`]: a dedicated jsonl reader straight into a
//!   [`TxnHistory`], without building `serde_json::Value` trees.
//! - [`check_txn`]: infer version orders, build the dependency graph, find
//!   anomalies, judge them against a [`Consistency`] level.
//!
//! Inside: `parse` (from a generic history), `infer` (version orders,
//! ww/wr/rw edges, the anomalies that need no cycle), `graph` (CSR
//! adjacency, real-time edges, topological order, petgraph's Tarjan),
//! `cycles` (a search per cycle class inside each component), `explain`
//! (sentences), `check` (the judgement), [`synthetic`] (histories for
//! benchmarks and property tests).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::Serialize;

use crate::error::Result;
use crate::history::History;
use crate::verdict::Verdict;

mod check;
mod cycles;
mod explain;
mod graph;
mod infer;
mod jsonl;
mod parse;
pub mod synthetic;
#[cfg(test)]
mod tests;

pub use check::{judge, Judgement, MAX_LISTED_PER_CLASS};
pub use jsonl::read_jsonl;

/// A key: JSON strings and integers are distinct keys (`"3"` is not `3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum KeyName {
    /// An integer key.
    Int(i64),
    /// A string key.
    Str(String),
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyName::Int(n) => write!(f, "{n}"),
            KeyName::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// An interned key: an index into [`TxnHistory::keys`].
pub type KeyId = u32;

/// An appended element. Elements are integers, unique per key (Elle's
/// list-append); a history with other elements is refused with an error
/// naming the line.
pub type Elem = i64;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `ok`: it committed; its reads are what it observed.
    Committed,
    /// `fail`: it certainly did not commit.
    Aborted,
    /// `info` or no completion: it may or may not have committed.
    Unknown,
}

/// One micro-op of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    /// `["append", key, element]`.
    Append {
        /// The key appended to.
        key: KeyId,
        /// The element appended.
        elem: Elem,
    },
    /// `["r", key, [elements...]]`: `elems` indexes
    /// [`TxnHistory::read_elems`]; `None` when the read's result is not
    /// known (an invoke, or a transaction that did not complete `ok`).
    Read {
        /// The key read.
        key: KeyId,
        /// The elements observed, oldest first.
        elems: Option<Range<u32>>,
    },
}

/// One transaction: an invoke and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// The `index` of its invoke (the id anomalies name it by, `T<id>`).
    pub id: u64,
    /// The logical client.
    pub process: u64,
    /// How it ended.
    pub status: Status,
    /// Position of the invoke in the history's event order.
    pub call: u64,
    /// Position of its completion; `None` when it never completed.
    pub ret: Option<u64>,
    /// Invoke time, ns since the test started, when known.
    pub call_time: Option<u64>,
    /// Completion time, when known.
    pub ret_time: Option<u64>,
    /// 1-based line of the invoke in its file, for messages.
    pub line: u64,
    /// Its micro-ops: an index range into [`TxnHistory::mops`]. For a
    /// committed transaction, the completion's micro-ops (reads filled in);
    /// otherwise the invoke's.
    pub mops: Range<u32>,
}

/// The transactions of a history, ready to check.
#[derive(Debug, Clone, Default)]
pub struct TxnHistory {
    /// Every transaction, in invoke order.
    pub txns: Vec<Txn>,
    /// Every micro-op, transaction by transaction.
    pub mops: Vec<Mop>,
    /// Every element of every known read, read by read.
    pub read_elems: Vec<Elem>,
    /// Interned keys: [`KeyId`] `k` is `keys[k]`.
    pub keys: Vec<KeyName>,
    /// Warnings met while reading (a torn last line, ...).
    pub warnings: Vec<String>,
}

impl TxnHistory {
    /// The transactions of a generic history: every op must have `f` =
    /// `txn` and a list of micro-ops as its value; anything else is an
    /// error naming the line.
    ///
    /// Errors name the source `history` (see [`TxnHistory::from_history_named`]).
    pub fn from_history(history: &History) -> Result<TxnHistory> {
        parse::from_history(history, "history")
    }

    /// [`TxnHistory::from_history`], naming `source` (the file) in errors.
    pub fn from_history_named(history: &History, source: &str) -> Result<TxnHistory> {
        parse::from_history(history, source)
    }

    /// The micro-ops of `txn`.
    pub fn mops_of(&self, txn: &Txn) -> &[Mop] {
        &self.mops[txn.mops.start as usize..txn.mops.end as usize]
    }

    /// The elements of a known read.
    pub fn elems(&self, range: &Range<u32>) -> &[Elem] {
        &self.read_elems[range.start as usize..range.end as usize]
    }
}

/// The isolation level a history is held to (`--consistency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Consistency {
    /// Serializable plus real time (the default; etcd's promise).
    StrictSerializable,
    /// Some serial order explains every committed transaction.
    Serializable,
    /// Snapshot isolation.
    SnapshotIsolation,
    /// Repeatable read (Adya's PL-2.99).
    RepeatableRead,
    /// Read committed (PL-2).
    ReadCommitted,
}

impl Consistency {
    /// Every level, strongest first.
    pub const ALL: [Consistency; 5] = [
        Consistency::StrictSerializable,
        Consistency::Serializable,
        Consistency::SnapshotIsolation,
        Consistency::RepeatableRead,
        Consistency::ReadCommitted,
    ];

    /// The name on the command line: `strict-serializable`, ...
    pub fn name(self) -> &'static str {
        match self {
            Consistency::StrictSerializable => "strict-serializable",
            Consistency::Serializable => "serializable",
            Consistency::SnapshotIsolation => "snapshot-isolation",
            Consistency::RepeatableRead => "repeatable-read",
            Consistency::ReadCommitted => "read-committed",
        }
    }
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Consistency {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Consistency::ALL
            .into_iter()
            .find(|level| level.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Consistency::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "unknown consistency level {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Why one transaction must precede another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// Write-write: the second appended after the first, in a key's version order.
    Ww,
    /// Write-read: the second read the first's append.
    Wr,
    /// Read-write (anti-dependency): the second appended what the first's read missed.
    Rw,
    /// The same process ran the first, then the second.
    Process,
    /// The first completed before the second was invoked.
    Realtime,
}

/// One edge of an anomaly's cycle (or of its evidence).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnEdge {
    /// The id of the earlier transaction.
    pub from: u64,
    /// The id of the later transaction.
    pub to: u64,
    /// Why.
    pub kind: EdgeKind,
    /// The key it comes from (ww, wr, rw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyName>,
    /// The reason in words: "T1 < T2: T2 read key 3 = [1 2], which includes
    /// T1's append of 2".
    pub reason: String,
}

/// One anomaly found, named and explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnAnomaly {
    /// Elle's name: `G0`, `G1a`, `G1b`, `G1c`, `G-single`, `G-nonadjacent`,
    /// `G2-item` (each cycle class may carry `-process` or `-realtime`),
    /// `dirty-update`, `internal`, `lost-append`, `duplicate-append`,
    /// `garbage-read`, `incompatible-order`, `cycle` (a cycle whose class
    /// the search could not settle within its budget).
    pub class: String,
    /// Whether the level checked forbids it (else it is reported as allowed).
    pub forbidden: bool,
    /// The transactions involved (invoke ids), in cycle order for cycles.
    pub txns: Vec<u64>,
    /// For a cycle, its edges in order (the last leads back to the first).
    pub edges: Vec<TxnEdge>,
    /// Sentences a person can follow, naming each transaction.
    pub explanation: String,
    /// Invoke time of the earliest transaction named, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

/// What the transaction check found.
#[derive(Debug, Clone, Serialize)]
pub struct TxnReport {
    /// The level the history was held to.
    pub consistency: Consistency,
    /// Invalid when a forbidden anomaly was found; unknown when nothing
    /// forbidden was found but something could not be judged (`reason`).
    pub verdict: Verdict,
    /// Anomalies found, forbidden first, a bounded number per class.
    pub anomalies: Vec<TxnAnomaly>,
    /// How many were found per class, listed or not.
    pub counts: BTreeMap<String, usize>,
    /// For a valid verdict under serializable or strict-serializable: the
    /// ids of the committed transactions in an order that respects every
    /// inferred edge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Vec<u64>>,
    /// Why the verdict is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What was checked: transactions (committed, aborted, unknown), keys,
    /// reads, appends, edges, components.
    pub stats: BTreeMap<String, u64>,
    /// Input the checker could not use (an element appended twice to one key).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl TxnReport {
    /// One line: `txn-list-append (strict-serializable): INVALID: 2 G-single, 1 G2-item (...)`.
    pub fn summary(&self) -> String {
        format!(
            "txn-list-append ({}): {}",
            self.consistency,
            self.findings()
        )
    }

    /// The summary without the check's name and level, for places that
    /// show them beside it: `INVALID: 2 G-single, 1 G2-item (...)`.
    pub fn findings(&self) -> String {
        let verdict = match self.verdict {
            Verdict::Valid => "valid",
            Verdict::Invalid => "INVALID",
            Verdict::Unknown => "UNKNOWN",
        };
        let forbidden: BTreeMap<&str, usize> = self
            .counts
            .iter()
            .filter(|(class, _)| judge(class, self.consistency) != Judgement::Allowed)
            .map(|(class, &count)| (class.as_str(), count))
            .collect();
        let allowed: Vec<String> = self
            .counts
            .iter()
            .filter(|(class, _)| judge(class, self.consistency) == Judgement::Allowed)
            .map(|(class, count)| format!("{count} {class}"))
            .collect();
        let mut line = verdict.to_string();
        if !forbidden.is_empty() {
            let listed: Vec<String> = forbidden
                .iter()
                .map(|(class, count)| format!("{count} {class}"))
                .collect();
            line.push_str(&format!(": {}", listed.join(", ")));
        }
        if !allowed.is_empty() {
            line.push_str(&format!(" (allowed: {})", allowed.join(", ")));
        }
        let stat = |name: &str| self.stats.get(name).copied().unwrap_or(0);
        line.push_str(&format!(
            " ({} txns: {} committed, {} aborted, {} unknown; {} keys)",
            stat("txns"),
            stat("committed"),
            stat("aborted"),
            stat("unknown"),
            stat("keys")
        ));
        line
    }
}

/// Checks a transaction history against `consistency`.
pub fn check_txn(history: &TxnHistory, consistency: Consistency) -> TxnReport {
    check::check(history, consistency)
}

/// [`TxnHistory::from_history`] then [`check_txn`]: the entry point for a
/// history read by any reader.
pub fn check_history(history: &History, consistency: Consistency) -> Result<TxnReport> {
    Ok(check_txn(&TxnHistory::from_history(history)?, consistency))
}
