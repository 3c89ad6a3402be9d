//! The transaction check's section (`txn-list-append`): each forbidden
//! anomaly drawn as its cycle, a hand-written SVG with the transactions as
//! labelled nodes on a circle and the dependency edges as arrows labelled
//! with their kind and key, the reasons for each edge listed beside it;
//! allowed anomalies as a plain list.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::fmt::Write as _;

use serde_json::Value;

use super::data::{short_value, Failure};
use super::history::Recorded;
use super::html::{attr, text};
use super::violation::seconds;

/// The name of the transaction check in `results.json`.
pub const TXN_CHECK: &str = "txn-list-append";
/// Forbidden anomalies drawn as cycles; the rest get their explanation.
pub const DRAWN_CYCLES: usize = 10;
/// Allowed anomalies listed; the counts say how many there were.
const LISTED_ALLOWED: usize = 50;
/// A cycle longer than this is listed edge by edge, not drawn.
const MAX_DRAWN_NODES: usize = 40;
/// Radius of a transaction's node, in SVG units.
const NODE_RADIUS: f64 = 19.0;

/// Whether a check's details are a transaction report: the check is named
/// `txn-list-append`, or its details carry a `consistency` and anomalies.
#[must_use]
pub fn is_txn(check: &str, details: &Value) -> bool {
    details.get("anomalies").is_some_and(Value::is_array)
        && (check == TXN_CHECK || details.get("consistency").is_some_and(Value::is_string))
}

fn anomalies(details: &Value) -> &[Value] {
    details
        .get("anomalies")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn forbidden(anomaly: &Value) -> bool {
    anomaly
        .get("forbidden")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

fn class(anomaly: &Value) -> &str {
    anomaly
        .get("class")
        .and_then(Value::as_str)
        .unwrap_or("anomaly")
}

fn txn_ids(anomaly: &Value) -> Vec<u64> {
    anomaly
        .get("txns")
        .and_then(Value::as_array)
        .map(|txns| txns.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn txn_list(ids: &[u64]) -> String {
    ids.iter()
        .map(|id| format!("T{id}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One edge of a cycle as the report reads it.
#[derive(Debug, Clone, PartialEq)]
struct Edge {
    from: u64,
    to: u64,
    kind: String,
    /// The key as shown: a string as is, an integer in digits.
    key: Option<String>,
    reason: String,
}

impl Edge {
    fn label(&self) -> String {
        match &self.key {
            Some(key) => format!("{} {key}", self.kind),
            None => self.kind.clone(),
        }
    }
}

fn edges(anomaly: &Value) -> Vec<Edge> {
    let Some(edges) = anomaly.get("edges").and_then(Value::as_array) else {
        return Vec::new();
    };
    edges
        .iter()
        .filter_map(|edge| {
            Some(Edge {
                from: edge.get("from")?.as_u64()?,
                to: edge.get("to")?.as_u64()?,
                kind: edge
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                key: match edge.get("key") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(key)) => Some(key.clone()),
                    Some(other) => Some(short_value(other, 40)),
                },
                reason: edge
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            })
        })
        .collect()
}

/// The failures a transaction report names: its forbidden anomalies.
#[must_use]
pub fn failures(check: &str, details: &Value) -> Vec<Failure> {
    anomalies(details)
        .iter()
        .filter(|anomaly| forbidden(anomaly))
        .map(|anomaly| {
            let kind = class(anomaly).to_string();
            let ids = txn_ids(anomaly);
            Failure {
                check: check.to_string(),
                label: if ids.is_empty() {
                    kind.clone()
                } else {
                    format!("{kind}: {}", txn_list(&ids))
                },
                kind,
                key: None,
                explanation: anomaly
                    .get("explanation")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                ops: ids,
                time: anomaly.get("time").and_then(Value::as_u64),
            }
        })
        .collect()
}

/// Stroke colour and dash of an edge kind (Elle draws anti-dependencies
/// dashed too).
fn edge_style(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "ww" => ("#1f6fb4", ""),
        "wr" => ("#2e7d32", ""),
        "rw" => ("#c62828", " stroke-dasharray=\"6 4\""),
        "process" => ("#6d6d6d", " stroke-dasharray=\"2 3\""),
        "realtime" => ("#7b4fb0", " stroke-dasharray=\"2 3\""),
        _ => ("#444444", ""),
    }
}

type Point = (f64, f64);

fn unit(from: Point, to: Point) -> Point {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let length = dx.hypot(dy).max(f64::EPSILON);
    (dx / length, dy / length)
}

fn arrowhead(out: &mut String, tip: Point, toward: Point, colour: &str) {
    let (ux, uy) = toward;
    let (px, py) = (-uy, ux);
    let back = (tip.0 - ux * 9.0, tip.1 - uy * 9.0);
    let _ = write!(
        out,
        "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{colour}\"/>",
        tip.0,
        tip.1,
        back.0 + px * 4.5,
        back.1 + py * 4.5,
        back.0 - px * 4.5,
        back.1 - py * 4.5
    );
}

fn edge_label(out: &mut String, at: Point, label: &str, colour: &str) {
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" dominant-baseline=\"middle\" fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">{}</text>",
        at.0,
        at.1,
        text(label)
    );
}

/// The cycle as SVG: transactions on a circle, edges as curved arrows
/// (two edges between the same pair bend apart), each labelled `kind key`.
fn cycle_svg(class: &str, txns: &[u64], edges: &[Edge]) -> String {
    let mut nodes: Vec<u64> = txns.to_vec();
    for edge in edges {
        for id in [edge.from, edge.to] {
            if !nodes.contains(&id) {
                nodes.push(id);
            }
        }
    }
    let n = nodes.len().max(1);
    let ring = (n as f64 * 20.0).max(75.0);
    let margin = 70.0;
    let size = 2.0 * (ring + margin);
    let centre = ring + margin;
    // Two transactions side by side; more from the top, clockwise.
    let start = if n == 2 { PI } else { -PI / 2.0 };
    let position: BTreeMap<u64, Point> = nodes
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let angle = start + 2.0 * PI * i as f64 / n as f64;
            (
                id,
                (centre + ring * angle.cos(), centre + ring * angle.sin()),
            )
        })
        .collect();
    let names: Vec<String> = nodes.iter().map(|id| format!("T{id}")).collect();
    // Two transactions sit on one line: the curves need little height.
    let (top, height) = if n == 2 {
        (centre - 80.0, 160.0)
    } else {
        (0.0, size)
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"cycle-graph\" viewBox=\"0 {top:.0} {size:.0} {height:.0}\" width=\"{size:.0}\" height=\"{height:.0}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"12\">",
        attr(&format!("{class} cycle over {}", names.join(", ")))
    );
    let mut parallel: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for edge in edges {
        let (colour, dash) = edge_style(&edge.kind);
        let a = position[&edge.from];
        let b = position[&edge.to];
        let nth = {
            let count = parallel.entry((edge.from, edge.to)).or_default();
            *count += 1;
            *count - 1
        };
        if edge.from == edge.to {
            // A transaction that must precede itself: a loop outward.
            let (ux, uy) = unit((centre, centre), a);
            let (px, py) = (-uy, ux);
            let reach = NODE_RADIUS + 38.0 + 14.0 * nth as f64;
            let leave = (
                a.0 + (ux + px * 0.6) * NODE_RADIUS,
                a.1 + (uy + py * 0.6) * NODE_RADIUS,
            );
            let arrive = (
                a.0 + (ux - px * 0.6) * NODE_RADIUS,
                a.1 + (uy - py * 0.6) * NODE_RADIUS,
            );
            let c1 = (a.0 + (ux + px) * reach, a.1 + (uy + py) * reach);
            let c2 = (a.0 + (ux - px) * reach, a.1 + (uy - py) * reach);
            let _ = write!(
                out,
                "<path d=\"M{:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\"{dash}/>",
                leave.0, leave.1, c1.0, c1.1, c2.0, c2.1, arrive.0, arrive.1
            );
            arrowhead(&mut out, arrive, unit(c2, arrive), colour);
            let top = (
                a.0 + ux * (reach * 0.8 + 8.0),
                a.1 + uy * (reach * 0.8 + 8.0),
            );
            edge_label(&mut out, top, &edge.label(), colour);
            continue;
        }
        let mid = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
        let (ux, uy) = unit(a, b);
        let length = (b.0 - a.0).hypot(b.1 - a.1);
        // Bend to the left of the direction of travel, so that A->B and
        // B->A part, and parallel edges bend further.
        let bend = 0.16 * length + 16.0 + 22.0 * nth as f64;
        let control = (mid.0 + uy * bend, mid.1 - ux * bend);
        let (sx, sy) = unit(a, control);
        let leave = (a.0 + sx * NODE_RADIUS, a.1 + sy * NODE_RADIUS);
        let (ex, ey) = unit(b, control);
        let arrive = (
            b.0 + ex * (NODE_RADIUS + 1.0),
            b.1 + ey * (NODE_RADIUS + 1.0),
        );
        let _ = write!(
            out,
            "<path d=\"M{:.1},{:.1} Q{:.1},{:.1} {:.1},{:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\"{dash}/>",
            leave.0, leave.1, control.0, control.1, arrive.0, arrive.1
        );
        arrowhead(&mut out, arrive, unit(control, arrive), colour);
        // The label sits just outside the curve's middle.
        let halfway = (
            0.25 * leave.0 + 0.5 * control.0 + 0.25 * arrive.0 + uy * 10.0,
            0.25 * leave.1 + 0.5 * control.1 + 0.25 * arrive.1 - ux * 10.0,
        );
        edge_label(&mut out, halfway, &edge.label(), colour);
    }
    for (id, name) in nodes.iter().zip(&names) {
        let (x, y) = position[id];
        let _ = write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{NODE_RADIUS}\" fill=\"#fff\" stroke=\"#333\" stroke-width=\"1.4\"/><text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" dominant-baseline=\"central\" font-weight=\"600\">{}</text>",
            text(name)
        );
    }
    out.push_str("</svg>");
    out
}

/// The edges of a cycle with their reasons, in cycle order.
fn reasons(edges: &[Edge]) -> String {
    let mut out = String::from("<ol class=\"reasons\">");
    for edge in edges {
        let (colour, _) = edge_style(&edge.kind);
        let _ = write!(
            out,
            "<li><b>T{} → T{}</b> <span class=\"edge-kind\" style=\"color:{colour}\">{}</span>: {}</li>",
            edge.from,
            edge.to,
            text(&edge.label()),
            text(&edge.reason)
        );
    }
    out.push_str("</ol>");
    out
}

fn legend() -> String {
    let mut out = String::from("<p class=\"muted legend-edges\">Edges: ");
    let kinds = [
        ("ww", "write-write: appended after, in the key's order"),
        ("wr", "write-read: read the other's append"),
        (
            "rw",
            "read-write (anti-dependency): read missed the other's append",
        ),
        ("process", "same process, later"),
        ("realtime", "invoked after the other completed"),
    ];
    let parts: Vec<String> = kinds
        .iter()
        .map(|(kind, words)| {
            let (colour, _) = edge_style(kind);
            format!(
                "<span class=\"edge-kind\" style=\"color:{colour}\">{kind}</span> {}",
                text(words)
            )
        })
        .collect();
    out.push_str(&parts.join(" · "));
    out.push_str("</p>");
    out
}

/// The section for the transaction check; `first_failure` is the index of
/// its first forbidden anomaly among the page's failures.
#[must_use]
pub fn section(recorded: &Recorded, details: &Value, first_failure: usize) -> String {
    let mut out = String::new();
    let level = details
        .get("consistency")
        .and_then(Value::as_str)
        .unwrap_or("an unnamed level");
    let _ = write!(out, "<p>Held to <b>{}</b>.", text(level));
    if let Some(counts) = details.get("counts").and_then(Value::as_object) {
        let words: Vec<String> = counts
            .iter()
            .map(|(class, n)| format!("{n} {class}"))
            .collect();
        if !words.is_empty() {
            let _ = write!(out, " Found: {}.", text(&words.join(", ")));
        }
    }
    out.push_str("</p>");
    if let Some(reason) = details.get("reason").and_then(Value::as_str) {
        let _ = write!(out, "<p class=\"warn\">Unknown: {}</p>", text(reason));
    }
    if let Some(witness) = details.get("witness").and_then(Value::as_array) {
        let _ = write!(
            out,
            "<p>A serial order of the {} committed transactions respects every inferred edge{}.</p>",
            witness.len(),
            if witness.is_empty() {
                String::new()
            } else {
                let first: Vec<String> = witness
                    .iter()
                    .take(12)
                    .map(|id| format!("T{}", short_value(id, 20)))
                    .collect();
                text(&format!(
                    ": {}{}",
                    first.join(", "),
                    if witness.len() > 12 { ", …" } else { "" }
                ))
            }
        );
    }
    if let Some(stats) = details.get("stats").and_then(Value::as_object) {
        let parts: Vec<String> = stats.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = write!(out, "<p class=\"muted\">{}</p>", text(&parts.join(" · ")));
    }
    let (forbidden_ones, allowed): (Vec<&Value>, Vec<&Value>) =
        anomalies(details).iter().partition(|a| forbidden(a));
    if forbidden_ones.iter().any(|a| !edges(a).is_empty()) {
        out.push_str(&legend());
    }
    for (i, anomaly) in forbidden_ones.iter().enumerate() {
        let class = class(anomaly);
        let ids = txn_ids(anomaly);
        let cycle = edges(anomaly);
        let jump = if ids.is_empty() && anomaly.get("time").is_none() {
            String::new()
        } else {
            format!(
                " <button class=\"jump\" data-failure=\"{}\">show in timeline</button>",
                first_failure + i
            )
        };
        let _ = write!(
            out,
            "<div class=\"failure txn-anomaly\"><h3><span class=\"badge invalid\">{}</span> {}{}{jump}</h3><p>{}</p>",
            text(class),
            text(&txn_list(&ids)),
            anomaly
                .get("time")
                .and_then(Value::as_u64)
                .map(|t| format!(" <span class=\"muted\">at {}</span>", seconds(recorded.clock, Some(t))))
                .unwrap_or_default(),
            text(anomaly.get("explanation").and_then(Value::as_str).unwrap_or("")),
        );
        if !cycle.is_empty() {
            let nodes = ids.len().max(cycle.len());
            if i < DRAWN_CYCLES && nodes <= MAX_DRAWN_NODES {
                let _ = write!(
                    out,
                    "<div class=\"cycle\">{}{}</div>",
                    cycle_svg(class, &ids, &cycle),
                    reasons(&cycle)
                );
            } else {
                out.push_str(&reasons(&cycle));
            }
        }
        out.push_str("</div>");
    }
    if forbidden_ones.len() > DRAWN_CYCLES {
        let _ = write!(
            out,
            "<p class=\"muted\">The first {DRAWN_CYCLES} forbidden anomalies are drawn; the rest are listed edge by edge.</p>"
        );
    }
    if !allowed.is_empty() {
        let _ = write!(
            out,
            "<h3>Allowed under {}</h3><ul class=\"allowed\">",
            text(level)
        );
        for anomaly in allowed.iter().take(LISTED_ALLOWED) {
            let _ = write!(
                out,
                "<li><b>{}</b> {}: {}</li>",
                text(class(anomaly)),
                text(&txn_list(&txn_ids(anomaly))),
                text(
                    anomaly
                        .get("explanation")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            );
        }
        if allowed.len() > LISTED_ALLOWED {
            let _ = write!(
                out,
                "<li class=\"muted\">… and {} more</li>",
                allowed.len() - LISTED_ALLOWED
            );
        }
        out.push_str("</ul>");
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::history::read_jsonl;

    fn details() -> Value {
        json!({
            "consistency": "strict-serializable",
            "verdict": "invalid",
            "anomalies": [
                {"class": "G-single", "forbidden": true, "txns": [12, 40],
                 "edges": [
                    {"from": 12, "to": 40, "kind": "wr", "key": "t3",
                     "reason": "T12 < T40: T40 read key t3 = [1 2], which includes T12's append of 2"},
                    {"from": 40, "to": 12, "kind": "rw", "key": "t5",
                     "reason": "T40 < T12: T40 read t5 <script>alert(1)</script> & missed 7"}],
                 "explanation": "read skew <b>", "time": 123},
                {"class": "G2-item", "forbidden": true, "txns": [3, 4, 5],
                 "edges": [
                    {"from": 3, "to": 4, "kind": "rw", "key": 9, "reason": "r1"},
                    {"from": 4, "to": 5, "kind": "ww", "key": 9, "reason": "r2"},
                    {"from": 5, "to": 3, "kind": "realtime", "reason": "r3"}],
                 "explanation": "write skew"},
                {"class": "G-nonadjacent", "forbidden": false, "txns": [7, 8],
                 "edges": [{"from": 7, "to": 8, "kind": "rw", "key": "a", "reason": "x"},
                           {"from": 8, "to": 7, "kind": "rw", "key": "b", "reason": "y"}],
                 "explanation": "allowed one"}
            ],
            "counts": {"G-single": 1, "G2-item": 1, "G-nonadjacent": 1},
            "stats": {"committed": 40}
        })
    }

    fn render(details: &Value) -> String {
        section(&read_jsonl("", "test"), details, 0)
    }

    #[test]
    fn each_forbidden_cycle_is_drawn_with_every_txn_and_edge_label() {
        let html = render(&details());
        assert_eq!(html.matches("<svg class=\"cycle-graph\"").count(), 2);
        for name in [">T12<", ">T40<", ">T3<", ">T4<", ">T5<"] {
            assert!(html.contains(name), "{name} is not a node");
        }
        for label in [">wr t3<", ">rw t5<", ">rw 9<", ">ww 9<", ">realtime<"] {
            assert!(html.contains(label), "{label} labels no edge");
        }
        // Five edges drawn, each with its arrowhead.
        assert_eq!(html.matches("<path d=").count(), 5);
        assert_eq!(html.matches("<polygon").count(), 5);
        assert!(html.contains("<b>T12 → T40</b>"));
        assert!(html.contains("T12 &lt; T40: T40 read key t3 = [1 2]"));
    }

    #[test]
    fn reasons_and_explanations_are_escaped() {
        let html = render(&details());
        assert!(!html.contains("<script"), "a reason's tag made it through");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; missed 7"));
        assert!(html.contains("read skew &lt;b&gt;"));
    }

    #[test]
    fn allowed_anomalies_are_listed_not_drawn() {
        let html = render(&details());
        let allowed = &html[html
            .find("Allowed under strict-serializable")
            .expect("listed")..];
        assert!(allowed.contains("<b>G-nonadjacent</b> T7, T8: allowed one"));
        assert!(!allowed.contains("<svg"));
        assert!(!html.contains(">T7<"));
    }

    #[test]
    fn at_most_ten_cycles_are_drawn_and_the_rest_listed() {
        let cycle = details()["anomalies"][0].clone();
        let many = json!({"consistency": "serializable", "anomalies": vec![cycle; 13]});
        let html = render(&many);
        assert_eq!(html.matches("<svg").count(), DRAWN_CYCLES);
        assert_eq!(html.matches("<ol class=\"reasons\">").count(), 13);
    }

    #[test]
    fn only_forbidden_anomalies_are_failures() {
        let found = failures(TXN_CHECK, &details());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, "G-single");
        assert_eq!(found[0].ops, vec![12, 40]);
        assert_eq!(found[0].label, "G-single: T12, T40");
        assert_eq!(found[0].time, Some(123));
    }

    #[test]
    fn txn_reports_are_told_from_other_anomaly_reports() {
        assert!(is_txn(TXN_CHECK, &details()));
        assert!(is_txn("txns", &details()));
        assert!(!is_txn("list-append", &json!({"anomalies": []})));
    }

    #[test]
    fn an_edge_between_the_same_pair_both_ways_bends_apart() {
        let edges = edges(&details()["anomalies"][0]);
        let svg = cycle_svg("G-single", &[12, 40], &edges);
        let controls: Vec<&str> = svg
            .split(" Q")
            .skip(1)
            .map(|rest| rest.split(' ').next().expect("a control point"))
            .collect();
        assert_eq!(controls.len(), 2);
        assert_ne!(controls[0], controls[1]);
    }
}
