//! Helpers shared by the nemesis integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nemesis::{NodeSpec, Readiness};

/// Generous bound for anything that should take milliseconds: the machine is
/// a shared, loaded 2-core box, and timing is measured in benchmarks, not here.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The test programs' binary.
pub fn helper() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_test-nemesis-helper"))
}

/// A node running `test-nemesis-helper ARGS` with its directory and log under `root`.
pub fn helper_node(root: &Path, name: &str, args: &[&str]) -> NodeSpec {
    let dir = root.join(name);
    NodeSpec::new(helper(), &dir, root.join(format!("{name}.log"))).args(args.iter().copied())
}

/// A `serve` node, ready once its echo port (written to `DIR/port`) accepts.
pub fn echo_node(root: &Path, name: &str) -> NodeSpec {
    let dir = root.join(name);
    let port_file = dir.join("port");
    let probe: nemesis::ReadinessProbe = Arc::new(move || {
        let port_file = port_file.clone();
        Box::pin(async move {
            match tokio::fs::read_to_string(&port_file).await {
                Ok(port) => {
                    tokio::net::TcpStream::connect(("127.0.0.1", port.trim().parse().unwrap_or(0)))
                        .await
                        .is_ok()
                }
                Err(_) => false,
            }
        })
    });
    helper_node(root, name, &["serve"]).ready_when(Readiness::Probe(probe), PATIENCE)
}

/// The address a `serve` node listens on.
pub fn echo_addr(root: &Path, name: &str) -> SocketAddr {
    let port = std::fs::read_to_string(root.join(name).join("port"))
        .expect("a ready serve node wrote its port");
    SocketAddr::from((
        [127, 0, 0, 1],
        port.trim().parse().expect("the port file holds a port"),
    ))
}

/// Polls `check` every 5 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `future` with a deadline, failing the test with `what` if it passes.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within {limit:?}"))
}

/// Whether a pid is gone (or a zombie no one has reaped yet: dead all the same).
pub fn is_dead(pid: i32) -> bool {
    matches!(nemesis::procfs::process_state(pid), None | Some('Z' | 'X'))
}

/// A server on a fresh 127.0.0.1 port that runs `on_connection` as its own
/// task for each connection it accepts; it runs until the test's runtime
/// ends.
pub async fn serve<F, Fut>(on_connection: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback port 0");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(on_connection(stream));
        }
    });
    addr
}
