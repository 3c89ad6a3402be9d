//! The list-append check: committed appends are never lost or rolled back,
//! seen by clients (docs/design.md, "Checks"). Elle's list-append idea, for
//! single-key lists rather than transactions.
//!
//! Per key, every `ok` read is evidence (`fail` and `info` reads observed
//! nothing). A correct list only grows at its end, in one order, so:
//!
//! - every read is a prefix of one order, or two reads are a
//!   [`Divergence`](AnomalyKind::Divergence);
//! - a read that begins after another read ended extends it, or it is a
//!   [`Rollback`](AnomalyKind::Rollback) (when it is a shorter prefix);
//! - a read holds every element whose append was acknowledged before the
//!   read began, or that element is a [`LostWrite`](AnomalyKind::LostWrite);
//! - a read holds each element once ([`Duplicate`](AnomalyKind::Duplicate)),
//!   and only elements that were appended, not definitely failed, and invoked
//!   before the read returned ([`Phantom`](AnomalyKind::Phantom)).
//!
//! Elements must be unique per key. A failed append retried with the same
//! element is fine (only one of them may have taken effect); two appends of
//! one element that may both have taken effect make that element
//! unjudgeable: it is left out of the element rules and the verdict is at
//! best unknown, naming it. The prefix rules still hold, since they compare
//! sequences.
//!
//! Everything is linear in the total length of the reads: the reads of a
//! key go into a trie, whose branch points are divergences and whose
//! subtrees give, for each read, the earliest longer read it should have
//! extended; lost writes are counted per read against the acknowledgements
//! sorted by position, and listed only when the count is short.

use std::collections::BTreeMap;

#[cfg(test)]
use serde_json::Value;

use crate::anomalies::elements::{collect, Collected, ElementRules, Elements, Origin, Read};
use crate::anomalies::report::{bump, describe_op, show_list, AnomalyKind, AnomalyReport, Finding};
use crate::history::{History, Op, Outcome};

mod orders;

/// How many elements a rollback lists in its `values`.
const MAX_VALUES_LISTED: usize = 100;

/// Checks a list-append history (`append` element / `read` whole list) for
/// lost writes, rollbacks, divergence, duplicates and phantoms.
pub fn check_list_append(history: &History) -> AnomalyReport {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut found = Vec::new();
    let mut unjudged = Vec::new();
    let mut stats = BTreeMap::new();
    if history.ops.is_empty() {
        unjudged.push("the history holds no operations".to_string());
    }
    stats.insert("keys".to_string(), by_key.len() as u64);
    for (key, ops) in by_key {
        let key_check = KeyCheck::new(key, &ops, &mut stats, &mut unjudged);
        key_check.run(&mut found, &mut unjudged);
    }
    AnomalyReport::build("list-append", found, unjudged, stats)
}

/// What the appends of one element say about it.
#[derive(Clone, Copy)]
enum Appended<'a> {
    /// No op appended it.
    Never,
    /// Every append of it definitely failed; the first such op.
    Failed(&'a Op),
    /// Exactly one append may have taken effect; `ack` is its completion
    /// position when it is `ok`.
    Once { op: &'a Op, ack: Option<u64> },
    /// Several appends may have taken effect: not judged.
    Several,
}

/// One key's reads and appends.
struct KeyCheck<'a> {
    key: &'a str,
    elements: Elements,
    reads: Vec<Read<'a>>,
    appended: Vec<Appended<'a>>,
}

impl<'a> KeyCheck<'a> {
    /// Sorts the key's ops into reads and appends; ops it cannot judge are
    /// named in `unjudged`.
    fn new(
        key: &'a str,
        ops: &[&'a Op],
        stats: &mut BTreeMap<String, u64>,
        unjudged: &mut Vec<String>,
    ) -> Self {
        let Collected {
            elements,
            writes: appends,
            mut reads,
        } = collect(key, ops, "append", "list-append", stats, unjudged);
        let longest = reads.iter().map(|read| read.items.len()).max().unwrap_or(0);
        if !reads.is_empty() {
            bump(stats, "longest_read", longest as u64);
        }
        // "The earliest read" everywhere below means the earliest call.
        reads.sort_by_key(|read: &Read| (read.op.call, read.op.id));

        let mut appended = vec![Appended::Never; elements.len()];
        for &(element, op) in &appends {
            let slot = &mut appended[element as usize];
            let failed = matches!(op.outcome, Outcome::Fail { .. });
            let ack = match op.outcome {
                Outcome::Ok(_) => op.ret,
                _ => None,
            };
            *slot = match (*slot, failed) {
                (Appended::Never, true) => Appended::Failed(op),
                (Appended::Never | Appended::Failed(_), false) => Appended::Once { op, ack },
                (Appended::Once { .. }, false) | (Appended::Several, _) => Appended::Several,
                (kept, true) => kept,
            };
        }
        let several: Vec<u32> = (0..elements.len() as u32)
            .filter(|&e| matches!(appended[e as usize], Appended::Several))
            .collect();
        if let Some(&first) = several.first() {
            let by: Vec<String> = appends
                .iter()
                .filter(|(e, op)| *e == first && !matches!(op.outcome, Outcome::Fail { .. }))
                .map(|(_, op)| describe_op(op))
                .collect();
            let more = match several.len() {
                1 => String::new(),
                n => format!(" ({} elements in all)", n),
            };
            unjudged.push(format!(
                "key {key:?}: element {} was appended by {}, which may all have taken effect; \
                 the list-append check needs unique elements per key, so it was not judged{more}",
                elements.value(first),
                by.join(" and ")
            ));
        }
        KeyCheck {
            key,
            elements,
            reads,
            appended,
        }
    }

    fn run(self, found: &mut Vec<Finding>, unjudged: &mut Vec<String>) {
        let acked = self
            .appended
            .iter()
            .filter(|a| matches!(a, Appended::Once { ack: Some(_), .. }))
            .count();
        if self.reads.is_empty() && acked > 0 {
            unjudged.push(format!(
                "no successful read of key {:?} ({acked} acknowledged appends unverified)",
                self.key
            ));
        }
        self.check_elements(found);
        self.check_orders(found);
    }

    /// A read's list in words, abridged when long.
    fn show(&self, read: &Read, focus: Option<usize>) -> String {
        show_list(&read.items, |&e| self.elements.value(e).to_string(), focus)
    }

    /// Duplicates, phantoms and lost writes: one anomaly per element, named
    /// by the earliest read (by call) that shows it.
    fn check_elements(&self, found: &mut Vec<Finding>) {
        let key = self.key;
        let rules = ElementRules {
            key,
            elements: &self.elements,
            write_f: "append",
            written: "appended",
            origins: self
                .appended
                .iter()
                .map(|appended| match *appended {
                    Appended::Never => Origin::Never,
                    Appended::Failed(op) => Origin::Failed(op),
                    Appended::Once { op, .. } => Origin::Live(op),
                    Appended::Several => Origin::Unjudged,
                })
                .collect(),
            known_at: self
                .appended
                .iter()
                .map(|appended| match appended {
                    Appended::Once { ack, .. } => *ack,
                    _ => None,
                })
                .collect(),
        };
        let duplicate = |read: &Read, position: usize, e: u32| {
            let value = self.elements.value(e);
            let (by, ops) = match self.appended[e as usize] {
                Appended::Once { op, .. } => {
                    (format!("once, by {}", describe_op(op)), vec![read.op, op])
                }
                _ => ("by no op that took effect".to_string(), vec![read.op]),
            };
            Finding::about_ops(
                AnomalyKind::Duplicate,
                key,
                &ops,
                vec![value.clone()],
                format!(
                    "read {} returned element {value} twice, again at index {position} of {}; it was appended {by}.",
                    describe_op(read.op),
                    self.show(read, Some(position)),
                ),
            )
        };
        let lost = |read: &Read, e: u32| {
            let Appended::Once { op: append, .. } = self.appended[e as usize] else {
                unreachable!("only elements appended once with an ok append are known present")
            };
            let value = self.elements.value(e);
            Finding::about_ops(
                AnomalyKind::LostWrite,
                key,
                &[append, read.op],
                vec![value.clone()],
                format!(
                    "the append of {value} by {} was acknowledged before read {} began, \
                     but that read returned {}, without {value}.",
                    describe_op(append),
                    describe_op(read.op),
                    self.show(read, None),
                ),
            )
        };
        rules.check(&self.reads, found, duplicate, lost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::test_rows::{history as history_with_keys, kinds};
    use crate::verdict::Verdict;

    /// A history from compact rows: `(process, type, f, value)` per line,
    /// key `k`.
    fn history(rows: &[(u64, &str, &str, &str)]) -> History {
        history_with_keys(
            &rows
                .iter()
                .map(|&(p, t, f, v)| (p, t, f, "k", v))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn sequential_appends_and_growing_reads_are_valid() {
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "read", "null"),
            (1, "ok", "read", "[1]"),
            (0, "invoke", "append", "2"),
            (0, "ok", "append", "2"),
            (1, "invoke", "read", "null"),
            (1, "ok", "read", "[1,2]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.stats["appends_ok"], 2);
        assert_eq!(report.stats["reads_ok"], 2);
    }

    #[test]
    fn info_appends_may_appear_or_not_and_failed_appends_stay_absent() {
        // 2 crashed (info): seen by one read, not the other is fine only when
        // the read that misses it comes first; 3 failed and never shows up;
        // 4 never completed (no completion line) and is seen at the end.
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "append", "2"),
            (1, "info", "append", "2"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "[1]"),
            (3, "invoke", "append", "3"),
            (3, "fail", "append", "3"),
            (4, "invoke", "append", "4"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "[1,2,4]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.stats["appends_unknown"], 2);
        assert_eq!(report.stats["appends_failed"], 1);
    }

    #[test]
    fn concurrent_read_may_miss_an_append_it_overlaps() {
        // The read is invoked before the append is acknowledged: it may or
        // may not see it.
        let h = history(&[
            (0, "invoke", "append", "1"),
            (1, "invoke", "read", "null"),
            (0, "ok", "append", "1"),
            (1, "ok", "read", "[]"),
        ]);
        assert_eq!(check_list_append(&h).verdict, Verdict::Valid);
    }

    #[test]
    fn missing_acknowledged_append_is_a_lost_write_named_once() {
        // Append 2 was acknowledged (line 4) before both reads began; both
        // miss it: one anomaly, naming the earliest read.
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (0, "invoke", "append", "2"),
            (0, "ok", "append", "2"),
            (1, "invoke", "read", "null"),
            (1, "ok", "read", "[1]"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "[1]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(kinds(&report), vec![AnomalyKind::LostWrite]);
        let lost = &report.anomalies[0];
        assert_eq!(lost.ops, vec![2, 4]);
        assert_eq!(lost.values, vec![serde_json::json!(2)]);
        assert_eq!(lost.time, Some(20));
        assert!(lost
            .explanation
            .contains("append of 2 by op 2 (process 0, node n1)"));
        assert!(lost.explanation.contains("read op 4 (process 1, node n2)"));
    }

    #[test]
    fn final_read_missing_an_append_is_a_lost_write() {
        // The final read (an ordinary read at the end) misses 2; the only
        // other read was concurrent with the append.
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "read", "null"),
            (0, "invoke", "append", "2"),
            (1, "ok", "read", "[1]"),
            (0, "ok", "append", "2"),
            (5, "invoke", "read", "null"),
            (5, "ok", "read", "[1]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(kinds(&report), vec![AnomalyKind::LostWrite]);
        assert_eq!(report.anomalies[0].ops, vec![3, 6]);
    }

    #[test]
    fn shorter_read_after_a_longer_one_is_a_rollback() {
        // Table: (earlier read, later read, anomalies). The later read
        // begins after the earlier one returned.
        let cases: &[(&str, &str, &[AnomalyKind])] = &[
            // Extends: fine.
            ("[1]", "[1,2]", &[]),
            // Same: fine.
            ("[1,2]", "[1,2]", &[]),
            // 2 was seen, then gone: rollback (2's append was unknown, so
            // no lost write).
            ("[1,2]", "[1]", &[AnomalyKind::Rollback]),
            // Not prefix-compatible: divergence, not rollback.
            ("[1,2]", "[2]", &[AnomalyKind::Divergence]),
        ];
        for (first, second, expected) in cases {
            let h = history(&[
                (0, "invoke", "append", "1"),
                (0, "ok", "append", "1"),
                (1, "invoke", "append", "2"),
                (2, "invoke", "read", "null"),
                (2, "ok", "read", first),
                (3, "invoke", "read", "null"),
                (3, "ok", "read", second),
            ]);
            let report = check_list_append(&h);
            let mut found = kinds(&report);
            found.retain(|k| *k != AnomalyKind::LostWrite);
            assert_eq!(&found, expected, "{first} then {second}: {report:#?}");
        }
    }

    #[test]
    fn rollback_names_both_reads_and_the_vanished_elements() {
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "info", "append", "1"),
            (1, "invoke", "append", "2"),
            (1, "info", "append", "2"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "[1,2]"),
            (3, "invoke", "read", "null"),
            (3, "ok", "read", "[]"),
            (4, "invoke", "read", "null"),
            (4, "ok", "read", "[]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(kinds(&report), vec![AnomalyKind::Rollback]);
        let rollback = &report.anomalies[0];
        assert_eq!(rollback.ops, vec![4, 6]);
        assert_eq!(
            rollback.values,
            vec![serde_json::json!(1), serde_json::json!(2)]
        );
        assert!(
            rollback
                .explanation
                .contains("1 later reads returned the same shorter list"),
            "{}",
            rollback.explanation
        );
    }

    #[test]
    fn overlapping_reads_may_see_shorter_and_longer_lists() {
        // The second read began before the first returned: no rollback.
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "append", "2"),
            (2, "invoke", "read", "null"),
            (3, "invoke", "read", "null"),
            (2, "ok", "read", "[1,2]"),
            (3, "ok", "read", "[1]"),
        ]);
        assert_eq!(check_list_append(&h).verdict, Verdict::Valid);
    }

    #[test]
    fn reads_in_two_orders_are_a_divergence_at_the_first_difference() {
        // Concurrent reads: [1,2,3] and [1,3,2] cannot both be prefixes of
        // one order; they differ at index 1.
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "append", "2"),
            (2, "invoke", "append", "3"),
            (3, "invoke", "read", "null"),
            (4, "invoke", "read", "null"),
            (3, "ok", "read", "[1,2,3]"),
            (4, "ok", "read", "[1,3,2]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(kinds(&report), vec![AnomalyKind::Divergence]);
        let divergence = &report.anomalies[0];
        assert_eq!(divergence.ops, vec![4, 5]);
        assert!(
            divergence
                .explanation
                .contains("differ at index 1 (2 vs 3)"),
            "{}",
            divergence.explanation
        );
    }

    #[test]
    fn retried_failed_append_counts_once_but_two_live_appends_are_unjudged() {
        // Retrying a failed append with the same element is fine.
        let retried = history(&[
            (0, "invoke", "append", "1"),
            (0, "fail", "append", "1"),
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "read", "null"),
            (1, "ok", "read", "[1]"),
        ]);
        assert_eq!(check_list_append(&retried).verdict, Verdict::Valid);
        // Two acknowledged appends of 1: the read [1,1] is not a duplicate
        // and [1] not a lost write, but the key cannot be fully judged.
        let twice = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "read", "null"),
            (1, "ok", "read", "[1,1]"),
        ]);
        let report = check_list_append(&twice);
        assert_eq!(report.verdict, Verdict::Unknown, "{report:#?}");
        assert!(report
            .reason
            .unwrap()
            .contains("element 1 was appended by op 0"));
    }

    #[test]
    fn key_without_a_successful_read_is_unknown_unless_another_key_fails() {
        let unread = history_with_keys(&[
            (0, "invoke", "append", "a", "1"),
            (0, "ok", "append", "a", "1"),
            (1, "invoke", "read", "a", "null"),
            (1, "info", "read", "a", "null"),
        ]);
        let report = check_list_append(&unread);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report
            .reason
            .as_deref()
            .unwrap()
            .contains("no successful read of key \"a\""));

        let with_lost = history_with_keys(&[
            (0, "invoke", "append", "a", "1"),
            (0, "ok", "append", "a", "1"),
            (2, "invoke", "append", "b", "1"),
            (2, "ok", "append", "b", "1"),
            (1, "invoke", "read", "b", "null"),
            (1, "ok", "read", "b", "[]"),
        ]);
        let report = check_list_append(&with_lost);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(report.anomalies[0].key, "b");
    }

    #[test]
    fn keys_are_checked_independently() {
        // The same element on two keys is two elements.
        let h = history_with_keys(&[
            (0, "invoke", "append", "a", "1"),
            (0, "ok", "append", "a", "1"),
            (1, "invoke", "append", "b", "1"),
            (1, "ok", "append", "b", "1"),
            (2, "invoke", "read", "a", "null"),
            (2, "ok", "read", "a", "[1]"),
            (2, "invoke", "read", "b", "null"),
            (2, "ok", "read", "b", "[1]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.stats["keys"], 2);
    }

    #[test]
    fn non_list_read_is_unjudged_not_ignored() {
        let h = history(&[
            (0, "invoke", "append", "1"),
            (0, "ok", "append", "1"),
            (1, "invoke", "read", "null"),
            (1, "ok", "read", "5"),
            (1, "invoke", "read", "null"),
            (1, "ok", "read", "[1]"),
        ]);
        let report = check_list_append(&h);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.reason.unwrap().contains("returned 5, not a list"));
    }

    #[test]
    fn empty_history_is_unknown() {
        let report = check_list_append(&History::default());
        assert_eq!(report.verdict, Verdict::Unknown);
    }

    #[test]
    fn large_history_is_checked_fast() {
        // 20 keys x 500 appends, a read after every append: about 2.5 M
        // elements read in all.
        let mut ops = Vec::new();
        let mut position = 0u64;
        let mut id = 0u64;
        for key in 0..20 {
            let key = format!("k{key}");
            let mut list = Vec::new();
            for element in 0..500u64 {
                ops.push(test_op(
                    id,
                    &key,
                    "append",
                    serde_json::json!(element),
                    Outcome::Ok(serde_json::json!(element)),
                    position,
                ));
                list.push(serde_json::json!(element));
                ops.push(test_op(
                    id + 1,
                    &key,
                    "read",
                    Value::Null,
                    Outcome::Ok(Value::Array(list.clone())),
                    position + 2,
                ));
                id += 2;
                position += 4;
            }
        }
        let history = History {
            ops,
            warnings: vec![],
        };
        let started = std::time::Instant::now();
        let report = check_list_append(&history);
        assert_eq!(report.verdict, Verdict::Valid);
        assert_eq!(report.stats["elements_read"], 20 * 500 * 501 / 2);
        // Generous for a shared, loaded machine; it takes ~0.2 s.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    fn test_op(id: u64, key: &str, f: &str, input: Value, outcome: Outcome, call: u64) -> Op {
        Op {
            id,
            process: id % 7,
            key: key.to_string(),
            f: f.to_string(),
            input,
            outcome,
            call,
            ret: Some(call + 1),
            call_time: Some(call),
            ret_time: Some(call + 1),
            line: id + 1,
            node: None,
        }
    }
}
