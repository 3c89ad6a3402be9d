//! `faultline suite FILE`: a matrix of runs, one after another, each
//! against the outcome it must get (docs/suites.md).
//!
//! Every run lands in the store as usual; the suite keeps
//! `store/suite-<timestamp>/suite.json` and `summary.html` up to date
//! after each run (so a suite killed halfway still leaves its record),
//! prints a table at the end, and exits 0 only when every run got its
//! expected outcome: an anomaly that was expected and not found fails it
//! just as an unexpected one does. A bad suite file exits 3 before any
//! run starts.

mod spec;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use results::{JunitCase, JunitOutcome, RunResults, SuiteRecord, SuiteRun};
use tokio::sync::watch;

use crate::cli::SuiteArgs;
use spec::{anomaly_matches, Expect, Job, Overrides, Suite};

/// Exit code of a suite in which some run missed its expected outcome.
const EXIT_MISMATCH: u8 = 1;

/// Exit code of a suite stopped (Ctrl-C) before any run could judge.
const EXIT_NOTHING_JUDGED: u8 = 2;

/// Runs the suite; the exit code is 0 when every run got its expected
/// outcome, 1 otherwise (docs/design.md).
pub fn run(args: SuiteArgs) -> Result<u8> {
    let overrides = Overrides {
        store: args.store.clone(),
        quiet: args.quiet,
        seeds: args.seeds,
        only: args.only.clone(),
        keep_data: args.keep_data,
    };
    let suite = Suite::load(&args.file, &overrides)?;
    if args.dry_run {
        print_plan(&suite);
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("faultline-suite")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_suite(&args, &suite))
}

fn print_plan(suite: &Suite) {
    let rounds = if suite.repeat {
        "repeated until stopped or --duration"
    } else {
        "once"
    };
    println!("{} runs per round, {rounds}:", suite.runs_per_round());
    for job in &suite.jobs {
        println!(
            "  {:<40} {:<55} seeds {:?}, {}, expect {}",
            job.entry,
            job.plan.test_name(),
            job.seeds,
            humantime::format_duration(job.plan.time_limit),
            job.expect.describe()
        );
    }
}

/// What one run got, judged against its job's expectation.
fn judge(job: &Job, code: u8, results: Option<&RunResults>, interrupted: bool) -> Judgement {
    let got = results::outcome_word(code);
    let anomalies = results.map(|r| r.anomalies.clone()).unwrap_or_default();
    // A run cut short by Ctrl-C proves nothing either way, unless it had
    // already found an anomaly.
    if interrupted && code != 1 {
        return Judgement {
            got: "interrupted".into(),
            anomalies,
            passed: None,
            note: Some("stopped by Ctrl-C before it could judge".into()),
        };
    }
    let reason = || {
        results
            .and_then(|r| r.reason.clone())
            .or_else(|| {
                results.and_then(|r| {
                    r.checks
                        .iter()
                        .find(|c| c.verdict != checker::Verdict::Valid)
                        .map(|c| format!("{}: {}", c.name, c.summary))
                })
            })
            .unwrap_or_else(|| "see the run's output".into())
    };
    let (passed, note) = match (&job.expect, got) {
        (Expect::Invalid(wanted), "invalid") => {
            let missing: Vec<&str> = wanted
                .iter()
                .filter(|pattern| !anomaly_matches(pattern, &anomalies))
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                (true, None)
            } else {
                (
                    false,
                    Some(format!(
                        "expected {} but found {}",
                        missing.join(", "),
                        anomalies.join(", ")
                    )),
                )
            }
        }
        (expect, got) if expect.word() == got => (true, None),
        (Expect::Invalid(_), _) => (
            false,
            Some(format!("the expected anomaly was not found ({})", reason())),
        ),
        (_, "invalid") => (
            false,
            Some(format!("unexpected anomaly: {}", anomalies.join(", "))),
        ),
        (_, _) => (false, Some(reason())),
    };
    Judgement {
        got: got.into(),
        anomalies,
        passed: Some(passed),
        note,
    }
}

/// A run's outcome word and anomalies, and whether that is what its
/// suite entry expected.
struct Judgement {
    got: String,
    anomalies: Vec<String>,
    passed: Option<bool>,
    note: Option<String>,
}

fn read_results(dir: &Path) -> Option<RunResults> {
    let text = std::fs::read_to_string(dir.join("results.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The suite's command as the user can run it again (the program named as
/// `faultline run`'s reproduce line names it).
fn command_line() -> String {
    crate::run::invocation()
        .into_iter()
        .chain(std::env::args().skip(1))
        .map(|arg| {
            if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            {
                format!("{arg:?}")
            } else {
                arg
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run_suite(args: &SuiteArgs, suite: &Suite) -> Result<u8> {
    let store = results::Store::new(&args.store);
    let suite_dir = store
        .create_suite_dir()
        .context("cannot create the suite's directory in the store")?;
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut record = SuiteRecord {
        file: args.file.display().to_string(),
        description: suite.description.clone(),
        started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        seconds: 0.0,
        stopped: None,
        command: command_line(),
        runs: Vec::new(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let interrupted = Arc::new(AtomicBool::new(false));
    crate::run::spawn_interrupt_handler(stop_tx, Arc::clone(&interrupted));
    let planned = suite.runs_per_round();
    println!(
        "faultline suite {}: {planned} runs{}; summary: {}",
        args.file.display(),
        if suite.repeat {
            " per round, repeated until stopped".to_string()
        } else {
            String::new()
        },
        suite_dir.join("summary.html").display()
    );
    let mut junit = Vec::new();
    'rounds: for round in 0u64.. {
        for job in &suite.jobs {
            for seed in job.seeds_of_round(round) {
                if interrupted.load(Ordering::SeqCst) {
                    record.stopped = Some("interrupted (Ctrl-C)".into());
                    break 'rounds;
                }
                // At least one run, however short the --duration.
                if !record.runs.is_empty() && deadline.is_some_and(|d| Instant::now() >= d) {
                    record.stopped = Some(format!(
                        "--duration {} reached",
                        humantime::format_duration(args.duration.unwrap_or_default())
                    ));
                    break 'rounds;
                }
                let n = record.runs.len() + 1;
                println!(
                    "\n== suite run {n}{}: {} seed {seed}, expect {}",
                    if suite.repeat {
                        String::new()
                    } else {
                        format!(" of {planned}")
                    },
                    job.entry,
                    job.expect.describe()
                );
                let run_started = Instant::now();
                let (code, dir) = crate::run::run_one(&job.plan, seed, stop_rx.clone()).await;
                let seconds = run_started.elapsed().as_secs_f64();
                let results = dir.as_deref().and_then(read_results);
                let judgement = judge(
                    job,
                    code,
                    results.as_ref(),
                    interrupted.load(Ordering::SeqCst),
                );
                let run = SuiteRun {
                    entry: job.entry.clone(),
                    test: job.plan.test_name(),
                    seed,
                    expected: job.expect.describe(),
                    got: judgement.got,
                    anomalies: judgement.anomalies,
                    passed: judgement.passed,
                    note: judgement.note,
                    detection_ms: results
                        .as_ref()
                        .and_then(|r| r.timings.get("detection_ms").copied()),
                    seconds,
                    run_dir: dir.as_ref().map(|d| {
                        d.strip_prefix(&args.store)
                            .unwrap_or(d)
                            .display()
                            .to_string()
                    }),
                };
                println!("{}", status_line(&run));
                junit.push(junit_case(&run, dir.as_deref()));
                record.runs.push(run);
                record.seconds = started.elapsed().as_secs_f64();
                if let Err(err) = results::write_suite(&suite_dir, &record) {
                    eprintln!("faultline: warning: {err}");
                }
            }
        }
        if !suite.repeat {
            break;
        }
    }
    record.seconds = started.elapsed().as_secs_f64();
    results::write_suite(&suite_dir, &record).with_context(|| {
        format!(
            "cannot write the suite's summary in {}",
            suite_dir.display()
        )
    })?;
    if let Err(err) = results::refresh_index(&args.store) {
        eprintln!("faultline: warning: cannot refresh the store index: {err}");
    }
    if let Some(path) = &args.junit {
        results::write_junit(path, &junit)
            .with_context(|| format!("cannot write --junit {}", path.display()))?;
    }
    print_table(&record, &args.store);
    println!("summary: {}", suite_dir.join("summary.html").display());
    let failed = record.failed();
    let judged = record.runs.iter().filter(|r| r.passed.is_some()).count();
    if failed > 0 {
        println!("suite FAILED: {failed} of {judged} runs did not get their expected outcome");
        Ok(EXIT_MISMATCH)
    } else if judged == 0 {
        // Nothing was proven either way: unknown, as for a run that
        // proved nothing (docs/design.md), never a pass.
        println!("suite UNKNOWN: no run finished with a verdict");
        Ok(EXIT_NOTHING_JUDGED)
    } else {
        println!("suite passed: all {judged} runs got their expected outcome");
        Ok(0)
    }
}

fn status_line(run: &SuiteRun) -> String {
    let mark = match run.passed {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "STOP",
    };
    let mut line = format!(
        "{mark} {} seed {}: expected {}, got {}",
        run.entry, run.seed, run.expected, run.got
    );
    if !run.anomalies.is_empty() {
        line.push_str(&format!(" ({})", run.anomalies.join(", ")));
    }
    if let Some(ms) = run.detection_ms {
        line.push_str(&format!(
            ", first anomalous op at {}",
            results::format_ms(ms)
        ));
    }
    if let Some(note) = &run.note {
        line.push_str(&format!(": {note}"));
    }
    line
}

fn junit_case(run: &SuiteRun, dir: Option<&Path>) -> JunitCase {
    let report = dir
        .map(|d| format!("report: {}", d.join("report.html").display()))
        .unwrap_or_else(|| "the run left no directory".into());
    let outcome = match run.passed {
        Some(true) => JunitOutcome::Passed,
        None => JunitOutcome::Skipped {
            message: run.note.clone().unwrap_or_else(|| "interrupted".into()),
        },
        Some(false) => {
            let message = format!(
                "expected {}, got {}{}",
                run.expected,
                run.got,
                run.note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
            JunitOutcome::Failed {
                details: format!("{message}\n{report}"),
                message,
            }
        }
    };
    JunitCase {
        suite: run.entry.clone(),
        name: format!("{} (seed {})", run.test, run.seed),
        seconds: run.seconds,
        outcome,
    }
}

/// The table at the end: test, seed, expected, got, time to detection,
/// report.
fn print_table(record: &SuiteRecord, store: &Path) {
    let rows: Vec<[String; 6]> = record
        .runs
        .iter()
        .map(|run| {
            let mark = match run.passed {
                Some(true) => "ok",
                Some(false) => "FAIL",
                None => "stop",
            };
            [
                format!("{mark:<4} {}", run.entry),
                run.seed.to_string(),
                run.expected.clone(),
                if run.anomalies.is_empty() {
                    run.got.clone()
                } else {
                    format!("{} ({})", run.got, run.anomalies.join(", "))
                },
                run.detection_ms
                    .map(results::format_ms)
                    .unwrap_or_else(|| "-".into()),
                run.run_dir
                    .as_ref()
                    .map(|d| store.join(d).join("report.html").display().to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["test", "seed", "expected", "got", "detected", "report"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 6]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 5 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out
    };
    println!();
    println!("{}", line(&header.map(str::to_string)));
    for row in &rows {
        println!("{}", line(row));
    }
    if let Some(why) = &record.stopped {
        println!("stopped early: {why}");
    }
}
