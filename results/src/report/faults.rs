//! Nemesis actions paired into fault intervals: a `partition` lasts until
//! the next `heal`, a `pause` until a `resume` of one of its nodes, a
//! `kill` or a `power` until a `restart` of one of its nodes. The report shades them
//! across the timeline and the plots.

use serde::Serialize;
use serde_json::Value;

use super::history::NemesisAction;

/// One fault, from its action to the action that undid it.
#[derive(Debug, Clone, Serialize)]
pub struct FaultBand {
    /// `partition`, `pause`, `kill`, or another nemesis `f`; `heal`,
    /// `resume`, `restart` for an undo that had nothing to undo (drawn as
    /// a line).
    pub kind: String,
    /// When the fault began (the action's `start_ns`, else its event time).
    pub start: u64,
    /// When it was undone (the undo's `end_ns`); `None`: never, in this history.
    pub end: Option<u64>,
    /// The fault in words: kind, shape or target, nodes.
    pub label: String,
    /// The nodes it touched.
    pub nodes: Vec<String>,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn label(action: &NemesisAction) -> String {
    let value = &action.value;
    let mut words = action.f.clone();
    let how = value
        .get("shape")
        .or_else(|| value.get("target"))
        .and_then(Value::as_str);
    if let Some(how) = how {
        words.push_str(&format!(" ({how})"));
    }
    if let Some(ms) = value.get("delay_ms").and_then(Value::as_u64) {
        // A slowed link, or (0) back to full speed.
        words.push_str(&if ms == 0 {
            " (off)".to_owned()
        } else {
            format!(" ({ms} ms)")
        });
    }
    let groups: Vec<Vec<String>> = value
        .get("groups")
        .and_then(Value::as_array)
        .map(|groups| groups.iter().map(strings).collect())
        .unwrap_or_default();
    let nodes = strings(value.get("nodes").unwrap_or(&Value::Null));
    let links: Vec<String> = value
        .get("links")
        .and_then(Value::as_array)
        .map(|links| {
            links
                .iter()
                .filter_map(|link| {
                    Some(format!(
                        "{}→{}",
                        link.get("from")?.as_str()?,
                        link.get("to")?.as_str()?
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if action.f == "delay" && !links.is_empty() {
        words.push_str(": ");
        words.push_str(&links.join(" "));
    } else if action.f == "partition" && !groups.is_empty() {
        let parts: Vec<String> = groups.iter().map(|g| g.join(" ")).collect();
        words.push_str(": ");
        words.push_str(&parts.join(" | "));
    } else if !nodes.is_empty() {
        words.push_str(": ");
        words.push_str(&nodes.join(" "));
    } else if !value.is_null() && !value.is_object() {
        // Another tool's nemesis value: show it as it is.
        words.push_str(": ");
        words.push_str(&value.to_string());
    }
    if let Some(dropped) = value.get("dropped").and_then(Value::as_object) {
        // What each node lost: `n1 -4096 B in 1 file`.
        let lost: Vec<String> = dropped
            .iter()
            .map(|(node, loss)| {
                let bytes = loss.get("bytes").and_then(Value::as_u64).unwrap_or(0);
                let files = loss.get("files").and_then(Value::as_u64).unwrap_or(0);
                let plural = if files == 1 { "" } else { "s" };
                format!("{node} {bytes} B in {files} file{plural}")
            })
            .collect();
        words.push_str(&format!(" (unsynced lost: {})", lost.join(", ")));
    }
    if action.f == "corrupt" {
        if let (Some(path), Some(kind)) = (
            value.get("path").and_then(Value::as_str),
            value.get("kind").and_then(Value::as_str),
        ) {
            let offset = value.get("offset").and_then(Value::as_u64).unwrap_or(0);
            let length = value.get("length").and_then(Value::as_u64).unwrap_or(0);
            words.push_str(&format!(" ({kind} {path} at {offset}, {length} B)"));
        }
    }
    let errors = strings(value.get("errors").unwrap_or(&Value::Null));
    if !errors.is_empty() {
        words.push_str(&format!(" (errors: {})", errors.join("; ")));
    }
    words
}

fn time_of(action: &NemesisAction, field: &str) -> u64 {
    action
        .value
        .get(field)
        .and_then(Value::as_u64)
        .unwrap_or(action.time)
}

/// The fault each action undoes: `heal` -> `partition`, ...
fn undoes(f: &str) -> Option<&'static str> {
    match f {
        "heal" => Some("partition"),
        "resume" => Some("pause"),
        "restart" => Some("kill"),
        _ => None,
    }
}

/// Pairs `actions` (in history order) into bands, sorted by start.
#[must_use]
pub fn bands(actions: &[NemesisAction]) -> Vec<FaultBand> {
    let mut out: Vec<FaultBand> = Vec::new();
    for action in actions {
        let nodes = strings(action.value.get("nodes").unwrap_or(&Value::Null));
        if let Some(fault) = undoes(&action.f) {
            let end = time_of(action, "end_ns");
            let mut closed = false;
            // A restart also ends a power loss.
            let undone = |kind: &str| kind == fault || (fault == "kill" && kind == "power");
            for band in out
                .iter_mut()
                .filter(|b| undone(&b.kind) && b.end.is_none())
            {
                // A heal heals every link; a resume or restart undoes the
                // faults on the nodes it names (all of them if it names none).
                let touches = fault == "partition"
                    || nodes.is_empty()
                    || band.nodes.is_empty()
                    || band.nodes.iter().any(|n| nodes.contains(n));
                if touches {
                    band.end = Some(end.max(band.start));
                    closed = true;
                }
            }
            if !closed {
                out.push(FaultBand {
                    kind: action.f.clone(),
                    start: time_of(action, "start_ns"),
                    end: Some(end),
                    label: label(action),
                    nodes,
                });
            }
            continue;
        }
        let start = time_of(action, "start_ns");
        let instant = !matches!(action.f.as_str(), "partition" | "pause" | "kill" | "power");
        out.push(FaultBand {
            kind: action.f.clone(),
            start,
            end: instant.then(|| time_of(action, "end_ns").max(start)),
            label: label(action),
            nodes,
        });
    }
    out.sort_by_key(|band| band.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(time: u64, f: &str, value: Value) -> NemesisAction {
        NemesisAction {
            time,
            f: f.into(),
            value,
        }
    }

    #[test]
    fn faults_last_until_their_undo_and_name_their_nodes() {
        let actions = [
            action(
                10,
                "partition",
                json!({"f":"partition","shape":"leader","groups":[["n3"],["n1","n2"]],"nodes":["n1","n2","n3"],"start_ns":9,"end_ns":10}),
            ),
            action(
                20,
                "kill",
                json!({"nodes":["n2"],"start_ns":19,"end_ns":20}),
            ),
            action(
                30,
                "heal",
                json!({"nodes":["n1","n2","n3"],"start_ns":29,"end_ns":30}),
            ),
            action(
                40,
                "restart",
                json!({"nodes":["n2"],"start_ns":39,"end_ns":41}),
            ),
            action(
                50,
                "pause",
                json!({"target":"one","nodes":["n1"],"start_ns":50,"end_ns":50}),
            ),
        ];
        let bands = bands(&actions);
        assert_eq!(bands.len(), 3);
        assert_eq!(bands[0].label, "partition (leader): n3 | n1 n2");
        assert_eq!((bands[0].start, bands[0].end), (9, Some(30)));
        assert_eq!((bands[1].start, bands[1].end), (19, Some(41)));
        assert_eq!(bands[2].end, None, "never resumed");
        assert_eq!(bands[2].label, "pause (one): n1");
    }

    #[test]
    fn a_power_loss_lasts_until_the_restart_and_says_what_each_node_lost() {
        let actions = [
            action(
                10,
                "power",
                json!({"f":"power","target":"all","nodes":["n1","n2"],"dropped":{"n1":{"files":1,"bytes":4096},"n2":{"files":2,"bytes":10}},"start_ns":9,"end_ns":10}),
            ),
            action(
                30,
                "restart",
                json!({"nodes":["n1","n2"],"start_ns":29,"end_ns":31}),
            ),
            action(
                40,
                "corrupt",
                json!({"f":"corrupt","target":"one","nodes":["n2"],"node":"n2","path":"raft.wal","offset":77,"length":1,"kind":"bitflip","start_ns":40,"end_ns":41}),
            ),
        ];
        let bands = bands(&actions);
        assert_eq!(bands.len(), 2);
        assert_eq!((bands[0].start, bands[0].end), (9, Some(31)));
        assert_eq!(
            bands[0].label,
            "power (all): n1 n2 (unsynced lost: n1 4096 B in 1 file, n2 10 B in 2 files)"
        );
        assert_eq!(bands[1].end, Some(41), "a corruption is an instant");
        assert_eq!(
            bands[1].label,
            "corrupt (one): n2 (bitflip raft.wal at 77, 1 B)"
        );
    }

    #[test]
    fn a_delay_names_its_links_and_latency_and_is_an_instant() {
        let links = json!([{"from":"n1","to":"n3"},{"from":"n3","to":"n1"}]);
        let actions = [
            action(
                5,
                "delay",
                json!({"f":"delay","nodes":["n1","n3"],"links":links,"delay_ms":100,"start_ns":5,"end_ns":5}),
            ),
            action(
                9,
                "delay",
                json!({"f":"delay","nodes":["n1","n3"],"links":links,"delay_ms":0,"start_ns":9,"end_ns":9}),
            ),
        ];
        let bands = bands(&actions);
        assert_eq!(bands[0].label, "delay (100 ms): n1→n3 n3→n1");
        assert_eq!(bands[1].label, "delay (off): n1→n3 n3→n1");
        assert_eq!(bands[0].end, Some(5), "an instant, not a band");
    }
}
