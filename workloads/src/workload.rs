//! The workloads: which operations clients issue, and which model judges them.

use std::fmt;
use std::str::FromStr;

use checker::ModelKind;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A kind of test: the operations clients issue and the model that checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Read, write and compare-and-set of registers (checked as `kv`).
    Register,
    /// Append unique elements to lists and read whole lists (`list-append`).
    Append,
    /// Increment, decrement and read counters (`counter`).
    Counter,
    /// Add unique elements to sets and read whole sets (`set`).
    Set,
    /// Publish unique values to a replicated stream per key and read whole
    /// streams node by node (NATS JetStream; the `queue` check).
    Queue,
    /// Transactions of list-append micro-ops over a few hot keys
    /// (`txn-list-append`; docs/design.md, "Transactions").
    Txn,
}

impl Workload {
    /// Every workload, in the order the CLI lists them.
    pub const ALL: [Workload; 6] = [
        Workload::Register,
        Workload::Append,
        Workload::Counter,
        Workload::Set,
        Workload::Queue,
        Workload::Txn,
    ];

    /// The name used on the command line and in files.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Append => "append",
            Workload::Counter => "counter",
            Workload::Set => "set",
            Workload::Queue => "queue",
            Workload::Txn => "txn",
        }
    }

    /// The model that judges this workload's histories. `queue` has none:
    /// its histories are judged by the queue check alone (lost, phantom,
    /// duplicate, divergent messages; docs/nats.md), which no
    /// linearizability model expresses; its model is `set` in name only,
    /// for callers that need one. `txn` is judged by the transaction check
    /// (`txn-list-append`, no linearizability model); its model is
    /// `list-append` in name only.
    #[must_use]
    pub fn model(self) -> ModelKind {
        match self {
            Workload::Register => ModelKind::Kv,
            Workload::Append | Workload::Txn => ModelKind::ListAppend,
            Workload::Counter => ModelKind::Counter,
            Workload::Set | Workload::Queue => ModelKind::Set,
        }
    }

    /// How many ops a key gets before clients move to a fresh key (Jepsen's
    /// independent keys: short per-key histories stay checkable, and list
    /// and set reads stay short). For `txn`: how many elements are appended
    /// to a key before it retires (reads do not count), so that reads stay
    /// short and transactions keep meeting on the same few keys.
    #[must_use]
    pub fn default_ops_per_key(self) -> usize {
        match self {
            Workload::Register | Workload::Counter => 200,
            Workload::Append | Workload::Set => 300,
            // A stream per key; a final read gets every message one by one.
            Workload::Queue => 500,
            Workload::Txn => 32,
        }
    }

    /// How many keys are in use at once.
    #[must_use]
    pub fn default_active_keys(self) -> usize {
        match self {
            Workload::Register | Workload::Append => 4,
            Workload::Counter | Workload::Set | Workload::Queue => 2,
            // Hot keys: a transaction of up to 4 micro-ops often meets
            // others on the same keys, so dependency cycles can form.
            Workload::Txn => 5,
        }
    }

    /// The prefix of this workload's key names (`r0`, `l0`, `c0`, `s0`, `t0`, ...):
    /// distinct per workload, so that workloads run one after another on one
    /// cluster never touch a key of another shape (raftkv's `wrong-type`).
    #[must_use]
    pub fn key_prefix(self) -> &'static str {
        match self {
            Workload::Register => "r",
            Workload::Append => "l",
            Workload::Counter => "c",
            Workload::Set => "s",
            Workload::Queue => "q",
            Workload::Txn => "t",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        Workload::ALL
            .into_iter()
            .find(|workload| workload.name() == name)
            .ok_or_else(|| Error::UnknownWorkload {
                name: name.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_display_and_serde() {
        for workload in Workload::ALL {
            assert_eq!(workload.name().parse::<Workload>(), Ok(workload));
            assert_eq!(workload.to_string(), workload.name());
            let json = serde_json::to_string(&workload).expect("an enum serializes");
            assert_eq!(json, format!("\"{}\"", workload.name()));
            let back: Workload = serde_json::from_str(&json).expect("its own name parses");
            assert_eq!(back, workload);
        }
    }

    #[test]
    fn unknown_name_lists_the_choices() {
        let error = "queues"
            .parse::<Workload>()
            .expect_err("queues is no workload");
        let message = error.to_string();
        assert!(message.contains("\"queues\""), "{message}");
        for workload in Workload::ALL {
            assert!(message.contains(workload.name()), "{message}");
        }
    }

    #[test]
    fn each_workload_is_judged_by_its_model() {
        assert_eq!(Workload::Register.model(), ModelKind::Kv);
        assert_eq!(Workload::Append.model(), ModelKind::ListAppend);
        assert_eq!(Workload::Counter.model(), ModelKind::Counter);
        assert_eq!(Workload::Set.model(), ModelKind::Set);
    }

    #[test]
    fn txn_retires_keys_after_32_appends_over_5_hot_keys() {
        assert_eq!("txn".parse::<Workload>(), Ok(Workload::Txn));
        assert_eq!(Workload::Txn.key_prefix(), "t");
        assert_eq!(Workload::Txn.default_ops_per_key(), 32);
        assert_eq!(Workload::Txn.default_active_keys(), 5);
    }
}
