//! The crate's error type.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::NodeId;

/// Everything the nemesis crate reports to its caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A disk fault could not be applied to a node's disk.
    #[error("disk of {node}: {detail}")]
    Disk {
        /// The node.
        node: NodeId,
        /// What went wrong, naming the path.
        detail: String,
    },

    /// A node id outside the cluster.
    #[error("there is no node {node}: the cluster has {nodes} nodes")]
    UnknownNode {
        /// The id asked for.
        node: NodeId,
        /// How many nodes the cluster has.
        nodes: usize,
    },

    /// The node's log file could not be opened.
    #[error("cannot open the log file {} of {node}: {source}", path.display())]
    LogFile {
        /// The node.
        node: NodeId,
        /// The log file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// The node's program could not be started.
    #[error("cannot start {node} ({}): {source}", program.display())]
    Spawn {
        /// The node.
        node: NodeId,
        /// The program that failed to start.
        program: PathBuf,
        /// Why.
        source: io::Error,
    },

    /// The node exited before it became ready.
    #[error("{node} exited ({status}) before it became ready; last lines of {}:\n{tail}", log.display())]
    ExitedEarly {
        /// The node.
        node: NodeId,
        /// Its exit status, as the OS describes it.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },

    /// The node ran but did not become ready before its deadline.
    #[error("{node} was not ready after {waited:?}; last lines of {}:\n{tail}", log.display())]
    NotReady {
        /// The node.
        node: NodeId,
        /// How long the supervisor waited.
        waited: Duration,
        /// Its log file.
        log: PathBuf,
        /// The last lines of its log.
        tail: String,
    },

    /// An action that needs a running node found none.
    #[error("{node} is not running")]
    NotRunning {
        /// The node.
        node: NodeId,
    },

    /// `start` or `restart` on a node that still runs.
    #[error("{node} is already running as pid {pid}")]
    AlreadyRunning {
        /// The node.
        node: NodeId,
        /// Its process id.
        pid: i32,
    },

    /// A signal could not be delivered to the node's process group.
    #[error("cannot send {signal} to {node} (process group {pgid}): {source}")]
    Signal {
        /// The node.
        node: NodeId,
        /// The signal's name.
        signal: &'static str,
        /// The process group.
        pgid: i32,
        /// Why.
        source: nix::Error,
    },

    /// The node's process did not go away after SIGKILL.
    #[error("{node} (pid {pid}) was not reaped within {waited:?} of SIGKILL")]
    NotReaped {
        /// The node.
        node: NodeId,
        /// Its process id.
        pid: i32,
        /// How long the supervisor waited.
        waited: Duration,
    },

    /// A proxy could not listen.
    #[error("cannot listen on {addr} for a proxy: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },

    /// An address outside 127.0.0.0/8 given to a proxy.
    #[error("{addr} is not a loopback address: faultline only uses 127.0.0.0/8")]
    NotLoopback {
        /// The address.
        addr: SocketAddr,
    },

    /// A word in a `--nemesis` list that names no fault.
    #[error("unknown fault {word:?} in --nemesis {list:?}; valid faults: {valid}")]
    UnknownFault {
        /// The whole list.
        list: String,
        /// The bad word.
        word: String,
        /// The valid words.
        valid: String,
    },

    /// A shape or target after `fault:` that the fault does not have.
    #[error("unknown {fault} option {word:?} in --nemesis {list:?}; valid: {valid}")]
    UnknownOption {
        /// The whole list.
        list: String,
        /// The fault before the colon.
        fault: String,
        /// The bad word after the colon.
        word: String,
        /// The valid words.
        valid: String,
    },

    /// `none` next to real faults, or an empty item.
    #[error("bad --nemesis {list:?}: {reason}")]
    BadFaultList {
        /// The whole list.
        list: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
