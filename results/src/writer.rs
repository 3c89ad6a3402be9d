//! Append-only JSON Lines files that are flushed line by line.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use checker::Event;
use serde::Serialize;

use crate::error::{Error, Result};

/// A JSON Lines file: one value per line, each line flushed to the kernel
/// as it is written, so a process killed at any moment leaves every line it
/// wrote except, at most, a torn last one (which readers ignore with a warning).
///
/// The first write error is kept and returned by [`JsonlWriter::finish`];
/// later lines are still attempted, so a transient error loses as little as
/// possible.
#[derive(Debug)]
pub struct JsonlWriter<T> {
    path: PathBuf,
    inner: Mutex<Lines>,
    _lines: PhantomData<fn(&T)>,
}

#[derive(Debug)]
struct Lines {
    out: BufWriter<File>,
    buffer: Vec<u8>,
    written: u64,
    error: Option<std::io::Error>,
}

impl<T: Serialize> JsonlWriter<T> {
    /// Creates (or truncates) `path`.
    ///
    /// # Errors
    /// `Write` when the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            path,
            inner: Mutex::new(Lines {
                out: BufWriter::new(file),
                buffer: Vec::with_capacity(256),
                written: 0,
                error: None,
            }),
            _lines: PhantomData,
        })
    }

    /// The file written.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one line and flushes it.
    pub fn write(&self, value: &T) {
        self.write_stamped(&mut &*value, |_, _| {});
    }

    /// Lines written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.lock().written
    }

    /// Flushes and returns the first error met, if any.
    ///
    /// # Errors
    /// `Write` with the first I/O error of any line.
    pub fn finish(&self) -> Result<u64> {
        let mut lines = self.lock();
        if let Err(err) = lines.out.flush() {
            lines.error.get_or_insert(err);
        }
        match lines.error.take() {
            Some(source) => Err(Error::Write {
                path: self.path.clone(),
                source,
            }),
            None => Ok(lines.written),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        self.inner
            .lock()
            .expect("the writer lock is never held across a panic: serialization cannot panic")
    }

    /// Runs `stamp` on `value` (with the number of lines written before)
    /// and writes it, both under the writer's lock: the order of lines is
    /// the order in which `stamp` ran.
    fn write_stamped<V: Serialize>(&self, value: &mut V, stamp: impl FnOnce(&mut V, u64)) {
        let mut lines = self.lock();
        stamp(value, lines.written);
        let Lines {
            out, buffer, error, ..
        } = &mut *lines;
        buffer.clear();
        serde_json::to_writer(&mut *buffer, &*value)
            .expect("history values are JSON values and plain structs: serializing cannot fail");
        buffer.push(b'\n');
        if let Err(err) = out.write_all(buffer).and_then(|()| out.flush()) {
            error.get_or_insert(err);
        }
        lines.written += 1;
    }
}

/// `history.jsonl`: numbers every event (`index` 0, 1, 2 ...) and stamps
/// its `time` (nanoseconds since the test's epoch) under one lock, so the
/// order of lines is real-time order (docs/design.md: "Real-time order is the
/// order of the lines").
#[derive(Debug)]
pub struct HistoryWriter {
    lines: JsonlWriter<Event>,
    epoch: Instant,
}

impl HistoryWriter {
    /// Creates `path`; event times count from `epoch` (the test's start).
    ///
    /// # Errors
    /// `Write` when the file cannot be created.
    pub fn create(path: impl AsRef<Path>, epoch: Instant) -> Result<Self> {
        Ok(Self {
            lines: JsonlWriter::create(path)?,
            epoch,
        })
    }

    /// The file written.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.lines.path()
    }

    /// The instant event times count from.
    #[must_use]
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Writes `event` with the next `index` and the current `time`
    /// (whatever the caller put there is replaced); returns the index.
    pub fn record(&self, mut event: Event) -> u64 {
        let epoch = self.epoch;
        // Stamp inside the lock: a later line never carries an earlier time.
        self.lines.write_stamped(&mut event, |event, written| {
            event.index = written;
            event.time = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        });
        event.index
    }

    /// Events written so far.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.lines.written()
    }

    /// Flushes and returns the first error met, if any.
    ///
    /// # Errors
    /// `Write` with the first I/O error of any line.
    pub fn finish(&self) -> Result<u64> {
        self.lines.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::{EventType, Process};
    use serde_json::json;

    fn event(process: u64, kind: EventType) -> Event {
        Event {
            index: 99,
            time: 99,
            process: Process::Client(process),
            kind,
            f: "write".into(),
            key: Some("k".into()),
            value: json!(1),
            node: None,
            error: None,
            revision: None,
        }
    }

    #[test]
    fn history_lines_are_numbered_in_order_and_readable_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let writer = HistoryWriter::create(&path, Instant::now()).unwrap();
        assert_eq!(writer.record(event(0, EventType::Invoke)), 0);
        assert_eq!(writer.record(event(0, EventType::Ok)), 1);
        // No finish: what a killed harness leaves behind is already complete.
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<Event> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].index, events[1].index), (0, 1));
        assert!(events[0].time <= events[1].time);
        assert_eq!(writer.finish().unwrap(), 2);
    }

    #[test]
    fn concurrent_writers_never_interleave_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let writer = std::sync::Arc::new(HistoryWriter::create(&path, Instant::now()).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|p| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        writer.record(event(p, EventType::Invoke));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut last_time = 0;
        for (i, line) in text.lines().enumerate() {
            let event: Event = serde_json::from_str(line).unwrap();
            assert_eq!(event.index, i as u64);
            assert!(event.time >= last_time, "time goes back at line {i}");
            last_time = event.time;
        }
        assert_eq!(text.lines().count(), 1000);
    }
}
