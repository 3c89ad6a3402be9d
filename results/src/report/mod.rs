//! `report.html`: one self-contained page per run (no network, no CDN;
//! opens from disk). docs/report.md describes what it shows.
//!
//! - `history`: the history as drawn (ops with errors, nemesis actions).
//! - `faults`: nemesis actions paired into fault intervals.
//! - `data`: the JSON the timeline script draws from.
//! - `violation`: the Porcupine-style view of a key with no valid order.
//! - `anomalies`: list-append / set / raftlog anomalies, ops side by side.
//! - `cycles`: the transaction check's anomalies, each cycle drawn as SVG.
//! - `plots`: latency, throughput and commit index as inline SVG.
//! - `logs`: node log excerpts around faults and the failure.
//! - `html`: escaping of untrusted text, JSON for a script block, nonces.
//! - `page`: the page itself; `timeline.js` and `report.css` are inlined.

mod anomalies;
mod cycles;
mod data;
mod faults;
mod history;
pub mod html;
mod logs;
mod page;
mod plots;
mod violation;

use std::path::{Path, PathBuf};

use checker::Verdict;
use serde::Deserialize;
use serde_json::Value;

use crate::atomic::write_atomically;
use crate::error::{Error, Result};
use crate::summary::{CheckResult, RunResults};
use data::Failure;
use faults::FaultBand;
use history::Recorded;
use logs::Window;
use page::{Headline, Page};
use plots::CommitSample;

/// Fault intervals that get their own log window (the first ones).
const LOG_WINDOW_FAULTS: usize = 20;
const SECOND: u64 = 1_000_000_000;

/// A read that failed, as the store's error: the report (`out`) cannot be
/// written because `input` cannot be read.
fn read_error(out: &Path, input: &Path, err: impl std::fmt::Display) -> Error {
    Error::Write {
        path: out.to_path_buf(),
        source: std::io::Error::other(format!("cannot read {}: {err}", input.display())),
    }
}

/// Reads `path` as text; `Ok(None)` when it does not exist.
fn read_optional(out: &Path, path: &Path) -> Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(read_error(out, path, err)),
    }
}

/// The failures each check names, in check order, with each check's range.
fn failures_of(checks: &[CheckResult]) -> (Vec<Failure>, Vec<(usize, usize)>) {
    let mut failures = Vec::new();
    let mut ranges = Vec::new();
    for check in checks {
        let details = &check.details;
        let found = if cycles::is_txn(&check.name, details) {
            cycles::failures(&check.name, details)
        } else if details.get("anomalies").is_some_and(Value::is_array) {
            anomalies::failures(&check.name, details)
        } else if details.get("keys").is_some_and(Value::is_array) {
            violation::failures(&check.name, details)
        } else {
            Vec::new()
        };
        ranges.push((failures.len(), found.len()));
        failures.extend(found);
    }
    (failures, ranges)
}

/// A sample line of `raftlog.jsonl`, the fields the commit plot needs.
#[derive(Deserialize)]
struct SampleLine {
    time: u64,
    node: String,
    commit_index: u64,
    #[serde(default)]
    restart: bool,
}

fn commit_samples(text: &str, warnings: &mut Vec<String>) -> Vec<CommitSample> {
    let mut bad = 0usize;
    let samples = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| match serde_json::from_str::<SampleLine>(line) {
            Ok(s) => Some(CommitSample {
                time: s.time,
                node: s.node,
                commit_index: s.commit_index,
                restart: s.restart,
            }),
            Err(_) => {
                bad += 1;
                None
            }
        })
        .collect();
    if bad > 0 {
        warnings.push(format!(
            "raftlog.jsonl: {bad} lines are not samples (skipped in the commit plot)"
        ));
    }
    samples
}

/// The log windows: the first failure, then each fault's start and end.
fn log_windows(failures: &[Failure], bands: &[FaultBand]) -> Vec<Window> {
    let mut windows = Vec::new();
    if let Some(first) = failures
        .iter()
        .filter(|f| f.time.is_some())
        .min_by_key(|f| f.time)
    {
        windows.push(Window {
            label: format!("Around the first failure ({})", first.label),
            at: first.time.unwrap_or(0),
            before: 2 * SECOND,
            after: SECOND,
            open: true,
        });
    }
    for band in bands.iter().take(LOG_WINDOW_FAULTS) {
        windows.push(Window {
            label: band.label.clone(),
            at: band.start,
            before: SECOND / 2,
            after: 3 * SECOND / 2,
            open: false,
        });
        if let Some(end) = band.end.filter(|end| *end > band.start + SECOND / 2) {
            let undo = match band.kind.as_str() {
                "partition" => "heal",
                "pause" => "resume",
                "kill" | "power" => "restart",
                _ => "end",
            };
            windows.push(Window {
                label: format!("{undo} after {}", band.label),
                at: end,
                before: SECOND / 2,
                after: 3 * SECOND / 2,
                open: false,
            });
        }
    }
    windows
}

/// Renders and writes a page for a history and its checks.
struct Build<'a> {
    title: String,
    source: String,
    headline: Headline,
    checks: &'a [CheckResult],
    test: Option<&'a Value>,
    results: Option<&'a RunResults>,
    recorded: Recorded,
    commits: Vec<CommitSample>,
    run_dir: Option<&'a Path>,
    warnings: Vec<String>,
}

impl Build<'_> {
    fn render(mut self) -> String {
        let bands = faults::bands(&self.recorded.nemesis);
        let (failures, ranges) = failures_of(self.checks);
        let windows = log_windows(&failures, &bands);
        let setup_ms = self
            .results
            .and_then(|r| r.timings.get("setup_ms").copied());
        let zero = logs::zero_from_test(self.test, setup_ms);
        let logs = match self.run_dir {
            Some(dir) => {
                logs::read_node_logs(dir, if zero.is_some() { &windows } else { &[] }, zero)
            }
            None => Vec::new(),
        };
        let windows = if zero.is_some() { windows } else { Vec::new() };
        let log_note = match (zero, self.test.and_then(|t| t.get("time_zero"))) {
            (None, _) => "The run recorded no start time, so log lines cannot be placed on the test's clock: each node's last lines are shown.".to_string(),
            (Some(_), Some(_)) => "Log lines are placed on the test's clock by their own timestamps and test.json's time_zero; lines without a timestamp take the time of the line before.".to_string(),
            (Some(_), None) => "Log lines are placed on the test's clock by their own timestamps, taking the clock's start as test.json's started_at plus the setup time (accurate to some tens of milliseconds); lines without a timestamp take the time of the line before.".to_string(),
        };
        let data = data::build(&self.recorded, &bands, &failures);
        self.warnings.extend(self.recorded.warnings.iter().cloned());
        let page = Page {
            title: self.title.clone(),
            source: self.source.clone(),
            headline: self.headline.clone(),
            checks: self.checks,
            failures: &failures,
            failure_ranges: &ranges,
            test: self.test,
            results: self.results,
            recorded: &self.recorded,
            bands: &bands,
            commits: &self.commits,
            windows: &windows,
            logs: &logs,
            log_note,
            warnings: &self.warnings,
            data: &data,
        };
        page::render(&page)
    }
}

/// Builds `run_dir/report.html` from the run directory: `history.jsonl`,
/// `results.json`, `test.json`, and when present `raftlog.jsonl` and
/// `nodes/*.log`. A run without `results.json` (one that died) still gets
/// a report of its history, headed "no verdict recorded".
///
/// # Errors
/// `Write` when `run_dir` holds no run (none of history.jsonl,
/// results.json, test.json), when one of them cannot be read, or when the
/// report cannot be written; the message names the file.
pub fn write_report(run_dir: &Path) -> Result<PathBuf> {
    let out = run_dir.join("report.html");
    let html = render_run(run_dir)?;
    write_atomically(&out, html.as_bytes())?;
    Ok(out)
}

/// The report page of a run directory, as text (see [`write_report`]).
///
/// # Errors
/// As [`write_report`], except for writing.
pub fn render_run(run_dir: &Path) -> Result<String> {
    let out = run_dir.join("report.html");
    let history_path = run_dir.join("history.jsonl");
    let results_path = run_dir.join("results.json");
    let test_path = run_dir.join("test.json");
    if !run_dir.is_dir() {
        return Err(read_error(&out, run_dir, "no such run directory"));
    }
    let history = read_optional(&out, &history_path)?;
    let results_text = read_optional(&out, &results_path)?;
    let test_text = read_optional(&out, &test_path)?;
    if history.is_none() && results_text.is_none() && test_text.is_none() {
        return Err(read_error(
            &out,
            run_dir,
            "not a run directory (no history.jsonl, results.json or test.json)",
        ));
    }
    let mut warnings = Vec::new();
    let results: Option<RunResults> =
        results_text.and_then(|text| match serde_json::from_str(&text) {
            Ok(results) => Some(results),
            Err(err) => {
                warnings.push(format!(
                    "{} is not a results file ({err}): no verdict shown",
                    results_path.display()
                ));
                None
            }
        });
    let test: Option<Value> = test_text.and_then(|text| match serde_json::from_str(&text) {
        Ok(test) => Some(test),
        Err(err) => {
            warnings.push(format!("{} is not JSON ({err})", test_path.display()));
            None
        }
    });
    let source = history_path.display().to_string();
    let recorded = match &history {
        Some(text) => history::read_jsonl(text, &source),
        None => {
            warnings.push(format!("{source} is missing: no operation to draw"));
            history::read_jsonl("", &source)
        }
    };
    let commits = match read_optional(&out, &run_dir.join("raftlog.jsonl"))? {
        Some(text) => commit_samples(&text, &mut warnings),
        None => Vec::new(),
    };
    let title =
        crate::store::run_test_name(run_dir, test.as_ref()).unwrap_or_else(|| "run".to_string());
    let checks: Vec<CheckResult> = results
        .as_ref()
        .map(|r| r.checks.clone())
        .unwrap_or_default();
    let build = Build {
        title,
        source,
        headline: Headline::of_run(results.as_ref()),
        checks: &checks,
        test: test.as_ref(),
        results: results.as_ref(),
        recorded,
        commits,
        run_dir: Some(run_dir),
        warnings,
    };
    Ok(build.render())
}

/// Writes a report of one checked history (`faultline check --report
/// OUT.html FILE`): the linearizability verdict, the timeline, the
/// violations and the plots; no test.json, logs or raftlog. Any format
/// `faultline check` reads works; faultline's jsonl also brings errors and
/// nemesis faults.
///
/// # Errors
/// `Write` when the history cannot be read or `out` cannot be written.
pub fn write_check_report(history_path: &Path, report: &checker::Report, out: &Path) -> Result<()> {
    let details = serde_json::to_value(report).map_err(|source| Error::Serialize {
        what: "the check's report",
        path: out.to_path_buf(),
        source,
    })?;
    let invalid = report
        .keys
        .iter()
        .filter(|k| k.verdict() == Verdict::Invalid)
        .count();
    let unknown = report
        .keys
        .iter()
        .filter(|k| k.verdict() == Verdict::Unknown)
        .count();
    let summary = match report.verdict {
        Verdict::Valid => format!(
            "linearizable ({} keys, {} ops, model {})",
            report.keys.len(),
            report.ops,
            report.model
        ),
        Verdict::Invalid => format!(
            "NOT linearizable: {invalid} of {} keys have no valid order (model {})",
            report.keys.len(),
            report.model
        ),
        Verdict::Unknown => format!(
            "unknown: {unknown} of {} keys not decided within the budget (model {})",
            report.keys.len(),
            report.model
        ),
    };
    let check = CheckResult {
        name: "linearizability".to_string(),
        verdict: report.verdict,
        summary,
        details,
    };
    write_check_result_report(history_path, &check, out)
}

/// Writes a report of one checked history judged by any check, given as
/// the [`CheckResult`] a run would record (e.g. `txn-list-append` with the
/// transaction report as `details`, whose anomalies are drawn as cycles).
/// The history is read as in [`write_check_report`].
///
/// # Errors
/// `Write` when the history cannot be read or `out` cannot be written.
pub fn write_check_result_report(
    history_path: &Path,
    check: &CheckResult,
    out: &Path,
) -> Result<()> {
    let text = read_optional(out, history_path)?
        .ok_or_else(|| read_error(out, history_path, "no such file"))?;
    let source = history_path.display().to_string();
    let recorded = match checker::Format::sniff(&text, &source) {
        Ok(checker::Format::Jsonl) | Err(_) => history::read_jsonl(&text, &source),
        Ok(format) => match checker::format::read(&text, &source, Some(format)) {
            Ok((history, _)) => history::from_checker(&history),
            Err(err) => return Err(read_error(out, history_path, err)),
        },
    };
    let checks = [check.clone()];
    let title = history_path
        .file_name()
        .map_or_else(|| source.clone(), |n| n.to_string_lossy().into_owned());
    let build = Build {
        title,
        source,
        headline: Headline::of_verdict(check.verdict),
        checks: &checks,
        test: None,
        results: None,
        recorded,
        commits: Vec::new(),
        run_dir: None,
        warnings: Vec::new(),
    };
    write_atomically(out, build.render().as_bytes())
}
