//! Every call in docs/protocol.md, against a real 3-node cluster.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Cluster, PATIENCE};

async fn ok(cluster: &Cluster, node: u64, path: &str, body: Value) -> Value {
    let (code, answer) = cluster
        .post(node, path, body.clone())
        .await
        .expect("node answers");
    assert_eq!(code, 200, "POST {path} {body}: {answer}");
    answer
}

async fn error(cluster: &Cluster, node: u64, path: &str, body: Value) -> (u16, Value) {
    let (code, answer) = cluster
        .post(node, path, body.clone())
        .await
        .expect("node answers");
    assert_ne!(code, 200, "POST {path} {body} should fail: {answer}");
    assert!(
        answer["code"].is_string()
            && answer["message"].is_string()
            && answer["definite"].is_boolean(),
        "error shape: {answer}"
    );
    (code, answer)
}

#[tokio::test]
async fn every_documented_call_answers_as_documented() {
    let mut cluster = Cluster::start(3, &[]).await;
    let all = cluster.ids();
    let leader = cluster.wait_for_leader(&all).await;
    // Make sure the no-op of the term committed, so reads do not wait.
    cluster.write(&all, "warm-up", json!(0)).await;

    // Registers: write, read, cas.
    assert_eq!(
        ok(&cluster, leader, "/kv/read", json!({"key": "r"})).await,
        json!({"value": null})
    );
    let written = ok(
        &cluster,
        leader,
        "/kv/write",
        json!({"key": "r", "value": {"nested": [1, "x"]}}),
    )
    .await;
    assert!(written["index"].as_u64().is_some(), "{written}");
    assert_eq!(
        ok(&cluster, leader, "/kv/read", json!({"key": "r"})).await,
        json!({"value": {"nested": [1, "x"]}})
    );
    ok(
        &cluster,
        leader,
        "/kv/cas",
        json!({"key": "r", "from": {"nested": [1, "x"]}, "to": 5}),
    )
    .await;
    let (code, mismatch) = error(
        &cluster,
        leader,
        "/kv/cas",
        json!({"key": "r", "from": 4, "to": 6}),
    )
    .await;
    assert_eq!(
        (
            code,
            &mismatch["code"],
            &mismatch["definite"],
            &mismatch["current"]
        ),
        (409, &json!("mismatch"), &json!(true), &json!(5))
    );
    ok(
        &cluster,
        leader,
        "/kv/cas",
        json!({"key": "absent", "from": null, "to": 1}),
    )
    .await;

    // Lists.
    assert_eq!(
        ok(&cluster, leader, "/list/read", json!({"key": "l"})).await,
        json!({"value": []})
    );
    for element in [3, 1, 2] {
        ok(
            &cluster,
            leader,
            "/list/append",
            json!({"key": "l", "value": element}),
        )
        .await;
    }
    assert_eq!(
        ok(&cluster, leader, "/list/read", json!({"key": "l"})).await,
        json!({"value": [3, 1, 2]})
    );

    // Counters.
    assert_eq!(
        ok(&cluster, leader, "/counter/read", json!({"key": "c"})).await,
        json!({"value": 0})
    );
    ok(
        &cluster,
        leader,
        "/counter/add",
        json!({"key": "c", "delta": 1}),
    )
    .await;
    ok(
        &cluster,
        leader,
        "/counter/add",
        json!({"key": "c", "delta": -3}),
    )
    .await;
    assert_eq!(
        ok(&cluster, leader, "/counter/read", json!({"key": "c"})).await,
        json!({"value": -2})
    );

    // Sets.
    assert_eq!(
        ok(&cluster, leader, "/set/read", json!({"key": "s"})).await,
        json!({"value": []})
    );
    for element in [10, 2, 10] {
        ok(
            &cluster,
            leader,
            "/set/add",
            json!({"key": "s", "value": element}),
        )
        .await;
    }
    assert_eq!(
        ok(&cluster, leader, "/set/read", json!({"key": "s"})).await,
        json!({"value": [2, 10]})
    );

    // Wrong shape and overflow: definite, no effect.
    let (code, wrong) = error(
        &cluster,
        leader,
        "/counter/add",
        json!({"key": "l", "delta": 1}),
    )
    .await;
    assert_eq!(
        (code, &wrong["code"], &wrong["definite"]),
        (409, &json!("wrong-type"), &json!(true))
    );
    ok(
        &cluster,
        leader,
        "/counter/add",
        json!({"key": "big", "delta": i64::MAX}),
    )
    .await;
    let (_, overflow) = error(
        &cluster,
        leader,
        "/counter/add",
        json!({"key": "big", "delta": 1}),
    )
    .await;
    assert_eq!(overflow["code"], "overflow");

    // Status on every node.
    for &id in &all {
        let status = cluster.status(id).await.expect("node answers");
        for field in [
            "id",
            "role",
            "term",
            "leader",
            "commit_index",
            "last_applied",
            "last_log_index",
            "bugs",
        ] {
            assert!(
                status.get(field).is_some(),
                "status of node {id} lacks {field}: {status}"
            );
        }
        assert_eq!(status["id"], json!(id));
        assert_eq!(status["leader"], json!(leader));
    }

    // The committed log, paged.
    let (code, page) = cluster
        .get(leader, "/log?from=2&limit=3")
        .await
        .expect("node answers");
    assert_eq!(code, 200);
    let entries = page["entries"].as_array().expect("entries is an array");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["index"], 2);
    assert!(entries.iter().all(|entry| entry["term"].is_u64()
        && entry["digest"]
            .as_str()
            .is_some_and(|digest| digest.len() == 16)));
    assert_eq!(page["next"], 5);
    let (_, default_page) = cluster.get(leader, "/log").await.expect("node answers");
    assert_eq!(default_page["entries"][0]["index"], 1, "from defaults to 1");
    let (code, bad_limit) = cluster
        .get(leader, "/log?limit=0")
        .await
        .expect("node answers");
    assert_eq!((code, &bad_limit["code"]), (400, &json!("bad-request")));
    let full = cluster.committed_log(leader).await;
    assert_eq!(
        full.len() as u64,
        page["commit_index"]
            .as_u64()
            .expect("commit_index is a number")
            .max(full.len() as u64)
    );

    // Followers refuse with the leader's id, definitely.
    let follower = all
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("three nodes");
    for (path, body) in [
        ("/kv/read", json!({"key": "r"})),
        ("/kv/write", json!({"key": "r", "value": 1})),
    ] {
        let (code, refused) = error(&cluster, follower, path, body).await;
        assert_eq!(
            (
                code,
                &refused["code"],
                &refused["definite"],
                &refused["leader"]
            ),
            (503, &json!("not-leader"), &json!(true), &json!(leader))
        );
    }

    // Malformed requests and unknown endpoints.
    let (code, bad) = error(&cluster, leader, "/kv/write", json!({"key": "r"})).await;
    assert_eq!(
        (code, &bad["code"], &bad["definite"]),
        (400, &json!("bad-request"), &json!(true))
    );
    let (code, missing) = error(&cluster, leader, "/kv/nope", json!({})).await;
    assert_eq!((code, &missing["code"]), (404, &json!("not-found")));
    let (code, wrong_method) = cluster.get(leader, "/kv/read").await.expect("node answers");
    assert_eq!(
        (code, &wrong_method["code"]),
        (405, &json!("method-not-allowed"))
    );
    // Over the 1 MiB limit: answered bad-request, unless the node closed the
    // connection before the client finished sending (also documented).
    let huge = "x".repeat(2 << 20);
    let body = json!({"key": "r", "value": huge});
    // Its own client, so a connection the node closed is not reused later.
    let url = format!(
        "http://{}/kv/write",
        cluster.nodes[(leader - 1) as usize].client_addr
    );
    if let Ok(response) = reqwest::Client::new().post(url).json(&body).send().await {
        assert_eq!(response.status().as_u16(), 400);
        let too_large: Value = response.json().await.expect("error bodies are JSON");
        assert_eq!(too_large["code"], "bad-request");
    }

    // A leader that lost its majority: the write may or may not happen.
    for &id in &all {
        if id != leader {
            cluster.pause(id);
        }
    }
    let (code, unknown) = error(
        &cluster,
        leader,
        "/kv/write",
        json!({"key": "r", "value": 7}),
    )
    .await;
    assert!([503, 504].contains(&code), "{unknown}");
    assert_eq!(unknown["definite"], false, "{unknown}");
    assert!(
        ["timeout", "leadership-lost"]
            .contains(&unknown["code"].as_str().expect("code is a string")),
        "{unknown}"
    );
    // Then it steps down (check-quorum) and says there is no leader, definitely.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (code, answer) = error(&cluster, leader, "/kv/read", json!({"key": "r"})).await;
        if answer["code"] == "no-leader" {
            assert_eq!(
                (code, &answer["definite"], &answer["leader"]),
                (503, &json!(true), &Value::Null)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the isolated leader never reported no-leader: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for &id in &all {
        if id != leader {
            cluster.resume(id);
        }
    }
}

#[tokio::test]
async fn txn_is_one_atomic_entry_whose_reads_see_its_own_appends() {
    let cluster = Cluster::start(3, &[]).await;
    let all = cluster.ids();
    let leader = cluster.wait_for_leader(&all).await;
    cluster.write(&all, "warm-up", json!(0)).await;
    ok(
        &cluster,
        leader,
        "/list/append",
        json!({"key": "x", "value": 1}),
    )
    .await;

    let answer = ok(
        &cluster,
        leader,
        "/txn",
        json!({"ops": [["r", "x", null], ["append", "x", 2], ["r", "x", null],
                       ["append", "y", {"e": 1}], ["r", "y", null], ["r", "z", null]]}),
    )
    .await;
    assert_eq!(
        answer["ops"],
        json!([["r", "x", [1]], ["append", "x", 2], ["r", "x", [1, 2]],
               ["append", "y", {"e": 1}], ["r", "y", [{"e": 1}]], ["r", "z", []]])
    );
    let index = answer["index"].as_u64().expect("index is a number");
    assert_eq!(
        answer.as_object().map(|fields| fields.len()),
        Some(2),
        "{answer}"
    );
    // The appends are list appends: /list/read sees them.
    assert_eq!(
        ok(&cluster, leader, "/list/read", json!({"key": "x"})).await,
        json!({"value": [1, 2]})
    );
    // A later transaction sits later in the log and sees the earlier one.
    let later = ok(&cluster, leader, "/txn", json!({"ops": [["r", "y", null]]})).await;
    assert_eq!(later["ops"], json!([["r", "y", [{"e": 1}]]]));
    assert!(later["index"].as_u64() > Some(index), "{later}");

    // A key of another shape: the whole transaction has no effect.
    ok(
        &cluster,
        leader,
        "/counter/add",
        json!({"key": "c", "delta": 1}),
    )
    .await;
    let (code, wrong) = error(
        &cluster,
        leader,
        "/txn",
        json!({"ops": [["append", "x", 3], ["append", "c", 1]]}),
    )
    .await;
    assert_eq!(
        (code, &wrong["code"], &wrong["definite"]),
        (409, &json!("wrong-type"), &json!(true))
    );
    assert_eq!(
        ok(&cluster, leader, "/list/read", json!({"key": "x"})).await,
        json!({"value": [1, 2]}),
        "the append before the wrong-type micro-op did not happen"
    );

    // Malformed transactions are definite bad requests.
    let too_many: Vec<Value> = (0..65).map(|i| json!(["append", "x", i])).collect();
    for body in [
        json!({"ops": []}),
        json!({"ops": too_many}),
        json!({"ops": [["r", "x", []]]}),
        json!({"ops": [["r", 1, null]]}),
        json!({"ops": [["cas", "x", 1]]}),
        json!({"ops": [["append", "x"]]}),
        json!({"ops": [["append", "x", 1]], "extra": 1}),
        json!({"txn": [["append", "x", 1]]}),
    ] {
        let (code, bad) = error(&cluster, leader, "/txn", body.clone()).await;
        assert_eq!(
            (code, &bad["code"], &bad["definite"]),
            (400, &json!("bad-request"), &json!(true)),
            "{body}"
        );
    }

    // Followers refuse with the leader's id, definitely.
    let follower = all
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("three nodes");
    let (code, refused) = error(
        &cluster,
        follower,
        "/txn",
        json!({"ops": [["append", "x", 9]]}),
    )
    .await;
    assert_eq!(
        (code, &refused["code"], &refused["leader"]),
        (503, &json!("not-leader"), &json!(leader))
    );
}

#[tokio::test]
async fn bug_switches_show_in_status() {
    let cluster = Cluster::start(1, &["--bug", "lease-read", "--bug", "early-ack"]).await;
    let status = cluster.status(1).await.expect("node answers");
    assert_eq!(status["bugs"], json!(["early-ack", "lease-read"]));
}

#[test]
fn bad_flags_exit_with_a_message_instead_of_a_panic() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
        .args([
            "--id",
            "1",
            "--data-dir",
            "/nonexistent",
            "--client-addr",
            "127.0.0.1:1",
            "--peer-addr",
            "127.0.0.1:2",
            "--bug",
            "nope",
        ])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown bug") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn a_port_in_use_is_named_in_the_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = taken
        .local_addr()
        .expect("bound socket has an address")
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_raftkv"))
        .args(["--id", "1", "--data-dir"])
        .arg(dir.path())
        .args(["--client-addr", &addr, "--peer-addr", "127.0.0.1:0"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&addr) && stderr.contains("client"),
        "{stderr}"
    );
}
