//! Every history in Porcupine's test data gets Porcupine's verdict, and every
//! linearizable one a witness that an independent replay accepts.

mod common;

use std::time::Instant;

use checker::linearizability::witness;
use checker::{check, format, CheckOptions, Format, ModelKind, Verdict};

/// Linearizable etcd logs, from the corpus's porcupine/README.md; every
/// other non-empty log is not linearizable.
const ETCD_OK: [u32; 23] = [
    2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92, 98, 100, 101, 102,
];

fn check_file(path: &std::path::Path, format: Format, model: ModelKind, expected: Verdict) {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).expect("test data is readable");
    let (history, _) = format::read(&text, &name, Some(format)).expect("test data parses");
    let mut options = CheckOptions::new(model);
    // A failing file needs only one failing key (kv/c50-bad has keys that no
    // checker decides quickly yet); the deadline turns a hang into a failure.
    options.stop_at_first_violation = expected == Verdict::Invalid;
    options.deadline = Some(Instant::now() + std::time::Duration::from_secs(120));
    let report = check(&history, &options, &name).expect("test data fits its model");
    assert_eq!(report.verdict, expected, "{name}: wrong verdict");
    if expected == Verdict::Valid {
        let witness = report
            .witness()
            .expect("a valid report has a witness per key");
        witness::verify(&history, model, None, &witness)
            .unwrap_or_else(|e| panic!("{name}: witness rejected: {e}"));
    } else {
        for key in &report.keys {
            if let checker::KeyOutcome::Invalid(violation) = &key.outcome {
                assert!(!violation.explanation.is_empty());
            }
        }
    }
}

#[test]
fn etcd_logs_get_porcupines_verdicts_with_valid_witnesses() {
    let Some(data) =
        common::testdata::porcupine_data("etcd_logs_get_porcupines_verdicts_with_valid_witnesses")
    else {
        return;
    };
    let dir = data.join("porcupine/jepsen");
    let started = Instant::now();
    let mut checked = 0;
    for n in 0..=102u32 {
        let path = dir.join(format!("etcd_{n:03}.log"));
        if std::fs::metadata(&path)
            .expect("every etcd log exists")
            .len()
            == 0
        {
            // etcd_095.log is empty: the cluster never started in that run.
            continue;
        }
        let expected = if ETCD_OK.contains(&n) {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        check_file(
            &path,
            Format::PorcupineEtcd,
            ModelKind::CasRegister,
            expected,
        );
        checked += 1;
    }
    assert_eq!(checked, 102);
    eprintln!("etcd set: {checked} logs in {:?}", started.elapsed());
}

#[test]
fn kv_logs_get_porcupines_verdicts_with_valid_witnesses() {
    let Some(data) =
        common::testdata::porcupine_data("kv_logs_get_porcupines_verdicts_with_valid_witnesses")
    else {
        return;
    };
    let dir = data.join("porcupine/kv");
    let started = Instant::now();
    for clients in ["c01", "c10", "c50"] {
        for (suffix, expected) in [("ok", Verdict::Valid), ("bad", Verdict::Invalid)] {
            let path = dir.join(format!("{clients}-{suffix}.txt"));
            check_file(&path, Format::PorcupineKv, ModelKind::KvAppend, expected);
        }
    }
    eprintln!("kv set: 6 logs in {:?}", started.elapsed());
}

#[test]
fn auto_format_recognises_both_porcupine_formats() {
    let Some(data) =
        common::testdata::porcupine_data("auto_format_recognises_both_porcupine_formats")
    else {
        return;
    };
    let data = data.join("porcupine");
    let etcd = std::fs::read_to_string(data.join("jepsen/etcd_000.log")).unwrap();
    assert_eq!(Format::sniff(&etcd, "etcd").unwrap(), Format::PorcupineEtcd);
    let kv = std::fs::read_to_string(data.join("kv/c01-ok.txt")).unwrap();
    assert_eq!(Format::sniff(&kv, "kv").unwrap(), Format::PorcupineKv);
}
