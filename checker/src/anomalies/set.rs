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

use crate::anomalies::elements::{collect, Collected, ElementRules, Origin, Read};
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
    let rules = ElementRules {
        key,
        elements: &elements,
        write_f: "add",
        written: "added",
        origins: added
            .iter()
            .map(|element| match (element.live, element.failed) {
                (Some(live), _) => Origin::Live(live),
                (None, Some(failed)) => Origin::Failed(failed),
                (None, None) => Origin::Never,
            })
            .collect(),
        known_at: (0..n)
            .map(|slot| {
                added[slot].live?;
                element_known_at(&added[slot], first_seen[slot])
            })
            .collect(),
    };
    let shown = |read: &Read| show_list(&read.items, |&e| elements.value(e).to_string(), None);
    let duplicate = |read: &Read, _position: usize, e: u32| {
        let value = elements.value(e);
        Finding::about_ops(
            AnomalyKind::Duplicate,
            key,
            &[read.op],
            vec![value.clone()],
            format!(
                "read {} returned element {value} twice: {}.",
                describe_op(read.op),
                shown(read)
            ),
        )
    };
    let missing = |read: &Read, e: u32| {
        let slot = e as usize;
        let value = elements.value(e);
        let shown = shown(read);
        match added[slot].acked {
            Some((ack, add)) if ack < read.op.call => {
                bump(stats, "lost", 1);
                Finding::about_ops(
                    AnomalyKind::LostWrite,
                    key,
                    &[add, read.op],
                    vec![value.clone()],
                    format!(
                        "the add of {value} by {} was acknowledged before read {} began, \
                         but that read returned {shown}, without {value}.",
                        describe_op(add),
                        describe_op(read.op),
                    ),
                )
            }
            _ => {
                let (_, seen_by) = first_seen[slot]
                    .expect("an element known before a read without an ack was read earlier");
                let earlier = reads[seen_by].op;
                Finding::about_ops(
                    AnomalyKind::Rollback,
                    key,
                    &[earlier, read.op],
                    vec![value.clone()],
                    format!(
                        "read {} returned {value} (its add was not acknowledged), \
                         then read {}, which began after that, returned {shown}, without {value}.",
                        describe_op(earlier),
                        describe_op(read.op),
                    ),
                )
            }
        }
    };
    rules.check(&reads, found, duplicate, missing);

    // Jepsen's "recovered": adds of unknown outcome that reads show.
    let final_read = reads
        .iter()
        .enumerate()
        .max_by_key(|(_, read)| (read.ret, read.op.call))
        .map(|(r, _)| r);
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
/// first read that returned it, whichever came first; `None` when neither.
fn element_known_at(added: &Added, first_seen: Option<(u64, usize)>) -> Option<u64> {
    let ack = added.acked.map(|(ret, _)| ret);
    let seen = first_seen.map(|(ret, _)| ret);
    match (ack, seen) {
        (Some(a), Some(s)) => Some(a.min(s)),
        (a, s) => a.or(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::test_rows::{history, kinds};
    use crate::verdict::Verdict;
    use serde_json::json;

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
