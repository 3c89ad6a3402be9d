//! The seeded operation generator: op mixes, unique values, key rotation.

use nemesis::Rng;
use serde::Serialize;
use serde_json::{json, Value};

use crate::txn::{self, MicroOp};
use crate::workload::Workload;

/// One operation to issue: `f` and `value` as docs/design.md's value table has
/// them for an invoke.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpRequest {
    /// The workload the op belongs to; tells a client which call to make
    /// (`add` and `read` mean different calls in different workloads).
    pub workload: Workload,
    /// `read`, `write`, `cas`, `append`, `add`, `publish` or `txn`.
    pub f: String,
    /// The independent key the op touches; empty for a `txn`, whose keys
    /// are inside its value (the history records no `key` for it).
    pub key: String,
    /// The argument: `null` for reads, the value written, `[from, to]` for a
    /// cas, the element appended or added, the counter's delta; for a `txn`
    /// its micro-ops (`["append", key, element]`, `["r", key, null]`).
    pub value: Value,
}

impl OpRequest {
    /// A read of `key` in `workload` (final reads, recovery probes); in the
    /// `txn` workload, a transaction that reads `key` only.
    #[must_use]
    pub fn read(workload: Workload, key: impl Into<String>) -> Self {
        if workload == Workload::Txn {
            return OpRequest::txn_reads(&[key.into()]);
        }
        OpRequest {
            workload,
            f: "read".to_string(),
            key: key.into(),
            value: Value::Null,
        }
    }

    /// A transaction of the `txn` workload holding `ops`.
    #[must_use]
    pub fn txn(ops: &[MicroOp]) -> Self {
        OpRequest {
            workload: Workload::Txn,
            f: TXN.to_string(),
            key: String::new(),
            value: txn::to_invoke(ops),
        }
    }

    /// A read-only transaction that reads each of `keys` once (final reads).
    #[must_use]
    pub fn txn_reads(keys: &[String]) -> Self {
        let ops: Vec<MicroOp> = keys
            .iter()
            .map(|key| MicroOp::Read { key: key.clone() })
            .collect();
        OpRequest::txn(&ops)
    }

    /// Whether the op is a transaction (`f` = `txn`).
    #[must_use]
    pub fn is_txn(&self) -> bool {
        self.f == TXN
    }

    /// The `key` the history records for the op: none for a transaction.
    #[must_use]
    pub fn history_key(&self) -> Option<String> {
        (!self.is_txn()).then(|| self.key.clone())
    }

    /// Whether the op only observes (a read, or a transaction of reads
    /// only): it can have no effect, so any failure of it may be recorded
    /// as `fail`.
    #[must_use]
    pub fn is_read(&self) -> bool {
        match self.f.as_str() {
            "read" => true,
            TXN => txn::parse(&self.value).is_some_and(|ops| txn::is_read_only(&ops)),
            _ => false,
        }
    }
}

/// The `f` of a transaction.
const TXN: &str = "txn";
/// The most micro-ops a generated transaction holds (it holds 1 to this many).
const MAX_TXN_MICRO_OPS: usize = 4;
/// The share of a transaction's micro-ops that are appends, in percent (the
/// rest are reads).
const TXN_APPEND_PERCENT: usize = 50;

/// One key in use, and what the generator has handed out for it.
#[derive(Debug, Clone)]
struct ActiveKey {
    name: String,
    ops: usize,
    /// The last unique value handed out for this key (writes, cas targets,
    /// appended and added elements count up from 1).
    last_value: u64,
    /// The most recent value written to the register (by a write or as a
    /// cas target), the `from` of the next cas.
    last_written: Option<u64>,
}

/// Produces the ops of a run from a seed.
///
/// `active_keys` keys are in use at once; each op picks one at random. A key
/// that has had `ops_per_key` ops is retired and a fresh key takes its slot,
/// so each key's history stays short enough to check (Jepsen's independent
/// keys). Values written, appended or added are unique per key: an integer
/// counting up from 1. The same seed gives the same ops.
///
/// In the `txn` workload each op is a transaction of 1 to 4 micro-ops, each
/// an append (half of them) or a read of an active key picked at random;
/// a key retires once `ops_per_key` elements were appended to it (reads do
/// not count), possibly in the middle of a transaction.
#[derive(Debug, Clone)]
pub struct Generator {
    workload: Workload,
    ops_per_key: usize,
    rng: Rng,
    slots: Vec<ActiveKey>,
    next_key: u64,
    /// Keys that have had at least one op, in order of their first op.
    used: Vec<String>,
}

impl Generator {
    /// A generator for `workload`. `ops_per_key` and `active_keys` below 1
    /// count as 1.
    #[must_use]
    pub fn new(workload: Workload, ops_per_key: usize, active_keys: usize, seed: u64) -> Self {
        let mut generator = Generator {
            workload,
            ops_per_key: ops_per_key.max(1),
            rng: Rng::new(seed),
            slots: Vec::new(),
            next_key: 0,
            used: Vec::new(),
        };
        generator.slots = (0..active_keys.max(1))
            .map(|_| generator.fresh_key())
            .collect();
        generator
    }

    /// The workload this generator produces ops for.
    #[must_use]
    pub fn workload(&self) -> Workload {
        self.workload
    }

    fn fresh_key(&mut self) -> ActiveKey {
        let name = format!("{}{}", self.workload.key_prefix(), self.next_key);
        self.next_key += 1;
        ActiveKey {
            name,
            ops: 0,
            last_value: 0,
            last_written: None,
        }
    }

    /// The next op: on an active key picked at random, by the workload's mix.
    // Not `Iterator`: the stream never ends, so callers get an op, not an `Option`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> OpRequest {
        if self.workload == Workload::Txn {
            return self.next_txn();
        }
        let slot = self.rng.below(self.slots.len());
        let roll = self.rng.below(100);
        // Drawn for every op, used only by counter adds, so that the key and
        // mix choices of a seed do not depend on which ops were adds.
        let sign_roll = self.rng.below(100);
        let key = &mut self.slots[slot];
        if key.ops == 0 {
            self.used.push(key.name.clone());
        }
        key.ops += 1;
        let (f, value) = match self.workload {
            // Register: read 50%, write 30%, cas 20%.
            Workload::Register if roll < 50 => ("read", Value::Null),
            Workload::Register if roll < 80 => {
                key.last_value += 1;
                key.last_written = Some(key.last_value);
                ("write", json!(key.last_value))
            }
            Workload::Register => {
                // `from` is the value most recently handed out for the key, so
                // that a cas succeeds whenever no other write came between.
                let from = key.last_written.map_or(Value::Null, |v| json!(v));
                key.last_value += 1;
                key.last_written = Some(key.last_value);
                ("cas", json!([from, key.last_value]))
            }
            // Append: append 60%, read 40%.
            Workload::Append if roll < 60 => {
                key.last_value += 1;
                ("append", json!(key.last_value))
            }
            Workload::Append => ("read", Value::Null),
            // Counter: add 70% (three in four increments), read 30%.
            Workload::Counter if roll < 70 => ("add", json!(if sign_roll < 75 { 1 } else { -1 })),
            Workload::Counter => ("read", Value::Null),
            // Set: add 80%, read 20%.
            Workload::Set if roll < 80 => {
                key.last_value += 1;
                ("add", json!(key.last_value))
            }
            Workload::Set => ("read", Value::Null),
            // Queue: publish only; the streams are read after the heal
            // (a whole-stream read per op would dominate the run).
            Workload::Queue => {
                key.last_value += 1;
                ("publish", json!(key.last_value))
            }
            Workload::Txn => unreachable!("next() hands txn ops to next_txn() before any draw"),
        };
        let op = OpRequest {
            workload: self.workload,
            f: f.to_string(),
            key: key.name.clone(),
            value,
        };
        if key.ops >= self.ops_per_key {
            self.slots[slot] = self.fresh_key();
        }
        op
    }

    /// The next transaction: 1 to [`MAX_TXN_MICRO_OPS`] micro-ops, each on
    /// an active key picked at random.
    fn next_txn(&mut self) -> OpRequest {
        let count = 1 + self.rng.below(MAX_TXN_MICRO_OPS);
        let mut ops = Vec::with_capacity(count);
        for _ in 0..count {
            let slot = self.rng.below(self.slots.len());
            let appends = self.rng.below(100) < TXN_APPEND_PERCENT;
            let key = &mut self.slots[slot];
            if key.ops == 0 {
                self.used.push(key.name.clone());
            }
            key.ops += 1;
            if appends {
                key.last_value += 1;
                ops.push(MicroOp::Append {
                    key: key.name.clone(),
                    element: json!(key.last_value),
                });
            } else {
                ops.push(MicroOp::Read {
                    key: key.name.clone(),
                });
            }
            // Appends, not micro-ops, wear a key out: reads stay short.
            if key.last_value >= self.ops_per_key as u64 {
                self.slots[slot] = self.fresh_key();
            }
        }
        OpRequest::txn(&ops)
    }

    /// Every key that has had an op so far, in order of its first op.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        self.used.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn ops(workload: Workload, count: usize, seed: u64) -> Vec<OpRequest> {
        let mut generator = Generator::new(
            workload,
            workload.default_ops_per_key(),
            workload.default_active_keys(),
            seed,
        );
        (0..count).map(|_| generator.next()).collect()
    }

    /// Share of ops with `f`, in percent.
    fn share(ops: &[OpRequest], f: &str) -> f64 {
        100.0 * ops.iter().filter(|op| op.f == f).count() as f64 / ops.len() as f64
    }

    #[test]
    fn same_seed_gives_same_ops_and_other_seeds_differ() {
        for workload in Workload::ALL {
            assert_eq!(ops(workload, 500, 7), ops(workload, 500, 7), "{workload}");
            assert_ne!(ops(workload, 500, 7), ops(workload, 500, 8), "{workload}");
        }
    }

    #[test]
    fn retires_a_key_after_ops_per_key_and_hands_out_a_fresh_one() {
        let mut generator = Generator::new(Workload::Register, 10, 3, 1);
        let ops: Vec<OpRequest> = (0..300).map(|_| generator.next()).collect();
        let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
        for op in &ops {
            *per_key.entry(op.key.as_str()).or_default() += 1;
        }
        assert!(per_key.values().all(|&count| count <= 10), "{per_key:?}");
        // 300 ops at 10 per key: at least 28 keys retired, at most 3 open.
        assert!(per_key.len() >= 30, "{per_key:?}");
        assert!(per_key.values().filter(|&&count| count < 10).count() <= 3);
        // Once retired, a key never comes back.
        let last_use: BTreeMap<&str, usize> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| (op.key.as_str(), i))
            .collect();
        for (key, &count) in &per_key {
            if count == 10 {
                let tenth = ops
                    .iter()
                    .enumerate()
                    .filter(|(_, op)| op.key == *key)
                    .nth(9)
                    .map(|(i, _)| i);
                assert_eq!(tenth, Some(last_use[key]), "{key} used after retirement");
            }
        }
        // keys() lists every used key once, in order of first use.
        let mut first_use: Vec<&str> = Vec::new();
        for op in &ops {
            if !first_use.contains(&op.key.as_str()) {
                first_use.push(&op.key);
            }
        }
        assert_eq!(generator.keys(), first_use);
    }

    #[test]
    fn keys_are_named_by_the_workload_prefix() {
        // Transactions carry their keys inside their value (tested below).
        for workload in Workload::ALL
            .into_iter()
            .filter(|&workload| workload != Workload::Txn)
        {
            let ops = ops(workload, 50, 3);
            assert!(ops
                .iter()
                .all(|op| op.key.starts_with(workload.key_prefix())));
        }
    }

    #[test]
    fn written_appended_and_added_values_are_unique_per_key() {
        for workload in [Workload::Register, Workload::Append, Workload::Set] {
            let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
            for op in ops(workload, 3000, 11) {
                let written = match op.f.as_str() {
                    "write" | "append" | "add" => op.value.clone(),
                    "cas" => op.value[1].clone(),
                    _ => continue,
                };
                assert!(
                    seen.insert((op.key.clone(), written.to_string())),
                    "{workload}: {written} handed out twice for {}",
                    op.key
                );
            }
        }
    }

    #[test]
    fn cas_expects_the_value_last_written_to_its_key() {
        let mut last: BTreeMap<String, Value> = BTreeMap::new();
        let mut cas_count = 0;
        for op in ops(Workload::Register, 3000, 5) {
            match op.f.as_str() {
                "write" => {
                    last.insert(op.key.clone(), op.value.clone());
                }
                "cas" => {
                    cas_count += 1;
                    let expected = last.get(&op.key).cloned().unwrap_or(Value::Null);
                    assert_eq!(op.value[0], expected, "{op:?}");
                    last.insert(op.key.clone(), op.value[1].clone());
                }
                _ => assert_eq!(op.value, Value::Null),
            }
        }
        assert!(cas_count > 0);
    }

    #[test]
    fn mixes_are_roughly_as_specified() {
        let register = ops(Workload::Register, 20_000, 9);
        for (f, percent) in [("read", 50.0), ("write", 30.0), ("cas", 20.0)] {
            let got = share(&register, f);
            assert!((got - percent).abs() < 2.0, "register {f}: {got}%");
        }
        let append = ops(Workload::Append, 20_000, 9);
        for (f, percent) in [("append", 60.0), ("read", 40.0)] {
            let got = share(&append, f);
            assert!((got - percent).abs() < 2.0, "append {f}: {got}%");
        }
        let counter = ops(Workload::Counter, 20_000, 9);
        for (f, percent) in [("add", 70.0), ("read", 30.0)] {
            let got = share(&counter, f);
            assert!((got - percent).abs() < 2.0, "counter {f}: {got}%");
        }
        let adds: Vec<&OpRequest> = counter.iter().filter(|op| op.f == "add").collect();
        let increments = adds.iter().filter(|op| op.value == json!(1)).count();
        let decrements = adds.iter().filter(|op| op.value == json!(-1)).count();
        assert_eq!(increments + decrements, adds.len());
        assert!(increments > 2 * decrements && decrements > 0);
        let set = ops(Workload::Set, 20_000, 9);
        for (f, percent) in [("add", 80.0), ("read", 20.0)] {
            let got = share(&set, f);
            assert!((got - percent).abs() < 2.0, "set {f}: {got}%");
        }
    }

    #[test]
    fn reads_carry_null_and_build_like_generated_reads() {
        let read = OpRequest::read(Workload::Set, "s3");
        assert!(read.is_read());
        assert_eq!(read.value, Value::Null);
        assert_eq!(read.key, "s3");
    }

    fn micro_ops(op: &OpRequest) -> Vec<MicroOp> {
        txn::parse(&op.value).expect("generated transactions parse")
    }

    #[test]
    fn transactions_hold_one_to_four_micro_ops_on_t_keys_and_no_op_key() {
        let ops = ops(Workload::Txn, 5000, 3);
        let mut sizes = BTreeSet::new();
        for op in &ops {
            assert_eq!((op.f.as_str(), op.workload), ("txn", Workload::Txn));
            assert_eq!(op.history_key(), None, "a txn records no key");
            let micro = micro_ops(op);
            sizes.insert(micro.len());
            for micro_op in &micro {
                assert!(micro_op.key().starts_with('t'), "{op:?}");
            }
            assert_eq!(op.is_read(), txn::is_read_only(&micro), "{op:?}");
        }
        assert_eq!(sizes, BTreeSet::from([1, 2, 3, 4]));
        let micro: Vec<MicroOp> = ops.iter().flat_map(micro_ops).collect();
        let appends = micro
            .iter()
            .filter(|op| matches!(op, MicroOp::Append { .. }))
            .count();
        let percent = 100.0 * appends as f64 / micro.len() as f64;
        assert!((percent - 50.0).abs() < 2.0, "appends: {percent}%");
        assert!(ops.iter().any(OpRequest::is_read));
    }

    #[test]
    fn transaction_elements_count_up_from_1_per_key_and_never_repeat() {
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for op in ops(Workload::Txn, 5000, 4) {
            for micro_op in micro_ops(&op) {
                if let MicroOp::Append { key, element } = micro_op {
                    let element = element.as_i64().expect("elements are integers");
                    let previous = last.insert(key.clone(), element).unwrap_or(0);
                    assert_eq!(element, previous + 1, "{key}");
                }
            }
        }
        assert!(last.len() > 10, "{last:?}");
    }

    #[test]
    fn transaction_keys_retire_after_ops_per_key_appends_and_never_return() {
        let mut generator = Generator::new(Workload::Txn, 32, 5, 6);
        let ops: Vec<OpRequest> = (0..3000).map(|_| generator.next()).collect();
        // Every micro-op in order, with the position of its transaction.
        let micro: Vec<(usize, MicroOp)> = ops
            .iter()
            .enumerate()
            .flat_map(|(i, op)| micro_ops(op).into_iter().map(move |m| (i, m)))
            .collect();
        let mut appended: BTreeMap<&str, usize> = BTreeMap::new();
        let mut retired: BTreeSet<&str> = BTreeSet::new();
        let mut active: BTreeSet<&str> = BTreeSet::new();
        for (_, micro_op) in &micro {
            let key = micro_op.key();
            assert!(!retired.contains(key), "{key} used after it retired");
            active.insert(key);
            assert!(active.len() <= 5, "more than 5 keys in use: {active:?}");
            if matches!(micro_op, MicroOp::Append { .. }) {
                let count = appended.entry(key).or_default();
                *count += 1;
                if *count == 32 {
                    retired.insert(key);
                    active.remove(key);
                }
            }
        }
        assert!(retired.len() >= 20, "{} keys retired", retired.len());
        assert!(appended.values().all(|&count| count <= 32));
        // keys() lists every key touched once, in order of first use.
        let mut first_use: Vec<String> = Vec::new();
        for (_, micro_op) in &micro {
            if !first_use.iter().any(|key| key == micro_op.key()) {
                first_use.push(micro_op.key().to_string());
            }
        }
        assert_eq!(generator.keys(), first_use);
    }

    #[test]
    fn a_read_in_the_txn_workload_is_a_read_only_transaction() {
        let read = OpRequest::read(Workload::Txn, "t3");
        assert!(read.is_txn() && read.is_read());
        assert_eq!(read.value, json!([["r", "t3", null]]));
        let reads = OpRequest::txn_reads(&["t1".to_string(), "t2".to_string()]);
        assert_eq!(reads.value, json!([["r", "t1", null], ["r", "t2", null]]));
        assert_eq!(reads.history_key(), None);
        assert_eq!(
            OpRequest::read(Workload::Append, "l1").history_key(),
            Some("l1".to_string())
        );
    }
}
