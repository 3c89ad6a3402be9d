//! The set check: Jepsen's set checker, strengthened with real time.
//!
//! Per key, ops are `add` (an element) and `read` (the sorted elements);
//! every `ok` read is evidence. An element is *known present* from the
//! moment its add was acknowledged or a read returned it, whichever is
//! first. Then a read that begins after that moment must hold it:
//!
//! - missing an acknowledged element is a [`LostWrite`](AnomalyKind::LostWrite);
//! - missing an element an earlier read returned (its add not yet
//!   acknowledged) is a [`Rollback`](AnomalyKind::Rollback);
//! - holding an element twice is a [`Duplicate`](AnomalyKind::Duplicate);
//! - holding an element never added, whose every add definitely failed, or
//!   whose first add that may have worked was invoked only after the read
//!   returned, is a [`Phantom`](AnomalyKind::Phantom).
//!
//! Adding one element several times is harmless for a set: the element is
//! present once any add took effect. A key with acknowledged adds and no
//! successful read cannot be judged (unknown, unless another key has an
//! anomaly). Linear in the total length of the reads, as in
//! [`list_append`](super::list_append).

use std::collections::BTreeMap;

use crate::anomalies::elements::{collect, Collected};
use crate::anomalies::report::{bump, describe_op, show_list, AnomalyKind, AnomalyReport, Finding};
use crate::history::{History, Op, Outcome};

/// Checks a set history (`add` element / `read` sorted elements) for lost
/// writes, rollbacks, duplicates and phantoms.
pub fn check_set(history: &History) -> AnomalyReport {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut found = Vec::new();
    let mut unjudged = Vec::new();
    let mut stats: BTreeMap<String, u64> = [
        "adds_ok",
        "adds_unknown",
        "adds_failed",
        "reads_ok",
        "reads_not_ok",
        "elements_read",
        "unknown_adds_read",
        "unknown_adds_in_final_read",
        "lost",
    ]
    .into_iter()
    .map(|name| (name.to_string(), 0))
    .collect();
    stats.insert("keys".to_string(), by_key.len() as u64);
    if history.ops.is_empty() {
        unjudged.push("the history holds no operations".to_string());
    }
    for (key, ops) in by_key {
        check_key(key, &ops, &mut found, &mut unjudged, &mut stats);
    }
    AnomalyReport::build("set", found, unjudged, stats)
}

/// What the adds of one element say about it.
#[derive(Clone, Copy, Default)]
struct Added<'a> {
    /// The earliest-called add that did not definitely fail.
    live: Option<&'a Op>,
    /// The ok add acknowledged first, and its completion position.
    acked: Option<(u64, &'a Op)>,
    /// An add that definitely failed.
    failed: Option<&'a Op>,
}

fn check_key(
    key: &str,
    ops: &[&Op],
    found: &mut Vec<Finding>,
    unjudged: &mut Vec<String>,
    stats: &mut BTreeMap<String, u64>,
) {
    let Collected {
        elements,
        writes: adds,
        mut reads,
    } = collect(key, ops, "add", "the set check", stats, unjudged);
    // "The earliest read" everywhere below means the earliest call.
    reads.sort_by_key(|read| (read.op.call, read.op.id));

    let n = elements.len();
    let mut added: Vec<Added> = vec![Added::default(); n];
    for &(element, op) in &adds {
        let slot = &mut added[element as usize];
        match (&op.outcome, op.ret) {
            (Outcome::Fail { .. }, _) => {
                slot.failed.get_or_insert(op);
            }
            (outcome, ret) => {
                if slot.live.is_none_or(|live| op.call < live.call) {
                    slot.live = Some(op);
                }
                if let (Outcome::Ok(_), Some(ret)) = (outcome, ret) {
                    if slot.acked.is_none_or(|(ack, _)| ret < ack) {
                        slot.acked = Some((ret, op));
                    }
                }
            }
        }
    }
    let acked_elements = added.iter().filter(|a| a.acked.is_some()).count();
    if reads.is_empty() && acked_elements > 0 {
        unjudged.push(format!(
            "no successful read of key {key:?} ({acked_elements} acknowledged adds unverified)"
        ));
    }

    // The first read (by completion) that returned each element.
    let mut first_seen: Vec<Option<(u64, usize)>> = vec![None; n];
    for (r, read) in reads.iter().enumerate() {
        for &e in &read.items {
            let seen = &mut first_seen[e as usize];
            if seen.is_none_or(|(ret, _)| read.ret < ret) {
                *seen = Some((read.ret, r));
            }
        }
    }
    // When each element with a live add became known present.
    let mut known: Vec<(u64, u32)> = (0..n as u32)
        .filter(|&e| added[e as usize].live.is_some())
        .filter_map(|e| {
            let slot = e as usize;
            let ack = added[slot].acked.map(|(ret, _)| ret);
            let seen = first_seen[slot].map(|(ret, _)| ret);
            match (ack, seen) {
                (Some(a), Some(s)) => Some(a.min(s)),
                (a, s) => a.or(s),
            }
            .map(|at| (at, e))
        })
        .collect();
    known.sort_unstable();

    let final_read = reads
        .iter()
        .enumerate()
        .max_by_key(|(_, read)| (read.ret, read.op.call))
        .map(|(r, _)| r);
    let mut stamp = vec![0usize; n];
    let mut duplicate_named = vec![false; n];
    let mut phantom_named = vec![false; n];
    let mut missing_named = vec![false; n];
    for (r, read) in reads.iter().enumerate() {
        let mark = r + 1;
        let mut known_present = 0usize;
        for &e in &read.items {
            let slot = e as usize;
            let value = elements.value(e);
            if stamp[slot] == mark {
                if !duplicate_named[slot] {
                    duplicate_named[slot] = true;
                    found.push(Finding::about_ops(
                        AnomalyKind::Duplicate,
                        key,
                        &[read.op],
                        vec![value.clone()],
                        format!(
                            "key {key:?}: read {} returned element {value} twice: {}.",
                            describe_op(read.op),
                            show_list(&read.items, |&e| elements.value(e).to_string(), None)
                        ),
                    ));
                }
                continue;
            }
            stamp[slot] = mark;
            let element = added[slot];
            let phantom = match (element.live, element.failed) {
                (None, None) => Some((vec![read.op], "which no op added to this key".to_string())),
                (None, Some(failed)) => Some((
                    vec![read.op, failed],
                    format!("whose add {} definitely failed (no effect)", describe_op(failed)),
                )),
                (Some(live), _) if live.call > read.ret => Some((
                    vec![read.op, live],
                    format!(
                        "whose add {} was invoked only after the read returned: a read from the future",
                        describe_op(live)
                    ),
                )),
                _ => None,
            };
            if let Some((ops, why)) = phantom {
                if !phantom_named[slot] {
                    phantom_named[slot] = true;
                    found.push(Finding::about_ops(
                        AnomalyKind::Phantom,
                        key,
                        &ops,
                        vec![value.clone()],
                        format!(
                            "key {key:?}: read {} returned element {value}, {why}.",
                            describe_op(read.op)
                        ),
                    ));
                }
            }
            if element.live.is_some()
                && element_known_at(&added[slot], first_seen[slot]) < read.op.call
            {
                known_present += 1;
            }
        }
        let due = known.partition_point(|&(at, _)| at < read.op.call);
        if known_present < due {
            for &(_, e) in &known[..due] {
                let slot = e as usize;
                if stamp[slot] == mark || missing_named[slot] {
                    continue;
                }
                missing_named[slot] = true;
                let value = elements.value(e);
                let shown = show_list(&read.items, |&e| elements.value(e).to_string(), None);
                let finding = match added[slot].acked {
                    Some((ack, add)) if ack < read.op.call => {
                        bump(stats, "lost", 1);
                        Finding::about_ops(
                            AnomalyKind::LostWrite,
                            key,
                            &[add, read.op],
                            vec![value.clone()],
                            format!(
                                "key {key:?}: the add of {value} by {} was acknowledged before read {} began, \
                                 but that read returned {shown}, without {value}.",
                                describe_op(add),
                                describe_op(read.op),
                            ),
                        )
                    }
                    _ => {
                        let (_, seen_by) = first_seen[slot].expect(
                            "an element known before a read without an ack was read earlier",
                        );
                        let earlier = reads[seen_by].op;
                        Finding::about_ops(
                            AnomalyKind::Rollback,
                            key,
                            &[earlier, read.op],
                            vec![value.clone()],
                            format!(
                                "key {key:?}: read {} returned {value} (its add was not acknowledged), \
                                 then read {}, which began after that, returned {shown}, without {value}.",
                                describe_op(earlier),
                                describe_op(read.op),
                            ),
                        )
                    }
                };
                found.push(finding);
            }
        }
    }

    // Jepsen's "recovered": adds of unknown outcome that reads show.
    for (e, element) in added.iter().enumerate() {
        if element.live.is_none() || element.acked.is_some() {
            continue;
        }
        if first_seen[e].is_some() {
            bump(stats, "unknown_adds_read", 1);
        }
    }
    if let Some(last) = final_read {
        let in_final = reads[last]
            .items
            .iter()
            .filter(|&&e| {
                let element = &added[e as usize];
                element.live.is_some() && element.acked.is_none()
            })
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        bump(stats, "unknown_adds_in_final_read", in_final as u64);
    }
}

/// When an element became known present: its first acknowledgement or the
/// first read that returned it, whichever came first.
fn element_known_at(added: &Added, first_seen: Option<(u64, usize)>) -> u64 {
    let ack = added.acked.map_or(u64::MAX, |(ret, _)| ret);
    let seen = first_seen.map_or(u64::MAX, |(ret, _)| ret);
    ack.min(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{read, Format};
    use crate::verdict::Verdict;
    use serde_json::json;

    /// A history from `(process, type, f, key, value)` rows; `value` is JSON text.
    fn history(rows: &[(u64, &str, &str, &str, &str)]) -> History {
        let mut text = String::new();
        for (i, (process, kind, f, key, value)) in rows.iter().enumerate() {
            text.push_str(&format!(
                r#"{{"index":{i},"time":{},"process":{process},"type":"{kind}","f":"{f}","key":"{key}","value":{value}}}"#,
                i * 10
            ));
            text.push('\n');
        }
        read(&text, "test", Some(Format::Jsonl)).unwrap().0
    }

    fn kinds(report: &AnomalyReport) -> Vec<AnomalyKind> {
        report.anomalies.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn adds_seen_by_later_reads_are_valid_with_stats() {
        // 1 ok, 2 unknown and seen at the end, 3 unknown and never seen,
        // 4 failed and never seen.
        let h = history(&[
            (0, "invoke", "add", "k", "1"),
            (0, "ok", "add", "k", "1"),
            (1, "invoke", "add", "k", "2"),
            (1, "info", "add", "k", "2"),
            (2, "invoke", "add", "k", "3"),
            (2, "info", "add", "k", "3"),
            (3, "invoke", "add", "k", "4"),
            (3, "fail", "add", "k", "4"),
            (4, "invoke", "read", "k", "null"),
            (4, "ok", "read", "k", "[1]"),
            (4, "invoke", "read", "k", "null"),
            (4, "ok", "read", "k", "[1,2]"),
        ]);
        let report = check_set(&h);
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.stats["adds_ok"], 1);
        assert_eq!(report.stats["adds_unknown"], 2);
        assert_eq!(report.stats["adds_failed"], 1);
        assert_eq!(report.stats["unknown_adds_read"], 1);
        assert_eq!(report.stats["unknown_adds_in_final_read"], 1);
        assert_eq!(report.stats["lost"], 0);
    }

    #[test]
    fn acknowledged_add_missing_from_later_reads_is_one_lost_write() {
        // 2 was acknowledged before both reads began; both miss it.
        let h = history(&[
            (0, "invoke", "add", "k", "1"),
            (0, "ok", "add", "k", "1"),
            (0, "invoke", "add", "k", "2"),
            (0, "ok", "add", "k", "2"),
            (1, "invoke", "read", "k", "null"),
            (1, "ok", "read", "k", "[1]"),
            (2, "invoke", "read", "k", "null"),
            (2, "ok", "read", "k", "[1]"),
        ]);
        let report = check_set(&h);
        assert_eq!(kinds(&report), vec![AnomalyKind::LostWrite]);
        assert_eq!(report.anomalies[0].ops, vec![2, 4]);
        assert_eq!(report.anomalies[0].values, vec![json!(2)]);
        assert_eq!(report.stats["lost"], 1);
    }

    #[test]
    fn read_concurrent_with_an_add_may_miss_it() {
        let h = history(&[
            (0, "invoke", "add", "k", "1"),
            (1, "invoke", "read", "k", "null"),
            (0, "ok", "add", "k", "1"),
            (1, "ok", "read", "k", "[]"),
            (1, "invoke", "read", "k", "null"),
            (1, "ok", "read", "k", "[1]"),
        ]);
        assert_eq!(check_set(&h).verdict, Verdict::Valid);
    }

    #[test]
    fn element_read_then_gone_is_a_rollback() {
        // 1's add crashed; one read saw it, a later read did not.
        let h = history(&[
            (0, "invoke", "add", "k", "1"),
            (0, "info", "add", "k", "1"),
            (1, "invoke", "read", "k", "null"),
            (1, "ok", "read", "k", "[1]"),
            (2, "invoke", "read", "k", "null"),
            (2, "ok", "read", "k", "[]"),
        ]);
        let report = check_set(&h);
        assert_eq!(kinds(&report), vec![AnomalyKind::Rollback]);
        assert_eq!(report.anomalies[0].ops, vec![2, 4]);
    }

    #[test]
    fn bad_elements_in_reads_are_duplicates_or_phantoms() {
        // Table: (what the read returned, expected anomaly). Why bad:
        let cases: &[(&str, AnomalyKind)] = &[
            // 1 twice in one read.
            ("[1,1]", AnomalyKind::Duplicate),
            // 9 was never added.
            ("[1,9]", AnomalyKind::Phantom),
            // 3's only add definitely failed.
            ("[1,3]", AnomalyKind::Phantom),
            // 4 was added only after this read returned.
            ("[1,4]", AnomalyKind::Phantom),
        ];
        for (returned, expected) in cases {
            let h = history(&[
                (0, "invoke", "add", "k", "1"),
                (0, "ok", "add", "k", "1"),
                (1, "invoke", "add", "k", "3"),
                (1, "fail", "add", "k", "3"),
                (2, "invoke", "read", "k", "null"),
                (2, "ok", "read", "k", returned),
                (3, "invoke", "add", "k", "4"),
                (3, "ok", "add", "k", "4"),
                (2, "invoke", "read", "k", "null"),
                (2, "ok", "read", "k", "[1,3,4,9]"),
            ]);
            let report = check_set(&h);
            let first: Vec<AnomalyKind> = report
                .anomalies
                .iter()
                .filter(|a| a.ops.contains(&4))
                .map(|a| a.kind)
                .collect();
            assert_eq!(&first, &[*expected], "{returned}: {report:#?}");
        }
    }

    #[test]
    fn adding_an_element_twice_is_harmless() {
        let h = history(&[
            (0, "invoke", "add", "k", "1"),
            (0, "info", "add", "k", "1"),
            (1, "invoke", "add", "k", "1"),
            (1, "ok", "add", "k", "1"),
            (2, "invoke", "read", "k", "null"),
            (2, "ok", "read", "k", "[1]"),
        ]);
        assert_eq!(check_set(&h).verdict, Verdict::Valid);
    }

    #[test]
    fn key_without_a_successful_read_is_unknown_unless_another_key_fails() {
        let unread = history(&[
            (0, "invoke", "add", "a", "1"),
            (0, "ok", "add", "a", "1"),
            (1, "invoke", "read", "b", "null"),
            (1, "ok", "read", "b", "[]"),
        ]);
        let report = check_set(&unread);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert_eq!(
            report.reason.as_deref(),
            Some("no successful read of key \"a\" (1 acknowledged adds unverified)")
        );
        let with_phantom = history(&[
            (0, "invoke", "add", "a", "1"),
            (0, "ok", "add", "a", "1"),
            (1, "invoke", "read", "b", "null"),
            (1, "ok", "read", "b", "[7]"),
        ]);
        let report = check_set(&with_phantom);
        assert_eq!(report.verdict, Verdict::Invalid);
        assert_eq!(kinds(&report), vec![AnomalyKind::Phantom]);
    }
}
