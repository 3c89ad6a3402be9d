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
        }
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
