//! Setting a search up: a key's ops sorted into required and optional, their
//! classes, the model's initial state, the lookahead and the entry list.

use rustc_hash::FxHashMap;

use super::entries::EntryList;
use super::lookahead::Lookahead;
use super::states::States;
use super::{ClassId, KeyOp, StateId, NEVER};
use crate::model::Model;

/// A key's ops as the search sees them; fixed once set up.
///
/// Candidates are numbered required ops first (`0..required.len()`), then
/// optional ones.
pub(super) struct Ops<M: Model> {
    /// Ops with a known output, by (call, return): every order places them.
    pub(super) required: Vec<KeyOp<M>>,
    /// Crashed ops that may change the state, by call: placed at most once.
    pub(super) optional: Vec<KeyOp<M>>,
    /// The class of each required op.
    pub(super) req_class: Vec<ClassId>,
    /// The class of each optional op.
    pub(super) opt_class: Vec<ClassId>,
    /// Per required op: whether it leaves every state it is valid in unchanged.
    pub(super) identity: Vec<bool>,
}

impl<M: Model> Ops<M> {
    /// Candidate `c` and its class.
    pub(super) fn candidate(&self, c: usize) -> (&KeyOp<M>, ClassId) {
        let n_req = self.required.len();
        if c < n_req {
            (&self.required[c], self.req_class[c])
        } else {
            (&self.optional[c - n_req], self.opt_class[c - n_req])
        }
    }
}

/// Everything a search of one key works on besides its own progress.
pub(super) struct Search<'m, M: Model> {
    pub(super) model: &'m M,
    pub(super) ops: Ops<M>,
    pub(super) states: States<'m, M>,
    /// The model's initial state.
    pub(super) init: StateId,
    pub(super) look: Lookahead,
    pub(super) list: EntryList,
}

impl<'m, M: Model> Search<'m, M> {
    /// Sets up the search of `ops`, one key's operations.
    pub(super) fn new(model: &'m M, ops: &[KeyOp<M>]) -> Self {
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

        // Classes of identical ops (same input and output): transitions are
        // cached per class, and symmetric candidates are recognised by class.
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
        let list = EntryList::new(&required);
        Search {
            model,
            ops: Ops {
                required,
                optional,
                req_class,
                opt_class,
                identity,
            },
            states,
            init,
            look,
            list,
        }
    }
}
