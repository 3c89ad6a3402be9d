//! The data the page's script draws the timeline from: ops as columns
//! (one array per field, so 100,000 ops parse fast and weigh a few MB),
//! string tables for keys, nodes, functions and errors, lanes, fault bands
//! and the failures the verdict can jump to. Embedded as JSON by
//! [`super::html::script_json`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::faults::FaultBand;
use super::history::{Clock, Ending, Recorded, ReportOp};

/// Up to this many client processes, each gets its own lane; beyond it,
/// processes whose lifetimes never overlap share one (a crashed process's
/// successor, Jepsen's "thread").
pub const MAX_PROCESS_LANES: usize = 48;
/// Histories up to this long keep nanoseconds in the page's data.
const FINE_CLOCK_UP_TO_NS: u64 = 10_000_000_000;
/// Characters of a value kept for the hover text.
const VALUE_CHARS: usize = 120;

/// Something the verdict names, that the timeline can zoom to.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The check that found it.
    pub check: String,
    /// Its kind (`stale-read`, `lost-write`, ...) or `violation`.
    pub kind: String,
    /// The key, when it is about one.
    pub key: Option<String>,
    /// The ops it names (ids); the first is the one to center on.
    pub ops: Vec<u64>,
    /// When it became observable, on the history's clock (ns), if known.
    pub time: Option<u64>,
    /// One line for the button.
    pub label: String,
    /// The check's explanation, shown when the timeline jumps to it.
    pub explanation: String,
}

/// Interns strings into a table and hands out their positions.
#[derive(Default)]
struct Table {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Table {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct strings");
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

/// The ops as columns; index i of every array is op i.
#[derive(Debug, Default, Serialize)]
struct Columns {
    id: Vec<u64>,
    lane: Vec<u32>,
    p: Vec<u64>,
    /// Invoke time (in `unit_ns`, or event position).
    s: Vec<u64>,
    /// Completion time; -1 when none.
    e: Vec<i64>,
    /// 0 ok, 1 fail, 2 info, 3 no completion.
    o: Vec<u8>,
    f: Vec<u32>,
    k: Vec<u32>,
    /// Node; -1 when unknown.
    n: Vec<i64>,
    /// Error; -1 when none.
    err: Vec<i64>,
    /// Invoke value, as JSON text (empty for null).
    iv: Vec<String>,
    /// Completion value (empty for null).
    ov: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Band {
    kind: String,
    s: u64,
    /// -1: never undone in this history.
    e: i64,
    label: String,
}

#[derive(Debug, Serialize)]
struct FailureData {
    check: String,
    kind: String,
    key: Option<String>,
    ops: Vec<u64>,
    /// When it became observable (in `unit_ns`, or event position), if known.
    time: Option<u64>,
    label: String,
    explanation: String,
}

/// Everything the script reads.
#[derive(Debug, Serialize)]
pub struct PageData {
    /// `ns` (times count `unit_ns` nanoseconds since the test started) or
    /// `events`.
    clock: &'static str,
    /// Nanoseconds per time unit: 1 for histories up to 10 s, else 1000
    /// (µs are plenty for ops that take a millisecond, and keep the data small).
    unit_ns: u64,
    /// The end of the history, same unit.
    end: u64,
    keys: Vec<String>,
    nodes: Vec<String>,
    fs: Vec<String>,
    errors: Vec<String>,
    lanes: Vec<String>,
    ops: Columns,
    bands: Vec<Band>,
    failures: Vec<FailureData>,
}

/// Text of a JSON value, cut for hover text; empty for null.
#[must_use]
pub fn short_value(value: &Value, limit: usize) -> String {
    if value.is_null() {
        return String::new();
    }
    let text = value.to_string();
    match text.char_indices().nth(limit) {
        Some((at, _)) => format!("{}… ({} chars)", &text[..at], text.chars().count()),
        None => text,
    }
}

/// Assigns a lane to every op; returns (lane per op, lane labels).
fn lanes(ops: &[ReportOp], end: u64) -> (Vec<u32>, Vec<String>) {
    let mut life: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for op in ops {
        let until = op.ret.unwrap_or(end).max(op.call);
        let entry = life.entry(op.process).or_insert((op.call, until));
        entry.0 = entry.0.min(op.call);
        // An op with no completion keeps its process busy to the end.
        entry.1 = entry.1.max(if op.ending == Ending::Open {
            end
        } else {
            until
        });
    }
    let mut lane_of: HashMap<u64, u32> = HashMap::new();
    let mut labels: Vec<Vec<u64>> = Vec::new();
    if life.len() <= MAX_PROCESS_LANES {
        for (lane, process) in life.keys().enumerate() {
            lane_of.insert(*process, lane as u32);
            labels.push(vec![*process]);
        }
    } else {
        // Interval colouring, earliest start first: a lane is reused once
        // the process on it is done (greedy is optimal for intervals).
        let mut by_start: Vec<(u64, u64, u64)> =
            life.iter().map(|(p, (s, e))| (*s, *e, *p)).collect();
        by_start.sort_unstable();
        let mut free: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
        for (start, until, process) in by_start {
            let lane = match free.peek() {
                Some(Reverse((free_at, lane))) if *free_at < start => {
                    let lane = *lane;
                    free.pop();
                    lane
                }
                _ => {
                    labels.push(Vec::new());
                    (labels.len() - 1) as u32
                }
            };
            labels[lane as usize].push(process);
            lane_of.insert(process, lane);
            free.push(Reverse((until, lane)));
        }
    }
    // Lanes in order of their lowest process, so process 0 comes first.
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by_key(|&lane| labels[lane].iter().min().copied());
    let mut renumber = vec![0u32; labels.len()];
    for (new, &old) in order.iter().enumerate() {
        renumber[old] = new as u32;
    }
    let labels: Vec<Vec<u64>> = order
        .iter()
        .map(|&old| std::mem::take(&mut labels[old]))
        .collect();
    let lane_per_op = ops
        .iter()
        .map(|op| renumber[lane_of[&op.process] as usize])
        .collect();
    let labels = labels
        .into_iter()
        .map(|processes| match processes.as_slice() {
            [one] => format!("process {one}"),
            many => {
                let shown: Vec<String> = many.iter().take(3).map(|p| format!("p{p}")).collect();
                let more = many.len().saturating_sub(3);
                if more > 0 {
                    format!("{} +{more}", shown.join(" "))
                } else {
                    shown.join(" ")
                }
            }
        })
        .collect();
    (lane_per_op, labels)
}

/// Builds the page's data from the history, its fault bands and failures.
#[must_use]
pub fn build(recorded: &Recorded, bands: &[FaultBand], failures: &[Failure]) -> PageData {
    let unit_ns = match recorded.clock {
        Clock::Nanos if recorded.end > FINE_CLOCK_UP_TO_NS => 1_000,
        _ => 1,
    };
    let unit = |t: u64| t / unit_ns;
    let mut keys = Table::default();
    let mut nodes = Table::default();
    let mut fs = Table::default();
    let mut errors = Table::default();
    let (lane, lane_labels) = lanes(&recorded.ops, recorded.end);
    let n = recorded.ops.len();
    let mut c = Columns {
        lane,
        id: Vec::with_capacity(n),
        p: Vec::with_capacity(n),
        s: Vec::with_capacity(n),
        e: Vec::with_capacity(n),
        o: Vec::with_capacity(n),
        f: Vec::with_capacity(n),
        k: Vec::with_capacity(n),
        n: Vec::with_capacity(n),
        err: Vec::with_capacity(n),
        iv: Vec::with_capacity(n),
        ov: Vec::with_capacity(n),
    };
    // Keys sorted, so the key filter's list reads naturally.
    let mut sorted_keys: Vec<&str> = recorded.ops.iter().map(|op| op.key.as_str()).collect();
    sorted_keys.sort_unstable();
    sorted_keys.dedup();
    for key in sorted_keys {
        keys.id(key);
    }
    for op in &recorded.ops {
        c.id.push(op.id);
        c.p.push(op.process);
        c.s.push(unit(op.call));
        c.e.push(op.ret.map_or(-1, |r| unit(r) as i64));
        c.o.push(op.ending.code());
        c.f.push(fs.id(&op.f));
        c.k.push(keys.id(&op.key));
        c.n.push(
            op.node
                .as_deref()
                .map_or(-1, |node| i64::from(nodes.id(node))),
        );
        c.err
            .push(op.error.as_deref().map_or(-1, |e| i64::from(errors.id(e))));
        c.iv.push(short_value(&op.input, VALUE_CHARS));
        c.ov.push(if op.ending == Ending::Ok {
            short_value(&op.output, VALUE_CHARS)
        } else {
            String::new()
        });
    }
    let mut node_names = nodes.names;
    for band in bands {
        for node in &band.nodes {
            if !node_names.contains(node) {
                node_names.push(node.clone());
            }
        }
    }
    // Node ids index the table as built; only names added after it are new.
    let bands = bands
        .iter()
        .map(|band| Band {
            kind: band.kind.clone(),
            s: unit(band.start),
            e: band.end.map_or(-1, |e| unit(e) as i64),
            label: band.label.clone(),
        })
        .collect();
    let failures = failures
        .iter()
        .map(|f| FailureData {
            check: f.check.clone(),
            kind: f.kind.clone(),
            key: f.key.clone(),
            ops: f.ops.clone(),
            time: f.time.map(unit),
            label: f.label.clone(),
            explanation: f.explanation.clone(),
        })
        .collect();
    PageData {
        clock: match recorded.clock {
            Clock::Nanos => "ns",
            Clock::Events => "events",
        },
        unit_ns,
        end: unit(recorded.end),
        keys: keys.names,
        nodes: node_names,
        fs: fs.names,
        errors: errors.names,
        lanes: lane_labels,
        ops: c,
        bands,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, process: u64, call: u64, ret: Option<u64>) -> ReportOp {
        ReportOp {
            id,
            process,
            f: "read".into(),
            key: "k".into(),
            node: None,
            call,
            ret,
            ending: if ret.is_some() {
                Ending::Ok
            } else {
                Ending::Open
            },
            input: Value::Null,
            output: Value::Null,
            error: None,
        }
    }

    #[test]
    fn one_lane_per_process_when_few() {
        let ops = [op(0, 7, 0, Some(5)), op(1, 3, 1, Some(2))];
        let (lanes, labels) = lanes(&ops, 10);
        assert_eq!(labels, ["process 3", "process 7"]);
        assert_eq!(lanes, [1, 0]);
        assert_eq!(labels.len(), 2);
    }

    #[test]
    fn many_processes_share_lanes_without_overlapping() {
        // 100 processes one after another, two at a time: two lanes.
        let ops: Vec<ReportOp> = (0..100u64)
            .map(|p| op(p, p, (p / 2) * 10, Some((p / 2) * 10 + 5)))
            .collect();
        let (lanes, labels) = lanes(&ops, 1_000);
        assert_eq!(labels.len(), 2, "{labels:?}");
        assert!(labels[0].starts_with("p0 p2 p4 +"), "{labels:?}");
        assert!(lanes.iter().all(|&l| l < 2));
    }

    #[test]
    fn values_are_cut_for_hover_text() {
        let long = Value::String("x".repeat(500));
        let short = short_value(&long, 10);
        assert!(short.starts_with("\"xxxxxxxxx…"), "{short}");
        assert!(short.ends_with("(502 chars)"));
        assert_eq!(short_value(&Value::Null, 10), "");
    }
}
