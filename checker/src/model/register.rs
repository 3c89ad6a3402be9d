//! Registers: read / write, and compare-and-set for `cas-register` and `kv`.

use serde_json::Value;

use super::{Import, Imported, Model};
use crate::history::{Op, Outcome};
use crate::values::{ValueTable, NULL_ID};

/// A register operation; values are ids in the model's [`ValueTable`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegOp {
    /// Read the value.
    Read,
    /// Write a value.
    Write(u32),
    /// Set to `.1` if the value is `.0`.
    Cas(u32, u32),
}

/// What a register operation returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegRet {
    /// The value read (`null` for an absent key).
    ReadOk(u32),
    /// The write happened.
    WriteOk,
    /// Whether the comparison held (and the value was set).
    CasOk(bool),
}

/// A single register, starting at `null` (an absent key) unless told otherwise.
#[derive(Debug, Clone)]
pub struct RegisterModel {
    values: ValueTable,
    initial: u32,
    allow_cas: bool,
    name: &'static str,
}

impl RegisterModel {
    /// A register; `allow_cas` admits compare-and-set, `name` is the model's CLI name.
    pub fn new(allow_cas: bool, name: &'static str) -> Self {
        RegisterModel {
            values: ValueTable::default(),
            initial: NULL_ID,
            allow_cas,
            name,
        }
    }

    /// Starts every register at `initial` instead of `null`.
    pub fn with_initial(mut self, initial: &Value) -> Self {
        self.initial = self.values.intern(initial);
        self
    }

    /// The table of values this model has seen.
    pub fn values(&self) -> &ValueTable {
        &self.values
    }

    fn show(&self, id: u32) -> String {
        self.values.show(id)
    }
}

impl Model for RegisterModel {
    type State = u32;
    type Input = RegOp;
    type Output = RegRet;

    fn init(&self) -> u32 {
        self.initial
    }

    fn apply(&self, state: &u32, input: &RegOp) -> (u32, RegRet) {
        match *input {
            RegOp::Read => (*state, RegRet::ReadOk(*state)),
            RegOp::Write(value) => (value, RegRet::WriteOk),
            RegOp::Cas(from, to) => {
                if *state == from {
                    (to, RegRet::CasOk(true))
                } else {
                    (*state, RegRet::CasOk(false))
                }
            }
        }
    }

    fn is_read_only(&self, input: &RegOp) -> bool {
        matches!(input, RegOp::Read)
    }

    fn is_identity_when_valid(&self, input: &RegOp, output: &RegRet) -> bool {
        matches!(
            (input, output),
            (RegOp::Read, _) | (RegOp::Cas(..), RegRet::CasOk(false))
        )
    }

    fn describe_op(&self, input: &RegOp, output: Option<&RegRet>) -> String {
        match (input, output) {
            (RegOp::Read, Some(RegRet::ReadOk(value))) => format!("read -> {}", self.show(*value)),
            (RegOp::Read, _) => "read -> ?".to_string(),
            (RegOp::Write(value), None) => format!("write({}) (crashed)", self.show(*value)),
            (RegOp::Write(value), _) => format!("write({})", self.show(*value)),
            (RegOp::Cas(from, to), Some(RegRet::CasOk(true))) => {
                format!("cas({}, {})", self.show(*from), self.show(*to))
            }
            (RegOp::Cas(from, to), Some(_)) => {
                format!(
                    "cas({}, {}) failed: mismatch",
                    self.show(*from),
                    self.show(*to)
                )
            }
            (RegOp::Cas(from, to), None) => {
                format!("cas({}, {}) (crashed)", self.show(*from), self.show(*to))
            }
        }
    }

    fn describe_state(&self, state: &u32) -> String {
        self.show(*state)
    }

    fn describe_need(&self, input: &RegOp, output: &RegRet) -> String {
        match (input, output) {
            (_, RegRet::ReadOk(NULL_ID)) => "the register to be empty (null)".to_string(),
            (_, RegRet::ReadOk(value)) => format!("the register to hold {}", self.show(*value)),
            (RegOp::Cas(from, _), RegRet::CasOk(true)) => {
                format!("the register to hold {}", self.show(*from))
            }
            (RegOp::Cas(from, _), RegRet::CasOk(false)) => {
                format!("the register to hold anything but {}", self.show(*from))
            }
            _ => "nothing: it succeeds in any state".to_string(),
        }
    }
}

/// Reads `[from, to]`, the shape of a cas value.
fn cas_pair(value: &Value) -> Result<(&Value, &Value), String> {
    match value {
        Value::Array(pair) if pair.len() == 2 => Ok((&pair[0], &pair[1])),
        other => Err(format!("a cas takes [from, to], got {other}")),
    }
}

impl Import for RegisterModel {
    fn import(&mut self, op: &Op) -> Result<Option<Imported<Self>>, String> {
        let (input, ok_output) = match op.f.as_str() {
            "read" | "get" => {
                let read = match &op.outcome {
                    Outcome::Ok(value) => Some(RegRet::ReadOk(self.values.intern(value))),
                    _ => None,
                };
                (RegOp::Read, read)
            }
            "write" | "put" => (
                RegOp::Write(self.values.intern(&op.input)),
                Some(RegRet::WriteOk),
            ),
            "cas" if self.allow_cas => {
                let (from, to) = cas_pair(&op.input)?;
                let cas = RegOp::Cas(self.values.intern(from), self.values.intern(to));
                (cas, Some(RegRet::CasOk(true)))
            }
            "cas" => {
                return Err(format!(
                    "model {} has no cas; use --model cas-register or kv",
                    self.name
                ))
            }
            other => {
                return Err(format!(
                    "model {} takes read, write{}; got f = {other:?}",
                    self.name,
                    if self.allow_cas { ", cas" } else { "" }
                ))
            }
        };
        Ok(match &op.outcome {
            Outcome::Ok(_) => Some((input, ok_output)),
            Outcome::Fail { observation: true } if matches!(input, RegOp::Cas(..)) => {
                Some((input, Some(RegRet::CasOk(false))))
            }
            Outcome::Fail { .. } => None,
            Outcome::Unknown => Some((input, None)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cas_sets_only_when_the_value_matches() {
        let mut model = RegisterModel::new(true, "cas-register");
        let one = model.values.intern(&json!(1));
        let two = model.values.intern(&json!(2));
        assert_eq!(
            model.apply(&one, &RegOp::Cas(one, two)),
            (two, RegRet::CasOk(true))
        );
        assert_eq!(
            model.apply(&two, &RegOp::Cas(one, two)),
            (two, RegRet::CasOk(false))
        );
    }

    #[test]
    fn read_of_absent_key_returns_null() {
        let model = RegisterModel::new(false, "register");
        assert_eq!(
            model.step(&NULL_ID, &RegOp::Read, &RegRet::ReadOk(NULL_ID)),
            Some(NULL_ID)
        );
    }

    #[test]
    fn initial_value_replaces_null() {
        let model = RegisterModel::new(false, "register").with_initial(&json!(0));
        assert_eq!(model.values.get(model.init()), &json!(0));
    }

    #[test]
    fn failed_cas_is_identity() {
        let model = RegisterModel::new(true, "kv");
        assert!(model.is_identity_when_valid(&RegOp::Cas(1, 2), &RegRet::CasOk(false)));
        assert!(!model.is_identity_when_valid(&RegOp::Cas(1, 2), &RegRet::CasOk(true)));
    }
}
