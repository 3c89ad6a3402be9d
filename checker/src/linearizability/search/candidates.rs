//! The ops eligible next in a configuration, with two reductions that never
//! lose a witness: forced moves and symmetry.

use super::bits::Bits;
use super::entries::EntryList;
use super::setup::Ops;
use super::states::States;
use super::{StateId, NEVER};
use crate::model::Model;

/// Appends to `candidates` the candidates (see [`Ops`]) to try from `state`:
/// the eligible required ops, then the eligible unused crashed ops.
pub(super) fn push_candidates<M: Model>(
    ops: &Ops<M>,
    list: &EntryList,
    used_opt: &Bits,
    states: &mut States<M>,
    state: StateId,
    candidates: &mut Vec<u32>,
) {
    let Ops {
        required,
        optional,
        req_class,
        opt_class,
        identity,
    } = ops;
    let n_req = required.len();
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
}
