//! `faultline check --model txn-list-append` end to end: verdicts per
//! `--consistency`, explanations, `--json`, witnesses, exit codes.

use std::path::PathBuf;

use assert_cmd::Command;

fn history(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/txn")
        .join(name)
}

fn check(file: &str, consistency: Option<&str>) -> (Option<i32>, String) {
    let mut cmd = Command::cargo_bin("faultline").expect("the faultline binary is built for tests");
    cmd.arg("check").arg("--model").arg("txn-list-append");
    if let Some(level) = consistency {
        cmd.arg("--consistency").arg(level);
    }
    let output = cmd.arg(history(file)).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn read_skew_exits_1_and_names_g_single_with_each_edge() {
    let (code, text) = check("read-skew.jsonl", None);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("txn-list-append (strict-serializable): INVALID: 1 G-single"),
        "{text}"
    );
    assert!(
        text.contains("T0 read key \"x\" = [], which misses T1's append of 1"),
        "{text}"
    );
    assert!(
        text.contains("T1 < T0: T0 read key \"y\" = [1], which includes T1's append of 1"),
        "{text}"
    );
    let (code, text) = check("read-skew.jsonl", Some("snapshot-isolation"));
    assert_eq!(code, Some(1), "{text}");
    let (code, text) = check("read-skew.jsonl", Some("read-committed"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("allowed: 1 G-single"), "{text}");
}

#[test]
fn fixed_read_skew_exits_0_under_every_level() {
    for level in [
        "strict-serializable",
        "serializable",
        "snapshot-isolation",
        "repeatable-read",
        "read-committed",
    ] {
        let (code, text) = check("read-skew-fixed.jsonl", Some(level));
        assert_eq!(code, Some(0), "{level}: {text}");
    }
}

#[test]
fn write_skew_is_allowed_by_snapshot_isolation_only() {
    let (code, text) = check("write-skew.jsonl", Some("serializable"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("G2-item"), "{text}");
    let (code, text) = check("write-skew.jsonl", Some("repeatable-read"));
    assert_eq!(code, Some(1), "{text}");
    let (code, text) = check("write-skew.jsonl", Some("snapshot-isolation"));
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn json_output_has_the_report_shape_and_a_witness_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("w.json");
    let output = Command::cargo_bin("faultline")
        .unwrap()
        .args(["check", "--model", "txn-list-append", "--json", "--witness"])
        .arg(&witness)
        .arg(history("read-skew-fixed.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["verdict"], "valid");
    assert_eq!(value["consistency"], "strict-serializable");
    let order: Vec<u64> =
        serde_json::from_str(&std::fs::read_to_string(&witness).unwrap()).unwrap();
    // T0 read x = [] before T1 appended it; T2 read it after.
    assert_eq!(order, vec![0, 1, 2]);

    let output = Command::cargo_bin("faultline")
        .unwrap()
        .args(["check", "--model", "txn-list-append", "--json"])
        .arg(history("read-skew.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let anomaly = &value["anomalies"][0];
    assert_eq!(anomaly["class"], "G-single");
    assert_eq!(anomaly["forbidden"], true);
    assert_eq!(anomaly["txns"], serde_json::json!([0, 1]));
    assert_eq!(anomaly["edges"][0]["kind"], "rw");
    assert_eq!(anomaly["edges"][0]["key"], "x");
    assert_eq!(anomaly["edges"][1]["kind"], "wr");
}

#[test]
fn a_non_txn_history_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    std::fs::write(
        &file,
        "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
         {\"index\":1,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":1}\n",
    )
    .unwrap();
    let output = Command::cargo_bin("faultline")
        .unwrap()
        .args(["check", "--model", "txn-list-append"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("h.jsonl:1:") && err.contains("\"txn\"") && err.contains("\"read\""),
        "the error names the line, what was expected and what was found: {err}"
    );
}

#[test]
fn consistency_without_the_txn_model_is_a_usage_error() {
    let output = Command::cargo_bin("faultline")
        .unwrap()
        .args(["check", "--consistency", "serializable"])
        .arg(history("read-skew.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
}
