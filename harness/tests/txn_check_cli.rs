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

/// Every level `--consistency` accepts, strongest first.
const LEVELS: [&str; 5] = [
    "strict-serializable",
    "serializable",
    "snapshot-isolation",
    "repeatable-read",
    "read-committed",
];

/// docs/checks.md "Which level forbids what", as data: each class and
/// the levels that forbid it (every other level lists it as allowed).
const FORBIDDEN_BY: [(&str, &[&str]); 14] = [
    ("G0", &LEVELS),
    ("G1a", &LEVELS),
    ("G1b", &LEVELS),
    ("G1c", &LEVELS),
    (
        "G-single",
        &[
            "strict-serializable",
            "serializable",
            "snapshot-isolation",
            "repeatable-read",
        ],
    ),
    (
        "G-nonadjacent",
        &[
            "strict-serializable",
            "serializable",
            "snapshot-isolation",
            "repeatable-read",
        ],
    ),
    (
        "G2-item",
        &["strict-serializable", "serializable", "repeatable-read"],
    ),
    // Real-time edges exist only under strict-serializable: the weaker
    // levels neither forbid nor list a `-realtime` class.
    ("G-single-realtime", &["strict-serializable"]),
    ("dirty-update", &LEVELS),
    ("internal", &LEVELS),
    ("lost-append", &["strict-serializable"]),
    ("duplicate-append", &LEVELS),
    ("garbage-read", &LEVELS),
    ("incompatible-order", &LEVELS),
];

/// The hand-written histories in testdata/txn/ and every class each one
/// shows (a dirty update is also a read of an aborted append: G1a). Each
/// has a `-fixed` twin with the same name.
const HISTORIES: [(&str, &[&str]); 14] = [
    ("g0", &["G0"]),
    ("g1a", &["G1a"]),
    ("g1b", &["G1b"]),
    ("g1c", &["G1c"]),
    ("read-skew", &["G-single"]),
    ("g-nonadjacent", &["G-nonadjacent"]),
    ("write-skew", &["G2-item"]),
    ("g-single-realtime", &["G-single-realtime"]),
    ("dirty-update", &["G1a", "dirty-update"]),
    ("internal", &["internal"]),
    ("lost-append", &["lost-append"]),
    ("duplicate-append", &["duplicate-append"]),
    ("garbage-read", &["garbage-read"]),
    ("incompatible-order", &["incompatible-order"]),
];

fn forbids(class: &str, level: &str) -> bool {
    FORBIDDEN_BY
        .iter()
        .find(|(c, _)| *c == class)
        .unwrap_or_else(|| panic!("{class} is missing from FORBIDDEN_BY"))
        .1
        .contains(&level)
}

/// `check --json` and the text summary line of one file under one level.
fn check_both(file: &str, level: &str) -> (Option<i32>, serde_json::Value, String) {
    let output = Command::cargo_bin("faultline")
        .unwrap()
        .args([
            "check",
            "--model",
            "txn-list-append",
            "--json",
            "--consistency",
            level,
        ])
        .arg(history(file))
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{file} under {level}: --json output: {e}"));
    let (code, text) = check(file, Some(level));
    assert_eq!(
        code,
        output.status.code(),
        "{file} under {level}: text and --json disagree"
    );
    let summary = text.lines().next().unwrap_or_default().to_string();
    (code, value, summary)
}

/// Whether the summary line lists `count class` exactly (not as the
/// prefix of a longer class name such as `G-single-realtime`).
fn lists(summary: &str, class: &str) -> bool {
    summary.match_indices(class).any(|(at, _)| {
        let before = &summary[..at];
        let after = &summary[at + class.len()..];
        before.ends_with(' ')
            && before.trim_end().ends_with(|c: char| c.is_ascii_digit())
            && (after.starts_with(',') || after.starts_with(')') || after.starts_with(' '))
    })
}

#[test]
fn every_hand_written_anomaly_is_named_and_judged_per_the_docs_table_under_every_level() {
    for (name, shown) in HISTORIES {
        let file = format!("{name}.jsonl");
        for level in LEVELS {
            let (code, value, summary) = check_both(&file, level);
            // Realtime classes are looked for under strict-serializable only.
            let expected: Vec<(String, bool)> = {
                let mut v: Vec<(String, bool)> = shown
                    .iter()
                    .filter(|c| !c.ends_with("-realtime") || level == "strict-serializable")
                    .map(|c| (c.to_string(), forbids(c, level)))
                    .collect();
                v.sort();
                v
            };
            let mut found: Vec<(String, bool)> = value["anomalies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["class"].as_str().unwrap().to_string(),
                        a["forbidden"].as_bool().unwrap(),
                    )
                })
                .collect();
            found.sort();
            found.dedup();
            assert_eq!(found, expected, "{file} under {level}: {summary}");
            let invalid = expected.iter().any(|(_, f)| *f);
            assert_eq!(
                code,
                Some(if invalid { 1 } else { 0 }),
                "{file} under {level}: {summary}"
            );
            assert_eq!(
                value["verdict"],
                if invalid { "invalid" } else { "valid" },
                "{file} under {level}"
            );
            assert_eq!(value["consistency"], level);
            for (class, forbidden) in &expected {
                let section = if *forbidden { "INVALID: " } else { "allowed: " };
                assert!(
                    summary.contains(section) && lists(summary.as_str(), class),
                    "{file} under {level}: the summary names {class} ({section}): {summary}"
                );
            }
            if expected.is_empty() {
                assert!(
                    summary.contains(": valid (") && !summary.contains("allowed"),
                    "{file} under {level}: {summary}"
                );
            }
        }
    }
}

#[test]
fn every_fixed_hand_written_history_is_valid_under_every_level() {
    for (name, _) in HISTORIES {
        let file = format!("{name}-fixed.jsonl");
        for level in LEVELS {
            let (code, value, summary) = check_both(&file, level);
            assert_eq!(code, Some(0), "{file} under {level}: {summary}");
            assert_eq!(value["verdict"], "valid", "{file} under {level}");
            assert_eq!(
                value["anomalies"],
                serde_json::json!([]),
                "{file} under {level}: {summary}"
            );
        }
    }
}

#[test]
fn every_class_in_the_table_has_a_hand_written_history_and_its_fix() {
    for (class, _) in FORBIDDEN_BY {
        let (name, _) = HISTORIES
            .iter()
            .find(|(_, shown)| shown.contains(&class))
            .unwrap_or_else(|| panic!("no history in testdata/txn/ shows {class}"));
        assert!(history(&format!("{name}.jsonl")).exists(), "{name}.jsonl");
        assert!(
            history(&format!("{name}-fixed.jsonl")).exists(),
            "{name}-fixed.jsonl"
        );
    }
}
