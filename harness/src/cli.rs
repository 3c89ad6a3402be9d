//! Command-line definitions (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// faultline: a Jepsen-style linearizability testing harness.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a whole test: start a cluster, run clients under faults, check the history.
    Run(Box<RunArgs>),
    /// Run a matrix of tests from a suite file, each against its expected outcome.
    Suite(SuiteArgs),
    /// Check recorded histories for linearizability.
    Check(CheckArgs),
    /// Write a synthetic history (a simulated object; linearizable unless --anomaly).
    Gen(GenArgs),
    /// Rebuild report.html of run directories (default: the store's latest run).
    Report(ReportArgs),
    /// Serve the run store read-only on 127.0.0.1 for browsing its reports.
    Serve(ServeArgs),
    /// Run a raftkv reference node (see docs/raftkv.md; `faultline raftkv --help`).
    Raftkv {
        /// The node's flags, passed through unchanged.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// Options of `faultline check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// History files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Input format: auto, jsonl, porcupine-etcd, porcupine-kv, edn.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// Model: register, cas-register, kv, kv-append, counter, set, list-append.
    /// Default: the format's (porcupine-etcd and edn: cas-register;
    /// porcupine-kv: kv-append; jsonl: inferred from the ops).
    #[arg(long)]
    pub model: Option<String>,
    /// Time budget per file; keys not decided by then are unknown.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Memory budget for the search, in MiB, shared by the keys searched at once.
    #[arg(long, default_value_t = 4096)]
    pub memory_mib: usize,
    /// Initial value of register models (JSON), instead of null.
    #[arg(long)]
    pub initial: Option<String>,
    /// Write the witness (key -> op ids in linearization order) here; with
    /// several files, a directory that gets `<file name>.json` per file.
    #[arg(long)]
    pub witness: Option<PathBuf>,
    /// Stop checking the other keys of a file once one key is not
    /// linearizable (Porcupine's behaviour): faster, same verdict, fewer details.
    #[arg(long)]
    pub first_violation: bool,
    /// Print one JSON object per file instead of words.
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report of the check (one file only).
    #[arg(long, value_name = "OUT.html")]
    pub report: Option<PathBuf>,
}

/// Options of `faultline suite`.
#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The suite file (TOML; docs/suites.md), e.g. suites/quick.toml.
    pub file: PathBuf,
    /// The run store; the suite's summary goes to `<store>/suite-<timestamp>/`.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Also write JUnit XML here: one test case per run, failed when the
    /// run did not get its expected outcome.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Start no new run after this long (the run under way finishes); a
    /// repeating suite (torture) runs until then, or until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Run every entry with seeds 1..=N instead of the file's seeds.
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Only the entries whose name or test name contains this text.
    #[arg(long)]
    pub only: Option<String>,
    /// List the runs the suite would make, and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep the nodes' data directories after each run.
    #[arg(long)]
    pub keep_data: bool,
    /// No progress bars (for CI logs).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `faultline report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run directories (`store/<test>/<timestamp>/`); default: `<store>/latest`,
    /// and then the store's index.html is refreshed too.
    pub run_dirs: Vec<PathBuf>,
    /// The run store.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
}

/// Options of `faultline serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The run store to serve.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// The port, on 127.0.0.1 only (0: any free port).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}

/// Options of `faultline gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Model of the simulated object: register, cas-register, kv, kv-append,
    /// counter, set, list-append.
    #[arg(long, default_value = "kv")]
    pub model: String,
    /// Independent keys.
    #[arg(long, default_value_t = 10)]
    pub keys: usize,
    /// Operations per key.
    #[arg(long, default_value_t = 100)]
    pub ops_per_key: usize,
    /// Concurrent clients per key.
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Probability that an op crashes (info).
    #[arg(long, default_value_t = 0.01)]
    pub crash_rate: f64,
    /// Probability that a write fails definitely.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Values written are drawn from 1..=N; 0 makes every value unique.
    #[arg(long, default_value_t = 5)]
    pub values: u32,
    /// Seed; the same seed gives the same history.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Inject one anomaly, so the history is certainly not linearizable;
    /// bare `--anomaly` is never-written.
    #[arg(long, value_enum, value_name = "KIND", num_args = 0..=1, default_missing_value = "never-written")]
    pub anomaly: Option<crate::gen_cmd::AnomalyArg>,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: crate::gen_cmd::FormatArg,
    /// Output file (default: standard output).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Options of `faultline run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The system under test: `raftkv` (built in) or a TOML target spec
    /// (docs/targets.md).
    #[arg(long, default_value = "raftkv")]
    pub target: String,
    /// Cluster size.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Workload: register, append, counter, set.
    #[arg(long, default_value = "register")]
    pub workload: String,
    /// Faults, comma separated, each optionally with a shape or target:
    /// partition[:one|halves|ring|bridge|leader|oneway], pause[:one|minority|
    /// majority|leader|all], kill[:...], stall[:...] (pause and cut off;
    /// wakes up still cut off), crash[:...] (kill and restart at once),
    /// figure8 (the Raft paper's Figure 8, played by watching each node's
    /// term, role and commit index); `none` for no faults.
    #[arg(long, default_value = "partition,pause,kill")]
    pub nemesis: String,
    /// Time between a fault and its heal, and between a heal and the next fault.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub nemesis_interval: Duration,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Total operations per second over all clients; 0 is unlimited.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// How long clients run (the main phase).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub time_limit: Duration,
    /// Keys in use at once (default: the workload's).
    #[arg(long)]
    pub keys: Option<usize>,
    /// Operations per key before clients move to a fresh key (default: the workload's).
    #[arg(long)]
    pub ops_per_key: Option<usize>,
    /// Send every request to the current leader instead of spreading them over all nodes.
    #[arg(long)]
    pub to_leader: bool,
    /// etcd reads: linearizable (etcd's default), or serializable (served
    /// from the node's local state: stale reads are allowed and expected).
    #[arg(long, default_value = "linearizable")]
    pub read_mode: String,
    /// Seed of every random choice (default: random, printed and stored).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Extra arguments for every node, split as a shell would (quotes
    /// respected, nothing expanded), e.g. "--bug stale-read".
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub node_args: String,
    /// The run store.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Repeat the test with seeds seed, seed+1, ...; the exit code is the worst.
    #[arg(long, default_value_t = 1)]
    pub test_count: u64,
    /// Time budget of the linearizability check.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub check_timeout: Duration,
    /// Memory budget of the linearizability check, in MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mib: usize,
    /// Keep the nodes' data directories after the run.
    #[arg(long)]
    pub keep_data: bool,
    /// No progress bar (for CI logs).
    #[arg(long, short)]
    pub quiet: bool,
    /// Also write JUnit XML here: one test case per run and check.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}
