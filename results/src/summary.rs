//! `results.json`: the run's verdict, each check's verdict and details.

use std::collections::BTreeMap;
use std::path::Path;

use checker::Verdict;
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomically;
use crate::error::{Error, Result};

/// What one check found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check: `linearizability`, `list-append`, `set`, `raftlog`.
    pub name: String,
    /// `valid`, `invalid` or `unknown`.
    pub verdict: Verdict,
    /// One sentence in words.
    pub summary: String,
    /// The check's own report (per-key results, anomalies, explanations).
    pub details: serde_json::Value,
}

/// How the client operations ended.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct OpCounts {
    /// Operations invoked.
    pub invoked: u64,
    /// Completed with effect.
    pub ok: u64,
    /// Definitely without effect.
    pub fail: u64,
    /// Unknown (timeouts, cut connections).
    pub info: u64,
}

/// A node that would not start again after a fault (e.g. it found its log
/// damaged and refused): the run judged the history on the other nodes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefusedStart {
    /// The node, `n1`, ...
    pub node: String,
    /// When the restart gave up, in nanoseconds since the run's start.
    pub time_ns: u64,
    /// Why, in the node's words: the last line of its log, else the error.
    pub reason: String,
}

/// A replica whose own copy of a stream (NATS: the node's `/jsz`) held
/// fewer messages than another node's copy after the final reads: not an
/// anomaly (the stream as its leader served it is what the checks judge),
/// but a replica that did not catch up after the heal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplicaBehind {
    /// The node, `n1`, ...
    pub node: String,
    /// The stream (the key).
    pub stream: String,
    /// Messages in its copy.
    pub messages: u64,
    /// The last sequence of its copy.
    pub last_seq: u64,
    /// The highest last sequence of any node's copy.
    pub stream_last_seq: u64,
}

/// `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    /// The run's verdict: invalid if any check is, else unknown if any check
    /// is or the run proved nothing (`reason`), else valid.
    pub verdict: Verdict,
    /// docs/design.md's exit code (0 valid, 1 invalid, 2 unknown, 3 error).
    pub exit_code: u8,
    /// Why the run is unknown or an error although no check said so
    /// (e.g. "no operation succeeded after the final heal").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each check, in the order they ran.
    pub checks: Vec<CheckResult>,
    /// Client operations during the main phase.
    pub ops: OpCounts,
    /// Final reads: attempted and succeeded.
    pub final_reads: OpCounts,
    /// Faults injected, by nemesis action (`partition`, `kill`, ...).
    pub faults: BTreeMap<String, u64>,
    /// Phase durations and other figures, in milliseconds unless named otherwise.
    pub timings: BTreeMap<String, f64>,
    /// Every kind of anomaly found, as `check:kind` (`linearizability:stale-read`,
    /// `list-append:lost-write`, `raftlog:rollback`), sorted; suites match
    /// their expected anomaly against it.
    #[serde(default)]
    pub anomalies: Vec<String>,
    /// Every restart a node refused, in time order (none: left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_to_start: Vec<RefusedStart>,
    /// Replicas behind the others after the final reads (NATS; none: left
    /// out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas_behind: Vec<ReplicaBehind>,
}

/// docs/design.md's exit code in one word: `valid`, `invalid`, `unknown` or
/// `error` (also the CSS class of the word in pages).
#[must_use]
pub fn outcome_word(exit_code: u8) -> &'static str {
    match exit_code {
        0 => "valid",
        1 => "invalid",
        2 => "unknown",
        _ => "error",
    }
}

impl RunResults {
    /// The check named `name`, if it ran.
    #[must_use]
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|check| check.name == name)
    }
}

/// Writes `value` as pretty JSON to `path` atomically (see
/// [`write_atomically`]), so a reader never sees half a file.
///
/// # Errors
/// `Serialize` or `Write`.
pub fn write_json<T: Serialize>(path: &Path, what: &'static str, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|source| Error::Serialize {
        what,
        path: path.to_path_buf(),
        source,
    })?;
    text.push(b'\n');
    write_atomically(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        let results = RunResults {
            verdict: Verdict::Invalid,
            exit_code: 1,
            reason: None,
            checks: vec![CheckResult {
                name: "linearizability".into(),
                verdict: Verdict::Invalid,
                summary: "key r3 is not linearizable".into(),
                details: serde_json::json!({"keys": 4}),
            }],
            ops: OpCounts::default(),
            final_reads: OpCounts::default(),
            faults: BTreeMap::from([("partition".into(), 3)]),
            timings: BTreeMap::new(),
            anomalies: vec!["linearizability:nonlinearizable".into()],
            refused_to_start: vec![RefusedStart {
                node: "n2".into(),
                time_ns: 5_000_000_000,
                reason: "log file is damaged at byte 12".into(),
            }],
            replicas_behind: vec![ReplicaBehind {
                node: "n2".into(),
                stream: "q13".into(),
                messages: 179,
                last_seq: 179,
                stream_last_seq: 442,
            }],
        };
        write_json(&path, "results", &results).unwrap();
        let back: RunResults =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(back.exit_code, 1);
        assert_eq!(back.refused_to_start, results.refused_to_start);
        assert_eq!(back.replicas_behind, results.replicas_behind);
        assert_eq!(
            back.check("linearizability").unwrap().verdict,
            Verdict::Invalid
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only results.json is left: {left:?}");
    }
}
