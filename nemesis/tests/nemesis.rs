//! The nemesis against real processes: faults applied, undone, described.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{helper_node, PATIENCE};
use nemesis::procfs::process_state;
use nemesis::{
    Action, Fault, FaultMix, Nemesis, Network, NetworkOptions, NodeId, Partition, Schedule, Shape,
    Supervisor, Target,
};

fn tick_cluster(root: &std::path::Path, count: usize) -> Arc<Supervisor> {
    let specs = (1..=count)
        .map(|index| helper_node(root, &format!("n{index}"), &["tick"]))
        .collect();
    Arc::new(Supervisor::new(specs))
}

#[tokio::test]
async fn heal_all_resumes_paused_restarts_killed_and_heals_links() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = tick_cluster(root.path(), 3);
    supervisor.start_all().await.expect("tick nodes start");
    let network = Arc::new(Network::new(NetworkOptions::default()));
    let schedule = Schedule::new(FaultMix::default(), 3, 1);
    let mut nemesis = Nemesis::new(
        Arc::clone(&supervisor),
        Arc::clone(&network),
        schedule,
        Instant::now(),
    );

    let paused = nemesis
        .apply(
            &Fault::Pause {
                target: Target::One,
                nodes: vec![NodeId(0)],
            },
            None,
        )
        .await;
    let killed = nemesis
        .apply(
            &Fault::Kill {
                target: Target::One,
                nodes: vec![NodeId(1)],
            },
            None,
        )
        .await;
    let partition = Partition::isolate(Shape::Leader, 3, NodeId(2));
    let cut = nemesis
        .apply(&Fault::Partition(partition), Some(NodeId(2)))
        .await;
    assert!(paused.errors.is_empty() && killed.errors.is_empty() && cut.errors.is_empty());
    let pid = supervisor.pid(NodeId(0)).expect("paused, not dead");
    assert!(common::eventually(PATIENCE, || process_state(pid) == Some('T')).await);
    assert!(!supervisor.is_alive(NodeId(1)));
    assert_eq!(network.cut_links().len(), 4);
    assert!(nemesis.is_faulty());

    let events = nemesis.heal_all().await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Heal, Action::Resume, Action::Restart]);
    assert!(
        events.iter().all(|event| event.errors.is_empty()),
        "{events:?}"
    );
    assert!(network.cut_links().is_empty());
    assert!(NodeId::all(3).all(|node| supervisor.is_alive(node) && !supervisor.is_paused(node)));
    assert!(common::eventually(PATIENCE, || process_state(pid) != Some('T')).await);
    assert!(!nemesis.is_faulty());
    assert!(nemesis.heal_all().await.is_empty(), "nothing left to undo");
}

#[tokio::test]
async fn events_serialize_as_history_values() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = tick_cluster(root.path(), 3);
    let network = Arc::new(Network::new(NetworkOptions::default()));
    let mut nemesis = Nemesis::new(
        supervisor,
        network,
        Schedule::new(FaultMix::default(), 3, 1),
        Instant::now(),
    );
    let event = nemesis
        .apply(
            &Fault::Partition(Partition::isolate(Shape::One, 3, NodeId(0))),
            None,
        )
        .await;
    let value = serde_json::to_value(&event).expect("events serialize");
    assert_eq!(value["f"], "partition");
    assert_eq!(value["shape"], "one");
    assert_eq!(value["groups"], serde_json::json!([["n1"], ["n2", "n3"]]));
    assert_eq!(
        value["links"][0],
        serde_json::json!({"from": "n1", "to": "n2"})
    );
    assert!(value["end_ns"].as_u64() >= value["start_ns"].as_u64());
    let back: nemesis::NemesisEvent = serde_json::from_value(value).expect("events deserialize");
    assert_eq!(back, event);
}

#[tokio::test]
async fn run_alternates_faults_and_heals_and_ends_healed() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = tick_cluster(root.path(), 3);
    supervisor.start_all().await.expect("tick nodes start");
    let network = Arc::new(Network::new(NetworkOptions::default()));
    let mix: FaultMix = "pause:minority,kill:one,partition"
        .parse()
        .expect("a valid mix");
    let mut nemesis = Nemesis::new(
        Arc::clone(&supervisor),
        Arc::clone(&network),
        Schedule::new(mix, 3, 42),
        Instant::now(),
    );
    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_millis(900);
    nemesis
        .run(
            Duration::from_millis(100),
            until,
            || async { Some(NodeId(0)) },
            |event| events.push(event),
        )
        .await;

    assert!(
        events.len() >= 2,
        "at least one fault and its undo: {events:?}"
    );
    let faults = [Action::Partition, Action::Pause, Action::Kill];
    for pair in events.windows(2) {
        assert!(
            !(faults.contains(&pair[0].f) && faults.contains(&pair[1].f)),
            "a fault is undone before the next: {events:?}"
        );
    }
    assert!(
        !faults.contains(&events.last().expect("non-empty").f),
        "the run ends healed"
    );
    assert!(NodeId::all(3).all(|node| supervisor.is_alive(node) && !supervisor.is_paused(node)));
    assert!(network.cut_links().is_empty());
}
