//! Checking a whole history: split by key (P-compositionality), search every
//! key on all cores (largest first), and explain what was found.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::{Import, Model, ModelKind, ModelTask};
use crate::op::{History, Op};
use crate::search::{self, Budget, KeyOp, Limits, SearchResult, NEVER};

/// The configuration budget of a key's first round (then x8 per round).
const FIRST_ROUND_CONFIGURATIONS: u64 = 1 << 16;

/// How to check a history.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The model every key is checked against.
    pub model: ModelKind,
    /// The registers' initial value (register models only); `null` when `None`.
    pub initial: Option<Value>,
    /// Keys not decided by this instant end `unknown`.
    pub deadline: Option<Instant>,
    /// Memory budget for each key's search, in bytes.
    pub memory_bytes: usize,
    /// Stop every other key once one key is found not linearizable (their
    /// verdicts become unknown), as Porcupine does. The file's verdict is the
    /// same; only the other keys' details are lost.
    pub stop_at_first_violation: bool,
}

impl CheckOptions {
    /// Options with no budget for `model`.
    pub fn new(model: ModelKind) -> Self {
        CheckOptions {
            model,
            initial: None,
            deadline: None,
            memory_bytes: usize::MAX,
            stop_at_first_violation: false,
        }
    }
}

/// The verdict for a file (or a key), with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Linearizable.
    Valid,
    /// A budget ran out before a verdict.
    Unknown,
    /// Not linearizable.
    Invalid,
}

impl Verdict {
    /// DESIGN.md's exit code: 0 valid, 1 anomaly, 2 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    /// The verdict in words.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Valid => "linearizable",
            Verdict::Invalid => "NOT linearizable",
            Verdict::Unknown => "unknown",
        }
    }
}

/// What was found for one key.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum KeyOutcome {
    /// Linearizable, with a witness: op ids in the order they take effect.
    Valid {
        /// Op ids in witness order (written by `--witness`, not in reports).
        #[serde(skip_serializing)]
        witness: Vec<u64>,
    },
    /// Not linearizable.
    Invalid(Box<Violation>),
    /// No verdict within the budget.
    Unknown {
        /// Which budget ran out, in words.
        reason: String,
    },
}

/// One op as shown in an explanation.
#[derive(Debug, Clone, Serialize)]
pub struct OpView {
    /// The op's witness id.
    pub id: u64,
    /// The client process.
    pub process: u64,
    /// The op in words, e.g. `read -> 3`.
    pub op: String,
    /// 1-based line of the call in the input.
    pub line: u64,
    /// Call time in nanoseconds, when known.
    pub call_time: Option<u64>,
    /// Completion time in nanoseconds, when known.
    pub ret_time: Option<u64>,
    /// Whether the op crashed (its effect, if any, time unknown).
    pub crashed: bool,
    /// The node it went to, when known.
    pub node: Option<String>,
}

/// A step of the longest linearizable prefix.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixStep {
    /// The op placed.
    #[serde(flatten)]
    pub op: OpView,
    /// The model state after it, in words.
    pub state_after: String,
}

/// A linearizability violation on one key, with everything needed to explain it.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// The longest linearizable prefix found, in order.
    pub prefix: Vec<PrefixStep>,
    /// The op that cannot be placed after any order of the prefix.
    pub stuck_on: OpView,
    /// What it needed, in words (e.g. `the register to hold 3`).
    pub needed: String,
    /// The state after the longest prefix.
    pub state: String,
    /// Distinct states it was tried in, in words.
    pub seen: Vec<String>,
    /// The whole explanation, in sentences.
    pub explanation: String,
    /// The anomaly's name when it is a known kind (`stale-read`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The result for one key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyReport {
    /// The key (`""` for single-key histories).
    pub key: String,
    /// Ops on this key (all of them, including failed ones).
    pub ops: usize,
    /// What was found.
    #[serde(flatten)]
    pub outcome: KeyOutcome,
    /// Search configurations explored.
    pub configurations: u64,
    /// Time spent on this key, in milliseconds.
    pub millis: f64,
}

impl KeyReport {
    /// This key's verdict.
    pub fn verdict(&self) -> Verdict {
        match self.outcome {
            KeyOutcome::Valid { .. } => Verdict::Valid,
            KeyOutcome::Invalid(_) => Verdict::Invalid,
            KeyOutcome::Unknown { .. } => Verdict::Unknown,
        }
    }
}

/// The result for a whole history.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The model used.
    pub model: String,
    /// The verdict: invalid if any key is, else unknown if any key is, else valid.
    pub verdict: Verdict,
    /// Client ops in the history.
    pub ops: usize,
    /// Per key, sorted by key.
    pub keys: Vec<KeyReport>,
}

impl Report {
    /// The witness of every key, when the history is linearizable.
    pub fn witness(&self) -> Option<BTreeMap<String, Vec<u64>>> {
        self.keys
            .iter()
            .map(|k| match &k.outcome {
                KeyOutcome::Valid { witness } => Some((k.key.clone(), witness.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Checks `history` against `options.model`, every key on its own.
///
/// # Errors
/// [`Error::ModelMismatch`] when an op does not fit the model.
pub fn check(history: &History, options: &CheckOptions, source_name: &str) -> Result<Report> {
    struct Task<'a> {
        history: &'a History,
        options: &'a CheckOptions,
        source_name: &'a str,
    }
    impl ModelTask for Task<'_> {
        type Output = Result<Report>;
        fn run<M: Import>(self, model: M) -> Result<Report> {
            check_with(model, self.history, self.options, self.source_name)
        }
    }
    let task = Task {
        history,
        options,
        source_name,
    };
    options
        .model
        .with(options.initial.as_ref(), task)
        .map_err(|reason| Error::Undecided {
            source_name: source_name.to_string(),
            reason,
        })?
}

/// Per key: how many ops it has in all, and those that take part in the check.
pub(crate) type ByKey<M> = BTreeMap<String, (usize, Vec<KeyOp<M>>)>;

/// Groups `history`'s ops by key as the model's typed ops.
pub(crate) fn import_by_key<M: Import>(
    model: &mut M,
    history: &History,
    source_name: &str,
) -> Result<ByKey<M>> {
    let mut by_key: ByKey<M> = BTreeMap::new();
    for (index, op) in history.ops.iter().enumerate() {
        // Looked up by reference first: cloning the key for every op would
        // allocate (and free) a string per op.
        let entry = match by_key.get_mut(op.key.as_str()) {
            Some(entry) => entry,
            None => by_key.entry(op.key.clone()).or_default(),
        };
        entry.0 += 1;
        let imported = model.import(op).map_err(|reason| Error::ModelMismatch {
            source_name: source_name.to_string(),
            line: op.line,
            reason,
        })?;
        if let Some((input, output)) = imported {
            let ret = match (&output, op.ret) {
                (Some(_), Some(ret)) => ret,
                _ => NEVER,
            };
            entry.1.push(KeyOp {
                index,
                call: op.call,
                ret,
                input,
                output,
            });
        }
    }
    Ok(by_key)
}

/// A key still to decide, with the work spent on it so far.
struct Pending<M: Model> {
    key: String,
    count: usize,
    ops: Vec<KeyOp<M>>,
    configurations: u64,
    millis: f64,
}

fn check_with<M: Import>(
    mut model: M,
    history: &History,
    options: &CheckOptions,
    source_name: &str,
) -> Result<Report> {
    let by_key = import_by_key(&mut model, history, source_name)?;
    let mut pending: Vec<Pending<M>> = by_key
        .into_iter()
        .map(|(key, (count, ops))| Pending {
            key,
            count,
            ops,
            configurations: 0,
            millis: 0.0,
        })
        .collect();
    // Largest keys first, so one hard key does not start last and hold up the rest.
    pending.sort_by_key(|p| std::cmp::Reverse(p.ops.len()));
    let stop = AtomicBool::new(false);
    let model = &model;
    let mut keys: Vec<KeyReport> = Vec::with_capacity(pending.len());
    // Rounds with a growing configuration budget: easy keys are decided in the
    // first round even when a hard key would take the whole time budget. A key
    // restarted in a later round repeats at most 1/8 of its work.
    let mut round_budget = FIRST_ROUND_CONFIGURATIONS;
    while !pending.is_empty() {
        let limits = Limits {
            deadline: options.deadline,
            memory_bytes: options.memory_bytes,
            configurations: round_budget,
            stop: Some(&stop),
        };
        let results: Vec<(Pending<M>, SearchResult<M>)> = pending
            .into_par_iter()
            .map(|mut key| {
                let started = Instant::now();
                let (result, stats) = search::search(model, &key.ops, limits);
                if options.stop_at_first_violation && matches!(result, SearchResult::Violation(_)) {
                    stop.store(true, Ordering::Relaxed);
                }
                key.millis += started.elapsed().as_secs_f64() * 1e3;
                key.configurations += stats.configurations;
                (key, result)
            })
            .collect();
        pending = Vec::new();
        for (key, result) in results {
            let outcome = match result {
                SearchResult::Unknown(Budget::Configurations) => {
                    pending.push(key);
                    continue;
                }
                SearchResult::Linearizable(order) => KeyOutcome::Valid {
                    witness: order.iter().map(|&i| history.ops[i].id).collect(),
                },
                SearchResult::Violation(stuck) => {
                    let stuck_on = stuck.stuck_on;
                    let mut violation = explain(model, history, &key.ops, &key.key, stuck);
                    let key_ops: Vec<usize> = key.ops.iter().map(|op| op.index).collect();
                    if let Some(words) = stale_read(history, &key_ops, stuck_on) {
                        violation.kind = Some("stale-read".into());
                        violation.explanation.push(' ');
                        violation.explanation.push_str(&words);
                    }
                    KeyOutcome::Invalid(Box::new(violation))
                }
                SearchResult::Unknown(Budget::Time) => KeyOutcome::Unknown {
                    reason: "the time budget ran out before a verdict".to_string(),
                },
                SearchResult::Unknown(Budget::Memory) => KeyOutcome::Unknown {
                    reason: format!(
                        "the memory budget ({} MiB) ran out before a verdict",
                        options.memory_bytes >> 20
                    ),
                },
                SearchResult::Unknown(Budget::Stopped) => KeyOutcome::Unknown {
                    reason: "stopped: another key is not linearizable".to_string(),
                },
            };
            let Pending {
                key,
                count,
                configurations,
                millis,
                ..
            } = key;
            keys.push(KeyReport {
                key,
                ops: count,
                outcome,
                configurations,
                millis,
            });
        }
        round_budget = round_budget.saturating_mul(8);
    }
    keys.sort_by(|a, b| a.key.cmp(&b.key));
    let verdict = keys
        .iter()
        .map(KeyReport::verdict)
        .max()
        .unwrap_or(Verdict::Valid);
    Ok(Report {
        model: options.model.name().to_string(),
        verdict,
        ops: history.ops.len(),
        keys,
    })
}

fn view<M: Model>(model: &M, op: &Op, typed: &KeyOp<M>) -> OpView {
    OpView {
        id: op.id,
        process: op.process,
        op: model.describe_op(&typed.input, typed.output.as_ref()),
        line: op.line,
        call_time: op.call_time,
        ret_time: op.ret_time,
        crashed: typed.output.is_none(),
        node: op.node.clone(),
    }
}

fn seconds(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

fn explain<M: Model>(
    model: &M,
    history: &History,
    ops: &[KeyOp<M>],
    key: &str,
    stuck: search::Stuck<M>,
) -> Violation {
    let by_index = |i: usize| {
        ops.iter()
            .find(|op| op.index == i)
            .expect("search results name ops of this key")
    };
    let prefix: Vec<PrefixStep> = stuck
        .prefix
        .iter()
        .map(|(i, state)| PrefixStep {
            op: view(model, &history.ops[*i], by_index(*i)),
            state_after: model.describe_state(state),
        })
        .collect();
    let typed = by_index(stuck.stuck_on);
    let op = &history.ops[stuck.stuck_on];
    let stuck_view = view(model, op, typed);
    let output = typed
        .output
        .as_ref()
        .expect("the op a search is stuck on has a known output");
    let needed = model.describe_need(&typed.input, output);
    let state = model.describe_state(&stuck.state);
    let mut seen: Vec<String> = stuck
        .tried
        .iter()
        .map(|s| model.describe_state(s))
        .collect();
    if seen.is_empty() {
        seen.push(state.clone());
    }
    let key_words = if key.is_empty() {
        String::new()
    } else {
        format!("On key {key:?}: ")
    };
    let when = match (op.call_time, op.ret_time) {
        (Some(call), Some(ret)) => format!(
            ", called at {} and returned at {}",
            seconds(call),
            seconds(ret)
        ),
        _ => format!(", called on line {}", op.line),
    };
    let after = match prefix.last() {
        Some(last) => {
            let completed = match last.op.ret_time {
                Some(t) if !last.op.crashed => format!(" (completed at {})", seconds(t)),
                _ => String::new(),
            };
            format!(
                "after the longest linearizable prefix ({} ops, ending with {} by process {}{completed})",
                prefix.len(),
                last.op.op,
                last.op.process
            )
        }
        None => "from the initial state".to_string(),
    };
    let explanation = format!(
        "{key_words}{} by process {} (op {}{when}) cannot be placed: it needs {needed}, but {after} the state could only be {}.",
        stuck_view.op,
        stuck_view.process,
        stuck_view.id,
        seen.join(" or "),
    );
    Violation {
        prefix,
        stuck_on: stuck_view,
        needed,
        state,
        seen,
        explanation,
        kind: None,
    }
}

/// The value an ok register op left behind: `write v` -> v, `cas [from, to]` -> to.
fn written_value(op: &Op) -> Option<&Value> {
    if !matches!(op.outcome, crate::op::Outcome::Ok(_)) {
        return None;
    }
    input_value(op)
}

/// When the op a register search is stuck on is a read, whether it is
/// provably stale: the value it returned was overwritten, in real time,
/// before the read began (a write of it completed, then another write
/// began after that and completed before the read was invoked). With
/// unique values per key (faultline's workloads) that makes the read
/// stale in every order; the sentence names the ops.
///
/// When the write of the value crashed (no completion), the value is known
/// to be in place once any read returned it; that counts as its completion
/// when exactly one op (completed or crashed) can have written the value,
/// so that no other write of it can come later.
fn stale_read(history: &History, key_ops: &[usize], stuck_on: usize) -> Option<String> {
    let read = &history.ops[stuck_on];
    let crate::op::Outcome::Ok(value) = &read.outcome else {
        return None;
    };
    if read.f != "read" {
        return None;
    }
    let writes: Vec<&Op> = key_ops
        .iter()
        .map(|&i| &history.ops[i])
        .filter(|op| written_value(op).is_some())
        .collect();
    let describe = |op: &Op| {
        let when = op
            .ret_time
            .map(|t| format!(", completed at {}", seconds(t)))
            .unwrap_or_default();
        format!(
            "{} {} by process {} (op {}{when})",
            op.f, op.input, op.process, op.id
        )
    };
    // The initial (absent) value: any write completed before the read began.
    if value.is_null() {
        let newer = writes.iter().find(|y| {
            y.ret.is_some_and(|ret| ret < read.call) && written_value(y) != Some(value)
        })?;
        return Some(format!(
            "This is a stale read: the key was absent only before {}, which completed before the read was invoked.",
            describe(newer)
        ));
    }
    for x in writes.iter().filter(|x| written_value(x) == Some(value)) {
        let Some(x_ret) = x.ret else { continue };
        if let Some(y) = writes.iter().find(|y| {
            y.call > x_ret
                && y.ret.is_some_and(|ret| ret < read.call)
                && written_value(y) != Some(value)
        }) {
            return Some(format!(
                "This is a stale read: {value} was written by {}, then overwritten by {}, before the read was invoked.",
                describe(x),
                describe(y)
            ));
        }
    }
    // The value's only write: once an op has seen the value in place (the
    // write completed, or a read returned it), an op that began after that,
    // saw or set another value, and ended before the read began proves the
    // value gone for good (no other op can write it back).
    let ops = || key_ops.iter().map(|&i| &history.ops[i]);
    let may_write = |op: &Op| {
        !matches!(op.outcome, crate::op::Outcome::Fail { .. }) && input_value(op) == Some(value)
    };
    let mut writers = ops().filter(|op| may_write(op));
    let (Some(x), None) = (writers.next(), writers.next()) else {
        return None;
    };
    fn returned(op: &Op) -> Option<&Value> {
        match &op.outcome {
            crate::op::Outcome::Ok(seen) if op.f == "read" => Some(seen),
            _ => None,
        }
    }
    let (seen_at, seen) = ops()
        .filter(|op| written_value(op) == Some(value) || returned(op) == Some(value))
        .filter_map(|op| op.ret.map(|ret| (ret, op)))
        .min_by_key(|(ret, _)| *ret)?;
    let other = |op: &Op| {
        written_value(op)
            .or_else(|| returned(op))
            .filter(|other| *other != value)
            .is_some()
    };
    let gone =
        ops().find(|z| z.call > seen_at && z.ret.is_some_and(|ret| ret < read.call) && other(z))?;
    let crashed = if x.ret.is_none() {
        ", which crashed"
    } else {
        ""
    };
    let seen_words = if std::ptr::eq(seen, x) {
        String::new()
    } else {
        format!(", {} saw it in place", describe_any(seen))
    };
    Some(format!(
        "This is a stale read: {value} had one write, {}{crashed}{seen_words}, then {} saw it replaced, before the read was invoked.",
        describe(x),
        describe_any(gone)
    ))
}

/// An op for explanations: a read with what it returned, anything else
/// with its argument.
fn describe_any(op: &Op) -> String {
    let when = op
        .ret
        .map(|t| format!(", completed at {}", seconds(t)))
        .unwrap_or_default();
    match (&op.outcome, op.f.as_str()) {
        (crate::op::Outcome::Ok(result), "read") => format!(
            "read -> {result} by process {} (op {}{when})",
            op.process, op.id
        ),
        _ => format!(
            "{} {} by process {} (op {}{when})",
            op.f, op.input, op.process, op.id
        ),
    }
}

/// The value a write or cas would write, whatever its outcome.
fn input_value(op: &Op) -> Option<&Value> {
    match op.f.as_str() {
        "write" => Some(&op.input),
        "cas" => op
            .input
            .as_array()
            .filter(|pair| pair.len() == 2)
            .map(|pair| &pair[1]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(jsonl: &str) -> Violation {
        let (history, _) =
            crate::format::read(jsonl, "test", Some(crate::Format::Jsonl)).expect("valid jsonl");
        let report = check(&history, &CheckOptions::new(ModelKind::Kv), "test").unwrap();
        match report.keys.into_iter().next().unwrap().outcome {
            KeyOutcome::Invalid(violation) => *violation,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn names_a_read_of_an_overwritten_value_a_stale_read() {
        // write 1 completes, write 2 runs after it and completes, then a
        // read returns 1: in every order 2 came between.
        let v = violation(concat!(
            r#"{"index":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":1,"process":0,"type":"ok","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":2,"process":1,"type":"invoke","f":"write","key":"k","value":2}"#,
            "\n",
            r#"{"index":3,"process":1,"type":"ok","f":"write","key":"k","value":2}"#,
            "\n",
            r#"{"index":4,"process":2,"type":"invoke","f":"read","key":"k","value":null}"#,
            "\n",
            r#"{"index":5,"process":2,"type":"ok","f":"read","key":"k","value":1}"#,
            "\n",
        ));
        assert_eq!(v.kind.as_deref(), Some("stale-read"));
        assert!(v.explanation.contains("stale read"), "{}", v.explanation);
        assert!(v.explanation.contains("op 0") && v.explanation.contains("op 2"));
    }

    #[test]
    fn names_a_read_of_a_crashed_write_stale_once_another_read_saw_it_overwritten() {
        // write 1 crashes; a read returns 1 (so 1 was in place); write 2
        // runs after that read and completes; then a read returns 1.
        let v = violation(concat!(
            r#"{"index":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":1,"process":0,"type":"info","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":2,"process":3,"type":"invoke","f":"read","key":"k","value":null}"#,
            "\n",
            r#"{"index":3,"process":3,"type":"ok","f":"read","key":"k","value":1}"#,
            "\n",
            r#"{"index":4,"process":1,"type":"invoke","f":"write","key":"k","value":2}"#,
            "\n",
            r#"{"index":5,"process":1,"type":"ok","f":"write","key":"k","value":2}"#,
            "\n",
            r#"{"index":6,"process":2,"type":"invoke","f":"read","key":"k","value":null}"#,
            "\n",
            r#"{"index":7,"process":2,"type":"ok","f":"read","key":"k","value":1}"#,
            "\n",
        ));
        assert_eq!(v.kind.as_deref(), Some("stale-read"), "{}", v.explanation);
        assert!(v.explanation.contains("crashed"), "{}", v.explanation);
    }

    #[test]
    fn names_a_read_stale_when_a_read_in_between_saw_another_value() {
        // write 1 completes; write 2 crashes, but a read returns 2 after
        // write 1 completed; then a read returns 1 (the lease-read pattern:
        // a deposed leader answers from its old state).
        let v = violation(concat!(
            r#"{"index":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":1,"process":0,"type":"ok","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":2,"process":1,"type":"invoke","f":"write","key":"k","value":2}"#,
            "\n",
            r#"{"index":3,"process":1,"type":"info","f":"write","key":"k","value":2}"#,
            "\n",
            r#"{"index":4,"process":3,"type":"invoke","f":"read","key":"k","value":null}"#,
            "\n",
            r#"{"index":5,"process":3,"type":"ok","f":"read","key":"k","value":2}"#,
            "\n",
            r#"{"index":6,"process":2,"type":"invoke","f":"read","key":"k","value":null}"#,
            "\n",
            r#"{"index":7,"process":2,"type":"ok","f":"read","key":"k","value":1}"#,
            "\n",
        ));
        assert_eq!(v.kind.as_deref(), Some("stale-read"), "{}", v.explanation);
        assert!(v.explanation.contains("read -> 2"), "{}", v.explanation);
    }

    #[test]
    fn a_crashed_write_proves_nothing_when_its_value_has_another_writer() {
        // The history above plus a second crashed write of 1, invoked before
        // the last read: it may take effect after write 2, so reading 1 is
        // not provably stale (here it is even linearizable).
        let lines = [
            r#"{"index":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#,
            r#"{"index":1,"process":0,"type":"info","f":"write","key":"k","value":1}"#,
            r#"{"index":2,"process":3,"type":"invoke","f":"read","key":"k","value":null}"#,
            r#"{"index":3,"process":3,"type":"ok","f":"read","key":"k","value":1}"#,
            r#"{"index":4,"process":1,"type":"invoke","f":"write","key":"k","value":2}"#,
            r#"{"index":5,"process":1,"type":"ok","f":"write","key":"k","value":2}"#,
            r#"{"index":6,"process":4,"type":"invoke","f":"write","key":"k","value":1}"#,
            r#"{"index":7,"process":2,"type":"invoke","f":"read","key":"k","value":null}"#,
            r#"{"index":8,"process":2,"type":"ok","f":"read","key":"k","value":1}"#,
            r#"{"index":9,"process":4,"type":"info","f":"write","key":"k","value":1}"#,
        ];
        let stale = |lines: &[&str]| {
            let (history, _) =
                crate::format::read(&lines.join("\n"), "test", Some(crate::Format::Jsonl))
                    .expect("valid jsonl");
            let key_ops: Vec<usize> = (0..history.ops.len()).collect();
            let last_read = key_ops
                .iter()
                .copied()
                .filter(|&i| history.ops[i].f == "read")
                .max_by_key(|&i| history.ops[i].call)
                .expect("two reads");
            stale_read(&history, &key_ops, last_read)
        };
        assert_eq!(stale(&lines), None);
        let one_writer: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| !line.contains(r#""process":4"#))
            .collect();
        assert!(stale(&one_writer).is_some_and(|words| words.contains("crashed")));
    }

    #[test]
    fn does_not_call_a_read_of_a_never_written_value_stale() {
        // 7 was never written: an anomaly, but not a stale read.
        let v = violation(concat!(
            r#"{"index":0,"process":0,"type":"invoke","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":1,"process":0,"type":"ok","f":"write","key":"k","value":1}"#,
            "\n",
            r#"{"index":2,"process":2,"type":"invoke","f":"read","key":"k","value":null}"#,
            "\n",
            r#"{"index":3,"process":2,"type":"ok","f":"read","key":"k","value":7}"#,
            "\n",
        ));
        assert_eq!(v.kind, None);
    }
}
