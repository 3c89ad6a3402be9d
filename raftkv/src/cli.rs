//! Command-line flags and process start-up.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use tracing::{error, info};

use crate::api;
use crate::bugs::{Bug, Bugs};
use crate::error::{Error, Result};
use crate::node::Driver;
use crate::raft::{Config, Raft};
use crate::transport;
use crate::types::NodeId;
use crate::wal::{Durability, Wal};

/// Longest tick; shorter when the heartbeat is shorter.
const MAX_TICK_MS: u64 = 10;
/// Client requests and peer messages queued for the core before new ones are refused.
const INBOX_LEN: usize = 65_536;

/// A Raft key-value node, with switches that break one Raft rule each.
#[derive(Debug, Parser)]
#[command(name = "raftkv", version, about, long_about = None)]
pub struct Args {
    /// This node's id; peers are named by the same ids.
    #[arg(long)]
    pub id: NodeId,
    /// Directory for the log file (created if missing).
    #[arg(long, value_name = "PATH")]
    pub data_dir: PathBuf,
    /// Address of the client HTTP API.
    #[arg(long, value_name = "HOST:PORT")]
    pub client_addr: String,
    /// Address to accept peer connections on.
    #[arg(long, value_name = "HOST:PORT")]
    pub peer_addr: String,
    /// Another node and where to reach it; once per other node.
    #[arg(long = "peer", value_name = "ID=HOST:PORT", value_parser = parse_peer)]
    pub peers: Vec<(NodeId, String)>,
    /// Minimum election timeout; each timeout is drawn from [min, 2*min).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub election_timeout_ms: u64,
    /// Interval between a leader's heartbeats.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Most entries one AppendEntries message carries (etcd's
    /// MaxSizePerMsg, counted in entries). A follower further behind
    /// catches up over several round trips.
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_entries_per_message: u32,
    /// Log filter for stderr: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, value_name = "FILTER", default_value = "info")]
    pub log_level: String,
    /// Break one Raft rule on purpose (repeatable): stale-read, early-ack,
    /// vote-without-log-check, commit-previous-term, volatile-state, lease-read,
    /// lazy-fsync, txn-local-reads.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<Bug>,
}

fn parse_peer(text: &str) -> std::result::Result<(NodeId, String), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("expected ID=HOST:PORT, got {text:?}"))?;
    let id = id
        .trim()
        .parse::<NodeId>()
        .map_err(|error| format!("bad peer id {id:?}: {error}"))?;
    if addr
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(format!("expected HOST:PORT after '=', got {addr:?}"));
    }
    Ok((id, addr.to_string()))
}

/// Timing in ticks derived from the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Length of one tick.
    pub tick: Duration,
    /// Heartbeat interval in ticks.
    pub heartbeat_ticks: u32,
    /// Minimum election timeout in ticks.
    pub election_ticks: u32,
}

impl Args {
    /// Converts the millisecond flags into ticks.
    ///
    /// # Errors
    /// [`Error::Usage`] when the heartbeat is not shorter than the election timeout.
    pub fn timing(&self) -> Result<Timing> {
        if self.heartbeat_ms == 0 || self.election_timeout_ms <= self.heartbeat_ms {
            return Err(Error::Usage(format!(
                "--heartbeat-ms ({}) must be at least 1 and below --election-timeout-ms ({})",
                self.heartbeat_ms, self.election_timeout_ms
            )));
        }
        let tick_ms = self.heartbeat_ms.min(MAX_TICK_MS);
        let heartbeat_ticks = (self.heartbeat_ms / tick_ms).max(1);
        let election_ticks = (self.election_timeout_ms / tick_ms).max(heartbeat_ticks + 1);
        let to_u32 = |ticks: u64| {
            u32::try_from(ticks).map_err(|_| Error::Usage("timeouts are too long".to_string()))
        };
        Ok(Timing {
            tick: Duration::from_millis(tick_ms),
            heartbeat_ticks: to_u32(heartbeat_ticks)?,
            election_ticks: to_u32(election_ticks)?,
        })
    }
}

/// Runs a node with command-line `args` (`args[0]` is the program name).
///
/// Creates its own tokio runtime and blocks until the node stops. Usage
/// errors print clap's message and return exit code 2; start-up failures
/// (an address in use, an unreadable data directory) print one line naming
/// the cause and return 1.
pub fn main_from_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(&args.log_level) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!("raftkv: bad --log-level {:?}: {error}", args.log_level);
            return ExitCode::from(2);
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .try_init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ Error::Usage(_)) => {
            eprintln!("raftkv: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            error!("{error}");
            eprintln!("raftkv: {error}");
            ExitCode::from(1)
        }
    }
}

fn bind(role: &'static str, addr: &str) -> Result<TcpListener> {
    let listener = TcpListener::bind(addr).map_err(|source| Error::Bind {
        role,
        addr: addr.to_string(),
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| Error::Bind {
            role,
            addr: addr.to_string(),
            source,
        })?;
    Ok(listener)
}

/// Starts the node and runs it until it fails.
///
/// # Errors
/// Bad settings, an address that cannot be bound, a log file that cannot be
/// read or written.
pub fn run(args: Args) -> Result<()> {
    let timing = args.timing()?;
    let bugs = Bugs::from_list(&args.bugs);
    let mut peer_addrs = BTreeMap::new();
    for (peer, addr) in &args.peers {
        if peer_addrs.insert(*peer, addr.clone()).is_some() {
            return Err(Error::Usage(format!("--peer {peer} is given twice")));
        }
    }
    let client_listener = bind("client", &args.client_addr)?;
    let peer_listener = bind("peer", &args.peer_addr)?;
    let durability = if bugs.volatile_state {
        Durability::Volatile
    } else if bugs.lazy_fsync {
        Durability::Lazy
    } else {
        Durability::Fsync
    };
    let (wal, recovered) = Wal::open(&args.data_dir, durability)?;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let config = Config {
        id: args.id,
        peers: peer_addrs.keys().copied().collect(),
        election_ticks: timing.election_ticks,
        heartbeat_ticks: timing.heartbeat_ticks,
        max_entries_per_message: args.max_entries_per_message as usize,
        bugs,
        seed,
    };
    let durable_commit = recovered.hard_state.commit;
    let raft = Raft::new(config, recovered.hard_state, recovered.entries)?;
    let bug_names: Vec<String> = bugs
        .enabled()
        .iter()
        .map(|bug| bug.name().to_string())
        .collect();
    info!(
        "node {} starting: term {}, {} log entries, commit index {}, peers {:?}, bugs [{}]",
        args.id,
        raft.term(),
        raft.last_index(),
        raft.commit(),
        peer_addrs,
        bug_names.join(", ")
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("raftkv-io")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let (inbox, events) = std::sync::mpsc::sync_channel(INBOX_LEN);
    let peers = peer_addrs
        .iter()
        .map(|(&peer, addr)| {
            (
                peer,
                transport::spawn_sender(runtime.handle(), peer, addr.clone()),
            )
        })
        .collect();
    {
        let _guard = runtime.enter();
        let client_listener =
            tokio::net::TcpListener::from_std(client_listener).map_err(|source| Error::Bind {
                role: "client",
                addr: args.client_addr.clone(),
                source,
            })?;
        let peer_listener =
            tokio::net::TcpListener::from_std(peer_listener).map_err(|source| Error::Bind {
                role: "peer",
                addr: args.peer_addr.clone(),
                source,
            })?;
        runtime.spawn(transport::accept_loop(peer_listener, inbox.clone()));
        let app = api::router(inbox);
        runtime.spawn(async move {
            if let Err(error) = axum::serve(client_listener, app).await {
                error!("client API stopped: {error}");
            }
        });
    }
    let driver = Driver::new(
        raft,
        wal,
        peers,
        events,
        timing.tick,
        bug_names,
        durable_commit,
    );
    let result = driver.run();
    runtime.shutdown_background();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> std::result::Result<Args, clap::Error> {
        let base = [
            "raftkv",
            "--id",
            "1",
            "--data-dir",
            "/tmp/x",
            "--client-addr",
            "127.0.0.1:1",
            "--peer-addr",
            "127.0.0.1:2",
        ];
        Args::try_parse_from(base.iter().chain(extra))
    }

    #[test]
    fn parses_peers_and_repeated_bugs() {
        let args = args(&[
            "--peer",
            "2=127.0.0.1:3",
            "--peer",
            "3=127.0.0.1:4",
            "--bug",
            "stale-read",
            "--bug",
            "lease-read",
        ])
        .expect("valid flags parse");
        assert_eq!(
            args.peers,
            vec![
                (2, "127.0.0.1:3".to_string()),
                (3, "127.0.0.1:4".to_string())
            ]
        );
        assert_eq!(args.bugs, vec![Bug::StaleRead, Bug::LeaseRead]);
    }

    #[test]
    fn rejects_unknown_bug_and_malformed_peer_without_panicking() {
        let error = args(&["--bug", "fast-commit"]).expect_err("unknown bug is a usage error");
        assert!(error.to_string().contains("stale-read"), "{error}");
        let error = args(&["--peer", "2:127.0.0.1:3"]).expect_err("missing '=' is a usage error");
        assert!(error.to_string().contains("ID=HOST:PORT"), "{error}");
        assert!(
            args(&["--peer", "2=127.0.0.1"]).is_err(),
            "a port is required"
        );
    }

    #[test]
    fn entries_per_message_default_to_512_and_must_be_at_least_one() {
        assert_eq!(args(&[]).expect("no flags").max_entries_per_message, 512);
        let one = args(&["--max-entries-per-message", "1"]).expect("1 is allowed");
        assert_eq!(one.max_entries_per_message, 1);
        let error = args(&["--max-entries-per-message", "0"]).expect_err("0 would send nothing");
        assert!(
            error.to_string().contains("--max-entries-per-message"),
            "{error}"
        );
    }

    #[test]
    fn timing_converts_milliseconds_to_ticks() {
        let timing = args(&["--election-timeout-ms", "300", "--heartbeat-ms", "50"])
            .expect("valid flags parse")
            .timing()
            .expect("valid timing");
        assert_eq!(
            timing,
            Timing {
                tick: Duration::from_millis(10),
                heartbeat_ticks: 5,
                election_ticks: 30
            }
        );
        let error = args(&["--election-timeout-ms", "50", "--heartbeat-ms", "50"])
            .expect("flags parse")
            .timing()
            .expect_err("heartbeat too long");
        assert!(error.to_string().contains("--heartbeat-ms"), "{error}");
    }

    #[test]
    fn port_in_use_is_an_error_naming_the_address() {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = taken
            .local_addr()
            .expect("bound socket has an address")
            .to_string();
        let error = bind("client", &addr).expect_err("the port is taken");
        assert!(
            error.to_string().contains(&addr) && error.to_string().contains("client"),
            "{error}"
        );
    }
}
