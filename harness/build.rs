//! Records the git commit faultline is built from (for `test.json`), when
//! the source is a git checkout and git is installed.

use std::path::Path;
use std::process::Command;

fn main() {
    let git = Path::new("../.git");
    // Rebuild when HEAD moves; only watch files that exist, or cargo would
    // rerun this script on every build.
    for watched in ["HEAD", "packed-refs"] {
        if git.join(watched).exists() {
            println!("cargo:rerun-if-changed=../.git/{watched}");
        }
    }
    if let Ok(head) = std::fs::read_to_string(git.join("HEAD")) {
        if let Some(reference) = head.trim().strip_prefix("ref: ") {
            if git.join(reference).exists() {
                println!("cargo:rerun-if-changed=../.git/{reference}");
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    if let Some(commit) = commit {
        println!("cargo:rustc-env=FAULTLINE_GIT_COMMIT={commit}");
    }
}
