//! The history list of Horn & Kroening, over which the search finds the ops
//! eligible next.

use super::KeyOp;
use crate::model::Model;

/// The history list of Horn & Kroening: call and return entries of the required
/// ops in real-time order, in a circular doubly linked list with a sentinel.
/// Linearizing an op lifts both of its entries; backtracking puts them back.
pub(super) struct EntryList {
    /// For each entry: (required op, is the call).
    pub(super) entries: Vec<(u32, bool)>,
    /// Time of each entry (the call or return position).
    pub(super) times: Vec<u64>,
    pub(super) next: Vec<u32>,
    prev: Vec<u32>,
    /// Per required op: its call entry and its return entry.
    slots: Vec<(u32, u32)>,
}

impl EntryList {
    pub(super) fn new<M: Model>(required: &[KeyOp<M>]) -> Self {
        let mut order: Vec<(u64, bool, u32)> = Vec::with_capacity(required.len() * 2);
        for (i, op) in required.iter().enumerate() {
            let i = u32::try_from(i).expect("fewer than 2^32 ops per key");
            // Closed intervals: at equal positions calls sort before returns,
            // so ops that touch are concurrent.
            order.push((op.call, false, i));
            order.push((op.ret, true, i));
        }
        order.sort_unstable();
        let n = order.len();
        let sentinel = u32::try_from(n).expect("fewer than 2^31 ops per key");
        let mut slots = vec![(0, 0); required.len()];
        let mut entries = Vec::with_capacity(n);
        let mut times = Vec::with_capacity(n);
        for (pos, &(time, is_return, op)) in order.iter().enumerate() {
            let pos = pos as u32;
            if is_return {
                slots[op as usize].1 = pos;
            } else {
                slots[op as usize].0 = pos;
            }
            entries.push((op, !is_return));
            times.push(time);
        }
        let next = (0..=n as u32)
            .map(|i| if i == sentinel { 0 } else { i + 1 })
            .collect();
        let prev = (0..=n as u32)
            .map(|i| if i == 0 { sentinel } else { i - 1 })
            .collect();
        let mut list = EntryList {
            entries,
            times,
            next,
            prev,
            slots,
        };
        if n == 0 {
            list.next[0] = 0;
            list.prev[0] = 0;
        }
        list
    }

    pub(super) fn sentinel(&self) -> u32 {
        self.entries.len() as u32
    }

    fn remove(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = n;
        self.prev[n as usize] = p;
    }

    fn restore(&mut self, x: u32) {
        let (p, n) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        self.prev[n as usize] = x;
    }

    pub(super) fn lift(&mut self, op: usize) {
        let (call, ret) = self.slots[op];
        self.remove(call);
        self.remove(ret);
    }

    /// Undoes the matching [`EntryList::lift`]; lifts must be undone in reverse order.
    pub(super) fn unlift(&mut self, op: usize) {
        let (call, ret) = self.slots[op];
        self.restore(ret);
        self.restore(call);
    }
}
