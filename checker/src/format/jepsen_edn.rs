//! Jepsen/Knossos EDN histories: a vector or a list of op maps, or a stream
//! of them.
//!
//! Read as Knossos reads them: every `:fail` op is dropped (a failed cas
//! included), `:info` ops may take effect any time after the call or never,
//! and ops of non-integer processes (`:nemesis`) are ignored.
//!
//! Elle's transaction histories are read too: `:value [[:append 3 1] [:r 3
//! nil]]` becomes the JSON `[["append",3,1],["r",3,null]]` (keywords become
//! strings without the colon) under `f` = `txn`. An op without `:f` whose
//! value is such a vector of micro-ops is a `txn`; a completion without
//! `:process` is a whole op on its own (a fresh process, no place in real
//! time).

use serde_json::Value;

use super::edn::{Edn, EdnError, Reader};
use super::{At, Completion, Invoke, Pairer};
use crate::error::{Error, Result};
use crate::history::History;

/// Reads a history: a vector `[...]` or a list `(...)` of op maps, or op
/// maps one after another (one per line or any layout). An op map may be a
/// tagged record (`#jepsen.history.Op{...}`); comments and `#_` discards may
/// stand anywhere; keys other than those read are ignored.
pub(crate) fn read(text: &str, source_name: &str) -> Result<History> {
    let mut reader = Reader::new(text);
    let mut pairer = Pairer::new(source_name);
    let edn = |e: EdnError| Error::BadLine {
        source_name: source_name.to_string(),
        line: e.line,
        column: e.column,
        reason: e.reason,
    };
    let bad = |at: At, reason: String| Error::BadLine {
        source_name: source_name.to_string(),
        line: at.line,
        column: at.column,
        reason,
    };
    // A history that opens with `[` or `(` is that one collection.
    let close = match reader.peek_form().map_err(edn)? {
        Some(b'[') => Some(b']'),
        Some(b'(') => Some(b')'),
        _ => None,
    };
    let opened = reader.mark();
    if close.is_some() {
        reader.consume();
    }
    let mut position: u64 = 0;
    let mut lone = 0usize;
    loop {
        let next = reader.peek_form().map_err(edn)?;
        match (close, next) {
            (Some(close), Some(c)) if c == close => {
                reader.consume();
                if reader.peek_form().map_err(edn)?.is_some() {
                    return reader
                        .expected_at(reader.mark(), "nothing after the history's closing bracket")
                        .map_err(edn);
                }
                break;
            }
            (Some(close), None) => {
                return reader
                    .expected_at(
                        reader.mark(),
                        &format!(
                            "{} to close the history opened at line {}, column {}",
                            close as char, opened.line, opened.column
                        ),
                    )
                    .map_err(edn)
            }
            (None, None) => break,
            _ => {}
        }
        let mark = reader.mark();
        let at = At {
            line: mark.line,
            column: mark.column,
        };
        let op = reader.read().map_err(edn)?;
        let this = position;
        position += 1;
        if !op.is_map() {
            return Err(bad(
                at,
                format!(
                    "expected an op map {{:type .. :f .. :process ..}}, found {}",
                    op.shown()
                ),
            ));
        }
        let shown = |value: Option<&Edn>| value.map_or_else(|| "none".to_string(), Edn::shown);
        let process = match op.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            // :nemesis and other named processes are not clients.
            Some(Edn::Keyword(_)) | Some(Edn::Symbol(_)) | Some(Edn::Str(_)) => continue,
            // A completion without a process stands alone (below).
            None => LONE,
            other => {
                return Err(bad(
                    at,
                    format!(
                        "expected :process <integer from 0> or :nemesis, found {}",
                        shown(other)
                    ),
                ))
            }
        };
        let kind = match op.get("type") {
            Some(Edn::Keyword(t)) => t.as_str(),
            other => {
                return Err(bad(
                    at,
                    format!(
                        "expected :type :invoke, :ok, :fail or :info, found {}",
                        shown(other)
                    ),
                ))
            }
        };
        let f = match op.get("f") {
            Some(Edn::Keyword(f)) | Some(Edn::Str(f)) | Some(Edn::Symbol(f)) => f.clone(),
            // Elle's histories may leave :f out: micro-ops make it a txn.
            None if op.get("value").is_some_and(is_txn_value) => TXN.to_string(),
            other => {
                return Err(bad(
                    at,
                    format!("expected :f <keyword>, found {}", shown(other)),
                ))
            }
        };
        let value = op.get("value").map_or(Value::Null, Edn::to_json);
        let time = match op.get("time") {
            Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
            _ => None,
        };
        let id = match op.get("index") {
            Some(Edn::Int(i)) if *i >= 0 => *i as u64,
            _ => this,
        };
        let key = match op.get("key") {
            Some(Edn::Str(k)) | Some(Edn::Keyword(k)) => k.clone(),
            Some(other) => other.to_json().to_string(),
            None => String::new(),
        };
        if process == LONE {
            if kind == "invoke" {
                return Err(bad(
                    at,
                    "expected :process <integer from 0> on an invoke, to pair it with its completion (only a completion may leave :process out: it is then a whole op on its own)".into(),
                ));
            }
            lone += 1;
            pairer.invoke(Invoke {
                id,
                process,
                key: key.clone(),
                f: f.clone(),
                value: value.clone(),
                position: this,
                time,
                at,
                node: None,
            })?;
        }
        match kind {
            "invoke" => pairer.invoke(Invoke {
                id,
                process,
                key,
                f,
                value,
                position: this,
                time,
                at,
                node: None,
            })?,
            "ok" => pairer.complete(process, "ok", Completion::Ok(value), this, time, at)?,
            "fail" => pairer.complete(
                process,
                "fail",
                Completion::Fail { observation: false },
                this,
                time,
                at,
            )?,
            "info" => pairer.complete(
                process,
                "info",
                Completion::Unknown { keep_ret: false },
                this,
                time,
                at,
            )?,
            other => {
                return Err(bad(
                    at,
                    format!(
                        "expected :type :invoke, :ok, :fail or :info, found :{}",
                        crate::error::shorten(other, 60)
                    ),
                ))
            }
        }
    }
    let mut history = pairer.finish(Vec::new());
    if lone > 0 {
        give_lone_ops_processes(&mut history);
    }
    Ok(history)
}

/// The process an op without `:process` is paired under while it is read
/// (EDN integers are i64, so no op of the file has it).
const LONE: u64 = u64::MAX;

/// The `f` of a transaction.
const TXN: &str = "txn";

/// Whether `value` is a transaction's micro-ops: a non-empty vector (or
/// list) of 3-element vectors, each `[:append k v]` or `[:r k v]`.
fn is_txn_value(value: &Edn) -> bool {
    let (Edn::Vector(mops) | Edn::List(mops)) = value else {
        return false;
    };
    !mops.is_empty()
        && mops.iter().all(|mop| match mop {
            Edn::Vector(parts) if parts.len() == 3 => matches!(
                &parts[0],
                Edn::Keyword(f) | Edn::Symbol(f) | Edn::Str(f) if f == "append" || f == "r"
            ),
            _ => false,
        })
}

/// Ops read without `:process` (each a whole op on its own) get fresh
/// processes above every other, one each in order, and no place in real
/// time: their invokes are unknown, so they are taken as invoked before
/// everything (`call` 0) and never known to return (`ret` none).
fn give_lone_ops_processes(history: &mut History) {
    let highest = history
        .ops
        .iter()
        .map(|op| op.process)
        .filter(|&process| process != LONE)
        .max();
    let fresh = highest.map_or(0, |p| p + 1)..;
    let lone = history.ops.iter_mut().filter(|op| op.process == LONE);
    for (process, op) in fresh.zip(lone) {
        op.process = process;
        op.call = 0;
        op.ret = None;
        op.ret_time = None;
    }
    history.ops.sort_by_key(|op| op.call);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;

    #[test]
    fn reads_a_vector_history_and_drops_nemesis_ops() {
        let text = r#"[{:type :invoke, :f :write, :value 1, :process 0, :time 1}
 {:type :info, :f :start, :value nil, :process :nemesis, :time 2}
 {:type :ok, :f :write, :value 1, :process 0, :time 3}
 {:type :invoke, :f :cas, :value [1 2], :process 1, :time 4}
 {:type :fail, :f :cas, :value [1 2], :process 1, :time 5}]"#;
        let history = read(text, "h.edn").unwrap();
        assert_eq!(history.ops.len(), 2);
        assert_eq!(history.ops[0].id, 0);
        assert_eq!(history.ops[1].id, 3);
        assert_eq!(history.ops[1].line, 4);
        // Knossos: a failed cas observed nothing.
        assert_eq!(history.ops[1].outcome, Outcome::Fail { observation: false });
    }

    #[test]
    fn reads_a_stream_with_explicit_indices() {
        let text = "{:type :invoke, :f :read, :value nil, :process 0, :index 7}\n{:type :ok, :f :read, :value 3, :process 0, :index 8}\n";
        let history = read(text, "h.edn").unwrap();
        assert_eq!(history.ops[0].id, 7);
        assert_eq!(history.ops[0].outcome, Outcome::Ok(serde_json::json!(3)));
    }

    #[test]
    fn unclosed_vector_is_an_error() {
        let err = read(
            "[{:type :invoke, :f :read, :value nil, :process 0}",
            "h.edn",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "h.edn:1:51: expected ] to close the history opened at line 1, column 1"
            ),
            "{err}"
        );
    }
}
