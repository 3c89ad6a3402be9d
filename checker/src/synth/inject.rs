//! Injecting one [`Anomaly`] into a key's simulated ops, so that no order of
//! the ops explains the history. Each injection leans only on facts every
//! linearization must respect: an op acknowledged before another was invoked
//! takes effect before it, and a value (or element) that only one op writes.

use serde_json::{json, Value};

use super::{apply_effects, fresh, Anomaly, Rng, SimOp};
use crate::event::EventType;
use crate::model::ModelKind;

/// Runs the key's effects and injects `anomaly`; false (and the key left
/// linearizable) when the key lacks the ops it needs.
pub(super) fn inject(
    anomaly: Anomaly,
    model: ModelKind,
    ops: &mut [SimOp],
    rng: &mut Rng,
    unique: &mut u64,
) -> bool {
    match anomaly {
        Anomaly::StaleRead => {
            // Chosen before the effects run: the first write's value is made
            // unique, and the effects then follow from it.
            let plan = stale_read(model, ops, rng, unique);
            apply_effects(model, ops);
            match plan {
                Some((read, value)) => {
                    ops[read].output = value;
                    true
                }
                None => false,
            }
        }
        Anomaly::NeverWritten => {
            apply_effects(model, ops);
            never_written(model, ops, rng)
        }
        Anomaly::LostWrite => {
            apply_effects(model, ops);
            lost_write(ops, rng)
        }
        Anomaly::Duplicate => {
            apply_effects(model, ops);
            duplicate(ops, rng)
        }
        Anomaly::OverRead | Anomaly::UnderRead => {
            apply_effects(model, ops);
            counter_bound(anomaly == Anomaly::OverRead, ops, rng)
        }
    }
}

fn ok(op: &SimOp) -> bool {
    op.kind == EventType::Ok
}

fn is_read(op: &SimOp) -> bool {
    matches!(op.f, "read" | "get")
}

/// `a` completed before `b` was invoked: every order puts `a` first.
fn precedes(a: &SimOp, b: &SimOp) -> bool {
    a.complete < b.invoke
}

fn pick<T: Copy>(items: &[T], rng: &mut Rng) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        Some(items[rng.below(items.len() as u64) as usize])
    }
}

/// An ok read returns something no op wrote.
fn never_written(model: ModelKind, ops: &mut [SimOp], rng: &mut Rng) -> bool {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && is_read(&ops[i]))
        .collect();
    let Some(read) = pick(&reads, rng) else {
        return false;
    };
    let op = &mut ops[read];
    op.output = match model {
        ModelKind::Counter => json!(op.output.as_i64().unwrap_or(0) + 1_000_000_007),
        ModelKind::Set | ModelKind::ListAppend => {
            let mut items = op.output.as_array().cloned().unwrap_or_default();
            items.push(json!(-1));
            Value::Array(items)
        }
        ModelKind::KvAppend => json!("never written"),
        _ => json!(-1),
    };
    true
}

/// Picks, when the key has one, a chain of ok ops W1 < W2 < R (each
/// acknowledged before the next was invoked): W1 a write (or put), W2 a
/// write (or put or append), R a read. Gives W1 a value no other op writes
/// and returns (R, W1's value): R reading it is impossible, as W1 < W2 < R
/// in every order. A key with no such chain but an ok write acknowledged
/// before an ok read was invoked gets that read returning the initial value
/// (`null`, or `""` for kv-append), which no op writes back.
fn stale_read(
    model: ModelKind,
    ops: &mut [SimOp],
    rng: &mut Rng,
    unique: &mut u64,
) -> Option<(usize, Value)> {
    let kv_append = model == ModelKind::KvAppend;
    // Ok ops that certainly replace the value: writes (cas outcomes are not
    // known until the effects run), or kv-append's puts and appends.
    let overwrites: Vec<usize> = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && matches!(ops[i].f, "write" | "put" | "append"))
        .collect();
    // The first write: a plain write (register models) or a put, whose value
    // becomes the only one of its kind.
    let firsts: Vec<usize> = overwrites
        .iter()
        .copied()
        .filter(|&i| matches!(ops[i].f, "write" | "put"))
        .collect();
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && is_read(&ops[i]))
        .collect();
    // Linear in the key's ops: each choice keeps the candidates acknowledged
    // before a point, found by the earliest acknowledgement among them.
    let earliest = |ops: &[SimOp], set: &[usize]| set.iter().map(|&i| ops[i].complete).min();
    let first_done = earliest(ops, &firsts).unwrap_or(u64::MAX);
    let seconds: Vec<usize> = overwrites
        .iter()
        .copied()
        .filter(|&w2| first_done < ops[w2].invoke)
        .collect();
    let second_done = earliest(ops, &seconds).unwrap_or(u64::MAX);
    let stale: Vec<usize> = reads
        .iter()
        .copied()
        .filter(|&r| second_done < ops[r].invoke)
        .collect();
    if let Some(r) = pick(&stale, rng) {
        let w2s: Vec<usize> = seconds
            .iter()
            .copied()
            .filter(|&w2| precedes(&ops[w2], &ops[r]))
            .collect();
        let w2 = pick(&w2s, rng).expect("the read follows a second write");
        let w1s: Vec<usize> = firsts
            .iter()
            .copied()
            .filter(|&w1| precedes(&ops[w1], &ops[w2]))
            .collect();
        let w1 = pick(&w1s, rng).expect("the second write follows a first");
        let value = if kv_append {
            // Put values are already unique ("x<n> ").
            ops[w1].input.clone()
        } else {
            let value = json!(fresh(unique));
            ops[w1].input = value.clone();
            value
        };
        return Some((r, value));
    }
    let any_done = earliest(ops, &overwrites).unwrap_or(u64::MAX);
    let initial: Vec<usize> = reads
        .iter()
        .copied()
        .filter(|&r| any_done < ops[r].invoke)
        .collect();
    let r = pick(&initial, rng)?;
    Some((r, if kv_append { json!("") } else { Value::Null }))
}

/// An ok add/append W, acknowledged before some ok read was invoked, whose
/// element is then removed from every read: the reads after W must hold it.
fn lost_write(ops: &mut [SimOp], rng: &mut Rng) -> bool {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && is_read(&ops[i]))
        .collect();
    let last_invoke = reads.iter().map(|&r| ops[r].invoke).max();
    let writes: Vec<usize> = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && !is_read(&ops[i]))
        .filter(|&w| last_invoke.is_some_and(|invoke| ops[w].complete < invoke))
        .collect();
    let Some(w) = pick(&writes, rng) else {
        return false;
    };
    let element = ops[w].input.clone();
    for &r in &reads {
        if let Value::Array(items) = &mut ops[r].output {
            items.retain(|item| *item != element);
        }
    }
    true
}

/// One of the longest ok reads holds one of its elements again, at its end:
/// every element is appended by one op only. Picked among the longest reads
/// that no read began after, every other read is still a prefix of it and
/// none follows it, so only the duplicate is wrong (no divergence, no
/// rollback besides).
fn duplicate(ops: &mut [SimOp], rng: &mut Rng) -> bool {
    let len = |op: &SimOp| op.output.as_array().map_or(0, Vec::len);
    let longest = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && is_read(&ops[i]))
        .map(|i| len(&ops[i]))
        .max()
        .unwrap_or(0);
    let last_invoke = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && is_read(&ops[i]))
        .map(|i| ops[i].invoke)
        .max()
        .unwrap_or(0);
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && is_read(&ops[i]) && longest > 0 && len(&ops[i]) == longest)
        .filter(|&i| ops[i].complete > last_invoke)
        .collect();
    let Some(r) = pick(&reads, rng) else {
        return false;
    };
    let Value::Array(items) = &mut ops[r].output else {
        return false;
    };
    let element = items[rng.below(items.len() as u64) as usize].clone();
    items.push(element);
    true
}

/// An ok counter read just outside what the counter could hold when the
/// read took effect: the adds acknowledged before the read was invoked must
/// count, and the adds that did not fail and were invoked before the read
/// returned may.
fn counter_bound(over: bool, ops: &mut [SimOp], rng: &mut Rng) -> bool {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| ok(&ops[i]) && is_read(&ops[i]))
        .collect();
    let Some(r) = pick(&reads, rng) else {
        return false;
    };
    let (mut low, mut high) = (0i64, 0i64);
    for op in ops.iter().filter(|op| op.f == "add") {
        let delta = op.input.as_i64().expect("generated adds are integers");
        if ok(op) && precedes(op, &ops[r]) {
            low += delta;
            high += delta;
        } else if op.kind != EventType::Fail && op.invoke < ops[r].complete {
            low += delta.min(0);
            high += delta.max(0);
        }
    }
    ops[r].output = json!(if over { high + 1 } else { low - 1 });
    true
}
