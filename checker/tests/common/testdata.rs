//! Where tests find the shared test data (Porcupine's corpus), and what they
//! do without it (docs/design.md, "Tests and data"). One file, included by
//! the checker's and the harness's tests.
//!
//! The data folder holds `porcupine/`: `$FAULTLINE_TESTDATA`, else
//! `../shared/data` beside the workspace root. Without it a test that needs it
//! is skipped by name, with one line on stderr that says how to get the data;
//! under CI (`CI` set to anything but `false` or `0`) it fails instead, since a
//! corpus skipped there would be a silent pass.

use std::io::Write;
use std::path::PathBuf;

/// The data folder if it holds `porcupine/`; `None` (after one line on
/// stderr naming `test`) when it does not and this is not CI.
pub fn porcupine_data(test: &str) -> Option<PathBuf> {
    let (dir, from_env) = match std::env::var_os("FAULTLINE_TESTDATA") {
        Some(dir) => (PathBuf::from(dir), true),
        None => (
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
            false,
        ),
    };
    if dir.join("porcupine/jepsen").is_dir() && dir.join("porcupine/kv").is_dir() {
        return Some(dir);
    }
    let source = if from_env {
        "$FAULTLINE_TESTDATA"
    } else {
        "../shared/data (the default)"
    };
    let how = format!(
        "Porcupine's corpus is not at {} ({source}); set FAULTLINE_TESTDATA to a folder holding \
         porcupine/jepsen and porcupine/kv to run it",
        dir.display()
    );
    if in_ci() {
        panic!("{test}: test data missing under CI: {how}");
    }
    // Straight to stderr: the test harness captures `eprintln!` of passing
    // tests, and this line must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {how}");
    None
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}
