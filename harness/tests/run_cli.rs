//! `faultline run` end to end: real 3-node raftkv clusters on 127.0.0.1,
//! a fixed seed, short limits. Every node is a child of the faultline
//! process under test and dies with it (parent-death signal, teardown).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

#[path = "common/run.rs"]
mod run_support;
use run_support::{faultline, run};

/// Short runs with every fault, one fault or heal per second.
const SHORT: &[&str] = &[
    "--time-limit",
    "4s",
    "--nemesis-interval",
    "1s",
    "--concurrency",
    "5",
    "--seed",
    "7",
];

fn clean_run_is_valid(workload: &str, first_check: &str) {
    let store = tempfile::tempdir().unwrap();
    let mut args = vec!["--workload", workload];
    args.extend_from_slice(SHORT);
    let run = run(store.path(), &args);
    assert_eq!(run.code, Some(0), "{}", run.explain());
    let results = run.results();
    assert_eq!(results["verdict"], "valid", "{results}");
    let checks: Vec<&str> = results["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks, [first_check, "raftlog"], "{results}");
    assert!(results["ops"]["ok"].as_u64().unwrap() >= 10, "{results}");
    assert!(
        results["final_reads"]["ok"].as_u64().unwrap() >= 1,
        "{results}"
    );
    let dir = run.dir.as_ref().unwrap();
    // The run directory holds what docs/design.md lists, and no node data.
    for file in [
        "test.json",
        "history.jsonl",
        "raftlog.jsonl",
        "nodes/n1.log",
        "nodes/n3.log",
        "report.html",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{file} missing in {}",
            dir.display()
        );
    }
    assert!(!dir.join("data").exists(), "data directories are removed");
    assert!(
        store.path().join("index.html").is_file(),
        "the store index is refreshed"
    );
    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["seed"], 7);
    assert!(
        test["command"].as_str().unwrap().contains("--seed 7"),
        "{test}"
    );
    assert_eq!(test["nodes"].as_array().unwrap().len(), 3);
    // The recorded history is checkable on its own, with the same verdict.
    let check = faultline()
        .arg("check")
        .arg(dir.join("history.jsonl"))
        .output()
        .unwrap();
    if first_check == "linearizability" {
        assert_eq!(check.status.code(), Some(0), "{check:?}");
    }
    // Nemesis actions are in the history, as single info events.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""process":"nemesis""#),
        "no nemesis events"
    );
}

#[test]
fn register_workload_under_every_fault_is_valid() {
    clean_run_is_valid("register", "linearizability");
}

#[test]
fn append_workload_under_every_fault_is_valid() {
    clean_run_is_valid("append", "list-append");
}

#[test]
fn counter_workload_under_every_fault_is_valid() {
    clean_run_is_valid("counter", "linearizability");
}

#[test]
fn set_workload_under_every_fault_is_valid() {
    clean_run_is_valid("set", "set");
}

#[test]
fn etcd_register_under_every_fault_is_valid() {
    let store = tempfile::tempdir().unwrap();
    let mut args = vec!["--target", "etcd"];
    args.extend_from_slice(SHORT);
    let run = run(store.path(), &args);
    assert_eq!(run.code, Some(0), "{}", run.explain());
    let results = run.results();
    let checks: Vec<&str> = results["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    // etcd lists no committed log: its acknowledged writes are read back
    // at their revisions instead, all of them judged.
    assert_eq!(checks, ["linearizability", "revisions"], "{results}");
    assert!(results["ops"]["ok"].as_u64().unwrap() >= 10, "{results}");
    let revisions = &results["checks"][1];
    assert_eq!(revisions["verdict"], "valid", "{results}");
    assert!(
        revisions["details"]["stats"]["reads_ok"].as_u64().unwrap() > 0,
        "{results}"
    );
}

#[test]
fn etcd_serializable_reads_under_partitions_are_caught_as_stale() {
    let store = tempfile::tempdir().unwrap();
    let run = run(
        store.path(),
        &[
            "--target",
            "etcd",
            "--read-mode",
            "serializable",
            "--nemesis",
            "partition:one",
            "--nemesis-interval",
            "1s",
            "--time-limit",
            "5s",
            "--seed",
            "5",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.explain());
    assert!(run.stdout.contains("stale read"), "{}", run.explain());
}

#[test]
fn stale_read_bug_exits_1_and_names_the_stale_read() {
    let store = tempfile::tempdir().unwrap();
    let junit = store.path().join("junit.xml");
    let run = run(
        store.path(),
        &[
            "--junit",
            junit.to_str().unwrap(),
            "--nemesis",
            "partition",
            "--node-args",
            "--bug stale-read",
            "--time-limit",
            "4s",
            "--nemesis-interval",
            "1s",
            "--seed",
            "3",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.explain());
    assert!(run.stdout.contains("stale read"), "{}", run.explain());
    // The clearest evidence leads: the first key explained is a stale read.
    let first_explained = run
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("key \""))
        .unwrap_or_default();
    assert!(
        first_explained.contains("stale read"),
        "{first_explained:?}\n{}",
        run.explain()
    );
    let results = run.results();
    assert_eq!(results["verdict"], "invalid");
    assert_eq!(
        results["anomalies"][0], "linearizability:stale-read",
        "{results}"
    );
    assert!(
        results["timings"]["detection_ms"].as_f64().is_some(),
        "{results}"
    );
    let xml = std::fs::read_to_string(&junit).expect("--junit writes its file");
    assert!(
        xml.contains("<failure") && xml.contains("stale read"),
        "{xml}"
    );
}

#[test]
fn a_node_that_never_starts_is_exit_3_with_its_log() {
    let store = tempfile::tempdir().unwrap();
    let spec = store.path().join("broken.toml");
    std::fs::write(
        &spec,
        r#"
name = "broken"
protocol = "raftkv"
program = "{faultline}"
args = ["raftkv", "--id", "{num}", "--no-such-flag"]
"#,
    )
    .unwrap();
    let run = run(
        store.path(),
        &["--target", spec.to_str().unwrap(), "--time-limit", "2s"],
    );
    assert_eq!(run.code, Some(3), "{}", run.explain());
    assert!(run.stderr.contains("n1"), "{}", run.explain());
    assert!(
        run.stderr.contains("no-such-flag"),
        "the log tail is quoted: {}",
        run.explain()
    );
    let results = run.results();
    assert_eq!(results["exit_code"], 3);
}

#[test]
fn bad_options_are_exit_3_before_anything_starts() {
    let store = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["--nemesis", "partition:sideways"], "sideways"),
        (vec!["--workload", "queue"], "queue"),
        (
            vec!["--target", "/no/such/spec.toml"],
            "neither a built-in target",
        ),
        (vec!["--node-args", "--bug 'unclosed"], "unbalanced quotes"),
        (vec!["--nodes", "0"], "--nodes"),
        (vec!["--rate", "-1"], "non-negative"),
        (
            vec!["--target", "etcd", "--workload", "counter"],
            "not supported on etcd",
        ),
        (vec!["--read-mode", "serializable"], "for etcd targets"),
        (
            vec!["--nodes", "2", "--nemesis", "figure8"],
            "at least 3 nodes",
        ),
    ] {
        let run = run(store.path(), &args);
        assert_eq!(run.code, Some(3), "{args:?}: {}", run.explain());
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.explain());
    }
    assert!(
        !store.path().join("latest").exists(),
        "no run directory for bad options"
    );
}

#[test]
fn test_count_repeats_with_consecutive_seeds() {
    let store = tempfile::tempdir().unwrap();
    let run = run(
        store.path(),
        &[
            "--nemesis",
            "none",
            "--time-limit",
            "1s",
            "--test-count",
            "2",
            "--seed",
            "40",
        ],
    );
    assert_eq!(run.code, Some(0), "{}", run.explain());
    assert!(
        run.stdout.contains("seed 40") && run.stdout.contains("seed 41"),
        "{}",
        run.explain()
    );
    let test_dir = store.path().join("raftkv-register-none");
    assert_eq!(
        std::fs::read_dir(&test_dir).unwrap().count(),
        2,
        "one directory per run"
    );
    assert!(
        !run.stderr.contains("DEBUG"),
        "warnings only by default: {}",
        run.explain()
    );

    // The last run's reproduce line runs as printed: here (not the checkout's root,
    // binary not on PATH) it names the binary by its absolute path.
    let printed = run
        .stdout
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("reproduce: "))
        .expect("a reproduce line")
        .to_owned();
    let test: Value = serde_json::from_str(
        &std::fs::read_to_string(store.path().join("latest/test.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        test["command"],
        printed.as_str(),
        "test.json holds the same"
    );
    let words = shlex::split(&printed).expect("a shell command");
    let binary = std::fs::canonicalize(assert_cmd::cargo::cargo_bin("faultline")).unwrap();
    assert_eq!(Path::new(&words[0]), binary, "{printed}");
    let again = std::process::Command::new(&words[0])
        .args(&words[1..])
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("seed 41"));
    assert_eq!(std::fs::read_dir(&test_dir).unwrap().count(), 3);
}

#[test]
fn verbose_shows_the_nemesis_debug_log_on_stderr() {
    let store = tempfile::tempdir().unwrap();
    let output = faultline()
        .args([
            "-vv",
            "run",
            "--quiet",
            "--nemesis",
            "none",
            "--time-limit",
            "1s",
        ])
        .arg("--store")
        .arg(store.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("DEBUG") && stderr.contains("nemesis::supervisor"),
        "{stderr}"
    );
}

#[test]
fn ctrl_c_heals_tears_down_and_still_checks_what_was_recorded() {
    let store = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("faultline"))
        .args([
            "run",
            "--quiet",
            "--time-limit",
            "60s",
            "--nemesis-interval",
            "1s",
        ])
        .arg("--store")
        .arg(store.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the main phase has begun (the history exists).
    let started = std::time::Instant::now();
    while !store.path().join("latest/history.jsonl").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("our own child can be signalled");
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "Ctrl-C must end the run early: {stdout}"
    );
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    let dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["checks"][0]["verdict"], "valid", "{results}");
    assert!(results["ops"]["ok"].as_u64().unwrap() > 0);
    // Every fault was healed: the last nemesis event undoes what came before.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let nemesis: Vec<Value> = history
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["process"] == "nemesis")
        .collect();
    if let Some(last) = nemesis.last() {
        let f = last["f"].as_str().unwrap();
        assert!(
            ["heal", "resume", "restart"].contains(&f),
            "last fault action {f}"
        );
    }
}

#[test]
#[ignore = "detection benchmark, several runs of 30 s: scripts/detection.sh records rates"]
fn early_ack_bug_loses_an_acknowledged_append() {
    let store = tempfile::tempdir().unwrap();
    let run = run(
        store.path(),
        &[
            "--workload",
            "append",
            "--nemesis",
            "partition,kill",
            "--node-args",
            "--bug early-ack",
            "--time-limit",
            "30s",
            "--seed",
            "1",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.explain());
    assert!(run.stdout.contains("lost-write"), "{}", run.explain());
}
