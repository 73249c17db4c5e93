//! Reading request arguments after the schema check has passed.
//!
//! The schema guarantees the type of required arguments, so these helpers only
//! convert; they still never panic on an unexpected shape.

use serde_json::{Map, Value};

/// A string argument, or "" if absent or not a string.
pub fn str_arg<'a>(body: &'a Map<String, Value>, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

/// An argument that passed an `int` spec: integers, and booleans as 0/1
/// (Python `bool` is an `int`).
pub fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// An `int` argument by key.
pub fn int_arg(body: &Map<String, Value>, key: &str) -> Option<i64> {
    body.get(key).and_then(py_int)
}

/// A `bool` argument by key (false if absent).
pub fn bool_arg(body: &Map<String, Value>, key: &str) -> bool {
    body.get(key).and_then(Value::as_bool).unwrap_or(false)
}
