//! The linearizability search for one key: Wing & Gong / Lowe depth-first search
//! with a memo of explored configurations.
//!
//! A configuration is (required ops linearized, model state, crashed ops used).
//! The search differs from Porcupine's in four exact ways, each argued below:
//! crashed ops never have to be linearized; configurations are pruned by
//! dominance on the crashed ops used; an eligible op that matches the current
//! state and cannot change it is placed without branching; and among identical
//! eligible ops only the one that returns first is tried.
//!
//! Files: `setup` sorts a key's ops for the search; `dfs` is the depth-first
//! search, with `candidates` (the ops eligible next, forced moves and
//! symmetry), `lookahead` and `memo` (the two prunings), over `entries` (the
//! history list), `states` (interned model states) and `bits`; `stuck` says
//! where a failed search got stuck, for the explanation.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::model::Model;

mod bits;
mod candidates;
mod dfs;
mod entries;
mod lookahead;
mod memo;
mod setup;
mod states;
mod stuck;

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
/// A model state, interned.
type StateId = u32;
/// Memo placeholder for a state that no unplaced op can observe.
const UNOBSERVABLE: StateId = StateId::MAX;
/// A class of identical ops (same input and output).
type ClassId = u32;

/// Decides whether `ops` (one key's operations) are linearizable for `model`.
pub fn search<M: Model>(model: &M, ops: &[KeyOp<M>], limits: Limits) -> (SearchResult<M>, Stats) {
    let mut search = setup::Search::new(model, ops);
    let (ended, stats) = dfs::run(&mut search, limits);
    let result = match ended {
        dfs::Ended::Linearizable(witness) => SearchResult::Linearizable(witness),
        dfs::Ended::Unknown(budget) => SearchResult::Unknown(budget),
        dfs::Ended::Failed(failure) => SearchResult::Violation(search.stuck(failure)),
    };
    (result, stats)
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
