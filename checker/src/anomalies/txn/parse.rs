//! [`TxnHistory::from_history`]: transactions out of a generic [`History`].

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::{Elem, KeyId, KeyName, Mop, Status, Txn, TxnHistory};
use crate::error::{Error, Result};
use crate::history::{History, Op, Outcome};

/// Builds a [`TxnHistory`] from `history`; `source` names the file in errors.
pub(super) fn from_history(history: &History, source: &str) -> Result<TxnHistory> {
    let mut out = TxnHistory {
        warnings: history.warnings.clone(),
        ..TxnHistory::default()
    };
    let mut interned: FxHashMap<KeyName, KeyId> = FxHashMap::default();
    for op in &history.ops {
        let bad = |reason: String| Error::ModelMismatch {
            source_name: source.to_string(),
            line: op.line,
            reason,
        };
        if op.f != "txn" {
            return Err(bad(format!(
                "txn-list-append takes only ops with f \"txn\", got f {:?}",
                op.f
            )));
        }
        let (status, value) = match &op.outcome {
            Outcome::Ok(value) => (Status::Committed, value),
            Outcome::Fail { .. } => (Status::Aborted, &op.input),
            Outcome::Unknown => (Status::Unknown, &op.input),
        };
        let start = out.mops.len() as u32;
        push_mops(
            &mut out,
            &mut interned,
            op,
            value,
            status == Status::Committed,
        )
        .map_err(bad)?;
        out.txns.push(Txn {
            id: op.id,
            process: op.process,
            status,
            call: op.call,
            ret: op.ret,
            call_time: op.call_time,
            ret_time: op.ret_time,
            line: op.line,
            mops: start..out.mops.len() as u32,
        });
    }
    Ok(out)
}

/// Appends the micro-ops of `value` (a JSON list of `[f, key, value]`).
fn push_mops(
    out: &mut TxnHistory,
    interned: &mut FxHashMap<KeyName, KeyId>,
    op: &Op,
    value: &Value,
    committed: bool,
) -> std::result::Result<(), String> {
    let Value::Array(mops) = value else {
        return Err(format!(
            "a txn's value is a list of micro-ops [f, key, value], got {value}"
        ));
    };
    // The invoke's micro-ops must be the completion's, reads aside.
    if committed {
        if let Value::Array(invoked) = &op.input {
            if invoked.len() != mops.len() {
                return Err(format!(
                    "the txn completed with {} micro-ops but was invoked with {}",
                    mops.len(),
                    invoked.len()
                ));
            }
        }
    }
    for (n, mop) in mops.iter().enumerate() {
        let parts = match mop {
            Value::Array(parts) if parts.len() == 3 => parts,
            _ => {
                return Err(format!(
                    "micro-op {n} must be [f, key, value] (3 elements), got {mop}"
                ))
            }
        };
        let key = match &parts[1] {
            Value::String(s) => KeyName::Str(s.clone()),
            Value::Number(num) => match num.as_i64() {
                Some(k) => KeyName::Int(k),
                None => {
                    return Err(format!(
                        "micro-op {n}: a key is a string or an i64 integer, got {num}"
                    ))
                }
            },
            other => {
                return Err(format!(
                    "micro-op {n}: a key is a string or an integer, got {other}"
                ))
            }
        };
        let next = interned.len() as KeyId;
        let key = *interned.entry(key).or_insert_with_key(|name| {
            out.keys.push(name.clone());
            next
        });
        match parts[0].as_str() {
            Some("append") => {
                let elem = parts[2].as_i64().ok_or_else(|| {
                    format!(
                        "micro-op {n}: an append's element is an i64 integer, got {}",
                        parts[2]
                    )
                })?;
                out.mops.push(Mop::Append { key, elem });
            }
            Some("r") => {
                let elems = match (&parts[2], committed) {
                    (_, false) => None,
                    (Value::Array(list), true) => {
                        let start = out.read_elems.len() as u32;
                        for item in list {
                            let elem: Elem = item.as_i64().ok_or_else(|| {
                                format!(
                                    "micro-op {n}: a read's elements are i64 integers, got {item}"
                                )
                            })?;
                            out.read_elems.push(elem);
                        }
                        Some(start..out.read_elems.len() as u32)
                    }
                    (other, true) => {
                        return Err(format!(
                            "micro-op {n}: an ok txn's read gives a list of elements, got {other}"
                        ))
                    }
                };
                out.mops.push(Mop::Read { key, elems });
            }
            _ => {
                return Err(format!(
                    "micro-op {n}: f is \"append\" or \"r\", got {}",
                    parts[0]
                ))
            }
        }
    }
    Ok(())
}
