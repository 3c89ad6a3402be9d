//! Headless Chromium for the report tests: load a page, dump its DOM after
//! the scripts ran, collect what the page printed on the console, take a
//! screenshot. Debian's `chromium` package; a machine without it fails the
//! tests with the command that installs it (CI installs it, .ci/run).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A browser that never answers is a bug in the page or the machine.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The chromium binary.
///
/// # Panics
/// When none is installed: the message says how to install it.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "headless Chromium is needed to test the HTML report and none is installed: \
         run `apt-get update && apt-get install -y chromium` (Debian's package; .ci/run does this)"
    );
}

/// What a page load left.
#[derive(Debug)]
pub struct Loaded {
    /// The DOM after the scripts ran (`--dump-dom`), or empty for a screenshot.
    pub dom: String,
    /// Console messages and uncaught errors the page printed.
    pub console: Vec<String>,
    /// How long chromium took, start to exit.
    pub elapsed: Duration,
}

impl Loaded {
    /// The `<div id="drawn" ...>` marker the timeline adds once drawn.
    pub fn drawn_marker(&self) -> Option<&str> {
        let start = self.dom.find("<div id=\"drawn\"")?;
        let end = self.dom[start..].find('>')? + start;
        Some(&self.dom[start..=end])
    }

    /// The value of `attribute` on the drawn marker.
    pub fn marker_attribute(&self, attribute: &str) -> Option<String> {
        let marker = self.drawn_marker()?;
        let needle = format!("{attribute}=\"");
        let start = marker.find(&needle)? + needle.len();
        let end = marker[start..].find('"')? + start;
        Some(marker[start..end].to_string())
    }
}

fn run(page: &Path, fragment: &str, mode: &[String]) -> Loaded {
    let profile = tempfile::tempdir().expect("a temporary browser profile");
    let url = format!(
        "file://{}{fragment}",
        std::fs::canonicalize(page)
            .expect("the page exists")
            .display()
    );
    let started = Instant::now();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(mode)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let out_reader =
        std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    loop {
        if child
            .try_wait()
            .expect("chromium can be waited for")
            .is_some()
        {
            break;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {url} within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    let dom = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let console = stderr
        .lines()
        .filter(|line| line.contains(":CONSOLE") || line.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    Loaded {
        dom,
        console,
        elapsed,
    }
}

/// Loads `page` (with `fragment`, e.g. `#failure-0`) and dumps its DOM.
pub fn dump_dom(page: &Path, fragment: &str) -> Loaded {
    run(page, fragment, &["--dump-dom".to_string()])
}

/// Loads `page` and writes a 1400x1000 screenshot to `png`.
pub fn screenshot(page: &Path, fragment: &str, png: &Path) -> Loaded {
    let _ = std::fs::remove_file(png);
    let loaded = run(page, fragment, &[format!("--screenshot={}", png.display())]);
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "no screenshot of {} at {} ({size} bytes)",
        page.display(),
        png.display()
    );
    loaded
}
