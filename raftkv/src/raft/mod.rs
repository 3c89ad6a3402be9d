//! The Raft core: a deterministic state machine that does no I/O.
//!
//! Shaped like raft-rs: the node calls [`Raft::tick`] on a timer,
//! [`Raft::step`] for every message from a peer, [`Raft::propose`] and
//! [`Raft::read_index`] for clients; then, while [`Raft::has_ready`], it takes
//! a [`Ready`], persists its hard state and entries (fsync), sends its
//! messages, applies its committed entries, and calls [`Raft::advance`].
//!
//! Every rule of the paper (Ongaro & Ousterhout, "In Search of an
//! Understandable Consensus Algorithm", Figure 2) lives at one place below,
//! and each `--bug` switch sits on the line of the rule it breaks.

use std::collections::BTreeMap;

use tracing::{error, info, warn};

use crate::bugs::Bugs;
use crate::types::{Entry, HardState, LogIndex, Message, MessageBody, NodeId, Term, NO_INDEX};

mod config;
mod read_index;
mod ready;
#[cfg(test)]
mod tests;

pub use config::{Config, ConfigError, Role};
pub use ready::{NotLeader, ReadState, Ready};

/// The leader's view of one follower (Raft Figure 2, "volatile state on leaders").
#[derive(Clone, Debug)]
struct Progress {
    /// Index of the next entry to send.
    next: LogIndex,
    /// Highest index known replicated on the follower.
    matched: LogIndex,
    /// Highest ReadIndex round the follower has answered in this term.
    read_round: u64,
    /// Tick at which the follower last answered in this term.
    last_ack_tick: Option<u64>,
    /// Whether the follower answered since the last check-quorum.
    active: bool,
}

/// A read waiting for its leadership-confirmation round.
#[derive(Clone, Copy, Debug)]
struct PendingRead {
    ctx: u64,
    round: u64,
}

/// One Raft node's protocol state.
#[derive(Debug)]
pub struct Raft {
    config: Config,
    // Persistent state (Figure 2); `stable` tells how much of `log` is on disk.
    term: Term,
    vote: Option<NodeId>,
    log: Vec<Entry>,
    stable: LogIndex,
    persisted_hard_state: HardState,
    truncate_from: Option<LogIndex>,
    // Volatile state.
    commit: LogIndex,
    applied: LogIndex,
    role: Role,
    leader: Option<NodeId>,
    election_elapsed: u32,
    randomized_election_ticks: u32,
    heartbeat_elapsed: u32,
    ticks: u64,
    rng: u64,
    votes: BTreeMap<NodeId, bool>,
    progress: BTreeMap<NodeId, Progress>,
    needs_broadcast: bool,
    // ReadIndex (Raft thesis §6.4).
    read_round: u64,
    pending_reads: Vec<PendingRead>,
    // Output.
    messages: Vec<Message>,
    read_states: Vec<ReadState>,
}

impl Raft {
    /// A node restored from what it persisted: `hard_state` and `entries`
    /// (indices 1, 2, ... in order). A new node passes defaults and no entries.
    ///
    /// # Errors
    /// The config is invalid.
    ///
    /// # Panics
    /// If `entries` are not numbered 1, 2, 3 ... (the log file guarantees it).
    pub fn new(
        config: Config,
        hard_state: HardState,
        entries: Vec<Entry>,
    ) -> Result<Raft, ConfigError> {
        config.validate()?;
        for (position, entry) in entries.iter().enumerate() {
            assert_eq!(
                entry.index,
                position as LogIndex + 1,
                "restored entries are dense from index 1: the log file replays them so"
            );
        }
        let stable = entries.len() as LogIndex;
        let rng =
            config.seed ^ 0x9E37_79B9_7F4A_7C15 ^ config.id.wrapping_mul(0xA24B_AED4_963E_E407);
        let mut raft = Raft {
            term: hard_state.term,
            vote: hard_state.vote,
            log: entries,
            stable,
            persisted_hard_state: hard_state,
            truncate_from: None,
            commit: hard_state.commit.min(stable),
            applied: NO_INDEX,
            role: Role::Follower,
            leader: None,
            election_elapsed: 0,
            randomized_election_ticks: config.election_ticks,
            heartbeat_elapsed: 0,
            ticks: 0,
            rng: rng.max(1),
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            needs_broadcast: false,
            read_round: 0,
            pending_reads: Vec::new(),
            messages: Vec::new(),
            read_states: Vec::new(),
            config,
        };
        raft.reset_election_timer();
        Ok(raft)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The `--bug` switches this node runs with.
    pub fn bugs(&self) -> Bugs {
        self.config.bugs
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// The vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The leader of the current term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The highest index known committed.
    pub fn commit(&self) -> LogIndex {
        self.commit
    }

    /// The highest index handed out for applying.
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// The index of the last entry (persisted or not).
    pub fn last_index(&self) -> LogIndex {
        self.log.len() as LogIndex
    }

    /// The index of the last persisted entry.
    pub fn stable_index(&self) -> LogIndex {
        self.stable
    }

    /// The term of the entry at `index`, 0 for index 0, `None` past the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index == NO_INDEX {
            return Some(0);
        }
        self.entry(index).map(|entry| entry.term)
    }

    /// The entry at `index`, if present.
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        let position = usize::try_from(index.checked_sub(1)?).ok()?;
        self.log.get(position)
    }

    /// Up to `limit` entries starting at `from`, stopping after `until`.
    pub fn entries(&self, from: LogIndex, until: LogIndex, limit: usize) -> &[Entry] {
        let start = from.max(1);
        let end = until.min(self.last_index());
        if start > end {
            return &[];
        }
        let first = (start - 1) as usize;
        let last = (end as usize).min(first.saturating_add(limit));
        &self.log[first..last]
    }

    /// The highest index a client may be told is done.
    ///
    /// Raft §5.3: a leader answers a client once the entry is committed.
    pub fn acknowledged_index(&self) -> LogIndex {
        // Bug early-ack: acknowledge once the entry is in the leader's own
        // (durable) log, before a majority stores it.
        if self.config.bugs.early_ack && self.role == Role::Leader {
            return self.stable;
        }
        self.commit
    }

    fn quorum(&self) -> usize {
        let voters = self.config.peers.len() + 1;
        voters / 2 + 1
    }

    fn last_term(&self) -> Term {
        self.log.last().map_or(0, |entry| entry.term)
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic per seed, good enough for timeouts.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        // Raft §5.2: randomized election timeouts make split votes rare.
        let spread = u64::from(self.config.election_ticks);
        let extra = self.next_random() % spread;
        self.randomized_election_ticks = self.config.election_ticks + extra as u32;
    }

    fn send(&mut self, to: NodeId, body: MessageBody) {
        self.messages.push(Message {
            from: self.config.id,
            to,
            term: self.term,
            body,
        });
    }

    // ---- Time -------------------------------------------------------------

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        self.ticks += 1;
        self.election_elapsed += 1;
        match self.role {
            Role::Leader => {
                self.heartbeat_elapsed += 1;
                if self.election_elapsed >= self.config.election_ticks {
                    self.election_elapsed = 0;
                    if !self.check_quorum() {
                        warn!("no majority answered during an election timeout in term {}; stepping down", self.term);
                        self.become_follower(self.term, None);
                        return;
                    }
                }
                if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
                    self.heartbeat_elapsed = 0;
                    self.broadcast_append();
                }
            }
            Role::Follower | Role::Candidate => {
                if self.election_elapsed >= self.randomized_election_ticks {
                    self.campaign();
                }
            }
        }
    }

    /// Check-quorum (Raft thesis §6.2): a leader that heard from no majority
    /// during an election timeout steps down, so clients of a partitioned
    /// leader get a definite "not leader" instead of timeouts.
    fn check_quorum(&mut self) -> bool {
        let mut active = 1;
        for progress in self.progress.values_mut() {
            if progress.active {
                active += 1;
            }
            progress.active = false;
        }
        active >= self.quorum()
    }

    // ---- Roles ------------------------------------------------------------

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term > self.term {
            // Raft §5.1: a newer term makes the vote of the old one void.
            self.term = term;
            self.vote = None;
        }
        if self.role != Role::Follower || self.leader != leader {
            if let Some(leader) = leader {
                info!("following leader {leader} in term {}", self.term);
            } else if self.role != Role::Follower {
                info!("became follower in term {} (leader unknown)", self.term);
            }
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.progress.clear();
        self.pending_reads.clear();
        self.needs_broadcast = false;
        self.reset_election_timer();
    }

    fn campaign(&mut self) {
        // Raft §5.2: a follower that hears nothing starts an election.
        self.term += 1;
        self.vote = Some(self.config.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.progress.clear();
        self.pending_reads.clear();
        self.votes.clear();
        self.votes.insert(self.config.id, true);
        self.reset_election_timer();
        info!("election timeout; campaigning in term {}", self.term);
        if self.votes.len() >= self.quorum() {
            self.become_leader();
            return;
        }
        let (last_log_index, last_log_term) = (self.last_index(), self.last_term());
        for peer in self.config.peers.clone() {
            self.send(
                peer,
                MessageBody::RequestVote {
                    last_log_index,
                    last_log_term,
                },
            );
        }
    }

    fn become_leader(&mut self) {
        info!("won the election for term {}; now leader", self.term);
        self.role = Role::Leader;
        self.leader = Some(self.config.id);
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        let next = self.last_index() + 1;
        self.progress = self
            .config
            .peers
            .iter()
            .map(|&peer| {
                let progress = Progress {
                    next,
                    matched: NO_INDEX,
                    read_round: 0,
                    last_ack_tick: None,
                    active: true,
                };
                (peer, progress)
            })
            .collect();
        // Raft §8 / thesis §6.4: a no-op at the start of the term lets the
        // leader commit (and learn the commit index of) earlier entries.
        self.append_entry(Vec::new());
        self.broadcast_append();
        self.maybe_commit();
    }

    // ---- Messages ---------------------------------------------------------

    /// Handles one message from a peer.
    pub fn step(&mut self, message: Message) {
        if message.to != self.config.id || !self.config.peers.contains(&message.from) {
            warn!(
                "dropping a message from node {} to node {}: not for this cluster member",
                message.from, message.to
            );
            return;
        }
        if message.term > self.term {
            // Raft §5.1: a higher term always wins; learn it and follow.
            let leader =
                matches!(message.body, MessageBody::AppendEntries { .. }).then_some(message.from);
            info!(
                "saw higher term {} from node {}",
                message.term, message.from
            );
            self.become_follower(message.term, leader);
        } else if message.term < self.term {
            // A stale sender: answer so it learns the newer term.
            match message.body {
                MessageBody::RequestVote { .. } => {
                    self.send(
                        message.from,
                        MessageBody::RequestVoteResponse { granted: false },
                    );
                }
                MessageBody::AppendEntries { read_round, .. } => {
                    let body = MessageBody::AppendEntriesResponse {
                        success: false,
                        match_index: NO_INDEX,
                        hint: NO_INDEX,
                        read_round,
                    };
                    self.send(message.from, body);
                }
                MessageBody::RequestVoteResponse { .. }
                | MessageBody::AppendEntriesResponse { .. } => {}
            }
            return;
        }
        match message.body {
            MessageBody::RequestVote {
                last_log_index,
                last_log_term,
            } => {
                self.handle_request_vote(message.from, last_log_index, last_log_term);
            }
            MessageBody::RequestVoteResponse { granted } => {
                self.handle_vote_response(message.from, granted)
            }
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_round,
            } => {
                self.handle_append(
                    message.from,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                    read_round,
                );
            }
            MessageBody::AppendEntriesResponse {
                success,
                match_index,
                hint,
                read_round,
            } => {
                self.handle_append_response(message.from, success, match_index, hint, read_round);
            }
        }
    }

    fn handle_request_vote(
        &mut self,
        candidate: NodeId,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) {
        // Raft §5.2: at most one vote per term, first come first served.
        let can_vote = self.vote.is_none() || self.vote == Some(candidate);
        // Raft §5.4.1: only vote for a candidate whose log is at least as
        // up to date as ours (last term first, then length).
        let up_to_date = (last_log_term, last_log_index) >= (self.last_term(), self.last_index());
        // Bug vote-without-log-check: skip the §5.4.1 comparison.
        let log_ok = up_to_date || self.config.bugs.vote_without_log_check;
        let granted = can_vote && log_ok;
        if granted {
            self.vote = Some(candidate);
            self.reset_election_timer();
            info!("voted for node {candidate} in term {}", self.term);
        }
        self.send(candidate, MessageBody::RequestVoteResponse { granted });
    }

    fn handle_vote_response(&mut self, voter: NodeId, granted: bool) {
        if self.role != Role::Candidate {
            return;
        }
        self.votes.insert(voter, granted);
        let yes = self.votes.values().filter(|&&vote| vote).count();
        let no = self.votes.len() - yes;
        if yes >= self.quorum() {
            self.become_leader();
        } else if no >= self.quorum() {
            info!("lost the election for term {}", self.term);
            self.become_follower(self.term, None);
        }
    }

    fn handle_append(
        &mut self,
        leader: NodeId,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: LogIndex,
        read_round: u64,
    ) {
        if self.role == Role::Leader {
            // Two leaders in one term break election safety; only a bug
            // (a forgotten vote) can cause it. Yield rather than fight.
            error!(
                "node {leader} also leads term {}: two leaders in one term; stepping down",
                self.term
            );
        }
        if self.role != Role::Follower || self.leader != Some(leader) {
            self.become_follower(self.term, Some(leader));
        }
        self.election_elapsed = 0;
        let reject = |raft: &mut Raft, hint: LogIndex| {
            let body = MessageBody::AppendEntriesResponse {
                success: false,
                match_index: NO_INDEX,
                hint,
                read_round,
            };
            raft.send(leader, body);
        };
        // Raft §5.3 consistency check: our log must hold prev_log_index with
        // prev_log_term.
        let Some(local_prev_term) = self.term_at(prev_log_index) else {
            let hint = self.last_index() + 1;
            reject(self, hint);
            return;
        };
        if local_prev_term != prev_log_term {
            // Fast backtracking: skip the whole conflicting term at once.
            let mut hint = prev_log_index;
            while hint > self.commit + 1 && self.term_at(hint - 1) == Some(local_prev_term) {
                hint -= 1;
            }
            reject(self, hint.max(1));
            return;
        }
        let last_new = prev_log_index + entries.len() as LogIndex;
        for entry in entries {
            match self.term_at(entry.index) {
                Some(term) if term == entry.term => continue,
                Some(_) => self.truncate_from(entry.index),
                None => {}
            }
            debug_assert_eq!(
                entry.index,
                self.last_index() + 1,
                "entries arrive dense after the matched prefix"
            );
            self.log.push(entry);
        }
        // Raft Figure 2: commitIndex = min(leaderCommit, index of last new entry).
        let commit = leader_commit.min(last_new);
        if commit > self.commit {
            self.commit = commit;
        }
        let body = MessageBody::AppendEntriesResponse {
            success: true,
            match_index: last_new,
            hint: NO_INDEX,
            read_round,
        };
        self.send(leader, body);
    }

    /// Raft §5.3: an existing entry that conflicts with a new one is deleted,
    /// with all that follow it.
    fn truncate_from(&mut self, index: LogIndex) {
        if index <= self.commit {
            error!("truncating committed entry {index} (commit index {}): a leader lacked it, so a Raft rule was broken", self.commit);
            self.commit = index - 1;
        }
        warn!(
            "truncating conflicting entries {index}..={} of the log",
            self.last_index()
        );
        self.log.truncate((index - 1) as usize);
        if index <= self.stable {
            self.stable = index - 1;
            self.truncate_from = Some(self.truncate_from.map_or(index, |from| from.min(index)));
        }
    }

    fn handle_append_response(
        &mut self,
        follower: NodeId,
        success: bool,
        match_index: LogIndex,
        hint: LogIndex,
        read_round: u64,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let ticks = self.ticks;
        let last_index = self.last_index();
        let Some(progress) = self.progress.get_mut(&follower) else {
            return;
        };
        progress.active = true;
        progress.last_ack_tick = Some(ticks);
        progress.read_round = progress.read_round.max(read_round);
        if success {
            progress.matched = progress.matched.max(match_index.min(last_index));
            progress.next = progress.next.max(progress.matched + 1);
        } else {
            // Back off to the follower's hint, never below what it matched.
            let lower = progress.next.saturating_sub(1).max(1);
            progress.next = hint.clamp(1, lower).max(progress.matched + 1);
        }
        let behind = progress.next <= last_index;
        if success {
            self.maybe_commit();
        }
        self.process_reads();
        if behind || !success {
            self.send_append(follower);
        }
    }

    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        // The leader counts itself only for what it persisted.
        let mut matched: Vec<LogIndex> = self
            .progress
            .values()
            .map(|progress| progress.matched)
            .collect();
        matched.push(self.stable);
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let majority_index = matched[self.quorum() - 1];
        if majority_index <= self.commit {
            return;
        }
        // Raft §5.4.2: only entries of the current term are committed by
        // counting replicas; earlier ones commit with them (Figure 8).
        let current_term = self.term_at(majority_index) == Some(self.term);
        // Bug commit-previous-term: count replicas for earlier terms too.
        if current_term || self.config.bugs.commit_previous_term {
            self.commit = majority_index;
            self.process_reads();
        }
    }

    // ---- Replication ------------------------------------------------------

    fn append_entry(&mut self, data: Vec<u8>) -> LogIndex {
        let index = self.last_index() + 1;
        self.log.push(Entry {
            index,
            term: self.term,
            data,
        });
        index
    }

    fn broadcast_append(&mut self) {
        self.needs_broadcast = false;
        for peer in self.config.peers.clone() {
            self.send_append(peer);
        }
    }

    fn send_append(&mut self, peer: NodeId) {
        let last_index = self.last_index();
        let max = self.config.max_entries_per_message as LogIndex;
        let Some(progress) = self.progress.get_mut(&peer) else {
            return;
        };
        progress.next = progress.next.clamp(1, last_index + 1);
        let next = progress.next;
        let until = last_index.min(next + max - 1);
        if until >= next {
            // Optimistic pipelining: assume delivery; a rejection resets it.
            progress.next = until + 1;
        }
        let prev_log_index = next - 1;
        let prev_log_term = self
            .term_at(prev_log_index)
            .expect("next is clamped to at most last_index + 1, so prev is in the log");
        let entries = self.entries(next, until, usize::MAX).to_vec();
        let body = MessageBody::AppendEntries {
            prev_log_index,
            prev_log_term,
            entries,
            leader_commit: self.commit,
            read_round: self.read_round,
        };
        self.send(peer, body);
    }

    // ---- Clients ----------------------------------------------------------

    /// Appends a command to the leader's log; it is replicated with the next
    /// [`Ready`].
    ///
    /// # Errors
    /// [`NotLeader`] on any node but the leader.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<(LogIndex, Term), NotLeader> {
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader: self.leader,
            });
        }
        let index = self.append_entry(data);
        self.needs_broadcast = true;
        Ok((index, self.term))
    }

    // ---- Ready / advance --------------------------------------------------

    fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.commit,
        }
    }

    /// Whether [`Raft::ready`] has anything to hand out.
    pub fn has_ready(&self) -> bool {
        self.needs_broadcast
            || !self.messages.is_empty()
            || !self.read_states.is_empty()
            || self.truncate_from.is_some()
            || self.stable < self.last_index()
            || self.hard_state() != self.persisted_hard_state
            || self.applied < self.commit.min(self.last_index())
    }

    /// Takes what must be persisted, sent and applied now.
    pub fn ready(&mut self) -> Ready {
        if self.needs_broadcast && self.role == Role::Leader {
            self.broadcast_append();
        }
        self.needs_broadcast = false;
        let hard_state = self.hard_state();
        let apply_until = self.commit.min(self.last_index());
        Ready {
            hard_state: (hard_state != self.persisted_hard_state).then_some(hard_state),
            truncate_from: self.truncate_from.take(),
            entries: self.log[self.stable as usize..].to_vec(),
            messages: std::mem::take(&mut self.messages),
            committed: self
                .entries(self.applied + 1, apply_until, usize::MAX)
                .to_vec(),
            read_states: std::mem::take(&mut self.read_states),
        }
    }

    /// Records that `ready` was persisted and applied.
    pub fn advance(&mut self, ready: &Ready) {
        if let Some(hard_state) = ready.hard_state {
            self.persisted_hard_state = hard_state;
        }
        if let Some(last) = ready.entries.last() {
            self.stable = self.stable.max(last.index).min(self.last_index());
        }
        if let Some(last) = ready.committed.last() {
            self.applied = self.applied.max(last.index);
        }
        self.maybe_commit();
    }
}
