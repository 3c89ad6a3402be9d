//! The replicated state machine: a map from string keys to JSON values, with
//! registers, lists, counters and sets on top.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A command in the replicated log. Stored as JSON inside log entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    /// Set the register at `key`.
    Write {
        /// The key.
        key: String,
        /// The new value.
        value: Value,
    },
    /// Set `key` to `to` if it holds `from` (JSON equality; `null` matches an absent key).
    Cas {
        /// The key.
        key: String,
        /// The expected value.
        from: Value,
        /// The new value.
        to: Value,
    },
    /// Append `value` to the list at `key`.
    Append {
        /// The key.
        key: String,
        /// The element.
        value: Value,
    },
    /// Add `delta` to the counter at `key`.
    Add {
        /// The key.
        key: String,
        /// The signed amount.
        delta: i64,
    },
    /// Add `value` to the set at `key`.
    SetAdd {
        /// The key.
        key: String,
        /// The element.
        value: Value,
    },
    /// A transaction over list keys: its micro-ops, applied atomically in order.
    Txn {
        /// The micro-ops, 1 to [`TXN_MAX_OPS`] of them (none only for the
        /// `txn-local-reads` bug's read-only transactions).
        ops: Vec<MicroOp>,
    },
}

/// Most micro-ops one `/txn` request may carry.
pub const TXN_MAX_OPS: usize = 64;

/// One micro-op of a transaction (Elle's list-append: `append` and `r`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum MicroOp {
    /// Append `value` to the list at `key`.
    Append {
        /// The key.
        key: String,
        /// The element.
        value: Value,
    },
    /// Read the list at `key`.
    #[serde(rename = "r")]
    Read {
        /// The key.
        key: String,
    },
}

impl MicroOp {
    /// The key the micro-op touches.
    pub fn key(&self) -> &str {
        match self {
            MicroOp::Append { key, .. } | MicroOp::Read { key } => key,
        }
    }

    /// Whether the micro-op is a read.
    pub fn is_read(&self) -> bool {
        matches!(self, MicroOp::Read { .. })
    }

    /// The micro-op as the client protocol writes it, `["append", K, E]`
    /// or `["r", K, read]` (`read` is `null` on a request).
    pub fn to_json(&self, read: Value) -> Value {
        match self {
            MicroOp::Append { key, value } => {
                Value::Array(vec!["append".into(), key.as_str().into(), value.clone()])
            }
            MicroOp::Read { key } => Value::Array(vec!["r".into(), key.as_str().into(), read]),
        }
    }
}

/// How a key is read; each shape has its own value for an absent key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// The register: `null` when absent.
    Register,
    /// The list: `[]` when absent.
    List,
    /// The counter: `0` when absent.
    Counter,
    /// The set, sorted: `[]` when absent.
    Set,
}

/// What the store made of a command applied to it, or of a read.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    /// Done; for reads, the value read.
    Done(Value),
    /// A cas found another value: no effect.
    Mismatch {
        /// The value the key held.
        current: Value,
    },
    /// The key holds a value of another shape (e.g. a counter read as a list): no effect.
    WrongType {
        /// What the operation expected.
        expected: &'static str,
    },
    /// A counter would leave the i64 range: no effect.
    Overflow,
}

/// The key-value state, rebuilt by replaying the committed log.
#[derive(Clone, Debug, Default)]
pub struct Store {
    data: BTreeMap<String, Value>,
}

impl Store {
    /// Applies one committed command.
    pub fn apply(&mut self, command: &Command) -> Applied {
        match command {
            Command::Write { key, value } => {
                self.data.insert(key.clone(), value.clone());
                Applied::Done(Value::Null)
            }
            Command::Cas { key, from, to } => {
                let current = self.data.get(key).cloned().unwrap_or(Value::Null);
                if &current != from {
                    return Applied::Mismatch { current };
                }
                self.data.insert(key.clone(), to.clone());
                Applied::Done(Value::Null)
            }
            Command::Append { key, value } => match self
                .data
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(list) => {
                    list.push(value.clone());
                    Applied::Done(Value::Null)
                }
                _ => Applied::WrongType { expected: "list" },
            },
            Command::Add { key, delta } => {
                let current = match self.data.get(key) {
                    None => 0,
                    Some(value) => match value.as_i64() {
                        Some(number) => number,
                        None => {
                            return Applied::WrongType {
                                expected: "counter",
                            }
                        }
                    },
                };
                let Some(sum) = current.checked_add(*delta) else {
                    return Applied::Overflow;
                };
                self.data.insert(key.clone(), Value::from(sum));
                Applied::Done(Value::Null)
            }
            Command::SetAdd { key, value } => match self
                .data
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(set) => {
                    if let Err(position) = set.binary_search_by(|element| json_cmp(element, value))
                    {
                        set.insert(position, value.clone());
                    }
                    Applied::Done(Value::Null)
                }
                _ => Applied::WrongType { expected: "set" },
            },
            Command::Txn { ops } => self.apply_txn(ops),
        }
    }

    /// Applies a transaction atomically: if any key it touches holds a value
    /// of another shape than a list, nothing changes and the answer is
    /// `WrongType`; otherwise every micro-op runs in order, each read seeing
    /// the earlier appends. Done carries the completed micro-ops as the
    /// client protocol writes them (reads filled in, `[]` when absent).
    pub fn apply_txn(&mut self, ops: &[MicroOp]) -> Applied {
        if ops.iter().any(|op| {
            self.data
                .get(op.key())
                .is_some_and(|value| !value.is_array())
        }) {
            return Applied::WrongType { expected: "list" };
        }
        let mut completed = Vec::with_capacity(ops.len());
        for op in ops {
            let read = match op {
                MicroOp::Append { key, value } => {
                    if let Value::Array(list) = self
                        .data
                        .entry(key.clone())
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        list.push(value.clone());
                    }
                    Value::Null
                }
                MicroOp::Read { key } => self
                    .data
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| Value::Array(Vec::new())),
            };
            completed.push(op.to_json(read));
        }
        Applied::Done(Value::Array(completed))
    }

    /// What [`Store::apply_txn`] would answer now, without changing the
    /// store. Only the `txn-local-reads` bug uses it: it answers a
    /// transaction's reads from this local state at arrival.
    pub fn preview_txn(&self, ops: &[MicroOp]) -> Applied {
        let mut touched = Store::default();
        for op in ops {
            if let Some(value) = self.data.get(op.key()) {
                touched.data.insert(op.key().to_string(), value.clone());
            }
        }
        touched.apply_txn(ops)
    }

    /// Reads `key` as `kind`.
    pub fn read(&self, kind: ReadKind, key: &str) -> Applied {
        let value = self.data.get(key);
        match (kind, value) {
            (ReadKind::Register, value) => Applied::Done(value.cloned().unwrap_or(Value::Null)),
            (ReadKind::List | ReadKind::Set, None) => Applied::Done(Value::Array(Vec::new())),
            (ReadKind::Counter, None) => Applied::Done(Value::from(0)),
            (ReadKind::List, Some(value @ Value::Array(_)))
            | (ReadKind::Set, Some(value @ Value::Array(_))) => Applied::Done(value.clone()),
            (ReadKind::Counter, Some(value)) if value.is_i64() => Applied::Done(value.clone()),
            (ReadKind::List, Some(_)) => Applied::WrongType { expected: "list" },
            (ReadKind::Set, Some(_)) => Applied::WrongType { expected: "set" },
            (ReadKind::Counter, Some(_)) => Applied::WrongType {
                expected: "counter",
            },
        }
    }
}

/// A total order on JSON values, for sets: null < booleans < numbers <
/// strings < arrays < objects; numbers by value, strings by code point,
/// arrays element-wise, objects by their serialized text.
pub fn json_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::String(_) => 3,
            Value::Array(_) => 4,
            Value::Object(_) => 5,
        }
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                x.total_cmp(&y)
            }
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (x, y) in x.iter().zip(y) {
                let order = json_cmp(x, y);
                if order != Ordering::Equal {
                    return order;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(_), Value::Object(_)) => a.to_string().cmp(&b.to_string()),
        _ => rank(a).cmp(&rank(b)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn write(key: &str, value: Value) -> Command {
        Command::Write {
            key: key.into(),
            value,
        }
    }

    #[test]
    fn register_reads_null_when_absent_and_the_last_write_after() {
        let mut store = Store::default();
        assert_eq!(
            store.read(ReadKind::Register, "x"),
            Applied::Done(Value::Null)
        );
        store.apply(&write("x", json!({"a": 1})));
        assert_eq!(
            store.read(ReadKind::Register, "x"),
            Applied::Done(json!({"a": 1}))
        );
    }

    #[test]
    fn cas_compares_json_equality_and_reports_the_current_value_on_mismatch() {
        let mut store = Store::default();
        store.apply(&write("x", json!(1)));
        let mismatch = store.apply(&Command::Cas {
            key: "x".into(),
            from: json!(2),
            to: json!(3),
        });
        assert_eq!(mismatch, Applied::Mismatch { current: json!(1) });
        let done = store.apply(&Command::Cas {
            key: "x".into(),
            from: json!(1),
            to: json!(3),
        });
        assert_eq!(done, Applied::Done(Value::Null));
        assert_eq!(store.read(ReadKind::Register, "x"), Applied::Done(json!(3)));
    }

    #[test]
    fn cas_from_null_matches_an_absent_key() {
        let mut store = Store::default();
        let done = store.apply(&Command::Cas {
            key: "x".into(),
            from: Value::Null,
            to: json!(5),
        });
        assert_eq!(done, Applied::Done(Value::Null));
    }

    #[test]
    fn list_keeps_append_order() {
        let mut store = Store::default();
        assert_eq!(store.read(ReadKind::List, "l"), Applied::Done(json!([])));
        for value in [3, 1, 2] {
            store.apply(&Command::Append {
                key: "l".into(),
                value: json!(value),
            });
        }
        assert_eq!(
            store.read(ReadKind::List, "l"),
            Applied::Done(json!([3, 1, 2]))
        );
    }

    #[test]
    fn counter_starts_at_zero_and_adds_signed_deltas() {
        let mut store = Store::default();
        assert_eq!(store.read(ReadKind::Counter, "c"), Applied::Done(json!(0)));
        store.apply(&Command::Add {
            key: "c".into(),
            delta: 5,
        });
        store.apply(&Command::Add {
            key: "c".into(),
            delta: -7,
        });
        assert_eq!(store.read(ReadKind::Counter, "c"), Applied::Done(json!(-2)));
        assert_eq!(
            store.apply(&Command::Add {
                key: "c".into(),
                delta: i64::MAX
            }),
            Applied::Done(Value::Null)
        );
        assert_eq!(
            store.apply(&Command::Add {
                key: "c".into(),
                delta: i64::MAX
            }),
            Applied::Overflow
        );
    }

    #[test]
    fn set_is_sorted_and_deduplicated() {
        let mut store = Store::default();
        for value in [json!(10), json!(2), json!("a"), json!(2), json!(null)] {
            store.apply(&Command::SetAdd {
                key: "s".into(),
                value,
            });
        }
        assert_eq!(
            store.read(ReadKind::Set, "s"),
            Applied::Done(json!([null, 2, 10, "a"]))
        );
    }

    #[test]
    fn operations_on_a_key_of_another_shape_have_no_effect() {
        let mut store = Store::default();
        store.apply(&write("k", json!("text")));
        assert_eq!(
            store.apply(&Command::Add {
                key: "k".into(),
                delta: 1
            }),
            Applied::WrongType {
                expected: "counter"
            }
        );
        assert_eq!(
            store.apply(&Command::Append {
                key: "k".into(),
                value: json!(1)
            }),
            Applied::WrongType { expected: "list" }
        );
        assert_eq!(
            store.read(ReadKind::Set, "k"),
            Applied::WrongType { expected: "set" }
        );
        assert_eq!(
            store.read(ReadKind::Register, "k"),
            Applied::Done(json!("text"))
        );
    }

    fn append(key: &str, value: Value) -> MicroOp {
        MicroOp::Append {
            key: key.into(),
            value,
        }
    }

    fn read(key: &str) -> MicroOp {
        MicroOp::Read { key: key.into() }
    }

    #[test]
    fn txn_reads_see_the_earlier_state_and_their_own_earlier_appends() {
        let mut store = Store::default();
        store.apply(&Command::Append {
            key: "x".into(),
            value: json!(1),
        });
        let applied = store.apply(&Command::Txn {
            ops: vec![
                read("x"),
                append("x", json!(2)),
                read("x"),
                read("y"),
                append("y", json!("a")),
            ],
        });
        assert_eq!(
            applied,
            Applied::Done(json!([
                ["r", "x", [1]],
                ["append", "x", 2],
                ["r", "x", [1, 2]],
                ["r", "y", []],
                ["append", "y", "a"]
            ]))
        );
        assert_eq!(store.read(ReadKind::List, "y"), Applied::Done(json!(["a"])));
    }

    #[test]
    fn txn_touching_a_key_of_another_shape_has_no_effect_at_all() {
        let mut store = Store::default();
        store.apply(&Command::Add {
            key: "c".into(),
            delta: 1,
        });
        let applied = store.apply(&Command::Txn {
            ops: vec![append("x", json!(1)), read("c")],
        });
        assert_eq!(applied, Applied::WrongType { expected: "list" });
        assert_eq!(store.read(ReadKind::List, "x"), Applied::Done(json!([])));
    }

    #[test]
    fn preview_txn_answers_like_apply_but_changes_nothing() {
        let mut store = Store::default();
        store.apply(&Command::Append {
            key: "x".into(),
            value: json!(1),
        });
        let ops = vec![append("x", json!(2)), read("x")];
        let preview = store.preview_txn(&ops);
        assert_eq!(store.read(ReadKind::List, "x"), Applied::Done(json!([1])));
        assert_eq!(preview, store.apply_txn(&ops));
    }

    #[test]
    fn txn_serializes_its_micro_ops_with_an_f_tag() {
        let text = serde_json::to_string(&Command::Txn {
            ops: vec![append("x", json!(1)), read("x")],
        })
        .expect("commands always serialize");
        assert_eq!(
            text,
            r#"{"op":"txn","ops":[{"f":"append","key":"x","value":1},{"f":"r","key":"x"}]}"#
        );
    }

    #[test]
    fn commands_serialize_with_an_op_tag() {
        let text = serde_json::to_string(&Command::SetAdd {
            key: "s".into(),
            value: json!(1),
        })
        .expect("commands always serialize");
        assert_eq!(text, r#"{"op":"set-add","key":"s","value":1}"#);
    }
}
