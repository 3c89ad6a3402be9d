//! `faultline run` with disk faults end to end: 3-node raftkv clusters on
//! 127.0.0.1 whose data directories are lazyfs mounts. Skipped (with one
//! line saying why) where FUSE cannot be mounted, unless `CI` is set.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "common/run.rs"]
mod run_support;
use run_support::run;

/// Whether FUSE mounts can work here; prints why not (or panics under `CI`).
fn fuse_usable(name: &str) -> bool {
    let why = if !Path::new("/dev/fuse").exists() {
        "/dev/fuse is missing"
    } else if !Path::new("/usr/bin/fusermount3").exists() && !Path::new("/bin/fusermount3").exists()
    {
        "fusermount3 is missing"
    } else {
        return true;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{name}: FUSE is required when CI is set: {why}"
    );
    let line = format!("skipped {name}: {why}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    false
}

/// Every lazyfs mount point under `dir` (none may outlive a run).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    lazyfs::lazyfs_mounts_under(dir)
        .expect("mountinfo reads")
        .into_iter()
        .map(|mount| mount.mountpoint)
        .collect()
}

/// Two power losses of every node in 10 s of appends.
const POWER_ALL: &[&str] = &[
    "--workload",
    "append",
    "--nemesis",
    "power:all",
    "--time-limit",
    "10s",
    "--nemesis-interval",
    "3s",
    "--seed",
    "1",
];

#[test]
fn power_loss_of_every_node_finds_the_writes_lazy_fsync_acknowledged_before_syncing() {
    if !fuse_usable(
        "power_loss_of_every_node_finds_the_writes_lazy_fsync_acknowledged_before_syncing",
    ) {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let mut args = POWER_ALL.to_vec();
    args.extend(["--node-args", "--bug lazy-fsync"]);
    let run = run(store.path(), &args);
    assert_eq!(run.code, Some(1), "{}", run.explain());
    assert!(run.stdout.contains("lost-write"), "{}", run.explain());
    let power = run.nemesis_events("power");
    assert!(!power.is_empty(), "{}", run.explain());
    let dropped: u64 = power
        .iter()
        .flat_map(|event| event["dropped"].as_object().cloned().unwrap_or_default())
        .map(|(_, loss)| loss["bytes"].as_u64().unwrap_or(0))
        .sum();
    assert!(dropped > 0, "the bug leaves writes unsynced: {power:?}");
    assert!(mounts_under(store.path()).is_empty());
}

#[test]
fn power_loss_of_every_node_keeps_every_acknowledged_write_of_a_correct_node() {
    if !fuse_usable("power_loss_of_every_node_keeps_every_acknowledged_write_of_a_correct_node") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let run = run(store.path(), POWER_ALL);
    assert_eq!(run.code, Some(0), "{}", run.explain());
    let power = run.nemesis_events("power");
    assert!(!power.is_empty(), "{}", run.explain());
    for event in &power {
        assert_eq!(event["nodes"].as_array().map(Vec::len), Some(3), "{event}");
    }
    assert_eq!(run.nemesis_events("restart").len(), power.len());
    assert!(mounts_under(store.path()).is_empty());
}

#[test]
fn corrupt_damages_the_wal_of_one_stopped_node_and_the_rest_decide_the_run() {
    if !fuse_usable("corrupt_damages_the_wal_of_one_stopped_node_and_the_rest_decide_the_run") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let run = run(
        store.path(),
        &[
            "--workload",
            "register",
            "--nemesis",
            "corrupt:one",
            "--time-limit",
            "6s",
            "--nemesis-interval",
            "2s",
            "--seed",
            "3",
            "--keep-data",
        ],
    );
    let corrupt = run.nemesis_events("corrupt");
    assert!(!corrupt.is_empty(), "{}", run.explain());
    for event in &corrupt {
        assert_eq!(event["path"], "raft.wal", "{event}");
        assert!(
            event["kind"] == "bitflip" || event["kind"] == "truncate",
            "{event}"
        );
        assert!(event["length"].as_u64().unwrap_or(0) >= 1, "{event}");
    }
    // A majority kept its data: the run is decided, never unknown or an error.
    assert!(matches!(run.code, Some(0 | 1)), "{}", run.explain());
    let dir = run.dir.as_ref().expect("a run directory");
    let node = corrupt[0]["node"].as_str().expect("a node");
    assert!(
        dir.join("data")
            .join(format!("{node}.disk"))
            .join("raft.wal")
            .is_file(),
        "--keep-data keeps the backing directory, damage included"
    );
    assert!(mounts_under(store.path()).is_empty());
}

#[test]
fn disk_faults_on_a_target_without_a_disk_table_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("nodisk.toml");
    std::fs::write(
        &spec,
        "name = \"nodisk\"\nprotocol = \"raftkv\"\nprogram = \"{faultline}\"\n\
         args = [\"raftkv\", \"--id\", \"{num}\", \"--data-dir\", \"{data_dir}\"]\n",
    )
    .unwrap();
    let spec = spec.to_string_lossy().into_owned();
    let run = run(dir.path(), &["--target", &spec, "--nemesis", "kill,power"]);
    assert_ne!(run.code, Some(0), "{}", run.explain());
    assert!(run.stderr.contains("[disk]"), "{}", run.explain());
    assert!(run.dir.is_none(), "no run directory: {}", run.explain());
}

// fusermount3's auto_unmount alone once left one of the three mounts
// behind under load; faultline's own watcher (lazyfs::watcher) removes it.
#[test]
fn a_kill_9_of_faultline_in_its_main_phase_leaves_no_mount_behind() {
    if !fuse_usable("a_kill_9_of_faultline_in_its_main_phase_leaves_no_mount_behind") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("faultline"))
        .arg("run")
        .arg("--store")
        .arg(store.path())
        .args(["--quiet", "--nemesis", "power:all", "--time-limit", "60s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("faultline starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The main phase has begun (nodes up, writing to their disks).
    while !store.path().join("latest/history.jsonl").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the main phase never began"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(mounts_under(store.path()).len(), 3, "one disk per node");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = mounts_under(store.path());
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mounts outlived faultline: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
