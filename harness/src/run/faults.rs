//! What the nemesis did during a run, as the summary and the progress bar
//! show it. Written by the main phase, read by the verdict.

use std::collections::BTreeMap;

use nemesis::{Action, NemesisEvent};

/// What the nemesis did, for the summary and the progress bar.
#[derive(Debug, Default)]
pub struct FaultLog {
    /// Actions by name (`partition`, `heal`, `kill`, ...).
    pub counts: BTreeMap<String, u64>,
    /// The fault in effect, in words (empty when none).
    pub current: String,
    /// Actions that went wrong on some node.
    pub errors: Vec<String>,
}

impl FaultLog {
    /// Counts `event`, keeps its errors and updates the fault in effect.
    pub fn note(&mut self, event: &NemesisEvent) {
        *self.counts.entry(event.f.as_str().to_owned()).or_default() += 1;
        self.errors.extend(event.errors.iter().cloned());
        self.current = match event.f {
            // A stalled node wakes up still cut off: the partition stays
            // shown until its heal.
            Action::Resume if self.current.starts_with("partition") => self.current.clone(),
            Action::Heal | Action::Resume | Action::Restart => String::new(),
            _ => describe(event),
        };
    }
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
}
