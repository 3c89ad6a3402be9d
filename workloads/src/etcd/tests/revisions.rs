//! Revisions against fake gateways: the revision an acknowledged update
//! carries, and reads at revisions (request shape, node rotation, the
//! mapping of etcd's errors, the deadline).

use checker::anomalies::revision::{
    RevisionRead, RevisionWrite, ERROR_COMPACTED, ERROR_FUTURE_REVISION, ERROR_NOT_READ,
};

use super::*;

#[tokio::test]
async fn acknowledged_updates_carry_the_revision_their_answer_reports() {
    // header() reports revision 7; an empty put answer reports none.
    let gateway = fake_gateway(Duration::ZERO, |path, body| {
        let key = body["key"].as_str().unwrap_or_default();
        match (path, key) {
            ("/v3/kv/put", "YmFyZQ==") => (200, json!({})),
            ("/v3/kv/put", _) => (200, json!({"header": header()})),
            ("/v3/kv/range", _) => (200, range_answer(Some(json!([1])), 4)),
            _ if body["compare"][0]["value"] == encode_value(&json!(9)) => {
                (200, txn_failed(Some(json!(1)), 4))
            }
            _ => (200, txn_succeeded()),
        }
    })
    .await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let bare = OpRequest {
        key: "bare".to_string(),
        ..op(Workload::Register, "write", json!(2))
    };
    let cases = [
        (op(Workload::Register, "write", json!(1)), Some(7)),
        (op(Workload::Register, "cas", json!([1, 2])), Some(7)),
        (op(Workload::Append, "append", json!(2)), Some(7)),
        (op(Workload::Set, "add", json!(2)), Some(7)),
        (bare, None),
        // No effect, or nothing written: no revision.
        (op(Workload::Register, "cas", json!([9, 2])), None),
        (op(Workload::Register, "read", Value::Null), None),
        (op(Workload::Append, "read", Value::Null), None),
    ];
    for (op, revision) in cases {
        let answer = client.invoke(NodeId(0), &op).await;
        assert_eq!(answer.revision, revision, "{op:?}: {answer:?}");
    }
}

fn write(key: &str, value: Value, revision: u64, op: u64) -> RevisionWrite {
    RevisionWrite {
        key: key.to_string(),
        value,
        revision,
        op,
        time: op * 10,
    }
}

/// A fake gateway's answer to a range, chosen by the revision asked for.
fn at_revision(path: &str, body: &Value) -> (u16, Value) {
    if path != "/v3/kv/range" {
        return (404, json!("no such path"));
    }
    match body["revision"].as_str().unwrap_or_default() {
        "5" => (200, range_answer(Some(json!(5)), 5)),
        "6" => (
            400,
            grpc_error("etcdserver: mvcc: required revision has been compacted", 11),
        ),
        "7" => (
            400,
            grpc_error(
                "etcdserver: mvcc: required revision is a future revision",
                11,
            ),
        ),
        "8" => (200, range_answer(None, 0)),
        "9" => (200, json!("not a range answer")),
        "10" => (503, grpc_error("etcdserver: no leader", 14)),
        _ => (200, range_answer(Some(json!(3)), 4)),
    }
}

#[tokio::test]
async fn reads_at_revisions_go_to_the_nodes_in_turn_and_name_etcd_errors() {
    let gateways = [
        fake_gateway(Duration::ZERO, at_revision).await,
        fake_gateway(Duration::ZERO, at_revision).await,
    ];
    let client = client(&[&gateways[0], &gateways[1]], ReadMode::Linearizable);
    let writes: Vec<RevisionWrite> = (5..=11)
        .map(|revision| write("r0", json!(revision), revision, revision * 2))
        .collect();
    let reads = client
        .reads_at_revisions(&writes, Instant::now() + Duration::from_secs(5))
        .await;
    let (n1, n2) = (Some("n1".to_string()), Some("n2".to_string()));
    assert_eq!(
        reads,
        vec![
            RevisionRead::answered(&writes[0], n1.clone(), json!(5), Some(5)),
            RevisionRead::unanswered(&writes[1], n2.clone(), ERROR_COMPACTED),
            RevisionRead::unanswered(&writes[2], n1.clone(), ERROR_FUTURE_REVISION),
            // Absent at that revision: read as null.
            RevisionRead::answered(&writes[3], n2.clone(), Value::Null, None),
            RevisionRead::unanswered(&writes[4], n1.clone(), "bad-response"),
            RevisionRead::unanswered(&writes[5], n2, "no-leader"),
            // An older write's value: a rollback for the check to name.
            RevisionRead::answered(&writes[6], n1, json!(3), Some(4)),
        ]
    );
    // Serializable, at the revision, no leader required.
    let first = gateways[0].requests()[0].clone();
    assert_eq!(first.path, "/v3/kv/range");
    assert_eq!(
        first.body,
        json!({"key": "cjA=", "revision": "5", "serializable": true})
    );
    assert!(!first.requires_leader);
    // A future revision is asked three times in all: the node may catch up.
    let future = gateways[0]
        .requests()
        .iter()
        .filter(|request| request.body["revision"] == "7")
        .count();
    assert_eq!(future, 3);
    assert_eq!(gateways[1].hits.load(Ordering::SeqCst), 3);

    let report = checker::check_revisions(&reads);
    assert_eq!(report.verdict, checker::Verdict::Invalid);
    assert_eq!(
        report.count(checker::AnomalyKind::Rollback),
        2,
        "{report:#?}"
    );
    assert_eq!(report.stats["unjudged"], 4);
}

#[tokio::test]
async fn reads_at_revisions_stop_at_the_deadline() {
    let gateway = fake_gateway(Duration::from_millis(300), at_revision).await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let writes: Vec<RevisionWrite> = (0..20).map(|op| write("r0", json!(op), 5, op)).collect();
    let started = Instant::now();
    let reads = client
        .reads_at_revisions(&writes, started + Duration::from_millis(100))
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reads.len(), 20);
    // Eight in flight, cut off at the deadline; the rest never sent.
    let errors: Vec<(Option<&str>, Option<&str>)> = reads
        .iter()
        .map(|read| (read.node.as_deref(), read.error.as_deref()))
        .collect();
    assert_eq!(errors[..8], [(Some("n1"), Some("timeout")); 8]);
    assert_eq!(errors[8..], [(None, Some(ERROR_NOT_READ)); 12]);
    assert_eq!(gateway.hits.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn no_writes_mean_no_reads() {
    let gateway = fake_gateway(Duration::ZERO, at_revision).await;
    let client = client(&[&gateway], ReadMode::Linearizable);
    let reads = client
        .reads_at_revisions(&[], Instant::now() + Duration::from_secs(1))
        .await;
    assert!(reads.is_empty());
    assert_eq!(gateway.hits.load(Ordering::SeqCst), 0);
}
