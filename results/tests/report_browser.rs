//! The report in a real browser (headless Chromium): it loads without a
//! console message, the verdict is visible, the timeline draws, jump to
//! failure zooms and filters, a 100,000-op history draws within seconds,
//! and markup in the history never runs. Screenshots go to
//! `target/tmp/report-*.png` (CARGO_TARGET_TMPDIR) for a look.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::browser::{dump_dom, screenshot, Loaded};

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}.png"))
}

fn assert_clean(loaded: &Loaded, what: &str) {
    assert!(
        loaded.console.is_empty(),
        "{what}: the page printed on the console:\n{}",
        loaded.console.join("\n")
    );
    assert!(
        !loaded.dom.contains("id=\"js-error\""),
        "{what}: a script error: {}",
        loaded
            .dom
            .split("id=\"js-error\"")
            .nth(1)
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>()
    );
}

#[test]
fn a_run_report_loads_cleanly_shows_the_verdict_and_draws_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let made = common::write_run(dir.path(), 3_000, false);
    let page = results::write_report(dir.path()).unwrap();
    let loaded = dump_dom(&page, "");
    assert_clean(&loaded, "run report");
    assert!(
        loaded.dom.contains("INVALID: anomaly found (exit 1)"),
        "no verdict in the page"
    );
    assert!(
        loaded.dom.contains("faultline run --seed 42"),
        "no reproduce command"
    );
    let marker = loaded
        .drawn_marker()
        .expect("the timeline drew (no #drawn marker)");
    assert!(
        marker.contains(&format!("data-ops=\"{}\"", made.ops)),
        "{marker}"
    );
    assert_eq!(
        loaded.marker_attribute("data-bands").as_deref(),
        Some("3"),
        "{marker}"
    );
    assert!(!loaded.dom.contains("data-alerted=\"yes\""));
    screenshot(&page, "", &shot("run"));
}

#[test]
fn jumping_to_a_failure_selects_its_op_and_filters_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let made = common::write_run(dir.path(), 3_000, false);
    let page = results::write_report(dir.path()).unwrap();
    let loaded = dump_dom(&page, "#failure-0");
    assert_clean(&loaded, "jump to failure");
    let selected = loaded.marker_attribute("data-selected").expect("a marker");
    assert!(
        selected.split(' ').any(|id| id == made.stuck.to_string()),
        "the stuck op {} is not selected: {selected:?}",
        made.stuck
    );
    let shown: usize = loaded
        .marker_attribute("data-shown")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        shown > 0 && shown < made.ops,
        "the key filter did not apply: {shown} shown"
    );
    let view: Vec<f64> = loaded
        .marker_attribute("data-view")
        .unwrap()
        .split(' ')
        .map(|t| t.parse().unwrap())
        .collect();
    let end: f64 = loaded
        .marker_attribute("data-end")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        view[1] - view[0] < end / 4.0,
        "the view did not zoom in: {view:?} ns of {end} ns"
    );
    screenshot(&page, "#failure-0", &shot("jump"));
}

#[test]
fn a_100k_op_report_builds_and_draws_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let made = common::write_run(dir.path(), 100_000, false);
    let started = Instant::now();
    let page = results::write_report(dir.path()).unwrap();
    let build = started.elapsed();
    let size = std::fs::metadata(&page).unwrap().len();
    eprintln!("100k-op report: built in {build:?}, {size} bytes");
    assert!(build < Duration::from_secs(10), "building took {build:?}");
    let loaded = dump_dom(&page, "");
    eprintln!(
        "100k-op report: chromium loaded, drew and exited in {:?}",
        loaded.elapsed
    );
    assert_clean(&loaded, "100k report");
    assert_eq!(
        loaded.marker_attribute("data-ops"),
        Some(made.ops.to_string()),
        "the timeline did not draw every op"
    );
    // Chromium's own start and exit take 1-3 s of this on a loaded machine.
    assert!(
        loaded.elapsed < Duration::from_secs(30),
        "took {:?}",
        loaded.elapsed
    );
    let shown = screenshot(&page, "", &shot("100k"));
    assert_clean(&shown, "100k screenshot");
}

#[test]
fn markup_in_the_history_neither_runs_nor_breaks_the_page() {
    let dir = tempfile::tempdir().unwrap();
    common::write_run(dir.path(), 2_000, true);
    let page = results::write_report(dir.path()).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    // The same page without its Content-Security-Policy: escaping alone
    // must hold, the policy is only a second line.
    let csp_start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let csp_end = html[csp_start..].find('>').unwrap() + csp_start + 1;
    let bare = dir.path().join("report-no-csp.html");
    std::fs::write(&bare, format!("{}{}", &html[..csp_start], &html[csp_end..])).unwrap();
    for (name, file) in [("with CSP", page.clone()), ("without CSP", bare)] {
        let loaded = dump_dom(&file, "");
        assert_clean(&loaded, name);
        assert!(
            loaded.drawn_marker().is_some(),
            "{name}: the timeline did not draw"
        );
        assert!(
            !loaded.dom.contains("data-alerted=\"yes\""),
            "{name}: alert() was called"
        );
        assert!(
            !loaded.dom.contains("<img"),
            "{name}: an <img> element exists"
        );
        assert!(
            loaded
                .dom
                .contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{name}: the payload is not shown as text"
        );
        // Jump to the violation on a hostile key: filtering by it works.
        let jumped = dump_dom(&file, "#failure-0");
        assert_clean(&jumped, name);
        assert!(!jumped.dom.contains("data-alerted=\"yes\"") && !jumped.dom.contains("<img"));
        let shown: usize = jumped
            .marker_attribute("data-shown")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            shown > 0,
            "{name}: filtering by a hostile key showed nothing"
        );
    }
    screenshot(&page, "", &shot("hostile"));
}

#[test]
fn a_txn_run_report_loads_cleanly_and_jumps_to_the_cycle_s_transactions() {
    let dir = tempfile::tempdir().unwrap();
    common::write_txn_run(dir.path());
    let page = results::write_report(dir.path()).unwrap();
    let loaded = dump_dom(&page, "#failure-0");
    assert_clean(&loaded, "txn run report");
    assert!(loaded.dom.contains("<svg class=\"cycle-graph\""));
    let selected = loaded.marker_attribute("data-selected").expect("a marker");
    assert!(
        selected.split(' ').any(|id| id == "0"),
        "the jump selected {selected:?}, not T0"
    );
    screenshot(&page, "#check-txn-list-append", &shot("txn"));
}
