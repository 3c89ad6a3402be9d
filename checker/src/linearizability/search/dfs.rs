//! The depth-first search over configurations: place an eligible op, prune
//! by lookahead and memo, descend; backtrack when every candidate failed.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::bits::{zobrist, Bits};
use super::candidates::push_candidates;
use super::memo::Memo;
use super::setup::Search;
use super::{Budget, Limits, StateId, Stats, UNOBSERVABLE};
use crate::model::Model;

/// How a depth-first search ended.
pub(super) enum Ended {
    /// A witness: `KeyOp::index` values in the order they take effect.
    Linearizable(Vec<usize>),
    /// A budget ran out first.
    Unknown(Budget),
    /// Every order failed; what is needed to explain why.
    Failed(Failure),
}

/// What an exhausted search leaves for the explanation of its failure.
/// Prefixes are candidates (see [`super::setup::Ops`]) in the order placed.
pub(super) struct Failure {
    /// The deepest prefix seen, by the number of required ops in it: that
    /// number, the prefix and the state after it.
    pub(super) best: (usize, Vec<u32>, StateId),
    /// The deepest prefix cut by the lookahead: its depth, the prefix, the
    /// state after it, and the observation it became unreachable for.
    pub(super) cut_best: Option<(usize, Vec<u32>, StateId, usize)>,
    /// Per required op: distinct states in which placing it failed (at most 8).
    pub(super) tried: Vec<Vec<StateId>>,
}

/// A frame of the depth-first search: the op placed to get here (if any), the
/// state after it, and the candidates still to try from here.
struct Frame {
    placed: Option<u32>,
    state: StateId,
    candidates_start: usize,
    next: usize,
}

/// The search's progress: the configuration it is in, the stack that led
/// there, and what it has learnt.
struct Dfs<'s, 'm, M: Model> {
    search: &'s mut Search<'m, M>,
    n_req: usize,
    /// The required ops linearized, and the Zobrist hash of that set.
    lin_req: Bits,
    hash: u64,
    /// The crashed ops placed.
    used_opt: Bits,
    /// How many required ops are linearized.
    req_done: usize,
    memo: Memo,
    stats: Stats,
    /// Every frame's candidates, the top frame's last.
    candidates: Vec<u32>,
    frames: Vec<Frame>,
    best: Option<(usize, Vec<u32>, StateId)>,
    cut_best: Option<(usize, Vec<u32>, StateId, usize)>,
    tried: Vec<Vec<StateId>>,
}

/// Searches for a witness from `search`'s initial state.
pub(super) fn run<M: Model>(search: &mut Search<M>, limits: Limits) -> (Ended, Stats) {
    let n_req = search.ops.required.len();
    let n_opt = search.ops.optional.len();
    let init = search.init;
    let mut dfs = Dfs {
        search,
        n_req,
        lin_req: Bits::new(n_req),
        hash: 0,
        used_opt: Bits::new(n_opt),
        req_done: 0,
        memo: Memo::default(),
        stats: Stats::default(),
        candidates: Vec::new(),
        frames: Vec::new(),
        best: None,
        cut_best: None,
        tried: vec![Vec::new(); n_req],
    };
    dfs.push_candidates(init);
    dfs.frames.push(Frame {
        placed: None,
        state: init,
        candidates_start: 0,
        next: 0,
    });
    let ended = dfs.run(limits);
    (ended, dfs.stats)
}

impl<M: Model> Dfs<'_, '_, M> {
    fn run(&mut self, limits: Limits) -> Ended {
        loop {
            if self.req_done == self.n_req {
                return Ended::Linearizable(self.witness());
            }
            self.stats.configurations += 1;
            if self.stats.configurations.is_multiple_of(4096) {
                if let Some(budget) = over_budget(&limits, self.stats.configurations) {
                    return Ended::Unknown(budget);
                }
            }
            let frame = &self.frames[self.frames.len() - 1];
            // The top frame's candidates are always the tail of `candidates`.
            if frame.candidates_start + frame.next >= self.candidates.len() {
                if !self.backtrack() {
                    break;
                }
            } else if let Some(budget) = self.try_next(limits.memory_bytes) {
                return Ended::Unknown(budget);
            }
        }
        Ended::Failed(Failure {
            best: self
                .best
                .take()
                .expect("the root frame is recorded when it is exhausted"),
            cut_best: self.cut_best.take(),
            tried: std::mem::take(&mut self.tried),
        })
    }

    /// The placed ops, in order, as `KeyOp::index` values.
    fn witness(&self) -> Vec<usize> {
        self.frames
            .iter()
            .filter_map(|f| f.placed)
            .map(|c| self.search.ops.candidate(c as usize).0.index)
            .collect()
    }

    /// Every candidate of the top frame failed: records its prefix when it
    /// is the deepest yet, and pops it. False when the root was popped.
    fn backtrack(&mut self) -> bool {
        let frame = &self.frames[self.frames.len() - 1];
        if self
            .best
            .as_ref()
            .is_none_or(|(done, _, _)| self.req_done > *done)
        {
            let prefix = self.frames.iter().filter_map(|f| f.placed).collect();
            self.best = Some((self.req_done, prefix, frame.state));
        }
        let frame = self
            .frames
            .pop()
            .expect("the stack is not empty inside the loop");
        self.candidates.truncate(frame.candidates_start);
        let Some(placed) = frame.placed else {
            return false;
        };
        let placed = placed as usize;
        self.unplace(placed);
        if placed < self.n_req {
            self.search.list.unlift(placed);
            self.req_done -= 1;
        }
        true
    }

    /// Tries the top frame's next candidate: descends when it can be placed
    /// and the configuration it leads to is neither dead nor explored.
    /// `Some` when the memo outgrew `memory_bytes`.
    fn try_next(&mut self, memory_bytes: usize) -> Option<Budget> {
        let top = self.frames.len() - 1;
        let frame = &self.frames[top];
        let candidate = self.candidates[frame.candidates_start + frame.next] as usize;
        let state = frame.state;
        self.frames[top].next += 1;
        let search = &mut *self.search;
        let (op, class) = search.ops.candidate(candidate);
        let Some(next) = search.states.step(state, class, op) else {
            if candidate < self.n_req {
                let tried = &mut self.tried[candidate];
                if tried.len() < 8 && !tried.contains(&state) {
                    tried.push(state);
                }
            }
            return None;
        };

        self.mark(candidate);
        self.search.look.place(candidate);
        let mut memo_state = next;
        if self.search.look.active {
            match self.lookahead(candidate, state, next) {
                Look::Dead => {
                    self.unplace(candidate);
                    return None;
                }
                Look::Unobservable => {
                    memo_state = UNOBSERVABLE;
                    self.stats.canonical += 1;
                }
                Look::Alive => {}
            }
        }
        let Some(grown) = self
            .memo
            .visit(self.hash, memo_state, &self.lin_req, &self.used_opt)
        else {
            self.stats.memo_hits += 1;
            self.unplace(candidate);
            return None;
        };
        self.stats.memo_bytes += grown;
        if self.stats.memo_bytes + self.search.look.bytes > memory_bytes {
            return Some(Budget::Memory);
        }

        if candidate < self.n_req {
            self.search.list.lift(candidate);
            self.req_done += 1;
        }
        let start = self.candidates.len();
        self.push_candidates(next);
        self.frames.push(Frame {
            placed: Some(candidate as u32),
            state: next,
            candidates_start: start,
            next: 0,
        });
        None
    }

    /// The lookahead's word on the configuration reached by placing
    /// `candidate` (already marked) in `state`, giving `next`. A dead one's
    /// prefix is remembered when it is the deepest cut, to explain a
    /// violation by the observation that became unreachable.
    fn lookahead(&mut self, candidate: usize, state: StateId, next: StateId) -> Look {
        let search = &mut *self.search;
        let (by, _) = search.ops.candidate(candidate);
        let (dead, unobservable) = search.look.dead(
            search.model,
            &search.ops.required,
            by,
            &search.states,
            state,
            next,
            &self.lin_req,
        );
        if let Some(killer) = dead {
            self.stats.pruned += 1;
            let depth = self.req_done + usize::from(candidate < self.n_req);
            if self.cut_best.as_ref().is_none_or(|(d, ..)| depth > *d) {
                let mut prefix: Vec<u32> = self.frames.iter().filter_map(|f| f.placed).collect();
                prefix.push(candidate as u32);
                self.cut_best = Some((depth, prefix, next, killer));
            }
            return Look::Dead;
        }
        // When no unplaced op can observe the current state any more (every
        // future observation needs a reset first), the state no longer
        // matters: the memo keys on a placeholder so that configurations
        // differing only in it merge.
        if unobservable {
            Look::Unobservable
        } else {
            Look::Alive
        }
    }

    fn push_candidates(&mut self, state: StateId) {
        let search = &mut *self.search;
        push_candidates(
            &search.ops,
            &search.list,
            &self.used_opt,
            &mut search.states,
            state,
            &mut self.candidates,
        );
    }

    /// Marks `candidate` as placed in the linearized sets and their hash.
    fn mark(&mut self, candidate: usize) {
        if candidate < self.n_req {
            self.lin_req.set(candidate);
            self.hash ^= zobrist(candidate);
        } else {
            self.used_opt.set(candidate - self.n_req);
        }
    }

    /// Undoes [`Dfs::mark`] and the lookahead's placement of `candidate`.
    fn unplace(&mut self, candidate: usize) {
        self.search.look.unplace(candidate);
        if candidate < self.n_req {
            self.lin_req.clear(candidate);
            self.hash ^= zobrist(candidate);
        } else {
            self.used_opt.clear(candidate - self.n_req);
        }
    }
}

/// What the lookahead says of a configuration.
enum Look {
    /// Some unplaced observation can no longer become valid: cut it.
    Dead,
    /// No unplaced op can observe the state any more.
    Unobservable,
    /// Neither.
    Alive,
}

/// The budget that ran out, if any (checked every 4096 configurations).
fn over_budget(limits: &Limits, configurations: u64) -> Option<Budget> {
    if limits.deadline.is_some_and(|d| Instant::now() >= d) {
        Some(Budget::Time)
    } else if limits.stop.is_some_and(|stop| stop.load(Ordering::Relaxed)) {
        Some(Budget::Stopped)
    } else if configurations >= limits.configurations {
        Some(Budget::Configurations)
    } else {
        None
    }
}
