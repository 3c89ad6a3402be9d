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
//! - New connections while a link is cut: with [`Blocked::Blackhole`](crate::Blocked::Blackhole) (the
//!   default) the proxy accepts and holds them; a connection whose both
//!   directions are cut is not even dialled upstream until a heal, and a
//!   direction that is cut forwards nothing (its bytes wait in the kernel,
//!   as unacknowledged segments wait for retransmission after a dropped-packet
//!   partition). The open direction of a one-way cut flows normally. With
//!   [`Blocked::Refuse`](crate::Blocked::Refuse) the proxy closes a new connection as soon as it
//!   accepts it if either of its directions is cut.
//! - Healing lets held directions forward again; nothing is replayed or lost.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::links::{Delay, Link, LinkTable, NetworkOptions, Shared};
use crate::procfs::ProcessTable;
use crate::proxy::{self, Route};
use crate::{Error, NodeId, Partition, Result};

/// A connection through a proxy, as [`Network::connections`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// The node that dialled, if known (always known for per-link proxies).
    pub dialler: Option<NodeId>,
    /// The node the connection goes to.
    pub target: NodeId,
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
