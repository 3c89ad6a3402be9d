//! Operations: an invoke paired with its completion, the unit every check works on.

use serde_json::Value;

/// How an operation ended, as the checker reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It happened, with this result.
    Ok(Value),
    /// It definitely had no effect. When `observation` is true it also observed
    /// something (a compare-and-set whose comparison failed saw a different value);
    /// otherwise it is dropped.
    Fail {
        /// Whether the failure is an observation (a cas mismatch).
        observation: bool,
    },
    /// Unknown: it may take effect at any instant after its call, or never
    /// (`info`, a missing completion, or a result that was lost).
    Unknown,
}

/// One operation of a history: a call and how it ended.
///
/// `call` and `ret` are positions in one real-time order (the history's event
/// order). Intervals are closed: `a` precedes `b` only when `a.ret < b.call`.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// The id used in witnesses and explanations (docs/design.md, "Witness ids").
    pub id: u64,
    /// The logical client that issued it.
    pub process: u64,
    /// The independent key; `""` when the history has none.
    pub key: String,
    /// The function name, e.g. `read`, `write`, `cas`.
    pub f: String,
    /// The argument given at the call.
    pub input: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Position of the call in the history.
    pub call: u64,
    /// Position of the completion; `None` when it never completed or its effect
    /// time is unknown (the op may then take effect at any later instant).
    pub ret: Option<u64>,
    /// Time of the call in nanoseconds since the test started, when known.
    pub call_time: Option<u64>,
    /// Time of the completion in nanoseconds, when known.
    pub ret_time: Option<u64>,
    /// 1-based line of the call in the source file, for messages.
    pub line: u64,
    /// The node the request went to, when known.
    pub node: Option<String>,
}

/// A history ready to check: its operations, in call order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Every client operation, sorted by `call`.
    pub ops: Vec<Op>,
    /// Warnings met while reading (for example a torn last line).
    pub warnings: Vec<String>,
}

impl History {
    /// The distinct keys, sorted.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.ops.iter().map(|op| op.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}
