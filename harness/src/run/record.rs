//! `test.json`: every option, the seed, the command that reproduces the run.

use std::ffi::OsStr;
use std::path::Path;

use anyhow::Result;
use results::RunDir;
use serde::Serialize;
use serde_json::{json, Value};

use super::cluster::{program_version, NodeRecord};
use super::Plan;

/// The faultline commit this binary was built from, when known (build.rs).
pub const GIT_COMMIT: Option<&str> = option_env!("FAULTLINE_GIT_COMMIT");

/// A node in `test.json`: its command and its binary's version.
#[derive(Debug, Clone, Serialize)]
struct NodeEntry {
    #[serde(flatten)]
    node: NodeRecord,
    version: Option<String>,
}

/// What `test.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct TestRecord {
    test: String,
    faultline_version: &'static str,
    git_commit: Option<&'static str>,
    /// The command that repeats this run (same seed, same options).
    pub command: String,
    argv: Vec<String>,
    seed: u64,
    started_at: String,
    /// The wall-clock instant of the history's time 0 (the main phase's
    /// start), so node log lines can be placed on the history's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    time_zero: Option<String>,
    options: Value,
    target: crate::target::TargetSpec,
    nodes: Vec<NodeEntry>,
}

fn quote(word: &str) -> String {
    shlex::try_quote(word).map_or_else(|_| format!("{word:?}"), |quoted| quoted.into_owned())
}

/// How to start this faultline again, as the first words of a command the
/// user can run from the current directory (docs/run.md, "Reproducing a
/// run"): `faultline` when that name on `PATH` is this very binary;
/// `cargo run --release --` when this binary is the one cargo builds in
/// the current directory's `target/`; else the binary's absolute path.
pub fn invocation() -> Vec<String> {
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let path = std::env::var_os("PATH");
    invocation_for(exe.as_deref(), cwd.as_deref(), path.as_deref())
}

fn invocation_for(exe: Option<&Path>, cwd: Option<&Path>, path: Option<&OsStr>) -> Vec<String> {
    let Some(exe) = exe else {
        return vec!["faultline".into()];
    };
    let exe = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.to_path_buf());
    let same = |candidate: &Path| std::fs::canonicalize(candidate).is_ok_and(|c| c == exe);
    let name = exe.file_name().map(|n| n.to_string_lossy().into_owned());
    if let (Some(path), Some(name)) = (path, &name) {
        // Only the first hit counts: that is what the shell runs.
        let first = std::env::split_paths(path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file());
        if first.as_deref().is_some_and(same) {
            return vec![name.clone()];
        }
    }
    if let Some(cwd) = cwd {
        let built_here = name.as_deref() == Some("faultline")
            && cwd.join("Cargo.toml").is_file()
            && exe.parent().and_then(Path::parent).is_some_and(|target| {
                std::fs::canonicalize(cwd.join("target")).is_ok_and(|t| t == target)
            });
        if built_here {
            let profile = exe
                .parent()
                .and_then(Path::file_name)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut words: Vec<String> = vec!["cargo".into(), "run".into()];
            match profile.as_str() {
                "debug" => {}
                "release" => words.push("--release".into()),
                other => words.extend(["--profile".into(), other.to_owned()]),
            }
            words.push("--".into());
            return words;
        }
    }
    vec![exe.display().to_string()]
}

/// `faultline run ...` with every option spelled out and the seed fixed,
/// starting with [`invocation`]'s words.
pub fn reproduce(plan: &Plan, seed: u64) -> String {
    let duration = |d| humantime::format_duration(d).to_string();
    let mut words: Vec<String> = invocation();
    words.extend([
        "run".into(),
        "--target".into(),
        plan.target_arg.clone(),
        "--nodes".into(),
        plan.nodes.to_string(),
        "--workload".into(),
        plan.workload.to_string(),
        "--nemesis".into(),
        plan.mix.to_string(),
        "--nemesis-interval".into(),
        duration(plan.nemesis_interval),
        "--concurrency".into(),
        plan.concurrency.to_string(),
        "--rate".into(),
        plan.rate.to_string(),
        "--time-limit".into(),
        duration(plan.time_limit),
        "--keys".into(),
        plan.keys.to_string(),
        "--ops-per-key".into(),
        plan.ops_per_key.to_string(),
    ]);
    if plan.to_leader {
        words.push("--to-leader".into());
    }
    if plan.strict_disk {
        words.push("--strict-disk".into());
    }
    if plan.read_mode != workloads::ReadMode::Linearizable {
        words.extend(["--read-mode".into(), plan.read_mode.to_string()]);
    }
    words.extend(["--seed".into(), seed.to_string()]);
    if !plan.node_args_text.is_empty() {
        words.extend(["--node-args".into(), plan.node_args_text.clone()]);
    }
    if plan.store.root() != Path::new("store") {
        words.extend(["--store".into(), plan.store.root().display().to_string()]);
    }
    words
        .iter()
        .map(|word| quote(word))
        .collect::<Vec<_>>()
        .join(" ")
}

impl TestRecord {
    /// The record of a run about to start.
    pub fn new(plan: &Plan, seed: u64, run: &RunDir) -> Self {
        Self {
            test: run.test().to_owned(),
            faultline_version: env!("CARGO_PKG_VERSION"),
            git_commit: GIT_COMMIT,
            command: reproduce(plan, seed),
            argv: std::env::args().collect(),
            seed,
            started_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            time_zero: None,
            options: json!({
                "target": plan.target_arg,
                "nodes": plan.nodes,
                "workload": plan.workload,
                "nemesis": plan.mix.to_string(),
                "nemesis_interval": humantime::format_duration(plan.nemesis_interval).to_string(),
                "concurrency": plan.concurrency,
                "rate": plan.rate,
                "time_limit": humantime::format_duration(plan.time_limit).to_string(),
                "keys": plan.keys,
                "ops_per_key": plan.ops_per_key,
                "to_leader": plan.to_leader,
                "strict_disk": plan.strict_disk,
                "read_mode": plan.read_mode,
                "node_args": plan.node_args,
                "store": plan.store.root(),
                "test_count": plan.test_count,
                "check_timeout": humantime::format_duration(plan.check_timeout).to_string(),
                "memory_mib": plan.memory_mib,
                "keep_data": plan.keep_data,
            }),
            target: plan.target.clone(),
            nodes: Vec::new(),
        }
    }

    /// Records the wall-clock instant of the history's time 0.
    pub fn set_time_zero(&mut self, at: std::time::SystemTime) {
        self.time_zero = Some(humantime::format_rfc3339_nanos(at).to_string());
    }

    /// Records each node's command and its binary's version.
    pub fn set_nodes(&mut self, nodes: &[NodeRecord], faultline: &Path) {
        let mut versions = std::collections::BTreeMap::new();
        self.nodes = nodes
            .iter()
            .map(|node| {
                let version = versions
                    .entry(node.program.clone())
                    .or_insert_with(|| program_version(&node.program, faultline))
                    .clone();
                NodeEntry {
                    node: node.clone(),
                    version,
                }
            })
            .collect();
    }

    /// Writes `test.json` (again: it is first written before the nodes start).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(&self, run: &RunDir) -> Result<()> {
        results::write_json(&run.test_json(), "test.json", self)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::invocation_for;
    use std::path::Path;

    /// A checkout with `target/<profile>/faultline` built in it.
    fn checkout(profile: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        let bin = dir.path().join("target").join(profile);
        std::fs::create_dir_all(&bin).unwrap();
        let exe = bin.join("faultline");
        std::fs::write(&exe, "").unwrap();
        (dir, exe)
    }

    #[test]
    fn a_binary_cargo_built_in_the_current_checkout_is_run_through_cargo() {
        let (dir, exe) = checkout("release");
        assert_eq!(
            invocation_for(Some(&exe), Some(dir.path()), None),
            ["cargo", "run", "--release", "--"]
        );
        let (dir, exe) = checkout("debug");
        assert_eq!(
            invocation_for(Some(&exe), Some(dir.path()), None),
            ["cargo", "run", "--"]
        );
    }

    #[test]
    fn a_binary_on_path_is_named_bare_and_any_other_by_its_absolute_path() {
        let (dir, exe) = checkout("release");
        let bin = exe.parent().unwrap();
        let path = std::env::join_paths([Path::new("/no/such/dir"), bin]).unwrap();
        assert_eq!(
            invocation_for(Some(&exe), Some(dir.path()), Some(&path)),
            ["faultline"]
        );
        let elsewhere = tempfile::tempdir().unwrap();
        let absolute = std::fs::canonicalize(&exe).unwrap();
        assert_eq!(
            invocation_for(
                Some(&exe),
                Some(elsewhere.path()),
                Some("/usr/bin".as_ref())
            ),
            [absolute.display().to_string()]
        );
    }

    #[test]
    fn another_faultline_first_on_path_is_not_taken_for_this_one() {
        let (_dir, exe) = checkout("release");
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("faultline"), "").unwrap();
        let path = std::env::join_paths([other.path(), exe.parent().unwrap()]).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            invocation_for(Some(&exe), Some(elsewhere.path()), Some(&path)),
            [std::fs::canonicalize(&exe).unwrap().display().to_string()]
        );
    }
}
