//! Tests of the policy engine. The access and limit decisions are checked
//! against a separate, deliberately naive interpreter of PROTOCOL.md 6.3/6.4 that
//! reads the raw policy JSON for every question (no compilation, no indices),
//! over every role × item × action × visibility × relation combination.

// The table helpers take the seven inputs of PROTOCOL.md 6.3 plus the policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_arguments
)]

use serde_json::{Value, json};

use super::pyconv::parse_shared_with;
use super::*;

/// Spec 6.3 step 1, transcribed: `Err` for an unknown role.
fn spec_granted(
    p: &Value,
    uid: i64,
    role: &str,
    action: &str,
    target: &str,
    owner: i64,
    visibility: &str,
    sharedwith: &str,
) -> Result<bool, ()> {
    let vis_ok = if role == "superuser" || role == "staff" {
        true
    } else if visibility == "private" {
        uid == owner
    } else if visibility == "shared" {
        if !sharedwith.is_empty() && sharedwith.to_lowercase() != "none" {
            let ids: Result<Vec<i64>, _> = sharedwith
                .split(',')
                .map(|x| x.trim().parse::<i64>())
                .collect();
            match ids {
                Err(_) => false,
                Ok(ids) => ids.contains(&uid) || uid == owner || ids.contains(&2),
            }
        } else {
            uid == owner
        }
    } else {
        visibility == "unlisted" || visibility == "public"
    };
    let rp = p["role_policy"].get(role).ok_or(())?;
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let item_actions = |owned: bool| -> Vec<String> {
        let Some(ip) = p["item_policy"].get(target) else {
            return vec![];
        };
        if list(&ip["invalid_roles"]).contains(&role.to_owned()) {
            return vec![];
        }
        if !list(&ip["valid_visibilities"]).contains(&visibility.to_owned()) {
            return vec![];
        }
        let ra = if owned {
            list(&rp["allowed_actions_for_owned"])
        } else {
            list(&rp["allowed_actions_for_other"][visibility])
        };
        let valid = list(&ip["valid_role_actions"]);
        ra.into_iter().filter(|a| valid.contains(a)).collect()
    };
    let perms = if uid == owner && list(&rp["can_own_items"]).contains(&target.to_owned()) {
        item_actions(true)
    } else if uid != owner {
        item_actions(false)
    } else {
        vec![]
    };
    Ok(perms.contains(&action.to_owned()) && vis_ok)
}

fn default_json() -> Value {
    serde_json::from_str(DEFAULT_POLICY_JSON).unwrap()
}

fn engine_granted(
    p: &Policy,
    uid: i64,
    role: &str,
    action: &str,
    item: &str,
    owner: i64,
    visibility: &str,
    sharedwith: &str,
) -> Result<bool, UnknownRole> {
    let ids = parse_shared_with(sharedwith).expect("valid sharedwith in the table");
    p.decide(&AccessQuery {
        user_id: uid,
        role,
        action,
        item,
        owner,
        visibility,
        shared_with: &ids,
        via_group: false,
    })
}

#[test]
fn access_table_matches_the_spec_interpreter() {
    let raw = default_json();
    let policy = Policy::load(None).unwrap();
    let caller = 10;
    // (owner, sharedwith): owner; other, not shared; other, shared with the
    // caller; other, shared with someone else; other, shared with everyone
    // (user 2); other, "none".
    let relations = [
        (10, ""),
        (10, "30"),
        (20, ""),
        (20, "10"),
        (20, "30, 10"),
        (20, "30"),
        (20, "2"),
        (20, "NONE"),
    ];
    let mut roles: Vec<&str> = raw["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    roles.push("emperor");
    let names = |k: &str, extra: &'static str| -> Vec<String> {
        let mut v: Vec<String> = raw[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        v.push(extra.to_owned());
        v
    };
    let items = names("items", "spaceship");
    let actions = names("actions", "fly");
    let visibilities = names("visibilities", "secret");
    let (mut checked, mut granted) = (0, 0);
    for role in &roles {
        for item in &items {
            for action in &actions {
                for vis in &visibilities {
                    for (owner, shared) in relations {
                        let want =
                            spec_granted(&raw, caller, role, action, item, owner, vis, shared);
                        let got =
                            engine_granted(&policy, caller, role, action, item, owner, vis, shared);
                        assert_eq!(
                            got.map_err(|_| ()),
                            want,
                            "role={role} action={action} item={item} vis={vis} owner={owner} shared={shared:?}"
                        );
                        checked += 1;
                        granted += usize::from(want == Ok(true));
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 8 * 8 * 5 * relations.len());
    // The table is not trivially all-false or all-true.
    assert!(
        granted > 100 && granted < checked / 2,
        "{granted} of {checked}"
    );
}

/// The examples spelled out in PROTOCOL.md 6.5.
#[test]
fn spec_examples() {
    let p = Policy::load(None).unwrap();
    let can = |role, action, item, vis, rel| p.can(role, action, item, vis, rel).unwrap();
    // An authenticated user can do nothing with a collection they own.
    for a in ["list", "view", "create", "edit", "delete"] {
        assert!(!can(
            "authenticated",
            a,
            "collection",
            "private",
            Relation::Owner
        ));
    }
    assert!(can(
        "authenticated",
        "edit",
        "dataset",
        "private",
        Relation::Owner
    ));
    // A superuser may do anything the item policy allows on others' items...
    assert!(can(
        "superuser",
        "delete",
        "user",
        "private",
        Relation::Other
    ));
    // ... but nothing on a user or session item it owns.
    assert!(!can(
        "superuser",
        "view",
        "user",
        "private",
        Relation::Owner
    ));
    assert!(!can(
        "superuser",
        "view",
        "session",
        "private",
        Relation::Owner
    ));
    // Staff may only list others' private items.
    assert!(can("staff", "list", "dataset", "private", Relation::Other));
    assert!(!can("staff", "view", "dataset", "private", Relation::Other));
    // Anonymous can view a public dataset, nothing shared.
    assert!(can(
        "anonymous",
        "view",
        "dataset",
        "public",
        Relation::Other
    ));
    assert!(!can(
        "anonymous",
        "view",
        "dataset",
        "shared",
        Relation::SharedWith
    ));
    // API keys (PROTOCOL.md 3.6).
    for role in ["superuser", "staff", "authenticated"] {
        assert!(
            can(role, "create", "apikey", "private", Relation::Owner),
            "{role}"
        );
        assert!(
            can(role, "view", "apikey", "private", Relation::Owner),
            "{role}"
        );
        assert!(
            can(role, "delete", "apikey", "private", Relation::Owner),
            "{role}"
        );
    }
    assert!(can(
        "superuser",
        "view",
        "apikey",
        "private",
        Relation::Other
    ));
    assert!(!can("staff", "view", "apikey", "private", Relation::Other));
    assert!(!can(
        "staff",
        "delete",
        "apikey",
        "private",
        Relation::Other
    ));
    assert!(!can(
        "anonymous",
        "create",
        "apikey",
        "private",
        Relation::Owner
    ));
    assert!(!can(
        "locked",
        "create",
        "apikey",
        "private",
        Relation::Owner
    ));
    assert_eq!(
        p.can("emperor", "view", "apikey", "private", Relation::Owner),
        Err(UnknownRole)
    );
}

/// Spec 6.4, transcribed over the raw JSON, for the default policy's `max`
/// (int, lt) limits.
#[test]
fn limit_table() {
    let p = Policy::load(None).unwrap();
    let raw = default_json();
    let values = [
        json!(0),
        json!(5999),
        json!(6000),
        json!(6001),
        json!(5999.9),
        json!(6000.5),
        json!("5999"),
        json!(" 6000 "),
        json!("1.5"),
        json!(true),
        json!([1]),
        json!({"a": 1}),
        json!(-1),
        json!(1e30),
    ];
    for role in ["superuser", "staff", "authenticated", "anonymous", "locked"] {
        for name in ["max_requests", "max_requests_per_minute", "no_such_limit"] {
            for v in &values {
                let rl = &raw["role_policy"][role]["limits"][name];
                let want = if rl.is_null() {
                    true
                } else {
                    let limit = rl["limit"].as_i64().unwrap() as i128;
                    // Python int(): only what the values above need.
                    let conv: Option<i128> = match v {
                        Value::Bool(b) => Some(i128::from(*b)),
                        Value::Number(n) => n
                            .as_i64()
                            .map(i128::from)
                            .or_else(|| n.as_f64().map(|f| f.trunc() as i128)),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    };
                    conv.is_some_and(|x| x < limit)
                };
                assert_eq!(p.within_limit(role, name, v), Ok(want), "{role} {name} {v}");
            }
        }
    }
    assert_eq!(
        p.within_limit("emperor", "max_requests", &json!(1)),
        Err(UnknownRole)
    );
}

#[test]
fn float_and_gt_limits() {
    let mut raw = default_json();
    raw["limits"]["ratio"] = json!({"type": "float", "operator": "gt"});
    raw["role_policy"]["staff"]["limits"]["min_score"] = json!({"type": "ratio", "limit": 0.5});
    let p = Policy::parse(&raw.to_string(), "t.json").unwrap();
    let within = |v: Value| p.within_limit("staff", "min_score", &v).unwrap();
    assert!(within(json!(0.75)));
    assert!(within(json!("1e0")));
    assert!(within(json!(1)));
    assert!(!within(json!(0.5)));
    assert!(!within(json!("nan")));
    assert!(!within(json!("x")));
}

fn refused(mutate: impl FnOnce(&mut Value)) -> String {
    let mut raw = default_json();
    mutate(&mut raw);
    Policy::parse(&raw.to_string(), "/etc/authnz/policy.json")
        .expect_err("policy must be refused")
        .to_string()
}

#[test]
fn typos_are_refused_with_the_file_and_entry() {
    type Mutation = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|p| {
                p["role_policy"]["staff"]["allowed_actions_for_other"]["public"][2] = json!("veiw")
            }),
            "role_policy.staff.allowed_actions_for_other.public[2]: unknown action \"veiw\"",
        ),
        (
            Box::new(|p| p["item_policy"]["apikey"]["invalid_roles"][0] = json!("anonymus")),
            "item_policy.apikey.invalid_roles[0]: unknown role \"anonymus\"",
        ),
        (
            Box::new(|p| p["item_policy"]["user"]["valid_visibilities"][0] = json!("privat")),
            "item_policy.user.valid_visibilities[0]: unknown visibility \"privat\"",
        ),
        (
            Box::new(|p| p["role_policy"]["authenticated"]["can_own_items"][1] = json!("apikeys")),
            "role_policy.authenticated.can_own_items[1]: unknown item \"apikeys\"",
        ),
        (
            Box::new(|p| {
                let v = p["role_policy"]["staff"]["allowed_actions_for_other"]
                    .as_object_mut()
                    .unwrap()
                    .remove("shared")
                    .unwrap();
                p["role_policy"]["staff"]["allowed_actions_for_other"]["sahred"] = v;
            }),
            "role_policy.staff.allowed_actions_for_other.sahred: unknown visibility \"sahred\"",
        ),
        (
            Box::new(|p| {
                p["role_policy"]["locked"]["limits"]["max_requests"]["type"] = json!("maximum")
            }),
            "role_policy.locked.limits.max_requests.type: unknown limit type \"maximum\"",
        ),
        (
            Box::new(|p| p["item_policy"]["datset"] = p["item_policy"]["dataset"].clone()),
            "item_policy.datset: unknown item \"datset\"",
        ),
        (
            Box::new(|p| p["role_policy"]["admin"] = p["role_policy"]["staff"].clone()),
            "role_policy.admin: unknown role \"admin\"",
        ),
        (
            Box::new(|p| {
                p["role_policy"].as_object_mut().unwrap().remove("staff");
            }),
            "role_policy: no entry for role \"staff\"",
        ),
        (
            Box::new(|p| p["role_policy"]["staff"]["can_own_item"] = json!([])),
            "role_policy.staff.can_own_item: unknown key \"can_own_item\"",
        ),
        (
            Box::new(|p| p["roles"] = json!(["superuser", "locked", "staff"])),
            "roles: the roles list must contain 'anonymous'",
        ),
        (
            Box::new(|p| p["actions"].as_array_mut().unwrap().push(json!("view"))),
            "actions[7]: \"view\" is listed twice",
        ),
        (
            Box::new(|p| p["limits"]["max"]["operator"] = json!("le")),
            "limits.max.operator: expected \"lt\" or \"gt\"",
        ),
        (
            Box::new(|p| {
                p["role_policy"]["staff"]["limits"]["max_requests"]["limit"] = json!("10")
            }),
            "role_policy.staff.limits.max_requests.limit: expected a number, found a string",
        ),
        (
            Box::new(|p| p["item_policy"]["apikey"]["valid_role_actions"] = json!("view")),
            "item_policy.apikey.valid_role_actions: expected a list of strings, found a string",
        ),
    ];
    for (mutate, want) in cases {
        let err = refused(mutate);
        assert!(
            err.starts_with("permissions policy /etc/authnz/policy.json is not valid: ")
                && err.contains(want),
            "want {want:?}\n got {err:?}"
        );
    }
}

#[test]
fn malformed_json_is_refused() {
    let err = Policy::parse("{\"roles\": [", "p.json")
        .expect_err("invalid")
        .to_string();
    assert!(
        err.contains("p.json") && err.contains("malformed JSON"),
        "{err}"
    );
    let err = Policy::parse("[]", "p.json")
        .expect_err("invalid")
        .to_string();
    assert!(err.contains("expected an object"), "{err}");
}

#[test]
fn unreadable_file_is_named() {
    let err = Policy::load(Some(std::path::Path::new("/nonexistent/policy.json")))
        .expect_err("missing")
        .to_string();
    assert!(err.contains("/nonexistent/policy.json"), "{err}");
}

#[test]
fn default_policy_roles() {
    let p = Policy::load(None).expect("default policy");
    assert_eq!(
        p.roles,
        ["superuser", "staff", "authenticated", "anonymous", "locked"]
    );
    assert!(p.has_role("staff") && !p.has_role("Staff"));
}

#[test]
fn report_lists_roles_items_and_limits() {
    let report = Policy::load(None).unwrap().report();
    assert!(report.contains("role staff"), "{report}");
    assert!(
        report.contains("max_requests: value < 1000000 (max limit, int)"),
        "{report}"
    );
    // Staff on others' private datasets: list only.
    let line = report
        .lines()
        .skip_while(|l| *l != "role staff")
        .find(|l| l.trim_start().starts_with("dataset") && l.contains("private"))
        .expect("staff dataset private row");
    assert!(line.trim_end().ends_with("  list"), "{line}");
    // Locked may do nothing at all.
    let locked: Vec<&str> = report.lines().skip_while(|l| *l != "role locked").collect();
    assert!(
        locked.iter().filter(|l| l.ends_with("nothing")).count() == 7,
        "{locked:?}"
    );
}

#[test]
fn group_policy_is_optional_and_defaults_to_superuser_and_staff() {
    // The bundled default (no `group_policy`) loads as before.
    let p = Policy::load(None).expect("default policy");
    assert!(p.manages_groups("superuser") && p.manages_groups("staff"));
    assert!(!p.manages_groups("authenticated") && !p.manages_groups("anonymous"));
    assert!(!p.manages_groups("no-such-role"));
    assert!(p.owners_manage_members());
    let report = p.report();
    assert!(
        report.contains("groups: managed by superuser, staff; owners manage their members"),
        "{report}"
    );
    // A file that names the rules.
    let mut raw = default_json();
    raw["group_policy"] = json!({"manager_roles": ["superuser"], "owners_manage_members": false});
    let p = Policy::parse(&raw.to_string(), "p.json").expect("valid group_policy");
    assert!(p.manages_groups("superuser") && !p.manages_groups("staff"));
    assert!(!p.owners_manage_members());
    // Either key may be left out.
    raw["group_policy"] = json!({"manager_roles": ["staff", "authenticated"]});
    let p = Policy::parse(&raw.to_string(), "p.json").expect("valid group_policy");
    assert!(p.manages_groups("authenticated") && !p.manages_groups("superuser"));
    assert!(p.owners_manage_members());
    raw["group_policy"] = json!({});
    let p = Policy::parse(&raw.to_string(), "p.json").expect("empty group_policy");
    assert!(p.manages_groups("staff"));
}

#[test]
fn group_policy_mistakes_are_refused() {
    type Mutation = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(|p| p["group_policy"] = json!({"manager_roles": ["stuff"]})),
            "group_policy.manager_roles[0]: unknown role \"stuff\"",
        ),
        (
            Box::new(|p| p["group_policy"] = json!({"manager_roles": ["staff", "locked"]})),
            "group_policy.manager_roles[1]: the role \"locked\" cannot manage groups",
        ),
        (
            Box::new(|p| p["group_policy"] = json!({"manager_roles": ["staff", "staff"]})),
            "group_policy.manager_roles[1]: \"staff\" is listed twice",
        ),
        (
            Box::new(|p| p["group_policy"] = json!({"owners_manage_members": "yes"})),
            "group_policy.owners_manage_members: expected true or false, found a string",
        ),
        (
            Box::new(|p| p["group_policy"] = json!({"managers": ["staff"]})),
            "group_policy.managers: unknown key \"managers\"",
        ),
        (
            Box::new(|p| p["group_policy"] = json!(["staff"])),
            "group_policy: expected an object, found a list",
        ),
        (
            Box::new(|p| p["group_polcy"] = json!({})),
            "group_polcy: unknown key \"group_polcy\"",
        ),
    ];
    for (mutate, expected) in cases {
        let message = refused(mutate);
        assert!(
            message.contains("/etc/authnz/policy.json") && message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
}

#[test]
fn sharing_through_a_group_counts_as_shared_with_the_caller() {
    let p = Policy::load(None).unwrap();
    let q = |role, visibility, via_group| {
        p.decide(&AccessQuery {
            user_id: 5,
            role,
            action: "view",
            item: "dataset",
            owner: 9,
            visibility,
            shared_with: &[],
            via_group,
        })
        .unwrap()
    };
    assert!(!q("authenticated", "shared", false));
    assert!(q("authenticated", "shared", true));
    // Only for `shared` items: a group does not open a private one.
    assert!(!q("authenticated", "private", true));
    // And only what the tables grant on shared items: anonymous, nothing.
    assert!(!q("anonymous", "shared", true));
}
