//! Groups (not upstream) through the real server and protocol, on SQLite
//! and PostgreSQL (and MySQL when built with it): who may create, list,
//! manage and delete groups; owners managing their members; an item shared
//! with a group reaching its members through `user-check-access`, and no
//! longer once they leave; memberships ending with the user or the group.

use serde_json::{Value, json};

use std::sync::Arc;

use authnz_api::SystemClock;
use authnz_core::policy::{DEFAULT_POLICY_JSON, Policy};

use crate::common::{Backend, TestDb, TestServer, with_server};

per_backend!(
    who_may_do_what,
    owners_manage_their_members,
    shared_items_reach_group_members,
    deleting_a_user_or_group_ends_memberships,
    bad_input_is_refused_clearly,
    the_policy_decides_who_manages,
);

const PASSWORD: &str = "violet-Lantern-orbit-73";

/// The superuser seeded at start-up (PROTOCOL.md 8.4).
const SU: (i64, &str) = (1, "superuser");

/// Send `request` as the acting user `(user_id, user_role)` with `body`'s
/// other arguments; returns the envelope.
async fn act(s: &TestServer, who: (i64, &str), request: &str, body: Value) -> Value {
    let mut body = body;
    body["user_id"] = json!(who.0);
    body["user_role"] = json!(who.1);
    s.call(request, body).await
}

#[track_caller]
fn ok(env: &Value) -> &Value {
    assert_eq!(env["success"], json!(true), "{env}");
    &env["response"]
}

#[track_caller]
fn refused(env: &Value, reason: &str) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(env["response"]["failure_reason"], json!(reason), "{env}");
}

async fn user(s: &TestServer, tag: &str) -> (i64, &'static str) {
    let id = s
        .verified_user(&format!("{tag}@example.org"), PASSWORD)
        .await;
    (id, "authenticated")
}

async fn new_group(s: &TestServer, who: (i64, &str), name: &str) -> i64 {
    let env = act(s, who, "group-new", json!({"group_name": name})).await;
    ok(&env)["group"]["group_id"].as_i64().expect("group id")
}

async fn add(s: &TestServer, who: (i64, &str), group: i64, member: i64, owner: bool) -> Value {
    act(
        s,
        who,
        "group-add-member",
        json!({"group_id": group, "member_id": member, "is_owner": owner}),
    )
    .await
}

async fn remove(s: &TestServer, who: (i64, &str), group: i64, member: i64) -> Value {
    act(
        s,
        who,
        "group-remove-member",
        json!({"group_id": group, "member_id": member}),
    )
    .await
}

/// `(user_id, is_owner)` of each member, as a manager sees them.
async fn members(s: &TestServer, group: i64) -> Vec<(i64, bool)> {
    let env = act(s, SU, "group-members", json!({"group_id": group})).await;
    ok(&env)["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["user_id"].as_i64().expect("user_id"),
                m["is_owner"].as_bool().expect("is_owner"),
            )
        })
        .collect()
}

/// The ids of the groups `group-list` shows `who` (with `body`).
async fn listed(s: &TestServer, who: (i64, &str), body: Value) -> Vec<i64> {
    let env = act(s, who, "group-list", body).await;
    ok(&env)["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["group_id"].as_i64().expect("group_id"))
        .collect()
}

async fn make_staff(s: &TestServer, tag: &str) -> (i64, &'static str) {
    let (id, _) = user(s, tag).await;
    let env = s
        .call(
            "internal-user-edit",
            json!({"target_userid": id, "update_dict": {"user_role": "staff"}}),
        )
        .await;
    ok(&env);
    (id, "staff")
}

async fn who_may_do_what(backend: Backend, test: &'static str) {
    with_server(backend, test, |s| async move {
        let plain = user(&s, "plain").await;
        let staff = make_staff(&s, "staff").await;

        // A plain user may not make, delete or manage groups.
        refused(
            &act(&s, plain, "group-new", json!({"group_name": "Mine"})).await,
            "action not permitted",
        );
        let g = new_group(&s, SU, "Astronomers").await;
        let env = act(&s, SU, "group-new", json!({"group_name": "  Second  "})).await;
        let second = ok(&env)["group"].clone();
        assert_eq!(second["group_name"], json!("Second"));
        assert_eq!(second["created_by"], json!(1));
        let by_staff = new_group(&s, staff, "Staff's").await;
        refused(
            &add(&s, plain, g, plain.0, false).await,
            "action not permitted",
        );
        refused(
            &act(&s, plain, "group-delete", json!({"group_id": g})).await,
            "action not permitted",
        );
        refused(
            &act(&s, plain, "group-members", json!({"group_id": g})).await,
            "action not permitted",
        );
        refused(
            &act(&s, plain, "group-list", json!({"member_id": staff.0})).await,
            "action not permitted",
        );
        // Nor claim a role they do not have.
        refused(
            &act(
                &s,
                (plain.0, "superuser"),
                "group-new",
                json!({"group_name": "x"}),
            )
            .await,
            "user initiating request is not valid",
        );
        refused(
            &act(&s, (9_999, "superuser"), "group-list", json!({})).await,
            "user initiating request is not valid",
        );

        // Staff manage any group, the superuser's included.
        let env = add(&s, staff, g, plain.0, false).await;
        assert_eq!(ok(&env)["added"], json!(true));
        assert_eq!(members(&s, g).await, [(plain.0, false)]);
        // A member sees the members and their own groups.
        let env = act(&s, plain, "group-members", json!({"group_id": g})).await;
        assert_eq!(
            ok(&env)["members"],
            json!([{"user_id": plain.0, "is_owner": false}])
        );
        assert_eq!(listed(&s, plain, json!({})).await, [g]);
        assert_eq!(listed(&s, plain, json!({"member_id": plain.0})).await, [g]);
        // Managers list every group, or one member's.
        let mut all = listed(&s, SU, json!({})).await;
        all.sort_unstable();
        let mut expected = vec![g, second["group_id"].as_i64().unwrap(), by_staff];
        expected.sort_unstable();
        assert_eq!(all, expected);
        assert_eq!(listed(&s, staff, json!({"member_id": plain.0})).await, [g]);
        refused(
            &act(&s, staff, "group-delete", json!({"group_id": 123_456})).await,
            "no such group",
        );
        ok(&act(&s, staff, "group-delete", json!({"group_id": g})).await);
        assert!(listed(&s, plain, json!({})).await.is_empty());
        s
    })
    .await;
}

async fn owners_manage_their_members(backend: Backend, test: &'static str) {
    with_server(backend, test, |s| async move {
        let owner = user(&s, "owner").await;
        let other_owner = user(&s, "owner2").await;
        let a = user(&s, "member-a").await;
        let b = user(&s, "member-b").await;
        let outsider = user(&s, "outsider").await;
        let g = new_group(&s, SU, "Owned").await;
        ok(&add(&s, SU, g, owner.0, true).await);
        ok(&add(&s, SU, g, other_owner.0, true).await);

        // The owner adds and removes plain members.
        ok(&add(&s, owner, g, a.0, false).await);
        ok(&add(&s, owner, g, b.0, false).await);
        ok(&remove(&s, owner, g, b.0).await);
        assert_eq!(
            members(&s, g).await,
            [(owner.0, true), (other_owner.0, true), (a.0, false)]
        );
        // But does not name, demote or remove owners.
        refused(&add(&s, owner, g, b.0, true).await, "action not permitted");
        refused(
            &add(&s, owner, g, other_owner.0, false).await,
            "action not permitted",
        );
        refused(
            &remove(&s, owner, g, other_owner.0).await,
            "action not permitted",
        );
        // A plain member manages nobody, an outsider nothing.
        refused(&add(&s, a, g, b.0, false).await, "action not permitted");
        refused(&remove(&s, a, g, owner.0).await, "action not permitted");
        refused(
            &add(&s, outsider, g, outsider.0, false).await,
            "action not permitted",
        );
        // A manager demotes an owner, who then manages nobody.
        let env = add(&s, SU, g, other_owner.0, false).await;
        assert_eq!(ok(&env)["added"], json!(false));
        refused(
            &add(&s, other_owner, g, b.0, false).await,
            "action not permitted",
        );
        // Anyone may leave.
        ok(&remove(&s, a, g, a.0).await);
        refused(
            &remove(&s, owner, g, a.0).await,
            "user is not a member of the group",
        );
        ok(&remove(&s, owner, g, owner.0).await);
        assert_eq!(members(&s, g).await, [(other_owner.0, false)]);
        // Owners never delete the group.
        ok(&add(&s, SU, g, owner.0, true).await);
        refused(
            &act(&s, owner, "group-delete", json!({"group_id": g})).await,
            "action not permitted",
        );
        s
    })
    .await;
}

/// `user-check-access` for a `view` of a `shared` dataset owned by `owner`
/// and shared with `sharedwith`; returns the failure reason (None: granted).
async fn access(
    s: &TestServer,
    who: (i64, &str),
    owner: i64,
    visibility: &str,
    sharedwith: &str,
) -> Option<String> {
    let env = s
        .call(
            "user-check-access",
            json!({
                "user_id": who.0,
                "user_role": who.1,
                "action": "view",
                "target_name": "dataset",
                "target_owner": owner,
                "target_visibility": visibility,
                "target_sharedwith": sharedwith,
            }),
        )
        .await;
    if env["success"] == json!(true) {
        None
    } else {
        Some(
            env["response"]["failure_reason"]
                .as_str()
                .expect("reason")
                .to_owned(),
        )
    }
}

async fn shared_items_reach_group_members(backend: Backend, test: &'static str) {
    with_server(backend, test, |s| async move {
        let owner = user(&s, "item-owner").await;
        let reader = user(&s, "reader").await;
        let g = new_group(&s, SU, "Readers").await;
        let other = new_group(&s, SU, "Others").await;
        let shared = format!("group:{g}");
        let denied = Some("action not permitted".to_owned());

        assert_eq!(access(&s, reader, owner.0, "shared", &shared).await, denied);
        ok(&add(&s, SU, g, reader.0, false).await);
        assert_eq!(access(&s, reader, owner.0, "shared", &shared).await, None);
        // With users and other groups in the list too.
        let mixed = format!("{}, group:{other} ,{shared}", SU.0);
        assert_eq!(access(&s, reader, owner.0, "shared", &mixed).await, None);
        // Only the groups named, and only for shared items.
        let elsewhere = format!("group:{other}");
        assert_eq!(
            access(&s, reader, owner.0, "shared", &elsewhere).await,
            denied
        );
        assert_eq!(
            access(&s, reader, owner.0, "private", &shared).await,
            denied
        );
        // A group that does not exist grants nothing, and is no error.
        assert_eq!(
            access(&s, reader, owner.0, "shared", "group:987654").await,
            denied
        );
        // Leaving the group takes the access away.
        ok(&remove(&s, SU, g, reader.0).await);
        assert_eq!(access(&s, reader, owner.0, "shared", &shared).await, denied);
        // A malformed group element is the usual malformed-list error.
        assert_eq!(
            access(&s, reader, owner.0, "shared", "group:x")
                .await
                .as_deref(),
            Some("exception when checking the DB")
        );
        s
    })
    .await;
}

async fn deleting_a_user_or_group_ends_memberships(backend: Backend, test: &'static str) {
    with_server(backend, test, |s| async move {
        let staff = make_staff(&s, "creator").await;
        let a = user(&s, "leaver").await;
        let b = user(&s, "stayer").await;
        let g = new_group(&s, staff, "Team").await;
        let h = new_group(&s, SU, "Other team").await;
        for group in [g, h] {
            ok(&add(&s, SU, group, a.0, true).await);
            ok(&add(&s, SU, group, b.0, false).await);
        }
        ok(&s
            .call("internal-user-delete", json!({"target_userid": a.0}))
            .await);
        assert_eq!(members(&s, g).await, [(b.0, false)]);
        assert_eq!(members(&s, h).await, [(b.0, false)]);
        // The staff member who made `g` goes; the group stays, passed on to
        // the superuser.
        ok(&s
            .call("internal-user-delete", json!({"target_userid": staff.0}))
            .await);
        let env = act(&s, SU, "group-list", json!({"member_id": b.0})).await;
        let groups = ok(&env)["groups"].as_array().expect("groups").clone();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["group_id"], json!(g));
        assert_eq!(groups[0]["created_by"], json!(1));
        // Deleting a group ends its memberships.
        ok(&act(&s, SU, "group-delete", json!({"group_id": g})).await);
        assert_eq!(listed(&s, b, json!({})).await, [h]);
        refused(
            &act(&s, SU, "group-members", json!({"group_id": g})).await,
            "no such group",
        );
        refused(&add(&s, SU, g, b.0, false).await, "no such group");
        s
    })
    .await;
}

async fn bad_input_is_refused_clearly(backend: Backend, test: &'static str) {
    with_server(backend, test, |s| async move {
        for name in ["", "   ", "tab\there", &"x".repeat(281)] {
            refused(
                &act(&s, SU, "group-new", json!({"group_name": name})).await,
                "invalid group name",
            );
        }
        ok(&act(&s, SU, "group-new", json!({"group_name": "é".repeat(280)})).await);
        let g = new_group(&s, SU, "Input").await;
        refused(&add(&s, SU, g, 9_999, false).await, "no such user");
        for system in [2, 3] {
            refused(
                &add(&s, SU, g, system, false).await,
                "system accounts can't be group members",
            );
        }
        refused(
            &remove(&s, SU, g, 1).await,
            "user is not a member of the group",
        );
        // Wrong argument types: the schema-failure reply, no panic.
        let env = act(&s, SU, "group-members", json!({"group_id": "1"})).await;
        assert_eq!(env["success"], json!(false), "{env}");
        let env = act(
            &s,
            SU,
            "group-add-member",
            json!({"group_id": g, "member_id": 5}),
        )
        .await;
        assert_eq!(env["success"], json!(false), "{env}");
        // A falsy member_id is no filter.
        let mut all = listed(&s, SU, json!({"member_id": null})).await;
        all.sort_unstable();
        assert_eq!(all.len(), 2);
        s
    })
    .await;
}

/// A policy whose `group_policy` makes only superusers managers and takes
/// member management away from owners.
async fn the_policy_decides_who_manages(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let mut raw: Value = serde_json::from_str(DEFAULT_POLICY_JSON).expect("default policy");
    raw["group_policy"] = json!({"manager_roles": ["superuser"], "owners_manage_members": false});
    let policy = Policy::parse(&raw.to_string(), "groups-policy.json").expect("valid policy");
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| o.policy = policy).await;

    let staff = make_staff(&s, "narrow-staff").await;
    let owner = user(&s, "narrow-owner").await;
    let member = user(&s, "narrow-member").await;
    refused(
        &act(&s, staff, "group-new", json!({"group_name": "Staff's"})).await,
        "action not permitted",
    );
    let g = new_group(&s, SU, "Superusers only").await;
    refused(
        &add(&s, staff, g, member.0, false).await,
        "action not permitted",
    );
    ok(&add(&s, SU, g, owner.0, true).await);
    ok(&add(&s, SU, g, member.0, false).await);
    // Owners manage nobody now, but may still leave.
    refused(
        &add(&s, owner, g, staff.0, false).await,
        "action not permitted",
    );
    refused(
        &remove(&s, owner, g, member.0).await,
        "action not permitted",
    );
    ok(&remove(&s, owner, g, owner.0).await);
    assert_eq!(members(&s, g).await, [(member.0, false)]);
    s.stop().await;
    db.drop_db().await;
}
