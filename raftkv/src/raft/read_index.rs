//! Linearizable reads: ReadIndex (Raft thesis §6.4), and the two bug
//! switches that bypass it.

use super::{NotLeader, PendingRead, Raft, ReadState, Role};

impl Raft {
    /// Asks for a linearizable read tagged `ctx`; a [`ReadState`] with the
    /// same tag appears in a later [`Ready`](super::Ready) (or this one).
    ///
    /// ReadIndex (Raft thesis §6.4): once the leader has committed an entry
    /// of its term and a majority answered a heartbeat sent after the read
    /// arrived, the read may see everything up to the commit index.
    ///
    /// # Errors
    /// [`NotLeader`] on any node but the leader.
    pub fn read_index(&mut self, ctx: u64) -> Result<(), NotLeader> {
        // Bug stale-read: any node reads its local state, leader or not.
        if self.config.bugs.stale_read {
            self.read_states.push(ReadState {
                ctx,
                index: self.commit,
            });
            return Ok(());
        }
        if self.role != Role::Leader {
            return Err(NotLeader {
                leader: self.leader,
            });
        }
        // Bug lease-read: trust a lease counted in ticks instead of a
        // heartbeat round; ticks stop while the process is paused.
        if self.config.bugs.lease_read && self.lease_is_valid() {
            self.read_states.push(ReadState {
                ctx,
                index: self.commit,
            });
            return Ok(());
        }
        // Every AppendEntries carries the latest round, and one broadcast per
        // Ready serves all reads that arrived before it.
        self.read_round += 1;
        self.needs_broadcast = true;
        self.pending_reads.push(PendingRead {
            ctx,
            round: self.read_round,
        });
        self.process_reads();
        Ok(())
    }

    /// A leader's lease, as etcd's `ReadOnlyLeaseBased`: a majority answered
    /// within the last election timeout, counted in ticks.
    pub(super) fn lease_is_valid(&self) -> bool {
        if self.term_at(self.commit) != Some(self.term) {
            return false;
        }
        let window = u64::from(self.config.election_ticks);
        let fresh = self
            .progress
            .values()
            .filter(|progress| {
                progress
                    .last_ack_tick
                    .is_some_and(|tick| self.ticks - tick < window)
            })
            .count();
        fresh + 1 >= self.quorum()
    }

    pub(super) fn process_reads(&mut self) {
        if self.role != Role::Leader || self.pending_reads.is_empty() {
            return;
        }
        // Thesis §6.4 step 1: wait until an entry of this term is committed.
        if self.term_at(self.commit) != Some(self.term) {
            return;
        }
        let mut rounds: Vec<u64> = self
            .progress
            .values()
            .map(|progress| progress.read_round)
            .collect();
        rounds.push(self.read_round);
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = rounds[self.quorum() - 1];
        let ready = self
            .pending_reads
            .iter()
            .take_while(|read| read.round <= confirmed)
            .count();
        let commit = self.commit;
        for read in self.pending_reads.drain(..ready) {
            self.read_states.push(ReadState {
                ctx: read.ctx,
                index: commit,
            });
        }
    }
}
