//! A dedicated jsonl reader for transaction histories: faultline's history
//! lines (docs/design.md, "History") with `f: "txn"`, read straight into a
//! [`TxnHistory`]'s flat arrays without building `serde_json::Value` trees.
//!
//! The text is cut at newlines into chunks of about [`CHUNK_BYTES`]; two at
//! a time are scanned in parallel (rayon) by a hand-written scanner over
//! bytes into two reused buffers, then their events are paired in line
//! order (invokes with completions, per process) and each completed
//! transaction's micro-ops appended to the history. A committed
//! transaction's come from its `ok` line; another's are read again from its
//! invoke line when it ends. A line the scanner does not take on its fast
//! path (a string with an escape, a number beyond i64, a bad line) is read
//! again with `serde_json`, which either reads it (fields in any order, any
//! spacing, unknown fields) or names what is wrong and where. The pairing
//! rules, errors and warnings are those of the generic reader
//! (`crate::format`): a torn last line is a warning; any other bad line, a
//! completion without an open invoke or a second invoke of an open process
//! is an error naming `file:line:column`, and the first of those in line
//! order is the one reported. Nemesis lines are skipped.

use std::ops::Range;

use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::Value;

mod scanner;

use scanner::Scanner;

use super::{Elem, KeyId, KeyName, Mop, Status, Txn, TxnHistory};
use crate::error::{json_error, quote, Error, Result, QUOTE_CHARS};
use crate::event::{EventType, Process};

/// About how many bytes one chunk of lines holds: large enough that a
/// chunk's setup costs nothing, small enough that its reused buffers stay
/// small.
const CHUNK_BYTES: usize = 1 << 22;

/// Reads a faultline jsonl history of `txn` ops straight into a
/// [`TxnHistory`]; `source` names the file in errors.
///
/// Each op's `value` is its list of micro-ops: `["append", key, element]`
/// and `["r", key, null]` on invoke, `["r", key, [elements...]]` on `ok`
/// (a `null` read on `ok` is the empty list). Keys are JSON integers or
/// strings, elements integers. A committed transaction keeps its `ok`
/// line's micro-ops, any other its invoke's (reads unknown). Transactions
/// are in invoke order; their micro-ops are laid out in the order they
/// ended, keys interned in order of first appearance there.
///
/// # Errors
/// [`Error::BadLine`] for a line that is not an event or not a transaction
/// (naming `source:line:column`, quoting at most 120 characters),
/// [`Error::UnmatchedCompletion`] and [`Error::OverlappingInvoke`] for
/// events that do not pair.
pub fn read_jsonl(text: &str, source: &str) -> Result<TxnHistory> {
    let torn_possible = !text.is_empty() && !text.ends_with('\n');
    let pieces = split(text);
    let last = pieces.len() - 1;
    let mut builder = Builder::new(source, text.len());
    let (mut first, mut second) = (Chunk::new(CHUNK_BYTES), Chunk::new(CHUNK_BYTES));
    for (pair, two) in pieces.chunks(2).enumerate() {
        let n = 2 * pair;
        let (head, tail) = (two[0], two.get(1).copied());
        rayon::join(
            || first.scan(head, torn_possible && n == last),
            || second.scan(tail.unwrap_or(""), torn_possible && n + 1 == last),
        );
        builder.take(&first, head)?;
        if let Some(tail) = tail {
            builder.take(&second, tail)?;
        }
    }
    Ok(builder.finish())
}

/// The name of a completion kind in messages.
fn kind_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

/// The history as it is built, chunk after chunk, in line order.
struct Builder<'a> {
    source: &'a str,
    history: TxnHistory,
    /// Per process, its open transaction, the invoke's column and line.
    open: FxHashMap<u64, (usize, u64, &'a str)>,
    global: FxHashMap<KeyName, KeyId>,
    /// The current chunk's keys as global ids (`KeyId::MAX`: not yet).
    remap: Vec<KeyId>,
    /// Invoke lines read again, for transactions that did not commit.
    again: Chunk,
    /// Lines before the current chunk.
    base: u64,
}

impl<'a> Builder<'a> {
    fn new(source: &'a str, bytes: usize) -> Self {
        let mut history = TxnHistory::default();
        // About 330 bytes a transaction of 4 micro-ops with 16-element reads.
        history.txns.reserve(bytes / 320);
        history.mops.reserve(bytes / 80);
        history.read_elems.reserve(bytes / 12);
        Builder {
            source,
            history,
            open: FxHashMap::default(),
            global: FxHashMap::default(),
            remap: Vec::new(),
            again: Chunk::new(0),
            base: 0,
        }
    }

    /// Pairs a scanned chunk's events (`piece` its text), appends the
    /// micro-ops of the transactions that end there, then fails with its
    /// bad line if it has one.
    fn take(&mut self, chunk: &Chunk, piece: &'a str) -> Result<()> {
        self.remap.clear();
        self.remap.resize(chunk.keys.len(), KeyId::MAX);
        let elems_offset = self.history.read_elems.len() as u32;
        self.history.read_elems.extend_from_slice(&chunk.elems);
        for event in &chunk.events {
            let line = self.base + event.line;
            let column = u64::from(event.column);
            if event.kind == EventType::Invoke {
                if let Some(&(open, open_column, _)) = self.open.get(&event.process) {
                    return Err(Error::OverlappingInvoke {
                        source_name: self.source.to_string(),
                        line,
                        column,
                        open_line: self.history.txns[open].line,
                        open_column,
                        process: event.process,
                    });
                }
                let text = &piece[event.mops.start as usize..event.mops.end as usize];
                self.open
                    .insert(event.process, (self.history.txns.len(), column, text));
                self.history.txns.push(Txn {
                    id: event.index,
                    process: event.process,
                    status: Status::Unknown,
                    call: line,
                    ret: None,
                    call_time: Some(event.time),
                    ret_time: None,
                    line,
                    mops: 0..0,
                });
                continue;
            }
            let Some((txn, _, invoke)) = self.open.remove(&event.process) else {
                return Err(Error::UnmatchedCompletion {
                    source_name: self.source.to_string(),
                    line,
                    column,
                    process: event.process,
                    kind: kind_name(event.kind).to_string(),
                });
            };
            let mops = match event.kind {
                EventType::Ok => self.append_committed(chunk, &event.mops, elems_offset),
                _ => self.append_invoke(invoke),
            };
            let txn = &mut self.history.txns[txn];
            txn.mops = mops;
            match event.kind {
                EventType::Ok => txn.status = Status::Committed,
                EventType::Fail => txn.status = Status::Aborted,
                _ => continue,
            }
            txn.ret = Some(line);
            txn.ret_time = Some(event.time);
        }
        if let Some(bad) = &chunk.error {
            return Err(Error::BadLine {
                source_name: self.source.to_string(),
                line: self.base + bad.line,
                column: bad.column,
                reason: bad.reason.clone(),
            });
        }
        if let Some((line, reason)) = &chunk.warning {
            self.history.warnings.push(format!(
                "{}:{}: ignored a torn last line ({reason}); the writer probably died mid-line",
                self.source,
                self.base + line
            ));
        }
        self.base += chunk.lines;
        Ok(())
    }

    /// Appends an ok line's micro-ops (`range` of `chunk`'s), its reads
    /// known; returns where they are.
    fn append_committed(&mut self, chunk: &Chunk, range: &Range<u32>, offset: u32) -> Range<u32> {
        let start = self.history.mops.len() as u32;
        for mop in &chunk.mops[range.start as usize..range.end as usize] {
            let mop = match mop {
                Mop::Append { key, elem } => Mop::Append {
                    key: self.intern(chunk, *key),
                    elem: *elem,
                },
                Mop::Read { key, elems } => Mop::Read {
                    key: self.intern(chunk, *key),
                    // A committed `null` read is the empty list.
                    elems: Some(
                        elems
                            .as_ref()
                            .map_or(0..0, |r| r.start + offset..r.end + offset),
                    ),
                },
            };
            self.history.mops.push(mop);
        }
        start..self.history.mops.len() as u32
    }

    /// Reads an invoke line again and appends its micro-ops, reads
    /// unknown; returns where they are. The line was read once, so it reads.
    fn append_invoke(&mut self, line: &str) -> Range<u32> {
        let mut again = std::mem::replace(&mut self.again, Chunk::new(0));
        again.clear();
        let read = Scanner {
            bytes: line.as_bytes(),
            at: 0,
        }
        .line(&mut again)
        .is_some();
        if !read {
            again.clear();
            let _ = slow_line(line, &mut again, false);
        }
        let start = self.history.mops.len() as u32;
        for mop in &again.mops {
            let (key, mop) = match mop {
                Mop::Append { key, elem } => (
                    key,
                    Mop::Append {
                        key: 0,
                        elem: *elem,
                    },
                ),
                Mop::Read { key, .. } => (
                    key,
                    Mop::Read {
                        key: 0,
                        elems: None,
                    },
                ),
            };
            let id = self.intern_name(&again.keys[*key as usize]);
            self.history.mops.push(match mop {
                Mop::Append { elem, .. } => Mop::Append { key: id, elem },
                Mop::Read { .. } => Mop::Read {
                    key: id,
                    elems: None,
                },
            });
        }
        self.again = again;
        start..self.history.mops.len() as u32
    }

    /// The global id of `chunk`'s key `local`.
    fn intern(&mut self, chunk: &Chunk, local: KeyId) -> KeyId {
        let id = self.remap[local as usize];
        if id != KeyId::MAX {
            return id;
        }
        let id = self.intern_name(&chunk.keys[local as usize]);
        self.remap[local as usize] = id;
        id
    }

    fn intern_name(&mut self, name: &KeyName) -> KeyId {
        if let Some(&id) = self.global.get(name) {
            return id;
        }
        let id = self.history.keys.len() as KeyId;
        self.history.keys.push(name.clone());
        self.global.insert(name.clone(), id);
        id
    }

    /// The history; transactions still open keep their invoke's micro-ops.
    fn finish(mut self) -> TxnHistory {
        let mut open: Vec<(usize, &str)> = self
            .open
            .drain()
            .map(|(_, (txn, _, line))| (txn, line))
            .collect();
        open.sort_unstable();
        for (txn, line) in open {
            let mops = self.append_invoke(line);
            self.history.txns[txn].mops = mops;
        }
        self.history
    }
}

/// `text` cut after a newline about every [`CHUNK_BYTES`]; at least one piece.
fn split(text: &str) -> Vec<&str> {
    let mut pieces = Vec::with_capacity(text.len() / CHUNK_BYTES + 1);
    let mut rest = text;
    while rest.len() > CHUNK_BYTES {
        match memchr::memchr(b'\n', &rest.as_bytes()[CHUNK_BYTES..]) {
            Some(newline) => {
                let (piece, after) = rest.split_at(CHUNK_BYTES + newline + 1);
                pieces.push(piece);
                rest = after;
            }
            None => break,
        }
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// An event as scanned, before pairing: its line within its chunk.
struct Scanned {
    line: u64,
    column: u32,
    kind: EventType,
    process: u64,
    index: u64,
    time: u64,
    /// A completion's micro-ops in the chunk's arrays (keys the chunk's
    /// own); an invoke's line, as a byte range of the chunk's text.
    mops: Range<u32>,
}

/// A bad line, its line within its chunk.
struct BadLine {
    line: u64,
    column: u64,
    reason: String,
}

/// What a chunk of lines scanned to: its events up to its first bad line,
/// and the micro-ops, elements and keys of its completions. Reused chunk
/// after chunk, so its buffers are allocated once.
struct Chunk {
    events: Vec<Scanned>,
    mops: Vec<Mop>,
    /// The elements of reads; a read's range is `None` for `null`.
    elems: Vec<Elem>,
    keys: Vec<KeyName>,
    int_keys: FxHashMap<i64, KeyId>,
    /// The last integer keys met, by their low bits: hot keys repeat.
    recent: [(i64, KeyId); RECENT_KEYS],
    str_keys: FxHashMap<String, KeyId>,
    /// Its newlines (the lines that follow it start that many later).
    lines: u64,
    error: Option<BadLine>,
    warning: Option<(u64, String)>,
}

/// Integer keys remembered per chunk in front of its map.
const RECENT_KEYS: usize = 16;

impl Chunk {
    fn new(capacity: usize) -> Chunk {
        Chunk {
            events: Vec::with_capacity(capacity / 160),
            mops: Vec::with_capacity(capacity / 80),
            elems: Vec::with_capacity(capacity / 12),
            keys: Vec::new(),
            int_keys: FxHashMap::default(),
            recent: [(0, KeyId::MAX); RECENT_KEYS],
            str_keys: FxHashMap::default(),
            lines: 0,
            error: None,
            warning: None,
        }
    }

    /// Empties it, keeping its buffers.
    fn clear(&mut self) {
        self.events.clear();
        self.mops.clear();
        self.elems.clear();
        self.keys.clear();
        self.int_keys.clear();
        self.recent = [(0, KeyId::MAX); RECENT_KEYS];
        self.str_keys.clear();
        self.lines = 0;
        self.error = None;
        self.warning = None;
    }

    fn intern_int(&mut self, key: i64) -> KeyId {
        let slot = key as usize % RECENT_KEYS;
        let (recent, id) = self.recent[slot];
        if recent == key && id != KeyId::MAX {
            return id;
        }
        let id = match self.int_keys.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.keys.len() as KeyId;
                self.keys.push(KeyName::Int(key));
                self.int_keys.insert(key, id);
                id
            }
        };
        self.recent[slot] = (key, id);
        id
    }

    fn intern_str(&mut self, key: &str) -> KeyId {
        if let Some(&id) = self.str_keys.get(key) {
            return id;
        }
        let id = self.keys.len() as KeyId;
        self.keys.push(KeyName::Str(key.to_string()));
        self.str_keys.insert(key.to_string(), id);
        id
    }

    /// Scans the lines of `piece` up to the first bad one, after emptying
    /// itself. `torn_possible`: its last line is the file's and has no
    /// newline, so a line `serde_json` cannot read there is a torn write.
    fn scan(&mut self, piece: &str, torn_possible: bool) {
        self.clear();
        let bytes = piece.as_bytes();
        let mut start = 0;
        let mut line = 0u64;
        while start < bytes.len() {
            line += 1;
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |n| start + n);
            let is_last = end == bytes.len();
            let raw = &piece[start..end];
            let raw_start = start;
            start = end + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let indent = raw.len() - raw.trim_start().len();
            let column = raw[..indent].chars().count() as u64 + 1;
            let (mops_before, elems_before) = (self.mops.len(), self.elems.len());
            let fast = Scanner {
                bytes: trimmed.as_bytes(),
                at: 0,
            }
            .line(self);
            let outcome = match fast {
                Some(outcome) => Ok(outcome),
                None => {
                    self.mops.truncate(mops_before);
                    self.elems.truncate(elems_before);
                    slow_line(trimmed, self, torn_possible && is_last)
                }
            };
            match outcome {
                Ok(Some((kind, process, index, time))) => {
                    let mops = if kind == EventType::Invoke {
                        // Most transactions commit and keep their ok line's
                        // micro-ops: an invoke's are read again only if not.
                        self.mops.truncate(mops_before);
                        self.elems.truncate(elems_before);
                        let from = raw_start + indent;
                        from as u32..(from + trimmed.len()) as u32
                    } else {
                        mops_before as u32..self.mops.len() as u32
                    };
                    self.events.push(Scanned {
                        line,
                        column: column as u32,
                        kind,
                        process,
                        index,
                        time,
                        mops,
                    });
                }
                Ok(None) => {
                    self.mops.truncate(mops_before);
                    self.elems.truncate(elems_before);
                }
                Err(Bad::Torn(reason)) => self.warning = Some((line, reason)),
                Err(Bad::Line { offset, reason }) => {
                    self.error = Some(BadLine {
                        line,
                        column: column - 1 + crate::error::column_of(trimmed, offset),
                        reason,
                    });
                    return;
                }
            }
        }
        self.lines = memchr::memchr_iter(b'\n', bytes).count() as u64;
    }
}

/// A line's event: kind, process, index, time (`None` for a nemesis line).
type LineEvent = Option<(EventType, u64, u64, u64)>;

/// Why a line was not read.
enum Bad {
    /// A torn last line: the reason, for the warning.
    Torn(String),
    /// A bad line: where in it (a byte offset) and why.
    Line { offset: usize, reason: String },
}

/// A line as `serde_json` reads it (the same fields as [`crate::Event`]).
#[derive(Deserialize)]
struct SlowLine {
    index: u64,
    #[serde(default)]
    time: u64,
    process: Process,
    #[serde(rename = "type")]
    kind: EventType,
    f: String,
    #[serde(default)]
    value: Value,
}

/// Reads a line the scanner left: with `serde_json`, then its value as
/// micro-ops into `chunk`.
fn slow_line(line: &str, chunk: &mut Chunk, torn_possible: bool) -> Result<LineEvent, Bad> {
    let event: SlowLine = match serde_json::from_str(line) {
        Ok(event) => event,
        Err(err) if torn_possible => return Err(Bad::Torn(json_error(line, &err).1)),
        Err(err) => {
            let (column, message, found) = json_error(line, &err);
            let offset = line
                .char_indices()
                .nth(column as usize - 1)
                .map_or(line.len(), |(offset, _)| offset);
            return Err(Bad::Line {
                offset,
                reason: format!(
                    "expected a history event, a JSON object with index, process, type, f ({message}); found {found}"
                ),
            });
        }
    };
    let Process::Client(process) = event.process else {
        return Ok(None);
    };
    if event.f != "txn" {
        return Err(Bad::Line {
            offset: 0,
            reason: format!(
                "expected a transaction (f \"txn\") from process {process}, found f {}",
                quote(&event.f, 60)
            ),
        });
    }
    let bad_value = |reason: String| Bad::Line { offset: 0, reason };
    match (&event.value, event.kind) {
        (Value::Array(mops), _) => {
            for (n, mop) in mops.iter().enumerate() {
                let mop = slow_mop(mop, chunk, event.kind).ok_or_else(|| {
                    bad_value(format!(
                        "micro-op {} of the transaction: expected [\"append\", key, element] or [\"r\", key, null or [elements...]] (keys integers or strings, elements integers), found {}",
                        n + 1,
                        quote(&mop.to_string(), QUOTE_CHARS)
                    ))
                })?;
                chunk.mops.push(mop);
            }
        }
        // A failed or crashed transaction's completion need not repeat it.
        (Value::Null, EventType::Fail | EventType::Info) => {}
        (other, kind) => {
            return Err(bad_value(format!(
                "expected the value of a transaction's {} to be its list of micro-ops, found {}",
                kind_name(kind),
                quote(&other.to_string(), QUOTE_CHARS)
            )))
        }
    }
    Ok(Some((event.kind, process, event.index, event.time)))
}

/// One micro-op from JSON, or `None` when it has no such shape.
fn slow_mop(mop: &Value, chunk: &mut Chunk, kind: EventType) -> Option<Mop> {
    let [f, key, arg] = mop.as_array()?.as_slice() else {
        return None;
    };
    let key = match key {
        Value::String(s) => chunk.intern_str(s),
        other => chunk.intern_int(other.as_i64()?),
    };
    match (f.as_str()?, arg) {
        ("append", elem) => Some(Mop::Append {
            key,
            elem: elem.as_i64()?,
        }),
        ("r", Value::Null) => Some(Mop::Read { key, elems: None }),
        // An invoke's reads are unknown whatever it says.
        ("r", _) if kind == EventType::Invoke => Some(Mop::Read { key, elems: None }),
        ("r", Value::Array(elems)) => {
            let from = chunk.elems.len() as u32;
            for elem in elems {
                chunk.elems.push(elem.as_i64()?);
            }
            Some(Mop::Read {
                key,
                elems: Some(from..chunk.elems.len() as u32),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTORY: &str = r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"txn","value":[["append",3,1],["r",3,null]]}
{"index":1,"time":11,"process":"nemesis","type":"info","f":"partition","value":{"groups":[["n1"],["n2","n3"]]}}
{"index":2,"time":12,"process":1,"type":"invoke","f":"txn","value":[["r","x",null]]}
{"index":3,"time":20,"process":0,"type":"ok","f":"txn","value":[["append",3,1],["r",3,[1]]]}
{"index":4,"time":21,"process":1,"type":"info","f":"txn","value":[["r","x",null]],"error":"timeout"}
{"index":5,"time":30,"process":2,"type":"invoke","f":"txn","value":[["append","x",-7]]}
{"index":6,"time":31,"process":2,"type":"fail","f":"txn","value":[["append","x",-7]]}
{"index":7,"time":40,"process":3,"type":"invoke","f":"txn","value":[["r",3,null],["append",4,2]]}
"#;

    /// What [`HISTORY`] holds, built by hand.
    fn expected() -> TxnHistory {
        let txn = |id, process, status, call, ret: Option<u64>, mops: Range<u32>| Txn {
            id,
            process,
            status,
            call,
            ret,
            call_time: Some([10, 0, 12, 0, 0, 30, 0, 40][id as usize]),
            ret_time: ret.map(|line| [0, 0, 0, 20, 0, 0, 31, 0][line as usize - 1]),
            line: call,
            mops,
        };
        TxnHistory {
            txns: vec![
                txn(0, 0, Status::Committed, 1, Some(4), 0..2),
                txn(2, 1, Status::Unknown, 3, None, 2..3),
                txn(5, 2, Status::Aborted, 6, Some(7), 3..4),
                txn(7, 3, Status::Unknown, 8, None, 4..6),
            ],
            mops: vec![
                Mop::Append { key: 0, elem: 1 },
                Mop::Read {
                    key: 0,
                    elems: Some(0..1),
                },
                Mop::Read {
                    key: 1,
                    elems: None,
                },
                Mop::Append { key: 1, elem: -7 },
                Mop::Read {
                    key: 0,
                    elems: None,
                },
                Mop::Append { key: 2, elem: 2 },
            ],
            read_elems: vec![1],
            keys: vec![KeyName::Int(3), KeyName::Str("x".into()), KeyName::Int(4)],
            warnings: vec![],
        }
    }

    /// Two histories hold the same transactions, micro-ops, reads and keys
    /// (reads compared by their elements: where a reader keeps them in
    /// `read_elems` is its own business).
    fn assert_same(got: &TxnHistory, want: &TxnHistory) {
        assert_eq!(got.txns.len(), want.txns.len());
        for (g, w) in got.txns.iter().zip(&want.txns) {
            assert_eq!(
                Txn {
                    mops: 0..0,
                    ..g.clone()
                },
                Txn {
                    mops: 0..0,
                    ..w.clone()
                }
            );
            let resolve = |h: &TxnHistory, txn: &Txn| -> Vec<(bool, KeyName, Option<Vec<Elem>>)> {
                let name = |key: &KeyId| h.keys[*key as usize].clone();
                h.mops_of(txn)
                    .iter()
                    .map(|mop| match mop {
                        Mop::Append { key, elem } => (true, name(key), Some(vec![*elem])),
                        Mop::Read { key, elems } => (
                            false,
                            name(key),
                            elems.as_ref().map(|r| h.elems(r).to_vec()),
                        ),
                    })
                    .collect()
            };
            assert_eq!(resolve(got, g), resolve(want, w), "T{}", g.id);
        }
        let mut got_keys = got.keys.clone();
        let mut want_keys = want.keys.clone();
        got_keys.sort();
        want_keys.sort();
        assert_eq!(got_keys, want_keys);
        assert_eq!(got.warnings, want.warnings);
    }

    #[test]
    fn reads_a_small_history_into_the_flat_arrays() {
        assert_same(&read_jsonl(HISTORY, "h.jsonl").unwrap(), &expected());
    }

    #[test]
    fn fields_in_any_order_with_spaces_escapes_and_unknown_fields_read_the_same() {
        let shuffled = HISTORY
            .replace(
                r#"{"index":0,"time":10,"process":0,"type":"invoke","f":"txn","value":[["append",3,1],["r",3,null]]}"#,
                r#"  { "value" : [ [ "append" , 3 , 1 ] , ["r", 3, null] ], "f": "txn", "node": "n1", "type": "invoke", "process": 0, "time": 10, "index": 0 }"#,
            )
            .replace(
                r#"{"index":3,"time":20,"process":0,"type":"ok","f":"txn","value":[["append",3,1],["r",3,[1]]]}"#,
                r#"{"value":[["append",3,1],["r",3,[ 1 ]]],"extra":{"a":[1,2,{"b":null}],"c":"q\"\u00e9"},"index":3,"time":20,"process":0,"type":"ok","f":"txn"}"#,
            )
            .replace(r#"["r","x",null]]}"#, r#"["r","\u0078",null]]}"#)
            .replace('\n', "\r\n");
        assert_same(&read_jsonl(&shuffled, "h.jsonl").unwrap(), &expected());
    }

    #[test]
    fn a_torn_last_line_is_a_warning() {
        let text = format!("{HISTORY}{{\"index\":8,\"ti");
        let history = read_jsonl(&text, "h.jsonl").unwrap();
        assert_eq!(history.txns.len(), 4);
        assert_eq!(history.warnings.len(), 1);
        assert!(
            history.warnings[0].starts_with("h.jsonl:9: ignored a torn last line"),
            "{:?}",
            history.warnings
        );
    }

    #[test]
    fn a_malformed_line_names_its_line_and_column() {
        let text = HISTORY.replace(r#""type":"ok""#, r#""type":"okay""#);
        let err = read_jsonl(&text, "h.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("h.jsonl:4:"), "{err}");
        let text = HISTORY.replace(
            r#"["append",3,1],["r",3,[1]]"#,
            r#"["append",3,1],["r",3,[1,]]"#,
        );
        let err = read_jsonl(&text, "h.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("h.jsonl:4:"), "{err}");
        assert!(err.contains("expected a history event"), "{err}");
    }

    #[test]
    fn a_micro_op_of_no_known_shape_is_named() {
        for (bad, what) in [
            (r#"["w",3,1]"#, "micro-op 1"),
            (r#"["append",3,1.5]"#, "micro-op 1"),
            (r#"["append",[3],1]"#, "micro-op 1"),
            (r#"["r",3,["a"]]"#, "micro-op 1"),
            (r#"["append",3,99999999999999999999]"#, "micro-op 1"),
        ] {
            let text = HISTORY.replace(
                r#""type":"ok","f":"txn","value":[["append",3,1],"#,
                &format!(r#""type":"ok","f":"txn","value":[{bad},"#),
            );
            let err = read_jsonl(&text, "h.jsonl").unwrap_err().to_string();
            assert!(err.starts_with("h.jsonl:4:1: "), "{bad}: {err}");
            assert!(err.contains(what), "{bad}: {err}");
        }
    }

    #[test]
    fn an_op_that_is_not_a_transaction_is_an_error() {
        let text = HISTORY.replace(
            r#""f":"txn","value":[["r","x",null]]}"#,
            r#""f":"read","value":null}"#,
        );
        let err = read_jsonl(&text, "h.jsonl").unwrap_err().to_string();
        assert!(
            err.starts_with("h.jsonl:3:1: expected a transaction"),
            "{err}"
        );
    }

    #[test]
    fn an_ok_without_micro_ops_is_an_error_but_a_fail_may_omit_them() {
        let text = HISTORY.replace(
            r#""type":"ok","f":"txn","value":[["append",3,1],["r",3,[1]]]"#,
            r#""type":"ok","f":"txn""#,
        );
        let err = read_jsonl(&text, "h.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("h.jsonl:4:"), "{err}");
        let text = HISTORY.replace(
            r#""type":"fail","f":"txn","value":[["append","x",-7]]"#,
            r#""type":"fail","f":"txn""#,
        );
        assert_same(&read_jsonl(&text, "h.jsonl").unwrap(), &expected());
    }

    #[test]
    fn pairing_errors_name_the_line() {
        let text = r#"{"index":0,"process":4,"type":"ok","f":"txn","value":[]}"#;
        let err = read_jsonl(text, "h.jsonl").unwrap_err().to_string();
        assert!(
            err.contains("process 4") && err.starts_with("h.jsonl:1:1:"),
            "{err}"
        );
        let text = HISTORY.replace(r#""process":3,"#, r#""process":2,"#).replace(
            r#"{"index":6,"time":31,"process":2,"type":"fail","f":"txn","value":[["append","x",-7]]}"#,
            "",
        );
        let err = read_jsonl(&text, "h.jsonl").unwrap_err().to_string();
        assert!(
            err.starts_with("h.jsonl:8:1:") && err.contains("line 6"),
            "{err}"
        );
    }

    #[test]
    fn a_huge_bad_line_is_quoted_short() {
        let huge = format!(
            r#"{{"index":0,"process":0,"type":"invoke","f":"txn","value":[["w",3,"{}"]]}}"#,
            "y".repeat(100_000)
        );
        let err = read_jsonl(&huge, "h.jsonl").unwrap_err().to_string();
        assert!(err.chars().count() < 400, "{}", err.len());
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::synth::Rng::new(11);
        let bytes = HISTORY.as_bytes();
        for _ in 0..2_000 {
            let mut text = bytes.to_vec();
            for _ in 0..1 + rng.below(4) {
                if text.is_empty() {
                    break;
                }
                let at = rng.below(text.len() as u64) as usize;
                match rng.below(3) {
                    0 => text[at] = b"{}[],:\"0-9an \n\\"[rng.below(15) as usize],
                    1 => {
                        text.remove(at);
                    }
                    _ => text.truncate(at),
                }
            }
            if let Ok(text) = std::str::from_utf8(&text) {
                let _ = read_jsonl(text, "h.jsonl");
            }
        }
    }

    /// A history of many chunks from the generator.
    fn generated(txns: usize, seed: u64) -> (crate::synth::GeneratedTxns, String) {
        let generated = crate::synth::generate_txn(&crate::synth::TxnGenOptions {
            txns,
            clients: 10,
            mops: 3.5,
            crash_rate: 0.05,
            fail_rate: 0.02,
            seed,
            ..Default::default()
        })
        .unwrap();
        let mut out = Vec::new();
        generated.write_jsonl(&mut out).unwrap();
        (generated, String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_generated_history_reads_back_as_generated() {
        let (generated, text) = generated(60_000, 4);
        assert!(text.len() > 3 * CHUNK_BYTES, "{} bytes", text.len());
        assert_same(&read_jsonl(&text, "g.jsonl").unwrap(), &generated.history);
    }

    #[test]
    fn a_bad_line_in_a_later_chunk_is_named_by_its_line() {
        let (_, text) = generated(60_000, 5);
        let needle = r#"{"index":100000,"#;
        let line = text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
        let bad = text.replacen(needle, r#"{"index":"many","#, 1);
        let err = read_jsonl(&bad, "g.jsonl").unwrap_err().to_string();
        assert!(err.starts_with(&format!("g.jsonl:{line}:")), "{err}");
    }
}
