//! `faultline run`: a whole Jepsen-style test in one command.
//!
//! Phases (docs/design.md; docs/run.md): set up the cluster and wait for a
//! leader; the main phase (clients, nemesis schedule, committed-log
//! sampling); heal everything; wait until the cluster serves again; final
//! reads of every key through every node; teardown; checks; results and
//! summary. Each run lives in `store/<test>/<timestamp>/`.
//!
//! - `plan`: the validated options shared by every run of `--test-count`.
//! - `cluster`: ports, proxies, node commands, start-up, leader wait.
//! - `main_phase`: clients, nemesis, sampler and progress, until the heal.
//! - `faults`: what the nemesis did (written by the main phase, read by the verdict).
//! - `sampler`: the nodes' committed logs into `raftlog.jsonl`.
//! - `verdict`: the checks, `results.json`, the summary in words.
//! - `record`: `test.json` and the command that reproduces the run.

mod cluster;
mod faults;
mod main_phase;
mod plan;
mod record;
mod sampler;
mod verdict;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::check_cmd::most_serious;
use crate::cli::RunArgs;
use crate::EXIT_ERROR;

pub use plan::Plan;
pub use record::invocation;

/// Runs `--test-count` tests one after another; the exit code is the most
/// serious one (docs/design.md).
pub fn run(args: RunArgs) -> Result<u8> {
    let plan = Plan::from_args(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("faultline-run")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let interrupted = Arc::new(AtomicBool::new(false));
        spawn_interrupt_handler(stop_tx, Arc::clone(&interrupted));
        let mut worst: Option<u8> = None;
        let mut junit = Vec::new();
        for i in 0..plan.test_count {
            if interrupted.load(Ordering::SeqCst) {
                eprintln!(
                    "faultline: interrupted; {} of {} tests not run",
                    plan.test_count - i,
                    plan.test_count
                );
                break;
            }
            let seed = plan.seed.wrapping_add(i);
            let (code, run_dir) = run_one(&plan, seed, stop_rx.clone()).await;
            worst = Some(worst.map_or(code, |prev| most_serious(prev, code)));
            if let Some(dir) = run_dir {
                junit.extend(results::JunitCase::from_run(&dir));
            }
        }
        if let Some(path) = &plan.junit {
            results::write_junit(path, &junit)
                .with_context(|| format!("cannot write --junit {}", path.display()))?;
        }
        Ok(worst.unwrap_or(EXIT_ERROR))
    })
}

/// Ctrl-C once: stop the clients and the nemesis, heal, tear down, keep the
/// history and check what was recorded. Twice: leave at once (every node
/// dies with the harness; the history on disk stays checkable).
pub(crate) fn spawn_interrupt_handler(stop: watch::Sender<bool>, interrupted: Arc<AtomicBool>) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!(
            "\nfaultline: interrupted: healing, tearing down and checking what was recorded \
             (Ctrl-C again to leave at once)"
        );
        interrupted.store(true, Ordering::SeqCst);
        let _ = stop.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("faultline: interrupted twice: leaving now; the history on disk is kept");
            std::process::exit(i32::from(EXIT_ERROR));
        }
    });
}

/// One test with one seed, and its run directory; never fails: errors
/// become exit code 3 with their explanation printed (and stored in
/// `results.json` when the run directory exists).
pub(crate) async fn run_one(
    plan: &Plan,
    seed: u64,
    stop: watch::Receiver<bool>,
) -> (u8, Option<std::path::PathBuf>) {
    match main_phase::run_test(plan, seed, stop).await {
        Ok((code, dir)) => (code, Some(dir)),
        Err(err) => {
            eprintln!("faultline: error: {err:#}");
            (EXIT_ERROR, None)
        }
    }
}
