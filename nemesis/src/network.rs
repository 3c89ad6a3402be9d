//! The network between nodes: proxies, the table of cut links, and cuts.
//!
//! # How a directed cut maps onto TCP
//!
//! A link is directed: `n1 -> n2` carries the bytes that n1 sends to n2. A
//! TCP connection between n1 and n2 carries both links, one per direction,
//! whoever dialled it: on a connection n1 dialled to n2, the dialler's bytes
//! are `n1 -> n2` and the answers are `n2 -> n1`. (etcd's streams are dialled
//! by the *receiver* of the data, so "n1 cannot send to n2" must block the
//! response direction of n2's connections to n1 as well; raftkv dials its
//! RPCs and gets the answers on the same connection.)
//!
//! - Cutting a link closes at once every live connection that carries it
//!   (both directions of those connections go away; the nodes see the
//!   connection close, as after a reset).
//! - New connections while a link is cut: with [`Blocked::Blackhole`] (the
//!   default) the proxy accepts and holds them; a connection whose both
//!   directions are cut is not even dialled upstream until a heal, and a
//!   direction that is cut forwards nothing (its bytes wait in the kernel,
//!   as unacknowledged segments wait for retransmission after a dropped-packet
//!   partition). The open direction of a one-way cut flows normally. With
//!   [`Blocked::Refuse`] the proxy closes a new connection as soon as it
//!   accepts it if either of its directions is cut.
//! - Healing lets held directions forward again; nothing is replayed or lost.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::procfs::ProcessTable;
use crate::proxy::{self, Route};
use crate::{Error, NodeId, Partition, Result};

/// A directed link: the bytes `from` sends to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Link {
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
}

impl Link {
    /// The link from `from` to `to`.
    #[must_use]
    pub fn new(from: NodeId, to: NodeId) -> Self {
        Self { from, to }
    }

    /// The same pair, the other way.
    #[must_use]
    pub fn reversed(self) -> Self {
        Self {
            from: self.to,
            to: self.from,
        }
    }
}

/// Extra latency on a link: every chunk of bytes waits `fixed` plus a uniform
/// random part of up to `jitter` before it is forwarded. Chunks stay in order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delay {
    /// Added to every chunk.
    pub fixed: Duration,
    /// The upper bound of the random part.
    pub jitter: Duration,
}

/// What a proxy does with a new connection on a cut link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Blocked {
    /// Accept it and forward nothing on the cut directions until a heal:
    /// what a dropped-packet partition looks like to the node.
    #[default]
    Blackhole,
    /// Close it at once: what an unreachable host that answers with resets
    /// looks like.
    Refuse,
}

/// What an inbound proxy does with a connection whose dialler is not a node
/// (or could not be found in /proc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownDialler {
    /// Forward it, whatever is cut, and log it.
    #[default]
    Allow,
    /// Close it at once, and log it.
    Refuse,
}

/// Options shared by every proxy of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkOptions {
    /// New connections on cut links.
    pub blocked: Blocked,
    /// Connections to an inbound proxy from a process that is not a node.
    pub unknown: UnknownDialler,
    /// How long a proxy tries to reach the real address of a node.
    pub connect_timeout: Duration,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        Self {
            blocked: Blocked::Blackhole,
            unknown: UnknownDialler::Allow,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The cut links and delays, shared with every connection through a watch
/// channel so that held connections wake up on a heal.
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkTable {
    pub(crate) cut: BTreeSet<Link>,
    pub(crate) delay: BTreeMap<Link, Delay>,
}

/// A live proxied connection, as the control side sees it.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) dialler: Option<NodeId>,
    pub(crate) target: NodeId,
    pub(crate) abort: AbortHandle,
}

impl Connection {
    /// Whether this connection carries `link` in one of its directions.
    fn carries(&self, link: Link) -> bool {
        self.dialler.is_some_and(|dialler| {
            (link.from == dialler && link.to == self.target)
                || (link.from == self.target && link.to == dialler)
        })
    }
}

/// A connection through a proxy, as [`Network::connections`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// The node that dialled, if known (always known for per-link proxies).
    pub dialler: Option<NodeId>,
    /// The node the connection goes to.
    pub target: NodeId,
}

pub(crate) struct Shared {
    pub(crate) links: watch::Sender<LinkTable>,
    pub(crate) connections: Mutex<BTreeMap<u64, Connection>>,
    pub(crate) next_connection: AtomicU64,
    pub(crate) options: NetworkOptions,
}

impl Shared {
    pub(crate) fn lock_connections(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Connection>> {
        self.connections
            .lock()
            .expect("the connection registry lock is never held across a panic")
    }
}

/// Every proxy of a cluster and the links between its nodes.
///
/// Create it inside a tokio runtime, add proxies (per link, or per node
/// inbound), give the nodes the proxy addresses, then `partition` / `heal`.
/// Dropping it stops every proxy and closes every proxied connection.
pub struct Network {
    shared: Arc<Shared>,
    listeners: Mutex<Vec<AbortHandle>>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("options", &self.shared.options)
            .field("cut", &self.shared.links.borrow().cut)
            .finish_non_exhaustive()
    }
}

fn loopback(addr: SocketAddr) -> Result<SocketAddr> {
    if addr.ip().is_loopback() {
        Ok(addr)
    } else {
        Err(Error::NotLoopback { addr })
    }
}

impl Network {
    /// A network with no proxies and no cuts.
    #[must_use]
    pub fn new(options: NetworkOptions) -> Self {
        let (links, _) = watch::channel(LinkTable::default());
        Self {
            shared: Arc::new(Shared {
                links,
                connections: Mutex::new(BTreeMap::new()),
                next_connection: AtomicU64::new(0),
                options,
            }),
            listeners: Mutex::new(Vec::new()),
        }
    }

    async fn listen(&self, route: Route) -> Result<SocketAddr> {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = TcpListener::bind(any)
            .await
            .map_err(|source| Error::Bind { addr: any, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr: any, source })?;
        let task = tokio::spawn(proxy::accept_loop(
            Arc::clone(&self.shared),
            listener,
            addr,
            route,
        ));
        self.listeners
            .lock()
            .expect("the listener list lock is never held across a panic")
            .push(task.abort_handle());
        Ok(addr)
    }

    /// A per-link proxy: listens on 127.0.0.1 (a fresh port, returned) and
    /// forwards to `upstream`, the real peer address of `to`. Give `from`
    /// this address as the address of peer `to`.
    ///
    /// # Errors
    /// `NotLoopback` for an upstream outside 127.0.0.0/8, `Bind`.
    pub async fn link_proxy(
        &self,
        from: NodeId,
        to: NodeId,
        upstream: SocketAddr,
    ) -> Result<SocketAddr> {
        let upstream = loopback(upstream)?;
        self.listen(Route::Link { from, to, upstream }).await
    }

    /// An inbound proxy in front of node `to`: listens on 127.0.0.1 (a
    /// fresh port, returned: advertise it as `to`'s peer address) and
    /// forwards to `upstream`, `to`'s real peer port. At accept it finds in
    /// /proc which node of `processes` dialled; connections from anyone else
    /// follow `NetworkOptions::unknown`.
    ///
    /// # Errors
    /// `NotLoopback` for an upstream outside 127.0.0.0/8, `Bind`.
    pub async fn inbound_proxy(
        &self,
        to: NodeId,
        upstream: SocketAddr,
        processes: ProcessTable,
    ) -> Result<SocketAddr> {
        let upstream = loopback(upstream)?;
        self.listen(Route::Inbound {
            to,
            upstream,
            processes,
        })
        .await
    }

    /// The options every proxy follows.
    #[must_use]
    pub fn options(&self) -> NetworkOptions {
        self.shared.options
    }

    /// Makes `cut` the exact set of cut links: links in it that were open
    /// are cut (their live connections closed at once), links not in it are
    /// healed. Returns how many live connections were closed.
    pub fn set_cuts(&self, cut: BTreeSet<Link>) -> usize {
        let mut newly_cut = Vec::new();
        self.shared.links.send_modify(|table| {
            newly_cut = cut.difference(&table.cut).copied().collect();
            table.cut = cut;
        });
        if newly_cut.is_empty() {
            return 0;
        }
        // The table changes before the registry is scanned, and connections
        // register before they read the table: a connection either sees the
        // cut itself or is found here.
        let doomed: Vec<AbortHandle> = self
            .shared
            .lock_connections()
            .values()
            .filter(|connection| newly_cut.iter().any(|&link| connection.carries(link)))
            .map(|connection| connection.abort.clone())
            .collect();
        for handle in &doomed {
            handle.abort();
        }
        tracing::debug!(cut = ?newly_cut, closed = doomed.len(), "links cut");
        doomed.len()
    }

    /// Applies a partition: exactly its cut links are cut, every other link
    /// heals. Returns how many live connections were closed.
    pub fn partition(&self, partition: &Partition) -> usize {
        self.set_cuts(partition.cuts.iter().copied().collect())
    }

    /// Applies a partition until the returned guard is dropped, which heals
    /// every link.
    #[must_use = "dropping the guard heals the partition at once"]
    pub fn partitioned(&self, partition: &Partition) -> PartitionGuard<'_> {
        self.partition(partition);
        PartitionGuard { network: self }
    }

    /// Cuts one directed link, leaving the rest as they are.
    pub fn cut(&self, link: Link) -> usize {
        let mut cut = self.cut_links();
        cut.insert(link);
        self.set_cuts(cut)
    }

    /// Heals one directed link, leaving the rest as they are.
    pub fn heal_link(&self, link: Link) {
        let mut cut = self.cut_links();
        cut.remove(&link);
        self.set_cuts(cut);
    }

    /// Heals every link.
    pub fn heal(&self) {
        self.set_cuts(BTreeSet::new());
    }

    /// The links cut now.
    #[must_use]
    pub fn cut_links(&self) -> BTreeSet<Link> {
        self.shared.links.borrow().cut.clone()
    }

    /// Whether a link is cut now.
    #[must_use]
    pub fn is_cut(&self, link: Link) -> bool {
        self.shared.links.borrow().cut.contains(&link)
    }

    /// Sets (or with `None` removes) the extra latency of a link; applies to
    /// bytes read after the call.
    pub fn set_delay(&self, link: Link, delay: Option<Delay>) {
        self.shared.links.send_modify(|table| match delay {
            Some(delay) => {
                table.delay.insert(link, delay);
            }
            None => {
                table.delay.remove(&link);
            }
        });
    }

    /// Every live proxied connection.
    #[must_use]
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared
            .lock_connections()
            .values()
            .map(|connection| ConnectionInfo {
                dialler: connection.dialler,
                target: connection.target,
            })
            .collect()
    }

    /// Stops every proxy and closes every proxied connection. Also runs on drop.
    pub fn shutdown(&self) {
        for handle in self
            .listeners
            .lock()
            .expect("the listener list lock is never held across a panic")
            .drain(..)
        {
            handle.abort();
        }
        let handles: Vec<AbortHandle> = self
            .shared
            .lock_connections()
            .values()
            .map(|connection| connection.abort.clone())
            .collect();
        for handle in handles {
            handle.abort();
        }
    }
}

/// Heals every link of its network when dropped (see `Network::partitioned`).
#[must_use = "dropping the guard heals the partition at once"]
#[derive(Debug)]
pub struct PartitionGuard<'a> {
    network: &'a Network,
}

impl PartitionGuard<'_> {
    /// Heals now (the same as dropping the guard).
    pub fn heal(self) {}
}

impl Drop for PartitionGuard<'_> {
    fn drop(&mut self) {
        self.network.heal();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Connections hold `Arc<Shared>`; this id keeps their registry entries unique.
pub(crate) fn next_id(shared: &Shared) -> u64 {
    shared.next_connection.fetch_add(1, Ordering::Relaxed)
}
