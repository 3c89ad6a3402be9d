//! The raftkv client against fake nodes (axum on 127.0.0.1): every answer
//! of docs/protocol.md's error table, redirects, timeouts, cut connections.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use tokio::io::AsyncReadExt;

use super::*;

/// A fake node's answer to a request: HTTP status and JSON body.
type Respond = dyn Fn(&str, &Value) -> (u16, Value) + Send + Sync;

/// A fake raftkv node on 127.0.0.1: answers every request with
/// `respond(path and query, body)` after `delay`, and remembers what it got.
struct FakeNode {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    last_body: Arc<Mutex<Value>>,
}

async fn fake_node(
    delay: Duration,
    respond: impl Fn(&str, &Value) -> (u16, Value) + Send + Sync + 'static,
) -> FakeNode {
    let respond: Arc<Respond> = Arc::new(respond);
    let hits = Arc::new(AtomicUsize::new(0));
    let last_body = Arc::new(Mutex::new(Value::Null));
    let (hits_in, last_in) = (hits.clone(), last_body.clone());
    let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
        let (respond, hits, last) = (respond.clone(), hits_in.clone(), last_in.clone());
        async move {
            hits.fetch_add(1, Ordering::SeqCst);
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            *last.lock().expect("no test thread panics holding it") = body.clone();
            tokio::time::sleep(delay).await;
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let (code, answer) = respond(path, &body);
            let code = StatusCode::from_u16(code).expect("tests use valid status codes");
            (code, axum::Json(answer))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an ephemeral loopback port is free");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeNode {
        addr,
        hits,
        last_body,
    }
}

fn error_body(code: &str, definite: bool, leader: Option<u64>) -> Value {
    json!({"code": code, "message": "fake", "definite": definite, "leader": leader})
}

fn client(nodes: &[&FakeNode]) -> RaftkvClient {
    RaftkvClient::new(
        nodes.iter().map(|node| node.addr).collect(),
        Duration::from_millis(400),
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

async fn completion(client: &RaftkvClient, op: &OpRequest) -> Completion {
    client.invoke(NodeId(0), op).await.completion
}

#[tokio::test]
async fn ok_answers_carry_the_values_of_the_history_table() {
    let node = fake_node(Duration::ZERO, |path, _| match path {
        "/kv/read" => (200, json!({"value": 7})),
        "/list/read" | "/set/read" => (200, json!({"value": [1, 2]})),
        "/counter/read" => (200, json!({"value": -3})),
        _ => (200, json!({"index": 9})),
    })
    .await;
    let client = client(&[&node]);
    let cases = [
        (op(Workload::Register, "read", Value::Null), json!(7)),
        (op(Workload::Register, "write", json!(4)), json!(4)),
        (op(Workload::Register, "cas", json!([4, 5])), json!([4, 5])),
        (op(Workload::Append, "append", json!(3)), json!(3)),
        (op(Workload::Append, "read", Value::Null), json!([1, 2])),
        (op(Workload::Counter, "add", json!(-1)), json!(-1)),
        (op(Workload::Counter, "read", Value::Null), json!(-3)),
        (op(Workload::Set, "add", json!(8)), json!(8)),
        (op(Workload::Set, "read", Value::Null), json!([1, 2])),
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
async fn requests_carry_the_documented_bodies() {
    let node = fake_node(Duration::ZERO, |_, _| (200, json!({"index": 1}))).await;
    let client = client(&[&node]);
    let cases = [
        (
            op(Workload::Register, "cas", json!([null, 5])),
            json!({"key": "k", "from": null, "to": 5}),
        ),
        (
            op(Workload::Register, "write", json!(2)),
            json!({"key": "k", "value": 2}),
        ),
        (
            op(Workload::Counter, "add", json!(1)),
            json!({"key": "k", "delta": 1}),
        ),
        (
            op(Workload::Set, "add", json!(6)),
            json!({"key": "k", "value": 6}),
        ),
        (
            op(Workload::Append, "read", Value::Null),
            json!({"key": "k"}),
        ),
    ];
    for (op, body) in cases {
        completion(&client, &op).await;
        assert_eq!(
            *node.last_body.lock().expect("not poisoned"),
            body,
            "{op:?}"
        );
    }
}

#[tokio::test]
async fn cas_mismatch_fails_as_an_observation() {
    let node = fake_node(Duration::ZERO, |_, _| {
        let mut body = error_body("mismatch", true, None);
        body["current"] = json!(3);
        (409, body)
    })
    .await;
    let client = client(&[&node]);
    let cas = op(Workload::Register, "cas", json!([1, 2]));
    assert_eq!(
        completion(&client, &cas).await,
        Completion::fail("mismatch")
    );
}

#[tokio::test]
async fn not_leader_redirect_is_followed_and_the_final_node_is_reported() {
    let follower = fake_node(Duration::ZERO, |_, _| {
        (503, error_body("not-leader", true, Some(2)))
    })
    .await;
    let leader = fake_node(Duration::ZERO, |_, _| (200, json!({"index": 1}))).await;
    let client = client(&[&follower, &leader]);
    let answer = client
        .invoke(NodeId(0), &op(Workload::Register, "write", json!(1)))
        .await;
    assert_eq!(answer.completion, Completion::Ok(json!(1)));
    assert_eq!(answer.node, NodeId(1));
    assert_eq!(follower.hits.load(Ordering::SeqCst), 1);
    assert_eq!(leader.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirects_stop_after_two_hops() {
    // n1 -> n2 -> n3 -> n1 ...: three requests, then a definite failure.
    let ring = [
        fake_node(Duration::ZERO, |_, _| {
            (503, error_body("not-leader", true, Some(2)))
        })
        .await,
        fake_node(Duration::ZERO, |_, _| {
            (503, error_body("not-leader", true, Some(3)))
        })
        .await,
        fake_node(Duration::ZERO, |_, _| {
            (503, error_body("not-leader", true, Some(1)))
        })
        .await,
    ];
    let client = client(&[&ring[0], &ring[1], &ring[2]]);
    let answer = client
        .invoke(NodeId(0), &op(Workload::Append, "append", json!(1)))
        .await;
    assert_eq!(answer.completion, Completion::fail("not-leader"));
    assert_eq!(answer.node, NodeId(2));
    let hits: Vec<usize> = ring.iter().map(|n| n.hits.load(Ordering::SeqCst)).collect();
    assert_eq!(hits, vec![1, 1, 1]);
}

#[tokio::test]
async fn definite_errors_fail_and_indefinite_errors_are_info_except_for_reads() {
    let node = fake_node(Duration::ZERO, |_, body| {
        match body["key"].as_str().unwrap_or_default() {
            "no-leader" => (503, error_body("no-leader", true, None)),
            "overloaded" => (503, error_body("overloaded", true, None)),
            "leadership-lost" => (503, error_body("leadership-lost", false, None)),
            "odd" => (500, json!({"code": "odd"})),
            "garbage" => (500, json!("not an error body")),
            _ => (504, error_body("timeout", false, None)),
        }
    })
    .await;
    let client = client(&[&node]);
    let with_key = |f: &str, key: &str| OpRequest {
        workload: Workload::Counter,
        f: f.to_string(),
        key: key.to_string(),
        value: if f == "add" { json!(1) } else { Value::Null },
    };
    let cases = [
        ("add", "no-leader", Completion::fail("no-leader")),
        ("add", "overloaded", Completion::fail("overloaded")),
        (
            "add",
            "leadership-lost",
            Completion::info("leadership-lost"),
        ),
        ("add", "timeout", Completion::info("timeout")),
        // No `definite` and a code we do not know: may have happened.
        ("add", "odd", Completion::info("odd")),
        ("add", "garbage", Completion::info("http-500")),
        ("read", "timeout", Completion::fail("timeout")),
        (
            "read",
            "leadership-lost",
            Completion::fail("leadership-lost"),
        ),
    ];
    for (f, key, expected) in cases {
        assert_eq!(
            completion(&client, &with_key(f, key)).await,
            expected,
            "{f} {key}"
        );
    }
}

#[tokio::test]
async fn an_answer_later_than_the_client_timeout_is_info_for_updates_and_fail_for_reads() {
    let node = fake_node(Duration::from_secs(2), |_, _| (200, json!({"index": 1}))).await;
    let client = client(&[&node]);
    let started = Instant::now();
    let write = op(Workload::Register, "write", json!(1));
    assert_eq!(
        completion(&client, &write).await,
        Completion::info("timeout")
    );
    let read = op(Workload::Register, "read", Value::Null);
    assert_eq!(
        completion(&client, &read).await,
        Completion::fail("timeout")
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn a_paused_node_does_not_hold_up_requests_to_other_nodes() {
    let paused = fake_node(Duration::from_secs(5), |_, _| (200, json!({"index": 1}))).await;
    let healthy = fake_node(Duration::ZERO, |_, _| (200, json!({"index": 1}))).await;
    let client = RaftkvClient::new(vec![paused.addr, healthy.addr], Duration::from_secs(3));
    let write = op(Workload::Register, "write", json!(1));
    let stuck = {
        let (client, write) = (client.clone(), write.clone());
        tokio::spawn(async move { client.invoke(NodeId(0), &write).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    for _ in 0..20 {
        let answer = client.invoke(NodeId(1), &write).await;
        assert_eq!(answer.completion, Completion::Ok(json!(1)));
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!stuck.is_finished());
    stuck.abort();
}

#[tokio::test]
async fn a_refused_connection_fails_definitely() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    drop(listener);
    let client = RaftkvClient::new(vec![addr], Duration::from_millis(400));
    let append = op(Workload::Append, "append", json!(1));
    assert_eq!(
        completion(&client, &append).await,
        Completion::fail("connection-refused")
    );
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
    let client = RaftkvClient::new(vec![addr], Duration::from_millis(400));
    let add = op(Workload::Set, "add", json!(1));
    assert_eq!(
        completion(&client, &add).await,
        Completion::info("connection-closed")
    );
    let read = op(Workload::Set, "read", Value::Null);
    assert_eq!(
        completion(&client, &read).await,
        Completion::fail("connection-closed")
    );
}

#[tokio::test]
async fn an_ok_body_that_does_not_parse_or_fit_is_info() {
    let node = fake_node(Duration::ZERO, |path, _| match path {
        "/counter/read" => (200, json!({"value": "three"})),
        _ => (200, json!({"no-value": 1})),
    })
    .await;
    let client = client(&[&node]);
    let read = op(Workload::Register, "read", Value::Null);
    // A read never ends in info: its bad answer is a failure.
    assert_eq!(
        completion(&client, &read).await,
        Completion::fail("bad-response")
    );
    let counter = op(Workload::Counter, "read", Value::Null);
    assert_eq!(
        completion(&client, &counter).await,
        Completion::fail("bad-response")
    );
}

#[tokio::test]
async fn an_op_the_protocol_lacks_fails_without_sending() {
    let node = fake_node(Duration::ZERO, |_, _| (200, json!({}))).await;
    let client = client(&[&node]);
    let cases = [
        op(Workload::Counter, "cas", json!([1, 2])),
        op(Workload::Register, "cas", json!(1)),
    ];
    for op in cases {
        assert_eq!(
            completion(&client, &op).await,
            Completion::fail("unsupported-op")
        );
    }
    assert_eq!(node.hits.load(Ordering::SeqCst), 0);
}

fn status(id: u64, role: &str, term: u64, leader: Option<u64>) -> Option<NodeStatus> {
    Some(NodeStatus {
        id,
        role: role.to_string(),
        term,
        leader,
        commit_index: 0,
    })
}

#[test]
fn leader_is_the_self_declared_leader_of_the_highest_term() {
    let node_of = |id: u64| (1..=3).contains(&id).then(|| NodeId(id as usize - 1));
    // A deposed leader of term 2 still thinks it leads; n3 leads term 3.
    let statuses = [
        status(1, "leader", 2, Some(1)),
        status(2, "follower", 3, Some(3)),
        status(3, "leader", 3, Some(3)),
    ];
    assert_eq!(choose_leader(&statuses, node_of), Some(NodeId(2)));
    // Nobody answers as leader: the leader most nodes name.
    let statuses = [
        None,
        status(2, "follower", 4, Some(1)),
        status(3, "follower", 4, Some(1)),
    ];
    assert_eq!(choose_leader(&statuses, node_of), Some(NodeId(0)));
    let statuses = [status(1, "candidate", 5, None), None, None];
    assert_eq!(choose_leader(&statuses, node_of), None);
    // A leader id outside the cluster is ignored.
    let statuses = [status(1, "follower", 5, Some(9)), None, None];
    assert_eq!(choose_leader(&statuses, node_of), None);
}

#[tokio::test]
async fn leader_asks_every_node_for_its_status() {
    let follower = fake_node(Duration::ZERO, |_, _| {
        (
            200,
            json!({"id": 1, "role": "follower", "term": 2, "leader": 2, "commit_index": 5}),
        )
    })
    .await;
    let leader = fake_node(Duration::ZERO, |_, _| {
        (
            200,
            json!({"id": 2, "role": "leader", "term": 2, "leader": 2, "commit_index": 5}),
        )
    })
    .await;
    // The third node is paused: its status times out and is ignored.
    let paused = fake_node(Duration::from_secs(5), |_, _| (200, json!({}))).await;
    let client = client(&[&follower, &leader, &paused]);
    let started = Instant::now();
    assert_eq!(client.leader().await, Some(NodeId(1)));
    assert!(started.elapsed() < STATUS_TIMEOUT + Duration::from_millis(300));
}

#[tokio::test]
async fn committed_log_follows_pages_up_to_max_entries() {
    // A five-entry log served two entries per page.
    let node = fake_node(Duration::ZERO, |path, _| {
        let from: u64 = path
            .split(['?', '&'])
            .find_map(|part| part.strip_prefix("from="))
            .and_then(|from| from.parse().ok())
            .unwrap_or(1);
        let entries: Vec<Value> = (from..=5)
            .take(2)
            .map(|index| json!({"index": index, "term": 1, "digest": format!("d{index}")}))
            .collect();
        let next = (from + 2 <= 5).then_some(from + 2);
        (
            200,
            json!({"entries": entries, "commit_index": 5, "next": next}),
        )
    })
    .await;
    let client = client(&[&node]);
    let all = client
        .committed_log(NodeId(0), 1, 100)
        .await
        .expect("the node answers");
    assert_eq!(all.commit_index, 5);
    let indexes: Vec<u64> = all.entries.iter().map(|entry| entry.0).collect();
    assert_eq!(indexes, vec![1, 2, 3, 4, 5]);
    assert_eq!(all.entries[2], (3, 1, "d3".to_string()));
    let some = client
        .committed_log(NodeId(0), 2, 3)
        .await
        .expect("the node answers");
    let indexes: Vec<u64> = some.entries.iter().map(|entry| entry.0).collect();
    assert_eq!(indexes, vec![2, 3, 4]);
    assert_eq!(client.committed_log(NodeId(5), 1, 10).await, None);
}

/// A fake `/txn` that fills each read with `[1, 2]` and echoes appends.
fn fill_txn(body: &Value) -> Value {
    let ops: Vec<Value> = body["ops"]
        .as_array()
        .map(|ops| {
            ops.iter()
                .map(|op| match op[0].as_str() {
                    Some("r") => json!(["r", op[1], [1, 2]]),
                    _ => op.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"ops": ops, "index": 4})
}

#[tokio::test]
async fn a_txn_posts_its_micro_ops_to_txn_and_takes_the_reads_filled_in() {
    let node = fake_node(Duration::ZERO, |path, body| match path {
        "/txn" => (200, fill_txn(body)),
        _ => (404, error_body("not-found", true, None)),
    })
    .await;
    let client = client(&[&node]);
    let txn = op(
        Workload::Txn,
        "txn",
        json!([["append", "t0", 3], ["r", "t1", null]]),
    );
    assert_eq!(
        completion(&client, &txn).await,
        Completion::Ok(json!([["append", "t0", 3], ["r", "t1", [1, 2]]]))
    );
    assert_eq!(
        *node.last_body.lock().expect("not poisoned"),
        json!({"ops": [["append", "t0", 3], ["r", "t1", null]]})
    );
}

#[tokio::test]
async fn a_txn_answer_that_does_not_match_the_request_is_info_or_fail_if_read_only() {
    // Every read comes back `null`: not a list.
    let node = fake_node(Duration::ZERO, |_, body| {
        (200, json!({"ops": body["ops"], "index": 2}))
    })
    .await;
    let client = client(&[&node]);
    let update = op(
        Workload::Txn,
        "txn",
        json!([["append", "t0", 1], ["r", "t0", null]]),
    );
    assert_eq!(
        completion(&client, &update).await,
        Completion::info("bad-response")
    );
    let reads = op(Workload::Txn, "txn", json!([["r", "t0", null]]));
    assert_eq!(
        completion(&client, &reads).await,
        Completion::fail("bad-response")
    );
}

#[tokio::test]
async fn a_txn_follows_not_leader_and_ends_by_the_error_table() {
    let follower = fake_node(Duration::ZERO, |_, _| {
        (503, error_body("not-leader", true, Some(2)))
    })
    .await;
    let leader = fake_node(Duration::ZERO, |_, body| {
        if body["ops"][0][0] == "append" {
            (504, error_body("timeout", false, None))
        } else {
            (200, fill_txn(body))
        }
    })
    .await;
    let client = client(&[&follower, &leader]);
    let reads = op(Workload::Txn, "txn", json!([["r", "t0", null]]));
    let answer = client.invoke(NodeId(0), &reads).await;
    assert_eq!(
        answer.completion,
        Completion::Ok(json!([["r", "t0", [1, 2]]]))
    );
    assert_eq!(answer.node, NodeId(1));
    let update = op(Workload::Txn, "txn", json!([["append", "t0", 5]]));
    assert_eq!(
        client.invoke(NodeId(0), &update).await.completion,
        Completion::info("timeout")
    );
}

#[tokio::test]
async fn a_malformed_txn_fails_without_sending() {
    let node = fake_node(Duration::ZERO, |_, _| (200, json!({}))).await;
    let client = client(&[&node]);
    let bad = op(Workload::Txn, "txn", json!([["write", "t0", 1]]));
    assert_eq!(
        completion(&client, &bad).await,
        Completion::fail("unsupported-op")
    );
    assert_eq!(node.hits.load(Ordering::SeqCst), 0);
}
