//! Dense ids for the elements of one key's appends, adds and reads, so the
//! named checks index arrays instead of hashing JSON over and over.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::anomalies::report::{bump, describe_op, note_unjudged, AnomalyKind, Finding};
use crate::history::{Op, Outcome};

/// An ok read of a whole collection (list or set), its elements as ids.
pub(crate) struct Read<'a> {
    pub op: &'a Op,
    /// Its completion position; an ok op always has one (without one it
    /// could end at any later instant: `u64::MAX`).
    pub ret: u64,
    pub items: Vec<u32>,
}

/// One key's ops of a growing collection, sorted into writes and reads.
pub(crate) struct Collected<'a> {
    pub elements: Elements,
    /// Each write (`append`, `add`) with its element's id.
    pub writes: Vec<(u32, &'a Op)>,
    /// Ok reads, in the order of the ops given.
    pub reads: Vec<Read<'a>>,
}

/// Sorts the ops of `key` into writes (`f == write_f`) and ok reads,
/// counting them in `stats` (`<write_f>s_ok`, `_failed`, `_unknown`,
/// `reads_ok`, `elements_read`, `reads_not_ok`); ops that fit neither are
/// named in `unjudged`, as `check` does not know them.
pub(crate) fn collect<'a>(
    key: &str,
    ops: &[&'a Op],
    write_f: &str,
    check: &str,
    stats: &mut BTreeMap<String, u64>,
    unjudged: &mut Vec<String>,
) -> Collected<'a> {
    let mut elements = Elements::default();
    let mut writes = Vec::new();
    let mut reads = Vec::new();
    let mut strange: Vec<String> = Vec::new();
    for &op in ops {
        if op.f == write_f {
            writes.push((elements.intern(&op.input), op));
            let outcome = match op.outcome {
                Outcome::Ok(_) if op.ret.is_some() => "ok",
                Outcome::Fail { .. } => "failed",
                _ => "unknown",
            };
            bump(stats, &format!("{write_f}s_{outcome}"), 1);
        } else if op.f == "read" {
            let Outcome::Ok(value) = &op.outcome else {
                bump(stats, "reads_not_ok", 1);
                continue;
            };
            let Some(items) = elements.intern_list(value) else {
                strange.push(format!(
                    "read {} returned {value}, not a list",
                    describe_op(op)
                ));
                continue;
            };
            bump(stats, "reads_ok", 1);
            bump(stats, "elements_read", items.len() as u64);
            reads.push(Read {
                op,
                ret: op.ret.unwrap_or(u64::MAX),
                items,
            });
        } else {
            strange.push(format!(
                "{} has f = {:?}; {check} knows {write_f} and read",
                describe_op(op),
                op.f
            ));
        }
    }
    note_unjudged(key, &strange, unjudged);
    Collected {
        elements,
        writes,
        reads,
    }
}

/// What the writes of one element say about it, for the element rules.
#[derive(Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// Left out of every rule: several writes of it may have taken effect.
    Unjudged,
    /// No op wrote it.
    Never,
    /// Every write of it definitely failed; the first such op.
    Failed(&'a Op),
    /// The earliest-called write that may have taken effect.
    Live(&'a Op),
}

/// The element rules the list-append and set checks share: a read holds
/// each element once (else a [`Duplicate`](AnomalyKind::Duplicate)), only
/// elements written by an op that may have taken effect and was invoked
/// before the read returned (else a [`Phantom`](AnomalyKind::Phantom)), and
/// every element known present before it began (else `missing` says what).
/// One anomaly per element and rule, named by the earliest read (in `reads`'
/// order) that shows it.
pub(crate) struct ElementRules<'a, 'k> {
    pub key: &'k str,
    pub elements: &'k Elements,
    /// The write's name and past participle: `append`, `appended`.
    pub write_f: &'static str,
    pub written: &'static str,
    /// Per element: what its writes say.
    pub origins: Vec<Origin<'a>>,
    /// Per element: the position from which it is known present, if ever.
    pub known_at: Vec<Option<u64>>,
}

impl<'a> ElementRules<'a, '_> {
    /// Applies the rules to `reads`, adding what they find to `found`.
    /// `duplicate(read, position, element)` tells a duplicate at `position`;
    /// `missing(read, element)` an element known present before `read` began
    /// that it lacks.
    pub fn check(
        &self,
        reads: &[Read<'a>],
        found: &mut Vec<Finding>,
        duplicate: impl Fn(&Read<'a>, usize, u32) -> Finding,
        mut missing: impl FnMut(&Read<'a>, u32) -> Finding,
    ) {
        let n = self.elements.len();
        let mut known: Vec<(u64, u32)> = (0..n as u32)
            .filter_map(|e| self.known_at[e as usize].map(|at| (at, e)))
            .collect();
        known.sort_unstable();
        // stamp[e] == r + 1 when read r holds element e.
        let mut stamp = vec![0usize; n];
        let mut duplicate_named = vec![false; n];
        let mut phantom_named = vec![false; n];
        let mut missing_named = vec![false; n];
        for (r, read) in reads.iter().enumerate() {
            let mark = r + 1;
            let mut known_present = 0usize;
            for (position, &e) in read.items.iter().enumerate() {
                let slot = e as usize;
                if matches!(self.origins[slot], Origin::Unjudged) {
                    continue;
                }
                if stamp[slot] == mark {
                    if !duplicate_named[slot] {
                        duplicate_named[slot] = true;
                        found.push(duplicate(read, position, e));
                    }
                    continue;
                }
                stamp[slot] = mark;
                if let Some((ops, why)) = self.phantom(read, self.origins[slot]) {
                    if !phantom_named[slot] {
                        phantom_named[slot] = true;
                        let value = self.elements.value(e);
                        found.push(Finding::about_ops(
                            AnomalyKind::Phantom,
                            self.key,
                            &ops,
                            vec![value.clone()],
                            format!(
                                "read {} returned element {value}, {why}.",
                                describe_op(read.op)
                            ),
                        ));
                    }
                }
                if self.known_at[slot].is_some_and(|at| at < read.op.call) {
                    known_present += 1;
                }
            }
            let due = known.partition_point(|&(at, _)| at < read.op.call);
            if known_present == due {
                continue;
            }
            for &(_, e) in &known[..due] {
                let slot = e as usize;
                if stamp[slot] == mark || missing_named[slot] {
                    continue;
                }
                missing_named[slot] = true;
                found.push(missing(read, e));
            }
        }
    }

    /// Why `read` cannot hold an element of `origin`, with the ops to name;
    /// `None` when it may.
    fn phantom(&self, read: &Read<'a>, origin: Origin<'a>) -> Option<(Vec<&'a Op>, String)> {
        let (write_f, written) = (self.write_f, self.written);
        match origin {
            Origin::Never => Some((
                vec![read.op],
                format!("which no op {written} to this key"),
            )),
            Origin::Failed(op) => Some((
                vec![read.op, op],
                format!(
                    "whose {write_f} {} definitely failed (no effect)",
                    describe_op(op)
                ),
            )),
            Origin::Live(op) if op.call > read.ret => Some((
                vec![read.op, op],
                format!(
                    "whose {write_f} {} was invoked only after the read returned: a read from the future",
                    describe_op(op)
                ),
            )),
            Origin::Live(_) | Origin::Unjudged => None,
        }
    }
}

/// An element as a hash key: integers without allocating, anything else by
/// its canonical JSON text (objects have sorted keys, so equal JSON values
/// give equal text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ElementKey {
    Unsigned(u64),
    Negative(i64),
    Text(String),
}

impl ElementKey {
    fn of(value: &Value) -> ElementKey {
        // serde_json keeps every non-negative integer as u64 and every
        // negative one as i64, so each integer has exactly one key.
        if let Some(n) = value.as_u64() {
            ElementKey::Unsigned(n)
        } else if let Some(n) = value.as_i64() {
            ElementKey::Negative(n)
        } else {
            ElementKey::Text(value.to_string())
        }
    }
}

/// The distinct elements met on one key, each with a dense id `0..len()`.
#[derive(Debug, Default)]
pub(crate) struct Elements {
    ids: FxHashMap<ElementKey, u32>,
    values: Vec<Value>,
}

impl Elements {
    /// The id of `value`, adding it when new.
    pub fn intern(&mut self, value: &Value) -> u32 {
        let key = ElementKey::of(value);
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = u32::try_from(self.values.len()).expect("fewer than 2^32 elements on one key");
        self.values.push(value.clone());
        self.ids.insert(key, id);
        id
    }

    /// The element behind `id`.
    /// The ids of a list read's elements (`null` reads as the empty list),
    /// or `None` when the read returned something else.
    pub fn intern_list(&mut self, value: &Value) -> Option<Vec<u32>> {
        match value {
            Value::Array(items) => Some(items.iter().map(|item| self.intern(item)).collect()),
            Value::Null => Some(Vec::new()),
            _ => None,
        }
    }

    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// The elements behind `ids`, cloned.
    pub fn values(&self, ids: &[u32]) -> Vec<Value> {
        ids.iter().map(|&id| self.value(id).clone()).collect()
    }

    /// How many distinct elements.
    pub fn len(&self) -> usize {
        self.values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomalies::test_rows::{history, kinds};
    use crate::anomalies::{list_append::check_list_append, set::check_set, AnomalyReport};
    use crate::history::History;
    use serde_json::json;

    #[test]
    fn bad_elements_in_list_and_set_reads_are_duplicates_or_phantoms() {
        // Table: (what the read returned, expected anomaly). Why bad:
        let cases = [
            // 1 twice in one read.
            ("[1,1]", AnomalyKind::Duplicate),
            // 9 was never written.
            ("[1,9]", AnomalyKind::Phantom),
            // 3's only write definitely failed.
            ("[1,3]", AnomalyKind::Phantom),
            // 4's write was invoked only after this read returned.
            ("[1,4]", AnomalyKind::Phantom),
        ];
        type Check = fn(&History) -> AnomalyReport;
        let checks: [(&str, Check); 2] = [("append", check_list_append), ("add", check_set)];
        for (write_f, check) in checks {
            for (returned, expected) in cases {
                let h = history(&[
                    (0, "invoke", write_f, "k", "1"),
                    (0, "ok", write_f, "k", "1"),
                    (1, "invoke", write_f, "k", "3"),
                    (1, "fail", write_f, "k", "3"),
                    (2, "invoke", "read", "k", "null"),
                    (2, "ok", "read", "k", returned),
                    (3, "invoke", write_f, "k", "4"),
                    (3, "ok", write_f, "k", "4"),
                ]);
                let report = check(&h);
                assert_eq!(
                    kinds(&report),
                    [expected],
                    "{write_f}, read {returned}: {report:#?}"
                );
                assert!(
                    report.anomalies[0].explanation.contains("read op 4"),
                    "{write_f}: {}",
                    report.anomalies[0].explanation
                );
            }
        }
    }

    #[test]
    fn equal_json_gets_one_id_and_different_json_another() {
        let mut elements = Elements::default();
        let a = elements.intern(&json!(5));
        assert_eq!(elements.intern(&json!(5u64)), a);
        assert_ne!(elements.intern(&json!(-5)), a);
        assert_ne!(elements.intern(&json!("5")), a);
        assert_ne!(elements.intern(&json!(5.0)), a);
        let object = elements.intern(&json!({"a": 1, "b": 2}));
        let reordered: Value = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        assert_eq!(elements.intern(&reordered), object);
        assert_eq!(elements.value(a), &json!(5));
        assert_eq!(elements.len(), 5);
    }
}
