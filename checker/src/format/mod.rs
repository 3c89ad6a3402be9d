//! History file formats: faultline's JSON Lines, Porcupine's test logs, and
//! Jepsen/Knossos EDN. Each reader pairs invokes with completions by process
//! and yields a [`History`]. docs/formats.md states each format's exact reading.

pub mod edn;
mod jepsen_edn;
mod jsonl;
mod porcupine;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::history::{History, Op, Outcome};
use crate::model::ModelKind;

pub use jsonl::infer_model;

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// faultline's own history: one JSON object per line (docs/design.md, "History").
    Jsonl,
    /// The Jepsen etcd log lines of Porcupine's `test_data/jepsen`.
    PorcupineEtcd,
    /// Porcupine's `test_data/kv` logs: one EDN map per line.
    PorcupineKv,
    /// A Jepsen/Knossos history: a vector, a list or a stream of EDN op maps.
    Edn,
}

impl Format {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [Format; 4] = [
        Format::Jsonl,
        Format::PorcupineEtcd,
        Format::PorcupineKv,
        Format::Edn,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
            Format::Edn => "edn",
        }
    }

    /// The model a format brings when `--model` is not given; `None` for
    /// jsonl, whose model follows from the ops (see [`infer_model`]).
    pub fn default_model(self) -> Option<ModelKind> {
        match self {
            Format::Jsonl => None,
            Format::PorcupineEtcd | Format::Edn => Some(ModelKind::CasRegister),
            Format::PorcupineKv => Some(ModelKind::KvAppend),
        }
    }

    /// Guesses the format from the first non-blank line of `text` that is
    /// not an EDN comment (`;`).
    ///
    /// # Errors
    /// [`Error::Undecided`] when no format fits.
    pub fn sniff(text: &str, source_name: &str) -> Result<Format> {
        let Some(first) = text
            .lines()
            .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == ','))
            .find(|l| !l.is_empty() && !l.starts_with(';'))
        else {
            // Nothing to read: any format gives the same empty history.
            return Ok(Format::Jsonl);
        };
        if first.contains("jepsen.util") {
            return Ok(Format::PorcupineEtcd);
        }
        if let Some(rest) = first.strip_prefix('{') {
            let rest = rest.trim_start();
            if rest.starts_with('"') || rest.starts_with('}') {
                return Ok(Format::Jsonl);
            }
            let porcupine_f = [":f :get", ":f :put", ":f :append"]
                .iter()
                .any(|f| first.contains(f));
            if rest.starts_with(':') && porcupine_f && first.contains(":key \"") {
                return Ok(Format::PorcupineKv);
            }
            // Any other map is EDN (`{:`, or `{#_ ...`, `{;` ...).
            return Ok(Format::Edn);
        }
        // `[`, `(`: a vector or list of ops; `#`: a tagged op record
        // (`#jepsen.history.Op{...}`), a discard (`#_`) or another tag.
        if first.starts_with(['[', '(', '#']) {
            return Ok(Format::Edn);
        }
        let shown: String = first.chars().take(60).collect();
        Err(Error::Undecided {
            source_name: source_name.to_string(),
            reason: format!(
                "cannot tell the format from the first line {shown:?}; pass --format (jsonl, porcupine-etcd, porcupine-kv, edn)"
            ),
        })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown format {s:?}; expected auto, jsonl, porcupine-etcd, porcupine-kv or edn")
            })
    }
}

/// Reads `text` in `format` (sniffed when `None`).
///
/// # Errors
/// Bad input, naming `source_name`, the line and the column.
pub fn read(text: &str, source_name: &str, format: Option<Format>) -> Result<(History, Format)> {
    let format = match format {
        Some(format) => format,
        None => Format::sniff(text, source_name)?,
    };
    let history = match format {
        Format::Jsonl => jsonl::read(text, source_name)?,
        Format::PorcupineEtcd => porcupine::read_etcd(text, source_name)?,
        Format::PorcupineKv => porcupine::read_kv(text, source_name)?,
        Format::Edn => jepsen_edn::read(text, source_name)?,
    };
    Ok((history, format))
}

/// How a completion ends its op.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Completion {
    /// `ok` with the observed value.
    Ok(Value),
    /// `fail`; `observation` when it counts as one (a cas mismatch).
    Fail { observation: bool },
    /// `info`, or a result that is unknown. `keep_ret` keeps the completion's
    /// position (a read that returned without a value).
    Unknown { keep_ret: bool },
}

/// Where an event starts in the text: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub line: u64,
    pub column: u64,
}

/// Pairs invokes with completions by process, in the order events arrive.
pub(crate) struct Pairer<'a> {
    source_name: &'a str,
    ops: Vec<Op>,
    /// Per process, its open op (an index into `ops`) and the invoke's column.
    open: FxHashMap<u64, (usize, u64)>,
}

/// An invoke, as read from a line.
pub(crate) struct Invoke {
    pub id: u64,
    pub process: u64,
    pub key: String,
    pub f: String,
    pub value: Value,
    pub position: u64,
    pub time: Option<u64>,
    pub at: At,
    pub node: Option<String>,
}

impl<'a> Pairer<'a> {
    pub fn new(source_name: &'a str) -> Self {
        Self::with_capacity(source_name, 0)
    }

    /// A pairer that expects about `ops` operations (so a large history
    /// does not grow, and copy, its op list a dozen times).
    pub fn with_capacity(source_name: &'a str, ops: usize) -> Self {
        Pairer {
            source_name,
            ops: Vec::with_capacity(ops),
            open: FxHashMap::default(),
        }
    }

    pub fn invoke(&mut self, invoke: Invoke) -> Result<()> {
        if let Some(&(open, open_column)) = self.open.get(&invoke.process) {
            return Err(Error::OverlappingInvoke {
                source_name: self.source_name.to_string(),
                line: invoke.at.line,
                column: invoke.at.column,
                open_line: self.ops[open].line,
                open_column,
                process: invoke.process,
            });
        }
        self.open
            .insert(invoke.process, (self.ops.len(), invoke.at.column));
        self.ops.push(Op {
            id: invoke.id,
            process: invoke.process,
            key: invoke.key,
            f: invoke.f,
            input: invoke.value,
            outcome: Outcome::Unknown,
            call: invoke.position,
            ret: None,
            call_time: invoke.time,
            ret_time: None,
            line: invoke.at.line,
            node: invoke.node,
        });
        Ok(())
    }

    pub fn complete(
        &mut self,
        process: u64,
        kind: &str,
        completion: Completion,
        position: u64,
        time: Option<u64>,
        at: At,
    ) -> Result<()> {
        let Some((open, _)) = self.open.remove(&process) else {
            return Err(Error::UnmatchedCompletion {
                source_name: self.source_name.to_string(),
                line: at.line,
                column: at.column,
                process,
                kind: kind.to_string(),
            });
        };
        let op = &mut self.ops[open];
        match completion {
            Completion::Ok(value) => {
                op.outcome = Outcome::Ok(value);
                op.ret = Some(position);
                op.ret_time = time;
            }
            Completion::Fail { observation } => {
                op.outcome = Outcome::Fail { observation };
                op.ret = Some(position);
                op.ret_time = time;
            }
            Completion::Unknown { keep_ret } => {
                op.outcome = Outcome::Unknown;
                if keep_ret {
                    op.ret = Some(position);
                    op.ret_time = time;
                }
            }
        }
        Ok(())
    }

    /// The history; ops still open stay `Unknown` with no return.
    pub fn finish(self, warnings: Vec<String>) -> History {
        let mut ops = self.ops;
        ops.sort_by_key(|op| op.call);
        History { ops, warnings }
    }
}
