//! `faultline check` end to end: verdicts, exit codes, witnesses, bad input.

use std::path::PathBuf;

use assert_cmd::Command;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/histories")
        .join(name)
}

fn faultline() -> Command {
    Command::cargo_bin("faultline").expect("the faultline binary is built for tests")
}

#[test]
fn stale_read_exits_1_and_explains_the_read() {
    let output = faultline()
        .arg("check")
        .arg(example("stale-read.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("NOT linearizable"), "{text}");
    assert!(text.contains("read -> 3 by process 0"), "{text}");
    assert!(text.contains("write(4)"), "{text}");
}

#[test]
fn linearizable_history_exits_0_with_a_witness_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("w.json");
    let file = example("kv-valid.jsonl");
    faultline()
        .arg("check")
        .arg(&file)
        .arg("--witness")
        .arg(&witness)
        .assert()
        .code(0);
    let order: std::collections::BTreeMap<String, Vec<u64>> =
        serde_json::from_str(&std::fs::read_to_string(&witness).unwrap()).unwrap();
    assert_eq!(order.len(), 20);
    let text = std::fs::read_to_string(&file).unwrap();
    let (history, _) = checker::format::read(&text, "kv-valid", None).unwrap();
    checker::linearizability::witness::verify(&history, checker::ModelKind::Kv, None, &order)
        .unwrap();
}

#[test]
fn several_files_exit_with_the_most_serious_code() {
    let output = faultline()
        .arg("check")
        .arg("--json")
        .arg(example("kv-valid.jsonl"))
        .arg(example("stale-read.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["verdict"], "valid");
    assert_eq!(lines[1]["verdict"], "invalid");
    assert_eq!(lines[1]["keys"][0]["stuck_on"]["id"], 7);
}

#[test]
fn malformed_line_exits_3_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n{\"index\":1,\"process\":0,\"type\":\"okay\"}\n",
    )
    .unwrap();
    let output = faultline().arg("check").arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("bad.jsonl:2:"), "{err}");
}

#[test]
fn usage_errors_exit_3() {
    faultline()
        .args(["check", "--no-such-flag", "x"])
        .assert()
        .code(3);
    let output = faultline()
        .args(["check", "--model", "regster"])
        .arg(example("stale-read.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cas-register"));
    faultline()
        .args(["check", "/no/such/file.jsonl"])
        .assert()
        .code(3);
    faultline().arg("--help").assert().code(0);
}

#[test]
fn gen_then_check_round_trips_and_an_anomaly_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.jsonl");
    faultline()
        .args([
            "gen",
            "--model",
            "list-append",
            "--keys",
            "3",
            "--anomaly",
            "--seed",
            "4",
            "-o",
        ])
        .arg(&path)
        .assert()
        .code(0);
    faultline().arg("check").arg(&path).assert().code(1);
}

#[test]
fn raftkv_subcommand_runs_the_node_cli() {
    faultline().args(["raftkv", "--help"]).assert().code(0);
    faultline().args(["raftkv", "--bogus"]).assert().code(2);
}
