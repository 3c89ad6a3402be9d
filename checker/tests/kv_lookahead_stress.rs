//! Stress: the kv-append lookahead against the brute-force oracle on many
//! small random histories (shared and unique values, puts, crashes).
//! It takes about a second, so it runs with every `cargo test`.

use checker::gen::Rng;
use checker::{check, oracle, CheckOptions, History, ModelKind, Op, Outcome, Verdict};
use serde_json::{json, Value};

fn history(seed: u64, n: usize, unique: bool) -> History {
    let mut rng = Rng::new(seed);
    let mut positions: Vec<u64> = (0..2 * n as u64).collect();
    for i in (1..positions.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        positions.swap(i, j);
    }
    // A sequential run in call order gives plausible get values.
    let mut seq = String::new();
    let mut seen: Vec<String> = vec![String::new()];
    let mut ops = Vec::new();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by_key(|&i| positions[2 * i].min(positions[2 * i + 1]));
    for (k, &i) in idx.iter().enumerate() {
        let (a, b) = (positions[2 * i], positions[2 * i + 1]);
        let (call, ret) = (a.min(b), a.max(b));
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
        ops.push(Op {
            id: k as u64,
            process: k as u64,
            key: "a".to_string(),
            f: f.to_string(),
            input,
            outcome,
            call,
            ret: if crashed { None } else { Some(ret) },
            call_time: None,
            ret_time: None,
            line: k as u64 + 1,
            node: None,
        });
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
