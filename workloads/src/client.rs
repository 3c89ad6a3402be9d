//! What a client protocol provides: operations, the leader, the committed log.

use std::future::Future;
use std::time::Duration;

use nemesis::NodeId;
use serde_json::Value;

use crate::generator::OpRequest;

/// How long [`Client::op_timeout`] is when a protocol does not say.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How an operation ended, as the history records it.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Took effect; the value as docs/design.md's table has it for `ok`.
    Ok(Value),
    /// Certainly had no effect (a cas `mismatch` is also an observation).
    Fail {
        /// Why, e.g. `mismatch`, `not-leader`, `connection-refused`.
        error: String,
    },
    /// Unknown: may have taken effect, or may still.
    Info {
        /// Why, e.g. `timeout`, `connection-closed`.
        error: String,
    },
}

impl Completion {
    /// A `fail` completion.
    pub fn fail(error: impl Into<String>) -> Self {
        Completion::Fail {
            error: error.into(),
        }
    }

    /// An `info` completion.
    pub fn info(error: impl Into<String>) -> Self {
        Completion::Info {
            error: error.into(),
        }
    }

    /// The history's event type for this completion.
    #[must_use]
    pub fn event_type(&self) -> checker::EventType {
        match self {
            Completion::Ok(_) => checker::EventType::Ok,
            Completion::Fail { .. } => checker::EventType::Fail,
            Completion::Info { .. } => checker::EventType::Info,
        }
    }

    /// The error, for `fail` and `info`.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        match self {
            Completion::Ok(_) => None,
            Completion::Fail { error } | Completion::Info { error } => Some(error),
        }
    }
}

/// The end of an operation and the node that gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// How the operation ended.
    pub completion: Completion,
    /// The node that gave the final answer (after any redirect followed).
    pub node: NodeId,
    /// The store's revision of an acknowledged write, when the protocol
    /// reports one (etcd's `header.revision`); recorded in the completion
    /// event's `revision`. `None` for reads, failures and protocols without
    /// revisions (raftkv).
    pub revision: Option<u64>,
}

/// A node's committed log entries, as `GET /log` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogPage {
    /// The highest index the node lists as committed.
    pub commit_index: u64,
    /// `(index, term, digest)` of each committed entry, in index order.
    pub entries: Vec<(u64, u64, String)>,
}

/// A client protocol: how operations reach a node and how they end.
///
/// One value is shared (in an `Arc`) by every client task, so methods take
/// `&self`. Every method must finish within a bounded time.
pub trait Client: Send + Sync + 'static {
    /// Sends `op` to `node` and says how it ended. Never panics on what a
    /// node does; every failure becomes a `fail` or `info` completion.
    fn invoke(&self, node: NodeId, op: &OpRequest) -> impl Future<Output = Answer> + Send;

    /// The current leader, if the nodes agree well enough; `None` when unknown.
    fn leader(&self) -> impl Future<Output = Option<NodeId>> + Send;

    /// Whether the cluster, which has a leader, also serves what the
    /// workload needs through every node (asked at setup, after
    /// [`Client::leader`], until it says yes or the leader timeout ends).
    /// Most protocols need nothing more than a leader.
    fn ready(&self) -> impl Future<Output = bool> + Send {
        async { true }
    }

    /// What each node says of itself (`result[i]` is node i's answer,
    /// `None` when it did not answer), for faults that watch the cluster
    /// (`figure8`). Empty when the protocol has no such call.
    fn views(&self) -> impl Future<Output = Vec<Option<nemesis::NodeView>>> + Send {
        async { Vec::new() }
    }

    /// The node's committed log from index `from` on, at most `max_entries`
    /// entries, or `None` when the node did not answer or the protocol has
    /// no such call.
    fn committed_log(
        &self,
        node: NodeId,
        from: u64,
        max_entries: usize,
    ) -> impl Future<Output = Option<LogPage>> + Send;

    /// The longest an [`Client::invoke`] can take. Callers cut an invoke off
    /// a little after it (recording `info`, or `fail` for a read), so a
    /// protocol that hangs cannot hang a run.
    fn op_timeout(&self) -> Duration {
        DEFAULT_OP_TIMEOUT
    }
}

/// A request that never got an answer: definite only if the connection was
/// never made (nothing was sent).
pub(crate) fn send_error(error: &reqwest::Error) -> Completion {
    if error.is_connect() {
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    return Completion::fail("connection-refused");
                }
            }
            source = cause.source();
        }
        Completion::fail("connect-failed")
    } else if error.is_timeout() {
        Completion::info("timeout")
    } else {
        Completion::info("connection-closed")
    }
}

/// The leader most nodes name, from each answering node's `(leader it
/// names, term it names it in)`; ties go to the one named in the highest
/// term (the newer leader), then to the lowest node. Leaders that are no
/// node (`None`) are ignored.
pub(crate) fn most_named_leader(
    named: impl IntoIterator<Item = (Option<NodeId>, u64)>,
) -> Option<NodeId> {
    // node -> (votes, highest term it was named in)
    let mut tally: std::collections::BTreeMap<NodeId, (usize, u64)> = Default::default();
    for (node, term) in named {
        if let Some(node) = node {
            let entry = tally.entry(node).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(term);
        }
    }
    tally
        .into_iter()
        .max_by_key(|&(node, (votes, term))| (votes, term, std::cmp::Reverse(node)))
        .map(|(node, _)| node)
}
