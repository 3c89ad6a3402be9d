//! Generated transaction histories against the transaction checker: valid
//! histories are valid under every level, with a witness; each injected
//! anomaly is found and named by its class, and nothing is found outside
//! the injected transactions. And the two ways of reading a jsonl history
//! of transactions (the dedicated reader, and the generic reader followed
//! by `TxnHistory::from_history`) agree.

use checker::anomalies::txn::{
    check_txn, read_jsonl, Consistency, KeyName, Mop, Status, TxnHistory,
};
use checker::synth::{generate_txn, GeneratedTxns, TxnAnomalyKind, TxnGenOptions};
use checker::{format, Format, Verdict};

fn options(seed: u64, anomaly: Option<TxnAnomalyKind>) -> TxnGenOptions {
    TxnGenOptions {
        txns: 300,
        clients: 6,
        mops: 3.0,
        hot_keys: 4,
        crash_rate: 0.05,
        fail_rate: 0.02,
        seed,
        anomaly,
        ..TxnGenOptions::default()
    }
}

fn jsonl(generated: &GeneratedTxns) -> String {
    let mut out = Vec::new();
    generated.write_jsonl(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn generated_histories_without_an_anomaly_are_valid_under_every_level() {
    for seed in 0..8 {
        let generated = generate_txn(&options(seed, None)).unwrap();
        for level in Consistency::ALL {
            let report = check_txn(&generated.history, level);
            assert_eq!(
                report.verdict,
                Verdict::Valid,
                "seed {seed} {level}: {:?}",
                report.anomalies
            );
            let forbidden: Vec<&str> = report
                .anomalies
                .iter()
                .filter(|a| a.forbidden)
                .map(|a| a.class.as_str())
                .collect();
            assert!(forbidden.is_empty(), "seed {seed} {level}: {forbidden:?}");
        }
        let report = check_txn(&generated.history, Consistency::StrictSerializable);
        let witness = report
            .witness
            .expect("a valid serializable verdict has a witness");
        let committed = generated
            .history
            .txns
            .iter()
            .filter(|t| t.status == Status::Committed)
            .count();
        assert!(
            witness.len() >= committed,
            "seed {seed}: every committed txn is placed"
        );
    }
}

#[test]
fn every_injected_anomaly_is_found_and_named_and_nothing_else_is() {
    for kind in TxnAnomalyKind::ALL {
        for seed in 0..4 {
            let generated = generate_txn(&options(seed, Some(kind))).unwrap();
            let report = check_txn(&generated.history, Consistency::StrictSerializable);
            let what = format!("{kind} seed {seed}: {:?}", report.anomalies);
            assert_eq!(report.verdict, Verdict::Invalid, "{what}");
            assert!(
                report
                    .anomalies
                    .iter()
                    .any(|a| a.forbidden && a.class == kind.name()),
                "{what}"
            );
            for anomaly in report.anomalies.iter().filter(|a| a.forbidden) {
                assert!(
                    anomaly.txns.iter().all(|t| generated.injected.contains(t)),
                    "{what}: {} names transactions outside the injected {:?}",
                    anomaly.class,
                    generated.injected
                );
            }
        }
    }
}

/// A transaction: id, process, status, call, ret, its micro-ops in words.
type TxnRow = (u64, u64, Status, u64, Option<u64>, Vec<String>);

/// A transaction history with keys by name, for comparing histories whose
/// readers may intern keys in different orders.
fn by_name(history: &TxnHistory) -> Vec<TxnRow> {
    history
        .txns
        .iter()
        .map(|txn| {
            let mops = history
                .mops_of(txn)
                .iter()
                .map(|mop| match mop {
                    Mop::Append { key, elem } => {
                        format!("append {} {elem}", name(&history.keys[*key as usize]))
                    }
                    Mop::Read { key, elems } => format!(
                        "r {} {:?}",
                        name(&history.keys[*key as usize]),
                        elems.as_ref().map(|range| history.elems(range))
                    ),
                })
                .collect();
            (txn.id, txn.process, txn.status, txn.call, txn.ret, mops)
        })
        .collect()
}

fn name(key: &KeyName) -> String {
    key.to_string()
}

#[test]
fn the_dedicated_reader_agrees_with_the_generic_reader() {
    for seed in 0..4 {
        for anomaly in [
            None,
            Some(TxnAnomalyKind::G1a),
            Some(TxnAnomalyKind::GSingle),
        ] {
            let generated = generate_txn(&options(seed, anomaly)).unwrap();
            let text = jsonl(&generated);
            let fast = read_jsonl(&text, "g.jsonl").unwrap();
            let (history, _) = format::read(&text, "g.jsonl", Some(Format::Jsonl)).unwrap();
            let generic = TxnHistory::from_history(&history).unwrap();
            assert_eq!(by_name(&fast), by_name(&generic), "seed {seed} {anomaly:?}");
            assert_eq!(by_name(&fast), by_name(&generated.history));
            let times = |h: &TxnHistory| -> Vec<(Option<u64>, Option<u64>, u64)> {
                h.txns
                    .iter()
                    .map(|t| (t.call_time, t.ret_time, t.line))
                    .collect()
            };
            assert_eq!(times(&fast), times(&generic), "seed {seed} {anomaly:?}");
        }
    }
}

/// A jsonl history of transactions printed as Jepsen's EDN, one op map a
/// line: `{:index 0, :time 4, :process 2, :type :invoke, :f :txn, :value
/// [[:append 3 1] [:r 3 nil]]}`.
fn to_edn(text: &str) -> String {
    fn value(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Null => "nil".into(),
            serde_json::Value::String(s) if s == "append" || s == "r" => format!(":{s}"),
            serde_json::Value::String(s) => format!("{s:?}"),
            serde_json::Value::Array(items) => {
                let items: Vec<String> = items.iter().map(value).collect();
                format!("[{}]", items.join(" "))
            }
            other => other.to_string(),
        }
    }
    let mut edn = String::new();
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        edn.push_str(&format!(
            "{{:index {}, :time {}, :process {}, :type :{}, :f :txn, :value {}}}\n",
            event["index"],
            event["time"],
            event["process"],
            event["type"].as_str().unwrap(),
            value(&event["value"])
        ));
    }
    edn
}

#[test]
fn the_edn_form_of_a_generated_history_reads_as_its_jsonl_form() {
    let generated = generate_txn(&options(6, Some(TxnAnomalyKind::G1a))).unwrap();
    let text = jsonl(&generated);
    let (history, format) = format::read(&to_edn(&text), "g.edn", None).unwrap();
    assert_eq!(format, Format::Edn);
    let from_edn = TxnHistory::from_history(&history).unwrap();
    let fast = read_jsonl(&text, "g.jsonl").unwrap();
    // EDN positions count op maps from 0, jsonl lines from 1: compare
    // everything else.
    let strip = |rows: Vec<TxnRow>| -> Vec<(u64, u64, Status, Vec<String>)> {
        rows.into_iter()
            .map(|(id, process, status, _, _, mops)| (id, process, status, mops))
            .collect()
    };
    assert_eq!(strip(by_name(&from_edn)), strip(by_name(&fast)));
}
