//! The etcd client against fake gateways (axum on 127.0.0.1): request
//! shapes, every row of the error mapping, timeouts, cut connections, the
//! guarded updates of append and set, status and leader; reads at
//! revisions in `tests/revisions.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::io::AsyncReadExt;

use super::*;

mod revisions;

/// A fake gateway's answer to a request: HTTP status and JSON body.
type Respond = dyn Fn(&str, &Value) -> (u16, Value) + Send + Sync;

/// One request a fake gateway got.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    body: Value,
    /// Whether it carried `Grpc-Metadata-hasleader: true`.
    requires_leader: bool,
}

/// A fake etcd gateway on 127.0.0.1: answers every request with
/// `respond(path, body)` after `delay`, and remembers what it got.
struct FakeGateway {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeGateway {
    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("not poisoned").clone()
    }

    fn last(&self) -> Request {
        self.requests().pop().expect("the gateway got a request")
    }
}

async fn fake_gateway(
    delay: Duration,
    respond: impl Fn(&str, &Value) -> (u16, Value) + Send + Sync + 'static,
) -> FakeGateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an ephemeral loopback port is free");
    serve_fake(listener, delay, respond)
}

/// [`fake_gateway`] on a given (just freed) address.
async fn fake_gateway_at(
    addr: SocketAddr,
    delay: Duration,
    respond: impl Fn(&str, &Value) -> (u16, Value) + Send + Sync + 'static,
) -> FakeGateway {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("a port freed a moment ago is free again");
    serve_fake(listener, delay, respond)
}

fn serve_fake(
    listener: tokio::net::TcpListener,
    delay: Duration,
    respond: impl Fn(&str, &Value) -> (u16, Value) + Send + Sync + 'static,
) -> FakeGateway {
    let respond: Arc<Respond> = Arc::new(respond);
    let hits = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (hits_in, requests_in) = (hits.clone(), requests.clone());
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let (respond, hits, requests) = (respond.clone(), hits_in.clone(), requests_in.clone());
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let requires_leader = headers
                .get(REQUIRE_LEADER_HEADER)
                .is_some_and(|value| value == "true");
            requests.lock().expect("not poisoned").push(Request {
                path: uri.path().to_string(),
                body: body.clone(),
                requires_leader,
            });
            tokio::time::sleep(delay).await;
            let (code, answer) = respond(uri.path(), &body);
            let code = StatusCode::from_u16(code).expect("tests use valid status codes");
            (code, axum::Json(answer))
        }
    });
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeGateway {
        addr,
        hits,
        requests,
    }
}

fn header() -> Value {
    json!({"cluster_id": "9908347314604768730", "member_id": "17174100222930713941",
           "revision": "7", "raft_term": "2"})
}

/// A range answer holding `value` (as stored: JSON text, base64) at
/// `mod_revision`, or no `kvs` for `None`.
fn range_answer(value: Option<Value>, mod_revision: u64) -> Value {
    match value {
        None => json!({"header": header()}),
        Some(value) => json!({"header": header(), "count": "1", "kvs": [{
            "key": "aw==", "create_revision": "2", "mod_revision": mod_revision.to_string(),
            "version": "3", "value": encode_value(&value)}]}),
    }
}

fn txn_succeeded() -> Value {
    json!({"header": header(), "succeeded": true,
           "responses": [{"response_put": {"header": {"revision": "8"}}}]})
}

/// A failed txn: no `succeeded`, the failure branch's range.
fn txn_failed(value: Option<Value>, mod_revision: u64) -> Value {
    let mut range = range_answer(value, mod_revision);
    range["header"] = json!({"revision": "7"});
    json!({"header": header(), "responses": [{"response_range": range}]})
}

fn grpc_error(message: &str, code: i64) -> Value {
    json!({"error": message, "message": message, "code": code})
}

fn client(gateways: &[&FakeGateway], read_mode: ReadMode) -> EtcdClient {
    EtcdClient::new(
        gateways.iter().map(|gateway| gateway.addr).collect(),
        Duration::from_millis(400),
        read_mode,
    )
}

fn op(workload: Workload, f: &str, value: Value) -> OpRequest {
    OpRequest {
        workload,
        f: f.to_string(),
        key: "k".to_string(),
        value,
    }
}

async fn completion(client: &EtcdClient, op: &OpRequest) -> Completion {
    client.invoke(NodeId(0), op).await.completion
}

#[test]
fn read_modes_round_trip_through_from_str_display_and_serde() {
    assert_eq!(ReadMode::default(), ReadMode::Linearizable);
    for mode in ReadMode::ALL {
        assert_eq!(mode.name().parse::<ReadMode>(), Ok(mode));
        assert_eq!(mode.to_string(), mode.name());
        let json = serde_json::to_string(&mode).expect("an enum serializes");
        assert_eq!(json, format!("\"{}\"", mode.name()));
        assert_eq!(serde_json::from_str::<ReadMode>(&json).ok(), Some(mode));
    }
    let error = "stale".parse::<ReadMode>().expect_err("no such mode");
    assert!(error.to_string().contains("\"stale\""), "{error}");
    assert!(error.to_string().contains("serializable"), "{error}");
}

#[test]
fn etcd_supports_register_append_set_and_txn_but_not_counter() {
    let supported: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|&workload| EtcdClient::supports(workload))
        .collect();
    assert_eq!(
        supported,
        vec![
            Workload::Register,
            Workload::Append,
            Workload::Set,
            Workload::Txn
        ]
    );
}

#[test]
fn values_are_stored_as_base64_json_text() {
    assert_eq!(encode_value(&json!(5)), "NQ==");
    assert_eq!(encode_value(&json!(-12)), "LTEy");
    assert_eq!(encode_value(&json!([1, 2])), "WzEsMl0=");
    for value in [json!(0), json!(123_456_789), json!([3, 1]), json!("text")] {
        assert_eq!(decode_value(&encode_value(&value)), Some(value));
    }
    // Written by someone else: not base64, or not JSON.
    assert_eq!(decode_value("!!"), None);
    assert_eq!(decode_value(&BASE64.encode(b"bar")), None);
}

#[test]
fn keys_are_written_as_the_gateway_writes_them_and_read_with_or_without_padding() {
    // the gateway's documented curl examples, and the URL-unsafe characters.
    for (plain, encoded) in [
        (&b"bar"[..], "YmFy"),
        (b"qux", "cXV4"),
        (b"1", "MQ=="),
        (&[0xfb, 0xff], "+/8="),
    ] {
        assert_eq!(BASE64.encode(plain), encoded);
        assert_eq!(BASE64.decode(encoded).unwrap(), plain);
        let unpadded = encoded.trim_end_matches('=');
        assert_eq!(BASE64.decode(unpadded).unwrap(), plain);
    }
    // Not base64: bad characters, a lone character, a second spelling.
    for bad in ["Zm9v!", "Zm-v", "Z", "Zm9=", "Zg==="] {
        assert!(BASE64.decode(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn ok_answers_carry_the_values_of_the_history_table() {
    let gateway = fake_gateway(Duration::ZERO, |path, body| {
        let key = body["key"].as_str().unwrap_or_default();
        match (path, key) {
            ("/v3/kv/range", "YWJzZW50") => (200, range_answer(None, 0)),
            ("/v3/kv/range", "bA==") => (200, range_answer(Some(json!([1, 2])), 4)),
            ("/v3/kv/range", _) => (200, range_answer(Some(json!(7)), 4)),
            ("/v3/kv/put", _) => (200, json!({"header": header()})),
            ("/v3/kv/txn", _) => (200, txn_succeeded()),
            _ => (404, json!("no such path")),
        }
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let keyed = |workload, f: &str, key: &str| OpRequest {
        key: key.to_string(),
        ..op(workload, f, Value::Null)
    };
    let cases = [
        (op(Workload::Register, "read", Value::Null), json!(7)),
        (keyed(Workload::Register, "read", "absent"), Value::Null),
        (op(Workload::Register, "write", json!(4)), json!(4)),
        (op(Workload::Register, "cas", json!([4, 5])), json!([4, 5])),
        (
            op(Workload::Register, "cas", json!([null, 1])),
            json!([null, 1]),
        ),
        (keyed(Workload::Append, "read", "l"), json!([1, 2])),
        (keyed(Workload::Append, "read", "absent"), json!([])),
        (keyed(Workload::Set, "read", "l"), json!([1, 2])),
    ];
    for (op, expected) in cases {
        assert_eq!(
            completion(&client, &op).await,
            Completion::Ok(expected),
            "{op:?}"
        );
    }
}

#[tokio::test]
async fn requests_carry_base64_keys_and_values_and_the_leader_header() {
    let gateway = fake_gateway(Duration::ZERO, |path, _| match path {
        "/v3/kv/range" => (200, range_answer(None, 0)),
        "/v3/kv/txn" => (200, txn_succeeded()),
        _ => (200, json!({"header": header()})),
    })
    .await;
    let linearizable = client(&[&gateway], ReadMode::Linearizable);
    let serializable = client(&[&gateway], ReadMode::Serializable);
    let foo = |f: &str, value: Value| OpRequest {
        key: "foo".to_string(),
        ..op(Workload::Register, f, value)
    };

    completion(&linearizable, &foo("read", Value::Null)).await;
    let read = gateway.last();
    assert_eq!(read.path, "/v3/kv/range");
    assert_eq!(read.body, json!({"key": "Zm9v"}));
    assert!(read.requires_leader);

    // A serializable read asks no leader: an isolated node serves it.
    completion(&serializable, &foo("read", Value::Null)).await;
    let read = gateway.last();
    assert_eq!(read.body, json!({"key": "Zm9v", "serializable": true}));
    assert!(!read.requires_leader);

    completion(&serializable, &foo("write", json!(12))).await;
    let put = gateway.last();
    assert_eq!(put.path, "/v3/kv/put");
    assert_eq!(put.body, json!({"key": "Zm9v", "value": "MTI="}));
    assert!(put.requires_leader);
}

#[tokio::test]
async fn cas_is_one_txn_comparing_the_value_or_absence() {
    let gateway = fake_gateway(Duration::ZERO, |_, _| (200, txn_succeeded())).await;
    let client = client(&[&gateway], ReadMode::Serializable);
    completion(&client, &op(Workload::Register, "cas", json!([1, 2]))).await;
    let txn = gateway.last();
    assert_eq!(txn.path, "/v3/kv/txn");
    assert!(txn.requires_leader);
    assert_eq!(
        txn.body,
        json!({
            "compare": [{"key": "aw==", "target": "VALUE", "result": "EQUAL", "value": "MQ=="}],
            "success": [{"request_put": {"key": "aw==", "value": "Mg=="}}],
            "failure": [{"request_range": {"key": "aw=="}}],
        })
    );
    // From null: the key must be absent (version 0).
    completion(&client, &op(Workload::Register, "cas", json!([null, 3]))).await;
    assert_eq!(
        gateway.last().body["compare"],
        json!([{"key": "aw==", "target": "VERSION", "result": "EQUAL", "version": "0"}])
    );
}

#[tokio::test]
async fn a_txn_whose_compare_failed_is_a_cas_mismatch() {
    let gateway = fake_gateway(Duration::ZERO, |_, _| (200, txn_failed(Some(json!(9)), 5))).await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let cas = op(Workload::Register, "cas", json!([1, 2]));
    assert_eq!(
        completion(&client, &cas).await,
        Completion::fail("mismatch")
    );
    // Without a failure branch etcd answers a bare header: still no effect.
    let bare = fake_gateway(Duration::ZERO, |_, _| (200, json!({"header": header()}))).await;
    let client = EtcdClient::new(
        vec![bare.addr],
        Duration::from_millis(400),
        ReadMode::Linearizable,
    );
    assert_eq!(
        completion(&client, &cas).await,
        Completion::fail("mismatch")
    );
}

#[tokio::test]
async fn etcd_errors_map_to_fail_or_info_and_reads_never_end_in_info() {
    // The key names the error the fake answers with.
    let gateway = fake_gateway(Duration::ZERO, |path, body| {
        let key = body["key"]
            .as_str()
            .or_else(|| body["compare"][0]["key"].as_str())
            .and_then(|key| BASE64.decode(key).ok())
            .map(|key| String::from_utf8_lossy(&key).into_owned())
            .unwrap_or_default();
        // The serializable pre-read of an append always succeeds, so its
        // txn meets the error.
        if path == "/v3/kv/range" && body.get("serializable").is_some() {
            return (200, range_answer(None, 0));
        }
        match key.as_str() {
            "no-leader" => (503, grpc_error("etcdserver: no leader", 14)),
            "timed-out" => (503, grpc_error("etcdserver: request timed out", 14)),
            "timed-out-variant" => (
                503,
                grpc_error(
                    "etcdserver: request timed out, possibly due to previous leader failure",
                    14,
                ),
            ),
            "leader-changed" => (503, grpc_error("etcdserver: leader changed", 14)),
            "bad" => (400, grpc_error("etcdserver: key is not provided", 3)),
            "busy" => (429, grpc_error("etcdserver: too many requests", 8)),
            "stopped" => (503, grpc_error("etcdserver: server stopped", 14)),
            "garbage" => (500, json!("not an error body")),
            "bad-200" => (200, json!("not an answer")),
            _ => (200, range_answer(None, 0)),
        }
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let with_key = |workload: Workload, f: &str, key: &str| OpRequest {
        workload,
        f: f.to_string(),
        key: key.to_string(),
        value: match f {
            "write" => json!(1),
            "cas" => json!([1, 2]),
            _ => Value::Null,
        },
    };
    use Workload::Register;
    let cases = [
        ("write", "no-leader", Completion::fail("no-leader")),
        ("cas", "no-leader", Completion::fail("no-leader")),
        ("read", "no-leader", Completion::fail("no-leader")),
        ("write", "timed-out", Completion::info("request-timed-out")),
        ("cas", "timed-out", Completion::info("request-timed-out")),
        (
            "write",
            "timed-out-variant",
            Completion::info("request-timed-out"),
        ),
        ("read", "timed-out", Completion::fail("request-timed-out")),
        (
            "write",
            "leader-changed",
            Completion::info("leader-changed"),
        ),
        ("read", "leader-changed", Completion::fail("leader-changed")),
        ("write", "bad", Completion::fail("bad-request")),
        ("write", "busy", Completion::fail("too-many-requests")),
        // Unavailable for a reason nobody listed: may have happened.
        ("write", "stopped", Completion::info("server-stopped")),
        ("read", "stopped", Completion::fail("server-stopped")),
        ("write", "garbage", Completion::info("http-500")),
        ("read", "garbage", Completion::fail("http-500")),
        ("write", "bad-200", Completion::info("bad-response")),
        ("cas", "bad-200", Completion::info("bad-response")),
        ("read", "bad-200", Completion::fail("bad-response")),
    ];
    for (f, key, expected) in cases {
        assert_eq!(
            completion(&client, &with_key(Register, f, key)).await,
            expected,
            "{f} {key}"
        );
    }
    // An append whose txn meets the errors ends as a write would.
    for (key, expected) in [
        ("no-leader", Completion::fail("no-leader")),
        ("timed-out", Completion::info("request-timed-out")),
        ("leader-changed", Completion::info("leader-changed")),
        ("bad-200", Completion::info("bad-response")),
    ] {
        let append = OpRequest {
            value: json!(1),
            ..with_key(Workload::Append, "append", key)
        };
        assert_eq!(completion(&client, &append).await, expected, "append {key}");
    }
}

#[test]
fn unnamed_etcd_errors_get_short_names() {
    assert_eq!(
        error_name("etcdserver: too many requests", 8),
        "too-many-requests"
    );
    assert_eq!(
        error_name("etcdserver: mvcc: required revision has been compacted", 11),
        "mvcc-required-revision-has-been-compacted"
    );
    assert_eq!(error_name("", 13), "grpc-13");
    assert!(error_name(&"x ".repeat(100), 2).len() <= MAX_ERROR_LENGTH);
    // Definite codes fail, the others are in doubt.
    assert_eq!(
        error_completion(
            400,
            &serde_json::to_vec(&grpc_error(
                "etcdserver: mvcc: required revision is a future revision",
                11
            ))
            .expect("json")
        ),
        Completion::fail("mvcc-required-revision-is-a-future-revision")
    );
    assert_eq!(
        error_completion(
            500,
            &serde_json::to_vec(&grpc_error("raft: stopped", 2)).expect("json")
        ),
        Completion::info("raft-stopped")
    );
    assert_eq!(
        error_completion(404, b"404 page not found"),
        Completion::info("http-404")
    );
}

#[tokio::test]
async fn an_answer_later_than_the_client_timeout_is_info_for_updates_and_fail_for_reads() {
    let gateway = fake_gateway(Duration::from_secs(2), |_, _| (200, txn_succeeded())).await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let started = Instant::now();
    for (op, expected) in [
        (
            op(Workload::Register, "write", json!(1)),
            Completion::info("timeout"),
        ),
        (
            op(Workload::Register, "cas", json!([1, 2])),
            Completion::info("timeout"),
        ),
        (
            op(Workload::Register, "read", Value::Null),
            Completion::fail("timeout"),
        ),
        (
            op(Workload::Set, "read", Value::Null),
            Completion::fail("timeout"),
        ),
    ] {
        assert_eq!(completion(&client, &op).await, expected, "{op:?}");
    }
    assert!(started.elapsed() < Duration::from_millis(2500));
}

#[tokio::test]
async fn a_refused_connection_fails_definitely() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    drop(listener);
    let client = EtcdClient::new(
        vec![addr],
        Duration::from_millis(400),
        ReadMode::Linearizable,
    );
    for op in [
        op(Workload::Register, "write", json!(1)),
        op(Workload::Register, "cas", json!([1, 2])),
        op(Workload::Append, "append", json!(1)),
        op(Workload::Register, "read", Value::Null),
    ] {
        assert_eq!(
            completion(&client, &op).await,
            Completion::fail("connection-refused"),
            "{op:?}"
        );
    }
    assert_eq!(client.status(NodeId(0)).await, None);
    assert_eq!(client.leader().await, None);
}

#[tokio::test]
async fn a_connection_cut_after_sending_is_info_for_updates_and_fail_for_reads() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            // Read the request, then hang up without answering.
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            drop(socket);
        }
    });
    let client = EtcdClient::new(
        vec![addr],
        Duration::from_millis(400),
        ReadMode::Linearizable,
    );
    assert_eq!(
        completion(&client, &op(Workload::Register, "write", json!(1))).await,
        Completion::info("connection-closed")
    );
    assert_eq!(
        completion(&client, &op(Workload::Register, "read", Value::Null)).await,
        Completion::fail("connection-closed")
    );
}

#[tokio::test]
async fn counter_ops_are_unsupported_and_send_nothing() {
    let gateway = fake_gateway(Duration::ZERO, |_, _| (200, json!({}))).await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    for op in [
        op(Workload::Counter, "add", json!(1)),
        op(Workload::Counter, "read", Value::Null),
        op(Workload::Register, "append", json!(1)),
    ] {
        assert_eq!(
            completion(&client, &op).await,
            Completion::fail("unsupported"),
            "{op:?}"
        );
    }
    // A cas without [from, to] is refused before sending, too.
    assert_eq!(
        completion(&client, &op(Workload::Register, "cas", json!(1))).await,
        Completion::fail("bad-request")
    );
    assert_eq!(gateway.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_stored_value_that_is_not_ours_is_a_failed_read() {
    let gateway = fake_gateway(Duration::ZERO, |_, _| {
        (
            200,
            json!({"header": header(), "kvs": [{"key": "aw==", "value": "YmFy", "mod_revision": "3"}]}),
        )
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    assert_eq!(
        completion(&client, &op(Workload::Register, "read", Value::Null)).await,
        Completion::fail("bad-response")
    );
    assert_eq!(
        completion(&client, &op(Workload::Append, "append", json!(1))).await,
        Completion::fail("bad-response")
    );
}

#[tokio::test]
async fn an_append_reads_then_puts_the_longer_list_guarded_by_the_revision() {
    let gateway = fake_gateway(Duration::ZERO, |path, _| match path {
        "/v3/kv/range" => (200, range_answer(Some(json!([1, 2])), 4)),
        _ => (200, txn_succeeded()),
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    assert_eq!(
        completion(&client, &op(Workload::Append, "append", json!(3))).await,
        Completion::Ok(json!(3))
    );
    let requests = gateway.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].body,
        json!({"key": "aw==", "serializable": true})
    );
    assert!(!requests[0].requires_leader);
    assert!(requests[1].requires_leader);
    assert_eq!(
        requests[1].body,
        json!({
            "compare": [{"key": "aw==", "target": "MOD", "result": "EQUAL", "mod_revision": "4"}],
            "success": [{"request_put": {"key": "aw==", "value": encode_value(&json!([1, 2, 3]))}}],
            "failure": [{"request_range": {"key": "aw=="}}],
        })
    );
}

#[tokio::test]
async fn an_update_that_lost_a_race_retries_on_what_the_txn_read() {
    // The key is absent when read; another client's append lands before
    // the txn, whose failure branch shows [7] at revision 9.
    let txns = Arc::new(AtomicUsize::new(0));
    let seen = txns.clone();
    let gateway = fake_gateway(Duration::ZERO, move |path, _| match path {
        "/v3/kv/range" => (200, range_answer(None, 0)),
        _ if seen.fetch_add(1, Ordering::SeqCst) == 0 => (200, txn_failed(Some(json!([7])), 9)),
        _ => (200, txn_succeeded()),
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    assert_eq!(
        completion(&client, &op(Workload::Set, "add", json!(3))).await,
        Completion::Ok(json!(3))
    );
    let requests = gateway.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_eq!(requests[1].body["compare"][0]["mod_revision"], "0");
    assert_eq!(
        requests[1].body["success"][0]["request_put"]["value"],
        encode_value(&json!([3]))
    );
    // A set stays sorted.
    assert_eq!(requests[2].body["compare"][0]["mod_revision"], "9");
    assert_eq!(
        requests[2].body["success"][0]["request_put"]["value"],
        encode_value(&json!([3, 7]))
    );
}

#[tokio::test]
async fn an_update_that_keeps_losing_fails_definitely_and_one_in_doubt_is_not_retried() {
    let losing = fake_gateway(Duration::ZERO, |path, _| match path {
        "/v3/kv/range" => (200, range_answer(None, 0)),
        _ => (200, txn_failed(Some(json!([1])), 5)),
    })
    .await;
    let losing_client = client(&[&losing], ReadMode::Linearizable);
    assert_eq!(
        completion(&losing_client, &op(Workload::Append, "append", json!(2))).await,
        Completion::fail("contention")
    );
    // One read, then every txn it may try.
    assert_eq!(losing.hits.load(Ordering::SeqCst), 1 + MAX_UPDATE_ATTEMPTS);

    // Slow txns: after a lost one, less time is left than it took, so the
    // op gives up instead of running into the timeout (in doubt).
    let slow = fake_gateway(Duration::from_millis(150), |path, _| match path {
        "/v3/kv/range" => (200, range_answer(None, 0)),
        _ => (200, txn_failed(Some(json!([1])), 5)),
    })
    .await;
    let slow_client = client(&[&slow], ReadMode::Linearizable);
    assert_eq!(
        completion(&slow_client, &op(Workload::Set, "add", json!(2))).await,
        Completion::fail("contention")
    );
    assert_eq!(slow.hits.load(Ordering::SeqCst), 2);

    // A txn that timed out may have applied: retrying could append twice.
    let doubtful = fake_gateway(Duration::ZERO, |path, _| match path {
        "/v3/kv/range" => (200, range_answer(None, 0)),
        _ => (503, grpc_error("etcdserver: request timed out", 14)),
    })
    .await;
    let client = client(&[&doubtful], ReadMode::Linearizable);
    assert_eq!(
        completion(&client, &op(Workload::Append, "append", json!(2))).await,
        Completion::info("request-timed-out")
    );
    assert_eq!(doubtful.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn status_answers_parse_with_string_numbers_and_missing_fields() {
    let healthy = br#"{"header":{"cluster_id":"9908347314604768730","member_id":"17174100222930713941","revision":"7","raft_term":"2"},
        "version":"3.4.23","dbSize":"20480","leader":"17174100222930713941","raftIndex":"19","raftTerm":"2",
        "raftAppliedIndex":"19","dbSizeInUse":"16384"}"#;
    assert_eq!(
        parse_status(healthy),
        Some(EtcdStatus {
            member_id: 17_174_100_222_930_713_941,
            leader: Some(17_174_100_222_930_713_941),
            raft_term: 2,
            raft_index: 19,
            errors: vec![],
        })
    );
    let leaderless = br#"{"header":{"member_id":"5720029025643577817","revision":"7"},
        "raftIndex":"20","raftTerm":"2","errors":["etcdserver: no leader"]}"#;
    let status = parse_status(leaderless).expect("parses");
    assert_eq!(status.leader, None);
    assert_eq!(status.errors, vec!["etcdserver: no leader".to_string()]);
    // No member id, or numbers that are not numbers: not a status.
    assert_eq!(parse_status(br#"{"leader":"1"}"#), None);
    assert_eq!(parse_status(br#"{"header":{"member_id":"x1"}}"#), None);
}

#[test]
fn the_raft_status_of_the_expvar_page_is_a_node_view() {
    // etcd 3.4.23's /debug/vars, memstats cut short.
    let leader = br#"{"cmdline": ["etcd", "--name", "n1"], "file_descriptor_limit": 1048576,
        "memstats": {"Alloc": 9120336, "BySize": [{"Size": 0, "Mallocs": 0, "Frees": 0}]},
        "raft.status": {"id":"bdae9bbc11dd390d","term":7,"vote":"bdae9bbc11dd390d","commit":41,
        "lead":"bdae9bbc11dd390d","raftState":"StateLeader","applied":41,
        "progress":{"bdae9bbc11dd390d":{"match":41,"next":42,"state":"StateReplicate"}},
        "leadtransferee":"0"}}"#;
    assert_eq!(
        parse_raft_status(leader),
        Some(nemesis::NodeView {
            leader: true,
            term: 7,
            commit: 41
        })
    );
    for state in ["StateFollower", "StateCandidate", "StatePreCandidate"] {
        let body =
            format!(r#"{{"raft.status": {{"term": 8, "commit": 40, "raftState": "{state}"}}}}"#);
        assert_eq!(
            parse_raft_status(body.as_bytes()),
            Some(nemesis::NodeView {
                leader: false,
                term: 8,
                commit: 40
            }),
            "{state}"
        );
    }
    // A page without raft.status (another program), or not JSON: no view.
    assert_eq!(parse_raft_status(br#"{"cmdline": ["x"]}"#), None);
    assert_eq!(parse_raft_status(b"404 page not found"), None);
}

#[tokio::test]
async fn views_ask_each_node_for_its_expvar_page_and_leave_silent_nodes_out() {
    let answering = fake_gateway(Duration::ZERO, |path, _| match path {
        "/debug/vars" => (
            200,
            json!({"raft.status": {"term": 3, "commit": 12, "raftState": "StateLeader"}}),
        ),
        _ => (404, json!({})),
    })
    .await;
    let broken = fake_gateway(Duration::ZERO, |_, _| (500, json!({}))).await;
    let slow = fake_gateway(Duration::from_secs(5), |_, _| {
        (
            200,
            json!({"raft.status": {"term": 3, "commit": 12, "raftState": "StateFollower"}}),
        )
    })
    .await;
    let client = client(&[&answering, &broken, &slow], ReadMode::Linearizable);
    let started = std::time::Instant::now();
    let views = client.views().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a slow node held the views up for {:?}",
        started.elapsed()
    );
    assert_eq!(
        views,
        vec![
            Some(nemesis::NodeView {
                leader: true,
                term: 3,
                commit: 12
            }),
            None,
            None
        ]
    );
    assert_eq!(answering.last().path, "/debug/vars");
    assert_eq!(broken.last().path, "/debug/vars");
}

fn status(member_id: u64, leader: Option<u64>, raft_term: u64) -> Option<EtcdStatus> {
    Some(EtcdStatus {
        member_id,
        leader,
        raft_term,
        raft_index: 0,
        errors: vec![],
    })
}

#[test]
fn leader_is_the_one_most_nodes_name() {
    let node_of = |id: u64| (11..=13).contains(&id).then(|| NodeId(id as usize - 11));
    // A deposed leader still names itself; the other two follow n3.
    let statuses = [
        status(11, Some(11), 2),
        status(12, Some(13), 3),
        status(13, Some(13), 3),
    ];
    assert_eq!(choose_leader(&statuses, node_of), Some(NodeId(2)));
    // One vote each: the one named in the higher raft term, then the lower node.
    let statuses = [status(11, Some(11), 2), status(12, Some(12), 3), None];
    assert_eq!(choose_leader(&statuses, node_of), Some(NodeId(1)));
    let statuses = [status(11, Some(11), 3), status(12, Some(12), 3), None];
    assert_eq!(choose_leader(&statuses, node_of), Some(NodeId(0)));
    let statuses = [status(11, None, 2), None, status(13, Some(99), 2)];
    assert_eq!(choose_leader(&statuses, node_of), None);
}

#[tokio::test]
async fn leader_maps_member_ids_to_nodes_through_status_and_member_list() {
    const IDS: [u64; 3] = [17_174_100_222_930_713_941, 5_720_029_025_643_577_817, 42];
    let member_list = |addrs: Vec<SocketAddr>| {
        let members: Vec<Value> = IDS
            .iter()
            .zip(addrs)
            .map(|(id, addr)| {
                json!({"ID": id.to_string(), "name": "n", "peerURLs": ["http://127.0.0.1:1"],
                       "clientURLs": [format!("http://{addr}")]})
            })
            .collect();
        json!({"header": header(), "members": members})
    };
    // Bind the three ports first so every fake can list every member.
    let listeners: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .map(|listener| listener.local_addr().expect("bound"))
        .collect();
    drop(listeners);
    let mut gateways = Vec::new();
    for (index, addr) in addrs.iter().enumerate() {
        let members = member_list(addrs.clone());
        let own = IDS[index];
        // n3, the leader, is paused: it never answers.
        let delay = if index == 2 {
            Duration::from_secs(5)
        } else {
            Duration::ZERO
        };
        let respond = move |path: &str, _: &Value| match path {
            "/v3/maintenance/status" => (
                200,
                json!({"header": {"member_id": own.to_string()}, "leader": IDS[2].to_string(),
                       "raftTerm": "4", "raftIndex": "9"}),
            ),
            "/v3/cluster/member/list" => (200, members.clone()),
            _ => (404, json!("no")),
        };
        let app_gateway = fake_gateway_at(*addr, delay, respond).await;
        gateways.push(app_gateway);
    }
    let client = EtcdClient::new(addrs, Duration::from_secs(1), ReadMode::Linearizable);
    let started = Instant::now();
    assert_eq!(client.leader().await, Some(NodeId(2)));
    assert!(started.elapsed() < STATUS_TIMEOUT + MEMBER_LIST_TIMEOUT + Duration::from_millis(200));
    let asked: Vec<String> = gateways[0].requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        asked,
        vec!["/v3/maintenance/status", "/v3/cluster/member/list"]
    );
    assert!(!gateways[0].last().requires_leader);
    // Learned once: the next question needs no member list.
    assert_eq!(client.leader().await, Some(NodeId(2)));
    let lists = gateways[..2]
        .iter()
        .flat_map(FakeGateway::requests)
        .filter(|request| request.path == "/v3/cluster/member/list")
        .count();
    assert_eq!(lists, 1);
}

#[test]
fn committed_log_is_not_offered() {
    let client = EtcdClient::new(vec![], Duration::from_secs(1), ReadMode::Linearizable);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    assert_eq!(
        runtime.block_on(client.committed_log(NodeId(0), 1, 10)),
        None
    );
    assert_eq!(client.op_timeout(), Duration::from_secs(1));
}

/// A Txn answer whose responses range each value of `ranges` in order.
fn txn_ranges(succeeded: bool, ranges: &[Option<Value>]) -> Value {
    let responses: Vec<Value> = ranges
        .iter()
        .enumerate()
        .map(|(i, value)| json!({"response_range": range_answer(value.clone(), 3 + i as u64)}))
        .collect();
    json!({"header": header(), "succeeded": succeeded, "responses": responses})
}

#[tokio::test]
async fn a_txn_reads_its_appended_keys_then_commits_one_guarded_txn() {
    let gateway = fake_gateway(Duration::ZERO, |_, body| {
        if body.get("compare").is_none() {
            // The first read: t0 holds [1, 2] at revision 3, t1 is absent.
            (200, txn_ranges(true, &[Some(json!([1, 2])), None]))
        } else {
            // The Txn: the range of t0 before the puts, then the puts.
            let mut answer = txn_ranges(true, &[Some(json!([1, 2]))]);
            answer["responses"]
                .as_array_mut()
                .expect("a list")
                .push(json!({"response_put": {}}));
            (200, answer)
        }
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let txn = op(
        Workload::Txn,
        "txn",
        json!([
            ["append", "t0", 3],
            ["append", "t1", 1],
            ["r", "t0", null],
            ["append", "t0", 4]
        ]),
    );
    let answer = client.invoke(NodeId(0), &txn).await;
    assert_eq!(
        answer.completion,
        Completion::Ok(json!([
            ["append", "t0", 3],
            ["append", "t1", 1],
            ["r", "t0", [1, 2, 3]],
            ["append", "t0", 4]
        ]))
    );
    assert_eq!(answer.revision, Some(7), "the Txn's header revision");
    let requests = gateway.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|request| request.path == "/v3/kv/txn"));
    let (t0, t1) = (BASE64.encode("t0"), BASE64.encode("t1"));
    assert_eq!(
        requests[0].body,
        json!({"success": [{"request_range": {"key": t0, "serializable": true}},
                           {"request_range": {"key": t1, "serializable": true}}]})
    );
    assert!(!requests[0].requires_leader && requests[1].requires_leader);
    assert_eq!(
        requests[1].body,
        json!({
            "compare": [
                {"key": t0, "target": "MOD", "result": "EQUAL", "mod_revision": "3"},
                {"key": t1, "target": "MOD", "result": "EQUAL", "mod_revision": "0"},
            ],
            "success": [
                {"request_range": {"key": t0}},
                {"request_put": {"key": t0, "value": encode_value(&json!([1, 2, 3, 4]))}},
                {"request_put": {"key": t1, "value": encode_value(&json!([1]))}},
            ],
            "failure": [],
        })
    );
}

#[tokio::test]
async fn a_txn_whose_guard_failed_fails_definitely_without_retrying() {
    let gateway = fake_gateway(Duration::ZERO, |_, body| {
        if body.get("compare").is_none() {
            (200, txn_ranges(true, &[None]))
        } else {
            (200, json!({"header": header()}))
        }
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let txn = op(Workload::Txn, "txn", json!([["append", "t0", 1]]));
    assert_eq!(
        completion(&client, &txn).await,
        Completion::fail(GUARD_FAILED)
    );
    assert_eq!(gateway.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_read_only_txn_is_one_txn_in_the_read_mode_and_never_ends_in_info() {
    let gateway = fake_gateway(Duration::ZERO, |_, _| {
        (200, txn_ranges(true, &[Some(json!([5])), None]))
    })
    .await;
    let client_serializable = client(&[&gateway], ReadMode::Serializable);
    let reads = op(
        Workload::Txn,
        "txn",
        json!([["r", "t0", null], ["r", "t1", null]]),
    );
    assert_eq!(
        completion(&client_serializable, &reads).await,
        Completion::Ok(json!([["r", "t0", [5]], ["r", "t1", []]]))
    );
    let request = gateway.last();
    assert!(!request.requires_leader);
    assert_eq!(
        request.body["success"][0]["request_range"]["serializable"],
        true
    );
    // A gateway that answers too late: info for an update, fail for reads.
    let slow = fake_gateway(Duration::from_secs(2), |_, _| {
        (200, txn_ranges(true, &[None]))
    })
    .await;
    let client_slow = client(&[&slow], ReadMode::Linearizable);
    let one_read = op(Workload::Txn, "txn", json!([["r", "t0", null]]));
    assert_eq!(
        completion(&client_slow, &one_read).await,
        Completion::fail("timeout")
    );
}

#[tokio::test]
async fn a_txn_whose_commit_times_out_is_info_and_one_whose_first_read_fails_is_fail() {
    let gateway = fake_gateway(Duration::ZERO, |_, body| {
        if body.get("compare").is_none() {
            (200, txn_ranges(true, &[None]))
        } else {
            (500, grpc_error("etcdserver: request timed out", 14))
        }
    })
    .await;
    let committing = client(&[&gateway], ReadMode::Linearizable);
    let txn = op(Workload::Txn, "txn", json!([["append", "t0", 1]]));
    assert_eq!(
        completion(&committing, &txn).await,
        Completion::info("request-timed-out")
    );
    let refusing = fake_gateway(Duration::ZERO, |_, _| {
        (500, grpc_error("etcdserver: request timed out", 14))
    })
    .await;
    let reading = client(&[&refusing], ReadMode::Linearizable);
    assert_eq!(
        completion(&reading, &txn).await,
        Completion::fail("request-timed-out")
    );
    assert_eq!(
        refusing.hits.load(Ordering::SeqCst),
        1,
        "no Txn after a failed read"
    );
}
