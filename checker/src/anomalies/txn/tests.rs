//! Behaviour of the txn-list-append checker: every class on a small
//! hand-written history (after Adya's definitions) and its fixed version,
//! under each level; witnesses checked against independently inferred
//! edges; random serial executions always valid; a brute-force oracle.

use proptest::prelude::*;

use super::synthetic::{serial_history, Rng, Shape};
use super::*;
use crate::verdict::Verdict;

/// A micro-op of a hand-written transaction.
#[derive(Clone, Debug)]
enum M {
    A(i64, i64),
    R(i64, Vec<i64>),
}

fn a(key: i64, elem: i64) -> M {
    M::A(key, elem)
}

fn r(key: i64, elems: &[i64]) -> M {
    M::R(key, elems.to_vec())
}

/// One hand-written transaction: status, micro-ops, (call, ret) if fixed.
type Spec = (Status, Vec<M>, Option<(u64, u64)>);

/// Hand-written histories: transactions T1, T2, ... (ids 1, 2, ...).
struct Builder {
    specs: Vec<Spec>,
}

impl Builder {
    fn new() -> Builder {
        Builder { specs: Vec::new() }
    }

    /// A transaction concurrent with every other one (unless `at` is used).
    fn txn(mut self, status: Status, mops: Vec<M>) -> Builder {
        self.specs.push((status, mops, None));
        self
    }

    fn ok(self, mops: Vec<M>) -> Builder {
        self.txn(Status::Committed, mops)
    }

    /// A transaction at explicit event positions (call, ret).
    fn ok_at(mut self, call: u64, ret: u64, mops: Vec<M>) -> Builder {
        self.specs
            .push((Status::Committed, mops, Some((call, ret))));
        self
    }

    fn build(self) -> TxnHistory {
        let n = self.specs.len() as u64;
        let mut h = TxnHistory::default();
        let key_of = |h: &mut TxnHistory, k: i64| -> KeyId {
            let name = KeyName::Int(k);
            match h.keys.iter().position(|x| *x == name) {
                Some(i) => i as KeyId,
                None => {
                    h.keys.push(name);
                    (h.keys.len() - 1) as KeyId
                }
            }
        };
        for (i, (status, mops, at)) in self.specs.into_iter().enumerate() {
            let start = h.mops.len() as u32;
            for m in mops {
                match m {
                    M::A(k, e) => {
                        let key = key_of(&mut h, k);
                        h.mops.push(Mop::Append { key, elem: e });
                    }
                    M::R(k, elems) => {
                        let key = key_of(&mut h, k);
                        let range = (status == Status::Committed).then(|| {
                            let from = h.read_elems.len() as u32;
                            h.read_elems.extend_from_slice(&elems);
                            from..h.read_elems.len() as u32
                        });
                        h.mops.push(Mop::Read { key, elems: range });
                    }
                }
            }
            let (call, ret) = at.unwrap_or((i as u64, n + i as u64));
            h.txns.push(Txn {
                id: i as u64 + 1,
                process: i as u64,
                status,
                call,
                ret: (status != Status::Unknown).then_some(ret),
                call_time: None,
                ret_time: None,
                line: i as u64 + 1,
                mops: start..h.mops.len() as u32,
            });
        }
        h.txns.sort_by_key(|t| t.call);
        h
    }
}

fn classes(report: &TxnReport) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = report
        .anomalies
        .iter()
        .map(|a| (a.class.clone(), a.forbidden))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn forbidden_classes(report: &TxnReport) -> Vec<String> {
    classes(report)
        .into_iter()
        .filter(|(_, f)| *f)
        .map(|(c, _)| c)
        .collect()
}

/// Checks `h` under `level`: the verdict and the forbidden classes.
fn expect(h: &TxnHistory, level: Consistency, verdict: Verdict, forbidden: &[&str]) -> TxnReport {
    let report = check_txn(h, level);
    assert_eq!(
        (report.verdict, forbidden_classes(&report)),
        (
            verdict,
            forbidden.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        ),
        "under {level}: {:#?}",
        report.anomalies
    );
    report
}

fn valid_everywhere(h: &TxnHistory) {
    for level in Consistency::ALL {
        let report = expect(h, level, Verdict::Valid, &[]);
        assert!(report.anomalies.is_empty(), "{:#?}", report.anomalies);
    }
}

/// The levels from `weakest_forbidding` up forbid it; the weaker allow it.
fn forbidden_from(h: &TxnHistory, class: &str, forbidding: &[Consistency]) {
    for level in Consistency::ALL {
        let report = check_txn(h, level);
        let found = classes(&report);
        if forbidding.contains(&level) {
            assert!(
                found.contains(&(class.to_string(), true)),
                "{class} must be forbidden under {level}: {found:?}"
            );
            assert_eq!(report.verdict, Verdict::Invalid, "under {level}");
            assert!(report.witness.is_none());
        } else {
            assert!(
                !found.iter().any(|(c, f)| *f && c == class),
                "{class} must be allowed under {level}: {found:?}"
            );
        }
    }
}

use Consistency::{
    ReadCommitted as RC, RepeatableRead as RR, Serializable as SER, SnapshotIsolation as SI,
    StrictSerializable as SS,
};
const ALL: [Consistency; 5] = Consistency::ALL;

#[test]
fn write_cycle_is_named_g0() {
    let h = Builder::new()
        .ok(vec![a(1, 1), a(2, 1)])
        .ok(vec![a(1, 2), a(2, 2)])
        .ok(vec![r(1, &[1, 2]), r(2, &[2, 1])])
        .build();
    for level in ALL {
        expect(&h, level, Verdict::Invalid, &["G0"]);
    }
    let report = check_txn(&h, SS);
    let g0 = report.anomalies.iter().find(|a| a.class == "G0").unwrap();
    assert_eq!(g0.edges.len(), 2);
    assert!(g0.edges.iter().all(|e| e.kind == EdgeKind::Ww));
    assert!(
        g0.explanation.contains("T1") && g0.explanation.contains("T2"),
        "{}",
        g0.explanation
    );
    let fixed = Builder::new()
        .ok(vec![a(1, 1), a(2, 1)])
        .ok(vec![a(1, 2), a(2, 2)])
        .ok(vec![r(1, &[1, 2]), r(2, &[1, 2])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn read_of_an_aborted_append_is_named_g1a() {
    let h = Builder::new()
        .txn(Status::Aborted, vec![a(1, 1)])
        .ok(vec![r(1, &[1])])
        .build();
    for level in ALL {
        expect(&h, level, Verdict::Invalid, &["G1a"]);
    }
    let report = check_txn(&h, RC);
    assert_eq!(report.anomalies[0].txns, vec![2, 1]);
    assert!(
        report.anomalies[0]
            .explanation
            .contains("T1, which aborted"),
        "{}",
        report.anomalies[0].explanation
    );
    let fixed = Builder::new()
        .txn(Status::Aborted, vec![a(1, 1)])
        .ok(vec![r(1, &[])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn read_of_an_intermediate_append_is_named_g1b() {
    let h = Builder::new()
        .ok(vec![a(1, 1), a(1, 2)])
        .ok(vec![r(1, &[1])])
        .build();
    for level in ALL {
        expect(&h, level, Verdict::Invalid, &["G1b"]);
    }
    // With 2 seen by another read, the intermediate read also misses it:
    // T2 -rw-> T1 -wr-> T2, a G-single besides the G1b.
    let h = Builder::new()
        .ok(vec![a(1, 1), a(1, 2)])
        .ok(vec![r(1, &[1])])
        .ok(vec![r(1, &[1, 2])])
        .build();
    expect(&h, RC, Verdict::Invalid, &["G1b"]);
    expect(&h, SER, Verdict::Invalid, &["G-single", "G1b"]);
    let fixed = Builder::new()
        .ok(vec![a(1, 1), a(1, 2)])
        .ok(vec![r(1, &[1, 2])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn circular_information_flow_is_named_g1c() {
    let h = Builder::new()
        .ok(vec![a(1, 1), r(2, &[1])])
        .ok(vec![a(2, 1), r(1, &[1])])
        .build();
    for level in ALL {
        expect(&h, level, Verdict::Invalid, &["G1c"]);
    }
    let report = check_txn(&h, RC);
    let g1c = &report.anomalies[0];
    assert!(g1c.edges.iter().all(|e| e.kind == EdgeKind::Wr));
    assert!(
        g1c.explanation
            .contains("T1 < T2: T2 read key 1 = [1], which includes T1's append of 1"),
        "{}",
        g1c.explanation
    );
    let fixed = Builder::new()
        .ok(vec![a(1, 1), r(2, &[1])])
        .ok(vec![a(2, 1), r(1, &[])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn read_skew_is_named_g_single() {
    let h = Builder::new()
        .ok(vec![r(1, &[]), r(2, &[1])])
        .ok(vec![a(1, 1), a(2, 1)])
        .ok(vec![r(1, &[1])])
        .build();
    forbidden_from(&h, "G-single", &[SS, SER, SI, RR]);
    expect(&h, RC, Verdict::Valid, &[]);
    let report = check_txn(&h, RC);
    assert_eq!(classes(&report), vec![("G-single".to_string(), false)]);
    let cycle = &report.anomalies[0];
    assert_eq!(
        cycle
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Rw)
            .count(),
        1
    );
    assert!(
        cycle
            .explanation
            .contains("T1 read key 1 = [], which misses T2's append of 1"),
        "{}",
        cycle.explanation
    );
    let fixed = Builder::new()
        .ok(vec![r(1, &[]), r(2, &[])])
        .ok(vec![a(1, 1), a(2, 1)])
        .ok(vec![r(1, &[1])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn nonadjacent_anti_dependencies_are_named_g_nonadjacent() {
    // T1 -rw(1)-> T2 -wr(2)-> T3 -rw(3)-> T4 -wr(4)-> T1.
    let h = Builder::new()
        .ok(vec![r(1, &[]), r(4, &[1])])
        .ok(vec![a(1, 1), a(2, 1)])
        .ok(vec![r(2, &[1]), r(3, &[])])
        .ok(vec![a(3, 1), a(4, 1)])
        .ok(vec![r(1, &[1]), r(3, &[1])])
        .build();
    forbidden_from(&h, "G-nonadjacent", &[SS, SER, SI, RR]);
    let report = check_txn(&h, SI);
    assert_eq!(forbidden_classes(&report), vec!["G-nonadjacent"]);
    let cycle = &report.anomalies[0];
    assert_eq!(
        cycle
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Rw)
            .count(),
        2
    );
    let fixed = Builder::new()
        .ok(vec![r(1, &[]), r(4, &[])])
        .ok(vec![a(1, 1), a(2, 1)])
        .ok(vec![r(2, &[1]), r(3, &[])])
        .ok(vec![a(3, 1), a(4, 1)])
        .ok(vec![r(1, &[1]), r(3, &[1]), r(4, &[1])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn write_skew_is_named_g2_item_and_snapshot_isolation_allows_it() {
    let h = Builder::new()
        .ok(vec![r(1, &[]), a(2, 1)])
        .ok(vec![r(2, &[]), a(1, 1)])
        .ok(vec![r(1, &[1]), r(2, &[1])])
        .build();
    forbidden_from(&h, "G2-item", &[SS, SER, RR]);
    let si = expect(&h, SI, Verdict::Valid, &[]);
    assert_eq!(classes(&si), vec![("G2-item".to_string(), false)]);
    assert!(
        si.witness.is_none(),
        "a witness is a serial order: none under SI"
    );
    let fixed = Builder::new()
        .ok(vec![r(1, &[]), a(2, 1)])
        .ok(vec![r(2, &[1]), a(1, 1)])
        .ok(vec![r(1, &[1]), r(2, &[1])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn g_single_hidden_behind_a_shorter_g2_item_is_still_found() {
    // Write skew between T1 and T2 (adjacent rw), and a read skew T3/T4
    // sharing T1 so that they form one component.
    let h = Builder::new()
        .ok(vec![r(1, &[]), a(2, 1), r(5, &[1])])
        .ok(vec![r(2, &[]), a(1, 1)])
        .ok(vec![a(5, 1), a(6, 1)])
        .ok(vec![r(1, &[1]), r(2, &[1]), r(6, &[1])])
        .ok(vec![r(6, &[]), r(5, &[1])])
        .build();
    let report = check_txn(&h, SI);
    assert!(
        forbidden_classes(&report).contains(&"G-single".to_string()),
        "{:#?}",
        report.anomalies
    );
}

#[test]
fn own_append_missing_from_a_later_read_is_named_internal() {
    let h = Builder::new().ok(vec![a(1, 1), r(1, &[])]).build();
    for level in ALL {
        expect(&h, level, Verdict::Invalid, &["internal"]);
    }
    let h2 = Builder::new()
        .ok(vec![a(1, 5)])
        .ok(vec![r(1, &[]), a(1, 1), r(1, &[5, 1])])
        .build();
    let report = check_txn(&h2, RC);
    assert!(forbidden_classes(&report).contains(&"internal".to_string()));
    assert!(report
        .anomalies
        .iter()
        .any(|a| a.explanation.contains("imply [1]")));
    valid_everywhere(&Builder::new().ok(vec![a(1, 1), r(1, &[1])]).build());
    // A read of its own later append.
    let future = Builder::new().ok(vec![r(1, &[4]), a(1, 4)]).build();
    let report = expect(&future, RC, Verdict::Invalid, &["internal"]);
    assert!(report.anomalies[0]
        .explanation
        .contains("appends to that key only later"));
}

#[test]
fn an_element_read_twice_is_named_duplicate_append() {
    let h = Builder::new()
        .ok(vec![a(1, 1)])
        .ok(vec![r(1, &[1, 1])])
        .build();
    for level in ALL {
        let report = check_txn(&h, level);
        assert!(forbidden_classes(&report).contains(&"duplicate-append".to_string()));
    }
    valid_everywhere(
        &Builder::new()
            .ok(vec![a(1, 1)])
            .ok(vec![r(1, &[1])])
            .build(),
    );
}

#[test]
fn an_element_nobody_appended_is_named_garbage_read() {
    let h = Builder::new()
        .ok(vec![a(1, 1)])
        .ok(vec![r(1, &[9])])
        .build();
    for level in ALL {
        let report = expect(&h, level, Verdict::Invalid, &["garbage-read"]);
        assert!(report.anomalies[0]
            .explanation
            .contains("no transaction appended 9"));
    }
    valid_everywhere(&Builder::new().ok(vec![a(1, 1)]).ok(vec![r(1, &[])]).build());
}

#[test]
fn reads_that_disagree_on_order_are_named_incompatible_order() {
    let h = Builder::new()
        .ok(vec![a(1, 1)])
        .ok(vec![a(1, 2)])
        .ok(vec![r(1, &[1, 2])])
        .ok(vec![r(1, &[2, 1])])
        .build();
    for level in ALL {
        expect(&h, level, Verdict::Invalid, &["incompatible-order"]);
    }
    let fixed = Builder::new()
        .ok(vec![a(1, 1)])
        .ok(vec![a(1, 2)])
        .ok(vec![r(1, &[1, 2])])
        .ok(vec![r(1, &[1])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn an_append_after_an_aborted_one_is_named_dirty_update() {
    let h = Builder::new()
        .txn(Status::Aborted, vec![a(1, 1)])
        .ok(vec![a(1, 2)])
        .ok(vec![r(1, &[1, 2])])
        .build();
    for level in ALL {
        expect(&h, level, Verdict::Invalid, &["G1a", "dirty-update"]);
    }
    let fixed = Builder::new()
        .txn(Status::Aborted, vec![a(1, 1)])
        .ok(vec![a(1, 2)])
        .ok(vec![r(1, &[2])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn an_acknowledged_append_no_later_read_sees_is_a_lost_append_under_strict_serializability() {
    let h = Builder::new()
        .ok_at(0, 1, vec![a(1, 1)])
        .ok_at(2, 3, vec![r(1, &[])])
        .build();
    expect(&h, SS, Verdict::Invalid, &["lost-append"]);
    for level in [SER, SI, RR, RC] {
        let report = expect(&h, level, Verdict::Valid, &[]);
        assert_eq!(classes(&report), vec![("lost-append".to_string(), false)]);
    }
    let fixed = Builder::new()
        .ok_at(0, 1, vec![a(1, 1)])
        .ok_at(2, 3, vec![r(1, &[1])])
        .build();
    valid_everywhere(&fixed);
}

#[test]
fn a_stale_read_after_a_seen_append_is_g_single_realtime() {
    let h = Builder::new()
        .ok_at(0, 1, vec![a(1, 1)])
        .ok_at(2, 3, vec![r(1, &[])])
        .ok_at(4, 5, vec![r(1, &[1])])
        .build();
    let report = expect(&h, SS, Verdict::Invalid, &["G-single-realtime"]);
    let cycle = &report.anomalies[0];
    assert!(cycle.edges.iter().any(|e| e.kind == EdgeKind::Realtime));
    assert!(
        cycle
            .explanation
            .contains("completed (event 1) before T2 was invoked (event 2)"),
        "{}",
        cycle.explanation
    );
    let ser = expect(&h, SER, Verdict::Valid, &[]);
    assert!(ser.anomalies.is_empty());
    assert_eq!(ser.witness, Some(vec![2, 1, 3]));
}

#[test]
fn a_crashed_append_nobody_read_adds_no_edges() {
    // T2 crashed; had it committed, T1's read would miss it (rw), and T3
    // could not see it... but nobody saw it: no anomaly either way.
    let h = Builder::new()
        .ok(vec![r(1, &[])])
        .txn(Status::Unknown, vec![a(1, 7)])
        .ok(vec![r(1, &[])])
        .build();
    valid_everywhere(&h);
    let report = check_txn(&h, SS);
    assert_eq!(report.witness, Some(vec![1, 3]));
}

#[test]
fn a_crashed_append_someone_read_counts_as_committed() {
    let h = Builder::new()
        .ok(vec![r(1, &[]), r(2, &[7])])
        .txn(Status::Unknown, vec![a(1, 7), a(2, 7)])
        .ok(vec![r(1, &[7])])
        .build();
    forbidden_from(&h, "G-single", &[SS, SER, SI, RR]);
    let fixed = Builder::new()
        .ok(vec![r(1, &[7]), r(2, &[7])])
        .txn(Status::Unknown, vec![a(1, 7), a(2, 7)])
        .build();
    let report = check_txn(&fixed, SER);
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.witness, Some(vec![2, 1]));
}

#[test]
fn judge_follows_the_table_in_docs() {
    assert_eq!(judge("G2-item", SI), Judgement::Allowed);
    assert_eq!(judge("G-single", SI), Judgement::Forbidden);
    assert_eq!(judge("G1c", RC), Judgement::Forbidden);
    assert_eq!(judge("G-single", RC), Judgement::Allowed);
    assert_eq!(judge("G0-realtime", SER), Judgement::Allowed);
    assert_eq!(judge("G0-realtime", SS), Judgement::Forbidden);
    assert_eq!(judge("cycle", SER), Judgement::Forbidden);
    assert_eq!(judge("cycle", SI), Judgement::Undecided);
}

#[test]
fn summary_names_the_level_and_the_forbidden_classes() {
    let h = Builder::new()
        .ok(vec![r(1, &[]), a(2, 1)])
        .ok(vec![r(2, &[]), a(1, 1)])
        .ok(vec![r(1, &[1]), r(2, &[1])])
        .build();
    let line = check_txn(&h, RR).summary();
    assert!(
        line.starts_with("txn-list-append (repeatable-read): INVALID: 1 G2-item"),
        "{line}"
    );
    let line = check_txn(&h, SI).summary();
    assert!(
        line.starts_with("txn-list-append (snapshot-isolation): valid (allowed: 1 G2-item)"),
        "{line}"
    );
}

#[test]
fn from_history_reads_jsonl_txns_and_names_bad_lines() {
    let text = r#"{"index":0,"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["r",3,null]]}
{"index":1,"process":0,"type":"ok","f":"txn","value":[["append","x",1],["r",3,[]]]}
{"index":2,"process":1,"type":"invoke","f":"txn","value":[["r","x",null]]}
{"index":3,"process":1,"type":"ok","f":"txn","value":[["r","x",[1]]]}
"#;
    let (history, _) = crate::format::read(text, "h.jsonl", Some(crate::Format::Jsonl)).unwrap();
    let h = TxnHistory::from_history(&history).unwrap();
    assert_eq!(h.txns.len(), 2);
    assert_eq!(h.keys, vec![KeyName::Str("x".into()), KeyName::Int(3)]);
    assert_eq!(h.txns[1].status, Status::Committed);
    let report = check_history(&history, SS).unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.witness, Some(vec![0, 2]));

    let bad = text.replace(r#"["r","x",[1]]"#, r#"["r","x",["a"]]"#);
    let (history, _) = crate::format::read(&bad, "h.jsonl", Some(crate::Format::Jsonl)).unwrap();
    let err = TxnHistory::from_history_named(&history, "h.jsonl")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("h.jsonl:3: micro-op 0: a read's elements are i64 integers"),
        "{err}"
    );
    let bad = text.replace(
        r#""f":"txn","value":[["r","x",null]]"#,
        r#""f":"read","value":null"#,
    );
    let (history, _) = crate::format::read(&bad, "h.jsonl", Some(crate::Format::Jsonl)).unwrap();
    let err = TxnHistory::from_history_named(&history, "h.jsonl")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("h.jsonl:3: txn-list-append takes only ops with f \"txn\""),
        "{err}"
    );
}

/// Every edge a serial order must respect, inferred naively (all pairs):
/// independent of the checker's inference, for witness checks.
fn naive_edges(h: &TxnHistory, realtime: bool) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let writer = |key: KeyId, elem: Elem| {
        h.txns
            .iter()
            .find(|t| h.mops_of(t).contains(&Mop::Append { key, elem }))
    };
    let observed: Vec<bool> = h
        .txns
        .iter()
        .map(|t| {
            t.status == Status::Committed
                || (t.status == Status::Unknown
                    && h.mops_of(t).iter().any(|m| match m {
                        Mop::Append { key, elem } => h.txns.iter().any(|reader| {
                            reader.status == Status::Committed
                                && h.mops_of(reader).iter().any(|m| {
                                    matches!(m, Mop::Read { key: k, elems: Some(r) } if k == key && h.elems(r).contains(elem))
                                })
                        }),
                        _ => false,
                    }))
        })
        .collect();
    for (k, _) in h.keys.iter().enumerate() {
        let key = k as KeyId;
        let reads: Vec<(&Txn, &[Elem])> = h
            .txns
            .iter()
            .filter(|t| t.status == Status::Committed)
            .flat_map(|t| {
                h.mops_of(t).iter().filter_map(move |m| match m {
                    Mop::Read {
                        key: kk,
                        elems: Some(r),
                    } if *kk == key => Some((t, h.elems(r))),
                    _ => None,
                })
            })
            .collect();
        let Some(order) = reads.iter().map(|(_, e)| *e).max_by_key(|e| e.len()) else {
            continue;
        };
        let writers: Vec<Option<&Txn>> = order
            .iter()
            .map(|&e| writer(key, e).filter(|w| w.status != Status::Aborted))
            .collect();
        for i in 0..order.len() {
            for j in i + 1..order.len() {
                if let (Some(a), Some(b)) = (writers[i], writers[j]) {
                    if a.id != b.id {
                        out.push((a.id, b.id));
                    }
                }
            }
        }
        for (reader, elems) in &reads {
            for (p, w) in writers.iter().enumerate() {
                let Some(w) = w else { continue };
                if w.id == reader.id {
                    continue;
                }
                if p < elems.len() {
                    out.push((w.id, reader.id));
                } else {
                    out.push((reader.id, w.id));
                }
            }
        }
    }
    if realtime {
        for a in h.txns.iter().filter(|t| t.status == Status::Committed) {
            for (b, _) in h.txns.iter().zip(&observed).filter(|(_, o)| **o) {
                if a.ret.is_some_and(|ret| ret < b.call) {
                    out.push((a.id, b.id));
                }
            }
        }
    }
    out
}

/// The witness orders every observed-or-committed transaction once and
/// respects every naive edge.
fn assert_witness_respects_edges(h: &TxnHistory, report: &TxnReport) {
    let witness = report
        .witness
        .as_ref()
        .expect("a valid verdict has a witness");
    let mut position = std::collections::HashMap::new();
    for (i, id) in witness.iter().enumerate() {
        assert!(
            position.insert(*id, i).is_none(),
            "T{id} twice in the witness"
        );
    }
    for t in h.txns.iter().filter(|t| t.status == Status::Committed) {
        assert!(
            position.contains_key(&t.id),
            "committed T{} missing from the witness",
            t.id
        );
    }
    let realtime = report.consistency == SS;
    for (a, b) in naive_edges(h, realtime) {
        assert!(
            position[&a] < position[&b],
            "the witness puts T{b} before T{a}"
        );
    }
}

#[test]
fn witness_of_a_serial_execution_respects_every_edge() {
    let h = serial_history(&Shape {
        txns: 400,
        seed: 3,
        ..Shape::default()
    });
    for level in [SS, SER] {
        let report = check_txn(&h, level);
        assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report.anomalies);
        assert_witness_respects_edges(&h, &report);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn serial_executions_with_concurrency_and_crashes_are_always_valid(
        seed in any::<u64>(),
        txns in 1usize..300,
        clients in 1usize..8,
        hot_keys in 1usize..6,
        info_ppm in 0u32..200_000,
        fail_ppm in 0u32..200_000,
    ) {
        let h = serial_history(&Shape {
            txns, clients, max_mops: 6, hot_keys, retire_after: 12, info_ppm, fail_ppm, stale_ppm: 0, seed,
        });
        for level in ALL {
            let report = check_txn(&h, level);
            prop_assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report.anomalies);
            prop_assert!(report.anomalies.is_empty(), "{:#?}", report.anomalies);
            if matches!(level, SS | SER) {
                assert_witness_respects_edges(&h, &report);
            }
        }
    }
}

/// A small history of a serial execution where some reads are replaced by
/// another prefix of the key's final list (stale, future, or odd), some
/// transactions abort, and a last transaction reads every key.
fn perturbed_history(seed: u64) -> TxnHistory {
    let mut rng = Rng::new(seed);
    let ntxns = 2 + rng.below(4) as usize;
    let nkeys = 1 + rng.below(3) as i64;
    let mut lists: Vec<Vec<i64>> = vec![Vec::new(); nkeys as usize];
    let mut specs: Vec<(Status, Vec<M>)> = Vec::new();
    let mut next = 1;
    for _ in 0..ntxns {
        let aborted = rng.chance(0.15);
        let mut mops = Vec::new();
        let mut local = lists.clone();
        for _ in 0..1 + rng.below(3) {
            let k = rng.below(nkeys as u64) as i64;
            if rng.chance(0.5) {
                mops.push(r(k, &local[k as usize]));
            } else {
                mops.push(a(k, next));
                local[k as usize].push(next);
                next += 1;
            }
        }
        if !aborted {
            lists = local;
        }
        specs.push((
            if aborted {
                Status::Aborted
            } else {
                Status::Committed
            },
            mops,
        ));
    }
    // Perturb some reads: another prefix of the final list, or a
    // duplicate/garbage element now and then.
    for (_, mops) in specs.iter_mut() {
        for m in mops.iter_mut() {
            if let M::R(k, elems) = m {
                if rng.chance(0.3) {
                    let fin = &lists[*k as usize];
                    let len = rng.below(fin.len() as u64 + 1) as usize;
                    *elems = fin[..len].to_vec();
                    if rng.chance(0.1) {
                        elems.push(if rng.chance(0.5) {
                            999
                        } else {
                            fin.first().copied().unwrap_or(999)
                        });
                    }
                }
            }
        }
    }
    let last: Vec<M> = (0..nkeys).map(|k| r(k, &lists[k as usize])).collect();
    specs.push((Status::Committed, last));
    let mut b = Builder::new();
    for (status, mops) in specs {
        b = b.txn(status, mops);
    }
    b.build()
}

/// Whether some serial order of the committed transactions replays every
/// read exactly (all permutations).
fn brute_force_serializable(h: &TxnHistory) -> bool {
    let committed: Vec<&Txn> = h
        .txns
        .iter()
        .filter(|t| t.status == Status::Committed)
        .collect();
    let mut order: Vec<usize> = (0..committed.len()).collect();
    fn permute(k: usize, order: &mut Vec<usize>, test: &dyn Fn(&[usize]) -> bool) -> bool {
        if k == order.len() {
            return test(order);
        }
        for i in k..order.len() {
            order.swap(k, i);
            if permute(k + 1, order, test) {
                return true;
            }
            order.swap(k, i);
        }
        false
    }
    let replay = |order: &[usize]| {
        let mut state: Vec<Vec<Elem>> = vec![Vec::new(); h.keys.len()];
        for &i in order {
            for m in h.mops_of(committed[i]) {
                match m {
                    Mop::Append { key, elem } => state[*key as usize].push(*elem),
                    Mop::Read {
                        key,
                        elems: Some(r),
                    } => {
                        if state[*key as usize] != h.elems(r) {
                            return false;
                        }
                    }
                    Mop::Read { .. } => {}
                }
            }
        }
        true
    };
    permute(0, &mut order, &replay)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn verdict_under_serializability_agrees_with_brute_force(seed in any::<u64>()) {
        let h = perturbed_history(seed);
        let report = check_txn(&h, SER);
        let oracle = brute_force_serializable(&h);
        prop_assert_eq!(
            report.verdict == Verdict::Valid,
            oracle,
            "checker {:?} vs brute force {}: {:#?}",
            report.verdict,
            oracle,
            report.anomalies
        );
        if oracle {
            assert_witness_respects_edges(&h, &report);
        }
    }
}

#[test]
fn oracle_histories_mix_serializable_and_not() {
    let valid = (0..300u64)
        .filter(|&seed| brute_force_serializable(&perturbed_history(seed)))
        .count();
    // Both verdicts are common, so the agreement test tests both ways.
    assert!((60..=240).contains(&valid), "{valid} of 300 serializable");
}
