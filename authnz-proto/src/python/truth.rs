//! Python truthiness of JSON values: `null`, `false`, `0`, `0.0`, `""`, `[]`
//! and `{}` are falsy; everything else is truthy.

use super::number::PyNumber;
use serde_json::Value;

/// True if Python would treat the decoded value as true.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => PyNumber::of(n).truthy(),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// True if the optional value is present and truthy.
pub fn truthy_opt(v: Option<&Value>) -> bool {
    v.is_some_and(truthy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_rules() {
        for v in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [
            json!(true),
            json!(1),
            json!(-1),
            json!(0.5),
            json!("x"),
            json!([0]),
            json!({"a": null}),
        ] {
            assert!(truthy(&v), "{v}");
        }
        let py = |t: &str| crate::python::json::loads(t.as_bytes()).expect("json");
        // bool(float('nan')), bool(1e400), bool(10**30) are True;
        // bool(1e-400), bool(-0) are False.
        for t in [
            "NaN",
            "Infinity",
            "1e400",
            "1000000000000000000000000000000",
        ] {
            assert!(truthy(&py(t)), "{t}");
        }
        for t in ["1e-400", "-0", "-0.0", "0e5"] {
            assert!(!truthy(&py(t)), "{t}");
        }
    }
}
