//! A grow-only set: add an element / read all elements.

use std::sync::Arc;

use serde_json::Value;

use super::{Import, Imported, Model};
use crate::history::{Op, Outcome};
use crate::values::ValueTable;

/// A set operation; elements are ids in the model's [`ValueTable`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetOp {
    /// Add an element.
    Add(u32),
    /// Read every element.
    Read,
}

/// What a set operation returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetRet {
    /// The add happened.
    AddOk,
    /// The elements read, as sorted ids.
    ReadOk(Arc<[u32]>),
}

/// A set of JSON values, empty at the start.
#[derive(Debug, Clone, Default)]
pub struct SetModel {
    values: ValueTable,
}

impl SetModel {
    fn show_all(&self, ids: &[u32]) -> String {
        let shown: Vec<String> = ids.iter().map(|id| self.values.show(*id)).collect();
        format!("#{{{}}}", shown.join(", "))
    }
}

impl Model for SetModel {
    type State = Arc<[u32]>;
    type Input = SetOp;
    type Output = SetRet;

    fn init(&self) -> Arc<[u32]> {
        Arc::from(Vec::new())
    }

    fn apply(&self, state: &Arc<[u32]>, input: &SetOp) -> (Arc<[u32]>, SetRet) {
        match input {
            SetOp::Add(element) => match state.binary_search(element) {
                Ok(_) => (state.clone(), SetRet::AddOk),
                Err(at) => {
                    let mut next = state.to_vec();
                    next.insert(at, *element);
                    (Arc::from(next), SetRet::AddOk)
                }
            },
            SetOp::Read => (state.clone(), SetRet::ReadOk(state.clone())),
        }
    }

    fn is_read_only(&self, input: &SetOp) -> bool {
        matches!(input, SetOp::Read)
    }

    fn may_become_valid(&self, state: &Arc<[u32]>, input: &SetOp, output: &SetRet) -> bool {
        // The set only grows: a read can still succeed only if it read a
        // superset of the current set (both sorted).
        match (input, output) {
            (SetOp::Read, SetRet::ReadOk(items)) => {
                let mut it = items.iter();
                state.iter().all(|x| it.any(|y| y == x))
            }
            _ => true,
        }
    }

    fn may_stay_valid(
        &self,
        before: &Arc<[u32]>,
        op: &SetOp,
        after: &Arc<[u32]>,
        input: &SetOp,
        output: &SetRet,
    ) -> bool {
        let _ = before;
        match (op, input, output) {
            // The read held a superset of `before`: check only the new element.
            (SetOp::Add(element), SetOp::Read, SetRet::ReadOk(items)) => {
                items.binary_search(element).is_ok()
            }
            _ => self.may_become_valid(after, input, output),
        }
    }

    fn is_observation(&self, input: &SetOp, _output: &SetRet) -> bool {
        matches!(input, SetOp::Read)
    }

    fn describe_op(&self, input: &SetOp, output: Option<&SetRet>) -> String {
        match (input, output) {
            (SetOp::Add(element), None) => format!("add({}) (crashed)", self.values.show(*element)),
            (SetOp::Add(element), _) => format!("add({})", self.values.show(*element)),
            (SetOp::Read, Some(SetRet::ReadOk(elements))) => {
                format!("read -> {}", self.show_all(elements))
            }
            (SetOp::Read, _) => "read -> ?".to_string(),
        }
    }

    fn describe_state(&self, state: &Arc<[u32]>) -> String {
        self.show_all(state)
    }

    fn describe_need(&self, _input: &SetOp, output: &SetRet) -> String {
        match output {
            SetRet::ReadOk(elements) => format!("the set to be {}", self.show_all(elements)),
            SetRet::AddOk => "nothing: an add succeeds in any state".to_string(),
        }
    }
}

impl Import for SetModel {
    fn import(&mut self, op: &Op) -> Result<Option<Imported<Self>>, String> {
        let (input, output) = match op.f.as_str() {
            "add" => (SetOp::Add(self.values.intern(&op.input)), SetRet::AddOk),
            "read" => {
                let elements = match &op.outcome {
                    Outcome::Ok(Value::Array(items)) => {
                        let mut ids: Vec<u32> =
                            items.iter().map(|v| self.values.intern(v)).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        ids
                    }
                    Outcome::Ok(Value::Null) => Vec::new(),
                    Outcome::Ok(other) => {
                        return Err(format!(
                            "a set read returns a list of elements, got {other}"
                        ))
                    }
                    _ => Vec::new(),
                };
                (SetOp::Read, SetRet::ReadOk(Arc::from(elements)))
            }
            other => return Err(format!("model set takes add and read; got f = {other:?}")),
        };
        Ok(match &op.outcome {
            Outcome::Ok(_) => Some((input, Some(output))),
            Outcome::Fail { .. } => None,
            Outcome::Unknown => Some((input, None)),
        })
    }
}
