//! Run directories made by hand for the report tests: a history of any
//! size with faults, a results.json with a linearizability violation and a
//! lost write, a test.json and node logs. With `hostile`, every piece of
//! text the history and the checks contribute carries markup.

#![allow(dead_code)]

pub mod browser;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use checker::Verdict;
use results::{CheckResult, OpCounts, RunResults};
use serde_json::{json, Value};

/// Markup that must never run or break the page (issue 7).
pub const PAYLOADS: [&str; 2] = [
    "</script><script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
];

/// Client threads of the made-up run.
const THREADS: u64 = 10;

/// What a made-up run holds, for the assertions.
#[derive(Debug, Clone)]
pub struct Made {
    /// Client ops written.
    pub ops: usize,
    /// The id of the op the linearizability violation is stuck on.
    pub stuck: u64,
    /// Its key.
    pub stuck_key: String,
    /// The ids of the lost write's append and read.
    pub lost: [u64; 2],
}

fn pick<'a>(hostile: bool, i: u64, plain: &'a str, nasty: &'a [&'a str]) -> String {
    if hostile {
        format!("{}{}", nasty[(i as usize) % nasty.len()], i % 7)
    } else {
        plain.to_string()
    }
}

/// A cheap, fixed pseudo-random sequence (splitmix64).
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Planned {
    call: u64,
    ret: u64,
    process: u64,
    f: &'static str,
    key: String,
    input: Value,
    output: Value,
    kind: &'static str,
    node: String,
    error: Option<String>,
}

/// Writes a run of `ops` client ops into `dir` (history.jsonl, results.json,
/// test.json, nodes/n*.log, raftlog.jsonl).
pub fn write_run(dir: &Path, ops: usize, hostile: bool) -> Made {
    std::fs::create_dir_all(dir.join("nodes")).unwrap();
    let nodes: Vec<String> = (1..=3)
        .map(|n| pick(hostile, n, &format!("n{n}"), &PAYLOADS))
        .collect();
    let mut planned: Vec<Planned> = Vec::with_capacity(ops);
    let mut clock = [0u64; THREADS as usize];
    let mut generation = [0u64; THREADS as usize];
    for i in 0..ops as u64 {
        let thread = (i % THREADS) as usize;
        let r = mix(i);
        let call = clock[thread] + 20_000 + r % 100_000;
        let ret = call + 150_000 + (r >> 20) % 3_000_000;
        clock[thread] = ret;
        let key = if hostile {
            pick(hostile, i / 40, "", &PAYLOADS)
        } else {
            format!("k{}", (i / 400) % 250)
        };
        let (f, input, output) = match r % 3 {
            0 => ("read", Value::Null, json!(i / 2)),
            1 => ("write", json!(i), json!(i)),
            _ => ("cas", json!([i / 2, i]), json!([i / 2, i])),
        };
        let (input, output) = if hostile && f != "cas" {
            let text = pick(hostile, i, "", &PAYLOADS);
            (
                if f == "read" {
                    Value::Null
                } else {
                    json!(text)
                },
                json!(text),
            )
        } else {
            (input, output)
        };
        let (kind, error) = match i % 40 {
            7 => ("fail", Some(pick(hostile, i, "no-leader", &PAYLOADS))),
            13 if i % 80 == 13 => ("info", Some(pick(hostile, i, "timeout", &PAYLOADS))),
            _ => ("ok", None),
        };
        let process = thread as u64 + THREADS * generation[thread];
        if kind == "info" {
            generation[thread] += 1;
        }
        planned.push(Planned {
            call,
            ret,
            process,
            f,
            key,
            input,
            output,
            kind,
            node: nodes[(r % 3) as usize].clone(),
            error,
        });
    }
    let end = clock.iter().copied().max().unwrap_or(0);
    // (time, order within the instant, line without index)
    let mut events: Vec<(u64, u8, usize, Value)> = Vec::with_capacity(ops * 2 + 8);
    for (n, op) in planned.iter().enumerate() {
        let mut invoke = json!({"time": op.call, "process": op.process, "type": "invoke", "f": op.f, "key": op.key, "value": op.input, "node": op.node});
        if op.input.is_null() {
            invoke["value"] = Value::Null;
        }
        events.push((op.call, 1, n, invoke));
        let mut done = json!({"time": op.ret, "process": op.process, "type": op.kind, "f": op.f, "key": op.key, "node": op.node});
        done["value"] = if op.kind == "ok" {
            op.output.clone()
        } else {
            op.input.clone()
        };
        if let Some(error) = &op.error {
            done["error"] = json!(error);
        }
        events.push((op.ret, 0, n, done));
    }
    let faults: [(f64, &str, usize); 6] = [
        (0.2, "partition", 0),
        (0.35, "heal", 0),
        (0.5, "kill", 1),
        (0.6, "restart", 1),
        (0.7, "pause", 2),
        (0.8, "resume", 2),
    ];
    for (n, (at, f, node)) in faults.iter().enumerate() {
        let t = (end as f64 * at) as u64;
        let mut value =
            json!({"f": f, "nodes": [nodes[*node]], "start_ns": t, "end_ns": t + 1_000});
        if *f == "partition" {
            value["shape"] = json!("leader");
            value["groups"] = json!([[nodes[0]], [nodes[1], nodes[2]]]);
        }
        events.push((
            t + 1_000,
            2,
            usize::MAX - n,
            json!({"time": t + 1_000, "process": "nemesis", "type": "info", "f": f, "value": value}),
        ));
    }
    events.sort_by_key(|a| (a.0, a.1, a.2));
    let mut ids = vec![0u64; planned.len()];
    let mut text = String::with_capacity(events.len() * 140);
    for (index, (_, order, n, mut event)) in events.into_iter().enumerate() {
        event["index"] = json!(index);
        if order == 1 {
            ids[n] = index as u64;
        }
        text.push_str(&serde_json::to_string(&event).unwrap());
        text.push('\n');
    }
    std::fs::write(dir.join("history.jsonl"), text).unwrap();

    let stuck_n = planned.len() / 2;
    let stuck = ids[stuck_n];
    let stuck_key = planned[stuck_n].key.clone();
    let lost = [ids[planned.len() / 3], ids[planned.len() / 3 + 10]];
    let prefix: Vec<Value> = (1..=3)
        .map(|back| {
            let n = stuck_n - back * 10;
            let op = &planned[n];
            json!({"id": ids[n], "process": op.process, "op": format!("write({})", pick(hostile, back as u64, "7", &PAYLOADS)),
                   "line": ids[n] + 1, "call_time": op.call, "ret_time": op.ret, "crashed": false,
                   "node": op.node, "state_after": pick(hostile, back as u64, "7", &PAYLOADS)})
        })
        .collect();
    let stuck_op = &planned[stuck_n];
    let payload = pick(hostile, 0, "3", &PAYLOADS);
    let linearizability = json!({
        "model": "kv", "verdict": "invalid", "ops": ops,
        "keys": [
            {"key": stuck_key, "ops": 40, "verdict": "invalid", "configurations": 12, "millis": 0.2,
             "prefix": prefix,
             "stuck_on": {"id": stuck, "process": stuck_op.process, "op": format!("read -> {payload}"), "line": stuck + 1,
                          "call_time": stuck_op.call, "ret_time": stuck_op.ret, "crashed": false, "node": stuck_op.node},
             "needed": format!("the register to hold {payload}"), "state": "7", "seen": ["7", payload],
             "explanation": format!("read -> {payload} cannot be placed. This is a stale read."),
             "kind": "stale-read"},
            {"key": pick(hostile, 3, "k-undecided", &PAYLOADS), "ops": 5, "verdict": "unknown", "configurations": 1, "millis": 1.0,
             "reason": pick(hostile, 4, "the time budget ran out", &PAYLOADS)}
        ]
    });
    let anomalies = json!({
        "check": "list-append", "verdict": "invalid",
        "anomalies": [{"kind": "lost-write", "key": planned[planned.len() / 3].key, "ops": lost,
                       "values": [pick(hostile, 5, "57", &PAYLOADS)],
                       "explanation": format!("the append of {} was lost", pick(hostile, 5, "57", &PAYLOADS)),
                       "time": planned[planned.len() / 3].call}],
        "counts": {"lost-write": 1}, "stats": {"keys": 250}
    });
    let results = RunResults {
        verdict: Verdict::Invalid,
        exit_code: 1,
        reason: None,
        checks: vec![
            CheckResult {
                name: "linearizability".into(),
                verdict: Verdict::Invalid,
                summary: format!("NOT linearizable: 1 of 2 keys ({})", stuck_key),
                details: linearizability,
            },
            CheckResult {
                name: "list-append".into(),
                verdict: Verdict::Invalid,
                summary: "list-append: INVALID: 1 lost-write".into(),
                details: anomalies,
            },
            CheckResult {
                name: "raftlog".into(),
                verdict: Verdict::Valid,
                summary: "raftlog: valid".into(),
                details: json!({"check": "raftlog", "verdict": "valid", "anomalies": [], "counts": {}, "stats": {}}),
            },
        ],
        ops: OpCounts {
            invoked: ops as u64,
            ok: ops as u64,
            fail: 0,
            info: 0,
        },
        final_reads: OpCounts::default(),
        faults: BTreeMap::from([("partition".to_string(), 1)]),
        timings: BTreeMap::from([
            ("setup_ms".to_string(), 0.0),
            ("main_phase_ms".to_string(), end as f64 / 1e6),
        ]),
        anomalies: vec![
            "linearizability:nonlinearizable".into(),
            "list-append:lost-write".into(),
        ],
        refused_to_start: Vec::new(),
        replicas_behind: Vec::new(),
    };
    results::write_json(&dir.join("results.json"), "results", &results).unwrap();
    let test = json!({
        "test": pick(hostile, 6, "made-up-register", &PAYLOADS),
        "command": format!("faultline run --seed 42 --node-args {}", pick(hostile, 6, "'--bug stale-read'", &PAYLOADS)),
        "seed": 42,
        "started_at": "2026-01-01T00:00:00.000Z",
        "faultline_version": "0.1.0",
        "options": {"workload": "register", "nemesis": pick(hostile, 7, "partition", &PAYLOADS)},
        "nodes": [],
    });
    std::fs::write(
        dir.join("test.json"),
        serde_json::to_string_pretty(&test).unwrap(),
    )
    .unwrap();
    for n in 1..=3 {
        let mut log = String::new();
        let seconds = end / 1_000_000_000 + 1;
        for s in 0..seconds {
            let _ = writeln!(
                log,
                "2026-01-01T00:00:{:02}.{:03}000Z  INFO node {n}: {}",
                s % 60,
                (s * 37) % 1000,
                pick(hostile, s, "applied through index 1000", &PAYLOADS)
            );
        }
        std::fs::write(dir.join("nodes").join(format!("n{n}.log")), log).unwrap();
    }
    let mut raftlog = String::new();
    for s in 0..(end / 1_000_000_000 + 1) {
        for n in 1..=3 {
            let _ = writeln!(
                raftlog,
                "{{\"time\":{},\"node\":\"n{n}\",\"commit_index\":{},\"from\":1,\"entries\":[]}}",
                s * 1_000_000_000,
                s * 100 + n
            );
        }
    }
    std::fs::write(dir.join("raftlog.jsonl"), raftlog).unwrap();
    Made {
        ops,
        stuck,
        stuck_key,
        lost,
    }
}

/// A transaction run: two transactions in read skew, as the txn check
/// reports them in results.json.
pub fn write_txn_run(dir: &Path) {
    let history = [
        r#"{"index":0,"time":1000,"process":0,"type":"invoke","f":"txn","value":[["append","t3",2],["append","t5",7]]}"#,
        r#"{"index":1,"time":1100,"process":1,"type":"invoke","f":"txn","value":[["r","t3",null],["r","t5",null]]}"#,
        r#"{"index":2,"time":2000,"process":0,"type":"ok","f":"txn","value":[["append","t3",2],["append","t5",7]]}"#,
        r#"{"index":3,"time":2100,"process":1,"type":"ok","f":"txn","value":[["r","t3",[1,2]],["r","t5",[]]]}"#,
    ];
    std::fs::write(dir.join("history.jsonl"), history.join("\n") + "\n").unwrap();
    let details = json!({
        "consistency": "strict-serializable",
        "verdict": "invalid",
        "anomalies": [{
            "class": "G-single", "forbidden": true, "txns": [0, 1],
            "edges": [
                {"from": 0, "to": 1, "kind": "wr", "key": "t3",
                 "reason": "T0 < T1: T1 read key t3 = [1 2], which includes T0's append of 2"},
                {"from": 1, "to": 0, "kind": "rw", "key": "t5",
                 "reason": "T1 < T0: T1 read key t5 = [], which misses T0's append of 7 </script><img src=x>"}],
            "explanation": "T1 saw T0's append to t3 but not its append to t5: read skew.",
            "time": 1000}],
        "counts": {"G-single": 1},
        "stats": {"committed": 2}
    });
    let results = json!({
        "verdict": "invalid", "exit_code": 1,
        "checks": [{"name": "txn-list-append", "verdict": "invalid",
                    "summary": "txn-list-append (strict-serializable): INVALID: 1 G-single",
                    "details": details}],
        "ops": {"invoked": 2, "ok": 2, "fail": 0, "info": 0},
        "final_reads": {"invoked": 0, "ok": 0, "fail": 0, "info": 0},
        "faults": {}, "timings": {}
    });
    std::fs::write(dir.join("results.json"), results.to_string()).unwrap();
}
