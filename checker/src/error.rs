//! The checker's error type: bad input, named by where it is and what was expected.

/// Everything that can go wrong before a verdict: unreadable or malformed input,
/// or a history that does not fit the chosen model. A violation is never an error.
///
/// Errors about bad input name the file, the 1-based line and column, what was
/// expected, and quote at most 120 characters of what was found,
/// so that a malformed file of any size gives one short line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line (or EDN form) could not be read.
    #[error("{source_name}:{line}:{column}: {reason}")]
    BadLine {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// 1-based column (in characters) where the problem starts.
        column: u64,
        /// What was wrong and what was expected.
        reason: String,
    },
    /// A completion with no open invoke of the same process.
    #[error(
        "{source_name}:{line}:{column}: {kind} of process {process} has no open invoke before it; expected an invoke of process {process} first"
    )]
    UnmatchedCompletion {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number of the completion.
        line: u64,
        /// 1-based column where the completion starts.
        column: u64,
        /// The process.
        process: u64,
        /// `ok`, `fail` or `info`.
        kind: String,
    },
    /// A process invoked while its previous operation was still open.
    #[error(
        "{source_name}:{line}:{column}: process {process} invokes again while its op from line {open_line} (column {open_column}) is still open; expected its completion first"
    )]
    OverlappingInvoke {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number of the second invoke.
        line: u64,
        /// 1-based column of the second invoke.
        column: u64,
        /// 1-based line number of the open invoke.
        open_line: u64,
        /// 1-based column of the open invoke.
        open_column: u64,
        /// The process.
        process: u64,
    },
    /// An operation does not fit the model (unknown `f`, wrong value shape).
    /// The reason may quote a value of the history: it is cut after 200
    /// characters so that the error stays one short line.
    #[error("{source_name}:{line}: {}", shorten(reason, 200))]
    ModelMismatch {
        /// The file or stream name.
        source_name: String,
        /// 1-based line number of the operation's invoke.
        line: u64,
        /// What was expected.
        reason: String,
    },
    /// The format could not be recognised, or the model could not be inferred.
    #[error("{source_name}: {reason}")]
    Undecided {
        /// The file or stream name.
        source_name: String,
        /// What could not be decided and how to decide it.
        reason: String,
    },
    /// Reading the file failed.
    #[error("{source_name}: {source}")]
    Io {
        /// The file name.
        source_name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The checker's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The most characters of the input an error message quotes.
pub const QUOTE_CHARS: usize = 120;

/// `text` quoted (escaped as a Rust string literal, so the quote stays on one
/// line), cut after `max` characters with `...` after the closing quote.
pub(crate) fn quote(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// At most 60 characters of `line` around byte `offset` (where a problem
/// was found), quoted: the whole line when it is short, else the 50
/// characters before the offset and 10 after, `...` marking each cut.
pub(crate) fn excerpt(line: &str, offset: usize) -> String {
    let at = column_of(line, offset) as usize - 1;
    let chars = line.chars().count();
    if chars <= 60 {
        return format!("{line:?}");
    }
    let start = at.saturating_sub(50).min(chars - 60);
    let piece: String = line.chars().skip(start).take(60).collect();
    format!(
        "{}{piece:?}{}",
        if start > 0 { "..." } else { "" },
        if start + 60 < chars { "..." } else { "" }
    )
}

/// `text` cut after `max` characters, with `...` when cut (for messages of
/// other libraries, which may quote a whole value).
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// The 1-based column, in characters, of byte `offset` of `line` (an offset
/// inside a character counts as that character's column; one past the end is
/// the column after the last character).
pub(crate) fn column_of(line: &str, offset: usize) -> u64 {
    let mut offset = offset.min(line.len());
    while !line.is_char_boundary(offset) {
        offset -= 1;
    }
    line[..offset].chars().count() as u64 + 1
}

/// What a bad line reports about a `serde_json` error inside `line`: the
/// 1-based column, the error's message (without serde's own position) cut
/// to 80 characters, and an [`excerpt`] of the line around the column.
pub(crate) fn json_error(line: &str, err: &serde_json::Error) -> (u64, String, String) {
    // serde_json counts columns in bytes from 1, and column 0 at a line's end.
    let offset = err.column().saturating_sub(1);
    let column = column_of(line, offset);
    let message = err.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => &message,
    };
    (column, shorten(message, 80), excerpt(line, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_quote_is_cut_at_a_character_boundary() {
        let text = "é".repeat(500);
        let quoted = quote(&text, QUOTE_CHARS);
        assert_eq!(quoted.chars().count(), QUOTE_CHARS + 2 + 3);
        assert!(quoted.ends_with("\"..."), "{quoted}");
        assert_eq!(quote("ab\ncd", QUOTE_CHARS), "\"ab\\ncd\"");
    }

    #[test]
    fn an_excerpt_of_a_long_line_shows_where_the_problem_is() {
        let line = format!("{}XY{}", "a".repeat(1000), "b".repeat(1000));
        let found = excerpt(&line, 1000);
        assert!(
            found.starts_with("...\"") && found.ends_with("\"..."),
            "{found}"
        );
        assert!(found.contains("aXYb"), "{found}");
        assert!(found.chars().count() <= 70, "{found}");
    }

    #[test]
    fn a_model_mismatch_quoting_a_huge_value_stays_short() {
        let err = Error::ModelMismatch {
            source_name: "h.edn".into(),
            line: 3,
            reason: format!(
                "a counter add takes an integer, got {:?}",
                "x".repeat(100_000)
            ),
        };
        let shown = err.to_string();
        assert!(
            shown.starts_with("h.edn:3: a counter add takes an integer"),
            "{shown}"
        );
        assert!(shown.chars().count() < 220, "{shown}");
    }

    #[test]
    fn a_column_counts_characters_not_bytes() {
        assert_eq!(column_of("éa", 2), 2);
        assert_eq!(column_of("éa", 1), 1);
        assert_eq!(column_of("ab", 10), 3);
    }

    #[test]
    fn a_json_error_names_the_column_and_drops_serdes_position() {
        let line = r#"{"index": "x"}"#;
        let err = serde_json::from_str::<std::collections::HashMap<String, u64>>(line).unwrap_err();
        let (column, message, found) = json_error(line, &err);
        assert_eq!(found, format!("{line:?}"));
        assert!(!message.contains("at line"), "{message}");
        assert!(message.contains("expected u64"), "{message}");
        assert_eq!(column, 13);
    }
}
