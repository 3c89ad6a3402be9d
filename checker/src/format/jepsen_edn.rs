//! Jepsen/Knossos EDN histories: a vector of op maps, or a stream of them.
//!
//! Read as Knossos reads them: every `:fail` op is dropped (a failed cas
//! included), `:info` ops may take effect any time after the call or never,
//! and ops of non-integer processes (`:nemesis`) are ignored.

use serde_json::Value;

use super::edn::{Edn, Reader};
use super::{Completion, Invoke, Pairer};
use crate::error::{Error, Result};
use crate::history::History;

pub(crate) fn read(text: &str, source_name: &str) -> Result<History> {
    let mut reader = Reader::new(text);
    let mut pairer = Pairer::new(source_name);
    let in_vector = reader.next_is_vector();
    let bad = |line: u64, reason: String| Error::BadLine {
        source_name: source_name.to_string(),
        line,
        reason,
    };
    if in_vector {
        reader.open_vector().map_err(|e| bad(e.line, e.reason))?;
    }
    let mut position: u64 = 0;
    loop {
        if in_vector {
            if reader.close_vector() {
                if !reader.at_end() {
                    return Err(bad(
                        reader.line(),
                        "unexpected forms after the history vector".into(),
                    ));
                }
                break;
            }
            if reader.at_end() {
                return Err(bad(
                    reader.line(),
                    "the history vector is never closed: expected ]".into(),
                ));
            }
        } else if reader.at_end() {
            break;
        }
        reader.skip_space();
        let line = reader.line();
        let op = reader.read().map_err(|e| bad(e.line, e.reason))?;
        let this = position;
        position += 1;
        if !matches!(op, Edn::Map(_)) {
            return Err(bad(
                line,
                format!(
                    "expected an op map {{:type .. :f .. :process ..}}, got {}",
                    op.to_json()
                ),
            ));
        }
        let process = match op.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            Some(Edn::Int(p)) => return Err(bad(line, format!("process {p} is negative"))),
            // :nemesis and other named processes are not clients.
            Some(Edn::Keyword(_)) | Some(Edn::Symbol(_)) | Some(Edn::Str(_)) => continue,
            other => {
                return Err(bad(
                    line,
                    format!("expected :process <integer> or :nemesis, got {other:?}"),
                ))
            }
        };
        let kind = match op.get("type") {
            Some(Edn::Keyword(t)) => t.clone(),
            other => {
                return Err(bad(
                    line,
                    format!("expected :type :invoke|:ok|:fail|:info, got {other:?}"),
                ))
            }
        };
        let f = match op.get("f") {
            Some(Edn::Keyword(f)) | Some(Edn::Str(f)) | Some(Edn::Symbol(f)) => f.clone(),
            other => return Err(bad(line, format!("expected :f <keyword>, got {other:?}"))),
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
        match kind.as_str() {
            "invoke" => pairer.invoke(Invoke {
                id,
                process,
                key,
                f,
                value,
                position: this,
                time,
                line,
                node: None,
            })?,
            "ok" => pairer.complete(process, "ok", Completion::Ok(value), this, time, line)?,
            "fail" => pairer.complete(
                process,
                "fail",
                Completion::Fail { observation: false },
                this,
                time,
                line,
            )?,
            "info" => pairer.complete(
                process,
                "info",
                Completion::Unknown { keep_ret: false },
                this,
                time,
                line,
            )?,
            other => {
                return Err(bad(
                    line,
                    format!("expected :type :invoke, :ok, :fail or :info, got :{other}"),
                ))
            }
        }
    }
    Ok(pairer.finish(Vec::new()))
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
        assert!(err.contains("h.edn:1"), "{err}");
    }
}
