//! The verdict every check gives a file (or a key), and its exit code.

use serde::Serialize;

/// The verdict for a file (or a key), with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Linearizable.
    Valid,
    /// A budget ran out before a verdict.
    Unknown,
    /// Not linearizable.
    Invalid,
}

impl Verdict {
    /// The exit code (docs/design.md, "Exit codes"): 0 valid, 1 anomaly, 2 unknown.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    /// The verdict in words.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Valid => "linearizable",
            Verdict::Invalid => "NOT linearizable",
            Verdict::Unknown => "unknown",
        }
    }
}
