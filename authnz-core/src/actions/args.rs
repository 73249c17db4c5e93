//! Reading request arguments after the schema check has passed.
//!
//! The schema guarantees the type of required arguments, so these helpers only
//! convert; they still never panic on an unexpected shape.

use serde_json::{Map, Value};

use super::ActionError;

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

/// Whether `n` is an integer (no fraction or exponent as written) that does
/// not fit an `i64`. Python's ints are unbounded; this server's are 64-bit.
pub fn is_out_of_range_int(n: &serde_json::Number) -> bool {
    if n.as_i64().is_some() {
        return false;
    }
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `n` is a float with an integral value outside the 64-bit range.
/// Numbers keep their JSON text (Python semantics), so an integer literal of
/// any size is an int and [`is_out_of_range_int`] catches it; this is a
/// second guard for integer-only arguments should a float such as `1e300`
/// ever get past the schema's `int` check.
fn is_out_of_range_integral_float(n: &serde_json::Number) -> bool {
    // 2^63 as f64. -2^63 itself fits an i64, but the parser keeps an integer
    // that fits as an integer: a float of that value is -2^63 - 1 or below,
    // rounded.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    n.is_f64()
        && n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0 && f.abs() >= LIMIT)
}

/// Refuse a request whose named arguments hold an integer outside the 64-bit
/// range, before its action runs, so that no user id, count or duration is
/// ever wrapped, saturated or replaced by a default. Upstream's database
/// rejects such a value with an unhandled error, so this is HTTP 400 too.
/// `args` names each argument and whether it is integer-only (typed `int` or
/// `["int","None"]`); for those an integral float beyond the range counts as
/// such an integer too.
pub fn check_int_ranges(
    body: &Map<String, Value>,
    args: impl IntoIterator<Item = (&'static str, bool)>,
) -> Result<(), ActionError> {
    for (name, int_only) in args {
        if let Some(Value::Number(n)) = body.get(name)
            && (is_out_of_range_int(n) || (int_only && is_out_of_range_integral_float(n)))
        {
            return Err(ActionError::Unhandled(format!(
                "'{name}': integer out of the 64-bit range"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn out_of_range_integers() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        };
        assert!(!is_out_of_range_int(&n(json!(i64::MAX))));
        assert!(!is_out_of_range_int(&n(json!(i64::MIN))));
        assert!(is_out_of_range_int(&n(json!(1u64 << 63))));
        assert!(is_out_of_range_int(&n(json!(u64::MAX))));
        assert!(!is_out_of_range_int(&n(json!(1.5))));
        assert!(!is_out_of_range_int(&n(json!(1e300))));
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"target_userid": 9223372036854775808, "x": 18446744073709551615}"#,
        )
        .expect("json");
        assert!(check_int_ranges(&body, [("target_userid", true)]).is_err());
        assert!(check_int_ranges(&body, [("x", false)]).is_err());
        assert!(check_int_ranges(&body, [("absent", true)]).is_ok());
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"big": 18446744073709551616, "small": -9223372036854775809, "frac": 1e300, "ok": 5.0}"#)
                .expect("json");
        assert!(check_int_ranges(&body, [("big", true)]).is_err());
        assert!(check_int_ranges(&body, [("small", true)]).is_err());
        assert!(check_int_ranges(&body, [("frac", true)]).is_err());
        assert!(check_int_ranges(&body, [("ok", true)]).is_ok());
        // Numbers keep their JSON text, so an integer literal is a (Python)
        // int even where the argument may also be a float: out of range
        // either way. A float stays a float there.
        assert!(check_int_ranges(&body, [("big", false)]).is_err());
        assert!(check_int_ranges(&body, [("frac", false), ("ok", false)]).is_ok());
    }
}
