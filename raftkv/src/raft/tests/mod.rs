//! Step-by-step tests of the Raft core: one rule per test, and for each
//! `--bug` switch the step it changes.

use std::collections::{BTreeMap, VecDeque};

use super::*;
use crate::bugs::Bugs;
use crate::types::HardState;

mod commitment;
mod elections;
mod reads;
mod replication;
mod safety;

const ELECTION_TICKS: u32 = 10;
const HEARTBEAT_TICKS: u32 = 2;

fn config(id: NodeId, size: u64, bugs: Bugs, max_entries: usize) -> Config {
    Config {
        id,
        peers: (1..=size).filter(|&peer| peer != id).collect(),
        election_ticks: ELECTION_TICKS,
        heartbeat_ticks: HEARTBEAT_TICKS,
        max_entries_per_message: max_entries,
        bugs,
        seed: 7,
    }
}

fn node(id: NodeId, size: u64, bugs: Bugs) -> Raft {
    Raft::new(
        config(id, size, bugs, 100),
        HardState::default(),
        Vec::new(),
    )
    .expect("test config is valid")
}

fn entry(index: LogIndex, term: Term) -> Entry {
    Entry {
        index,
        term,
        data: format!("{index}@{term}").into_bytes(),
    }
}

fn restored(id: NodeId, size: u64, bugs: Bugs, term: Term, log: &[Term]) -> Raft {
    let entries = log
        .iter()
        .enumerate()
        .map(|(position, &term)| entry(position as LogIndex + 1, term))
        .collect();
    let hard_state = HardState {
        term,
        vote: None,
        commit: 0,
    };
    Raft::new(config(id, size, bugs, 100), hard_state, entries).expect("test config is valid")
}

fn message(from: NodeId, to: NodeId, term: Term, body: MessageBody) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

fn request_vote(
    from: NodeId,
    to: NodeId,
    term: Term,
    last_log_index: LogIndex,
    last_log_term: Term,
) -> Message {
    message(
        from,
        to,
        term,
        MessageBody::RequestVote {
            last_log_index,
            last_log_term,
        },
    )
}

fn append(
    from: NodeId,
    to: NodeId,
    term: Term,
    prev: (LogIndex, Term),
    entries: Vec<Entry>,
    leader_commit: LogIndex,
) -> Message {
    let body = MessageBody::AppendEntries {
        prev_log_index: prev.0,
        prev_log_term: prev.1,
        entries,
        leader_commit,
        read_round: 0,
    };
    message(from, to, term, body)
}

/// Persists and "sends" everything ready; returns the messages.
fn flush(raft: &mut Raft) -> Vec<Message> {
    let mut messages = Vec::new();
    for _ in 0..10 {
        if !raft.has_ready() {
            break;
        }
        let mut ready = raft.ready();
        messages.append(&mut ready.messages);
        raft.advance(&ready);
    }
    messages
}

fn vote_granted(messages: &[Message]) -> Option<bool> {
    messages.iter().find_map(|message| match message.body {
        MessageBody::RequestVoteResponse { granted } => Some(granted),
        _ => None,
    })
}

fn append_response(messages: &[Message]) -> Option<(bool, LogIndex, LogIndex)> {
    messages.iter().find_map(|message| match message.body {
        MessageBody::AppendEntriesResponse {
            success,
            match_index,
            hint,
            ..
        } => Some((success, match_index, hint)),
        _ => None,
    })
}

/// What a node has on disk, as the log file would keep it.
#[derive(Clone, Debug, Default)]
struct Disk {
    hard_state: HardState,
    entries: Vec<Entry>,
}

/// A simulated cluster: nodes, their disks, and a network the test drives.
struct Cluster {
    size: u64,
    bugs: Bugs,
    max_entries: usize,
    nodes: BTreeMap<NodeId, Raft>,
    disks: BTreeMap<NodeId, Disk>,
    network: VecDeque<Message>,
    applied: BTreeMap<NodeId, Vec<Entry>>,
}

impl Cluster {
    fn new(size: u64, bugs: Bugs, max_entries: usize) -> Cluster {
        let mut cluster = Cluster {
            size,
            bugs,
            max_entries,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            network: VecDeque::new(),
            applied: BTreeMap::new(),
        };
        for id in 1..=size {
            cluster.disks.insert(id, Disk::default());
            cluster.restart(id);
        }
        cluster
    }

    fn node(&self, id: NodeId) -> &Raft {
        self.nodes
            .get(&id)
            .expect("the test only asks for running nodes")
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Raft {
        self.nodes
            .get_mut(&id)
            .expect("the test only asks for running nodes")
    }

    fn pump(&mut self, id: NodeId) {
        let Some(raft) = self.nodes.get_mut(&id) else {
            return;
        };
        for _ in 0..10 {
            if !raft.has_ready() {
                break;
            }
            let mut ready = raft.ready();
            let disk = self.disks.get_mut(&id).expect("every node has a disk");
            if let Some(from) = ready.truncate_from {
                disk.entries.truncate((from - 1) as usize);
            }
            for entry in &ready.entries {
                disk.entries.truncate((entry.index - 1) as usize);
                disk.entries.push(entry.clone());
            }
            if let Some(hard_state) = ready.hard_state {
                disk.hard_state = hard_state;
            }
            self.network.extend(ready.messages.drain(..));
            self.applied
                .entry(id)
                .or_default()
                .extend(ready.committed.iter().cloned());
            raft.advance(&ready);
        }
    }

    fn pump_all(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.pump(id);
        }
    }

    /// Delivers messages until the network is quiet; `filter` may drop or
    /// rewrite each one. Messages to crashed nodes are lost.
    fn deliver(&mut self, mut filter: impl FnMut(Message) -> Option<Message>) {
        self.pump_all();
        for _ in 0..100_000 {
            let Some(message) = self.network.pop_front() else {
                return;
            };
            let to = message.to;
            if !self.nodes.contains_key(&to) {
                continue;
            }
            if let Some(message) = filter(message) {
                self.node_mut(to).step(message);
                self.pump(to);
            }
        }
        panic!("the network never went quiet");
    }

    fn deliver_all(&mut self) {
        self.deliver(Some);
    }

    fn campaign(&mut self, id: NodeId) {
        self.node_mut(id).campaign();
        self.pump(id);
    }

    fn crash(&mut self, id: NodeId) {
        self.nodes.remove(&id);
    }

    fn restart(&mut self, id: NodeId) {
        let disk = self.disks[&id].clone();
        let raft = Raft::new(
            config(id, self.size, self.bugs, self.max_entries),
            disk.hard_state,
            disk.entries,
        )
        .expect("test config is valid");
        self.nodes.insert(id, raft);
    }

    fn heartbeat(&mut self, leader: NodeId) {
        self.node_mut(leader).broadcast_append();
        self.pump(leader);
    }

    fn log_terms(&self, id: NodeId) -> Vec<Term> {
        self.disks[&id]
            .entries
            .iter()
            .map(|entry| entry.term)
            .collect()
    }
}

/// Three nodes, node 1 elected and its no-op committed.
fn three_node_cluster_led_by_1(bugs: Bugs) -> Cluster {
    let mut cluster = Cluster::new(3, bugs, 100);
    cluster.campaign(1);
    cluster.deliver_all();
    assert_eq!(cluster.node(1).role(), Role::Leader);
    cluster
}
