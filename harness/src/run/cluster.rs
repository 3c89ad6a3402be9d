//! Setting up a cluster: ports, proxies, node commands, start-up.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use nemesis::{
    Disks, Network, NetworkOptions, NodeId, NodeSpec, ProcessTable, Readiness, Supervisor,
};
use results::RunDir;
use serde::Serialize;

use super::Plan;
use crate::target::{node_name, NodeContext, PartitionMode, PortKind, Probe};

/// A node as `test.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeRecord {
    /// `n1`, `n2`, ...
    pub id: String,
    /// The program run.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Its client API address.
    pub client_addr: SocketAddr,
    /// Its HTTP port (`{http_addr}`: NATS's monitoring), when the spec uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
    /// Its real peer listen address.
    pub peer_listen_addr: SocketAddr,
    /// Its log file.
    pub log: PathBuf,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// In runs with disk faults: the backing directory of the lazy file
    /// system mounted on `data_dir` (what the node synced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<PathBuf>,
}

/// A cluster ready to start: its processes, its network, its addresses.
pub struct Cluster {
    /// The node processes.
    pub supervisor: Arc<Supervisor>,
    /// The proxies between them.
    pub network: Arc<Network>,
    /// Each node's client API address.
    pub client_addrs: Vec<SocketAddr>,
    /// Each node's HTTP address (`{http_addr}`; NATS's monitoring port).
    pub http_addrs: Vec<SocketAddr>,
    /// What `test.json` says of each node.
    pub nodes: Vec<NodeRecord>,
    /// The nodes' lazy disks, in runs with disk faults.
    pub disks: Option<Arc<Disks>>,
    /// In runs with disk faults: the process that unmounts the disks if
    /// faultline dies without doing so (`kill -9`). Declared last, so it is
    /// dropped (and ends) after the disks.
    _mount_watcher: Option<lazyfs::Watcher>,
}

impl Cluster {
    /// Kills every node, closes the proxies and unmounts every disk (the
    /// backing directories stay, for `--keep-data`).
    pub fn teardown(&self) {
        self.supervisor.teardown();
        self.network.shutdown();
        if let Some(disks) = &self.disks {
            for error in disks.unmount_all() {
                eprintln!("faultline: warning: {error}");
            }
        }
    }
}

/// The backing directory of node `id`'s lazy disk: next to its data
/// directory, so that `--keep-data` keeps it and cleanup removes it.
fn disk_dir(run: &RunDir, id: &str) -> PathBuf {
    let data = run.data_dir(id);
    data.with_file_name(format!("{id}.disk"))
}

/// Unmounts lazyfs mounts under the store left by runs that died without
/// unmounting (their FUSE server is gone: the mount answers "not
/// connected"). Live mounts of another run on the same store are left alone.
///
/// # Errors
/// A stale mount that cannot be removed, naming the command that removes it.
pub fn cleanup_stale_mounts(store: &std::path::Path) -> Result<()> {
    let removed = lazyfs::remove_dead_mounts(store)
        .context("a stale lazyfs mount of an earlier run is in the way")?;
    for path in removed {
        eprintln!(
            "faultline: removed a stale lazyfs mount of an earlier run: {}",
            path.display()
        );
    }
    Ok(())
}

/// `count` distinct free ports on 127.0.0.1, held (bound) until the caller
/// drops the listeners: the proxies are opened meanwhile, so none of them
/// takes a node's port. Another socket may still take one before the node
/// binds it; the node then fails with "address in use" in its log, and
/// setup starts again on new ports.
fn free_addrs(count: usize) -> Result<(Vec<TcpListener>, Vec<SocketAddr>)> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot find free ports on 127.0.0.1")?;
    let addrs = listeners
        .iter()
        .map(|listener| listener.local_addr())
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot find free ports on 127.0.0.1")?;
    Ok((listeners, addrs))
}

/// Builds the proxies and the node specs (nothing starts yet).
///
/// # Errors
/// Ports, proxies, a template error, a program that does not exist.
pub async fn build(plan: &Plan, run: &RunDir, token: &str) -> Result<Cluster> {
    let n = plan.nodes;
    let spec = &plan.target;
    let network = Arc::new(Network::new(NetworkOptions::default()));
    let table = ProcessTable::new();
    let (held, addrs) = free_addrs(3 * n)?;
    let (client_addrs, rest) = addrs.split_at(n);
    let (peer_listen, http_addrs) = rest.split_at(n);
    let mut advertise = peer_listen.to_vec();
    let mut peers: Vec<Vec<(usize, SocketAddr)>> = vec![Vec::new(); n];
    match spec.partition {
        PartitionMode::PerLink => {
            for (i, peers_of_i) in peers.iter_mut().enumerate() {
                for (j, &upstream) in peer_listen.iter().enumerate() {
                    if i != j {
                        let proxy = network
                            .link_proxy(NodeId(i), NodeId(j), upstream)
                            .await
                            .context("cannot open a link proxy")?;
                        peers_of_i.push((j, proxy));
                    }
                }
            }
        }
        PartitionMode::Inbound => {
            for (j, &upstream) in peer_listen.iter().enumerate() {
                advertise[j] = network
                    .inbound_proxy(NodeId(j), upstream, table.clone())
                    .await
                    .context("cannot open an inbound proxy")?;
            }
            for (i, peers_of_i) in peers.iter_mut().enumerate() {
                peers_of_i.extend(
                    advertise
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(j, &addr)| (j, addr)),
                );
            }
        }
    }
    drop(held);
    let cluster: Vec<(usize, SocketAddr)> = advertise.iter().copied().enumerate().collect();
    let probe_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .context("cannot build an HTTP client")?;
    let mut specs = Vec::with_capacity(n);
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let id = node_name(i);
        let data_dir = std::path::absolute(run.data_dir(&id))
            .context("cannot make the data directory path absolute")?;
        let log = std::path::absolute(run.node_log(&id))
            .context("cannot make the node log path absolute")?;
        let context = NodeContext {
            index: i,
            data_dir: data_dir.clone(),
            client_addr: client_addrs[i],
            http_addr: http_addrs[i],
            peer_listen_addr: peer_listen[i],
            advertise_peer_addr: advertise[i],
            peers: peers[i].clone(),
            cluster: cluster.clone(),
            token: token.to_owned(),
        };
        let crate::target::NodeCommand {
            program,
            mut args,
            env,
        } = spec
            .command(&context, &plan.faultline)
            .with_context(|| format!("target {}", spec.name))?;
        args.extend(plan.node_args.iter().cloned());
        let program = if program == plan.faultline.display().to_string() {
            plan.faultline.clone()
        } else {
            crate::target::resolve_program(&program, &spec.program_dirs, spec.install.as_deref())?
        };
        let port = match spec.readiness.port {
            PortKind::Client => client_addrs[i],
            PortKind::Peer => peer_listen[i],
            PortKind::Http => http_addrs[i],
        };
        let readiness = match spec.readiness.probe {
            Probe::Started => Readiness::Started,
            Probe::Tcp => Readiness::TcpAccept(port),
            Probe::Http => {
                let url = format!("http://{port}{}", spec.readiness.path);
                let client = probe_client.clone();
                Readiness::Probe(Arc::new(move || {
                    let request = client.get(&url);
                    Box::pin(async move {
                        matches!(request.send().await, Ok(answer) if answer.status().is_success())
                    })
                }))
            }
        };
        let mut node = NodeSpec::new(program.clone(), data_dir.clone(), log.clone())
            .args(args.clone())
            .ready_when(readiness, spec.readiness.timeout);
        for (key, value) in &env {
            node = node.env(key.clone(), value.clone());
        }
        specs.push(node);
        records.push(NodeRecord {
            id,
            program,
            args,
            env,
            client_addr: client_addrs[i],
            http_addr: spec.uses_http_port().then_some(http_addrs[i]),
            peer_listen_addr: peer_listen[i],
            log,
            data_dir,
            disk: None,
        });
    }
    let (disks, mount_watcher) = if plan.mix.needs_disk() {
        let data = run.data_dir(&records[0].id);
        let under = data.parent().unwrap_or(&data);
        let watcher = lazyfs::Watcher::spawn(under)
            .context("cannot start the process that unmounts the lazy disks after a crash")?;
        let mut dirs = Vec::with_capacity(n);
        for record in &mut records {
            let backing = std::path::absolute(disk_dir(run, &record.id))
                .context("cannot make the disk directory path absolute")?;
            record.disk = Some(backing.clone());
            dirs.push((backing, record.data_dir.clone()));
        }
        let corruptible = spec
            .disk
            .as_ref()
            .map(|disk| disk.corruptible.clone())
            .unwrap_or_default();
        let disks = Disks::mount(
            dirs,
            corruptible,
            lazyfs::Options {
                strict: plan.strict_disk,
            },
        )
        .context("cannot mount the nodes' lazy disks")?;
        (Some(Arc::new(disks)), Some(watcher))
    } else {
        (None, None)
    };
    let supervisor = Arc::new(Supervisor::with_process_table(specs, table));
    Ok(Cluster {
        supervisor,
        network,
        client_addrs: client_addrs.to_vec(),
        http_addrs: http_addrs.to_vec(),
        nodes: records,
        disks,
        _mount_watcher: mount_watcher,
    })
}

/// The first line of `program --version`, for `test.json` (`None` when it
/// has none within two seconds).
pub fn program_version(program: &std::path::Path, faultline: &std::path::Path) -> Option<String> {
    if program == faultline {
        return Some(format!("faultline {}", env!("CARGO_PKG_VERSION")));
    }
    let mut child = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut text).ok()?;
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_owned)
}
