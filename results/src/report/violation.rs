//! The linearizability section: per key that has no valid order, a
//! Porcupine-style view of that key's ops (the longest linearizable prefix
//! numbered in order, the op that cannot be placed in red), the prefix as
//! a table with the model state before and after each op, and the states
//! the search tried.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::Value;

use super::data::{short_value, Failure};
use super::history::{Clock, Recorded, ReportOp};
use super::html::text;

/// Keys shown in full; the others get their explanation and a jump button.
pub const DETAILED_KEYS: usize = 8;
/// Prefix steps listed per key (the last ones, nearest the failure).
pub const PREFIX_ROWS: usize = 200;
/// Ops drawn in a key's view, ending with the op that cannot be placed.
pub const VIEW_OPS: usize = 40;

fn str_field<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or("")
}

fn u64_field(value: &Value, field: &str) -> Option<u64> {
    value.get(field).and_then(Value::as_u64)
}

pub(crate) fn seconds(clock: Clock, t: Option<u64>) -> String {
    match (clock, t) {
        (_, None) => "–".to_string(),
        (Clock::Nanos, Some(t)) => format!("{:.6} s", t as f64 / 1e9),
        (Clock::Events, Some(t)) => format!("event {t}"),
    }
}

/// The op ids an explanation names: every `op N` in it.
fn named_ops(explanation: &str) -> Vec<u64> {
    explanation
        .match_indices("op ")
        .filter(|(at, _)| {
            !matches!(explanation[..*at].chars().next_back(), Some(c) if c.is_alphanumeric())
        })
        .filter_map(|(at, _)| {
            let digits: String = explanation[at + 3..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// The invalid keys of a linearizability report's details, each as
/// (key report, failure for the timeline).
fn invalid_keys(details: &Value) -> Vec<&Value> {
    details
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter(|k| str_field(k, "verdict") == "invalid")
                .collect()
        })
        .unwrap_or_default()
}

/// The failures a linearizability report names, for the verdict's jump
/// buttons: one per key with no valid order.
#[must_use]
pub fn failures(check: &str, details: &Value) -> Vec<Failure> {
    invalid_keys(details)
        .into_iter()
        .map(|key| {
            let stuck = key.get("stuck_on").cloned().unwrap_or(Value::Null);
            let mut ops: Vec<u64> = u64_field(&stuck, "id").into_iter().collect();
            // The ops the explanation names (a stale read names the write
            // it read and the one that overwrote it): outlined too.
            for id in named_ops(str_field(key, "explanation")) {
                if !ops.contains(&id) {
                    ops.push(id);
                }
            }
            if let Some(last) = key
                .get("prefix")
                .and_then(Value::as_array)
                .and_then(|p| p.last())
                .and_then(|step| u64_field(step, "id"))
                .filter(|last| !ops.contains(last))
            {
                ops.push(last);
            }
            let kind = key
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("not linearizable")
                .to_string();
            let name = str_field(key, "key");
            Failure {
                check: check.to_string(),
                label: format!(
                    "key {name:?}: {} by process {} (op {}) cannot be placed",
                    str_field(&stuck, "op"),
                    u64_field(&stuck, "process").unwrap_or(0),
                    u64_field(&stuck, "id").unwrap_or(0)
                ),
                kind,
                explanation: str_field(key, "explanation").to_string(),
                key: Some(name.to_string()),
                ops,
                time: u64_field(&stuck, "call_time"),
            }
        })
        .collect()
}

/// What a step of the key view is.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Position in the longest linearizable prefix (1-based).
    Prefix(usize),
    Stuck,
    Other,
}

/// Porcupine's picture of one key: ops as bars in lanes by process, on an
/// axis of event order (every call and return gets its own slot, so short
/// ops stay visible), prefix ops numbered in linearization order.
fn key_view(recorded: &Recorded, key: &str, prefix: &[Value], stuck: &Value) -> String {
    let stuck_id = u64_field(stuck, "id");
    let position: HashMap<u64, usize> = prefix
        .iter()
        .enumerate()
        .filter_map(|(i, step)| u64_field(step, "id").map(|id| (id, i + 1)))
        .collect();
    let words: HashMap<u64, &str> = prefix
        .iter()
        .chain(std::iter::once(stuck))
        .filter_map(|step| Some((u64_field(step, "id")?, step.get("op")?.as_str()?)))
        .collect();
    let states: HashMap<u64, &str> = prefix
        .iter()
        .filter_map(|step| Some((u64_field(step, "id")?, step.get("state_after")?.as_str()?)))
        .collect();
    let key_ops: Vec<&ReportOp> = recorded.ops.iter().filter(|op| op.key == key).collect();
    let Some(stuck_at) = key_ops.iter().position(|op| Some(op.id) == stuck_id) else {
        return String::new();
    };
    let stuck_op = key_ops[stuck_at];
    let stuck_end = stuck_op.ret.unwrap_or(recorded.end);
    // The last VIEW_OPS ops invoked up to the stuck op's completion.
    let until = key_ops.partition_point(|op| op.call <= stuck_end);
    let from = until.saturating_sub(VIEW_OPS);
    let shown: Vec<&ReportOp> = key_ops[from..until].to_vec();
    let hidden_before = from;
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, op) in shown.iter().enumerate() {
        events.push((op.call, 0, i));
        if let Some(ret) = op.ret {
            events.push((ret, 1, i));
        }
    }
    // Same instant: a return before a call keeps closed intervals apart
    // only when they really are; calls first is the conservative order.
    events.sort_unstable();
    let mut slot_call = vec![0usize; shown.len()];
    let mut slot_ret = vec![usize::MAX; shown.len()];
    for (slot, (_, kind, i)) in events.iter().enumerate() {
        if *kind == 0 {
            slot_call[*i] = slot;
        } else {
            slot_ret[*i] = slot;
        }
    }
    let slots = events.len().max(1);
    let mut processes: Vec<u64> = shown.iter().map(|op| op.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let lane: BTreeMap<u64, usize> = processes.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let (left, slot_w, lane_h) = (90.0, 34.0, 26.0);
    let width = left + slots as f64 * slot_w + 20.0;
    let height = 24.0 + processes.len() as f64 * lane_h + 8.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="keyview" viewBox="0 0 {width:.0} {height:.0}" width="{width:.0}" height="{height:.0}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">"#
    );
    if hidden_before > 0 {
        let _ = write!(
            out,
            r##"<text x="4" y="14" fill="#666">{hidden_before} earlier ops of this key not drawn</text>"##
        );
    }
    for (process, i) in &lane {
        let y = 24.0 + *i as f64 * lane_h;
        let _ = write!(
            out,
            r##"<text x="4" y="{:.1}" fill="#333">process {process}</text>"##,
            y + lane_h / 2.0 + 4.0
        );
    }
    for (i, op) in shown.iter().enumerate() {
        let role = if Some(op.id) == stuck_id {
            Role::Stuck
        } else if let Some(&p) = position.get(&op.id) {
            Role::Prefix(p)
        } else {
            Role::Other
        };
        let x0 = left + slot_call[i] as f64 * slot_w + 2.0;
        let x1 = if slot_ret[i] == usize::MAX {
            width - 8.0
        } else {
            left + slot_ret[i] as f64 * slot_w + slot_w - 2.0
        };
        let y = 24.0 + lane[&op.process] as f64 * lane_h + 3.0;
        let (fill, stroke) = match role {
            Role::Stuck => ("#f8c9c9", "#b00020"),
            Role::Prefix(_) => ("#cfe8cf", "#2e7d32"),
            Role::Other => ("#eeeeee", "#999999"),
        };
        let described = words.get(&op.id).map_or_else(
            || format!("{} {}", op.f, short_value(&op.input, 40)),
            |w| (*w).to_string(),
        );
        let label = match role {
            Role::Prefix(p) => format!("#{p} {described}"),
            Role::Stuck => format!("✗ {described}"),
            Role::Other => described.clone(),
        };
        let mut title = format!(
            "op {} · process {} · node {}\n{}\n{} → {}",
            op.id,
            op.process,
            op.node.as_deref().unwrap_or("unknown"),
            described,
            seconds(recorded.clock, Some(op.call)),
            seconds(recorded.clock, op.ret)
        );
        match role {
            Role::Prefix(p) => {
                let _ = write!(
                    title,
                    "\nlinearized #{p}; state after: {}",
                    states.get(&op.id).copied().unwrap_or("?")
                );
            }
            Role::Stuck => title.push_str("\ncannot be placed"),
            Role::Other => title.push_str("\nnot in the prefix"),
        }
        let _ = write!(
            out,
            r#"<g><title>{}</title><rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{}"/>"#,
            text(&title),
            (x1 - x0).max(4.0),
            lane_h - 6.0,
            if role == Role::Stuck { 2.5 } else { 1.0 }
        );
        let chars = (((x1 - x0) - 6.0) / 6.0).max(0.0) as usize;
        if chars >= 2 {
            let mut shown_label: String = label.chars().take(chars).collect();
            if label.chars().count() > chars {
                shown_label.pop();
                shown_label.push('…');
            }
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{:.1}" fill="#111">{}</text>"##,
                x0 + 3.0,
                y + lane_h / 2.0 + 1.0,
                text(&shown_label)
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

fn prefix_table(recorded: &Recorded, key: &Value, prefix: &[Value], stuck: &Value) -> String {
    let mut out = String::new();
    let skip = prefix.len().saturating_sub(PREFIX_ROWS);
    out.push_str(
        "<table class=\"prefix\"><thead><tr><th>#</th><th>op</th><th>process</th><th>node</th>\
         <th>operation</th><th>called</th><th>returned</th><th>state before</th><th>state after</th></tr></thead><tbody>",
    );
    if skip > 0 {
        let _ = write!(
            out,
            "<tr><td colspan=\"9\" class=\"muted\">… {skip} earlier steps of the prefix not listed</td></tr>"
        );
    }
    let initial = "initial state".to_string();
    for (i, step) in prefix.iter().enumerate().skip(skip) {
        let before = if i == 0 {
            initial.clone()
        } else {
            str_field(&prefix[i - 1], "state_after").to_string()
        };
        let class = if i + 1 == prefix.len() {
            " class=\"prefix-last\""
        } else {
            ""
        };
        let crashed = step
            .get("crashed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let _ = write!(
            out,
            "<tr{class}><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"mono\">{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td></tr>",
            i + 1,
            u64_field(step, "id").unwrap_or(0),
            u64_field(step, "process").unwrap_or(0),
            text(str_field(step, "node")),
            text(str_field(step, "op")),
            if crashed { " (crashed)" } else { "" },
            seconds(recorded.clock, time_of(recorded, step, "call_time")),
            seconds(recorded.clock, time_of(recorded, step, "ret_time")),
            text(&before),
            text(str_field(step, "state_after")),
        );
    }
    let seen: Vec<&str> = key
        .get("seen")
        .and_then(Value::as_array)
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let before = if seen.is_empty() {
        str_field(key, "state").to_string()
    } else {
        seen.join(" or ")
    };
    let _ = write!(
        out,
        "<tr class=\"stuck\"><td>✗</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td><td>cannot be placed: it needs {}</td></tr>",
        u64_field(stuck, "id").unwrap_or(0),
        u64_field(stuck, "process").unwrap_or(0),
        text(str_field(stuck, "node")),
        text(str_field(stuck, "op")),
        seconds(recorded.clock, time_of(recorded, stuck, "call_time")),
        seconds(recorded.clock, time_of(recorded, stuck, "ret_time")),
        text(&before),
        text(str_field(key, "needed")),
    );
    out.push_str("</tbody></table>");
    out
}

/// A step's time: from the report, or (event-clock histories, imports
/// without times) from the history as drawn.
fn time_of(recorded: &Recorded, step: &Value, field: &str) -> Option<u64> {
    match recorded.clock {
        Clock::Nanos => u64_field(step, field),
        Clock::Events => {
            let op = recorded.op(u64_field(step, "id")?)?;
            if field == "call_time" {
                Some(op.call)
            } else {
                op.ret
            }
        }
    }
}

/// The section for one linearizability check. `first_failure` is the
/// index of this check's first failure among the page's failures.
#[must_use]
pub fn section(recorded: &Recorded, details: &Value, first_failure: usize) -> String {
    let mut out = String::new();
    let invalid = invalid_keys(details);
    let unknown: Vec<&Value> = details
        .get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter(|k| str_field(k, "verdict") == "unknown")
                .collect()
        })
        .unwrap_or_default();
    let _ =
        write!(
        out,
        "<p>Model <code>{}</code>; {} ops on {} keys; {} keys not linearizable, {} undecided.</p>",
        text(str_field(details, "model")),
        u64_field(details, "ops").unwrap_or(0),
        details.get("keys").and_then(Value::as_array).map_or(0, Vec::len),
        invalid.len(),
        unknown.len()
    );
    for (i, key) in invalid.iter().enumerate() {
        let name = str_field(key, "key");
        let prefix: Vec<Value> = key
            .get("prefix")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let stuck = key.get("stuck_on").cloned().unwrap_or(Value::Null);
        let kind = key.get("kind").and_then(Value::as_str);
        let _ = write!(
            out,
            "<div class=\"failure\" id=\"violation-{}\"><h3>key <code>{}</code>{} <button class=\"jump\" data-failure=\"{}\">show in timeline</button></h3><p>{}</p>",
            first_failure + i,
            text(&format!("{name:?}")),
            kind.map(|k| format!(" <span class=\"badge invalid\">{}</span>", text(k)))
                .unwrap_or_default(),
            first_failure + i,
            text(str_field(key, "explanation")),
        );
        if i < DETAILED_KEYS {
            let view = key_view(recorded, name, &prefix, &stuck);
            if !view.is_empty() {
                out.push_str(
                    "<p class=\"muted\">This key's ops in event order (green: the longest linearizable prefix, numbered in the order it takes effect; red: the op that cannot be placed; grey: not in the prefix). Hover a bar for details.</p>",
                );
                out.push_str("<div class=\"scroll\">");
                out.push_str(&view);
                out.push_str("</div>");
            }
            let _ = write!(
                out,
                "<details open><summary>The longest linearizable prefix ({} ops) and the op that cannot be placed</summary>",
                prefix.len()
            );
            out.push_str(&prefix_table(recorded, key, &prefix, &stuck));
            out.push_str("</details>");
        }
        out.push_str("</div>");
    }
    if invalid.len() > DETAILED_KEYS {
        let _ = write!(
            out,
            "<p class=\"muted\">The first {DETAILED_KEYS} keys are drawn in full; the others show their explanation.</p>"
        );
    }
    if !unknown.is_empty() {
        out.push_str("<h3>Undecided keys</h3><ul>");
        for key in unknown.iter().take(50) {
            let _ = write!(
                out,
                "<li><code>{}</code>: {}</li>",
                text(&format!("{:?}", str_field(key, "key"))),
                text(str_field(key, "reason"))
            );
        }
        if unknown.len() > 50 {
            let _ = write!(out, "<li>… and {} more</li>", unknown.len() - 50);
        }
        out.push_str("</ul>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ops_an_explanation_names() {
        let words = "read -> 22 by process 6 (op 457, called at 0.059 s) ... written by cas [21,22] by process 5 (op 383, completed), then overwritten by cas by process 6 (op 425, completed)";
        assert_eq!(named_ops(words), [457, 383, 425]);
        assert!(named_ops("no ops here; loop 3").is_empty());
    }
}
