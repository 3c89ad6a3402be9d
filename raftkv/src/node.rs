//! The driver: runs the Raft core on its own thread, persists, sends,
//! applies, and answers clients.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use crate::error::Result;
use crate::kv::{Applied, Command, ReadKind, Store};
use crate::raft::{NotLeader, Raft, Role};
use crate::reply::{Answer, ApiError, LogEntryView, LogPage, Status};
use crate::types::{LogIndex, Message, NodeId, Term};
use crate::wal::Wal;

/// Events the driver thread consumes, from the HTTP server and the transport.
#[derive(Debug)]
pub enum Event {
    /// A message from a peer.
    Peer(Message),
    /// A client request and where to send the answer.
    Client(
        Request,
        oneshot::Sender<std::result::Result<Answer, ApiError>>,
    ),
}

/// A client request, as the HTTP layer decoded it.
#[derive(Debug)]
pub enum Request {
    /// Replicate a command.
    Propose(Command),
    /// Read a key linearizably.
    Read {
        /// How to read it.
        kind: ReadKind,
        /// The key.
        key: String,
    },
    /// Report this node's view of the cluster.
    Status,
    /// Committed entries from `from` on.
    Log {
        /// First index wanted.
        from: LogIndex,
        /// At most this many entries.
        limit: usize,
    },
}

type Reply = oneshot::Sender<std::result::Result<Answer, ApiError>>;

struct PendingWrite {
    term: Term,
    blind: bool,
    reply: Reply,
}

struct PendingRead {
    kind: ReadKind,
    key: String,
    reply: Reply,
}

/// Commits are logged when the commit index crosses a multiple of this.
const COMMIT_LOG_EVERY: LogIndex = 1000;
/// Events handled per loop turn before the core hands out a Ready.
const MAX_EVENTS_PER_TURN: usize = 2048;
/// Ready rounds per loop turn (a leader's own fsync may commit more).
const MAX_READY_ROUNDS: usize = 4;

/// The node's single-threaded event loop.
pub struct Driver {
    raft: Raft,
    wal: Wal,
    store: Store,
    peers: BTreeMap<NodeId, mpsc::Sender<Message>>,
    inbox: Receiver<Event>,
    tick: Duration,
    bug_names: Vec<String>,
    durable_commit: LogIndex,
    /// The commit index found on disk at start; entries up to it are replayed.
    recovered_commit: LogIndex,
    pending_writes: BTreeMap<LogIndex, PendingWrite>,
    pending_reads: BTreeMap<u64, PendingRead>,
    waiting_reads: Vec<(LogIndex, PendingRead)>,
    next_read: u64,
    last_role: (Role, Term),
}

impl Driver {
    /// A driver over a restored core and its log file.
    pub fn new(
        raft: Raft,
        wal: Wal,
        peers: BTreeMap<NodeId, mpsc::Sender<Message>>,
        inbox: Receiver<Event>,
        tick: Duration,
        bug_names: Vec<String>,
        durable_commit: LogIndex,
    ) -> Driver {
        let last_role = (raft.role(), raft.term());
        Driver {
            raft,
            wal,
            store: Store::default(),
            peers,
            inbox,
            tick,
            bug_names,
            durable_commit,
            recovered_commit: durable_commit,
            pending_writes: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            waiting_reads: Vec::new(),
            next_read: 0,
            last_role,
        }
    }

    /// Runs until every event source is gone.
    ///
    /// # Errors
    /// Persisting failed; the node must stop.
    pub fn run(mut self) -> Result<()> {
        let mut next_tick = Instant::now() + self.tick;
        let mut next_sweep = Instant::now() + Duration::from_secs(1);
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(wait) {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            for _ in 0..MAX_EVENTS_PER_TURN {
                match self.inbox.try_recv() {
                    Ok(event) => self.handle(event),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                // One tick per wake-up at most: time spent paused (SIGSTOP)
                // never turns into a burst of ticks, as in tick-driven Raft
                // libraries. Only the lease-read bug depends on it.
                self.raft.tick();
                next_tick = now + self.tick;
            }
            self.process_ready()?;
            self.after_turn();
            if now >= next_sweep {
                self.sweep_abandoned();
                next_sweep = now + Duration::from_secs(1);
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Peer(message) => self.raft.step(message),
            Event::Client(request, reply) => self.handle_client(request, reply),
        }
    }

    fn handle_client(&mut self, request: Request, reply: Reply) {
        match request {
            Request::Propose(command) => {
                let blind = !matches!(command, Command::Cas { .. });
                let data = serde_json::to_vec(&command)
                    .expect("commands always serialize: strings and JSON values");
                match self.raft.propose(data) {
                    Ok((index, term)) => {
                        self.pending_writes
                            .insert(index, PendingWrite { term, blind, reply });
                    }
                    Err(not_leader) => {
                        let _ = reply.send(Err(not_leader_error(not_leader)));
                    }
                }
            }
            Request::Read { kind, key } => {
                let ctx = self.next_read;
                self.next_read += 1;
                match self.raft.read_index(ctx) {
                    Ok(()) => {
                        self.pending_reads
                            .insert(ctx, PendingRead { kind, key, reply });
                    }
                    Err(not_leader) => {
                        let _ = reply.send(Err(not_leader_error(not_leader)));
                    }
                }
            }
            Request::Status => {
                let _ = reply.send(Ok(Answer::Status(self.status())));
            }
            Request::Log { from, limit } => {
                let until = self.raft.commit().min(self.durable_commit);
                let entries = self
                    .raft
                    .entries(from, until, limit)
                    .iter()
                    .map(|entry| LogEntryView {
                        index: entry.index,
                        term: entry.term,
                        digest: digest(&entry.data),
                    })
                    .collect::<Vec<_>>();
                let next = entries
                    .last()
                    .map(|entry| entry.index + 1)
                    .filter(|&next| next <= until);
                let _ = reply.send(Ok(Answer::Log(LogPage {
                    entries,
                    commit_index: until,
                    next,
                })));
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            id: self.raft.id(),
            role: self.raft.role().name(),
            term: self.raft.term(),
            leader: self.raft.leader(),
            commit_index: self.raft.commit(),
            last_applied: self.raft.applied(),
            last_log_index: self.raft.last_index(),
            bugs: self.bug_names.clone(),
        }
    }

    fn process_ready(&mut self) -> Result<()> {
        for _ in 0..MAX_READY_ROUNDS {
            if !self.raft.has_ready() {
                break;
            }
            let mut ready = self.raft.ready();
            let messages = std::mem::take(&mut ready.messages);
            let (early, late): (Vec<Message>, Vec<Message>) = messages
                .into_iter()
                .partition(Message::may_send_before_persist);
            for message in early {
                self.send(message);
            }
            self.wal
                .persist(ready.truncate_from, &ready.entries, ready.hard_state)?;
            if let Some(hard_state) = ready.hard_state {
                self.durable_commit = hard_state.commit;
            }
            for message in late {
                self.send(message);
            }
            for entry in &ready.committed {
                let replaying = entry.index <= self.recovered_commit;
                let outcome = if entry.data.is_empty() {
                    if !replaying {
                        info!(
                            "committed the no-op of term {} at index {}",
                            entry.term, entry.index
                        );
                    }
                    Applied::Done(Value::Null)
                } else {
                    match serde_json::from_slice::<Command>(&entry.data) {
                        Ok(command) => self.store.apply(&command),
                        Err(error) => {
                            error!("undecodable command in the log: {error}");
                            Applied::Done(Value::Null)
                        }
                    }
                };
                if entry.index == self.recovered_commit {
                    info!(
                        "rebuilt the key-value state from {} committed entries on disk",
                        entry.index
                    );
                } else if entry.index % COMMIT_LOG_EVERY == 0 && !replaying {
                    info!("applied through index {}", entry.index);
                }
                if let Some(pending) = self.pending_writes.remove(&entry.index) {
                    let answer = if pending.term == entry.term {
                        outcome_answer(outcome, Answer::Written { index: entry.index })
                    } else {
                        Err(ApiError::leadership_lost())
                    };
                    let _ = pending.reply.send(answer);
                }
            }
            for read in ready.read_states.drain(..) {
                if let Some(pending) = self.pending_reads.remove(&read.ctx) {
                    self.waiting_reads.push((read.index, pending));
                }
            }
            self.raft.advance(&ready);
        }
        Ok(())
    }

    fn after_turn(&mut self) {
        let role = (self.raft.role(), self.raft.term());
        if role != self.last_role {
            self.last_role = role;
            // Proposed but not known committed: it may still commit under
            // the next leader, so the answer is indefinite.
            let (kept, lost): (BTreeMap<_, _>, BTreeMap<_, _>) =
                std::mem::take(&mut self.pending_writes)
                    .into_iter()
                    .partition(|(_, pending)| role.0 == Role::Leader && pending.term == role.1);
            self.pending_writes = kept;
            for (_, pending) in lost {
                let _ = pending.reply.send(Err(ApiError::leadership_lost()));
            }
            // The core forgets unconfirmed reads on any change of role.
            for (_, pending) in std::mem::take(&mut self.pending_reads) {
                let _ = pending.reply.send(Err(ApiError::leadership_lost()));
            }
        }
        let acknowledged = self.raft.acknowledged_index();
        if acknowledged > self.raft.applied() {
            // Only with the early-ack bug: answer blind writes before commit.
            let early: Vec<LogIndex> = self
                .pending_writes
                .range(..=acknowledged)
                .filter(|(_, pending)| pending.blind)
                .map(|(&index, _)| index)
                .collect();
            for index in early {
                let pending = self
                    .pending_writes
                    .remove(&index)
                    .expect("index was just read from the map");
                let _ = pending.reply.send(Ok(Answer::Written { index }));
            }
        }
        let applied = self.raft.applied();
        if self
            .waiting_reads
            .iter()
            .any(|(index, _)| *index <= applied)
        {
            let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_reads)
                .into_iter()
                .partition(|(index, _)| *index <= applied);
            self.waiting_reads = waiting;
            for (_, pending) in ready {
                let answer = outcome_answer(
                    self.store.read(pending.kind, &pending.key),
                    Answer::Value(Value::Null),
                );
                let _ = pending.reply.send(answer);
            }
        }
    }

    /// Forgets requests whose client gave up (the HTTP layer timed out).
    fn sweep_abandoned(&mut self) {
        self.pending_writes
            .retain(|_, pending| !pending.reply.is_closed());
        self.pending_reads
            .retain(|_, pending| !pending.reply.is_closed());
        self.waiting_reads
            .retain(|(_, pending)| !pending.reply.is_closed());
    }

    fn send(&self, message: Message) {
        if let Some(queue) = self.peers.get(&message.to) {
            // A full queue drops the message; Raft retransmits.
            let _ = queue.try_send(message);
        }
    }
}

fn not_leader_error(not_leader: NotLeader) -> ApiError {
    match not_leader.leader {
        Some(leader) => ApiError::not_leader(leader),
        None => ApiError::no_leader(),
    }
}

/// Turns a state-machine outcome into an answer; `written` is the answer
/// for a successful write, and reads answer their value.
fn outcome_answer(outcome: Applied, written: Answer) -> std::result::Result<Answer, ApiError> {
    match outcome {
        Applied::Done(Value::Null) if matches!(written, Answer::Written { .. }) => Ok(written),
        Applied::Done(value) => Ok(Answer::Value(value)),
        Applied::Mismatch { current } => Err(ApiError::mismatch(current)),
        Applied::WrongType { expected } => Err(ApiError::wrong_type(expected)),
        Applied::Overflow => Err(ApiError::overflow()),
    }
}

/// The digest of a log entry's command, as in `GET /log`: FNV-1a 64 of the
/// command bytes, 16 lower-case hex digits.
pub fn digest(data: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in data {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01B3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_fnv1a_64_in_hex() {
        assert_eq!(digest(b""), "cbf29ce484222325");
        assert_eq!(digest(b"a"), "af63dc4c8601ec8c");
    }
}
