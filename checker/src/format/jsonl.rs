//! faultline's history format: one JSON object per line (docs/design.md,
//! "History").

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::{At, Completion, Invoke, Pairer};
use crate::error::{json_error, Error, Result};
use crate::event::{Event, EventType, Process};
use crate::history::{History, Outcome};
use crate::model::ModelKind;

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

/// Lines read per window: each window is parsed in two halves on two
/// threads (when the pool has them), then paired in order. Small enough that
/// the parsed events of one window cost little memory.
const WINDOW_LINES: usize = 1 << 15;

/// A line parsed, before pairing: an invoke or a completion.
enum Parsed {
    Invoke(Invoke),
    Complete {
        process: u64,
        completion: Completion,
        time: u64,
    },
}

/// What one slice of lines parsed to: its events in order (with where each
/// starts), then the error that stopped it or the torn-line warning.
#[derive(Default)]
struct Slice {
    events: Vec<(At, Parsed)>,
    error: Option<Error>,
    warning: Option<String>,
}

/// Reads a jsonl history. A torn last line (no newline at the end and not
/// valid JSON: the writer died mid-line) is dropped with a warning; any other
/// bad line is an error naming the line. Errors are those of a reader going
/// line by line: the first bad line, or the first pairing error before it.
pub(crate) fn read(text: &str, source_name: &str) -> Result<History> {
    // Two lines an op: counting the newlines first costs a few ms on a
    // million-op file and saves growing the op list line by line.
    let lines_in_text = memchr::memchr_iter(b'\n', text.as_bytes()).count();
    let mut pairer = Pairer::with_capacity(source_name, lines_in_text / 2 + 1);
    let mut warnings = Vec::new();
    let torn_possible = !text.is_empty() && !text.ends_with('\n');
    let mut rest = text;
    let mut first_line = 1u64;
    while !rest.is_empty() {
        // A full window ends at its WINDOW_LINES-th newline; the last one
        // holds the rest (and its own count of newlines).
        let (window_end, window_lines) =
            match memchr::memchr_iter(b'\n', rest.as_bytes()).nth(WINDOW_LINES - 1) {
                Some(newline) => (newline + 1, WINDOW_LINES as u64),
                None => (
                    rest.len(),
                    memchr::memchr_iter(b'\n', rest.as_bytes()).count() as u64,
                ),
            };
        let (window, after) = rest.split_at(window_end);
        let last = after.is_empty();
        // The halves split at the newline nearest the middle.
        let middle = memchr::memchr(b'\n', &window.as_bytes()[window.len() / 2..])
            .map_or(window.len(), |newline| window.len() / 2 + newline + 1);
        let (head, tail) = window.split_at(middle);
        let head_lines = memchr::memchr_iter(b'\n', head.as_bytes()).count() as u64;
        let torn = torn_possible && last;
        let (head, tail) = rayon::join(
            || parse(head, first_line, torn && tail.is_empty(), source_name),
            || parse(tail, first_line + head_lines, torn, source_name),
        );
        pair(&mut pairer, head, &mut warnings)?;
        pair(&mut pairer, tail, &mut warnings)?;
        first_line += window_lines;
        rest = after;
    }
    Ok(pairer.finish(warnings))
}

/// Pairs a slice's events in order, then fails with its error if it has one.
fn pair(pairer: &mut Pairer, slice: Slice, warnings: &mut Vec<String>) -> Result<()> {
    for (at, event) in slice.events {
        match event {
            Parsed::Invoke(invoke) => pairer.invoke(invoke)?,
            Parsed::Complete {
                process,
                completion,
                time,
            } => {
                // A jsonl completion's kind follows from how it ends.
                let name = match completion {
                    Completion::Ok(_) => "ok",
                    Completion::Fail { .. } => "fail",
                    Completion::Unknown { .. } => "info",
                };
                pairer.complete(process, name, completion, at.line, Some(time), at)?
            }
        }
    }
    if let Some(error) = slice.error {
        return Err(error);
    }
    warnings.extend(slice.warning);
    Ok(())
}

/// Parses the lines of `text`, the first of which is line `first_line`,
/// up to the first bad one. `torn_possible`: the text's last line is the
/// file's and has no newline, so a bad one is a torn write.
fn parse(text: &str, first_line: u64, torn_possible: bool, source_name: &str) -> Slice {
    let mut slice = Slice::default();
    let mut lines = text.lines().zip(first_line..).peekable();
    while let Some((raw, line)) = lines.next() {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let indent = &raw[..raw.len() - raw.trim_start().len()];
        let at = At {
            line,
            column: indent.chars().count() as u64 + 1,
        };
        let event: Line = match serde_json::from_str(trimmed) {
            Ok(event) => event,
            Err(err) if torn_possible && lines.peek().is_none() => {
                slice.warning = Some(format!(
                    "{source_name}:{line}: ignored a torn last line ({}); the writer probably died mid-line",
                    json_error(trimmed, &err).1
                ));
                continue;
            }
            Err(err) => {
                let (column, message, found) = json_error(trimmed, &err);
                slice.error = Some(Error::BadLine {
                    source_name: source_name.to_string(),
                    line,
                    column: at.column - 1 + column,
                    reason: format!(
                        "expected a history event, a JSON object with index, process, type, f ({message}); found {found}"
                    ),
                });
                return slice;
            }
        };
        let Process::Client(process) = event.process else {
            continue;
        };
        let parsed = match event.kind {
            EventType::Invoke => Parsed::Invoke(Invoke {
                id: event.index,
                process,
                key: event.key.map(Cow::into_owned).unwrap_or_default(),
                f: event.f.into_owned(),
                value: event.value,
                position: line,
                time: Some(event.time),
                at,
                node: event.node.map(Cow::into_owned),
            }),
            EventType::Ok => Parsed::Complete {
                process,
                completion: Completion::Ok(event.value),
                time: event.time,
            },
            EventType::Fail => Parsed::Complete {
                process,
                completion: Completion::Fail {
                    observation: event.f == "cas"
                        && event.error.as_deref() == Some(Event::MISMATCH),
                },
                time: event.time,
            },
            EventType::Info => Parsed::Complete {
                process,
                completion: Completion::Unknown { keep_ret: false },
                time: event.time,
            },
        };
        slice.events.push((at, parsed));
    }
    slice
}

/// The model a jsonl history implies, from its `f` names and value shapes
/// (docs/design.md, "History"): read/write/cas -> kv; append with list reads -> list-append;
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
    let names: Vec<&str> = fs.iter().copied().take(8).collect();
    let more = if fs.len() > names.len() { ", ..." } else { "" };
    Err(undecided(format!(
        "cannot tell the model from f = {}{more}; pass --model (register, cas-register, kv, kv-append, counter, set, list-append)",
        crate::error::shorten(&names.join(", "), 100)
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

    /// A history of more than two windows: ~68,000 lines of kv ops with
    /// crashes and definite failures, a nemesis line every 1,000 lines and
    /// a blank line every 3,000.
    fn long_history() -> String {
        let events = crate::synth::generate(&crate::synth::GenOptions {
            keys: 17,
            ops_per_key: 2_000,
            fail_rate: 0.05,
            crash_rate: 0.02,
            seed: 9,
            ..Default::default()
        });
        let mut text = String::new();
        for (i, event) in events.iter().enumerate() {
            text.push_str(&serde_json::to_string(event).unwrap());
            text.push('\n');
            if i % 1_000 == 999 {
                text.push_str(
                    r#"{"index":0,"process":"nemesis","type":"info","f":"kill","value":null}"#,
                );
                text.push('\n');
            }
            if i % 3_000 == 2_999 {
                text.push('\n');
            }
        }
        assert!(text.lines().count() > 2 * WINDOW_LINES);
        text
    }

    /// The reference: every line parsed in one pass, then paired.
    fn read_in_one_pass(text: &str) -> Result<History> {
        let slice = parse(text, 1, !text.ends_with('\n'), "h.jsonl");
        let mut pairer = Pairer::new("h.jsonl");
        let mut warnings = Vec::new();
        pair(&mut pairer, slice, &mut warnings)?;
        Ok(pairer.finish(warnings))
    }

    /// The 1-based number of the line of `text` that contains `needle`.
    fn line_of(text: &str, needle: &str) -> u64 {
        text.lines().position(|line| line.contains(needle)).unwrap() as u64 + 1
    }

    #[test]
    fn a_history_read_in_windows_is_the_history_read_in_one_pass() {
        let text = long_history();
        let windowed = read(&text, "h.jsonl").unwrap();
        assert_eq!(windowed, read_in_one_pass(&text).unwrap());
        assert_eq!(windowed.ops.len(), 34_000);
        // Lines count every line, blank and nemesis ones too: each op's
        // line is where its invoke stands in the text.
        let line_of_index: std::collections::HashMap<u64, u64> = text
            .lines()
            .zip(1..)
            .filter(|(line, _)| line.contains(r#""type":"invoke""#))
            .map(|(line, number)| (serde_json::from_str::<Event>(line).unwrap().index, number))
            .collect();
        for op in &windowed.ops {
            assert_eq!(op.line, line_of_index[&op.id], "op {}", op.id);
            assert_eq!(op.call, op.line);
        }
    }

    #[test]
    fn a_bad_line_in_a_later_window_is_named_by_its_line() {
        let text = long_history();
        let needle = r#""index":40000,"#;
        let bad = text.replacen(needle, r#""index":"forty thousand","#, 1);
        let err = read(&bad, "h.jsonl").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("h.jsonl:{}:", line_of(&text, needle))),
            "{err}"
        );
    }

    #[test]
    fn a_pairing_error_before_a_bad_line_is_the_one_reported() {
        let text = long_history();
        // A completion near line 33,000 (second window, first half) loses
        // its invoke; a later line is bad: in the same half, in the other
        // half, in the next window.
        for late in [34_000, 60_000, 66_000] {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            let completion = (33_000..)
                .find(|&i| lines[i].contains(r#""type":"ok""#))
                .unwrap();
            let process = serde_json::from_str::<Event>(&lines[completion])
                .unwrap()
                .process;
            let invoke = (0..completion)
                .rev()
                .find(|&i| {
                    lines[i].contains(r#""type":"invoke""#)
                        && serde_json::from_str::<Event>(&lines[i]).unwrap().process == process
                })
                .unwrap();
            lines[invoke] = String::new();
            lines[late - 1] = "{not json".into();
            let text = lines.join("\n") + "\n";
            let err = read(&text, "h.jsonl").unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("h.jsonl:{}:", completion + 1)),
                "{err}"
            );
            assert!(err.contains("no open invoke"), "{err}");
        }
    }

    #[test]
    fn a_torn_last_line_of_a_long_history_is_a_warning_naming_it() {
        let text = long_history();
        let lines = text.lines().count();
        let torn = format!("{text}{{\"index\":99999,\"ti");
        let history = read(&torn, "h.jsonl").unwrap();
        assert_eq!(history, {
            let mut expected = read(&text, "h.jsonl").unwrap();
            expected.warnings = history.warnings.clone();
            expected
        });
        assert_eq!(history.warnings.len(), 1);
        assert!(
            history.warnings[0].starts_with(&format!("h.jsonl:{}:", lines + 1)),
            "{:?}",
            history.warnings
        );
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
