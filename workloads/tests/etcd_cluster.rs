//! The etcd client against a real 3-node etcd cluster (Debian's
//! `/usr/bin/etcd`, `apt-get install etcd-server`), started from the
//! built-in target spec `harness/targets/etcd.toml`: the recorded histories
//! are well formed and linearizable, serializable reads are served by a
//! node cut off from the others while linearizable ones are refused there,
//! and acknowledged writes read back at their revisions hold their values.
//!
//! Peer traffic passes through one inbound proxy per node (docs/nemesis.md,
//! "Per-node inbound mode (etcd)"); clients talk to the client ports
//! directly. nemesis's `Supervisor` starts the nodes one after another, each
//! once its peer port answers `GET /version`, and kills them at the end.
//! Data directories (~123 MB each) live in a temp dir removed afterwards.
//! Without `/usr/bin/etcd` these tests fail; they never skip.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use checker::anomalies::revision::{
    RevisionRead, RevisionWrite, ERROR_COMPACTED, ERROR_FUTURE_REVISION,
};
use checker::{Event, EventType, Verdict};
use nemesis::{
    Network, NetworkOptions, NodeId, NodeSpec, Partition, ProcessTable, Readiness, Shape,
    Supervisor,
};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use workloads::{
    final_reads, run_clients, wait_for_recovery, Client, ClientStats, Completion, EtcdClient,
    MemoryRecorder, OpRequest, ReadMode, Recorder, RunnerOptions, Workload,
};

mod common;
use common::{check, free_addrs, malformations};

const NODES: usize = 3;
const CLIENTS: usize = 4;
const START_ATTEMPTS: usize = 3;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// The built-in spec, relative to this crate.
fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../harness/targets/etcd.toml")
}

/// The fields of the built-in spec this test uses.
struct Spec {
    program: String,
    args: Vec<String>,
    cluster_entry: String,
    readiness_path: String,
}

fn string<'a>(table: &'a toml::Table, key: &str) -> &'a str {
    table
        .get(key)
        .and_then(toml::Value::as_str)
        .unwrap_or_else(|| panic!("etcd.toml: `{key}` is missing or not a string"))
}

/// Reads `harness/targets/etcd.toml` and checks the fields docs/targets.md
/// and docs/etcd.md call for.
fn read_spec() -> Spec {
    let path = spec_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let table: toml::Table = toml::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not valid TOML: {error}", path.display()));
    assert_eq!(string(&table, "name"), "etcd");
    assert_eq!(string(&table, "protocol"), "etcd");
    assert_eq!(string(&table, "partition"), "inbound");
    let readiness = table
        .get("readiness")
        .and_then(toml::Value::as_table)
        .expect("etcd.toml has a [readiness] table");
    assert_eq!(string(readiness, "probe"), "http");
    assert_eq!(string(readiness, "port"), "peer");
    let timeouts = table
        .get("timeouts")
        .and_then(toml::Value::as_table)
        .expect("etcd.toml has a [timeouts] table");
    for key in ["request", "leader", "recovery"] {
        assert!(string(timeouts, key).ends_with('s'), "timeouts.{key}");
    }
    let args: Vec<String> = table
        .get("args")
        .and_then(toml::Value::as_array)
        .expect("etcd.toml has `args`")
        .iter()
        .map(|arg| arg.as_str().expect("every arg is a string").to_string())
        .collect();
    Spec {
        program: string(&table, "program").to_string(),
        args,
        cluster_entry: string(&table, "cluster_entry").to_string(),
        readiness_path: string(readiness, "path").to_string(),
    }
}

/// Replaces each `{name}` in `template` by `values[name]` (docs/targets.md
/// placeholders; the harness has the real expansion, `{{`/`}}` included).
fn expand(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .unwrap_or_else(|| panic!("unclosed brace in {template:?}"))
            + start;
        let name = &rest[start + 1..end];
        let value = values
            .get(name)
            .unwrap_or_else(|| panic!("etcd.toml uses {{{name}}}, which this test does not set"));
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_builtin_spec_names_the_flags_etcd_needs() {
    let spec = read_spec();
    assert_eq!(spec.program, "/usr/bin/etcd");
    assert_eq!(spec.readiness_path, "/version");
    assert_eq!(spec.cluster_entry, "{peer_id}=http://{peer_addr}");
    let values: BTreeMap<&str, String> = [
        ("id", "n2"),
        ("data_dir", "/data/n2"),
        ("client_addr", "127.0.0.1:1002"),
        ("peer_listen_addr", "127.0.0.1:2002"),
        ("advertise_peer_addr", "127.0.0.1:3002"),
        (
            "cluster",
            "n1=http://127.0.0.1:3001,n2=http://127.0.0.1:3002",
        ),
        ("token", "tok"),
    ]
    .into_iter()
    .map(|(name, value)| (name, value.to_string()))
    .collect();
    let line = spec
        .args
        .iter()
        .map(|arg| expand(arg, &values))
        .collect::<Vec<_>>()
        .join(" ");
    for flags in [
        "--name n2 --data-dir /data/n2",
        "--listen-client-urls http://127.0.0.1:1002 --advertise-client-urls http://127.0.0.1:1002",
        "--listen-peer-urls http://127.0.0.1:2002",
        "--initial-advertise-peer-urls http://127.0.0.1:3002",
        "--initial-cluster n1=http://127.0.0.1:3001,n2=http://127.0.0.1:3002",
        "--initial-cluster-token tok --initial-cluster-state new",
        "--heartbeat-interval 10 --election-timeout 100",
        "--pre-vote=true",
        "--logger=zap --log-outputs=stderr",
    ] {
        assert!(line.contains(flags), "{flags:?} not in {line:?}");
    }
}

/// A readiness probe: `GET http://{addr}{path}` answers 2xx.
fn http_probe(addr: SocketAddr, path: &str) -> Readiness {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("a plain-HTTP client builds");
    let url = format!("http://{addr}{path}");
    Readiness::Probe(Arc::new(move || {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success())
        })
    }))
}

struct Cluster {
    supervisor: Supervisor,
    network: Network,
    client_addrs: Vec<SocketAddr>,
    _dir: tempfile::TempDir,
}

/// Starts a [`NODES`]-node etcd cluster from the built-in spec, peer
/// traffic through inbound proxies, retrying with fresh ports when a port
/// was taken between choosing and binding it.
async fn start_cluster() -> Cluster {
    let spec = read_spec();
    assert!(
        Path::new(&spec.program).is_file(),
        "{} is missing: install etcd with `apt-get install etcd-server` (Debian's etcd 3.4); \
         the etcd tests never skip",
        spec.program
    );
    for attempt in 1..=START_ATTEMPTS {
        let dir = tempfile::tempdir().expect("a temp dir");
        let table = ProcessTable::new();
        let network = Network::new(NetworkOptions::default());
        let addrs = free_addrs(2 * NODES);
        let (client_addrs, peer_listen) = addrs.split_at(NODES);
        let mut advertised = Vec::new();
        for node in NodeId::all(NODES) {
            let proxy = network
                .inbound_proxy(node, peer_listen[node.index()], table.clone())
                .await
                .expect("an inbound proxy binds on 127.0.0.1");
            advertised.push(proxy);
        }
        let cluster = NodeId::all(NODES)
            .map(|peer| {
                let values = BTreeMap::from([
                    ("peer_id", peer.to_string()),
                    ("peer_addr", advertised[peer.index()].to_string()),
                ]);
                expand(&spec.cluster_entry, &values)
            })
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("faultline-test-{}-{attempt}", std::process::id());
        let specs = NodeId::all(NODES)
            .map(|node| {
                let i = node.index();
                let data = dir.path().join(node.to_string());
                let values = BTreeMap::from([
                    ("id", node.to_string()),
                    ("data_dir", data.display().to_string()),
                    ("client_addr", client_addrs[i].to_string()),
                    ("peer_listen_addr", peer_listen[i].to_string()),
                    ("advertise_peer_addr", advertised[i].to_string()),
                    ("cluster", cluster.clone()),
                    ("token", token.clone()),
                ]);
                let args = spec.args.iter().map(|arg| expand(arg, &values));
                NodeSpec::new(&spec.program, &data, dir.path().join(format!("{node}.log")))
                    .args(args)
                    .ready_when(
                        http_probe(peer_listen[i], &spec.readiness_path),
                        Duration::from_secs(10),
                    )
            })
            .collect();
        let supervisor = Supervisor::with_process_table(specs, table);
        let started = Instant::now();
        match supervisor.start_all().await {
            Ok(()) => {
                eprintln!("{NODES} etcd nodes ready in {:?}", started.elapsed());
                return Cluster {
                    supervisor,
                    network,
                    client_addrs: client_addrs.to_vec(),
                    _dir: dir,
                };
            }
            Err(error) => {
                eprintln!("cluster start attempt {attempt} failed: {error}");
                supervisor.teardown();
            }
        }
    }
    panic!("could not start a {NODES}-node etcd cluster in {START_ATTEMPTS} attempts");
}

impl Cluster {
    fn client(&self, read_mode: ReadMode) -> Arc<EtcdClient> {
        Arc::new(EtcdClient::new(
            self.client_addrs.clone(),
            REQUEST_TIMEOUT,
            read_mode,
        ))
    }

    fn teardown(self) {
        self.supervisor.teardown();
        self.network.shutdown();
    }
}

async fn wait_for_leader(client: &EtcdClient) -> NodeId {
    let started = Instant::now();
    loop {
        if let Some(leader) = client.leader().await {
            eprintln!("leader {leader} after {:?}", started.elapsed());
            return leader;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no leader elected within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What one workload run recorded.
struct Recorded {
    recorder: Arc<MemoryRecorder>,
    counts: workloads::ClientCounts,
    keys: Vec<String>,
    next_process: u64,
}

/// Runs `workload` for `length` with [`CLIENTS`] clients on random nodes.
async fn run_phase(
    client: &Arc<EtcdClient>,
    workload: Workload,
    length: Duration,
    seed: u64,
) -> Recorded {
    let recorder = Arc::new(MemoryRecorder::new());
    let stats = Arc::new(ClientStats::default());
    let mut options = RunnerOptions::new(workload, NODES, seed);
    options.concurrency = CLIENTS;
    let (_stop, stopped) = watch::channel(false);
    let dyn_recorder: Arc<dyn Recorder> = recorder.clone();
    let done = run_clients(
        client.clone(),
        options.generator(),
        &options,
        dyn_recorder,
        stats.clone(),
        Instant::now() + length,
        stopped,
    )
    .await;
    let counts = stats.snapshot();
    assert_eq!(counts.invoked, counts.ok + counts.fail + counts.info);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for event in recorder.events() {
        if let Some(error) = event.error {
            *errors.entry(format!("{} {}", event.f, error)).or_default() += 1;
        }
    }
    eprintln!(
        "{workload} ({}): {} ops ({} ok, {} fail, {} info) on {} keys in {length:?}; errors {errors:?}",
        client.read_mode(),
        counts.invoked,
        counts.ok,
        counts.fail,
        counts.info,
        done.keys.len(),
    );
    Recorded {
        recorder,
        counts,
        keys: done.keys,
        next_process: done.next_process,
    }
}

/// Waits for the cluster to serve, reads every key through every node, and
/// checks that the history is well formed.
async fn final_phase(client: &Arc<EtcdClient>, workload: Workload, recorded: &Recorded) {
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
        &recorded.keys,
        NODES,
        recorded.recorder.as_ref(),
        recorded.next_process,
        Instant::now() + Duration::from_secs(5),
    )
    .await;
    assert!(reads.missing.is_empty(), "{workload}: {reads:?}");
    assert_eq!(reads.ok, (recorded.keys.len() * NODES) as u64);
    let problems = malformations(&recorded.recorder.events());
    assert!(problems.is_empty(), "{workload}: {problems:#?}");
}

/// [`run_phase`] then [`final_phase`].
async fn run_workload(
    client: &Arc<EtcdClient>,
    workload: Workload,
    length: Duration,
    seed: u64,
) -> Recorded {
    let recorded = run_phase(client, workload, length, seed).await;
    final_phase(client, workload, &recorded).await;
    recorded
}

fn assert_valid(recorded: &Recorded, workload: Workload) {
    let report = check(&recorded.recorder, workload);
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_append_and_set_histories_on_etcd_are_linearizable() {
    let cluster = start_cluster().await;
    let client = cluster.client(ReadMode::Linearizable);
    wait_for_leader(&client).await;

    let register = run_workload(&client, Workload::Register, Duration::from_secs(3), 7).await;
    assert!(
        register.counts.ok >= 300,
        "too few register ops succeeded: {:?}",
        register.counts
    );
    assert_valid(&register, Workload::Register);
    // Some cas must have gone each way for the run to test cas at all.
    let events = register.recorder.events();
    let cas_ok = events
        .iter()
        .filter(|e| e.f == "cas" && e.kind == EventType::Ok)
        .count();
    let cas_mismatch = events
        .iter()
        .filter(|e| e.f == "cas" && e.error.as_deref() == Some(Event::MISMATCH))
        .count();
    assert!(
        cas_ok > 0 && cas_mismatch > 0,
        "cas ok {cas_ok}, mismatch {cas_mismatch}"
    );

    for (workload, seed) in [(Workload::Append, 8), (Workload::Set, 9)] {
        let recorded = run_workload(&client, workload, Duration::from_millis(1500), seed).await;
        assert!(
            recorded.counts.ok >= 100,
            "too few {workload} ops succeeded: {:?}",
            recorded.counts
        );
        assert_valid(&recorded, workload);
    }

    // Counter is refused without a request.
    assert!(!EtcdClient::supports(Workload::Counter));
    let add = OpRequest {
        workload: Workload::Counter,
        f: "add".to_string(),
        key: "c0".to_string(),
        value: Value::from(1),
    };
    let answer = client.invoke(NodeId(0), &add).await;
    assert_eq!(answer.completion, Completion::fail("unsupported"));
    cluster.teardown();
}

/// A `txn` run on a real cluster, then read-only transactions of every key
/// through every node. Without the transaction check (docs/checks.md), what
/// one Txn per transaction must give: every read of a key is a prefix of
/// the key's longest read (one order per key), each read ends with the
/// transaction's own earlier appends, every acknowledged append is in its
/// key's final list, and guards both hold and fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_reads_follow_one_order_per_key_and_keep_every_acknowledged_append() {
    let cluster = start_cluster().await;
    let client = cluster.client(ReadMode::Linearizable);
    wait_for_leader(&client).await;
    let recorded = run_phase(&client, Workload::Txn, Duration::from_secs(3), 7).await;
    assert!(
        recorded.counts.ok >= 100,
        "too few transactions committed: {:?}",
        recorded.counts
    );
    let reads = final_reads(
        client.as_ref(),
        Workload::Txn,
        &recorded.keys,
        NODES,
        recorded.recorder.as_ref(),
        recorded.next_process,
        Instant::now() + Duration::from_secs(5),
    )
    .await;
    assert!(reads.missing.is_empty(), "{reads:?}");
    assert_eq!(
        reads.ok,
        (recorded.keys.len().div_ceil(workloads::FINAL_TXN_KEYS) * NODES) as u64
    );
    let events = recorded.recorder.events();
    let problems = malformations(&events);
    assert!(problems.is_empty(), "{problems:#?}");
    let mut lists: BTreeMap<String, Vec<Vec<Value>>> = BTreeMap::new();
    let mut acknowledged: Vec<(String, Value)> = Vec::new();
    let mut conflicts = 0;
    for event in &events {
        if event.error.as_deref() == Some(workloads::GUARD_FAILED) {
            conflicts += 1;
        }
        if event.kind != EventType::Ok {
            continue;
        }
        assert_eq!((event.f.as_str(), &event.key), ("txn", &None), "{event:?}");
        let mut own: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for op in event.value.as_array().expect("a txn's value is a list") {
            let key = op[1].as_str().expect("string keys").to_string();
            if op[0] == "append" {
                own.entry(key.clone()).or_default().push(op[2].clone());
                acknowledged.push((key, op[2].clone()));
            } else {
                let list = op[2].as_array().expect("an ok read is a list").clone();
                let mine = own.get(&key).cloned().unwrap_or_default();
                assert!(list.ends_with(&mine), "own appends unseen: {event:?}");
                lists.entry(key).or_default().push(list);
            }
        }
    }
    assert!(
        conflicts > 0,
        "no guard ever failed: the run tested nothing"
    );
    for (key, reads) in &lists {
        let longest = reads.iter().max_by_key(|list| list.len()).expect("a read");
        for list in reads {
            assert_eq!(
                list[..],
                longest[..list.len()],
                "{key}: {list:?} vs {longest:?}"
            );
        }
    }
    for (key, element) in &acknowledged {
        assert!(
            lists[key].iter().any(|list| list.contains(element)),
            "{key}: acknowledged append of {element} never read"
        );
    }
    cluster.teardown();
}

/// With one follower cut off from the others, it has no leader: with the
/// `hasleader` header its linearizable reads and its writes are refused
/// (`no-leader`), while serializable reads are served from its own state,
/// possibly stale. Stale reads are likely but not certain, so only the
/// history's shape is asserted, not its verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_node_serves_serializable_reads_but_refuses_linearizable_ones() {
    let cluster = start_cluster().await;
    let serializable = cluster.client(ReadMode::Serializable);
    let linearizable = cluster.client(ReadMode::Linearizable);
    let leader = wait_for_leader(&linearizable).await;
    let isolated = NodeId((leader.index() + 1) % NODES);
    let register_op = |f: &str, value: Value| OpRequest {
        workload: Workload::Register,
        f: f.to_string(),
        key: "r-isolation".to_string(),
        value,
    };
    let write = linearizable
        .invoke(isolated, &register_op("write", Value::from(1)))
        .await;
    assert_eq!(write.completion, Completion::Ok(Value::from(1)));

    let partition = Partition::isolate(Shape::One, NODES, isolated);
    let cut_at = Instant::now();
    let guard = cluster.network.partitioned(&partition);
    loop {
        let status = linearizable.status(isolated).await;
        if status
            .as_ref()
            .is_some_and(|status| status.leader.is_none())
        {
            eprintln!(
                "{isolated} has no leader {:?} after the cut",
                cut_at.elapsed()
            );
            break;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(5),
            "{isolated} still follows a leader 5 s after the cut: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The majority goes on: a write through another node succeeds, which
    // the isolated node cannot see.
    let write = linearizable
        .invoke(leader, &register_op("write", Value::from(2)))
        .await;
    assert_eq!(write.completion, Completion::Ok(Value::from(2)));

    let started = Instant::now();
    let read = serializable
        .invoke(isolated, &register_op("read", Value::Null))
        .await;
    assert_eq!(
        read.completion,
        Completion::Ok(Value::from(1)),
        "a serializable read on the isolated node answers from its own, stale state"
    );
    let read = linearizable
        .invoke(isolated, &register_op("read", Value::Null))
        .await;
    assert!(
        matches!(read.completion, Completion::Fail { .. }),
        "{read:?}"
    );
    eprintln!("a linearizable read there: {:?}", read.completion);
    let write = serializable
        .invoke(isolated, &register_op("write", Value::from(3)))
        .await;
    assert_eq!(write.completion, Completion::fail("no-leader"));
    eprintln!("isolated node's answers took {:?}", started.elapsed());

    // The register workload with serializable reads over every node while
    // the partition lasts; the final reads after the heal.
    let recorded = run_phase(
        &serializable,
        Workload::Register,
        Duration::from_millis(2500),
        13,
    )
    .await;
    let isolated_name = isolated.to_string();
    let during: Vec<Event> = recorded
        .recorder
        .events()
        .into_iter()
        .filter(|event| event.kind != EventType::Invoke)
        .filter(|event| event.node.as_deref() == Some(isolated_name.as_str()))
        .collect();
    drop(guard);
    let (reads, updates): (Vec<&Event>, Vec<&Event>) =
        during.iter().partition(|event| event.f == "read");
    assert!(
        !reads.is_empty() && !updates.is_empty(),
        "no op reached {isolated}"
    );
    for event in &reads {
        assert_eq!(event.kind, EventType::Ok, "{event:?}");
    }
    for event in &updates {
        assert_eq!(event.error.as_deref(), Some("no-leader"), "{event:?}");
    }
    final_phase(&serializable, Workload::Register, &recorded).await;
    let report = check(&recorded.recorder, Workload::Register);
    eprintln!(
        "{} reads and {} updates on the isolated {isolated}; verdict {:?} over {} ops",
        reads.len(),
        updates.len(),
        report.verdict,
        report.ops
    );
    cluster.teardown();
}

/// Every acknowledged put and cas carries etcd's revision, and each key
/// read at its write's revision (on every node in turn) still holds the
/// write's value: the `revisions` check is valid with every read judged.
/// After a compaction, reads below it are named `compacted`; a revision the
/// cluster never reached is named `future-revision`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_read_back_at_their_revisions() {
    let cluster = start_cluster().await;
    let client = cluster.client(ReadMode::Linearizable);
    wait_for_leader(&client).await;
    let recorded = run_phase(&client, Workload::Register, Duration::from_secs(2), 21).await;
    let events = recorded.recorder.events();
    for event in &events {
        let acknowledged_update =
            event.kind == EventType::Ok && (event.f == "write" || event.f == "cas");
        assert_eq!(event.revision.is_some(), acknowledged_update, "{event:?}");
    }
    let writes = checker::acknowledged_writes(&events);
    assert!(
        writes.len() >= 50,
        "only {} acknowledged writes",
        writes.len()
    );
    // One put or txn is one revision.
    let revisions: BTreeSet<u64> = writes.iter().map(|write| write.revision).collect();
    assert_eq!(revisions.len(), writes.len());

    let started = Instant::now();
    let reads = client
        .reads_at_revisions(&writes, Instant::now() + Duration::from_secs(5))
        .await;
    eprintln!(
        "{} writes read back at their revisions in {:?}",
        reads.len(),
        started.elapsed()
    );
    let report = checker::check_revisions(&reads);
    assert_eq!(
        report.verdict,
        Verdict::Valid,
        "{}: {:#?}",
        report.summary(),
        report.anomalies
    );
    let unjudged: Vec<&RevisionRead> = reads.iter().filter(|read| read.error.is_some()).collect();
    assert!(unjudged.is_empty(), "{unjudged:#?}");
    assert_eq!(report.stats["reads_ok"], writes.len() as u64);
    assert_eq!(report.stats["nodes"], NODES as u64);

    // Compact at the middle write's revision: every node forgets what came
    // before it (the compaction is applied by each node in turn).
    let middle = writes[writes.len() / 2].revision;
    let compaction = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain-HTTP client builds")
        .post(format!(
            "http://{}/v3/kv/compaction",
            cluster.client_addrs[0]
        ))
        .json(&serde_json::json!({"revision": middle.to_string(), "physical": true}))
        .send()
        .await
        .expect("the compaction is answered");
    assert!(compaction.status().is_success(), "{compaction:?}");
    let oldest = vec![writes[0].clone(); NODES];
    let compacted_everywhere = Instant::now();
    loop {
        let reads = client
            .reads_at_revisions(&oldest, Instant::now() + Duration::from_secs(2))
            .await;
        if reads
            .iter()
            .all(|read| read.error.as_deref() == Some(ERROR_COMPACTED))
        {
            break;
        }
        assert!(
            compacted_everywhere.elapsed() < Duration::from_secs(3),
            "not compacted on every node: {reads:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reads = client
        .reads_at_revisions(&writes, Instant::now() + Duration::from_secs(5))
        .await;
    for read in &reads {
        if read.revision < middle {
            assert_eq!(read.error.as_deref(), Some(ERROR_COMPACTED), "{read:?}");
        } else {
            assert_eq!(read.got.as_ref(), Some(&read.value), "{read:?}");
        }
    }
    assert_eq!(checker::check_revisions(&reads).verdict, Verdict::Valid);

    let last = writes.last().expect("writes were acknowledged");
    let future = RevisionWrite {
        revision: last.revision + 1_000_000,
        ..last.clone()
    };
    let reads = client
        .reads_at_revisions(&[future], Instant::now() + Duration::from_secs(2))
        .await;
    assert_eq!(
        reads[0].error.as_deref(),
        Some(ERROR_FUTURE_REVISION),
        "{reads:?}"
    );
    cluster.teardown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_name_the_leader_its_term_and_a_commit_index_that_moves_with_writes() {
    let cluster = start_cluster().await;
    let client = cluster.client(ReadMode::Linearizable);
    let leader = wait_for_leader(&client).await;
    // Followers learn the leader's term and commit index from its
    // heartbeats (every 10 ms): wait until every node agrees.
    let deadline = Instant::now() + Duration::from_secs(10);
    let views = loop {
        let views = client.views().await;
        let term = views[leader.index()].map(|view| view.term);
        if views
            .iter()
            .all(|view| view.is_some() && view.map(|v| v.term) == term)
        {
            break views;
        }
        assert!(Instant::now() < deadline, "views never agreed: {views:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let views: Vec<nemesis::NodeView> = views.into_iter().flatten().collect();
    let leaders: Vec<usize> = (0..NODES).filter(|&i| views[i].leader).collect();
    assert_eq!(leaders, vec![leader.index()], "{views:?}");
    let before = views[leader.index()].commit;
    assert!(
        before >= 1,
        "a leader has committed at least its first entry: {views:?}"
    );

    let write = OpRequest {
        workload: Workload::Register,
        f: "write".to_string(),
        key: "r-views".to_string(),
        value: Value::from(1),
    };
    for _ in 0..3 {
        let answer = client.invoke(leader, &write).await;
        assert_eq!(answer.completion, Completion::Ok(Value::from(1)));
    }
    let after = client.views().await[leader.index()]
        .expect("the leader answers")
        .commit;
    assert!(
        after >= before + 3,
        "commit {before} -> {after} after 3 writes"
    );
    cluster.teardown();
}
