//! Assembles report.html: the verdict, the run's options and reproduce
//! command, the timeline (canvas + script), the explanations, the plots,
//! the node logs and the embedded data. Every piece of untrusted text goes
//! through [`super::html`].

use std::fmt::Write as _;

use checker::Verdict;
use serde_json::Value;

use super::data::{Failure, PageData};
use super::faults::FaultBand;
use super::history::{Clock, Recorded};
use super::html::{self, text};
use super::logs::{NodeLog, Window};
use super::plots::{self, CommitSample};
use super::violation::seconds;
use super::{anomalies, cycles, violation};
use crate::summary::{CheckResult, RunResults};

const CSS: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("timeline.js");
/// Failures listed under each check at the top; the rest are further down.
const SHOWN_FAILURES: usize = 5;

/// Runs before anything else: traps alert/confirm/prompt (a test proves
/// none is ever called) and turns any script error into a visible marker.
const GUARD: &str = "window.alert=window.confirm=window.prompt=function(){document.documentElement.setAttribute('data-alerted','yes');};\
window.addEventListener('error',function(e){var d=document.getElementById('js-error');if(!d){d=document.createElement('div');d.id='js-error';(document.body||document.documentElement).appendChild(d);}d.textContent=String(e.message);document.title='faultline-error: '+e.message;});";

/// The verdict banner.
#[derive(Debug, Clone)]
pub struct Headline {
    /// CSS class: `valid`, `invalid`, `unknown`, `error` or `none`.
    pub class: &'static str,
    /// The verdict in words.
    pub words: String,
    /// A second line (the reason), if any.
    pub detail: Option<String>,
}

impl Headline {
    /// From a run's `results.json`, or its absence.
    #[must_use]
    pub fn of_run(results: Option<&RunResults>) -> Self {
        let Some(results) = results else {
            return Headline {
                class: "none",
                words: "NO VERDICT RECORDED".into(),
                detail: Some(
                    "results.json is missing: the run ended before its checks. The history below is what was recorded; `faultline check` can still judge it."
                        .into(),
                ),
            };
        };
        let (class, words) = match results.exit_code {
            0 => ("valid", "VALID"),
            1 => ("invalid", "INVALID: anomaly found"),
            2 => ("unknown", "UNKNOWN"),
            _ => ("error", "ERROR"),
        };
        Headline {
            class,
            words: format!("{words} (exit {})", results.exit_code),
            detail: results.reason.clone(),
        }
    }

    /// From a linearizability verdict alone (`faultline check --report`).
    #[must_use]
    pub fn of_verdict(verdict: Verdict) -> Self {
        let (class, words) = match verdict {
            Verdict::Valid => ("valid", "LINEARIZABLE"),
            Verdict::Invalid => ("invalid", "NOT LINEARIZABLE"),
            Verdict::Unknown => ("unknown", "UNKNOWN"),
        };
        Headline {
            class,
            words: format!("{words} (exit {})", verdict.exit_code()),
            detail: None,
        }
    }
}

/// Everything a page shows.
pub struct Page<'a> {
    /// The test's name (or the history file's).
    pub title: String,
    /// Where the history came from, for the page's small print.
    pub source: String,
    /// The banner.
    pub headline: Headline,
    /// The checks, in the order they ran.
    pub checks: &'a [CheckResult],
    /// Every failure, in check order.
    pub failures: &'a [Failure],
    /// Per check: the index of its first failure and how many it has.
    pub failure_ranges: &'a [(usize, usize)],
    /// `test.json`, when there is one.
    pub test: Option<&'a Value>,
    /// `results.json`, when there is one.
    pub results: Option<&'a RunResults>,
    /// The history.
    pub recorded: &'a Recorded,
    /// The faults.
    pub bands: &'a [FaultBand],
    /// Commit indexes from `raftlog.jsonl`.
    pub commits: &'a [CommitSample],
    /// Log windows and the logs cut to them.
    pub windows: &'a [Window],
    /// The node logs.
    pub logs: &'a [NodeLog],
    /// How log lines were placed in time, in words.
    pub log_note: String,
    /// Warnings met while reading.
    pub warnings: &'a [String],
    /// The embedded data.
    pub data: &'a PageData,
}

fn badge(verdict: &str) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", text(verdict))
}

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "valid",
        Verdict::Invalid => "invalid",
        Verdict::Unknown => "unknown",
    }
}

fn checks_section(out: &mut String, page: &Page<'_>) {
    out.push_str("<section id=\"checks\"><h2>Checks</h2>");
    if page.checks.is_empty() {
        out.push_str("<p>No check recorded a verdict.</p>");
    }
    out.push_str("<ul class=\"checks\">");
    for (check, &(first, count)) in page.checks.iter().zip(page.failure_ranges) {
        let _ = write!(
            out,
            "<li>{} <b>{}</b>: {}",
            badge(verdict_word(check.verdict)),
            text(&check.name),
            text(&check.summary)
        );
        if count > 0 {
            out.push_str("<ul>");
            for (i, failure) in page.failures[first..first + count]
                .iter()
                .enumerate()
                .take(SHOWN_FAILURES)
            {
                let _ = write!(
                    out,
                    "<li>{} <button class=\"jump\" data-failure=\"{}\">show in timeline</button></li>",
                    text(&failure.label),
                    first + i
                );
            }
            if count > 10 {
                let _ = write!(
                    out,
                    "<li class=\"muted\">… and {} more below</li>",
                    count - 10
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn run_section(out: &mut String, page: &Page<'_>) {
    out.push_str("<section id=\"run\">");
    let Some(test) = page.test else {
        let _ = write!(
            out,
            "<p>History: <code>{}</code> (no test.json: options, seed and command unknown).</p></section>",
            text(&page.source)
        );
        return;
    };
    let mut facts: Vec<String> = Vec::new();
    if let Some(seed) = test.get("seed") {
        facts.push(format!("seed <code>{}</code>", text(&value_text(seed))));
    }
    if let Some(started) = test.get("started_at").and_then(Value::as_str) {
        facts.push(format!("started {}", text(started)));
    }
    let version = test
        .get("faultline_version")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let commit = test
        .get("git_commit")
        .and_then(Value::as_str)
        .unwrap_or("unknown commit");
    facts.push(text(&format!("faultline {version} ({commit})")));
    if let Some(results) = page.results {
        let ops = results.ops;
        facts.push(text(&format!(
            "{} ops invoked: {} ok, {} fail, {} info",
            ops.invoked, ops.ok, ops.fail, ops.info
        )));
        facts.push(text(&format!(
            "final reads {} of {} ok",
            results.final_reads.ok, results.final_reads.invoked
        )));
    }
    let _ = write!(out, "<p>{}</p>", facts.join(" · "));
    if let Some(options) = test.get("options").and_then(Value::as_object) {
        let words: Vec<String> = options
            .iter()
            .map(|(name, value)| format!("{name} {}", value_text(value)))
            .collect();
        let _ = write!(
            out,
            "<p class=\"muted mono\" id=\"options\">{}</p>",
            text(&words.join(" · "))
        );
    }
    if let Some(command) = test.get("command").and_then(Value::as_str) {
        let _ = write!(
            out,
            "<div>Reproduce:</div><pre id=\"command\">{}</pre>",
            text(command)
        );
    }
    out.push_str("<details><summary>Faults, timings, options, node commands</summary><table>");
    if let Some(results) = page.results {
        let faults: Vec<String> = results
            .faults
            .iter()
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        let timings: Vec<String> = results
            .timings
            .iter()
            .map(|(name, ms)| format!("{name} {ms:.0}"))
            .collect();
        let _ = write!(
            out,
            "<tr><th>faults</th><td>{}</td></tr><tr><th>timings (ms)</th><td>{}</td></tr>",
            text(&faults.join(", ")),
            text(&timings.join(", "))
        );
    }
    if let Some(options) = test.get("options").and_then(Value::as_object) {
        for (name, value) in options {
            let _ = write!(
                out,
                "<tr><th>{}</th><td class=\"mono\">{}</td></tr>",
                text(name),
                text(&value_text(value))
            );
        }
    }
    out.push_str("</table>");
    if let Some(nodes) = test.get("nodes").and_then(Value::as_array) {
        for node in nodes {
            let _ = write!(out, "<pre>{}</pre>", text(&node.to_string()));
        }
    }
    out.push_str("</details></section>");
}

fn timeline_section(out: &mut String, page: &Page<'_>) {
    let colours = plots::OUTCOME_COLOURS;
    let _ = write!(
        out,
        "<section id=\"timeline-section\"><h2>Timeline</h2>\
<div class=\"controls\">\
<label>key <input type=\"text\" id=\"key-filter\" list=\"key-list\" placeholder=\"all keys (substring)\"></label><datalist id=\"key-list\"></datalist>\
<label>node <select id=\"node-filter\"><option value=\"-1\">all nodes</option></select></label>\
<label><input type=\"checkbox\" data-outcome=\"0\" checked> ok</label>\
<label><input type=\"checkbox\" data-outcome=\"1\" checked> fail</label>\
<label><input type=\"checkbox\" data-outcome=\"2\" checked> info</label>\
<button id=\"zoom-in\">zoom in</button><button id=\"zoom-out\">zoom out</button><button id=\"zoom-reset\">whole run</button><button id=\"filters-clear\">clear filters</button>\
<span class=\"legend\"><span style=\"background:{}\"></span>ok<span style=\"background:{}\"></span>fail<span style=\"background:{}\"></span>info<span style=\"background:#9a9a9a\"></span>no completion<span style=\"background:#e45756;opacity:.35\"></span>partition<span style=\"background:#8e6cc0;opacity:.35\"></span>pause<span style=\"background:#5a5a5a;opacity:.35\"></span>kill</span>\
</div>\
<div id=\"timeline-box\"><canvas id=\"timeline\" height=\"200\"></canvas><div id=\"tip\"></div></div>\
<div class=\"status\" id=\"timeline-status\">{} ops (the timeline needs JavaScript)</div>\
<pre id=\"op-details\"></pre>",
        colours[0],
        colours[1],
        colours[2],
        page.recorded.ops.len()
    );
    if page.recorded.clock == Clock::Events {
        out.push_str("<p class=\"muted\">This history has no times: the axis counts events.</p>");
    }
    out.push_str("</section>");
}

fn explanations(out: &mut String, page: &Page<'_>) {
    for (check, &(first, _)) in page.checks.iter().zip(page.failure_ranges) {
        let details = &check.details;
        let is_linearizability =
            details.get("keys").is_some_and(Value::is_array) && details.get("model").is_some();
        let has_anomalies = details.get("anomalies").is_some_and(Value::is_array);
        if check.verdict == Verdict::Valid && !has_anomalies && !is_linearizability {
            continue;
        }
        let is_txn = cycles::is_txn(&check.name, details);
        let listed = details
            .get("anomalies")
            .and_then(Value::as_array)
            .is_some_and(|anomalies| !anomalies.is_empty());
        let body = if is_txn && (check.verdict != Verdict::Valid || listed) {
            // A valid verdict under a weaker level lists the allowed cycles.
            cycles::section(page.recorded, details, first)
        } else if is_txn {
            continue;
        } else if is_linearizability && check.verdict != Verdict::Valid {
            violation::section(page.recorded, details, first)
        } else if has_anomalies && check.verdict != Verdict::Valid {
            anomalies::section(page.recorded, details, first)
        } else {
            continue;
        };
        let _ = write!(
            out,
            "<section id=\"check-{}\"><h2>{}: {}</h2>{body}</section>",
            html::attr(&check.name),
            text(&check.name),
            badge(verdict_word(check.verdict))
        );
    }
}

fn plots_section(out: &mut String, page: &Page<'_>) {
    out.push_str("<section id=\"plots\"><h2>Latency and throughput</h2>");
    if page.recorded.clock == Clock::Events {
        out.push_str("<p class=\"muted\">No plots: this history has no times.</p></section>");
        return;
    }
    if page.recorded.ops.is_empty() {
        out.push_str("<p class=\"muted\">No client operations were recorded.</p></section>");
        return;
    }
    out.push_str("<h3>Latency of each operation (log scale), by invoke time</h3>");
    out.push_str(&plots::latency(page.recorded, page.bands));
    out.push_str("<h3>Throughput</h3>");
    out.push_str(&plots::throughput(page.recorded, page.bands));
    if !page.commits.is_empty() {
        out.push_str("<h3>Commit index of each node (raftlog.jsonl samples; rings: restarts)</h3>");
        out.push_str(&plots::commit_index(
            page.commits,
            page.bands,
            page.recorded.end,
        ));
    }
    out.push_str("</section>");
}

fn log_lines(out: &mut String, lines: &[super::logs::Line]) {
    out.push_str("<pre>");
    for line in lines {
        let time = line
            .time
            .map(|t| format!("{:>10.3} s", t as f64 / 1e9))
            .unwrap_or_else(|| format!("{:>12}", "?"));
        let _ = writeln!(
            out,
            "<span class=\"t\">{time} │</span> {}",
            text(&line.text)
        );
    }
    out.push_str("</pre>");
}

fn logs_section(out: &mut String, page: &Page<'_>) {
    if page.logs.is_empty() {
        return;
    }
    out.push_str("<section id=\"logs\"><h2>Node logs</h2>");
    let _ = write!(out, "<p class=\"muted\">{}</p>", text(&page.log_note));
    for (w, window) in page.windows.iter().enumerate() {
        let total: usize = page
            .logs
            .iter()
            .map(|log| log.windows[w].0.len() + log.windows[w].1)
            .sum();
        let _ = write!(
            out,
            "<details{}><summary>{} at {} ({total} lines)</summary>",
            if window.open { " open" } else { "" },
            text(&window.label),
            seconds(Clock::Nanos, Some(window.at)),
        );
        for log in page.logs {
            let (lines, more) = &log.windows[w];
            if lines.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "<div class=\"log-node\"><b>{}</b>{}",
                text(&log.node),
                if *more > 0 {
                    format!(" <span class=\"muted\">({more} more lines in this window; the nearest are shown)</span>")
                } else {
                    String::new()
                }
            );
            log_lines(out, lines);
            out.push_str("</div>");
        }
        out.push_str("</details>");
    }
    for log in page.logs {
        let _ = write!(
            out,
            "<details><summary>{} (<code>{}</code>): last {} of {} lines ({} with a timestamp)</summary>",
            text(&log.node),
            text(&log.path.display().to_string()),
            log.tail.len(),
            log.lines,
            log.timestamped
        );
        if let Some(error) = &log.error {
            let _ = write!(out, "<p class=\"warn\">{}</p>", text(error));
        }
        log_lines(out, &log.tail);
        out.push_str("</details>");
    }
    out.push_str("</section>");
}

/// Renders the whole page.
#[must_use]
pub fn render(page: &Page<'_>) -> String {
    let nonce = html::nonce();
    let data = html::script_json(page.data);
    let mut out = String::with_capacity(data.len() + 256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>faultline: {} — {}</title><script nonce=\"{nonce}\">{GUARD}</script><style>{CSS}</style></head><body>",
        text(&page.title),
        text(&page.headline.words),
    );
    let _ = write!(
        out,
        "<header class=\"verdict {}\" id=\"verdict\"><h1>{}</h1><p>{}</p>{}</header><main>",
        page.headline.class,
        text(&page.headline.words),
        text(&page.title),
        page.headline
            .detail
            .as_deref()
            .map(|d| format!("<p>{}</p>", text(d)))
            .unwrap_or_default()
    );
    checks_section(&mut out, page);
    run_section(&mut out, page);
    timeline_section(&mut out, page);
    explanations(&mut out, page);
    plots_section(&mut out, page);
    logs_section(&mut out, page);
    if !page.warnings.is_empty() {
        out.push_str("<section id=\"warnings\"><h2>Warnings</h2><ul>");
        for warning in page.warnings {
            let _ = write!(out, "<li class=\"warn\">{}</li>", text(warning));
        }
        out.push_str("</ul></section>");
    }
    let _ = write!(
        out,
        "<p class=\"muted\">Made by faultline {} from <code>{}</code>. Self-contained: no network.</p></main>",
        env!("CARGO_PKG_VERSION"),
        text(&page.source)
    );
    out.push_str("<script type=\"application/json\" id=\"data\">");
    out.push_str(&data);
    out.push_str("</script>");
    let _ = writeln!(
        out,
        "<script nonce=\"{nonce}\">{SCRIPT}</script></body></html>"
    );
    out
}
