//! End-to-end: real `raftkv` processes on loopback, killed, restarted,
//! paused and resumed with signals.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Cluster, PATIENCE};

fn others(ids: &[u64], without: u64) -> Vec<u64> {
    ids.iter().copied().filter(|&id| id != without).collect()
}

/// The committed logs of two nodes agree on their common prefix.
async fn assert_logs_agree(cluster: &Cluster, a: u64, b: u64) {
    let (log_a, log_b) = (
        cluster.committed_log(a).await,
        cluster.committed_log(b).await,
    );
    let common = log_a.len().min(log_b.len());
    assert_eq!(
        log_a[..common],
        log_b[..common],
        "committed logs of nodes {a} and {b} differ"
    );
}

/// Kills the leader and measures how long until another node leads.
async fn kill_leader(cluster: &mut Cluster, all: &[u64]) -> (u64, u64) {
    let leader = cluster.wait_for_leader(all).await;
    let killed_at = Instant::now();
    cluster.kill(leader);
    let survivors = others(all, leader);
    let new_leader = cluster.wait_for_leader(&survivors).await;
    let elapsed = killed_at.elapsed();
    eprintln!("new leader {new_leader} {elapsed:?} after killing leader {leader}");
    // The issue targets 2 s (measured in the benchmark); assert with a wide margin.
    assert!(elapsed < PATIENCE, "no new leader within {PATIENCE:?}");
    (leader, new_leader)
}

async fn kill_restart_pause_and_full_restart(size: u64) {
    let mut cluster = Cluster::start(size, &[]).await;
    let all = cluster.ids();
    cluster.write(&all, "a", json!(1)).await;
    assert_eq!(cluster.read(&all, "a").await, json!(1));

    // Kill the leader with SIGKILL: another node takes over and has the write.
    let (old_leader, _) = kill_leader(&mut cluster, &all).await;
    let survivors = others(&all, old_leader);
    assert_eq!(cluster.read(&survivors, "a").await, json!(1));
    cluster.write(&survivors, "b", json!(2)).await;

    // Restart the old leader from its data directory: it catches up.
    cluster.restart(old_leader).await;
    let leader = cluster.wait_for_leader(&all).await;
    let commit = cluster.status(leader).await.expect("leader answers")["commit_index"]
        .as_u64()
        .expect("commit_index is a number");
    cluster.wait_applied(old_leader, commit).await;
    assert_logs_agree(&cluster, leader, old_leader).await;

    // Pause a follower: the rest keep going; resumed, it catches up.
    let follower = others(&all, leader)[0];
    cluster.pause(follower);
    cluster.write(&others(&all, follower), "c", json!(3)).await;
    cluster.resume(follower);
    let commit = cluster.status(leader).await.expect("leader answers")["commit_index"]
        .as_u64()
        .expect("commit_index is a number");
    cluster.wait_applied(follower, commit).await;

    // Pause the leader: the others elect a new one; resumed, the old one follows.
    cluster.pause(leader);
    let rest = others(&all, leader);
    let new_leader = cluster.wait_for_leader(&rest).await;
    cluster.write(&rest, "d", json!(4)).await;
    cluster.resume(leader);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = cluster.status(leader).await.expect("resumed node answers");
        if status["role"] == "follower" && status["leader"].as_u64().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resumed old leader did not step down: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cluster.read(&all, "d").await, json!(4));
    assert_logs_agree(&cluster, new_leader, leader).await;

    // kill -9 everyone, restart everyone: every acknowledged write survives.
    for id in &all {
        cluster.kill(*id);
    }
    for id in &all {
        cluster.restart(*id).await;
    }
    for (key, value) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        assert_eq!(
            cluster.read(&all, key).await,
            json!(value),
            "key {key} after a full-cluster kill -9"
        );
    }
}

#[tokio::test]
async fn three_nodes_survive_leader_kill_restart_pauses_and_a_full_cluster_kill() {
    kill_restart_pause_and_full_restart(3).await;
}

#[tokio::test]
async fn five_nodes_survive_leader_kill_restart_pauses_and_a_full_cluster_kill() {
    kill_restart_pause_and_full_restart(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_steps_down_and_catches_up_after_the_partition_heals() {
    let cluster = Cluster::start_with_links(3, &[], true).await;
    let all = cluster.ids();
    cluster.write(&all, "p", json!(1)).await;
    let old_leader = cluster.wait_for_leader(&all).await;
    // Blackhole every link of the leader: connections are cut, new ones held.
    cluster.isolate(old_leader);
    let majority = others(&all, old_leader);
    cluster.write(&majority, "p", json!(2)).await;
    // Check-quorum: the cut-off leader stops claiming leadership.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = cluster
            .status(old_leader)
            .await
            .expect("isolated node answers clients");
        if status["role"] != "leader" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the isolated leader never stepped down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.heal();
    let leader = cluster.wait_for_leader(&all).await;
    cluster.write(&all, "p", json!(3)).await;
    let commit = cluster.status(leader).await.expect("leader answers")["commit_index"]
        .as_u64()
        .expect("commit_index is a number");
    // Reconnecting past held connections takes about a second.
    cluster.wait_applied(old_leader, commit).await;
    assert_logs_agree(&cluster, leader, old_leader).await;
    assert_eq!(cluster.read(&all, "p").await, json!(3));
}
