//! Property tests for the list-append check: histories of a correct list
//! (ops taking effect at one instant inside their intervals, crashed ops
//! with or without effect) are always clean, and removing an acknowledged
//! element from a later read, or cutting a read below what an earlier read
//! saw, is always caught.

mod common;

use checker::synth::Rng;
use checker::{check_list_append, AnomalyKind, History, Op, Outcome, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Effect instants are positions scaled by this, so an effect can fall
/// strictly inside an interval.
const SCALE: u64 = 1000;

/// A run of a correct list per key: `n` ops at random intervals (every
/// overlap pattern), each taking effect at a random instant inside its
/// interval; a crashed op (`info`) takes effect at a random later instant
/// or never; a failed append never. A final read of every key follows.
fn correct_run(seed: u64, keys: usize, n: usize, crash_rate: f64, fail_rate: f64) -> History {
    let mut rng = Rng::new(seed);
    let intervals = common::random_intervals(&mut rng, n);
    let end = 2 * n as u64 + 2 * keys as u64;
    // (effect instant, op index) of every op that takes effect.
    let mut effects: Vec<(u64, usize)> = Vec::new();
    let mut ops: Vec<Op> = Vec::new();
    for (i, &(call, returned)) in intervals.iter().enumerate() {
        let key = format!("k{}", rng.below(keys as u64));
        let append = rng.chance(0.6);
        let (f, input) = if append {
            ("append", json!(i))
        } else {
            ("read", Value::Null)
        };
        let crashed = rng.chance(crash_rate);
        let failed = !crashed && append && rng.chance(fail_rate);
        let (outcome, ret) = if crashed {
            (Outcome::Unknown, None)
        } else if failed {
            (Outcome::Fail { observation: false }, Some(returned))
        } else {
            // Filled in with the list read, once effects are ordered.
            (Outcome::Ok(input.clone()), Some(returned))
        };
        let effect_end = if crashed { end } else { returned };
        // Half the crashed ops never take effect.
        let lost_in_crash = crashed && rng.chance(0.5);
        let takes_effect = !failed && !lost_in_crash;
        if takes_effect {
            let instant = call * SCALE + 1 + rng.below((effect_end - call) * SCALE - 1);
            effects.push((instant, i));
        }
        ops.push(common::op(i as u64, &key, f, input, outcome, call, ret));
    }
    for k in 0..keys {
        let call = 2 * n as u64 + 2 * k as u64;
        let id = (n + k) as u64;
        ops.push(common::op(
            id,
            &format!("k{k}"),
            "read",
            Value::Null,
            Outcome::Ok(Value::Null),
            call,
            Some(call + 1),
        ));
        effects.push((call * SCALE + 1, n + k));
    }
    effects.sort_unstable();
    let mut lists: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for (_, i) in effects {
        let op = &mut ops[i];
        let list = lists.entry(op.key.clone()).or_default();
        match op.f.as_str() {
            "append" => list.push(op.input.clone()),
            _ => {
                if let Outcome::Ok(value) = &mut op.outcome {
                    *value = Value::Array(list.clone());
                }
            }
        }
    }
    // A crashed read returned nothing; its placeholder outcome stays Unknown.
    ops.sort_by_key(|op| op.call);
    History {
        ops,
        warnings: vec![],
    }
}

fn ok_list(op: &Op) -> Option<&Vec<Value>> {
    match (&op.outcome, op.f.as_str()) {
        (Outcome::Ok(Value::Array(items)), "read") => Some(items),
        _ => None,
    }
}

proptest! {
    #![proptest_config(common::proptest_config(0x5eed_a99e, 300))]

    #[test]
    fn correct_lists_show_no_anomaly(
        seed in any::<u64>(),
        keys in 1usize..4,
        n in 1usize..120,
        crash_rate in 0.0f64..0.2,
        fail_rate in 0.0f64..0.2,
    ) {
        let history = correct_run(seed, keys, n, crash_rate, fail_rate);
        let report = check_list_append(&history);
        prop_assert_eq!(report.verdict, Verdict::Valid, "{:#?}", report);
    }

    #[test]
    fn removing_an_acknowledged_element_from_a_later_read_is_a_lost_write(
        seed in any::<u64>(),
        keys in 1usize..3,
        n in 2usize..120,
        crash_rate in 0.0f64..0.2,
        pick in any::<u64>(),
        truncate in any::<bool>(),
    ) {
        let mut history = correct_run(seed, keys, n, crash_rate, 0.1);
        // Every (read, element) pair where the element's append was
        // acknowledged before the read began.
        let mut candidates = Vec::new();
        for (r, read) in history.ops.iter().enumerate() {
            let Some(items) = ok_list(read) else { continue };
            for (position, item) in items.iter().enumerate() {
                let append = history.ops.iter().find(|op| {
                    op.f == "append" && op.key == read.key && &op.input == item
                }).expect("a correct list holds only appended elements");
                if matches!(append.outcome, Outcome::Ok(_)) && append.ret < Some(read.call) {
                    candidates.push((r, position, append.id));
                }
            }
        }
        prop_assume!(!candidates.is_empty());
        let (r, position, append_id) = candidates[(pick % candidates.len() as u64) as usize];
        let read_id = history.ops[r].id;
        let Outcome::Ok(Value::Array(items)) = &mut history.ops[r].outcome else { unreachable!() };
        let element = items[position].clone();
        if truncate {
            items.truncate(position);
        } else {
            items.remove(position);
        }
        let report = check_list_append(&history);
        prop_assert_eq!(report.verdict, Verdict::Invalid);
        let named = report.of_kind(AnomalyKind::LostWrite).any(|a| {
            a.values == vec![element.clone()] && a.ops == vec![append_id, read_id]
        });
        prop_assert!(named, "lost {} from read {}: {:#?}", element, read_id, report);
    }

    #[test]
    fn cutting_a_read_below_an_earlier_read_is_a_rollback(
        seed in any::<u64>(),
        n in 2usize..120,
        crash_rate in 0.0f64..0.2,
        pick in any::<u64>(),
    ) {
        let mut history = correct_run(seed, 1, n, crash_rate, 0.1);
        // Pairs of ok reads, the first returned before the second began and
        // saw at least one element.
        let reads: Vec<usize> = (0..history.ops.len()).filter(|&i| ok_list(&history.ops[i]).is_some()).collect();
        let mut pairs = Vec::new();
        for &a in &reads {
            for &b in &reads {
                let (ra, rb) = (&history.ops[a], &history.ops[b]);
                if ra.ret < Some(rb.call) && !ok_list(ra).unwrap().is_empty() {
                    pairs.push((a, b));
                }
            }
        }
        prop_assume!(!pairs.is_empty());
        let (earlier, later) = pairs[(pick % pairs.len() as u64) as usize];
        let seen = ok_list(&history.ops[earlier]).unwrap().len();
        let Outcome::Ok(Value::Array(items)) = &mut history.ops[later].outcome else { unreachable!() };
        items.truncate(seen - 1);
        let report = check_list_append(&history);
        prop_assert!(report.count(AnomalyKind::Rollback) > 0, "{:#?}", report);
    }
}
