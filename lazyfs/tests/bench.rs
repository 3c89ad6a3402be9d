//! Throughput through a lazyfs mount against a plain directory (ignored:
//! run by hand, figures in docs/disk.md):
//!
//! cargo test --release -p lazyfs --test bench -- --ignored --nocapture

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use common::TestMount;

const BLOCK: usize = 4096;

/// Writes `count` 4 KiB blocks one after another to a new file, with an
/// fdatasync after every `sync_every` writes (never when 0) and one at the
/// end; returns MiB/s.
fn run(dir: &Path, count: usize, sync_every: usize) -> f64 {
    let path = dir.join("bench.dat");
    let _ = std::fs::remove_file(&path);
    let f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let block = vec![0x5a; BLOCK];
    let start = Instant::now();
    for i in 0..count {
        f.write_all_at(&block, (i * BLOCK) as u64).unwrap();
        if sync_every > 0 && (i + 1) % sync_every == 0 {
            f.sync_data().unwrap();
        }
    }
    f.sync_data().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(f.metadata().unwrap().len(), (count * BLOCK) as u64);
    drop(f);
    std::fs::remove_file(&path).unwrap();
    (count * BLOCK) as f64 / (1024.0 * 1024.0) / secs
}

fn median3(mut f: impl FnMut() -> f64) -> f64 {
    let mut v = [f(), f(), f()];
    v.sort_by(f64::total_cmp);
    v[1]
}

#[test]
#[ignore = "benchmark: run by hand with --ignored --nocapture"]
fn throughput_against_a_plain_directory() {
    let Some(t) = TestMount::new("throughput_against_a_plain_directory") else {
        return;
    };
    let plain = tempfile::tempdir().unwrap();
    let cases = [
        (
            "sequential 4 KiB writes, 64 MiB, one fdatasync at the end",
            16_384,
            0,
        ),
        (
            "4 KiB writes + fdatasync every 16 writes, 16 MiB",
            4_096,
            16,
        ),
        ("4 KiB writes + fdatasync every write, 4 MiB", 1_024, 1),
    ];
    println!("| workload | plain directory (MiB/s) | lazyfs (MiB/s) |");
    println!("| --- | ---: | ---: |");
    for (what, count, every) in cases {
        let p = median3(|| run(plain.path(), count, every));
        let l = median3(|| run(&t.mnt, count, every));
        assert!(p > 0.0 && l > 0.0);
        println!("| {what} | {p:.0} | {l:.0} |");
    }
}
