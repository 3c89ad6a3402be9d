//! `faultline report`, `faultline check --report` and `faultline serve`,
//! through the binary; and the report of a real failing raftkv run
//! (`--bug stale-read`) opened in headless Chromium.

#[path = "../../results/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::Duration;

use assert_cmd::Command;

const TIMEOUT: Duration = Duration::from_secs(120);

fn faultline() -> Command {
    let mut command = Command::cargo_bin("faultline").expect("the faultline binary is built");
    command.timeout(TIMEOUT);
    command
}

#[path = "../../checker/tests/common/testdata.rs"]
mod testdata;

#[test]
fn report_rebuilds_a_run_and_prints_its_path() {
    let store = tempfile::tempdir().unwrap();
    let run = store.path().join("made-up-register/20260101T000000.000Z");
    common::write_run(&run, 300, false);
    let output = faultline().arg("report").arg(&run).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.trim_end().ends_with("report.html"), "{printed}");
    assert!(Path::new(printed.trim_end()).is_file());
}

#[test]
fn report_without_a_directory_takes_the_latest_run_and_refreshes_the_index() {
    let store = tempfile::tempdir().unwrap();
    common::write_run(
        &store.path().join("made-up-register/20260101T000000.000Z"),
        300,
        false,
    );
    std::os::unix::fs::symlink(
        "made-up-register/20260101T000000.000Z",
        store.path().join("latest"),
    )
    .unwrap();
    let output = faultline()
        .args(["report", "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(store
        .path()
        .join("made-up-register/20260101T000000.000Z/report.html")
        .is_file());
    let index = std::fs::read_to_string(store.path().join("index.html")).unwrap();
    assert!(index.contains("made-up-register/20260101T000000.000Z/report.html"));
}

#[test]
fn report_of_a_missing_directory_is_exit_3_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-run");
    let output = faultline().arg("report").arg(&missing).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no-such-run"), "{stderr}");
}

#[test]
fn check_report_draws_a_porcupine_history() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("etcd.html");
    let Some(data) = testdata::porcupine_data("check_report_draws_a_porcupine_history") else {
        return;
    };
    let history = data.join("porcupine/jepsen/etcd_002.log");
    let output = faultline()
        .args(["check", "--report"])
        .arg(&out)
        .arg(&history)
        .output()
        .unwrap();
    assert!(matches!(output.status.code(), Some(0 | 1)), "{output:?}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains("etcd_002.log"));
    assert!(html.contains("id=\"timeline\""));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("etcd.html"), "{stderr}");
}

#[test]
fn check_report_takes_one_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let history =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/histories/kv-valid.jsonl");
    let output = faultline()
        .args(["check", "--report"])
        .arg(dir.path().join("x.html"))
        .arg(&history)
        .arg(&history)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("one file"));
    assert!(!dir.path().join("x.html").exists());
}

/// A `faultline serve` child, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(store: &Path) -> Server {
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("faultline"))
        .args(["serve", "--port", "0", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Server { child, port }
}

/// Sends a raw request; returns (status code, whole response).
fn request(port: u16, raw: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, response)
}

fn get(port: u16, path: &str) -> (u16, String) {
    request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    )
}

#[test]
fn serve_shows_the_store_read_only_and_nothing_outside_it() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    let store = tempfile::tempdir().unwrap();
    let run = store.path().join("made-up-register/20260101T000000.000Z");
    common::write_run(&run, 200, false);
    results::write_report(&run).unwrap();
    std::os::unix::fs::symlink(outside.path(), store.path().join("escape")).unwrap();
    let server = serve(store.path());
    let port = server.port;

    let (code, index) = get(port, "/");
    assert_eq!(code, 200, "{index}");
    assert!(index.contains("faultline runs") && index.contains("report.html"));
    let (code, page) = get(port, "/made-up-register/20260101T000000.000Z/report.html");
    assert_eq!(code, 200);
    assert!(
        page.to_ascii_lowercase()
            .contains("content-type: text/html")
            && page.contains("id=\"timeline\"")
    );
    let (code, redirect) = get(port, "/made-up-register/20260101T000000.000Z");
    assert!(
        (301..=308).contains(&code)
            && redirect.contains("location: /made-up-register/20260101T000000.000Z/"),
        "a directory without its slash is redirected: {redirect}"
    );
    let (code, listing) = get(port, "/made-up-register/20260101T000000.000Z/");
    assert_eq!(code, 200);
    assert!(listing.contains("history.jsonl"));

    for path in [
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/made-up-register/..%2f..%2fetc",
        "/.index.html.1",
    ] {
        assert_eq!(get(port, path).0, 400, "{path}");
    }
    assert_eq!(
        get(port, "/escape/secret.txt").0,
        404,
        "a link out of the store"
    );
    assert_eq!(get(port, "/nope").0, 404);
    let (code, _) = request(
        port,
        &format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(code, 405);
    let (code, _) = request(
        port,
        "GET / HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 403, "DNS rebinding: a foreign Host is refused");
}

#[test]
fn a_failing_raftkv_run_report_shows_and_explains_the_stale_read() {
    let store = tempfile::tempdir().unwrap();
    let output = faultline()
        .args(["run", "--quiet", "--store"])
        .arg(store.path())
        .args([
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
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let run = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let report = faultline().arg("report").arg(&run).output().unwrap();
    assert_eq!(report.status.code(), Some(0), "{report:?}");
    let page = run.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("INVALID: anomaly found"));
    assert!(html.contains("cannot be placed"), "no explanation");
    assert!(html.contains("stale read"), "the stale read is not named");

    let loaded = common::browser::dump_dom(&page, "#failure-0");
    assert!(loaded.console.is_empty(), "{:?}", loaded.console);
    assert!(!loaded.dom.contains("id=\"js-error\""));
    let selected = loaded
        .marker_attribute("data-selected")
        .expect("the timeline drew");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let stuck = results["checks"][0]["details"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["verdict"] == "invalid")
        .map(|k| k["stuck_on"]["id"].to_string())
        .expect("an invalid key");
    assert!(
        selected.split(' ').any(|id| id == stuck),
        "jump to failure did not select the failing read {stuck}: {selected:?}"
    );
    let png = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-stale-read.png");
    common::browser::screenshot(&page, "#failure-0", &png);
}
