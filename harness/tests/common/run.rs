//! `faultline run` from a test: the built binary, bounded in time, and what
//! a run left (exit code, output, run directory). Shared by the end-to-end
//! test files; each uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// A run that hangs is a bug; this bounds every test (clusters, faults,
/// recovery and checks together take a few seconds each).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The built `faultline`, killed after [`RUN_TIMEOUT`].
pub fn faultline() -> Command {
    let mut command = Command::cargo_bin("faultline").expect("the faultline binary is built");
    command.timeout(RUN_TIMEOUT);
    command
}

/// What one `faultline run` left.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The run directory (`STORE/latest`), if the run made one.
    pub dir: Option<PathBuf>,
}

impl Run {
    /// The run's `results.json`.
    pub fn results(&self) -> Value {
        let dir = self.dir.as_ref().expect("the run made a directory");
        let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
        serde_json::from_str(&text).expect("results.json is JSON")
    }

    /// The `value` of every nemesis event `f` in the run's history.
    pub fn nemesis_events(&self, f: &str) -> Vec<Value> {
        let dir = self.dir.as_ref().expect("the run made a directory");
        let text = std::fs::read_to_string(dir.join("history.jsonl")).expect("history.jsonl");
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["process"] == "nemesis" && event["f"] == f)
            .map(|event| event["value"].clone())
            .collect()
    }

    /// Exit code and output, for assertion messages.
    pub fn explain(&self) -> String {
        format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `faultline run --store STORE --quiet ARGS...`.
pub fn run(store: &Path, args: &[&str]) -> Run {
    let output = faultline()
        .arg("run")
        .arg("--store")
        .arg(store)
        .arg("--quiet")
        .args(args)
        .output()
        .expect("faultline runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        dir: std::fs::canonicalize(store.join("latest")).ok(),
    }
}
