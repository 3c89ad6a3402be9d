//! Checking a whole history: split by key (P-compositionality), search every
//! key on all cores (largest first), and explain what was found.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use super::explain::{self, Violation};
use super::search::{self, Budget, KeyOp, Limits, SearchResult, NEVER};
use crate::error::{Error, Result};
use crate::history::History;
use crate::model::{Import, Model, ModelKind, ModelTask};
use crate::verdict::Verdict;

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
                SearchResult::Violation(stuck) => KeyOutcome::Invalid(Box::new(
                    explain::violation(model, history, &key.ops, stuck),
                )),
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
