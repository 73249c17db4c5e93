//! JSON columns in the text form Python's `json.dumps` writes (PROTOCOL.md 8.2).
//!
//! Upstream stores `extra_info` and `extra_info_json` through SQLAlchemy's
//! JSON type, which calls `json.dumps` with its defaults: separators `", "`
//! and `": "`, every non-ASCII character escaped as `\uXXXX`
//! (`ensure_ascii=True`), floats in `repr` form (`1e-05`, `1e+16`, `100.0`).
//! Writing the same bytes keeps a database shared with upstream identical no
//! matter which server wrote a row. JSON `null` is stored as SQL NULL, so the
//! column value is `None` for both `None` and `Some(Value::Null)`.

use serde_json::Value;

use crate::error::SqlStoreError;

/// The text to store for a JSON column value; `None` means SQL NULL.
pub(crate) fn to_column(value: Option<&Value>) -> Result<Option<String>, SqlStoreError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => python_dumps(v).map(Some),
    }
}

/// Parse a stored JSON text; SQL NULL is `None`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn from_column(
    text: Option<String>,
    column: &'static str,
) -> Result<Option<Value>, SqlStoreError> {
    match text {
        None => Ok(None),
        // Read as Python reads JSON: a stored `NaN` or `Infinity` (which
        // `json.dumps` writes) reads back.
        Some(t) => match authnz_api::pyjson::loads_str(&t) {
            Ok(Value::Null) => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(SqlStoreError::Decode {
                column,
                reason: format!("not valid JSON ({e})"),
            }),
        },
    }
}

/// Serialise like Python `json.dumps(value)` with default arguments.
pub(crate) fn python_dumps(value: &Value) -> Result<String, SqlStoreError> {
    Ok(authnz_api::pyjson::dumps(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_is_sql_null_both_ways() {
        assert_eq!(to_column(None).expect("ok"), None);
        assert_eq!(to_column(Some(&Value::Null)).expect("ok"), None);
        assert_eq!(from_column(None, "c").expect("ok"), None);
        assert_eq!(from_column(Some("null".into()), "c").expect("ok"), None);
        assert_eq!(
            from_column(Some("{\"a\": 1}".into()), "c").expect("ok"),
            Some(json!({"a": 1}))
        );
        let nan = to_column(Some(
            &authnz_api::pyjson::loads(b"{\"x\": NaN}").expect("json"),
        ))
        .expect("ok");
        assert_eq!(nan.as_deref(), Some("{\"x\": NaN}"));
        assert_eq!(
            from_column(nan, "c")
                .expect("a stored NaN reads back")
                .map(|v| v.to_string()),
            Some("{\"x\":NaN}".to_owned())
        );
        assert!(from_column(Some("{".into()), "c").is_err());
    }
}
