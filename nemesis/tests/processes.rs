//! The supervisor against real processes: start, readiness, pause, kill,
//! restart, stop, teardown, and no leaks when the harness is SIGKILLed.

mod common;

use std::time::{Duration, Instant};

use common::{echo_addr, echo_node, eventually, helper, helper_node, is_dead, within, PATIENCE};
use nemesis::procfs::process_state;
use nemesis::{Error, NodeId, Readiness, Supervisor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);

async fn echo_once(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the echo node accepts");
    stream.write_all(b"ping").await.expect("loopback write");
    let mut buffer = [0_u8; 4];
    within(PATIENCE, "echo", stream.read_exact(&mut buffer))
        .await
        .expect("the echo node answers");
    String::from_utf8_lossy(&buffer).into_owned()
}

fn log_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path)
        .map(|metadata| metadata.len())
        .unwrap_or(0)
}

#[tokio::test]
async fn starts_a_node_gated_on_its_probe_and_appends_its_output_to_its_log() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = Supervisor::new(vec![echo_node(root.path(), "n1")]);
    supervisor.start(N1).await.expect("the echo node starts");
    assert_eq!(echo_once(echo_addr(root.path(), "n1")).await, "ping");
    let log_path = root.path().join("n1.log");
    assert!(
        eventually(PATIENCE, || std::fs::read_to_string(&log_path)
            .is_ok_and(|log| log.contains("serving on")))
        .await
    );
    assert!(matches!(
        supervisor.start(N1).await,
        Err(Error::AlreadyRunning { .. })
    ));
}

#[tokio::test]
async fn start_quotes_the_log_when_the_node_exits_early() {
    let root = tempfile::tempdir().expect("a temp dir");
    let spec = helper_node(
        root.path(),
        "n1",
        &["fail", "boom: unknown flag --frobnicate"],
    )
    .ready_when(
        Readiness::TcpAccept("127.0.0.1:9".parse().expect("an address")),
        PATIENCE,
    );
    let supervisor = Supervisor::new(vec![spec]);
    let error = supervisor
        .start(N1)
        .await
        .expect_err("the node exits at once");
    assert!(matches!(error, Error::ExitedEarly { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("boom: unknown flag --frobnicate"),
        "the error quotes the log: {text}"
    );
    assert!(text.contains("n1"), "{text}");
}

#[tokio::test]
async fn start_reports_a_program_that_does_not_exist() {
    let root = tempfile::tempdir().expect("a temp dir");
    let spec = nemesis::NodeSpec::new(
        root.path().join("no-such-program"),
        root.path().join("n1"),
        root.path().join("n1.log"),
    );
    let supervisor = Supervisor::new(vec![spec]);
    let error = supervisor.start(N1).await.expect_err("nothing to run");
    assert!(matches!(error, Error::Spawn { .. }), "{error}");
    assert!(error.to_string().contains("no-such-program"), "{error}");
}

#[tokio::test]
async fn start_gives_up_at_the_deadline_quotes_the_log_and_kills_the_node() {
    let root = tempfile::tempdir().expect("a temp dir");
    // A port nobody listens on: bind one, then let it go.
    let unused = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let spec = helper_node(root.path(), "n1", &["tick"])
        .ready_when(Readiness::TcpAccept(unused), Duration::from_millis(300));
    let supervisor = Supervisor::new(vec![spec]);
    let error = supervisor
        .start(N1)
        .await
        .expect_err("nothing ever listens");
    assert!(matches!(error, Error::NotReady { .. }), "{error}");
    assert!(
        error.to_string().contains("tick"),
        "the error quotes the log: {error}"
    );
    assert!(!supervisor.is_alive(N1));
}

#[tokio::test]
async fn pause_stops_the_process_and_resume_continues_it() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = Supervisor::new(vec![helper_node(root.path(), "n1", &["tick"])]);
    supervisor.start(N1).await.expect("tick starts");
    let pid = supervisor.pid(N1).expect("a started node has a pid");
    let log = root.path().join("n1.log");

    supervisor.pause(N1).expect("a running node can be paused");
    assert!(supervisor.is_paused(N1));
    assert!(
        eventually(PATIENCE, || process_state(pid) == Some('T')).await,
        "a paused process is in state T"
    );
    let frozen = log_len(&log);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(log_len(&log), frozen, "a paused node writes nothing");

    supervisor.resume(N1).expect("a paused node can be resumed");
    assert!(eventually(PATIENCE, || matches!(process_state(pid), Some('R' | 'S'))).await);
    assert!(
        eventually(PATIENCE, || log_len(&log) > frozen).await,
        "a resumed node goes on writing"
    );
    assert!(supervisor.is_alive(N1));
}

#[tokio::test]
async fn a_pause_guard_resumes_its_node_when_dropped() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = Supervisor::new(vec![helper_node(root.path(), "n1", &["tick"])]);
    supervisor.start(N1).await.expect("tick starts");
    let pid = supervisor.pid(N1).expect("started");
    {
        let _paused = supervisor.paused(N1).expect("a running node can be paused");
        assert!(eventually(PATIENCE, || process_state(pid) == Some('T')).await);
    }
    assert!(!supervisor.is_paused(N1));
    assert!(eventually(PATIENCE, || matches!(process_state(pid), Some('R' | 'S'))).await);
}

#[tokio::test]
async fn kill_and_restart_bring_back_the_node_with_the_same_data_dir() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = Supervisor::new(vec![echo_node(root.path(), "n1")]);
    supervisor.start(N1).await.expect("the echo node starts");
    let first = supervisor.pid(N1).expect("started");

    let status = supervisor
        .kill(N1)
        .await
        .expect("a running node can be killed");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(is_dead(first));
    assert!(!supervisor.is_alive(N1));
    assert_eq!(supervisor.pid(N1), None);

    supervisor
        .restart(N1)
        .await
        .expect("a killed node restarts");
    assert_ne!(supervisor.pid(N1), Some(first));
    let starts = std::fs::read_to_string(root.path().join("n1").join("starts"))
        .expect("serve records its starts");
    assert_eq!(
        starts.lines().count(),
        2,
        "the restarted node found its data dir: {starts:?}"
    );
    assert_eq!(echo_once(echo_addr(root.path(), "n1")).await, "ping");
}

#[tokio::test]
async fn stop_sends_sigterm_first() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = Supervisor::new(vec![helper_node(root.path(), "n1", &["tick"])]);
    supervisor.start(N1).await.expect("tick starts");
    supervisor.pause(N1).expect("running");
    let status = supervisor
        .stop(N1, PATIENCE)
        .await
        .expect("a paused node can be stopped");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(15),
        "tick dies of SIGTERM"
    );
}

#[tokio::test]
async fn nodes_start_one_after_another_and_teardown_kills_every_group() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = Supervisor::new(vec![
        echo_node(root.path(), "n1"),
        helper_node(root.path(), "n2", &["tick"]),
    ]);
    supervisor.start_all().await.expect("both start");
    let pids: Vec<i32> = [N1, N2]
        .iter()
        .map(|&node| supervisor.pid(node).expect("started"))
        .collect();
    supervisor.pause(N2).expect("running");
    supervisor.teardown();
    for pid in pids {
        assert!(is_dead(pid), "pid {pid} outlived teardown");
    }
}

#[tokio::test]
async fn no_node_outlives_a_harness_killed_with_sigkill() {
    let root = tempfile::tempdir().expect("a temp dir");
    let pidfile = root.path().join("pids");
    let mut harness = std::process::Command::new(helper())
        .args(["spawn-nodes", "3"])
        .arg(&pidfile)
        .arg(root.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the helper starts");
    let guard = KillOnDrop(harness.id() as i32);
    assert!(
        eventually(Duration::from_secs(20), || pidfile.exists()).await,
        "the helper started its nodes"
    );
    let pids: Vec<i32> = std::fs::read_to_string(&pidfile)
        .expect("written by rename, so complete")
        .lines()
        .map(|line| line.parse().expect("one pid per line"))
        .collect();
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|&pid| !is_dead(pid)));

    harness.kill().expect("SIGKILL the helper");
    let killed_at = Instant::now();
    harness.wait().expect("reap the helper");
    drop(guard);
    // Generous for a loaded machine; the bound is 1 s.
    let all_dead = eventually(Duration::from_secs(1), || {
        pids.iter().all(|&pid| is_dead(pid))
    })
    .await;
    let left: Vec<i32> = pids.iter().copied().filter(|&pid| !is_dead(pid)).collect();
    assert!(
        all_dead,
        "nodes {left:?} outlived their harness by {:?}",
        killed_at.elapsed()
    );
}

/// Kills a pid when dropped, so a failing leak test does not leak the helper.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
