//! Acknowledged writes read back at their revisions, for the `revisions`
//! check (docs/checks.md): a range at a past revision is answered from the
//! node's MVCC store until the revision is compacted away.

use std::time::Duration;

use base64::Engine as _;
use checker::anomalies::revision::{
    RevisionRead, RevisionWrite, ERROR_COMPACTED, ERROR_FUTURE_REVISION, ERROR_NOT_READ,
};
use futures::future::join_all;
use nemesis::NodeId;
use serde_json::{json, Value};
use tokio::time::{sleep_until, Instant};

use super::{decode_value, error_completion, ErrorBody, EtcdClient, RangeBody, BASE64};

/// At most this many writes are read back; of more, an even sample (every
/// k-th, first included). 5,000 reads take a few seconds on a loaded
/// 3-node cluster.
pub const MAX_REVISION_READS: usize = 5_000;
/// How many reads at a revision are in flight at once.
const CONCURRENT_READS: usize = 8;
/// How many times a read is sent while its node answers "future revision":
/// a node that lags behind the write catches up within moments after the
/// final heal.
const FUTURE_REVISION_ATTEMPTS: usize = 3;
/// The pause before a read that met "future revision" is sent again.
const FUTURE_REVISION_PAUSE: Duration = Duration::from_millis(100);
/// etcd's `ErrCompacted` (`mvcc: required revision has been compacted`).
const COMPACTED_MESSAGE: &str = "required revision has been compacted";
/// etcd's `ErrFutureRev` (`mvcc: required revision is a future revision`).
const FUTURE_REVISION_MESSAGE: &str = "required revision is a future revision";

/// How one attempt to read at a revision ended.
enum Attempt {
    /// The key's value at the revision (`null`: absent) and the revision of
    /// the write that left it.
    Got(Value, Option<u64>),
    /// No value; the error to record.
    Failed(String),
}

impl EtcdClient {
    /// Reads each acknowledged write's key at the write's revision (a
    /// serializable range with `revision`, no leader needed), the reads
    /// sent to the nodes in turn (read i to node i mod n) so that every
    /// node's history is checked, at most 8 at once, each within the
    /// client's request timeout. Returns one [`RevisionRead`] per write
    /// read, in the order of `writes`; of more than [`MAX_REVISION_READS`]
    /// writes, an even sample.
    ///
    /// etcd's "required revision has been compacted" is recorded as
    /// [`ERROR_COMPACTED`]; "required revision is a future revision" (the
    /// node lags behind the write) is tried again twice, 100 ms apart, then
    /// recorded as [`ERROR_FUTURE_REVISION`]; other failures by the names
    /// of docs/etcd.md (`timeout`, `connection-refused`, ...). Reads not
    /// sent when `deadline` passes are recorded as [`ERROR_NOT_READ`]; a
    /// read in flight then is cut off (`timeout`).
    pub async fn reads_at_revisions(
        &self,
        writes: &[RevisionWrite],
        deadline: Instant,
    ) -> Vec<RevisionRead> {
        let chosen = even_sample(writes, MAX_REVISION_READS);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let nodes = self.nodes().max(1);
        let workers = (0..CONCURRENT_READS.min(chosen.len())).map(|_| async {
            let mut done = Vec::new();
            while Instant::now() < deadline {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(write) = chosen.get(index) else {
                    break;
                };
                let node = NodeId(index % nodes);
                done.push((index, self.read_at_revision(node, write, deadline).await));
            }
            done
        });
        let mut reads: Vec<Option<RevisionRead>> = vec![None; chosen.len()];
        for (index, read) in join_all(workers).await.into_iter().flatten() {
            reads[index] = Some(read);
        }
        reads
            .into_iter()
            .zip(chosen)
            .map(|(read, write)| {
                read.unwrap_or_else(|| RevisionRead::unanswered(write, None, ERROR_NOT_READ))
            })
            .collect()
    }

    /// `write`'s key read at its revision on `node`.
    async fn read_at_revision(
        &self,
        node: NodeId,
        write: &RevisionWrite,
        deadline: Instant,
    ) -> RevisionRead {
        let body = json!({
            "key": BASE64.encode(&write.key),
            "revision": write.revision.to_string(),
            "serializable": true,
        });
        let name = Some(node.to_string());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let limit = deadline.min(Instant::now() + self.request_timeout);
            match self.attempt_at_revision(node, &body, limit).await {
                Attempt::Got(got, mod_revision) => {
                    return RevisionRead::answered(write, name, got, mod_revision)
                }
                Attempt::Failed(error)
                    if error == ERROR_FUTURE_REVISION
                        && attempts < FUTURE_REVISION_ATTEMPTS
                        && Instant::now() + FUTURE_REVISION_PAUSE < deadline =>
                {
                    sleep_until(Instant::now() + FUTURE_REVISION_PAUSE).await;
                }
                Attempt::Failed(error) => return RevisionRead::unanswered(write, name, error),
            }
        }
    }

    async fn attempt_at_revision(&self, node: NodeId, body: &Value, deadline: Instant) -> Attempt {
        match self.send(node, "/v3/kv/range", body, false, deadline).await {
            Ok((200, bytes)) => match serde_json::from_slice::<RangeBody>(&bytes) {
                Ok(range) => match range.kvs.first() {
                    None => Attempt::Got(Value::Null, None),
                    Some(kv) => match decode_value(&kv.value) {
                        Some(value) => Attempt::Got(value, Some(kv.mod_revision)),
                        None => Attempt::Failed("bad-response".to_string()),
                    },
                },
                Err(_) => Attempt::Failed("bad-response".to_string()),
            },
            Ok((status, bytes)) => Attempt::Failed(revision_error(status, &bytes)),
            Err(completion) => Attempt::Failed(
                completion
                    .error()
                    .expect("send fails with fail or info, which carry an error")
                    .to_string(),
            ),
        }
    }
}

/// The error recorded for a non-`200` answer to a range at a revision.
fn revision_error(status: u16, bytes: &[u8]) -> String {
    let message = serde_json::from_slice::<ErrorBody>(bytes)
        .map(|body| format!("{} {}", body.error, body.message))
        .unwrap_or_default();
    if message.contains(COMPACTED_MESSAGE) {
        ERROR_COMPACTED.to_string()
    } else if message.contains(FUTURE_REVISION_MESSAGE) {
        ERROR_FUTURE_REVISION.to_string()
    } else {
        error_completion(status, bytes)
            .error()
            .expect("an error answer is fail or info, which carry an error")
            .to_string()
    }
}

/// All of `items` when there are at most `limit`, else `limit` of them
/// spread evenly, the first included, in their order.
fn even_sample<T>(items: &[T], limit: usize) -> Vec<&T> {
    if items.len() <= limit {
        return items.iter().collect();
    }
    (0..limit)
        .map(|i| &items[i * items.len() / limit])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_even_sample_spreads_over_all_items_in_order() {
        let items: Vec<u32> = (0..10).collect();
        assert_eq!(even_sample(&items, 20).len(), 10);
        assert_eq!(even_sample(&items, 10).len(), 10);
        let sample: Vec<u32> = even_sample(&items, 4).into_iter().copied().collect();
        assert_eq!(sample, vec![0, 2, 5, 7]);
        let sample: Vec<u32> = even_sample(&items, 1).into_iter().copied().collect();
        assert_eq!(sample, vec![0]);
        assert!(even_sample(&items, 0).is_empty());
    }
}
