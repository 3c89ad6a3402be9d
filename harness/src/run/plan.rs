//! The validated options of `faultline run`, shared by every run of `--test-count`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nemesis::FaultMix;
use results::Store;
use workloads::{EtcdClient, ReadMode, Workload};

use crate::cli::RunArgs;
use crate::target::{Protocol, TargetSpec};

/// Clusters larger than this make no sense on one machine (and the
/// per-link proxies grow with the square of it).
const MAX_NODES: usize = 15;

/// Everything a run needs, checked before any process starts.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `--target` argument as given.
    pub target_arg: String,
    /// The resolved target spec.
    pub target: TargetSpec,
    /// Cluster size.
    pub nodes: usize,
    /// The workload.
    pub workload: Workload,
    /// The faults.
    pub mix: FaultMix,
    /// Fault / heal alternation period.
    pub nemesis_interval: Duration,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Total ops/s, 0 unlimited.
    pub rate: f64,
    /// Main phase length.
    pub time_limit: Duration,
    /// Keys in use at once.
    pub keys: usize,
    /// Ops per key before rotation.
    pub ops_per_key: usize,
    /// Requests to the leader only.
    pub to_leader: bool,
    /// Disk faults in lazyfs's strict mode.
    pub strict_disk: bool,
    /// etcd's read mode.
    pub read_mode: ReadMode,
    /// The first run's seed.
    pub seed: u64,
    /// `--node-args` split into words.
    pub node_args: Vec<String>,
    /// `--node-args` as given.
    pub node_args_text: String,
    /// The run store.
    pub store: Store,
    /// How many runs.
    pub test_count: u64,
    /// Linearizability check budget.
    pub check_timeout: Duration,
    /// Linearizability check memory, MiB.
    pub memory_mib: usize,
    /// Keep node data directories.
    pub keep_data: bool,
    /// No progress bar.
    pub quiet: bool,
    /// JUnit XML output.
    pub junit: Option<PathBuf>,
    /// This faultline binary (nodes of built-in targets run as `faultline raftkv`).
    pub faultline: PathBuf,
}

impl Plan {
    /// Validates the command line.
    ///
    /// # Errors
    /// Any option out of range, an unknown workload or fault, a bad target
    /// spec, unbalanced quotes in `--node-args`.
    pub fn from_args(args: &RunArgs) -> Result<Self> {
        let target = TargetSpec::load(&args.target)?;
        if args.nodes == 0 || args.nodes > MAX_NODES {
            bail!("--nodes {} is out of range (1 to {MAX_NODES})", args.nodes);
        }
        let workload: Workload = args.workload.0;
        let read_mode: ReadMode = args.read_mode.0;
        match target.protocol {
            Protocol::Nats if workload != Workload::Queue => bail!(
                "--workload {workload} is not supported on {}: NATS JetStream runs the queue \
                 workload (--workload queue; docs/nats.md)",
                target.name
            ),
            Protocol::Raftkv | Protocol::Etcd if workload == Workload::Queue => bail!(
                "--workload queue needs a NATS JetStream target (--target nats); {} speaks {:?}",
                target.name,
                target.protocol
            ),
            Protocol::Etcd if !EtcdClient::supports(workload) => bail!(
                "--workload {workload} is not supported on etcd (it has no atomic add); \
                 use register, append, set or txn"
            ),
            Protocol::Raftkv if read_mode != ReadMode::Linearizable => bail!(
                "--read-mode {read_mode} is for etcd targets; raftkv reads are always linearizable \
                 (use --node-args \"--bug stale-read\" for stale reads)"
            ),
            _ => {}
        }
        let mix: FaultMix = args
            .nemesis
            .parse()
            .with_context(|| format!("--nemesis {:?}", args.nemesis))?;
        if mix.0.contains(&nemesis::FaultSpec::Figure8) && args.nodes < 3 {
            bail!(
                "--nemesis {:?}: figure8 needs at least 3 nodes, not {}",
                args.nemesis,
                args.nodes
            );
        }
        if !target.one_way_partitions {
            for fault in &mix.0 {
                if let nemesis::FaultSpec::Partition(Some(shape)) = fault {
                    if !shape.is_two_way(args.nodes) {
                        bail!(
                            "--nemesis {:?}: partition:{shape} cuts one direction of a link on \
                             {} nodes, and target {} cannot: each of its peer connections is one \
                             TCP stream carrying both directions, dialled by either side, so the \
                             proxies cannot block one direction only (bare `partition` picks \
                             two-way shapes only)",
                            args.nemesis,
                            args.nodes,
                            target.name
                        );
                    }
                }
            }
        }
        if mix.needs_disk() {
            let Some(disk) = &target.disk else {
                bail!(
                    "--nemesis {:?}: power, powercycle and corrupt need a `[disk]` table in the \
                     target spec {} (docs/targets.md)",
                    args.nemesis,
                    target.name
                );
            };
            let corrupts = mix
                .0
                .iter()
                .any(|fault| matches!(fault, nemesis::FaultSpec::Corrupt { .. }));
            if corrupts && disk.corruptible.is_empty() {
                bail!(
                    "--nemesis {:?}: corrupt needs `disk.corruptible` in the target spec {} \
                     (the files it may damage)",
                    args.nemesis,
                    target.name
                );
            }
        }
        if args.strict_disk && !mix.needs_disk() {
            bail!(
                "--strict-disk is for runs with disk faults (power, powercycle, corrupt), \
                 not --nemesis {:?}",
                args.nemesis
            );
        }
        if args.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if !args.rate.is_finite() || args.rate < 0.0 {
            bail!(
                "--rate {} must be a non-negative number (0 = unlimited)",
                args.rate
            );
        }
        if args.time_limit.is_zero() {
            bail!("--time-limit must be above zero");
        }
        let nemesis_interval = args
            .nemesis_interval
            .unwrap_or(target.timeouts.nemesis_interval);
        if nemesis_interval.is_zero() && !mix.is_none() {
            bail!("--nemesis-interval must be above zero");
        }
        if args.test_count == 0 {
            bail!("--test-count must be at least 1");
        }
        let keys = args.keys.unwrap_or_else(|| workload.default_active_keys());
        let ops_per_key = args
            .ops_per_key
            .unwrap_or_else(|| workload.default_ops_per_key());
        if keys == 0 || ops_per_key == 0 {
            bail!("--keys and --ops-per-key must be at least 1");
        }
        let node_args = shlex::split(&args.node_args).with_context(|| {
            format!(
                "--node-args {:?} has unbalanced quotes or a trailing backslash",
                args.node_args
            )
        })?;
        let faultline = std::env::current_exe()
            .context("cannot find the faultline binary to start built-in nodes with")?;
        let seed = args.seed.unwrap_or_else(random_seed);
        Ok(Self {
            target_arg: args.target.clone(),
            target,
            nodes: args.nodes,
            workload,
            mix,
            nemesis_interval,
            concurrency: args.concurrency,
            rate: args.rate,
            time_limit: args.time_limit,
            keys,
            ops_per_key,
            to_leader: args.to_leader,
            strict_disk: args.strict_disk,
            read_mode,
            seed,
            node_args,
            node_args_text: args.node_args.clone(),
            store: Store::new(&args.store),
            test_count: args.test_count,
            check_timeout: args.check_timeout,
            memory_mib: args.memory_mib,
            keep_data: args.keep_data,
            quiet: args.quiet,
            junit: args.junit.clone(),
            faultline,
        })
    }

    /// The test's name in the store: target, workload, faults, and the
    /// node arguments when there are any (so a `--bug` run never mixes
    /// with clean runs).
    pub fn test_name(&self) -> String {
        let mut name = format!("{}-{}-{}", self.target.name, self.workload, self.mix);
        if self.read_mode != ReadMode::Linearizable {
            name.push_str(&format!("-{}", self.read_mode));
        }
        if self.strict_disk {
            name.push_str("-strict-disk");
        }
        // A path names its file only: a test name is one folder of the store.
        let args: Vec<&str> = self
            .node_args
            .iter()
            .map(|arg| arg.rsplit('/').next().unwrap_or(arg))
            .map(|arg| arg.trim_start_matches('-'))
            .filter(|arg| !arg.is_empty())
            .collect();
        if !args.is_empty() {
            name.push('-');
            name.push_str(&args.join("-"));
        }
        name.replace(',', "+")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "+-._=".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// A seed from the clock and the process id: distinct for runs started
/// apart, printed and stored so any run can be repeated.
fn random_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // splitmix64 finaliser: spread the clock's low-entropy bits.
    let mut z = now ^ (u64::from(std::process::id()) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) % 1_000_000_000
}
