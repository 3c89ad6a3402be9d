//! Sequential specifications: what a single correct copy of the object would do.
//!
//! A model is shaped like Porcupine's `Model` and stateright's spec: an initial
//! state and a deterministic `apply(state, input) -> (state, output)`. The
//! search checks an observed output by comparing it with the one `apply` gives.

mod counter;
mod kv_append;
mod list_append;
mod register;
mod set;

pub use counter::{CounterModel, CounterOp, CounterRet};
pub use kv_append::{KvAppendModel, KvAppendOp, KvAppendRet};
pub use list_append::{ListAppendModel, ListOp, ListRet};
pub use register::{RegOp, RegRet, RegisterModel};
pub use set::{SetModel, SetOp, SetRet};

use std::fmt::Debug;
use std::hash::Hash;

use crate::history::Op;

/// A deterministic sequential specification.
pub trait Model: Send + Sync {
    /// The object's state; small and cheap to hash (values are interned).
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// What a call asks for.
    type Input: Clone + Eq + Hash + Debug + Send + Sync;
    /// What a call returns.
    type Output: Clone + Eq + Hash + Debug + Send + Sync;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// What a correct sequential object does: the next state and the output.
    fn apply(&self, state: &Self::State, input: &Self::Input) -> (Self::State, Self::Output);

    /// The next state when `output` is what the object returns in `state`, else `None`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State> {
        let (next, expected) = self.apply(state, input);
        (expected == *output).then_some(next)
    }

    /// True when `input` never changes the state (a read). A crashed read
    /// constrains nothing and is dropped before the search.
    fn is_read_only(&self, input: &Self::Input) -> bool;

    /// True when an op that returned `output` leaves every state in which that
    /// output is possible unchanged (a read, a compare-and-set that failed its
    /// comparison). Such an op, once eligible and matching the current state,
    /// is placed at once without branching.
    fn is_identity_when_valid(&self, input: &Self::Input, output: &Self::Output) -> bool {
        let _ = output;
        self.is_read_only(input)
    }

    /// Lookahead for models whose state only grows between resets. Returns
    /// `false` only when no sequence of non-reset ops (see [`Model::is_reset`])
    /// can take `state` to a state in which `input` may return `output`. The
    /// relation must be closed backwards: if a non-reset op takes `s` to `s2`
    /// and the answer is `true` for `s2`, it is `true` for `s`. The default,
    /// always `true`, disables the lookahead.
    fn may_become_valid(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> bool {
        let _ = (state, input, output);
        true
    }

    /// [`Model::may_become_valid`] for `after`, the state `op` (not a reset)
    /// made from `before`, given that it holds for `before`. Models override it
    /// to check only what `op` added; the default checks `after` in full.
    fn may_stay_valid(
        &self,
        before: &Self::State,
        op: &Self::Input,
        after: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> bool {
        let _ = (before, op);
        self.may_become_valid(after, input, output)
    }

    /// True when the state after `input` does not depend on the state before
    /// (a put). Only consulted for the lookahead.
    fn is_reset(&self, input: &Self::Input) -> bool {
        let _ = input;
        false
    }

    /// True when [`Model::may_become_valid`] can return `false` for this op.
    /// A model that returns `true` for some op promises that every op for
    /// which it returns `false` is valid in every state (puts and appends
    /// always succeed): the search then treats a state that no unplaced
    /// observation can reach any more as interchangeable with any other such
    /// state.
    fn is_observation(&self, input: &Self::Input, output: &Self::Output) -> bool {
        let _ = (input, output);
        false
    }

    /// The op in words, e.g. `read -> 3`, `cas(1, 2) failed`; `output` is
    /// `None` when unknown.
    fn describe_op(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// The state in words, e.g. `3`, `[1, 2]`.
    fn describe_state(&self, state: &Self::State) -> String;

    /// What the op would have needed to see, in words: e.g. `the register to
    /// hold 3`. Used to explain a violation.
    fn describe_need(&self, input: &Self::Input, output: &Self::Output) -> String;
}

/// Turns a generic [`Op`] into the model's typed input and output.
pub trait Import: Model {
    /// The typed op, or `Ok(None)` when it cannot have had an effect or made an
    /// observation (a failed op that observed nothing). A crashed op gets
    /// `Some((input, None))`.
    ///
    /// # Errors
    /// A message saying what `f` or value shape was expected.
    fn import(&mut self, op: &Op) -> Result<Option<Imported<Self>>, String>;
}

/// A typed operation: its input and, when known, its output.
pub type Imported<M> = (<M as Model>::Input, Option<<M as Model>::Output>);

/// Work to do with a concrete model, picked at run time by [`ModelKind::with`].
pub(crate) trait ModelTask {
    /// What the work returns.
    type Output;
    /// Does the work with `model`.
    fn run<M: Import>(self, model: M) -> Self::Output;
}

/// The models `faultline check --model` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// read / write of a register.
    Register,
    /// read / write / compare-and-set of a register.
    CasRegister,
    /// A map of registers with read / write / cas, checked per key.
    Kv,
    /// Porcupine's kv: get / put / append of strings, checked per key.
    KvAppend,
    /// add (increment, decrement) / read of an integer counter.
    Counter,
    /// add an element / read the whole set.
    Set,
    /// append a value / read the whole list.
    ListAppend,
}

impl ModelKind {
    /// Every model, in the order the CLI lists them.
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::KvAppend,
        ModelKind::Counter,
        ModelKind::Set,
        ModelKind::ListAppend,
    ];

    /// Builds the model this names (registers start at `initial`, `null`
    /// when `None`) and runs `task` with it.
    ///
    /// # Errors
    /// `initial` given for a model that is not a register.
    pub(crate) fn with<T: ModelTask>(
        self,
        initial: Option<&serde_json::Value>,
        task: T,
    ) -> Result<T::Output, String> {
        Ok(match self {
            ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv => {
                let mut model = RegisterModel::new(self != ModelKind::Register, self.name());
                if let Some(initial) = initial {
                    model = model.with_initial(initial);
                }
                task.run(model)
            }
            _ if initial.is_some() => {
                return Err(format!("--initial applies to register models, not {self}"))
            }
            ModelKind::KvAppend => task.run(KvAppendModel),
            ModelKind::Counter => task.run(CounterModel),
            ModelKind::Set => task.run(SetModel::default()),
            ModelKind::ListAppend => task.run(ListAppendModel::default()),
        })
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::KvAppend => "kv-append",
            ModelKind::Counter => "counter",
            ModelKind::Set => "set",
            ModelKind::ListAppend => "list-append",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ModelKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown model {s:?}; expected one of {}", names.join(", "))
            })
    }
}
