//! The nouns of Raft shared by the core, the log file and the transport.

use serde::{Deserialize, Serialize};

/// A node's id, as given by `--id` and in `--peer ID=HOST:PORT`.
pub type NodeId = u64;
/// A Raft term (Raft §5.1); terms start at 1, 0 means "before any term".
pub type Term = u64;
/// A position in the replicated log; the first entry has index 1.
pub type LogIndex = u64;

/// The index before the first entry: an empty log ends here.
pub const NO_INDEX: LogIndex = 0;

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log.
    pub index: LogIndex,
    /// Term of the leader that created the entry.
    pub term: Term,
    /// The command, opaque to the core; empty for the no-op a leader appends
    /// at the start of its term.
    pub data: Vec<u8>,
}

/// The state Raft must persist before answering any RPC (Raft Figure 2),
/// plus the commit index as a durable hint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// Latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// Highest index known committed. Not required by Raft, but persisting
    /// it lets a restarted node serve and report its committed prefix at
    /// once instead of waiting for a leader.
    pub commit: LogIndex,
}

/// A Raft RPC or its response, addressed from one node to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The sender's current term.
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// The four messages of Raft (Figure 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// A candidate asks for a vote (Raft §5.2).
    RequestVote {
        /// Index of the candidate's last log entry.
        last_log_index: LogIndex,
        /// Term of the candidate's last log entry.
        last_log_term: Term,
    },
    /// The answer to [`MessageBody::RequestVote`].
    RequestVoteResponse {
        /// Whether the vote was granted.
        granted: bool,
    },
    /// The leader replicates entries, or sends an empty heartbeat (Raft §5.3).
    AppendEntries {
        /// Index of the entry just before `entries`.
        prev_log_index: LogIndex,
        /// Term of that entry.
        prev_log_term: Term,
        /// Entries to store, possibly none.
        entries: Vec<Entry>,
        /// The leader's commit index.
        leader_commit: LogIndex,
        /// Leadership-confirmation round for ReadIndex (Raft thesis §6.4),
        /// echoed back in the response.
        read_round: u64,
    },
    /// The answer to [`MessageBody::AppendEntries`].
    AppendEntriesResponse {
        /// Whether the log matched at `prev_log_index` and the entries were stored.
        success: bool,
        /// On success, the index of the last entry known to match the leader.
        match_index: LogIndex,
        /// On rejection, the next index the leader should try (fast
        /// backtracking, Raft §5.3 "optimization").
        hint: LogIndex,
        /// The `read_round` of the request.
        read_round: u64,
    },
}

impl Message {
    /// Whether the driver may send this message before persisting the
    /// ready state it came with.
    ///
    /// Only a leader's AppendEntries qualify (Raft thesis §10.2.1): the
    /// leader's term and vote were made durable when it campaigned, and it
    /// counts its own log towards a majority only once persisted. Votes and
    /// responses must wait for fsync, or a crash could make a node vote twice
    /// or forget entries it acknowledged.
    pub fn may_send_before_persist(&self) -> bool {
        matches!(self.body, MessageBody::AppendEntries { .. })
    }
}
