//! Committed entries are never rolled back, seen from the nodes (docs/design.md,
//! "Checks"): the samples of each node's committed log in `raftlog.jsonl`.
//!
//! The harness lists each node's committed entries (`GET /log` of the node
//! protocol: index, term, digest, up to the node's commit index) during the
//! run, after every restart, and once more after the final heal and
//! recovery, one [`LogSample`] per line. Rules:
//!
//! - one index never shows two different `(term, digest)` pairs: across
//!   nodes that is a [`Divergence`](AnomalyKind::Divergence); on one node
//!   at two times it is a [`Rollback`](AnomalyKind::Rollback) (the node
//!   replaced an entry it had listed as committed);
//! - a node's commit index never goes down between two samples, unless the
//!   later one is the first after a restart (a node that does not persist
//!   its commit index may come back lower; the entries it lists must still
//!   agree): else a rollback;
//! - in the final samples, a node whose commit index reaches an index seen
//!   committed lists it, and some node's final commit index reaches the
//!   highest index ever seen committed: else a rollback (committed entries
//!   lost).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::anomalies::report::{bump, show_time, AnomalyKind, AnomalyReport, Finding};
use crate::error::Result;
use crate::lines::read_json_lines;

/// One committed log entry as a node lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogEntry {
    /// The log index, from 1.
    pub index: u64,
    /// The term the entry was created in.
    pub term: u64,
    /// A string identifying the command (raftkv: FNV-1a 64 of its bytes, in hex).
    pub digest: String,
}

/// One sample of one node's committed log: a line of `raftlog.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSample {
    /// When the sample was taken, in ns since the test started.
    pub time: u64,
    /// The node sampled: `n1`, `n2`, ...
    pub node: String,
    /// The node's commit index at the sample.
    pub commit_index: u64,
    /// The first index asked for; entries before it were not listed.
    pub from: u64,
    /// The committed entries listed, ascending: a window from `from` to the
    /// last one listed (which may stop before `commit_index`, except in a
    /// final sample).
    pub entries: Vec<LogEntry>,
    /// The first sample after the node (re)started.
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
    /// Taken after the final heal and recovery: lists every entry from
    /// `from` (normally 1) to `commit_index`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub final_sample: bool,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

/// Reads `raftlog.jsonl`: one [`LogSample`] per line, blank lines skipped.
/// Returns the samples and warnings: a torn last line (no newline at the end
/// and not valid JSON: the writer died mid-line) is dropped with a warning.
///
/// # Errors
/// [`Error::BadLine`](crate::Error::BadLine) naming `source_name` and the
/// line for any other line that is not a sample.
pub fn read_samples(text: &str, source_name: &str) -> Result<(Vec<LogSample>, Vec<String>)> {
    read_json_lines(
        text,
        source_name,
        "a log sample (JSON object with time, node, commit_index, from, entries)",
    )
}

/// Where and when an entry was listed.
#[derive(Debug, Clone, Copy)]
struct Listing<'a> {
    term: u64,
    digest: &'a str,
    node: &'a str,
    time: u64,
}

impl Listing<'_> {
    fn same_entry(&self, entry: &LogEntry) -> bool {
        self.term == entry.term && self.digest == entry.digest
    }

    fn words(&self) -> String {
        format!(
            "term {}, digest {} (on {} at {})",
            self.term,
            self.digest,
            self.node,
            show_time(self.time)
        )
    }

    fn json(&self, index: u64) -> Value {
        json!({"index": index, "term": self.term, "digest": self.digest, "node": self.node, "time": self.time})
    }
}

/// What the samples so far say about one node.
#[derive(Default)]
struct NodeView<'a> {
    /// The entry the node last listed at each index.
    listed: HashMap<u64, Listing<'a>>,
    /// The commit index of its latest sample, and that sample's time.
    last_commit: Option<(u64, u64)>,
    /// Its latest final sample.
    final_sample: Option<&'a LogSample>,
}

/// The highest index some node showed as committed.
#[derive(Clone, Copy)]
struct Highest<'a> {
    index: u64,
    node: &'a str,
    time: u64,
}

/// Checks log samples for committed entries that diverge, are overwritten
/// or disappear.
pub fn check_raftlog(samples: &[LogSample]) -> AnomalyReport {
    let mut order: Vec<&LogSample> = samples.iter().collect();
    // Stable: samples taken at the same instant keep their file order.
    order.sort_by_key(|sample| sample.time);

    let mut found = Vec::new();
    let mut unjudged = Vec::new();
    let mut first_listing: BTreeMap<u64, Listing> = BTreeMap::new();
    // Entries already named in an anomaly, so each divergence is reported
    // once, and never again for an entry a node overwrote its own with.
    let mut named: HashSet<(u64, u64, &str)> = HashSet::new();
    // Overwrites already reported, per node.
    let mut overwrites: HashSet<(&str, u64, u64, &str)> = HashSet::new();
    let mut nodes: BTreeMap<&str, NodeView> = BTreeMap::new();
    let mut highest: Option<Highest> = None;
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();

    for sample in order {
        let node = sample.node.as_str();
        let view = nodes.entry(node).or_default();
        bump(&mut stats, "samples", 1);
        bump(&mut stats, "entries_listed", sample.entries.len() as u64);
        bump(&mut stats, "restarts", u64::from(sample.restart));

        if let Some((before, before_time)) = view.last_commit {
            if sample.commit_index < before && !sample.restart {
                found.push(Finding::at_time(
                    AnomalyKind::Rollback,
                    sample.time,
                    vec![
                        json!({"node": node, "commit_index": before, "time": before_time}),
                        json!({"node": node, "commit_index": sample.commit_index, "time": sample.time}),
                    ],
                    format!(
                        "{node}'s commit index went down from {before} (sample at {}) to {} (sample at {}) \
                         without a restart in between: it took back entries {}..={before} it had reported committed.",
                        show_time(before_time),
                        sample.commit_index,
                        show_time(sample.time),
                        sample.commit_index + 1,
                    ),
                ));
            }
        }
        view.last_commit = Some((sample.commit_index, sample.time));
        if sample.final_sample {
            view.final_sample = Some(sample);
        }

        let claimed = sample
            .entries
            .iter()
            .map(|entry| entry.index)
            .max()
            .unwrap_or(0)
            .max(sample.commit_index);
        if highest.is_none_or(|h| claimed > h.index) {
            highest = Some(Highest {
                index: claimed,
                node,
                time: sample.time,
            });
        }

        for entry in &sample.entries {
            let here = Listing {
                term: entry.term,
                digest: &entry.digest,
                node,
                time: sample.time,
            };
            let index = entry.index;
            let own = view.listed.insert(index, here);
            if let Some(own) = own.filter(|own| !own.same_entry(entry)) {
                named.insert((index, entry.term, &entry.digest));
                if overwrites.insert((node, index, entry.term, &entry.digest)) {
                    found.push(Finding::at_time(
                        AnomalyKind::Rollback,
                        sample.time,
                        vec![own.json(index), here.json(index)],
                        format!(
                            "{node} listed index {index} as committed with {}, then with {}: \
                             it replaced an entry it had listed as committed.",
                            own.words(),
                            here.words()
                        ),
                    ));
                }
                continue;
            }
            match first_listing.get(&index) {
                None => {
                    first_listing.insert(index, here);
                }
                Some(first) if !first.same_entry(entry) => {
                    if named.insert((index, entry.term, &entry.digest)) {
                        found.push(Finding::at_time(
                            AnomalyKind::Divergence,
                            sample.time,
                            vec![first.json(index), here.json(index)],
                            format!(
                                "index {index} was listed as committed with {}, and with {}: \
                                 two different entries committed at one index.",
                                first.words(),
                                here.words()
                            ),
                        ));
                    }
                }
                Some(_) => {}
            }
        }
    }

    stats.insert("nodes".to_string(), nodes.len() as u64);
    if samples.is_empty() {
        unjudged.push("no log samples: nothing to judge".to_string());
    }
    let finals: Vec<(&str, &LogSample)> = nodes
        .iter()
        .filter_map(|(node, view)| view.final_sample.map(|sample| (*node, sample)))
        .collect();
    stats.insert("final_samples".to_string(), finals.len() as u64);
    if let Some(highest) = highest {
        stats.insert("highest_committed".to_string(), highest.index);
    }
    if finals.is_empty() {
        if !samples.is_empty() {
            unjudged.push(
                "no final samples: cannot tell whether committed entries survived the final recovery"
                    .to_string(),
            );
        }
    } else {
        check_finals(&finals, &first_listing, highest, &mut found, &mut stats);
    }
    AnomalyReport::build("raftlog", found, unjudged, stats)
}

/// The final samples list every index seen committed up to their commit
/// index, and reach the highest index seen committed.
fn check_finals(
    finals: &[(&str, &LogSample)],
    first_listing: &BTreeMap<u64, Listing>,
    highest: Option<Highest>,
    found: &mut Vec<Finding>,
    stats: &mut BTreeMap<String, u64>,
) {
    for &(node, sample) in finals {
        let listed: HashSet<u64> = sample.entries.iter().map(|entry| entry.index).collect();
        let from = sample.from.max(1);
        if from > sample.commit_index {
            continue;
        }
        let missing: Vec<(u64, &Listing)> = first_listing
            .range(from..=sample.commit_index)
            .filter(|(index, _)| !listed.contains(index))
            .map(|(index, listing)| (*index, listing))
            .collect();
        if let Some(&(index, listing)) = missing.first() {
            let more = match missing.len() {
                1 => String::new(),
                n => format!(" ({n} such indexes in all)"),
            };
            found.push(Finding::at_time(
                AnomalyKind::Rollback,
                sample.time,
                missing.iter().take(100).map(|(i, l)| l.json(*i)).collect(),
                format!(
                    "{node}'s final sample (at {}) has commit index {} but does not list index {index}, \
                     which was listed as committed with {}{more}.",
                    show_time(sample.time),
                    sample.commit_index,
                    listing.words()
                ),
            ));
        }
    }

    let final_max = finals
        .iter()
        .map(|(_, s)| s.commit_index)
        .max()
        .unwrap_or(0);
    let final_min = finals
        .iter()
        .map(|(_, s)| s.commit_index)
        .min()
        .unwrap_or(0);
    stats.insert("final_commit_max".to_string(), final_max);
    stats.insert("final_commit_min".to_string(), final_min);
    let Some(highest) = highest.filter(|h| h.index > final_max) else {
        return;
    };
    let last_final = finals.iter().map(|(_, s)| s.time).max().unwrap_or(0);
    let per_node: Vec<String> = finals
        .iter()
        .map(|(node, sample)| format!("{node}: {}", sample.commit_index))
        .collect();
    found.push(Finding::at_time(
        AnomalyKind::Rollback,
        last_final,
        vec![json!({"index": highest.index, "node": highest.node, "time": highest.time, "final_commit_max": final_max})],
        format!(
            "index {} was committed ({} showed it at {}), but after the final recovery the highest \
             commit index is {final_max} ({}): committed entries {}..={} were lost.",
            highest.index,
            highest.node,
            show_time(highest.time),
            per_node.join(", "),
            final_max + 1,
            highest.index
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    /// A sample from `(time, node, commit_index, [(index, term, digest)])`,
    /// listing from index 1.
    fn sample(time: u64, node: &str, commit_index: u64, entries: &[(u64, u64, &str)]) -> LogSample {
        LogSample {
            time,
            node: node.to_string(),
            commit_index,
            from: 1,
            entries: entries
                .iter()
                .map(|&(index, term, digest)| LogEntry {
                    index,
                    term,
                    digest: digest.to_string(),
                })
                .collect(),
            restart: false,
            final_sample: false,
        }
    }

    fn restarted(mut s: LogSample) -> LogSample {
        s.restart = true;
        s
    }

    fn last(mut s: LogSample) -> LogSample {
        s.final_sample = true;
        s
    }

    fn kinds(report: &AnomalyReport) -> Vec<AnomalyKind> {
        report.anomalies.iter().map(|a| a.kind).collect()
    }

    const AB: &[(u64, u64, &str)] = &[(1, 1, "a"), (2, 1, "b")];

    #[test]
    fn agreeing_growing_logs_are_valid() {
        let samples = vec![
            sample(10, "n1", 1, &AB[..1]),
            sample(20, "n2", 2, AB),
            // A window from index 2 only.
            LogSample {
                from: 2,
                ..sample(30, "n3", 2, &AB[1..])
            },
            last(sample(40, "n1", 2, AB)),
            last(sample(40, "n2", 2, AB)),
            last(sample(40, "n3", 2, AB)),
        ];
        let report = check_raftlog(&samples);
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.stats["samples"], 6);
        assert_eq!(report.stats["highest_committed"], 2);
    }

    #[test]
    fn anomalies_in_samples() {
        // Table: (samples, expected anomalies, why).
        let cases: Vec<(Vec<LogSample>, Vec<AnomalyKind>, &str)> = vec![
            (
                vec![
                    sample(10, "n1", 2, AB),
                    sample(20, "n2", 2, &[(1, 1, "a"), (2, 2, "c")]),
                    last(sample(30, "n1", 2, AB)),
                ],
                vec![AnomalyKind::Divergence],
                "n1 and n2 list different entries at index 2",
            ),
            (
                vec![
                    sample(10, "n1", 2, AB),
                    sample(20, "n1", 2, &[(1, 1, "a"), (2, 2, "c")]),
                    last(sample(30, "n2", 2, &[(1, 1, "a"), (2, 2, "c")])),
                ],
                vec![AnomalyKind::Rollback],
                "n1 overwrote its own committed index 2 (n2 agreeing with the new entry is not a second anomaly)",
            ),
            (
                vec![
                    sample(10, "n1", 2, AB),
                    sample(20, "n1", 1, &AB[..1]),
                    last(sample(30, "n2", 2, AB)),
                ],
                vec![AnomalyKind::Rollback],
                "n1's commit index went down without a restart",
            ),
            (
                vec![
                    sample(10, "n1", 2, AB),
                    restarted(sample(20, "n1", 1, &AB[..1])),
                    last(sample(30, "n1", 2, AB)),
                ],
                vec![],
                "a lower commit index right after a restart is tolerated",
            ),
            (
                vec![
                    sample(10, "n1", 2, AB),
                    restarted(sample(20, "n1", 2, &[(1, 1, "a"), (2, 3, "z")])),
                    last(sample(30, "n1", 2, &[(1, 1, "a"), (2, 3, "z")])),
                ],
                vec![AnomalyKind::Rollback],
                "a restart does not excuse replacing a committed entry",
            ),
            (
                vec![
                    sample(10, "n1", 2, AB),
                    last(sample(30, "n1", 1, &AB[..1])),
                    last(sample(30, "n2", 1, &AB[..1])),
                ],
                vec![AnomalyKind::Rollback, AnomalyKind::Rollback],
                "n1 went down (no restart) and no final sample reaches index 2: entries lost",
            ),
            (
                vec![
                    sample(10, "n1", 2, AB),
                    last(restarted(sample(30, "n1", 1, &AB[..1]))),
                    last(restarted(sample(30, "n2", 1, &AB[..1]))),
                ],
                vec![AnomalyKind::Rollback],
                "after restarts the whole cluster ends below index 2: entries lost",
            ),
            (
                vec![
                    sample(10, "n1", 2, AB),
                    last(sample(30, "n1", 2, &AB[..1])),
                ],
                vec![AnomalyKind::Rollback],
                "a final sample claims commit index 2 but does not list index 2",
            ),
        ];
        for (samples, expected, why) in cases {
            let report = check_raftlog(&samples);
            assert_eq!(kinds(&report), expected, "{why}: {report:#?}");
        }
    }

    #[test]
    fn divergence_names_index_nodes_terms_digests_and_times() {
        let samples = vec![
            sample(1_000_000_000, "n1", 2, AB),
            sample(2_500_000_000, "n3", 2, &[(1, 1, "a"), (2, 2, "c")]),
        ];
        let report = check_raftlog(&samples);
        let divergence = &report.anomalies[0];
        assert_eq!(divergence.kind, AnomalyKind::Divergence);
        assert_eq!(divergence.time, Some(2_500_000_000));
        assert!(divergence.ops.is_empty());
        assert_eq!(
            divergence.explanation,
            "index 2 was listed as committed with term 1, digest b (on n1 at t=1.000 s), and with \
             term 2, digest c (on n3 at t=2.500 s): two different entries committed at one index."
        );
    }

    #[test]
    fn lost_entries_name_the_highest_index_and_final_commit_indexes() {
        let samples = vec![
            sample(10, "n2", 7, &[]),
            last(sample(50, "n1", 5, &[])),
            last(sample(50, "n2", 4, &[])),
        ];
        let report = check_raftlog(&samples);
        let lost = report
            .of_kind(AnomalyKind::Rollback)
            .find(|a| a.explanation.contains("were lost"))
            .expect("a lost-entries rollback");
        assert!(
            lost.explanation
                .contains("index 7 was committed (n2 showed it")
                && lost.explanation.contains("(n1: 5, n2: 4)")
                && lost.explanation.contains("entries 6..=7 were lost"),
            "{}",
            lost.explanation
        );
    }

    #[test]
    fn no_samples_or_no_final_samples_is_unknown() {
        let report = check_raftlog(&[]);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.reason.unwrap().contains("no log samples"));
        let report = check_raftlog(&[sample(10, "n1", 2, AB)]);
        assert_eq!(report.verdict, Verdict::Unknown);
        assert!(report.reason.unwrap().contains("no final samples"));
    }

    #[test]
    fn samples_round_trip_and_torn_last_line_is_a_warning() {
        let samples = vec![
            sample(10, "n1", 2, AB),
            last(restarted(sample(20, "n2", 0, &[]))),
        ];
        let mut text: String = samples
            .iter()
            .map(|s| serde_json::to_string(s).unwrap() + "\n")
            .collect();
        assert!(text.contains(r#""final_sample":true"#) && text.contains(r#""restart":true"#));
        text.push_str("\n{\"time\":30,\"no");
        let (read, warnings) = read_samples(&text, "raftlog.jsonl").unwrap();
        assert_eq!(read, samples);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("raftlog.jsonl:4:"), "{warnings:?}");
    }

    #[test]
    fn malformed_middle_line_names_file_and_line() {
        let text = "{\"time\":1,\"node\":\"n1\",\"commit_index\":0,\"from\":1,\"entries\":[]}\n{\"time\":2}\n{\"time\":3,\"node\":\"n1\",\"commit_index\":0,\"from\":1,\"entries\":[]}\n";
        let err = read_samples(text, "raftlog.jsonl").unwrap_err().to_string();
        assert!(err.starts_with("raftlog.jsonl:2:"), "{err}");
    }
}
