//! The decrypted response envelope (docs/PROTOCOL.md §1.8) and the nested
//! schema-failure response (docs/PROTOCOL.md §1.9).

use serde_json::{Map, Value, json};

use crate::schema::Problem;

/// Wrap an action's result object `r` in the envelope. `failure_reason` is
/// copied to the top level only when the result failed and carries one.
pub fn envelope(r: Map<String, Value>, reqid: Value) -> Value {
    let success = r.get("success").cloned().unwrap_or(Value::Bool(false));
    let messages = r.get("messages").cloned().unwrap_or_else(|| json!([]));
    let failure_reason = if success == Value::Bool(true) {
        None
    } else {
        r.get("failure_reason").cloned()
    };
    let mut env = Map::with_capacity(5);
    env.insert("success".into(), success);
    env.insert("response".into(), Value::Object(r));
    env.insert("messages".into(), messages);
    env.insert("reqid".into(), reqid);
    if let Some(fr) = failure_reason {
        env.insert("failure_reason".into(), fr);
    }
    Value::Object(env)
}

/// The special response for a known request type whose body failed the
/// schema: no action runs, status is 200, and there is no top-level
/// `failure_reason`.
pub fn schema_failure(request: &str, problems: &[Problem], reqid: Value) -> Value {
    let message = format!("request '{request}' has invalid parameters");
    json!({
        "success": false,
        "response": {
            "success": false,
            "response": {
                "problems": problems,
                "failure_reason": "invalid request parameters",
            },
            "messages": [message],
        },
        "messages": [message],
        "reqid": reqid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reason_only_on_failure() {
        let ok = json!({"success": true, "messages": ["m"], "failure_reason": "x"});
        let Value::Object(ok) = ok else {
            unreachable!()
        };
        let env = envelope(ok, json!(5));
        assert!(env.get("failure_reason").is_none());
        assert_eq!(env["reqid"], json!(5));
        assert_eq!(env["response"]["failure_reason"], json!("x"));

        let bad = json!({"success": false, "messages": [], "failure_reason": "why"});
        let Value::Object(bad) = bad else {
            unreachable!()
        };
        assert_eq!(envelope(bad, json!("r"))["failure_reason"], json!("why"));

        let bare = json!({"success": false, "messages": []});
        let Value::Object(bare) = bare else {
            unreachable!()
        };
        assert!(envelope(bare, json!(1)).get("failure_reason").is_none());
    }
}
