//! Explanations: every edge's reason and every anomaly in sentences that
//! name transactions as `T<id>` (the `index` of their invokes).

use super::cycles::Cycle;
use super::infer::{Found, RawEdge, ReadRec, RT, RW, WR, WW};
use super::{EdgeKind, Elem, KeyId, Mop, TxnAnomaly, TxnEdge, TxnHistory};

/// Elements a list shows before it is cut (the first few and the last).
const SHOWN: usize = 12;

/// What explanations need: the history and the version orders.
pub(super) struct Explainer<'a> {
    pub h: &'a TxnHistory,
    pub versions: &'a [Option<ReadRec>],
}

/// `[1 2 3]`, or `[1 2 3 ... 98 99 100]` when long.
pub(super) fn list(elems: &[Elem]) -> String {
    let show = |items: &[Elem]| {
        items
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if elems.len() <= SHOWN {
        format!("[{}]", show(elems))
    } else {
        format!(
            "[{} ... {}] ({} elements)",
            show(&elems[..3]),
            show(&elems[elems.len() - (SHOWN - 3)..]),
            elems.len()
        )
    }
}

/// The kind as the report names it.
pub(super) fn kind_of(bits: u8) -> EdgeKind {
    match bits {
        WW => EdgeKind::Ww,
        WR => EdgeKind::Wr,
        RW => EdgeKind::Rw,
        RT => EdgeKind::Realtime,
        _ => EdgeKind::Process,
    }
}

impl Explainer<'_> {
    fn t(&self, txn: u32) -> String {
        format!("T{}", self.h.txns[txn as usize].id)
    }

    fn key(&self, key: KeyId) -> String {
        format!("key {}", self.h.keys[key as usize])
    }

    fn elems(&self, r: &ReadRec) -> &[Elem] {
        &self.h.read_elems[r.start as usize..r.end as usize]
    }

    fn version(&self, key: KeyId) -> &[Elem] {
        self.versions
            .get(key as usize)
            .copied()
            .flatten()
            .map_or(&[][..], |r| self.elems(&r))
    }

    /// The elements `txn` appended to `key`, in order.
    fn appends(&self, txn: u32, key: KeyId) -> Vec<Elem> {
        self.h
            .mops_of(&self.h.txns[txn as usize])
            .iter()
            .filter_map(|m| match m {
                Mop::Append { key: k, elem } if *k == key => Some(*elem),
                _ => None,
            })
            .collect()
    }

    /// The known reads of `key` by `txn`.
    fn reads(&self, txn: u32, key: KeyId) -> Vec<&[Elem]> {
        self.h
            .mops_of(&self.h.txns[txn as usize])
            .iter()
            .filter_map(|m| match m {
                Mop::Read {
                    key: k,
                    elems: Some(r),
                } if *k == key => Some(self.h.elems(r)),
                _ => None,
            })
            .collect()
    }

    /// One edge, with its reason.
    pub fn edge(&self, e: &RawEdge) -> TxnEdge {
        let (a, b) = (self.t(e.from), self.t(e.to));
        let key_name = (e.key != super::infer::NO_KEY).then(|| self.h.keys[e.key as usize].clone());
        let reason = match e.kind {
            WW => {
                let order = self.version(e.key);
                let pos = |x: Elem| order.iter().position(|&y| y == x);
                let first = self
                    .appends(e.from, e.key)
                    .into_iter()
                    .filter(|&x| pos(x).is_some())
                    .max_by_key(|&x| pos(x));
                let second = self
                    .appends(e.to, e.key)
                    .into_iter()
                    .filter(|&x| pos(x) > first.and_then(pos))
                    .min_by_key(|&x| pos(x));
                match (first, second) {
                    (Some(x), Some(y)) => format!(
                        "{a} < {b}: {}'s version order {} has {a}'s append of {x} before {b}'s append of {y}",
                        self.key(e.key), list(order)
                    ),
                    _ => format!("{a} < {b}: {b} appended to {} after {a}", self.key(e.key)),
                }
            }
            WR => {
                let mine = self.appends(e.from, e.key);
                let read = self
                    .reads(e.to, e.key)
                    .into_iter()
                    .find(|r| r.iter().any(|x| mine.contains(x)));
                match read {
                    Some(r) => {
                        let x = r
                            .iter()
                            .rev()
                            .find(|x| mine.contains(x))
                            .expect("found above");
                        format!(
                            "{a} < {b}: {b} read {} = {}, which includes {a}'s append of {x}",
                            self.key(e.key),
                            list(r)
                        )
                    }
                    None => format!("{a} < {b}: {b} read {a}'s append to {}", self.key(e.key)),
                }
            }
            RW => {
                let order = self.version(e.key);
                let theirs = self.appends(e.to, e.key);
                let found = self.reads(e.from, e.key).into_iter().find_map(|r| {
                    order
                        .get(r.len()..)
                        .and_then(|rest| rest.iter().find(|x| theirs.contains(x)))
                        .map(|x| (r, *x))
                });
                match found {
                    Some((r, x)) => format!(
                        "{a} < {b}: {a} read {} = {}, which misses {b}'s append of {x} (the version order is {})",
                        self.key(e.key), list(r), list(order)
                    ),
                    None => format!("{a} < {b}: {a}'s read of {} missed {b}'s append", self.key(e.key)),
                }
            }
            _ => {
                let (ta, tb) = (&self.h.txns[e.from as usize], &self.h.txns[e.to as usize]);
                format!(
                    "{a} < {b}: {a} completed (event {}) before {b} was invoked (event {})",
                    ta.ret.unwrap_or_default(),
                    tb.call
                )
            }
        };
        TxnEdge {
            from: self.h.txns[e.from as usize].id,
            to: self.h.txns[e.to as usize].id,
            kind: kind_of(e.kind),
            key: key_name,
            reason,
        }
    }

    /// A cycle, named and explained.
    pub fn cycle(&self, c: &Cycle) -> TxnAnomaly {
        let edges: Vec<TxnEdge> = c.edges.iter().map(|e| self.edge(e)).collect();
        let txns: Vec<u32> = c.edges.iter().map(|e| e.from).collect();
        let base = c.class.strip_suffix("-realtime").unwrap_or(&c.class);
        let what = match base {
            "G0" => "write-write dependencies only (a dirty write)",
            "G1c" => "write-write and write-read dependencies, at least one write-read (circular information flow)",
            "G-single" => "exactly one anti-dependency (read-write) (read skew)",
            "G-nonadjacent" => "anti-dependencies, no two of them adjacent",
            "G2-item" => "anti-dependencies (read-write), two of them adjacent (write skew)",
            _ => "dependencies whose class the search could not settle within its budget",
        };
        let realtime = if c.class.ends_with("-realtime") {
            "; it needs the real-time order"
        } else {
            ""
        };
        let first = self.t(txns[0]);
        let explanation = format!(
            "{}: a cycle of {} transactions through {what}{realtime}. {}. So {first} would have to come before itself: no serial order explains these transactions.",
            c.class,
            txns.len(),
            edges.iter().map(|e| e.reason.as_str()).collect::<Vec<_>>().join("; ")
        );
        TxnAnomaly {
            class: c.class.clone(),
            forbidden: false,
            txns: txns.iter().map(|&t| self.h.txns[t as usize].id).collect(),
            edges,
            explanation,
            time: self.time(&txns),
        }
    }

    fn time(&self, txns: &[u32]) -> Option<u64> {
        txns.iter()
            .filter_map(|&t| self.h.txns[t as usize].call_time)
            .min()
    }

    /// A non-cycle anomaly, explained.
    pub fn found(&self, f: &Found) -> TxnAnomaly {
        let (txns, explanation): (Vec<u32>, String) = match f {
            Found::G1a { reader, writer, key, read, elem } => (
                vec![*reader, *writer],
                format!(
                    "{r} read {} = {}, which includes {elem}, appended by {w}, which aborted (fail): a committed transaction saw an aborted write.",
                    self.key(*key), list(self.elems(read)), r = self.t(*reader), w = self.t(*writer)
                ),
            ),
            Found::G1b { reader, writer, key, read, elem } => {
                let later: Vec<Elem> = {
                    let all = self.appends(*writer, *key);
                    let at = all.iter().position(|x| x == elem).map_or(all.len(), |p| p + 1);
                    all[at..].to_vec()
                };
                (
                    vec![*reader, *writer],
                    format!(
                        "{r} read {} = {}, which ends on {elem}, an intermediate append of {w}: {w} went on to append {} to that key.",
                        self.key(*key), list(self.elems(read)), list(&later), r = self.t(*reader), w = self.t(*writer)
                    ),
                )
            }
            Found::DirtyUpdate { aborted, aborted_elem, writer, elem, key, version } => (
                vec![*aborted, *writer],
                format!(
                    "{}'s version order {} has {a}'s append of {aborted_elem} ({a} aborted) followed by {w}'s append of {elem}: {w} built on a state written by an aborted transaction.",
                    self.key(*key), list(self.elems(version)), a = self.t(*aborted), w = self.t(*writer)
                ),
            ),
            Found::Internal { txn, key, read, expected, whole } => (
                vec![*txn],
                if *whole {
                    format!(
                        "{t} read {} = {}, but its own earlier read and appends imply {}.",
                        self.key(*key), list(self.elems(read)), list(expected), t = self.t(*txn)
                    )
                } else {
                    format!(
                        "{t} read {} = {}, which does not end with its own earlier appends {}.",
                        self.key(*key), list(self.elems(read)), list(expected), t = self.t(*txn)
                    )
                },
            ),
            Found::FutureRead { txn, key, read, elem } => (
                vec![*txn],
                format!(
                    "{t} read {} = {}, which includes {elem}, an element {t} itself appends to that key only later.",
                    self.key(*key), list(self.elems(read)), t = self.t(*txn)
                ),
            ),
            Found::Duplicate { reader, key, read, elem } => (
                vec![*reader],
                format!(
                    "{} read {} = {}, which holds {elem} more than once: each element is appended once.",
                    self.t(*reader), self.key(*key), list(self.elems(read))
                ),
            ),
            Found::Garbage { reader, key, read, elem } => (
                vec![*reader],
                format!(
                    "{} read {} = {}, but no transaction appended {elem} to that key.",
                    self.t(*reader), self.key(*key), list(self.elems(read))
                ),
            ),
            Found::IncompatibleOrder { key, longest, other } => (
                vec![other.txn, longest.txn],
                format!(
                    "{} read {} = {} and {} read it = {}: neither is a prefix of the other, so no single version order of the key explains both (the key gives no edges).",
                    self.t(other.txn), self.key(*key), list(self.elems(other)), self.t(longest.txn), list(self.elems(longest))
                ),
            ),
            Found::LostAppend { writer, key, elem, reader, read } => {
                let (w, r) = (&self.h.txns[*writer as usize], &self.h.txns[*reader as usize]);
                (
                    vec![*writer, *reader],
                    format!(
                        "{wt} appended {elem} to {} and committed (completed at event {}) before {rt} was invoked (event {}), yet {rt} read {} = {}, and no read ever saw {elem}: the append was acknowledged and lost.",
                        self.key(*key), w.ret.unwrap_or_default(), r.call, self.key(*key), list(self.elems(read)),
                        wt = self.t(*writer), rt = self.t(*reader)
                    ),
                )
            }
        };
        TxnAnomaly {
            class: f.class().to_string(),
            forbidden: false,
            txns: txns.iter().map(|&t| self.h.txns[t as usize].id).collect(),
            edges: Vec::new(),
            explanation,
            time: self.time(&txns),
        }
    }
}
