//! Mounts never outlive the process serving them, and leftovers are found
//! and removed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestMount;

/// A `lazyfs` process serving `mnt`; killed (with its fusermount3) and its
/// mount removed when dropped, whatever the test did.
struct Server {
    child: Child,
    _stdin: ChildStdin,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> (Server, PathBuf) {
        let (backing, mnt) = (dir.join("disk"), dir.join("mnt"));
        std::fs::create_dir_all(&backing).unwrap();
        std::fs::create_dir_all(&mnt).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lazyfs"))
            .arg(&backing)
            .arg(&mnt)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "mounted", "lazyfs did not mount");
        let server = Server {
            child,
            _stdin: stdin,
            dir: dir.to_path_buf(),
        };
        (server, mnt.canonicalize().unwrap())
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for pid in children_of(self.pid()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = lazyfs::cleanup_stale_mounts(&self.dir);
    }
}

/// `(comm, state, ppid)` of process `pid`, from /proc/PID/stat (comm may
/// hold spaces, so the fields are split after its closing parenthesis).
fn stat(pid: i32) -> Option<(String, String, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?.to_string();
    let ppid = rest.next()?.parse().ok()?;
    Some((stat[open + 1..close].to_string(), state, ppid))
}

/// The processes whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|&child| stat(child).is_some_and(|(_, _, ppid)| ppid == pid))
        .collect()
}

/// SIGKILLs `pids` and waits until none of them runs any more.
fn kill_and_wait(pids: &[i32]) {
    for &pid in pids {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    }
    wait_until("the killed processes have exited", || {
        pids.iter().all(|pid| !alive(*pid))
    });
}

/// Whether `pid` still runs (a zombie has closed its files: not running).
fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|(_, state, _)| state != "Z")
}

fn mounted_under(dir: &Path) -> Vec<PathBuf> {
    lazyfs::lazyfs_mounts_under(dir)
        .unwrap()
        .into_iter()
        .map(|m| m.mountpoint)
        .collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_mount_whose_server_is_killed_with_sigkill_goes_away() {
    if !TestMount::usable("a_mount_whose_server_is_killed_with_sigkill_goes_away") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut server, mnt) = Server::start(dir.path());
    std::fs::write(mnt.join("f"), b"x").unwrap();
    assert_eq!(mounted_under(dir.path()), vec![mnt.clone()]);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    wait_until("fusermount3 removes the mount", || {
        mounted_under(dir.path()).is_empty()
    });
}

#[test]
fn the_watcher_alone_removes_the_mount_of_a_killed_server() {
    if !TestMount::usable("the_watcher_alone_removes_the_mount_of_a_killed_server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut server, mnt) = Server::start(dir.path());
    // Without fusermount3's auto_unmount, only lazyfs's own watcher is left.
    let fusermount: Vec<i32> = children_of(server.pid())
        .into_iter()
        .filter(|pid| stat(*pid).is_some_and(|(comm, _, _)| comm == "fusermount3"))
        .collect();
    assert!(!fusermount.is_empty(), "fusermount3 should be watching");
    assert!(
        children_of(server.pid()).len() > fusermount.len(),
        "the watcher should be running"
    );
    kill_and_wait(&fusermount);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    wait_until("the watcher removes the mount", || {
        mounted_under(dir.path()).is_empty()
    });
    assert!(!mnt.join("f").exists());
}

#[test]
fn cleanup_stale_mounts_removes_a_mount_left_by_a_dead_server() {
    if !TestMount::usable("cleanup_stale_mounts_removes_a_mount_left_by_a_dead_server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut server, mnt) = Server::start(dir.path());
    // Kill both watchers (fusermount3 and lazyfs's own) first, then the
    // server: the mount is left behind, answering ENOTCONN. The watcher held the
    // FUSE device too: wait until it is gone, or a request sent meanwhile
    // fails with ECONNABORTED when it goes.
    let watchers = children_of(server.pid());
    assert!(
        !watchers.is_empty(),
        "fusermount3 should be watching the mount"
    );
    kill_and_wait(&watchers);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(mounted_under(dir.path()), vec![mnt.clone()]);
    let err = std::fs::metadata(mnt.join("f")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::ENOTCONN), "{err}");
    assert!(lazyfs::is_dead(&mnt));

    let removed = lazyfs::cleanup_stale_mounts(dir.path()).unwrap();
    assert_eq!(removed, vec![mnt.clone()]);
    wait_until("the stale mount is gone", || {
        mounted_under(dir.path()).is_empty()
    });
    assert!(lazyfs::cleanup_stale_mounts(dir.path()).unwrap().is_empty());
}
