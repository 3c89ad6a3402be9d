//! `faultline check`: judge recorded histories, explain violations, write witnesses.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use checker::anomalies::txn::{check_txn, Consistency, TxnHistory, TxnReport};
use checker::{format, CheckOptions, Format, KeyOutcome, ModelKind, Report, Verdict};
use serde_json::{json, Value};

use crate::cli::{CheckArgs, CheckModelArg};
use crate::EXIT_ERROR;

/// Exit code of a file with nothing to judge (docs/design.md, "Exit codes").
const EXIT_UNKNOWN: u8 = 2;

/// How many prefix steps an explanation prints before eliding the rest.
const PREFIX_SHOWN: usize = 8;

pub fn run(args: CheckArgs) -> Result<u8> {
    let format = args.format.0;
    match args.model {
        Some(CheckModelArg::Queue) => return run_queue(&args),
        Some(CheckModelArg::TxnListAppend) => return run_txn(&args),
        _ => {}
    }
    if args.consistency.is_some() {
        bail!("--consistency is an isolation level: it goes with --model txn-list-append");
    }
    let model = args.model.and_then(CheckModelArg::model);
    let initial: Option<Value> = match &args.initial {
        Some(text) => Some(serde_json::from_str(text).with_context(|| {
            format!("--initial {text:?} is not a JSON value (strings need quotes: '\"x\"')")
        })?),
        None => None,
    };
    let witness_dir = match &args.witness {
        Some(path) if args.files.len() > 1 => {
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create witness directory {}", path.display()))?;
            true
        }
        _ => false,
    };
    if args.report.is_some() && args.files.len() > 1 {
        bail!(
            "--report draws one history: give one file, not {}",
            args.files.len()
        );
    }
    let threads = rayon_threads();
    let mut worst: Option<u8> = None;
    for file in &args.files {
        let code = match check_file(&args, file, format, model, initial.as_ref(), threads) {
            Ok((report, _, _)) if report.ops == 0 && !args.allow_empty => {
                print_nothing_to_check(&args, file);
                EXIT_UNKNOWN
            }
            Ok((report, format, millis)) => {
                print_report(&args, file, &report, format, millis);
                if let Some(out) = &args.report {
                    results::write_check_report(file, &report, out)?;
                    eprintln!("report: {}", out.display());
                }
                if let Some(path) = &args.witness {
                    let target = if witness_dir {
                        let name = file
                            .file_name()
                            .map_or_else(|| "history".into(), |n| n.to_string_lossy().into_owned());
                        path.join(format!("{name}.json"))
                    } else {
                        path.clone()
                    };
                    write_witness(&report, &target, file)?;
                }
                report.verdict.exit_code()
            }
            Err(err) => file_error(args.json, file, &err),
        };
        worst = Some(worst.map_or(code, |prev| most_serious(prev, code)));
    }
    Ok(worst.unwrap_or(0))
}

/// `check --model queue`: the queue check (docs/checks.md, "queue") of
/// each file, which must be jsonl; the same exit codes as a run's check.
fn run_queue(args: &CheckArgs) -> Result<u8> {
    if args.witness.is_some() || args.report.is_some() || args.initial.is_some() {
        bail!(
            "--model queue is a named-anomaly check: --witness, --report and --initial are for \
             linearizability models"
        );
    }
    if args.format.0.is_some_and(|format| format != Format::Jsonl) {
        bail!("--model queue reads jsonl histories (faultline's own) only");
    }
    let mut worst: Option<u8> = None;
    for file in &args.files {
        let name = file.display().to_string();
        let code = match std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {name}"))
            .and_then(|text| {
                format::read(&text, &name, Some(Format::Jsonl))
                    .map(|(history, _)| history)
                    .map_err(anyhow::Error::from)
            }) {
            Ok(history) if history.ops.is_empty() && !args.allow_empty => {
                print_nothing_to_check(args, file);
                EXIT_UNKNOWN
            }
            Ok(history) => {
                for warning in &history.warnings {
                    eprintln!("faultline: warning: {warning}");
                }
                let report = checker::check_queue(&history);
                if args.json {
                    let mut value = serde_json::to_value(&report).expect("reports serialize");
                    value["file"] = json!(file);
                    println!("{value}");
                } else {
                    println!("{}: {}", file.display(), report.summary());
                    for anomaly in &report.anomalies {
                        println!(
                            "  {}: key {:?}: {}",
                            anomaly.kind, anomaly.key, anomaly.explanation
                        );
                    }
                }
                report.verdict.exit_code()
            }
            Err(err) => file_error(args.json, file, &err),
        };
        worst = Some(worst.map_or(code, |prev| most_serious(prev, code)));
    }
    Ok(worst.unwrap_or(0))
}

/// Reads a transaction history in any format the readers know.
// The dedicated jsonl reader `checker::anomalies::txn::read_jsonl(text, name)`
// will take jsonl input here once it is built: one line to switch.
fn read_txn_history(text: &str, name: &str, format: Option<Format>) -> Result<TxnHistory> {
    let format = match format {
        Some(format) => format,
        None => Format::sniff(text, name)?,
    };
    // faultline's own histories go straight into the checker's arrays;
    // the other formats through the generic reader.
    if format == Format::Jsonl {
        return Ok(checker::anomalies::txn::read_jsonl(text, name)?);
    }
    let (history, _) = format::read(text, name, Some(format))?;
    Ok(TxnHistory::from_history_named(&history, name)?)
}

/// `check --model txn-list-append`: the transaction isolation check
/// (docs/checks.md, "txn-list-append") of each file against
/// `--consistency`; the same exit codes as the other checks.
fn run_txn(args: &CheckArgs) -> Result<u8> {
    if args.report.is_some() || args.initial.is_some() || args.first_violation {
        bail!(
            "--model txn-list-append judges isolation: --report, --initial and \
             --first-violation are for linearizability models"
        );
    }
    if args.witness.is_some() && args.files.len() > 1 {
        bail!("--witness with --model txn-list-append takes one file");
    }
    let level = args
        .consistency
        .map_or(Consistency::StrictSerializable, |level| level.0);
    let mut worst: Option<u8> = None;
    for file in &args.files {
        let name = file.display().to_string();
        let started = Instant::now();
        let loaded = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {name}"))
            .and_then(|text| read_txn_history(&text, &name, args.format.0));
        let code = match loaded {
            Ok(history) if history.txns.is_empty() && !args.allow_empty => {
                print_nothing_to_check(args, file);
                EXIT_UNKNOWN
            }
            Ok(history) => {
                for warning in &history.warnings {
                    eprintln!("faultline: warning: {warning}");
                }
                let report = check_txn(&history, level);
                let millis = started.elapsed().as_secs_f64() * 1e3;
                for warning in &report.warnings {
                    eprintln!("faultline: warning: {warning}");
                }
                print_txn_report(args, file, &report, millis);
                if let Some(path) = &args.witness {
                    match &report.witness {
                        Some(order) => {
                            let text = serde_json::to_string(order).expect("witnesses serialize");
                            std::fs::write(path, text).with_context(|| {
                                format!("cannot write witness {}", path.display())
                            })?;
                        }
                        None => eprintln!(
                            "faultline: no witness for {}: a witness is a serial order, given \
                             for a valid verdict under serializable or strict-serializable",
                            file.display()
                        ),
                    }
                }
                report.verdict.exit_code()
            }
            Err(err) => file_error(args.json, file, &err),
        };
        worst = Some(worst.map_or(code, |prev| most_serious(prev, code)));
    }
    Ok(worst.unwrap_or(0))
}

fn print_txn_report(args: &CheckArgs, file: &Path, report: &TxnReport, millis: f64) {
    if args.json {
        let mut value = serde_json::to_value(report).expect("reports serialize");
        value["file"] = json!(file);
        value["millis"] = json!(millis);
        println!("{value}");
        return;
    }
    println!("{}: {} ({millis:.1} ms)", file.display(), report.summary());
    for anomaly in report.anomalies.iter().filter(|a| a.forbidden) {
        println!("  {}", anomaly.explanation);
    }
    let listed = report.anomalies.iter().filter(|a| a.forbidden).count();
    let forbidden_total: usize = report
        .counts
        .iter()
        .filter(|(class, _)| {
            checker::anomalies::txn::judge(class, report.consistency)
                == checker::anomalies::txn::Judgement::Forbidden
        })
        .map(|(_, count)| count)
        .sum();
    if forbidden_total > listed {
        println!(
            "  ... and {} more (--json lists up to 8 per class)",
            forbidden_total - listed
        );
    }
    if let Some(reason) = &report.reason {
        println!("  unknown: {reason}");
    }
}

/// docs/design.md: across files the exit code is the most serious one, in the
/// order 1 (anomaly), 3 (error), 2 (unknown), 0.
pub fn most_serious(a: u8, b: u8) -> u8 {
    let rank = |code: u8| match code {
        1 => 3,
        3 => 2,
        2 => 1,
        _ => 0,
    };
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn check_file(
    args: &CheckArgs,
    file: &Path,
    format: Option<Format>,
    model: Option<ModelKind>,
    initial: Option<&Value>,
    threads: usize,
) -> Result<(Report, Format, f64)> {
    let started = Instant::now();
    let name = file.display().to_string();
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {name}"))?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => bail!(
            "{name}: not UTF-8 text (byte {})",
            err.utf8_error().valid_up_to()
        ),
    };
    let (history, format) = format::read(&text, &name, format)?;
    for warning in &history.warnings {
        eprintln!("faultline: warning: {warning}");
    }
    let model = match model.or(format.default_model()) {
        Some(model) => model,
        None => format::infer_model(&history, &name)?,
    };
    let options = CheckOptions {
        model,
        initial: initial.cloned(),
        deadline: Some(started + args.timeout),
        memory_bytes: (args.memory_mib << 20) / threads.max(1),
        stop_at_first_violation: args.first_violation,
    };
    let report = checker::check(&history, &options, &name)?;
    Ok((report, format, started.elapsed().as_secs_f64() * 1e3))
}

/// A file without a single operation proves nothing: unknown, unless
/// `--allow-empty`.
fn print_nothing_to_check(args: &CheckArgs, file: &Path) {
    let reason =
        "nothing to check: the file holds no operations (--allow-empty accepts that as valid)";
    if args.json {
        println!(
            "{}",
            json!({"file": file, "verdict": "unknown", "ops": 0, "reason": reason})
        );
    } else {
        println!("{}: unknown: {reason}", file.display());
    }
}

fn print_report(args: &CheckArgs, file: &Path, report: &Report, format: Format, millis: f64) {
    if args.json {
        let mut value = serde_json::to_value(report).expect("reports serialize");
        value["file"] = json!(file);
        value["format"] = json!(format.name());
        value["millis"] = json!(millis);
        println!("{value}");
        return;
    }
    let keys = report.keys.len();
    println!(
        "{}: {} ({} ops, {} key{}, model {}, {:.1} ms)",
        file.display(),
        report.verdict.words(),
        report.ops,
        keys,
        if keys == 1 { "" } else { "s" },
        report.model,
        millis
    );
    for key in &report.keys {
        let label = if key.key.is_empty() && keys == 1 {
            String::new()
        } else {
            format!("key {:?}: ", key.key)
        };
        match &key.outcome {
            KeyOutcome::Valid { .. } => {}
            KeyOutcome::Unknown { reason } => println!("  {label}unknown: {reason}"),
            KeyOutcome::Invalid(violation) => {
                println!("  {label}{}", violation.explanation);
                let n = violation.prefix.len();
                if n > 0 {
                    println!("  longest linearizable prefix ({n} ops):");
                    let skip = n.saturating_sub(PREFIX_SHOWN);
                    if skip > 0 {
                        println!("    ... {skip} earlier ops");
                    }
                    for step in &violation.prefix[skip..] {
                        println!(
                            "    op {:>6}  process {:>4}  {:<28} -> state {}",
                            step.op.id, step.op.process, step.op.op, step.state_after
                        );
                    }
                }
                println!(
                    "  cannot place: op {} (process {}, line {}) {}",
                    violation.stuck_on.id,
                    violation.stuck_on.process,
                    violation.stuck_on.line,
                    violation.stuck_on.op
                );
            }
        }
    }
    if report.verdict == Verdict::Unknown {
        let undecided: Vec<&str> = report
            .keys
            .iter()
            .filter(|k| k.verdict() == Verdict::Unknown)
            .map(|k| k.key.as_str())
            .collect();
        println!("  undecided keys: {undecided:?}");
    }
}

fn write_witness(report: &Report, target: &PathBuf, file: &Path) -> Result<()> {
    match report.witness() {
        Some(witness) => {
            let text = serde_json::to_string(&witness).expect("witnesses serialize");
            std::fs::write(target, text)
                .with_context(|| format!("cannot write witness {}", target.display()))?;
        }
        None => eprintln!(
            "faultline: no witness for {}: it is not proven linearizable",
            file.display()
        ),
    }
    Ok(())
}

/// Says why `file` could not be judged (on stdout too under `--json`);
/// its exit code.
fn file_error(json: bool, file: &Path, err: &anyhow::Error) -> u8 {
    if json {
        println!(
            "{}",
            json!({"file": file, "verdict": "error", "error": format!("{err:#}")})
        );
    }
    eprintln!("faultline: error: {err:#}");
    EXIT_ERROR
}

#[cfg(test)]
mod tests {
    use super::most_serious;

    #[test]
    fn anomaly_outranks_error_outranks_unknown_outranks_valid() {
        assert_eq!(most_serious(0, 2), 2);
        assert_eq!(most_serious(2, 3), 3);
        assert_eq!(most_serious(3, 1), 1);
        assert_eq!(most_serious(1, 0), 1);
    }
}
