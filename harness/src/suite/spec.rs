//! Suite files (docs/suites.md): a TOML matrix of `faultline run` options
//! with the outcome each run must get. Everything is validated before the
//! first run starts, so a typo fails the suite at once (exit 3), naming the
//! file, the entry and the field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Deserialize;

use crate::cli::{Cli, Command, ReadModeArg, RunArgs, WorkloadArg};
use crate::run::Plan;

/// A string or a list of strings: lists multiply into the matrix.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> Vec<String> {
        match self {
            Self::One(one) => vec![one.clone()],
            Self::Many(many) => many.clone(),
        }
    }
}

/// `seeds = 3` (seeds 1, 2, 3) or `seeds = [7, 42]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

/// The fields an entry (and `[defaults]`) may set: every `faultline run`
/// option a test needs, in snake_case, plus the expectation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    name: Option<String>,
    target: Option<OneOrMany>,
    nodes: Option<usize>,
    workload: Option<OneOrMany>,
    nemesis: Option<OneOrMany>,
    nemesis_interval: Option<String>,
    concurrency: Option<usize>,
    rate: Option<f64>,
    time_limit: Option<String>,
    keys: Option<usize>,
    ops_per_key: Option<usize>,
    to_leader: Option<bool>,
    strict_disk: Option<bool>,
    read_mode: Option<String>,
    node_args: Option<OneOrMany>,
    check_timeout: Option<String>,
    memory_mib: Option<usize>,
    seeds: Option<Seeds>,
    expect: Option<String>,
    anomaly: Option<OneOrMany>,
}

impl Fields {
    /// `self` with every field it leaves unset taken from `defaults`.
    fn over(self, defaults: &Fields) -> Fields {
        let d = defaults.clone();
        Fields {
            name: self.name,
            target: self.target.or(d.target),
            nodes: self.nodes.or(d.nodes),
            workload: self.workload.or(d.workload),
            nemesis: self.nemesis.or(d.nemesis),
            nemesis_interval: self.nemesis_interval.or(d.nemesis_interval),
            concurrency: self.concurrency.or(d.concurrency),
            rate: self.rate.or(d.rate),
            time_limit: self.time_limit.or(d.time_limit),
            keys: self.keys.or(d.keys),
            ops_per_key: self.ops_per_key.or(d.ops_per_key),
            to_leader: self.to_leader.or(d.to_leader),
            strict_disk: self.strict_disk.or(d.strict_disk),
            read_mode: self.read_mode.or(d.read_mode),
            node_args: self.node_args.or(d.node_args),
            check_timeout: self.check_timeout.or(d.check_timeout),
            memory_mib: self.memory_mib.or(d.memory_mib),
            seeds: self.seeds.or(d.seeds),
            expect: self.expect.or(d.expect),
            anomaly: self.anomaly.or(d.anomaly),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    #[serde(default)]
    description: String,
    /// Run the matrix again and again, with fresh seeds, until stopped
    /// (Ctrl-C) or `--duration` (torture suites).
    #[serde(default)]
    repeat: bool,
    #[serde(default)]
    defaults: Fields,
    #[serde(default)]
    run: Vec<Fields>,
}

/// The outcome an entry expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exit 0.
    Valid,
    /// Exit 1, with every one of these anomalies found (each `kind`,
    /// `check` or `check:kind`, matched against `results.json`'s
    /// `anomalies`).
    Invalid(Vec<String>),
    /// Exit 2.
    Unknown,
    /// Exit 3.
    Error,
}

impl Expect {
    /// The outcome's word: the one `got` is compared with.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Invalid(_) => "invalid",
            Self::Unknown => "unknown",
            Self::Error => "error",
        }
    }

    /// `invalid (stale-read)` and the like, for tables.
    pub fn describe(&self) -> String {
        match self {
            Self::Invalid(anomalies) if !anomalies.is_empty() => {
                format!("invalid ({})", anomalies.join(", "))
            }
            other => other.word().to_string(),
        }
    }
}

/// Does the expected anomaly `pattern` (`kind`, `check` or `check:kind`)
/// name one of the anomalies `found` (each `check:kind`)?
pub fn anomaly_matches(pattern: &str, found: &[String]) -> bool {
    found.iter().any(|item| {
        let (check, kind) = item.split_once(':').unwrap_or((item.as_str(), ""));
        pattern == item || pattern == kind || pattern == check
    })
}

/// One cell of the matrix: a validated run plan and its seeds.
#[derive(Debug, Clone)]
pub struct Job {
    /// The entry's name (given, or its test name).
    pub entry: String,
    /// The run, validated.
    pub plan: Plan,
    /// The seeds of the first round.
    pub seeds: Vec<u64>,
    /// What every run of it must get.
    pub expect: Expect,
}

impl Job {
    /// The seeds of round `round` (0-based) of a repeating suite: the
    /// entry's seeds shifted past every earlier round's.
    pub fn seeds_of_round(&self, round: u64) -> Vec<u64> {
        let min = self.seeds.iter().copied().min().unwrap_or(0);
        let max = self.seeds.iter().copied().max().unwrap_or(0);
        let span = max - min + 1;
        self.seeds
            .iter()
            .map(|seed| seed.wrapping_add(round.wrapping_mul(span)))
            .collect()
    }
}

/// A suite file, expanded and validated.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Its `description`.
    pub description: String,
    /// Run until stopped.
    pub repeat: bool,
    /// The matrix, in file order.
    pub jobs: Vec<Job>,
}

/// What the command line changes in every entry.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The run store.
    pub store: PathBuf,
    /// No progress bars.
    pub quiet: bool,
    /// `--seeds N`: seeds 1..=N for every entry.
    pub seeds: Option<u64>,
    /// `--only TEXT`: only entries whose name or test name contains it.
    pub only: Option<String>,
    /// Keep node data directories.
    pub keep_data: bool,
}

fn duration(field: &str, text: &Option<String>, default: Duration) -> Result<Duration> {
    match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text).with_context(|| {
            format!("`{field} = {text:?}` is not a duration (e.g. \"30s\", \"2m\")")
        }),
    }
}

/// `faultline run`'s defaults, from its own command-line definition, so a
/// suite and the command line can never disagree about them.
fn run_defaults() -> RunArgs {
    match Cli::try_parse_from(["faultline", "run"]) {
        Ok(Cli {
            command: Command::Run(args),
            ..
        }) => *args,
        _ => unreachable!("`faultline run` without options always parses"),
    }
}

/// A target that is neither built in nor absolute is relative to the
/// suite file.
fn resolve_target(target: &str, suite_dir: &Path) -> String {
    if crate::target::built_in(target).is_some() || Path::new(target).is_absolute() {
        target.to_string()
    } else {
        suite_dir.join(target).display().to_string()
    }
}

/// `node_args` with `{suite_dir}` replaced by the suite file's folder as an
/// absolute, quoted path: nodes run in their data directories, so a file
/// passed to them (a configuration) needs a path that holds from anywhere.
fn with_suite_dir(node_args: &str, suite_dir: &Path) -> Result<String> {
    if !node_args.contains("{suite_dir}") {
        return Ok(node_args.to_string());
    }
    let dir = std::path::absolute(suite_dir)
        .with_context(|| format!("cannot make {} absolute", suite_dir.display()))?;
    let dir = dir.to_str().with_context(|| {
        format!(
            "`node_args` uses {{suite_dir}}, but {} is not UTF-8",
            dir.display()
        )
    })?;
    let quoted = shlex::try_quote(dir)
        .with_context(|| format!("{dir:?} cannot be quoted for `node_args`"))?;
    Ok(node_args.replace("{suite_dir}", &quoted))
}

fn parse_expect(fields: &Fields) -> Result<Expect> {
    let anomalies = fields.anomaly.as_ref().map(OneOrMany::values);
    let expect = match fields.expect.as_deref() {
        None => bail!("`expect` is missing: say \"valid\", \"invalid\", \"unknown\" or \"error\""),
        Some("valid") => Expect::Valid,
        Some("invalid") => Expect::Invalid(anomalies.clone().unwrap_or_default()),
        Some("unknown") => Expect::Unknown,
        Some("error") => Expect::Error,
        Some(other) => bail!(
            "`expect = {other:?}` is not an outcome: say \"valid\", \"invalid\", \"unknown\" or \"error\""
        ),
    };
    if anomalies.is_some() && !matches!(expect, Expect::Invalid(_)) {
        bail!("`anomaly` goes with `expect = \"invalid\"` only");
    }
    Ok(expect)
}

fn parse_seeds(fields: &Fields, overrides: &Overrides) -> Result<Vec<u64>> {
    match overrides.seeds {
        Some(0) => bail!("--seeds 0 runs nothing; give at least 1"),
        Some(count) => return Ok((1..=count).collect()),
        None => {}
    }
    match &fields.seeds {
        None => Ok(vec![1]),
        Some(Seeds::Count(0)) => bail!("`seeds = 0` runs nothing; give a count of at least 1"),
        Some(Seeds::Count(n)) => Ok((1..=*n).collect()),
        Some(Seeds::List(list)) if list.is_empty() => {
            bail!("`seeds = []` runs nothing; give at least one seed")
        }
        Some(Seeds::List(list)) => Ok(list.clone()),
    }
}

/// The jobs of one entry: one per combination of its list-valued fields.
fn expand(fields: &Fields, suite_dir: &Path, overrides: &Overrides) -> Result<Vec<Job>> {
    let expect = parse_expect(fields)?;
    let seeds = parse_seeds(fields, overrides)?;
    let mut base = run_defaults();
    base.store = overrides.store.clone();
    base.quiet = overrides.quiet;
    base.keep_data = overrides.keep_data;
    if let Some(nodes) = fields.nodes {
        base.nodes = nodes;
    }
    if let Some(concurrency) = fields.concurrency {
        base.concurrency = concurrency;
    }
    if let Some(rate) = fields.rate {
        base.rate = rate;
    }
    base.keys = fields.keys.or(base.keys);
    base.ops_per_key = fields.ops_per_key.or(base.ops_per_key);
    if let Some(to_leader) = fields.to_leader {
        base.to_leader = to_leader;
    }
    if let Some(strict_disk) = fields.strict_disk {
        base.strict_disk = strict_disk;
    }
    if let Some(read_mode) = &fields.read_mode {
        base.read_mode = ReadModeArg(
            read_mode
                .parse()
                .map_err(|err| anyhow::anyhow!("`read_mode = {read_mode:?}`: {err}"))?,
        );
    }
    if let Some(memory_mib) = fields.memory_mib {
        base.memory_mib = memory_mib;
    }
    if fields.nemesis_interval.is_some() {
        base.nemesis_interval = Some(duration(
            "nemesis_interval",
            &fields.nemesis_interval,
            Duration::ZERO,
        )?);
    }
    base.time_limit = duration("time_limit", &fields.time_limit, base.time_limit)?;
    base.check_timeout = duration("check_timeout", &fields.check_timeout, base.check_timeout)?;
    let list = |field: &Option<OneOrMany>, default: &str| -> Vec<String> {
        field
            .as_ref()
            .map_or_else(|| vec![default.to_string()], OneOrMany::values)
    };
    let mut jobs = Vec::new();
    for target in list(&fields.target, &base.target) {
        for workload in list(&fields.workload, base.workload.0.name()) {
            for nemesis in list(&fields.nemesis, &base.nemesis) {
                for node_args in list(&fields.node_args, &base.node_args) {
                    let mut args = base.clone();
                    args.target = resolve_target(&target, suite_dir);
                    args.workload = WorkloadArg(
                        workload
                            .parse()
                            .map_err(|err| anyhow::anyhow!("`workload = {workload:?}`: {err}"))?,
                    );
                    args.nemesis = nemesis.clone();
                    args.node_args = with_suite_dir(&node_args, suite_dir)?;
                    args.seed = Some(seeds[0]);
                    let plan = Plan::from_args(&args)?;
                    let entry = fields.name.clone().unwrap_or_else(|| plan.test_name());
                    jobs.push(Job {
                        entry,
                        plan,
                        seeds: seeds.clone(),
                        expect: expect.clone(),
                    });
                }
            }
        }
    }
    Ok(jobs)
}

impl Suite {
    /// Reads, expands and validates the suite file at `path`.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, an unknown field, a missing or unknown
    /// `expect`, any option `faultline run` would refuse, or (with `--only`)
    /// an empty matrix; each names the file and the entry.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Suite> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read suite file {}", path.display()))?;
        Self::parse(&text, path, overrides)
    }

    /// [`Suite::load`] on text already read; `path` names it in errors and
    /// anchors relative target paths.
    ///
    /// # Errors
    /// As [`Suite::load`].
    pub fn parse(text: &str, path: &Path, overrides: &Overrides) -> Result<Suite> {
        let file: SuiteFile = toml::from_str(text)
            .with_context(|| format!("suite file {} is not valid", path.display()))?;
        if file.defaults.name.is_some() {
            bail!(
                "suite file {}: `name` belongs to a [[run]] entry, not to [defaults]",
                path.display()
            );
        }
        if file.run.is_empty() {
            bail!(
                "suite file {} has no [[run]] entries: nothing to run",
                path.display()
            );
        }
        let suite_dir = path.parent().unwrap_or(Path::new("."));
        let mut jobs = Vec::new();
        for (i, entry) in file.run.into_iter().enumerate() {
            let label = match &entry.name {
                Some(name) => format!("[[run]] entry {} ({name:?})", i + 1),
                None => format!("[[run]] entry {}", i + 1),
            };
            let fields = entry.over(&file.defaults);
            let expanded = expand(&fields, suite_dir, overrides)
                .with_context(|| format!("suite file {}, {label}", path.display()))?;
            jobs.extend(expanded);
        }
        if let Some(only) = &overrides.only {
            jobs.retain(|job| {
                job.entry.contains(only.as_str()) || job.plan.test_name().contains(only.as_str())
            });
            if jobs.is_empty() {
                bail!(
                    "--only {only:?} matches no entry of suite file {}",
                    path.display()
                );
            }
        }
        Ok(Suite {
            description: file.description,
            repeat: file.repeat,
            jobs,
        })
    }

    /// Runs in one round of the matrix.
    pub fn runs_per_round(&self) -> usize {
        self.jobs.iter().map(|job| job.seeds.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides() -> Overrides {
        Overrides {
            store: PathBuf::from("store-test"),
            ..Overrides::default()
        }
    }

    fn parse(text: &str) -> Result<Suite> {
        Suite::parse(text, Path::new("suites/test.toml"), &overrides())
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn list_fields_multiply_into_the_matrix_and_defaults_fill_the_rest() {
        let suite = parse(
            r#"
            [defaults]
            time_limit = "20s"
            seeds = 2
            expect = "valid"

            [[run]]
            workload = ["register", "append"]
            nemesis = ["partition", "kill", "pause"]

            [[run]]
            name = "stale"
            nemesis = "partition"
            node_args = "--bug stale-read"
            seeds = [7, 9]
            expect = "invalid"
            anomaly = "stale-read"
            "#,
        )
        .unwrap();
        assert_eq!(suite.jobs.len(), 7);
        assert_eq!(suite.runs_per_round(), 14);
        assert!(suite
            .jobs
            .iter()
            .all(|j| j.plan.time_limit == Duration::from_secs(20)));
        assert_eq!(suite.jobs[0].seeds, vec![1, 2]);
        assert_eq!(suite.jobs[0].entry, "raftkv-register-partition");
        let stale = &suite.jobs[6];
        assert_eq!(stale.entry, "stale");
        assert_eq!(stale.expect, Expect::Invalid(vec!["stale-read".into()]));
        assert_eq!(stale.plan.node_args, vec!["--bug", "stale-read"]);
        assert_eq!(stale.seeds_of_round(1), vec![10, 12]);
        assert_eq!(stale.expect.describe(), "invalid (stale-read)");
    }

    #[test]
    fn a_typo_in_a_field_names_the_file_and_the_field() {
        let err =
            error("[[run]]\nworkload = \"register\"\nnemessis = \"kill\"\nexpect = \"valid\"\n");
        assert!(err.contains("suites/test.toml"), "{err}");
        assert!(err.contains("nemessis"), "{err}");
    }

    #[test]
    fn a_bad_run_option_names_the_entry() {
        let err = error(
            "[[run]]\nexpect = \"valid\"\n[[run]]\nname = \"two\"\nnemesis = \"pasue\"\nexpect = \"valid\"\n",
        );
        assert!(err.contains("[[run]] entry 2 (\"two\")"), "{err}");
        assert!(err.contains("pasue"), "{err}");
        let err = error("[[run]]\ntime_limit = \"soon\"\nexpect = \"valid\"\n");
        assert!(err.contains("time_limit"), "{err}");
    }

    #[test]
    fn the_expectation_must_be_stated_and_be_an_outcome() {
        assert!(error("[[run]]\nworkload = \"register\"\n").contains("`expect` is missing"));
        assert!(error("[[run]]\nexpect = \"broken\"\n").contains("not an outcome"));
        assert!(
            error("[[run]]\nexpect = \"valid\"\nanomaly = \"rollback\"\n")
                .contains("`anomaly` goes with")
        );
        assert!(error("[[run]]\nexpect = \"valid\"\nseeds = 0\n").contains("seeds = 0"));
        assert!(error("description = \"x\"\n").contains("no [[run]] entries"));
    }

    #[test]
    fn only_and_seeds_override_the_file() {
        let text = "[[run]]\nname = \"a\"\nexpect = \"valid\"\nseeds = [5]\n[[run]]\nname = \"b\"\nexpect = \"valid\"\n";
        let only = Overrides {
            only: Some("b".into()),
            seeds: Some(3),
            ..overrides()
        };
        let suite = Suite::parse(text, Path::new("s.toml"), &only).unwrap();
        assert_eq!(suite.jobs.len(), 1);
        assert_eq!(suite.jobs[0].seeds, vec![1, 2, 3]);
        let none = Overrides {
            only: Some("zzz".into()),
            ..overrides()
        };
        let err = format!(
            "{:#}",
            Suite::parse(text, Path::new("s.toml"), &none).unwrap_err()
        );
        assert!(err.contains("matches no entry"), "{err}");
    }

    #[test]
    fn expected_anomalies_match_a_kind_a_check_or_both() {
        let found = vec![
            "list-append:lost-write".to_string(),
            "raftlog:rollback".to_string(),
        ];
        assert!(anomaly_matches("rollback", &found));
        assert!(anomaly_matches("raftlog", &found));
        assert!(anomaly_matches("list-append:lost-write", &found));
        assert!(!anomaly_matches("list-append:rollback", &found));
        assert!(!anomaly_matches("stale-read", &found));
    }

    #[test]
    fn a_path_in_node_args_names_only_its_file_in_the_test_name() {
        let suite = parse(
            r#"
            [[run]]
            node_args = ["-c {suite_dir}/../conf/sync always.conf", "--bug stale-read"]
            expect = "valid"
            "#,
        );
        let names: Vec<String> = suite
            .unwrap()
            .jobs
            .iter()
            .map(|job| job.plan.test_name())
            .collect();
        assert_eq!(
            names,
            vec![
                "raftkv-register-partition+pause+kill-c-sync-always.conf",
                "raftkv-register-partition+pause+kill-bug-stale-read",
            ]
        );
    }

    #[test]
    fn suite_dir_in_node_args_becomes_the_suite_files_absolute_folder() {
        let here = std::env::current_dir().unwrap();
        let args = with_suite_dir("-c {suite_dir}/x.conf", Path::new("suites")).unwrap();
        assert_eq!(
            shlex::split(&args).unwrap(),
            vec![
                "-c".to_string(),
                format!("{}/suites/x.conf", here.display())
            ]
        );
        let spaced = with_suite_dir("-c {suite_dir}/x.conf", Path::new("/a b")).unwrap();
        assert_eq!(shlex::split(&spaced).unwrap(), vec!["-c", "/a b/x.conf"]);
        assert_eq!(
            with_suite_dir("--bug x", Path::new("s")).unwrap(),
            "--bug x"
        );
    }

    #[test]
    fn relative_target_specs_are_found_beside_the_suite_file() {
        assert_eq!(resolve_target("etcd", Path::new("suites")), "etcd");
        assert_eq!(
            resolve_target("targets/mine.toml", Path::new("suites")),
            "suites/targets/mine.toml"
        );
    }
}
