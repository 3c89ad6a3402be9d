//! The history as the report draws it: every client op (invoke paired with
//! its completion, with the error and the node) and every nemesis action.
//!
//! The checker's readers keep only what checks need; the report also wants
//! errors, nemesis events and ops whose completion never came, so
//! faultline's own jsonl is read here again, leniently: a bad line becomes
//! a warning shown in the page, not a missing report.

use std::collections::HashMap;

use checker::{Event, EventType, Process};
use serde_json::Value;

/// How a client op ended, as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Completed with effect.
    Ok,
    /// Definitely without effect.
    Fail,
    /// Unknown (timeout, crash).
    Info,
    /// No completion recorded (the harness died, or the history was cut).
    Open,
}

impl Ending {
    /// The code used in the page's data: 0 ok, 1 fail, 2 info, 3 open.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Ending::Ok => 0,
            Ending::Fail => 1,
            Ending::Info => 2,
            Ending::Open => 3,
        }
    }

    /// The word shown for it.
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Fail => "fail",
            Ending::Info => "info",
            Ending::Open => "no completion",
        }
    }
}

/// One client op.
#[derive(Debug, Clone)]
pub struct ReportOp {
    /// docs/design.md's witness id: the `index` of the invoke (jsonl).
    pub id: u64,
    /// The client process.
    pub process: u64,
    /// `read`, `write`, ...
    pub f: String,
    /// The key; `""` when the history has none.
    pub key: String,
    /// The node the request went to.
    pub node: Option<String>,
    /// Invoke time (ns since the test started, or the event position when
    /// the history has no times).
    pub call: u64,
    /// Completion time, same clock; `None` for [`Ending::Open`].
    pub ret: Option<u64>,
    /// How it ended.
    pub ending: Ending,
    /// The invoke's value.
    pub input: Value,
    /// The completion's value (`ok`: the result).
    pub output: Value,
    /// The completion's error.
    pub error: Option<String>,
}

/// One nemesis action (`process: "nemesis"`).
#[derive(Debug, Clone)]
pub struct NemesisAction {
    /// The history `time` of the event.
    pub time: u64,
    /// `partition`, `heal`, `pause`, `resume`, `kill`, `restart`, ...
    pub f: String,
    /// The serialized `nemesis::NemesisEvent` (or whatever another tool wrote).
    pub value: Value,
}

/// What the clock of a history counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Nanoseconds since the test started.
    Nanos,
    /// Positions of events (histories without times, e.g. some imports).
    Events,
}

/// A whole history, ready to draw.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Client ops in invoke order.
    pub ops: Vec<ReportOp>,
    /// Nemesis actions in history order.
    pub nemesis: Vec<NemesisAction>,
    /// Lines skipped or oddities met, in words.
    pub warnings: Vec<String>,
    /// The latest time seen.
    pub end: u64,
    /// What the times count.
    pub clock: Clock,
}

impl Recorded {
    /// The op with witness id `id`.
    #[must_use]
    pub fn op(&self, id: u64) -> Option<&ReportOp> {
        // Ops are in invoke order and ids are invoke indexes, so they are
        // sorted by id: binary search.
        self.ops
            .binary_search_by_key(&id, |op| op.id)
            .ok()
            .map(|i| &self.ops[i])
    }
}

/// How many warnings are kept word for word; the rest are counted.
const MAX_WARNINGS: usize = 20;

/// Reads faultline's jsonl history leniently (see the module doc).
#[must_use]
pub fn read_jsonl(text: &str, source: &str) -> Recorded {
    let mut ops: Vec<ReportOp> = Vec::new();
    let mut nemesis = Vec::new();
    let mut warnings = Vec::new();
    let mut skipped = 0usize;
    let mut open: HashMap<u64, usize> = HashMap::new();
    let mut end = 0u64;
    let mut warn = |warnings: &mut Vec<String>, message: String| {
        if warnings.len() < MAX_WARNINGS {
            warnings.push(message);
        } else {
            skipped += 1;
        }
    };
    let torn_possible = !text.is_empty() && !text.ends_with('\n');
    let total_lines = text.lines().count();
    for (number, line) in text.lines().enumerate() {
        let line_no = number + 1;
        if line.trim().is_empty() {
            continue;
        }
        let event: Event = match serde_json::from_str(line) {
            Ok(event) => event,
            Err(err) => {
                if torn_possible && line_no == total_lines {
                    warn(
                        &mut warnings,
                        format!("{source}:{line_no}: torn last line ignored"),
                    );
                } else {
                    warn(
                        &mut warnings,
                        format!("{source}:{line_no}: not a history event, skipped: {err}"),
                    );
                }
                continue;
            }
        };
        end = end.max(event.time);
        let process = match event.process {
            Process::Nemesis => {
                nemesis.push(NemesisAction {
                    time: event.time,
                    f: event.f,
                    value: event.value,
                });
                continue;
            }
            Process::Client(process) => process,
        };
        match event.kind {
            EventType::Invoke => {
                if let Some(previous) = open.insert(process, ops.len()) {
                    warn(
                        &mut warnings,
                        format!(
                            "{source}:{line_no}: process {process} invoked again before op {} completed",
                            ops[previous].id
                        ),
                    );
                }
                ops.push(ReportOp {
                    id: event.index,
                    process,
                    f: event.f,
                    key: event.key.unwrap_or_default(),
                    node: event.node,
                    call: event.time,
                    ret: None,
                    ending: Ending::Open,
                    input: event.value,
                    output: Value::Null,
                    error: None,
                });
            }
            kind => {
                let Some(at) = open.remove(&process) else {
                    warn(
                        &mut warnings,
                        format!(
                            "{source}:{line_no}: completion of process {process} without an invoke"
                        ),
                    );
                    continue;
                };
                let op = &mut ops[at];
                op.ret = Some(event.time.max(op.call));
                op.ending = match kind {
                    EventType::Ok => Ending::Ok,
                    EventType::Fail => Ending::Fail,
                    _ => Ending::Info,
                };
                op.output = event.value;
                op.error = event.error;
                if op.node.is_none() {
                    op.node = event.node;
                }
            }
        }
    }
    if skipped > 0 {
        warnings.push(format!("... and {skipped} more warnings"));
    }
    // Invoke order is file order; ids are indexes, normally increasing with
    // it. Sort anyway so lookups by id can binary search.
    if !ops.windows(2).all(|w| w[0].id <= w[1].id) {
        ops.sort_by_key(|op| op.id);
    }
    Recorded {
        ops,
        nemesis,
        warnings,
        end,
        clock: Clock::Nanos,
    }
}

/// Converts a history the checker read (any format) for drawing. Times are
/// the recorded ones when every op has them, else event positions.
#[must_use]
pub fn from_checker(history: &checker::History) -> Recorded {
    let timed = history
        .ops
        .iter()
        .all(|op| op.call_time.is_some() && (op.ret.is_none() || op.ret_time.is_some()));
    let mut end = 0;
    let mut ops: Vec<ReportOp> = history
        .ops
        .iter()
        .map(|op| {
            let (call, ret) = if timed {
                (op.call_time.unwrap_or(0), op.ret.and(op.ret_time))
            } else {
                (op.call, op.ret)
            };
            let ending = match (&op.outcome, ret) {
                (checker::Outcome::Ok(_), _) => Ending::Ok,
                (checker::Outcome::Fail { .. }, _) => Ending::Fail,
                (checker::Outcome::Unknown, Some(_)) => Ending::Info,
                (checker::Outcome::Unknown, None) => Ending::Open,
            };
            let output = match &op.outcome {
                checker::Outcome::Ok(value) => value.clone(),
                _ => Value::Null,
            };
            let error = match op.outcome {
                checker::Outcome::Fail { observation: true } => Some(Event::MISMATCH.to_string()),
                _ => None,
            };
            end = end.max(ret.unwrap_or(call));
            ReportOp {
                id: op.id,
                process: op.process,
                f: op.f.clone(),
                key: op.key.clone(),
                node: op.node.clone(),
                call,
                ret: ret.map(|r| r.max(call)),
                ending,
                input: op.input.clone(),
                output,
                error,
            }
        })
        .collect();
    ops.sort_by_key(|op| op.id);
    Recorded {
        ops,
        nemesis: Vec::new(),
        warnings: history.warnings.clone(),
        end,
        clock: if timed { Clock::Nanos } else { Clock::Events },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_completions_keeps_errors_nemesis_and_open_ops() {
        let text = concat!(
            r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"write","key":"k","value":1,"node":"n1"}"#,
            "\n",
            r#"{"index":1,"time":15,"process":"nemesis","type":"info","f":"kill","value":{"nodes":["n2"],"start_ns":14,"end_ns":15}}"#,
            "\n",
            r#"{"index":2,"time":20,"process":1,"type":"invoke","f":"read","key":"k","value":null}"#,
            "\n",
            r#"{"index":3,"time":30,"process":0,"type":"info","f":"write","key":"k","value":1,"error":"timeout"}"#,
            "\n",
            r#"{"index":4,"time":40,"process":2,"type":"invo"#,
        );
        let recorded = read_jsonl(text, "h.jsonl");
        assert_eq!(recorded.ops.len(), 2);
        let write = recorded.op(0).unwrap();
        assert_eq!(write.ending, Ending::Info);
        assert_eq!(write.ret, Some(30));
        assert_eq!(write.error.as_deref(), Some("timeout"));
        assert_eq!(recorded.op(2).unwrap().ending, Ending::Open);
        assert_eq!(recorded.nemesis.len(), 1);
        assert_eq!(recorded.nemesis[0].f, "kill");
        assert_eq!(recorded.end, 30);
        assert!(
            recorded.warnings[0].contains("torn last line"),
            "{:?}",
            recorded.warnings
        );
    }

    #[test]
    fn a_bad_line_in_the_middle_is_a_warning_not_an_error() {
        let text = "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\nnonsense\n";
        let recorded = read_jsonl(text, "h.jsonl");
        assert_eq!(recorded.ops.len(), 1);
        assert!(recorded.warnings[0].contains("h.jsonl:2"));
    }
}
