//! Escaping for everything a history contributes: HTML text, attribute
//! values, JSON inside a `<script>` block, and a per-page script nonce.
//!
//! Keys, values, errors, node names and log lines are untrusted text
//! (issue 7): they reach the page only through [`text`] / [`attr`] or as
//! JSON through [`script_json`], and the page's script writes them only
//! with `textContent` and canvas `fillText`.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};

/// Escapes `raw` for HTML text content: `& < > " '`.
#[must_use]
pub fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    push_text(&mut out, raw);
    out
}

/// Appends `raw` escaped for HTML text or a double- or single-quoted
/// attribute value to `out`. The result is also valid XML 1.0 content and
/// attribute text (JUnit XML uses it): the characters XML cannot hold at all
/// become U+FFFD.
pub fn push_text(out: &mut String, raw: &str) {
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // NUL and other C0 controls have no business in a page (nor in
            // XML, with the two noncharacters); U+FFFD keeps the position
            // visible.
            '\0'..='\u{8}'
            | '\u{b}'
            | '\u{c}'
            | '\u{e}'..='\u{1f}'
            | '\u{7f}'
            | '\u{fffe}'
            | '\u{ffff}' => {
                out.push('\u{fffd}');
            }
            c => out.push(c),
        }
    }
}

/// Escapes `raw` for a quoted attribute value (the same set as [`text`]).
#[must_use]
pub fn attr(raw: &str) -> String {
    text(raw)
}

/// Serializes `value` as JSON safe inside `<script type="application/json">`:
/// `<`, `>`, `&`, U+2028 and U+2029 become `\u003c` ... so no string in it
/// can close the script block (`</script>`), open a comment (`<!--`) or end
/// a line for an old JavaScript parser. `JSON.parse` reads it back unchanged.
///
/// # Panics
/// Never for the report's data (plain structs, maps with string keys).
#[must_use]
pub fn script_json<T: serde::Serialize>(value: &T) -> String {
    let raw = serde_json::to_string(value)
        .expect("report data serializes: plain structs and string-keyed maps");
    escape_json_for_script(&raw)
}

/// The escaping half of [`script_json`], for JSON text already made.
#[must_use]
pub fn escape_json_for_script(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + raw.len() / 16);
    for c in raw.chars() {
        match c {
            // Outside strings JSON never has these characters, so escaping
            // them as \uXXXX (valid only inside strings) changes nothing else.
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A fresh random nonce for the page's Content-Security-Policy: only the
/// page's own scripts carry it, so a script injected despite the escaping
/// still would not run.
#[must_use]
pub fn nonce() -> String {
    // RandomState is seeded from the OS's randomness once per process and
    // then per instance; two of them give 128 unpredictable bits without a
    // dependency on a random number crate.
    let mut out = String::with_capacity(32);
    for salt in 0..2u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        let _ = write!(out, "{:016x}", hasher.finish());
    }
    out
}

/// Percent-encodes one path component for an `href` (RFC 3986 unreserved
/// characters stay as they are).
#[must_use]
pub fn url_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_escapes_markup_and_quotes() {
        assert_eq!(
            text(r#""><img src=x onerror=alert(1)>"#),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(text("a'b&c"), "a&#39;b&amp;c");
        assert_eq!(text("nul\0here"), "nul\u{fffd}here");
    }

    #[test]
    fn script_json_cannot_close_the_script_block_and_round_trips() {
        let nasty = "</script><script>alert(1)</script><!-- \u{2028}\u{2029} & >";
        let json = script_json(&serde_json::json!({ "key": nasty }));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert!(!json.contains('\u{2028}') && !json.contains('\u{2029}'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["key"], nasty);
    }

    #[test]
    fn nonces_differ_and_are_hex() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn url_components_are_percent_encoded() {
        assert_eq!(url_component("raftkv-a+b"), "raftkv-a%2Bb");
        assert_eq!(url_component("../x"), "..%2Fx");
    }
}
