//! Times the dedicated transaction reader on a jsonl history
//! (docs/benchmarks.md, "Transaction histories"):
//!
//! ```sh
//! faultline gen --model txn-list-append --ops 1000000 --clients 10 --mops 3.8 -o /tmp/txn-1m.jsonl
//! cargo run --release -p checker --example read_txn -- /tmp/txn-1m.jsonl
//! ```
//!
//! Prints the file's size, the time to read it into memory, the time
//! `read_jsonl` takes and what it read. With `--generic` it times the
//! generic reader (`checker::format::read`, `serde_json::Value` trees) instead.

use std::time::Instant;

/// CPU seconds this process has used (user, system), from /proc/self/stat
/// (100 ticks a second); zeros where it cannot be read.
fn cpu() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let tick = |n: usize| fields.get(n).copied().unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

fn main() -> anyhow::Result<()> {
    let mut generic = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--generic" => generic = true,
            _ => path = Some(arg),
        }
    }
    let path = path.ok_or_else(|| anyhow::anyhow!("usage: read_txn [--generic] FILE.jsonl"))?;
    let started = Instant::now();
    let text = std::fs::read_to_string(&path)?;
    let loaded = started.elapsed();
    let started = Instant::now();
    let cpu_before = cpu();
    if generic {
        let (history, _) = checker::format::read(&text, &path, Some(checker::Format::Jsonl))?;
        let read = started.elapsed();
        println!(
            "{path}: {} MB loaded in {:.3} s; generic reader: {} ops in {:.3} s",
            text.len() / 1_000_000,
            loaded.as_secs_f64(),
            history.ops.len(),
            read.as_secs_f64()
        );
    } else {
        let history = checker::anomalies::txn::read_jsonl(&text, &path)?;
        let read = started.elapsed();
        println!(
            "{path}: {} MB loaded in {:.3} s; read_jsonl: {} txns, {} micro-ops, {} read elements, {} keys in {:.3} s",
            text.len() / 1_000_000,
            loaded.as_secs_f64(),
            history.txns.len(),
            history.mops.len(),
            history.read_elems.len(),
            history.keys.len(),
            read.as_secs_f64()
        );
    }
    let cpu_after = cpu();
    println!(
        "CPU while reading: {:.2} s user, {:.2} s system",
        cpu_after.0 - cpu_before.0,
        cpu_after.1 - cpu_before.1
    );
    Ok(())
}
