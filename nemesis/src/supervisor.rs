//! Starting, pausing, killing and restarting the nodes of a cluster.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

use crate::procfs::ProcessTable;
use crate::spawner;
use crate::{Error, NodeId, NodeSpec, Readiness, Result};

/// How often a start checks readiness and whether the node has exited.
const READY_POLL: Duration = Duration::from_millis(20);
/// How often a kill checks whether the process has been reaped.
const REAP_POLL: Duration = Duration::from_millis(2);
/// How long a kill waits for the OS to reap a SIGKILLed process.
const REAP_LIMIT: Duration = Duration::from_secs(5);
/// How many log lines an error quotes.
const LOG_TAIL_LINES: usize = 20;

/// One node's process, if it has one.
#[derive(Debug, Default)]
struct Running {
    child: Option<Child>,
    paused: bool,
}

impl Running {
    fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|child| child.id() as i32)
    }
}

/// The processes of a cluster: node i runs `specs[i]` in its own process group.
///
/// Every method takes `&self`, so one supervisor can be shared (in an `Arc`)
/// by the harness and the nemesis. No node outlives it: dropping it (or
/// `teardown`) resumes paused nodes and kills every group; each node also
/// has SIGKILL as its parent-death signal, so a harness killed with SIGKILL
/// takes its nodes with it.
#[derive(Debug)]
pub struct Supervisor {
    specs: Vec<NodeSpec>,
    nodes: Vec<Mutex<Running>>,
    table: ProcessTable,
}

impl Supervisor {
    /// A supervisor for one node per spec; nothing is started yet.
    #[must_use]
    pub fn new(specs: Vec<NodeSpec>) -> Self {
        Self::with_process_table(specs, ProcessTable::new())
    }

    /// A supervisor that records its nodes' process groups in `table`:
    /// create the table first, give it to the inbound proxies, put their
    /// addresses into the specs, then create the supervisor.
    #[must_use]
    pub fn with_process_table(specs: Vec<NodeSpec>, table: ProcessTable) -> Self {
        let nodes = specs
            .iter()
            .map(|_| Mutex::new(Running::default()))
            .collect();
        Self {
            specs,
            nodes,
            table,
        }
    }

    /// How many nodes the cluster has.
    #[must_use]
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether the cluster has no nodes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The spec node `node` is started from.
    ///
    /// # Errors
    /// `UnknownNode` for an id outside the cluster.
    pub fn spec(&self, node: NodeId) -> Result<&NodeSpec> {
        self.specs.get(node.index()).ok_or(Error::UnknownNode {
            node,
            nodes: self.specs.len(),
        })
    }

    /// The table of process groups that inbound proxies use to identify diallers.
    #[must_use]
    pub fn process_table(&self) -> ProcessTable {
        self.table.clone()
    }

    fn slot(&self, node: NodeId) -> Result<MutexGuard<'_, Running>> {
        let slot = self.nodes.get(node.index()).ok_or(Error::UnknownNode {
            node,
            nodes: self.specs.len(),
        })?;
        Ok(slot
            .lock()
            .expect("a node's lock is never held across a panic"))
    }

    /// Starts every node, one after another, each only once the previous one
    /// is ready (etcd bootstraps in a fraction of the time this way).
    ///
    /// # Errors
    /// The first node that fails to start or become ready; nodes started
    /// before it keep running.
    pub async fn start_all(&self) -> Result<()> {
        for node in NodeId::all(self.len()) {
            self.start(node).await?;
        }
        Ok(())
    }

    /// Starts node `node` and waits until it is ready.
    ///
    /// A node that exits early or is not ready by its deadline is killed,
    /// and the error quotes the last lines of its log.
    ///
    /// # Errors
    /// `AlreadyRunning`, `LogFile`, `Spawn`, `ExitedEarly`, `NotReady`.
    pub async fn start(&self, node: NodeId) -> Result<()> {
        let spec = self.spec(node)?;
        {
            let mut running = self.slot(node)?;
            if let Some(child) = running.child.as_mut() {
                match child.try_wait() {
                    Ok(None) => {
                        return Err(Error::AlreadyRunning {
                            node,
                            pid: child.id() as i32,
                        })
                    }
                    // Exited on its own (and now reaped) or unknowable: start afresh.
                    Ok(Some(_)) | Err(_) => running.child = None,
                }
            }
        }
        let command = command_for(node, spec)?;
        // The child calls setpgid(0, 0): its group id is its pid. Record it
        // on the spawner thread, before the node can dial an inbound proxy.
        let table = self.table.clone();
        let on_spawn: spawner::OnSpawn = Box::new(move |pid| table.set(node, pid as i32));
        let child = spawner::spawn(command, on_spawn)
            .await
            .map_err(|source| Error::Spawn {
                node,
                program: spec.program.clone(),
                source,
            })?;
        let pid = child.id() as i32;
        tracing::debug!(%node, pid, program = %spec.program.display(), "started");
        {
            let mut running = self.slot(node)?;
            running.child = Some(child);
            running.paused = false;
        }
        match self.wait_ready(node, spec).await {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = self.kill(node).await;
                Err(error)
            }
        }
    }

    /// Starts node `node` again with the same command, directory and log,
    /// after a `kill` or `stop`.
    ///
    /// # Errors
    /// As `start`.
    pub async fn restart(&self, node: NodeId) -> Result<()> {
        self.start(node).await
    }

    async fn wait_ready(&self, node: NodeId, spec: &NodeSpec) -> Result<()> {
        let started = Instant::now();
        let deadline = started + spec.ready_timeout;
        loop {
            if let Some(status) = self.exit_status(node)? {
                return Err(Error::ExitedEarly {
                    node,
                    status: status.to_string(),
                    log: spec.log.clone(),
                    tail: log_tail(&spec.log),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let ready = match &spec.readiness {
                Readiness::Started => true,
                Readiness::TcpAccept(addr) => {
                    matches!(
                        timeout(left.min(Duration::from_secs(1)), TcpStream::connect(addr)).await,
                        Ok(Ok(_))
                    )
                }
                Readiness::Probe(probe) => matches!(timeout(left, probe()).await, Ok(true)),
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    node,
                    waited: started.elapsed(),
                    log: spec.log.clone(),
                    tail: log_tail(&spec.log),
                });
            }
            sleep(READY_POLL).await;
        }
    }

    /// The exit status of a node that has exited (reaping it), `None` while it runs.
    fn exit_status(&self, node: NodeId) -> Result<Option<ExitStatus>> {
        let mut running = self.slot(node)?;
        let child = running.child.as_mut().ok_or(Error::NotRunning { node })?;
        Ok(child.try_wait().ok().flatten())
    }

    /// The node's process id, while it has a process (running or paused).
    #[must_use]
    pub fn pid(&self, node: NodeId) -> Option<i32> {
        self.slot(node).ok()?.pid()
    }

    /// The node's process group id (equal to its pid: each node leads its group).
    #[must_use]
    pub fn pgid(&self, node: NodeId) -> Option<i32> {
        self.pid(node)
    }

    /// Whether the node's process is still there (running or paused).
    #[must_use]
    pub fn is_alive(&self, node: NodeId) -> bool {
        matches!(self.exit_status(node), Ok(None))
    }

    /// Whether the node is paused by `pause`.
    #[must_use]
    pub fn is_paused(&self, node: NodeId) -> bool {
        self.slot(node).is_ok_and(|running| running.paused)
    }

    fn signal_group(&self, node: NodeId, running: &Running, signal: Signal) -> Result<()> {
        let pgid = running.pid().ok_or(Error::NotRunning { node })?;
        killpg(Pid::from_raw(pgid), signal).map_err(|source| Error::Signal {
            node,
            signal: signal.as_str(),
            pgid,
            source,
        })
    }

    /// Pauses the node: SIGSTOP to its whole process group.
    ///
    /// # Errors
    /// `NotRunning`, `Signal`.
    pub fn pause(&self, node: NodeId) -> Result<()> {
        let mut running = self.slot(node)?;
        self.signal_group(node, &running, Signal::SIGSTOP)?;
        running.paused = true;
        Ok(())
    }

    /// Resumes a paused node: SIGCONT to its whole process group.
    ///
    /// # Errors
    /// `NotRunning`, `Signal`.
    pub fn resume(&self, node: NodeId) -> Result<()> {
        let mut running = self.slot(node)?;
        self.signal_group(node, &running, Signal::SIGCONT)?;
        running.paused = false;
        Ok(())
    }

    /// Pauses the node until the returned guard is dropped, which resumes it.
    ///
    /// # Errors
    /// As `pause`.
    pub fn paused(&self, node: NodeId) -> Result<PauseGuard<'_>> {
        self.pause(node)?;
        Ok(PauseGuard {
            supervisor: self,
            node,
        })
    }

    /// Crashes the node: SIGKILL to its whole process group, then reaps it.
    ///
    /// # Errors
    /// `NotRunning`, `Signal`, `NotReaped` (the process is kept, and killed
    /// again at teardown).
    pub async fn kill(&self, node: NodeId) -> Result<ExitStatus> {
        let child = {
            let mut running = self.slot(node)?;
            self.signal_group(node, &running, Signal::SIGKILL)?;
            running.paused = false;
            running.child.take().ok_or(Error::NotRunning { node })?
        };
        self.reap(node, child, REAP_LIMIT).await
    }

    /// Stops the node politely: SIGTERM to its group (resuming it first if
    /// paused), then SIGKILL if it has not exited after `grace`.
    ///
    /// # Errors
    /// As `kill`.
    pub async fn stop(&self, node: NodeId, grace: Duration) -> Result<ExitStatus> {
        {
            let mut running = self.slot(node)?;
            self.signal_group(node, &running, Signal::SIGTERM)?;
            if running.paused {
                self.signal_group(node, &running, Signal::SIGCONT)?;
                running.paused = false;
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status(node)? {
                self.slot(node)?.child = None;
                return Ok(status);
            }
            sleep(READY_POLL.min(grace)).await;
        }
        self.kill(node).await
    }

    /// Waits (bounded) until a SIGKILLed child is reaped.
    async fn reap(&self, node: NodeId, mut child: Child, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                tracing::debug!(%node, %status, "reaped");
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let pid = child.id() as i32;
                self.slot(node)?.child = Some(child);
                return Err(Error::NotReaped {
                    node,
                    pid,
                    waited: limit,
                });
            }
            sleep(REAP_POLL).await;
        }
    }

    /// Kills every node: SIGCONT then SIGKILL to every process group, then
    /// reaps (waiting at most a second per node). Safe to call twice; also
    /// runs on drop.
    pub fn teardown(&self) {
        for (index, slot) in self.nodes.iter().enumerate() {
            // A poisoned lock still guards a valid child: kill it anyway.
            let mut running = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(mut child) = running.child.take() else {
                continue;
            };
            let group = Pid::from_raw(child.id() as i32);
            // Resume first so nothing in the group stays stopped, then kill.
            let _ = killpg(group, Signal::SIGCONT);
            let _ = killpg(group, Signal::SIGKILL);
            let deadline = Instant::now() + Duration::from_secs(1);
            while !matches!(child.try_wait(), Ok(Some(_))) && Instant::now() < deadline {
                std::thread::sleep(REAP_POLL);
            }
            running.paused = false;
            tracing::debug!(node = %NodeId(index), "torn down");
        }
    }
}

/// Resumes its node when dropped (see `Supervisor::paused`).
#[must_use = "dropping the guard resumes the node at once"]
#[derive(Debug)]
pub struct PauseGuard<'a> {
    supervisor: &'a Supervisor,
    node: NodeId,
}

impl PauseGuard<'_> {
    /// Resumes now (the same as dropping the guard, but reports errors).
    ///
    /// # Errors
    /// As `Supervisor::resume`.
    pub fn resume(self) -> Result<()> {
        let result = self.supervisor.resume(self.node);
        std::mem::forget(self);
        result
    }
}

impl Drop for PauseGuard<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.supervisor.resume(self.node) {
            tracing::warn!(node = %self.node, %error, "resume on drop failed");
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn command_for(node: NodeId, spec: &NodeSpec) -> Result<Command> {
    let log_error = |source| Error::LogFile {
        node,
        path: spec.log.clone(),
        source,
    };
    if let Some(parent) = spec
        .log
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent).map_err(log_error)?;
    }
    fs::create_dir_all(&spec.dir).map_err(|source| Error::Spawn {
        node,
        program: spec.program.clone(),
        source,
    })?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(log_error)?;
    let log_too = log.try_clone().map_err(log_error)?;
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .current_dir(&spec.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_too));
    Ok(command)
}

/// The last lines of a log file (at most the last 8 KiB of it).
fn log_tail(path: &Path) -> String {
    const TAIL_BYTES: u64 = 8 * 1024;
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(cannot read {})", path.display());
    };
    let length = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.is_empty() {
        "(the log is empty)".to_owned()
    } else {
        tail
    }
}
