//! `faultline gen --model txn-list-append` end to end: the history it
//! writes, and the sentences for options that do not fit.

use assert_cmd::Command;

fn faultline() -> Command {
    Command::cargo_bin("faultline").expect("the faultline binary is built for tests")
}

/// Runs `faultline gen ARGS`: exit code, standard output, standard error.
fn gen(args: &[&str]) -> (Option<i32>, String, String) {
    let output = faultline().arg("gen").args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn txn_histories_are_jsonl_transactions_and_the_same_seed_writes_the_same_file() {
    let args = [
        "--model",
        "txn-list-append",
        "--ops",
        "300",
        "--clients",
        "7",
        "--mops",
        "3",
        "--seed",
        "12",
    ];
    let (code, text, err) = gen(&args);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(text.lines().count(), 600);
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["f"], "txn", "{line}");
        assert!(event["value"].is_array(), "{line}");
    }
    let history = checker::anomalies::txn::read_jsonl(&text, "gen").unwrap();
    assert_eq!(history.txns.len(), 300);
    assert_eq!(gen(&args).1, text);
    let (_, other, _) = gen(&[&args[..args.len() - 1], &["13"]].concat());
    assert_ne!(other, text);
}

#[test]
fn a_txn_anomaly_is_taken_in_any_case_and_adds_its_transactions() {
    for (kind, added) in [("G-single", 3), ("g2-item", 3), ("lost-append", 4)] {
        let (code, text, err) = gen(&[
            "--model",
            "txn-list-append",
            "--ops",
            "100",
            "--anomaly",
            kind,
        ]);
        assert_eq!(code, Some(0), "{kind}: {err}");
        let history = checker::anomalies::txn::read_jsonl(&text, "gen").unwrap();
        assert_eq!(history.txns.len(), 100 + added, "{kind}");
    }
}

#[test]
fn txn_histories_are_written_as_jsonl_only() {
    let (code, _, err) = gen(&["--model", "txn-list-append", "--format", "edn"]);
    assert_eq!(code, Some(3));
    assert!(err.contains("jsonl only"), "{err}");
}

#[test]
fn an_anomaly_of_the_other_kind_names_the_kinds_that_fit() {
    let (code, _, err) = gen(&["--model", "txn-list-append", "--anomaly"]);
    assert_eq!(code, Some(3));
    assert!(
        err.contains("never-written") && err.contains("G0") && err.contains("incompatible-order"),
        "{err}"
    );
    let (code, _, err) = gen(&["--model", "kv", "--anomaly", "G-single"]);
    assert_eq!(code, Some(3));
    assert!(
        err.contains("G-single") && err.contains("stale-read") && err.contains("txn-list-append"),
        "{err}"
    );
    let (code, _, err) = gen(&["--model", "kv", "--ops", "10"]);
    assert_eq!(code, Some(3));
    assert!(
        err.contains("--ops") && err.contains("--ops-per-key"),
        "{err}"
    );
}

#[test]
fn an_unknown_anomaly_lists_every_kind() {
    let (code, _, err) = gen(&["--anomaly", "G3"]);
    assert_eq!(code, Some(3));
    assert!(
        err.contains("never-written") && err.contains("G-nonadjacent"),
        "{err}"
    );
}

#[test]
fn a_bare_anomaly_still_means_never_written_for_the_other_models() {
    let (code, text, err) = gen(&[
        "--model",
        "register",
        "--keys",
        "1",
        "--ops-per-key",
        "20",
        "--anomaly",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(text.contains("-1"), "{text}");
}
