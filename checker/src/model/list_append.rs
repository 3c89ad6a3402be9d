//! A list with append: append a value / read the whole list, oldest first.

use std::sync::Arc;

use serde_json::Value;

use super::{Import, Imported, Model};
use crate::history::{Op, Outcome};
use crate::values::ValueTable;

/// A list operation; values are ids in the model's [`ValueTable`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListOp {
    /// Append a value at the end.
    Append(u32),
    /// Read the whole list.
    Read,
}

/// What a list operation returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListRet {
    /// The append happened.
    AppendOk,
    /// The list read, oldest first.
    ReadOk(Arc<[u32]>),
}

/// A list of JSON values, empty at the start.
#[derive(Debug, Clone, Default)]
pub struct ListAppendModel {
    values: ValueTable,
}

impl ListAppendModel {
    fn show_all(&self, ids: &[u32]) -> String {
        let shown: Vec<String> = ids.iter().map(|id| self.values.show(*id)).collect();
        format!("[{}]", shown.join(", "))
    }
}

impl Model for ListAppendModel {
    type State = Arc<[u32]>;
    type Input = ListOp;
    type Output = ListRet;

    fn init(&self) -> Arc<[u32]> {
        Arc::from(Vec::new())
    }

    fn apply(&self, state: &Arc<[u32]>, input: &ListOp) -> (Arc<[u32]>, ListRet) {
        match input {
            ListOp::Append(value) => {
                let mut next = Vec::with_capacity(state.len() + 1);
                next.extend_from_slice(state);
                next.push(*value);
                (Arc::from(next), ListRet::AppendOk)
            }
            ListOp::Read => (state.clone(), ListRet::ReadOk(state.clone())),
        }
    }

    fn is_read_only(&self, input: &ListOp) -> bool {
        matches!(input, ListOp::Read)
    }

    fn may_become_valid(&self, state: &Arc<[u32]>, input: &ListOp, output: &ListRet) -> bool {
        // The list only grows at the end: a read can still succeed only if
        // the current list is a prefix of what it read.
        match (input, output) {
            (ListOp::Read, ListRet::ReadOk(items)) => items.starts_with(state),
            _ => true,
        }
    }

    fn may_stay_valid(
        &self,
        before: &Arc<[u32]>,
        op: &ListOp,
        after: &Arc<[u32]>,
        input: &ListOp,
        output: &ListRet,
    ) -> bool {
        match (op, input, output) {
            // `before` is a prefix of `items`: check only the appended value.
            (ListOp::Append(value), ListOp::Read, ListRet::ReadOk(items)) => {
                items.get(before.len()) == Some(value)
            }
            _ => self.may_become_valid(after, input, output),
        }
    }

    fn is_observation(&self, input: &ListOp, _output: &ListRet) -> bool {
        matches!(input, ListOp::Read)
    }

    fn describe_op(&self, input: &ListOp, output: Option<&ListRet>) -> String {
        match (input, output) {
            (ListOp::Append(value), None) => {
                format!("append({}) (crashed)", self.values.show(*value))
            }
            (ListOp::Append(value), _) => format!("append({})", self.values.show(*value)),
            (ListOp::Read, Some(ListRet::ReadOk(items))) => {
                format!("read -> {}", self.show_all(items))
            }
            (ListOp::Read, _) => "read -> ?".to_string(),
        }
    }

    fn describe_state(&self, state: &Arc<[u32]>) -> String {
        self.show_all(state)
    }

    fn describe_need(&self, _input: &ListOp, output: &ListRet) -> String {
        match output {
            ListRet::ReadOk(items) => format!("the list to be {}", self.show_all(items)),
            ListRet::AppendOk => "nothing: an append succeeds in any state".to_string(),
        }
    }
}

impl Import for ListAppendModel {
    fn import(&mut self, op: &Op) -> Result<Option<Imported<Self>>, String> {
        let (input, output) = match op.f.as_str() {
            "append" => (
                ListOp::Append(self.values.intern(&op.input)),
                ListRet::AppendOk,
            ),
            "read" => {
                let items = match &op.outcome {
                    Outcome::Ok(Value::Array(items)) => {
                        items.iter().map(|v| self.values.intern(v)).collect()
                    }
                    Outcome::Ok(Value::Null) => Vec::new(),
                    Outcome::Ok(other) => {
                        return Err(format!("a list read returns the whole list, got {other}"))
                    }
                    _ => Vec::new(),
                };
                (ListOp::Read, ListRet::ReadOk(Arc::from(items)))
            }
            other => {
                return Err(format!(
                    "model list-append takes append and read; got f = {other:?}"
                ))
            }
        };
        Ok(match &op.outcome {
            Outcome::Ok(_) => Some((input, Some(output))),
            Outcome::Fail { .. } => None,
            Outcome::Unknown => Some((input, None)),
        })
    }
}
