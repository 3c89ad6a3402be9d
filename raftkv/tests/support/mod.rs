//! Starting real `raftkv` processes on loopback for end-to-end tests.
//!
//! Every process dies with the test: [`Cluster`]'s `Drop` resumes paused
//! nodes, SIGKILLs every node and waits for it.
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// Election timeout given to test clusters, in milliseconds.
pub const ELECTION_TIMEOUT_MS: u64 = 300;
/// Heartbeat interval given to test clusters, in milliseconds.
pub const HEARTBEAT_MS: u64 = 50;
/// Generous bound for anything the cluster should do within about a second.
pub const PATIENCE: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 3;

/// One node process and what it needs to be restarted.
pub struct Node {
    /// The node id, 1-based.
    pub id: u64,
    /// Address of its client API.
    pub client_addr: String,
    args: Vec<String>,
    log_path: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("node log file opens in the test's temp dir");
        let child = Command::new(env!("CARGO_BIN_EXE_raftkv"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the raftkv binary built by cargo starts");
        self.child = Some(child);
        self.paused = false;
    }

    fn pid(&self) -> Pid {
        let child = self
            .child
            .as_ref()
            .expect("only running nodes are signalled");
        pid_of(child)
    }

    fn signal(&self, signal: Signal) {
        // A pid we spawned and have not reaped yet.
        let result = kill(self.pid(), signal);
        assert_eq!(result, Ok(()), "{signal} to node {} failed", self.id);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                // A stopped process must be resumed to be reaped promptly.
                let _ = kill(pid_of(&child), Signal::SIGCONT);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_some())
    }
}

/// A cluster of `raftkv` processes with their own temp directory.
pub struct Cluster {
    /// Nodes, index `id - 1`.
    pub nodes: Vec<Node>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
    links: std::collections::BTreeMap<(u64, u64), Link>,
}

/// The pid of a child this process started.
fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pids fit in i32"))
}

fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("an ephemeral loopback port is free"))
        .collect();
    listeners
        .iter()
        .map(|listener| {
            listener
                .local_addr()
                .expect("bound socket has an address")
                .port()
        })
        .collect()
}

impl Cluster {
    /// Starts `size` nodes with `extra` flags each and waits until every
    /// node answers `GET /status`. Unless `extra` sets them, the timing is
    /// [`ELECTION_TIMEOUT_MS`] and [`HEARTBEAT_MS`]. Retries with fresh ports when a port
    /// was taken between choosing and binding it.
    pub async fn start(size: u64, extra: &[&str]) -> Cluster {
        Cluster::start_with_links(size, extra, false).await
    }

    /// Like [`Cluster::start`]; with `proxied`, node i reaches node j
    /// through a proxy for the link i->j that [`Cluster::isolate`] can
    /// blackhole.
    pub async fn start_with_links(size: u64, extra: &[&str], proxied: bool) -> Cluster {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client builds");
        for attempt in 1..=START_ATTEMPTS {
            let dir = tempfile::tempdir().expect("temp dir");
            let ports = free_ports(2 * size as usize);
            let client = |id: u64| format!("127.0.0.1:{}", ports[(2 * (id - 1)) as usize]);
            let peer = |id: u64| format!("127.0.0.1:{}", ports[(2 * (id - 1) + 1) as usize]);
            let mut nodes = Vec::new();
            let mut links = std::collections::BTreeMap::new();
            if proxied {
                for from in 1..=size {
                    for to in (1..=size).filter(|&to| to != from) {
                        links.insert((from, to), Link::start(peer(to)).await);
                    }
                }
            }
            for id in 1..=size {
                let mut args = vec![
                    "--id".to_string(),
                    id.to_string(),
                    "--data-dir".to_string(),
                    dir.path().join(format!("n{id}")).display().to_string(),
                    "--client-addr".to_string(),
                    client(id),
                    "--peer-addr".to_string(),
                    peer(id),
                ];
                if !extra.iter().any(|arg| {
                    arg.starts_with("--election-timeout-ms") || arg.starts_with("--heartbeat-ms")
                }) {
                    for (flag, value) in [
                        ("--election-timeout-ms", ELECTION_TIMEOUT_MS),
                        ("--heartbeat-ms", HEARTBEAT_MS),
                    ] {
                        args.push(flag.to_string());
                        args.push(value.to_string());
                    }
                }
                for other in (1..=size).filter(|&other| other != id) {
                    args.push("--peer".to_string());
                    let addr = links
                        .get(&(id, other))
                        .map_or_else(|| peer(other), |link: &Link| link.addr.clone());
                    args.push(format!("{other}={addr}"));
                }
                args.extend(extra.iter().map(|arg| arg.to_string()));
                let log_path = dir.path().join(format!("n{id}.log"));
                nodes.push(Node {
                    id,
                    client_addr: client(id),
                    args,
                    log_path,
                    child: None,
                    paused: false,
                });
            }
            let mut cluster = Cluster {
                nodes,
                dir,
                http: http.clone(),
                links,
            };
            for node in &mut cluster.nodes {
                node.spawn();
            }
            if cluster.wait_until_all_answer().await {
                return cluster;
            }
            eprintln!(
                "cluster start attempt {attempt} failed (a port was probably taken); retrying"
            );
        }
        panic!("could not start a {size}-node cluster in {START_ATTEMPTS} attempts");
    }

    async fn wait_until_all_answer(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        for id in 1..=self.nodes.len() as u64 {
            while self.status(id).await.is_none() {
                if self.nodes[(id - 1) as usize].exited() || Instant::now() > deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        true
    }

    fn node(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Ids of all nodes.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|node| node.id).collect()
    }

    /// SIGKILLs a node and reaps it.
    pub fn kill(&mut self, id: u64) {
        self.node(id).kill();
    }

    /// Starts a killed node again with the same flags and data directory.
    pub async fn restart(&mut self, id: u64) {
        self.node(id).spawn();
        let deadline = Instant::now() + PATIENCE;
        while self.status(id).await.is_none() {
            assert!(
                !self.node(id).exited(),
                "node {id} exited on restart; see {}",
                self.node(id).log_path.display()
            );
            assert!(
                Instant::now() < deadline,
                "node {id} did not answer after restart"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Blackholes every link to and from `id`: live connections are cut,
    /// new ones are accepted and held without forwarding anything.
    pub fn isolate(&self, id: u64) {
        for (&(from, to), link) in &self.links {
            if from == id || to == id {
                link.blackhole.send_replace(true);
            }
        }
    }

    /// Forwards every link again.
    pub fn heal(&self) {
        for link in self.links.values() {
            link.blackhole.send_replace(false);
        }
    }

    /// SIGSTOPs a node.
    pub fn pause(&mut self, id: u64) {
        let node = self.node(id);
        node.signal(Signal::SIGSTOP);
        node.paused = true;
    }

    /// SIGCONTs a paused node.
    pub fn resume(&mut self, id: u64) {
        let node = self.node(id);
        node.signal(Signal::SIGCONT);
        node.paused = false;
    }

    /// `GET /status` of a node, `None` if it does not answer.
    pub async fn status(&self, id: u64) -> Option<Value> {
        let (code, body) = self.get(id, "/status").await?;
        (code == 200).then_some(body)
    }

    /// A GET; `None` if the node does not answer.
    pub async fn get(&self, id: u64, path: &str) -> Option<(u16, Value)> {
        let url = format!("http://{}{path}", self.nodes[(id - 1) as usize].client_addr);
        let response = self.http.get(url).send().await.ok()?;
        let code = response.status().as_u16();
        Some((code, response.json().await.ok()?))
    }

    /// A POST of a JSON body; `None` if the node does not answer.
    pub async fn post(&self, id: u64, path: &str, body: Value) -> Option<(u16, Value)> {
        let url = format!("http://{}{path}", self.nodes[(id - 1) as usize].client_addr);
        let response = self.http.post(url).json(&body).send().await.ok()?;
        let code = response.status().as_u16();
        Some((code, response.json().await.ok()?))
    }

    /// The leader as reported by a node among `among` that says it leads,
    /// with the highest term; waits up to [`PATIENCE`].
    pub async fn wait_for_leader(&self, among: &[u64]) -> u64 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(leader) = self.current_leader(among).await {
                return leader;
            }
            assert!(
                Instant::now() < deadline,
                "no leader among {among:?} within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The node among `among` that reports itself leader in the highest term, if any.
    pub async fn current_leader(&self, among: &[u64]) -> Option<u64> {
        let mut best: Option<(u64, u64)> = None;
        for &id in among {
            if let Some(status) = self.status(id).await {
                let term = status["term"].as_u64().unwrap_or(0);
                if status["role"] == "leader" && best.is_none_or(|(best_term, _)| term > best_term)
                {
                    best = Some((term, id));
                }
            }
        }
        best.map(|(_, id)| id)
    }

    /// Writes `key = value` through whichever node leads, retrying on
    /// definite errors and timeouts until [`PATIENCE`] runs out.
    pub async fn write(&self, among: &[u64], key: &str, value: Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let leader = self.wait_for_leader(among).await;
            let body = serde_json::json!({ "key": key, "value": value });
            if let Some((200, _)) = self.post(leader, "/kv/write", body).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "could not write {key} within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads `key` linearizably through whichever node leads.
    pub async fn read(&self, among: &[u64], key: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let leader = self.wait_for_leader(among).await;
            if let Some((200, body)) = self
                .post(leader, "/kv/read", serde_json::json!({ "key": key }))
                .await
            {
                return body["value"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "could not read {key} within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until node `id` has applied at least `index`.
    pub async fn wait_applied(&self, id: u64, index: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let applied = self
                .status(id)
                .await
                .and_then(|status| status["last_applied"].as_u64())
                .unwrap_or(0);
            if applied >= index {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} applied only {applied} of {index} within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every committed entry of a node, page by page.
    pub async fn committed_log(&self, id: u64) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut from = 1;
        for _ in 0..10_000 {
            let (code, page) = self
                .get(id, &format!("/log?from={from}&limit=1000"))
                .await
                .expect("node answers /log");
            assert_eq!(code, 200, "{page}");
            entries.extend(
                page["entries"]
                    .as_array()
                    .expect("entries is an array")
                    .iter()
                    .cloned(),
            );
            match page["next"].as_u64() {
                Some(next) => from = next,
                None => return entries,
            }
        }
        panic!("log of node {id} never ended");
    }

    /// The stderr of every node, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            text.push_str(&format!("---- node {} ----\n", node.id));
            text.push_str(&std::fs::read_to_string(&node.log_path).unwrap_or_default());
        }
        text
    }

    /// Where node logs are kept.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if std::thread::panicking() {
            let logs = self.logs();
            let tail: String = logs
                .lines()
                .rev()
                .take(200)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("node logs (last 200 lines):\n{tail}");
        }
    }
}

/// A TCP proxy for one directed link between nodes.
pub struct Link {
    /// Where the sending node connects.
    pub addr: String,
    blackhole: tokio::sync::watch::Sender<bool>,
}

impl Link {
    async fn start(target: String) -> Link {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("an ephemeral loopback port is free");
        let addr = listener
            .local_addr()
            .expect("bound socket has an address")
            .to_string();
        let (blackhole, state) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            // Connections accepted while blackholed are held here, never read.
            let mut held = Vec::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *state.borrow() {
                    held.push(inbound);
                    continue;
                }
                let mut state = state.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        // A partition cuts live connections.
                        _ = state.wait_for(|blackholed| *blackholed) => {}
                    }
                });
            }
        });
        Link { addr, blackhole }
    }
}
