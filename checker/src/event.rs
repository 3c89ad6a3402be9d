//! The history record: one event per line, Jepsen's field names (docs/design.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who issued an event: a logical client, or the nemesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A client process; one op in flight at a time.
    Client(u64),
    /// The fault injector; its events are single `info` lines that checks ignore.
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(id) => serializer.serialize_u64(*id),
            Process::Nemesis => serializer.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Process;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a non-negative integer or \"nemesis\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Process, E> {
                Ok(Process::Client(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Process, E> {
                u64::try_from(v)
                    .map(Process::Client)
                    .map_err(|_| E::custom(format!("process {v} is negative")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Process, E> {
                if v == "nemesis" {
                    Ok(Process::Nemesis)
                } else {
                    Err(E::custom(format!(
                        "process {v:?} is neither an integer nor \"nemesis\""
                    )))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Process::Client(id) => write!(f, "{id}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// The kind of an event: a call, or one of the three ways a call can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The call left the client.
    Invoke,
    /// Completed with effect.
    Ok,
    /// Definitely had no effect.
    Fail,
    /// Unknown: a timeout or crash; may take effect any time after the call, or never.
    Info,
}

/// One line of a history file (`history.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, 0, 1, 2 ...
    pub index: u64,
    /// Nanoseconds since the test started (monotonic); for people and plots.
    #[serde(default)]
    pub time: u64,
    /// The logical client, or the nemesis.
    pub process: Process,
    /// Call or completion kind.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The function: `read`, `write`, `cas`, `append`, `add`, or a nemesis action.
    pub f: String,
    /// The independent key the op touches; absent means the shared key `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Argument on invoke, observed result on `ok`; `null` when absent.
    #[serde(default)]
    pub value: Value,
    /// The node the request was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why a `fail` or `info` happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The store's revision of an acknowledged write, when the target
    /// reports one (etcd's `header.revision`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

impl Event {
    /// The error string that marks a failed compare-and-set as an observation.
    pub const MISMATCH: &'static str = "mismatch";
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn revision_is_kept_when_present_and_left_out_when_absent() {
        let with = r#"{"index":3,"time":7,"process":1,"type":"ok","f":"write","key":"r0","value":5,"node":"n2","revision":42}"#;
        let event: Event = serde_json::from_str(with).unwrap();
        assert_eq!(event.revision, Some(42));
        assert_eq!(serde_json::to_string(&event).unwrap(), with);

        let without = r#"{"index":2,"time":5,"process":1,"type":"invoke","f":"write","key":"r0","value":5,"node":"n2"}"#;
        let event: Event = serde_json::from_str(without).unwrap();
        assert_eq!(event.revision, None);
        assert_eq!(serde_json::to_string(&event).unwrap(), without);
        assert_eq!(
            serde_json::to_value(&event).unwrap().get("revision"),
            None,
            "no revision, no field"
        );
        assert_eq!(event.value, json!(5));
    }
}
