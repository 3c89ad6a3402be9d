//! A small EDN reader: enough of Clojure's data notation for Jepsen and
//! Knossos histories (maps, vectors, lists, sets, keywords, strings, numbers,
//! nil, booleans, symbols, characters, tagged literals, comments, `#_`).

use serde_json::{Map, Number, Value};

/// An EDN value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edn {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer that fits in i64.
    Int(i64),
    /// A float, or an integer too big for i64.
    Float(f64),
    /// A string.
    Str(String),
    /// `:name`, stored without the colon.
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
    /// `#tag value`
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value under keyword `key`, for a map.
    pub fn get(&self, key: &str) -> Option<&Edn> {
        match self {
            Edn::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as JSON: keywords and symbols become strings (without the
    /// colon), collections become arrays, map keys become strings.
    pub fn to_json(&self) -> Value {
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::Number((*i).into()),
            Edn::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
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
}

/// A parse error with its 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct EdnError {
    /// 1-based line where the problem is.
    pub line: u64,
    /// What was expected.
    pub reason: String,
}

/// A streaming reader over EDN text.
pub struct Reader<'a> {
    text: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Reader {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// The 1-based line the reader is on.
    pub fn line(&self) -> u64 {
        self.line
    }

    fn error<T>(&self, reason: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            reason: reason.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.pos += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas and comments.
    pub fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                    self.bump();
                }
                b';' => {
                    while let Some(c) = self.bump() {
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                _ => break,
            }
        }
    }

    /// Whether only whitespace and comments remain.
    pub fn at_end(&mut self) -> bool {
        self.skip_space();
        self.peek().is_none()
    }

    /// Whether the next form opens a vector (`[`).
    pub fn next_is_vector(&mut self) -> bool {
        self.skip_space();
        self.peek() == Some(b'[')
    }

    /// Consumes an opening `[`.
    pub fn open_vector(&mut self) -> Result<(), EdnError> {
        self.skip_space();
        match self.bump() {
            Some(b'[') => Ok(()),
            _ => self.error("expected ["),
        }
    }

    /// Consumes a closing `]` if it is next; returns whether it did.
    pub fn close_vector(&mut self) -> bool {
        self.skip_space();
        if self.peek() == Some(b']') {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Reads the next form.
    ///
    /// # Errors
    /// When the text is not valid EDN, naming the line.
    pub fn read(&mut self) -> Result<Edn, EdnError> {
        self.skip_space();
        let Some(c) = self.peek() else {
            return self.error("unexpected end of input");
        };
        match c {
            b'{' => {
                self.bump();
                let items = self.read_until(b'}')?;
                if items.len() % 2 != 0 {
                    return self.error("a map needs an even number of forms");
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
                Ok(Edn::Vector(self.read_until(b']')?))
            }
            b'(' => {
                self.bump();
                Ok(Edn::List(self.read_until(b')')?))
            }
            b'"' => self.read_string(),
            b'#' => {
                self.bump();
                match self.peek() {
                    Some(b'{') => {
                        self.bump();
                        Ok(Edn::Set(self.read_until(b'}')?))
                    }
                    Some(b'_') => {
                        self.bump();
                        self.read()?;
                        self.read()
                    }
                    _ => {
                        let tag = self.read_token();
                        if tag.is_empty() {
                            return self.error("expected a tag after #");
                        }
                        let value = self.read()?;
                        Ok(Edn::Tagged(tag, Box::new(value)))
                    }
                }
            }
            b'\\' => {
                self.bump();
                let token = self.read_token();
                let ch = match token.as_str() {
                    "newline" => '\n',
                    "space" => ' ',
                    "tab" => '\t',
                    "return" => '\r',
                    t if t.chars().count() == 1 => t.chars().next().expect("one char"),
                    "" => match self.bump() {
                        Some(c) => c as char,
                        None => return self.error("expected a character after \\"),
                    },
                    t => return self.error(format!("unknown character literal \\{t}")),
                };
                Ok(Edn::Char(ch))
            }
            b'}' | b']' | b')' => self.error(format!("unexpected {}", c as char)),
            b':' => {
                self.bump();
                let name = self.read_token();
                if name.is_empty() {
                    return self.error("expected a keyword name after :");
                }
                Ok(Edn::Keyword(name))
            }
            _ => {
                let token = self.read_token();
                if token.is_empty() {
                    return self.error(format!("unexpected character {:?}", c as char));
                }
                Ok(self.atom(token))
            }
        }
    }

    fn atom(&self, token: String) -> Edn {
        match token.as_str() {
            "nil" => return Edn::Nil,
            "true" => return Edn::Bool(true),
            "false" => return Edn::Bool(false),
            _ => {}
        }
        let first = token.as_bytes()[0];
        let numeric = first.is_ascii_digit()
            || ((first == b'-' || first == b'+')
                && token.len() > 1
                && token.as_bytes()[1].is_ascii_digit());
        if numeric {
            let body = token.trim_end_matches(['N', 'M']);
            if let Ok(i) = body.parse::<i64>() {
                return Edn::Int(i);
            }
            if let Ok(f) = body.parse::<f64>() {
                return Edn::Float(f);
            }
            if let Some((num, den)) = body.split_once('/') {
                if let (Ok(n), Ok(d)) = (num.parse::<f64>(), den.parse::<f64>()) {
                    return Edn::Float(n / d);
                }
            }
        }
        Edn::Symbol(token)
    }

    fn read_token(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace()
                || matches!(
                    c,
                    b',' | b'{' | b'}' | b'[' | b']' | b'(' | b')' | b'"' | b';'
                )
            {
                break;
            }
            self.bump();
        }
        String::from_utf8_lossy(&self.text[start..self.pos]).into_owned()
    }

    fn read_until(&mut self, close: u8) -> Result<Vec<Edn>, EdnError> {
        let open_line = self.line;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => {
                    return self.error(format!(
                        "unclosed collection opened on line {open_line}: expected {}",
                        close as char
                    ))
                }
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => items.push(self.read()?),
            }
        }
    }

    fn read_string(&mut self) -> Result<Edn, EdnError> {
        let open_line = self.line;
        self.bump();
        let mut bytes = Vec::new();
        loop {
            match self.bump() {
                None => {
                    return self.error(format!("unterminated string opened on line {open_line}"))
                }
                Some(b'"') => break,
                Some(b'\\') => match self.bump() {
                    Some(b'n') => bytes.push(b'\n'),
                    Some(b't') => bytes.push(b'\t'),
                    Some(b'r') => bytes.push(b'\r'),
                    Some(b'"') => bytes.push(b'"'),
                    Some(b'\\') => bytes.push(b'\\'),
                    Some(other) => {
                        bytes.push(b'\\');
                        bytes.push(other);
                    }
                    None => return self.error("unterminated string escape"),
                },
                Some(c) => bytes.push(c),
            }
        }
        match String::from_utf8(bytes) {
            Ok(s) => Ok(Edn::Str(s)),
            Err(_) => self.error("string is not valid UTF-8"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_jepsen_op_map() {
        let mut reader =
            Reader::new("{:type :invoke, :f :cas, :value [1 2], :process 3, :time 1234}");
        let op = reader.read().unwrap();
        assert_eq!(op.get("type"), Some(&Edn::Keyword("invoke".into())));
        assert_eq!(
            op.get("value").unwrap().to_json(),
            serde_json::json!([1, 2])
        );
        assert_eq!(op.get("process"), Some(&Edn::Int(3)));
        assert!(reader.at_end());
    }

    #[test]
    fn reads_strings_with_escapes_sets_and_tags() {
        let mut reader = Reader::new(r#"["a\"b" #{1 2} #inst "2020" nil true -4 2.5 \c ; c"#);
        assert!(reader.next_is_vector());
        let err = reader.read().unwrap_err();
        assert!(err.reason.contains("unclosed"), "{err:?}");
        let mut reader = Reader::new(r#"["a\"b" #{1 2} #inst "2020" nil true -4 2.5 \c] ; c"#);
        let value = reader.read().unwrap();
        assert_eq!(
            value.to_json(),
            serde_json::json!(["a\"b", [1, 2], "2020", null, true, -4, 2.5, "c"])
        );
    }

    #[test]
    fn reports_the_line_of_an_error() {
        let mut reader = Reader::new("{:a 1}\n{:b }}");
        reader.read().unwrap();
        let err = reader.read().unwrap_err();
        assert_eq!(err.line, 2);
    }
}
