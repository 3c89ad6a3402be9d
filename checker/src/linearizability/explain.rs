//! A violation in sentences: the longest linearizable prefix the search
//! found, the op that cannot follow it and what it needed, and, for
//! registers, whether the op is a provably stale read. Every time printed is
//! an op's recorded `time` (call or completion), never an event position.

use serde::Serialize;
use serde_json::Value;

use super::search::{self, KeyOp};
use crate::history::{History, Op};
use crate::model::Model;

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

/// The violation the search reported as `stuck` on one key (`ops`), in
/// sentences. The text does not name the key: whoever prints it does.
pub(crate) fn violation<M: Model>(
    model: &M,
    history: &History,
    ops: &[KeyOp<M>],
    stuck: search::Stuck<M>,
) -> Violation {
    let stuck_on = stuck.stuck_on;
    let mut violation = explain(model, history, ops, stuck);
    let key_ops: Vec<usize> = ops.iter().map(|op| op.index).collect();
    if let Some(words) = stale_read(history, &key_ops, stuck_on) {
        violation.kind = Some("stale-read".into());
        violation.explanation.push(' ');
        violation.explanation.push_str(&words);
    }
    violation
}

fn explain<M: Model>(
    model: &M,
    history: &History,
    ops: &[KeyOp<M>],
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
                Some(t) if !last.op.crashed => format!(", completed at {}", seconds(t)),
                _ => String::new(),
            };
            format!(
                "after the longest linearizable prefix ({} ops, ending with {} by process {} (op {}{completed}))",
                prefix.len(),
                last.op.op,
                last.op.process,
                last.op.id
            )
        }
        None => "from the initial state".to_string(),
    };
    let explanation = format!(
        "{} by process {} (op {}{when}) cannot be placed: it needs {needed}, but {after} the state could only be {}.",
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
    if !matches!(op.outcome, crate::history::Outcome::Ok(_)) {
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
    let crate::history::Outcome::Ok(value) = &read.outcome else {
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
    // The initial (absent) value: any write completed before the read began.
    if value.is_null() {
        let newer = writes.iter().find(|y| {
            y.ret.is_some_and(|ret| ret < read.call) && written_value(y) != Some(value)
        })?;
        return Some(format!(
            "This is a stale read: the key was absent only before {}, which completed before the read was invoked.",
            describe_any(newer)
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
                describe_any(x),
                describe_any(y)
            ));
        }
    }
    // The value's only write: once an op has seen the value in place (the
    // write completed, or a read returned it), an op that began after that,
    // saw or set another value, and ended before the read began proves the
    // value gone for good (no other op can write it back).
    let ops = || key_ops.iter().map(|&i| &history.ops[i]);
    let may_write = |op: &Op| {
        !matches!(op.outcome, crate::history::Outcome::Fail { .. })
            && input_value(op) == Some(value)
    };
    let mut writers = ops().filter(|op| may_write(op));
    let (Some(x), None) = (writers.next(), writers.next()) else {
        return None;
    };
    fn returned(op: &Op) -> Option<&Value> {
        match &op.outcome {
            crate::history::Outcome::Ok(seen) if op.f == "read" => Some(seen),
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
        describe_any(x),
        describe_any(gone)
    ))
}

/// An op for explanations: a read with what it returned, anything else
/// with its argument; its id, and its recorded completion time when known.
fn describe_any(op: &Op) -> String {
    let when = op
        .ret_time
        .map(|t| format!(", completed at {}", seconds(t)))
        .unwrap_or_default();
    match (&op.outcome, op.f.as_str()) {
        (crate::history::Outcome::Ok(result), "read") => format!(
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
        let report = crate::check(
            &history,
            &crate::CheckOptions::new(crate::ModelKind::Kv),
            "test",
        )
        .unwrap();
        match report.keys.into_iter().next().unwrap().outcome {
            crate::KeyOutcome::Invalid(violation) => *violation,
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    /// Checks every time `explanation` prints against the recorded time of
    /// the op it is printed for: each sits in an op's parentheses, `(op N,
    /// called at X s and returned at Y s)` or `(op N, completed at X s)`.
    /// Returns how many times it checked.
    fn assert_times_are_recorded(history: &History, explanation: &str) -> usize {
        let printed_times = explanation
            .match_indices(" at ")
            .filter(|(at, _)| explanation[at + 4..].starts_with(|c: char| c.is_ascii_digit()))
            .count();
        let mut checked = 0;
        for group in explanation.split("(op ").skip(1) {
            let group = &group[..group.find(')').expect("an op's parentheses close")];
            let (id, rest) = group.split_once(',').unwrap_or((group, ""));
            let id: u64 = id.parse().expect("an op id after \"(op \"");
            let op = history
                .ops
                .iter()
                .find(|op| op.id == id)
                .expect("the op named is in the history");
            for (label, recorded) in [
                ("called at ", op.call_time),
                ("returned at ", op.ret_time),
                ("completed at ", op.ret_time),
            ] {
                let Some(at) = rest.find(label) else { continue };
                let printed: f64 = rest[at + label.len()..]
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("a number of seconds");
                let recorded = recorded.expect("a time is printed only when recorded");
                assert!(
                    (printed - recorded as f64 / 1e9).abs() < 0.000_5 + 1e-12,
                    "op {id}: {label}{printed} s, but its recorded time is {recorded} ns: {explanation}"
                );
                checked += 1;
            }
        }
        assert_eq!(
            checked, printed_times,
            "every time printed is an op's: {explanation}"
        );
        checked
    }

    fn violations(history: &History) -> Vec<Violation> {
        let report = crate::check(
            history,
            &crate::CheckOptions::new(crate::ModelKind::Kv),
            "test",
        )
        .unwrap();
        report
            .keys
            .into_iter()
            .filter_map(|key| match key.outcome {
                crate::KeyOutcome::Invalid(violation) => Some(*violation),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_time_in_the_example_stale_read_is_the_named_ops_recorded_time() {
        let text = include_str!("../../../examples/histories/stale-read.jsonl");
        let (history, _) =
            crate::format::read(text, "stale-read.jsonl", Some(crate::Format::Jsonl)).unwrap();
        let found = violations(&history);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind.as_deref(), Some("stale-read"));
        let checked = assert_times_are_recorded(&history, &found[0].explanation);
        assert!(checked >= 4, "{}", found[0].explanation);
    }

    #[test]
    fn every_time_in_a_generated_stale_read_is_the_named_ops_recorded_time() {
        // A generated valid history with unique values, its times scaled to
        // milliseconds (far from the events' positions); then its last read
        // returns the first value written, long since overwritten.
        let options = crate::synth::GenOptions {
            keys: 3,
            ops_per_key: 200,
            values: 0,
            crash_rate: 0.05,
            seed: 7,
            ..Default::default()
        };
        let mut events = crate::synth::generate(&options);
        for event in &mut events {
            event.time *= 1_000_000;
        }
        let first_write = events
            .iter()
            .find(|e| e.kind == crate::EventType::Ok && e.f == "write")
            .expect("a write")
            .clone();
        let last_read = events
            .iter_mut()
            .rev()
            .find(|e| e.kind == crate::EventType::Ok && e.f == "read" && e.key == first_write.key)
            .expect("a read of the same key");
        last_read.value = first_write.value.clone();
        let text: String = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect();
        let (history, _) = crate::format::read(&text, "gen", Some(crate::Format::Jsonl)).unwrap();
        let found = violations(&history);
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].kind.as_deref(),
            Some("stale-read"),
            "{}",
            found[0].explanation
        );
        let checked = assert_times_are_recorded(&history, &found[0].explanation);
        assert!(checked >= 4, "{}", found[0].explanation);
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
