//! The model states a search meets, interned, with a cache of transitions
//! per (state, op class).

use rustc_hash::FxHashMap;

use super::{ClassId, KeyOp, StateId};
use crate::model::Model;

/// Interned states and a cache of transitions per (state, op class).
pub(super) struct States<'m, M: Model> {
    model: &'m M,
    ids: FxHashMap<M::State, StateId>,
    pub(super) states: Vec<M::State>,
    transitions: FxHashMap<(StateId, ClassId), Option<StateId>>,
}

impl<'m, M: Model> States<'m, M> {
    pub(super) fn new(model: &'m M) -> Self {
        States {
            model,
            ids: FxHashMap::default(),
            states: Vec::new(),
            transitions: FxHashMap::default(),
        }
    }

    pub(super) fn intern(&mut self, state: M::State) -> StateId {
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
    pub(super) fn step(
        &mut self,
        state: StateId,
        class: ClassId,
        op: &KeyOp<M>,
    ) -> Option<StateId> {
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
