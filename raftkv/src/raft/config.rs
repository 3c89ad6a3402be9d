//! Settings of the Raft core and the roles a node plays.

use thiserror::Error;

use crate::bugs::Bugs;
use crate::types::NodeId;

/// What a node is in its current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader, or waits for one.
    Follower,
    /// Campaigns for votes.
    Candidate,
    /// Replicates its log and answers clients.
    Leader,
}

impl Role {
    /// Lower-case name, as in the status API.
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// Settings of the core, fixed for a node's lifetime.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node.
    pub id: NodeId,
    /// Every other node of the cluster.
    pub peers: Vec<NodeId>,
    /// Minimum election timeout in ticks; each timeout is drawn from
    /// `[election_ticks, 2 * election_ticks)`.
    pub election_ticks: u32,
    /// A leader sends heartbeats every this many ticks.
    pub heartbeat_ticks: u32,
    /// At most this many entries travel in one AppendEntries.
    pub max_entries_per_message: usize,
    /// Deliberate bugs.
    pub bugs: Bugs,
    /// Seed of the election-timeout randomization.
    pub seed: u64,
}

/// A [`Config`] that cannot work.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The heartbeat must come well before anyone's election timeout.
    #[error("heartbeat ({heartbeat_ticks} ticks) must be shorter than the election timeout ({election_ticks} ticks)")]
    HeartbeatNotShorterThanElection {
        /// Heartbeat interval in ticks.
        heartbeat_ticks: u32,
        /// Minimum election timeout in ticks.
        election_ticks: u32,
    },
    /// A node cannot be its own peer.
    #[error("node {id} lists itself as a peer")]
    SelfAsPeer {
        /// The node.
        id: NodeId,
    },
    /// Each peer must appear once.
    #[error("peer {peer} is listed twice")]
    DuplicatePeer {
        /// The repeated peer.
        peer: NodeId,
    },
    /// A message must be able to carry at least one entry.
    #[error("max_entries_per_message must be at least 1")]
    NoEntriesPerMessage,
}

impl Config {
    /// Checks that the settings can work together.
    ///
    /// # Errors
    /// The first [`ConfigError`] found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_ticks == 0 || self.heartbeat_ticks >= self.election_ticks {
            return Err(ConfigError::HeartbeatNotShorterThanElection {
                heartbeat_ticks: self.heartbeat_ticks,
                election_ticks: self.election_ticks,
            });
        }
        if self.max_entries_per_message == 0 {
            return Err(ConfigError::NoEntriesPerMessage);
        }
        let mut seen = std::collections::BTreeSet::new();
        for &peer in &self.peers {
            if peer == self.id {
                return Err(ConfigError::SelfAsPeer { id: self.id });
            }
            if !seen.insert(peer) {
                return Err(ConfigError::DuplicatePeer { peer });
            }
        }
        Ok(())
    }
}
