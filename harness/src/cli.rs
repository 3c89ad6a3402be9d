//! Command-line definitions (clap).
//!
//! Options that take one of a fixed set of names (formats, models,
//! workloads, read modes) are typed with clap `ValueEnum`s ([`GenModelArg`],
//! [`FormatArg`], ...) whose possible values come from the owning crate's
//! own list (`ALL`), so `--help` and the error for a wrong name can never
//! go stale. Help texts that list built-in targets and faults are built
//! from the code's lists the same way.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use clap::builder::PossibleValue;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// The exit codes, as `faultline --help` states them (docs/design.md, "Exit codes").
const EXIT_CODES: &str = "\
Exit codes:
  0  valid: every check passed (suite: every run got its expected outcome)
  1  anomaly: a check found a violation (suite: some run missed its expected outcome)
  2  unknown: nothing proven either way (a budget ran out, too little succeeded, nothing to check)
  3  error: a harness, target or usage error

Logging: warnings go to standard error; -v, -vv, -vvv (or RUST_LOG, e.g.
RUST_LOG=nemesis=debug) show more.";

/// faultline: a Jepsen-style linearizability testing harness.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// More log output on standard error: -v info, -vv debug, -vvv trace
    /// (RUST_LOG, when set, takes precedence; default: warnings only).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// A clap [`ValueEnum`] over a name list of another crate: its values are
/// the owner's `ALL`, each under its `name()`.
macro_rules! choice {
    ($(#[$doc:meta])* $name:ident, $ty:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub $ty);

        impl ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                static ALL: LazyLock<Vec<$name>> =
                    LazyLock::new(|| <$ty>::ALL.iter().map(|&v| $name(v)).collect());
                &ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.0.name()))
            }
        }
    };
}

/// `gen --model`: a simulated object of a linearizability model (`Some`),
/// or `txn-list-append` (`None`): list-append transactions
/// (`checker::synth::generate_txn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenModelArg(pub Option<checker::ModelKind>);

/// The name `gen --model` takes for transactions.
pub const TXN_MODEL: &str = "txn-list-append";

impl ValueEnum for GenModelArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: LazyLock<Vec<GenModelArg>> = LazyLock::new(|| {
            checker::ModelKind::ALL
                .iter()
                .map(|&model| GenModelArg(Some(model)))
                .chain(std::iter::once(GenModelArg(None)))
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self.0 {
            Some(model) => model.name(),
            None => TXN_MODEL,
        }))
    }
}
/// `check --model`: a linearizability model, the queue check of NATS
/// streams (docs/checks.md, "queue"), or the transaction isolation check
/// (docs/checks.md, "txn-list-append"); the last two are no
/// linearizability models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckModelArg {
    /// A linearizability model.
    Model(checker::ModelKind),
    /// `queue`.
    Queue,
    /// `txn-list-append`.
    TxnListAppend,
}

impl CheckModelArg {
    /// The linearizability model, if it is one.
    pub fn model(self) -> Option<checker::ModelKind> {
        match self {
            CheckModelArg::Model(model) => Some(model),
            CheckModelArg::Queue | CheckModelArg::TxnListAppend => None,
        }
    }
}

/// The name `check --model` takes for the queue check.
pub const QUEUE_CHECK: &str = "queue";
/// The name `check --model` takes for the transaction isolation check.
pub const TXN_CHECK: &str = "txn-list-append";

impl ValueEnum for CheckModelArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: LazyLock<Vec<CheckModelArg>> = LazyLock::new(|| {
            checker::ModelKind::ALL
                .iter()
                .map(|&model| CheckModelArg::Model(model))
                .chain([CheckModelArg::Queue, CheckModelArg::TxnListAppend])
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(match self {
            CheckModelArg::Model(model) => model.name(),
            CheckModelArg::Queue => QUEUE_CHECK,
            CheckModelArg::TxnListAppend => TXN_CHECK,
        }))
    }
}

choice!(
    /// A `--consistency` of `check --model txn-list-append`.
    ConsistencyArg,
    checker::anomalies::txn::Consistency
);

choice!(
    /// A `--workload` of `run`.
    WorkloadArg,
    workloads::Workload
);
choice!(
    /// A `--read-mode` of `run`.
    ReadModeArg,
    workloads::ReadMode
);

/// `check --format`: `auto` (guessed from the first line) or a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatArg(pub Option<checker::Format>);

impl ValueEnum for FormatArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: LazyLock<Vec<FormatArg>> = LazyLock::new(|| {
            std::iter::once(FormatArg(None))
                .chain(checker::Format::ALL.iter().map(|&f| FormatArg(Some(f))))
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(
            self.0.map_or("auto", checker::Format::name),
        ))
    }
}

/// What a duration option says when its value is not a duration it takes.
const DURATION_HELP: &str = "e.g. 500ms, 30s, 2m, 1h30m";

/// A duration of at least zero. Negative and malformed values get a
/// sentence, not clap's "unexpected argument" (the options that use it
/// take hyphen values so that `-5s` reaches here).
pub fn duration(text: &str) -> Result<Duration, String> {
    if text.trim_start().starts_with('-') {
        return Err(format!(
            "a negative duration; give a duration of zero or more ({DURATION_HELP})"
        ));
    }
    humantime::parse_duration(text)
        .map_err(|err| format!("not a duration ({err}); {DURATION_HELP}"))
}

/// A duration above zero: zero, negative and malformed values are refused
/// with the same sentence.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    let refuse = || format!("must be a duration above zero ({DURATION_HELP})");
    if text.trim_start().starts_with('-') {
        return Err(refuse());
    }
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(refuse()),
        Err(err) => Err(format!("{}: {err}", refuse())),
    }
}

/// `--nemesis`'s help: fault words, shapes and targets from the lists the
/// nemesis parses them with.
fn nemesis_help() -> String {
    let join = |words: Vec<&str>| words.join("|");
    let shapes = join(nemesis::Shape::ALL.iter().map(|s| s.as_str()).collect());
    let targets = join(nemesis::Victims::ALL.iter().map(|t| t.as_str()).collect());
    let faults = nemesis::FaultSpec::WORDS.join(", ");
    let corrupt = join(
        nemesis::FaultSpec::CORRUPT_TARGETS
            .iter()
            .map(|t| t.as_str())
            .collect(),
    );
    let kinds = join(
        nemesis::CorruptKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect(),
    );
    format!(
        "Faults, comma separated ({faults}), each optionally with a shape or target: \
         partition[:{shapes}], pause[:{targets}], kill[:...], stall[:...] (pause and cut off; \
         wakes up still cut off), crash[:...] (kill and restart at once), figure8 (the Raft \
         paper's Figure 8, played by watching each node's term, role and commit index), \
         power[:...] (SIGKILL at one instant and drop every unsynced write; restart at the \
         heal), powercycle[:...] (the same, restarted at once), corrupt[:{corrupt}][:{kinds}] \
         (flip a bit in or cut the end off a stopped node's newest corruptible file, by seed \
         or as named, then restart it; power, powercycle and corrupt serve data directories from a lazy FUSE file \
         system, docs/disk.md); `none` for no faults (docs/nemesis.md)"
    )
}

/// `--target`'s help: the built-ins come from the list the code loads them from.
fn target_help() -> String {
    format!(
        "The system under test: a built-in target ({}) or a TOML target spec FILE.toml (docs/targets.md)",
        crate::target::BUILT_IN
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    )
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
    /// Input format (auto: guessed from the first line).
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Model. Default: the format's (porcupine-etcd and edn: cas-register;
    /// porcupine-kv: kv-append; jsonl: inferred from the ops). `queue` runs
    /// the queue check of NATS streams instead of a linearizability search;
    /// `txn-list-append` the transaction isolation check.
    #[arg(long, value_enum)]
    pub model: Option<CheckModelArg>,
    /// With `--model txn-list-append`: the isolation level the history is
    /// held to (default strict-serializable).
    #[arg(long, value_enum)]
    pub consistency: Option<ConsistencyArg>,
    /// Time budget per file; keys not decided by then are unknown.
    #[arg(long, default_value = "30s", value_parser = positive_duration, allow_hyphen_values = true)]
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
    /// Accept a file with no operations as valid (exit 0) instead of
    /// "nothing to check" (exit 2, unknown).
    #[arg(long)]
    pub allow_empty: bool,
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
    #[arg(long, value_parser = positive_duration, allow_hyphen_values = true)]
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
    /// Model of the simulated object; txn-list-append: list-append
    /// transactions from a simulated serializable store.
    #[arg(long, value_enum, default_value = "kv")]
    pub model: GenModelArg,
    /// Independent keys (not txn-list-append).
    #[arg(long, default_value_t = 10)]
    pub keys: usize,
    /// Operations per key (not txn-list-append).
    #[arg(long, default_value_t = 100)]
    pub ops_per_key: usize,
    /// Transactions (txn-list-append only) [default: 1000].
    #[arg(long)]
    pub ops: Option<usize>,
    /// Micro-ops per transaction on average, 1 to 4 (txn-list-append only) [default: 2.5].
    #[arg(long)]
    pub mops: Option<f64>,
    /// Keys in use at once (txn-list-append only) [default: 5].
    #[arg(long)]
    pub hot_keys: Option<usize>,
    /// Appends after which a key retires (txn-list-append only) [default: 32].
    #[arg(long)]
    pub appends_per_key: Option<u32>,
    /// Concurrent clients per key (txn-list-append: in all).
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Probability that an op crashes (info).
    #[arg(long, default_value_t = 0.01)]
    pub crash_rate: f64,
    /// Probability that a write (a transaction) fails definitely.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Values written are drawn from 1..=N; 0 makes every value unique.
    #[arg(long, default_value_t = 5)]
    pub values: u32,
    /// Seed; the same seed gives the same history.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Inject one anomaly, so the history is certainly not linearizable
    /// (txn-list-append: not serializable, or not strict-serializable for
    /// lost-append); bare `--anomaly` is never-written (not txn-list-append).
    #[arg(long, value_enum, value_name = "KIND", num_args = 0..=1, default_missing_value = "never-written", ignore_case = true)]
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
    #[arg(long, default_value = "raftkv", value_name = "NAME|FILE.toml", help = target_help())]
    pub target: String,
    /// Cluster size.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// Workload (docs/workloads.md).
    #[arg(long, value_enum, default_value = "register")]
    pub workload: WorkloadArg,
    #[arg(long, default_value = "partition,pause,kill", help = nemesis_help())]
    pub nemesis: String,
    /// Time between a fault and its heal, and between a heal and the next
    /// fault [default: the target's, 5s; nats: 10s].
    #[arg(long, value_parser = duration, allow_hyphen_values = true)]
    pub nemesis_interval: Option<Duration>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10)]
    pub concurrency: usize,
    /// Total operations per second over all clients; 0 is unlimited.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub rate: f64,
    /// How long clients run (the main phase).
    #[arg(long, default_value = "30s", value_parser = positive_duration, allow_hyphen_values = true)]
    pub time_limit: Duration,
    /// Keys in use at once (default: the workload's).
    #[arg(long)]
    pub keys: Option<usize>,
    /// Operations per key before clients move to a fresh key (default: the
    /// workload's; for txn: elements appended to a key before it retires).
    #[arg(long)]
    pub ops_per_key: Option<usize>,
    /// Send every request to the current leader instead of spreading them over all nodes.
    #[arg(long)]
    pub to_leader: bool,
    /// etcd reads: linearizable (etcd's default), or serializable (served
    /// from the node's local state: stale reads are allowed and expected).
    #[arg(long, value_enum, default_value = "linearizable")]
    pub read_mode: ReadModeArg,
    /// Disk faults in lazyfs's strict mode: a power loss also drops the
    /// directory entries (creates, renames, unlinks) changed since their
    /// directory's last fsync (docs/disk.md). Default: directory operations
    /// are durable at once.
    #[arg(long)]
    pub strict_disk: bool,
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
    #[arg(long, default_value = "60s", value_parser = positive_duration, allow_hyphen_values = true)]
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
