//! Inference: per key, the version order from the reads, the dependency
//! edges it implies (ww, wr, rw), and the anomalies that need no cycle.

use rayon::prelude::*;

use super::{Elem, KeyId, Mop, Status, TxnHistory};

/// Edge kinds as bits, so that a search can take a set of them.
pub(super) const WW: u8 = 1;
/// Write-read.
pub(super) const WR: u8 = 2;
/// Read-write (anti-dependency).
pub(super) const RW: u8 = 4;
/// Real time.
pub(super) const RT: u8 = 8;
/// The key of a realtime edge (none).
pub(super) const NO_KEY: KeyId = KeyId::MAX;
/// No writer: a position of a version order whose element nobody appended.
const NO_TXN: u32 = u32::MAX;

/// One inferred edge between dense transaction indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawEdge {
    pub from: u32,
    pub to: u32,
    pub key: KeyId,
    pub kind: u8,
}

/// A committed read: its transaction and its elements in `read_elems`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadRec {
    pub txn: u32,
    pub start: u32,
    pub end: u32,
}

impl ReadRec {
    fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
}

/// One append: its element, its transaction, and whether it is the
/// transaction's last append to that key.
#[derive(Debug, Clone, Copy)]
struct AppendRec {
    elem: Elem,
    txn: u32,
    last: bool,
    /// Its transaction's status (kept here: looking it up is a cache miss).
    status: Status,
}

/// An anomaly found without a cycle, before it is explained.
#[derive(Debug, Clone)]
pub(super) enum Found {
    /// A committed read saw an aborted transaction's append.
    G1a {
        reader: u32,
        writer: u32,
        key: KeyId,
        read: ReadRec,
        elem: Elem,
    },
    /// A read ended on an append that is not its writer's last to that key.
    G1b {
        reader: u32,
        writer: u32,
        key: KeyId,
        read: ReadRec,
        elem: Elem,
    },
    /// A key's version order has a transaction's append after an aborted one's.
    DirtyUpdate {
        aborted: u32,
        aborted_elem: Elem,
        writer: u32,
        elem: Elem,
        key: KeyId,
        version: ReadRec,
    },
    /// A read inconsistent with the transaction's own earlier micro-ops.
    Internal {
        txn: u32,
        key: KeyId,
        read: ReadRec,
        /// What the earlier micro-ops imply: the whole list (when the
        /// transaction read the key before) or its suffix.
        expected: Vec<Elem>,
        whole: bool,
    },
    /// A read that includes an element its own transaction appends only
    /// later (Elle's future read; reported as `internal`).
    FutureRead {
        txn: u32,
        key: KeyId,
        read: ReadRec,
        elem: Elem,
    },
    /// An element twice in one read.
    Duplicate {
        reader: u32,
        key: KeyId,
        read: ReadRec,
        elem: Elem,
    },
    /// An element nobody appended to that key.
    Garbage {
        reader: u32,
        key: KeyId,
        read: ReadRec,
        elem: Elem,
    },
    /// Two reads of a key, neither a prefix of the other.
    IncompatibleOrder {
        key: KeyId,
        longest: ReadRec,
        other: ReadRec,
    },
    /// A committed append missing from a later read (docs/checks.md).
    LostAppend {
        writer: u32,
        key: KeyId,
        elem: Elem,
        reader: u32,
        read: ReadRec,
    },
}

impl Found {
    /// The class name.
    pub fn class(&self) -> &'static str {
        match self {
            Found::G1a { .. } => "G1a",
            Found::G1b { .. } => "G1b",
            Found::DirtyUpdate { .. } => "dirty-update",
            Found::Internal { .. } | Found::FutureRead { .. } => "internal",
            Found::Duplicate { .. } => "duplicate-append",
            Found::Garbage { .. } => "garbage-read",
            Found::IncompatibleOrder { .. } => "incompatible-order",
            Found::LostAppend { .. } => "lost-append",
        }
    }
}

/// What inference found.
#[derive(Debug, Default)]
pub(super) struct Inferred {
    /// ww, wr and rw edges.
    pub edges: Vec<RawEdge>,
    /// Anomalies found without a cycle.
    pub found: Vec<Found>,
    /// Per key: its version order (the longest read), when its reads agree.
    pub versions: Vec<Option<ReadRec>>,
    /// Per transaction: an `info` transaction whose append someone read.
    pub observed: Vec<bool>,
    /// Input the checker could not use (an element appended twice to a key).
    pub warnings: Vec<String>,
    /// Counts: reads, appends.
    pub reads: u64,
    pub appends: u64,
}

/// The micro-ops grouped by key (CSR): appends and committed reads.
struct ByKey {
    append_start: Vec<u32>,
    appends: Vec<AppendRec>,
    read_start: Vec<u32>,
    reads: Vec<ReadRec>,
    /// The invoke position of each read's transaction.
    read_call: Vec<u64>,
}

fn group_by_key(h: &TxnHistory) -> ByKey {
    let nkeys = h.keys.len();
    let mut append_start = vec![0u32; nkeys + 1];
    let mut read_start = vec![0u32; nkeys + 1];
    for txn in &h.txns {
        let committed = txn.status == Status::Committed;
        for mop in h.mops_of(txn) {
            match mop {
                Mop::Append { key, .. } => append_start[*key as usize + 1] += 1,
                Mop::Read {
                    key,
                    elems: Some(_),
                } if committed => read_start[*key as usize + 1] += 1,
                Mop::Read { .. } => {}
            }
        }
    }
    for k in 0..nkeys {
        append_start[k + 1] += append_start[k];
        read_start[k + 1] += read_start[k];
    }
    let mut append_fill = append_start.clone();
    let mut read_fill = read_start.clone();
    let placeholder = AppendRec {
        elem: 0,
        txn: NO_TXN,
        last: false,
        status: Status::Aborted,
    };
    let mut appends = vec![placeholder; append_start[nkeys] as usize];
    let mut reads = vec![
        ReadRec {
            txn: NO_TXN,
            start: 0,
            end: 0
        };
        read_start[nkeys] as usize
    ];
    let mut read_call = vec![0u64; reads.len()];
    for (t, txn) in h.txns.iter().enumerate() {
        let committed = txn.status == Status::Committed;
        let mops = h.mops_of(txn);
        for (i, mop) in mops.iter().enumerate() {
            match mop {
                Mop::Append { key, elem } => {
                    let last = !mops[i + 1..]
                        .iter()
                        .any(|m| matches!(m, Mop::Append { key: k, .. } if k == key));
                    let slot = &mut append_fill[*key as usize];
                    appends[*slot as usize] = AppendRec {
                        elem: *elem,
                        txn: t as u32,
                        last,
                        status: txn.status,
                    };
                    *slot += 1;
                }
                Mop::Read {
                    key,
                    elems: Some(range),
                } if committed => {
                    let slot = &mut read_fill[*key as usize];
                    reads[*slot as usize] = ReadRec {
                        txn: t as u32,
                        start: range.start,
                        end: range.end,
                    };
                    read_call[*slot as usize] = txn.call;
                    *slot += 1;
                }
                Mop::Read { .. } => {}
            }
        }
    }
    ByKey {
        append_start,
        appends,
        read_start,
        reads,
        read_call,
    }
}

/// Keys per rayon task: enough to amortise the task's buffers.
const KEYS_PER_TASK: usize = 512;
/// Transactions per rayon task of the internal check.
const TXNS_PER_TASK: usize = 8192;

/// Per-task output, concatenated in key order (deterministic).
#[derive(Default)]
struct Part {
    edges: Vec<RawEdge>,
    found: Vec<Found>,
    versions: Vec<Option<ReadRec>>,
    observed: Vec<u32>,
    warnings: Vec<String>,
}

/// Infers version orders, edges and non-cycle anomalies.
pub(super) fn infer(h: &TxnHistory) -> Inferred {
    let by_key = group_by_key(h);
    let nkeys = h.keys.len();
    let chunks: Vec<usize> = (0..nkeys).step_by(KEYS_PER_TASK).collect();
    let parts: Vec<Part> = chunks
        .par_iter()
        .map(|&first| {
            let mut part = Part::default();
            let mut scratch = Scratch::default();
            for key in first..(first + KEYS_PER_TASK).min(nkeys) {
                infer_key(h, &by_key, key as KeyId, &mut scratch, &mut part);
            }
            part
        })
        .collect();
    let internal: Vec<Vec<Found>> = h
        .txns
        .par_chunks(TXNS_PER_TASK)
        .enumerate()
        .map(|(chunk, txns)| {
            let mut found = Vec::new();
            for (i, txn) in txns.iter().enumerate() {
                if txn.status == Status::Committed {
                    internal_anomalies(h, (chunk * TXNS_PER_TASK + i) as u32, &mut found);
                }
            }
            found
        })
        .collect();
    let mut out = Inferred {
        observed: vec![false; h.txns.len()],
        reads: by_key.reads.len() as u64,
        appends: by_key.appends.len() as u64,
        ..Inferred::default()
    };
    out.edges
        .reserve(parts.iter().map(|p| p.edges.len()).sum::<usize>());
    for part in parts {
        out.edges.extend_from_slice(&part.edges);
        out.found.extend(part.found);
        out.versions.extend(part.versions);
        for t in part.observed {
            out.observed[t as usize] = true;
        }
        out.warnings.extend(part.warnings);
    }
    out.found.extend(internal.into_iter().flatten());
    out
}

/// Buffers reused from key to key.
#[derive(Default)]
struct Scratch {
    sorted: Vec<AppendRec>,
    /// Per position of the version order: the index in `sorted` of its
    /// append, or `NO_TXN`.
    at: Vec<u32>,
    seen: Vec<bool>,
    dup: Vec<Elem>,
}

/// Looks `elem` up among appends sorted by element.
fn lookup(sorted: &[AppendRec], elem: Elem) -> Option<usize> {
    sorted.binary_search_by_key(&elem, |a| a.elem).ok()
}

fn infer_key(h: &TxnHistory, by_key: &ByKey, key: KeyId, s: &mut Scratch, part: &mut Part) {
    let k = key as usize;
    let appends =
        &by_key.appends[by_key.append_start[k] as usize..by_key.append_start[k + 1] as usize];
    let read_range = by_key.read_start[k] as usize..by_key.read_start[k + 1] as usize;
    let reads = &by_key.reads[read_range.clone()];
    let read_calls = &by_key.read_call[read_range];
    s.sorted.clear();
    s.sorted.extend_from_slice(appends);
    s.sorted.sort_unstable_by_key(|a| a.elem);
    if let Some(w) = s.sorted.windows(2).find(|w| w[0].elem == w[1].elem) {
        part.warnings.push(format!(
            "key {}: element {} appended by both T{} and T{} (elements must be unique per key): \
             the key gives no edges and no anomalies",
            h.keys[k], w[0].elem, h.txns[w[0].txn as usize].id, h.txns[w[1].txn as usize].id
        ));
        part.versions.push(None);
        return;
    }
    let elems = |r: &ReadRec| &h.read_elems[r.start as usize..r.end as usize];
    let Some(longest) = reads
        .iter()
        .copied()
        .reduce(|a, b| if b.len() > a.len() { b } else { a })
    else {
        part.versions.push(None);
        return;
    };
    let order = elems(&longest);
    let mut compatible = true;
    for r in reads {
        if !order.starts_with(elems(r)) {
            if compatible {
                part.found.push(Found::IncompatibleOrder {
                    key,
                    longest,
                    other: *r,
                });
            }
            compatible = false;
        }
    }
    if !compatible {
        part.versions.push(None);
        for r in reads {
            check_read_alone(h, key, r, &s.sorted, &mut s.dup, part);
        }
        return;
    }
    part.versions.push(Some(longest));
    // Writers of each position of the version order.
    s.at.clear();
    s.seen.clear();
    s.seen.resize(s.sorted.len(), false);
    let mut first_dup = usize::MAX;
    let mut first_garbage = usize::MAX;
    let mut first_aborted = usize::MAX;
    for (p, &e) in order.iter().enumerate() {
        match lookup(&s.sorted, e) {
            Some(i) => {
                if s.seen[i] {
                    first_dup = first_dup.min(p);
                }
                s.seen[i] = true;
                let w = s.sorted[i].txn;
                match s.sorted[i].status {
                    Status::Aborted => first_aborted = first_aborted.min(p),
                    Status::Unknown => part.observed.push(w),
                    Status::Committed => {}
                }
                s.at.push(i as u32);
            }
            None => {
                first_garbage = first_garbage.min(p);
                s.at.push(NO_TXN);
            }
        }
    }
    let writer = |p: usize| -> Option<&AppendRec> {
        let i = s.at[p];
        (i != NO_TXN).then(|| &s.sorted[i as usize])
    };
    // A node of the graph: its writer committed or may have.
    let node = |p: usize| writer(p).filter(|a| a.status != Status::Aborted);
    // ww: consecutive writers (skipping positions with no usable writer).
    let mut prev: Option<u32> = None;
    for p in 0..order.len() {
        if let Some(a) = node(p) {
            if let Some(from) = prev.filter(|&t| t != a.txn) {
                part.edges.push(RawEdge {
                    from,
                    to: a.txn,
                    key,
                    kind: WW,
                });
            }
            prev = Some(a.txn);
        }
    }
    // dirty update: an aborted append followed by a usable one.
    if first_aborted != usize::MAX {
        if let Some(q) = (first_aborted + 1..order.len()).find(|&q| node(q).is_some()) {
            let aborted = writer(first_aborted).expect("an aborted position has a writer");
            let later = node(q).expect("found above");
            part.found.push(Found::DirtyUpdate {
                aborted: aborted.txn,
                aborted_elem: aborted.elem,
                writer: later.txn,
                elem: later.elem,
                key,
                version: longest,
            });
        }
    }
    for r in reads {
        let len = r.len();
        let reader = r.txn;
        if first_aborted < len {
            for p in first_aborted..len {
                if let Some(a) = writer(p).filter(|a| a.status == Status::Aborted) {
                    part.found.push(Found::G1a {
                        reader,
                        writer: a.txn,
                        key,
                        read: *r,
                        elem: a.elem,
                    });
                }
            }
        }
        if first_garbage < len {
            for (&at, &elem) in s.at[first_garbage..len]
                .iter()
                .zip(&order[first_garbage..len])
            {
                if at == NO_TXN {
                    part.found.push(Found::Garbage {
                        reader,
                        key,
                        read: *r,
                        elem,
                    });
                }
            }
        }
        if first_dup < len {
            part.found.push(Found::Duplicate {
                reader,
                key,
                read: *r,
                elem: order[first_dup],
            });
        }
        if len > 0 {
            if let Some(a) = writer(len - 1) {
                if a.txn != reader && !a.last {
                    part.found.push(Found::G1b {
                        reader,
                        writer: a.txn,
                        key,
                        read: *r,
                        elem: a.elem,
                    });
                }
            }
        }
        // wr: the last other writer the read saw.
        if let Some(a) = (0..len).rev().filter_map(node).find(|a| a.txn != reader) {
            part.edges.push(RawEdge {
                from: a.txn,
                to: reader,
                key,
                kind: WR,
            });
        }
        // rw: the first other writer after what the read saw.
        if let Some(a) = (len..order.len())
            .filter_map(node)
            .find(|a| a.txn != reader)
        {
            part.edges.push(RawEdge {
                from: reader,
                to: a.txn,
                key,
                kind: RW,
            });
        }
    }
    // lost append: a committed append in no read, though a read of the key
    // began after the append's transaction completed.
    if let Some(&read_call) = read_calls.iter().max() {
        for (i, a) in s.sorted.iter().enumerate() {
            if s.seen[i] || a.status != Status::Committed {
                continue;
            }
            let txn = &h.txns[a.txn as usize];
            if let Some(ret) = txn.ret.filter(|&ret| ret < read_call) {
                // The earliest read that began after the append completed.
                let (r, _) = reads
                    .iter()
                    .zip(read_calls)
                    .filter(|(_, &call)| call > ret)
                    .min_by_key(|(_, &call)| call)
                    .expect("the last read qualifies");
                part.found.push(Found::LostAppend {
                    writer: a.txn,
                    key,
                    elem: a.elem,
                    reader: r.txn,
                    read: *r,
                });
            }
        }
    }
}

/// The element checks of one read of a key whose reads disagree.
fn check_read_alone(
    h: &TxnHistory,
    key: KeyId,
    r: &ReadRec,
    sorted: &[AppendRec],
    dup: &mut Vec<Elem>,
    part: &mut Part,
) {
    let elems = &h.read_elems[r.start as usize..r.end as usize];
    for &e in elems {
        match lookup(sorted, e) {
            None => part.found.push(Found::Garbage {
                reader: r.txn,
                key,
                read: *r,
                elem: e,
            }),
            Some(i) if h.txns[sorted[i].txn as usize].status == Status::Aborted => {
                part.found.push(Found::G1a {
                    reader: r.txn,
                    writer: sorted[i].txn,
                    key,
                    read: *r,
                    elem: e,
                })
            }
            Some(_) => {}
        }
    }
    dup.clear();
    dup.extend_from_slice(elems);
    dup.sort_unstable();
    if let Some(w) = dup.windows(2).find(|w| w[0] == w[1]) {
        part.found.push(Found::Duplicate {
            reader: r.txn,
            key,
            read: *r,
            elem: w[0],
        });
    }
    if let Some(&e) = elems.last() {
        if let Some(i) = lookup(sorted, e) {
            let a = sorted[i];
            if a.txn != r.txn && !a.last {
                part.found.push(Found::G1b {
                    reader: r.txn,
                    writer: a.txn,
                    key,
                    read: *r,
                    elem: e,
                });
            }
        }
    }
}

/// Reads of committed transaction `t` that disagree with its own earlier
/// micro-ops: after a read of k and appends to k, the next read of k is
/// that read plus those appends; with no earlier read, it ends with them.
fn internal_anomalies(h: &TxnHistory, t: u32, out: &mut Vec<Found>) {
    let mops = h.mops_of(&h.txns[t as usize]);
    for (j, mop) in mops.iter().enumerate() {
        let Mop::Read {
            key,
            elems: Some(range),
        } = mop
        else {
            continue;
        };
        let later = mops[j + 1..].iter().find_map(|m| match m {
            Mop::Append { key: k, elem } if k == key && h.elems(range).contains(elem) => {
                Some(*elem)
            }
            _ => None,
        });
        if let Some(elem) = later {
            out.push(Found::FutureRead {
                txn: t,
                key: *key,
                read: ReadRec {
                    txn: t,
                    start: range.start,
                    end: range.end,
                },
                elem,
            });
            continue;
        }
        let same_key_before = mops[..j].iter().any(|m| match m {
            Mop::Append { key: k, .. } => k == key,
            Mop::Read { key: k, elems } => k == key && elems.is_some(),
        });
        if !same_key_before {
            continue;
        }
        let got = h.elems(range);
        let mut appended: Vec<Elem> = Vec::new();
        let mut prior: Option<&[Elem]> = None;
        for earlier in mops[..j].iter().rev() {
            match earlier {
                Mop::Append { key: k, elem } if k == key => appended.push(*elem),
                Mop::Read {
                    key: k,
                    elems: Some(r),
                } if k == key => {
                    prior = Some(h.elems(r));
                    break;
                }
                _ => {}
            }
        }
        if prior.is_none() && appended.is_empty() {
            continue;
        }
        appended.reverse();
        let (ok, expected, whole) = match prior {
            Some(p) => {
                let ok = got.len() == p.len() + appended.len()
                    && got.starts_with(p)
                    && got.ends_with(&appended);
                let mut expected = p.to_vec();
                expected.extend_from_slice(&appended);
                (ok, expected, true)
            }
            None => (got.ends_with(&appended), appended, false),
        };
        if !ok {
            out.push(Found::Internal {
                txn: t,
                key: *key,
                read: ReadRec {
                    txn: t,
                    start: range.start,
                    end: range.end,
                },
                expected,
                whole,
            });
        }
    }
}
