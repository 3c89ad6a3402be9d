//! Stress: the kv-append lookahead against the brute-force oracle on many
//! small random histories (shared and unique values, puts, crashes).
//! It takes about a second, so it runs with every `cargo test`.

mod common;

use checker::linearizability::oracle;
use checker::synth::Rng;
use checker::{check, CheckOptions, History, ModelKind, Outcome, Verdict};
use serde_json::{json, Value};

fn history(seed: u64, n: usize, unique: bool) -> History {
    let mut rng = Rng::new(seed);
    let intervals = common::random_intervals(&mut rng, n);
    // A sequential run in call order gives plausible get values.
    let mut seq = String::new();
    let mut seen: Vec<String> = vec![String::new()];
    let mut ops = Vec::new();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by_key(|&i| intervals[i].0);
    for (k, &i) in idx.iter().enumerate() {
        let (call, ret) = intervals[i];
        let crashed = rng.chance(0.2);
        let (f, input, output): (&str, Value, Value) = match rng.below(5) {
            0 | 1 => {
                let v = match rng.below(4) {
                    0 => seen[rng.below(seen.len() as u64) as usize].clone(),
                    1 => ["", "a", "b", "ab", "ba", "bd", "db", "ad", "cb"][rng.below(9) as usize]
                        .to_string(),
                    _ => seq.clone(),
                };
                ("get", Value::Null, json!(v))
            }
            2 => {
                let v = if unique {
                    format!("p{k}.")
                } else {
                    ["a", "c"][rng.below(2) as usize].to_string()
                };
                seq = v.clone();
                seen.push(seq.clone());
                ("put", json!(v), json!(v))
            }
            _ => {
                let v = if unique {
                    format!("x{k}.")
                } else {
                    ["b", "d"][rng.below(2) as usize].to_string()
                };
                seq.push_str(&v);
                seen.push(seq.clone());
                ("append", json!(v), json!(v))
            }
        };
        let outcome = if crashed {
            Outcome::Unknown
        } else {
            Outcome::Ok(output)
        };
        let ret = (!crashed).then_some(ret);
        ops.push(common::op(k as u64, "a", f, input, outcome, call, ret));
    }
    ops.sort_by_key(|op| op.call);
    History {
        ops,
        warnings: Vec::new(),
    }
}

#[test]
fn kv_append_lookahead_agrees_with_oracle() {
    let mut counts = [0u64; 2];
    for seed in 0..40_000u64 {
        let n = 1 + (seed % 9) as usize;
        let h = history(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), n, seed % 2 == 0);
        let report = check(&h, &CheckOptions::new(ModelKind::KvAppend), "stress").unwrap();
        let expected = oracle::linearizable(&h, ModelKind::KvAppend, None);
        assert_eq!(
            report.verdict == Verdict::Valid,
            expected,
            "seed {seed}: {h:#?}"
        );
        counts[expected as usize] += 1;
    }
    eprintln!("invalid {} valid {}", counts[0], counts[1]);
}
