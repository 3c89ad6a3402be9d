//! `faultline run --workload txn` end to end: real 3-node raftkv and etcd
//! clusters on 127.0.0.1, a fixed seed, 10 s runs, judged by the
//! transaction check (`txn-list-append`, strict serializable). Every node
//! is a child of the faultline process under test and dies with it.

use serde_json::Value;

#[path = "common/run.rs"]
mod run_support;
use run_support::run;

/// 10 s runs with every fault, one fault or heal per 2 s.
const TEN_SECONDS: &[&str] = &[
    "--workload",
    "txn",
    "--time-limit",
    "10s",
    "--nemesis-interval",
    "2s",
    "--seed",
    "7",
];

/// Every op of a run's history, parsed.
fn history(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .expect("the run wrote its history")
        .lines()
        .map(|line| serde_json::from_str(line).expect("history lines are JSON"))
        .collect()
}

/// Asserts a clean txn run: exit 0, the transaction check valid, and a
/// history of `txn` ops without keys whose `ok` reads are filled in.
fn assert_clean_txn_run(args: &[&str]) -> Value {
    let store = tempfile::tempdir().unwrap();
    let run = run(store.path(), args);
    assert_eq!(run.code, Some(0), "{}", run.explain());
    let results = run.results();
    assert_eq!(results["verdict"], "valid", "{results}");
    assert_eq!(results["checks"][0]["name"], "txn-list-append", "{results}");
    assert_eq!(results["checks"][0]["verdict"], "valid", "{results}");
    assert!(results["ops"]["ok"].as_u64().unwrap() >= 10, "{results}");
    assert!(
        results["final_reads"]["ok"].as_u64().unwrap() >= 1,
        "{results}"
    );
    let ops = history(run.dir.as_ref().unwrap());
    let clients: Vec<&Value> = ops.iter().filter(|op| op["process"] != "nemesis").collect();
    assert!(!clients.is_empty());
    for op in &clients {
        assert_eq!(op["f"], "txn", "{op}");
        assert!(op.get("key").is_none(), "a txn records no key: {op}");
        if op["type"] == "ok" {
            for micro_op in op["value"].as_array().unwrap() {
                if micro_op[0] == "r" {
                    assert!(micro_op[2].is_array(), "an ok read is a list: {op}");
                }
            }
        }
    }
    results
}

#[test]
fn raftkv_txn_under_every_fault_is_valid() {
    let results = assert_clean_txn_run(TEN_SECONDS);
    let checks: Vec<&str> = results["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["txn-list-append", "raftlog"], "{results}");
}

#[test]
fn etcd_txn_under_every_fault_is_valid() {
    let mut args = vec!["--target", "etcd"];
    args.extend_from_slice(TEN_SECONDS);
    assert_clean_txn_run(&args);
}

#[test]
fn raftkv_txn_local_reads_bug_exits_1_naming_a_txn_anomaly() {
    let store = tempfile::tempdir().unwrap();
    let mut args = vec!["--node-args", "--bug txn-local-reads"];
    args.extend_from_slice(TEN_SECONDS);
    let run = run(store.path(), &args);
    assert_eq!(run.code, Some(1), "{}", run.explain());
    let results = run.results();
    assert_eq!(results["verdict"], "invalid", "{results}");
    let anomalies: Vec<&str> = results["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind.as_str().unwrap())
        .collect();
    assert!(
        anomalies
            .iter()
            .any(|kind| kind.starts_with("txn-list-append:")),
        "{results}"
    );
    assert!(
        run.stdout.contains("txn-list-append"),
        "the summary names the check: {}",
        run.explain()
    );
    assert!(
        results["timings"]["detection_ms"].as_f64().is_some(),
        "{results}"
    );
}

#[test]
fn nats_refuses_the_txn_workload_before_starting_anything() {
    let store = tempfile::tempdir().unwrap();
    let run = run(store.path(), &["--target", "nats", "--workload", "txn"]);
    assert_eq!(run.code, Some(3), "{}", run.explain());
    assert!(
        run.stderr
            .contains("--workload txn is not supported on nats")
            && run.stderr.contains("--workload queue"),
        "{}",
        run.explain()
    );
    assert!(run.dir.is_none(), "nothing ran: {}", run.explain());
}
