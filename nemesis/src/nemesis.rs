//! Applying faults to a real cluster, undoing them, and describing each action.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::time::sleep;

use crate::{Fault, Link, Network, NodeId, Schedule, Shape, Supervisor, Target};

/// How long `Nemesis::run` waits for the caller to name the leader.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// What a nemesis action did: the `f` of its history event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Links were cut.
    Partition,
    /// Every link was healed.
    Heal,
    /// Nodes were paused (SIGSTOP).
    Pause,
    /// Nodes were resumed (SIGCONT).
    Resume,
    /// Nodes were killed (SIGKILL).
    Kill,
    /// Nodes were started again.
    Restart,
}

impl Action {
    /// The history `f` of this action.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Partition => "partition",
            Action::Heal => "heal",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Kill => "kill",
            Action::Restart => "restart",
        }
    }
}

/// One nemesis action, as the harness writes it into the history: a single
/// `info` event with `process: "nemesis"`, `f: action.f.as_str()` and
/// `value: serde_json::to_value(&action)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisEvent {
    /// What was done.
    pub f: Action,
    /// The partition shape, for `partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// How the nodes were chosen, for `pause` and `kill`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The nodes acted on (paused, resumed, killed, restarted, or touched by cut links).
    pub nodes: Vec<NodeId>,
    /// For `partition`: who can talk to whom (see `Partition::groups`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Vec<NodeId>>,
    /// For `partition`: the directed links cut; for `heal`: the links healed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    /// The leader the caller named when the action was planned, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<NodeId>,
    /// For `partition`: live connections closed by the cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<usize>,
    /// Nanoseconds since the test started (the nemesis epoch), when the action began.
    pub start_ns: u64,
    /// Nanoseconds since the test started, when the action was done.
    pub end_ns: u64,
    /// What went wrong, per node, if anything (the action went on with the others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl NemesisEvent {
    fn new(f: Action, start_ns: u64) -> Self {
        Self {
            f,
            shape: None,
            target: None,
            nodes: Vec::new(),
            groups: Vec::new(),
            links: Vec::new(),
            leader: None,
            closed: None,
            start_ns,
            end_ns: start_ns,
            errors: Vec::new(),
        }
    }
}

/// Applies a schedule's faults to a cluster and undoes them.
///
/// It remembers every fault it applied and not yet undid, so `heal_all`
/// can undo them all (heal links, resume paused, restart killed) without
/// help from clients, which may hang.
#[derive(Debug)]
pub struct Nemesis {
    supervisor: Arc<Supervisor>,
    network: Arc<Network>,
    schedule: Schedule,
    epoch: Instant,
    paused: Vec<NodeId>,
    killed: Vec<NodeId>,
    partitioned: bool,
}

impl Nemesis {
    /// A nemesis over these processes and this network; event times are
    /// measured from `epoch` (the test's start, as in the history's `time`).
    #[must_use]
    pub fn new(
        supervisor: Arc<Supervisor>,
        network: Arc<Network>,
        schedule: Schedule,
        epoch: Instant,
    ) -> Self {
        Self {
            supervisor,
            network,
            schedule,
            epoch,
            paused: Vec::new(),
            killed: Vec::new(),
            partitioned: false,
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The processes this nemesis acts on.
    #[must_use]
    pub fn supervisor(&self) -> &Arc<Supervisor> {
        &self.supervisor
    }

    /// The network this nemesis partitions.
    #[must_use]
    pub fn network(&self) -> &Arc<Network> {
        &self.network
    }

    /// Whether some fault is in effect.
    #[must_use]
    pub fn is_faulty(&self) -> bool {
        self.partitioned || !self.paused.is_empty() || !self.killed.is_empty()
    }

    /// Applies one fault and describes it.
    pub async fn apply(&mut self, fault: &Fault, leader: Option<NodeId>) -> NemesisEvent {
        let start = self.now_ns();
        let mut event = match fault {
            Fault::Partition(partition) => {
                let mut event = NemesisEvent::new(Action::Partition, start);
                event.closed = Some(self.network.partition(partition));
                self.partitioned = !partition.cuts.is_empty();
                event.shape = Some(partition.shape);
                event.nodes = partition.nodes();
                event.groups = partition.groups.clone();
                event.links = partition.cuts.clone();
                event
            }
            Fault::Pause { target, nodes } => {
                let mut event = NemesisEvent::new(Action::Pause, start);
                event.target = Some(*target);
                for &node in nodes {
                    match self.supervisor.pause(node) {
                        Ok(()) => {
                            self.paused.push(node);
                            event.nodes.push(node);
                        }
                        Err(error) => event.errors.push(error.to_string()),
                    }
                }
                event
            }
            Fault::Kill { target, nodes } => {
                let mut event = NemesisEvent::new(Action::Kill, start);
                event.target = Some(*target);
                for &node in nodes {
                    match self.supervisor.kill(node).await {
                        Ok(_) => {
                            self.killed.push(node);
                            event.nodes.push(node);
                        }
                        Err(error) => event.errors.push(error.to_string()),
                    }
                }
                event
            }
        };
        event.leader = leader;
        event.end_ns = self.now_ns();
        event
    }

    /// Undoes every fault in effect: heals every link, resumes every node
    /// it paused, restarts every node it killed (each gated on readiness).
    /// Returns one event per kind of undo that had work to do.
    pub async fn heal_all(&mut self) -> Vec<NemesisEvent> {
        let mut events = Vec::new();
        let cut = self.network.cut_links();
        if self.partitioned || !cut.is_empty() {
            let mut event = NemesisEvent::new(Action::Heal, self.now_ns());
            self.network.heal();
            self.partitioned = false;
            event.links = cut.into_iter().collect();
            let mut nodes: Vec<NodeId> = event
                .links
                .iter()
                .flat_map(|link| [link.from, link.to])
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            event.nodes = nodes;
            event.end_ns = self.now_ns();
            events.push(event);
        }
        if !self.paused.is_empty() {
            let mut event = NemesisEvent::new(Action::Resume, self.now_ns());
            for node in std::mem::take(&mut self.paused) {
                match self.supervisor.resume(node) {
                    Ok(()) => event.nodes.push(node),
                    Err(error) => event.errors.push(error.to_string()),
                }
            }
            event.end_ns = self.now_ns();
            events.push(event);
        }
        if !self.killed.is_empty() {
            let mut event = NemesisEvent::new(Action::Restart, self.now_ns());
            for node in std::mem::take(&mut self.killed) {
                match self.supervisor.restart(node).await {
                    Ok(()) => event.nodes.push(node),
                    Err(error) => event.errors.push(error.to_string()),
                }
            }
            event.end_ns = self.now_ns();
            events.push(event);
        }
        events
    }

    /// One step of the alternation: if a fault is in effect, undo it;
    /// otherwise apply the schedule's next fault. Empty for `none`.
    pub async fn step(&mut self, leader: Option<NodeId>) -> Vec<NemesisEvent> {
        if self.is_faulty() {
            return self.heal_all().await;
        }
        match self.schedule.next_fault(leader) {
            Some(fault) => vec![self.apply(&fault, leader).await],
            None => Vec::new(),
        }
    }

    /// Alternates fault and heal every `interval` until `until`, then heals
    /// everything. `leader` is asked before each fault (an answer later than
    /// `LEADER_TIMEOUT` counts as "unknown"); `emit` receives every event.
    pub async fn run<L, F>(
        &mut self,
        interval: Duration,
        until: Instant,
        mut leader: L,
        mut emit: impl FnMut(NemesisEvent),
    ) where
        L: FnMut() -> F,
        F: Future<Output = Option<NodeId>>,
    {
        loop {
            let wake = Instant::now() + interval;
            if wake >= until {
                sleep(until.saturating_duration_since(Instant::now())).await;
                break;
            }
            sleep(interval).await;
            // A leader query that hangs (clients and nodes may) must not stall
            // the schedule: after LEADER_TIMEOUT the leader counts as unknown.
            let named = if self.is_faulty() {
                None
            } else {
                tokio::time::timeout(LEADER_TIMEOUT, leader())
                    .await
                    .ok()
                    .flatten()
            };
            for event in self.step(named).await {
                emit(event);
            }
        }
        for event in self.heal_all().await {
            emit(event);
        }
    }
}
