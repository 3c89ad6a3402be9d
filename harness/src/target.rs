//! Target specs: how to start node i of a system under test (docs/targets.md).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The built-in raftkv spec; also the example in docs/targets.md.
pub const RAFTKV_SPEC: &str = include_str!("../targets/raftkv.toml");

/// The built-in etcd spec (Debian's /usr/bin/etcd; docs/etcd.md).
pub const ETCD_SPEC: &str = include_str!("../targets/etcd.toml");

/// The built-in NATS JetStream spec (`nats-server` from scripts/install-nats.sh;
/// docs/nats.md).
pub const NATS_SPEC: &str = include_str!("../targets/nats.toml");

/// The built-in targets by name, in the order help lists them; `--target`
/// takes one of these names or a spec file.
pub const BUILT_IN: [(&str, &str); 3] = [
    ("raftkv", RAFTKV_SPEC),
    ("etcd", ETCD_SPEC),
    ("nats", NATS_SPEC),
];

/// The built-in spec of `name`, if it names one.
pub fn built_in(name: &str) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(built_in, _)| *built_in == name)
        .map(|(_, spec)| *spec)
}

/// A target spec, as written in TOML.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The target's name, used in test names.
    pub name: String,
    /// The client protocol the nodes speak.
    pub protocol: Protocol,
    /// How partitions reach the nodes' peer traffic.
    #[serde(default)]
    pub partition: PartitionMode,
    /// The program: a path, a name looked up in `PATH`, or `{faultline}`.
    pub program: String,
    /// Directories, relative to the faultline checkout, where a bare
    /// `program` name is looked for before `PATH` (e.g. a project-local
    /// virtual environment's `bin`).
    #[serde(default)]
    pub program_dirs: Vec<String>,
    /// The command that installs `program`, quoted when it is missing.
    #[serde(default)]
    pub install: Option<String>,
    /// Whether the proxies can cut one direction of a peer link. `false`
    /// for systems whose peer connection is one TCP stream carrying both
    /// directions and dialled by either side (NATS routes): one-way
    /// partition shapes are then refused, and bare `partition` picks only
    /// two-way shapes.
    #[serde(default = "default_true")]
    pub one_way_partitions: bool,
    /// Arguments of node i, with placeholders.
    #[serde(default)]
    pub args: Vec<String>,
    /// Arguments repeated once per other node (with `{peer_*}` placeholders).
    #[serde(default)]
    pub peer_args: Vec<String>,
    /// One entry per node (with `{peer_*}` placeholders, the node itself
    /// included), joined with `,` into `{cluster}`.
    #[serde(default)]
    pub cluster_entry: Option<String>,
    /// Environment variables for every node (values with placeholders).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// When a started node counts as ready.
    #[serde(default)]
    pub readiness: ReadinessSpec,
    /// Time limits.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// The disk served by faultline's lazy file system in runs with disk
    /// faults (`power`, `powercycle`, `corrupt`); without it those are refused.
    #[serde(default)]
    pub disk: Option<DiskSpec>,
}

/// The `[disk]` table: which directory lazyfs serves, which files `corrupt`
/// may damage (docs/targets.md, docs/disk.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// The directory to mount: `{data_dir}`, the node's data directory.
    #[serde(default = "default_disk_mount")]
    pub mount: String,
    /// Globs (`*`, `?` within one path segment) of the files, relative to
    /// the mounted directory, that `corrupt` may damage.
    #[serde(default)]
    pub corruptible: Vec<String>,
}

fn default_true() -> bool {
    true
}

fn default_disk_mount() -> String {
    "{data_dir}".to_owned()
}

impl DiskSpec {
    fn validate(&self) -> Result<()> {
        if self.mount != "{data_dir}" {
            bail!(
                "disk.mount is {:?}: only \"{{data_dir}}\" (the node's data directory) can be mounted",
                self.mount
            );
        }
        for glob in &self.corruptible {
            if glob.is_empty()
                || glob.starts_with('/')
                || glob.split('/').any(|part| part == ".." || part.is_empty())
            {
                bail!(
                    "disk.corruptible {glob:?} must be a relative path inside the data directory \
                     (no leading `/`, no `..`, no empty segment)"
                );
            }
        }
        Ok(())
    }
}

/// The client protocols faultline speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// docs/protocol.md.
    Raftkv,
    /// etcd's v3 JSON gateway.
    Etcd,
    /// NATS JetStream (docs/nats.md).
    Nats,
}

/// Where the harness's proxies sit (docs/design.md, "Faults without iptables").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionMode {
    /// One proxy per directed link; node i is told peer j lives at the
    /// proxy for i -> j (targets that take a per-node peer list).
    #[default]
    PerLink,
    /// One proxy in front of each node's peer port, advertised as its peer
    /// address; the dialler is found through /proc (cluster-wide peer lists).
    Inbound,
}

/// Readiness of a started node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSpec {
    /// `http` (a GET answers 2xx), `tcp` (a connection is accepted) or
    /// `started` (the process runs).
    #[serde(default = "default_probe")]
    pub probe: Probe,
    /// Which of the node's ports the probe uses.
    #[serde(default)]
    pub port: PortKind,
    /// The path of an `http` probe.
    #[serde(default = "default_path")]
    pub path: String,
    /// How long a start may take.
    #[serde(default = "default_ready_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
}

/// Readiness probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// HTTP GET answers 2xx.
    Http,
    /// TCP connection accepted.
    Tcp,
    /// The process is running.
    Started,
}

/// A node's ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortKind {
    /// The client API.
    #[default]
    Client,
    /// The real peer listen port (not its proxy).
    Peer,
    /// The node's HTTP port (`{http_port}`: e.g. a monitoring endpoint).
    Http,
}

fn default_probe() -> Probe {
    Probe::Tcp
}
fn default_path() -> String {
    "/".into()
}
fn default_ready_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for ReadinessSpec {
    fn default() -> Self {
        Self {
            probe: default_probe(),
            port: PortKind::Client,
            path: default_path(),
            timeout: default_ready_timeout(),
        }
    }
}

/// Time limits of a target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// A client request with no answer by then is `info` (reads: `fail`).
    #[serde(default = "default_request", with = "humantime_serde_compat")]
    pub request: Duration,
    /// How long setup waits for a leader.
    #[serde(default = "default_leader", with = "humantime_serde_compat")]
    pub leader: Duration,
    /// How long the recovery wait after the final heal may take.
    #[serde(default = "default_recovery", with = "humantime_serde_compat")]
    pub recovery: Duration,
    /// The time between a fault and its heal, and between a heal and the
    /// next fault, when `--nemesis-interval` does not say: long enough for
    /// the cluster to elect leaders between faults.
    #[serde(default = "default_nemesis_interval", with = "humantime_serde_compat")]
    pub nemesis_interval: Duration,
}

fn default_request() -> Duration {
    Duration::from_secs(3)
}
fn default_leader() -> Duration {
    Duration::from_secs(15)
}
fn default_recovery() -> Duration {
    Duration::from_secs(20)
}
fn default_nemesis_interval() -> Duration {
    Duration::from_secs(5)
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request: default_request(),
            leader: default_leader(),
            recovery: default_recovery(),
            nemesis_interval: default_nemesis_interval(),
        }
    }
}

/// Durations as humantime strings (`"10s"`, `"1500ms"`) in TOML and JSON.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|err| {
            serde::de::Error::custom(format!("{text:?} is not a duration like \"10s\": {err}"))
        })
    }
}

/// Everything a node's command line can mention.
#[derive(Debug, Clone)]
pub struct NodeContext {
    /// Zero-based node index.
    pub index: usize,
    /// The node's data directory.
    pub data_dir: PathBuf,
    /// Its client API address.
    pub client_addr: SocketAddr,
    /// A third port for the node's own HTTP endpoint (NATS's monitoring).
    pub http_addr: SocketAddr,
    /// Its real peer listen address.
    pub peer_listen_addr: SocketAddr,
    /// The peer address it advertises (its inbound proxy, or its listen
    /// address in per-link mode).
    pub advertise_peer_addr: SocketAddr,
    /// Per other node j (ascending): the address this node uses to reach j.
    pub peers: Vec<(usize, SocketAddr)>,
    /// Per node j (all, ascending): the address everyone uses to reach j.
    pub cluster: Vec<(usize, SocketAddr)>,
    /// A token unique to the run.
    pub token: String,
}

/// A node's command line, expanded from a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCommand {
    /// The program (still to be resolved in `PATH` unless it is `{faultline}`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// The placeholders a spec may use, for error messages.
pub const PLACEHOLDERS: &str = "{id} {num} {index} {data_dir} {client_addr} {client_port} \
     {http_addr} {http_port} {peer_listen_addr} {peer_listen_port} {advertise_peer_addr} {cluster} {token} {faultline}; \
     in peer_args and cluster_entry also {peer_id} {peer_num} {peer_index} {peer_addr} {peer_port}";

/// `n1`, `n2`, ...: the name of node `index` (docs/design.md).
pub fn node_name(index: usize) -> String {
    format!("n{}", index + 1)
}

/// Replaces every `{name}` in `template` by `lookup(name)`; `{{` and `}}`
/// are literal braces.
fn expand(template: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('}') {
            bail!("unmatched '}}' in {template:?} (write '}}}}' for a literal brace)");
        } else {
            let Some(end) = tail.find('}') else {
                bail!("unclosed '{{' in {template:?}");
            };
            let name = &tail[1..end];
            let Some(value) = lookup(name) else {
                bail!("unknown placeholder {{{name}}} in {template:?}; known: {PLACEHOLDERS}");
            };
            out.push_str(&value);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

impl TargetSpec {
    /// Parses a spec; `origin` names it in errors.
    ///
    /// # Errors
    /// TOML syntax, unknown fields, bad values, placeholders that do not exist.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let spec: TargetSpec =
            toml::from_str(text).with_context(|| format!("target spec {origin} is not valid"))?;
        spec.validate()
            .with_context(|| format!("target spec {origin} is not valid"))?;
        Ok(spec)
    }

    /// Resolves `--target`: `raftkv`, `etcd`, or a path to a TOML spec.
    ///
    /// # Errors
    /// An unknown built-in name, an unreadable or invalid file.
    pub fn load(target: &str) -> Result<Self> {
        if let Some(spec) = built_in(target) {
            return Self::parse(spec, &format!("{target} (built in)"));
        }
        let text = std::fs::read_to_string(target).with_context(|| {
            let names: Vec<&str> = BUILT_IN.iter().map(|(name, _)| *name).collect();
            format!(
                "--target {target:?} is neither a built-in target ({}) nor a readable TOML spec file",
                names.join(", ")
            )
        })?;
        Self::parse(&text, target)
    }

    /// Expands every template once with sample values, so that a typo in a
    /// placeholder is reported when the spec is read, not when node 3 starts.
    fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            bail!("`name` is empty");
        }
        if self.program.trim().is_empty() {
            bail!("`program` is empty");
        }
        if self.timeouts.request.is_zero() {
            bail!("timeouts.request must be above zero");
        }
        if let Some(disk) = &self.disk {
            disk.validate()?;
        }
        let sample = NodeContext {
            index: 0,
            data_dir: PathBuf::from("data/n1"),
            client_addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 5)),
            peer_listen_addr: SocketAddr::from(([127, 0, 0, 1], 2)),
            advertise_peer_addr: SocketAddr::from(([127, 0, 0, 1], 3)),
            peers: vec![(1, SocketAddr::from(([127, 0, 0, 1], 4)))],
            cluster: vec![
                (0, SocketAddr::from(([127, 0, 0, 1], 3))),
                (1, SocketAddr::from(([127, 0, 0, 1], 4))),
            ],
            token: "token".into(),
        };
        self.command(&sample, Path::new("faultline"))?;
        Ok(())
    }

    /// Whether any template or the readiness probe uses the node's HTTP
    /// port (`{http_addr}`, `{http_port}`, `readiness.port = "http"`).
    #[must_use]
    pub fn uses_http_port(&self) -> bool {
        self.readiness.port == PortKind::Http
            || self
                .args
                .iter()
                .chain(&self.peer_args)
                .chain(self.env.values())
                .any(|arg| arg.contains("{http_"))
    }

    /// The program, arguments and environment of the node in `context`.
    ///
    /// # Errors
    /// A template with an unknown placeholder.
    pub fn command(&self, context: &NodeContext, faultline: &Path) -> Result<NodeCommand> {
        let faultline = faultline.display().to_string();
        let peer_lookup = |peer: usize, addr: SocketAddr| {
            let faultline = faultline.clone();
            move |name: &str| -> Option<String> {
                Some(match name {
                    "peer_id" => node_name(peer),
                    "peer_num" => (peer + 1).to_string(),
                    "peer_index" => peer.to_string(),
                    "peer_addr" => addr.to_string(),
                    "peer_port" => addr.port().to_string(),
                    "faultline" => faultline.clone(),
                    _ => return None,
                })
            }
        };
        let mut cluster = Vec::new();
        if let Some(entry) = &self.cluster_entry {
            for &(peer, addr) in &context.cluster {
                cluster
                    .push(expand(entry, &peer_lookup(peer, addr)).context("in `cluster_entry`")?);
            }
        }
        let cluster = cluster.join(",");
        let lookup = |name: &str| -> Option<String> {
            Some(match name {
                "id" => node_name(context.index),
                "num" => (context.index + 1).to_string(),
                "index" => context.index.to_string(),
                "data_dir" => context.data_dir.display().to_string(),
                "client_addr" => context.client_addr.to_string(),
                "client_port" => context.client_addr.port().to_string(),
                "http_addr" => context.http_addr.to_string(),
                "http_port" => context.http_addr.port().to_string(),
                "peer_listen_addr" => context.peer_listen_addr.to_string(),
                "peer_listen_port" => context.peer_listen_addr.port().to_string(),
                "advertise_peer_addr" => context.advertise_peer_addr.to_string(),
                "cluster" => cluster.clone(),
                "token" => context.token.clone(),
                "faultline" => faultline.clone(),
                _ => return None,
            })
        };
        let program = expand(&self.program, &lookup).context("in `program`")?;
        let mut args = Vec::new();
        for arg in &self.args {
            args.push(expand(arg, &lookup).context("in `args`")?);
        }
        for &(peer, addr) in &context.peers {
            let peer_lookup = peer_lookup(peer, addr);
            let both = |name: &str| peer_lookup(name).or_else(|| lookup(name));
            for arg in &self.peer_args {
                args.push(expand(arg, &both).context("in `peer_args`")?);
            }
        }
        let mut env = Vec::new();
        for (key, value) in &self.env {
            env.push((
                key.clone(),
                expand(value, &lookup).with_context(|| format!("in `env.{key}`"))?,
            ));
        }
        Ok(NodeCommand { program, args, env })
    }
}

/// Finds `program`: a path with a `/` is taken as it is; a bare name is
/// looked up in `program_dirs` (relative to the faultline checkout: the
/// current directory or one of its parents, or a parent of the running
/// binary, which lives in the checkout's `target/`), then in `PATH`.
/// `install` is quoted when the program is missing.
///
/// # Errors
/// The program does not exist (or is in none of those places).
pub fn resolve_program(
    program: &str,
    program_dirs: &[String],
    install: Option<&str>,
) -> Result<PathBuf> {
    let hint = install.map_or_else(String::new, |command| {
        format!("; install it with `{command}`")
    });
    if program.contains('/') {
        let path = PathBuf::from(program);
        if !path.is_file() {
            bail!("the target's program {program} does not exist{hint}");
        }
        return Ok(path);
    }
    if !program_dirs.is_empty() {
        let mut roots: Vec<PathBuf> = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            roots.extend(cwd.ancestors().map(Path::to_path_buf));
        }
        if let Ok(exe) = std::env::current_exe() {
            roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
        }
        for root in &roots {
            for dir in program_dirs {
                let candidate = root.join(dir).join(program);
                if candidate.is_file() {
                    return Ok(candidate);
                }
            }
        }
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path_var) {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    if program_dirs.is_empty() {
        bail!("the target's program {program:?} is not in PATH{hint}")
    }
    bail!(
        "the target's program {program:?} is neither in {} (under the faultline checkout) \
         nor in PATH{hint}",
        program_dirs.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> NodeContext {
        NodeContext {
            index: 1,
            data_dir: PathBuf::from("/tmp/run/data/n2"),
            client_addr: "127.0.0.1:8002".parse().unwrap(),
            http_addr: "127.0.0.1:8202".parse().unwrap(),
            peer_listen_addr: "127.0.0.1:9002".parse().unwrap(),
            advertise_peer_addr: "127.0.0.1:9102".parse().unwrap(),
            peers: vec![
                (0, "127.0.0.1:7001".parse().unwrap()),
                (2, "127.0.0.1:7003".parse().unwrap()),
            ],
            cluster: vec![
                (0, "127.0.0.1:9101".parse().unwrap()),
                (1, "127.0.0.1:9102".parse().unwrap()),
                (2, "127.0.0.1:9103".parse().unwrap()),
            ],
            token: "tok".into(),
        }
    }

    #[test]
    fn builtin_specs_name_their_disk_and_corruptible_files() {
        let raftkv = TargetSpec::load("raftkv").unwrap().disk.expect("[disk]");
        assert_eq!(raftkv.mount, "{data_dir}");
        assert_eq!(raftkv.corruptible, vec!["raft.wal"]);
        let etcd = TargetSpec::load("etcd").unwrap().disk.expect("[disk]");
        assert_eq!(etcd.corruptible, vec!["member/wal/*.wal", "member/snap/db"]);
    }

    #[test]
    fn a_disk_table_outside_the_data_dir_or_with_escaping_globs_is_refused() {
        let base = "name = \"t\"\nprotocol = \"raftkv\"\nprogram = \"x\"\n";
        let ok = TargetSpec::parse(
            &format!("{base}[disk]\ncorruptible = [\"a/*.log\"]\n"),
            "t.toml",
        )
        .expect("a valid disk table");
        assert_eq!(ok.disk.expect("[disk]").mount, "{data_dir}");
        assert!(TargetSpec::parse(base, "t.toml").unwrap().disk.is_none());
        for (table, word) in [
            ("mount = \"/var/lib/x\"", "disk.mount"),
            ("corruptible = [\"../x\"]", "\"../x\""),
            ("corruptible = [\"/x\"]", "\"/x\""),
            ("corruptable = [\"x\"]", "corruptable"),
        ] {
            let error =
                TargetSpec::parse(&format!("{base}[disk]\n{table}\n"), "t.toml").expect_err(table);
            let error = format!("{error:#}");
            assert!(error.contains(word), "{error}");
        }
    }

    #[test]
    fn builtin_raftkv_spec_expands_to_a_raftkv_command_line() {
        let spec = TargetSpec::load("raftkv").unwrap();
        let NodeCommand { program, args, env } = spec
            .command(&context(), Path::new("/bin/faultline"))
            .unwrap();
        assert_eq!(program, "/bin/faultline");
        assert_eq!(
            args.join(" "),
            "raftkv --id 2 --data-dir /tmp/run/data/n2 --client-addr 127.0.0.1:8002 \
             --peer-addr 127.0.0.1:9002 --peer 1=127.0.0.1:7001 --peer 3=127.0.0.1:7003"
        );
        assert!(env.is_empty());
    }

    #[test]
    fn builtin_etcd_spec_expands_to_an_etcd_command_line() {
        let spec = TargetSpec::load("etcd").unwrap();
        assert_eq!(spec.protocol, Protocol::Etcd);
        assert_eq!(spec.partition, PartitionMode::Inbound);
        let command = spec.command(&context(), Path::new("f")).unwrap();
        let args = command.args.join(" ");
        assert!(
            args.starts_with("--name n2 --data-dir /tmp/run/data/n2"),
            "{args}"
        );
        assert!(
            args.contains(
                "--initial-cluster n1=http://127.0.0.1:9101,n2=http://127.0.0.1:9102,\
                 n3=http://127.0.0.1:9103"
            ),
            "{args}"
        );
        assert!(
            args.contains("--initial-advertise-peer-urls http://127.0.0.1:9102"),
            "{args}"
        );
        assert!(
            args.contains("--listen-peer-urls http://127.0.0.1:9002"),
            "{args}"
        );
        assert!(args.contains("--initial-cluster-token tok"), "{args}");
        assert_eq!(spec.readiness.port, PortKind::Peer);
    }

    #[test]
    fn cluster_entries_join_every_node_for_cluster_wide_peer_lists() {
        let spec = TargetSpec::parse(
            r#"
            name = "etcd-like"
            protocol = "etcd"
            partition = "inbound"
            program = "etcd"
            args = ["--name", "{id}", "--initial-cluster", "{cluster}",
                    "--initial-advertise-peer-urls", "http://{advertise_peer_addr}",
                    "--initial-cluster-token", "{token}"]
            cluster_entry = "{peer_id}=http://{peer_addr}"
            "#,
            "test",
        )
        .unwrap();
        let args = spec.command(&context(), Path::new("f")).unwrap().args;
        assert_eq!(
            args[3],
            "n1=http://127.0.0.1:9101,n2=http://127.0.0.1:9102,n3=http://127.0.0.1:9103"
        );
        assert_eq!(args[5], "http://127.0.0.1:9102");
        assert_eq!(args[7], "tok");
    }

    #[test]
    fn a_misspelled_placeholder_is_named_when_the_spec_is_read() {
        let err = TargetSpec::parse(
            r#"
            name = "x"
            protocol = "raftkv"
            program = "x"
            args = ["--dir", "{datadir}"]
            "#,
            "x.toml",
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("x.toml") && text.contains("{datadir}"),
            "{text}"
        );
    }

    #[test]
    fn a_misspelled_field_is_named_with_its_line() {
        let err = TargetSpec::parse(
            "name = \"x\"\nprotocol = \"raftkv\"\nprogram = \"x\"\nargz = []\n",
            "x.toml",
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("argz") && text.contains("line 4"), "{text}");
    }

    #[test]
    fn literal_braces_survive_and_stray_ones_are_errors() {
        let lookup = |name: &str| (name == "id").then(|| "n1".to_string());
        assert_eq!(expand("{{x}} {id}", &lookup).unwrap(), "{x} n1");
        assert!(expand("{id", &lookup).is_err());
        assert!(expand("id}", &lookup).is_err());
    }

    #[test]
    fn unknown_targets_and_missing_programs_are_clear_errors() {
        let err = TargetSpec::load("/nonexistent/spec.toml").unwrap_err();
        assert!(format!("{err:#}").contains("neither a built-in target"));
        let err = resolve_program("surely-not-a-program-faultline", &[], None).unwrap_err();
        assert!(format!("{err:#}").contains("not in PATH"));
    }

    #[test]
    fn a_missing_program_names_the_command_that_installs_it() {
        let dirs = vec![".venv-surely-absent/bin".to_owned()];
        let err = resolve_program(
            "surely-not-a-program-faultline",
            &dirs,
            Some("scripts/install-x.sh"),
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains(".venv-surely-absent/bin") && text.contains("`scripts/install-x.sh`"),
            "{text}"
        );
    }

    #[test]
    fn a_program_is_found_in_its_program_dirs_before_path() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("venv/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("sh"), "").unwrap();
        let dirs = vec![bin.display().to_string()];
        // An absolute directory joined to any root is itself.
        assert_eq!(resolve_program("sh", &dirs, None).unwrap(), bin.join("sh"));
    }

    #[test]
    fn builtin_nats_spec_clusters_through_inbound_proxies_with_http_readiness() {
        let spec = TargetSpec::load("nats").unwrap();
        assert_eq!(spec.protocol, Protocol::Nats);
        assert_eq!(spec.partition, PartitionMode::Inbound);
        assert!(!spec.one_way_partitions);
        assert_eq!(spec.readiness.port, PortKind::Http);
        assert_eq!(spec.install.as_deref(), Some("scripts/install-nats.sh"));
        let args = spec.command(&context(), Path::new("f")).unwrap().args;
        let args = args.join(" ");
        for part in [
            "--server_name n2",
            "--port 8002",
            "--http_port 8202",
            "--store_dir /tmp/run/data/n2",
            "--cluster nats://127.0.0.1:9002",
            "--cluster_advertise 127.0.0.1:9102",
            "--routes nats://127.0.0.1:9101,nats://127.0.0.1:9102,nats://127.0.0.1:9103",
        ] {
            assert!(args.contains(part), "{part:?} not in {args}");
        }
        let disk = spec.disk.expect("[disk]");
        assert!(!disk.corruptible.is_empty());
    }
}
