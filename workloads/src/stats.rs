//! Live counters of the client phase, for a progress display.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::client::Completion;

/// Counts of operations so far; updated by the client tasks as they go.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Operations invoked.
    pub invoked: AtomicU64,
    /// Operations completed `ok`.
    pub ok: AtomicU64,
    /// Operations completed `fail`.
    pub fail: AtomicU64,
    /// Operations completed `info`.
    pub info: AtomicU64,
    /// Operations completed `ok` since the last [`ClientStats::mark`] (e.g.
    /// since the final heal).
    pub ok_since_mark: AtomicU64,
}

/// A copy of [`ClientStats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientCounts {
    /// Operations invoked.
    pub invoked: u64,
    /// Operations completed `ok`.
    pub ok: u64,
    /// Operations completed `fail`.
    pub fail: u64,
    /// Operations completed `info`.
    pub info: u64,
    /// Operations completed `ok` since the last mark.
    pub ok_since_mark: u64,
}

impl ClientStats {
    /// Starts counting `ok_since_mark` from zero.
    pub fn mark(&self) {
        self.ok_since_mark.store(0, Ordering::Relaxed);
    }

    /// The counts now.
    #[must_use]
    pub fn snapshot(&self) -> ClientCounts {
        ClientCounts {
            invoked: self.invoked.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            fail: self.fail.load(Ordering::Relaxed),
            info: self.info.load(Ordering::Relaxed),
            ok_since_mark: self.ok_since_mark.load(Ordering::Relaxed),
        }
    }

    /// Counts an invoke.
    pub(crate) fn invoked(&self) {
        self.invoked.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a completion.
    pub(crate) fn completed(&self, completion: &Completion) {
        let counter = match completion {
            Completion::Ok(_) => {
                self.ok_since_mark.fetch_add(1, Ordering::Relaxed);
                &self.ok
            }
            Completion::Fail { .. } => &self.fail,
            Completion::Info { .. } => &self.info,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_restarts_only_the_ok_since_mark_count() {
        let stats = ClientStats::default();
        stats.invoked();
        stats.completed(&Completion::Ok(serde_json::Value::Null));
        stats.invoked();
        stats.completed(&Completion::info("timeout"));
        stats.mark();
        stats.invoked();
        stats.completed(&Completion::Ok(serde_json::Value::Null));
        assert_eq!(
            stats.snapshot(),
            ClientCounts {
                invoked: 3,
                ok: 2,
                fail: 0,
                info: 1,
                ok_since_mark: 1
            }
        );
    }
}
