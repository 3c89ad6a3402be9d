//! Where client events go: the history, in the order they happen.

use std::sync::Mutex;
use std::time::Instant;

use checker::Event;

/// Takes the events of a run into the history.
pub trait Recorder: Send + Sync + 'static {
    /// Writes one event; the recorder assigns `index` and `time` (the caller
    /// leaves them 0). It returns only once the event has its place in the
    /// history order, so an invoke is recorded before its request leaves and
    /// a completion after its answer arrived.
    fn record(&self, event: Event);
}

/// A recorder that keeps the history in memory (tests, small tools).
#[derive(Debug)]
pub struct MemoryRecorder {
    started: Instant,
    events: Mutex<Vec<Event>>,
}

impl MemoryRecorder {
    /// An empty history whose clock starts now.
    #[must_use]
    pub fn new() -> Self {
        MemoryRecorder {
            started: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// A copy of every event recorded so far, in order.
    #[must_use]
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// The history as JSON Lines (docs/design.md), one event per line.
    #[must_use]
    pub fn to_jsonl(&self) -> String {
        let mut text = String::new();
        for event in self.lock().iter() {
            text.push_str(&serde_json::to_string(event).expect("an Event always serializes"));
            text.push('\n');
        }
        text
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events
            .lock()
            .expect("the lock is only held to push or copy, which do not panic")
    }
}

impl Default for MemoryRecorder {
    fn default() -> Self {
        MemoryRecorder::new()
    }
}

impl Recorder for MemoryRecorder {
    fn record(&self, mut event: Event) {
        let mut events = self.lock();
        event.index = events.len() as u64;
        // Taken under the lock, so times never decrease along the history.
        event.time = u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        events.push(event);
    }
}

#[cfg(test)]
mod tests {
    use checker::{EventType, Process};
    use serde_json::Value;

    use super::*;

    #[test]
    fn assigns_increasing_indexes_and_times() {
        let recorder = MemoryRecorder::new();
        for kind in [EventType::Invoke, EventType::Ok] {
            recorder.record(Event {
                index: 0,
                time: 0,
                process: Process::Client(0),
                kind,
                f: "read".to_string(),
                key: Some("r0".to_string()),
                value: Value::Null,
                node: Some("n1".to_string()),
                error: None,
                revision: None,
            });
        }
        let events = recorder.events();
        assert_eq!(events[0].index, 0);
        assert_eq!(events[1].index, 1);
        assert!(events[0].time <= events[1].time);
        let text = recorder.to_jsonl();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(r#"{"index":0,"#), "{text}");
    }
}
