//! faultline's history format: one JSON object per line (DESIGN.md).

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::{Completion, Invoke, Pairer};
use crate::error::{Error, Result};
use crate::history::{Event, EventType, Process};
use crate::model::ModelKind;
use crate::op::{History, Outcome};

/// One line as read: the same fields as [`Event`], with its strings
/// borrowed from the text where they need no unescaping, so a completion
/// line (which keeps only its value) allocates nothing for `f` or `key`.
#[derive(Deserialize)]
struct Line<'a> {
    index: u64,
    #[serde(default)]
    time: u64,
    process: Process,
    #[serde(rename = "type")]
    kind: EventType,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(default)]
    value: Value,
    #[serde(default, borrow)]
    node: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<Cow<'a, str>>,
}

/// Reads a jsonl history. A torn last line (no newline at the end and not
/// valid JSON: the writer died mid-line) is dropped with a warning; any other
/// bad line is an error naming the line.
pub(crate) fn read(text: &str, source_name: &str) -> Result<History> {
    let mut pairer = Pairer::new(source_name);
    let mut warnings = Vec::new();
    let torn_possible = !text.is_empty() && !text.ends_with('\n');
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, raw)) = lines.next() {
        let line = number as u64 + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let event: Line = match serde_json::from_str(trimmed) {
            Ok(event) => event,
            Err(err) if torn_possible && lines.peek().is_none() => {
                warnings.push(format!(
                    "{source_name}:{line}: ignored a torn last line ({err}); the writer probably died mid-line"
                ));
                continue;
            }
            Err(err) => {
                return Err(Error::BadLine {
                    source_name: source_name.to_string(),
                    line,
                    reason: format!(
                        "expected a history event (JSON object with index, process, type, f): {err}"
                    ),
                })
            }
        };
        let Process::Client(process) = event.process else {
            continue;
        };
        let position = line;
        match event.kind {
            EventType::Invoke => pairer.invoke(Invoke {
                id: event.index,
                process,
                key: event.key.map(Cow::into_owned).unwrap_or_default(),
                f: event.f.into_owned(),
                value: event.value,
                position,
                time: Some(event.time),
                line,
                node: event.node.map(Cow::into_owned),
            })?,
            kind => {
                let completion = match kind {
                    EventType::Ok => Completion::Ok(event.value),
                    EventType::Fail => Completion::Fail {
                        observation: event.f == "cas"
                            && event.error.as_deref() == Some(Event::MISMATCH),
                    },
                    _ => Completion::Unknown { keep_ret: false },
                };
                let name = match kind {
                    EventType::Ok => "ok",
                    EventType::Fail => "fail",
                    _ => "info",
                };
                pairer.complete(process, name, completion, position, Some(event.time), line)?
            }
        }
    }
    Ok(pairer.finish(warnings))
}

/// The model a jsonl history implies, from its `f` names and value shapes
/// (DESIGN.md): read/write/cas -> kv; append with list reads -> list-append;
/// integer add/read -> counter; element add/list read -> set.
///
/// # Errors
/// [`Error::Undecided`] when the ops fit no model or more than one.
pub fn infer_model(history: &History, source_name: &str) -> Result<ModelKind> {
    // Inserted one by one: collecting a million names would sort them all.
    let mut fs: BTreeSet<&str> = BTreeSet::new();
    for op in &history.ops {
        if !fs.contains(op.f.as_str()) {
            fs.insert(op.f.as_str());
        }
    }
    let read_values = || {
        history
            .ops
            .iter()
            .filter_map(|op| match (&op.outcome, op.f.as_str()) {
                (Outcome::Ok(value), "read") => Some(value),
                _ => None,
            })
    };
    let reads_lists = read_values().any(Value::is_array);
    let reads_integers = read_values().any(|v| v.is_i64() || v.is_u64());
    let undecided = |reason: String| Error::Undecided {
        source_name: source_name.to_string(),
        reason,
    };
    if fs.is_empty() {
        return Ok(ModelKind::Kv);
    }
    let only = |allowed: &[&str]| fs.iter().all(|f| allowed.contains(f));
    if only(&["read", "write", "cas"]) && (fs.contains("write") || fs.contains("cas")) {
        return Ok(ModelKind::Kv);
    }
    if only(&["read", "append"]) && fs.contains("append") {
        return if reads_integers {
            Err(undecided(
                "append ops with integer reads fit no model; pass --model".into(),
            ))
        } else {
            Ok(ModelKind::ListAppend)
        };
    }
    if only(&["read", "add"]) && fs.contains("add") {
        let adds_integers = history
            .ops
            .iter()
            .filter(|op| op.f == "add")
            .all(|op| op.input.is_i64() || op.input.is_u64());
        return match (reads_lists, reads_integers, adds_integers) {
            (true, false, _) => Ok(ModelKind::Set),
            (false, true, true) => Ok(ModelKind::Counter),
            (false, false, false) => Ok(ModelKind::Set),
            _ => Err(undecided(
                "add ops fit both counter and set (no read tells them apart); pass --model counter or --model set".into(),
            )),
        };
    }
    let names: Vec<&str> = fs.into_iter().collect();
    Err(undecided(format!(
        "cannot tell the model from f = {}; pass --model (register, cas-register, kv, kv-append, counter, set, list-append)",
        names.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"a","value":1}
{"index":1,"time":11,"process":"nemesis","type":"info","f":"partition","value":{"groups":[["n1"],["n2","n3"]]}}
{"index":2,"time":20,"process":0,"type":"ok","f":"write","key":"a","value":1}
{"index":3,"time":30,"process":1,"type":"invoke","f":"cas","key":"a","value":[2,3]}
{"index":4,"time":40,"process":1,"type":"fail","f":"cas","key":"a","value":[2,3],"error":"mismatch"}
{"index":5,"time":50,"process":2,"type":"invoke","f":"read","key":"a","value":null}
"#;

    #[test]
    fn pairs_ops_and_reads_mismatch_as_observation() {
        let history = read(HISTORY, "h.jsonl").unwrap();
        assert_eq!(history.ops.len(), 3);
        assert_eq!(history.ops[0].outcome, Outcome::Ok(serde_json::json!(1)));
        assert_eq!(history.ops[1].outcome, Outcome::Fail { observation: true });
        assert_eq!(history.ops[2].outcome, Outcome::Unknown);
        assert_eq!(history.ops[2].ret, None);
        assert_eq!(infer_model(&history, "h").unwrap(), ModelKind::Kv);
    }

    #[test]
    fn torn_last_line_is_a_warning() {
        let text = format!("{HISTORY}{{\"index\":6,\"ti");
        let history = read(&text, "h.jsonl").unwrap();
        assert_eq!(history.warnings.len(), 1);
        assert!(history.warnings[0].contains("h.jsonl:7"));
    }

    #[test]
    fn malformed_middle_line_names_the_line() {
        let text = HISTORY.replace(r#""type":"ok""#, r#""type":"okay""#);
        let err = read(&text, "h.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("h.jsonl:3:"), "{err}");
    }

    #[test]
    fn completion_without_invoke_is_an_error() {
        let text = r#"{"index":0,"process":4,"type":"ok","f":"read","value":1}"#;
        let err = read(text, "h.jsonl").unwrap_err().to_string();
        assert!(err.contains("process 4") && err.contains(":1:"), "{err}");
    }

    #[test]
    fn add_with_integer_reads_is_a_counter_and_with_list_reads_a_set() {
        let counter = r#"{"index":0,"process":0,"type":"invoke","f":"add","value":1}
{"index":1,"process":0,"type":"ok","f":"add","value":1}
{"index":2,"process":0,"type":"invoke","f":"read","value":null}
{"index":3,"process":0,"type":"ok","f":"read","value":1}
"#;
        let history = read(counter, "c").unwrap();
        assert_eq!(infer_model(&history, "c").unwrap(), ModelKind::Counter);
        let set = counter.replace(
            r#""type":"ok","f":"read","value":1"#,
            r#""type":"ok","f":"read","value":[1]"#,
        );
        let history = read(&set, "s").unwrap();
        assert_eq!(infer_model(&history, "s").unwrap(), ModelKind::Set);
    }

    #[test]
    fn only_reads_is_ambiguous() {
        let text = r#"{"index":0,"process":0,"type":"invoke","f":"read","value":null}
{"index":1,"process":0,"type":"ok","f":"read","value":null}
"#;
        let history = read(text, "r").unwrap();
        let err = infer_model(&history, "r").unwrap_err().to_string();
        assert!(err.contains("--model"), "{err}");
    }
}
