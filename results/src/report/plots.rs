//! The plots, as inline SVG written by hand (no plotting crate: the output
//! stays small and exact): latency of every op over time on a log scale,
//! coloured by outcome, and throughput over time, both with the faults
//! shaded (Jepsen's latency-raw and rate graphs); and, when the run sampled
//! the nodes' committed logs, each node's commit index over time.
//!
//! Big histories are thinned before drawing: points that land on the same
//! pixel with the same outcome are drawn once, and if more than
//! [`MAX_POINTS`] remain, every k-th ok point is dropped (fail and info
//! points are kept first: they are the rare, interesting ones).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use super::faults::FaultBand;
use super::history::{Ending, Recorded};
use super::html;

/// At most this many points in the latency plot.
pub const MAX_POINTS: usize = 20_000;

const WIDTH: f64 = 1360.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;

/// Colours by outcome: ok, fail, info (Jepsen's blue, pink, orange).
pub const OUTCOME_COLOURS: [&str; 3] = ["#3b82c4", "#d6409f", "#f59e0b"];

/// The fill of a fault band by kind.
#[must_use]
pub fn band_colour(kind: &str) -> &'static str {
    match kind {
        "partition" => "#e45756",
        "pause" => "#8e6cc0",
        "kill" => "#5a5a5a",
        "power" => "#1f1f1f",
        "corrupt" => "#c0392b",
        _ => "#b07d48",
    }
}

const NODE_COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// A plot area: maps data to pixels.
struct Frame {
    x0: f64,
    x1: f64,
}

impl Frame {
    fn x(&self, t: f64) -> f64 {
        let span = (self.x1 - self.x0).max(1e-12);
        LEFT + (t - self.x0) / span * (WIDTH - LEFT - RIGHT)
    }
}

fn plot_bottom() -> f64 {
    HEIGHT - BOTTOM
}

/// 1, 2, 5 x 10^k: the step for about `ticks` ticks over `span`.
fn nice_step(span: f64, ticks: f64) -> f64 {
    let raw = (span / ticks).max(1e-12);
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * base)
}

fn open_svg(out: &mut String, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">"#,
        html::attr(label)
    );
}

fn bands_svg(out: &mut String, frame: &Frame, bands: &[FaultBand], end: f64) {
    for band in bands {
        let s = frame.x(band.start as f64 / 1e9);
        let e = frame.x(band.end.map_or(end, |e| e as f64 / 1e9));
        let width = (e - s).max(1.5);
        let _ = write!(
            out,
            r#"<rect x="{s:.1}" y="{TOP}" width="{width:.1}" height="{:.1}" fill="{}" fill-opacity="0.16"><title>{}</title></rect>"#,
            plot_bottom() - TOP,
            band_colour(&band.kind),
            html::text(&band.label)
        );
    }
}

fn x_axis(out: &mut String, frame: &Frame, label: &str) {
    let y = plot_bottom();
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{y}" x2="{:.1}" y2="{y}" stroke="#444"/>"##,
        WIDTH - RIGHT
    );
    let step = nice_step(frame.x1 - frame.x0, 10.0);
    let mut t = (frame.x0 / step).ceil() * step;
    while t <= frame.x1 + step * 1e-9 {
        let x = frame.x(t);
        let digits = if step < 1.0 {
            1 + (-step.log10()).ceil() as usize
        } else {
            0
        };
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{:.1}" stroke="#444"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{t:.digits$}</text>"##,
            y + 4.0,
            y + 16.0
        );
        t += step;
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 6.0,
        html::text(label)
    );
}

fn y_label(out: &mut String, label: &str) {
    let _ = write!(
        out,
        r#"<text transform="translate(14,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (TOP + plot_bottom()) / 2.0,
        html::text(label)
    );
}

fn legend(out: &mut String, items: &[(String, &str)]) {
    let mut x = LEFT + 10.0;
    for (label, colour) in items {
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            TOP + 4.0,
            x + 14.0,
            TOP + 13.0,
            html::text(label)
        );
        x += 24.0 + label.len() as f64 * 6.5;
    }
}

fn latency_ms(display: f64) -> String {
    if display >= 1000.0 {
        format!("{} s", display / 1000.0)
    } else if display >= 1.0 {
        format!("{display} ms")
    } else {
        format!("{} µs", (display * 1000.0).round())
    }
}

/// Latency of every completed op (ms, log scale) against its invoke time.
#[must_use]
pub fn latency(recorded: &Recorded, bands: &[FaultBand]) -> String {
    let end = recorded.end as f64 / 1e9;
    let frame = Frame {
        x0: 0.0,
        x1: end.max(1e-3),
    };
    let mut points: [Vec<(f64, f64)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut counts = [0usize; 3];
    let mut open = 0usize;
    for op in &recorded.ops {
        let Some(ret) = op.ret else {
            open += 1;
            continue;
        };
        let outcome = match op.ending {
            Ending::Ok => 0,
            Ending::Fail => 1,
            _ => 2,
        };
        counts[outcome] += 1;
        // Zero-length ops (same clock tick) are drawn at 1 µs.
        let ms = ((ret - op.call) as f64 / 1e6).max(1e-3);
        points[outcome].push((op.call as f64 / 1e9, ms));
    }
    let all = points.iter().flatten();
    let (lo, hi) = all.fold((f64::INFINITY, 0f64), |(lo, hi), (_, ms)| {
        (lo.min(*ms), hi.max(*ms))
    });
    let (lo, hi) = if hi == 0.0 { (1.0, 10.0) } else { (lo, hi) };
    let decade_lo = lo.log10().floor();
    let decade_hi = hi.log10().ceil().max(decade_lo + 1.0);
    let y = |ms: f64| {
        let f = (ms.log10() - decade_lo) / (decade_hi - decade_lo);
        plot_bottom() - f * (plot_bottom() - TOP - 20.0)
    };
    let mut out = String::with_capacity(64 * 1024);
    open_svg(&mut out, "latency of each operation over time");
    bands_svg(&mut out, &frame, bands, end);
    // Decade grid and labels.
    let mut decade = decade_lo;
    while decade <= decade_hi {
        let ms = 10f64.powf(decade);
        let yy = y(ms);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            latency_ms(ms)
        );
        decade += 1.0;
    }
    // One pixel, one point per outcome.
    let mut seen: HashSet<(u8, i32, i32)> = HashSet::new();
    let mut pixels: [Vec<(f64, f64)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for (outcome, list) in points.iter().enumerate() {
        for &(t, ms) in list {
            let (px, py) = (frame.x(t), y(ms));
            if seen.insert((outcome as u8, px.round() as i32, py.round() as i32)) {
                pixels[outcome].push((px, py));
            }
        }
    }
    let rare = pixels[1].len() + pixels[2].len();
    let ok_budget = MAX_POINTS.saturating_sub(rare.min(MAX_POINTS / 2));
    if pixels[0].len() > ok_budget {
        let stride = pixels[0].len().div_ceil(ok_budget.max(1));
        pixels[0] = pixels[0].iter().copied().step_by(stride).collect();
    }
    for list in &mut pixels[1..] {
        if list.len() > MAX_POINTS / 4 {
            let stride = list.len().div_ceil(MAX_POINTS / 4);
            *list = list.iter().copied().step_by(stride).collect();
        }
    }
    for (outcome, list) in pixels.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            r#"<path fill="none" stroke="{}" stroke-width="3" stroke-linecap="round" stroke-opacity="0.8" d=""#,
            OUTCOME_COLOURS[outcome]
        );
        for (px, py) in list {
            let _ = write!(out, "M{px:.1} {py:.1}h0");
        }
        out.push_str(r#""/>"#);
    }
    x_axis(&mut out, &frame, "time since the test started (s)");
    y_label(&mut out, "latency");
    let mut items: Vec<(String, &str)> = ["ok", "fail", "info"]
        .iter()
        .zip(counts)
        .zip(OUTCOME_COLOURS)
        .map(|((name, n), colour)| (format!("{name} ({n})"), colour))
        .collect();
    if open > 0 {
        items.push((format!("no completion: {open} (not drawn)"), "#999999"));
    }
    legend(&mut out, &items);
    out.push_str("</svg>");
    out
}

fn nice_bin(span_s: f64) -> f64 {
    const BINS: [f64; 14] = [
        0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
    ];
    let want = span_s / 150.0;
    BINS.iter().copied().find(|b| *b >= want).unwrap_or(600.0)
}

fn polyline(out: &mut String, colour: &str, points: impl Iterator<Item = (f64, f64)>) {
    let _ = write!(
        out,
        r#"<polyline fill="none" stroke="{colour}" stroke-width="1.6" points=""#
    );
    for (x, y) in points {
        let _ = write!(out, "{x:.1},{y:.1} ");
    }
    out.push_str(r#""/>"#);
}

fn linear_y_axis(out: &mut String, max: f64) -> f64 {
    let step = nice_step(max.max(1.0), 5.0);
    let top = (max / step).ceil().max(1.0) * step;
    let mut v = 0.0;
    while v <= top + step * 1e-9 {
        let yy = plot_bottom() - v / top * (plot_bottom() - TOP - 20.0);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        );
        v += step;
    }
    top
}

/// Completions per second over time, by outcome.
#[must_use]
pub fn throughput(recorded: &Recorded, bands: &[FaultBand]) -> String {
    let end = (recorded.end as f64 / 1e9).max(1e-3);
    let frame = Frame { x0: 0.0, x1: end };
    let bin = nice_bin(end);
    let bins = (end / bin).ceil() as usize + 1;
    let mut rates = [vec![0f64; bins], vec![0f64; bins], vec![0f64; bins]];
    for op in &recorded.ops {
        let (Some(ret), outcome) = (
            op.ret,
            match op.ending {
                Ending::Ok => 0,
                Ending::Fail => 1,
                _ => 2,
            },
        ) else {
            continue;
        };
        let at = ((ret as f64 / 1e9) / bin) as usize;
        rates[outcome][at.min(bins - 1)] += 1.0 / bin;
    }
    let max = rates.iter().flatten().copied().fold(0.0, f64::max);
    let mut out = String::with_capacity(16 * 1024);
    open_svg(&mut out, "throughput over time");
    bands_svg(&mut out, &frame, bands, end);
    let top = linear_y_axis(&mut out, max);
    for (outcome, series) in rates.iter().enumerate() {
        if series.iter().all(|r| *r == 0.0) {
            continue;
        }
        let points = series.iter().enumerate().map(|(i, rate)| {
            let t = ((i as f64 + 0.5) * bin).min(end);
            (
                frame.x(t),
                plot_bottom() - rate / top * (plot_bottom() - TOP - 20.0),
            )
        });
        polyline(&mut out, OUTCOME_COLOURS[outcome], points);
    }
    x_axis(&mut out, &frame, "time since the test started (s)");
    y_label(&mut out, &format!("completions/s ({bin} s bins)"));
    legend(
        &mut out,
        &[
            ("ok".to_string(), OUTCOME_COLOURS[0]),
            ("fail".to_string(), OUTCOME_COLOURS[1]),
            ("info".to_string(), OUTCOME_COLOURS[2]),
        ],
    );
    out.push_str("</svg>");
    out
}

/// One node's commit index at a sample time (from `raftlog.jsonl`).
#[derive(Debug, Clone)]
pub struct CommitSample {
    /// The history's clock, ns.
    pub time: u64,
    /// The node.
    pub node: String,
    /// Its commit index then.
    pub commit_index: u64,
    /// The first sample after a (re)start.
    pub restart: bool,
}

/// Each node's commit index over time; restarts marked with a ring.
#[must_use]
pub fn commit_index(samples: &[CommitSample], bands: &[FaultBand], end_ns: u64) -> String {
    let last = samples
        .iter()
        .map(|s| s.time)
        .max()
        .unwrap_or(0)
        .max(end_ns);
    let end = (last as f64 / 1e9).max(1e-3);
    let frame = Frame { x0: 0.0, x1: end };
    let mut by_node: BTreeMap<&str, Vec<&CommitSample>> = BTreeMap::new();
    for sample in samples {
        by_node
            .entry(sample.node.as_str())
            .or_default()
            .push(sample);
    }
    let max = samples.iter().map(|s| s.commit_index).max().unwrap_or(1) as f64;
    let mut out = String::with_capacity(16 * 1024);
    open_svg(&mut out, "commit index of each node over time");
    bands_svg(&mut out, &frame, bands, end);
    let top = linear_y_axis(&mut out, max);
    let y = |v: u64| plot_bottom() - v as f64 / top * (plot_bottom() - TOP - 20.0);
    let mut items = Vec::new();
    for (i, (node, list)) in by_node.iter().enumerate() {
        let colour = NODE_COLOURS[i % NODE_COLOURS.len()];
        polyline(
            &mut out,
            colour,
            list.iter()
                .map(|s| (frame.x(s.time as f64 / 1e9), y(s.commit_index))),
        );
        for sample in list.iter().filter(|s| s.restart) {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="none" stroke="{colour}" stroke-width="1.5"><title>{} (re)started; commit index {}</title></circle>"#,
                frame.x(sample.time as f64 / 1e9),
                y(sample.commit_index),
                html::text(node),
                sample.commit_index
            );
        }
        items.push((node.to_string(), colour));
    }
    x_axis(&mut out, &frame, "time since the test started (s)");
    y_label(&mut out, "commit index");
    legend(&mut out, &items);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::history::ReportOp;
    use serde_json::Value;

    fn recorded(n: u64) -> Recorded {
        let ops = (0..n)
            .map(|i| ReportOp {
                id: i,
                process: i % 10,
                f: "read".into(),
                key: "k".into(),
                node: None,
                call: i * 1_000_000,
                ret: Some(i * 1_000_000 + 1_000 + (i % 997) * 10_000),
                ending: if i % 50 == 0 {
                    Ending::Info
                } else {
                    Ending::Ok
                },
                input: Value::Null,
                output: Value::Null,
                error: None,
            })
            .collect();
        Recorded {
            ops,
            nemesis: Vec::new(),
            warnings: Vec::new(),
            end: n * 1_000_000 + 10_000_000,
            clock: super::super::history::Clock::Nanos,
        }
    }

    #[test]
    fn latency_plot_is_thinned_to_the_point_budget() {
        let svg = latency(&recorded(200_000), &[]);
        let points = svg.matches("h0").count();
        assert!(points <= MAX_POINTS, "{points} points");
        assert!(points > 1_000, "{points} points");
        assert!(svg.contains("info (4000)"));
    }

    #[test]
    fn band_labels_are_escaped() {
        let band = FaultBand {
            kind: "partition".into(),
            start: 0,
            end: Some(5),
            label: "<script>x</script>".into(),
            nodes: vec![],
        };
        let svg = throughput(&recorded(10), &[band]);
        assert!(svg.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!svg.contains("<script>"));
    }

    #[test]
    fn steps_are_one_two_five() {
        assert_eq!(nice_step(10.0, 10.0), 1.0);
        assert_eq!(nice_step(17.0, 10.0), 2.0);
        assert_eq!(nice_step(0.4, 10.0), 0.05);
    }
}
