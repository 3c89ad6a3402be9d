//! Synthetic transaction histories: list-append transactions (Elle's
//! workload) run by concurrent clients against a simulated serializable
//! store, strict-serializable by construction, unless one [`TxnAnomalyKind`] is
//! injected on purpose.
//!
//! # The simulated store
//!
//! `clients` clients each run one transaction at a time, their intervals
//! overlapping. Each transaction takes effect atomically at one commit point
//! strictly inside its interval (times: invokes on multiples of 4 ns, commit
//! points on 4k+1 or 4k+2, completions on 4k+3), so a transaction
//! acknowledged before another is invoked also commits first: the history is
//! strict-serializable. Its micro-ops are chosen at its commit point: 1 to 4
//! of them (`mops` on average), each a read (`read_fraction`) or an append of
//! the key's next element (1, 2, 3 ... per key), over `hot_keys` keys active
//! at once; a key retires after `appends_per_key` appends (so reads stay
//! short) and a fresh key takes its place. A transaction crashes (`info`)
//! with probability `crash_rate`, and then commits or not at random (at an
//! instant after its invoke, perhaps after the client gave up); its client
//! continues under a new process number (the old one plus `clients`, as
//! Jepsen does). With probability `fail_rate` a transaction is rejected
//! (`fail`) without effect.
//!
//! # Injected anomalies
//!
//! An anomaly is injected as a small group of transactions on keys of their
//! own, each run by a process of its own, all invoked in the middle of the
//! history (while the clients' transactions run) and all overlapping one
//! another in time (unless said otherwise), so no real-time or process order
//! relates them and the group adds exactly the one anomaly. `x`, `y`, `z`,
//! `w` below are the group's keys; every transaction is `ok` unless marked.
//!
//! | kind | transactions | why (Adya; Elle) |
//! | --- | --- | --- |
//! | `G0` | T1 `append x 1, append y 1`; T2 `append x 2, append y 2`; T3 `r x [1 2]`; T4 `r y [2 1]` | write cycle: T1 -ww(x)-> T2 -ww(y)-> T1 |
//! | `G1a` | T1 `append x 1` (`fail`); T2 `r x [1]` | aborted read |
//! | `G1b` | T1 `append x 1, append x 2`; T2 `r x [1]` | intermediate read: T1's final version of x is `[1 2]` |
//! | `G1c` | T1 `append x 1, r y [1]`; T2 `append y 1, r x [1]` | cyclic information flow: T1 -wr(x)-> T2 -wr(y)-> T1 |
//! | `G-single` | T1 `append x 1, append y 1`; T2 `r x [1], r y []`; T3 `r y [1]` | read skew: T2 sees T1's append to x but not to y; T1 -wr(x)-> T2 -rw(y)-> T1 |
//! | `G-nonadjacent` | T1 `append x 1, append w 1`; T2 `r x [1], r y []`; T3 `append y 1, append z 1`; T4 `r z [1], r w []`; T5 `r y [1]`; T6 `r w [1]` | T1 -wr(x)-> T2 -rw(y)-> T3 -wr(z)-> T4 -rw(w)-> T1: two anti-dependencies, not adjacent |
//! | `G2-item` | T1 `r y [], append x 1`; T2 `r x [], append y 1`; T3 `r x [1], r y [1]` | write skew: T1 -rw(y)-> T2 -rw(x)-> T1 |
//! | `dirty-update` | T1 `append x 1` (`fail`); T2 `append x 2`; T3 `r x [1 2]` | a committed append on top of an aborted one (T3's read is also a G1a) |
//! | `internal` | T1 `append x 1`; T2 `append x 2, r x [1]` | T2's read misses its own earlier append |
//! | `lost-append` | T1 `append x 1`; then (invoked after T1 completed) T2 `append x 2`; then (after T2 completed) T3 `r x [2]`, T4 `r x [2]` | an acknowledged append missing from every read invoked after it was acknowledged, while a later append is seen |
//! | `duplicate-append` | T1 `append x 1`; T2 `r x [1 1]` | one append seen twice |
//! | `garbage-read` | T1 `append x 1`; T2 `r x [1 99]` | 99 was never appended to x |
//! | `incompatible-order` | T1 `append x 1`; T2 `append x 2`; T3 `r x [1 2]`; T4 `r x [2 1]` | neither read is a prefix of the other |
//!
//! [`GeneratedTxns::injected`] lists the group's transactions, so a test can
//! check that everything found lies inside it.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::ops::Range;
use std::str::FromStr;

use super::Rng;
use crate::anomalies::txn::{Elem, KeyId, KeyName, Mop, Status, Txn, TxnHistory};

/// An anomaly [`generate_txn`] can inject (module docs: the shape of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxnAnomalyKind {
    /// A write cycle (ww edges only).
    G0,
    /// An aborted read.
    G1a,
    /// An intermediate read.
    G1b,
    /// Cyclic information flow (ww and wr edges).
    G1c,
    /// Read skew: a cycle with exactly one anti-dependency.
    GSingle,
    /// A cycle with anti-dependencies, no two adjacent.
    GNonadjacent,
    /// Write skew: a cycle with adjacent anti-dependencies.
    G2Item,
    /// A committed append on top of an aborted one.
    DirtyUpdate,
    /// A transaction that does not see its own earlier append.
    Internal,
    /// An acknowledged append missing from every later read.
    LostAppend,
    /// An append seen twice in one read.
    DuplicateAppend,
    /// A read of an element nobody appended.
    GarbageRead,
    /// Two reads of a key that are not prefixes of one order.
    IncompatibleOrder,
}

impl TxnAnomalyKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [TxnAnomalyKind; 13] = [
        TxnAnomalyKind::G0,
        TxnAnomalyKind::G1a,
        TxnAnomalyKind::G1b,
        TxnAnomalyKind::G1c,
        TxnAnomalyKind::GSingle,
        TxnAnomalyKind::GNonadjacent,
        TxnAnomalyKind::G2Item,
        TxnAnomalyKind::DirtyUpdate,
        TxnAnomalyKind::Internal,
        TxnAnomalyKind::LostAppend,
        TxnAnomalyKind::DuplicateAppend,
        TxnAnomalyKind::GarbageRead,
        TxnAnomalyKind::IncompatibleOrder,
    ];

    /// The name on the command line, which is also the class the checker
    /// names it by (`class` of [`crate::anomalies::txn::TxnAnomaly`]):
    /// `G0`, `G-single`, `lost-append`, ...
    pub fn name(self) -> &'static str {
        match self {
            TxnAnomalyKind::G0 => "G0",
            TxnAnomalyKind::G1a => "G1a",
            TxnAnomalyKind::G1b => "G1b",
            TxnAnomalyKind::G1c => "G1c",
            TxnAnomalyKind::GSingle => "G-single",
            TxnAnomalyKind::GNonadjacent => "G-nonadjacent",
            TxnAnomalyKind::G2Item => "G2-item",
            TxnAnomalyKind::DirtyUpdate => "dirty-update",
            TxnAnomalyKind::Internal => "internal",
            TxnAnomalyKind::LostAppend => "lost-append",
            TxnAnomalyKind::DuplicateAppend => "duplicate-append",
            TxnAnomalyKind::GarbageRead => "garbage-read",
            TxnAnomalyKind::IncompatibleOrder => "incompatible-order",
        }
    }
}

impl fmt::Display for TxnAnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TxnAnomalyKind {
    type Err = String;
    /// A name of [`TxnAnomalyKind::name`], in any case (`g-single` too).
    fn from_str(s: &str) -> Result<Self, String> {
        TxnAnomalyKind::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = TxnAnomalyKind::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown transaction anomaly {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What [`generate_txn`] generates.
#[derive(Debug, Clone)]
pub struct TxnGenOptions {
    /// Transactions run by the clients (an injected anomaly adds its own few).
    pub txns: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Micro-ops per transaction on average, between 1 and 4.
    pub mops: f64,
    /// Keys active at once.
    pub hot_keys: usize,
    /// Appends after which a key retires.
    pub appends_per_key: u32,
    /// Probability that a micro-op is a read (else an append).
    pub read_fraction: f64,
    /// Probability that a transaction crashes (`info`; it commits or not, at random).
    pub crash_rate: f64,
    /// Probability that a transaction is rejected (`fail`, no effect).
    pub fail_rate: f64,
    /// The seed: the same options give the same history.
    pub seed: u64,
    /// Inject one anomaly.
    pub anomaly: Option<TxnAnomalyKind>,
}

impl Default for TxnGenOptions {
    fn default() -> Self {
        TxnGenOptions {
            txns: 1_000,
            clients: 5,
            mops: 2.5,
            hot_keys: 5,
            appends_per_key: 32,
            read_fraction: 0.5,
            crash_rate: 0.01,
            fail_rate: 0.0,
            seed: 0,
            anomaly: None,
        }
    }
}

impl TxnGenOptions {
    /// Checks the options, naming the first one out of range.
    ///
    /// # Errors
    /// A sentence naming the option and its range.
    pub fn validate(&self) -> Result<(), String> {
        let probability = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{name} is a probability between 0 and 1, not {p}"))
            }
        };
        probability("the crash rate", self.crash_rate)?;
        probability("the fail rate", self.fail_rate)?;
        probability("the read fraction", self.read_fraction)?;
        if !(1.0..=4.0).contains(&self.mops) {
            return Err(format!(
                "micro-ops per transaction average between 1 and 4, not {}",
                self.mops
            ));
        }
        if self.clients == 0 || self.hot_keys == 0 || self.appends_per_key == 0 {
            return Err("clients, hot keys and appends per key must be at least 1".into());
        }
        if self.txns > u32::MAX as usize / 8 {
            return Err(format!(
                "at most {} transactions, not {}",
                u32::MAX / 8,
                self.txns
            ));
        }
        Ok(())
    }
}

/// A generated history: as a reader of its jsonl form gives it, plus where
/// the crashed transactions' completions stand (a reader keeps no position
/// for an `info`), and the injected group.
#[derive(Debug, Clone)]
pub struct GeneratedTxns {
    /// The transactions exactly as [`crate::anomalies::txn::read_jsonl`]
    /// reads them back from [`GeneratedTxns::write_jsonl`]'s output.
    pub history: TxnHistory,
    /// For each crashed transaction (an index into `history.txns`), the line
    /// and time of its `info` completion.
    pub info_completions: Vec<(usize, u64, u64)>,
    /// The ids of the injected anomaly's transactions (empty without one).
    pub injected: Vec<u64>,
}

/// One transaction while it is simulated: its interval, its commit point
/// (if it commits), and its micro-ops once chosen.
struct Plan {
    process: u64,
    invoke: u64,
    complete: u64,
    /// When its micro-ops are chosen (its commit point, or where it would
    /// have been), and whether they take effect then.
    order: u64,
    commits: bool,
    status: Status,
    /// Its micro-ops in `Sim::mops` (reads unfilled for one that did not commit).
    mops: Range<u32>,
}

/// A micro-op while simulated: keys are the generator's own numbers.
#[derive(Clone)]
enum SimMop {
    Append(u64, Elem),
    Read(u64, Option<Vec<Elem>>),
}

/// Generates a history of list-append transactions (module docs).
///
/// # Errors
/// A sentence when the options are out of range ([`TxnGenOptions::validate`]).
pub fn generate_txn(options: &TxnGenOptions) -> Result<GeneratedTxns, String> {
    options.validate()?;
    let mut rng = Rng::new(options.seed);
    let clients = options.clients;
    let mut free_at: Vec<(u64, u64)> = (0..clients as u64)
        .map(|process| (rng.below(10) * 4, process))
        .collect();
    let mut plans: Vec<Plan> = Vec::with_capacity(options.txns + 8);
    for _ in 0..options.txns {
        let client = (0..clients)
            .min_by_key(|&c| free_at[c])
            .expect("at least one client: checked by validate");
        let (free, process) = free_at[client];
        let invoke_slot = free / 4 + rng.below(4);
        let complete_slot = invoke_slot + rng.below(4 * clients as u64 + 4);
        let commit_slot = invoke_slot + rng.below(complete_slot - invoke_slot + 1);
        let mut plan = Plan {
            process,
            invoke: invoke_slot * 4,
            complete: complete_slot * 4 + 3,
            order: commit_slot * 4 + 1 + rng.below(2),
            commits: true,
            status: Status::Committed,
            mops: 0..0,
        };
        let mut next_process = process;
        if rng.chance(options.crash_rate) {
            plan.status = Status::Unknown;
            plan.commits = rng.chance(0.5);
            // A crashed transaction may commit after its client gave up.
            let late = invoke_slot + rng.below(2 * (complete_slot - invoke_slot) + 4);
            plan.order = late * 4 + 1 + rng.below(2);
            next_process = process + clients as u64;
        } else if rng.chance(options.fail_rate) {
            plan.status = Status::Aborted;
            plan.commits = false;
        }
        free_at[client] = ((complete_slot + 1) * 4, next_process);
        plans.push(plan);
    }
    let mut sim = Sim {
        mops: Vec::new(),
        hot: Vec::new(),
        next_key: 0,
        lists: HashMap::new(),
    };
    sim.hot = (0..options.hot_keys)
        .map(|_| sim.fresh_key())
        .collect::<Vec<_>>();
    // Micro-ops are chosen, and run, in commit-point order.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| (plans[i].order, i));
    let stay_low = options.mops - 1.0;
    for i in order {
        let count = 1 + (0..3).filter(|_| rng.chance(stay_low / 3.0)).count();
        let start = sim.mops.len() as u32;
        for _ in 0..count {
            let slot = rng.below(sim.hot.len() as u64) as usize;
            let (key, appended) = sim.hot[slot];
            let mop = if rng.chance(options.read_fraction) {
                SimMop::Read(key, None)
            } else {
                let elem = Elem::from(appended + 1);
                sim.hot[slot].1 += 1;
                if appended + 1 >= options.appends_per_key {
                    sim.hot[slot] = sim.fresh_key();
                }
                SimMop::Append(key, elem)
            };
            sim.mops.push(mop);
        }
        let plan = &mut plans[i];
        plan.mops = start..sim.mops.len() as u32;
        if plan.commits {
            sim.run(plan.mops.clone());
        }
    }
    let mut injected_group = Vec::new();
    if let Some(anomaly) = options.anomaly {
        let middle = plans.get(plans.len() / 2).map_or(0, |plan| plan.invoke / 4);
        let first_process = plans
            .iter()
            .map(|plan| plan.process + 1)
            .max()
            .unwrap_or(0)
            .max(2 * clients as u64);
        for (n, (stage, status, mops)) in gadget(anomaly).into_iter().enumerate() {
            let start = sim.mops.len() as u32;
            for mop in mops {
                sim.mops.push(match mop {
                    GadgetMop::Append(key, elem) => SimMop::Append(sim.next_key + key, elem),
                    GadgetMop::Read(key, elems) => {
                        SimMop::Read(sim.next_key + key, Some(elems.to_vec()))
                    }
                });
            }
            // Stages follow one another in real time; the transactions of a
            // stage overlap one another.
            let base = middle + 100 * stage;
            injected_group.push(plans.len());
            plans.push(Plan {
                process: first_process + n as u64,
                invoke: (base + n as u64) * 4,
                complete: (base + 50 + n as u64) * 4 + 3,
                order: 0,
                commits: status == Status::Committed,
                status,
                mops: start..sim.mops.len() as u32,
            });
        }
    }
    Ok(assemble(&plans, &sim.mops, &injected_group))
}

/// The store: every key's list, the keys in use, the next fresh key.
struct Sim {
    mops: Vec<SimMop>,
    /// Hot keys and how many appends each has had.
    hot: Vec<(u64, u32)>,
    next_key: u64,
    lists: HashMap<u64, Vec<Elem>>,
}

impl Sim {
    fn fresh_key(&mut self) -> (u64, u32) {
        self.next_key += 1;
        (self.next_key - 1, 0)
    }

    /// Runs the micro-ops `range` atomically: appends take effect, reads
    /// observe the lists (this transaction's earlier appends included).
    fn run(&mut self, range: Range<u32>) {
        for mop in &mut self.mops[range.start as usize..range.end as usize] {
            match mop {
                SimMop::Append(key, elem) => self.lists.entry(*key).or_default().push(*elem),
                SimMop::Read(key, seen) => {
                    *seen = Some(self.lists.get(key).cloned().unwrap_or_default());
                }
            }
        }
    }
}

/// A micro-op of an injected group: keys 0, 1, 2 ... of the group's own.
enum GadgetMop {
    Append(u64, Elem),
    Read(u64, &'static [Elem]),
}

/// The injected group of `anomaly`: (stage, status, micro-ops) per
/// transaction; the table in the module docs.
fn gadget(anomaly: TxnAnomalyKind) -> Vec<(u64, Status, Vec<GadgetMop>)> {
    use GadgetMop::{Append as A, Read as R};
    use Status::{Aborted, Committed as Ok};
    const X: u64 = 0;
    const Y: u64 = 1;
    const Z: u64 = 2;
    const W: u64 = 3;
    match anomaly {
        TxnAnomalyKind::G0 => vec![
            (0, Ok, vec![A(X, 1), A(Y, 1)]),
            (0, Ok, vec![A(X, 2), A(Y, 2)]),
            (0, Ok, vec![R(X, &[1, 2])]),
            (0, Ok, vec![R(Y, &[2, 1])]),
        ],
        TxnAnomalyKind::G1a => vec![(0, Aborted, vec![A(X, 1)]), (0, Ok, vec![R(X, &[1])])],
        TxnAnomalyKind::G1b => vec![(0, Ok, vec![A(X, 1), A(X, 2)]), (0, Ok, vec![R(X, &[1])])],
        TxnAnomalyKind::G1c => vec![
            (0, Ok, vec![A(X, 1), R(Y, &[1])]),
            (0, Ok, vec![A(Y, 1), R(X, &[1])]),
        ],
        TxnAnomalyKind::GSingle => vec![
            (0, Ok, vec![A(X, 1), A(Y, 1)]),
            (0, Ok, vec![R(X, &[1]), R(Y, &[])]),
            (0, Ok, vec![R(Y, &[1])]),
        ],
        TxnAnomalyKind::GNonadjacent => vec![
            (0, Ok, vec![A(X, 1), A(W, 1)]),
            (0, Ok, vec![R(X, &[1]), R(Y, &[])]),
            (0, Ok, vec![A(Y, 1), A(Z, 1)]),
            (0, Ok, vec![R(Z, &[1]), R(W, &[])]),
            (0, Ok, vec![R(Y, &[1])]),
            (0, Ok, vec![R(W, &[1])]),
        ],
        TxnAnomalyKind::G2Item => vec![
            (0, Ok, vec![R(Y, &[]), A(X, 1)]),
            (0, Ok, vec![R(X, &[]), A(Y, 1)]),
            (0, Ok, vec![R(X, &[1]), R(Y, &[1])]),
        ],
        TxnAnomalyKind::DirtyUpdate => vec![
            (0, Aborted, vec![A(X, 1)]),
            (0, Ok, vec![A(X, 2)]),
            (0, Ok, vec![R(X, &[1, 2])]),
        ],
        TxnAnomalyKind::Internal => {
            vec![(0, Ok, vec![A(X, 1)]), (0, Ok, vec![A(X, 2), R(X, &[1])])]
        }
        TxnAnomalyKind::LostAppend => vec![
            (0, Ok, vec![A(X, 1)]),
            (1, Ok, vec![A(X, 2)]),
            (2, Ok, vec![R(X, &[2])]),
            (2, Ok, vec![R(X, &[2])]),
        ],
        TxnAnomalyKind::DuplicateAppend => {
            vec![(0, Ok, vec![A(X, 1)]), (0, Ok, vec![R(X, &[1, 1])])]
        }
        TxnAnomalyKind::GarbageRead => vec![(0, Ok, vec![A(X, 1)]), (0, Ok, vec![R(X, &[1, 99])])],
        TxnAnomalyKind::IncompatibleOrder => vec![
            (0, Ok, vec![A(X, 1)]),
            (0, Ok, vec![A(X, 2)]),
            (0, Ok, vec![R(X, &[1, 2])]),
            (0, Ok, vec![R(X, &[2, 1])]),
        ],
    }
}

/// Orders the events, numbers the lines, and lays the transactions out as
/// a reader of the jsonl form would: in invoke order, keys interned in
/// order of first appearance.
fn assemble(plans: &[Plan], mops: &[SimMop], injected_group: &[usize]) -> GeneratedTxns {
    // (time, plan, is completion): an invoke and a completion at one time
    // cannot meet (4k versus 4k+3).
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(2 * plans.len());
    for (i, plan) in plans.iter().enumerate() {
        events.push((plan.invoke, i, false));
        events.push((plan.complete, i, true));
    }
    events.sort_unstable();
    let mut lines = vec![(0u64, 0u64); plans.len()];
    for (n, &(_, i, completion)) in events.iter().enumerate() {
        let line = n as u64 + 1;
        if completion {
            lines[i].1 = line;
        } else {
            lines[i].0 = line;
        }
    }
    let mut by_invoke: Vec<usize> = (0..plans.len()).collect();
    by_invoke.sort_unstable_by_key(|&i| lines[i].0);
    let mut history = TxnHistory {
        txns: Vec::with_capacity(plans.len()),
        mops: Vec::with_capacity(mops.len()),
        ..TxnHistory::default()
    };
    let mut key_ids: HashMap<u64, KeyId> = HashMap::new();
    let mut info_completions = Vec::new();
    let mut injected = Vec::new();
    for (position, &i) in by_invoke.iter().enumerate() {
        let plan = &plans[i];
        let (call, ret) = lines[i];
        let start = history.mops.len() as u32;
        for mop in &mops[plan.mops.start as usize..plan.mops.end as usize] {
            let mut intern = |key: u64| {
                *key_ids.entry(key).or_insert_with(|| {
                    history.keys.push(KeyName::Int(key as i64));
                    history.keys.len() as KeyId - 1
                })
            };
            let mop = match mop {
                SimMop::Append(key, elem) => Mop::Append {
                    key: intern(*key),
                    elem: *elem,
                },
                SimMop::Read(key, seen) => {
                    let key = intern(*key);
                    let elems = match (plan.status, seen) {
                        (Status::Committed, Some(seen)) => {
                            let from = history.read_elems.len() as u32;
                            history.read_elems.extend_from_slice(seen);
                            Some(from..history.read_elems.len() as u32)
                        }
                        _ => None,
                    };
                    Mop::Read { key, elems }
                }
            };
            history.mops.push(mop);
        }
        let known_end = plan.status != Status::Unknown;
        if !known_end {
            info_completions.push((position, ret, plan.complete));
        }
        if injected_group.contains(&i) {
            injected.push(call - 1);
        }
        history.txns.push(Txn {
            id: call - 1,
            process: plan.process,
            status: plan.status,
            call,
            ret: known_end.then_some(ret),
            call_time: Some(plan.invoke),
            ret_time: known_end.then_some(plan.complete),
            line: call,
            mops: start..history.mops.len() as u32,
        });
    }
    injected.sort_unstable();
    GeneratedTxns {
        history,
        info_completions,
        injected,
    }
}

impl GeneratedTxns {
    /// Writes the history as faultline jsonl: one invoke and one completion
    /// line per transaction, `index` 0, 1, 2 ... in line order, `f: "txn"`,
    /// reads `null` on invoke and filled on `ok`; a `fail` or `info`
    /// completion repeats the invoke's value.
    ///
    /// # Errors
    /// What writing to `out` returned.
    pub fn write_jsonl(&self, out: &mut impl Write) -> io::Result<()> {
        let history = &self.history;
        // (line, txn, completion); the lines are 1, 2, 3 ... with no gap.
        let mut lines: Vec<(u64, u32, bool)> = Vec::with_capacity(2 * history.txns.len());
        for (i, txn) in history.txns.iter().enumerate() {
            lines.push((txn.call, i as u32, false));
            if let Some(ret) = txn.ret {
                lines.push((ret, i as u32, true));
            }
        }
        for &(i, line, _) in &self.info_completions {
            lines.push((line, i as u32, true));
        }
        lines.sort_unstable();
        let info_times: HashMap<usize, u64> = self
            .info_completions
            .iter()
            .map(|&(i, _, time)| (i, time))
            .collect();
        let mut buffer = Vec::with_capacity(256);
        for (line, i, completion) in lines {
            let txn = &history.txns[i as usize];
            let (kind, time) = match (completion, txn.status) {
                (false, _) => ("invoke", txn.call_time.unwrap_or(0)),
                (true, Status::Committed) => ("ok", txn.ret_time.unwrap_or(0)),
                (true, Status::Aborted) => ("fail", txn.ret_time.unwrap_or(0)),
                (true, Status::Unknown) => ("info", info_times[&(i as usize)]),
            };
            buffer.clear();
            write!(
                buffer,
                r#"{{"index":{},"time":{time},"process":{},"type":"{kind}","f":"txn","value":["#,
                line - 1,
                txn.process
            )?;
            let filled = completion && txn.status == Status::Committed;
            for (n, mop) in history.mops_of(txn).iter().enumerate() {
                if n > 0 {
                    buffer.push(b',');
                }
                match mop {
                    Mop::Append { key, elem } => write!(
                        buffer,
                        r#"["append",{},{elem}]"#,
                        key_json(&history.keys[*key as usize])
                    )?,
                    Mop::Read { key, elems } => {
                        write!(
                            buffer,
                            r#"["r",{},"#,
                            key_json(&history.keys[*key as usize])
                        )?;
                        match elems {
                            Some(range) if filled => {
                                buffer.push(b'[');
                                for (m, elem) in history.elems(range).iter().enumerate() {
                                    if m > 0 {
                                        buffer.push(b',');
                                    }
                                    write!(buffer, "{elem}")?;
                                }
                                buffer.extend_from_slice(b"]]");
                            }
                            _ => buffer.extend_from_slice(b"null]"),
                        }
                    }
                }
            }
            buffer.extend_from_slice(b"]}\n");
            out.write_all(&buffer)?;
        }
        Ok(())
    }
}

/// A key as JSON: an integer, or a string with JSON's escapes.
fn key_json(key: &KeyName) -> String {
    match key {
        KeyName::Int(n) => n.to_string(),
        KeyName::Str(s) => serde_json::to_string(s).expect("a string always serializes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(seed: u64) -> TxnGenOptions {
        TxnGenOptions {
            txns: 300,
            clients: 6,
            crash_rate: 0.05,
            fail_rate: 0.02,
            seed,
            ..TxnGenOptions::default()
        }
    }

    fn jsonl(generated: &GeneratedTxns) -> String {
        let mut out = Vec::new();
        generated.write_jsonl(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn same_seed_same_history_and_another_seed_another() {
        let a = jsonl(&generate_txn(&options(3)).unwrap());
        assert_eq!(a, jsonl(&generate_txn(&options(3)).unwrap()));
        assert_ne!(a, jsonl(&generate_txn(&options(4)).unwrap()));
    }

    #[test]
    fn every_transaction_has_one_invoke_and_one_completion_line() {
        let generated = generate_txn(&options(1)).unwrap();
        let text = jsonl(&generated);
        assert_eq!(text.lines().count(), 600);
        assert_eq!(
            text.lines()
                .filter(|l| l.contains(r#""type":"invoke""#))
                .count(),
            300
        );
        for (n, line) in text.lines().enumerate() {
            let event: crate::Event = serde_json::from_str(line).unwrap();
            assert_eq!(event.index, n as u64);
            assert_eq!(event.f, "txn");
        }
    }

    #[test]
    fn reads_are_prefixes_of_one_order_and_keys_retire_after_their_appends() {
        let generated = generate_txn(&TxnGenOptions {
            appends_per_key: 8,
            ..options(2)
        })
        .unwrap();
        let history = &generated.history;
        let mut longest: HashMap<KeyId, Vec<Elem>> = HashMap::new();
        let mut appends: HashMap<KeyId, usize> = HashMap::new();
        for txn in &history.txns {
            for mop in history.mops_of(txn) {
                match mop {
                    Mop::Append { key, .. } => *appends.entry(*key).or_default() += 1,
                    Mop::Read {
                        key,
                        elems: Some(range),
                    } => {
                        let seen = history.elems(range);
                        let known = longest.entry(*key).or_default();
                        let shorter = seen.len().min(known.len());
                        assert_eq!(seen[..shorter], known[..shorter], "key {key}");
                        if seen.len() > known.len() {
                            *known = seen.to_vec();
                        }
                    }
                    Mop::Read { .. } => {}
                }
            }
        }
        assert!(appends.values().all(|&n| n <= 8), "{appends:?}");
        assert!(appends.len() > 10, "keys retire and fresh ones come");
    }

    #[test]
    fn crashed_clients_continue_under_a_new_process() {
        let generated = generate_txn(&TxnGenOptions {
            crash_rate: 0.3,
            ..options(5)
        })
        .unwrap();
        let history = &generated.history;
        let crashed: Vec<&Txn> = history
            .txns
            .iter()
            .filter(|t| t.status == Status::Unknown)
            .collect();
        assert!(!crashed.is_empty());
        for txn in crashed {
            assert!(
                history
                    .txns
                    .iter()
                    .all(|later| later.process != txn.process || later.call <= txn.call),
                "process {} invoked again after its crash",
                txn.process
            );
        }
    }

    #[test]
    fn the_average_number_of_micro_ops_follows_the_option() {
        for mops in [1.0, 2.5, 4.0] {
            let generated = generate_txn(&TxnGenOptions {
                txns: 2_000,
                mops,
                ..options(7)
            })
            .unwrap();
            let average = generated.history.mops.len() as f64 / generated.history.txns.len() as f64;
            assert!((average - mops).abs() < 0.1, "{mops}: {average}");
        }
    }

    #[test]
    fn an_injected_group_is_named_and_overlaps_in_time() {
        let generated = generate_txn(&TxnGenOptions {
            anomaly: Some(TxnAnomalyKind::GSingle),
            ..options(8)
        })
        .unwrap();
        let history = &generated.history;
        assert_eq!(generated.injected.len(), 3);
        assert_eq!(history.txns.len(), 303);
        let group: Vec<&Txn> = history
            .txns
            .iter()
            .filter(|t| generated.injected.contains(&t.id))
            .collect();
        let last_call = group.iter().map(|t| t.call).max().unwrap();
        let first_ret = group.iter().map(|t| t.ret.unwrap()).min().unwrap();
        assert!(last_call < first_ret, "the group's intervals overlap");
        // Other transactions run while the group does.
        assert!(history
            .txns
            .iter()
            .any(|t| t.call > last_call && t.call < first_ret));
    }

    /// Whether the dependency graph of `history` (ww, wr, rw edges from
    /// the version orders its reads give, plus real-time edges) has a
    /// cycle: a small oracle for what the generator promises. Crashed
    /// transactions count as committed when something reads their appends.
    fn has_cycle(history: &TxnHistory) -> bool {
        use petgraph::graph::DiGraph;
        let mut writer: HashMap<(KeyId, Elem), usize> = HashMap::new();
        let mut longest: HashMap<KeyId, Vec<Elem>> = HashMap::new();
        for (t, txn) in history.txns.iter().enumerate() {
            for mop in history.mops_of(txn) {
                match mop {
                    Mop::Append { key, elem } => {
                        assert!(writer.insert((*key, *elem), t).is_none(), "unique elements");
                    }
                    Mop::Read {
                        key,
                        elems: Some(range),
                    } => {
                        let seen = history.elems(range);
                        let known = longest.entry(*key).or_default();
                        if seen.len() > known.len() {
                            *known = seen.to_vec();
                        }
                    }
                    Mop::Read { .. } => {}
                }
            }
        }
        let mut graph = DiGraph::<(), ()>::new();
        let nodes: Vec<_> = history.txns.iter().map(|_| graph.add_node(())).collect();
        let mut edge = |from: usize, to: usize| {
            if from != to {
                graph.add_edge(nodes[from], nodes[to], ());
            }
        };
        for (key, order) in &longest {
            for pair in order.windows(2) {
                edge(writer[&(*key, pair[0])], writer[&(*key, pair[1])]);
            }
        }
        for (t, txn) in history.txns.iter().enumerate() {
            for mop in history.mops_of(txn) {
                let Mop::Read {
                    key,
                    elems: Some(range),
                } = mop
                else {
                    continue;
                };
                let seen = history.elems(range);
                if let Some(last) = seen.last() {
                    edge(writer[&(*key, *last)], t);
                }
                if let Some(next) = longest[key].get(seen.len()) {
                    edge(t, writer[&(*key, *next)]);
                }
            }
        }
        for (a, first) in history.txns.iter().enumerate() {
            for (b, second) in history.txns.iter().enumerate() {
                if first.ret.is_some_and(|ret| ret < second.call) {
                    edge(a, b);
                }
            }
        }
        petgraph::algo::is_cyclic_directed(&graph)
    }

    #[test]
    fn generated_histories_are_strict_serializable_by_the_small_oracle() {
        for seed in 0..6 {
            let generated = generate_txn(&TxnGenOptions {
                txns: 200,
                hot_keys: 3,
                crash_rate: 0.1,
                fail_rate: 0.05,
                ..options(seed)
            })
            .unwrap();
            assert!(!has_cycle(&generated.history), "seed {seed}");
        }
    }

    #[test]
    fn each_injected_cycle_is_a_cycle_for_the_small_oracle() {
        for kind in TxnAnomalyKind::ALL {
            let generated = generate_txn(&TxnGenOptions {
                txns: 200,
                anomaly: Some(kind),
                ..options(9)
            })
            .unwrap();
            let cycle = matches!(
                kind,
                TxnAnomalyKind::G0
                    | TxnAnomalyKind::G1c
                    | TxnAnomalyKind::GSingle
                    | TxnAnomalyKind::GNonadjacent
                    | TxnAnomalyKind::G2Item
            );
            // The others are no cycle of this oracle (it takes each
            // longest read as the order, so an incompatible order or a
            // duplicate is no cycle either).
            if !matches!(
                kind,
                TxnAnomalyKind::DuplicateAppend
                    | TxnAnomalyKind::IncompatibleOrder
                    | TxnAnomalyKind::GarbageRead
                    | TxnAnomalyKind::G1b
            ) {
                assert_eq!(has_cycle(&generated.history), cycle, "{kind}");
            }
        }
    }

    #[test]
    fn names_parse_in_any_case_and_unknown_names_list_the_kinds() {
        for anomaly in TxnAnomalyKind::ALL {
            assert_eq!(anomaly.name().parse::<TxnAnomalyKind>(), Ok(anomaly));
        }
        assert_eq!(
            "g-single".parse::<TxnAnomalyKind>(),
            Ok(TxnAnomalyKind::GSingle)
        );
        let err = "G3".parse::<TxnAnomalyKind>().unwrap_err();
        assert!(
            err.contains("G2-item") && err.contains("lost-append"),
            "{err}"
        );
    }

    #[test]
    fn options_out_of_range_are_named() {
        let err = generate_txn(&TxnGenOptions {
            mops: 5.0,
            ..options(0)
        })
        .unwrap_err();
        assert!(err.contains("micro-ops"), "{err}");
        let err = generate_txn(&TxnGenOptions {
            crash_rate: 2.0,
            ..options(0)
        })
        .unwrap_err();
        assert!(err.contains("crash rate"), "{err}");
    }
}
