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
    // A global option first still reaches the node's own command line.
    faultline()
        .args(["-v", "raftkv", "--help"])
        .assert()
        .code(0);
}

/// `faultline check FILE` on a file written with `text`: (exit code, stdout, stderr).
fn check_text(text: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(&path, text).unwrap();
    let output = faultline()
        .arg("check")
        .args(extra)
        .arg(&path)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_empty_file_is_nothing_to_check_and_unknown_unless_allowed() {
    let (code, out, _) = check_text("", &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("nothing to check"), "{out}");
    let (code, out, _) = check_text("", &["--allow-empty"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out, _) = check_text("", &["--json"]);
    assert_eq!(code, Some(2), "{out}");
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["verdict"], "unknown");
    assert!(line["reason"]
        .as_str()
        .unwrap()
        .contains("nothing to check"));
}

#[test]
fn a_file_of_only_nemesis_events_is_nothing_to_check() {
    let text = "{\"index\":0,\"time\":1,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"partition\",\"value\":null}\n\
                {\"index\":1,\"time\":2,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"heal\",\"value\":null}\n";
    let (code, out, err) = check_text(text, &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.contains("nothing to check"), "{out}");
    let (code, _, _) = check_text(text, &["--allow-empty"]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_file_truncated_to_nothing_is_nothing_to_check() {
    // A torn first line (the writer died mid-line) is dropped with a warning.
    let (code, out, err) = check_text("{\"index\":0,\"time\":1000,\"proc", &[]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(out.contains("nothing to check"), "{out}");
}

#[test]
fn help_states_the_exit_codes_and_lists_every_choice_from_the_code() {
    let help = faultline().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    for line in ["0  valid", "1  anomaly", "2  unknown", "3  error"] {
        assert!(help.contains(line), "{line:?} missing: {help}");
    }
    let check = faultline().args(["check", "--help"]).output().unwrap();
    let check = String::from_utf8_lossy(&check.stdout);
    for name in checker::Format::ALL
        .iter()
        .map(|f| f.name())
        .chain(checker::ModelKind::ALL.iter().map(|m| m.name()))
        .chain(["auto"])
    {
        assert!(check.contains(name), "{name} missing: {check}");
    }
    let run = faultline().args(["run", "--help"]).output().unwrap();
    let run = String::from_utf8_lossy(&run.stdout);
    for name in workloads::Workload::ALL.iter().map(|w| w.name()) {
        assert!(run.contains(name), "{name} missing: {run}");
    }
    assert!(run.contains("raftkv, etcd"), "built-in targets: {run}");
}

#[test]
fn an_unknown_choice_is_exit_3_listing_the_possible_values() {
    let output = faultline()
        .args(["check", "--format", "csv"])
        .arg(example("stale-read.jsonl"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("porcupine-etcd") && err.contains("edn"),
        "{err}"
    );
    let output = faultline()
        .args(["gen", "--model", "queue"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("list-append"));
}

#[test]
fn negative_zero_and_malformed_durations_get_the_same_sentence() {
    for (sub, option) in [
        ("run", "--time-limit"),
        ("run", "--check-timeout"),
        ("check", "--timeout"),
        ("suite", "--duration"),
    ] {
        for value in ["-5s", "0s", "abc", "-1"] {
            let mut command = faultline();
            command.args([sub, option, value]);
            match sub {
                "check" => {
                    command.arg(example("stale-read.jsonl"));
                }
                "suite" => {
                    command.arg("no-such-suite.toml");
                }
                _ => {}
            }
            let output = command.output().unwrap();
            let err = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(3),
                "{sub} {option} {value}: {err}"
            );
            assert!(
                err.contains("must be a duration above zero") && err.contains(option),
                "{sub} {option} {value}: {err}"
            );
            assert!(!err.contains("unexpected argument"), "{err}");
        }
    }
    // --nemesis-interval takes zero (with `--nemesis none`), not less.
    let output = faultline()
        .args(["run", "--nemesis-interval", "-2s"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("negative duration"), "{err}");
}
