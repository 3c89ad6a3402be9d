//! The `--bug` switches, seen from outside a real node where that is
//! deterministic. (Each switch's exact step is unit-tested in src/raft.)

mod support;

use serde_json::json;
use support::Cluster;

#[tokio::test]
async fn bug_stale_read_lets_a_follower_answer_reads_from_local_state() {
    let cluster = Cluster::start(3, &["--bug", "stale-read"]).await;
    let all = cluster.ids();
    cluster.write(&all, "x", json!(1)).await;
    let leader = cluster.wait_for_leader(&all).await;
    let follower = all
        .iter()
        .copied()
        .find(|&id| id != leader)
        .expect("three nodes");
    let (code, answer) = cluster
        .post(follower, "/kv/read", json!({"key": "x"}))
        .await
        .expect("follower answers");
    // Without the bug this is a definite not-leader error.
    assert_eq!(code, 200, "{answer}");
    assert!(
        answer["value"] == json!(1) || answer["value"].is_null(),
        "{answer}"
    );
}

#[tokio::test]
async fn bug_volatile_state_loses_acknowledged_writes_on_restart() {
    let mut cluster = Cluster::start(1, &["--bug", "volatile-state"]).await;
    cluster.write(&[1], "x", json!(1)).await;
    assert_eq!(cluster.read(&[1], "x").await, json!(1));
    cluster.kill(1);
    cluster.restart(1).await;
    let status = cluster.status(1).await.expect("node answers");
    assert_eq!(
        status["last_log_index"],
        json!(0),
        "the node came back empty: {status}"
    );
    assert_eq!(
        cluster.read(&[1], "x").await,
        json!(null),
        "the acknowledged write is gone"
    );
}

#[tokio::test]
async fn without_volatile_state_a_single_node_keeps_acknowledged_writes() {
    let mut cluster = Cluster::start(1, &[]).await;
    cluster.write(&[1], "x", json!(1)).await;
    cluster.kill(1);
    cluster.restart(1).await;
    assert_eq!(cluster.read(&[1], "x").await, json!(1));
}

#[tokio::test]
async fn bug_txn_local_reads_keeps_the_txn_answer_shape_for_a_lone_client() {
    // With one client and nothing in flight, the state at arrival is the
    // state at commit, so the answer is the correct one; the step that
    // differs (reads taken at arrival) is unit-tested in src/node.rs.
    let cluster = Cluster::start(1, &["--bug", "txn-local-reads"]).await;
    cluster.write(&[1], "warm-up", json!(0)).await;
    let (code, answer) = cluster
        .post(
            1,
            "/txn",
            json!({"ops": [["append", "x", 1], ["r", "x", null], ["r", "y", null]]}),
        )
        .await
        .expect("node answers");
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        answer["ops"],
        json!([["append", "x", 1], ["r", "x", [1]], ["r", "y", []]])
    );
    assert!(answer["index"].is_u64(), "{answer}");
    let status = cluster.status(1).await.expect("node answers");
    assert_eq!(status["bugs"], json!(["txn-local-reads"]));
    let (code, read) = cluster
        .post(1, "/list/read", json!({"key": "x"}))
        .await
        .expect("node answers");
    assert_eq!((code, &read["value"]), (200, &json!([1])));
}
