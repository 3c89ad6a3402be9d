//! The driver: runs the Raft core on its own thread, persists, sends,
//! applies, and answers clients.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info};

use crate::error::Result;
use crate::kv::{Applied, Command, MicroOp, ReadKind, Store};
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
    /// Run a transaction (`POST /txn`): one log entry, applied atomically.
    Txn(Vec<MicroOp>),
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
    answer: WriteAnswer,
    reply: Reply,
}

/// What a committed write answers with.
enum WriteAnswer {
    /// Its log index (or the state machine's error).
    Index,
    /// The transaction's completed micro-ops, as the state machine applied them.
    Txn,
    /// Bug `txn-local-reads`: these micro-ops, whose reads were taken from
    /// the local state when the request arrived; only the appends went
    /// through the log.
    TxnPrecomputed(Value),
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
                self.propose(command, blind, WriteAnswer::Index, reply);
            }
            Request::Txn(ops) => {
                if self.raft.bugs().txn_local_reads {
                    // Bug txn-local-reads: the reads are served outside the log.
                    self.txn_with_local_reads(ops, reply);
                } else {
                    // Reads are taken when the entry applies, at its place
                    // in the log: the transaction is strictly serializable.
                    self.propose(Command::Txn { ops }, false, WriteAnswer::Txn, reply);
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

    fn propose(&mut self, command: Command, blind: bool, answer: WriteAnswer, reply: Reply) {
        let data = serde_json::to_vec(&command)
            .expect("commands always serialize: strings and JSON values");
        match self.raft.propose(data) {
            Ok((index, term)) => {
                self.pending_writes.insert(
                    index,
                    PendingWrite {
                        term,
                        blind,
                        answer,
                        reply,
                    },
                );
            }
            Err(not_leader) => {
                let _ = reply.send(Err(not_leader_error(not_leader)));
            }
        }
    }

    /// Bug `txn-local-reads`: the reads of a transaction come from this
    /// node's applied state now, at arrival, plus the transaction's own
    /// earlier appends; only the appends go through the log, and the answer
    /// waits for them to commit. Entries proposed before this one but not yet
    /// applied, and entries committed between its arrival and its commit,
    /// are missing from its reads although they precede its appends in the
    /// log: read skew (G-single) and write skew (G2-item). The correct rule
    /// (the `else` branch of `Request::Txn`) reads when the entry applies.
    fn txn_with_local_reads(&mut self, ops: Vec<MicroOp>, reply: Reply) {
        if self.raft.role() != Role::Leader {
            let not_leader = NotLeader {
                leader: self.raft.leader(),
            };
            let _ = reply.send(Err(not_leader_error(not_leader)));
            return;
        }
        let completed = match self.store.preview_txn(&ops) {
            Applied::Done(completed) => completed,
            other => {
                let _ = reply.send(outcome_answer(other, Answer::Value(Value::Null)));
                return;
            }
        };
        let appends: Vec<MicroOp> = ops.into_iter().filter(|op| !op.is_read()).collect();
        self.propose(
            Command::Txn { ops: appends },
            false,
            WriteAnswer::TxnPrecomputed(completed),
            reply,
        );
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
                    let answer = if pending.term != entry.term {
                        Err(ApiError::leadership_lost())
                    } else {
                        write_answer(pending.answer, outcome, entry.index)
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

/// The answer to a committed write at `index`, given what applying it did.
fn write_answer(
    answer: WriteAnswer,
    outcome: Applied,
    index: LogIndex,
) -> std::result::Result<Answer, ApiError> {
    match (answer, outcome) {
        (WriteAnswer::Index, outcome) => outcome_answer(outcome, Answer::Written { index }),
        (WriteAnswer::Txn, Applied::Done(ops))
        | (WriteAnswer::TxnPrecomputed(ops), Applied::Done(_)) => Ok(Answer::Txn { ops, index }),
        (_, outcome) => outcome_answer(outcome, Answer::Written { index }),
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
    use serde_json::json;

    use super::*;
    use crate::bugs::{Bug, Bugs};
    use crate::raft::Config;
    use crate::types::HardState;
    use crate::wal::Durability;

    /// A single-node driver, elected, with its term's no-op applied. Its
    /// log lives in memory only; the test calls the driver's steps itself.
    fn leader(bugs: &[Bug]) -> Driver {
        let (wal, _) = Wal::open(std::path::Path::new("/nonexistent"), Durability::Volatile)
            .expect("a volatile log touches no disk");
        let config = Config {
            id: 1,
            peers: Vec::new(),
            election_ticks: 10,
            heartbeat_ticks: 2,
            max_entries_per_message: 100,
            bugs: Bugs::from_list(bugs),
            seed: 7,
        };
        let raft = Raft::new(config, HardState::default(), Vec::new()).expect("valid config");
        let (_, inbox) = std::sync::mpsc::sync_channel(1);
        let mut driver = Driver::new(
            raft,
            wal,
            BTreeMap::new(),
            inbox,
            Duration::from_millis(10),
            Vec::new(),
            0,
        );
        for _ in 0..100 {
            driver.raft.tick();
            driver.process_ready().expect("a volatile log never fails");
            if driver.raft.role() == Role::Leader && driver.raft.applied() >= 1 {
                return driver;
            }
        }
        panic!("a single node elects itself within 100 ticks");
    }

    fn ask(
        driver: &mut Driver,
        request: Request,
    ) -> oneshot::Receiver<std::result::Result<Answer, ApiError>> {
        let (reply, answer) = oneshot::channel();
        driver.handle_client(request, reply);
        answer
    }

    fn settle(
        driver: &mut Driver,
        mut answer: oneshot::Receiver<std::result::Result<Answer, ApiError>>,
    ) -> std::result::Result<Answer, ApiError> {
        for _ in 0..10 {
            driver.process_ready().expect("a volatile log never fails");
            driver.after_turn();
            if let Ok(answer) = answer.try_recv() {
                return answer;
            }
        }
        panic!("a single node answers within 10 rounds");
    }

    fn append(key: &str, value: Value) -> MicroOp {
        MicroOp::Append {
            key: key.into(),
            value,
        }
    }

    fn read(key: &str) -> MicroOp {
        MicroOp::Read { key: key.into() }
    }

    /// An append to x is proposed but not yet applied when a transaction
    /// reading x arrives; the append precedes the transaction in the log.
    fn txn_behind_an_unapplied_append(bugs: &[Bug]) -> (LogIndex, Answer) {
        let mut driver = leader(bugs);
        let first = ask(
            &mut driver,
            Request::Propose(Command::Append {
                key: "x".into(),
                value: json!(1),
            }),
        );
        let txn = ask(
            &mut driver,
            Request::Txn(vec![read("x"), append("y", json!(2)), read("y")]),
        );
        let Ok(Answer::Written { index }) = settle(&mut driver, first) else {
            panic!("the append commits");
        };
        let answer = settle(&mut driver, txn).expect("the transaction commits");
        (index, answer)
    }

    #[test]
    fn txn_reads_are_taken_at_its_place_in_the_log() {
        let (append_index, answer) = txn_behind_an_unapplied_append(&[]);
        let Answer::Txn { ops, index } = answer else {
            panic!("a txn answers its ops: {answer:?}");
        };
        assert!(index > append_index);
        assert_eq!(
            ops,
            json!([["r", "x", [1]], ["append", "y", 2], ["r", "y", [2]]])
        );
    }

    #[test]
    fn bug_txn_local_reads_takes_the_reads_at_arrival() {
        let (append_index, answer) = txn_behind_an_unapplied_append(&[Bug::TxnLocalReads]);
        let Answer::Txn { ops, index } = answer else {
            panic!("a txn answers its ops: {answer:?}");
        };
        // The transaction follows the append in the log, yet does not see
        // it: its read of x was served from the state at arrival.
        assert!(index > append_index);
        assert_eq!(
            ops,
            json!([["r", "x", []], ["append", "y", 2], ["r", "y", [2]]])
        );
    }

    #[test]
    fn bug_txn_local_reads_puts_only_the_appends_in_the_log() {
        let mut driver = leader(&[Bug::TxnLocalReads]);
        let txn = ask(
            &mut driver,
            Request::Txn(vec![read("x"), append("x", json!(1)), read("x")]),
        );
        let Ok(Answer::Txn { ops, index }) = settle(&mut driver, txn) else {
            panic!("the transaction commits");
        };
        assert_eq!(
            ops,
            json!([["r", "x", []], ["append", "x", 1], ["r", "x", [1]]])
        );
        let entry = driver.raft.entry(index).expect("the entry is in the log");
        let command: Command = serde_json::from_slice(&entry.data).expect("a command");
        assert_eq!(
            command,
            Command::Txn {
                ops: vec![append("x", json!(1))]
            }
        );
    }

    #[test]
    fn txn_on_a_key_of_another_shape_answers_wrong_type_with_or_without_the_bug() {
        for bugs in [&[][..], &[Bug::TxnLocalReads]] {
            let mut driver = leader(bugs);
            let counter = ask(
                &mut driver,
                Request::Propose(Command::Add {
                    key: "c".into(),
                    delta: 1,
                }),
            );
            settle(&mut driver, counter).expect("the add commits");
            let txn = ask(
                &mut driver,
                Request::Txn(vec![append("x", json!(1)), read("c")]),
            );
            let error = settle(&mut driver, txn).expect_err("wrong shape");
            assert_eq!((error.code(), error.definite()), ("wrong-type", true));
            assert_eq!(
                driver.store.read(ReadKind::List, "x"),
                Applied::Done(json!([])),
                "{bugs:?}: no effect"
            );
        }
    }

    #[test]
    fn digest_is_fnv1a_64_in_hex() {
        assert_eq!(digest(b""), "cbf29ce484222325");
        assert_eq!(digest(b"a"), "af63dc4c8601ec8c");
    }
}
