//! Named anomalies: what the list-append, set and raftlog checks report.
//!
//! Unlike the linearizability search, these checks never run out of budget:
//! each names what it found (a lost write, a rollback, ...) with the ops and
//! values involved, in words a person can act on.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::history::Op;
use crate::verdict::Verdict;

/// How many anomalies of one kind a report lists; the rest are only counted.
pub const MAX_LISTED_PER_KIND: usize = 100;

/// How many reasons an `unknown` verdict spells out before "and N more".
const MAX_REASONS_SHOWN: usize = 5;

/// The kinds of anomaly the named checks find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// An acknowledged write is missing from a read that began after the
    /// acknowledgement.
    LostWrite,
    /// Something seen committed (by a read, or listed by a node) disappeared
    /// or was replaced later.
    Rollback,
    /// Two observations that no single order explains: reads that are not
    /// prefixes of one another, or nodes listing different entries at one index.
    Divergence,
    /// One read holds the same element twice.
    Duplicate,
    /// A read holds an element that was never written, whose write definitely
    /// failed, or whose write had not yet been invoked when the read returned.
    Phantom,
}

impl AnomalyKind {
    /// Every kind, in report order.
    pub const ALL: [AnomalyKind; 5] = [
        AnomalyKind::LostWrite,
        AnomalyKind::Rollback,
        AnomalyKind::Divergence,
        AnomalyKind::Duplicate,
        AnomalyKind::Phantom,
    ];

    /// The kebab-case name used in reports and suites: `lost-write`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::LostWrite => "lost-write",
            AnomalyKind::Rollback => "rollback",
            AnomalyKind::Divergence => "divergence",
            AnomalyKind::Duplicate => "duplicate",
            AnomalyKind::Phantom => "phantom",
        }
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AnomalyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AnomalyKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown anomaly kind {s:?}; expected lost-write, rollback, divergence, duplicate or phantom"
                )
            })
    }
}

/// One anomaly found, named and explained.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    /// What kind of anomaly.
    pub kind: AnomalyKind,
    /// The key it was found on; `""` when there is none (raftlog).
    pub key: String,
    /// Ids ([`Op::id`]) of the ops involved, earliest call first; empty for
    /// raftlog anomalies.
    pub ops: Vec<u64>,
    /// The anomalous values: lost or phantom elements, diverging elements,
    /// or (raftlog) the entries involved.
    pub values: Vec<Value>,
    /// One or two plain sentences naming the ops (id, process, node, result)
    /// and values involved.
    pub explanation: String,
    /// When the anomaly became observable, in ns since the test started: for
    /// history checks the invoke time of the earliest op named (docs/design.md's
    /// time to detection), for raftlog the time of the sample that revealed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

/// What a named-anomaly check found in one history (or one raftlog).
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyReport {
    /// The check: `list-append`, `set` or `raftlog`.
    pub check: String,
    /// Invalid iff anomalies were found; unknown when nothing was found but
    /// the check could not judge everything (see `reason`); valid otherwise.
    pub verdict: Verdict,
    /// The anomalies, sorted by kind then by earliest op (or time); at most
    /// [`MAX_LISTED_PER_KIND`] of each kind.
    pub anomalies: Vec<Anomaly>,
    /// The full number found per kind (kebab-case name), listed or not.
    pub counts: BTreeMap<String, usize>,
    /// Why the verdict is unknown; `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Counts describing what was checked (keys, reads, acknowledged writes ...).
    pub stats: BTreeMap<String, u64>,
}

impl AnomalyReport {
    /// One line in words, e.g. `list-append: INVALID: 3 lost-write, 1
    /// rollback (20 keys, 1840 ok reads)`.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.check, self.findings())
    }

    /// The summary without the check's name, for places that show the
    /// name beside it: `INVALID: 3 lost-write, 1 rollback (20 keys, ...)`.
    pub fn findings(&self) -> String {
        let scope = self.scope();
        match self.verdict {
            Verdict::Valid => format!("valid, no anomaly found ({scope})"),
            Verdict::Unknown => format!(
                "unknown: {} ({scope})",
                self.reason
                    .as_deref()
                    .unwrap_or("the check could not judge")
            ),
            Verdict::Invalid => {
                let kinds: Vec<String> = AnomalyKind::ALL
                    .into_iter()
                    .map(|kind| (kind, self.count(kind)))
                    .filter(|(_, n)| *n > 0)
                    .map(|(kind, n)| format!("{n} {kind}"))
                    .collect();
                format!("INVALID: {} ({scope})", kinds.join(", "))
            }
        }
    }

    /// The earliest [`Anomaly::time`] among the anomalies listed, if any.
    pub fn earliest_time(&self) -> Option<u64> {
        self.anomalies.iter().filter_map(|a| a.time).min()
    }

    /// The anomalies of one kind that were listed.
    pub fn of_kind(&self, kind: AnomalyKind) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().filter(move |a| a.kind == kind)
    }

    /// How many anomalies of `kind` were found (listed or not).
    pub fn count(&self, kind: AnomalyKind) -> usize {
        self.counts.get(kind.as_str()).copied().unwrap_or(0)
    }

    /// A few stats in words, for the summary line.
    fn scope(&self) -> String {
        let named = [
            ("keys", "key", "keys"),
            ("reads_ok", "ok read", "ok reads"),
            ("samples", "log sample", "log samples"),
            ("nodes", "node", "nodes"),
        ];
        let parts: Vec<String> = named
            .iter()
            .filter_map(|(stat, one, many)| {
                self.stats.get(*stat).map(|&n| match n {
                    1 => format!("1 {one}"),
                    n => format!("{n} {many}"),
                })
            })
            .collect();
        if parts.is_empty() {
            "nothing counted".to_string()
        } else {
            parts.join(", ")
        }
    }

    /// Sorts and caps `found`, counts it per kind and picks the verdict:
    /// invalid when anything was found, else unknown when `unjudged` holds a
    /// reason, else valid.
    pub(crate) fn build(
        check: &str,
        mut found: Vec<Finding>,
        unjudged: Vec<String>,
        stats: BTreeMap<String, u64>,
    ) -> AnomalyReport {
        found.sort_by(|a, b| {
            (
                a.anomaly.kind,
                a.order,
                &a.anomaly.key,
                &a.anomaly.explanation,
            )
                .cmp(&(
                    b.anomaly.kind,
                    b.order,
                    &b.anomaly.key,
                    &b.anomaly.explanation,
                ))
        });
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut anomalies = Vec::new();
        for finding in found {
            let count = counts
                .entry(finding.anomaly.kind.as_str().to_string())
                .or_default();
            *count += 1;
            if *count <= MAX_LISTED_PER_KIND {
                anomalies.push(finding.anomaly);
            }
        }
        let (verdict, reason) = if !anomalies.is_empty() {
            (Verdict::Invalid, None)
        } else if !unjudged.is_empty() {
            (Verdict::Unknown, Some(join_reasons(&unjudged)))
        } else {
            (Verdict::Valid, None)
        };
        AnomalyReport {
            check: check.to_string(),
            verdict,
            anomalies,
            counts,
            reason,
            stats,
        }
    }
}

/// `reasons` joined with "; ", the first few spelled out.
fn join_reasons(reasons: &[String]) -> String {
    let mut text = reasons
        .iter()
        .take(MAX_REASONS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if reasons.len() > MAX_REASONS_SHOWN {
        text.push_str(&format!("; and {} more", reasons.len() - MAX_REASONS_SHOWN));
    }
    text
}

/// An anomaly with the position it sorts by (the earliest op's call, or a
/// sample time), before the report is built.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub order: u64,
    pub anomaly: Anomaly,
}

impl Finding {
    /// An anomaly about `ops` (any order): ids sorted by call, `time` and
    /// sort position from the earliest.
    pub fn about_ops(
        kind: AnomalyKind,
        key: &str,
        ops: &[&Op],
        values: Vec<Value>,
        explanation: String,
    ) -> Finding {
        let mut ops: Vec<&Op> = ops.to_vec();
        ops.sort_by_key(|op| (op.call, op.id));
        ops.dedup_by_key(|op| op.id);
        let first = ops.first();
        Finding {
            order: first.map_or(u64::MAX, |op| op.call),
            anomaly: Anomaly {
                kind,
                key: key.to_string(),
                ops: ops.iter().map(|op| op.id).collect(),
                values,
                explanation,
                time: first.and_then(|op| op.call_time),
            },
        }
    }
}

impl Finding {
    /// An anomaly observed at `time` (ns) with no ops (raftlog), on no key.
    pub fn at_time(
        kind: AnomalyKind,
        time: u64,
        values: Vec<Value>,
        explanation: String,
    ) -> Finding {
        Finding {
            order: time,
            anomaly: Anomaly {
                kind,
                key: String::new(),
                ops: Vec::new(),
                values,
                explanation,
                time: Some(time),
            },
        }
    }
}

/// A time since the test started, in words: `t=12.345 s`.
pub(crate) fn show_time(ns: u64) -> String {
    format!("t={:.3} s", ns as f64 / 1e9)
}

/// An op in words: `op 12 (process 3, node n2)`.
/// Adds `by` to the count `name` of a report's stats.
pub(crate) fn bump(stats: &mut BTreeMap<String, u64>, name: &str, by: u64) {
    *stats.entry(name.to_string()).or_default() += by;
}

/// Names, in `unjudged`, the ops of `key` a check could not judge (the
/// first one, and how many more).
pub(crate) fn note_unjudged(key: &str, strange: &[String], unjudged: &mut Vec<String>) {
    if let Some(first) = strange.first() {
        let more = match strange.len() {
            1 => String::new(),
            n => format!(" (and {} more such ops)", n - 1),
        };
        unjudged.push(format!("key {key:?}: {first}; it was not judged{more}"));
    }
}

pub(crate) fn describe_op(op: &Op) -> String {
    match &op.node {
        Some(node) => format!("op {} (process {}, node {})", op.id, op.process, node),
        None => format!("op {} (process {})", op.id, op.process),
    }
}

/// How many elements a list shows in full before it is abridged.
const SHOWN_IN_FULL: usize = 8;

/// A list in words, abridged when long: in full up to a few elements, else
/// the elements around `focus` (or the first and last few) and the length.
/// `show` puts one element in words.
pub(crate) fn show_list<T>(
    items: &[T],
    show: impl Fn(&T) -> String,
    focus: Option<usize>,
) -> String {
    let join = |slice: &[T]| slice.iter().map(&show).collect::<Vec<_>>().join(", ");
    if items.len() <= SHOWN_IN_FULL {
        return format!("[{}]", join(items));
    }
    let n = items.len();
    match focus {
        Some(i) if i < n => {
            let start = i.saturating_sub(2);
            let end = (i + 3).min(n);
            let head = if start > 0 { "…, " } else { "" };
            let tail = if end < n { ", …" } else { "" };
            format!(
                "[{head}{}{tail}] ({n} elements, index {i} is {})",
                join(&items[start..end]),
                show(&items[i])
            )
        }
        _ => format!(
            "[{}, …, {}] ({n} elements)",
            join(&items[..3]),
            join(&items[n - 3..])
        ),
    }
}

/// Elements in words, at most a few, e.g. `5, 6, 7 and 12 more`.
pub(crate) fn show_values(values: &[Value]) -> String {
    let shown: Vec<String> = values
        .iter()
        .take(SHOWN_IN_FULL)
        .map(Value::to_string)
        .collect();
    let mut text = shown.join(", ");
    if values.len() > SHOWN_IN_FULL {
        text.push_str(&format!(" and {} more", values.len() - SHOWN_IN_FULL));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding(kind: AnomalyKind, order: u64) -> Finding {
        Finding {
            order,
            anomaly: Anomaly {
                kind,
                key: "k".into(),
                ops: vec![order],
                values: vec![],
                explanation: format!("{kind} at {order}"),
                time: Some(order * 10),
            },
        }
    }

    #[test]
    fn kinds_serialize_in_kebab_case_and_parse_back() {
        for kind in AnomalyKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, json!(kind.as_str()));
            assert_eq!(kind.as_str().parse::<AnomalyKind>(), Ok(kind));
        }
        assert_eq!(AnomalyKind::LostWrite.as_str(), "lost-write");
    }

    #[test]
    fn report_sorts_by_kind_then_earliest_op_and_caps_each_kind() {
        let mut found = vec![finding(AnomalyKind::Phantom, 1)];
        for order in (0..MAX_LISTED_PER_KIND as u64 + 5).rev() {
            found.push(finding(AnomalyKind::LostWrite, order));
        }
        let report = AnomalyReport::build("list-append", found, vec![], BTreeMap::new());
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.anomalies.len(), MAX_LISTED_PER_KIND + 1);
        assert_eq!(
            report.count(AnomalyKind::LostWrite),
            MAX_LISTED_PER_KIND + 5
        );
        assert_eq!(report.anomalies[0].ops, vec![0]);
        assert_eq!(report.anomalies[1].ops, vec![1]);
        assert_eq!(report.anomalies.last().unwrap().kind, AnomalyKind::Phantom);
        assert_eq!(report.earliest_time(), Some(0));
        assert!(
            report.summary().contains("105 lost-write, 1 phantom"),
            "{}",
            report.summary()
        );
    }

    #[test]
    fn unjudged_keys_make_unknown_only_without_anomalies() {
        let unknown = AnomalyReport::build(
            "set",
            vec![],
            vec!["no successful read of key \"a\"".into()],
            BTreeMap::new(),
        );
        assert_eq!(unknown.verdict, Verdict::Unknown);
        assert!(unknown.summary().contains("no successful read"));
        let invalid = AnomalyReport::build(
            "set",
            vec![finding(AnomalyKind::LostWrite, 3)],
            vec!["no successful read of key \"a\"".into()],
            BTreeMap::new(),
        );
        assert_eq!(invalid.verdict, Verdict::Invalid);
        assert_eq!(invalid.reason, None);
        let valid = AnomalyReport::build("set", vec![], vec![], BTreeMap::new());
        assert_eq!(valid.verdict, Verdict::Valid);
    }

    #[test]
    fn long_lists_are_abridged_around_the_focus() {
        let items: Vec<Value> = (0..20).map(|i| json!(i)).collect();
        assert_eq!(show_list(&items[..3], Value::to_string, None), "[0, 1, 2]");
        assert_eq!(
            show_list(&items, Value::to_string, Some(10)),
            "[…, 8, 9, 10, 11, 12, …] (20 elements, index 10 is 10)"
        );
        assert_eq!(
            show_list(&items, Value::to_string, None),
            "[0, 1, 2, …, 17, 18, 19] (20 elements)"
        );
        assert_eq!(show_values(&items[..2]), "0, 1");
        assert!(show_values(&items).ends_with("and 12 more"));
    }
}
