//! The lookahead of monotone models: a configuration in which some
//! observation can no longer become valid is cut.

use super::bits::Bits;
use super::states::States;
use super::{KeyOp, StateId};
use crate::model::Model;

/// The lookahead of monotone models (see [`Model::may_become_valid`]).
///
/// A configuration is dead when some unplaced required op can become valid
/// neither from the current state (by non-reset ops) nor after any unplaced
/// reset whose call is not after the op's return. Per state, the set of
/// required ops it cannot reach is computed once (`bad`); which ops are still
/// rescued by an unplaced reset is maintained incrementally (`rescued`), so the
/// test is a few word operations per configuration.
pub(super) struct Lookahead {
    pub(super) active: bool,
    /// Bytes held by the per-state bitsets, counted in the memory budget.
    pub(super) bytes: usize,
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
    pub(super) fn new<M: Model>(
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

    pub(super) fn place(&mut self, c: usize) {
        for &g in &self.rescues[c] {
            let g = g as usize;
            self.count[g] -= 1;
            if self.count[g] == 0 {
                self.rescued.clear(g);
            }
        }
    }

    pub(super) fn unplace(&mut self, c: usize) {
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
    pub(super) fn dead<M: Model>(
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
    pub(super) fn root<M: Model>(
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
