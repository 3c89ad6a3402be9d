//! A suite's record: `suite-<timestamp>/suite.json` (every run, its
//! expected and actual outcome) and `summary.html` (the same as a page
//! linking every run's report). Static HTML, no script.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::report::html::{text, url_component};
use crate::summary::write_json;

/// One run of a suite, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteRun {
    /// The entry's name in the suite file.
    pub entry: String,
    /// The run's test name (its directory in the store).
    pub test: String,
    /// The run's seed.
    pub seed: u64,
    /// What the entry expects: `valid`, `invalid`, `invalid (stale-read)`,
    /// `unknown` or `error`.
    pub expected: String,
    /// What the run got: `valid`, `invalid`, `unknown`, `error`, or
    /// `interrupted` (stopped by Ctrl-C before it could judge).
    pub got: String,
    /// The anomalies found, as `check:kind`.
    pub anomalies: Vec<String>,
    /// Did the run get the expected outcome? (`None`: interrupted, not counted.)
    pub passed: Option<bool>,
    /// Why it did not pass, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Time from the start of the main phase to the invoke of the first
    /// anomalous op, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_ms: Option<f64>,
    /// Wall-clock seconds the run took, set-up to verdict.
    pub seconds: f64,
    /// The run directory, relative to the store's root (`None` when the
    /// run failed before it had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<String>,
}

/// `suite.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuiteRecord {
    /// The suite file as given.
    pub file: String,
    /// Its `description`.
    #[serde(default)]
    pub description: String,
    /// When the suite started (RFC 3339).
    pub started_at: String,
    /// Wall-clock seconds, start to end.
    pub seconds: f64,
    /// Why the suite stopped before its matrix was done, if it did
    /// (`--duration`, Ctrl-C).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The command that ran it.
    pub command: String,
    /// Every run, in the order run.
    pub runs: Vec<SuiteRun>,
}

impl SuiteRecord {
    /// Runs that got their expected outcome.
    #[must_use]
    pub fn passed(&self) -> usize {
        self.runs.iter().filter(|r| r.passed == Some(true)).count()
    }

    /// Runs that did not.
    #[must_use]
    pub fn failed(&self) -> usize {
        self.runs.iter().filter(|r| r.passed == Some(false)).count()
    }
}

/// Writes `suite.json` and `summary.html` into the suite's directory
/// (`store/suite-<timestamp>/`); links go up one level into the store.
///
/// # Errors
/// `Serialize` or `Write`.
pub fn write_suite(dir: &Path, record: &SuiteRecord) -> Result<()> {
    write_json(&dir.join("suite.json"), "suite.json", record)?;
    let path = dir.join("summary.html");
    std::fs::write(&path, render_suite(record)).map_err(|source| Error::Write { path, source })
}

/// A time to detection for people: `9 ms`, `5.2 s`, `2 m 05 s`.
#[must_use]
pub fn format_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        let secs = (ms / 1000.0).round() as u64;
        format!("{} m {:02} s", secs / 60, secs % 60)
    }
}

fn class_of(got: &str) -> &'static str {
    match got {
        "valid" => "valid",
        "invalid" => "invalid",
        "unknown" | "interrupted" => "unknown",
        _ => "error",
    }
}

/// `../<run dir>/<file>` with each component escaped for a URL.
fn run_href(run_dir: &str, file: &str) -> String {
    let mut href = String::from("..");
    for part in run_dir.split('/').filter(|p| !p.is_empty()) {
        href.push('/');
        href.push_str(&url_component(part));
    }
    href.push('/');
    href.push_str(&url_component(file));
    text(&href)
}

/// The summary page of a suite.
#[must_use]
pub fn render_suite(record: &SuiteRecord) -> String {
    let mut out = String::with_capacity(4096 + record.runs.len() * 512);
    let failed = record.failed();
    let verdict = if failed == 0 {
        "<span class=\"b valid\">passed</span>"
    } else {
        "<span class=\"b invalid\">FAILED</span>"
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<title>faultline suite {}</title><style>\
body{{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#1d1d1d}}\
table{{border-collapse:collapse}}th,td{{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}}\
th{{background:#eee}}.b{{display:inline-block;padding:0 7px;border-radius:9px;color:#fff;font-size:12px;font-weight:600}}\
.valid{{background:#2e7d32}}.invalid{{background:#c62828}}.unknown{{background:#a66f00}}.error{{background:#555}}\
tr.fail td{{background:#fdecea}}td.n{{text-align:right}}code{{font-size:12.5px}}\
</style></head><body><h1>faultline suite <code>{}</code> {verdict}</h1>",
        text(&record.file),
        text(&record.file),
    );
    if !record.description.is_empty() {
        let _ = write!(out, "<p>{}</p>", text(&record.description));
    }
    let _ = write!(
        out,
        "<p>{} runs: {} as expected, {failed} not, {} interrupted. Started {}, took {:.0} s.{}</p>\
<p>Command: <code>{}</code></p>",
        record.runs.len(),
        record.passed(),
        record.runs.iter().filter(|r| r.passed.is_none()).count(),
        text(&record.started_at),
        record.seconds,
        record
            .stopped
            .as_deref()
            .map(|why| format!(" Stopped early: {}.", text(why)))
            .unwrap_or_default(),
        text(&record.command),
    );
    out.push_str(
        "<table><thead><tr><th></th><th>entry</th><th>test</th><th>seed</th><th>expected</th>\
<th>got</th><th>anomalies</th><th>detection</th><th>took</th><th>files</th></tr></thead><tbody>",
    );
    for run in &record.runs {
        let (mark, row_class) = match run.passed {
            Some(true) => ("✓", ""),
            Some(false) => ("✗", " class=\"fail\""),
            None => ("–", ""),
        };
        let files = match &run.run_dir {
            Some(dir) => format!(
                "<a href=\"{}\">report</a> · <a href=\"{}\">results</a>",
                run_href(dir, "report.html"),
                run_href(dir, "results.json")
            ),
            None => String::new(),
        };
        let got = match &run.note {
            Some(note) => format!(
                "<span class=\"b {}\">{}</span> {}",
                class_of(&run.got),
                text(&run.got),
                text(note)
            ),
            None => format!(
                "<span class=\"b {}\">{}</span>",
                class_of(&run.got),
                text(&run.got)
            ),
        };
        let _ = write!(
            out,
            "<tr{row_class}><td>{mark}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
<td>{got}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{:.0} s</td><td>{files}</td></tr>",
            text(&run.entry),
            text(&run.test),
            run.seed,
            text(&run.expected),
            text(&run.anomalies.join(" ")),
            run.detection_ms.map(format_ms).unwrap_or_default(),
            run.seconds,
        );
    }
    out.push_str("</tbody></table></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SuiteRecord {
        SuiteRecord {
            file: "suites/quick.toml".into(),
            description: "a <quick> one".into(),
            started_at: "2026-11-22T05:00:00Z".into(),
            seconds: 61.0,
            stopped: None,
            command: "faultline suite suites/quick.toml".into(),
            runs: vec![
                SuiteRun {
                    entry: "stale-read".into(),
                    test: "raftkv-register-partition-bug-stale-read".into(),
                    seed: 1,
                    expected: "invalid (stale-read)".into(),
                    got: "invalid".into(),
                    anomalies: vec!["linearizability:stale-read".into()],
                    passed: Some(true),
                    note: None,
                    detection_ms: Some(5012.0),
                    seconds: 20.5,
                    run_dir: Some(
                        "raftkv-register-partition-bug-stale-read/20261122T050000.000Z".into(),
                    ),
                },
                SuiteRun {
                    entry: "clean".into(),
                    test: "raftkv-append-kill".into(),
                    seed: 2,
                    expected: "valid".into(),
                    got: "error".into(),
                    anomalies: vec![],
                    passed: Some(false),
                    note: Some("node n1 never started".into()),
                    detection_ms: None,
                    seconds: 3.0,
                    run_dir: None,
                },
            ],
        }
    }

    #[test]
    fn summary_links_every_report_from_the_suite_directory() {
        let html = render_suite(&record());
        assert!(html.contains(
            "href=\"../raftkv-register-partition-bug-stale-read/20261122T050000.000Z/report.html\""
        ));
        assert!(html.contains("FAILED"));
        assert!(html.contains("a &lt;quick&gt; one"));
        assert!(html.contains("node n1 never started"));
    }

    #[test]
    fn the_store_index_links_each_suite_summary() {
        let store = tempfile::tempdir().unwrap();
        let dir = store.path().join("suite-20261122T050000.000Z");
        std::fs::create_dir(&dir).unwrap();
        write_suite(&dir, &record()).unwrap();
        let index = crate::render_index(store.path());
        assert!(
            index.contains("href=\"suite-20261122T050000.000Z/summary.html\""),
            "{index}"
        );
        assert!(index.contains("1 as expected, 1 not"), "{index}");
    }

    #[test]
    fn detection_times_read_as_milliseconds_seconds_or_minutes() {
        assert_eq!(format_ms(9.4), "9 ms");
        assert_eq!(format_ms(5_040.0), "5.0 s");
        assert_eq!(format_ms(125_000.0), "2 m 05 s");
    }

    #[test]
    fn suite_record_round_trips_and_counts_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        write_suite(dir.path(), &record()).unwrap();
        let back: SuiteRecord =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("suite.json")).unwrap())
                .unwrap();
        assert_eq!(back, record());
        assert_eq!((back.passed(), back.failed()), (1, 1));
        assert!(dir.path().join("summary.html").is_file());
    }
}
