//! Per-node log excerpts around each fault and around the failure.
//!
//! `nodes/<id>.log` is whatever the node printed. Lines are placed on the
//! history's clock when they carry a wall-clock timestamp faultline
//! recognizes (an RFC 3339 time at the start of the line, as tracing and
//! most loggers print; a JSON `"ts"`/`"time"`/`"timestamp"` field, as etcd
//! prints; a logfmt `ts=`/`time=` field) and the run recorded when its
//! clock started (see [`zero_from_test`]). A line without a timestamp
//! takes the time of the line before it. A log with no recognizable
//! timestamps gets its last lines only.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Lines kept per node per window; those nearest the window's moment win.
pub const LINES_PER_WINDOW: usize = 40;
/// Lines of each node's tail.
pub const TAIL_LINES: usize = 40;
/// Characters kept of one line.
const LINE_CHARS: usize = 400;

/// A stretch of the run to show the logs of.
#[derive(Debug, Clone)]
pub struct Window {
    /// What happened then, in words (untrusted: escape it).
    pub label: String,
    /// The moment, ns on the history's clock.
    pub at: u64,
    /// Lines from `at - before` ...
    pub before: u64,
    /// ... to `at + after`.
    pub after: u64,
    /// Shown unfolded.
    pub open: bool,
}

/// A log line placed on the history's clock.
#[derive(Debug, Clone)]
pub struct Line {
    /// ns since the test started; negative: before it; `None`: unknown.
    pub time: Option<i64>,
    /// The text, cut at a few hundred characters.
    pub text: String,
}

/// One node's log, cut to what the report shows.
#[derive(Debug, Clone)]
pub struct NodeLog {
    /// The node (the file name without `.log`).
    pub node: String,
    /// The file.
    pub path: PathBuf,
    /// Lines in the file.
    pub lines: u64,
    /// Lines that carried a timestamp.
    pub timestamped: u64,
    /// Per window (same order as the windows given): its lines, and how
    /// many more lines fell into it.
    pub windows: Vec<(Vec<Line>, usize)>,
    /// The last lines.
    pub tail: Vec<Line>,
    /// Why the file could not be read, if it could not.
    pub error: Option<String>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]` at the start
/// of `s` into ns since the Unix epoch. No zone: UTC.
#[must_use]
pub fn parse_timestamp(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut at = 19;
    let mut nanos: i128 = 0;
    if matches!(b.get(at), Some(b'.' | b',')) {
        at += 1;
        let mut scale = 100_000_000i128;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            nanos += i128::from(c - b'0') * scale;
            scale /= 10;
            at += 1;
        }
    }
    let offset_minutes: i64 = match b.get(at) {
        Some(sign @ (b'+' | b'-')) => {
            let hours = digits(b, at + 1, 2)?;
            let minutes = if b.get(at + 3) == Some(&b':') {
                digits(b, at + 4, 2)?
            } else {
                digits(b, at + 3, 2).unwrap_or(0)
            };
            let total = hours * 60 + minutes;
            if *sign == b'+' {
                total
            } else {
                -total
            }
        }
        _ => 0,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(i128::from(seconds) * 1_000_000_000 + nanos)
}

/// The wall-clock time a log line carries, in ns since the Unix epoch.
#[must_use]
pub fn line_timestamp(line: &str) -> Option<i128> {
    let trimmed = line.trim_start_matches(['[', ' ']);
    if trimmed.len() >= 19 && trimmed.as_bytes()[0].is_ascii_digit() {
        if let Some(t) = parse_timestamp(trimmed) {
            return Some(t);
        }
    }
    for field in ["\"ts\":\"", "\"time\":\"", "\"timestamp\":\""] {
        if let Some(at) = line.find(field) {
            if let Some(t) = parse_timestamp(&line[at + field.len()..]) {
                return Some(t);
            }
        }
    }
    for field in ["ts=", "time="] {
        let mut from = 0;
        while let Some(found) = line[from..].find(field) {
            let at = from + found;
            let starts_token = at == 0 || line.as_bytes()[at - 1] == b' ';
            if starts_token {
                let value = line[at + field.len()..].trim_start_matches('"');
                if let Some(t) = parse_timestamp(value) {
                    return Some(t);
                }
            }
            from = at + field.len();
        }
    }
    None
}

/// When the history's clock started, in ns since the Unix epoch, from
/// `test.json`: its `time_zero` (RFC 3339) when the harness recorded it,
/// else `started_at` plus `setup_ms` from `results.json` (the main phase,
/// whose start is time 0, begins once setup is done; good to a few tens of
/// milliseconds).
#[must_use]
pub fn zero_from_test(test: Option<&Value>, setup_ms: Option<f64>) -> Option<i128> {
    let test = test?;
    if let Some(zero) = test.get("time_zero").and_then(Value::as_str) {
        return parse_timestamp(zero);
    }
    let started = parse_timestamp(test.get("started_at")?.as_str()?)?;
    // setup_ms is a duration in milliseconds (fractional): whole ns suffice.
    let setup_ns = setup_ms.map_or(0, |ms| (ms * 1e6) as i128);
    Some(started + setup_ns)
}

fn cut(line: &str) -> String {
    match line.char_indices().nth(LINE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// Reads `path` and keeps the lines of each window and the tail.
#[must_use]
pub fn read_node_log(path: &Path, windows: &[Window], zero: Option<i128>) -> NodeLog {
    let node = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let mut log = NodeLog {
        node,
        path: path.to_path_buf(),
        lines: 0,
        timestamped: 0,
        windows: vec![(Vec::new(), 0); windows.len()],
        tail: Vec::new(),
        error: None,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) => {
            log.error = Some(format!("cannot read {}: {err}", path.display()));
            return log;
        }
    };
    let mut reader = BufReader::new(file);
    let mut buffer = Vec::new();
    let mut tail: VecDeque<Line> = VecDeque::with_capacity(TAIL_LINES + 1);
    // Every line of each window, before the nearest are picked.
    let mut found: Vec<Vec<Line>> = vec![Vec::new(); windows.len()];
    let mut last_time: Option<i64> = None;
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                log.error = Some(format!("cannot read {}: {err}", path.display()));
                break;
            }
        }
        let text = String::from_utf8_lossy(&buffer);
        let text = text.trim_end_matches(['\n', '\r']);
        log.lines += 1;
        if let Some(stamp) = line_timestamp(text) {
            log.timestamped += 1;
            if let Some(zero) = zero {
                last_time = i64::try_from(stamp - zero).ok();
            }
        }
        let line = Line {
            time: last_time,
            text: cut(text),
        };
        if let Some(t) = last_time {
            for (window, lines) in windows.iter().zip(found.iter_mut()) {
                let from = i128::from(window.at) - i128::from(window.before);
                let to = i128::from(window.at) + i128::from(window.after);
                if (from..=to).contains(&i128::from(t)) {
                    lines.push(line.clone());
                }
            }
        }
        tail.push_back(line);
        if tail.len() > TAIL_LINES {
            tail.pop_front();
        }
    }
    for ((window, lines), out) in windows.iter().zip(found).zip(log.windows.iter_mut()) {
        let total = lines.len();
        let kept = if total > LINES_PER_WINDOW {
            let mut order: Vec<usize> = (0..total).collect();
            let at = i128::from(window.at);
            order.sort_by_key(|&i| (i128::from(lines[i].time.unwrap_or(0)) - at).abs());
            let mut keep: Vec<usize> = order[..LINES_PER_WINDOW].to_vec();
            keep.sort_unstable();
            keep.into_iter().map(|i| lines[i].clone()).collect()
        } else {
            lines
        };
        *out = (kept, total.saturating_sub(LINES_PER_WINDOW));
    }
    log.tail = tail.into();
    log
}

/// Every `nodes/*.log` of a run directory, sorted by node name.
#[must_use]
pub fn read_node_logs(run_dir: &Path, windows: &[Window], zero: Option<i128>) -> Vec<NodeLog> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("nodes")) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "log") && path.is_file())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| read_node_log(path, windows, zero))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tracing_etcd_and_logfmt_timestamps() {
        let tracing = line_timestamp("2026-11-22T01:32:37.535673Z  INFO replayed log").unwrap();
        let etcd =
            line_timestamp(r#"{"level":"info","ts":"2026-11-22T01:32:37.535673Z","msg":"ready"}"#)
                .unwrap();
        let logfmt =
            line_timestamp(r#"level=info ts="2026-11-22T02:32:37.535673+01:00" x=1"#).unwrap();
        assert_eq!(tracing, etcd);
        assert_eq!(tracing, logfmt);
        // 2026-11-22 is day 20,779 since the epoch (1,795,311,157 s at 01:32:37).
        assert_eq!(
            tracing / 1_000_000_000,
            20_779 * 86_400 + 3_600 + 32 * 60 + 37
        );
        assert_eq!(tracing % 1_000_000_000, 535_673_000);
        assert!(line_timestamp("raftkv: error: no such file").is_none());
        assert!(line_timestamp("2026-13-01T00:00:00Z nonsense month").is_none());
    }

    #[test]
    fn keeps_window_lines_on_the_history_clock_and_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n1.log");
        std::fs::write(
            &path,
            "2026-11-22T00:00:00.000Z start\n\
             2026-11-22T00:00:05.000Z before the fault\n\
             untimed continuation\n\
             2026-11-22T00:00:09.000Z long after\n",
        )
        .unwrap();
        let zero = parse_timestamp("2026-11-22T00:00:00Z");
        let window = Window {
            label: "kill n1".into(),
            at: 5_500_000_000,
            before: 1_000_000_000,
            after: 1_000_000_000,
            open: false,
        };
        let log = read_node_log(&path, &[window], zero);
        assert_eq!((log.lines, log.timestamped), (4, 3));
        let (lines, more) = &log.windows[0];
        assert_eq!(*more, 0);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "2026-11-22T00:00:05.000Z before the fault",
                "untimed continuation"
            ]
        );
        assert_eq!(lines[0].time, Some(5_000_000_000));
        assert_eq!(log.tail.len(), 4);
    }

    #[test]
    fn zero_is_time_zero_or_start_plus_setup() {
        let with_zero = serde_json::json!({"time_zero": "2026-11-22T00:00:01Z", "started_at": "2026-11-22T00:00:00Z"});
        let without = serde_json::json!({"started_at": "2026-11-22T00:00:00.000Z"});
        assert_eq!(
            zero_from_test(Some(&with_zero), Some(500.0)),
            parse_timestamp("2026-11-22T00:00:01Z")
        );
        assert_eq!(
            zero_from_test(Some(&without), Some(500.0)),
            parse_timestamp("2026-11-22T00:00:00.5Z")
        );
    }
}
