//! Sampling every node's committed log into `raftlog.jsonl` (docs/design.md,
//! "Committed entries are never rolled back, seen from the nodes").
//!
//! During the main phase each running node is asked, every second and just
//! before each fault, for the committed entries after the last one it
//! listed, and the last `OVERLAP` it listed again (an entry overwritten near
//! the tail shows up at once); after a restart (a new process id) it lists
//! again from index 1. After the final heal and the
//! recovery wait every node lists its whole committed log once more
//! (`final_sample`), so an entry overwritten at any time shows up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use checker::{LogEntry, LogSample};
use nemesis::{NodeId, Supervisor};
use results::{JsonlWriter, RunDir};
use tokio::sync::watch;
use workloads::Client;

/// At most this many entries per sample during the main phase; the next
/// sample goes on from where this one stopped.
const SAMPLE_ENTRIES: usize = 20_000;

/// Entries each main-phase sample lists again before the new ones: an entry
/// overwritten near the tail (the Figure 8 rollback overwrites the last
/// entries a cut-off leader committed) shows up within a second, not only
/// in the final samples.
const OVERLAP: u64 = 16;

/// How long one node may take to list its log during the main phase.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one node may take to list its whole log at the end.
const FINAL_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Clone, Copy)]
struct NodeCursor {
    next_from: u64,
    pid: Option<i32>,
}

/// The sampler's file and where each node's listing goes on from.
pub struct Sampler {
    writer: JsonlWriter<LogSample>,
    epoch: Instant,
    cursors: Mutex<Vec<NodeCursor>>,
    restarts: AtomicU64,
    leaders: Mutex<LeaderWatch>,
}

/// The leaders seen once a second, to count leader changes.
#[derive(Debug, Default)]
struct LeaderWatch {
    last: Option<NodeId>,
    changes: u64,
}

impl Sampler {
    /// Creates `raftlog.jsonl` in the run directory.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(run: &RunDir, epoch: Instant, nodes: usize) -> Result<Self> {
        Ok(Self {
            writer: JsonlWriter::create(run.raftlog())?,
            epoch,
            cursors: Mutex::new(vec![NodeCursor::default(); nodes]),
            restarts: AtomicU64::new(0),
            leaders: Mutex::new(LeaderWatch::default()),
        })
    }

    /// Restarts seen (a node's process id changed between samples).
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Leader changes seen (a different leader than at the previous look,
    /// once a second; changes faster than that are not all seen).
    pub fn leader_changes(&self) -> u64 {
        self.leaders
            .lock()
            .expect("never held across a panic")
            .changes
    }

    fn saw_leader(&self, leader: Option<NodeId>) {
        let Some(leader) = leader else { return };
        let mut watch = self.leaders.lock().expect("never held across a panic");
        if watch.last.is_some_and(|last| last != leader) {
            watch.changes += 1;
        }
        watch.last = Some(leader);
    }

    /// Flushes the file; the first write error, if any.
    ///
    /// # Errors
    /// The first I/O error met.
    pub fn finish(&self) -> results::Result<u64> {
        self.writer.finish()
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn cursor(&self, node: NodeId) -> NodeCursor {
        self.cursors.lock().expect("never held across a panic")[node.index()]
    }

    fn set_cursor(&self, node: NodeId, cursor: NodeCursor) {
        self.cursors.lock().expect("never held across a panic")[node.index()] = cursor;
    }

    async fn sample<C: Client>(
        &self,
        client: &C,
        supervisor: &Supervisor,
        node: NodeId,
        final_sample: bool,
    ) {
        // A paused node would only time out; a dead one has nothing to say.
        if !supervisor.is_alive(node) || supervisor.is_paused(node) {
            return;
        }
        let mut cursor = self.cursor(node);
        let pid = supervisor.pid(node);
        let restart = pid != cursor.pid;
        if restart {
            if cursor.pid.is_some() {
                self.restarts.fetch_add(1, Ordering::Relaxed);
            }
            cursor.next_from = 1;
        }
        let (from, limit, wait) = if final_sample {
            (1, usize::MAX, FINAL_TIMEOUT)
        } else {
            (
                cursor.next_from.saturating_sub(OVERLAP).max(1),
                SAMPLE_ENTRIES,
                SAMPLE_TIMEOUT,
            )
        };
        let time = self.now_ns();
        let Ok(Some(page)) =
            tokio::time::timeout(wait, client.committed_log(node, from, limit)).await
        else {
            return;
        };
        if let Some(&(last, _, _)) = page.entries.last() {
            cursor.next_from = cursor.next_from.max(last + 1);
        }
        cursor.pid = pid;
        self.set_cursor(node, cursor);
        self.writer.write(&LogSample {
            time,
            node: node.to_string(),
            commit_index: page.commit_index,
            from,
            entries: page
                .entries
                .into_iter()
                .map(|(index, term, digest)| LogEntry {
                    index,
                    term,
                    digest,
                })
                .collect(),
            restart,
            final_sample,
        });
    }
}

/// Samples every node every `every` until `stop` becomes true.
pub async fn sample_until<C: Client>(
    sampler: Arc<Sampler>,
    client: Arc<C>,
    supervisor: Arc<Supervisor>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Ok(leader) = tokio::time::timeout(SAMPLE_TIMEOUT, client.leader()).await {
            sampler.saw_leader(leader);
        }
        sample_all(&sampler, client.as_ref(), &supervisor).await;
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Every node's committed log since its last sample, once (as the
/// once-a-second samples do), e.g. just before a fault.
pub async fn sample_all<C: Client>(sampler: &Sampler, client: &C, supervisor: &Supervisor) {
    for node in NodeId::all(supervisor.len()) {
        sampler.sample(client, supervisor, node, false).await;
    }
}

/// Every node's whole committed log, once, after the final heal.
pub async fn final_samples<C: Client>(sampler: &Sampler, client: &C, supervisor: &Supervisor) {
    for node in NodeId::all(supervisor.len()) {
        sampler.sample(client, supervisor, node, true).await;
    }
}
