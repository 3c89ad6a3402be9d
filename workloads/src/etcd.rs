//! The `etcd` client protocol: etcd's v3 JSON gateway (docs/etcd.md, "Requests")
//! over HTTP/1.1 on loopback. docs/etcd.md says how each answer is recorded.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use futures::future::join_all;
use nemesis::NodeId;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::{most_named_leader, send_error, Answer, Client, Completion, LogPage};
use crate::generator::OpRequest;
use crate::workload::Workload;

mod revisions;
mod transaction;

pub use revisions::MAX_REVISION_READS;
pub use transaction::GUARD_FAILED;

/// Base64 as etcd's JSON gateway writes `bytes` fields (Go's
/// `encoding/json`: RFC 4648 standard alphabet, `=` padding). Reading,
/// padding may be left out; stray bits and characters are refused.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How long each `POST /v3/maintenance/status` of [`Client::leader`] may take.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);
/// How long each `GET /debug/vars` of [`Client::views`] may take: figure8
/// asks every few milliseconds and must see a new leader within tens.
const VIEW_TIMEOUT: Duration = Duration::from_millis(300);
/// How long the member list [`Client::leader`] may need takes at most: with
/// the statuses, under the nemesis's 1 s limit on a leader question.
const MEMBER_LIST_TIMEOUT: Duration = Duration::from_millis(400);
/// How long an idle pooled connection is kept. Short, so a connection to a
/// node that was killed and restarted is not kept around to be tried.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// The gateway turns `Grpc-Metadata-*` headers into gRPC metadata; with
/// `hasleader: true` a node that knows it has no leader refuses at once
/// ("etcdserver: no leader") instead of waiting for its own timeout
/// (docs/etcd.md, "How each answer is recorded").
const REQUIRE_LEADER_HEADER: &str = "Grpc-Metadata-hasleader";
/// The member id etcd reports for "no leader" (raft's `None`); proto3 JSON
/// leaves the field out, which parses as this.
const NO_LEADER: u64 = 0;
/// No member has id 0: a status answer without its own id is no answer.
const NO_MEMBER: u64 = 0;
/// etcd's revisions start at 1: a header without one (proto3 JSON leaves
/// a 0 out) reports none.
const NO_REVISION: u64 = 0;
/// gRPC status codes after which the request certainly did nothing: the
/// server refused it before proposing it (invalid argument, not found,
/// already exists, permission denied, resource exhausted, failed
/// precondition, out of range, unimplemented, unauthenticated).
const DEFINITE_GRPC_CODES: [i64; 9] = [3, 5, 6, 7, 8, 9, 11, 12, 16];
/// gRPC `InvalidArgument`.
const GRPC_INVALID_ARGUMENT: i64 = 3;
/// How many txns one append or set add tries before it gives up with a
/// definite `contention` failure (each lost txn changed nothing). With two
/// clients per key about every other txn loses, so 20 attempts fail about
/// once in a million ops; measured: 10 attempts failed 1 set add in 307.
pub const MAX_UPDATE_ATTEMPTS: usize = 20;
/// The longest `error` made from an etcd message nobody names here.
const MAX_ERROR_LENGTH: usize = 48;

/// How reads are served (etcd's `serializable` range option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// Through the leader (ReadIndex): every read sees every write
    /// acknowledged before it started. etcd's default.
    #[default]
    Linearizable,
    /// From the node's own state, without asking the leader: served even by
    /// a node cut off from the others, and possibly stale.
    Serializable,
}

impl ReadMode {
    /// Every read mode.
    pub const ALL: [ReadMode; 2] = [ReadMode::Linearizable, ReadMode::Serializable];

    /// The name used on the command line and in files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ReadMode::Linearizable => "linearizable",
            ReadMode::Serializable => "serializable",
        }
    }
}

impl fmt::Display for ReadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A read mode name that is neither `linearizable` nor `serializable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown read mode {name:?}; expected linearizable or serializable")]
pub struct UnknownReadMode {
    /// The name given.
    pub name: String,
}

impl FromStr for ReadMode {
    type Err = UnknownReadMode;

    fn from_str(name: &str) -> Result<Self, UnknownReadMode> {
        ReadMode::ALL
            .into_iter()
            .find(|mode| mode.name() == name)
            .ok_or_else(|| UnknownReadMode {
                name: name.to_string(),
            })
    }
}

/// One node's `POST /v3/maintenance/status` answer. Member ids are etcd's
/// (decimal in the gateway, hex in etcd's logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdStatus {
    /// The answering node's own member id.
    pub member_id: u64,
    /// The member id of the leader it follows; `None` when it has none.
    pub leader: Option<u64>,
    /// `raftTerm`: the term of the last entry it applied, which lags the
    /// term it campaigns in (docs/etcd.md, "Requests").
    pub raft_term: u64,
    /// `raftIndex`: its last raft index.
    pub raft_index: u64,
    /// `errors`, e.g. `etcdserver: no leader`.
    pub errors: Vec<String>,
}

/// The etcd client: one HTTP client (a connection pool per node) shared by
/// every client task, and the member id of each node as learned.
///
/// Any member serves any request (no redirects); keys and values travel
/// base64-encoded, values as their JSON text.
#[derive(Debug, Clone)]
pub struct EtcdClient {
    addrs: Vec<SocketAddr>,
    http: reqwest::Client,
    request_timeout: Duration,
    read_mode: ReadMode,
    /// `member_ids[i]`: node i's member id, once some answer told it.
    member_ids: Arc<Mutex<Vec<Option<u64>>>>,
}

impl EtcdClient {
    /// A client for a cluster whose node i serves its client API (and the
    /// JSON gateway) at `client_addrs[i]` (loopback addresses: requests
    /// bypass any proxy configured in the environment). Each operation is
    /// given `request_timeout` in all; reads are served as `read_mode` says.
    #[must_use]
    pub fn new(
        client_addrs: Vec<SocketAddr>,
        request_timeout: Duration,
        read_mode: ReadMode,
    ) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .timeout(request_timeout)
            .build()
            .expect("a plain-HTTP client needs no TLS backend, so building it cannot fail");
        let member_ids = Arc::new(Mutex::new(vec![None; client_addrs.len()]));
        EtcdClient {
            addrs: client_addrs,
            http,
            request_timeout,
            read_mode,
            member_ids,
        }
    }

    /// Whether the client can run `workload` against etcd: `register`
    /// (put, range, txn), `append` and `set` (each update one txn guarded by
    /// the key's `mod_revision`, retried while another update won) and
    /// `txn` (each transaction one Txn guarded by the `mod_revision`s of the
    /// keys it appends to). Not `counter`: etcd has no atomic add, and
    /// faultline does not pass a client-side loop off as one. Not `queue`
    /// (NATS JetStream only).
    #[must_use]
    pub fn supports(workload: Workload) -> bool {
        match workload {
            Workload::Register | Workload::Append | Workload::Set | Workload::Txn => true,
            Workload::Counter | Workload::Queue => false,
        }
    }

    /// How many nodes the client knows.
    #[must_use]
    pub fn nodes(&self) -> usize {
        self.addrs.len()
    }

    /// How reads are served.
    #[must_use]
    pub fn read_mode(&self) -> ReadMode {
        self.read_mode
    }

    fn url(&self, node: NodeId, path: &str) -> Option<String> {
        self.addrs
            .get(node.index())
            .map(|addr| format!("http://{addr}{path}"))
    }

    fn lock_member_ids(&self) -> std::sync::MutexGuard<'_, Vec<Option<u64>>> {
        self.member_ids
            .lock()
            .expect("the lock is only held to read or store ids, which do not panic")
    }

    /// The node whose member id is `member_id`, if known.
    fn node_of(&self, member_id: u64) -> Option<NodeId> {
        self.lock_member_ids()
            .iter()
            .position(|&id| id == Some(member_id))
            .map(NodeId)
    }

    /// Node `node`'s status, or `None` when it did not answer within 500 ms
    /// or answered something else. Remembers the node's member id.
    pub async fn status(&self, node: NodeId) -> Option<EtcdStatus> {
        let body = self
            .post_quick(node, "/v3/maintenance/status", STATUS_TIMEOUT)
            .await?;
        let status = parse_status(&body)?;
        if let Some(slot) = self.lock_member_ids().get_mut(node.index()) {
            *slot = Some(status.member_id);
        }
        Some(status)
    }

    /// What node `node`'s raft library says of itself, from the
    /// `raft.status` of `GET /debug/vars` (etcd's expvar page on the client
    /// port): its current term, commit index and role. The status call's
    /// `raftTerm` will not do: it is the term of the last applied entry,
    /// which reaches a new leader's term only once its first entry commits,
    /// the very moment figure8 must get ahead of.
    async fn raft_view(&self, node: NodeId) -> Option<nemesis::NodeView> {
        let url = self.url(node, "/debug/vars")?;
        let response = self.http.get(url).timeout(VIEW_TIMEOUT).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        parse_raft_status(&response.bytes().await.ok()?)
    }

    /// Learns every node's member id from `node`'s member list, matching
    /// each member's client URLs with the client's addresses.
    async fn learn_members(&self, node: NodeId) {
        let Some(body) = self
            .post_quick(node, "/v3/cluster/member/list", MEMBER_LIST_TIMEOUT)
            .await
        else {
            return;
        };
        let Ok(list) = serde_json::from_slice::<MemberListBody>(&body) else {
            return;
        };
        let mut ids = self.lock_member_ids();
        for member in list.members {
            for (index, addr) in self.addrs.iter().enumerate() {
                let url = format!("http://{addr}");
                if member
                    .client_urls
                    .iter()
                    .any(|u| u.trim_end_matches('/') == url)
                {
                    ids[index] = Some(member.id);
                }
            }
        }
    }

    /// A cluster-state call (body `{}`): the body of a 2xx answer within
    /// `timeout`, or `None`. Never requires a leader.
    async fn post_quick(&self, node: NodeId, path: &str, timeout: Duration) -> Option<Vec<u8>> {
        let url = self.url(node, path)?;
        let response = self
            .http
            .post(url)
            .json(&json!({}))
            .timeout(timeout)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.bytes().await.ok().map(|bytes| bytes.to_vec())
    }

    /// One gateway call: the body of a `200`, or how the op ended
    /// otherwise, as for an update (a caller that read turns `info` into
    /// `fail`). With `require_leader`, a node without a leader refuses.
    async fn call(
        &self,
        node: NodeId,
        path: &str,
        body: &Value,
        require_leader: bool,
        deadline: Instant,
    ) -> Result<Vec<u8>, Completion> {
        match self
            .send(node, path, body, require_leader, deadline)
            .await?
        {
            (200, bytes) => Ok(bytes),
            (status, bytes) => Err(error_completion(status, &bytes)),
        }
    }

    /// One gateway call: the HTTP status and body of any answer, or how the
    /// op ended when none came, as for an update.
    async fn send(
        &self,
        node: NodeId,
        path: &str,
        body: &Value,
        require_leader: bool,
        deadline: Instant,
    ) -> Result<(u16, Vec<u8>), Completion> {
        let Some(url) = self.url(node, path) else {
            return Err(Completion::fail("unknown-node"));
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            // Nothing was sent.
            return Err(Completion::fail("timeout"));
        }
        let mut request = self.http.post(url).json(body).timeout(remaining);
        if require_leader {
            request = request.header(REQUIRE_LEADER_HEADER, "true");
        }
        let response = request.send().await.map_err(|error| send_error(&error))?;
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(bytes) => Ok((status, bytes.to_vec())),
            Err(error) if error.is_timeout() => Err(Completion::info("timeout")),
            Err(_) => Err(Completion::info("connection-closed")),
        }
    }

    /// The value at `key` and its `mod_revision` (`None` and 0 when absent),
    /// read as `mode` says. Linearizable reads require a leader; a
    /// serializable one is served by any node, leader or not.
    async fn range(
        &self,
        node: NodeId,
        key: &str,
        mode: ReadMode,
        deadline: Instant,
    ) -> Result<(Option<Value>, u64), Completion> {
        let key = BASE64.encode(key);
        let (body, require_leader) = match mode {
            ReadMode::Linearizable => (json!({"key": key}), true),
            ReadMode::Serializable => (json!({"key": key, "serializable": true}), false),
        };
        let bytes = self
            .call(node, "/v3/kv/range", &body, require_leader, deadline)
            .await?;
        let range: RangeBody =
            serde_json::from_slice(&bytes).map_err(|_| Completion::info("bad-response"))?;
        current_of(&range).ok_or_else(|| Completion::info("bad-response"))
    }

    async fn read_register(&self, node: NodeId, op: &OpRequest, deadline: Instant) -> Completion {
        match self.range(node, &op.key, self.read_mode, deadline).await {
            Ok((value, _)) => Completion::Ok(value.unwrap_or(Value::Null)),
            Err(completion) => completion,
        }
    }

    async fn read_collection(&self, node: NodeId, op: &OpRequest, deadline: Instant) -> Completion {
        match self.range(node, &op.key, self.read_mode, deadline).await {
            Ok((None, _)) => Completion::Ok(json!([])),
            Ok((Some(list @ Value::Array(_)), _)) => Completion::Ok(list),
            Ok(_) => Completion::info("bad-response"),
            Err(completion) => completion,
        }
    }

    /// A put; when acknowledged, also the revision it created.
    async fn write(&self, node: NodeId, op: &OpRequest, deadline: Instant) -> Updated {
        let body = json!({
            "key": BASE64.encode(&op.key),
            "value": encode_value(&op.value),
        });
        match self.call(node, "/v3/kv/put", &body, true, deadline).await {
            // A put answers a header only: any JSON object will do; its
            // header's revision, when there is one, is the put's.
            Ok(bytes) => match serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes) {
                Ok(put) => {
                    let revision = put
                        .get("header")
                        .and_then(|header| ResponseHeader::deserialize(header).ok())
                        .and_then(|header| revision_of(&header));
                    (Completion::Ok(op.value.clone()), revision)
                }
                Err(_) => (Completion::info("bad-response"), None),
            },
            Err(completion) => (completion, None),
        }
    }

    /// A cas as one txn; when acknowledged, also the revision it created.
    async fn cas(&self, node: NodeId, op: &OpRequest, deadline: Instant) -> Updated {
        let Some([from, to]) = op
            .value
            .as_array()
            .and_then(|items| <&[Value; 2]>::try_from(items.as_slice()).ok())
        else {
            // Nothing was sent.
            return (Completion::fail("bad-request"), None);
        };
        let body = cas_txn(&op.key, from, to);
        let txn = match self.call(node, "/v3/kv/txn", &body, true, deadline).await {
            Ok(bytes) => serde_json::from_slice::<TxnBody>(&bytes),
            Err(completion) => return (completion, None),
        };
        match txn {
            Ok(txn) if txn.succeeded => {
                (Completion::Ok(op.value.clone()), revision_of(&txn.header))
            }
            // A txn whose compare failed ran its failure branch (a range)
            // and changed nothing.
            Ok(_) => (Completion::fail(checker::Event::MISMATCH), None),
            Err(_) => (Completion::info("bad-response"), None),
        }
    }

    /// An append or set add: read the collection, then put the new one in a
    /// txn guarded by the `mod_revision` read; when another update came
    /// between, the txn's failure branch reads the key again and the update
    /// is retried, at most [`MAX_UPDATE_ATTEMPTS`] txns, and only while the
    /// time left exceeds what the last txn took (a txn cut off by the
    /// deadline would leave the op in doubt). Each lost txn changed
    /// nothing, so only the last attempt can leave the op in doubt. When
    /// acknowledged, also the revision the winning txn created.
    async fn update_collection(&self, node: NodeId, op: &OpRequest, deadline: Instant) -> Updated {
        // Serializable: a stale copy only costs a retry, since the txn
        // compares the revision; and it needs no leader, so the txn is the
        // one request that meets a leaderless node's refusal.
        let (mut current, mut revision) = match self
            .range(node, &op.key, ReadMode::Serializable, deadline)
            .await
        {
            Ok(found) => found,
            // A read changed nothing, however it ended.
            Err(completion) => return (as_read_failure(completion), None),
        };
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let Some(updated) = add_to_collection(op, current.as_ref()) else {
                return (Completion::fail("wrong-type"), None);
            };
            let body = guarded_put_txn(&op.key, revision, &updated);
            let attempt_started = Instant::now();
            let txn = match self.call(node, "/v3/kv/txn", &body, true, deadline).await {
                Ok(bytes) => serde_json::from_slice::<TxnBody>(&bytes),
                Err(completion) => return (completion, None),
            };
            let Ok(txn) = txn else {
                return (Completion::info("bad-response"), None);
            };
            if txn.succeeded {
                return (Completion::Ok(op.value.clone()), revision_of(&txn.header));
            }
            let Some(found) = txn
                .responses
                .iter()
                .find_map(|response| response.response_range.as_ref())
                .and_then(current_of)
            else {
                // The txn did not apply, whatever else its answer lacks.
                return (Completion::fail("bad-response"), None);
            };
            (current, revision) = found;
            if Instant::now() + attempt_started.elapsed() >= deadline {
                break;
            }
        }
        (Completion::fail("contention"), None)
    }
}

impl Client for EtcdClient {
    async fn invoke(&self, node: NodeId, op: &OpRequest) -> Answer {
        let deadline = Instant::now() + self.request_timeout;
        let (completion, revision) = match (op.workload, op.f.as_str()) {
            (Workload::Register, "read") => (self.read_register(node, op, deadline).await, None),
            (Workload::Register, "write") => self.write(node, op, deadline).await,
            (Workload::Register, "cas") => self.cas(node, op, deadline).await,
            (Workload::Append | Workload::Set, "read") => {
                (self.read_collection(node, op, deadline).await, None)
            }
            (Workload::Append, "append") | (Workload::Set, "add") => {
                self.update_collection(node, op, deadline).await
            }
            (Workload::Txn, "txn") => self.transact(node, op, deadline).await,
            // Nothing was sent: a definite failure.
            _ => (Completion::fail("unsupported"), None),
        };
        // Reads have no effect, so an unknown outcome is recorded as a
        // failure (as for raftkv, docs/workloads.md); the client keeps its
        // process.
        let completion = if op.is_read() {
            as_read_failure(completion)
        } else {
            completion
        };
        Answer {
            completion,
            node,
            revision,
        }
    }

    async fn leader(&self) -> Option<NodeId> {
        let statuses = join_all(NodeId::all(self.nodes()).map(|node| self.status(node))).await;
        let unknown = statuses
            .iter()
            .flatten()
            .filter_map(|status| status.leader)
            .any(|leader| self.node_of(leader).is_none());
        if unknown {
            // A leader that has not answered a status yet: find its id in
            // the member list of a node that did answer.
            if let Some(index) = statuses.iter().position(Option::is_some) {
                self.learn_members(NodeId(index)).await;
            }
        }
        choose_leader(&statuses, |id| self.node_of(id))
    }

    async fn views(&self) -> Vec<Option<nemesis::NodeView>> {
        join_all(NodeId::all(self.nodes()).map(|node| self.raft_view(node))).await
    }

    async fn committed_log(&self, _: NodeId, _: u64, _: usize) -> Option<LogPage> {
        // etcd's gateway lists no committed raft entries.
        None
    }

    fn op_timeout(&self) -> Duration {
        self.request_timeout
    }
}

/// The leader most answering nodes name (ties: the one named with the
/// highest `raft_term`, the newer leader; then the lowest node). `statuses[i]` is node i's
/// answer; leaders that map to no node are ignored.
fn choose_leader(
    statuses: &[Option<EtcdStatus>],
    node_of: impl Fn(u64) -> Option<NodeId>,
) -> Option<NodeId> {
    most_named_leader(
        statuses
            .iter()
            .flatten()
            .map(|status| (status.leader.and_then(&node_of), status.raft_term)),
    )
}

/// How an update ended, and the revision it created when acknowledged.
type Updated = (Completion, Option<u64>);

/// The revision a header reports, if any.
fn revision_of(header: &ResponseHeader) -> Option<u64> {
    (header.revision != NO_REVISION).then_some(header.revision)
}

/// A read's completion: `info` becomes `fail` (a read has no effect).
fn as_read_failure(completion: Completion) -> Completion {
    match completion {
        Completion::Info { error } => Completion::Fail { error },
        other => other,
    }
}

/// A value as stored in etcd: its JSON text, base64-encoded.
fn encode_value(value: &Value) -> String {
    BASE64.encode(value.to_string())
}

/// The value a stored base64 text holds, if it is base64 of JSON text.
fn decode_value(text: &str) -> Option<Value> {
    serde_json::from_slice(&BASE64.decode(text).ok()?).ok()
}

/// The value and `mod_revision` of the key a range read (`None` and 0 when
/// absent), or `None` when the stored value is not ours.
fn current_of(range: &RangeBody) -> Option<(Option<Value>, u64)> {
    match range.kvs.first() {
        None => Some((None, 0)),
        Some(kv) => Some((Some(decode_value(&kv.value)?), kv.mod_revision)),
    }
}

/// The collection after `op` (an append or a set add): the list with the
/// element at its end, or the set with it, sorted. `None` when the stored
/// value is not a list.
fn add_to_collection(op: &OpRequest, current: Option<&Value>) -> Option<Value> {
    let mut items = match current {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return None,
    };
    if op.workload == Workload::Set {
        if !items.contains(&op.value) {
            items.push(op.value.clone());
        }
        // Sets are read sorted (docs/design.md); the generator adds integers.
        items.sort_by_key(|item| (item.as_i64(), item.to_string()));
    } else {
        items.push(op.value.clone());
    }
    Some(Value::Array(items))
}

/// A cas `from -> to` at `key` as one txn: compare the value with `from`
/// (`null`: the key is absent, version 0), put `to` on success, read the key
/// on failure.
fn cas_txn(key: &str, from: &Value, to: &Value) -> Value {
    let key = BASE64.encode(key);
    let compare = if from.is_null() {
        json!({"key": key, "target": "VERSION", "result": "EQUAL", "version": "0"})
    } else {
        json!({"key": key, "target": "VALUE", "result": "EQUAL", "value": encode_value(from)})
    };
    json!({
        "compare": [compare],
        "success": [{"request_put": {"key": key, "value": encode_value(to)}}],
        "failure": [{"request_range": {"key": key}}],
    })
}

/// Puts `value` at `key` if its `mod_revision` is still `revision` (0: the
/// key is absent); on failure reads the key, for the next attempt.
fn guarded_put_txn(key: &str, revision: u64, value: &Value) -> Value {
    let key = BASE64.encode(key);
    json!({
        "compare": [{"key": key, "target": "MOD", "result": "EQUAL",
                     "mod_revision": revision.to_string()}],
        "success": [{"request_put": {"key": key, "value": encode_value(value)}}],
        "failure": [{"request_range": {"key": key}}],
    })
}

/// How a non-`200` answer ends an update (docs/etcd.md, "How each answer is recorded").
fn error_completion(status: u16, bytes: &[u8]) -> Completion {
    let Ok(error) = serde_json::from_slice::<ErrorBody>(bytes) else {
        return Completion::info(format!("http-{status}"));
    };
    let message = if error.message.is_empty() {
        error.error.as_str()
    } else {
        error.message.as_str()
    };
    if message.contains("no leader") {
        // Refused before anything was proposed (`hasleader` header).
        Completion::fail("no-leader")
    } else if message.contains("request timed out") {
        // Proposed, not known to be committed: it may still be.
        Completion::info("request-timed-out")
    } else if message.contains("leader changed") {
        Completion::info("leader-changed")
    } else if error.code == GRPC_INVALID_ARGUMENT {
        Completion::fail("bad-request")
    } else if DEFINITE_GRPC_CODES.contains(&error.code) {
        Completion::fail(error_name(message, error.code))
    } else {
        Completion::info(error_name(message, error.code))
    }
}

/// A short name for an etcd error message: `etcdserver: too many requests`
/// is `too-many-requests`; an empty message is `grpc-CODE`.
fn error_name(message: &str, code: i64) -> String {
    let text = message.strip_prefix("etcdserver: ").unwrap_or(message);
    let mut name = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() {
            name.push(character.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
        if name.len() >= MAX_ERROR_LENGTH {
            break;
        }
    }
    let name = name.trim_end_matches('-');
    if name.is_empty() {
        format!("grpc-{code}")
    } else {
        name.to_string()
    }
}

/// A status answer as [`EtcdStatus`], if it parses and names its member.
fn parse_status(bytes: &[u8]) -> Option<EtcdStatus> {
    let body: StatusBody = serde_json::from_slice(bytes).ok()?;
    (body.header.member_id != NO_MEMBER).then(|| EtcdStatus {
        member_id: body.header.member_id,
        leader: (body.leader != NO_LEADER).then_some(body.leader),
        raft_term: body.raft_term,
        raft_index: body.raft_index,
        errors: body.errors,
    })
}

/// The `raft.status` of an expvar page as a [`nemesis::NodeView`], if it
/// has one.
fn parse_raft_status(bytes: &[u8]) -> Option<nemesis::NodeView> {
    let vars: VarsBody = serde_json::from_slice(bytes).ok()?;
    let raft = vars.raft?;
    Some(nemesis::NodeView {
        leader: raft.state == "StateLeader",
        term: raft.term,
        commit: raft.commit,
    })
}

/// A proto3 64-bit integer: JSON strings in the gateway's answers
/// (`"revision": "42"`), numbers accepted too.
fn proto_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Text(String),
        Plain(u64),
    }
    match Number::deserialize(deserializer)? {
        Number::Text(text) => text.parse().map_err(serde::de::Error::custom),
        Number::Plain(number) => Ok(number),
    }
}

// The gateway's answers. proto3 JSON leaves out every zero, false or empty
// field, so every field defaults.

#[derive(Debug, Default, Deserialize)]
struct ResponseHeader {
    #[serde(default, deserialize_with = "proto_u64")]
    member_id: u64,
    /// The store's revision when the request was served: for an update,
    /// the revision it created.
    #[serde(default, deserialize_with = "proto_u64")]
    revision: u64,
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    #[serde(default)]
    header: ResponseHeader,
    #[serde(default, deserialize_with = "proto_u64")]
    leader: u64,
    #[serde(default, rename = "raftTerm", deserialize_with = "proto_u64")]
    raft_term: u64,
    #[serde(default, rename = "raftIndex", deserialize_with = "proto_u64")]
    raft_index: u64,
    #[serde(default)]
    errors: Vec<String>,
}

/// `GET /debug/vars`: Go's expvar page; etcd publishes its raft node's
/// status there (`term`, `commit`, `raftState` and more, as JSON numbers).
#[derive(Debug, Deserialize)]
struct VarsBody {
    #[serde(default, rename = "raft.status")]
    raft: Option<RaftStatusBody>,
}

#[derive(Debug, Deserialize)]
struct RaftStatusBody {
    term: u64,
    commit: u64,
    #[serde(rename = "raftState")]
    state: String,
}

#[derive(Debug, Deserialize)]
struct RangeBody {
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Debug, Deserialize)]
struct KeyValue {
    #[serde(default)]
    value: String,
    #[serde(default, deserialize_with = "proto_u64")]
    mod_revision: u64,
}

#[derive(Debug, Deserialize)]
struct TxnBody {
    #[serde(default)]
    header: ResponseHeader,
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<ResponseOp>,
}

#[derive(Debug, Deserialize)]
struct ResponseOp {
    #[serde(default)]
    response_range: Option<RangeBody>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
}

#[derive(Debug, Deserialize)]
struct MemberListBody {
    #[serde(default)]
    members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
struct Member {
    #[serde(rename = "ID", default, deserialize_with = "proto_u64")]
    id: u64,
    #[serde(rename = "clientURLs", default)]
    client_urls: Vec<String>,
}

#[cfg(test)]
mod tests;
