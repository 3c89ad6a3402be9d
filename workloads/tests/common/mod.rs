//! Helpers both cluster tests share: free loopback addresses, the shape of
//! a client history, and the checker's verdict on it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use checker::{Event, EventType, Process};
use workloads::{MemoryRecorder, Workload};

/// `count` distinct free ports on 127.0.0.1.
pub fn free_addrs(count: usize) -> Vec<SocketAddr> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("an ephemeral loopback port is free"))
        .collect();
    listeners
        .iter()
        .map(|listener| {
            listener
                .local_addr()
                .expect("a bound socket has an address")
        })
        .collect()
}

/// Problems with `events` as a client history: indexes 0, 1, 2 ..., one
/// op open per process, completions match their invokes, no invoke after
/// an `info`, every fail and info names its error, every invoke completed.
pub fn malformations(events: &[Event]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    let mut crashed: BTreeSet<u64> = BTreeSet::new();
    for (position, event) in events.iter().enumerate() {
        if event.index != position as u64 {
            problems.push(format!("index {} at position {position}", event.index));
        }
        let Process::Client(process) = event.process else {
            continue;
        };
        if event.kind == EventType::Invoke {
            if crashed.contains(&process) {
                problems.push(format!("process {process} invoked after info: {event:?}"));
            }
            if let Some(other) = open.insert(process, event) {
                problems.push(format!(
                    "two ops open on {process}: {other:?} and {event:?}"
                ));
            }
        } else {
            match open.remove(&process) {
                Some(invoke) if (&invoke.f, &invoke.key) == (&event.f, &event.key) => {}
                Some(invoke) => problems.push(format!("{event:?} completes {invoke:?}")),
                None => problems.push(format!("completion without invoke: {event:?}")),
            }
            if event.kind == EventType::Info {
                crashed.insert(process);
            }
            if event.kind != EventType::Ok && event.error.is_none() {
                problems.push(format!("fail/info without error: {event:?}"));
            }
        }
    }
    problems.extend(
        open.values()
            .map(|event| format!("never completed: {event:?}")),
    );
    problems
}

/// The checker's report on `recorder`'s history, read back from JSON Lines.
pub fn check(recorder: &MemoryRecorder, workload: Workload) -> checker::Report {
    let text = recorder.to_jsonl();
    let (history, _) = checker::format::read(&text, "history.jsonl", Some(checker::Format::Jsonl))
        .expect("the recorded history reads back");
    let mut options = checker::CheckOptions::new(workload.model());
    options.deadline = Some(std::time::Instant::now() + Duration::from_secs(5));
    checker::check(&history, &options, "history.jsonl").expect("the ops fit the model")
}
