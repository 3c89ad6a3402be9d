//! Porcupine's key-value model: get / put / append of strings, per key.

use std::sync::Arc;

use serde_json::Value;

use super::{Import, Imported, Model};
use crate::history::{Op, Outcome};

/// A kv-append operation on one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvAppendOp {
    /// Read the string.
    Get,
    /// Replace the string.
    Put(Arc<str>),
    /// Concatenate onto the string.
    Append(Arc<str>),
}

/// What a kv-append operation returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvAppendRet {
    /// The string read (`""` when absent).
    GetOk(Arc<str>),
    /// The put or append happened.
    Done,
}

/// One key's string, starting empty (Porcupine's `kvModel`).
#[derive(Debug, Clone, Default)]
pub struct KvAppendModel;

fn text(value: &Value, what: &str) -> Result<Arc<str>, String> {
    match value {
        Value::String(s) => Ok(Arc::from(s.as_str())),
        Value::Null => Ok(Arc::from("")),
        other => Err(format!("a kv-append {what} takes a string, got {other}")),
    }
}

impl Model for KvAppendModel {
    type State = Arc<str>;
    type Input = KvAppendOp;
    type Output = KvAppendRet;

    fn init(&self) -> Arc<str> {
        Arc::from("")
    }

    fn apply(&self, state: &Arc<str>, input: &KvAppendOp) -> (Arc<str>, KvAppendRet) {
        match input {
            KvAppendOp::Get => (state.clone(), KvAppendRet::GetOk(state.clone())),
            KvAppendOp::Put(value) => (value.clone(), KvAppendRet::Done),
            KvAppendOp::Append(value) => {
                let mut next = String::with_capacity(state.len() + value.len());
                next.push_str(state);
                next.push_str(value);
                (Arc::from(next), KvAppendRet::Done)
            }
        }
    }

    fn is_read_only(&self, input: &KvAppendOp) -> bool {
        matches!(input, KvAppendOp::Get)
    }

    fn may_become_valid(&self, state: &Arc<str>, input: &KvAppendOp, output: &KvAppendRet) -> bool {
        // Between puts the string only grows by appends: a get can still
        // succeed only if the current string is a prefix of what it read.
        match (input, output) {
            (KvAppendOp::Get, KvAppendRet::GetOk(value)) => value.starts_with(&**state),
            _ => true,
        }
    }

    fn may_stay_valid(
        &self,
        before: &Arc<str>,
        op: &KvAppendOp,
        after: &Arc<str>,
        input: &KvAppendOp,
        output: &KvAppendRet,
    ) -> bool {
        match (op, input, output) {
            // `before` is a prefix of `value`: check only the appended part.
            (KvAppendOp::Append(added), KvAppendOp::Get, KvAppendRet::GetOk(value)) => value
                .get(before.len()..)
                .is_some_and(|rest| rest.starts_with(&**added)),
            _ => self.may_become_valid(after, input, output),
        }
    }

    fn is_reset(&self, input: &KvAppendOp) -> bool {
        matches!(input, KvAppendOp::Put(_))
    }

    fn is_observation(&self, input: &KvAppendOp, _output: &KvAppendRet) -> bool {
        matches!(input, KvAppendOp::Get)
    }

    fn describe_op(&self, input: &KvAppendOp, output: Option<&KvAppendRet>) -> String {
        let crashed = if output.is_none() { " (crashed)" } else { "" };
        match (input, output) {
            (KvAppendOp::Get, Some(KvAppendRet::GetOk(value))) => format!("get -> {value:?}"),
            (KvAppendOp::Get, _) => "get -> ?".to_string(),
            (KvAppendOp::Put(value), _) => format!("put({value:?}){crashed}"),
            (KvAppendOp::Append(value), _) => format!("append({value:?}){crashed}"),
        }
    }

    fn describe_state(&self, state: &Arc<str>) -> String {
        format!("{state:?}")
    }

    fn describe_need(&self, _input: &KvAppendOp, output: &KvAppendRet) -> String {
        match output {
            KvAppendRet::GetOk(value) => format!("the value to be {value:?}"),
            KvAppendRet::Done => "nothing: it succeeds in any state".to_string(),
        }
    }
}

impl Import for KvAppendModel {
    fn import(&mut self, op: &Op) -> Result<Option<Imported<Self>>, String> {
        let (input, output) = match op.f.as_str() {
            "get" | "read" => {
                let read = match &op.outcome {
                    Outcome::Ok(value) => text(value, "get result")?,
                    _ => Arc::from(""),
                };
                (KvAppendOp::Get, KvAppendRet::GetOk(read))
            }
            "put" | "write" => (KvAppendOp::Put(text(&op.input, "put")?), KvAppendRet::Done),
            "append" => (
                KvAppendOp::Append(text(&op.input, "append")?),
                KvAppendRet::Done,
            ),
            other => {
                return Err(format!(
                    "model kv-append takes get, put and append; got f = {other:?}"
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
