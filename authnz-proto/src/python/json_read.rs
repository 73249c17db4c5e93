//! JSON text read as Python's `json.loads` reads it (the reader half of
//! [`super`]).
//!
//! Beyond standard JSON this accepts what Python accepts: the number tokens
//! `NaN`, `Infinity` and `-Infinity` (kept as numbers with that text, so
//! they are written back the same way), and, for bytes, the encodings
//! `json.loads` detects: UTF-8 with or without a byte-order mark, UTF-16 and
//! UTF-32 with or without one. Numbers keep the text they were sent with
//! (a 30-digit integer stays exact). A key given twice keeps its first
//! position and its last value, like a Python dict. Lone UTF-16 surrogates
//! (Python keeps them) are refused: a Rust string cannot hold them.
//!
//! Linear time; nesting deeper than [`MAX_DEPTH`] is refused, as
//! `serde_json` refuses it.

use serde_json::{Map, Number, Value};

/// Arrays and objects nest at most this deep (`serde_json`'s limit, which
/// the server applied before this reader).
pub const MAX_DEPTH: usize = 127;

/// Why a text is not JSON for Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not text in the detected encoding.
    #[error("not text in the detected encoding")]
    Encoding,
    /// A `str` starting with a byte-order mark (Python: "Unexpected UTF-8
    /// BOM").
    #[error("unexpected byte-order mark")]
    Bom,
    /// Not JSON at this byte offset.
    #[error("invalid JSON at byte {0}")]
    Syntax(usize),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested too deeply")]
    TooDeep,
}

/// Python `json.loads(b)` for bytes: detect the encoding as Python's
/// `json.detect_encoding` does, decode, parse.
pub fn loads(bytes: &[u8]) -> Result<Value, LoadError> {
    let text = decode(bytes)?;
    parse(&text)
}

/// Python `json.loads(s)` for a `str`: a leading byte-order mark is an
/// error here (it is accepted on bytes).
pub fn loads_str(text: &str) -> Result<Value, LoadError> {
    if text.starts_with('\u{feff}') {
        return Err(LoadError::Bom);
    }
    parse(text)
}

/// Bytes to text, choosing the encoding as `json.detect_encoding` does.
fn decode(b: &[u8]) -> Result<std::borrow::Cow<'_, str>, LoadError> {
    use std::borrow::Cow;
    let utf8 = |b| {
        std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|_| LoadError::Encoding)
    };
    if let Some(rest) = b.strip_prefix(&[0, 0, 0xfe, 0xff]) {
        return utf32(rest, u32::from_be_bytes).map(Cow::Owned);
    }
    if let Some(rest) = b.strip_prefix(&[0xff, 0xfe, 0, 0]) {
        return utf32(rest, u32::from_le_bytes).map(Cow::Owned);
    }
    if let Some(rest) = b.strip_prefix(&[0xfe, 0xff]) {
        return utf16(rest, u16::from_be_bytes).map(Cow::Owned);
    }
    if let Some(rest) = b.strip_prefix(&[0xff, 0xfe]) {
        return utf16(rest, u16::from_le_bytes).map(Cow::Owned);
    }
    if let Some(rest) = b.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return utf8(rest);
    }
    match b {
        [0, 0, _, _, ..] => utf32(b, u32::from_be_bytes).map(Cow::Owned),
        [0, _, _, _, ..] => utf16(b, u16::from_be_bytes).map(Cow::Owned),
        [_, 0, 0, 0, ..] => utf32(b, u32::from_le_bytes).map(Cow::Owned),
        [_, 0, _, _, ..] => utf16(b, u16::from_le_bytes).map(Cow::Owned),
        [0, _] => utf16(b, u16::from_be_bytes).map(Cow::Owned),
        [_, 0] => utf16(b, u16::from_le_bytes).map(Cow::Owned),
        _ => utf8(b),
    }
}

fn utf16(b: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, LoadError> {
    if !b.len().is_multiple_of(2) {
        return Err(LoadError::Encoding);
    }
    let units = b.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| LoadError::Encoding)
}

fn utf32(b: &[u8], unit: fn([u8; 4]) -> u32) -> Result<String, LoadError> {
    if !b.len().is_multiple_of(4) {
        return Err(LoadError::Encoding);
    }
    b.chunks_exact(4)
        .map(|c| char::from_u32(unit([c[0], c[1], c[2], c[3]])).ok_or(LoadError::Encoding))
        .collect()
}

/// Parse one JSON document, surrounded by optional whitespace.
fn parse(text: &str) -> Result<Value, LoadError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(LoadError::Syntax(p.i));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self) -> Result<T, LoadError> {
        Err(LoadError::Syntax(self.i))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Python's JSON whitespace: space, tab, line feed, carriage return.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, LoadError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b'n') if self.eat("null") => Ok(Value::Null),
            Some(b't') if self.eat("true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Value::Bool(false)),
            Some(b'N') if self.eat("NaN") => Ok(special("NaN")),
            Some(b'I') if self.eat("Infinity") => Ok(special("Infinity")),
            Some(b'-') if self.eat("-Infinity") => Ok(special("-Infinity")),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, LoadError> {
        if depth > MAX_DEPTH {
            return Err(LoadError::TooDeep);
        }
        self.i += 1;
        let mut map = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.err();
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return self.err();
            }
            self.i += 1;
            self.ws();
            let value = self.value(depth)?;
            map.insert(key, value);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => return self.err(),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, LoadError> {
        if depth > MAX_DEPTH {
            return Err(LoadError::TooDeep);
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return self.err(),
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, kept as written.
    fn number(&mut self) -> Result<Value, LoadError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.err(),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err();
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err();
            }
            self.digits();
        }
        let text = &self.text[start..self.i];
        Ok(Value::Number(Number::from_string_unchecked(
            text.to_owned(),
        )))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Result<u16, LoadError> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .ok_or(LoadError::Syntax(self.i))?;
        let mut v = 0u16;
        for d in digits {
            let n = (*d as char).to_digit(16).ok_or(LoadError::Syntax(self.i))?;
            v = v * 16 + n as u16;
        }
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, LoadError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let run = self.i;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.text[run..self.i]);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = self.peek().ok_or(LoadError::Syntax(self.i))?;
                    self.i += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xd800..0xdc00).contains(&hi) && self.eat("\\u") {
                                let lo = self.hex4()?;
                                char::decode_utf16([hi, lo]).next().and_then(Result::ok)
                            } else {
                                char::from_u32(u32::from(hi))
                            };
                            // A lone surrogate (Python keeps it).
                            out.push(c.ok_or(LoadError::Syntax(self.i))?);
                        }
                        _ => return self.err(),
                    }
                }
                // A raw control character, or the end of the text.
                _ => return self.err(),
            }
        }
    }
}

/// A number with non-standard text (`NaN`, `Infinity`, `-Infinity`).
fn special(text: &str) -> Value {
    Value::Number(Number::from_string_unchecked(text.to_owned()))
}
