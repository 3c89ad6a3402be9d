//! The reader's fast path: a cursor over the bytes of one trimmed line that
//! takes faultline's event lines as faultline writes them (fields in any
//! order, any spacing, unknown fields skipped with their syntax checked),
//! and hands anything else back (`None`) for `serde_json` to read or to
//! name what is wrong.

use super::{Chunk, LineEvent};
use crate::anomalies::txn::Mop;
use crate::event::EventType;

/// How deep the scanner follows nested values of fields it skips; deeper
/// lines go to `serde_json`.
const MAX_SKIP_DEPTH: u32 = 64;

/// The fast path: a cursor over one trimmed line. Every method returns
/// `None` when the line needs the slow path (anything unusual or wrong).
pub(super) struct Scanner<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

/// Bits of the fields a line has given.
const INDEX: u8 = 1;
const TIME: u8 = 2;
const PROCESS: u8 = 4;
const TYPE: u8 = 8;
const F: u8 = 16;
const VALUE: u8 = 32;

impl<'a> Scanner<'a> {
    /// Scans an event line into `chunk` (its micro-ops), or `None`.
    pub(super) fn line(mut self, chunk: &mut Chunk) -> Option<LineEvent> {
        let mut seen = 0u8;
        let (mut index, mut time, mut process, mut kind) = (0, 0, None, EventType::Invoke);
        let (mut txn, mut mops_given) = (false, false);
        self.expect(b'{')?;
        self.space();
        if self.peek()? != b'}' {
            loop {
                self.space();
                let name = self.simple_string()?;
                self.space();
                self.expect(b':')?;
                self.space();
                let bit = match name {
                    b"index" => {
                        index = self.u64()?;
                        INDEX
                    }
                    b"time" => {
                        time = self.u64()?;
                        TIME
                    }
                    b"process" => {
                        process = if self.peek()? == b'"' {
                            (self.simple_string()? == b"nemesis").then_some(None)?
                        } else {
                            Some(self.u64()?)
                        };
                        PROCESS
                    }
                    b"type" => {
                        kind = match self.simple_string()? {
                            b"invoke" => EventType::Invoke,
                            b"ok" => EventType::Ok,
                            b"fail" => EventType::Fail,
                            b"info" => EventType::Info,
                            _ => return None,
                        };
                        TYPE
                    }
                    b"f" => {
                        txn = self.simple_string()? == b"txn";
                        F
                    }
                    b"value" => {
                        if self.peek()? == b'[' {
                            mops_given = true;
                            self.mops(chunk)?;
                        } else {
                            self.skip_value(0)?;
                        }
                        VALUE
                    }
                    _ => {
                        self.skip_value(0)?;
                        0
                    }
                };
                if seen & bit != 0 {
                    return None;
                }
                seen |= bit;
                self.space();
                match self.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        } else {
            self.at += 1;
        }
        self.space();
        if self.at != self.bytes.len()
            || seen & (INDEX | PROCESS | TYPE | F) != INDEX | PROCESS | TYPE | F
        {
            return None;
        }
        let Some(process) = process else {
            return Some(None);
        };
        // Only a failed or crashed transaction may leave its micro-ops out.
        if !txn || (!mops_given && matches!(kind, EventType::Invoke | EventType::Ok)) {
            return None;
        }
        Some(Some((kind, process, index, time)))
    }

    /// A transaction's micro-ops, into `chunk`.
    fn mops(&mut self, chunk: &mut Chunk) -> Option<()> {
        self.expect(b'[')?;
        self.space();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            self.space();
            self.expect(b'[')?;
            self.space();
            let append = match self.simple_string()? {
                b"append" => true,
                b"r" => false,
                _ => return None,
            };
            self.space();
            self.expect(b',')?;
            self.space();
            let key = match self.peek()? {
                b'"' => {
                    let name = std::str::from_utf8(self.simple_string()?).ok()?;
                    chunk.intern_str(name)
                }
                _ => chunk.intern_int(self.i64()?),
            };
            self.space();
            self.expect(b',')?;
            self.space();
            let mop = if append {
                Mop::Append {
                    key,
                    elem: self.i64()?,
                }
            } else if self.peek()? == b'n' {
                self.literal(b"null")?;
                Mop::Read { key, elems: None }
            } else {
                let from = chunk.elems.len() as u32;
                self.expect(b'[')?;
                self.space();
                if self.peek()? == b']' {
                    self.at += 1;
                } else {
                    loop {
                        self.space();
                        chunk.elems.push(self.i64()?);
                        self.space();
                        match self.next()? {
                            b',' => continue,
                            b']' => break,
                            _ => return None,
                        }
                    }
                }
                Mop::Read {
                    key,
                    elems: Some(from..chunk.elems.len() as u32),
                }
            };
            chunk.mops.push(mop);
            self.space();
            self.expect(b']')?;
            self.space();
            match self.next()? {
                b',' => continue,
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.peek() {
            self.at += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A string without escapes or control characters: its bytes.
    fn simple_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match self.next()? {
                b'"' => {
                    let bytes: &'a [u8] = self.bytes;
                    return Some(&bytes[start..self.at - 1]);
                }
                b'\\' | 0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// A non-negative integer that fits in u64 (no sign, fraction or exponent).
    fn u64(&mut self) -> Option<u64> {
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return None;
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(value),
        }
    }

    /// An integer that fits in i64.
    fn i64(&mut self) -> Option<i64> {
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let magnitude = self.u64()?;
        if negative {
            0i64.checked_sub_unsigned(magnitude)
        } else {
            i64::try_from(magnitude).ok()
        }
    }

    /// Skips one JSON value, checking its syntax.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_SKIP_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let close = if self.next()? == b'{' { b'}' } else { b']' };
                self.space();
                if self.peek()? == close {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.space();
                    if close == b'}' {
                        self.skip_string()?;
                        self.space();
                        self.expect(b':')?;
                        self.space();
                    }
                    self.skip_value(depth + 1)?;
                    self.space();
                    match self.next()? {
                        b',' => continue,
                        byte if byte == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
                    self.at += 1;
                }
                // Leave the exact grammar of numbers to serde_json.
                std::str::from_utf8(&self.bytes[start..self.at])
                    .ok()?
                    .parse::<f64>()
                    .ok()
                    .map(|_| ())
            }
            _ => None,
        }
    }

    /// Skips a string, escapes included (checked by `serde_json` if odd).
    fn skip_string(&mut self) -> Option<()> {
        self.expect(b'"')?;
        loop {
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u' => {}
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => {}
            }
        }
    }
}
