//! JSON text as Python's `json.dumps` writes it with default arguments:
//! separators `", "` and `": "`, every non-ASCII character escaped as
//! `\uXXXX`. Used where the wire carries JSON *inside a string* whose exact
//! text a frontend may keep, such as the API-key claims of spec 3.6.
//!
//! Only strings, integers, booleans, null, lists and objects are needed here;
//! floats keep serde_json's shortest form.

use std::io;

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::Formatter;

/// Serialise like Python `json.dumps(value)`.
pub fn dumps(value: &Value) -> String {
    let mut out = Vec::with_capacity(64);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Writing a `Value` into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    String::from_utf8_lossy(&out).into_owned()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_separators_and_ascii_escapes() {
        assert_eq!(
            dumps(&json!({"a": [1, "x"], "b": null})),
            r#"{"a": [1, "x"], "b": null}"#
        );
        assert_eq!(dumps(&json!("é😀\"\n")), r#""\u00e9\ud83d\ude00\"\n""#);
        assert_eq!(
            dumps_ordered(&[("z", json!(1)), ("a", json!(true))]),
            r#"{"z": 1, "a": true}"#
        );
    }
}
