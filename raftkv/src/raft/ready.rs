//! What the core hands to its driver: work to do, and answers to clients.

use thiserror::Error;

use crate::types::{Entry, HardState, LogIndex, Message, NodeId};

/// A client request reached a node that is not the leader.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("not the leader (leader: {leader:?})")]
pub struct NotLeader {
    /// The leader this node knows of in its current term, if any.
    pub leader: Option<NodeId>,
}

/// A read that may be answered once the state machine has applied `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The caller's tag, from [`Raft::read_index`](super::Raft::read_index).
    pub ctx: u64,
    /// Apply at least up to here, then read.
    pub index: LogIndex,
}

/// What the driver must do, in this order: persist `truncate_from`,
/// `entries` and `hard_state` (with fsync), send `messages`, apply
/// `committed`, answer `read_states` once applied, then call
/// [`Raft::advance`](super::Raft::advance). A leader's AppendEntries may be sent before persisting
/// (see [`Message::may_send_before_persist`]).
#[derive(Debug, Default)]
pub struct Ready {
    /// New hard state to persist, if it changed.
    pub hard_state: Option<HardState>,
    /// Remove every persisted entry with an index at or above this one
    /// (a conflicting suffix, Raft §5.3), before appending `entries`.
    pub truncate_from: Option<LogIndex>,
    /// Entries to append to stable storage, in index order.
    pub entries: Vec<Entry>,
    /// Messages to send.
    pub messages: Vec<Message>,
    /// Committed entries to apply to the state machine, in index order.
    pub committed: Vec<Entry>,
    /// Reads that became answerable.
    pub read_states: Vec<ReadState>,
}
