//! Transactions of list-append micro-ops (docs/design.md, "Transactions"):
//! their JSON form, and the rules every client fills their reads by.
//!
//! On invoke a transaction's value is a list of `["append", key, element]`
//! and `["r", key, null]`; on `ok` each read carries the key's list as the
//! transaction saw it, oldest first: `["r", key, [1, 2, 3]]`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The most micro-ops one transaction may hold (raftkv's `/txn` takes 1 to
/// 64; etcd's default `--max-txn-ops` is 128, and a txn here holds at most
/// one range and one put per micro-op).
pub const MAX_MICRO_OPS: usize = 64;

/// One micro-op of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    /// `["append", key, element]`: add `element` at the end of `key`'s list.
    Append {
        /// The key appended to.
        key: String,
        /// The element appended (an integer from the generator).
        element: Value,
    },
    /// `["r", key, ...]`: read `key`'s whole list.
    Read {
        /// The key read.
        key: String,
    },
}

impl MicroOp {
    /// The key the micro-op touches.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            MicroOp::Append { key, .. } | MicroOp::Read { key } => key,
        }
    }

    /// The micro-op as an invoke carries it.
    #[must_use]
    pub fn to_invoke(&self) -> Value {
        match self {
            MicroOp::Append { key, element } => json!(["append", key, element]),
            MicroOp::Read { key } => json!(["r", key, null]),
        }
    }
}

/// The micro-ops of a transaction's value, or `None` when it is not a list
/// of 1 to [`MAX_MICRO_OPS`] well-formed micro-ops with string keys. The
/// third item of a read is ignored (`null` on invoke, the list on `ok`).
#[must_use]
pub fn parse(value: &Value) -> Option<Vec<MicroOp>> {
    let items = value.as_array()?;
    if items.is_empty() || items.len() > MAX_MICRO_OPS {
        return None;
    }
    items
        .iter()
        .map(|item| {
            let [f, key, argument] = item.as_array()?.as_slice() else {
                return None;
            };
            let key = key.as_str()?.to_string();
            match f.as_str()? {
                "append" => Some(MicroOp::Append {
                    key,
                    element: argument.clone(),
                }),
                "r" => Some(MicroOp::Read { key }),
                _ => None,
            }
        })
        .collect()
}

/// The invoke value of `ops`.
#[must_use]
pub fn to_invoke(ops: &[MicroOp]) -> Value {
    Value::Array(ops.iter().map(MicroOp::to_invoke).collect())
}

/// Whether every micro-op is a read: such a transaction can change
/// nothing, so however it ends it may be recorded as `fail`.
#[must_use]
pub fn is_read_only(ops: &[MicroOp]) -> bool {
    ops.iter().all(|op| matches!(op, MicroOp::Read { .. }))
}

/// Each key the transaction appends to, once, in order of its first append,
/// with every element it appends there in micro-op order. A store that
/// refuses to write one key twice in a transaction (etcd) writes each key
/// once with all of them.
#[must_use]
pub fn appends_by_key(ops: &[MicroOp]) -> Vec<(String, Vec<Value>)> {
    let mut grouped: Vec<(String, Vec<Value>)> = Vec::new();
    for op in ops {
        if let MicroOp::Append { key, element } = op {
            match grouped.iter_mut().find(|(seen, _)| seen == key) {
                Some((_, elements)) => elements.push(element.clone()),
                None => grouped.push((key.clone(), vec![element.clone()])),
            }
        }
    }
    grouped
}

/// Each key the transaction reads, once, in order of its first read.
#[must_use]
pub fn read_keys(ops: &[MicroOp]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for op in ops {
        if let MicroOp::Read { key } = op {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

/// The `ok` value of a transaction that committed on a store whose lists
/// were `before` (key -> list, for every key it reads) when it started:
/// each read is the key's list before the transaction plus the
/// transaction's own appends to that key that come before the read, in
/// micro-op order. `None` when a key read is missing from `before`.
#[must_use]
pub fn fill_reads(ops: &[MicroOp], before: &BTreeMap<String, Vec<Value>>) -> Option<Value> {
    let mut own: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut filled = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            MicroOp::Append { key, element } => {
                own.entry(key).or_default().push(element.clone());
                filled.push(op.to_invoke());
            }
            MicroOp::Read { key } => {
                let mut list = before.get(key)?.clone();
                list.extend(own.get(key.as_str()).into_iter().flatten().cloned());
                filled.push(json!(["r", key, list]));
            }
        }
    }
    Some(Value::Array(filled))
}

/// The `ok` value of a transaction from a store's answer listing its
/// micro-ops with the reads filled in (raftkv's `/txn`), or `None` when the
/// answer does not match what was asked: the same number of micro-ops, each
/// with the same function and key, each append with its own element, each
/// read a list.
#[must_use]
pub fn answered(asked: &[MicroOp], answer: &Value) -> Option<Value> {
    let items = answer.as_array()?;
    if items.len() != asked.len() {
        return None;
    }
    asked
        .iter()
        .zip(items)
        .map(|(op, item)| {
            let [f, key, result] = item.as_array()?.as_slice() else {
                return None;
            };
            if key.as_str()? != op.key() {
                return None;
            }
            match op {
                MicroOp::Append { element, .. } => {
                    (f == "append" && result == element).then(|| op.to_invoke())
                }
                MicroOp::Read { key } => {
                    (f == "r" && result.is_array()).then(|| json!(["r", key, result]))
                }
            }
        })
        .collect::<Option<Vec<Value>>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(key: &str, element: i64) -> MicroOp {
        MicroOp::Append {
            key: key.to_string(),
            element: json!(element),
        }
    }

    fn read(key: &str) -> MicroOp {
        MicroOp::Read {
            key: key.to_string(),
        }
    }

    #[test]
    fn invoke_values_round_trip_through_parse() {
        let ops = vec![append("t0", 1), read("t1"), append("t0", 2)];
        let value = to_invoke(&ops);
        assert_eq!(
            value,
            json!([["append", "t0", 1], ["r", "t1", null], ["append", "t0", 2]])
        );
        assert_eq!(parse(&value), Some(ops));
        // A completed read's list is ignored when parsing.
        assert_eq!(parse(&json!([["r", "t1", [1, 2]]])), Some(vec![read("t1")]));
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            json!([]),
            json!(null),
            json!([["append", "t0"]]),
            json!([["write", "t0", 1]]),
            json!([["r", 3, null]]),
            Value::Array(vec![json!(["r", "t0", null]); MAX_MICRO_OPS + 1]),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn several_appends_to_one_key_are_coalesced_in_micro_op_order() {
        let ops = [
            append("t1", 4),
            read("t0"),
            append("t0", 7),
            append("t1", 5),
            append("t0", 8),
        ];
        assert_eq!(
            appends_by_key(&ops),
            [
                ("t1".to_string(), vec![json!(4), json!(5)]),
                ("t0".to_string(), vec![json!(7), json!(8)]),
            ]
        );
        assert!(appends_by_key(&[read("t0")]).is_empty());
    }

    #[test]
    fn keys_read_are_listed_once_in_order_of_first_read() {
        let ops = [read("t2"), append("t0", 1), read("t0"), read("t2")];
        assert_eq!(read_keys(&ops), ["t2", "t0"]);
    }

    #[test]
    fn a_read_sees_the_state_before_plus_its_own_earlier_appends_only() {
        let ops = [
            read("t0"),
            append("t0", 3),
            read("t0"),
            append("t0", 4),
            append("t1", 9),
            read("t0"),
            read("t1"),
        ];
        let before = BTreeMap::from([
            ("t0".to_string(), vec![json!(1), json!(2)]),
            ("t1".to_string(), vec![]),
        ]);
        assert_eq!(
            fill_reads(&ops, &before),
            Some(json!([
                ["r", "t0", [1, 2]],
                ["append", "t0", 3],
                ["r", "t0", [1, 2, 3]],
                ["append", "t0", 4],
                ["append", "t1", 9],
                ["r", "t0", [1, 2, 3, 4]],
                ["r", "t1", [9]],
            ]))
        );
        // A key read but not known before: no value.
        assert_eq!(fill_reads(&[read("t5")], &before), None);
    }

    #[test]
    fn only_read_only_transactions_are_read_only() {
        assert!(is_read_only(&[read("t0"), read("t1")]));
        assert!(!is_read_only(&[read("t0"), append("t1", 1)]));
    }

    #[test]
    fn an_answer_is_taken_only_when_it_matches_what_was_asked() {
        let asked = [append("t0", 3), read("t0")];
        let answer = json!([["append", "t0", 3], ["r", "t0", [1, 3]]]);
        assert_eq!(answered(&asked, &answer), Some(answer.clone()));
        for wrong in [
            json!([["append", "t0", 3]]),
            json!([["append", "t0", 4], ["r", "t0", [1, 3]]]),
            json!([["append", "t0", 3], ["r", "t1", [1, 3]]]),
            json!([["append", "t0", 3], ["r", "t0", null]]),
            json!([["r", "t0", 3], ["r", "t0", [1, 3]]]),
            json!({"ops": []}),
        ] {
            assert_eq!(answered(&asked, &wrong), None, "{wrong}");
        }
    }
}
