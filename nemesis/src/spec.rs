//! How to start a node: its command, environment, directories and readiness.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A caller-supplied readiness check: resolves to `true` once the node serves.
///
/// It is called repeatedly (every few milliseconds) until it says yes or the
/// node's deadline passes; each call is also cut off at the deadline.
pub type ReadinessProbe = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// When a started node counts as ready.
#[derive(Clone, Default)]
pub enum Readiness {
    /// As soon as the process is running.
    #[default]
    Started,
    /// When a TCP connection to this address is accepted (e.g. its peer or
    /// client port; for etcd, the real listen port, not its proxy).
    TcpAccept(SocketAddr),
    /// When the caller's probe says so (e.g. HTTP `GET /version`).
    Probe(ReadinessProbe),
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Readiness::Started => f.write_str("Started"),
            Readiness::TcpAccept(addr) => write!(f, "TcpAccept({addr})"),
            Readiness::Probe(_) => f.write_str("Probe(..)"),
        }
    }
}

/// Everything needed to start (and restart) one node.
///
/// The command runs directly as an argument vector, never through a shell.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables added to (or replacing in) the harness's environment.
    pub env: Vec<(String, String)>,
    /// The working directory; created if missing. Typically the node's data
    /// directory, which survives kill and restart.
    pub dir: PathBuf,
    /// The file that stdout and stderr are appended to; its parent is created
    /// if missing. Restarts append to the same file.
    pub log: PathBuf,
    /// When the node counts as ready after a start.
    pub readiness: Readiness,
    /// How long a start may take until the node is ready.
    pub ready_timeout: Duration,
}

impl NodeSpec {
    /// A spec with no arguments, no extra environment, readiness `Started`
    /// and a 10 s readiness deadline.
    #[must_use]
    pub fn new(
        program: impl Into<PathBuf>,
        dir: impl Into<PathBuf>,
        log: impl Into<PathBuf>,
    ) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            dir: dir.into(),
            log: log.into(),
            readiness: Readiness::Started,
            ready_timeout: Duration::from_secs(10),
        }
    }

    /// Appends arguments.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment variable.
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets when the node counts as ready, and the deadline for it.
    #[must_use]
    pub fn ready_when(mut self, readiness: Readiness, timeout: Duration) -> Self {
        self.readiness = readiness;
        self.ready_timeout = timeout;
        self
    }
}
