//! Synthetic histories: concurrent clients run ops against a simulated object
//! whose ops take effect at one instant inside their intervals, so the history
//! is linearizable by construction (unless an anomaly is injected on purpose).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::event::{Event, EventType, Process};
use crate::model::ModelKind;

/// A small seeded generator (splitmix64): same seed, same history.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// The kind of object (and so the ops).
    pub model: ModelKind,
    /// Independent keys.
    pub keys: usize,
    /// Ops per key.
    pub ops_per_key: usize,
    /// Concurrent clients per key.
    pub clients_per_key: usize,
    /// Probability that an op crashes (`info`; it takes effect or not, at random).
    pub crash_rate: f64,
    /// Probability that an op fails definitely (no effect).
    pub fail_rate: f64,
    /// Register values are drawn from `1..=values`; 0 makes every written value unique.
    pub values: u32,
    /// The seed.
    pub seed: u64,
    /// Inject one anomaly: an ok read (in the first key that has one) that
    /// returns something never written.
    pub anomaly: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            model: ModelKind::Kv,
            keys: 1,
            ops_per_key: 100,
            clients_per_key: 5,
            crash_rate: 0.01,
            fail_rate: 0.0,
            values: 5,
            seed: 0,
            anomaly: false,
        }
    }
}

struct SimOp {
    process: u64,
    f: &'static str,
    input: Value,
    invoke: u64,
    effect: Option<u64>,
    complete: u64,
    kind: EventType,
    output: Value,
    error: Option<&'static str>,
}

/// Generates a history as events in real-time order, `index` 0, 1, 2 ...
///
/// Times are in nanoseconds: invokes fall on multiples of 4, effects on 4k+1
/// or 4k+2 strictly inside their op's interval, completions on 4k+3, so an op
/// that completes before another is invoked also takes effect before it.
pub fn generate(options: &GenOptions) -> Vec<Event> {
    let mut rng = Rng::new(options.seed);
    let mut next_process = 0u64;
    let mut events: Vec<(u64, u64, Event)> = Vec::new();
    let mut unique = 1_000_000u64;
    let mut injected = false;
    for key_index in 0..options.keys {
        let key = if options.keys == 1 {
            None
        } else {
            Some(format!("k{key_index}"))
        };
        let mut ops = simulate_key(options, &mut rng, &mut next_process, &mut unique);
        if options.anomaly && !injected {
            injected = inject_anomaly(options.model, &mut ops, &mut rng);
        }
        for op in ops {
            let invoke = Event {
                index: 0,
                time: op.invoke,
                process: Process::Client(op.process),
                kind: EventType::Invoke,
                f: op.f.to_string(),
                key: key.clone(),
                value: op.input.clone(),
                node: None,
                error: None,
                revision: None,
            };
            let value = match op.kind {
                EventType::Ok => op.output,
                EventType::Fail => op.input,
                _ => Value::Null,
            };
            let completion = Event {
                time: op.complete,
                kind: op.kind,
                value,
                error: op.error.map(str::to_string),
                ..invoke.clone()
            };
            events.push((op.invoke, events.len() as u64, invoke));
            events.push((op.complete, events.len() as u64, completion));
        }
    }
    events.sort_by_key(|(time, seq, _)| (*time, *seq));
    events
        .into_iter()
        .enumerate()
        .map(|(index, (_, _, mut event))| {
            event.index = index as u64;
            event
        })
        .collect()
}

fn simulate_key(
    options: &GenOptions,
    rng: &mut Rng,
    next_process: &mut u64,
    unique: &mut u64,
) -> Vec<SimOp> {
    let clients = options.clients_per_key.max(1);
    // Per client: the time it is free again (a multiple of 4) and its process.
    let mut free_at: Vec<(u64, u64)> = (0..clients)
        .map(|_| {
            let process = *next_process;
            *next_process += 1;
            (rng.below(50) * 4, process)
        })
        .collect();
    let mut ops = Vec::with_capacity(options.ops_per_key);
    for _ in 0..options.ops_per_key {
        let client = (0..clients)
            .min_by_key(|&c| free_at[c])
            .expect("at least one client");
        let (free, process) = free_at[client];
        let invoke_slot = free / 4 + rng.below(20);
        let complete_slot = invoke_slot + rng.below(60);
        let invoke = invoke_slot * 4;
        let complete = complete_slot * 4 + 3;
        let (f, input) = random_input(options, rng, unique);
        let effect_slot = invoke_slot + rng.below(complete_slot - invoke_slot + 1);
        let effect = effect_slot * 4 + 1 + rng.below(2);
        let mut op = SimOp {
            process,
            f,
            input,
            invoke,
            effect: Some(effect),
            complete,
            kind: EventType::Ok,
            output: Value::Null,
            error: None,
        };
        if rng.chance(options.crash_rate) {
            op.kind = EventType::Info;
            op.error = Some("timeout");
            // A crashed op takes effect at some instant after its call (even
            // after the client gave up), or never.
            op.effect = if rng.chance(0.5) {
                let late_slot = invoke_slot + rng.below(4 * (complete_slot - invoke_slot) + 4);
                Some(late_slot * 4 + 1 + rng.below(2))
            } else {
                None
            };
            let process = *next_process;
            *next_process += 1;
            free_at[client] = ((complete_slot + 1) * 4, process);
        } else {
            if f != "read" && rng.chance(options.fail_rate) {
                op.kind = EventType::Fail;
                op.error = Some("rejected");
                op.effect = None;
            }
            free_at[client] = ((complete_slot + 1) * 4, process);
        }
        ops.push(op);
    }
    apply_effects(options.model, &mut ops);
    ops
}

fn random_input(options: &GenOptions, rng: &mut Rng, unique: &mut u64) -> (&'static str, Value) {
    fn fresh(unique: &mut u64) -> u64 {
        *unique += 1;
        *unique
    }
    let value = |rng: &mut Rng, unique: &mut u64| -> u64 {
        if options.values == 0 {
            fresh(unique)
        } else {
            1 + rng.below(u64::from(options.values))
        }
    };
    match options.model {
        ModelKind::Register => match rng.below(2) {
            0 => ("read", Value::Null),
            _ => ("write", json!(value(rng, unique))),
        },
        ModelKind::CasRegister | ModelKind::Kv => match rng.below(5) {
            0 | 1 => ("read", Value::Null),
            2 | 3 => ("write", json!(value(rng, unique))),
            _ => {
                let from = if options.values == 0 {
                    // Compare against a recent unique value or a miss.
                    json!(unique.saturating_sub(rng.below(3)))
                } else {
                    json!(1 + rng.below(u64::from(options.values)))
                };
                ("cas", json!([from, value(rng, unique)]))
            }
        },
        ModelKind::Counter => match rng.below(3) {
            0 => ("read", Value::Null),
            1 => ("add", json!(1)),
            _ => ("add", json!(if rng.chance(0.5) { -1 } else { 3 })),
        },
        ModelKind::Set => match rng.below(2) {
            0 => ("read", Value::Null),
            _ => ("add", json!(fresh(unique))),
        },
        ModelKind::ListAppend => match rng.below(2) {
            0 => ("read", Value::Null),
            _ => ("append", json!(fresh(unique))),
        },
        ModelKind::KvAppend => match rng.below(3) {
            0 => ("get", Value::Null),
            1 => ("put", json!(format!("x{} ", fresh(unique)))),
            _ => ("append", json!(format!("y{} ", fresh(unique)))),
        },
    }
}

/// Runs the effects in effect-time order through a plain sequential object
/// and fills in every op's output.
fn apply_effects(model: ModelKind, ops: &mut [SimOp]) {
    let mut order: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].effect.is_some())
        .collect();
    order.sort_by_key(|&i| (ops[i].effect, ops[i].invoke));
    let mut register = Value::Null;
    let mut counter: i64 = 0;
    let mut set: BTreeSet<u64> = BTreeSet::new();
    let mut list: Vec<Value> = Vec::new();
    let mut text = String::new();
    for i in order {
        let op = &mut ops[i];
        op.output = match (model, op.f) {
            (ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv, "read") => {
                register.clone()
            }
            (ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv, "write") => {
                register = op.input.clone();
                op.input.clone()
            }
            (_, "cas") => {
                if register == op.input[0] {
                    register = op.input[1].clone();
                } else if op.kind == EventType::Ok {
                    op.kind = EventType::Fail;
                    op.error = Some(Event::MISMATCH);
                }
                op.input.clone()
            }
            (ModelKind::Counter, "read") => json!(counter),
            (ModelKind::Counter, _) => {
                counter += op.input.as_i64().expect("generated adds are integers");
                op.input.clone()
            }
            (ModelKind::Set, "read") => json!(set),
            (ModelKind::Set, _) => {
                set.insert(op.input.as_u64().expect("generated elements are integers"));
                op.input.clone()
            }
            (ModelKind::ListAppend, "read") => Value::Array(list.clone()),
            (ModelKind::ListAppend, _) => {
                list.push(op.input.clone());
                op.input.clone()
            }
            (_, "get") => json!(text),
            (_, "put") => {
                text = op.input.as_str().unwrap_or_default().to_string();
                op.input.clone()
            }
            (_, _) => {
                text.push_str(op.input.as_str().unwrap_or_default());
                op.input.clone()
            }
        };
    }
}

/// Makes one ok read impossible; false when the key has no ok read.
fn inject_anomaly(model: ModelKind, ops: &mut [SimOp], rng: &mut Rng) -> bool {
    let reads: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].kind == EventType::Ok && matches!(ops[i].f, "read" | "get"))
        .collect();
    if reads.is_empty() {
        return false;
    }
    let op = &mut ops[reads[rng.below(reads.len() as u64) as usize]];
    // A value no op ever wrote: no order can explain it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_history() {
        let options = GenOptions {
            keys: 3,
            ops_per_key: 50,
            ..GenOptions::default()
        };
        assert_eq!(generate(&options), generate(&options));
    }

    #[test]
    fn every_invoke_has_at_most_one_completion() {
        let options = GenOptions {
            ops_per_key: 200,
            crash_rate: 0.2,
            ..GenOptions::default()
        };
        let events = generate(&options);
        let invokes = events
            .iter()
            .filter(|e| e.kind == EventType::Invoke)
            .count();
        assert_eq!(invokes, 200);
        assert_eq!(events.len(), 400);
    }
}
