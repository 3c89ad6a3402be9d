//! One test from start to exit code: setup, main phase, heal, recovery,
//! final reads, teardown, checks.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use checker::{Event, EventType, Process};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nemesis::{Nemesis, NemesisEvent, Schedule};
use results::{HistoryWriter, OpCounts, RunDir};
use tokio::sync::watch;
use workloads::{
    Client, ClientStats, EtcdClient, Generator, NatsClient, RaftkvClient, Recorder, RunnerOptions,
    Workload,
};

use super::cluster::{self, Cluster};
use super::faults::FaultLog;
use super::record::TestRecord;
use super::sampler::{self, Sampler};
use super::verdict::{self, Observations};
use super::Plan;
use crate::target::Protocol;

/// Seeds of the parts of a run, derived from the run's seed so that they
/// do not draw from one stream (the same seed, the same choices).
const NEMESIS_SALT: u64 = 0x6e65_6d65_7369_7300;
const CLIENT_SALT: u64 = 0x636c_6965_6e74_7300;

/// How many times setup starts the cluster on fresh ports when a port it
/// picked was taken in between.
const PORT_RETRIES: u32 = 3;

/// How often the committed logs are sampled during the main phase.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// The history writer, as the clients see it.
struct HistoryRecorder(Arc<HistoryWriter>);

impl Recorder for HistoryRecorder {
    fn record(&self, event: Event) {
        self.0.record(event);
    }
}

/// The nodes' own account of who leads and what they committed, for
/// leader-watching faults (`figure8`), asked through the target's client.
struct ClientObserver<C>(Arc<C>);

impl<C: Client> nemesis::Observe for ClientObserver<C> {
    fn observe(
        &self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Vec<Option<nemesis::NodeView>>> + Send + '_>,
    > {
        Box::pin(self.0.views())
    }
}

fn record_nemesis(history: &HistoryWriter, faults: &Mutex<FaultLog>, event: &NemesisEvent) {
    history.record(Event {
        index: 0,
        time: 0,
        process: Process::Nemesis,
        kind: EventType::Info,
        f: event.f.as_str().to_owned(),
        key: None,
        value: serde_json::to_value(event).unwrap_or_default(),
        node: None,
        error: (!event.errors.is_empty()).then(|| event.errors.join("; ")),
        revision: None,
    });
    faults
        .lock()
        .expect("the fault log lock is never held across a panic")
        .note(event);
}

/// Runs one test and returns its exit code.
///
/// # Errors
/// Only what happens before the run directory exists; later errors are
/// written into the run's `results.json` and returned as exit code 3.
pub async fn run_test(
    plan: &Plan,
    seed: u64,
    stop: watch::Receiver<bool>,
) -> Result<(u8, std::path::PathBuf)> {
    let run = plan
        .store
        .create_run(&plan.test_name())
        .context("cannot create the run directory")?;
    plan.store
        .mark_latest(&run)
        .context("cannot update the store's `latest` link")?;
    let mut record = TestRecord::new(plan, seed, &run);
    println!(
        "faultline run: {} ({} nodes), {} workload, nemesis {}, {}, seed {seed}\n  store: {}",
        plan.target.name,
        plan.nodes,
        plan.workload,
        plan.mix,
        humantime::format_duration(plan.time_limit),
        run.path().display()
    );
    let outcome = match drive(plan, seed, stop, &run, &mut record).await {
        Ok(outcome) => outcome,
        Err(err) => Observations::error(format!("{err:#}")),
    };
    if let Some(at) = outcome.time_zero {
        record.set_time_zero(at);
    }
    if let Err(err) = record.write(&run) {
        eprintln!("faultline: warning: {err:#}");
    }
    if !plan.keep_data {
        if let Err(err) = run.remove_data() {
            eprintln!("faultline: warning: {err:#}");
        }
    }
    let code = verdict::finish(plan, &run, &record, outcome);
    // The report and the store's index: a failure here costs the page,
    // never the verdict (results.json and the history are written).
    match results::write_report(run.path()) {
        Ok(path) => println!("  report: {}", path.display()),
        Err(err) => eprintln!("faultline: warning: no report: {err}"),
    }
    if let Err(err) = results::refresh_index(plan.store.root()) {
        eprintln!("faultline: warning: the store index was not refreshed: {err}");
    }
    Ok((code, run.path().to_path_buf()))
}

async fn drive(
    plan: &Plan,
    seed: u64,
    stop: watch::Receiver<bool>,
    run: &RunDir,
    record: &mut TestRecord,
) -> Result<Observations> {
    let token = format!("faultline-{seed}-{}", std::process::id());
    let setup_started = Instant::now();
    let mut attempt = 1;
    if plan.mix.needs_disk() {
        cluster::cleanup_stale_mounts(plan.store.root())?;
    }
    let cluster = loop {
        let cluster = cluster::build(plan, run, &token).await?;
        record.set_nodes(&cluster.nodes, &plan.faultline);
        record.write(run)?;
        if !plan.quiet {
            eprintln!("  starting nodes");
        }
        match cluster.supervisor.start_all().await {
            Ok(()) => break cluster,
            Err(err) => {
                cluster.teardown();
                // Free ports are found by binding port 0 and letting go; another
                // socket may take one before the node binds it. Start afresh
                // on new ports (and empty data directories), a few times.
                let text = err.to_string();
                if attempt < PORT_RETRIES && text.contains("Address already in use") {
                    eprintln!(
                        "faultline: a node's port was taken before it could bind it; \
                         starting the cluster again on new ports"
                    );
                    run.remove_data()?;
                    attempt += 1;
                    continue;
                }
                return Err(anyhow::Error::new(err).context("the cluster did not start"));
            }
        }
    };
    let addrs = cluster.client_addrs.clone();
    let timeout = plan.target.timeouts.request;
    let result = match plan.target.protocol {
        Protocol::Raftkv => {
            let client = Arc::new(RaftkvClient::new(addrs, timeout));
            drive_cluster(plan, seed, stop, run, &cluster, client, setup_started).await
        }
        Protocol::Nats => {
            let client = Arc::new(NatsClient::new(
                addrs,
                cluster.http_addrs.clone(),
                plan.nodes,
                timeout,
            ));
            let mut outcome = drive_cluster(
                plan,
                seed,
                stop,
                run,
                &cluster,
                Arc::clone(&client),
                setup_started,
            )
            .await;
            // Each node's own view of its streams, after the final reads.
            if let Ok(observed) = &mut outcome {
                let views = record_jsz(run, &client, plan.nodes).await?;
                observed.replicas_behind = replicas_behind(&views);
            }
            outcome
        }
        Protocol::Etcd => {
            let client = Arc::new(EtcdClient::new(addrs, timeout, plan.read_mode));
            let outcome = drive_cluster(
                plan,
                seed,
                stop,
                run,
                &cluster,
                Arc::clone(&client),
                setup_started,
            )
            .await;
            // Only register writes are read back (append and set updates
            // carry revisions too, but their values are lists).
            if outcome.is_ok() && plan.workload == Workload::Register {
                read_back_revisions(run, &client).await?;
            }
            outcome
        }
    };
    // Whatever happened: no node outlives the run, no disk stays mounted.
    cluster.teardown();
    result
}

/// NATS: every node's `/jsz?streams=true` (its own copy of each stream:
/// messages, first and last sequence), one line per node, into `jsz.jsonl`
/// beside the history; `null` for a node that did not answer.
async fn record_jsz(
    run: &RunDir,
    client: &NatsClient,
    nodes: usize,
) -> Result<Vec<(String, Option<serde_json::Value>)>> {
    let out = results::JsonlWriter::create(run.path().join("jsz.jsonl"))?;
    let mut views = Vec::with_capacity(nodes);
    for node in nemesis::NodeId::all(nodes) {
        let view = client.jsz(node).await;
        let name = crate::target::node_name(node.index());
        out.write(&serde_json::json!({ "node": name, "jsz": view }));
        views.push((name, view));
    }
    out.finish()?;
    Ok(views)
}

/// The nodes whose own copy of a stream ends before another node's copy,
/// from each node's `/jsz?streams=true` (`account_details[].stream_detail[]`:
/// `name`, `state.messages`, `state.last_seq`). A node that did not answer,
/// or holds no copy, is left out: the checks judge what the cluster served.
fn replicas_behind(views: &[(String, Option<serde_json::Value>)]) -> Vec<results::ReplicaBehind> {
    use std::collections::BTreeMap;
    // stream -> [(node, messages, last_seq)]
    let mut copies: BTreeMap<String, Vec<(&str, u64, u64)>> = BTreeMap::new();
    for (node, view) in views {
        let Some(accounts) = view
            .as_ref()
            .and_then(|v| v.get("account_details"))
            .and_then(|a| a.as_array())
        else {
            continue;
        };
        for stream in accounts
            .iter()
            .filter_map(|a| a.get("stream_detail")?.as_array())
            .flatten()
        {
            let (Some(name), Some(state)) = (
                stream.get("name").and_then(|n| n.as_str()),
                stream.get("state"),
            ) else {
                continue;
            };
            let number = |field: &str| state.get(field).and_then(serde_json::Value::as_u64);
            if let (Some(messages), Some(last_seq)) = (number("messages"), number("last_seq")) {
                copies.entry(name.to_owned()).or_default().push((
                    node.as_str(),
                    messages,
                    last_seq,
                ));
            }
        }
    }
    let mut behind = Vec::new();
    for (stream, copies) in copies {
        let top = copies.iter().map(|c| c.2).max().unwrap_or(0);
        for &(node, messages, last_seq) in &copies {
            if last_seq < top {
                behind.push(results::ReplicaBehind {
                    node: node.to_owned(),
                    stream: stream.clone(),
                    messages,
                    last_seq,
                    stream_last_seq: top,
                });
            }
        }
    }
    behind
}

/// How long reading etcd's acknowledged writes back at their revisions may take.
const REVISION_READS: Duration = Duration::from_secs(15);

/// etcd's rollback check from the client side: every acknowledged write of
/// the history, read back at its revision, into `revisions.jsonl`.
async fn read_back_revisions(run: &RunDir, client: &EtcdClient) -> Result<()> {
    let path = run.history();
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    // A torn last line cannot be: the writer is done. Any line that is not
    // an event is reported by the checks that read the history.
    let events: Vec<Event> = text
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let writes = checker::acknowledged_writes(&events);
    let deadline = tokio::time::Instant::now() + REVISION_READS;
    let reads = client.reads_at_revisions(&writes, deadline).await;
    let out = results::JsonlWriter::create(run.revisions())?;
    for read in &reads {
        out.write(read);
    }
    out.finish()?;
    Ok(())
}

async fn drive_cluster<C: Client>(
    plan: &Plan,
    seed: u64,
    mut stop: watch::Receiver<bool>,
    run: &RunDir,
    cluster: &Cluster,
    client: Arc<C>,
    setup_started: Instant,
) -> Result<Observations> {
    let progress = Progress::new(plan);
    progress.phase("waiting for a leader");
    let leader_deadline = Instant::now() + plan.target.timeouts.leader;
    loop {
        if client.leader().await.is_some() && client.ready().await {
            break;
        }
        if Instant::now() >= leader_deadline || *stop.borrow() {
            bail!(
                "no leader within {} of start-up; node logs: {}",
                humantime::format_duration(plan.target.timeouts.leader),
                run.nodes_dir().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup = setup_started.elapsed();

    // The main phase. Event times count from here.
    let epoch = Instant::now();
    let time_zero = std::time::SystemTime::now();
    let history = Arc::new(HistoryWriter::create(run.history(), epoch)?);
    let recorder: Arc<dyn Recorder> = Arc::new(HistoryRecorder(Arc::clone(&history)));
    let until = tokio::time::Instant::from_std(epoch + plan.time_limit);
    let stats = Arc::new(ClientStats::default());
    let faults = Arc::new(Mutex::new(FaultLog::default()));
    let sampler = Arc::new(Sampler::create(run, epoch, plan.nodes)?);
    let (sampler_stop_tx, sampler_stop) = watch::channel(false);
    let sampling = tokio::spawn(sampler::sample_until(
        Arc::clone(&sampler),
        Arc::clone(&client),
        Arc::clone(&cluster.supervisor),
        SAMPLE_EVERY,
        sampler_stop,
    ));

    let nemesis_task = {
        let nemesis = Nemesis::new(
            Arc::clone(&cluster.supervisor),
            Arc::clone(&cluster.network),
            {
                let schedule = Schedule::new(plan.mix.clone(), plan.nodes, seed ^ NEMESIS_SALT);
                if plan.target.one_way_partitions {
                    schedule
                } else {
                    schedule.two_way_partitions_only()
                }
            },
            epoch,
        )
        .with_observer(Arc::new(ClientObserver(Arc::clone(&client))));
        let mut nemesis = match &cluster.disks {
            Some(disks) => nemesis.with_disks(Arc::clone(disks)),
            None => nemesis,
        };
        let history = Arc::clone(&history);
        let faults = Arc::clone(&faults);
        let client = Arc::clone(&client);
        let sampler = Arc::clone(&sampler);
        let supervisor = Arc::clone(&cluster.supervisor);
        let interval = plan.nemesis_interval;
        let active = !plan.mix.is_none();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            if !active {
                // No faults: nothing to heal, and no reason to wait.
                return;
            }
            loop {
                let wake = tokio::time::Instant::now() + interval;
                if wake >= until {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    _ = stop.changed() => break,
                }
                if *stop.borrow() {
                    break;
                }
                let named = if nemesis.is_faulty() {
                    None
                } else {
                    // Every node's committed log just before each fault: what
                    // a power loss or a crash then takes back shows up as a
                    // rollback, however the fault falls between the
                    // once-a-second samples.
                    sampler::sample_all(&sampler, client.as_ref(), &supervisor).await;
                    tokio::time::timeout(nemesis::LEADER_TIMEOUT, client.leader())
                        .await
                        .ok()
                        .flatten()
                };
                for event in nemesis.step(named).await {
                    record_nemesis(&history, &faults, &event);
                }
            }
            // Clients may hang on paused or cut-off nodes: heal without them.
            if !*stop.borrow_and_update() {
                tokio::select! {
                    () = tokio::time::sleep_until(until) => {}
                    _ = stop.changed() => {}
                }
            }
            for event in nemesis.heal_all().await {
                record_nemesis(&history, &faults, &event);
            }
        })
    };

    let options = RunnerOptions {
        workload: plan.workload,
        concurrency: plan.concurrency,
        rate: plan.rate,
        ops_per_key: plan.ops_per_key,
        active_keys: plan.keys,
        seed: seed ^ CLIENT_SALT,
        nodes: plan.nodes,
        to_leader: plan.to_leader,
    };
    let generator = Generator::new(
        plan.workload,
        plan.ops_per_key,
        plan.keys,
        seed ^ CLIENT_SALT,
    );
    let ticker = progress.start_main(plan, Arc::clone(&stats), Arc::clone(&faults), epoch);
    let done = workloads::run_clients(
        Arc::clone(&client),
        generator,
        &options,
        Arc::clone(&recorder),
        Arc::clone(&stats),
        until,
        stop.clone(),
    )
    .await;
    let last_op = Instant::now();
    progress.phase("healing");
    nemesis_task.await.context("the nemesis task panicked")?;
    ticker.abort();
    let main_phase = epoch.elapsed();

    // Recovery, then the final reads.
    progress.phase("waiting for the cluster to serve again");
    let recovery_deadline = tokio::time::Instant::now() + plan.target.timeouts.recovery;
    let recovered = workloads::wait_for_recovery(
        client.as_ref(),
        plan.workload,
        plan.nodes,
        recovery_deadline,
    )
    .await;
    progress.phase("final reads");
    let reads_deadline = tokio::time::Instant::now()
        + plan
            .target
            .timeouts
            .recovery
            .max(plan.target.timeouts.request * 3);
    let final_reads = workloads::final_reads(
        client.as_ref(),
        plan.workload,
        &done.keys,
        plan.nodes,
        recorder.as_ref(),
        done.next_process,
        reads_deadline,
    )
    .await;
    let _ = sampler_stop_tx.send(true);
    sampling.await.context("the log sampler panicked")?;
    progress.phase("final committed logs");
    sampler::final_samples(&sampler, client.as_ref(), &cluster.supervisor).await;
    let interrupted = *stop.borrow_and_update();
    progress.finish();

    let history_written = history.finish();
    let samples_written = sampler.finish();
    let faults = std::mem::take(&mut *faults.lock().expect("no panics while holding it"));
    Ok(Observations {
        error: None,
        write_errors: [history_written.err(), samples_written.err()]
            .into_iter()
            .flatten()
            .map(|err| err.to_string())
            .collect(),
        interrupted,
        ops: OpCounts {
            invoked: stats.invoked.load(Ordering::Relaxed),
            ok: stats.ok.load(Ordering::Relaxed),
            fail: stats.fail.load(Ordering::Relaxed),
            info: stats.info.load(Ordering::Relaxed),
        },
        final_reads: OpCounts {
            invoked: final_reads.attempted,
            ok: final_reads.ok,
            fail: 0,
            info: 0,
        },
        keys: done.keys.len(),
        faults,
        recovered,
        setup,
        main_phase,
        after_last_op: last_op,
        restarts: sampler.restarts(),
        leader_changes: sampler.leader_changes(),
        time_zero: Some(time_zero),
        replicas_behind: Vec::new(),
    })
}

/// The progress bar (or, with `--quiet` or no terminal, phase lines).
struct Progress {
    bar: ProgressBar,
    quiet: bool,
}

impl Progress {
    fn new(plan: &Plan) -> Self {
        let bar = if plan.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(
                Some(plan.time_limit.as_millis() as u64),
                ProgressDrawTarget::stderr(),
            )
        };
        if !bar.is_hidden() {
            // Log lines (warnings of the nemesis, the proxies, ...) are
            // written around the bar, not through it.
            crate::logging::set_progress_bar(Some(bar.clone()));
        }
        Self {
            bar,
            quiet: plan.quiet,
        }
    }

    fn phase(&self, what: &str) {
        if self.quiet {
            return;
        }
        self.bar.set_message(what.to_owned());
        if self.bar.is_hidden() {
            eprintln!("  {what}");
        }
    }

    /// Starts the main-phase bar and its ticker; abort the ticker when done.
    fn start_main(
        &self,
        plan: &Plan,
        stats: Arc<ClientStats>,
        faults: Arc<Mutex<FaultLog>>,
        epoch: Instant,
    ) -> tokio::task::JoinHandle<()> {
        let bar = self.bar.clone();
        let limit = humantime::format_duration(plan.time_limit).to_string();
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{elapsed_precise}}/{limit} [{{bar:20}}] {{msg}}"
            ))
            .expect("the template is valid")
            .progress_chars("=> "),
        );
        let limit_ms = plan.time_limit.as_millis() as u64;
        tokio::spawn(async move {
            loop {
                let elapsed = epoch.elapsed().as_millis() as u64;
                bar.set_position(elapsed.min(limit_ms));
                let fault = faults
                    .lock()
                    .map(|log| log.current.clone())
                    .unwrap_or_default();
                bar.set_message(format!(
                    "ops {} ok {} fail {} info {}{}",
                    stats.invoked.load(Ordering::Relaxed),
                    stats.ok.load(Ordering::Relaxed),
                    stats.fail.load(Ordering::Relaxed),
                    stats.info.load(Ordering::Relaxed),
                    if fault.is_empty() {
                        String::new()
                    } else {
                        format!(" | {fault}")
                    }
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        crate::logging::set_progress_bar(None);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // A run that ends early (an error, no leader) never calls finish.
        crate::logging::set_progress_bar(None);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::replicas_behind;

    fn view(streams: &[(&str, u64, u64)]) -> Option<serde_json::Value> {
        let detail: Vec<_> = streams
            .iter()
            .map(|(name, messages, last)| {
                json!({"name": name, "state": {"messages": messages, "first_seq": 1, "last_seq": last}})
            })
            .collect();
        Some(json!({"account_details": [{"name": "$G", "stream_detail": detail}]}))
    }

    #[test]
    fn a_node_whose_copy_ends_before_anothers_is_behind_and_silent_nodes_are_left_out() {
        let views = vec![
            ("n1".to_owned(), view(&[("q13", 442, 442), ("q14", 10, 10)])),
            ("n2".to_owned(), view(&[("q13", 179, 179), ("q14", 10, 10)])),
            ("n3".to_owned(), None),
        ];
        let behind = replicas_behind(&views);
        assert_eq!(behind.len(), 1, "{behind:?}");
        assert_eq!(
            (behind[0].node.as_str(), behind[0].stream.as_str()),
            ("n2", "q13")
        );
        assert_eq!(
            (
                behind[0].messages,
                behind[0].last_seq,
                behind[0].stream_last_seq
            ),
            (179, 179, 442)
        );
        assert!(replicas_behind(&views[..1]).is_empty());
    }
}
