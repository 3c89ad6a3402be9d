//! Process supervision, TCP proxies that partition links without iptables,
//! and fault schedules (see docs/design.md, "Faults without iptables").
//!
//! The crate knows nodes and faults, never histories. Its parts:
//!
//! - [`NodeSpec`], [`Readiness`] (`spec`): how to start node i.
//! - [`Supervisor`] (`supervisor`): start (gated on readiness), `pause` /
//!   `resume`, `kill` / `restart`, `stop`, `teardown`; no node outlives it.
//!   Children are forked from one long-lived thread (`spawner`) so that their
//!   parent-death signal fires only when the harness process dies.
//! - [`Network`] (`network`, `proxy`): per-link and per-node inbound TCP
//!   proxies on 127.0.0.1, and the directed links they cut and heal.
//! - `procfs`, `sock_diag`: process states and groups, and which node
//!   dialled a socket (netlink `sock_diag`, falling back to /proc/net/tcp).
//! - [`Shape`], [`Victims`], [`Partition`] (`shape`): fault shapes and targets.
//! - [`FaultMix`] (`fault`): the `--nemesis` list.
//! - [`Disks`] (`disk`): a lazyfs mount per node for `power`, `powercycle`
//!   and `corrupt` (docs/disk.md).
//! - [`Schedule`], [`Fault`] (`schedule`): the seeded plan of faults.
//! - [`Nemesis`], [`NemesisEvent`] (`nemesis`): apply, undo, `heal_all`, and
//!   the serializable description of every action for the history; with an
//!   [`Observe`] (what each node says of itself, [`NodeView`]) it also plays
//!   `figure8`, which acts on who leads and what they commit.
//!
//! Node ids are [`NodeId`]: a zero-based index, written `n1`, `n2`, ...

#![warn(missing_docs)]

mod disk;
mod error;
mod fault;
mod links;
mod nemesis;
mod network;
mod node;
pub mod procfs;
mod proxy;
mod rng;
mod schedule;
mod shape;
mod sock_diag;
mod spawner;
mod spec;
mod supervisor;

pub use disk::{glob_match, CorruptKind, Corruption, DiskLoss, Disks, Dropped};
pub use error::{Error, Result};
pub use fault::{FaultMix, FaultSpec};
pub use links::{Blocked, Delay, Link, NetworkOptions, UnknownDialler};
pub use nemesis::{Action, Nemesis, NemesisEvent, NodeView, Observe, LEADER_TIMEOUT};
pub use network::{ConnectionInfo, Network, PartitionGuard};
pub use node::{BadNodeName, NodeId};
pub use procfs::ProcessTable;
pub use rng::Rng;
pub use schedule::{Fault, Schedule};
pub use shape::{majority, Partition, Shape, Victims};
pub use spec::{NodeSpec, Readiness, ReadinessProbe};
pub use supervisor::{PauseGuard, Supervisor};
