//! Benchmarks of a real 3-node cluster on loopback, fsync on.
//!
//! Ignored by default (they take about 40 s and measure this machine, not
//! the code); run them in release mode:
//!
//! ```text
//! cargo test -p raftkv --release --test bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! They print figures and never assert on timing.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use support::Cluster;

const CLIENTS: usize = 10;
const WARM_UP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
const ELECTIONS: usize = 7;

/// The flags the nodes run with: the node's defaults, spelled out.
const NODE_FLAGS: [&str; 4] = [
    "--election-timeout-ms=500",
    "--heartbeat-ms=50",
    "--log-level",
    "warn",
];

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark, ~15 s; run in release with --nocapture"]
async fn write_throughput_and_latency_with_10_clients() {
    let cluster = Arc::new(Cluster::start(3, &NODE_FLAGS).await);
    let all = cluster.ids();
    let leader = cluster.wait_for_leader(&all).await;
    cluster.write(&all, "warm-up", json!(0)).await;
    let start = Instant::now();
    let measure_from = start + WARM_UP;
    let measure_until = measure_from + MEASURE;
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let cluster = Arc::clone(&cluster);
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut sequence = 0u64;
            while Instant::now() < measure_until {
                sequence += 1;
                let body = json!({"key": format!("key-{client}"), "value": sequence});
                let sent = Instant::now();
                let answer = cluster.post(leader, "/kv/write", body).await;
                let done = Instant::now();
                if sent >= measure_from && done <= measure_until {
                    match answer {
                        Some((200, _)) => latencies.push(done - sent),
                        _ => errors += 1,
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for client in clients {
        let (mut client_latencies, client_errors) =
            client.await.expect("client task does not panic");
        latencies.append(&mut client_latencies);
        errors += client_errors;
    }
    latencies.sort_unstable();
    let throughput = latencies.len() as f64 / MEASURE.as_secs_f64();
    println!(
        "BENCH writes: {CLIENTS} clients, {:?}: {} ok, {errors} errors, {throughput:.0} writes/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        MEASURE,
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    let status = cluster.status(leader).await.expect("leader answers");
    println!("BENCH leader status after the run: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark, ~20 s; run in release with --nocapture"]
async fn leader_election_time_after_killing_the_leader() {
    let mut cluster = Cluster::start(3, &NODE_FLAGS).await;
    let all = cluster.ids();
    let mut elected = Vec::new();
    let mut writable = Vec::new();
    for round in 0..ELECTIONS {
        let leader = cluster.wait_for_leader(&all).await;
        cluster.write(&all, "round", json!(round)).await;
        let survivors: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
        let killed_at = Instant::now();
        cluster.kill(leader);
        let new_leader = cluster.wait_for_leader(&survivors).await;
        elected.push(killed_at.elapsed());
        cluster.write(&survivors, "after", json!(round)).await;
        writable.push(killed_at.elapsed());
        println!(
            "BENCH election {round}: killed {leader}; node {new_leader} leads after {:.0} ms, first write ok after {:.0} ms",
            elected[round].as_secs_f64() * 1e3,
            writable[round].as_secs_f64() * 1e3
        );
        cluster.restart(leader).await;
        let commit = cluster.status(new_leader).await.expect("leader answers")["commit_index"]
            .as_u64()
            .expect("commit_index is a number");
        cluster.wait_applied(leader, commit).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    elected.sort_unstable();
    writable.sort_unstable();
    println!(
        "BENCH election after leader kill ({ELECTIONS} runs): new leader median {:.0} ms, max {:.0} ms; first write median {:.0} ms, max {:.0} ms",
        percentile(&elected, 0.5).as_secs_f64() * 1e3,
        elected.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        percentile(&writable, 0.5).as_secs_f64() * 1e3,
        writable.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
