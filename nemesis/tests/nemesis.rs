//! The nemesis against real processes: faults applied, undone, described.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{helper_node, PATIENCE};
use nemesis::procfs::process_state;
use nemesis::{
    Action, Fault, FaultMix, Link, Nemesis, Network, NetworkOptions, NodeId, Partition, Schedule,
    Shape, Supervisor, Victims,
};

fn tick_cluster(root: &std::path::Path, count: usize) -> Arc<Supervisor> {
    let specs = (1..=count)
        .map(|index| helper_node(root, &format!("n{index}"), &["tick"]))
        .collect();
    Arc::new(Supervisor::new(specs))
}

/// A running 3-node tick cluster, its network, and a nemesis over both
/// with the schedule of `mix` and `seed`.
async fn started_nemesis(
    root: &std::path::Path,
    mix: &str,
    seed: u64,
) -> (Arc<Supervisor>, Arc<Network>, Nemesis) {
    let supervisor = tick_cluster(root, 3);
    supervisor.start_all().await.expect("tick nodes start");
    let network = Arc::new(Network::new(NetworkOptions::default()));
    let mix: FaultMix = mix.parse().expect("a valid mix");
    let nemesis = Nemesis::new(
        Arc::clone(&supervisor),
        Arc::clone(&network),
        Schedule::new(mix, 3, seed),
        Instant::now(),
    );
    (supervisor, network, nemesis)
}

#[tokio::test]
async fn heal_all_resumes_paused_restarts_killed_and_heals_links() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (supervisor, network, mut nemesis) = started_nemesis(root.path(), "none", 1).await;

    let paused = nemesis
        .apply(
            &Fault::Pause {
                target: Victims::One,
                nodes: vec![NodeId(0)],
            },
            None,
        )
        .await;
    let killed = nemesis
        .apply(
            &Fault::Kill {
                target: Victims::One,
                nodes: vec![NodeId(1)],
            },
            None,
        )
        .await;
    let partition = Partition::isolate(Shape::Leader, 3, NodeId(2));
    let cut = nemesis
        .apply(&Fault::Partition(partition), Some(NodeId(2)))
        .await;
    assert!(
        [paused, killed, cut]
            .iter()
            .all(|events| events.len() == 1 && events[0].errors.is_empty()),
        "one event each, without errors"
    );
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
    let events = nemesis
        .apply(
            &Fault::Partition(Partition::isolate(Shape::One, 3, NodeId(0))),
            None,
        )
        .await;
    let [event] = events.as_slice() else {
        panic!("a partition is one event: {events:?}");
    };
    let value = serde_json::to_value(event).expect("events serialize");
    assert_eq!(value["f"], "partition");
    assert_eq!(value["shape"], "one");
    assert_eq!(value["groups"], serde_json::json!([["n1"], ["n2", "n3"]]));
    assert_eq!(
        value["links"][0],
        serde_json::json!({"from": "n1", "to": "n2"})
    );
    assert!(value["end_ns"].as_u64() >= value["start_ns"].as_u64());
    let back: nemesis::NemesisEvent = serde_json::from_value(value).expect("events deserialize");
    assert_eq!(&back, event);
}

#[tokio::test]
async fn run_alternates_faults_and_heals_and_ends_healed() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (supervisor, network, mut nemesis) =
        started_nemesis(root.path(), "pause:minority,kill:one,partition", 42).await;
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

/// The links between `node` and the other nodes of a `count`-node cluster, both ways.
fn links_of(node: NodeId, count: usize) -> BTreeSet<Link> {
    NodeId::all(count)
        .filter(|&other| other != node)
        .flat_map(|other| [Link::new(node, other), Link::new(other, node)])
        .collect()
}

fn is_stopped(supervisor: &Supervisor, node: NodeId) -> bool {
    let pid = supervisor.pid(node).expect("a stalled node is alive");
    process_state(pid) == Some('T')
}

#[tokio::test]
async fn stalled_leader_wakes_up_still_cut_off_and_heals_one_step_later() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (supervisor, network, mut nemesis) = started_nemesis(root.path(), "stall", 7).await;
    let leader = NodeId(1);
    let isolated = links_of(leader, 3);

    // Step 1: the first bare stall goes for the named leader.
    let events = nemesis.step(Some(leader)).await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Pause, Action::Partition], "{events:?}");
    assert!(
        events.iter().all(|event| event.errors.is_empty()),
        "{events:?}"
    );
    assert_eq!(events[0].target, Some(Victims::Leader));
    assert_eq!(events[0].nodes, vec![leader]);
    assert_eq!(events[1].shape, Some(Shape::Leader));
    assert_eq!(
        events[1].groups,
        vec![vec![leader], vec![NodeId(0), NodeId(2)]]
    );
    assert!(events.iter().all(|event| event.leader == Some(leader)));
    assert!(common::eventually(PATIENCE, || is_stopped(&supervisor, leader)).await);
    assert_eq!(network.cut_links(), isolated);
    assert!(nemesis.is_faulty());

    // Step 2: it runs again, still cut off.
    let events = nemesis.step(None).await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Resume], "{events:?}");
    assert_eq!(events[0].nodes, vec![leader]);
    assert!(!supervisor.is_paused(leader));
    assert!(common::eventually(PATIENCE, || !is_stopped(&supervisor, leader)).await);
    assert_eq!(network.cut_links(), isolated, "it wakes up isolated");
    assert!(nemesis.is_faulty(), "its links are still cut");

    // Step 3: its links heal; nothing is left.
    let events = nemesis.step(None).await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Heal], "{events:?}");
    assert_eq!(
        events[0].links.iter().copied().collect::<BTreeSet<Link>>(),
        isolated
    );
    assert!(network.cut_links().is_empty());
    assert!(!nemesis.is_faulty());

    // Step 4: only now the next fault.
    let events = nemesis.step(Some(leader)).await;
    assert_eq!(
        events.first().map(|event| event.f),
        Some(Action::Pause),
        "{events:?}"
    );
    assert!(nemesis.is_faulty());
    nemesis.heal_all().await;
    assert!(!nemesis.is_faulty());
}

#[tokio::test]
async fn heal_all_right_after_a_stall_resumes_then_heals() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (supervisor, network, mut nemesis) = started_nemesis(root.path(), "none", 1).await;
    let node = NodeId(2);
    let events = nemesis
        .apply(&Fault::stall(Victims::One, vec![node], 3), None)
        .await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Pause, Action::Partition], "{events:?}");
    assert_eq!(events[1].shape, Some(Shape::One));
    assert!(common::eventually(PATIENCE, || is_stopped(&supervisor, node)).await);
    assert_eq!(network.cut_links(), links_of(node, 3));

    let events = nemesis.heal_all().await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(
        kinds,
        vec![Action::Resume, Action::Heal],
        "a stalled node wakes up before its links heal"
    );
    assert!(
        events.iter().all(|event| event.errors.is_empty()),
        "{events:?}"
    );
    assert!(network.cut_links().is_empty());
    assert!(NodeId::all(3).all(|node| supervisor.is_alive(node) && !supervisor.is_paused(node)));
    assert!(common::eventually(PATIENCE, || !is_stopped(&supervisor, node)).await);
    assert!(!nemesis.is_faulty());
    assert!(nemesis.heal_all().await.is_empty(), "nothing left to undo");
}

#[tokio::test]
async fn stalling_every_node_is_a_pause_undone_in_one_step() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (supervisor, network, mut nemesis) = started_nemesis(root.path(), "stall:all", 3).await;

    let events = nemesis.step(None).await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Pause], "nobody to cut them from");
    assert_eq!(events[0].nodes, NodeId::all(3).collect::<Vec<_>>());
    assert!(network.cut_links().is_empty());
    assert!(
        common::eventually(PATIENCE, || NodeId::all(3)
            .all(|node| is_stopped(&supervisor, node)))
        .await
    );

    let events = nemesis.step(None).await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Resume], "{events:?}");
    assert!(!nemesis.is_faulty(), "no cut is left to heal");
    assert!(
        common::eventually(PATIENCE, || NodeId::all(3)
            .all(|node| !is_stopped(&supervisor, node)))
        .await
    );
}

#[tokio::test]
async fn a_crash_kills_and_restarts_at_once_leaving_nothing_to_undo() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (supervisor, network, mut nemesis) =
        started_nemesis(root.path(), "crash:majority", 7).await;
    assert!(network.cut_links().is_empty());
    let before: Vec<Option<i32>> = NodeId::all(3).map(|node| supervisor.pid(node)).collect();
    let events = nemesis.step(Some(NodeId(0))).await;
    let kinds: Vec<Action> = events.iter().map(|event| event.f).collect();
    assert_eq!(kinds, vec![Action::Kill, Action::Restart], "{events:?}");
    assert!(
        events.iter().all(|event| event.errors.is_empty()),
        "{events:?}"
    );
    assert_eq!(events[0].target, Some(Victims::Majority));
    assert_eq!(events[0].nodes.len(), 2, "a majority of 3");
    assert_eq!(
        events[0].nodes, events[1].nodes,
        "the crashed nodes come back"
    );
    assert!(!nemesis.is_faulty(), "a crash leaves nothing to undo");
    for node in NodeId::all(3) {
        assert!(supervisor.is_alive(node), "{node} runs");
        let crashed = events[0].nodes.contains(&node);
        assert_eq!(
            supervisor.pid(node) != before[node.0],
            crashed,
            "{node}: a new process exactly when it crashed"
        );
    }
    // The next step applies the next crash: there is no heal in between.
    let next = nemesis.step(Some(NodeId(0))).await;
    assert_eq!(next.first().map(|event| event.f), Some(Action::Kill));
    supervisor.teardown();
}

/// A cluster that answers the way Raft would to the cuts `figure8` makes,
/// read off the network: a node cut off alone is never the leader; whoever
/// can reach a majority leads the term the script gives it. n1 leads at
/// first; n2 wins when n1 is cut off; n1 wins again (and then commits
/// one more entry) when n2 is cut off; n2 wins when n1 is cut off again.
struct ScriptedCluster {
    network: Arc<Network>,
    polls_as_leader_again: std::sync::atomic::AtomicU64,
}

impl nemesis::Observe for ScriptedCluster {
    fn observe(
        &self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Vec<Option<nemesis::NodeView>>> + Send + '_>,
    > {
        Box::pin(async move {
            let cut = self.network.cut_links();
            let alone = |node: NodeId| links_of(node, 3).is_subset(&cut);
            let view = |leader: bool, term: u64, commit: u64| {
                Some(nemesis::NodeView {
                    leader,
                    term,
                    commit,
                })
            };
            let (n1, n2) = (NodeId(0), NodeId(1));
            let leads = match (alone(n1), alone(n2)) {
                (false, false) => (n1, 1, 10),
                (true, false) => {
                    // Before n2 was ever cut off: term 2; after: term 4.
                    let again = self
                        .polls_as_leader_again
                        .load(std::sync::atomic::Ordering::SeqCst);
                    (n2, if again == 0 { 2 } else { 4 }, 10)
                }
                (false, true) => {
                    let polls = self
                        .polls_as_leader_again
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    (n1, 3, if polls < 3 { 10 } else { 11 })
                }
                (true, true) => return vec![view(false, 3, 10); 3],
            };
            (0..3)
                .map(|index| {
                    let node = NodeId(index);
                    view(node == leads.0, leads.1, leads.2)
                })
                .collect()
        })
    }
}

#[tokio::test]
async fn figure8_cuts_each_new_leader_at_its_moment_and_leaves_the_old_one_cut_off() {
    let root = tempfile::tempdir().expect("a temp dir");
    let supervisor = tick_cluster(root.path(), 3);
    supervisor.start_all().await.expect("tick nodes start");
    let network = Arc::new(Network::new(NetworkOptions::default()));
    let observer = Arc::new(ScriptedCluster {
        network: Arc::clone(&network),
        polls_as_leader_again: std::sync::atomic::AtomicU64::new(0),
    });
    let mut nemesis = Nemesis::new(
        Arc::clone(&supervisor),
        Arc::clone(&network),
        Schedule::new("figure8".parse().expect("a valid mix"), 3, 1),
        Instant::now(),
    )
    .with_observer(observer);
    let (n1, n2, n3) = (NodeId(0), NodeId(1), NodeId(2));

    let events = nemesis.step(Some(n1)).await;
    assert!(
        events.iter().all(|event| event.errors.is_empty()),
        "{events:#?}"
    );
    let cuts: Vec<Vec<Vec<NodeId>>> = events
        .iter()
        .filter(|event| event.f == Action::Partition)
        .map(|event| event.groups.clone())
        .collect();
    assert_eq!(
        cuts,
        vec![
            vec![vec![n1], vec![n2, n3]],
            vec![vec![n1], vec![n2], vec![n3]],
            vec![vec![n2], vec![n1, n3]],
            vec![vec![n1], vec![n2], vec![n3]],
            vec![vec![n1], vec![n2, n3]],
        ],
        "{events:#?}"
    );
    let delays: Vec<(Vec<Link>, Option<u64>)> = events
        .iter()
        .filter(|event| event.f == Action::Delay)
        .map(|event| (event.links.clone(), event.delay_ms))
        .collect();
    assert_eq!(
        delays,
        vec![
            (vec![Link::new(n2, n3), Link::new(n3, n2)], Some(100)),
            (vec![Link::new(n2, n3), Link::new(n3, n2)], Some(0)),
            (vec![Link::new(n1, n3)], Some(100)),
            (vec![Link::new(n1, n3)], Some(0)),
        ],
        "only the links that carry a new leader's first entries are slowed, and all are restored"
    );
    assert_eq!(
        network.cut_links(),
        links_of(n1, 3),
        "the old leader stays cut off"
    );
    assert!(nemesis.is_faulty());

    let events = nemesis.step(None).await;
    assert_eq!(
        events.iter().map(|event| event.f).collect::<Vec<_>>(),
        vec![Action::Heal]
    );
    assert!(network.cut_links().is_empty());
    assert!(!nemesis.is_faulty());
}

#[tokio::test]
async fn figure8_without_a_view_of_the_cluster_says_why_and_changes_nothing() {
    let root = tempfile::tempdir().expect("a temp dir");
    let (_supervisor, network, mut nemesis) = started_nemesis(root.path(), "figure8", 1).await;
    let events = nemesis.step(None).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(
        events[0].errors[0].contains("who leads"),
        "{:?}",
        events[0].errors
    );
    assert!(network.cut_links().is_empty());
    assert!(!nemesis.is_faulty());
}
