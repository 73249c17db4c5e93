//! JSON text exactly as Python's `json.dumps` writes it with default
//! arguments: separators `", "` and `": "`, every non-ASCII character (and
//! DEL) escaped as `\uXXXX` (`ensure_ascii=True`), floats in `repr` form
//! (`1e-05`, `1e+16`, `100.0`, `NaN`, `Infinity`), integers of any size as
//! their digits. Used for JSON columns (so a database shared with upstream
//! stays byte-identical, docs/PROTOCOL.md §8.2) and for JSON carried inside
//! a string on the wire (the API-key claims, docs/PROTOCOL.md §3.6).
//!
//! The reader half, [`loads`] and [`loads_str`], reads JSON as Python's
//! `json.loads` does (`NaN`/`Infinity` tokens, byte-order marks and UTF-16/32
//! on bytes, exact numbers). A round trip `loads(dumps(v))` gives back a
//! value equal to `v` in Python's sense.

use std::io;

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::Formatter;

use super::number::PyNumber;

#[path = "json_read.rs"]
mod read;

pub use read::{LoadError, MAX_DEPTH, loads, loads_str};

/// Serialise like Python `json.dumps(value)` with default arguments.
pub fn dumps(value: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Writing a `Value` into a `Vec` cannot fail, and every byte written is
    // ASCII (non-ASCII characters are escaped).
    let _ = value.serialize(&mut ser);
    String::from_utf8_lossy(&out).into_owned()
}

/// A `serde_json` formatter producing `json.dumps` output.
struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// serde_json escapes `"`, `\` and control characters itself; the plain
    /// fragments in between get Python's `ensure_ascii` treatment: everything
    /// outside `' '..='~'` becomes `\uXXXX` (UTF-16 surrogate pairs above the
    /// BMP).
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if (' '..='~').contains(&ch) {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(python_float_repr(value).as_bytes())
    }

    /// A number kept as its JSON text (`arbitrary_precision`): an `int` as
    /// its digits (`-0` is `0`), a `float` as Python's `repr`.
    fn write_number_str<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        value: &str,
    ) -> io::Result<()> {
        match PyNumber::of_text(value) {
            PyNumber::Int(digits) => w.write_all(digits.as_bytes()),
            PyNumber::Float(f) => w.write_all(python_float_repr(f).as_bytes()),
        }
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(python_float_repr(f64::from(value)).as_bytes())
    }
}

/// Python `repr(float)`: the shortest round-tripping digits, in positional
/// form (with `.0` when integral) for decimal exponents -4..=15, otherwise in
/// scientific form with a signed, at least two-digit exponent.
fn python_float_repr(value: f64) -> String {
    // Python's `json.dumps` spelling (`allow_nan=True`).
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-tripping digits: `-1.2345e-7`.
    let sci = format!("{value:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();

    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let mut s = String::from(sign);
        if point <= 0 {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            s.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() <= point {
                s.push_str(&digits);
                s.extend(std::iter::repeat_n('0', point - digits.len()));
                s.push_str(".0");
            } else {
                s.push_str(&digits[..point]);
                s.push('.');
                s.push_str(&digits[point..]);
            }
        }
        s
    } else {
        let mut s = String::from(sign);
        let (first, rest) = digits.split_at(digits.len().min(1));
        s.push_str(first);
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        let exp_sign = if exp < 0 { '-' } else { '+' };
        s.push_str(&format!("e{exp_sign}{:02}", exp.unsigned_abs()));
        s
    }
}

/// An object with its keys in the given order, as `json.dumps` of a Python
/// dict built in that order.
pub fn dumps_ordered(entries: &[(&str, Value)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&dumps(&Value::String((*key).to_owned())));
        out.push_str(": ");
        out.push_str(&dumps(value));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::python::number::PyNumber;

    fn dumps(v: Value) -> String {
        super::dumps(&v)
    }

    /// Floats are read correctly rounded, as Python's `json.loads` reads
    /// them, so what is written back (and re-read) is Python's text. Found
    /// by the `pyjson` fuzz target: serde_json's default float parser can
    /// land one ulp off for long literals, and the written text then did
    /// not read back to the same value.
    #[test]
    fn floats_read_like_python_and_round_trip() {
        for (text, python) in [
            (
                "30035670035678789012345689012349012345689012345676.0",
                "3.003567003567879e+49",
            ),
            ("2.2250738585072011e-308", "2.225073858507201e-308"),
            ("0.30000000000000004441", "0.30000000000000004"),
            ("9007199254740993.0", "9007199254740992.0"),
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let written = dumps(value.clone());
            assert_eq!(written, python, "{text}");
            // Numbers keep their text, so compare what they stand for.
            let back: Value = serde_json::from_str(&written).unwrap();
            assert_eq!(back.as_f64(), value.as_f64(), "{text}");
            assert!(back.as_f64().is_some(), "{text}");
        }
    }

    #[test]
    fn separators_match_python() {
        assert_eq!(
            dumps(json!({"provenance": "auto-created", "type": "system-user"})),
            r#"{"provenance": "auto-created", "type": "system-user"}"#
        );
        assert_eq!(dumps(json!([1, [2, 3], {}, []])), "[1, [2, 3], {}, []]");
        assert_eq!(
            dumps(json!({"a": {"b": null, "c": true}})),
            r#"{"a": {"b": null, "c": true}}"#
        );
    }

    #[test]
    fn non_ascii_is_escaped_like_ensure_ascii() {
        // json.dumps("é€😀\x7f\n\"\\\x01/") in Python 3.
        assert_eq!(
            dumps(json!("é€😀\u{7f}\n\"\\\u{1}/")),
            r#""\u00e9\u20ac\ud83d\ude00\u007f\n\"\\\u0001/""#
        );
    }

    #[test]
    fn floats_match_python_repr() {
        let cases = [
            (1.5, "1.5"),
            (100.0, "100.0"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1.2345e100, "1.2345e+100"),
            (123.456, "123.456"),
            (0.1, "0.1"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(f), want, "{f}");
        }
        assert_eq!(dumps(json!({"x": 0.5})), r#"{"x": 0.5}"#);
        assert_eq!(dumps(json!([-3, 2.0])), "[-3, 2.0]");
    }

    /// Expected texts computed by CPython 3.11 (`json.dumps(json.loads(b))`).
    #[test]
    fn reader_accepts_what_python_accepts_and_round_trips() {
        let doc = br#"{"a": NaN, "b": [Infinity, -Infinity], "c": 123456789012345678901234567890, "d": 1E5, "e": -0, "f": 1e400, "g": 1.0e16, "h": -0.0}"#;
        let v = loads(doc).expect("python reads it");
        assert_eq!(
            super::dumps(&v),
            r#"{"a": NaN, "b": [Infinity, -Infinity], "c": 123456789012345678901234567890, "d": 100000.0, "e": 0, "f": Infinity, "g": 1e+16, "h": -0.0}"#
        );
        assert_eq!(
            PyNumber::of(v["c"].as_number().expect("number")),
            PyNumber::Int("123456789012345678901234567890".into())
        );
        // Numbers keep their text as sent.
        let v = loads(b"[1E5, 1.50, -0]").expect("json");
        assert_eq!(v.to_string(), "[1E5,1.50,-0]");
        // A key given twice: first position, last value (a Python dict).
        let v = loads(br#"{"a": 1, "b": 2, "a": 3}"#).expect("json");
        assert_eq!(super::dumps(&v), r#"{"a": 3, "b": 2}"#);
    }

    #[test]
    fn reader_agrees_with_serde_json_on_standard_json() {
        for doc in [
            r#"{"request": "session-new", "body": {"x": [1, 2.5, "\u00e9\ud83d\ude00", null, true, false]}, "reqid": 7}"#,
            " [ 1 , -2 , 3.25e-3 , \"a\\\"b\\\\c\\/\\b\\f\\n\\r\\t\" ] ",
            r#""\u0000 é 😀""#,
            "{}",
            "-12.5e+7",
        ] {
            let ours = loads(doc.as_bytes()).expect(doc);
            let theirs: Value = serde_json::from_str(doc).expect(doc);
            assert_eq!(ours, theirs, "{doc}");
        }
    }

    #[test]
    fn reader_detects_encodings_like_python_and_refuses_a_str_bom() {
        let want = json!({"a": "é"});
        let text = r#"{"a": "é"}"#;
        let mut utf8_bom = vec![0xef, 0xbb, 0xbf];
        utf8_bom.extend_from_slice(text.as_bytes());
        assert_eq!(loads(&utf8_bom), Ok(want.clone()));
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(loads(&le), Ok(want.clone()));
        assert_eq!(loads(&be), Ok(want.clone()));
        assert_eq!(loads(&[&[0xff, 0xfe][..], &le].concat()), Ok(want.clone()));
        assert_eq!(loads(&[&[0xfe, 0xff][..], &be].concat()), Ok(want.clone()));
        let be32: Vec<u8> = text
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect();
        let le32: Vec<u8> = text
            .chars()
            .flat_map(|c| u32::from(c).to_le_bytes())
            .collect();
        assert_eq!(loads(&be32), Ok(want.clone()));
        assert_eq!(
            loads(&[&[0xff, 0xfe, 0, 0][..], &le32].concat()),
            Ok(want.clone())
        );
        // Python: one BOM is taken off bytes; a second one is not JSON.
        let mut twice = vec![0xef, 0xbb, 0xbf];
        twice.extend_from_slice(&utf8_bom);
        assert!(matches!(loads(&twice), Err(LoadError::Syntax(_))));
        assert_eq!(loads_str("\u{feff}{}"), Err(LoadError::Bom));
        assert_eq!(loads(b"\xff\xff"), Err(LoadError::Encoding));
    }

    #[test]
    fn reader_refuses_what_python_refuses() {
        for bad in [
            "-NaN",
            "nan",
            "infinity",
            "01",
            "+1",
            "[1,]",
            r#"{"a":1,}"#,
            "1.",
            ".5",
            "1e",
            "",
            "[1] x",
            "\"a\u{1}\"",
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\x""#,
            "{1: 2}",
            "[",
            r#"{"a" 1}"#,
            "tru",
        ] {
            assert!(loads(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reader_nesting_limit_is_serde_jsons() {
        for depth in [127, 128, 129, 100_000] {
            let doc = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let theirs = serde_json::from_str::<Value>(&doc).is_ok();
            assert_eq!(loads(doc.as_bytes()).is_ok(), theirs, "depth {depth}");
        }
        let deep = "{\"a\": ".repeat(129) + "1" + &"}".repeat(129);
        assert_eq!(loads(deep.as_bytes()), Err(LoadError::TooDeep));
    }

    #[test]
    fn python_separators_and_ascii_escapes() {
        assert_eq!(
            super::dumps(&json!({"a": [1, "x"], "b": null})),
            r#"{"a": [1, "x"], "b": null}"#
        );
        assert_eq!(
            super::dumps(&json!("é😀\"\n")),
            r#""\u00e9\ud83d\ude00\"\n""#
        );
        assert_eq!(
            dumps_ordered(&[("z", json!(1)), ("a", json!(true))]),
            r#"{"z": 1, "a": true}"#
        );
    }
}
