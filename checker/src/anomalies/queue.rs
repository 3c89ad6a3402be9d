//! The queue check: a replicated stream per key (NATS JetStream's `queue`
//! workload, docs/nats.md).
//!
//! Per key, ops are `publish` (invoke value: the element; `ok` value:
//! `[seq, element]`, the stream sequence its acknowledgement named) and
//! `read` (`ok` value: the whole stream as `[[seq, element], ...]`, read
//! through one node). The elements are judged by the set check's rules
//! (an acknowledged element missing from a later read is a lost write; an
//! element nobody published, or whose every publish definitely failed, is
//! a phantom; one element twice in a read is a duplicate: each publish has
//! its own message id). On top of them, sequences:
//!
//! - two acknowledgements naming the same sequence for different elements,
//!   or a read holding at an element's acknowledged sequence another
//!   element, is a [`Divergence`](AnomalyKind::Divergence);
//! - two `ok` reads of one key that list different streams (after the
//!   heal: the nodes serve different streams, split brain) are a
//!   divergence too, naming both nodes.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::anomalies::report::{describe_op, Anomaly, AnomalyKind, AnomalyReport, Finding};
use crate::anomalies::set::check_set;
use crate::history::{History, Op, Outcome};

/// `[seq, element]` as a pair, when the value has that shape.
fn message(value: &Value) -> Option<(u64, &Value)> {
    match value.as_array()?.as_slice() {
        [seq, element] => Some((seq.as_u64()?, element)),
        _ => None,
    }
}

/// A read's `[[seq, element], ...]` as pairs, when every item has that shape.
fn messages(value: &Value) -> Option<Vec<(u64, &Value)>> {
    value.as_array()?.iter().map(message).collect()
}

/// Checks a queue history (`publish` / `read` of whole streams) for lost,
/// phantom, duplicate and divergent messages.
pub fn check_queue(history: &History) -> AnomalyReport {
    let mut found = Vec::new();
    let mut unjudged = Vec::new();
    // The elements, judged as a set: a publish is an add of its element,
    // a read the elements of the stream.
    let mut as_set = History {
        ops: Vec::with_capacity(history.ops.len()),
        warnings: history.warnings.clone(),
    };
    for op in &history.ops {
        let mut op = op.clone();
        match op.f.as_str() {
            "publish" => {
                op.f = "add".into();
                if let Outcome::Ok(value) = &op.outcome {
                    let element = message(value).map_or_else(|| value.clone(), |(_, e)| e.clone());
                    op.outcome = Outcome::Ok(element);
                }
            }
            "read" => {
                if let Outcome::Ok(value) = &op.outcome {
                    match messages(value) {
                        Some(pairs) => {
                            let elements = pairs.iter().map(|(_, e)| (*e).clone()).collect();
                            op.outcome = Outcome::Ok(Value::Array(elements));
                        }
                        None => {
                            unjudged.push(format!(
                                "read op {} (line {}) is not a list of [seq, value]: {value}",
                                op.id, op.line
                            ));
                            op.outcome = Outcome::Unknown;
                        }
                    }
                }
            }
            _ => {}
        }
        as_set.ops.push(op);
    }
    let set = check_set(&as_set);
    let mut stats = set.stats.clone();
    let by_id: HashMap<u64, &Op> = history.ops.iter().map(|op| (op.id, op)).collect();
    for anomaly in set.anomalies.iter().cloned() {
        let order = anomaly
            .ops
            .iter()
            .filter_map(|id| by_id.get(id))
            .map(|op| op.call)
            .min()
            .unwrap_or(u64::MAX);
        let anomaly = in_queue_words(anomaly, &by_id);
        found.push(Finding { order, anomaly });
    }
    if let Some(reason) = &set.reason {
        unjudged.push(reason.clone());
    }
    // Sequences, per key.
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in &history.ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut split_keys = 0;
    for (key, ops) in by_key {
        sequences(key, &ops, &mut found);
        if split(key, &ops, &mut found) {
            split_keys += 1;
        }
    }
    stats.insert("split_keys".into(), split_keys);
    let mut report = AnomalyReport::build("queue", found, unjudged, stats);
    // The set check's lists are capped per kind; its counts are the real ones.
    for (kind, count) in &set.counts {
        let entry = report.counts.entry(kind.clone()).or_default();
        *entry = (*entry).max(*count);
    }
    report
}

/// A set-check anomaly told as publishes and streams: a lost write names the
/// sequence its acknowledgement gave and what the read stream held instead.
fn in_queue_words(mut anomaly: Anomaly, by_id: &HashMap<u64, &Op>) -> Anomaly {
    match (anomaly.kind, anomaly.ops.as_slice()) {
        (AnomalyKind::LostWrite, [publish, read]) => {
            let (Some(publish), Some(read)) = (by_id.get(publish), by_id.get(read)) else {
                return anomaly;
            };
            let (Outcome::Ok(acked), Outcome::Ok(stream)) = (&publish.outcome, &read.outcome)
            else {
                return anomaly;
            };
            let Some((seq, element)) = message(acked) else {
                return anomaly;
            };
            let held = match messages(stream).as_deref() {
                Some([]) | None => "an empty stream".to_owned(),
                Some(pairs) => {
                    let at = pairs
                        .iter()
                        .find(|(s, _)| *s == seq)
                        .map_or_else(|| "nothing".to_owned(), |(_, e)| e.to_string());
                    format!(
                        "{} messages (sequences {} to {}; {at} at sequence {seq})",
                        pairs.len(),
                        pairs[0].0,
                        pairs[pairs.len() - 1].0
                    )
                }
            };
            anomaly.explanation = format!(
                "the publish of {element} by {} was acknowledged at sequence {seq} before read \
                 {} began, but that read returned {held}, without {element}.",
                describe_op(publish),
                describe_op(read),
            );
        }
        (AnomalyKind::Rollback, _) => {
            anomaly.explanation = anomaly.explanation.replace(
                "(its add was not acknowledged)",
                "(its publish was not acknowledged)",
            );
        }
        _ => {}
    }
    anomaly
}

/// Acknowledgements and reads that put different elements at one sequence.
fn sequences(key: &str, ops: &[&Op], found: &mut Vec<Finding>) {
    // seq -> (element, the op that first named it)
    let mut at: BTreeMap<u64, (&Value, &Op)> = BTreeMap::new();
    let mut acks: Vec<(u64, &Value, &Op)> = Vec::new();
    let mut reads: Vec<(&Op, Vec<(u64, &Value)>)> = Vec::new();
    for op in ops {
        match (&op.outcome, op.f.as_str()) {
            (Outcome::Ok(value), "publish") => {
                if let Some((seq, element)) = message(value) {
                    acks.push((seq, element, op));
                }
            }
            (Outcome::Ok(value), "read") => {
                if let Some(pairs) = messages(value) {
                    reads.push((op, pairs));
                }
            }
            _ => {}
        }
    }
    for &(seq, element, op) in &acks {
        match at.get(&seq) {
            Some(&(other, first)) if other != element => found.push(Finding::about_ops(
                AnomalyKind::Divergence,
                key,
                &[first, op],
                vec![json!([seq, other]), json!([seq, element])],
                format!(
                    "{} and {} were both acknowledged at sequence {seq}: {} with {other}, {} with \
                     {element}",
                    describe_op(first),
                    describe_op(op),
                    describe_op(first),
                    describe_op(op)
                ),
            )),
            Some(_) => {}
            None => {
                at.insert(seq, (element, op));
            }
        }
    }
    for (read, pairs) in &reads {
        for &(seq, element) in pairs {
            if let Some(&(acked, ack)) = at.get(&seq) {
                if acked != element {
                    found.push(Finding::about_ops(
                        AnomalyKind::Divergence,
                        key,
                        &[ack, read],
                        vec![json!([seq, acked]), json!([seq, element])],
                        format!(
                            "{} was acknowledged {acked} at sequence {seq}, but read {} holds \
                             {element} there",
                            describe_op(ack),
                            describe_op(read)
                        ),
                    ));
                }
            }
        }
    }
}

/// Whether `ok` reads of this key list different streams: each pair of
/// differing reads (the first read against every other) is a divergence.
fn split(key: &str, ops: &[&Op], found: &mut Vec<Finding>) -> bool {
    let reads: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| op.f == "read" && matches!(op.outcome, Outcome::Ok(_)))
        .collect();
    let Some((first, rest)) = reads.split_first() else {
        return false;
    };
    let Outcome::Ok(first_value) = &first.outcome else {
        return false;
    };
    let mut differs = false;
    for read in rest {
        let Outcome::Ok(value) = &read.outcome else {
            continue;
        };
        if value != first_value {
            differs = true;
            let count = |v: &Value| v.as_array().map_or(0, Vec::len);
            found.push(Finding::about_ops(
                AnomalyKind::Divergence,
                key,
                &[first, read],
                vec![first_value.clone(), value.clone()],
                format!(
                    "split brain: {} read {} messages and {} read {} different ones",
                    describe_op(first),
                    count(first_value),
                    describe_op(read),
                    count(value)
                ),
            ));
        }
    }
    differs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::read;
    use crate::Format;

    fn history(lines: &[serde_json::Value]) -> History {
        let text: String = lines
            .iter()
            .enumerate()
            .map(|(index, line)| {
                let mut line = line.clone();
                line["index"] = json!(index);
                format!("{line}\n")
            })
            .collect();
        read(&text, "test", Some(Format::Jsonl))
            .expect("a valid history")
            .0
    }

    fn publish(process: u64, value: u64, ok: Option<(u64,)>) -> Vec<serde_json::Value> {
        let mut lines = vec![json!({"process": process, "type": "invoke", "f": "publish",
                                    "key": "q0", "value": value, "node": "n1"})];
        lines.push(match ok {
            Some((seq,)) => json!({"process": process, "type": "ok", "f": "publish",
                                   "key": "q0", "value": [seq, value], "node": "n1"}),
            None => json!({"process": process, "type": "info", "f": "publish",
                           "key": "q0", "value": value, "node": "n1", "error": "timeout"}),
        });
        lines
    }

    fn final_read(process: u64, node: &str, stream: serde_json::Value) -> Vec<serde_json::Value> {
        vec![
            json!({"process": process, "type": "invoke", "f": "read", "key": "q0", "node": node}),
            json!({"process": process, "type": "ok", "f": "read", "key": "q0", "node": node,
                   "value": stream}),
        ]
    }

    #[test]
    fn every_acknowledged_message_read_back_everywhere_is_valid() {
        let mut lines = publish(0, 1, Some((1,)));
        lines.extend(publish(1, 2, Some((2,))));
        lines.extend(publish(0, 3, None));
        lines.extend(final_read(10, "n1", json!([[1, 1], [2, 2], [3, 3]])));
        lines.extend(final_read(11, "n2", json!([[1, 1], [2, 2], [3, 3]])));
        let report = check_queue(&history(&lines));
        assert_eq!(
            report.verdict,
            crate::Verdict::Valid,
            "{}",
            report.summary()
        );
        assert_eq!(report.check, "queue");
    }

    #[test]
    fn an_acknowledged_message_missing_from_a_nodes_stream_is_a_lost_write_and_split_brain() {
        let mut lines = publish(0, 1, Some((1,)));
        lines.extend(publish(1, 2, Some((2,))));
        lines.extend(final_read(10, "n1", json!([[1, 1], [2, 2]])));
        lines.extend(final_read(11, "n2", json!([[1, 1]])));
        let report = check_queue(&history(&lines));
        assert_eq!(
            report.count(AnomalyKind::LostWrite),
            1,
            "{}",
            report.summary()
        );
        assert_eq!(
            report.count(AnomalyKind::Divergence),
            1,
            "{}",
            report.summary()
        );
        let split = report.of_kind(AnomalyKind::Divergence).next().unwrap();
        assert!(
            split.explanation.contains("node n2"),
            "{}",
            split.explanation
        );
    }

    #[test]
    fn a_lost_write_names_its_acknowledged_sequence_and_what_the_read_held_there() {
        let mut lines = publish(0, 1, Some((1,)));
        lines.extend(publish(1, 2, Some((2,))));
        lines.extend(final_read(10, "n2", json!([[1, 1], [2, 7]])));
        let report = check_queue(&history(&lines));
        let lost = report.of_kind(AnomalyKind::LostWrite).next().unwrap();
        assert_eq!(
            lost.explanation,
            "the publish of 2 by op 2 (process 1, node n1) was acknowledged at sequence 2 \
             before read op 4 (process 10, node n2) began, but that read returned 2 messages \
             (sequences 1 to 2; 7 at sequence 2), without 2."
        );
        let empty = check_queue(&history(
            &[publish(0, 1, Some((1,))), final_read(10, "n3", json!([]))].concat(),
        ));
        let lost = empty.of_kind(AnomalyKind::LostWrite).next().unwrap();
        assert!(
            lost.explanation.contains("at sequence 1 before read"),
            "{}",
            lost.explanation
        );
        assert!(
            lost.explanation.contains("returned an empty stream"),
            "{}",
            lost.explanation
        );
    }

    #[test]
    fn an_empty_stream_after_the_heal_loses_every_acknowledged_message() {
        let mut lines = publish(0, 1, Some((1,)));
        lines.extend(publish(1, 2, Some((2,))));
        lines.extend(final_read(10, "n1", json!([])));
        let report = check_queue(&history(&lines));
        assert_eq!(
            report.count(AnomalyKind::LostWrite),
            2,
            "{}",
            report.summary()
        );
    }

    #[test]
    fn two_acks_at_one_sequence_for_different_messages_are_a_divergence() {
        let mut lines = publish(0, 1, Some((1,)));
        lines.extend(publish(1, 2, Some((1,))));
        lines.extend(final_read(10, "n1", json!([[1, 1], [2, 2]])));
        let report = check_queue(&history(&lines));
        // The ack of 2 at 1, and the read holding 2 at 2 against 1 at 1 are fine
        // for 1 but not for 2's ack: 1 sits at sequence 1.
        assert!(
            report.count(AnomalyKind::Divergence) >= 1,
            "{}",
            report.summary()
        );
        let divergence = report.of_kind(AnomalyKind::Divergence).next().unwrap();
        assert!(
            divergence.explanation.contains("sequence 1"),
            "{}",
            divergence.explanation
        );
    }

    #[test]
    fn a_message_nobody_published_is_a_phantom_and_one_read_twice_a_duplicate() {
        let mut lines = publish(0, 1, Some((1,)));
        lines.extend(final_read(10, "n1", json!([[1, 1], [2, 1], [3, 99]])));
        let report = check_queue(&history(&lines));
        assert_eq!(
            report.count(AnomalyKind::Phantom),
            1,
            "{}",
            report.summary()
        );
        assert_eq!(
            report.count(AnomalyKind::Duplicate),
            1,
            "{}",
            report.summary()
        );
    }

    #[test]
    fn a_read_that_is_not_a_list_of_pairs_leaves_the_verdict_unknown_with_its_line() {
        let mut lines = publish(0, 1, Some((1,)));
        lines.extend(final_read(10, "n1", json!([1])));
        let report = check_queue(&history(&lines));
        assert_eq!(
            report.verdict,
            crate::Verdict::Unknown,
            "{}",
            report.summary()
        );
        assert!(
            report.reason.as_deref().unwrap_or("").contains("line"),
            "{:?}",
            report.reason
        );
    }
}
