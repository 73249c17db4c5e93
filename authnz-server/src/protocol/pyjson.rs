//! JSON text as Python's `json.dumps` writes it (see
//! [`authnz_api::pyjson`]), plus objects with a given key order. Used where
//! the wire carries JSON *inside a string* whose exact text a frontend may
//! keep, such as the API-key claims of spec 3.6.

use serde_json::Value;

pub use authnz_api::pyjson::dumps;

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
