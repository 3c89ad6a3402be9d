//! After the run: the checks, `results.json`, and the summary in words.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use checker::anomalies::txn::{check_txn, Consistency, TxnHistory, TxnReport};
use checker::AnomalyReport;
use checker::{CheckOptions, Format, History, KeyOutcome, Verdict};
use results::{CheckResult, OpCounts, RunDir, RunResults};
use workloads::Workload;

use super::faults::FaultLog;
use super::record::TestRecord;
use super::Plan;
use crate::check_cmd::most_serious;
use crate::EXIT_ERROR;

/// A run in which fewer client operations than this succeeded proves
/// nothing (docs/design.md): its verdict is unknown, never valid.
pub const MIN_OK_OPS: u64 = 10;

/// What was observed while the run went, before any check.
#[derive(Debug)]
pub struct Observations {
    /// A harness or target error that ended the run early.
    pub error: Option<String>,
    /// Errors writing history.jsonl or raftlog.jsonl.
    pub write_errors: Vec<String>,
    /// Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Client operations of the main phase.
    pub ops: OpCounts,
    /// Final reads (`invoked` = attempted).
    pub final_reads: OpCounts,
    /// Keys used.
    pub keys: usize,
    /// What the nemesis did.
    pub faults: FaultLog,
    /// How long the cluster took to serve again after the heal.
    pub recovered: Option<Duration>,
    /// Start-up until a leader was known.
    pub setup: Duration,
    /// The main phase, up to the end of the heal.
    pub main_phase: Duration,
    /// When the last client operation of the main phase completed.
    pub after_last_op: Instant,
    /// Node restarts seen by the log sampler.
    pub restarts: u64,
    /// Leader changes seen by the sampler (once a second).
    pub leader_changes: u64,
    /// The wall-clock instant of the history's time 0.
    pub time_zero: Option<std::time::SystemTime>,
    /// Replicas whose own copy of a stream was behind another's after the
    /// final reads (NATS).
    pub replicas_behind: Vec<results::ReplicaBehind>,
}

impl Observations {
    /// A run that ended with an error before it could be judged.
    pub fn error(message: String) -> Self {
        Self {
            error: Some(message),
            write_errors: Vec::new(),
            interrupted: false,
            ops: OpCounts::default(),
            final_reads: OpCounts::default(),
            keys: 0,
            faults: FaultLog::default(),
            recovered: None,
            setup: Duration::ZERO,
            main_phase: Duration::ZERO,
            after_last_op: Instant::now(),
            restarts: 0,
            leader_changes: 0,
            time_zero: None,
            replicas_behind: Vec::new(),
        }
    }
}

/// The kind of a linearizability violation that no anomaly names.
const NONLINEARIZABLE: &str = "nonlinearizable";

/// How clear the evidence of an anomaly kind is (`stale-read`, or
/// `check:kind` as in `results.json`), lower first: a stale read, then any
/// other named anomaly (lost write, rollback, ...), then a key with no
/// valid order.
fn evidence_rank(kind: &str) -> u8 {
    match kind.rsplit(':').next().unwrap_or(kind) {
        "stale-read" => 0,
        NONLINEARIZABLE => 2,
        _ => 1,
    }
}

/// The anomaly kinds of a run in the order its summary gives them: by
/// [`evidence_rank`], then by name; each once.
fn order_anomalies(mut kinds: Vec<String>) -> Vec<String> {
    kinds.sort_by(|a, b| (evidence_rank(a), a).cmp(&(evidence_rank(b), b)));
    kinds.dedup();
    kinds
}

/// A check's result plus what the summary prints about it.
struct Judged {
    result: CheckResult,
    /// Sentences explaining an anomaly, printed under the check's line.
    explanations: Vec<String>,
    /// Time of the invoke of the earliest op of the first anomaly (ns).
    detection_ns: Option<u64>,
    /// The kinds of anomaly found, as `check:kind` (`list-append:lost-write`).
    kinds: Vec<String>,
}

impl Judged {
    /// A check that could not judge, with the reason as its summary.
    fn unknown(name: &str, summary: String) -> Self {
        Self {
            result: CheckResult {
                name: name.into(),
                verdict: Verdict::Unknown,
                summary,
                details: serde_json::Value::Null,
            },
            explanations: Vec::new(),
            detection_ns: None,
            kinds: Vec::new(),
        }
    }
}

/// A run's history as its workload's check reads it: transactions go
/// straight into the transaction checker's arrays (`read_jsonl`), every
/// other workload into ops.
enum Recorded {
    Ops(History),
    Txns(TxnHistory),
}

fn history_of(run: &RunDir, workload: Workload) -> Result<Option<Recorded>, String> {
    let path = run.history();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    let source = path.display().to_string();
    let recorded = if workload == Workload::Txn {
        checker::anomalies::txn::read_jsonl(&text, &source).map(Recorded::Txns)
    } else {
        checker::format::read(&text, &source, Some(Format::Jsonl))
            .map(|(history, _)| Recorded::Ops(history))
    };
    recorded.map(Some).map_err(|err| format!("{err}"))
}

fn call_time(history: &History, id: u64) -> Option<u64> {
    history
        .ops
        .iter()
        .find(|op| op.id == id)
        .and_then(|op| op.call_time)
}

/// The linearizability check of a run's history, within the run's budget.
fn linearizability(plan: &Plan, history: &History, source: &str) -> Judged {
    let mut options = CheckOptions::new(plan.workload.model());
    options.deadline = Some(Instant::now() + plan.check_timeout);
    options.memory_bytes = plan.memory_mib.saturating_mul(1 << 20);
    linearizability_with(&options, history, source)
}

fn linearizability_with(options: &CheckOptions, history: &History, source: &str) -> Judged {
    match checker::check(history, options, source) {
        Ok(report) => {
            let keys = report.keys.len();
            let mut invalid: Vec<_> = report
                .keys
                .iter()
                .filter_map(|key| match &key.outcome {
                    KeyOutcome::Invalid(violation) => Some((key.key.clone(), violation)),
                    _ => None,
                })
                .collect();
            // The clearest evidence first: stale reads, then other named
            // anomalies, then keys that merely have no valid order; each
            // group earliest first.
            invalid.sort_by_key(|(key, violation)| {
                (
                    evidence_rank(violation.kind.as_deref().unwrap_or(NONLINEARIZABLE)),
                    violation.stuck_on.call_time.unwrap_or(u64::MAX),
                    key.clone(),
                )
            });
            let unknown = report
                .keys
                .iter()
                .filter(|key| key.verdict() == Verdict::Unknown)
                .count();
            let summary = match report.verdict {
                Verdict::Valid => format!("linearizable ({keys} keys, {} ops)", report.ops),
                Verdict::Invalid => {
                    let stale = invalid
                        .iter()
                        .filter(|(_, violation)| violation.kind.as_deref() == Some("stale-read"))
                        .count();
                    format!(
                        "NOT linearizable: {} of {keys} keys have no valid order ({}){}",
                        invalid.len(),
                        invalid
                            .iter()
                            .map(|(key, _)| key.as_str())
                            .take(5)
                            .collect::<Vec<_>>()
                            .join(", "),
                        if stale > 0 {
                            format!("; {stale} of them end in a stale read")
                        } else {
                            String::new()
                        }
                    )
                }
                Verdict::Unknown => {
                    format!("unknown: {unknown} of {keys} keys not decided within the budget")
                }
            };
            let explanations = invalid
                .iter()
                .take(3)
                .map(|(key, violation)| format!("key {key:?}: {}", violation.explanation))
                .collect();
            let detection_ns = invalid
                .iter()
                .filter_map(|(_, violation)| violation.stuck_on.call_time)
                .min();
            // A violation whose stuck read is provably stale is named;
            // every other one is a plain linearizability violation.
            let kinds = invalid
                .iter()
                .map(|(_, violation)| {
                    format!(
                        "linearizability:{}",
                        violation.kind.as_deref().unwrap_or(NONLINEARIZABLE)
                    )
                })
                .collect();
            Judged {
                result: CheckResult {
                    name: "linearizability".into(),
                    verdict: report.verdict,
                    summary,
                    details: serde_json::to_value(&report).unwrap_or_default(),
                },
                explanations,
                detection_ns,
                kinds,
            }
        }
        Err(err) => Judged::unknown("linearizability", format!("could not check: {err}")),
    }
}

fn anomalies(report: AnomalyReport, history: Option<&History>) -> Judged {
    let explanations = report
        .anomalies
        .iter()
        .take(5)
        .map(|anomaly| match anomaly.key.as_str() {
            "" => format!("{}: {}", anomaly.kind.as_str(), anomaly.explanation),
            key => format!(
                "{}: key {key:?}: {}",
                anomaly.kind.as_str(),
                anomaly.explanation
            ),
        })
        .collect();
    // The earliest over every anomaly: a check lists its anomalies by kind
    // (raftlog: rollbacks before divergences), not by time.
    let detection_ns = report
        .anomalies
        .iter()
        .filter_map(|anomaly| {
            anomaly.time.or_else(|| {
                let history = history?;
                anomaly
                    .ops
                    .iter()
                    .filter_map(|&id| call_time(history, id))
                    .min()
            })
        })
        .min();
    Judged {
        result: CheckResult {
            name: report.check.clone(),
            verdict: report.verdict,
            // The check's name is shown beside its summary everywhere.
            summary: report.findings(),
            details: serde_json::to_value(&report).unwrap_or_default(),
        },
        explanations,
        detection_ns,
        kinds: report
            .counts
            .iter()
            .filter(|(_, &n)| n > 0)
            .map(|(kind, _)| format!("{}:{kind}", report.check))
            .collect(),
    }
}

/// The name of the transaction check, in `results.json` and anomaly kinds
/// (`txn-list-append:G-single`).
const TXN_CHECK: &str = "txn-list-append";
/// How many forbidden anomalies the summary explains.
const TXN_EXPLAINED: usize = 5;

/// The transaction check of a `txn` run: the history held to strict
/// serializability (etcd's promise, and raftkv's).
fn transactions(history: &TxnHistory) -> Judged {
    let report = check_txn(history, Consistency::StrictSerializable);
    // The check's name is shown beside its summary everywhere.
    let summary = format!("{}: {}", report.consistency, report.findings());
    judge_txn(&report, summary)
}

/// A transaction report as a [`Judged`]: the explanations of its first
/// forbidden anomalies, the earliest invoke among them as the detection
/// time, and each forbidden class as a kind (`txn-list-append:G-single`).
/// Anomalies the level allows are in the details only.
fn judge_txn(report: &TxnReport, summary: String) -> Judged {
    let forbidden: Vec<_> = report
        .anomalies
        .iter()
        .filter(|anomaly| anomaly.forbidden)
        .collect();
    let explanations = forbidden
        .iter()
        .take(TXN_EXPLAINED)
        .map(|anomaly| format!("{}: {}", anomaly.class, anomaly.explanation))
        .collect();
    let detection_ns = forbidden.iter().filter_map(|anomaly| anomaly.time).min();
    let mut kinds: Vec<String> = forbidden
        .iter()
        .map(|anomaly| format!("{TXN_CHECK}:{}", anomaly.class))
        .collect();
    kinds.sort();
    kinds.dedup();
    Judged {
        result: CheckResult {
            name: TXN_CHECK.into(),
            verdict: report.verdict,
            summary,
            details: serde_json::to_value(report).unwrap_or_default(),
        },
        explanations,
        detection_ns,
        kinds,
    }
}

/// A JSON Lines reader of the checker: the lines read, and warnings.
type LinesReader<T> = fn(&str, &str) -> checker::Result<(Vec<T>, Vec<String>)>;

/// A check on a file the run wrote beside the history (`raftlog.jsonl`,
/// `revisions.jsonl`): `None` when the run wrote no such file.
fn file_check<T>(
    path: &std::path::Path,
    name: &str,
    read: LinesReader<T>,
    check: fn(&[T]) -> AnomalyReport,
) -> Option<Judged> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(match read(&text, &path.display().to_string()) {
        Ok((items, _warnings)) => anomalies(check(&items), None),
        Err(err) => Judged::unknown(name, format!("could not read {}: {err}", path.display())),
    })
}

/// Runs the checks, writes `results.json`, prints the summary, returns the
/// exit code.
pub fn finish(plan: &Plan, run: &RunDir, record: &TestRecord, observed: Observations) -> u8 {
    let check_started = Instant::now();
    let mut judged = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    let mut error = observed.error.clone();
    let recorded = match history_of(run, plan.workload) {
        Ok(recorded) => recorded,
        Err(err) => {
            error.get_or_insert(err);
            None
        }
    };
    if let Some(recorded) = &recorded {
        let source = run.history().display().to_string();
        judged.push(match (plan.workload, recorded) {
            (_, Recorded::Txns(history)) => transactions(history),
            (Workload::Append, Recorded::Ops(history)) => {
                anomalies(checker::check_list_append(history), Some(history))
            }
            (Workload::Set, Recorded::Ops(history)) => {
                anomalies(checker::check_set(history), Some(history))
            }
            (Workload::Queue, Recorded::Ops(history)) => {
                anomalies(checker::check_queue(history), Some(history))
            }
            // Register and counter (a txn history is always read as `Txns`).
            (_, Recorded::Ops(history)) => linearizability(plan, history, &source),
        });
        // Only the raftkv protocol lists committed log entries (etcd has
        // no such call; its rollback check from the client side is to come).
        if plan.target.protocol == crate::target::Protocol::Raftkv {
            if let Some(raftlog) = file_check(
                &run.raftlog(),
                "raftlog",
                checker::read_samples,
                checker::check_raftlog,
            ) {
                judged.push(raftlog);
            }
        }
        if let Some(revisions) = file_check(
            &run.revisions(),
            "revisions",
            checker::read_revision_reads,
            checker::check_revisions,
        ) {
            judged.push(revisions);
        }
    }
    let check_time = check_started.elapsed();
    if error.is_none() {
        if observed.ops.ok < MIN_OK_OPS {
            reasons.push(format!(
                "only {} client operations succeeded (at least {MIN_OK_OPS} are needed to prove anything)",
                observed.ops.ok
            ));
        }
        if observed.final_reads.ok == 0 {
            reasons.push(
                "no operation succeeded after the final heal: the cluster never recovered".into(),
            );
        }
        if observed.interrupted {
            reasons.push("interrupted (Ctrl-C): only what was recorded was checked".into());
        }
    }
    for write_error in &observed.write_errors {
        error.get_or_insert_with(|| write_error.clone());
    }
    let verdict = judged
        .iter()
        .map(|j| j.result.verdict)
        .max()
        .unwrap_or(Verdict::Unknown);
    let check_code = if verdict == Verdict::Invalid {
        1
    } else if !reasons.is_empty() || verdict == Verdict::Unknown || judged.is_empty() {
        2
    } else {
        0
    };
    let code = if error.is_some() {
        most_serious(check_code, EXIT_ERROR)
    } else {
        check_code
    };
    let verdict = match code {
        0 => Verdict::Valid,
        1 => Verdict::Invalid,
        _ => Verdict::Unknown,
    };
    // The earliest anomalous op over every check (docs/design.md's time to
    // detection): the checks report in their own order, not in time.
    let detection_ns = judged.iter().filter_map(|j| j.detection_ns).min();
    let anomalies = order_anomalies(judged.iter().flat_map(|j| j.kinds.clone()).collect());
    let mut timings = BTreeMap::new();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    timings.insert("setup_ms".into(), ms(observed.setup));
    timings.insert("main_phase_ms".into(), ms(observed.main_phase));
    if let Some(recovered) = observed.recovered {
        timings.insert("recovery_ms".into(), ms(recovered));
    }
    timings.insert("check_ms".into(), ms(check_time));
    timings.insert(
        "last_op_to_verdict_ms".into(),
        ms(observed.after_last_op.elapsed()),
    );
    if let Some(ns) = detection_ns {
        timings.insert("detection_ms".into(), ns as f64 / 1e6);
    }
    let mut reason_parts = reasons.clone();
    if let Some(error) = &error {
        reason_parts.insert(0, format!("error: {error}"));
    }
    let mut faults = observed.faults.counts.clone();
    faults.insert("restarts_seen".into(), observed.restarts);
    faults.insert("leader_changes_seen".into(), observed.leader_changes);
    let results = RunResults {
        verdict,
        exit_code: code,
        reason: (!reason_parts.is_empty()).then(|| reason_parts.join("; ")),
        checks: judged.iter().map(|j| j.result.clone()).collect(),
        ops: observed.ops,
        final_reads: observed.final_reads,
        faults,
        timings,
        anomalies,
        refused_to_start: observed.faults.refused.clone(),
        replicas_behind: observed.replicas_behind.clone(),
    };
    if let Err(err) = results::write_json(&run.results_json(), "results.json", &results) {
        eprintln!("faultline: warning: {err}");
    }
    print_summary(
        plan,
        run,
        record,
        &observed,
        &judged,
        &results,
        error.as_deref(),
    );
    code
}

fn print_summary(
    plan: &Plan,
    run: &RunDir,
    record: &TestRecord,
    observed: &Observations,
    judged: &[Judged],
    results: &RunResults,
    error: Option<&str>,
) {
    let main_secs = observed.main_phase.as_secs_f64().max(1e-9);
    let ops = observed.ops;
    if ops.invoked > 0 {
        println!(
            "  ops: {} invoked, {} ok, {} fail, {} info ({:.0} ok/s) on {} keys",
            ops.invoked,
            ops.ok,
            ops.fail,
            ops.info,
            ops.ok as f64 / main_secs,
            observed.keys
        );
        let faults: Vec<String> = observed
            .faults
            .counts
            .iter()
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        println!(
            "  faults: {}; {} leader changes seen",
            if faults.is_empty() {
                "none".to_owned()
            } else {
                faults.join(", ")
            },
            observed.leader_changes
        );
        for fault_error in observed.faults.errors.iter().take(3) {
            println!("    nemesis error: {fault_error}");
        }
        println!(
            "  final reads: {} of {} ok{}",
            observed.final_reads.ok,
            observed.final_reads.invoked,
            observed
                .recovered
                .map(|d| format!(
                    ", cluster served again {:.1} s after the heal",
                    d.as_secs_f64()
                ))
                .unwrap_or_else(|| ", cluster did not recover in time".into())
        );
        for behind in observed.replicas_behind.iter().take(3) {
            println!(
                "  replica behind: {}'s copy of {} ends at sequence {} ({} messages), \
                 another node's at {}",
                behind.node,
                behind.stream,
                behind.last_seq,
                behind.messages,
                behind.stream_last_seq
            );
        }
    }
    // The check with the clearest evidence leads (results.json keeps the
    // checks in the order they ran).
    let mut ordered: Vec<&Judged> = judged.iter().collect();
    ordered.sort_by_key(|j| {
        let best = j.kinds.iter().map(|kind| evidence_rank(kind)).min();
        (
            j.result.verdict != Verdict::Invalid,
            best.unwrap_or(u8::MAX),
        )
    });
    for j in ordered {
        println!("  {}: {}", j.result.name, j.result.summary);
        for explanation in &j.explanations {
            println!("    {explanation}");
        }
    }
    if let Some(error) = error {
        eprintln!("faultline: error: {error}");
    }
    let words = match results.exit_code {
        0 => "VALID",
        1 => "INVALID: anomaly found",
        2 => "UNKNOWN",
        _ => "ERROR",
    };
    println!(
        "verdict: {words} (exit {}){}",
        results.exit_code,
        results
            .reason
            .as_deref()
            .filter(|_| results.exit_code != 3)
            .map(|reason| format!(": {reason}"))
            .unwrap_or_default()
    );
    println!("  results: {}", run.results_json().display());
    println!("  reproduce: {}", record.command);
    let _ = plan;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key "a": a compare-and-set that no order allows, early on; key "x":
    /// a stale read, later (examples/histories/stale-read.jsonl).
    const CAS_THEN_STALE: &str = r#"{"index":0,"time":1000000,"process":5,"type":"invoke","f":"write","key":"a","value":1}
{"index":1,"time":2000000,"process":5,"type":"ok","f":"write","key":"a","value":1}
{"index":2,"time":3000000,"process":5,"type":"invoke","f":"cas","key":"a","value":[2,3]}
{"index":3,"time":4000000,"process":5,"type":"ok","f":"cas","key":"a","value":[2,3]}
{"index":4,"time":1000000,"process":0,"type":"invoke","f":"write","key":"x","value":3}
{"index":5,"time":9000000,"process":0,"type":"ok","f":"write","key":"x","value":3}
{"index":6,"time":1200000000,"process":2,"type":"invoke","f":"write","key":"x","value":4}
{"index":7,"time":1210000000,"process":2,"type":"ok","f":"write","key":"x","value":4}
{"index":8,"time":1230000000,"process":0,"type":"invoke","f":"read","key":"x","value":null}
{"index":9,"time":1240000000,"process":0,"type":"ok","f":"read","key":"x","value":3}
"#;

    #[test]
    fn a_stale_read_leads_the_summary_before_an_earlier_unnamed_violation() {
        let (history, _) =
            checker::format::read(CAS_THEN_STALE, "test", Some(Format::Jsonl)).unwrap();
        let judged =
            linearizability_with(&CheckOptions::new(checker::ModelKind::Kv), &history, "test");
        assert_eq!(judged.result.verdict, Verdict::Invalid);
        let summary = &judged.result.summary;
        assert!(summary.contains("2 of 2 keys"), "{summary}");
        assert!(
            summary.contains("(x, a)"),
            "the stale read's key first: {summary}"
        );
        assert!(
            judged.explanations[0].starts_with("key \"x\"")
                && judged.explanations[0].contains("stale read"),
            "{:?}",
            judged.explanations
        );
        assert_eq!(
            order_anomalies(judged.kinds),
            [
                "linearizability:stale-read",
                "linearizability:nonlinearizable"
            ]
        );
    }

    #[test]
    fn anomalies_list_stale_reads_then_named_kinds_then_plain_violations_each_once() {
        let kinds = [
            "linearizability:nonlinearizable",
            "raftlog:rollback",
            "list-append:lost-write",
            "linearizability:stale-read",
            "raftlog:rollback",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            order_anomalies(kinds),
            [
                "linearizability:stale-read",
                "list-append:lost-write",
                "raftlog:rollback",
                "linearizability:nonlinearizable",
            ]
        );
    }

    fn txn_anomaly(class: &str, forbidden: bool, time: u64) -> checker::anomalies::txn::TxnAnomaly {
        checker::anomalies::txn::TxnAnomaly {
            class: class.into(),
            forbidden,
            txns: vec![2, 8],
            edges: Vec::new(),
            explanation: format!("T2 and T8 form a {class} cycle"),
            time: Some(time),
        }
    }

    fn txn_report(
        verdict: Verdict,
        anomalies: Vec<checker::anomalies::txn::TxnAnomaly>,
    ) -> TxnReport {
        let mut counts = BTreeMap::new();
        for anomaly in &anomalies {
            *counts.entry(anomaly.class.clone()).or_default() += 1;
        }
        TxnReport {
            consistency: Consistency::StrictSerializable,
            verdict,
            anomalies,
            counts,
            witness: None,
            reason: None,
            stats: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_txn_report_is_judged_by_its_forbidden_anomalies_earliest_first() {
        let report = txn_report(
            Verdict::Invalid,
            vec![
                txn_anomaly("G-single", true, 9_000_000),
                txn_anomaly("G2-item", true, 4_000_000),
                txn_anomaly("G-single", true, 7_000_000),
                txn_anomaly("G1c", false, 1_000_000),
            ],
        );
        let judged = judge_txn(&report, "INVALID: 2 G-single, 1 G2-item".into());
        assert_eq!(judged.result.name, "txn-list-append");
        assert_eq!(judged.result.verdict, Verdict::Invalid);
        assert_eq!(judged.result.summary, "INVALID: 2 G-single, 1 G2-item");
        assert_eq!(
            judged.kinds,
            ["txn-list-append:G-single", "txn-list-append:G2-item"]
        );
        // The earliest forbidden anomaly; an allowed one is no detection.
        assert_eq!(judged.detection_ns, Some(4_000_000));
        assert_eq!(judged.explanations.len(), 3);
        assert_eq!(
            judged.explanations[0],
            "G-single: T2 and T8 form a G-single cycle"
        );
        assert_eq!(
            judged.result.details["anomalies"][1]["class"], "G2-item",
            "the report is the details"
        );
        assert_eq!(judged.result.details["consistency"], "strict-serializable");
    }

    #[test]
    fn a_valid_txn_report_has_no_kinds_and_no_detection_time() {
        let report = txn_report(Verdict::Valid, Vec::new());
        let judged = judge_txn(&report, "valid".into());
        assert_eq!(judged.result.verdict, Verdict::Valid);
        assert!(judged.kinds.is_empty() && judged.explanations.is_empty());
        assert_eq!(judged.detection_ns, None);
    }
}
