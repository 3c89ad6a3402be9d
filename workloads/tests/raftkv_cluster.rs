//! Every workload against a real 3-node raftkv cluster: the recorded
//! history is well formed and linearizable, final reads reach every node,
//! and the nodes' committed logs agree.
//!
//! The nodes are this test binary started again with only [`raftkv_node`]
//! selected, which runs `raftkv::main_from_args`: the nodes run the raftkv
//! source this test was built with, and no separate binary has to be found
//! or built. nemesis's `Supervisor` starts them and kills them at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use checker::Verdict;
use nemesis::{NodeId, NodeSpec, Readiness, Supervisor};
use tokio::sync::watch;
use tokio::time::Instant;
use workloads::{
    final_reads, run_clients, wait_for_recovery, Client, ClientStats, MemoryRecorder, RaftkvClient,
    Recorder, RunnerOptions, Workload, DEFAULT_REQUEST_TIMEOUT,
};

/// The variable that turns [`raftkv_node`] into a node: the node's
/// arguments as a JSON array of strings.
mod common;
use common::{check, free_addrs, malformations};

const NODE_ARGS_ENV: &str = "FAULTLINE_TEST_RAFTKV_ARGS";
const NODES: usize = 3;
const CLIENTS: usize = 4;
const RUN_LENGTH: Duration = Duration::from_secs(2);
const START_ATTEMPTS: usize = 3;

/// The body of a node process, not a test of its own (see the file's doc).
#[test]
#[ignore = "the raftkv node process of the cluster test; without its variable it does nothing"]
fn raftkv_node() {
    let Ok(args) = std::env::var(NODE_ARGS_ENV) else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).expect("the test passes a JSON array");
    let code = raftkv::main_from_args(std::iter::once("raftkv".to_string()).chain(args));
    // The node runs until killed; returning means it could not start.
    eprintln!("raftkv node exited: {code:?}");
    std::process::exit(1);
}

struct Cluster {
    supervisor: Supervisor,
    client_addrs: Vec<SocketAddr>,
    dir: tempfile::TempDir,
}

/// Starts `NODES` raftkv processes with `extra` flags each, retrying with fresh ports when a port
/// was taken between choosing and binding it.
async fn start_cluster(extra: &[&str]) -> Cluster {
    let program = std::env::current_exe().expect("the test knows its own path");
    for attempt in 1..=START_ATTEMPTS {
        let dir = tempfile::tempdir().expect("a temp dir");
        let addrs = free_addrs(2 * NODES);
        let (client_addrs, peer_addrs) = addrs.split_at(NODES);
        let specs = (0..NODES)
            .map(|i| {
                let id = i + 1;
                let data = dir.path().join(format!("n{id}"));
                let mut args = vec![
                    "--id".to_string(),
                    id.to_string(),
                    "--data-dir".to_string(),
                    data.display().to_string(),
                    "--client-addr".to_string(),
                    client_addrs[i].to_string(),
                    "--peer-addr".to_string(),
                    peer_addrs[i].to_string(),
                    "--election-timeout-ms".to_string(),
                    "300".to_string(),
                    "--heartbeat-ms".to_string(),
                    "50".to_string(),
                ];
                args.extend(extra.iter().map(|arg| arg.to_string()));
                for (j, peer) in peer_addrs.iter().enumerate().filter(|&(j, _)| j != i) {
                    args.push("--peer".to_string());
                    args.push(format!("{}={peer}", j + 1));
                }
                let args = serde_json::to_string(&args).expect("strings serialize");
                NodeSpec::new(&program, &data, dir.path().join(format!("n{id}.log")))
                    .args(["raftkv_node", "--exact", "--ignored", "--nocapture"])
                    .env(NODE_ARGS_ENV, args)
                    .ready_when(
                        Readiness::TcpAccept(client_addrs[i]),
                        Duration::from_secs(10),
                    )
            })
            .collect();
        let supervisor = Supervisor::new(specs);
        match supervisor.start_all().await {
            Ok(()) => {
                return Cluster {
                    supervisor,
                    client_addrs: client_addrs.to_vec(),
                    dir,
                }
            }
            Err(error) => {
                eprintln!("cluster start attempt {attempt} failed: {error}");
                supervisor.teardown();
            }
        }
    }
    panic!("could not start a {NODES}-node raftkv cluster in {START_ATTEMPTS} attempts");
}

/// Runs `workload` for [`RUN_LENGTH`], then waits for recovery and reads
/// every key through every node, and checks what was recorded.
async fn run_workload(client: &Arc<RaftkvClient>, workload: Workload, to_leader: bool, rate: f64) {
    let recorder = Arc::new(MemoryRecorder::new());
    let stats = Arc::new(ClientStats::default());
    let mut options = RunnerOptions::new(workload, NODES, 7);
    options.concurrency = CLIENTS;
    options.to_leader = to_leader;
    options.rate = rate;
    let (_stop, stopped) = watch::channel(false);
    let dyn_recorder: Arc<dyn Recorder> = recorder.clone();
    let done = run_clients(
        client.clone(),
        options.generator(),
        &options,
        dyn_recorder,
        stats.clone(),
        Instant::now() + RUN_LENGTH,
        stopped,
    )
    .await;
    let counts = stats.snapshot();
    assert!(
        counts.ok >= 50,
        "{workload}: too few ops succeeded: {counts:?}"
    );
    assert_eq!(counts.invoked, counts.ok + counts.fail + counts.info);

    let recovered = wait_for_recovery(
        client.as_ref(),
        workload,
        NODES,
        Instant::now() + Duration::from_secs(5),
    )
    .await;
    assert!(
        recovered.is_some(),
        "{workload}: the cluster stopped serving"
    );
    let reads = final_reads(
        client.as_ref(),
        workload,
        &done.keys,
        NODES,
        recorder.as_ref(),
        done.next_process,
        Instant::now() + Duration::from_secs(5),
    )
    .await;
    assert!(reads.missing.is_empty(), "{workload}: {reads:?}");
    assert_eq!(reads.ok, (done.keys.len() * NODES) as u64);

    let events = recorder.events();
    let problems = malformations(&events);
    assert!(problems.is_empty(), "{workload}: {problems:#?}");
    let report = check(&recorder, workload);
    assert_eq!(
        report.verdict,
        Verdict::Valid,
        "{workload}: {:#?}",
        report
            .keys
            .iter()
            .filter(|k| !matches!(k.outcome, checker::KeyOutcome::Valid { .. }))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "{workload}: {} ops ({} ok, {} fail, {} info) on {} keys; recovered in {:?}; {} final reads",
        counts.invoked,
        counts.ok,
        counts.fail,
        counts.info,
        done.keys.len(),
        recovered.unwrap_or_default(),
        reads.attempted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_records_a_linearizable_history_on_raftkv() {
    let cluster = start_cluster(&[]).await;
    let client = Arc::new(RaftkvClient::new(
        cluster.client_addrs.clone(),
        DEFAULT_REQUEST_TIMEOUT,
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    let leader = loop {
        if let Some(leader) = client.leader().await {
            break leader;
        }
        assert!(Instant::now() < deadline, "no leader elected within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("leader: {leader}");

    // Spread over the nodes (followers redirect), and to the leader at a rate.
    run_workload(&client, Workload::Register, false, 0.0).await;
    run_workload(&client, Workload::Append, false, 0.0).await;
    run_workload(&client, Workload::Counter, true, 0.0).await;
    run_workload(&client, Workload::Set, true, 300.0).await;

    // The nodes' committed logs agree wherever two of them list an index.
    let mut by_index: BTreeMap<u64, BTreeSet<(u64, String)>> = BTreeMap::new();
    for node in NodeId::all(NODES) {
        let log = client
            .committed_log(node, 1, 100_000)
            .await
            .unwrap_or_else(|| panic!("{node} serves its log"));
        assert!(
            log.entries.len() > 100,
            "{node}: {} entries",
            log.entries.len()
        );
        let indexes: Vec<u64> = log.entries.iter().map(|entry| entry.0).collect();
        let expected: Vec<u64> = (1..=indexes.len() as u64).collect();
        assert_eq!(
            indexes, expected,
            "{node} lists its log from 1 without gaps"
        );
        for (index, term, digest) in log.entries {
            by_index.entry(index).or_default().insert((term, digest));
        }
    }
    let conflicts: Vec<_> = by_index.iter().filter(|(_, seen)| seen.len() > 1).collect();
    assert!(conflicts.is_empty(), "{conflicts:?}");

    cluster.supervisor.teardown();
    drop(cluster.dir);
}

/// With `--bug stale-read` every node answers reads from its own state. A
/// follower applies a write up to a heartbeat after the leader acknowledged
/// it, so with reads spread over every node and writes at full speed some
/// read returns an overwritten value: the history must be judged invalid,
/// even without faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_serving_stale_reads_are_caught() {
    let cluster = start_cluster(&["--bug", "stale-read"]).await;
    let client = Arc::new(RaftkvClient::new(
        cluster.client_addrs.clone(),
        DEFAULT_REQUEST_TIMEOUT,
    ));
    let recorder = Arc::new(MemoryRecorder::new());
    let mut options = RunnerOptions::new(Workload::Register, NODES, 11);
    options.concurrency = CLIENTS;
    let (_stop, stopped) = watch::channel(false);
    let dyn_recorder: Arc<dyn Recorder> = recorder.clone();
    run_clients(
        client,
        options.generator(),
        &options,
        dyn_recorder,
        Arc::new(ClientStats::default()),
        Instant::now() + RUN_LENGTH,
        stopped,
    )
    .await;
    assert!(malformations(&recorder.events()).is_empty());
    let report = check(&recorder, Workload::Register);
    assert_eq!(
        report.verdict,
        Verdict::Invalid,
        "stale reads went unnoticed in {} ops",
        report.ops
    );
    cluster.supervisor.teardown();
}
