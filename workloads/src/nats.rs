//! The `nats` client protocol: NATS JetStream through the `async-nats`
//! crate (docs/nats.md). The `queue` workload publishes unique integers to
//! one stream per key and reads whole streams back, node by node.
//!
//! - Stream: one per key, named after the key (`q0`), subject
//!   `faultline.<key>`, file storage, R3 (R5 from 5 nodes), direct gets
//!   allowed, created by the first publish to the key.
//! - `publish v`: payload = `v` as JSON, header `Nats-Msg-Id` =
//!   `<key>-<v>` (unique: values are unique per key); `ok` value =
//!   `[seq, v]` with the stream sequence of the PubAck.
//! - `read`: every message of the key's stream through one node, by message
//!   gets that the stream leader answers; `ok` value = `[[seq, v], ...]` in
//!   sequence order, `[]` when the node answers that the stream does not
//!   exist.
//!
//! Each node has its own connection, to that node only (discovered servers
//! ignored; the servers advertise none either): an answer through node i
//! came from node i's server.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_nats::jetstream::context::{GetStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self, stream};
use futures::future::join_all;
use futures::StreamExt as _;
use nemesis::NodeId;
use serde_json::{json, Value};
use tokio::sync::Mutex as AsyncMutex;

use crate::client::{Answer, Client, Completion, LogPage};
use crate::generator::OpRequest;

/// The subject of the stream of `key`.
#[must_use]
pub fn subject(key: &str) -> String {
    format!("faultline.{key}")
}

/// The message id (`Nats-Msg-Id`) of value `value` published to `key`.
#[must_use]
pub fn message_id(key: &str, value: &Value) -> String {
    format!("{key}-{value}")
}

/// How long one `/jsz` of [`Client::leader`] may take.
const JSZ_TIMEOUT: Duration = Duration::from_millis(500);
/// The stream setup makes to learn that JetStream serves (no workload key:
/// those are `q0`, `q1`, ...).
pub const SETUP_PROBE_STREAM: &str = "setup-probe";
/// How long one node may take to make or find the setup probe stream.
const READY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A NATS JetStream cluster: one connection per node, made on first use.
pub struct NatsClient {
    client_addrs: Vec<SocketAddr>,
    http_addrs: Vec<SocketAddr>,
    replicas: usize,
    request_timeout: Duration,
    connections: Vec<AsyncMutex<Option<async_nats::Client>>>,
    /// Streams this client has created (or found), by key.
    streams: Mutex<HashSet<String>>,
    http: reqwest::Client,
}

impl NatsClient {
    /// A client of the servers at `client_addrs`, whose monitoring ports are
    /// `http_addrs`; streams get 3 replicas, 5 from 5 nodes (at most
    /// `nodes`). A publish waits `request_timeout` for its PubAck.
    #[must_use]
    pub fn new(
        client_addrs: Vec<SocketAddr>,
        http_addrs: Vec<SocketAddr>,
        nodes: usize,
        request_timeout: Duration,
    ) -> Self {
        let replicas = if nodes >= 5 { 5 } else { 3.min(nodes.max(1)) };
        let connections = client_addrs.iter().map(|_| AsyncMutex::new(None)).collect();
        Self {
            client_addrs,
            http_addrs,
            replicas,
            request_timeout,
            connections,
            streams: Mutex::new(HashSet::new()),
            http: reqwest::Client::builder()
                .timeout(JSZ_TIMEOUT)
                .build()
                .unwrap_or_default(),
        }
    }

    /// The replicas of every stream.
    #[must_use]
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// The connection to `node`, made if there is none. `Err` names why
    /// none could be made (nothing was sent).
    async fn connection(&self, node: NodeId) -> Result<async_nats::Client, String> {
        let Some(slot) = self.connections.get(node.index()) else {
            return Err("no-such-node".into());
        };
        let mut slot = slot.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let addr = self.client_addrs[node.index()];
        let connect = async_nats::ConnectOptions::new()
            .ignore_discovered_servers()
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(self.request_timeout))
            .connect(format!("nats://{addr}"));
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, connect).await {
            Ok(Ok(client)) => {
                *slot = Some(client.clone());
                Ok(client)
            }
            Ok(Err(error)) => Err(connect_error(&error.to_string())),
            Err(_) => Err("connect-timeout".into()),
        }
    }

    fn context(&self, client: async_nats::Client) -> jetstream::Context {
        let mut context = jetstream::new(client);
        context.set_timeout(self.request_timeout);
        context
    }

    fn stream_config(&self, key: &str) -> stream::Config {
        stream::Config {
            name: key.to_owned(),
            subjects: vec![subject(key)],
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            allow_direct: true,
            // Every publish carries its own message id: a second copy of one
            // within the window is dropped by the server, and one that
            // gets in anyway is a duplicate the checks name.
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        }
    }

    async fn publish(&self, node: NodeId, op: &OpRequest) -> Completion {
        let client = match self.connection(node).await {
            Ok(client) => client,
            Err(error) => return Completion::fail(error),
        };
        let context = self.context(client);
        let known = self
            .streams
            .lock()
            .map(|streams| streams.contains(&op.key))
            .unwrap_or(false);
        if !known {
            match context
                .get_or_create_stream(self.stream_config(&op.key))
                .await
            {
                Ok(_) => {
                    if let Ok(mut streams) = self.streams.lock() {
                        streams.insert(op.key.clone());
                    }
                }
                // Nothing was published: the stream could not be made.
                Err(error) => {
                    return Completion::fail(format!("stream-create-{}", short(&error.to_string())))
                }
            }
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message_id(&op.key, &op.value).as_str());
        let payload = op.value.to_string().into_bytes();
        let sent = context
            .publish_with_headers(subject(&op.key), headers, payload.into())
            .await;
        let ack = match sent {
            Ok(ack) => ack,
            // The message never left the client.
            Err(error) => return Completion::fail(format!("send-{}", short(&error.to_string()))),
        };
        match ack.await {
            Ok(ack) if ack.duplicate => Completion::info("duplicate-ack"),
            Ok(ack) => Completion::Ok(json!([ack.sequence, op.value])),
            Err(error) => match error.kind() {
                // No responders: no stream took the message in.
                PublishErrorKind::StreamNotFound => Completion::fail("no-responders"),
                PublishErrorKind::TimedOut => Completion::info("timeout"),
                PublishErrorKind::BrokenPipe => Completion::info("connection-closed"),
                _ => Completion::info(short(&error.to_string())),
            },
        }
    }

    /// Every message of `key`'s stream as node `node` serves it.
    async fn read(&self, node: NodeId, key: &str) -> Completion {
        let client = match self.connection(node).await {
            Ok(client) => client,
            Err(error) => return Completion::fail(error),
        };
        let context = self.context(client);
        let stream = match context.get_stream(key).await {
            Ok(stream) => stream,
            Err(error) => {
                // The node answered that the stream does not exist: an
                // observation (every message acknowledged to it is lost).
                if let GetStreamErrorKind::JetStream(js) = error.kind() {
                    if js.code() == 404 || js.error_code() == ErrorCode::STREAM_NOT_FOUND {
                        return Completion::Ok(json!([]));
                    }
                }
                return Completion::fail(short(&error.to_string()));
            }
        };
        let subject = subject(key);
        let mut messages = Vec::new();
        // Message gets (`$JS.API.STREAM.MSG.GET`), which the stream leader
        // answers, not direct gets: any replica answers a direct get, a
        // lagging one too, and one read is many gets, so a read by direct
        // gets can end early at a stale replica's last sequence.
        // Up to the last sequence the leader named, GETS_IN_FLIGHT at a time
        // (one by one, a read of 500 messages through a busy leader took
        // seconds, and the final reads of a run ran out of time); a sequence
        // with no message (deleted) is not part of the stream.
        let state = &stream.cached_info().state;
        let mut gets = futures::stream::iter(state.first_sequence.max(1)..=state.last_sequence)
            .map(|seq| {
                let stream = &stream;
                async move { stream.get_raw_message(seq).await }
            })
            .buffered(GETS_IN_FLIGHT);
        while let Some(got) = gets.next().await {
            match got {
                Ok(message) => messages.push(json!([message.sequence, payload(&message.payload)])),
                Err(error) if matches!(error.kind(), RawMessageErrorKind::NoMessageFound) => {}
                Err(error) => return Completion::fail(short(&error.to_string())),
            }
        }
        // Then one by one past it, for anything stored since.
        let mut next = state.last_sequence + 1;
        loop {
            match stream
                .get_first_raw_message_by_subject(subject.as_str(), next)
                .await
            {
                Ok(message) => {
                    messages.push(json!([message.sequence, payload(&message.payload)]));
                    next = message.sequence + 1;
                }
                Err(error) if matches!(error.kind(), RawMessageErrorKind::NoMessageFound) => break,
                Err(error) => return Completion::fail(short(&error.to_string())),
            }
        }
        Completion::Ok(Value::Array(messages))
    }

    /// The node's own JetStream view (`GET /jsz?streams=true` on its
    /// monitoring port), `None` when it does not answer.
    pub async fn jsz(&self, node: NodeId) -> Option<Value> {
        let addr = self.http_addrs.get(node.index())?;
        let answer = self
            .http
            .get(format!("http://{addr}/jsz?streams=true"))
            .send()
            .await
            .ok()?;
        answer.json().await.ok()
    }
}

/// How many message gets one read keeps in flight.
const GETS_IN_FLIGHT: usize = 32;

/// A message's payload: the JSON value published, else its text.
fn payload(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(bytes)))
}

/// A connect failure as an `error` word.
fn connect_error(text: &str) -> String {
    if text.contains("refused") {
        "connection-refused".into()
    } else {
        "connect-failed".into()
    }
}

/// An error message as a short `error` word: lower case, dashes, at most
/// 48 characters.
fn short(text: &str) -> String {
    let mut word: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while word.contains("--") {
        word = word.replace("--", "-");
    }
    word.trim_matches('-').chars().take(48).collect()
}

impl Client for NatsClient {
    async fn invoke(&self, node: NodeId, op: &OpRequest) -> Answer {
        let completion = match op.f.as_str() {
            "publish" => self.publish(node, op).await,
            "read" => self.read(node, &op.key).await,
            _ => Completion::fail("unsupported"),
        };
        Answer {
            completion,
            node,
            revision: None,
        }
    }

    async fn ready(&self) -> bool {
        // A stream made and then looked up through every node: the meta
        // leader takes requests and every route carries them. Right after
        // the meta group names its leader, stream creation could time out
        // for seconds (every publish of a 10 s run once failed so).
        for node in NodeId::all(self.client_addrs.len()) {
            let Ok(client) = self.connection(node).await else {
                return false;
            };
            let context = self.context(client);
            let made = context.get_or_create_stream(self.stream_config(SETUP_PROBE_STREAM));
            if !matches!(tokio::time::timeout(READY_TIMEOUT, made).await, Ok(Ok(_))) {
                return false;
            }
        }
        true
    }

    async fn leader(&self) -> Option<NodeId> {
        // The JetStream meta leader, as most nodes name it.
        let answers = join_all(NodeId::all(self.http_addrs.len()).map(|node| self.jsz(node))).await;
        let named = answers.iter().flatten().filter_map(|jsz| {
            let name = jsz.pointer("/meta_cluster/leader")?.as_str()?;
            let number: usize = name.strip_prefix('n')?.parse().ok()?;
            (number >= 1 && number <= self.http_addrs.len()).then(|| (Some(NodeId(number - 1)), 0))
        });
        crate::client::most_named_leader(named)
    }

    async fn committed_log(&self, _: NodeId, _: u64, _: usize) -> Option<LogPage> {
        // JetStream lists no committed Raft entries.
        None
    }

    fn op_timeout(&self) -> Duration {
        // Stream creation, then the PubAck wait; or a whole stream's reads.
        self.request_timeout * 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_unique_per_key_and_value() {
        assert_eq!(message_id("q0", &json!(7)), "q0-7");
        assert_ne!(message_id("q0", &json!(7)), message_id("q1", &json!(7)));
        assert_eq!(subject("q3"), "faultline.q3");
    }

    #[test]
    fn error_messages_become_short_words() {
        assert_eq!(
            short("timed out: didn't receive ack"),
            "timed-out-didn-t-receive-ack"
        );
        assert!(short(&"x ".repeat(100)).len() <= 48);
    }

    #[test]
    fn streams_are_r3_and_r5_from_five_nodes() {
        let client = |nodes| NatsClient::new(Vec::new(), Vec::new(), nodes, Duration::from_secs(1));
        assert_eq!(client(3).replicas(), 3);
        assert_eq!(client(5).replicas(), 5);
        assert_eq!(client(1).replicas(), 1);
    }
}
