//! Applying faults to a real cluster, undoing them, and describing each action.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::time::sleep;

use crate::{
    CorruptKind, Corruption, Disks, Dropped, Fault, Link, Network, NodeId, Partition, Schedule,
    Shape, Supervisor, Victims,
};

mod figure8;

pub use figure8::{NodeView, Observe};

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
    /// Links were slowed (`delay_ms` > 0) or back to full speed (0).
    Delay,
    /// Nodes lost power: SIGKILL, then their unsynced writes dropped.
    Power,
    /// A stopped node's file was damaged on its disk.
    Corrupt,
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
            Action::Delay => "delay",
            Action::Power => "power",
            Action::Corrupt => "corrupt",
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
    /// How the nodes were chosen, for `pause` and `kill` (also of a stall
    /// or a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Victims>,
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
    /// For `delay`: the latency added to each of `links`, 0 when removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// For `partition`: live connections closed by the cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<usize>,
    /// For `power`: per node, the files and bytes it had not synced and lost.
    #[serde(default, skip_serializing_if = "Dropped::is_empty")]
    pub dropped: Dropped,
    /// For `corrupt`: the node, the file, where and how it was damaged.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub corruption: Option<Corruption>,
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
            delay_ms: None,
            closed: None,
            dropped: Dropped::new(),
            corruption: None,
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
/// help from clients, which may hang. A stall is undone in two stages by
/// `step` (resume, then heal) and at once by `heal_all`.
#[derive(Debug)]
pub struct Nemesis {
    supervisor: Arc<Supervisor>,
    network: Arc<Network>,
    schedule: Schedule,
    epoch: Instant,
    paused: Vec<NodeId>,
    /// Nodes a stall stopped and nobody resumed yet; their cut, if any, is
    /// in `partitioned`.
    stalled: Vec<NodeId>,
    killed: Vec<NodeId>,
    partitioned: bool,
    /// Who leads and what each node committed, for `Fault::Figure8`.
    observer: Option<Arc<dyn Observe>>,
    /// The nodes' lazy disks, for `power`, `powercycle` and `corrupt`.
    disks: Option<Arc<Disks>>,
}

impl std::fmt::Debug for dyn Observe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observe")
    }
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
            stalled: Vec::new(),
            killed: Vec::new(),
            partitioned: false,
            observer: None,
            disks: None,
        }
    }

    /// Lets disk faults (`power`, `powercycle`, `corrupt`) act on these
    /// disks; without them those faults kill and restart, and say why
    /// nothing else was done.
    #[must_use]
    pub fn with_disks(mut self, disks: Arc<Disks>) -> Self {
        self.disks = Some(disks);
        self
    }

    /// Lets leader-watching faults (`figure8`) ask the nodes who leads and
    /// what they committed; without it they do nothing but say why.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observe>) -> Self {
        self.observer = Some(observer);
        self
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

    /// Whether some fault is in effect (for a stall: until both of its
    /// stages, resume and heal, are undone).
    #[must_use]
    pub fn is_faulty(&self) -> bool {
        self.partitioned
            || !self.paused.is_empty()
            || !self.stalled.is_empty()
            || !self.killed.is_empty()
    }

    /// Applies one fault and describes it: one event, or for a stall two,
    /// its `pause` and then its `partition` (only the `pause` when it stops
    /// every node, as there is nobody to cut it from).
    pub async fn apply(&mut self, fault: &Fault, leader: Option<NodeId>) -> Vec<NemesisEvent> {
        let mut events = match fault {
            Fault::Partition(partition) => vec![self.cut(partition)],
            Fault::Pause { target, nodes } => {
                let (event, stopped) = self.pause(*target, nodes);
                self.paused.extend(stopped);
                vec![event]
            }
            Fault::Kill { target, nodes } => {
                let (event, killed) = self.kill(*target, nodes).await;
                self.killed.extend(killed);
                vec![event]
            }
            Fault::Crash { target, nodes } => {
                // Kill every target first, then restart them: a majority
                // crashed together comes back together.
                let (event, killed) = self.kill(*target, nodes).await;
                let mut events = vec![event];
                events.extend(self.restart(killed).await);
                events
            }
            Fault::Figure8 => self.figure8().await,
            Fault::Power { target, nodes } => {
                let (event, killed) = self.power(*target, nodes).await;
                self.killed.extend(killed);
                vec![event]
            }
            Fault::PowerCycle { target, nodes } => {
                let (event, killed) = self.power(*target, nodes).await;
                let mut events = vec![event];
                events.extend(self.restart(killed).await);
                events
            }
            Fault::Corrupt {
                target,
                nodes,
                seed,
                kind,
            } => {
                let mut events = Vec::new();
                for &node in nodes {
                    let (event, killed) = self.corrupt(*target, node, *seed, *kind).await;
                    events.push(event);
                    events.extend(self.restart(killed).await);
                }
                events
            }
            Fault::Stall {
                target,
                nodes,
                partition,
            } => {
                // Stop first, cut second: the cut closes the stalled nodes'
                // connections while they sleep, so they wake up to find
                // them gone rather than notice the cut while still running.
                let (event, stopped) = self.pause(*target, nodes);
                self.stalled.extend(stopped);
                let mut events = vec![event];
                if let Some(partition) = partition {
                    events.push(self.cut(partition));
                }
                events
            }
        };
        for event in &mut events {
            event.leader = leader;
        }
        events
    }

    /// Cuts exactly the links of `partition` (healing any other).
    fn cut(&mut self, partition: &Partition) -> NemesisEvent {
        let mut event = NemesisEvent::new(Action::Partition, self.now_ns());
        event.closed = Some(self.network.partition(partition));
        self.partitioned = !partition.cuts.is_empty();
        event.shape = Some(partition.shape);
        event.nodes = partition.nodes();
        event.groups = partition.groups.clone();
        event.links = partition.cuts.clone();
        event.end_ns = self.now_ns();
        event
    }

    /// SIGKILLs `nodes`; returns the event and the nodes actually killed.
    async fn kill(&self, target: Victims, nodes: &[NodeId]) -> (NemesisEvent, Vec<NodeId>) {
        let mut event = NemesisEvent::new(Action::Kill, self.now_ns());
        event.target = Some(target);
        for &node in nodes {
            match self.supervisor.kill(node).await {
                Ok(_) => event.nodes.push(node),
                Err(error) => event.errors.push(error.to_string()),
            }
        }
        event.end_ns = self.now_ns();
        let killed = event.nodes.clone();
        (event, killed)
    }

    /// SIGKILLs `nodes` at one instant (every signal is sent before any
    /// is reaped), then drops what each had not synced; returns the event
    /// and the nodes actually killed.
    async fn power(&self, target: Victims, nodes: &[NodeId]) -> (NemesisEvent, Vec<NodeId>) {
        let mut event = NemesisEvent::new(Action::Power, self.now_ns());
        event.target = Some(target);
        let kills = nodes.iter().map(|&node| self.supervisor.kill(node));
        let results = futures::future::join_all(kills).await;
        for (&node, result) in nodes.iter().zip(results) {
            match result {
                Ok(_) => event.nodes.push(node),
                Err(error) => event.errors.push(error.to_string()),
            }
        }
        for &node in &event.nodes {
            match &self.disks {
                Some(disks) => match disks.power_loss(node) {
                    Ok(loss) => {
                        event.dropped.insert(node, loss);
                    }
                    Err(error) => event.errors.push(error.to_string()),
                },
                None => event.errors.push(format!(
                    "{node}: no lazy disk, nothing unsynced was dropped"
                )),
            }
        }
        event.end_ns = self.now_ns();
        let killed = event.nodes.clone();
        (event, killed)
    }

    /// SIGKILLs `node` and damages one of its files (seeded by `seed` and
    /// the node); returns the event and the node if it was killed.
    async fn corrupt(
        &self,
        target: Victims,
        node: NodeId,
        seed: u64,
        kind: Option<CorruptKind>,
    ) -> (NemesisEvent, Vec<NodeId>) {
        let mut event = NemesisEvent::new(Action::Corrupt, self.now_ns());
        event.target = Some(target);
        // A node that refused to start after an earlier corruption is
        // already stopped: damage it again and try to start it.
        if self.supervisor.is_alive(node) {
            if let Err(error) = self.supervisor.kill(node).await {
                event.errors.push(error.to_string());
                event.end_ns = self.now_ns();
                return (event, Vec::new());
            }
        }
        event.nodes.push(node);
        let seed = seed ^ (node.index() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        match &self.disks {
            Some(disks) => match disks.corrupt(node, seed, kind) {
                Ok(corruption) => event.corruption = Some(corruption),
                Err(error) => event.errors.push(error.to_string()),
            },
            None => event
                .errors
                .push(format!("{node}: no lazy disk, nothing was damaged")),
        }
        event.end_ns = self.now_ns();
        (event, vec![node])
    }

    /// SIGSTOPs `nodes`; returns the event and the nodes actually stopped.
    fn pause(&self, target: Victims, nodes: &[NodeId]) -> (NemesisEvent, Vec<NodeId>) {
        let mut event = NemesisEvent::new(Action::Pause, self.now_ns());
        event.target = Some(target);
        for &node in nodes {
            match self.supervisor.pause(node) {
                Ok(()) => event.nodes.push(node),
                Err(error) => event.errors.push(error.to_string()),
            }
        }
        event.end_ns = self.now_ns();
        let stopped = event.nodes.clone();
        (event, stopped)
    }

    /// SIGCONTs `nodes`; `None` when there are none.
    fn resume(&self, nodes: Vec<NodeId>) -> Option<NemesisEvent> {
        if nodes.is_empty() {
            return None;
        }
        let mut event = NemesisEvent::new(Action::Resume, self.now_ns());
        for node in nodes {
            match self.supervisor.resume(node) {
                Ok(()) => event.nodes.push(node),
                Err(error) => event.errors.push(error.to_string()),
            }
        }
        event.end_ns = self.now_ns();
        Some(event)
    }

    /// Heals every cut link; `None` when none is cut.
    fn heal(&mut self) -> Option<NemesisEvent> {
        let cut = self.network.cut_links();
        if !self.partitioned && cut.is_empty() {
            return None;
        }
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
        Some(event)
    }

    /// Undoes every fault in effect: heals every link, resumes every node
    /// it paused, restarts every node it killed (each gated on readiness).
    /// With a stall in effect its nodes are resumed before the links heal.
    /// Returns one event per kind of undo that had work to do.
    pub async fn heal_all(&mut self) -> Vec<NemesisEvent> {
        let mut events = Vec::new();
        // A stall is undone in its own order even here (the end of a run,
        // Ctrl-C): its nodes wake up before they can hear anyone, as after
        // the first stage of `step`, not to the queued messages of a plain
        // pause.
        let stalling = !self.stalled.is_empty();
        let mut asleep = std::mem::take(&mut self.stalled);
        asleep.append(&mut self.paused);
        if stalling {
            events.extend(self.resume(std::mem::take(&mut asleep)));
        }
        events.extend(self.heal());
        events.extend(self.resume(asleep));
        let killed = std::mem::take(&mut self.killed);
        events.extend(self.restart(killed).await);
        events
    }

    /// Restarts `nodes` one after another, each gated on readiness; `None`
    /// when there are none.
    async fn restart(&self, nodes: Vec<NodeId>) -> Option<NemesisEvent> {
        if nodes.is_empty() {
            return None;
        }
        let mut event = NemesisEvent::new(Action::Restart, self.now_ns());
        for node in nodes {
            match self.supervisor.restart(node).await {
                Ok(()) => event.nodes.push(node),
                Err(error) => event.errors.push(error.to_string()),
            }
        }
        event.end_ns = self.now_ns();
        Some(event)
    }

    /// One step of the alternation: if a fault is in effect, undo it;
    /// otherwise apply the schedule's next fault. Empty for `none`.
    ///
    /// A stall takes two steps to undo: the first resumes its nodes and
    /// leaves their links cut, the second heals them (with the rest of
    /// `heal_all`); the next fault comes the step after.
    pub async fn step(&mut self, leader: Option<NodeId>) -> Vec<NemesisEvent> {
        // The stalled nodes wake up still cut off, for a whole interval: a
        // leader whose lease is counted in ticks that stood still while it
        // was stopped serves reads from its own state until it hears of the
        // new term, which a plain pause tells it within microseconds of
        // SIGCONT (raftkv `--bug lease-read`, docs/nemesis.md).
        if !self.stalled.is_empty() {
            let stalled = std::mem::take(&mut self.stalled);
            return self.resume(stalled).into_iter().collect();
        }
        if self.is_faulty() {
            return self.heal_all().await;
        }
        match self.schedule.next_fault(leader) {
            Some(fault) => self.apply(&fault, leader).await,
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
