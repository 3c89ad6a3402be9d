//! A brute-force linearizability oracle for tests: tries every order, with no
//! memo and none of the search's reductions. Exponential; for tiny histories.

use serde_json::Value;

use super::check::import_by_key;
use super::search::{KeyOp, NEVER};
use crate::history::History;
use crate::model::{Import, ModelKind, ModelTask};

/// Whether some order of `history`'s ops (per key) explains every result:
/// ops with a known result placed exactly once, crashed ops at most once,
/// real-time order respected.
///
/// # Panics
/// When an op does not fit the model.
pub fn linearizable(history: &History, model: ModelKind, initial: Option<&Value>) -> bool {
    struct Task<'a>(&'a History);
    impl ModelTask for Task<'_> {
        type Output = bool;
        fn run<M: Import>(self, model: M) -> bool {
            all_keys(model, self.0)
        }
    }
    model
        .with(initial, Task(history))
        .expect("oracle input fits its model")
}

fn all_keys<M: Import>(mut model: M, history: &History) -> bool {
    let by_key = import_by_key(&mut model, history, "oracle").expect("oracle input fits its model");
    by_key.values().all(|(_, ops)| {
        let mut placed = vec![false; ops.len()];
        try_orders(&model, ops, &mut placed, model.init())
    })
}

fn try_orders<M: Import>(
    model: &M,
    ops: &[KeyOp<M>],
    placed: &mut [bool],
    state: M::State,
) -> bool {
    let required_left = ops
        .iter()
        .zip(placed.iter())
        .any(|(op, &p)| !p && op.output.is_some());
    if !required_left {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        // An op can go next only if no unplaced op returned before it was called.
        let blocked = ops.iter().zip(placed.iter()).any(|(other, &p)| {
            let other_ret = if other.output.is_some() {
                other.ret
            } else {
                NEVER
            };
            !p && other_ret < ops[i].call
        });
        if blocked {
            continue;
        }
        let next = match &ops[i].output {
            Some(output) => model.step(&state, &ops[i].input, output),
            None => Some(model.apply(&state, &ops[i].input).0),
        };
        if let Some(next) = next {
            placed[i] = true;
            let found = try_orders(model, ops, placed, next);
            placed[i] = false;
            if found {
                return true;
            }
        }
    }
    false
}
