//! What the nemesis did during a run, as the summary and the progress bar
//! show it. Written by the main phase, read by the verdict.

use std::collections::BTreeMap;

use nemesis::{Action, NemesisEvent};
use results::RefusedStart;

/// What the nemesis did, for the summary and the progress bar.
#[derive(Debug, Default)]
pub struct FaultLog {
    /// Actions by name (`partition`, `heal`, `kill`, ...).
    pub counts: BTreeMap<String, u64>,
    /// The fault in effect, in words (empty when none).
    pub current: String,
    /// Actions that went wrong on some node.
    pub errors: Vec<String>,
    /// Restarts a node refused (it exited before it became ready).
    pub refused: Vec<RefusedStart>,
}

impl FaultLog {
    /// Counts `event`, keeps its errors and updates the fault in effect.
    pub fn note(&mut self, event: &NemesisEvent) {
        *self.counts.entry(event.f.as_str().to_owned()).or_default() += 1;
        self.errors.extend(event.errors.iter().cloned());
        if event.f == Action::Restart {
            self.refused
                .extend(event.errors.iter().filter_map(|e| refused(e, event.end_ns)));
        }
        self.current = match event.f {
            // A stalled node wakes up still cut off: the partition stays
            // shown until its heal.
            Action::Resume if self.current.starts_with("partition") => self.current.clone(),
            Action::Heal | Action::Resume | Action::Restart => String::new(),
            _ => describe(event),
        };
    }
}

/// A restart error of the form `nN exited (...) before it became ready;
/// last lines of LOG:\n...` as a refusal: the node and the last line of its
/// log (without the timestamp a line may begin with). Other errors: None.
fn refused(error: &str, time_ns: u64) -> Option<RefusedStart> {
    let (node, rest) = error.split_once(' ')?;
    let is_node =
        node.len() > 1 && node.starts_with('n') && node[1..].bytes().all(|b| b.is_ascii_digit());
    if !is_node || !rest.starts_with("exited") || !rest.contains("before it became ready") {
        return None;
    }
    let (head, tail) = rest.split_once('\n').unwrap_or((rest, ""));
    let last = tail.lines().rev().map(str::trim).find(|l| !l.is_empty());
    let reason = match last {
        // `2026-12-06T14:14:46.052020Z ERROR text`: keep the text.
        Some(line) => match line.split_once("Z ") {
            Some((stamp, text)) if stamp.contains('T') && !stamp.contains(' ') => text
                .trim_start_matches(|c: char| c.is_ascii_uppercase())
                .trim_start(),
            _ => line,
        },
        None => head,
    };
    Some(RefusedStart {
        node: node.to_owned(),
        time_ns,
        reason: reason.to_owned(),
    })
}

/// `partition halves [n1 n2]`: the action, its shape or target, its nodes.
fn describe(event: &NemesisEvent) -> String {
    let nodes: Vec<String> = event.nodes.iter().map(ToString::to_string).collect();
    let how = event
        .shape
        .map(|shape| shape.as_str().to_owned())
        .or_else(|| event.target.map(|target| target.as_str().to_owned()))
        .unwrap_or_default();
    format!("{} {how} [{}]", event.f.as_str(), nodes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(f: &str) -> NemesisEvent {
        let json = format!(r#"{{"f":"{f}","nodes":[],"start_ns":0,"end_ns":0}}"#);
        serde_json::from_str(&json).expect("a nemesis event")
    }

    #[test]
    fn a_stalled_node_that_resumes_still_shows_its_partition_until_the_heal() {
        let mut log = FaultLog::default();
        log.note(&event("partition"));
        assert!(log.current.starts_with("partition"), "{:?}", log.current);
        log.note(&event("resume"));
        assert!(log.current.starts_with("partition"), "{:?}", log.current);
        log.note(&event("heal"));
        assert_eq!(log.current, "");
        assert_eq!(log.counts["partition"], 1);
        assert_eq!(log.counts["resume"], 1);
        assert_eq!(log.counts["heal"], 1);
    }

    #[test]
    fn a_restart_a_node_refused_is_kept_with_the_last_line_of_its_log() {
        let mut restart = event("restart");
        restart.end_ns = 7;
        restart.errors = vec![
            "n2 exited (exit status: 1) before it became ready; last lines of /r/nodes/n2.log:\n\
             2026-12-06T14:14:40.464291Z  INFO replayed log\n\
             2026-12-06T14:14:46.052020Z ERROR log file /r/data/n2/raft.wal is damaged at byte 9\n"
                .into(),
            "n3: cannot send SIGKILL: no such process".into(),
        ];
        let mut log = FaultLog::default();
        log.note(&restart);
        assert_eq!(
            log.refused,
            vec![RefusedStart {
                node: "n2".into(),
                time_ns: 7,
                reason: "log file /r/data/n2/raft.wal is damaged at byte 9".into(),
            }]
        );
        assert_eq!(log.errors.len(), 2);
    }
}
