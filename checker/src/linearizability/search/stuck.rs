//! Where a failed search got stuck: the deepest prefix it placed and the op
//! that could not follow it, for the explanation of a violation.

use super::dfs::Failure;
use super::setup::Search;
use super::Stuck;
use crate::model::Model;

impl<M: Model> Search<'_, M> {
    /// The deepest prefix and the op that could not follow it: the
    /// observation the lookahead cut on when its cut went at least as deep,
    /// else the unplaced required op that returns first.
    pub(super) fn stuck(&mut self, failure: Failure) -> Stuck<M> {
        let Failure {
            best: (done, prefix, end_state),
            cut_best,
            mut tried,
        } = failure;
        let (prefix, end_state, cut_on) = match cut_best {
            Some((depth, prefix, state, killer)) if depth >= done => (prefix, state, Some(killer)),
            _ => (prefix, end_state, None),
        };
        let required = &self.ops.required;
        let n_req = required.len();
        let mut placed = vec![false; n_req];
        for &c in &prefix {
            if (c as usize) < n_req {
                placed[c as usize] = true;
            }
        }
        let stuck = cut_on.unwrap_or_else(|| {
            (0..n_req)
                .filter(|&i| !placed[i])
                .min_by_key(|&i| (required[i].ret, required[i].call))
                .expect("a failed search leaves a required op unplaced")
        });
        if cut_on.is_some() && !tried[stuck].contains(&end_state) {
            tried[stuck].push(end_state);
        }
        let mut state = self.init;
        let mut prefix_states = Vec::with_capacity(prefix.len());
        for &c in &prefix {
            let (op, class) = self.ops.candidate(c as usize);
            state = self
                .states
                .step(state, class, op)
                .expect("a recorded prefix replays: each step was taken by the search");
            prefix_states.push((op.index, self.states.states[state as usize].clone()));
        }
        debug_assert_eq!(state, end_state);
        let states = &self.states.states;
        Stuck {
            prefix: prefix_states,
            state: states[end_state as usize].clone(),
            stuck_on: self.ops.required[stuck].index,
            tried: tried[stuck]
                .iter()
                .map(|&s| states[s as usize].clone())
                .collect(),
        }
    }
}
