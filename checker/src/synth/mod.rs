//! Synthetic histories: concurrent clients run ops against a simulated object
//! whose ops take effect at one instant inside their intervals, so the history
//! is linearizable by construction, unless one [`Anomaly`] is injected on
//! purpose, in a way no order of the ops can explain.
//!
//! - [`generate`] / [`try_generate`]: the events, in real-time order.
//! - [`write_events`]: the events in any format the readers take (jsonl,
//!   Knossos EDN, Porcupine's etcd and kv logs).
//! - [`generate_txn`]: list-append transactions from a simulated
//!   serializable store, strict-serializable unless one
//!   [`TxnAnomalyKind`] is injected; written as jsonl.

mod emit;
mod inject;
mod txn;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::event::{Event, EventType, Process};
use crate::format::Format;
use crate::model::ModelKind;

pub use emit::{format_fits, write_events};
pub use txn::{generate_txn, GeneratedTxns, TxnAnomalyKind, TxnGenOptions};

/// An anomaly [`generate`] can inject into a history. Each is made certain:
/// the history is not linearizable whatever the other ops did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// A read returns a value no op ever wrote (every model).
    NeverWritten,
    /// A read returns a value that was overwritten before the read was
    /// invoked (register, cas-register, kv, kv-append): a write of a value
    /// only it writes, an acknowledged write invoked after it completed,
    /// and then the read; or, when the key has no such chain, the initial
    /// value after an acknowledged write.
    StaleRead,
    /// An acknowledged add or append is missing from every read, and at
    /// least one read began after it was acknowledged (set, list-append).
    LostWrite,
    /// A read holds one appended element twice (list-append).
    Duplicate,
    /// A counter read returns one more than the most the counter could hold
    /// then: every add that must have happened, and every positive add
    /// that may have (counter).
    OverRead,
    /// A counter read returns one less than the least the counter could
    /// hold then (counter).
    UnderRead,
}

impl Anomaly {
    /// Every anomaly, in the order the CLI lists them.
    pub const ALL: [Anomaly; 6] = [
        Anomaly::NeverWritten,
        Anomaly::StaleRead,
        Anomaly::LostWrite,
        Anomaly::Duplicate,
        Anomaly::OverRead,
        Anomaly::UnderRead,
    ];

    /// The kebab-case name used on the command line: `stale-read`, ...
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::NeverWritten => "never-written",
            Anomaly::StaleRead => "stale-read",
            Anomaly::LostWrite => "lost-write",
            Anomaly::Duplicate => "duplicate",
            Anomaly::OverRead => "over-read",
            Anomaly::UnderRead => "under-read",
        }
    }

    /// The models it can be injected into.
    pub fn models(self) -> &'static [ModelKind] {
        use ModelKind::*;
        match self {
            Anomaly::NeverWritten => &ModelKind::ALL,
            Anomaly::StaleRead => &[Register, CasRegister, Kv, KvAppend],
            Anomaly::LostWrite => &[Set, ListAppend],
            Anomaly::Duplicate => &[ListAppend],
            Anomaly::OverRead | Anomaly::UnderRead => &[Counter],
        }
    }

    /// Whether it can be injected into `model`.
    pub fn fits(self, model: ModelKind) -> bool {
        self.models().contains(&model)
    }

    /// What a key needs for it to be injected, in words.
    fn needs(self) -> &'static str {
        match self {
            Anomaly::NeverWritten | Anomaly::OverRead | Anomaly::UnderRead => "an ok read",
            Anomaly::StaleRead => "an ok write that completed before an ok read was invoked",
            Anomaly::LostWrite => {
                "an ok add or append that completed before an ok read was invoked"
            }
            Anomaly::Duplicate => "an ok read of a non-empty list",
        }
    }
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Anomaly {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Anomaly::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Anomaly::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown anomaly {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Why a history cannot be generated or written as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SynthError {
    /// The anomaly makes no sense for the model.
    #[error("anomaly {anomaly} does not apply to model {model}; it applies to {models}")]
    AnomalyDoesNotFit {
        /// The anomaly asked for.
        anomaly: Anomaly,
        /// The model asked for.
        model: ModelKind,
        /// The models it applies to, in words.
        models: String,
    },
    /// No key has the ops the anomaly needs.
    #[error("cannot inject {anomaly}: no key has {needs}; try more ops per key or another seed")]
    NothingToInject {
        /// The anomaly asked for.
        anomaly: Anomaly,
        /// What it needs, in words.
        needs: &'static str,
    },
    /// The format cannot hold the history.
    #[error("format {format} cannot hold this history: {reason}")]
    FormatDoesNotFit {
        /// The format asked for.
        format: Format,
        /// Why not, and what to change.
        reason: String,
    },
}

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
    /// Inject one anomaly, into the first key that has the ops it needs.
    pub anomaly: Option<Anomaly>,
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
            anomaly: None,
        }
    }
}

/// One simulated op: its interval, the instant it takes effect (if it does),
/// and, once [`apply_effects`] ran, its outcome.
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
///
/// An anomaly that does not fit the model, or that no key has the ops for,
/// is left out silently; [`try_generate`] says so instead.
pub fn generate(options: &GenOptions) -> Vec<Event> {
    build(options).0
}

/// [`generate`], with an error when the anomaly asked for does not fit the
/// model or could not be injected.
///
/// # Errors
/// [`SynthError::AnomalyDoesNotFit`], [`SynthError::NothingToInject`].
pub fn try_generate(options: &GenOptions) -> Result<Vec<Event>, SynthError> {
    if let Some(anomaly) = options.anomaly {
        if !anomaly.fits(options.model) {
            let models: Vec<&str> = anomaly.models().iter().map(|m| m.name()).collect();
            return Err(SynthError::AnomalyDoesNotFit {
                anomaly,
                model: options.model,
                models: models.join(", "),
            });
        }
    }
    let (events, injected) = build(options);
    match options.anomaly {
        Some(anomaly) if !injected => Err(SynthError::NothingToInject {
            anomaly,
            needs: anomaly.needs(),
        }),
        _ => Ok(events),
    }
}

/// The events, and whether the anomaly asked for was injected.
fn build(options: &GenOptions) -> (Vec<Event>, bool) {
    let mut rng = Rng::new(options.seed);
    let mut next_process = 0u64;
    let mut events: Vec<(u64, u64, Event)> = Vec::new();
    let mut unique = 1_000_000u64;
    let anomaly = options.anomaly.filter(|a| a.fits(options.model));
    let mut injected = false;
    for key_index in 0..options.keys {
        let key = if options.keys == 1 {
            None
        } else {
            Some(format!("k{key_index}"))
        };
        let mut ops = simulate_key(options, &mut rng, &mut next_process, &mut unique);
        match anomaly {
            Some(anomaly) if !injected => {
                injected = inject::inject(anomaly, options.model, &mut ops, &mut rng, &mut unique);
            }
            _ => apply_effects(options.model, &mut ops),
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
    let events = events
        .into_iter()
        .enumerate()
        .map(|(index, (_, _, mut event))| {
            event.index = index as u64;
            event
        })
        .collect();
    (events, injected)
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
    ops
}

/// A value no op has used yet.
fn fresh(unique: &mut u64) -> u64 {
    *unique += 1;
    *unique
}

fn random_input(options: &GenOptions, rng: &mut Rng, unique: &mut u64) -> (&'static str, Value) {
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

    use crate::anomalies::AnomalyKind;
    use crate::history::History;
    use crate::{check, CheckOptions, KeyOutcome, Report, Verdict};

    const SEEDS: std::ops::Range<u64> = 0..16;

    fn options(model: ModelKind, seed: u64, anomaly: Option<Anomaly>) -> GenOptions {
        GenOptions {
            model,
            keys: 2,
            ops_per_key: 30,
            clients_per_key: 4,
            crash_rate: 0.05,
            fail_rate: 0.05,
            values: 3,
            seed,
            anomaly,
        }
    }

    fn read_back(events: &[Event], format: Format) -> History {
        let mut text = Vec::new();
        write_events(events, format, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let (history, read_as) = crate::format::read(&text, "generated", Some(format)).unwrap();
        assert_eq!(read_as, format);
        history
    }

    fn check_events(events: &[Event], format: Format, model: ModelKind) -> Report {
        check(
            &read_back(events, format),
            &CheckOptions::new(model),
            "generated",
        )
        .unwrap()
    }

    fn kinds_named(report: &Report) -> Vec<Option<String>> {
        report
            .keys
            .iter()
            .filter_map(|k| match &k.outcome {
                KeyOutcome::Invalid(v) => Some(v.kind.clone()),
                _ => None,
            })
            .collect()
    }

    /// The kinds the named check of a set or list-append history reports.
    fn named_kinds(model: ModelKind, history: &History) -> Vec<AnomalyKind> {
        let report = match model {
            ModelKind::Set => crate::check_set(history),
            _ => crate::check_list_append(history),
        };
        let mut kinds: Vec<AnomalyKind> = report.anomalies.iter().map(|a| a.kind).collect();
        kinds.dedup();
        kinds
    }

    #[test]
    fn without_an_anomaly_every_model_is_linearizable() {
        for model in ModelKind::ALL {
            for seed in SEEDS {
                let events = try_generate(&options(model, seed, None)).unwrap();
                let report = check_events(&events, Format::Jsonl, model);
                assert_eq!(report.verdict, Verdict::Valid, "{model} seed {seed}");
                if matches!(model, ModelKind::Set | ModelKind::ListAppend) {
                    let history = read_back(&events, Format::Jsonl);
                    assert_eq!(named_kinds(model, &history), vec![], "{model} seed {seed}");
                }
            }
        }
    }

    #[test]
    fn every_anomaly_makes_every_model_it_fits_not_linearizable() {
        for anomaly in Anomaly::ALL {
            for &model in anomaly.models() {
                for seed in SEEDS {
                    let events = try_generate(&options(model, seed, Some(anomaly)))
                        .unwrap_or_else(|e| panic!("{anomaly} {model} seed {seed}: {e}"));
                    let report = check_events(&events, Format::Jsonl, model);
                    assert_eq!(
                        report.verdict,
                        Verdict::Invalid,
                        "{anomaly} {model} seed {seed}"
                    );
                    let bad = report
                        .keys
                        .iter()
                        .filter(|k| k.verdict() == Verdict::Invalid)
                        .count();
                    assert_eq!(bad, 1, "one key holds the anomaly");
                }
            }
        }
    }

    #[test]
    fn a_stale_read_of_a_register_is_named_stale_read_by_the_checker() {
        for model in [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv] {
            for seed in SEEDS {
                let events = try_generate(&options(model, seed, Some(Anomaly::StaleRead))).unwrap();
                let report = check_events(&events, Format::Jsonl, model);
                assert_eq!(
                    kinds_named(&report),
                    vec![Some("stale-read".to_string())],
                    "{model} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn a_never_written_read_is_not_named_stale() {
        for model in [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv] {
            for seed in SEEDS {
                let events =
                    try_generate(&options(model, seed, Some(Anomaly::NeverWritten))).unwrap();
                let report = check_events(&events, Format::Jsonl, model);
                assert_eq!(kinds_named(&report), vec![None], "{model} seed {seed}");
            }
        }
    }

    #[test]
    fn the_named_checks_report_the_kind_injected_into_sets_and_lists() {
        // `only`: the kind is all they report. A never-written element
        // appended to a list read may also make it diverge from later reads.
        let cases = [
            (
                ModelKind::Set,
                Anomaly::LostWrite,
                AnomalyKind::LostWrite,
                true,
            ),
            (
                ModelKind::Set,
                Anomaly::NeverWritten,
                AnomalyKind::Phantom,
                true,
            ),
            (
                ModelKind::ListAppend,
                Anomaly::LostWrite,
                AnomalyKind::LostWrite,
                true,
            ),
            (
                ModelKind::ListAppend,
                Anomaly::Duplicate,
                AnomalyKind::Duplicate,
                true,
            ),
            (
                ModelKind::ListAppend,
                Anomaly::NeverWritten,
                AnomalyKind::Phantom,
                false,
            ),
        ];
        for (model, anomaly, kind, only) in cases {
            for seed in SEEDS {
                let events = try_generate(&options(model, seed, Some(anomaly))).unwrap();
                let history = read_back(&events, Format::Jsonl);
                let kinds = named_kinds(model, &history);
                let what = format!("{anomaly} {model} seed {seed}: {kinds:?}");
                assert!(kinds.contains(&kind), "{what}");
                if only {
                    assert_eq!(kinds, vec![kind], "{what}");
                }
            }
        }
    }

    #[test]
    fn an_over_or_under_read_is_one_past_the_counters_bounds() {
        // One client, no crashes: the counter's value at each read is known,
        // and the injected read is exactly one beyond it.
        for (anomaly, sign) in [(Anomaly::OverRead, 1), (Anomaly::UnderRead, -1)] {
            let plain = GenOptions {
                model: ModelKind::Counter,
                keys: 1,
                ops_per_key: 40,
                clients_per_key: 1,
                crash_rate: 0.0,
                fail_rate: 0.0,
                seed: 3,
                ..GenOptions::default()
            };
            let before = generate(&plain);
            let after = try_generate(&GenOptions {
                anomaly: Some(anomaly),
                ..plain
            })
            .unwrap();
            let changed: Vec<(i64, i64)> = before
                .iter()
                .zip(&after)
                .filter(|(b, a)| b != a)
                .map(|(b, a)| (b.value.as_i64().unwrap(), a.value.as_i64().unwrap()))
                .collect();
            assert_eq!(changed.len(), 1, "{anomaly}: one read changed");
            assert_eq!(changed[0].1, changed[0].0 + sign, "{anomaly}");
        }
    }

    #[test]
    fn an_anomaly_that_does_not_fit_the_model_is_an_error() {
        let err = try_generate(&options(ModelKind::Register, 0, Some(Anomaly::Duplicate)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("duplicate") && err.contains("register") && err.contains("list-append"),
            "{err}"
        );
    }

    #[test]
    fn a_key_without_the_ops_an_anomaly_needs_is_an_error() {
        let too_short = GenOptions {
            ops_per_key: 1,
            ..options(ModelKind::Register, 0, Some(Anomaly::StaleRead))
        };
        let err = try_generate(&too_short).unwrap_err();
        assert!(matches!(err, SynthError::NothingToInject { .. }), "{err}");
    }

    #[test]
    fn a_never_written_read_leaves_the_rest_of_its_key_unchanged() {
        let plain = GenOptions {
            keys: 1,
            ..options(ModelKind::Kv, 5, None)
        };
        let before = generate(&plain);
        let after = generate(&GenOptions {
            anomaly: Some(Anomaly::NeverWritten),
            ..plain
        });
        let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert_eq!((before.len(), changed), (after.len(), 1));
    }

    /// Models and formats that fit, with the options each needs.
    fn format_cases() -> Vec<(Format, ModelKind, GenOptions)> {
        let mut cases = Vec::new();
        for model in ModelKind::ALL {
            cases.push((Format::Edn, model, options(model, 0, None)));
        }
        for model in [ModelKind::Register, ModelKind::CasRegister, ModelKind::Kv] {
            let one_key = GenOptions {
                keys: 1,
                fail_rate: 0.0,
                crash_rate: 0.1,
                ..options(model, 0, None)
            };
            cases.push((Format::PorcupineEtcd, model, one_key));
        }
        cases.push((
            Format::PorcupineKv,
            ModelKind::KvAppend,
            options(ModelKind::KvAppend, 0, None),
        ));
        cases
    }

    #[test]
    fn every_format_reads_back_with_the_verdict_of_the_jsonl_history() {
        for (format, model, base) in format_cases() {
            format_fits(format, &base).unwrap();
            let anomalies =
                std::iter::once(None).chain(model_anomalies(model).into_iter().map(Some));
            for anomaly in anomalies {
                for seed in 0..4 {
                    let events = try_generate(&GenOptions {
                        seed,
                        anomaly,
                        ..base.clone()
                    })
                    .unwrap();
                    let jsonl = check_events(&events, Format::Jsonl, model);
                    let other = check_events(&events, format, model);
                    let expected = if anomaly.is_some() {
                        Verdict::Invalid
                    } else {
                        Verdict::Valid
                    };
                    let what = format!("{format} {model} {anomaly:?} seed {seed}");
                    assert_eq!(jsonl.verdict, expected, "{what}");
                    assert_eq!(other.verdict, expected, "{what}");
                    assert_eq!(kinds_named(&other), kinds_named(&jsonl), "{what}");
                }
            }
        }
    }

    fn model_anomalies(model: ModelKind) -> Vec<Anomaly> {
        Anomaly::ALL.into_iter().filter(|a| a.fits(model)).collect()
    }

    #[test]
    fn a_format_that_cannot_hold_the_history_says_what_to_change() {
        let two_keys = options(ModelKind::CasRegister, 0, None);
        let err = format_fits(Format::PorcupineEtcd, &two_keys)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--keys 1"), "{err}");
        let one_key = GenOptions {
            keys: 1,
            ..two_keys
        };
        let err = format_fits(Format::PorcupineEtcd, &one_key)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--fail-rate 0"), "{err}");
        let err = format_fits(Format::PorcupineKv, &options(ModelKind::Set, 0, None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("kv-append") && err.contains("set"), "{err}");
    }

    #[test]
    fn edn_strings_are_escaped() {
        assert_eq!(emit::edn_string("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
