//! JSON text exactly as Python's `json.dumps` writes it with default
//! arguments: separators `", "` and `": "`, every non-ASCII character (and
//! DEL) escaped as `\uXXXX` (`ensure_ascii=True`), floats in `repr` form
//! (`1e-05`, `1e+16`, `100.0`). Used for JSON columns (so a database shared
//! with upstream stays byte-identical, spec 8.2) and for JSON carried inside
//! a string on the wire (the API-key claims, spec 3.6).

use std::io;

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::Formatter;

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

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(python_float_repr(f64::from(value)).as_bytes())
    }
}

/// Python `repr(float)`: the shortest round-tripping digits, in positional
/// form (with `.0` when integral) for decimal exponents -4..=15, otherwise in
/// scientific form with a signed, at least two-digit exponent.
fn python_float_repr(value: f64) -> String {
    // Not reachable through `serde_json::Value`, which has no such numbers;
    // spelled as Python's `json.dumps` would anyway.
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
            let back: Value = serde_json::from_str(&written).unwrap();
            assert_eq!(back, value, "{text}");
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
}
