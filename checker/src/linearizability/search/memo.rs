//! The memo of explored configurations, with dominance on the crashed ops
//! used.

use rustc_hash::FxHashMap;

use super::bits::Bits;
use super::StateId;

/// One stored configuration: the exact set of required ops linearized, and the
/// antichain of crashed-op sets with which it was already explored.
struct MemoEntry {
    state: StateId,
    required: Bits,
    used: Vec<Bits>,
}

/// Configurations explored so far, bucketed by (hash of the required set, state).
#[derive(Default)]
pub(super) struct Memo {
    buckets: FxHashMap<(u64, StateId), Vec<usize>>,
    entries: Vec<MemoEntry>,
}

impl Memo {
    /// Records the configuration (`required` linearized, whose hash is
    /// `hash`, in `state`, with the crashed ops `used`) and returns how many
    /// bytes the memo grew by; or `None`, recording nothing, when it is
    /// dominated.
    ///
    /// Dominance: a configuration that reached the same required set and
    /// state with a subset of the crashed ops used was already fully explored,
    /// and it had every option this one has (an unused crashed op may simply
    /// never happen), so this one fails too.
    pub(super) fn visit(
        &mut self,
        hash: u64,
        state: StateId,
        required: &Bits,
        used: &Bits,
    ) -> Option<usize> {
        let bucket = self.buckets.entry((hash, state)).or_default();
        let entries = &mut self.entries;
        let seen = bucket
            .iter()
            .copied()
            .find(|&e| entries[e].state == state && entries[e].required == *required);
        match seen {
            Some(e) if entries[e].used.iter().any(|u| u.is_subset_of(used)) => None,
            Some(e) => {
                let entry = &mut entries[e];
                entry.used.retain(|u| !used.is_subset_of(u));
                entry.used.push(used.clone());
                Some(used.bytes() + 16)
            }
            None => {
                bucket.push(entries.len());
                entries.push(MemoEntry {
                    state,
                    required: required.clone(),
                    used: vec![used.clone()],
                });
                Some(required.bytes() + used.bytes() + 64)
            }
        }
    }
}
