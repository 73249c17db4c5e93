//! The permission policy loader and checker: arbitrary text through
//! `Policy::parse`; a policy that loads is rendered and asked every
//! decision over the names it declares (and some it does not).

#![no_main]

use authnz_core::policy::{AccessQuery, Policy, Relation};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

/// The strings in `value[key]` (a list, or an object's keys), plus one name
/// no policy declares.
fn names(value: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = match value.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Object(o)) => o.keys().cloned().collect(),
        _ => Vec::new(),
    };
    out.truncate(16);
    out.push("undeclared".to_owned());
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text, "<fuzz>") else {
        return;
    };
    let _ = policy.report();
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        panic!("a policy loaded from text that is not JSON");
    };
    let roles = names(&value, "roles");
    let items = names(&value, "items");
    let actions = names(&value, "actions");
    let visibilities = names(&value, "visibilities");
    let mut limits = Vec::new();
    if let Some(Value::Object(role_policy)) = value.get("role_policy") {
        for rp in role_policy.values() {
            limits.extend(names(rp, "limits"));
        }
    }
    limits.truncate(16);
    for role in &roles {
        let known = policy.has_role(role);
        for item in &items {
            for action in &actions {
                for visibility in &visibilities {
                    for relation in [Relation::Owner, Relation::SharedWith, Relation::Other] {
                        let r = policy.can(role, action, item, visibility, relation);
                        assert_eq!(r.is_ok(), known, "decision for role {role:?}");
                    }
                    let shared = [1, 2, 5];
                    let _ = policy.decide(&AccessQuery {
                        user_id: 5,
                        role,
                        action,
                        item,
                        owner: 9,
                        visibility,
                        shared_with: &shared,
                        via_group: false,
                    });
                }
            }
        }
        for limit in &limits {
            for v in [
                json!(0),
                json!(-1),
                json!(1.5),
                json!(1e300),
                json!("7"),
                json!(null),
            ] {
                let _ = policy.within_limit(role, limit, &v);
            }
        }
    }
});
