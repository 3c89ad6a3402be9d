//! Dense ids for the elements of one key's appends, adds and reads, so the
//! named checks index arrays instead of hashing JSON over and over.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::anomalies::report::{bump, describe_op, note_unjudged};
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
    use serde_json::json;

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
