//! A test-only client: one in-memory copy of every object, so every history
//! it produces is linearizable; with switches for down nodes and lost answers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nemesis::NodeId;
use serde_json::{json, Value};

use crate::client::{Answer, Client, Completion, LogPage};
use crate::generator::OpRequest;

/// An in-memory cluster: every op takes effect atomically, mid-call.
pub(crate) struct FakeCluster {
    objects: Mutex<BTreeMap<String, Value>>,
    /// Nodes that refuse connections.
    pub down: Mutex<BTreeSet<NodeId>>,
    /// Every `lose_every`-th call takes effect but its answer is lost
    /// (`info` `timeout`; a read `fail`s); 0 never.
    pub lose_every: u64,
    /// How long each call takes, half before and half after its effect.
    pub delay: Duration,
    /// What `leader()` says.
    pub leader: Option<NodeId>,
    calls: AtomicU64,
}

impl FakeCluster {
    pub fn new(delay: Duration, lose_every: u64) -> Self {
        FakeCluster {
            objects: Mutex::new(BTreeMap::new()),
            down: Mutex::new(BTreeSet::new()),
            lose_every,
            delay,
            leader: None,
            calls: AtomicU64::new(0),
        }
    }

    /// Applies `op` and returns its ok value.
    fn apply(&self, op: &OpRequest) -> Result<Value, Completion> {
        let mut objects = self.objects.lock().expect("never held across a panic");
        if op.is_txn() {
            // Every micro-op at once, under the one lock.
            let ops =
                crate::txn::parse(&op.value).ok_or_else(|| Completion::fail("bad-request"))?;
            let mut filled = Vec::new();
            for micro_op in &ops {
                let list = objects
                    .entry(micro_op.key().to_string())
                    .or_insert_with(|| json!([]));
                match micro_op {
                    crate::txn::MicroOp::Append { element, .. } => {
                        list.as_array_mut()
                            .expect("txn keys hold lists")
                            .push(element.clone());
                        filled.push(micro_op.to_invoke());
                    }
                    crate::txn::MicroOp::Read { key } => filled.push(json!(["r", key, list])),
                }
            }
            return Ok(Value::Array(filled));
        }
        let object = objects.entry(op.key.clone()).or_insert(Value::Null);
        Ok(match (op.workload, op.f.as_str()) {
            (crate::Workload::Register, "read") => object.clone(),
            (crate::Workload::Register, "write") => {
                *object = op.value.clone();
                op.value.clone()
            }
            (crate::Workload::Register, "cas") => {
                if *object != op.value[0] {
                    return Err(Completion::fail("mismatch"));
                }
                *object = op.value[1].clone();
                op.value.clone()
            }
            (crate::Workload::Counter, "read") => json!(object.as_i64().unwrap_or(0)),
            (crate::Workload::Counter, "add") => {
                let sum = object.as_i64().unwrap_or(0) + op.value.as_i64().unwrap_or(0);
                *object = json!(sum);
                op.value.clone()
            }
            (_, "read") => {
                if object.is_null() {
                    json!([])
                } else {
                    object.clone()
                }
            }
            (crate::Workload::Append, "append") => {
                let mut list = object.as_array().cloned().unwrap_or_default();
                list.push(op.value.clone());
                *object = json!(list);
                op.value.clone()
            }
            (crate::Workload::Set, "add") => {
                let mut set: Vec<i64> = object
                    .as_array()
                    .map(|items| items.iter().filter_map(Value::as_i64).collect())
                    .unwrap_or_default();
                let element = op.value.as_i64().expect("the generator adds integers");
                if !set.contains(&element) {
                    set.push(element);
                    set.sort_unstable();
                }
                *object = json!(set);
                op.value.clone()
            }
            _ => return Err(Completion::fail("unsupported-op")),
        })
    }
}

impl Client for FakeCluster {
    async fn invoke(&self, node: NodeId, op: &OpRequest) -> Answer {
        if self
            .down
            .lock()
            .expect("never held across a panic")
            .contains(&node)
        {
            return Answer {
                completion: Completion::fail("connection-refused"),
                node,
                revision: None,
            };
        }
        tokio::time::sleep(self.delay / 2).await;
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let applied = self.apply(op);
        tokio::time::sleep(self.delay / 2).await;
        let completion = if call.checked_rem(self.lose_every) == Some(0) {
            if op.is_read() {
                Completion::fail("timeout")
            } else {
                Completion::info("timeout")
            }
        } else {
            applied.map_or_else(|failure| failure, Completion::Ok)
        };
        Answer {
            completion,
            node,
            revision: None,
        }
    }

    async fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    async fn committed_log(&self, _: NodeId, _: u64, _: usize) -> Option<LogPage> {
        None
    }

    fn op_timeout(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// Panics unless `events` form a well-formed client history: indexes 0, 1,
/// 2 ..., each process alternates invoke and completion of the same op,
/// never invokes after an `info`, and every invoke is completed.
pub(crate) fn assert_well_formed(events: &[checker::Event]) {
    use checker::{EventType, Process};
    let mut open: BTreeMap<u64, &checker::Event> = BTreeMap::new();
    let mut crashed: BTreeSet<u64> = BTreeSet::new();
    for (position, event) in events.iter().enumerate() {
        assert_eq!(event.index, position as u64, "indexes count up from 0");
        let Process::Client(process) = event.process else {
            continue;
        };
        if event.kind == EventType::Invoke {
            assert!(
                !crashed.contains(&process),
                "process {process} invoked after info: {event:?}"
            );
            assert!(
                open.insert(process, event).is_none(),
                "two ops open on {process}: {event:?}"
            );
        } else {
            let invoke = open
                .remove(&process)
                .unwrap_or_else(|| panic!("completion without invoke: {event:?}"));
            assert_eq!(
                (&invoke.f, &invoke.key),
                (&event.f, &event.key),
                "{event:?}"
            );
            if event.kind == EventType::Info {
                crashed.insert(process);
            }
            if event.kind != EventType::Ok {
                assert!(event.error.is_some(), "fail/info without error: {event:?}");
            }
        }
    }
    assert!(open.is_empty(), "invokes without completion: {open:?}");
}

/// The verdict of `checker` on `events` under `model`.
pub(crate) fn verdict(events: &[checker::Event], model: checker::ModelKind) -> checker::Verdict {
    let mut text = String::new();
    for event in events {
        text.push_str(&serde_json::to_string(event).expect("events serialize"));
        text.push('\n');
    }
    let (history, _) = checker::format::read(&text, "test", Some(checker::Format::Jsonl))
        .expect("a recorded history reads back");
    let mut options = checker::CheckOptions::new(model);
    options.deadline = Some(std::time::Instant::now() + Duration::from_secs(10));
    checker::check(&history, &options, "test")
        .expect("the workload's ops fit its model")
        .verdict
}
