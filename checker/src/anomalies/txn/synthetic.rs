//! Synthetic list-append histories of a serial execution run by concurrent
//! clients, for benchmarks and property tests: valid under strict
//! serializability by construction (each transaction takes effect at one
//! instant inside its interval, in a single serial order).

use super::{KeyName, Mop, Status, Txn, TxnHistory};

/// The shape of a synthetic history.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Transactions.
    pub txns: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Most micro-ops per transaction (each has 1..=max, uniformly: 4 on
    /// average for 7).
    pub max_mops: usize,
    /// Keys in use at once.
    pub hot_keys: usize,
    /// Appends after which a key retires (a fresh key takes its place).
    pub retire_after: usize,
    /// Fraction of transactions that crash (`info`), per million; half of
    /// them took effect.
    pub info_ppm: u32,
    /// Fraction of transactions that abort (`fail`), per million.
    pub fail_ppm: u32,
    /// Fraction of reads that return a stale prefix (a shorter list than
    /// the key's), per million: 0 keeps the history valid.
    pub stale_ppm: u32,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for Shape {
    /// 1,000 transactions, 10 clients, 4 micro-ops on average, 8 hot keys
    /// retiring after 32 appends, 1 % crashed, 1 % aborted.
    fn default() -> Shape {
        Shape {
            txns: 1000,
            clients: 10,
            max_mops: 7,
            hot_keys: 8,
            retire_after: 32,
            info_ppm: 10_000,
            fail_ppm: 10_000,
            stale_ppm: 0,
            seed: 1,
        }
    }
}

pub use crate::synth::Rng;

/// True with probability `ppm` per million.
fn chance(rng: &mut Rng, ppm: u32) -> bool {
    rng.below(1_000_000) < u64::from(ppm)
}

/// A history of `shape`: transaction `i` takes effect at time `10 i`, inside
/// its interval, so the serial order is also the real-time order.
pub fn serial_history(shape: &Shape) -> TxnHistory {
    let mut rng = Rng::new(shape.seed);
    let mut h = TxnHistory::default();
    // Per key: its current list.
    let mut lists: Vec<Vec<i64>> = Vec::new();
    let mut hot: Vec<u32> = Vec::new();
    let fresh_key = |h: &mut TxnHistory, lists: &mut Vec<Vec<i64>>| {
        let k = h.keys.len() as u32;
        h.keys.push(KeyName::Int(k as i64));
        lists.push(Vec::new());
        k
    };
    for _ in 0..shape.hot_keys.max(1) {
        let k = fresh_key(&mut h, &mut lists);
        hot.push(k);
    }
    let clients = shape.clients.max(1) as u64;
    let spread = 5 * clients;
    // (time, is_completion, txn) events to turn into positions.
    let mut times: Vec<(u64, u64, Option<u64>)> = Vec::with_capacity(shape.txns);
    for i in 0..shape.txns {
        let point = 10 * (i as u64 + 1) + 10 * spread;
        let call = point - rng.below(spread);
        let ret = point + rng.below(spread);
        let status = if chance(&mut rng, shape.info_ppm) {
            Status::Unknown
        } else if chance(&mut rng, shape.fail_ppm) {
            Status::Aborted
        } else {
            Status::Committed
        };
        let applies = match status {
            Status::Committed => true,
            Status::Aborted => false,
            Status::Unknown => chance(&mut rng, 500_000),
        };
        let nmops = 1 + rng.below(shape.max_mops.max(1) as u64) as usize;
        let start = h.mops.len() as u32;
        let mut retired: Vec<usize> = Vec::new();
        for _ in 0..nmops {
            let slot = rng.below(hot.len() as u64) as usize;
            let key = hot[slot];
            if chance(&mut rng, 500_000) {
                let elems = (status == Status::Committed).then(|| {
                    let from = h.read_elems.len() as u32;
                    let list = &lists[key as usize];
                    let len = if shape.stale_ppm > 0
                        && !list.is_empty()
                        && chance(&mut rng, shape.stale_ppm)
                    {
                        rng.below(list.len() as u64) as usize
                    } else {
                        list.len()
                    };
                    h.read_elems.extend_from_slice(&list[..len]);
                    from..h.read_elems.len() as u32
                });
                h.mops.push(Mop::Read { key, elems });
            } else {
                // Unique per key even when the append does not take effect.
                let elem = (i as i64) * 16 + (h.mops.len() as i64 - start as i64);
                if applies {
                    lists[key as usize].push(elem);
                }
                h.mops.push(Mop::Append { key, elem });
                if lists[key as usize].len() >= shape.retire_after && !retired.contains(&slot) {
                    retired.push(slot);
                }
            }
        }
        for slot in retired {
            hot[slot] = fresh_key(&mut h, &mut lists);
        }
        h.txns.push(Txn {
            id: 0,
            process: i as u64 % clients,
            status,
            call,
            ret: (status != Status::Unknown).then_some(ret),
            call_time: Some(call),
            ret_time: (status != Status::Unknown).then_some(ret),
            line: 0,
            mops: start..h.mops.len() as u32,
        });
        times.push((call, ret, (status != Status::Unknown).then_some(ret)));
    }
    // Event positions: every invoke and completion, in time order.
    let mut events: Vec<(u64, u32, bool)> = Vec::with_capacity(2 * h.txns.len());
    for (t, &(call, _, ret)) in times.iter().enumerate() {
        events.push((call, t as u32, false));
        if let Some(ret) = ret {
            events.push((ret, t as u32, true));
        }
    }
    events.sort_unstable();
    for (pos, &(_, t, completion)) in events.iter().enumerate() {
        let txn = &mut h.txns[t as usize];
        if completion {
            txn.ret = Some(pos as u64);
        } else {
            txn.call = pos as u64;
        }
    }
    h.txns.sort_by_key(|t| t.call);
    for (n, txn) in h.txns.iter_mut().enumerate() {
        txn.id = 2 * n as u64;
        txn.line = n as u64 + 1;
    }
    h
}
