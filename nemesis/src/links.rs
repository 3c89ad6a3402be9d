//! The state a [`Network`](crate::Network) shares with its proxies: links,
//! their delays and cuts, the options, and the registry of live
//! connections. `network` (the control side) and `proxy` (the data side)
//! both import this module; it imports neither.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::NodeId;

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
    pub(crate) fn carries(&self, link: Link) -> bool {
        self.dialler.is_some_and(|dialler| {
            (link.from == dialler && link.to == self.target)
                || (link.from == self.target && link.to == dialler)
        })
    }
}

/// What every proxy task of a network holds: the link table, the registry
/// of live connections and the options.
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

/// Connections hold `Arc<Shared>`; this id keeps their registry entries unique.
pub(crate) fn next_id(shared: &Shared) -> u64 {
    shared.next_connection.fetch_add(1, Ordering::Relaxed)
}
