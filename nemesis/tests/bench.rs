//! Proxy benchmarks, run by hand (see docs/benchmarks.md):
//!
//! ```text
//! cargo test -p nemesis --release --test bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Each benchmark repeats `RUNS` times and prints every run and the median.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::serve;
use nemesis::{Network, NetworkOptions, NodeId, Partition, ProcessTable, Shape};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RUNS: usize = 5;
const N1: NodeId = NodeId(0);
const N2: NodeId = NodeId(1);

async fn echo_server() -> SocketAddr {
    serve(|stream| async move {
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let mut buffer = vec![0_u8; 64 * 1024];
        while let Ok(count) = read.read(&mut buffer).await {
            if count == 0 || write.write_all(&buffer[..count]).await.is_err() {
                break;
            }
        }
    })
    .await
}

/// Reads everything sent on each connection, then answers with one byte.
async fn sink_server() -> SocketAddr {
    serve(|mut stream| async move {
        let mut buffer = vec![0_u8; 256 * 1024];
        while let Ok(count) = stream.read(&mut buffer).await {
            if count == 0 {
                break;
            }
        }
        let _ = stream.write_all(b"!").await;
    })
    .await
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// p50 and p99 of `rounds` ping-pongs of `size` bytes over one connection.
async fn ping_pong(addr: SocketAddr, rounds: usize, size: usize) -> (Duration, Duration) {
    let mut stream = TcpStream::connect(addr).await.expect("the server accepts");
    stream.set_nodelay(true).expect("loopback socket");
    let message = vec![7_u8; size];
    let mut answer = vec![0_u8; size];
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + rounds / 10 {
        let started = Instant::now();
        stream.write_all(&message).await.expect("loopback write");
        stream
            .read_exact(&mut answer)
            .await
            .expect("the echo arrives");
        // The first tenth warms up caches and the scheduler.
        if round >= rounds / 10 {
            samples.push(started.elapsed());
        }
    }
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

/// MiB/s of `total` bytes sent one way over one connection.
async fn throughput(addr: SocketAddr, total: usize) -> f64 {
    let mut stream = TcpStream::connect(addr).await.expect("the server accepts");
    let chunk = vec![1_u8; 256 * 1024];
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        stream.write_all(&chunk).await.expect("loopback write");
        sent += chunk.len();
    }
    stream.shutdown().await.expect("loopback shutdown");
    let mut done = [0_u8; 1];
    stream
        .read_exact(&mut done)
        .await
        .expect("the sink answers once it has everything");
    sent as f64 / (1024.0 * 1024.0) / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark, ~20 s"]
async fn proxy_added_latency_and_throughput() {
    let network = Network::new(NetworkOptions::default());
    let echo = echo_server().await;
    let sink = sink_server().await;
    let echo_proxy = network.link_proxy(N1, N2, echo).await.expect("a proxy");
    let sink_proxy = network.link_proxy(N1, N2, sink).await.expect("a proxy");
    let (rounds, size, total) = (20_000, 64, 256 * 1024 * 1024);
    let mut added_p50 = Vec::new();
    let mut added_p99 = Vec::new();
    let mut direct_mib = Vec::new();
    let mut proxied_mib = Vec::new();
    println!("ping-pong: {rounds} rounds of {size} bytes over one connection; throughput: {} MiB one way", total >> 20);
    for run in 1..=RUNS {
        let (direct50, direct99) = ping_pong(echo, rounds, size).await;
        let (proxy50, proxy99) = ping_pong(echo_proxy, rounds, size).await;
        let direct_rate = throughput(sink, total).await;
        let proxied_rate = throughput(sink_proxy, total).await;
        println!(
            "run {run}: direct p50 {:.1} us p99 {:.1} us | proxied p50 {:.1} us p99 {:.1} us | added p50 {:.1} us p99 {:.1} us | direct {:.0} MiB/s proxied {:.0} MiB/s",
            micros(direct50),
            micros(direct99),
            micros(proxy50),
            micros(proxy99),
            micros(proxy50) - micros(direct50),
            micros(proxy99) - micros(direct99),
            direct_rate,
            proxied_rate,
        );
        added_p50.push(micros(proxy50) - micros(direct50));
        added_p99.push(micros(proxy99) - micros(direct99));
        direct_mib.push(direct_rate);
        proxied_mib.push(proxied_rate);
    }
    println!(
        "median of {RUNS}: added p50 {:.1} us, added p99 {:.1} us, direct {:.0} MiB/s, proxied {:.0} MiB/s",
        median(&mut added_p50),
        median(&mut added_p99),
        median(&mut direct_mib),
        median(&mut proxied_mib),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark, ~5 s"]
async fn time_from_partition_to_cut() {
    let network = Network::new(NetworkOptions::default());
    let proxy = network
        .link_proxy(N1, N2, echo_server().await)
        .await
        .expect("a proxy");
    let isolate = Partition::isolate(Shape::One, 2, N2);
    let iterations = 200;
    let mut medians = Vec::new();
    let mut maxima = Vec::new();
    let mut call_medians = Vec::new();
    println!("{iterations} cuts per run; a cut is in effect when the live connection's reader sees it closed");
    for run in 1..=RUNS {
        let mut to_closed = Vec::with_capacity(iterations);
        let mut call = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let mut stream = TcpStream::connect(proxy).await.expect("the proxy accepts");
            stream.write_all(b"x").await.expect("loopback write");
            let mut byte = [0_u8; 1];
            stream
                .read_exact(&mut byte)
                .await
                .expect("forwarded while healed");
            let reader = tokio::spawn(async move {
                let mut buffer = [0_u8; 16];
                loop {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return Instant::now(),
                        Ok(_) => {}
                    }
                }
            });
            tokio::task::yield_now().await;
            let started = Instant::now();
            network.partition(&isolate);
            call.push(started.elapsed());
            let closed_at = tokio::time::timeout(Duration::from_secs(5), reader)
                .await
                .expect("a cut closes the connection")
                .expect("the reader does not panic");
            to_closed.push(closed_at.saturating_duration_since(started));
            network.heal();
        }
        to_closed.sort_unstable();
        call.sort_unstable();
        let (p50, p99, max) = (
            percentile(&to_closed, 0.5),
            percentile(&to_closed, 0.99),
            to_closed[to_closed.len() - 1],
        );
        println!(
            "run {run}: partition() returns after p50 {:.1} us; connection closed after p50 {:.1} us p99 {:.1} us max {:.1} us",
            micros(percentile(&call, 0.5)),
            micros(p50),
            micros(p99),
            micros(max),
        );
        medians.push(micros(p50));
        maxima.push(micros(max));
        call_medians.push(micros(percentile(&call, 0.5)));
    }
    println!(
        "median of {RUNS}: partition() call {:.1} us, cut in effect p50 {:.1} us, worst per run (median) {:.1} us",
        median(&mut call_medians),
        median(&mut medians),
        median(&mut maxima),
    );
}

/// Median time to connect and get one byte echoed, over `connections` new connections.
async fn connection_setup(addr: SocketAddr, connections: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(connections);
    for _ in 0..connections {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("the proxy accepts");
        stream.write_all(b"x").await.expect("loopback write");
        let mut byte = [0_u8; 1];
        stream.read_exact(&mut byte).await.expect("forwarded");
        samples.push(started.elapsed());
    }
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark, ~15 s"]
async fn inbound_proxy_connection_setup_with_dialler_lookup() {
    // "node": this test process's group is registered as n1, so the lookup
    // finds it (by scanning the group: this process does not lead it).
    // "not a node": a group no process has, so the lookup misses and retries.
    let network = Network::new(NetworkOptions::default());
    let echo = echo_server().await;
    let as_node = ProcessTable::new();
    as_node.set(N1, nix::unistd::getpgrp().as_raw());
    let as_stranger = ProcessTable::new();
    as_stranger.set(N1, i32::MAX);
    let node_proxy = network
        .inbound_proxy(N2, echo, as_node)
        .await
        .expect("a proxy");
    let stranger_proxy = network
        .inbound_proxy(N2, echo, as_stranger)
        .await
        .expect("a proxy");
    let link = network.link_proxy(N1, N2, echo).await.expect("a proxy");
    let connections = 100;
    let (mut node_p50, mut stranger_p50, mut link_p50) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=RUNS {
        let (node50, node99) = connection_setup(node_proxy, connections).await;
        let (stranger50, _) = connection_setup(stranger_proxy, connections / 4).await;
        let (link50, _) = connection_setup(link, connections).await;
        println!(
            "run {run}: connect + first echo p50: inbound from a node {:.0} us (p99 {:.0} us) | inbound from a non-node {:.0} us | per-link {:.0} us",
            micros(node50),
            micros(node99),
            micros(stranger50),
            micros(link50),
        );
        node_p50.push(micros(node50));
        stranger_p50.push(micros(stranger50));
        link_p50.push(micros(link50));
    }
    let count_entries = |path: &str| {
        std::fs::read_to_string(path)
            .map(|text| text.lines().count().saturating_sub(1))
            .unwrap_or(0)
    };
    println!(
        "median of {RUNS}: inbound from a node {:.0} us, from a non-node {:.0} us, per-link {:.0} us ({} rows in /proc/net/tcp)",
        median(&mut node_p50),
        median(&mut stranger_p50),
        median(&mut link_p50),
        count_entries("/proc/net/tcp"),
    );
}
