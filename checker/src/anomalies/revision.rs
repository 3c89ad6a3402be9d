//! etcd's committed writes never change, seen from the client side: every
//! acknowledged write carries the store's revision (etcd's
//! `header.revision`), and a later read of that key *at that revision*
//! (etcd's range with `revision`, served from a node's MVCC store until it
//! is compacted) must return the value the write left.
//!
//! The harness collects the acknowledged writes from the history
//! ([`acknowledged_writes`]), reads each back at its revision on some node
//! after the final heal, and writes one [`RevisionRead`] per line to
//! `revisions.jsonl` ([`read_revision_reads`] reads it back). Rules
//! ([`check_revisions`]):
//!
//! - a read at a write's revision returns the write's value: else a
//!   [`Rollback`](AnomalyKind::Rollback) (the node's history at that
//!   revision lost or replaced an acknowledged write);
//! - two acknowledged writes of one key never share a revision with
//!   different values: else a [`Divergence`](AnomalyKind::Divergence) (one
//!   revision is one transaction, so it holds one value per key).
//!
//! Only register writes are checked (`write v` leaves `v`, `cas [a, b]`
//! leaves `b`): an append or set add stores a whole collection the history
//! does not spell out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use crate::anomalies::report::{bump, Anomaly, AnomalyKind, AnomalyReport, Finding};
use crate::error::Result;
use crate::event::{Event, EventType, Process};
use crate::lines::read_json_lines;

/// [`RevisionRead::error`] when the node had compacted the revision away
/// (etcd: "mvcc: required revision has been compacted").
pub const ERROR_COMPACTED: &str = "compacted";
/// [`RevisionRead::error`] when the node had not yet reached the revision
/// (etcd: "mvcc: required revision is a future revision"): it lags, which
/// a node may; not judged.
pub const ERROR_FUTURE_REVISION: &str = "future-revision";
/// [`RevisionRead::error`] when the deadline passed before the read was sent.
pub const ERROR_NOT_READ: &str = "not-read";

/// An acknowledged register write and the revision the store gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionWrite {
    /// The key written; `""` when the history has none.
    pub key: String,
    /// The value the write left: `write v` -> `v`, `cas [a, b]` -> `b`.
    pub value: Value,
    /// The store's revision of the write.
    pub revision: u64,
    /// The write's op id: the `index` of its invoke.
    pub op: u64,
    /// The write's invoke time, in ns since the test started.
    pub time: u64,
}

/// One acknowledged write read back at its revision: a line of
/// `revisions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevisionRead {
    /// The key written and read.
    pub key: String,
    /// What the acknowledged write left: `write v` -> `v`, `cas [a, b]` -> `b`.
    pub value: Value,
    /// The store's revision of the write, and the revision read at.
    pub revision: u64,
    /// The write's op id: the `index` of its invoke.
    pub op: u64,
    /// The write's invoke time, in ns since the test started.
    pub time: u64,
    /// The node read at; `None` when nothing was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The value the key had at `revision`: `null` when it did not exist
    /// then; `None` (field absent) when the read got no value (`error` says
    /// why).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub got: Option<Value>,
    /// The revision of the write that left `got` (etcd's `mod_revision`),
    /// when the key existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mod_revision: Option<u64>,
    /// Why the read has no value ([`ERROR_COMPACTED`],
    /// [`ERROR_FUTURE_REVISION`], [`ERROR_NOT_READ`], `timeout`, ...): not
    /// judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A field that is present, `null` included: `Some(value)`. (Serde's own
/// `Option` reads `null` as `None`, which would lose an absent key.)
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl RevisionRead {
    /// `write` read at its revision on `node`, which returned `got`
    /// (`null`: the key did not exist then), last written at `mod_revision`.
    #[must_use]
    pub fn answered(
        write: &RevisionWrite,
        node: Option<String>,
        got: Value,
        mod_revision: Option<u64>,
    ) -> Self {
        RevisionRead {
            node,
            got: Some(got),
            mod_revision,
            ..RevisionRead::blank(write)
        }
    }

    /// `write` not read back: `error` says why; `node` is where it was
    /// sent, if anywhere.
    #[must_use]
    pub fn unanswered(
        write: &RevisionWrite,
        node: Option<String>,
        error: impl Into<String>,
    ) -> Self {
        RevisionRead {
            node,
            error: Some(error.into()),
            ..RevisionRead::blank(write)
        }
    }

    fn blank(write: &RevisionWrite) -> Self {
        RevisionRead {
            key: write.key.clone(),
            value: write.value.clone(),
            revision: write.revision,
            op: write.op,
            time: write.time,
            node: None,
            got: None,
            mod_revision: None,
            error: None,
        }
    }

    /// The value read, when the read can be judged: an answer and no error.
    fn judged(&self) -> Option<&Value> {
        self.got.as_ref().filter(|_| self.error.is_none())
    }
}

/// The acknowledged register writes in `events` that carry a revision: each
/// `ok` completion of a `write` or `cas` with a `revision`, paired with its
/// invoke (by process), sorted by op id. Other events, nemesis events and
/// completions without an invoke are skipped.
#[must_use]
pub fn acknowledged_writes(events: &[Event]) -> Vec<RevisionWrite> {
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    let mut writes = Vec::new();
    for event in events {
        let Process::Client(process) = event.process else {
            continue;
        };
        if event.kind == EventType::Invoke {
            open.insert(process, event);
            continue;
        }
        let Some(invoke) = open.remove(&process) else {
            continue;
        };
        let Some(revision) = event.revision.filter(|_| event.kind == EventType::Ok) else {
            continue;
        };
        let value = match invoke.f.as_str() {
            "write" => invoke.value.clone(),
            "cas" => match invoke.value.as_array().map(Vec::as_slice) {
                Some([_, to]) => to.clone(),
                _ => continue,
            },
            _ => continue,
        };
        writes.push(RevisionWrite {
            key: invoke.key.clone().unwrap_or_default(),
            value,
            revision,
            op: invoke.index,
            time: invoke.time,
        });
    }
    writes.sort_by_key(|write| write.op);
    writes
}

/// Reads `revisions.jsonl`: one [`RevisionRead`] per line, blank lines
/// skipped. Returns the reads and warnings: a torn last line (no newline at
/// the end and not valid JSON: the writer died mid-line) is dropped with a
/// warning.
///
/// # Errors
/// [`Error::BadLine`](crate::Error::BadLine) naming `source_name` and the
/// line for any other line that is not a read.
pub fn read_revision_reads(
    text: &str,
    source_name: &str,
) -> Result<(Vec<RevisionRead>, Vec<String>)> {
    read_json_lines(
        text,
        source_name,
        "a read at a revision (JSON object with key, value, revision, op, time)",
    )
}

/// A value in words: `57`, or `absent` for a key that did not exist.
fn show_got(got: &Value) -> String {
    if got.is_null() {
        "absent (the key did not exist at that revision)".to_string()
    } else {
        got.to_string()
    }
}

/// The acknowledged writes of one key at one revision: op id -> the value
/// it left and its invoke time.
type WritesAt<'a> = BTreeMap<u64, (&'a Value, u64)>;

/// Checks reads at revisions: each returns what its acknowledged write
/// left, and no two acknowledged writes of a key share a revision with
/// different values. Reads with an `error` are counted, not judged; when no
/// read can be judged the verdict is unknown.
#[must_use]
pub fn check_revisions(reads: &[RevisionRead]) -> AnomalyReport {
    let mut found = Vec::new();
    let mut stats: BTreeMap<String, u64> = ["reads", "reads_ok", "unjudged"]
        .into_iter()
        .map(|name| (name.to_string(), 0))
        .collect();
    let mut unjudged_why: BTreeMap<&str, u64> = BTreeMap::new();
    let mut keys: BTreeSet<&str> = BTreeSet::new();
    let mut nodes: BTreeSet<&str> = BTreeSet::new();
    let mut ops: BTreeSet<u64> = BTreeSet::new();
    let mut at_revision: BTreeMap<(&str, u64), WritesAt> = BTreeMap::new();

    for read in reads {
        bump(&mut stats, "reads", 1);
        keys.insert(&read.key);
        ops.insert(read.op);
        if let Some(node) = &read.node {
            nodes.insert(node);
        }
        at_revision
            .entry((&read.key, read.revision))
            .or_default()
            .insert(read.op, (&read.value, read.time));
        let Some(got) = read.judged() else {
            bump(&mut stats, "unjudged", 1);
            let why = read.error.as_deref().unwrap_or("no value and no error");
            *unjudged_why.entry(why).or_default() += 1;
            match why {
                ERROR_COMPACTED => bump(&mut stats, "compacted", 1),
                ERROR_FUTURE_REVISION => bump(&mut stats, "future_revision", 1),
                _ => {}
            }
            continue;
        };
        bump(&mut stats, "reads_ok", 1);
        if got != &read.value {
            found.push(rollback(read, got));
        }
    }

    for ((key, revision), writes) in &at_revision {
        let values: BTreeSet<String> = writes
            .values()
            .map(|(value, _)| value.to_string())
            .collect();
        if values.len() > 1 {
            found.push(divergence(key, *revision, writes));
        }
    }

    stats.insert("keys".to_string(), keys.len() as u64);
    stats.insert("writes".to_string(), ops.len() as u64);
    stats.insert("nodes".to_string(), nodes.len() as u64);
    let judged = stats["reads_ok"];
    let mut unjudged = Vec::new();
    if reads.is_empty() {
        unjudged.push(
            "no acknowledged write was read back at its revision: nothing to judge".to_string(),
        );
    } else if judged == 0 {
        let why: Vec<String> = unjudged_why
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        unjudged.push(format!(
            "none of the {} reads at a revision could be judged ({})",
            reads.len(),
            why.join(", ")
        ));
    }
    AnomalyReport::build("revisions", found, unjudged, stats)
}

/// A read at a write's revision that returned something else.
fn rollback(read: &RevisionRead, got: &Value) -> Finding {
    let reader = match &read.node {
        Some(node) => format!("{node} read {:?} at revision {}", read.key, read.revision),
        None => format!("a read of {:?} at revision {}", read.key, read.revision),
    };
    let written = match read.mod_revision {
        Some(mod_revision) if !got.is_null() => format!(" (written at revision {mod_revision})"),
        _ => String::new(),
    };
    Finding {
        order: read.op,
        anomaly: Anomaly {
            kind: AnomalyKind::Rollback,
            key: read.key.clone(),
            ops: vec![read.op],
            values: vec![json!({
                "op": read.op,
                "revision": read.revision,
                "node": read.node,
                "expected": read.value,
                "got": got,
                "mod_revision": read.mod_revision,
            })],
            explanation: format!(
                "op {} wrote {}, acknowledged at revision {}, but {reader} as {}{written}: \
                 an acknowledged write was lost or replaced at its own revision.",
                read.op,
                read.value,
                read.revision,
                show_got(got),
            ),
            time: Some(read.time),
        },
    }
}

/// Acknowledged writes of one key with different values at one revision.
fn divergence(key: &str, revision: u64, writes: &WritesAt) -> Finding {
    let first_op = writes.keys().next().copied().unwrap_or(u64::MAX);
    let first_time = writes.values().map(|(_, time)| *time).min();
    let each: Vec<String> = writes
        .iter()
        .map(|(op, (value, _))| format!("op {op} wrote {value}"))
        .collect();
    Finding {
        order: first_op,
        anomaly: Anomaly {
            kind: AnomalyKind::Divergence,
            key: key.to_string(),
            ops: writes.keys().copied().collect(),
            values: writes
                .iter()
                .map(|(op, (value, _))| json!({"op": op, "revision": revision, "value": value}))
                .collect(),
            explanation: format!(
                "{} writes with different values were acknowledged at revision {revision} \
                 ({}): one revision holds one value per key.",
                writes.len(),
                each.join(", ")
            ),
            time: first_time,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    fn write(key: &str, value: Value, revision: u64, op: u64) -> RevisionWrite {
        RevisionWrite {
            key: key.to_string(),
            value,
            revision,
            op,
            time: op * 1_000,
        }
    }

    /// A read of `(key, value, revision, op)` on `node` that got `got`.
    fn read(
        (key, value, revision, op): (&str, Value, u64, u64),
        node: &str,
        got: Value,
    ) -> RevisionRead {
        let mod_revision = (!got.is_null()).then_some(revision);
        RevisionRead::answered(
            &write(key, value, revision, op),
            Some(node.to_string()),
            got,
            mod_revision,
        )
    }

    fn failed((key, value, revision, op): (&str, Value, u64, u64), error: &str) -> RevisionRead {
        RevisionRead::unanswered(&write(key, value, revision, op), Some("n1".into()), error)
    }

    fn kinds(report: &AnomalyReport) -> Vec<AnomalyKind> {
        report.anomalies.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn reads_that_return_their_writes_are_valid() {
        let reads = vec![
            read(("r0", json!(1), 5, 0), "n1", json!(1)),
            read(("r0", json!(2), 7, 4), "n2", json!(2)),
            read(("r1", json!(3), 6, 2), "n3", json!(3)),
        ];
        let report = check_revisions(&reads);
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.stats["reads"], 3);
        assert_eq!(report.stats["reads_ok"], 3);
        assert_eq!(report.stats["unjudged"], 0);
        assert_eq!(report.stats["keys"], 2);
        assert_eq!(report.stats["nodes"], 3);
        assert_eq!(
            report.summary(),
            "revisions: valid, no anomaly found (2 keys, 3 ok reads, 3 nodes)"
        );
    }

    #[test]
    fn anomalies_in_reads_at_revisions() {
        // Table: (reads, expected anomalies, why).
        let cases: Vec<(Vec<RevisionRead>, Vec<AnomalyKind>, &str)> = vec![
            (
                vec![read(("r0", json!(2), 7, 4), "n2", json!(1))],
                vec![AnomalyKind::Rollback],
                "n2's store holds an older value at the write's own revision",
            ),
            (
                vec![read(("r0", json!(2), 7, 4), "n2", Value::Null)],
                vec![AnomalyKind::Rollback],
                "the key did not exist at the revision its write was acknowledged at",
            ),
            (
                vec![
                    read(("r0", json!(2), 7, 4), "n1", json!(2)),
                    read(("r0", json!(3), 7, 6), "n2", json!(2)),
                ],
                vec![AnomalyKind::Rollback, AnomalyKind::Divergence],
                "two writes of r0 acknowledged at revision 7 with different values; \
                 op 6's read shows 2, not its own 3",
            ),
            (
                vec![
                    read(("r0", json!(2), 7, 4), "n1", json!(2)),
                    read(("r1", json!(3), 7, 6), "n2", json!(3)),
                ],
                vec![],
                "one revision on two keys is one txn touching both: not judged a divergence",
            ),
            (
                vec![
                    read(("r0", json!(2), 7, 4), "n1", json!(2)),
                    failed(("r0", json!(3), 8, 6), ERROR_COMPACTED),
                    failed(("r0", json!(4), 9, 8), ERROR_FUTURE_REVISION),
                ],
                vec![],
                "compacted and future revisions are not judged",
            ),
        ];
        for (reads, expected, why) in cases {
            let report = check_revisions(&reads);
            assert_eq!(kinds(&report), expected, "{why}: {report:#?}");
        }
    }

    #[test]
    fn a_rollback_names_key_op_revision_expected_got_and_node() {
        let mut bad = read(("r3", json!(57), 412, 118), "n1", json!(55));
        bad.mod_revision = Some(409);
        let report = check_revisions(&[bad]);
        assert_eq!(report.verdict, Verdict::Invalid);
        let rollback = &report.anomalies[0];
        assert_eq!(rollback.key, "r3");
        assert_eq!(rollback.ops, vec![118]);
        assert_eq!(rollback.time, Some(118_000));
        assert_eq!(
            rollback.explanation,
            "op 118 wrote 57, acknowledged at revision 412, but n1 read \"r3\" at revision 412 \
             as 55 (written at revision 409): an acknowledged write was lost or \
             replaced at its own revision."
        );
        assert_eq!(rollback.values[0]["expected"], json!(57));
        assert_eq!(rollback.values[0]["got"], json!(55));
        assert_eq!(
            report.summary(),
            "revisions: INVALID: 1 rollback (1 key, 1 ok read, 1 node)"
        );
    }

    #[test]
    fn a_divergence_names_every_write_at_the_revision() {
        let reads = vec![
            failed(("r0", json!(2), 7, 4), "timeout"),
            failed(("r0", json!(3), 7, 6), "timeout"),
        ];
        let report = check_revisions(&reads);
        // Found from the writes alone, though no read could be judged.
        assert_eq!(report.verdict, Verdict::Invalid);
        let divergence = &report.anomalies[0];
        assert_eq!(divergence.kind, AnomalyKind::Divergence);
        assert_eq!(divergence.ops, vec![4, 6]);
        assert_eq!(divergence.time, Some(4_000));
        assert!(
            divergence
                .explanation
                .contains("2 writes with different values were acknowledged at revision 7 (op 4 wrote 2, op 6 wrote 3)"),
            "{}",
            divergence.explanation
        );
    }

    #[test]
    fn unjudged_reads_are_counted_and_only_none_judged_is_unknown() {
        let some_judged = vec![
            read(("r0", json!(2), 7, 4), "n1", json!(2)),
            failed(("r0", json!(3), 8, 6), ERROR_COMPACTED),
            failed(("r0", json!(4), 9, 8), ERROR_FUTURE_REVISION),
            failed(("r1", json!(5), 10, 10), ERROR_NOT_READ),
        ];
        let report = check_revisions(&some_judged);
        assert_eq!(report.verdict, Verdict::Valid);
        assert_eq!(report.stats["unjudged"], 3);
        assert_eq!(report.stats["compacted"], 1);
        assert_eq!(report.stats["future_revision"], 1);
        assert_eq!(report.stats["reads_ok"], 1);

        let report = check_revisions(&some_judged[1..]);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert_eq!(
            report.reason.as_deref(),
            Some(
                "none of the 3 reads at a revision could be judged \
                 (1 compacted, 1 future-revision, 1 not-read)"
            )
        );

        let report = check_revisions(&[]);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.reason.unwrap().contains("nothing to judge"));
    }

    fn event(index: u64, process: u64, kind: EventType, f: &str, value: Value) -> Event {
        Event {
            index,
            time: index * 10,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: Some("r0".to_string()),
            value,
            node: Some("n1".to_string()),
            error: None,
            revision: None,
        }
    }

    fn with_revision(mut event: Event, revision: u64) -> Event {
        event.revision = Some(revision);
        event
    }

    #[test]
    fn acknowledged_writes_pair_ok_writes_and_cas_with_their_invokes() {
        use EventType::{Fail, Info, Invoke, Ok};
        let events = vec![
            event(0, 0, Invoke, "write", json!(1)),
            event(1, 1, Invoke, "cas", json!([1, 2])),
            with_revision(event(2, 1, Ok, "cas", json!([1, 2])), 6),
            with_revision(event(3, 0, Ok, "write", json!(1)), 5),
            // A read, a write without a revision, failed and unknown ops:
            // nothing to check.
            event(4, 0, Invoke, "read", Value::Null),
            event(5, 0, Ok, "read", json!(2)),
            event(6, 0, Invoke, "write", json!(3)),
            event(7, 0, Ok, "write", json!(3)),
            event(8, 0, Invoke, "write", json!(4)),
            with_revision(event(9, 0, Info, "write", json!(4)), 9),
            event(10, 2, Invoke, "cas", json!([7, 8])),
            event(11, 2, Fail, "cas", json!([7, 8])),
            event(12, 3, Invoke, "append", json!(5)),
            with_revision(event(13, 3, Ok, "append", json!(5)), 10),
        ];
        assert_eq!(
            acknowledged_writes(&events),
            vec![
                RevisionWrite {
                    key: "r0".into(),
                    value: json!(1),
                    revision: 5,
                    op: 0,
                    time: 0
                },
                RevisionWrite {
                    key: "r0".into(),
                    value: json!(2),
                    revision: 6,
                    op: 1,
                    time: 10
                },
            ]
        );
    }

    #[test]
    fn reads_round_trip_keeping_an_absent_key_apart_from_no_answer() {
        let reads = vec![
            read(("r0", json!(2), 7, 4), "n1", json!(2)),
            read(("r0", json!(2), 7, 4), "n2", Value::Null),
            failed(("r1", json!(3), 8, 6), ERROR_COMPACTED),
        ];
        let text: String = reads
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"key":"r0","value":2,"revision":7,"op":4,"time":4000,"node":"n1","got":2,"mod_revision":7}"#
        );
        assert!(lines[1].contains(r#""got":null"#), "{}", lines[1]);
        assert!(!lines[2].contains("got") && lines[2].contains(r#""error":"compacted""#));
        let (back, warnings) = read_revision_reads(&text, "revisions.jsonl").unwrap();
        assert_eq!(back, reads);
        assert!(warnings.is_empty());
        assert_eq!(back[1].got, Some(Value::Null));
        assert_eq!(back[2].got, None);
    }

    #[test]
    fn a_torn_last_line_is_a_warning_and_a_bad_middle_line_an_error() {
        let good = r#"{"key":"r0","value":2,"revision":7,"op":4,"time":0,"got":2}"#;
        let torn = format!("{good}\n{{\"key\":\"r0\",\"val");
        let (reads, warnings) = read_revision_reads(&torn, "revisions.jsonl").unwrap();
        assert_eq!(reads.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("revisions.jsonl:2:"),
            "{warnings:?}"
        );

        let bad = format!("{good}\n{{\"key\":\"r0\"}}\n{good}\n");
        let err = read_revision_reads(&bad, "revisions.jsonl")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("revisions.jsonl:2:12: expected a read at a revision"),
            "{err}"
        );
    }
}
