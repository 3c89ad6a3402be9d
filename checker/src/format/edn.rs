//! A small EDN reader: the part of Clojure's data notation that Jepsen and
//! Knossos write (maps, vectors, lists, sets, keywords with namespaces,
//! strings with escapes, integers of any size, floats, ratios, `nil`,
//! booleans, symbols, characters, tagged literals and records, metadata,
//! `;` comments and `#_` discards).
//!
//! Errors name the 1-based line and column, say what was expected, and
//! quote a few dozen characters of what was found.

use std::fmt::{self, Write as _};

use serde_json::{Map, Number, Value};

use crate::error::{quote, QUOTE_CHARS};

/// How deep collections (and `#_`, `#tag`, `^meta` prefixes) may nest: far
/// more than any history needs, and little enough stack for any thread.
pub const MAX_DEPTH: usize = 100;

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer that fits in i64.
    Int(i64),
    /// An integer beyond i64, as its decimal digits with a leading `-` when
    /// negative (no `N`): compared exactly, never rounded.
    BigInt(String),
    /// A float, a big decimal (`M`) or a ratio, as the nearest f64.
    Float(f64),
    /// A string.
    Str(String),
    /// `:name` or `:ns/name`, stored without the colon.
    Keyword(String),
    /// A bare symbol.
    Symbol(String),
    /// `\c`
    Char(char),
    /// `[...]`
    Vector(Vec<Edn>),
    /// `(...)`
    List(Vec<Edn>),
    /// `#{...}`
    Set(Vec<Edn>),
    /// `{...}` as ordered pairs.
    Map(Vec<(Edn, Edn)>),
    /// `#tag value`, such as `#inst "..."` or a record `#jepsen.history.Op{...}`.
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value under keyword `key`, for a map or a tagged map (a record).
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
                .map(|(_, v)| v),
            Edn::Tagged(_, inner) => inner.get(key),
            _ => None,
        }
    }

    /// Whether this is a map, or a tagged map (a record).
    pub fn is_map(&self) -> bool {
        match self {
            Edn::Map(_) => true,
            Edn::Tagged(_, inner) => inner.is_map(),
            _ => false,
        }
    }

    /// The value as JSON: keywords and symbols become strings (without the
    /// colon), collections become arrays, map keys become strings, tags are
    /// dropped. An integer beyond i64 becomes a JSON integer when it fits in
    /// u64, else the string of its digits followed by `N` (so it compares
    /// exactly); `##Inf`, `##-Inf` and `##NaN` become those strings.
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::Number((*i).into()),
            Edn::BigInt(digits) => match digits.parse::<u64>() {
                Ok(n) => Value::Number(n.into()),
                Err(_) => Value::String(format!("{digits}N")),
            },
            Edn::Float(f) => match Number::from_f64(*f) {
                Some(n) => Value::Number(n),
                None => Value::String(non_finite(*f).to_string()),
            },
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::Vector(items) | Edn::List(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    let key = match k {
                        Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
                        other => other.to_json().to_string(),
                    };
                    map.insert(key, v.to_json());
                }
                Value::Object(map)
            }
            Edn::Tagged(_, inner) => inner.to_json(),
        }
    }

    /// The value printed as EDN, cut after 120 characters (with
    /// `...`): what an error message shows of a value, however large.
    pub fn shown(&self) -> String {
        let mut out = Limited {
            text: String::new(),
            room: QUOTE_CHARS,
        };
        if write!(out, "{self}").is_err() {
            out.text.push_str("...");
        }
        out.text
    }
}

/// `##Inf`, `##-Inf` or `##NaN`.
fn non_finite(f: f64) -> &'static str {
    if f.is_nan() {
        "##NaN"
    } else if f > 0.0 {
        "##Inf"
    } else {
        "##-Inf"
    }
}

/// A writer that takes at most `room` characters, then fails.
struct Limited {
    text: String,
    room: usize,
}

impl fmt::Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.room == 0 {
                return Err(fmt::Error);
            }
            self.text.push(c);
            self.room -= 1;
        }
        Ok(())
    }
}

/// Prints EDN that this reader (and Clojure's) reads back as the same value.
impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(close)
        }
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::BigInt(digits) => write!(f, "{digits}N"),
            Edn::Float(x) if x.is_finite() => write!(f, "{x:?}"),
            Edn::Float(x) => f.write_str(non_finite(*x)),
            Edn::Str(s) => {
                f.write_char('"')?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        '\r' => f.write_str("\\r")?,
                        c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                        c => f.write_char(c)?,
                    }
                }
                f.write_char('"')
            }
            Edn::Keyword(name) => write!(f, ":{name}"),
            Edn::Symbol(name) => f.write_str(name),
            Edn::Char(c) => match c {
                '\n' => f.write_str("\\newline"),
                ' ' => f.write_str("\\space"),
                '\t' => f.write_str("\\tab"),
                '\r' => f.write_str("\\return"),
                '\u{8}' => f.write_str("\\backspace"),
                '\u{c}' => f.write_str("\\formfeed"),
                c if c.is_control() || c.is_whitespace() => write!(f, "\\u{:04x}", *c as u32),
                c => write!(f, "\\{c}"),
            },
            Edn::Vector(items) => seq(f, "[", items, "]"),
            Edn::List(items) => seq(f, "(", items, ")"),
            Edn::Set(items) => seq(f, "#{", items, "}"),
            Edn::Map(pairs) => {
                f.write_char('{')?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_char('}')
            }
            Edn::Tagged(tag, inner) => write!(f, "#{tag} {inner}"),
        }
    }
}

/// A parse error: where, what was expected and what was found.
#[derive(Debug, Clone, PartialEq)]
pub struct EdnError {
    /// 1-based line where the problem is.
    pub line: u64,
    /// 1-based column (in characters) where the problem is.
    pub column: u64,
    /// What was expected and what was found.
    pub reason: String,
}

/// A place in the text: 1-based line and column, and the byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in characters.
    pub column: u64,
    offset: usize,
}

/// A streaming reader over EDN text.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    line: u64,
    /// Byte offset where the current line starts.
    line_start: usize,
    /// UTF-8 continuation bytes between `line_start` and `pos`, so that a
    /// column counts characters.
    continuation: usize,
    depth: usize,
}

/// Whether each byte ends a token: whitespace, `,`, brackets, `"`, `;`.
static DELIMITER: [bool; 256] = {
    let mut table = [false; 256];
    let delimiters = b" \t\n\r\x0b\x0c,{}[]()\";";
    let mut i = 0;
    while i < delimiters.len() {
        table[delimiters[i] as usize] = true;
        i += 1;
    }
    table
};

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            pos: 0,
            line: 1,
            line_start: 0,
            continuation: 0,
            depth: 0,
        }
    }

    /// Where the reader is.
    pub fn mark(&self) -> Mark {
        Mark {
            line: self.line,
            column: (self.pos - self.line_start - self.continuation) as u64 + 1,
            offset: self.pos,
        }
    }

    /// An error at `mark`: `expected ...`, then what the text holds there.
    pub fn expected_at<T>(&self, mark: Mark, expected: &str) -> Result<T, EdnError> {
        Err(EdnError {
            line: mark.line,
            column: mark.column,
            reason: format!("expected {expected}, found {}", self.found_at(mark.offset)),
        })
    }

    /// An error at the reader's place.
    fn expected<T>(&self, expected: &str) -> Result<T, EdnError> {
        self.expected_at(self.mark(), expected)
    }

    /// A quote of the text at byte `offset`, up to the end of its line and
    /// at most 40 characters; or "the end of the input".
    fn found_at(&self, offset: usize) -> String {
        let rest = self.text.get(offset..).unwrap_or("");
        if rest.is_empty() {
            return "the end of the input".into();
        }
        let line = rest.split('\n').next().unwrap_or("");
        if line.trim().is_empty() {
            return "the end of the line".into();
        }
        quote(line, 40)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
            self.line_start = self.pos;
            self.continuation = 0;
        } else if c & 0xC0 == 0x80 {
            self.continuation += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas, `;` and `#!` comments, and `#_` discards
    /// (each drops the next form, itself read in full; `#_ #_ a b` drops
    /// both).
    ///
    /// # Errors
    /// When a discarded form is not valid EDN.
    pub fn skip_space(&mut self) -> Result<(), EdnError> {
        while let Some(c) = self.peek() {
            match c {
                // ASCII, not a newline: only the position moves.
                b' ' | b'\t' | b'\r' | b',' | b'\x0b' | b'\x0c' => self.pos += 1,
                b'\n' => {
                    self.bump();
                }
                b';' => self.skip_line(),
                b'#' if self.peek_at(1) == Some(b'!') => self.skip_line(),
                b'#' if self.peek_at(1) == Some(b'_') => {
                    let mark = self.mark();
                    self.bump();
                    self.bump();
                    self.skip_space()?;
                    if matches!(self.peek(), None | Some(b'}' | b']' | b')')) {
                        return self.expected_at(mark, "a form after #_ (the form it discards)");
                    }
                    self.read()?;
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn skip_line(&mut self) {
        match memchr::memchr(b'\n', &self.text.as_bytes()[self.pos..]) {
            Some(n) => {
                // The comment's bytes stay on this line: only the newline counts.
                self.pos += n;
                self.bump();
            }
            None => self.advance(self.text.len() - self.pos),
        }
    }

    /// The first byte of the next form, after space, comments and
    /// discards; `None` at the end of the text.
    ///
    /// # Errors
    /// When a discarded form is not valid EDN.
    pub fn peek_form(&mut self) -> Result<Option<u8>, EdnError> {
        self.skip_space()?;
        Ok(self.peek())
    }

    /// Consumes one byte that [`Reader::peek_form`] returned (an opening or
    /// closing bracket).
    pub fn consume(&mut self) {
        self.bump();
    }

    /// Reads the next form.
    ///
    /// # Errors
    /// When the text is not valid EDN, naming the line and column.
    pub fn read(&mut self) -> Result<Edn, EdnError> {
        if self.depth >= MAX_DEPTH {
            return self.expected(&format!("forms nested at most {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let form = self.read_form();
        self.depth -= 1;
        form
    }

    fn read_form(&mut self) -> Result<Edn, EdnError> {
        self.skip_space()?;
        let start = self.mark();
        let Some(c) = self.peek() else {
            return self.expected("a form");
        };
        match c {
            b'{' => {
                self.bump();
                let items = self.read_until(b'}', start, "map")?;
                if items.len() % 2 != 0 {
                    return self
                        .expected_at(start, "a map of key-value pairs (an even number of forms)");
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            b'[' => {
                self.bump();
                Ok(Edn::Vector(self.read_until(b']', start, "vector")?))
            }
            b'(' => {
                self.bump();
                Ok(Edn::List(self.read_until(b')', start, "list")?))
            }
            b'"' => Ok(Edn::Str(self.read_string()?)),
            b'#' => self.read_dispatch(start),
            b'\\' => self.read_char(start),
            b'}' | b']' | b')' => self.expected("a form"),
            b':' => {
                self.bump();
                let name = self.read_token();
                if name.is_empty() {
                    return self.expected_at(start, "a keyword name after :");
                }
                Ok(Edn::Keyword(name.to_string()))
            }
            b'^' => {
                // Metadata: read and dropped, the form it annotates is read.
                self.bump();
                self.read()?;
                self.read()
            }
            b'\'' | b'`' | b'@' => {
                // Quote, syntax quote, deref: the form itself is read.
                self.bump();
                self.read()
            }
            _ => {
                let token = self.read_token();
                if token.is_empty() {
                    return self.expected_at(start, "a form");
                }
                self.atom(token, start)
            }
        }
    }

    /// After `#`: a set, a symbolic value, a regex, or a tag and its form.
    fn read_dispatch(&mut self, start: Mark) -> Result<Edn, EdnError> {
        self.bump();
        match self.peek() {
            Some(b'{') => {
                self.bump();
                Ok(Edn::Set(self.read_until(b'}', start, "set")?))
            }
            Some(b'#') => {
                self.bump();
                match self.read_token() {
                    "Inf" => Ok(Edn::Float(f64::INFINITY)),
                    "-Inf" => Ok(Edn::Float(f64::NEG_INFINITY)),
                    "NaN" => Ok(Edn::Float(f64::NAN)),
                    _ => self.expected_at(start, "##Inf, ##-Inf or ##NaN"),
                }
            }
            Some(b'"') => Ok(Edn::Str(self.read_string()?)),
            _ => {
                let tag = self.read_token();
                if tag.is_empty() {
                    return self.expected_at(start, "a tag, a set #{...} or a discard #_ after #");
                }
                let tag = tag.to_string();
                if matches!(self.peek_form()?, None | Some(b'}' | b']' | b')')) {
                    return self.expected(&format!("a form after the tag #{tag}"));
                }
                let value = self.read()?;
                Ok(Edn::Tagged(tag, Box::new(value)))
            }
        }
    }

    /// After `\`: one character, a name (`\newline`), `\uXXXX` or `\oNNN`.
    fn read_char(&mut self, start: Mark) -> Result<Edn, EdnError> {
        self.bump();
        let token_start = self.pos;
        // The first character is taken whatever it is (`\(`, `\;`, `\é`).
        let Some(first) = self.text[self.pos..].chars().next() else {
            return self.expected("a character after \\");
        };
        for _ in 0..first.len_utf8() {
            self.bump();
        }
        self.read_token();
        let token = &self.text[token_start..self.pos];
        let named = match token {
            "newline" => Some('\n'),
            "space" => Some(' '),
            "tab" => Some('\t'),
            "return" => Some('\r'),
            "backspace" => Some('\u{8}'),
            "formfeed" => Some('\u{c}'),
            t if t.chars().count() == 1 => Some(first),
            t if t.len() == 5 && t.starts_with('u') => u32::from_str_radix(&t[1..], 16)
                .ok()
                .and_then(char::from_u32),
            t if t.len() >= 2 && t.len() <= 4 && t.starts_with('o') => {
                u32::from_str_radix(&t[1..], 8)
                    .ok()
                    .filter(|n| *n <= 0o377)
                    .and_then(char::from_u32)
            }
            _ => None,
        };
        match named {
            Some(c) => Ok(Edn::Char(c)),
            None => self.expected_at(
                start,
                "a character literal (\\c, \\newline, \\space, \\tab, \\uXXXX, ...)",
            ),
        }
    }

    fn atom(&mut self, token: &str, start: Mark) -> Result<Edn, EdnError> {
        match token {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        let bytes = token.as_bytes();
        let numeric = bytes[0].is_ascii_digit()
            || (matches!(bytes[0], b'-' | b'+') && bytes.len() > 1 && bytes[1].is_ascii_digit());
        if !numeric {
            return Ok(Edn::Symbol(token.to_string()));
        }
        match number(token) {
            Some(n) => Ok(n),
            None => self.expected_at(
                start,
                "a number (an integer, 12N, 1.5, 1e3, 1.5M, 1/2, 0x1F or 2r101)",
            ),
        }
    }

    fn read_token(&mut self) -> &'a str {
        // A token holds no newline: only its characters count for columns.
        let start = self.pos;
        let mut continuation = 0;
        for &c in &self.text.as_bytes()[start..] {
            if DELIMITER[c as usize] {
                break;
            }
            continuation += usize::from(c & 0xC0 == 0x80);
            self.pos += 1;
        }
        self.continuation += continuation;
        &self.text[start..self.pos]
    }

    /// Moves `n` bytes on, keeping line and column.
    fn advance(&mut self, n: usize) {
        let run = &self.text.as_bytes()[self.pos..self.pos + n];
        let after_newline = match memchr::memrchr(b'\n', run) {
            Some(last) => {
                self.line += memchr::memchr_iter(b'\n', run).count() as u64;
                self.line_start = self.pos + last + 1;
                self.continuation = 0;
                &run[last + 1..]
            }
            None => run,
        };
        self.continuation += after_newline.iter().filter(|&&c| c & 0xC0 == 0x80).count();
        self.pos += n;
    }

    fn read_until(&mut self, close: u8, open: Mark, what: &str) -> Result<Vec<Edn>, EdnError> {
        let mut items = Vec::new();
        loop {
            match self.peek_form()? {
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                None | Some(b'}' | b']' | b')') => {
                    return self.expected(&format!(
                        "{} to close the {what} opened at line {}, column {}",
                        close as char, open.line, open.column
                    ))
                }
                Some(_) => items.push(self.read()?),
            }
        }
    }

    fn read_string(&mut self) -> Result<String, EdnError> {
        let open = self.mark();
        self.bump();
        let mut text = String::new();
        loop {
            // Copy the run of plain bytes up to the next quote or backslash.
            let rest = &self.text.as_bytes()[self.pos..];
            let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
            text.push_str(&self.text[self.pos..self.pos + run]);
            self.advance(run);
            let escape = self.mark();
            match self.bump() {
                None => {
                    return self.expected(&format!(
                        "\" to close the string opened at line {}, column {}",
                        open.line, open.column
                    ))
                }
                Some(b'"') => return Ok(text),
                Some(_) => {}
            }
            let Some(c) = self.peek() else {
                return self.expected("an escape after \\");
            };
            match c {
                b'n' | b't' | b'r' | b'b' | b'f' | b'"' | b'\\' => {
                    self.bump();
                    text.push(match c {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        other => other as char,
                    });
                }
                b'u' => {
                    self.bump();
                    let unit = self.hex4(escape)?;
                    let c = if (0xD800..0xDC00).contains(&unit)
                        && self.peek() == Some(b'\\')
                        && self.peek_at(1) == Some(b'u')
                    {
                        // A surrogate pair, as Clojure prints characters
                        // beyond the Basic Multilingual Plane.
                        let low_mark = self.mark();
                        self.bump();
                        self.bump();
                        let low = self.hex4(low_mark)?;
                        if (0xDC00..0xE000).contains(&low) {
                            char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        } else {
                            text.push(char::REPLACEMENT_CHARACTER);
                            char::from_u32(low)
                        }
                    } else {
                        char::from_u32(unit)
                    };
                    text.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                b'0'..=b'7' => {
                    let mut n = 0u32;
                    let mut digits = 0;
                    while digits < 3 {
                        match self.peek() {
                            Some(d @ b'0'..=b'7') if n * 8 + u32::from(d - b'0') <= 0o377 => {
                                n = n * 8 + u32::from(d - b'0');
                                digits += 1;
                                self.bump();
                            }
                            _ => break,
                        }
                    }
                    text.push(char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                _ => {
                    return self.expected_at(
                        escape,
                        "a string escape (\\n \\t \\r \\b \\f \\\" \\\\ \\uXXXX or octal)",
                    )
                }
            }
        }
    }

    /// Four hex digits after `\u` (whose backslash is at `escape`).
    fn hex4(&mut self, escape: Mark) -> Result<u32, EdnError> {
        let digits = self.text.get(self.pos..self.pos + 4).unwrap_or("");
        match u32::from_str_radix(digits, 16) {
            Ok(n) if digits.bytes().all(|b| b.is_ascii_hexdigit()) => {
                for _ in 0..4 {
                    self.bump();
                }
                Ok(n)
            }
            _ => self.expected_at(escape, "\\u and four hex digits"),
        }
    }
}

/// A numeric token as EDN (and Clojure's reader) reads it, or `None`.
fn number(token: &str) -> Option<Edn> {
    let (negative, body) = match token.as_bytes()[0] {
        b'-' => (true, &token[1..]),
        b'+' => (false, &token[1..]),
        _ => (false, token),
    };
    if let Some((num, den)) = body.split_once('/') {
        let (n, d) = (num.parse::<f64>().ok()?, den.parse::<f64>().ok()?);
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(num) || !all_digits(den) || d == 0.0 {
            return None;
        }
        return Some(Edn::Float(if negative { -n / d } else { n / d }));
    }
    let integer = body.strip_suffix('N').unwrap_or(body);
    if !integer.is_empty() && integer.bytes().all(|b| b.is_ascii_digit()) {
        // Clojure reads a leading 0 as octal (`010` is 8).
        if integer.len() > 1 && integer.starts_with('0') {
            return radix(negative, &integer[1..], 8);
        }
        return Some(decimal(negative, integer));
    }
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return radix(negative, hex.strip_suffix('N').unwrap_or(hex), 16);
    }
    if let Some((base, digits)) = body.split_once(['r', 'R']) {
        let base: u32 = base.parse().ok().filter(|b| (2..=36).contains(b))?;
        return radix(negative, digits, base);
    }
    let float = body.strip_suffix('M').unwrap_or(body);
    let valid = float
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if !valid {
        return None;
    }
    let f: f64 = float.parse().ok()?;
    Some(Edn::Float(if negative { -f } else { f }))
}

/// Decimal digits as an i64, else exactly as a big integer.
fn decimal(negative: bool, digits: &str) -> Edn {
    let small = match digits.parse::<u64>() {
        Ok(n) if !negative => i64::try_from(n).ok(),
        Ok(n) => 0i64.checked_sub_unsigned(n),
        Err(_) => None,
    };
    match small {
        Some(n) => Edn::Int(n),
        None => {
            let trimmed = digits.trim_start_matches('0');
            Edn::BigInt(if negative {
                format!("-{trimmed}")
            } else {
                trimmed.to_string()
            })
        }
    }
}

/// Digits in `base`: an i64, else (through u128) a big integer; `None` when
/// a digit does not belong to the base or the value passes u128.
fn radix(negative: bool, digits: &str, base: u32) -> Option<Edn> {
    if digits.is_empty() {
        return None;
    }
    let n = u128::from_str_radix(digits, base).ok()?;
    Some(decimal(negative, &n.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_one(text: &str) -> Edn {
        let mut reader = Reader::new(text);
        let form = reader.read().unwrap_or_else(|e| panic!("{text}: {e:?}"));
        assert_eq!(reader.peek_form().unwrap(), None, "{text}");
        form
    }

    #[test]
    fn reads_a_jepsen_op_map() {
        let op = read_one("{:type :invoke, :f :cas, :value [1 2], :process 3, :time 1234}");
        assert_eq!(op.get("type"), Some(&Edn::Keyword("invoke".into())));
        assert_eq!(op.get("value").unwrap().to_json(), json!([1, 2]));
        assert_eq!(op.get("process"), Some(&Edn::Int(3)));
    }

    #[test]
    fn reads_strings_with_escapes_sets_and_tags() {
        let value = read_one(r#"["a\"b\n\t\\" #{1 2} #inst "2020" nil true -4 2.5 \c] ; c"#);
        assert_eq!(
            value.to_json(),
            json!(["a\"b\n\t\\", [1, 2], "2020", null, true, -4, 2.5, "c"])
        );
    }

    #[test]
    fn a_unicode_escape_and_a_surrogate_pair_become_their_characters() {
        let value = read_one(r#"["\u00e9\u0041" "\uD83D\uDE00" "\101"]"#);
        assert_eq!(value.to_json(), json!(["éA", "😀", "A"]));
    }

    #[test]
    fn a_tagged_record_is_read_as_its_map() {
        let op = read_one("#jepsen.history.Op{:index 0, :type :ok, :process 1}");
        assert!(op.is_map());
        assert_eq!(op.get("process"), Some(&Edn::Int(1)));
        assert_eq!(op.get("index"), Some(&Edn::Int(0)));
    }

    #[test]
    fn discards_drop_the_next_form_nested_and_at_the_end_of_a_collection() {
        assert_eq!(
            read_one("[1 #_2 3 #_ #_ 4 5 6 #_[7 8]]").to_json(),
            json!([1, 3, 6])
        );
        assert_eq!(read_one("#_{:a 1} {:b 2}").get("b"), Some(&Edn::Int(2)));
        let mut reader = Reader::new("[1 #_]");
        let err = reader.read().unwrap_err();
        assert_eq!((err.line, err.column), (1, 4));
        assert!(err.reason.contains("#_"), "{err:?}");
    }

    #[test]
    fn integers_beyond_i64_are_kept_exactly() {
        let value = read_one("[9223372036854775808 18446744073709551615N -9223372036854775809 123456789012345678901234567890 12N 0x10 010]");
        assert_eq!(
            value.to_json(),
            json!([
                9223372036854775808u64,
                18446744073709551615u64,
                "-9223372036854775809N",
                "123456789012345678901234567890N",
                12,
                16,
                8
            ])
        );
    }

    #[test]
    fn floats_ratios_and_symbolic_values_are_read_without_panicking() {
        let value = read_one("[1.5M 1e3 -2.5e-1 1/2 -3/4 ##Inf ##-Inf ##NaN]");
        assert_eq!(
            value.to_json(),
            json!([1.5, 1000.0, -0.25, 0.5, -0.75, "##Inf", "##-Inf", "##NaN"])
        );
        let mut reader = Reader::new("12abc");
        let err = reader.read().unwrap_err();
        assert!(err.reason.starts_with("expected a number"), "{err:?}");
    }

    #[test]
    fn characters_keywords_with_namespaces_and_metadata_are_read() {
        let value = read_one(r"[\a \newline \u0041 \( :jepsen.history/op ^:meta sym]");
        assert_eq!(
            value,
            Edn::Vector(vec![
                Edn::Char('a'),
                Edn::Char('\n'),
                Edn::Char('A'),
                Edn::Char('('),
                Edn::Keyword("jepsen.history/op".into()),
                Edn::Symbol("sym".into()),
            ])
        );
    }

    #[test]
    fn an_error_names_line_column_expectation_and_what_was_found() {
        let mut reader = Reader::new("{:a 1}\n  {:b }}");
        reader.read().unwrap();
        let err = reader.read().unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        assert!(
            err.reason.starts_with("expected a map of key-value pairs"),
            "{err:?}"
        );
        assert!(err.reason.contains("found \"{:b }}\""), "{err:?}");
    }

    #[test]
    fn an_unclosed_vector_names_where_it_opened() {
        let mut reader = Reader::new("[1 2\n 3");
        let err = reader.read().unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        assert!(err.reason.contains("opened at line 1, column 1"), "{err:?}");
        assert!(
            err.reason.ends_with("found the end of the input"),
            "{err:?}"
        );
    }

    #[test]
    fn columns_count_characters() {
        let mut reader = Reader::new("\"é\" }");
        reader.read().unwrap();
        let err = reader.read().unwrap_err();
        assert_eq!((err.line, err.column), (1, 5));
    }

    #[test]
    fn a_comment_at_the_end_of_the_text_keeps_columns_in_characters() {
        let err = Reader::new("[1 ; é").read().unwrap_err();
        assert_eq!((err.line, err.column), (1, 7));
        assert!(
            err.reason.ends_with("found the end of the input"),
            "{err:?}"
        );
    }

    #[test]
    fn nesting_too_deep_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        let err = Reader::new(&text).read().unwrap_err();
        assert!(err.reason.contains("nested at most"), "{err:?}");
        let text = format!("{}{}", "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        Reader::new(&text).read().unwrap();
    }

    #[test]
    fn printed_values_read_back_the_same() {
        let text = r#"{:a [1 -2 3.5 "x\"y\n" \c \space nil true], :b #{:k/w sym}, :c (12345678901234567890123N), #t "q" ##NaN}"#;
        let value = read_one(text);
        let again = read_one(&value.to_string());
        assert_eq!(value.to_string(), again.to_string());
        assert!(value.shown().len() <= QUOTE_CHARS + 3);
    }
}
