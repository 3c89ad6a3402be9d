//! Property tests: generated linearizable histories pass with verified
//! witnesses, an injected anomaly is caught, and on tiny random histories the
//! checker agrees with a brute-force oracle, for every model.

mod common;

use checker::linearizability::{oracle, witness};
use checker::synth::{generate, Anomaly, GenOptions, Rng};
use checker::{check, format, CheckOptions, Event, History, ModelKind, Outcome, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

fn to_history(events: &[Event]) -> History {
    let mut text = String::new();
    for event in events {
        text.push_str(&serde_json::to_string(event).unwrap());
        text.push('\n');
    }
    format::read(&text, "generated", Some(checker::Format::Jsonl))
        .unwrap()
        .0
}

/// Budgets that turn a pathological case into a test failure, not a hang.
fn bounded(model: ModelKind) -> CheckOptions {
    let mut options = CheckOptions::new(model);
    // Only a guard against hangs: the cases are fixed and take seconds.
    options.deadline = Some(std::time::Instant::now() + std::time::Duration::from_secs(300));
    options.memory_bytes = 1 << 30;
    options
}

fn model_strategy() -> impl Strategy<Value = ModelKind> {
    prop::sample::select(ModelKind::ALL.to_vec())
}

proptest! {
    #![proptest_config(common::proptest_config(0x5eed_fa17, 200))]

    #[test]
    fn sequential_runs_with_crashes_are_linearizable(
        model in model_strategy(),
        seed in any::<u64>(),
        keys in 1usize..4,
        ops_per_key in 1usize..60,
        clients in 1usize..7,
        crash_rate in 0.0f64..0.1,
        values in 0u32..4,
    ) {
        let options = GenOptions {
            model, keys, ops_per_key, clients_per_key: clients, crash_rate,
            fail_rate: 0.1, values, seed, anomaly: None,
        };
        let history = to_history(&generate(&options));
        let report = check(&history, &bounded(model), "generated").unwrap();
        prop_assert_eq!(report.verdict, Verdict::Valid, "{:?}", report);
        let witness = report.witness().unwrap();
        prop_assert_eq!(witness::verify(&history, model, None, &witness), Ok(()));
    }

    #[test]
    fn an_injected_impossible_read_is_caught(
        model in model_strategy(),
        seed in any::<u64>(),
        ops_per_key in 5usize..60,
        clients in 1usize..6,
    ) {
        let options = GenOptions {
            model, keys: 2, ops_per_key, clients_per_key: clients, crash_rate: 0.05,
            fail_rate: 0.0, values: 3, seed, anomaly: Some(Anomaly::NeverWritten),
        };
        let events = generate(&options);
        let reads = events.iter().any(|e| e.kind == checker::EventType::Ok && (e.f == "read" || e.f == "get"));
        prop_assume!(reads);
        let history = to_history(&events);
        let mut options = bounded(model);
        options.deadline = Some(std::time::Instant::now() + std::time::Duration::from_secs(5));
        let report = check(&history, &options, "generated").unwrap();
        // Never a silent pass. A refutation may exceed the budget (unknown),
        // which is the honest answer then: list-append histories with a late
        // impossible read can need millions of configurations (docs/checker.md).
        prop_assert_ne!(report.verdict, Verdict::Valid);
    }
}

proptest! {
    #![proptest_config(common::proptest_config(0x5eed_fa17, 400))]

    #[test]
    fn agrees_with_brute_force_on_tiny_histories(
        model in model_strategy(),
        seed in any::<u64>(),
        n in 1usize..=8,
    ) {
        let history = tiny_history(model, seed, n);
        let report = check(&history, &CheckOptions::new(model), "tiny").unwrap();
        let expected = oracle::linearizable(&history, model, None);
        prop_assert_eq!(report.verdict == Verdict::Valid, expected, "{:#?}", history);
        if let Some(witness) = report.witness() {
            prop_assert_eq!(witness::verify(&history, model, None, &witness), Ok(()));
        }
    }
}

/// A random history of `n` ops with random (often wrong) results, random
/// overlaps, crashes and cas mismatches: both verdicts are common.
fn tiny_history(model: ModelKind, seed: u64, n: usize) -> History {
    let mut rng = Rng::new(seed);
    let intervals = common::random_intervals(&mut rng, n);
    let small = |rng: &mut Rng| -> Value {
        match rng.below(3) {
            0 => Value::Null,
            v => json!(v),
        }
    };
    let mut ops = Vec::new();
    for (i, &(call, ret)) in intervals.iter().enumerate() {
        let crashed = rng.chance(0.2);
        let key = if model == ModelKind::Kv && rng.chance(0.3) {
            "b"
        } else {
            "a"
        };
        let (f, input, output, observation) = match model {
            ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv => {
                let kinds = if model == ModelKind::Register { 2 } else { 3 };
                match rng.below(kinds) {
                    0 => ("read", Value::Null, small(&mut rng), false),
                    1 => {
                        let v = json!(1 + rng.below(2));
                        ("write", v.clone(), v, false)
                    }
                    _ => {
                        let v = json!([small(&mut rng), json!(1 + rng.below(2))]);
                        ("cas", v.clone(), v, rng.chance(0.4))
                    }
                }
            }
            ModelKind::Counter => match rng.below(2) {
                0 => ("read", Value::Null, json!(rng.below(4) as i64 - 1), false),
                _ => {
                    let d = if rng.chance(0.5) { json!(1) } else { json!(-1) };
                    ("add", d.clone(), d, false)
                }
            },
            ModelKind::Set | ModelKind::ListAppend => {
                let add = if model == ModelKind::Set {
                    "add"
                } else {
                    "append"
                };
                match rng.below(2) {
                    0 => {
                        let mut items: Vec<Value> = Vec::new();
                        for v in 1..=3u64 {
                            if rng.chance(0.4) {
                                items.push(json!(v));
                            }
                        }
                        if model == ModelKind::ListAppend && rng.chance(0.5) {
                            items.reverse();
                        }
                        ("read", Value::Null, Value::Array(items), false)
                    }
                    _ => {
                        let v = json!(1 + rng.below(3));
                        (add, v.clone(), v, false)
                    }
                }
            }
            ModelKind::KvAppend => match rng.below(3) {
                0 => {
                    let options = ["", "a", "b", "ab", "ba"];
                    (
                        "get",
                        Value::Null,
                        json!(options[rng.below(5) as usize]),
                        false,
                    )
                }
                1 => ("put", json!("a"), json!("a"), false),
                _ => ("append", json!("b"), json!("b"), false),
            },
        };
        let outcome = if crashed {
            Outcome::Unknown
        } else if observation {
            Outcome::Fail { observation: true }
        } else {
            Outcome::Ok(output)
        };
        let ret = (!crashed).then_some(ret);
        ops.push(common::op(i as u64, key, f, input, outcome, call, ret));
    }
    ops.sort_by_key(|op| op.call);
    History {
        ops,
        warnings: Vec::new(),
    }
}

#[test]
fn a_hundred_thousand_ops_over_a_thousand_keys_check_in_seconds() {
    let options = GenOptions {
        model: ModelKind::Kv,
        keys: 1000,
        ops_per_key: 100,
        clients_per_key: 10,
        crash_rate: 0.01,
        fail_rate: 0.0,
        values: 5,
        seed: 7,
        anomaly: None,
    };
    let events = generate(&options);
    let mut text = String::new();
    for event in &events {
        text.push_str(&serde_json::to_string(event).unwrap());
        text.push('\n');
    }
    let started = std::time::Instant::now();
    let (history, _) = format::read(&text, "big.jsonl", None).unwrap();
    assert_eq!(history.ops.len(), 100_000);
    let model = format::infer_model(&history, "big.jsonl").unwrap();
    let mut check_options = CheckOptions::new(model);
    // Generous: a verdict in seconds is the point; timing lives in benchmarks.
    check_options.deadline = Some(started + std::time::Duration::from_secs(120));
    let report = check(&history, &check_options, "big.jsonl").unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.keys.len(), 1000);
    eprintln!(
        "100,000 ops over 1,000 keys: read and checked in {:?}",
        started.elapsed()
    );
}
