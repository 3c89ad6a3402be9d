//! The linearizability search for one key: Wing & Gong / Lowe depth-first search
//! with a memo of explored configurations.
//!
//! A configuration is (required ops linearized, model state, crashed ops used).
//! The search differs from Porcupine's in four exact ways, each argued below:
//! crashed ops never have to be linearized; configurations are pruned by
//! dominance on the crashed ops used; an eligible op that matches the current
//! state and cannot change it is placed without branching; and among identical
//! eligible ops only the one that returns first is tried.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::model::Model;

/// Position meaning "never returned": the op stays open to the end.
pub const NEVER: u64 = u64::MAX;

/// One typed operation of a key's history.
#[derive(Debug)]
pub struct KeyOp<M: Model> {
    /// Index of the op in the caller's list (returned in witnesses).
    pub index: usize,
    /// Position of the call.
    pub call: u64,
    /// Position of the completion; [`NEVER`] for crashed ops.
    pub ret: u64,
    /// The typed call.
    pub input: M::Input,
    /// The observed result; `None` when unknown (the op is then optional).
    pub output: Option<M::Output>,
}

impl<M: Model> Clone for KeyOp<M> {
    fn clone(&self) -> Self {
        KeyOp {
            index: self.index,
            call: self.call,
            ret: self.ret,
            input: self.input.clone(),
            output: self.output.clone(),
        }
    }
}

/// Limits for one search. The search reads the clock only to compare it with
/// `deadline`; its verdicts never depend on time otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// Give up with `Unknown` after this instant.
    pub deadline: Option<Instant>,
    /// Give up with `Unknown` when the memo would grow past this many bytes.
    pub memory_bytes: usize,
    /// Give up with `Unknown` after exploring this many configurations.
    pub configurations: u64,
    /// Give up with `Unknown` once this flag is set (another key failed).
    pub stop: Option<&'a AtomicBool>,
}

impl Default for Limits<'_> {
    fn default() -> Self {
        Limits {
            deadline: None,
            memory_bytes: usize::MAX,
            configurations: u64::MAX,
            stop: None,
        }
    }
}

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The deadline passed.
    Time,
    /// The memo reached the memory limit.
    Memory,
    /// The configuration budget of this round ran out.
    Configurations,
    /// The caller asked the search to stop.
    Stopped,
}

/// What the search found for one key.
#[derive(Debug, Clone)]
pub enum SearchResult<M: Model> {
    /// A witness: `KeyOp::index` values in the order they take effect.
    Linearizable(Vec<usize>),
    /// No order exists.
    Violation(Stuck<M>),
    /// A budget ran out first.
    Unknown(Budget),
}

/// Where the search got stuck: the longest linearizable prefix it found, and
/// the op that could not be placed after it.
#[derive(Debug, Clone)]
pub struct Stuck<M: Model> {
    /// The prefix: `KeyOp::index` values and the state after each.
    pub prefix: Vec<(usize, M::State)>,
    /// The state after the prefix (the initial state when it is empty).
    pub state: M::State,
    /// `KeyOp::index` of the first op (by completion) still not placed.
    pub stuck_on: usize,
    /// Distinct states in which placing that op was tried and failed.
    pub tried: Vec<M::State>,
}

/// Statistics of one search.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Configurations entered.
    pub configurations: u64,
    /// Bytes the memo grew by (an upper bound: entries it replaced are not
    /// subtracted); the lookahead's bitsets are counted in the budget apart.
    pub memo_bytes: usize,
    /// Configurations cut by the lookahead.
    pub pruned: u64,
    /// Configurations cut by the memo.
    pub memo_hits: u64,
    /// Configurations memoized under the unobservable placeholder state.
    pub canonical: u64,
}

type StateId = u32;
/// Memo placeholder for a state that no unplaced op can observe.
const UNOBSERVABLE: StateId = StateId::MAX;
type ClassId = u32;

/// A growable bitset with the few operations the memo needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Bits(Box<[u64]>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)].into_boxed_slice())
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn is_subset_of(&self, other: &Bits) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }
    fn bytes(&self) -> usize {
        self.0.len() * 8
    }
}

/// splitmix64: Zobrist keys for the incremental hash of the linearized set.
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Interned states and a cache of transitions per (state, op class).
struct States<'m, M: Model> {
    model: &'m M,
    ids: FxHashMap<M::State, StateId>,
    states: Vec<M::State>,
    transitions: FxHashMap<(StateId, ClassId), Option<StateId>>,
}

impl<'m, M: Model> States<'m, M> {
    fn new(model: &'m M) -> Self {
        States {
            model,
            ids: FxHashMap::default(),
            states: Vec::new(),
            transitions: FxHashMap::default(),
        }
    }

    fn intern(&mut self, state: M::State) -> StateId {
        if let Some(&id) = self.ids.get(&state) {
            return id;
        }
        let id = StateId::try_from(self.states.len()).expect("fewer than 2^32 model states");
        self.states.push(state.clone());
        self.ids.insert(state, id);
        id
    }

    /// The state after `op` (of class `class`) in `state`, or `None` when the
    /// op's observed output is impossible there.
    fn step(&mut self, state: StateId, class: ClassId, op: &KeyOp<M>) -> Option<StateId> {
        if let Some(&next) = self.transitions.get(&(state, class)) {
            return next;
        }
        let current = &self.states[state as usize];
        let next = match &op.output {
            Some(output) => self.model.step(current, &op.input, output),
            None => Some(self.model.apply(current, &op.input).0),
        };
        let next = next.map(|s| self.intern(s));
        self.transitions.insert((state, class), next);
        next
    }
}

/// One stored configuration: the exact set of required ops linearized, and the
/// antichain of crashed-op sets with which it was already explored.
struct MemoEntry {
    state: StateId,
    required: Bits,
    used: Vec<Bits>,
}

/// The history list of Horn & Kroening: call and return entries of the required
/// ops in real-time order, in a circular doubly linked list with a sentinel.
/// Linearizing an op lifts both of its entries; backtracking puts them back.
struct EntryList {
    /// For each entry: (required op, is the call).
    entries: Vec<(u32, bool)>,
    /// Time of each entry (the call or return position).
    times: Vec<u64>,
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Per required op: its call entry and its return entry.
    slots: Vec<(u32, u32)>,
}

impl EntryList {
    fn new<M: Model>(required: &[KeyOp<M>]) -> Self {
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

    fn sentinel(&self) -> u32 {
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

    fn lift(&mut self, op: usize) {
        let (call, ret) = self.slots[op];
        self.remove(call);
        self.remove(ret);
    }

    /// Undoes the matching [`EntryList::lift`]; lifts must be undone in reverse order.
    fn unlift(&mut self, op: usize) {
        let (call, ret) = self.slots[op];
        self.restore(ret);
        self.restore(call);
    }
}

/// The lookahead of monotone models (see [`Model::may_become_valid`]).
///
/// A configuration is dead when some unplaced required op can become valid
/// neither from the current state (by non-reset ops) nor after any unplaced
/// reset whose call is not after the op's return. Per state, the set of
/// required ops it cannot reach is computed once (`bad`); which ops are still
/// rescued by an unplaced reset is maintained incrementally (`rescued`), so the
/// test is a few word operations per configuration.
struct Lookahead {
    active: bool,
    /// Bytes held by the per-state bitsets, counted in the memory budget.
    bytes: usize,
    /// The observers, as a set of required ops.
    observer_bits: Bits,
    n_req: usize,
    observers: Vec<usize>,
    /// Per state id: the observers that state can no longer reach.
    bad: Vec<Option<Bits>>,
    /// Per observer (indexed by required op): unplaced resets that rescue it.
    count: Vec<u32>,
    rescued: Bits,
    /// Per candidate index (required, then optional): the reset's rescued ops.
    rescues: Vec<Vec<u32>>,
}

impl Lookahead {
    fn new<M: Model>(
        model: &M,
        required: &[KeyOp<M>],
        optional: &[KeyOp<M>],
        states: &mut States<M>,
        init: StateId,
    ) -> Self {
        let n_req = required.len();
        let observers: Vec<usize> = (0..n_req)
            .filter(|&g| {
                let op = &required[g];
                model.is_observation(&op.input, op.output.as_ref().expect("required"))
            })
            .collect();
        let active = !observers.is_empty();
        let mut count = vec![0u32; n_req];
        let mut rescued = Bits::new(n_req);
        let mut rescues = vec![Vec::new(); n_req + optional.len()];
        if active {
            let init_state = states.states[init as usize].clone();
            for (c, op) in required.iter().chain(optional.iter()).enumerate() {
                if !model.is_reset(&op.input) {
                    continue;
                }
                let after = model.apply(&init_state, &op.input).0;
                for &g in &observers {
                    let obs = &required[g];
                    if op.call <= obs.ret
                        && c != g
                        && model.may_become_valid(
                            &after,
                            &obs.input,
                            obs.output.as_ref().expect("required"),
                        )
                    {
                        count[g] += 1;
                        rescued.set(g);
                        rescues[c].push(g as u32);
                    }
                }
            }
        }
        let mut observer_bits = Bits::new(n_req);
        for &g in &observers {
            observer_bits.set(g);
        }
        Lookahead {
            active,
            bytes: 0,
            observer_bits,
            n_req,
            observers,
            bad: Vec::new(),
            count,
            rescued,
            rescues,
        }
    }

    fn place(&mut self, c: usize) {
        for &g in &self.rescues[c] {
            let g = g as usize;
            self.count[g] -= 1;
            if self.count[g] == 0 {
                self.rescued.clear(g);
            }
        }
    }

    fn unplace(&mut self, c: usize) {
        for &g in &self.rescues[c] {
            let g = g as usize;
            if self.count[g] == 0 {
                self.rescued.set(g);
            }
            self.count[g] += 1;
        }
    }

    /// Whether the configuration reached from state `parent` by `by` (an op
    /// of the key, placed or used) into state `state` is dead.
    #[allow(clippy::too_many_arguments)]
    fn dead<M: Model>(
        &mut self,
        model: &M,
        required: &[KeyOp<M>],
        by: &KeyOp<M>,
        states: &States<M>,
        parent: StateId,
        state: StateId,
        lin_req: &Bits,
    ) -> (Option<usize>, bool) {
        let s = state as usize;
        if self.bad.len() <= s {
            self.bad.resize(s + 1, None);
        }
        if self.bad[s].is_none() {
            let p = parent as usize;
            let incremental =
                !model.is_reset(&by.input) && self.bad.get(p).is_some_and(Option::is_some);
            let bad = if incremental {
                // The state only grew by `by`: what the parent could not reach
                // stays unreachable, and the others need only the new part
                // checked (Model::may_stay_valid).
                let mut bad = self.bad[p].clone().expect("checked");
                let (before, after) = (&states.states[p], &states.states[s]);
                for &g in &self.observers {
                    if bad.get(g) {
                        continue;
                    }
                    let op = &required[g];
                    let output = op.output.as_ref().expect("required");
                    if !model.may_stay_valid(before, &by.input, after, &op.input, output) {
                        bad.set(g);
                    }
                }
                bad
            } else {
                self.scratch(model, required, states, state)
            };
            self.bytes += bad.bytes();
            self.bad[s] = Some(bad);
        }
        let bad = self.bad[s].as_ref().expect("just computed");
        // Dead: some unplaced observer is out of reach and not rescued; it
        // is returned to explain a violation.
        let dead = bad
            .0
            .iter()
            .zip(lin_req.0.iter())
            .zip(self.rescued.0.iter())
            .enumerate()
            .find_map(|(w, ((b, l), r))| {
                let x = b & !l & !r;
                (x != 0).then(|| w * 64 + x.trailing_zeros() as usize)
            });
        // Unobservable: every unplaced observer is out of reach of `state`.
        let unobservable = self
            .observer_bits
            .0
            .iter()
            .zip(lin_req.0.iter())
            .zip(bad.0.iter())
            .all(|((o, l), b)| o & !l & !b == 0);
        (dead, unobservable)
    }

    /// The observers `state` cannot reach, computed from scratch.
    fn scratch<M: Model>(
        &self,
        model: &M,
        required: &[KeyOp<M>],
        states: &States<M>,
        state: StateId,
    ) -> Bits {
        let mut bad = Bits::new(self.n_req);
        let current = &states.states[state as usize];
        for &g in &self.observers {
            let op = &required[g];
            if !model.may_become_valid(current, &op.input, op.output.as_ref().expect("required")) {
                bad.set(g);
            }
        }
        bad
    }

    /// Computes the root state's set, so that every later one is incremental.
    fn root<M: Model>(
        &mut self,
        model: &M,
        required: &[KeyOp<M>],
        states: &States<M>,
        init: StateId,
    ) {
        if self.active {
            let bad = self.scratch(model, required, states, init);
            if self.bad.len() <= init as usize {
                self.bad.resize(init as usize + 1, None);
            }
            self.bytes += bad.bytes();
            self.bad[init as usize] = Some(bad);
        }
    }
}

/// A frame of the depth-first search: the op placed to get here (if any), the
/// state after it, and the candidates still to try from here.
struct Frame {
    placed: Option<u32>,
    state: StateId,
    candidates_start: usize,
    next: usize,
}

/// Decides whether `ops` (one key's operations) are linearizable for `model`.
pub fn search<M: Model>(model: &M, ops: &[KeyOp<M>], limits: Limits) -> (SearchResult<M>, Stats) {
    // A crashed op that cannot change the state constrains nothing: drop it.
    let mut required: Vec<KeyOp<M>> = Vec::new();
    let mut optional: Vec<KeyOp<M>> = Vec::new();
    for op in ops {
        match op.output {
            Some(_) => required.push(op.clone()),
            None if model.is_read_only(&op.input) => {}
            None => optional.push(KeyOp {
                ret: NEVER,
                ..op.clone()
            }),
        }
    }
    required.sort_by_key(|op| (op.call, op.ret));
    optional.sort_by_key(|op| op.call);
    let n_req = required.len();
    let n_opt = optional.len();

    // Classes of identical ops (same input and output): transitions are cached
    // per class, and symmetric candidates are recognised by class.
    let mut class_ids: FxHashMap<(M::Input, Option<M::Output>), ClassId> = FxHashMap::default();
    let mut class_of = |op: &KeyOp<M>| {
        let next = class_ids.len() as ClassId;
        *class_ids
            .entry((op.input.clone(), op.output.clone()))
            .or_insert(next)
    };
    let req_class: Vec<ClassId> = required.iter().map(&mut class_of).collect();
    let opt_class: Vec<ClassId> = optional.iter().map(&mut class_of).collect();
    let identity: Vec<bool> = required
        .iter()
        .map(|op| {
            let output = op.output.as_ref().expect("required ops have an output");
            model.is_identity_when_valid(&op.input, output)
        })
        .collect();

    let mut states = States::new(model);
    let init = states.intern(model.init());

    // Lookahead (monotone models): every unplaced required op must still be
    // able to become valid, either from the current state by non-reset ops,
    // or after some unplaced reset that may precede it in real time.
    let mut look = Lookahead::new(model, &required, &optional, &mut states, init);
    look.root(model, &required, &states, init);
    let mut list = EntryList::new(&required);
    let mut lin_req = Bits::new(n_req);
    let mut used_opt = Bits::new(n_opt);
    let mut hash: u64 = 0;
    let mut req_done = 0usize;
    let mut memo: FxHashMap<(u64, StateId), Vec<usize>> = FxHashMap::default();
    let mut memo_entries: Vec<MemoEntry> = Vec::new();
    let mut stats = Stats::default();

    let mut candidates: Vec<u32> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();

    // Deepest prefix seen, by the number of required ops in it.
    let mut best: Option<(usize, Vec<u32>, StateId)> = None;
    // Deepest prefix cut by the lookahead, with the observation it cut on.
    let mut cut_best: Option<(usize, Vec<u32>, StateId, usize)> = None;
    let mut tried: Vec<Vec<StateId>> = vec![Vec::new(); n_req];

    let push_candidates = |candidates: &mut Vec<u32>,
                           list: &EntryList,
                           used_opt: &Bits,
                           states: &mut States<M>,
                           state: StateId| {
        let sentinel = list.sentinel();
        let mut x = list.next[sentinel as usize];
        let start = candidates.len();
        // Eligible required ops: calls before the first remaining return.
        while x != sentinel && list.entries[x as usize].1 {
            let op = list.entries[x as usize].0;
            // Forced move: an op that matches the state and cannot change it
            // goes first, alone. Any witness placing it later stays a witness
            // when it is moved here: it is eligible now and leaves every state
            // in which it is valid unchanged.
            if identity[op as usize] {
                let class = req_class[op as usize];
                if states.step(state, class, &required[op as usize]) == Some(state) {
                    candidates.truncate(start);
                    candidates.push(op);
                    return;
                }
            }
            // Symmetry: among identical eligible ops try only the one that
            // returns first. A witness that places a later-returning twin
            // first stays a witness when the two swap places.
            let class = req_class[op as usize];
            let ret = required[op as usize].ret;
            let mut keep = true;
            for slot in candidates[start..].iter_mut() {
                let other = *slot as usize;
                if req_class[other] == class {
                    if ret < required[other].ret {
                        *slot = op;
                    }
                    keep = false;
                    break;
                }
            }
            if keep {
                candidates.push(op);
            }
            x = list.next[x as usize];
        }
        let bound = if x == sentinel {
            NEVER
        } else {
            list.times[x as usize]
        };
        // Eligible crashed ops, after the required ones; identical crashed ops
        // are interchangeable, so only the first unused one of a class is tried.
        let req_end = candidates.len();
        for (i, op) in optional.iter().enumerate() {
            if op.call > bound {
                break;
            }
            if used_opt.get(i) {
                continue;
            }
            let class = opt_class[i];
            let twin = candidates[req_end..]
                .iter()
                .any(|&c| opt_class[c as usize - n_req] == class);
            if !twin {
                candidates.push((n_req + i) as u32);
            }
        }
    };

    push_candidates(&mut candidates, &list, &used_opt, &mut states, init);
    frames.push(Frame {
        placed: None,
        state: init,
        candidates_start: 0,
        next: 0,
    });

    loop {
        if req_done == n_req {
            let witness = frames
                .iter()
                .filter_map(|f| f.placed)
                .map(|c| {
                    let c = c as usize;
                    if c < n_req {
                        required[c].index
                    } else {
                        optional[c - n_req].index
                    }
                })
                .collect();
            return (SearchResult::Linearizable(witness), stats);
        }
        stats.configurations += 1;
        if stats.configurations % 4096 == 0 {
            let budget = if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                Some(Budget::Time)
            } else if limits.stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
                Some(Budget::Stopped)
            } else if stats.configurations >= limits.configurations {
                Some(Budget::Configurations)
            } else {
                None
            };
            if let Some(budget) = budget {
                return (SearchResult::Unknown(budget), stats);
            }
        }

        let top = frames.len() - 1;
        let frame = &frames[top];
        // The top frame's candidates are always the tail of `candidates`.
        if frame.candidates_start + frame.next >= candidates.len() {
            // Every candidate from here failed: backtrack.
            if best.as_ref().is_none_or(|(done, _, _)| req_done > *done) {
                let prefix = frames.iter().filter_map(|f| f.placed).collect();
                best = Some((req_done, prefix, frame.state));
            }
            let frame = frames
                .pop()
                .expect("the stack is not empty inside the loop");
            candidates.truncate(frame.candidates_start);
            let Some(placed) = frame.placed else {
                break;
            };
            let placed = placed as usize;
            look.unplace(placed);
            unmark(placed, n_req, &mut lin_req, &mut hash, &mut used_opt);
            if placed < n_req {
                list.unlift(placed);
                req_done -= 1;
            }
            continue;
        }

        let candidate = candidates[frame.candidates_start + frame.next] as usize;
        let state = frame.state;
        frames[top].next += 1;
        let next = if candidate < n_req {
            states.step(state, req_class[candidate], &required[candidate])
        } else {
            let i = candidate - n_req;
            states.step(state, opt_class[i], &optional[i])
        };
        let Some(next) = next else {
            if candidate < n_req && tried[candidate].len() < 8 && !tried[candidate].contains(&state)
            {
                tried[candidate].push(state);
            }
            continue;
        };

        mark(candidate, n_req, &mut lin_req, &mut hash, &mut used_opt);
        look.place(candidate);

        // Lookahead: drop a dead configuration; and when no unplaced op can
        // observe the current state any more (every future observation needs
        // a reset first), the state no longer matters: key the memo on a
        // placeholder so that configurations differing only in it merge.
        let mut memo_state = next;
        if look.active {
            let by = if candidate < n_req {
                &required[candidate]
            } else {
                &optional[candidate - n_req]
            };
            let (dead, unobservable) =
                look.dead(model, &required, by, &states, state, next, &lin_req);
            if let Some(killer) = dead {
                stats.pruned += 1;
                // Remember the deepest prefix cut this way, to explain a
                // violation by the observation that became unreachable.
                let depth = req_done + usize::from(candidate < n_req);
                if cut_best.as_ref().is_none_or(|(d, _, _, _)| depth > *d) {
                    let mut prefix: Vec<u32> = frames.iter().filter_map(|f| f.placed).collect();
                    prefix.push(candidate as u32);
                    cut_best = Some((depth, prefix, next, killer));
                }
                look.unplace(candidate);
                unmark(candidate, n_req, &mut lin_req, &mut hash, &mut used_opt);
                continue;
            }
            if unobservable {
                memo_state = UNOBSERVABLE;
                stats.canonical += 1;
            }
        }

        // Memo with dominance: a configuration that reached the same required
        // set and state with a subset of the crashed ops used was already fully
        // explored, and it had every option this one has (an unused crashed op
        // may simply never happen), so this one fails too.
        let bucket = memo.entry((hash, memo_state)).or_default();
        let mut seen = None;
        for &e in bucket.iter() {
            if memo_entries[e].state == memo_state && memo_entries[e].required == lin_req {
                seen = Some(e);
                break;
            }
        }
        let dominated = match seen {
            Some(e) => memo_entries[e]
                .used
                .iter()
                .any(|u| u.is_subset_of(&used_opt)),
            None => false,
        };
        if dominated {
            stats.memo_hits += 1;
            look.unplace(candidate);
            unmark(candidate, n_req, &mut lin_req, &mut hash, &mut used_opt);
            continue;
        }
        match seen {
            Some(e) => {
                let entry = &mut memo_entries[e];
                entry.used.retain(|u| !used_opt.is_subset_of(u));
                entry.used.push(used_opt.clone());
                stats.memo_bytes += used_opt.bytes() + 16;
            }
            None => {
                bucket.push(memo_entries.len());
                stats.memo_bytes += lin_req.bytes() + used_opt.bytes() + 64;
                memo_entries.push(MemoEntry {
                    state: memo_state,
                    required: lin_req.clone(),
                    used: vec![used_opt.clone()],
                });
            }
        }
        if stats.memo_bytes + look.bytes > limits.memory_bytes {
            return (SearchResult::Unknown(Budget::Memory), stats);
        }

        if candidate < n_req {
            list.lift(candidate);
            req_done += 1;
        }
        let start = candidates.len();
        push_candidates(&mut candidates, &list, &used_opt, &mut states, next);
        frames.push(Frame {
            placed: Some(candidate as u32),
            state: next,
            candidates_start: start,
            next: 0,
        });
    }

    // The whole tree failed. Report the deepest prefix and the op that could
    // not follow it: the unplaced required op that returns first.
    let (done, prefix, end_state) = best.expect("the root frame is recorded when it is exhausted");
    let (prefix, end_state, cut_on) = match cut_best {
        Some((depth, prefix, state, killer)) if depth >= done => (prefix, state, Some(killer)),
        _ => (prefix, end_state, None),
    };
    let placed: Vec<bool> = {
        let mut placed = vec![false; n_req];
        for &c in &prefix {
            if (c as usize) < n_req {
                placed[c as usize] = true;
            }
        }
        placed
    };
    let stuck = cut_on.unwrap_or_else(|| {
        (0..n_req)
            .filter(|&i| !placed[i])
            .min_by_key(|&i| (required[i].ret, required[i].call))
            .expect("a failed search leaves a required op unplaced")
    });
    if cut_on.is_some() && !tried[stuck].contains(&end_state) {
        tried[stuck].push(end_state);
    }
    let mut state = init;
    let mut prefix_states = Vec::with_capacity(prefix.len());
    for &c in &prefix {
        let c = c as usize;
        let (op, class) = if c < n_req {
            (&required[c], req_class[c])
        } else {
            (&optional[c - n_req], opt_class[c - n_req])
        };
        state = states
            .step(state, class, op)
            .expect("a recorded prefix replays: each step was taken by the search");
        prefix_states.push((op.index, states.states[state as usize].clone()));
    }
    debug_assert_eq!(state, end_state);
    let result = Stuck {
        prefix: prefix_states,
        state: states.states[end_state as usize].clone(),
        stuck_on: required[stuck].index,
        tried: tried[stuck]
            .iter()
            .map(|&s| states.states[s as usize].clone())
            .collect(),
    };
    (SearchResult::Violation(result), stats)
}

/// Marks `candidate` as placed in the linearized sets and their hash.
fn mark(candidate: usize, n_req: usize, lin_req: &mut Bits, hash: &mut u64, used_opt: &mut Bits) {
    if candidate < n_req {
        lin_req.set(candidate);
        *hash ^= zobrist(candidate);
    } else {
        used_opt.set(candidate - n_req);
    }
}

/// Undoes [`mark`].
fn unmark(candidate: usize, n_req: usize, lin_req: &mut Bits, hash: &mut u64, used_opt: &mut Bits) {
    if candidate < n_req {
        lin_req.clear(candidate);
        *hash ^= zobrist(candidate);
    } else {
        used_opt.clear(candidate - n_req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RegOp, RegRet, RegisterModel};

    fn op(
        index: usize,
        call: u64,
        ret: u64,
        input: RegOp,
        output: Option<RegRet>,
    ) -> KeyOp<RegisterModel> {
        KeyOp {
            index,
            call,
            ret,
            input,
            output,
        }
    }

    #[test]
    fn concurrent_write_and_read_linearize_either_way() {
        let model = RegisterModel::new(true, "kv");
        // write(1) [0, 3] and read -> 1 [1, 2]: the read sees the write.
        let ops = [
            op(0, 0, 3, RegOp::Write(1), Some(RegRet::WriteOk)),
            op(1, 1, 2, RegOp::Read, Some(RegRet::ReadOk(1))),
        ];
        let (result, _) = search(&model, &ops, Limits::default());
        match result {
            SearchResult::Linearizable(order) => assert_eq!(order, vec![0, 1]),
            other => panic!("expected linearizable, got {other:?}"),
        }
    }

    #[test]
    fn rejects_stale_read_after_acknowledged_write() {
        let model = RegisterModel::new(true, "kv");
        // write(1) completes at 1, then a read starting at 2 sees null: stale.
        let ops = [
            op(0, 0, 1, RegOp::Write(1), Some(RegRet::WriteOk)),
            op(1, 2, 3, RegOp::Read, Some(RegRet::ReadOk(0))),
        ];
        let (result, _) = search(&model, &ops, Limits::default());
        match result {
            SearchResult::Violation(stuck) => {
                assert_eq!(stuck.stuck_on, 1);
                assert_eq!(stuck.prefix.len(), 1);
                assert_eq!(stuck.state, 1);
            }
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn crashed_write_may_take_effect_late_or_never() {
        let model = RegisterModel::new(true, "kv");
        // A crashed write(1) at 0; reads later see null, then 1.
        let ops = [
            op(0, 0, NEVER, RegOp::Write(1), None),
            op(1, 1, 2, RegOp::Read, Some(RegRet::ReadOk(0))),
            op(2, 3, 4, RegOp::Read, Some(RegRet::ReadOk(1))),
        ];
        let (result, _) = search(&model, &ops, Limits::default());
        assert!(matches!(result, SearchResult::Linearizable(ref w) if w == &vec![1, 0, 2]));
        // And never at all.
        let ops = [
            op(0, 0, NEVER, RegOp::Write(1), None),
            op(1, 1, 2, RegOp::Read, Some(RegRet::ReadOk(0))),
        ];
        let (result, _) = search(&model, &ops, Limits::default());
        assert!(matches!(result, SearchResult::Linearizable(ref w) if w == &vec![1]));
    }

    #[test]
    fn memory_budget_gives_unknown() {
        let model = RegisterModel::new(true, "kv");
        let ops: Vec<_> = (0..20)
            .map(|i| op(i, 0, 100, RegOp::Write(i as u32 % 3), Some(RegRet::WriteOk)))
            .chain(std::iter::once(op(
                20,
                0,
                100,
                RegOp::Read,
                Some(RegRet::ReadOk(7)),
            )))
            .collect();
        let limits = Limits {
            memory_bytes: 1,
            ..Limits::default()
        };
        let (result, _) = search(&model, &ops, limits);
        assert!(matches!(result, SearchResult::Unknown(Budget::Memory)));
    }
}
