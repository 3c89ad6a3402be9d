//! A `txn` op as one etcd Txn (docs/etcd.md, "Transactions"): the appended
//! keys read first, then one Txn guarded by their `mod_revision`s that
//! ranges every key read and puts each appended key once.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::time::Instant;

use nemesis::NodeId;

use super::{
    as_read_failure, current_of, encode_value, revision_of, EtcdClient, ReadMode, ResponseOp,
    TxnBody, Updated, BASE64,
};
use crate::client::Completion;
use crate::generator::OpRequest;
use crate::txn::{self, MicroOp};

/// The `error` of a transaction whose guard failed: another update changed
/// one of its appended keys between the first read and the Txn, so the
/// Txn ran its (empty) failure branch and changed nothing.
pub const GUARD_FAILED: &str = "conflict";

/// One appended key: the `mod_revision` it had when read (0: absent, which
/// etcd's compare matches for a missing key) and the list to put.
#[derive(Debug, Clone, PartialEq)]
struct Guard {
    key: String,
    revision: u64,
    list: Value,
}

impl EtcdClient {
    /// A `txn` op: read each appended key (a serializable read-only Txn:
    /// a stale copy only fails the guard), then one Txn that compares each
    /// appended key's `mod_revision` with the one read, and on success
    /// ranges every key read (before any put) and puts each appended key
    /// once, its old list followed by all the elements appended to it.
    ///
    /// A read's result is the success branch's range of its key plus the
    /// transaction's own earlier appends to that key. A failed guard is a
    /// definite `fail` ([`GUARD_FAILED`]); a failed first read is a `fail`
    /// too (nothing was put). A read-only transaction needs no guard: its
    /// Txn is served as the client's read mode says. When acknowledged with
    /// puts, also the revision the Txn created.
    pub(super) async fn transact(
        &self,
        node: NodeId,
        op: &OpRequest,
        deadline: Instant,
    ) -> Updated {
        let Some(ops) = txn::parse(&op.value) else {
            // Nothing was sent.
            return (Completion::fail("bad-request"), None);
        };
        let appends = txn::appends_by_key(&ops);
        let reads = txn::read_keys(&ops);
        let mut guards = Vec::with_capacity(appends.len());
        if !appends.is_empty() {
            let keys: Vec<String> = appends.iter().map(|(key, _)| key.clone()).collect();
            let body = ranges_txn(&keys, ReadMode::Serializable);
            let current = match self.call(node, "/v3/kv/txn", &body, false, deadline).await {
                Ok(bytes) => serde_json::from_slice::<TxnBody>(&bytes)
                    .ok()
                    .and_then(|answer| ranged(keys.len(), &answer.responses)),
                // A read changed nothing, however it ended.
                Err(completion) => return (as_read_failure(completion), None),
            };
            let Some(current) = current else {
                return (Completion::fail("bad-response"), None);
            };
            for ((key, elements), (value, revision)) in appends.into_iter().zip(current) {
                let mut list = match value {
                    None => Vec::new(),
                    Some(Value::Array(items)) => items,
                    Some(_) => return (Completion::fail("wrong-type"), None),
                };
                list.extend(elements);
                guards.push(Guard {
                    key,
                    revision,
                    list: Value::Array(list),
                });
            }
        }
        let read_mode = if guards.is_empty() {
            self.read_mode
        } else {
            ReadMode::Linearizable
        };
        let body = guarded_txn(&reads, &guards, read_mode);
        // A serializable read-only Txn is served by any node, leader or not.
        let require_leader = read_mode == ReadMode::Linearizable;
        let answer = match self
            .call(node, "/v3/kv/txn", &body, require_leader, deadline)
            .await
        {
            Ok(bytes) => serde_json::from_slice::<TxnBody>(&bytes),
            Err(completion) => return (completion, None),
        };
        let Ok(answer) = answer else {
            return (Completion::info("bad-response"), None);
        };
        if !answer.succeeded {
            return (Completion::fail(GUARD_FAILED), None);
        }
        match completed_value(&ops, &reads, &answer.responses) {
            Some(value) => {
                let revision = if guards.is_empty() {
                    None
                } else {
                    revision_of(&answer.header)
                };
                (Completion::Ok(value), revision)
            }
            None => (Completion::info("bad-response"), None),
        }
    }
}

/// A range of `key` as a Txn request op.
fn range_op(key: &str, read_mode: ReadMode) -> Value {
    let key = BASE64.encode(key);
    match read_mode {
        ReadMode::Linearizable => json!({"request_range": {"key": key}}),
        ReadMode::Serializable => {
            json!({"request_range": {"key": key, "serializable": true}})
        }
    }
}

/// A Txn with no compare that ranges each of `keys`: always succeeds, and
/// with serializable ranges is served from the node's own state.
fn ranges_txn(keys: &[String], read_mode: ReadMode) -> Value {
    let success: Vec<Value> = keys.iter().map(|key| range_op(key, read_mode)).collect();
    json!({"success": success})
}

/// The Txn of a transaction: compare every guarded key's `mod_revision`;
/// on success range every key read (first: they see the state before the
/// puts), then put each guarded key's new list; nothing on failure.
fn guarded_txn(reads: &[String], guards: &[Guard], read_mode: ReadMode) -> Value {
    let compare: Vec<Value> = guards
        .iter()
        .map(|guard| {
            json!({"key": BASE64.encode(&guard.key), "target": "MOD", "result": "EQUAL",
                   "mod_revision": guard.revision.to_string()})
        })
        .collect();
    let success: Vec<Value> = reads
        .iter()
        .map(|key| range_op(key, read_mode))
        .chain(guards.iter().map(|guard| {
            json!({"request_put": {"key": BASE64.encode(&guard.key),
                                   "value": encode_value(&guard.list)}})
        }))
        .collect();
    json!({"compare": compare, "success": success, "failure": []})
}

/// The value and `mod_revision` of the first `count` responses, each a
/// range, or `None` when one is missing or holds a value that is not ours.
fn ranged(count: usize, responses: &[ResponseOp]) -> Option<Vec<(Option<Value>, u64)>> {
    if responses.len() < count {
        return None;
    }
    responses[..count]
        .iter()
        .map(|response| current_of(response.response_range.as_ref()?))
        .collect()
}

/// The `ok` value of a transaction whose Txn succeeded with `responses`:
/// the first `reads.len()` are the ranges of the keys read, in order; each
/// read is its key's list there (absent: `[]`) plus the transaction's own
/// earlier appends. `None` when a range is missing or not a list.
fn completed_value(ops: &[MicroOp], reads: &[String], responses: &[ResponseOp]) -> Option<Value> {
    let mut before = BTreeMap::new();
    for (key, (value, _)) in reads.iter().zip(ranged(reads.len(), responses)?) {
        let list = match value {
            None => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => return None,
        };
        before.insert(key.clone(), list);
    }
    txn::fill_reads(ops, &before)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(key: &str) -> String {
        BASE64.encode(key)
    }

    fn append(key: &str, element: i64) -> MicroOp {
        MicroOp::Append {
            key: key.to_string(),
            element: json!(element),
        }
    }

    fn read(key: &str) -> MicroOp {
        MicroOp::Read {
            key: key.to_string(),
        }
    }

    fn range_response(value: Option<Value>) -> ResponseOp {
        let body = match value {
            None => json!({"header": {"revision": "9"}}),
            Some(value) => json!({"kvs": [{"value": encode_value(&value), "mod_revision": "5"}]}),
        };
        serde_json::from_value(json!({ "response_range": body })).expect("a range answer parses")
    }

    fn put_response() -> ResponseOp {
        serde_json::from_value(json!({"response_put": {"header": {"revision": "10"}}}))
            .expect("a put answer parses")
    }

    #[test]
    fn the_txn_guards_each_appended_key_ranges_reads_first_and_puts_each_key_once() {
        let guards = [
            Guard {
                key: "t0".into(),
                revision: 0,
                list: json!([7, 8]),
            },
            Guard {
                key: "t1".into(),
                revision: 12,
                list: json!([1, 2, 3]),
            },
        ];
        let body = guarded_txn(
            &["t1".to_string(), "t2".to_string()],
            &guards,
            ReadMode::Linearizable,
        );
        assert_eq!(
            body,
            json!({
                "compare": [
                    {"key": b64("t0"), "target": "MOD", "result": "EQUAL", "mod_revision": "0"},
                    {"key": b64("t1"), "target": "MOD", "result": "EQUAL", "mod_revision": "12"},
                ],
                "success": [
                    {"request_range": {"key": b64("t1")}},
                    {"request_range": {"key": b64("t2")}},
                    {"request_put": {"key": b64("t0"), "value": encode_value(&json!([7, 8]))}},
                    {"request_put": {"key": b64("t1"), "value": encode_value(&json!([1, 2, 3]))}},
                ],
                "failure": [],
            })
        );
    }

    #[test]
    fn reads_only_range_serializably_when_asked() {
        assert_eq!(
            ranges_txn(&["t3".to_string()], ReadMode::Serializable),
            json!({"success": [{"request_range": {"key": b64("t3"), "serializable": true}}]})
        );
        let body = guarded_txn(&["t3".to_string()], &[], ReadMode::Linearizable);
        assert_eq!(
            body,
            json!({"compare": [], "success": [{"request_range": {"key": b64("t3")}}],
                   "failure": []})
        );
    }

    #[test]
    fn a_read_is_the_range_before_the_puts_plus_the_txns_own_earlier_appends() {
        let ops = [
            read("t0"),
            append("t0", 3),
            read("t0"),
            read("t1"),
            append("t0", 4),
        ];
        let reads = txn::read_keys(&ops);
        let responses = [
            range_response(Some(json!([1, 2]))),
            range_response(None),
            put_response(),
        ];
        assert_eq!(
            completed_value(&ops, &reads, &responses),
            Some(json!([
                ["r", "t0", [1, 2]],
                ["append", "t0", 3],
                ["r", "t0", [1, 2, 3]],
                ["r", "t1", []],
                ["append", "t0", 4],
            ]))
        );
        // A range missing, or holding something that is not a list.
        assert_eq!(completed_value(&ops, &reads, &responses[..1]), None);
        let odd = [range_response(Some(json!(5))), range_response(None)];
        assert_eq!(completed_value(&ops, &reads, &odd), None);
    }
}
