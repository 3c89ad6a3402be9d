//! Independent verification of a witness: replays the claimed order through
//! the model and checks real-time order and membership, sharing nothing with
//! the search but the models.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::check::import_by_key;
use super::search::NEVER;
use crate::history::History;
use crate::model::{Import, ModelKind, ModelTask};

/// Checks that `witness` (key -> op ids in order) proves `history` linearizable
/// for `model`: every op with a known result appears exactly once, crashed ops
/// at most once, dropped ops never; no op is placed before one that completed
/// before it was called; and each result matches the model's.
///
/// # Errors
/// A sentence saying what is wrong with the witness.
pub fn verify(
    history: &History,
    model: ModelKind,
    initial: Option<&Value>,
    witness: &BTreeMap<String, Vec<u64>>,
) -> Result<(), String> {
    struct Task<'a> {
        history: &'a History,
        witness: &'a BTreeMap<String, Vec<u64>>,
    }
    impl ModelTask for Task<'_> {
        type Output = Result<(), String>;
        fn run<M: Import>(self, model: M) -> Result<(), String> {
            verify_with(model, self.history, self.witness)
        }
    }
    model.with(initial, Task { history, witness })?
}

fn verify_with<M: Import>(
    mut model: M,
    history: &History,
    witness: &BTreeMap<String, Vec<u64>>,
) -> Result<(), String> {
    let by_key = import_by_key(&mut model, history, "witness").map_err(|e| e.to_string())?;
    for key in witness.keys() {
        if !by_key.contains_key(key) {
            return Err(format!("the witness names key {key:?}, which has no ops"));
        }
    }
    for (key, (_, ops)) in &by_key {
        let order = witness.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let by_id: HashMap<u64, usize> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| (history.ops[op.index].id, i))
            .collect();
        let mut placed = vec![false; ops.len()];
        let mut state = model.init();
        let mut latest_call = 0u64;
        for (position, id) in order.iter().enumerate() {
            let Some(&i) = by_id.get(id) else {
                return Err(format!(
                    "key {key:?}: op {id} at position {position} is not an op that can take effect on this key"
                ));
            };
            if std::mem::replace(&mut placed[i], true) {
                return Err(format!("key {key:?}: op {id} appears twice"));
            }
            let op = &ops[i];
            // Real time: every op placed earlier must not have been called
            // after this one returned.
            if op.ret != NEVER && op.ret < latest_call {
                return Err(format!(
                    "key {key:?}: op {id} returned before an op placed earlier was called"
                ));
            }
            latest_call = latest_call.max(op.call);
            state = match &op.output {
                Some(output) => model.step(&state, &op.input, output).ok_or_else(|| {
                    format!(
                        "key {key:?}: op {id} ({}) is impossible in state {}",
                        model.describe_op(&op.input, Some(output)),
                        model.describe_state(&state)
                    )
                })?,
                None => model.apply(&state, &op.input).0,
            };
        }
        for (i, op) in ops.iter().enumerate() {
            if op.output.is_some() && !placed[i] {
                return Err(format!(
                    "key {key:?}: op {} has a known result but is missing from the witness",
                    history.ops[op.index].id
                ));
            }
        }
    }
    Ok(())
}
