//! The client phase: concurrent client tasks that issue, record and pace ops.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use checker::{Event, EventType, Process};
use nemesis::{NodeId, Rng};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, timeout_at, Instant};

use crate::client::{Answer, Client, Completion};
use crate::generator::{Generator, OpRequest};
use crate::recorder::Recorder;
use crate::stats::ClientStats;
use crate::workload::Workload;

/// How much longer than [`Client::op_timeout`] an invoke is awaited before
/// it is cut off and recorded as timed out.
pub const OP_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);
/// How often clients that send to the leader ask who the leader is.
pub const LEADER_REFRESH: Duration = Duration::from_secs(1);
/// How long one such question may take in all.
const LEADER_QUESTION_LIMIT: Duration = Duration::from_secs(2);
/// How long a client waits after a failed or unknown op (a cas mismatch
/// excepted) before its next one, so a cluster that refuses everything at
/// once (all nodes down) does not flood the history with failures.
pub const FAILURE_BACKOFF: Duration = Duration::from_millis(20);
/// Mixed into the run's seed for the stream that picks nodes, so node
/// choices do not repeat the generator's stream.
const NODE_STREAM: u64 = 0x6e6f_6465_5f70_6963;

/// How the client phase runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunnerOptions {
    /// What the clients do.
    pub workload: Workload,
    /// How many client tasks run at once (each one op at a time).
    pub concurrency: usize,
    /// Total ops per second over all clients; `0` is unlimited.
    pub rate: f64,
    /// The generator's ops per key (see [`RunnerOptions::generator`]).
    pub ops_per_key: usize,
    /// The generator's keys in use at once.
    pub active_keys: usize,
    /// The run's seed: the generator's, and the node choices'.
    pub seed: u64,
    /// How many nodes the cluster has.
    pub nodes: usize,
    /// Send every op to the current leader (asked every
    /// [`LEADER_REFRESH`]) instead of to a node picked at random.
    pub to_leader: bool,
}

impl RunnerOptions {
    /// Options with the workload's defaults: 5 clients, no rate limit, ops
    /// spread over the nodes at random.
    #[must_use]
    pub fn new(workload: Workload, nodes: usize, seed: u64) -> Self {
        RunnerOptions {
            workload,
            concurrency: 5,
            rate: 0.0,
            ops_per_key: workload.default_ops_per_key(),
            active_keys: workload.default_active_keys(),
            seed,
            nodes,
            to_leader: false,
        }
    }

    /// The generator these options describe.
    #[must_use]
    pub fn generator(&self) -> Generator {
        Generator::new(self.workload, self.ops_per_key, self.active_keys, self.seed)
    }
}

/// What the client phase used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientsDone {
    /// Every key that had an op, in order of its first op.
    pub keys: Vec<String>,
    /// A process number no client used: final reads start here.
    pub next_process: u64,
}

/// Spaces invokes evenly over all clients: each takes the next free slot.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    /// A pacer for `rate` ops per second, or `None` when unlimited.
    fn new(rate: f64) -> Option<Pacer> {
        (rate > 0.0 && rate.is_finite()).then(|| Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        })
    }

    /// The instant of the caller's next invoke: the later of now and one
    /// interval after the previous slot (no catching up after a lull).
    fn reserve(&self) -> Instant {
        let mut next = self
            .next
            .lock()
            .expect("the lock is only held for arithmetic, which does not panic");
        let slot = (*next).max(Instant::now());
        *next = slot + self.interval;
        slot
    }
}

/// What every client task shares.
struct Shared<C> {
    client: Arc<C>,
    recorder: Arc<dyn Recorder>,
    stats: Arc<ClientStats>,
    generator: Mutex<Generator>,
    node_rng: Mutex<Rng>,
    leader: Mutex<Option<NodeId>>,
    pacer: Option<Pacer>,
    concurrency: u64,
    nodes: usize,
    to_leader: bool,
    until: Instant,
}

impl<C: Client> Shared<C> {
    /// The node the next op goes to: the leader when asked to and known,
    /// else one picked at random, so that every node serves reads.
    fn pick_node(&self) -> NodeId {
        if self.to_leader {
            let leader = *self.leader.lock().expect("never held across a panic");
            if let Some(leader) = leader.filter(|leader| leader.index() < self.nodes) {
                return leader;
            }
        }
        let mut rng = self.node_rng.lock().expect("never held across a panic");
        NodeId(rng.below(self.nodes))
    }

    async fn client_task(
        self: Arc<Self>,
        first_process: u64,
        mut stop: watch::Receiver<bool>,
    ) -> u64 {
        let mut process = first_process;
        loop {
            if *stop.borrow() || Instant::now() >= self.until {
                break;
            }
            if let Some(pacer) = &self.pacer {
                let slot = pacer.reserve();
                if slot >= self.until || sleep_unless_stopped(slot, &mut stop).await {
                    break;
                }
            }
            let op = self
                .generator
                .lock()
                .expect("never held across a panic")
                .next();
            let node = self.pick_node();
            self.stats.invoked();
            let answer = perform(&*self.client, &*self.recorder, process, node, &op, None).await;
            self.stats.completed(&answer.completion);
            match &answer.completion {
                Completion::Ok(_) => {
                    if self.to_leader && answer.node != node {
                        // A redirect was followed: the node that answered leads.
                        *self.leader.lock().expect("never held across a panic") = Some(answer.node);
                    }
                }
                Completion::Fail { error } if error == checker::Event::MISMATCH => {}
                other => {
                    if matches!(other, Completion::Info { .. }) {
                        // Jepsen: a process whose op is in doubt never
                        // invokes again; the client goes on as a new one.
                        process += self.concurrency;
                    }
                    let pause = (Instant::now() + FAILURE_BACKOFF).min(self.until);
                    if sleep_unless_stopped(pause, &mut stop).await {
                        break;
                    }
                }
            }
        }
        process
    }
}

/// Aborts its task when dropped, even when the caller unwinds.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sleeps until `until`; returns `true` early if `stop` becomes true.
async fn sleep_unless_stopped(until: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = sleep_until(until) => false,
        stopped = async { stop.wait_for(|&stopped| stopped).await.is_ok() } => {
            if stopped {
                true
            } else {
                // Nobody can stop us any more: just sleep.
                sleep_until(until).await;
                false
            }
        }
    }
}

/// Records the invoke of `op` by `process` on `node`, sends it, and records
/// its completion. The invoke is awaited at most [`Client::op_timeout`] plus
/// [`OP_TIMEOUT_MARGIN`], and never past `cut_off`; cut off, it completes as
/// `info` `timeout` (`fail` for a read).
pub(crate) async fn perform<C: Client>(
    client: &C,
    recorder: &dyn Recorder,
    process: u64,
    node: NodeId,
    op: &OpRequest,
    cut_off: Option<Instant>,
) -> Answer {
    recorder.record(Event {
        index: 0,
        time: 0,
        process: Process::Client(process),
        kind: EventType::Invoke,
        f: op.f.clone(),
        key: op.history_key(),
        value: op.value.clone(),
        node: Some(node.to_string()),
        error: None,
        revision: None,
    });
    let limit = Instant::now() + client.op_timeout() + OP_TIMEOUT_MARGIN;
    let limit = cut_off.map_or(limit, |cut_off| cut_off.min(limit));
    let answer = timeout_at(limit, client.invoke(node, op))
        .await
        .unwrap_or_else(|_| Answer {
            completion: if op.is_read() {
                Completion::fail("timeout")
            } else {
                Completion::info("timeout")
            },
            node,
            revision: None,
        });
    let (value, error) = match &answer.completion {
        Completion::Ok(value) => (value.clone(), None),
        // Jepsen keeps the invoke's value on fail and info.
        Completion::Fail { error } | Completion::Info { error } => {
            (op.value.clone(), Some(error.clone()))
        }
    };
    recorder.record(Event {
        index: 0,
        time: 0,
        process: Process::Client(process),
        kind: answer.completion.event_type(),
        f: op.f.clone(),
        key: op.history_key(),
        value,
        node: Some(answer.node.to_string()),
        error,
        // Only an `ok` completion keeps a revision (a protocol reports one
        // for an acknowledged update).
        revision: match answer.completion {
            Completion::Ok(_) => answer.revision,
            _ => None,
        },
    });
    answer
}

/// Runs `options.concurrency` client tasks until `until` or until `stop`
/// becomes true, each issuing `generator`'s ops one at a time: record the
/// invoke, call, record the completion.
///
/// Client task j starts as process j; after an `info` it goes on as process
/// (current + concurrency). Ops go to a node picked at random by the
/// seeded stream (or to the leader with `to_leader`). With a `rate`, invokes
/// are spaced evenly over all clients. Ops in flight when time is up are
/// awaited (each bounded by the client's timeout), so every invoke gets its
/// completion.
///
/// # Panics
/// When a client task panicked (a bug); the panic is passed on.
pub async fn run_clients<C: Client>(
    client: Arc<C>,
    generator: Generator,
    options: &RunnerOptions,
    recorder: Arc<dyn Recorder>,
    stats: Arc<ClientStats>,
    until: Instant,
    stop: watch::Receiver<bool>,
) -> ClientsDone {
    let concurrency = options.concurrency.max(1);
    let shared = Arc::new(Shared {
        client: client.clone(),
        recorder,
        stats,
        generator: Mutex::new(generator),
        node_rng: Mutex::new(Rng::new(options.seed ^ NODE_STREAM)),
        leader: Mutex::new(None),
        pacer: Pacer::new(options.rate),
        concurrency: concurrency as u64,
        nodes: options.nodes.max(1),
        to_leader: options.to_leader,
        until,
    });
    let refresher = if options.to_leader {
        let known = timeout(LEADER_QUESTION_LIMIT, client.leader())
            .await
            .ok()
            .flatten();
        *shared.leader.lock().expect("never held across a panic") = known;
        let shared = shared.clone();
        Some(AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEADER_REFRESH).await;
                let known = timeout(LEADER_QUESTION_LIMIT, shared.client.leader())
                    .await
                    .ok()
                    .flatten();
                *shared.leader.lock().expect("never held across a panic") = known;
            }
        })))
    } else {
        None
    };
    let tasks: Vec<_> = (0..concurrency as u64)
        .map(|process| tokio::spawn(shared.clone().client_task(process, stop.clone())))
        .collect();
    let mut next_process = 0;
    for task in tasks {
        match task.await {
            Ok(last) => next_process = next_process.max(last + 1),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a client task was cancelled, which nothing does: {error}"),
        }
    }
    drop(refresher);
    let keys = shared
        .generator
        .lock()
        .expect("never held across a panic")
        .keys();
    ClientsDone { keys, next_process }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use checker::{EventType, Process};

    use super::*;
    use crate::fake::{assert_well_formed, verdict, FakeCluster};
    use crate::recorder::MemoryRecorder;

    struct Run {
        done: ClientsDone,
        events: Vec<Event>,
        stats: Arc<ClientStats>,
    }

    async fn run(cluster: FakeCluster, options: &RunnerOptions, length: Duration) -> Run {
        let recorder = Arc::new(MemoryRecorder::new());
        let stats = Arc::new(ClientStats::default());
        let (_stop, stopped) = watch::channel(false);
        let done = run_clients(
            Arc::new(cluster),
            options.generator(),
            options,
            recorder.clone(),
            stats.clone(),
            Instant::now() + length,
            stopped,
        )
        .await;
        Run {
            done,
            events: recorder.events(),
            stats,
        }
    }

    fn options(workload: Workload, concurrency: usize) -> RunnerOptions {
        let mut options = RunnerOptions::new(workload, 3, 42);
        options.concurrency = concurrency;
        options.ops_per_key = 40;
        options
    }

    #[tokio::test]
    async fn histories_are_well_formed_and_linearizable_with_lost_answers() {
        // The fake cluster is a linearizable store; `queue` (streams of
        // NATS JetStream) is tested against real servers (tests/nats_cluster.rs).
        // `txn` histories are judged by the transaction check, not a model
        // (below).
        for workload in Workload::ALL
            .into_iter()
            .filter(|&workload| !matches!(workload, Workload::Queue | Workload::Txn))
        {
            let options = options(workload, 4);
            let cluster = FakeCluster::new(Duration::from_millis(2), 7);
            let run = run(cluster, &options, Duration::from_millis(300)).await;
            assert_well_formed(&run.events);
            let counts = run.stats.snapshot();
            assert_eq!(counts.invoked, counts.ok + counts.fail + counts.info);
            assert_eq!(counts.invoked * 2, run.events.len() as u64);
            assert!(counts.ok > 20 && counts.info > 0, "{workload}: {counts:?}");
            assert_eq!(
                verdict(&run.events, workload.model()),
                checker::Verdict::Valid
            );
            // Every key that had an op is listed, in order of first use.
            let mut first_use: Vec<String> = Vec::new();
            for event in &run.events {
                let key = event.key.clone().expect("client ops have keys");
                if !first_use.contains(&key) {
                    first_use.push(key);
                }
            }
            assert_eq!(run.done.keys, first_use, "{workload}");
        }
    }

    #[tokio::test]
    async fn txn_histories_have_no_key_and_every_read_is_a_prefix_of_the_longest() {
        let options = options(Workload::Txn, 4);
        let cluster = FakeCluster::new(Duration::from_millis(2), 7);
        let run = run(cluster, &options, Duration::from_millis(300)).await;
        assert_well_formed(&run.events);
        let counts = run.stats.snapshot();
        assert!(counts.ok > 20 && counts.info > 0, "{counts:?}");
        // key -> every list read; key -> every element appended (any outcome).
        let mut reads: std::collections::BTreeMap<String, Vec<Vec<serde_json::Value>>> =
            Default::default();
        let mut appended: BTreeSet<(String, String)> = BTreeSet::new();
        for event in &run.events {
            assert_eq!((event.f.as_str(), &event.key), ("txn", &None), "{event:?}");
            let ops = event.value.as_array().expect("a txn's value is a list");
            for op in ops {
                let key = op[1].as_str().expect("string keys").to_string();
                match (op[0].as_str(), event.kind) {
                    (Some("append"), _) => {
                        appended.insert((key, op[2].to_string()));
                    }
                    (Some("r"), EventType::Ok) => {
                        let list = op[2].as_array().expect("ok reads are lists").clone();
                        reads.entry(key).or_default().push(list);
                    }
                    (Some("r"), _) => assert!(op[2].is_null(), "{event:?}"),
                    _ => panic!("not a micro-op: {op}"),
                }
            }
        }
        assert!(reads.len() > 1, "{reads:?}");
        for (key, lists) in &reads {
            let longest = lists
                .iter()
                .max_by_key(|list| list.len())
                .expect("one read");
            for list in lists {
                assert_eq!(list[..], longest[..list.len()], "{key}: {list:?}");
            }
            for element in longest {
                assert!(appended.contains(&(key.clone(), element.to_string())));
            }
        }
        // Keys come from inside the transactions, in order of first use.
        let mut first_use: Vec<String> = Vec::new();
        for event in run.events.iter().filter(|e| e.kind == EventType::Invoke) {
            for op in event.value.as_array().expect("a list") {
                let key = op[1].as_str().expect("a string").to_string();
                if !first_use.contains(&key) {
                    first_use.push(key);
                }
            }
        }
        assert_eq!(run.done.keys, first_use);
    }

    #[tokio::test]
    async fn a_process_goes_on_under_a_new_number_after_info() {
        let options = options(Workload::Register, 3);
        let cluster = FakeCluster::new(Duration::from_millis(1), 5);
        let run = run(cluster, &options, Duration::from_millis(200)).await;
        assert_well_formed(&run.events);
        let processes: BTreeSet<u64> = run
            .events
            .iter()
            .filter_map(|event| match event.process {
                Process::Client(process) => Some(process),
                Process::Nemesis => None,
            })
            .collect();
        // Client j is process j, j + 3, j + 6, ...: it moves on only after
        // an info, so every number but its last ended in an info.
        let infos: BTreeSet<u64> = run
            .events
            .iter()
            .filter(|event| event.kind == EventType::Info)
            .filter_map(|event| match event.process {
                Process::Client(process) => Some(process),
                Process::Nemesis => None,
            })
            .collect();
        assert!(!infos.is_empty());
        for client in 0..3 {
            let used: Vec<u64> = processes
                .iter()
                .copied()
                .filter(|p| p % 3 == client)
                .collect();
            let expected: Vec<u64> = (0..used.len() as u64).map(|k| client + 3 * k).collect();
            assert_eq!(used, expected, "client {client} skipped a number");
            for process in &used[..used.len() - 1] {
                assert!(
                    infos.contains(process),
                    "process {process} moved on without info"
                );
            }
        }
        assert!(run.done.next_process > *processes.last().expect("ops ran"));
        // Reads never end in info.
        assert!(run
            .events
            .iter()
            .all(|event| !(event.kind == EventType::Info && event.f == "read")));
    }

    #[tokio::test]
    async fn rate_spaces_invokes_over_all_clients() {
        let mut options = options(Workload::Counter, 4);
        options.rate = 50.0;
        let cluster = FakeCluster::new(Duration::from_millis(1), 0);
        let run = run(cluster, &options, Duration::from_millis(600)).await;
        let invoked = run.stats.snapshot().invoked;
        // 600 ms at 50/s: 30 slots (the first at once); a busy machine may
        // start a few late, never more.
        assert!((25..=30).contains(&invoked), "{invoked} invokes");
    }

    #[tokio::test]
    async fn stop_ends_the_run_and_in_flight_ops_complete() {
        let options = options(Workload::Set, 4);
        let cluster = Arc::new(FakeCluster::new(Duration::from_millis(50), 0));
        let recorder = Arc::new(MemoryRecorder::new());
        let (stop, stopped) = watch::channel(false);
        let started = Instant::now();
        let running = tokio::spawn({
            let recorder = recorder.clone();
            async move {
                run_clients(
                    cluster,
                    options.generator(),
                    &options,
                    recorder,
                    Arc::new(ClientStats::default()),
                    Instant::now() + Duration::from_secs(30),
                    stopped,
                )
                .await
            }
        });
        tokio::time::sleep(Duration::from_millis(120)).await;
        stop.send(true).expect("the run still listens");
        running.await.expect("the run does not panic");
        assert!(started.elapsed() < Duration::from_millis(400));
        assert_well_formed(&recorder.events());
    }

    #[tokio::test]
    async fn to_leader_sends_every_op_to_the_leader() {
        let mut options = options(Workload::Append, 3);
        options.to_leader = true;
        let mut cluster = FakeCluster::new(Duration::from_millis(1), 0);
        cluster.leader = Some(NodeId(2));
        let run = run(cluster, &options, Duration::from_millis(100)).await;
        assert!(!run.events.is_empty());
        assert!(run.events.iter().all(|e| e.node.as_deref() == Some("n3")));
    }

    #[tokio::test]
    async fn without_to_leader_ops_reach_every_node() {
        let options = options(Workload::Register, 2);
        let cluster = FakeCluster::new(Duration::from_millis(1), 0);
        let run = run(cluster, &options, Duration::from_millis(100)).await;
        let nodes: BTreeSet<&str> = run
            .events
            .iter()
            .filter_map(|e| e.node.as_deref())
            .collect();
        assert_eq!(nodes, BTreeSet::from(["n1", "n2", "n3"]));
    }

    #[tokio::test]
    async fn one_client_with_the_same_seed_issues_the_same_ops_to_the_same_nodes() {
        let sequence = |events: Vec<Event>| -> Vec<(String, Option<String>, serde_json::Value, Option<String>)> {
            events
                .into_iter()
                .filter(|e| e.kind == EventType::Invoke)
                .take(100)
                .map(|e| (e.f, e.key, e.value, e.node))
                .collect()
        };
        let options = options(Workload::Register, 1);
        let first = run(
            FakeCluster::new(Duration::ZERO, 0),
            &options,
            Duration::from_millis(100),
        )
        .await;
        let second = run(
            FakeCluster::new(Duration::ZERO, 0),
            &options,
            Duration::from_millis(100),
        )
        .await;
        let (mut first, mut second) = (sequence(first.events), sequence(second.events));
        // Time ends each run; the runs agree as far as both got.
        let common = first.len().min(second.len());
        assert!(common >= 20, "only {common} ops");
        first.truncate(common);
        second.truncate(common);
        assert_eq!(first, second);
    }

    #[tokio::test]
    async fn only_acknowledged_ops_keep_the_revision_their_answer_carries() {
        // A protocol that reports a revision with every answer, even where
        // there is none to keep.
        struct Revisioned(FakeCluster);
        impl Client for Revisioned {
            async fn invoke(&self, node: NodeId, op: &OpRequest) -> Answer {
                Answer {
                    revision: Some(42),
                    ..self.0.invoke(node, op).await
                }
            }
            async fn leader(&self) -> Option<NodeId> {
                None
            }
            async fn committed_log(&self, _: NodeId, _: u64, _: usize) -> Option<crate::LogPage> {
                None
            }
        }
        let recorder = MemoryRecorder::new();
        let client = Revisioned(FakeCluster::new(Duration::ZERO, 2));
        for f in ["write", "read"] {
            let op = OpRequest {
                workload: Workload::Register,
                f: f.to_string(),
                key: "r0".to_string(),
                value: serde_json::json!(1),
            };
            for _ in 0..2 {
                perform(&client, &recorder, 0, NodeId(0), &op, None).await;
            }
        }
        let seen: Vec<(EventType, Option<u64>)> = recorder
            .events()
            .iter()
            .map(|event| (event.kind, event.revision))
            .collect();
        // Every second answer is lost: info for the write, fail for the read.
        assert_eq!(
            seen,
            vec![
                (EventType::Invoke, None),
                (EventType::Ok, Some(42)),
                (EventType::Invoke, None),
                (EventType::Info, None),
                (EventType::Invoke, None),
                (EventType::Ok, Some(42)),
                (EventType::Invoke, None),
                (EventType::Fail, None),
            ]
        );
    }

    #[tokio::test]
    async fn failures_back_off_instead_of_flooding_the_history() {
        let options = options(Workload::Counter, 2);
        let cluster = FakeCluster::new(Duration::ZERO, 0);
        cluster
            .down
            .lock()
            .expect("not poisoned")
            .extend(NodeId::all(3));
        let run = run(cluster, &options, Duration::from_millis(200)).await;
        let counts = run.stats.snapshot();
        assert_eq!(counts.ok, 0);
        // Two clients, one attempt per 20 ms each.
        assert!(counts.fail <= 2 * 11, "{counts:?}");
    }
}
