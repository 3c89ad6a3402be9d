//! After the last fault is healed: wait for the cluster to serve, then read
//! every key through every node.

use std::time::Duration;

use futures::future::join_all;
use nemesis::NodeId;
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::client::{Client, Completion};
use crate::generator::OpRequest;
use crate::recorder::Recorder;
use crate::runner::perform;
use crate::workload::Workload;

/// The key [`wait_for_recovery`] reads: never written, so reading it changes
/// nothing and the read is left out of the history.
pub const RECOVERY_PROBE_KEY: &str = "faultline-recovery-probe";
/// How long to wait between two rounds of recovery probes or final reads.
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What the final reads did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalReads {
    /// Reads invoked, retries included.
    pub attempted: u64,
    /// Reads that completed `ok`.
    pub ok: u64,
    /// A process number no final read used.
    pub next_process: u64,
    /// The (key, node) pairs that got no `ok` read by the deadline.
    pub missing: Vec<(String, NodeId)>,
}

/// Waits, at most until `deadline`, until the cluster serves: a read of
/// [`RECOVERY_PROBE_KEY`] through some node completes `ok` (the probes are
/// not recorded). Every round asks every node at once. Returns how long it
/// took, or `None` if the cluster did not serve by the deadline.
pub async fn wait_for_recovery<C: Client>(
    client: &C,
    workload: Workload,
    nodes: usize,
    deadline: Instant,
) -> Option<Duration> {
    let started = Instant::now();
    let probe = OpRequest::read(workload, RECOVERY_PROBE_KEY);
    while Instant::now() < deadline {
        let round =
            NodeId::all(nodes.max(1)).map(|node| timeout_at(deadline, client.invoke(node, &probe)));
        let served = join_all(round).await.into_iter().any(
            |answer| matches!(answer, Ok(answer) if matches!(answer.completion, Completion::Ok(_))),
        );
        if served {
            return Some(started.elapsed());
        }
        sleep_until((Instant::now() + RETRY_PAUSE).min(deadline)).await;
    }
    None
}

/// How many keys one final read reads in the `txn` workload: each final
/// read is then a read-only transaction of up to this many keys (the keys
/// in order, each once), so the last state of every key is observed in a
/// few requests.
pub const FINAL_TXN_KEYS: usize = 4;

/// Reads every key through every node, recorded like any op, until each
/// (key, node) pair had one `ok` read or `deadline` passes.
///
/// The nodes are read at once, each by its own process (`first_process` +
/// node index), which goes over the keys in order and retries the keys whose
/// read failed in later rounds. A read that ends `info` moves its process on
/// by the number of nodes (a client protocol may record a read as `info`);
/// a `fail` keeps it. No read is in flight after `deadline`: one still
/// running then is cut off and recorded as a failed read. In the `txn`
/// workload each read is a read-only transaction of up to
/// [`FINAL_TXN_KEYS`] keys; `attempted` and `ok` count those transactions.
pub async fn final_reads<C: Client>(
    client: &C,
    workload: Workload,
    keys: &[String],
    nodes: usize,
    recorder: &dyn Recorder,
    first_process: u64,
    deadline: Instant,
) -> FinalReads {
    let nodes = nodes.max(1);
    let per_node = NodeId::all(nodes).map(|node| {
        read_through(
            client,
            workload,
            keys,
            node,
            nodes as u64,
            recorder,
            first_process + node.index() as u64,
            deadline,
        )
    });
    let mut total = FinalReads {
        attempted: 0,
        ok: 0,
        next_process: first_process + nodes as u64,
        missing: Vec::new(),
    };
    for (node, done) in NodeId::all(nodes).zip(join_all(per_node).await) {
        total.attempted += done.attempted;
        total.ok += done.ok;
        total.next_process = total.next_process.max(done.last_process + 1);
        total
            .missing
            .extend(done.missing.into_iter().map(|key| (key, node)));
    }
    // Order by key, then node, whatever order the rounds ended in.
    total.missing.sort_by_key(|(key, node)| {
        (
            keys.iter().position(|k| k == key).unwrap_or(usize::MAX),
            *node,
        )
    });
    total
}

/// One node's share of the final reads.
struct NodeReads {
    attempted: u64,
    ok: u64,
    last_process: u64,
    missing: Vec<String>,
}

/// The keys in groups, each group read by one op: one key per read, or in
/// the `txn` workload up to [`FINAL_TXN_KEYS`] per read-only transaction.
fn read_groups(workload: Workload, keys: &[String]) -> Vec<Vec<String>> {
    let size = if workload == Workload::Txn {
        FINAL_TXN_KEYS
    } else {
        1
    };
    keys.chunks(size).map(<[String]>::to_vec).collect()
}

/// The op that reads a group of [`read_groups`].
fn group_read(workload: Workload, group: &[String]) -> OpRequest {
    if workload == Workload::Txn {
        OpRequest::txn_reads(group)
    } else {
        // Groups of one key outside the txn workload.
        OpRequest::read(workload, group.first().cloned().unwrap_or_default())
    }
}

#[allow(clippy::too_many_arguments)]
async fn read_through<C: Client>(
    client: &C,
    workload: Workload,
    keys: &[String],
    node: NodeId,
    process_step: u64,
    recorder: &dyn Recorder,
    first_process: u64,
    deadline: Instant,
) -> NodeReads {
    let mut done = NodeReads {
        attempted: 0,
        ok: 0,
        last_process: first_process,
        missing: Vec::new(),
    };
    let mut missing = read_groups(workload, keys);
    let mut process = first_process;
    while !missing.is_empty() && Instant::now() < deadline {
        let mut still_missing = Vec::new();
        for group in std::mem::take(&mut missing) {
            if Instant::now() >= deadline {
                still_missing.push(group);
                continue;
            }
            let read = group_read(workload, &group);
            done.attempted += 1;
            let answer = perform(client, recorder, process, node, &read, Some(deadline)).await;
            match answer.completion {
                Completion::Ok(_) => done.ok += 1,
                Completion::Fail { .. } => still_missing.push(group),
                Completion::Info { .. } => {
                    process += process_step;
                    still_missing.push(group);
                }
            }
        }
        missing = still_missing;
        if !missing.is_empty() {
            sleep_until((Instant::now() + RETRY_PAUSE).min(deadline)).await;
        }
    }
    done.missing = missing.into_iter().flatten().collect();
    done.last_process = process;
    done
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use checker::{EventType, Process};

    use super::*;
    use crate::fake::{assert_well_formed, FakeCluster};
    use crate::recorder::MemoryRecorder;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[tokio::test]
    async fn reads_every_key_through_every_node_with_fresh_processes() {
        let cluster = FakeCluster::new(Duration::from_millis(1), 0);
        let recorder = MemoryRecorder::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let done = final_reads(
            &cluster,
            Workload::Append,
            &keys(&["l0", "l1"]),
            3,
            &recorder,
            10,
            deadline,
        )
        .await;
        assert_eq!((done.attempted, done.ok, done.next_process), (6, 6, 13));
        assert!(done.missing.is_empty());
        let events = recorder.events();
        assert_well_formed(&events);
        let pairs: BTreeSet<(String, String)> = events
            .iter()
            .filter(|e| e.kind == EventType::Ok)
            .map(|e| {
                (
                    e.key.clone().unwrap_or_default(),
                    e.node.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(pairs.len(), 6);
        let processes: BTreeSet<Process> = events.iter().map(|e| e.process).collect();
        assert_eq!(
            processes,
            BTreeSet::from([
                Process::Client(10),
                Process::Client(11),
                Process::Client(12)
            ])
        );
    }

    #[tokio::test]
    async fn txn_final_reads_are_read_only_transactions_of_a_few_keys_each() {
        let cluster = FakeCluster::new(Duration::from_millis(1), 0);
        let recorder = MemoryRecorder::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let names: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
        let done = final_reads(&cluster, Workload::Txn, &names, 2, &recorder, 0, deadline).await;
        // 6 keys in groups of 4 and 2, through each of 2 nodes.
        assert_eq!((done.attempted, done.ok), (4, 4));
        assert!(done.missing.is_empty());
        let events = recorder.events();
        assert_well_formed(&events);
        let mut read: BTreeSet<(String, String)> = BTreeSet::new();
        for event in events.iter().filter(|e| e.kind == EventType::Ok) {
            assert_eq!((event.f.as_str(), &event.key), ("txn", &None));
            let ops = event.value.as_array().expect("a list");
            assert!(ops.len() <= FINAL_TXN_KEYS);
            for op in ops {
                assert_eq!(
                    (&op[0], &op[2]),
                    (&serde_json::json!("r"), &serde_json::json!([]))
                );
                let key = op[1].as_str().expect("a string").to_string();
                read.insert((key, event.node.clone().unwrap_or_default()));
            }
        }
        assert_eq!(read.len(), 12, "every key through every node: {read:?}");
    }

    #[tokio::test]
    async fn retries_a_node_that_fails_until_the_deadline_and_names_what_is_missing() {
        let cluster = FakeCluster::new(Duration::from_millis(1), 0);
        cluster.down.lock().expect("not poisoned").insert(NodeId(1));
        let recorder = MemoryRecorder::new();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(350);
        let done = final_reads(
            &cluster,
            Workload::Counter,
            &keys(&["c0", "c1"]),
            3,
            &recorder,
            0,
            deadline,
        )
        .await;
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(done.ok, 4);
        assert!(done.attempted >= 4 + 2 * 3, "{done:?}");
        assert_eq!(
            done.missing,
            vec![("c0".to_string(), NodeId(1)), ("c1".to_string(), NodeId(1))]
        );
        assert_well_formed(&recorder.events());
    }

    #[tokio::test]
    async fn a_read_that_ends_in_info_moves_its_process_on() {
        // A protocol that records lost reads as info (raftkv's records fail).
        struct InfoReads(FakeCluster);
        impl Client for InfoReads {
            async fn invoke(&self, node: NodeId, op: &OpRequest) -> crate::Answer {
                let mut answer = self.0.invoke(node, op).await;
                if let Completion::Fail { error } = answer.completion {
                    answer.completion = Completion::Info { error };
                }
                answer
            }
            async fn leader(&self) -> Option<NodeId> {
                None
            }
            async fn committed_log(&self, _: NodeId, _: u64, _: usize) -> Option<crate::LogPage> {
                None
            }
        }
        let client = InfoReads(FakeCluster::new(Duration::ZERO, 2));
        let recorder = MemoryRecorder::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let done = final_reads(
            &client,
            Workload::Set,
            &keys(&["s0", "s1", "s2"]),
            2,
            &recorder,
            0,
            deadline,
        )
        .await;
        assert!(done.missing.is_empty());
        assert_well_formed(&recorder.events());
        assert!(done.next_process > 2, "{done:?}");
        assert_eq!(
            done.attempted - done.ok,
            recorder
                .events()
                .iter()
                .filter(|e| e.kind == EventType::Info)
                .count() as u64
        );
    }

    #[tokio::test]
    async fn recovery_is_seen_when_any_node_serves() {
        let cluster = FakeCluster::new(Duration::from_millis(1), 0);
        cluster
            .down
            .lock()
            .expect("not poisoned")
            .extend([NodeId(0), NodeId(2)]);
        let deadline = Instant::now() + Duration::from_secs(2);
        let took = wait_for_recovery(&cluster, Workload::Register, 3, deadline).await;
        assert!(
            took.is_some_and(|took| took < Duration::from_millis(100)),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn recovery_gives_up_at_the_deadline() {
        let cluster = FakeCluster::new(Duration::from_millis(1), 0);
        cluster
            .down
            .lock()
            .expect("not poisoned")
            .extend(NodeId::all(3));
        let started = Instant::now();
        let took = wait_for_recovery(
            &cluster,
            Workload::Set,
            3,
            started + Duration::from_millis(250),
        )
        .await;
        assert_eq!(took, None);
        assert!(started.elapsed() < Duration::from_millis(400));
    }
}
