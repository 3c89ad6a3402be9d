//! `store/index.html`: every run in the store (test, time, verdict, link
//! to its report), newest first. Static HTML, no script.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::atomic::write_atomically;
use crate::error::{Error, Result};
use crate::report::html::{text, url_component};
use crate::summary::RunResults;

/// How deep below the store's root runs are looked for
/// (`<test>/<timestamp>/`, and one level more inside suite directories).
const MAX_DEPTH: usize = 3;

/// One run, as listed.
#[derive(Debug, Clone)]
struct Row {
    /// Path components below the store's root.
    components: Vec<String>,
    test: String,
    /// Sortable: `YYYYMMDDTHHMMSS.mmmZ`.
    sort_key: String,
    started: String,
    class: &'static str,
    verdict: String,
    summary: String,
    ops: String,
    seed: String,
    has_report: bool,
}

fn is_run(dir: &Path) -> bool {
    ["results.json", "test.json", "history.jsonl"]
        .iter()
        .any(|name| dir.join(name).is_file())
}

fn find_runs(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        // Never follow links (`latest`): every run is listed once, and
        // nothing outside the store is.
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    children.sort();
    for child in children {
        if is_run(&child) {
            out.push(child);
        } else if depth < MAX_DEPTH {
            find_runs(&child, depth + 1, out);
        }
    }
}

fn row(root: &Path, dir: &Path) -> Row {
    let components: Vec<String> = dir
        .strip_prefix(root)
        .unwrap_or(dir)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let test_json: Option<Value> = std::fs::read_to_string(dir.join("test.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let results: Option<RunResults> = std::fs::read_to_string(dir.join("results.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let dir_name = components.last().cloned().unwrap_or_default();
    let test = test_json
        .as_ref()
        .and_then(|t| t.get("test"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            components
                .len()
                .checked_sub(2)
                .map_or_else(String::new, |i| components[i].clone())
        });
    let started = test_json
        .as_ref()
        .and_then(|t| t.get("started_at"))
        .and_then(Value::as_str)
        .map(str::to_string);
    // RFC 3339 without '-' and ':' is the run directories' own format.
    let sort_key = started
        .as_deref()
        .map(|s| s.chars().filter(|c| *c != '-' && *c != ':').collect())
        .unwrap_or_else(|| dir_name.clone());
    let (class, verdict, summary, ops) = match &results {
        None => (
            "none",
            "no verdict".to_string(),
            "results.json missing: the run ended before its checks".to_string(),
            String::new(),
        ),
        Some(r) => {
            let word = crate::outcome_word(r.exit_code);
            let class = word;
            let mut summary: Vec<String> = r.checks.iter().map(|c| c.summary.clone()).collect();
            if let Some(reason) = &r.reason {
                summary.push(reason.clone());
            }
            (
                class,
                word.to_string(),
                summary.join("; "),
                format!("{} ok / {}", r.ops.ok, r.ops.invoked),
            )
        }
    };
    Row {
        components,
        test,
        sort_key,
        started: started.unwrap_or(dir_name),
        class,
        verdict,
        summary,
        ops,
        seed: test_json
            .as_ref()
            .and_then(|t| t.get("seed"))
            .map(Value::to_string)
            .unwrap_or_default(),
        has_report: dir.join("report.html").is_file(),
    }
}

fn href(components: &[String], file: &str) -> String {
    let mut parts: Vec<String> = components.iter().map(|c| url_component(c)).collect();
    if !file.is_empty() {
        parts.push(url_component(file));
    }
    let mut href = parts.join("/");
    if file.is_empty() {
        href.push('/');
    }
    text(&href)
}

/// The index page of the runs found under `root`.
#[must_use]
pub fn render_index(root: &Path) -> String {
    let mut dirs = Vec::new();
    find_runs(root, 1, &mut dirs);
    let mut rows: Vec<Row> = dirs.iter().map(|dir| row(root, dir)).collect();
    rows.sort_by(|a, b| {
        b.sort_key
            .cmp(&a.sort_key)
            .then_with(|| a.test.cmp(&b.test))
    });
    let count = |class: &str| rows.iter().filter(|r| r.class == class).count();
    let mut out = String::with_capacity(4096 + rows.len() * 512);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
<title>faultline runs</title><style>\
body{font:14px/1.45 system-ui,sans-serif;margin:16px;color:#1d1d1d}\
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#eee}.b{display:inline-block;padding:0 7px;border-radius:9px;color:#fff;font-size:12px;font-weight:600}\
.valid{background:#2e7d32}.invalid{background:#c62828}.unknown{background:#a66f00}.error,.none{background:#555}\
td.s{max-width:640px;font-size:12.5px}code{font-size:12.5px}\
</style></head><body><h1>faultline runs</h1>",
    );
    let _ = write!(
        out,
        "<p>{} runs: {} invalid, {} unknown, {} errors, {} without a verdict, {} valid. Newest first.</p>",
        rows.len(),
        count("invalid"),
        count("unknown"),
        count("error"),
        count("none"),
        count("valid")
    );
    push_suites(&mut out, root);
    out.push_str("<table><thead><tr><th>started</th><th>test</th><th>verdict</th><th>checks</th><th>ops</th><th>seed</th><th>files</th></tr></thead><tbody>");
    for r in &rows {
        let report = if r.has_report {
            format!(
                "<a href=\"{}\">report</a> · ",
                href(&r.components, "report.html")
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td><span class=\"b {}\">{}</span></td><td class=\"s\">{}</td><td>{}</td><td><code>{}</code></td><td>{report}<a href=\"{}\">results</a> · <a href=\"{}\">history</a> · <a href=\"{}\">directory</a></td></tr>",
            text(&r.started),
            text(&r.test),
            r.class,
            text(&r.verdict),
            text(&r.summary),
            text(&r.ops),
            text(&r.seed),
            href(&r.components, "results.json"),
            href(&r.components, "history.jsonl"),
            href(&r.components, ""),
        );
    }
    out.push_str("</tbody></table></body></html>\n");
    out
}

/// The suites in the store (`suite-<timestamp>/suite.json`), newest
/// first, each linking its summary page.
fn push_suites(out: &mut String, root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut suites: Vec<(String, crate::SuiteRecord)> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with("suite-") {
                return None;
            }
            let text = std::fs::read_to_string(entry.path().join("suite.json")).ok()?;
            Some((name, serde_json::from_str(&text).ok()?))
        })
        .collect();
    if suites.is_empty() {
        return;
    }
    suites.sort_by(|a, b| b.0.cmp(&a.0));
    out.push_str("<h2>Suites</h2><table><thead><tr><th>started</th><th>suite</th><th>outcome</th><th>runs</th></tr></thead><tbody>");
    for (name, suite) in &suites {
        let failed = suite.failed();
        let (class, word) = if failed == 0 {
            ("valid", "passed")
        } else {
            ("invalid", "FAILED")
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td><span class=\"b {class}\">{word}</span></td><td>{} as expected, {failed} not</td></tr>",
            text(&suite.started_at),
            href(std::slice::from_ref(name), "summary.html"),
            text(&suite.file),
            suite.passed(),
        );
    }
    out.push_str("</tbody></table><h2>Runs</h2>");
}

/// Writes `store_root/index.html` listing every run in the store, newest
/// first, from each run's `results.json` and `test.json`.
///
/// # Errors
/// `CreateDir` or `Write` when the page cannot be written.
pub fn refresh_index(store_root: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(store_root).map_err(|source| Error::CreateDir {
        path: store_root.to_path_buf(),
        source,
    })?;
    let path = store_root.join("index.html");
    let html = render_index(store_root);
    write_atomically(&path, html.as_bytes())?;
    Ok(path)
}
