//! Dense ids for the elements of one key's appends, adds and reads, so the
//! named checks index arrays instead of hashing JSON over and over.

use rustc_hash::FxHashMap;
use serde_json::Value;

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
