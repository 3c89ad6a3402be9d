//! The `raftkv` client protocol (docs/protocol.md) over HTTP/1.1 on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::join_all;
use nemesis::NodeId;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::{most_named_leader, send_error, Answer, Client, Completion, LogPage};
use crate::generator::OpRequest;
use crate::workload::Workload;

/// How many `not-leader` redirects one operation follows. A `not-leader`
/// answer is definite (nothing happened), so following it is sound.
pub const MAX_REDIRECTS: usize = 2;
/// How long each `GET /status` of [`Client::leader`] may take.
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(500);
/// The request timeout [`RaftkvClient`] is usually given: longer than the
/// 1.5 s within which a raftkv node answers (docs/protocol.md).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest page `GET /log` serves.
const LOG_PAGE_MAX: usize = 1000;
/// How long an idle pooled connection is kept. Short, so a connection to a
/// node that was killed and restarted is not kept around to be tried.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// One node's `GET /status` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeStatus {
    /// The node's raftkv id (`--id`), one more than its [`NodeId`] index.
    pub id: u64,
    /// `leader`, `follower` or `candidate`.
    pub role: String,
    /// The node's current term.
    pub term: u64,
    /// The raftkv id of the leader it knows in its term.
    #[serde(default)]
    pub leader: Option<u64>,
    /// The highest log index it knows committed.
    #[serde(default)]
    pub commit_index: u64,
}

/// The error body every non-200 answer carries.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    definite: Option<bool>,
    #[serde(default)]
    leader: Option<u64>,
}

/// One `GET /log` page.
#[derive(Debug, Deserialize)]
struct LogPageBody {
    entries: Vec<LogEntryBody>,
    commit_index: u64,
    #[serde(default)]
    next: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct LogEntryBody {
    index: u64,
    term: u64,
    digest: String,
}

/// What one HTTP exchange with one node came to.
enum Attempt {
    /// The operation ended at this node.
    Done(Completion),
    /// The node is not the leader and named this node as the leader.
    Redirect(NodeId),
}

/// The raftkv client: one HTTP client (with a connection pool per node)
/// shared by every client task.
///
/// A paused node only holds up the requests sent to it: each node has its
/// own pooled connections, and every request is bounded by the timeout.
#[derive(Debug, Clone)]
pub struct RaftkvClient {
    addrs: Vec<SocketAddr>,
    http: reqwest::Client,
    request_timeout: Duration,
}

impl RaftkvClient {
    /// A client for a cluster whose node i serves its client API at
    /// `client_addrs[i]` (loopback addresses: requests bypass any proxy
    /// configured in the environment). Each operation, redirects included,
    /// is given `request_timeout` in all (usually [`DEFAULT_REQUEST_TIMEOUT`]).
    #[must_use]
    pub fn new(client_addrs: Vec<SocketAddr>, request_timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .timeout(request_timeout)
            .build()
            .expect("a plain-HTTP client needs no TLS backend, so building it cannot fail");
        RaftkvClient {
            addrs: client_addrs,
            http,
            request_timeout,
        }
    }

    /// How many nodes the client knows.
    #[must_use]
    pub fn nodes(&self) -> usize {
        self.addrs.len()
    }

    fn url(&self, node: NodeId, path: &str) -> Option<String> {
        self.addrs
            .get(node.index())
            .map(|addr| format!("http://{addr}{path}"))
    }

    /// The node a raftkv id names, if it is one of ours.
    fn node_of(&self, raftkv_id: u64) -> Option<NodeId> {
        let index = usize::try_from(raftkv_id).ok()?.checked_sub(1)?;
        (index < self.addrs.len()).then_some(NodeId(index))
    }

    /// Node `node`'s `GET /status`, or `None` when it did not answer within
    /// [`STATUS_TIMEOUT`] or answered something else.
    pub async fn status(&self, node: NodeId) -> Option<NodeStatus> {
        self.get_json(node, "/status", STATUS_TIMEOUT).await
    }

    /// Node `node`'s JSON answer to `GET path`, or `None` when it did not
    /// answer within `timeout`, answered an error, or answered something
    /// that is not a `T`.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        node: NodeId,
        path: &str,
        timeout: Duration,
    ) -> Option<T> {
        let url = self.url(node, path)?;
        let response = self.http.get(url).timeout(timeout).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let bytes = response.bytes().await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// One request to one node, answered or not by `deadline`.
    async fn attempt(
        &self,
        node: NodeId,
        op: &OpRequest,
        call: &Call,
        deadline: Instant,
    ) -> Attempt {
        let Some(url) = self.url(node, call.path) else {
            return Attempt::Done(Completion::fail("unknown-node"));
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let sent = self
            .http
            .post(url)
            .json(&call.body)
            .timeout(remaining)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Attempt::Done(send_error(&error)),
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) if error.is_timeout() => return Attempt::Done(Completion::info("timeout")),
            Err(_) => return Attempt::Done(Completion::info("connection-closed")),
        };
        if status == 200 {
            return Attempt::Done(match serde_json::from_slice::<Value>(&bytes) {
                Ok(body) => ok_value(op, &body)
                    .map_or_else(|| Completion::info("bad-response"), Completion::Ok),
                Err(_) => Completion::info("bad-response"),
            });
        }
        let Ok(error) = serde_json::from_slice::<ErrorBody>(&bytes) else {
            return Attempt::Done(Completion::info(format!("http-{status}")));
        };
        if error.code == "not-leader" {
            if let Some(leader) = error.leader.and_then(|id| self.node_of(id)) {
                if leader != node {
                    return Attempt::Redirect(leader);
                }
            }
        }
        let definite = error
            .definite
            .unwrap_or_else(|| is_definite_code(&error.code));
        Attempt::Done(if definite {
            Completion::Fail { error: error.code }
        } else {
            Completion::Info { error: error.code }
        })
    }

    async fn log_page(&self, node: NodeId, from: u64, limit: usize) -> Option<LogPageBody> {
        let path = format!("/log?from={from}&limit={limit}");
        self.get_json(node, &path, self.request_timeout).await
    }
}

impl Client for RaftkvClient {
    async fn invoke(&self, node: NodeId, op: &OpRequest) -> Answer {
        let deadline = Instant::now() + self.request_timeout;
        let Some(call) = Call::for_op(op) else {
            // Nothing was sent: a definite failure.
            return Answer {
                completion: Completion::fail("unsupported-op"),
                node,
                revision: None,
            };
        };
        let mut node = node;
        let mut redirects = 0;
        let completion = loop {
            match self.attempt(node, op, &call, deadline).await {
                Attempt::Done(completion) => break completion,
                // Every answer so far was a definite `not-leader`: out of
                // time or hops, the op certainly did nothing.
                Attempt::Redirect(leader)
                    if redirects < MAX_REDIRECTS && Instant::now() < deadline =>
                {
                    redirects += 1;
                    node = leader;
                }
                Attempt::Redirect(_) => break Completion::fail("not-leader"),
            }
        };
        // Reads have no effect, so an unknown outcome is recorded as a
        // failure (docs/protocol.md, "Errors"); the client keeps its process.
        let completion = match completion {
            Completion::Info { error } if op.is_read() => Completion::Fail { error },
            other => other,
        };
        Answer {
            completion,
            node,
            revision: None,
        }
    }

    async fn leader(&self) -> Option<NodeId> {
        let statuses = join_all(NodeId::all(self.nodes()).map(|n| self.status(n))).await;
        choose_leader(&statuses, |id| self.node_of(id))
    }

    async fn views(&self) -> Vec<Option<nemesis::NodeView>> {
        let statuses = join_all(NodeId::all(self.nodes()).map(|n| self.status(n))).await;
        statuses
            .into_iter()
            .map(|status| {
                status.map(|status| nemesis::NodeView {
                    leader: status.role == "leader",
                    term: status.term,
                    commit: status.commit_index,
                })
            })
            .collect()
    }

    async fn committed_log(&self, node: NodeId, from: u64, max_entries: usize) -> Option<LogPage> {
        let mut page = LogPage::default();
        let mut from = from.max(1);
        loop {
            let limit = (max_entries - page.entries.len()).clamp(1, LOG_PAGE_MAX);
            let body = self.log_page(node, from, limit).await?;
            page.commit_index = body.commit_index;
            let room = max_entries - page.entries.len();
            page.entries.extend(
                body.entries
                    .into_iter()
                    .take(room)
                    .map(|entry| (entry.index, entry.term, entry.digest)),
            );
            match body.next {
                // A `next` that does not move forward would loop forever.
                Some(next) if next > from && page.entries.len() < max_entries => from = next,
                _ => return Some(page),
            }
        }
    }

    fn op_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// The leader the statuses point at: the node that says it is leader in the
/// highest term; else the leader named by most nodes (ties: the one named in
/// the highest term). `statuses[i]` is node i's answer.
fn choose_leader(
    statuses: &[Option<NodeStatus>],
    node_of: impl Fn(u64) -> Option<NodeId>,
) -> Option<NodeId> {
    let self_declared = statuses
        .iter()
        .enumerate()
        .filter_map(|(index, status)| Some((index, status.as_ref()?)))
        .filter(|(_, status)| status.role == "leader")
        .max_by_key(|(index, status)| (status.term, std::cmp::Reverse(*index)));
    if let Some((index, _)) = self_declared {
        return Some(NodeId(index));
    }
    most_named_leader(
        statuses
            .iter()
            .flatten()
            .map(|status| (status.leader.and_then(&node_of), status.term)),
    )
}

/// Whether an error code certainly means "no effect", for a node that does
/// not say (`definite` missing). Unknown codes count as indefinite.
fn is_definite_code(code: &str) -> bool {
    matches!(
        code,
        "not-leader"
            | "no-leader"
            | "mismatch"
            | "wrong-type"
            | "overflow"
            | "bad-request"
            | "not-found"
            | "method-not-allowed"
            | "overloaded"
    )
}

/// The `ok` value of `op` given its `200` body: the value read (checked for
/// the workload's shape), or for an update the op's own value.
fn ok_value(op: &OpRequest, body: &Value) -> Option<Value> {
    if op.is_txn() {
        // The micro-ops as asked, each read filled in (docs/protocol.md, `/txn`).
        return crate::txn::answered(&crate::txn::parse(&op.value)?, body.get("ops")?);
    }
    if !op.is_read() {
        return Some(op.value.clone());
    }
    let value = body.get("value")?;
    let fits = match op.workload {
        Workload::Register => true,
        Workload::Append | Workload::Set => value.is_array(),
        Workload::Counter => value.is_i64(),
        Workload::Queue | Workload::Txn => false,
    };
    fits.then(|| value.clone())
}

/// The HTTP call an op becomes.
struct Call {
    path: &'static str,
    body: Value,
}

impl Call {
    /// The call for `op`, or `None` when the workload has no such op.
    fn for_op(op: &OpRequest) -> Option<Call> {
        let key = &op.key;
        let (path, body) = match (op.workload, op.f.as_str()) {
            (Workload::Register, "read") => ("/kv/read", json!({"key": key})),
            (Workload::Register, "write") => ("/kv/write", json!({"key": key, "value": op.value})),
            (Workload::Register, "cas") => {
                let [from, to] = op.value.as_array()?.as_slice() else {
                    return None;
                };
                ("/kv/cas", json!({"key": key, "from": from, "to": to}))
            }
            (Workload::Append, "append") => {
                ("/list/append", json!({"key": key, "value": op.value}))
            }
            (Workload::Append, "read") => ("/list/read", json!({"key": key})),
            (Workload::Counter, "add") => ("/counter/add", json!({"key": key, "delta": op.value})),
            (Workload::Counter, "read") => ("/counter/read", json!({"key": key})),
            (Workload::Set, "add") => ("/set/add", json!({"key": key, "value": op.value})),
            (Workload::Set, "read") => ("/set/read", json!({"key": key})),
            // The micro-ops go as the invoke has them; all are applied in
            // one log entry, or none.
            (Workload::Txn, "txn") => {
                crate::txn::parse(&op.value)?;
                ("/txn", json!({"ops": op.value}))
            }
            _ => return None,
        };
        Some(Call { path, body })
    }
}

#[cfg(test)]
mod tests;
