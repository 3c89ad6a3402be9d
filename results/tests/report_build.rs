//! Building reports, the store's index and JUnit XML, without a browser:
//! what the page holds, how untrusted text is escaped, what happens when a
//! run left less than everything.

mod common;

use std::time::Instant;

use results::{refresh_index, write_junit, write_report, JunitCase, JunitOutcome};

#[test]
fn hostile_text_is_escaped_everywhere_in_the_page() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path(), 500, true);
    let html = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    for payload in common::PAYLOADS {
        assert!(!html.contains(payload), "{payload:?} appears unescaped");
    }
    assert!(!html.contains("<img"), "an <img> tag made it into the page");
    // Exactly the page's own scripts: the guard, the data and the timeline.
    assert_eq!(html.matches("<script").count(), 3);
    assert_eq!(html.matches("</script>").count(), 3);
    let data_start = html
        .find("<script type=\"application/json\" id=\"data\">")
        .unwrap();
    let data = &html[data_start..];
    let data = &data[data.find('>').unwrap() + 1..data.find("</script>").unwrap()];
    assert!(!data.contains('<') && !data.contains('>') && !data.contains('&'));
    let value: serde_json::Value = serde_json::from_str(data).expect("the data block is JSON");
    assert!(value["keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k.as_str().unwrap().starts_with(common::PAYLOADS[0])));
}

#[test]
fn a_run_that_died_before_its_checks_still_gets_a_report() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path(), 200, false);
    std::fs::remove_file(dir.path().join("results.json")).unwrap();
    let html = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    assert!(html.contains("NO VERDICT RECORDED"));
    assert!(html.contains("id=\"timeline\""));
}

#[test]
fn a_directory_without_a_run_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = write_report(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope"), "{err}");
    let err = write_report(dir.path()).unwrap_err().to_string();
    assert!(err.contains("not a run directory"), "{err}");
}

#[test]
fn a_torn_history_is_drawn_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path(), 200, false);
    let history = dir.path().join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.push_str("{\"index\":99999,\"time\":1,\"proc");
    std::fs::write(&history, text).unwrap();
    let html = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    assert!(html.contains("torn last line ignored"));
}

#[test]
fn the_report_shows_the_violation_the_anomaly_and_log_lines_around_faults() {
    let dir = tempfile::tempdir().unwrap();
    let made = common::write_run(dir.path(), 2_000, false);
    let html = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    assert!(html.contains("This is a stale read."));
    assert!(html.contains("cannot be placed: it needs the register to hold 3"));
    assert!(
        html.contains(&format!("op {} · append", made.lost[0]))
            || html.contains(&format!("op {} · ", made.lost[0]))
    );
    assert!(html.contains("the append of 57 was lost"));
    assert!(
        html.contains("partition (leader): n1 | n2 n3"),
        "no fault window"
    );
    assert!(html.contains("applied through index 1000"), "no log lines");
    assert!(html.contains("<svg class=\"plot\""), "no plots");
}

#[test]
fn a_100k_op_report_builds_fast() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path(), 100_000, false);
    let started = Instant::now();
    let page = write_report(dir.path()).unwrap();
    let took = started.elapsed();
    let size = std::fs::metadata(&page).unwrap().len();
    eprintln!(
        "report of 100,000 ops: {took:?}, {:.1} MB",
        size as f64 / 1e6
    );
    // The figure in docs/report.md is measured in release mode; a debug
    // test build on a loaded CI machine gets a wide margin.
    assert!(took.as_secs_f64() < 10.0, "{took:?}");
}

#[test]
fn the_index_lists_runs_newest_first_with_links_and_escaped_names() {
    let store = tempfile::tempdir().unwrap();
    let old = store.path().join("made-up-register/20260101T000000.000Z");
    let new = store.path().join("hostile/20260102T000000.000Z");
    common::write_run(&old, 100, false);
    common::write_run(&new, 100, true);
    // The hostile run started later.
    let test_json = new.join("test.json");
    let text = std::fs::read_to_string(&test_json)
        .unwrap()
        .replace("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z");
    std::fs::write(&test_json, text).unwrap();
    std::fs::remove_file(old.join("results.json")).unwrap();
    write_report(&old).unwrap();
    std::os::unix::fs::symlink(
        "made-up-register/20260101T000000.000Z",
        store.path().join("latest"),
    )
    .unwrap();
    let index = std::fs::read_to_string(refresh_index(store.path()).unwrap()).unwrap();
    assert!(
        index.contains("2 runs"),
        "the latest link is not a second run"
    );
    assert!(!index.contains("<img") && !index.contains("<script"));
    let hostile = index
        .find("hostile/20260102T000000.000Z/results.json")
        .unwrap();
    let plain = index
        .find("made-up-register/20260101T000000.000Z/report.html")
        .unwrap();
    assert!(hostile < plain, "newest first");
    assert!(index.contains("no verdict"));
    assert!(index.contains("invalid"));
}

#[test]
fn junit_has_a_case_per_check_with_the_explanation_as_the_failure_message() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("made-up-register/20260101T000000.000Z");
    common::write_run(&run, 100, false);
    let cases = JunitCase::from_run(&run);
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "linearizability (seed 42)",
            "list-append (seed 42)",
            "raftlog (seed 42)"
        ]
    );
    match &cases[0].outcome {
        JunitOutcome::Failed { message, details } => {
            assert!(message.contains("This is a stale read."), "{message}");
            assert_eq!(
                message.matches("key ").count(),
                1,
                "the key is named once: {message}"
            );
            assert!(details.contains("report.html"), "{details}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(cases[2].outcome, JunitOutcome::Passed);
    assert!(cases.iter().all(|c| c.suite == "made-up-register"));

    std::fs::remove_file(run.join("results.json")).unwrap();
    let died = JunitCase::from_run(&run);
    assert!(matches!(
        &died[..],
        [JunitCase {
            outcome: JunitOutcome::Error { .. },
            ..
        }]
    ));

    let xml_path = dir.path().join("junit.xml");
    let mut all = cases.clone();
    all.extend(died);
    write_junit(&xml_path, &all).unwrap();
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert!(xml.contains("tests=\"4\" failures=\"2\" errors=\"1\" skipped=\"0\""));
    assert!(
        xml.contains("key &quot;k"),
        "explanations are escaped: {xml}"
    );
}

#[test]
fn a_txn_check_draws_its_cycle_in_the_run_report() {
    let dir = tempfile::tempdir().unwrap();
    common::write_txn_run(dir.path());
    let html = std::fs::read_to_string(write_report(dir.path()).unwrap()).unwrap();
    assert!(!html.contains("results file"), "results.json was read");
    assert!(html.contains("<svg class=\"cycle-graph\""));
    for needle in [">T0<", ">T1<", ">wr t3<", ">rw t5<", "G-single: T0, T1"] {
        assert!(html.contains(needle), "{needle} is missing");
    }
    assert!(
        !html.contains("<img"),
        "a reason's markup made it into the page"
    );
    assert!(html.contains("misses T0&#39;s append of 7 &lt;/script&gt;&lt;img src=x&gt;"));
}

#[test]
fn a_checked_txn_history_gets_its_cycles_drawn_too() {
    let dir = tempfile::tempdir().unwrap();
    common::write_txn_run(dir.path());
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    let check: results::CheckResult = serde_json::from_value(results["checks"][0].clone()).unwrap();
    let out = dir.path().join("check.html");
    results::write_check_result_report(&dir.path().join("history.jsonl"), &check, &out).unwrap();
    let html = std::fs::read_to_string(out).unwrap();
    assert!(html.contains("<svg class=\"cycle-graph\""));
    assert!(html.contains(">wr t3<") && html.contains(">rw t5<"));
    assert!(!html.contains("<img"));
}
