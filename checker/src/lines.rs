//! JSON Lines files of records other than the history (`raftlog.jsonl`,
//! `revisions.jsonl`): one record per line, read as a history is read
//! (docs/design.md, "History").

use serde::de::DeserializeOwned;

use crate::error::{json_error, Error, Result};

/// Reads one `T` per line, blank lines skipped. Returns the records and
/// warnings: a torn last line (no newline at the end and not valid JSON:
/// the writer died mid-line) is dropped with a warning.
///
/// # Errors
/// [`Error::BadLine`] naming `source_name`, the line and column, and
/// `expected` (what a line should be) for any other line that is not a `T`,
/// quoting the start of the line.
pub(crate) fn read_json_lines<T: DeserializeOwned>(
    text: &str,
    source_name: &str,
    expected: &str,
) -> Result<(Vec<T>, Vec<String>)> {
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    let torn_possible = !text.is_empty() && !text.ends_with('\n');
    let line_count = text.lines().count();
    for (number, raw) in text.lines().enumerate() {
        let line = number as u64 + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(trimmed) {
            Ok(record) => records.push(record),
            Err(err) if torn_possible && number + 1 == line_count => {
                let (_, message, _) = json_error(trimmed, &err);
                warnings.push(format!(
                    "{source_name}:{line}: ignored a torn last line ({message}); the writer probably died mid-line"
                ))
            }
            Err(err) => {
                let (column, message, found) = json_error(trimmed, &err);
                let indent = &raw[..raw.len() - raw.trim_start().len()];
                let column = column + indent.chars().count() as u64;
                return Err(Error::BadLine {
                    source_name: source_name.to_string(),
                    line,
                    column,
                    reason: format!("expected {expected} ({message}), found {found}"),
                });
            }
        }
    }
    Ok((records, warnings))
}
