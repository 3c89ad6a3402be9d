//! The named-anomaly sections (list-append, set, raftlog): each anomaly with
//! its explanation, and the ops it names side by side, the anomalous values
//! marked in what each read returned and, for reads that disagree, where
//! they part.

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::data::{short_value, Failure};
use super::history::{Ending, Recorded, ReportOp};
use super::html::text;
use super::violation::seconds;

/// Anomalies per check shown with their ops side by side; the rest get
/// their explanation only.
pub const DETAILED_ANOMALIES: usize = 30;
/// Lists up to this long are shown whole; longer ones around what matters.
const WHOLE_LIST: usize = 200;

fn anomalies(details: &Value) -> &[Value] {
    details
        .get("anomalies")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn op_ids(anomaly: &Value) -> Vec<u64> {
    anomaly
        .get("ops")
        .and_then(Value::as_array)
        .map(|ops| ops.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// The failures an anomaly report names, one per anomaly listed.
#[must_use]
pub fn failures(check: &str, details: &Value) -> Vec<Failure> {
    anomalies(details)
        .iter()
        .map(|anomaly| {
            let kind = anomaly
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("anomaly")
                .to_string();
            let key = anomaly
                .get("key")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty() || !op_ids(anomaly).is_empty())
                .map(str::to_string);
            let label = match &key {
                Some(key) => format!("{kind} on key {key:?}"),
                None => kind.clone(),
            };
            Failure {
                check: check.to_string(),
                explanation: anomaly
                    .get("explanation")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                kind,
                key,
                ops: op_ids(anomaly),
                time: anomaly.get("time").and_then(Value::as_u64),
                label,
            }
        })
        .collect()
}

/// Where two lists first differ (the shorter one's length if one is a
/// prefix of the other), when they differ at all.
fn first_difference(a: &[Value], b: &[Value]) -> Option<usize> {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    (common < a.len().max(b.len())).then_some(common)
}

/// A list with `marked` elements highlighted and everything from
/// `diverge_from` on tinted; long lists are cut around those places.
fn render_list(items: &[Value], marked: &HashSet<String>, diverge_from: Option<usize>) -> String {
    let texts: Vec<String> = items.iter().map(|v| short_value(v, 60)).collect();
    let mut keep: BTreeSet<usize> = BTreeSet::new();
    if items.len() <= WHOLE_LIST {
        keep.extend(0..items.len());
    } else {
        keep.extend(0..10);
        keep.extend(items.len() - 20..items.len());
        let mut places: Vec<usize> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| marked.contains(*t))
            .map(|(i, _)| i)
            .take(20)
            .collect();
        places.extend(diverge_from);
        for place in places {
            keep.extend(place.saturating_sub(8)..(place + 9).min(items.len()));
        }
    }
    let mut out = String::from("<div class=\"list\">[");
    let mut last: Option<usize> = None;
    for &i in &keep {
        if let Some(prev) = last {
            if i > prev + 1 {
                let _ = write!(out, " <span class=\"gap\">… {} more …</span>", i - prev - 1);
            }
            out.push_str(", ");
        } else if i > 0 {
            let _ = write!(out, "<span class=\"gap\">… {i} more …</span>, ");
        }
        let t = text(&texts[i]);
        let diverging = diverge_from.is_some_and(|d| i >= d);
        match (marked.contains(&texts[i]), diverging) {
            (true, _) => {
                let _ = write!(out, "<mark>{t}</mark>");
            }
            (false, true) => {
                let _ = write!(out, "<span class=\"diverge\">{t}</span>");
            }
            (false, false) => out.push_str(&t),
        }
        last = Some(i);
    }
    out.push(']');
    let _ = write!(
        out,
        " <span class=\"muted\">({} elements)</span></div>",
        items.len()
    );
    out
}

fn op_card(
    recorded: &Recorded,
    op: &ReportOp,
    marked: &HashSet<String>,
    diverge_from: Option<usize>,
) -> String {
    let mut out = String::from("<div class=\"card\">");
    let _ = write!(
        out,
        "<h4>op {} · {} · process {} · node {}</h4>",
        op.id,
        text(&op.f),
        op.process,
        text(op.node.as_deref().unwrap_or("unknown"))
    );
    let _ = write!(
        out,
        "<div class=\"muted\">called {}, completed {} ({})</div>",
        seconds(recorded.clock, Some(op.call)),
        seconds(recorded.clock, op.ret),
        op.ending.word()
    );
    if !op.input.is_null() {
        let input = short_value(&op.input, 200);
        let shown = if marked.contains(&short_value(&op.input, 60)) {
            format!("<mark>{}</mark>", text(&input))
        } else {
            text(&input)
        };
        let _ = write!(out, "<div>value: <span class=\"mono\">{shown}</span></div>");
    }
    if op.ending == Ending::Ok {
        match &op.output {
            Value::Array(items) => {
                out.push_str("<div>returned:</div>");
                out.push_str(&render_list(items, marked, diverge_from));
                if op.f == "read" {
                    let held: HashSet<String> = items.iter().map(|v| short_value(v, 60)).collect();
                    let mut missing: Vec<&String> =
                        marked.iter().filter(|m| !held.contains(*m)).collect();
                    missing.sort();
                    if !missing.is_empty() {
                        let names: Vec<&str> = missing.iter().map(|m| m.as_str()).collect();
                        let _ = write!(
                            out,
                            "<div>does not hold: <mark>{}</mark></div>",
                            text(&names.join(", "))
                        );
                    }
                }
            }
            Value::Null => {}
            other => {
                let _ = write!(
                    out,
                    "<div>returned: <span class=\"mono\">{}</span></div>",
                    text(&short_value(other, 400))
                );
            }
        }
    }
    if let Some(error) = &op.error {
        let _ = write!(
            out,
            "<div>error: <span class=\"mono\">{}</span></div>",
            text(error)
        );
    }
    out.push_str("</div>");
    out
}

/// Raftlog anomalies carry entries (objects), not ops: a table of them.
fn values_table(values: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for value in values {
        if let Value::Object(map) = value {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    if columns.is_empty() {
        let texts: Vec<String> = values.iter().map(|v| short_value(v, 200)).collect();
        return format!(
            "<div>values: <span class=\"mono\">{}</span></div>",
            text(&texts.join(", "))
        );
    }
    let mut out = String::from("<table><thead><tr>");
    for column in &columns {
        let _ = write!(out, "<th>{}</th>", text(column));
    }
    out.push_str("</tr></thead><tbody>");
    for value in values {
        out.push_str("<tr>");
        for column in &columns {
            let cell = match value.get(column) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => short_value(v, 200),
                None => String::new(),
            };
            let _ = write!(out, "<td class=\"mono\">{}</td>", text(&cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The section for one anomaly check; `first_failure` is the index of its
/// first anomaly among the page's failures.
#[must_use]
pub fn section(recorded: &Recorded, details: &Value, first_failure: usize) -> String {
    let mut out = String::new();
    let counts = details
        .get("counts")
        .and_then(Value::as_object)
        .map(|counts| {
            counts
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if !counts.is_empty() {
        let _ = write!(out, "<p>Found: {}.", text(&counts));
        let listed = anomalies(details).len();
        let total: u64 = details
            .get("counts")
            .and_then(Value::as_object)
            .map_or(0, |c| c.values().filter_map(Value::as_u64).sum());
        if total > listed as u64 {
            let _ = write!(out, " {listed} are listed (at most 100 of each kind).");
        }
        out.push_str("</p>");
    }
    if let Some(reason) = details.get("reason").and_then(Value::as_str) {
        let _ = write!(out, "<p class=\"warn\">Unknown: {}</p>", text(reason));
    }
    if let Some(stats) = details.get("stats").and_then(Value::as_object) {
        let parts: Vec<String> = stats.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = write!(out, "<p class=\"muted\">{}</p>", text(&parts.join(" · ")));
    }
    for (i, anomaly) in anomalies(details).iter().enumerate() {
        let kind = anomaly
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("anomaly");
        let key = anomaly.get("key").and_then(Value::as_str).unwrap_or("");
        let ids = op_ids(anomaly);
        let values: Vec<Value> = anomaly
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
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
            "<div class=\"failure\"><h3><span class=\"badge invalid\">{}</span>{}{}{jump}</h3><p>{}</p>",
            text(kind),
            if key.is_empty() {
                String::new()
            } else {
                format!(" key <code>{}</code>", text(&format!("{key:?}")))
            },
            anomaly
                .get("time")
                .and_then(Value::as_u64)
                .map(|t| format!(" <span class=\"muted\">at {}</span>", seconds(recorded.clock, Some(t))))
                .unwrap_or_default(),
            text(anomaly.get("explanation").and_then(Value::as_str).unwrap_or("")),
        );
        if i < DETAILED_ANOMALIES {
            let ops: Vec<&ReportOp> = ids.iter().filter_map(|id| recorded.op(*id)).collect();
            if ops.is_empty() {
                if !values.is_empty() {
                    out.push_str(&values_table(&values));
                }
            } else {
                let marked: HashSet<String> = values.iter().map(|v| short_value(v, 60)).collect();
                let lists: Vec<&[Value]> = ops
                    .iter()
                    .filter(|op| op.ending == Ending::Ok)
                    .filter_map(|op| op.output.as_array().map(Vec::as_slice))
                    .collect();
                // Two reads that disagree: tint both from where they part.
                let diverge_from = match lists.as_slice() {
                    [a, b] if matches!(kind, "divergence" | "rollback") => first_difference(a, b),
                    _ => None,
                };
                out.push_str("<div class=\"cards\">");
                for op in ops {
                    out.push_str(&op_card(recorded, op, &marked, diverge_from));
                }
                out.push_str("</div>");
            }
        }
        out.push_str("</div>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_lists_are_cut_around_marks_and_the_divergence() {
        let items: Vec<Value> = (0..1000).map(|i| json!(i)).collect();
        let marked: HashSet<String> = ["500".to_string()].into();
        let html = render_list(&items, &marked, Some(700));
        assert!(html.contains("<mark>500</mark>"));
        assert!(html.contains("<span class=\"diverge\">700</span>"));
        assert!(html.contains("… more …") || html.contains("more …"));
        assert!(!html.contains(">300<") && !html.contains(" 300,"));
        assert!(html.contains("(1000 elements)"));
    }

    #[test]
    fn lists_part_where_they_first_differ() {
        let a = [json!(1), json!(2), json!(3)];
        let b = [json!(1), json!(3)];
        assert_eq!(first_difference(&a, &b), Some(1));
        assert_eq!(first_difference(&a[..2], &a), Some(2));
        assert_eq!(first_difference(&a, &a), None);
    }

    #[test]
    fn list_elements_are_escaped() {
        let items = [json!("</script><img src=x>")];
        let html = render_list(&items, &HashSet::new(), None);
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;img src=x&gt;"));
    }
}
