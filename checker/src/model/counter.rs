//! A counter: add a delta (increment, decrement, any integer) / read.

use serde_json::Value;

use super::{Import, Imported, Model};
use crate::history::{Op, Outcome};

/// A counter operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CounterOp {
    /// Add a delta (`1` increments, `-1` decrements).
    Add(i64),
    /// Read the value.
    Read,
}

/// What a counter operation returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CounterRet {
    /// The add happened.
    AddOk,
    /// The value read.
    ReadOk(i64),
}

/// An integer counter starting at 0 (the JGroups counter of Jepsen's tests).
#[derive(Debug, Clone, Default)]
pub struct CounterModel;

impl Model for CounterModel {
    type State = i64;
    type Input = CounterOp;
    type Output = CounterRet;

    fn init(&self) -> i64 {
        0
    }

    fn apply(&self, state: &i64, input: &CounterOp) -> (i64, CounterRet) {
        match input {
            CounterOp::Add(delta) => (state.wrapping_add(*delta), CounterRet::AddOk),
            CounterOp::Read => (*state, CounterRet::ReadOk(*state)),
        }
    }

    fn is_read_only(&self, input: &CounterOp) -> bool {
        matches!(input, CounterOp::Read)
    }

    fn describe_op(&self, input: &CounterOp, output: Option<&CounterRet>) -> String {
        match (input, output) {
            (CounterOp::Add(delta), None) => format!("add({delta}) (crashed)"),
            (CounterOp::Add(delta), _) => format!("add({delta})"),
            (CounterOp::Read, Some(CounterRet::ReadOk(value))) => format!("read -> {value}"),
            (CounterOp::Read, _) => "read -> ?".to_string(),
        }
    }

    fn describe_state(&self, state: &i64) -> String {
        state.to_string()
    }

    fn describe_need(&self, _input: &CounterOp, output: &CounterRet) -> String {
        match output {
            CounterRet::ReadOk(value) => format!("the counter to hold {value}"),
            CounterRet::AddOk => "nothing: an add succeeds in any state".to_string(),
        }
    }
}

fn integer(value: &Value, what: &str) -> Result<i64, String> {
    match value {
        Value::Null if what == "read" => Ok(0),
        Value::Number(number) => number
            .as_i64()
            .ok_or_else(|| format!("a counter {what} takes an integer, got {number}")),
        other => Err(format!("a counter {what} takes an integer, got {other}")),
    }
}

impl Import for CounterModel {
    fn import(&mut self, op: &Op) -> Result<Option<Imported<Self>>, String> {
        let (input, output) = match op.f.as_str() {
            "add" => (
                CounterOp::Add(integer(&op.input, "add")?),
                CounterRet::AddOk,
            ),
            "increment" | "inc" => (CounterOp::Add(1), CounterRet::AddOk),
            "decrement" | "dec" => (CounterOp::Add(-1), CounterRet::AddOk),
            "read" | "get" => {
                let read = match &op.outcome {
                    Outcome::Ok(value) => integer(value, "read")?,
                    _ => 0,
                };
                (CounterOp::Read, CounterRet::ReadOk(read))
            }
            other => {
                return Err(format!(
                    "model counter takes add (or increment, decrement) and read; got f = {other:?}"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrement_then_read_sees_negative() {
        let model = CounterModel;
        let (state, _) = model.apply(&0, &CounterOp::Add(-1));
        assert_eq!(
            model.step(&state, &CounterOp::Read, &CounterRet::ReadOk(-1)),
            Some(-1)
        );
        assert_eq!(
            model.step(&state, &CounterOp::Read, &CounterRet::ReadOk(0)),
            None
        );
    }
}
