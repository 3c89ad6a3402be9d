//! The `--bug` switches: each breaks exactly one Raft rule, on purpose.

use std::fmt;
use std::str::FromStr;

/// One deliberate bug, named as on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bug {
    /// Any node answers reads from its local state without confirming leadership.
    StaleRead,
    /// The leader acknowledges a write once it is in its own log, before a majority has it.
    EarlyAck,
    /// Votes are granted without the §5.4.1 up-to-date check.
    VoteWithoutLogCheck,
    /// The leader commits entries of earlier terms by counting replicas (Figure 8).
    CommitPreviousTerm,
    /// Term, vote and log live in memory only: a restarted node comes back empty.
    VolatileState,
    /// The leader answers reads locally while a tick-counted lease looks valid.
    LeaseRead,
    /// The log is written at once but fsynced only every second: writes are
    /// acknowledged before they reach stable storage.
    LazyFsync,
    /// The leader answers a transaction's reads from its local applied state
    /// when the request arrives and puts only the appends through the log:
    /// read skew (G-single) and write skew (G2-item) under concurrency.
    TxnLocalReads,
}

impl Bug {
    /// Every switch, in the order the documentation lists them.
    pub const ALL: [Bug; 8] = [
        Bug::StaleRead,
        Bug::EarlyAck,
        Bug::VoteWithoutLogCheck,
        Bug::CommitPreviousTerm,
        Bug::VolatileState,
        Bug::LeaseRead,
        Bug::LazyFsync,
        Bug::TxnLocalReads,
    ];

    /// The command-line name of the switch.
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => "stale-read",
            Bug::EarlyAck => "early-ack",
            Bug::VoteWithoutLogCheck => "vote-without-log-check",
            Bug::CommitPreviousTerm => "commit-previous-term",
            Bug::VolatileState => "volatile-state",
            Bug::LeaseRead => "lease-read",
            Bug::LazyFsync => "lazy-fsync",
            Bug::TxnLocalReads => "txn-local-reads",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bug::ALL
            .into_iter()
            .find(|bug| bug.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Bug::ALL.iter().map(|bug| bug.name()).collect();
                format!("unknown bug {s:?}; expected one of: {}", names.join(", "))
            })
    }
}

/// The set of switches a node runs with; all off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// See [`Bug::StaleRead`].
    pub stale_read: bool,
    /// See [`Bug::EarlyAck`].
    pub early_ack: bool,
    /// See [`Bug::VoteWithoutLogCheck`].
    pub vote_without_log_check: bool,
    /// See [`Bug::CommitPreviousTerm`].
    pub commit_previous_term: bool,
    /// See [`Bug::VolatileState`].
    pub volatile_state: bool,
    /// See [`Bug::LeaseRead`].
    pub lease_read: bool,
    /// See [`Bug::LazyFsync`].
    pub lazy_fsync: bool,
    /// See [`Bug::TxnLocalReads`].
    pub txn_local_reads: bool,
}

impl Bugs {
    /// The set holding exactly `bugs`.
    pub fn from_list(bugs: &[Bug]) -> Bugs {
        let mut set = Bugs::default();
        for bug in bugs {
            *set.flag_mut(*bug) = true;
        }
        set
    }

    /// The switches that are on, in documentation order.
    pub fn enabled(&self) -> Vec<Bug> {
        Bug::ALL
            .into_iter()
            .filter(|bug| self.is_on(*bug))
            .collect()
    }

    /// Whether `bug` is switched on.
    pub fn is_on(&self, bug: Bug) -> bool {
        match bug {
            Bug::StaleRead => self.stale_read,
            Bug::EarlyAck => self.early_ack,
            Bug::VoteWithoutLogCheck => self.vote_without_log_check,
            Bug::CommitPreviousTerm => self.commit_previous_term,
            Bug::VolatileState => self.volatile_state,
            Bug::LeaseRead => self.lease_read,
            Bug::LazyFsync => self.lazy_fsync,
            Bug::TxnLocalReads => self.txn_local_reads,
        }
    }

    fn flag_mut(&mut self, bug: Bug) -> &mut bool {
        match bug {
            Bug::StaleRead => &mut self.stale_read,
            Bug::EarlyAck => &mut self.early_ack,
            Bug::VoteWithoutLogCheck => &mut self.vote_without_log_check,
            Bug::CommitPreviousTerm => &mut self.commit_previous_term,
            Bug::VolatileState => &mut self.volatile_state,
            Bug::LeaseRead => &mut self.lease_read,
            Bug::LazyFsync => &mut self.lazy_fsync,
            Bug::TxnLocalReads => &mut self.txn_local_reads,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_name_round_trips() {
        for bug in Bug::ALL {
            assert_eq!(bug.name().parse::<Bug>(), Ok(bug));
        }
    }

    #[test]
    fn unknown_bug_name_lists_the_known_ones() {
        let error = "fast-commit".parse::<Bug>().unwrap_err();
        assert!(
            error.contains("stale-read") && error.contains("lease-read"),
            "{error}"
        );
    }

    #[test]
    fn from_list_sets_only_the_named_switches() {
        let bugs = Bugs::from_list(&[Bug::EarlyAck, Bug::LeaseRead]);
        assert_eq!(bugs.enabled(), vec![Bug::EarlyAck, Bug::LeaseRead]);
        assert!(!bugs.stale_read && !bugs.volatile_state);
    }
}
