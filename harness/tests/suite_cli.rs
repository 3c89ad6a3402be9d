//! `faultline suite` end to end: a small suite file of short raftkv runs
//! on 127.0.0.1 with fixed seeds. Every node is a child of the faultline
//! process under test and dies with it.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// Each run takes a few seconds (set-up, 3 s of clients, recovery, checks).
const SUITE_TIMEOUT: Duration = Duration::from_secs(180);

fn suite(store: &Path, file: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let output = Command::cargo_bin("faultline")
        .expect("the faultline binary is built")
        .timeout(SUITE_TIMEOUT)
        .arg("suite")
        .arg(file)
        .arg("--store")
        .arg(store)
        .arg("--quiet")
        .args(extra)
        .output()
        .expect("faultline runs");
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

fn suite_record(store: &Path) -> Value {
    let dir = std::fs::read_dir(store)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().starts_with("suite-"))
        .expect("the suite made its directory")
        .path();
    assert!(dir.join("summary.html").is_file());
    serde_json::from_str(&std::fs::read_to_string(dir.join("suite.json")).unwrap()).unwrap()
}

#[test]
fn a_clean_run_expected_invalid_fails_the_suite_and_an_expected_outcome_passes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("small.toml");
    std::fs::write(
        &file,
        r#"
        description = "two short clean runs"
        [defaults]
        time_limit = "3s"
        nemesis = "none"
        concurrency = 3
        [[run]]
        name = "clean"
        expect = "valid"
        [[run]]
        name = "wrongly expects a bug"
        seeds = [2]
        expect = "invalid"
        anomaly = "stale-read"
        "#,
    )
    .unwrap();
    let store = dir.path().join("store");
    let junit = dir.path().join("junit.xml");
    let (code, out) = suite(&store, &file, &["--junit", junit.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("suite FAILED: 1 of 2 runs"), "{out}");
    let record = suite_record(&store);
    let runs = record["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{record}");
    assert_eq!(runs[0]["passed"], true, "{record}");
    assert_eq!(runs[0]["got"], "valid");
    assert_eq!(runs[1]["passed"], false, "{record}");
    assert_eq!(runs[1]["seed"], 2);
    assert!(runs[1]["note"]
        .as_str()
        .unwrap()
        .contains("expected anomaly was not found"));
    // Every run's report is linked, relative to the suite's directory.
    let run_dir = runs[0]["run_dir"].as_str().unwrap();
    assert!(store.join(run_dir).join("report.html").is_file());
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    let index = std::fs::read_to_string(store.join("index.html")).unwrap();
    assert!(
        index.contains("summary.html"),
        "the store index lists the suite"
    );
}

#[test]
fn a_repeating_suite_stops_starting_runs_after_its_duration() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("torture.toml");
    std::fs::write(
        &file,
        "repeat = true\n[[run]]\ntime_limit = \"2s\"\nnemesis = \"none\"\nconcurrency = 2\nexpect = \"valid\"\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let (code, out) = suite(&store, &file, &["--duration", "1s"]);
    assert_eq!(code, Some(0), "{out}");
    let record = suite_record(&store);
    assert_eq!(record["runs"].as_array().unwrap().len(), 1, "{record}");
    assert!(
        record["stopped"]
            .as_str()
            .unwrap()
            .contains("--duration 1s"),
        "{record}"
    );
    assert!(out.contains("stopped early"), "{out}");
}

#[test]
fn a_typo_in_the_suite_file_exits_3_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.toml");
    std::fs::write(
        &file,
        "[[run]]\nworkload = \"register\"\ntime_limt = \"3s\"\nexpect = \"valid\"\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    let (code, out) = suite(&store, &file, &[]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("time_limt"), "{out}");
    assert!(out.contains("typo.toml"), "{out}");
    assert!(!store.exists(), "nothing ran, nothing was stored");
}

#[test]
fn the_shipped_suites_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for name in ["quick", "nightly", "torture"] {
        let file = root.join("suites").join(format!("{name}.toml"));
        let dir = tempfile::tempdir().unwrap();
        let (code, out) = suite(&dir.path().join("store"), &file, &["--dry-run"]);
        assert_eq!(code, Some(0), "suites/{name}.toml: {out}");
        assert!(out.contains("runs per round"), "{out}");
    }
}
