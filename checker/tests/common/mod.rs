//! Helpers shared by the checker's integration tests.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use checker::synth::Rng;
use checker::{Op, Outcome};
use serde_json::Value;

/// `n` random closed intervals over the positions `0..2n`, each position used
/// once, so every overlap pattern is possible.
pub fn random_intervals(rng: &mut Rng, n: usize) -> Vec<(u64, u64)> {
    let mut positions: Vec<u64> = (0..2 * n as u64).collect();
    for i in (1..positions.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        positions.swap(i, j);
    }
    positions
        .chunks(2)
        .map(|pair| (pair[0].min(pair[1]), pair[0].max(pair[1])))
        .collect()
}

/// A client op with id, process and line all `id`; `ret` is `None` for a crash.
pub fn op(
    id: u64,
    key: &str,
    f: &str,
    input: Value,
    outcome: Outcome,
    call: u64,
    ret: Option<u64>,
) -> Op {
    Op {
        id,
        process: id,
        key: key.to_string(),
        f: f.to_string(),
        input,
        outcome,
        call,
        ret,
        call_time: None,
        ret_time: None,
        line: id + 1,
        node: None,
    }
}

#[path = "testdata.rs"]
pub mod testdata;

/// `cases` proptest cases from a fixed `seed`, so CI's cases (and time) are
/// the same on every run; `PROPTEST_CASES` and `PROPTEST_RNG_SEED` explore
/// further by hand.
pub fn proptest_config(seed: u64, cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, RngSeed};
    let default = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            cases
        },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            default.rng_seed
        } else {
            RngSeed::Fixed(seed)
        },
        ..default
    }
}
