//! [`check_txn`](super::check_txn): inference, the graph, the cycle
//! searches, and the judgement against a consistency level.

use std::collections::BTreeMap;

use super::cycles::{classify, Cycle};
use super::explain::Explainer;
use super::graph::{components, realtime_edges, topological, Csr, View};
use super::infer::{infer, RawEdge, RT, RW, WR, WW};
use super::{Consistency, Status, TxnAnomaly, TxnHistory, TxnReport};
use crate::verdict::Verdict;

/// Anomalies listed per class (all are counted).
pub const MAX_LISTED_PER_CLASS: usize = 8;

/// How a level judges a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// The level forbids it: the history is invalid.
    Forbidden,
    /// The level allows it: reported, not a violation.
    Allowed,
    /// It may or may not be a violation of the level: the verdict is unknown.
    Undecided,
}

/// How `level` judges an anomaly of `class` (docs/checks.md, the table
/// under "txn-list-append").
pub fn judge(class: &str, level: Consistency) -> Judgement {
    use Consistency::*;
    use Judgement::*;
    let yes = |forbidden: bool| if forbidden { Forbidden } else { Allowed };
    if let Some(base) = class.strip_suffix("-realtime") {
        // Real-time cycles are only built for strict serializability.
        return match base {
            "G0" | "G1c" | "G-single" | "G-nonadjacent" | "G2-item" | "cycle" => {
                yes(level == StrictSerializable)
            }
            _ => Allowed,
        };
    }
    match class {
        "internal" | "dirty-update" | "duplicate-append" | "garbage-read"
        | "incompatible-order" | "G0" | "G1a" | "G1b" | "G1c" => Forbidden,
        // A committed append missing from a read that began after it
        // completed is a stale read: only real time forbids it.
        "lost-append" => yes(level == StrictSerializable),
        "G-single" | "G-nonadjacent" => yes(level != ReadCommitted),
        "G2-item" => yes(!matches!(level, ReadCommitted | SnapshotIsolation)),
        // An unsettled component: every cycle is forbidden under
        // serializability; under snapshot isolation it may be a G-single
        // or a G-nonadjacent (or only an allowed G2-item); under repeatable
        // read and read committed the exact G0, G1c and G2-item searches
        // already judged it.
        "cycle" => match level {
            StrictSerializable | Serializable => Forbidden,
            SnapshotIsolation => Undecided,
            RepeatableRead | ReadCommitted => Allowed,
        },
        _ => Forbidden,
    }
}

pub(super) fn check(h: &TxnHistory, level: Consistency) -> TxnReport {
    let inferred = infer(h);
    let n = h.txns.len();
    let node: Vec<bool> = h
        .txns
        .iter()
        .enumerate()
        .map(|(t, txn)| match txn.status {
            Status::Committed => true,
            Status::Unknown => inferred.observed[t],
            Status::Aborted => false,
        })
        .collect();
    let realtime = level == Consistency::StrictSerializable;
    let edges: Vec<RawEdge> = inferred.edges;
    let mut rt_edges: Vec<RawEdge> = Vec::new();
    if realtime {
        realtime_edges(h, &node, &mut rt_edges);
    }
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_kind = [0u64; 16];
    for e in edges.iter().chain(&rt_edges) {
        by_kind[e.kind as usize & 15] += 1;
    }
    for (name, bits) in [
        ("edges_ww", WW),
        ("edges_wr", WR),
        ("edges_rw", RW),
        ("edges_realtime", RT),
    ] {
        stats.insert(name.into(), by_kind[bits as usize]);
    }
    let graph = Csr::build_from(n, &[&edges, &rt_edges]);
    drop(edges);
    drop(rt_edges);
    let (order, sorted) = topological(&graph);
    let mut cycles: Vec<Cycle> = Vec::new();
    let mut undetermined = 0usize;
    let mut component_count = 0u64;
    let mut largest = 0u64;
    if order.len() < n {
        let rest: Vec<u32> = (0..n as u32).filter(|&v| !sorted[v as usize]).collect();
        let alive: Vec<bool> = sorted.iter().map(|s| !s).collect();
        let (comps, _) = components(View {
            g: &graph,
            alive: &alive,
            nodes: &rest,
            mask: u8::MAX,
        });
        let mut index = vec![u32::MAX; n];
        for comp in &comps {
            component_count += 1;
            largest = largest.max(comp.len() as u64);
            let found = classify(&graph, comp, &mut index, realtime);
            if found.undetermined {
                undetermined += 1;
                let mut cycle = found.cycles.first().cloned().unwrap_or(Cycle {
                    class: String::new(),
                    edges: Vec::new(),
                });
                cycle.class = "cycle".into();
                if !cycle.edges.is_empty() {
                    cycles.push(cycle);
                }
            }
            cycles.extend(found.cycles);
        }
    }
    let explainer = Explainer {
        h,
        versions: &inferred.versions,
    };
    // Count every anomaly; explain the first few of each class.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut anomalies: Vec<TxnAnomaly> = Vec::new();
    let mut worst = Verdict::Valid;
    let mut take = |class: &str, make: &dyn Fn() -> TxnAnomaly| {
        let count = counts.entry(class.to_string()).or_default();
        *count += 1;
        let judgement = judge(class, level);
        worst = worst.max(match judgement {
            Judgement::Forbidden => Verdict::Invalid,
            Judgement::Undecided => Verdict::Unknown,
            Judgement::Allowed => Verdict::Valid,
        });
        if *count <= MAX_LISTED_PER_CLASS {
            let mut anomaly = make();
            anomaly.forbidden = judgement == Judgement::Forbidden;
            anomalies.push(anomaly);
        }
    };
    for f in &inferred.found {
        take(f.class(), &|| explainer.found(f));
    }
    for c in &cycles {
        take(&c.class, &|| explainer.cycle(c));
    }
    anomalies.sort_by_key(|a| !a.forbidden);
    let verdict = worst;
    let reason = (verdict == Verdict::Unknown).then(|| {
        format!(
            "{undetermined} cycle component(s) could not be classified within the search budget: \
             they may hold a G-single or G-nonadjacent, which {level} forbids"
        )
    });
    let witness = (verdict == Verdict::Valid
        && matches!(
            level,
            Consistency::StrictSerializable | Consistency::Serializable
        ))
    .then(|| {
        order
            .iter()
            .filter(|&&v| node[v as usize])
            .map(|&v| h.txns[v as usize].id)
            .collect()
    });
    let status_count = |s: Status| h.txns.iter().filter(|t| t.status == s).count() as u64;
    stats.insert("txns".into(), n as u64);
    stats.insert("committed".into(), status_count(Status::Committed));
    stats.insert("aborted".into(), status_count(Status::Aborted));
    stats.insert("unknown".into(), status_count(Status::Unknown));
    stats.insert(
        "unknown_observed".into(),
        inferred.observed.iter().filter(|&&o| o).count() as u64,
    );
    stats.insert("keys".into(), h.keys.len() as u64);
    stats.insert("reads".into(), inferred.reads);
    stats.insert("appends".into(), inferred.appends);
    stats.insert("components".into(), component_count);
    stats.insert("largest_component".into(), largest);
    TxnReport {
        consistency: level,
        verdict,
        anomalies,
        counts,
        witness,
        reason,
        stats,
        warnings: inferred.warnings,
    }
}
