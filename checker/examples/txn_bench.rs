//! Times `check_txn` on a synthetic serial list-append history
//! (docs/benchmarks.md, "txn-list-append").
//!
//! `cargo run -p checker --release --example txn_bench -- [TXNS] [LEVEL] [RUNS] [STALE_PPM]`
//! (defaults: 1000000 strict-serializable 5 0): 10 clients, 4 micro-ops on
//! average, 1 % crashed, keys retiring after 32 appends; STALE_PPM reads per
//! million return a stale prefix (an invalid history). Prints each run's
//! wall time, the median, and the verdict.

use std::time::Instant;

use checker::anomalies::txn::synthetic::{serial_history, Shape};
use checker::anomalies::txn::{check_txn, Consistency};

fn main() {
    let mut args = std::env::args().skip(1);
    let txns: usize = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("TXNS is a number"));
    let level: Consistency = args.next().map_or(Consistency::StrictSerializable, |a| {
        a.parse().expect("a consistency level")
    });
    let runs: usize = args
        .next()
        .map_or(5, |a| a.parse().expect("RUNS is a number"));
    let stale_ppm: u32 = args
        .next()
        .map_or(0, |a| a.parse().expect("STALE_PPM is a number"));
    let shape = Shape {
        txns,
        clients: 10,
        max_mops: 7,
        hot_keys: 8,
        retire_after: 32,
        info_ppm: 10_000,
        fail_ppm: 0,
        stale_ppm,
        seed: 7,
    };
    let started = Instant::now();
    let history = serial_history(&shape);
    eprintln!(
        "built {} txns, {} micro-ops, {} keys in {:.0} ms",
        history.txns.len(),
        history.mops.len(),
        history.keys.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let mut times = Vec::new();
    for run in 0..runs {
        let started = Instant::now();
        let report = check_txn(&history, level);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        times.push(ms);
        println!("run {run}: {ms:.1} ms: {}", report.summary());
        if run == 0 {
            println!("stats: {:?}", report.stats);
        }
    }
    times.sort_by(f64::total_cmp);
    println!("median {:.1} ms over {runs} runs", times[runs / 2]);
}
