//! What /proc says about processes and sockets: process state, process
//! groups, and which node dialled a connection.

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use nix::sys::socket::AddressFamily;

use crate::NodeId;

/// Which process group each node runs in, shared between the `Supervisor`
/// (which writes it at every start) and inbound proxies (which read it to
/// find who dialled them).
#[derive(Clone, Debug, Default)]
pub struct ProcessTable {
    groups: Arc<RwLock<BTreeMap<NodeId, i32>>>,
}

impl ProcessTable {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `node` now runs in process group `pgid`.
    pub fn set(&self, node: NodeId, pgid: i32) {
        self.groups
            .write()
            .expect("process table lock is never held across a panic")
            .insert(node, pgid);
    }

    /// Every node with its latest process group.
    #[must_use]
    pub fn snapshot(&self) -> Vec<(NodeId, i32)> {
        let groups = self
            .groups
            .read()
            .expect("process table lock is never held across a panic");
        groups.iter().map(|(&node, &pgid)| (node, pgid)).collect()
    }
}

/// The fields of `/proc/PID/stat` after the command name: state, ppid, pgrp.
fn stat_fields(pid: i32) -> Option<(char, i32, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// The one-letter state of a process (`R`, `S`, `T` stopped, `Z` zombie ...),
/// or `None` when there is no such process.
#[must_use]
pub fn process_state(pid: i32) -> Option<char> {
    stat_fields(pid).map(|(state, _, _)| state)
}

/// The parent of a process, or `None` when there is no such process.
#[must_use]
pub fn parent_of(pid: i32) -> Option<i32> {
    stat_fields(pid).map(|(_, ppid, _)| ppid)
}

fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Every live process whose process group is `pgid`.
#[must_use]
pub fn group_members(pgid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&pid| matches!(stat_fields(pid), Some((_, _, group)) if group == pgid))
        .collect()
}

/// Every live process whose parent is `ppid`.
#[must_use]
pub fn children_of(ppid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&pid| matches!(stat_fields(pid), Some((_, parent, _)) if parent == ppid))
        .collect()
}

/// Parses `0100007F:1F90` (a /proc/net/tcp address) down to its port.
fn port_of(field: &str) -> Option<u16> {
    let (_, port) = field.rsplit_once(':')?;
    u16::from_str_radix(port, 16).ok()
}

/// The inode of the TCP socket whose local address is `local` and whose
/// remote address is `remote`: asked of the kernel through netlink
/// `sock_diag` (exact and fast), else found in /proc/net/tcp and tcp6.
#[must_use]
pub fn socket_inode(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    for family in [AddressFamily::Inet, AddressFamily::Inet6] {
        match crate::sock_diag::inode_of(local, remote, family) {
            Ok(Some(inode)) => return Some(inode),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(%error, "sock_diag failed; reading /proc/net/tcp");
                break;
            }
        }
    }
    socket_inode_from_tables(local.port(), remote.port())
}

/// The inode of the socket whose local port is `local_port` and whose remote
/// port is `remote_port`, from /proc/net/tcp and /proc/net/tcp6.
///
/// Only ports are compared: every socket faultline deals with is on
/// loopback, where an ephemeral port names one socket, and a dual-stack
/// dialler shows 127.0.0.1 as `::ffff:127.0.0.1` in tcp6.
#[must_use]
pub fn socket_inode_from_tables(local_port: u16, remote_port: u16) -> Option<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = fs::read_to_string(table).ok()?;
            text.lines().skip(1).find_map(|line| {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                let fields: Vec<&str> = line.split_ascii_whitespace().collect();
                let local = port_of(fields.get(1)?)?;
                let remote = port_of(fields.get(2)?)?;
                let inode: u64 = fields.get(9)?.parse().ok()?;
                (local == local_port && remote == remote_port && inode != 0).then_some(inode)
            })
        })
}

/// Whether process `pid` holds the socket with this inode.
fn holds_socket(pid: i32, inode: u64) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let wanted = format!("socket:[{inode}]");
    fds.filter_map(Result::ok).any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == wanted.as_str())
    })
}

/// The node whose process group holds the socket with this inode.
///
/// Group leaders (the node processes themselves) are checked first; only
/// when none holds the socket are all processes scanned for group members.
#[must_use]
pub fn socket_owner(inode: u64, groups: &[(NodeId, i32)]) -> Option<NodeId> {
    if let Some(&(node, _)) = groups.iter().find(|&&(_, pgid)| holds_socket(pgid, inode)) {
        return Some(node);
    }
    let wanted: BTreeMap<i32, NodeId> = groups.iter().map(|&(node, pgid)| (pgid, node)).collect();
    all_pids().into_iter().find_map(|pid| {
        let (_, _, pgrp) = stat_fields(pid)?;
        let node = *wanted.get(&pgrp)?;
        (pid != pgrp && holds_socket(pid, inode)).then_some(node)
    })
}

/// The node that dialled a connection which `listener` accepted from `peer`:
/// the dialler's socket has local port `peer.port()` and remote port
/// `listener.port()`; its inode names the process that holds it.
///
/// Both sides must be on this machine; `None` when the dialler is not a node
/// (a client, the harness) or has already gone.
#[must_use]
pub fn identify_dialler(
    peer: SocketAddr,
    listener: SocketAddr,
    table: &ProcessTable,
) -> Option<NodeId> {
    let inode = socket_inode(peer, listener)?;
    socket_owner(inode, &table.snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_state_and_group() {
        let me = std::process::id() as i32;
        assert!(matches!(process_state(me), Some('R' | 'S')));
        let pgid = nix::unistd::getpgrp().as_raw();
        assert!(group_members(pgid).contains(&me));
    }

    #[test]
    fn finds_the_inode_of_a_loopback_connection_held_by_this_process() {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port 0 is bindable");
        let dialled = std::net::TcpStream::connect(listener.local_addr().expect("bound"))
            .expect("listener accepts");
        let (_accepted, peer) = listener.accept().expect("connection is queued");
        let listen = listener.local_addr().expect("bound");
        let inode =
            socket_inode(peer, listen).expect("an established loopback connection has an inode");
        assert_eq!(
            socket_inode_from_tables(peer.port(), listen.port()),
            Some(inode)
        );
        let pgid = nix::unistd::getpgrp().as_raw();
        assert_eq!(socket_owner(inode, &[(NodeId(1), pgid)]), Some(NodeId(1)));
        drop(dialled);
    }
}
