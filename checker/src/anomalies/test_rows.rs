//! Histories from compact rows, for the anomaly checks' tests.

use super::report::{AnomalyKind, AnomalyReport};
use crate::format::{read, Format};
use crate::history::History;

/// A history from `(process, type, f, key, value)` rows, `value` as JSON
/// text; indexes and times from the row number, nodes from the process.
pub(crate) fn history(rows: &[(u64, &str, &str, &str, &str)]) -> History {
    let mut text = String::new();
    for (i, (process, kind, f, key, value)) in rows.iter().enumerate() {
        text.push_str(&format!(
            r#"{{"index":{i},"time":{},"process":{process},"type":"{kind}","f":"{f}","key":"{key}","value":{value},"node":"n{}"}}"#,
            i * 10,
            process % 3 + 1
        ));
        text.push('\n');
    }
    read(&text, "test", Some(Format::Jsonl)).unwrap().0
}

/// The kinds of the anomalies listed, in report order.
pub(crate) fn kinds(report: &AnomalyReport) -> Vec<AnomalyKind> {
    report.anomalies.iter().map(|a| a.kind).collect()
}
