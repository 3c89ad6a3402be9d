//! `faultline run --target nats` end to end: real 3-node NATS JetStream
//! clusters (`nats-server` from scripts/install-nats.sh) on 127.0.0.1, a
//! fixed seed, short limits. Every server is a child of the faultline
//! process under test and dies with it.
//!
//! Without nats-server (in `.venv-nats/bin` of the checkout, or in `PATH`)
//! these tests say SKIPPED by name; under CI (`CI` set) they fail.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[path = "common/run.rs"]
mod run_support;
use run_support::run;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Where nats-server is, as the built-in spec finds it: the checkout's
/// `.venv-nats/bin`, else `PATH`.
fn nats_server() -> Option<PathBuf> {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let local = checkout.join(".venv-nats/bin/nats-server");
    if local.is_file() {
        return Some(local);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// `true` when the test can run; otherwise says SKIPPED (or fails under CI).
fn have_nats(test: &str) -> bool {
    if nats_server().is_some() {
        return true;
    }
    let how = "nats-server is neither in .venv-nats/bin nor in PATH; run scripts/install-nats.sh";
    if in_ci() {
        panic!("{test}: {how}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {how}");
    false
}

fn history(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("history.jsonl")).expect("history.jsonl");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("history lines are JSON"))
        .collect()
}

fn node_name(value: &Value) -> String {
    match value {
        Value::String(name) => name.clone(),
        Value::Number(index) => format!("n{}", index.as_u64().unwrap_or(0) + 1),
        other => panic!("not a node: {other}"),
    }
}

#[test]
fn nats_queue_under_kills_is_valid_and_every_node_reads_every_stream() {
    if !have_nats("nats_queue_under_kills_is_valid_and_every_node_reads_every_stream") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let run = run(
        store.path(),
        &[
            "--target",
            "nats",
            "--workload",
            "queue",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "3s",
            "--time-limit",
            "10s",
            "--seed",
            "1",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.explain());
    let results = run.results();
    assert_eq!(results["verdict"], "valid", "{results}");
    assert_eq!(results["checks"][0]["name"], "queue", "{results}");
    assert!(results["ops"]["ok"].as_u64().unwrap() >= 100, "{results}");
    // Every key was read through every node, each read a list of [seq, value].
    let events = history(run.dir.as_ref().unwrap());
    let mut read_nodes = std::collections::BTreeSet::new();
    for event in &events {
        if event["f"] == "read" && event["type"] == "ok" {
            read_nodes.insert(event["node"].as_str().unwrap().to_owned());
            for message in event["value"].as_array().expect("a read is a list") {
                let pair = message.as_array().expect("[seq, value]");
                assert!(pair.len() == 2 && pair[0].is_u64(), "{event}");
            }
        }
    }
    assert_eq!(read_nodes.len(), 3, "{read_nodes:?}");
    // Each node's own view of its streams is recorded beside the reads.
    let dir = run.dir.as_ref().unwrap();
    let jsz = std::fs::read_to_string(dir.join("jsz.jsonl")).expect("jsz.jsonl");
    let lines: Vec<Value> = jsz
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{jsz}");
    for line in &lines {
        let streams = line["jsz"]["account_details"][0]["stream_detail"]
            .as_array()
            .unwrap_or_else(|| panic!("no streams in {line}"));
        assert!(!streams.is_empty(), "{line}");
    }
}

#[test]
fn a_partition_cuts_every_route_of_the_isolated_server() {
    if !have_nats("a_partition_cuts_every_route_of_the_isolated_server") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let run = run(
        store.path(),
        &[
            "--target",
            "nats",
            "--workload",
            "queue",
            "--nemesis",
            "partition:one",
            // The target's 10 s between faults: the cut lasts from 10 s to
            // 20 s, longer than a publish's 5 s timeout, so clients blocked
            // on a leader that the cut isolated come back and publish to the
            // isolated server before the heal (with a 4 s cut, under load,
            // every client could wait out the whole cut).
            "--time-limit",
            "22s",
            "--seed",
            "3",
        ],
    );
    assert!(matches!(run.code, Some(0)), "{}", run.explain());
    // While a server is cut off, a publish sent to it reaches no stream
    // leader and no quorum unless some route still carries it: none of the
    // publishes it took between the cut and the heal is acknowledged.
    let events = history(run.dir.as_ref().unwrap());
    let mut isolated: Option<String> = None;
    let mut open: std::collections::BTreeMap<String, String> = Default::default();
    let mut taken = 0;
    for event in &events {
        if event["process"] == "nemesis" {
            match event["f"].as_str() {
                Some("partition") => {
                    let groups = event["value"]["groups"].as_array().expect("groups");
                    let alone = groups
                        .iter()
                        .find(|group| group.as_array().is_some_and(|g| g.len() == 1))
                        .expect("partition:one isolates one node");
                    isolated = Some(node_name(&alone[0]));
                }
                Some("heal") => {
                    isolated = None;
                    open.clear();
                }
                _ => {}
            }
            continue;
        }
        let process = event["process"].to_string();
        match event["type"].as_str() {
            Some("invoke") => {
                if isolated.as_deref() == event["node"].as_str() && event["f"] == "publish" {
                    open.insert(process, event["node"].as_str().unwrap().to_owned());
                }
            }
            _ => {
                if let Some(node) = open.remove(&process) {
                    taken += 1;
                    assert_ne!(
                        event["type"], "ok",
                        "a publish to {node}, cut off from every other server, was acknowledged: \
                         {event}"
                    );
                }
            }
        }
    }
    assert!(
        taken > 0,
        "no publish went to the isolated server during a partition"
    );
}

#[test]
fn one_way_partitions_are_refused_for_nats_with_the_reason() {
    let store = tempfile::tempdir().unwrap();
    for shape in ["partition:oneway", "partition:ring"] {
        let run = run(
            store.path(),
            &[
                "--target",
                "nats",
                "--workload",
                "queue",
                "--nemesis",
                shape,
            ],
        );
        assert_eq!(run.code, Some(3), "{shape}: {}", run.explain());
        assert!(
            run.stderr
                .contains("one TCP stream carrying both directions"),
            "{shape}: {}",
            run.explain()
        );
    }
}

#[test]
fn nats_runs_only_the_queue_workload_and_queue_only_on_nats() {
    let store = tempfile::tempdir().unwrap();
    let run_nats = run(store.path(), &["--target", "nats", "--workload", "set"]);
    assert!(
        run_nats.stderr.contains("--workload queue"),
        "{}",
        run_nats.explain()
    );
    let run_raftkv = run(store.path(), &["--workload", "queue"]);
    assert!(
        run_raftkv.stderr.contains("--target nats"),
        "{}",
        run_raftkv.explain()
    );
}

/// A queue history: two acknowledged publishes, then each node's final
/// read of the stream (`n2_stream` for node n2).
fn queue_history(n2_stream: &str) -> String {
    [
        r#"{"index":0,"process":0,"type":"invoke","f":"publish","key":"q0","value":1,"node":"n1"}"#.to_owned(),
        r#"{"index":1,"process":0,"type":"ok","f":"publish","key":"q0","value":[1,1],"node":"n1"}"#.to_owned(),
        r#"{"index":2,"process":1,"type":"invoke","f":"publish","key":"q0","value":2,"node":"n2"}"#.to_owned(),
        r#"{"index":3,"process":1,"type":"ok","f":"publish","key":"q0","value":[2,2],"node":"n2"}"#.to_owned(),
        r#"{"index":4,"process":10,"type":"invoke","f":"read","key":"q0","node":"n1"}"#.to_owned(),
        r#"{"index":5,"process":10,"type":"ok","f":"read","key":"q0","value":[[1,1],[2,2]],"node":"n1"}"#.to_owned(),
        r#"{"index":6,"process":11,"type":"invoke","f":"read","key":"q0","node":"n2"}"#.to_owned(),
        format!(r#"{{"index":7,"process":11,"type":"ok","f":"read","key":"q0","value":{n2_stream},"node":"n2"}}"#),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn check_model_queue_names_the_lost_message_and_the_node_that_lost_it() {
    let dir = tempfile::tempdir().unwrap();
    let lost = dir.path().join("lost.jsonl");
    std::fs::write(&lost, queue_history("[[1,1]]")).unwrap();
    let output = run_support::faultline()
        .args(["check", "--model", "queue"])
        .arg(&lost)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("lost-write") && text.contains("node n2"),
        "{text}"
    );
    assert!(text.contains("split brain"), "{text}");

    let valid = dir.path().join("valid.jsonl");
    std::fs::write(&valid, queue_history("[[1,1],[2,2]]")).unwrap();
    let output = run_support::faultline()
        .args(["check", "--model", "queue"])
        .arg(&valid)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("queue: valid"), "{text}");
}
