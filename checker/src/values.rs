//! Interning of JSON values into small integers, so model states hash and compare fast.

use rustc_hash::FxHashMap;
use serde_json::Value;

/// The id of JSON `null`: an absent key for registers.
pub const NULL_ID: u32 = 0;

/// A table of distinct JSON values, each with a small integer id.
#[derive(Debug, Clone)]
pub struct ValueTable {
    ids: FxHashMap<String, u32>,
    values: Vec<Value>,
}

impl Default for ValueTable {
    fn default() -> Self {
        let mut table = ValueTable {
            ids: FxHashMap::default(),
            values: Vec::new(),
        };
        let null = table.intern(&Value::Null);
        debug_assert_eq!(null, NULL_ID);
        table
    }
}

impl ValueTable {
    /// The id of `value`, adding it when new. Equal JSON values get equal ids
    /// (objects compare with sorted keys).
    pub fn intern(&mut self, value: &Value) -> u32 {
        let canonical = value.to_string();
        if let Some(&id) = self.ids.get(&canonical) {
            return id;
        }
        let id = u32::try_from(self.values.len()).expect("fewer than 2^32 distinct values");
        self.values.push(value.clone());
        self.ids.insert(canonical, id);
        id
    }

    /// The value behind `id`.
    ///
    /// # Panics
    /// When `id` did not come from this table.
    pub fn get(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// The value behind `id`, as compact JSON text.
    pub fn show(&self, id: u32) -> String {
        self.get(id).to_string()
    }

    /// How many distinct values were seen.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always false: `null` is always present.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}
