//! The [`UserStore`](crate::UserStore) contract.
//!
//! Every test seeds the store with the three built-in users (ids 1, 2, 3)
//! first, because users need existing roles and only
//! [`RoleStore::initialize`](crate::RoleStore::initialize) creates roles.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::Stores;
use super::fixtures::{
    assert_conflict, assert_invalid_reference, at, create, create_session, new_user, plus_micros,
    seed, session, t0, token,
};
use crate::types::{ColumnValue, NewUser, User, UserColumn, UserPatch, json_equal};

/// What a freshly created user must look like.
fn expected(id: i64, u: &NewUser, now: NaiveDateTime) -> User {
    User {
        user_id: id,
        system_id: u.system_id.clone(),
        full_name: u.full_name.clone(),
        password: u.password.clone(),
        email: u.email.clone(),
        email_verified: u.email_verified,
        is_active: u.is_active,
        emailverify_sent_datetime: u.emailverify_sent_datetime,
        emailforgotpass_sent_datetime: None,
        emailchangepass_sent_datetime: None,
        last_login_success: None,
        last_login_try: None,
        failed_login_tries: Some(0),
        extra_info: u.extra_info.clone(),
        created_on: now,
        last_updated: now,
        user_role: u.user_role.clone(),
        locked_until: None,
    }
}

async fn get(s: &Stores, id: i64) -> User {
    s.users
        .user_by_id(id)
        .await
        .expect("user_by_id")
        .unwrap_or_else(|| panic!("user {id} should exist"))
}

/// A created user reads back field for field, by id and by e-mail; missing
/// ids and e-mails read as `None`.
pub async fn create_and_lookup(s: Stores) {
    seed(&s).await;
    let mut u = new_user("alice");
    u.email_verified = false;
    u.is_active = false;
    u.emailverify_sent_datetime = Some(at(-30));
    let now = at(10);
    let id = s.users.create_user(&u, now).await.expect("create_user");
    assert_eq!(
        id, 4,
        "the first user after the three built-in ones gets id 4"
    );

    let want = expected(id, &u, now);
    assert_eq!(get(&s, id).await, want);
    assert_eq!(
        s.users
            .user_by_email("alice@example.org")
            .await
            .expect("by email"),
        Some(want)
    );

    assert_eq!(s.users.user_by_id(999).await.expect("missing id"), None);
    assert_eq!(
        s.users
            .user_by_email("nobody@example.org")
            .await
            .expect("missing"),
        None
    );

    // A user with every optional field empty.
    let bare = NewUser {
        full_name: None,
        extra_info: None,
        emailverify_sent_datetime: None,
        ..new_user("bare")
    };
    let bare_id = s.users.create_user(&bare, now).await.expect("create bare");
    assert_eq!(get(&s, bare_id).await, expected(bare_id, &bare, now));
}

/// `list_users` returns every user, ordered by id.
pub async fn list_users_ordered_by_id(s: Stores) {
    seed(&s).await;
    for tag in ["zed", "amy", "mia"] {
        create(&s, tag, t0()).await;
    }
    let users = s.users.list_users().await.expect("list_users");
    let ids: Vec<i64> = users.iter().map(|u| u.user_id).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
    let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "admin@localhost",
            "anonuser@localhost",
            "dummyuser@localhost",
            "zed@example.org",
            "amy@example.org",
            "mia@example.org"
        ]
    );
}

/// A second user with a taken e-mail is a conflict and writes nothing.
pub async fn create_duplicate_email_conflicts(s: Stores) {
    seed(&s).await;
    create(&s, "alice", t0()).await;
    let dup = NewUser {
        system_id: "sys-other".to_owned(),
        ..new_user("alice")
    };
    let result = s.users.create_user(&dup, at(1)).await;
    // The error is logged: it must not quote the e-mail (MySQL's driver
    // message does, "Duplicate entry '...' for key ...").
    if let Err(e) = &result {
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains(&dup.email),
            "the error shows the e-mail: {shown}"
        );
    }
    assert_conflict(result, "duplicate e-mail");
    let users = s.users.list_users().await.expect("list");
    assert_eq!(users.len(), 4);
    assert_eq!(users[3].system_id, "sys-alice");
    assert_eq!(users[3].created_on, t0());
}

/// A second user with a taken `system_id` is a conflict and writes nothing.
pub async fn create_duplicate_system_id_conflicts(s: Stores) {
    seed(&s).await;
    create(&s, "alice", t0()).await;
    let dup = NewUser {
        system_id: "sys-alice".to_owned(),
        ..new_user("bob")
    };
    assert_conflict(
        s.users.create_user(&dup, at(1)).await,
        "duplicate system_id",
    );
    assert_eq!(
        s.users
            .user_by_email("bob@example.org")
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(s.users.list_users().await.expect("list").len(), 4);
}

/// A user with a role that does not exist is an invalid reference and
/// writes nothing.
pub async fn create_unknown_role_is_invalid_reference(s: Stores) {
    seed(&s).await;
    let u = NewUser {
        user_role: "emperor".to_owned(),
        ..new_user("alice")
    };
    assert_invalid_reference(s.users.create_user(&u, t0()).await, "unknown role");
    assert_eq!(
        s.users
            .user_by_email("alice@example.org")
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(s.users.list_users().await.expect("list").len(), 3);
}

/// E-mail lookups are byte-exact: no case folding, no Unicode
/// normalisation, no trimming; addresses that differ only so are distinct.
pub async fn email_match_is_exact(s: Stores) {
    seed(&s).await;
    let exact = "Zoë.Ünïcødé@例え.テスト";
    let u = NewUser {
        email: exact.to_owned(),
        ..new_user("zoe")
    };
    let id = s
        .users
        .create_user(&u, t0())
        .await
        .expect("create unicode e-mail");
    assert_eq!(get(&s, id).await.email, exact);
    let found = s.users.user_by_email(exact).await.expect("lookup");
    assert_eq!(found.map(|u| u.user_id), Some(id));

    // "ë" decomposed (NFD) is a different byte string.
    let nfd = "Zoe\u{308}.Ünïcødé@例え.テスト";
    for other in [
        "zoë.ünïcødé@例え.テスト",
        "ZOË.ÜNÏCØDÉ@例え.テスト",
        nfd,
        " Zoë.Ünïcødé@例え.テスト",
        "Zoë.Ünïcødé@例え.テスト ",
    ] {
        assert_eq!(
            s.users.user_by_email(other).await.expect("lookup"),
            None,
            "{other:?}"
        );
    }

    // A case variant is a different address, so it can be registered.
    let variant = NewUser {
        email: "zoë.ünïcødé@例え.テスト".to_owned(),
        ..new_user("zoe2")
    };
    let id2 = s
        .users
        .create_user(&variant, t0())
        .await
        .expect("case variant is distinct");
    assert_ne!(id, id2);
    let found = s
        .users
        .user_by_email("zoë.ünïcødé@例え.テスト")
        .await
        .expect("lookup");
    assert_eq!(found.map(|u| u.user_id), Some(id2));
}

/// How a patch is expected to change a user.
type ApplyPatch = Box<dyn Fn(&mut User) + Send>;

/// Each patch field changes exactly its column (and `last_updated`).
pub async fn update_each_field(s: Stores) {
    seed(&s).await;
    let id = create(&s, "alice", t0()).await;
    let mut want = get(&s, id).await;

    let patches: Vec<(&str, UserPatch, ApplyPatch)> = vec![
        (
            "full_name",
            UserPatch {
                full_name: Some(Some("Alice Liddell".into())),
                ..Default::default()
            },
            Box::new(|u| u.full_name = Some("Alice Liddell".into())),
        ),
        (
            "password",
            UserPatch {
                password: Some("$argon2id$new".into()),
                ..Default::default()
            },
            Box::new(|u| u.password = "$argon2id$new".into()),
        ),
        (
            "email",
            UserPatch {
                email: Some("alice@wonderland.example".into()),
                ..Default::default()
            },
            Box::new(|u| u.email = "alice@wonderland.example".into()),
        ),
        (
            "email_verified",
            UserPatch {
                email_verified: Some(false),
                ..Default::default()
            },
            Box::new(|u| u.email_verified = false),
        ),
        (
            "is_active",
            UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
            Box::new(|u| u.is_active = false),
        ),
        (
            "user_role",
            UserPatch {
                user_role: Some("staff".into()),
                ..Default::default()
            },
            Box::new(|u| u.user_role = "staff".into()),
        ),
        (
            "extra_info",
            UserPatch {
                extra_info: Some(Some(json!({"k": ["v", 2]}))),
                ..Default::default()
            },
            Box::new(|u| u.extra_info = Some(json!({"k": ["v", 2]}))),
        ),
        (
            "emailverify_sent_datetime",
            UserPatch {
                emailverify_sent_datetime: Some(Some(at(-5))),
                ..Default::default()
            },
            Box::new(|u| u.emailverify_sent_datetime = Some(at(-5))),
        ),
        (
            "emailforgotpass_sent_datetime",
            UserPatch {
                emailforgotpass_sent_datetime: Some(Some(at(-6))),
                ..Default::default()
            },
            Box::new(|u| u.emailforgotpass_sent_datetime = Some(at(-6))),
        ),
        (
            "locked_until",
            UserPatch {
                locked_until: Some(Some(at(3600))),
                ..Default::default()
            },
            Box::new(|u| u.locked_until = Some(at(3600))),
        ),
    ];

    for (i, (field, patch, apply)) in patches.into_iter().enumerate() {
        let now = at(100 + i as i64);
        let changed = s
            .users
            .update_user(id, &patch, None, now)
            .await
            .unwrap_or_else(|e| panic!("update {field}: {e:?}"));
        assert_eq!(changed, 1, "update {field}");
        apply(&mut want);
        want.last_updated = now;
        assert_eq!(get(&s, id).await, want, "after updating {field}");
    }
    // The other users are untouched.
    assert_eq!(get(&s, 1).await.last_updated, t0());
    assert_eq!(get(&s, 1).await.email, "admin@localhost");
}

/// `Some(None)` in a nullable patch field writes NULL.
pub async fn update_writes_null(s: Stores) {
    seed(&s).await;
    let id = create(&s, "alice", t0()).await;
    let patch = UserPatch {
        emailverify_sent_datetime: Some(Some(at(1))),
        emailforgotpass_sent_datetime: Some(Some(at(2))),
        locked_until: Some(Some(at(9))),
        ..Default::default()
    };
    s.users
        .update_user(id, &patch, None, at(3))
        .await
        .expect("set datetimes");

    let patch = UserPatch {
        full_name: Some(None),
        extra_info: Some(None),
        emailverify_sent_datetime: Some(None),
        emailforgotpass_sent_datetime: Some(None),
        locked_until: Some(None),
        ..Default::default()
    };
    assert_eq!(
        s.users
            .update_user(id, &patch, None, at(4))
            .await
            .expect("null"),
        1
    );
    let u = get(&s, id).await;
    assert_eq!(u.full_name, None);
    assert_eq!(u.extra_info, None);
    assert_eq!(u.emailverify_sent_datetime, None);
    assert_eq!(u.emailforgotpass_sent_datetime, None);
    assert_eq!(u.locked_until, None);
    assert_eq!(u.last_updated, at(4));
    assert_eq!(u.email, "alice@example.org");
}

/// An empty patch still sets `last_updated` and changes nothing else.
pub async fn update_empty_patch_sets_last_updated(s: Stores) {
    seed(&s).await;
    let id = create(&s, "alice", t0()).await;
    let mut want = get(&s, id).await;
    let n = s
        .users
        .update_user(id, &UserPatch::default(), None, at(50))
        .await
        .expect("update");
    assert_eq!(n, 1);
    want.last_updated = at(50);
    assert_eq!(get(&s, id).await, want);
}

/// `only_if_active = Some(b)` updates only a row whose `is_active == b`.
pub async fn update_only_if_active(s: Stores) {
    seed(&s).await;
    let active = create(&s, "active", t0()).await;
    let inactive = s
        .users
        .create_user(
            &NewUser {
                is_active: false,
                ..new_user("inactive")
            },
            t0(),
        )
        .await
        .expect("create inactive");
    let lock = UserPatch {
        user_role: Some("locked".into()),
        ..Default::default()
    };

    // Guard does not match: nothing changes, not even last_updated.
    assert_eq!(
        s.users
            .update_user(inactive, &lock, Some(true), at(1))
            .await
            .expect("u"),
        0
    );
    let u = get(&s, inactive).await;
    assert_eq!(
        (u.user_role.as_str(), u.last_updated),
        ("authenticated", t0())
    );
    assert_eq!(
        s.users
            .update_user(active, &lock, Some(false), at(1))
            .await
            .expect("u"),
        0
    );
    let u = get(&s, active).await;
    assert_eq!(
        (u.user_role.as_str(), u.last_updated),
        ("authenticated", t0())
    );

    // Guard matches.
    assert_eq!(
        s.users
            .update_user(active, &lock, Some(true), at(2))
            .await
            .expect("u"),
        1
    );
    let u = get(&s, active).await;
    assert_eq!((u.user_role.as_str(), u.last_updated), ("locked", at(2)));
    assert_eq!(
        s.users
            .update_user(inactive, &lock, Some(false), at(3))
            .await
            .expect("u"),
        1
    );
    let u = get(&s, inactive).await;
    assert_eq!((u.user_role.as_str(), u.last_updated), ("locked", at(3)));

    // No guard: updates either way.
    let unlock = UserPatch {
        user_role: Some("authenticated".into()),
        is_active: Some(true),
        ..Default::default()
    };
    assert_eq!(
        s.users
            .update_user(inactive, &unlock, None, at(4))
            .await
            .expect("u"),
        1
    );
    let u = get(&s, inactive).await;
    assert!(u.is_active);
    assert_eq!(u.user_role, "authenticated");
}

/// Updating a user that does not exist changes nothing and is not an error.
pub async fn update_missing_user_changes_nothing(s: Stores) {
    seed(&s).await;
    let patch = UserPatch {
        full_name: Some(Some("Ghost".into())),
        ..Default::default()
    };
    assert_eq!(
        s.users
            .update_user(999, &patch, None, at(1))
            .await
            .expect("update"),
        0
    );
    assert_eq!(
        s.users
            .update_user(999, &patch, Some(true), at(1))
            .await
            .expect("update"),
        0
    );
    assert_eq!(s.users.list_users().await.expect("list").len(), 3);
}

/// Changing the e-mail to a taken one is a conflict; the row is unchanged.
pub async fn update_duplicate_email_conflicts(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    create(&s, "bob", t0()).await;
    let before = get(&s, alice).await;
    let patch = UserPatch {
        email: Some("bob@example.org".into()),
        full_name: Some(Some("Not Bob".into())),
        ..Default::default()
    };
    assert_conflict(
        s.users.update_user(alice, &patch, None, at(1)).await,
        "taken e-mail",
    );
    assert_eq!(get(&s, alice).await, before);
}

/// Changing the role to an unknown one is an invalid reference; the row is
/// unchanged.
pub async fn update_unknown_role_is_invalid_reference(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let before = get(&s, alice).await;
    let patch = UserPatch {
        user_role: Some("emperor".into()),
        full_name: Some(Some("Empress".into())),
        ..Default::default()
    };
    assert_invalid_reference(
        s.users.update_user(alice, &patch, None, at(1)).await,
        "role",
    );
    assert_eq!(get(&s, alice).await, before);
}

/// Deleting a user removes the user and all their sessions (active and
/// expired), leaves other users' sessions, and reports the rows deleted.
pub async fn delete_user_cascades_sessions(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    create_session(&s, &session("alice-live", alice, t0(), at(3600))).await;
    create_session(&s, &session("alice-old", alice, at(-7200), at(-3600))).await;
    create_session(&s, &session("bob-live", bob, t0(), at(3600))).await;

    assert_eq!(s.users.delete_user(alice).await.expect("delete"), 1);
    assert_eq!(s.users.user_by_id(alice).await.expect("lookup"), None);
    assert_eq!(
        s.users
            .user_by_email("alice@example.org")
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        s.sessions
            .active_session(&token("alice-live"), t0())
            .await
            .expect("a"),
        None
    );
    // Gone, not merely inactive: deleting them finds nothing.
    assert_eq!(
        s.sessions
            .delete_session(&token("alice-live"))
            .await
            .expect("d"),
        0
    );
    assert_eq!(
        s.sessions
            .delete_session(&token("alice-old"))
            .await
            .expect("d"),
        0
    );
    let (bob_session, _) = s
        .sessions
        .active_session(&token("bob-live"), t0())
        .await
        .expect("active")
        .expect("bob's session survives");
    assert_eq!(bob_session.user_id, bob);

    assert_eq!(s.users.delete_user(alice).await.expect("delete again"), 0);
    assert_eq!(s.users.delete_user(999).await.expect("delete missing"), 0);
    assert_eq!(s.users.list_users().await.expect("list").len(), 4);
}

/// `superuser_role` is the role of user 1, or `None` without a user 1.
pub async fn superuser_role_of_user_one(s: Stores) {
    assert_eq!(s.users.superuser_role().await.expect("empty store"), None);
    seed(&s).await;
    assert_eq!(
        s.users.superuser_role().await.expect("seeded"),
        Some("superuser".into())
    );
    let patch = UserPatch {
        user_role: Some("staff".into()),
        ..Default::default()
    };
    s.users
        .update_user(1, &patch, None, at(1))
        .await
        .expect("update");
    assert_eq!(
        s.users.superuser_role().await.expect("changed"),
        Some("staff".into())
    );
}

/// Datetimes come back exactly, to the microsecond, across the whole range
/// of fractions and dates.
pub async fn datetimes_round_trip_to_the_microsecond(s: Stores) {
    seed(&s).await;
    let base =
        NaiveDateTime::parse_from_str("1999-12-31 23:59:59", "%Y-%m-%d %H:%M:%S").expect("valid");
    let cases = [
        base,
        plus_micros(base, 1),
        plus_micros(base, 999_999),
        plus_micros(base, 1_000),
        at(0),
        NaiveDateTime::parse_from_str("2099-02-28 00:00:00.000010", "%Y-%m-%d %H:%M:%S%.f")
            .expect("valid"),
    ];
    for (i, t) in cases.into_iter().enumerate() {
        let u = NewUser {
            emailverify_sent_datetime: Some(plus_micros(t, 7)),
            ..new_user(&format!("dt{i}"))
        };
        let id = s.users.create_user(&u, t).await.expect("create");
        let patch = UserPatch {
            emailforgotpass_sent_datetime: Some(Some(plus_micros(t, 11))),
            ..Default::default()
        };
        s.users
            .update_user(id, &patch, None, plus_micros(t, 13))
            .await
            .expect("update");
        let got = get(&s, id).await;
        assert_eq!(got.created_on, t, "created_on {t}");
        assert_eq!(
            got.emailverify_sent_datetime,
            Some(plus_micros(t, 7)),
            "{t}"
        );
        assert_eq!(
            got.emailforgotpass_sent_datetime,
            Some(plus_micros(t, 11)),
            "{t}"
        );
        assert_eq!(got.last_updated, plus_micros(t, 13), "{t}");
    }

    // Sub-microsecond input is truncated, not rounded.
    let nanos = t0() + chrono::TimeDelta::nanoseconds(999);
    let id = s
        .users
        .create_user(&new_user("nanos"), nanos)
        .await
        .expect("create");
    assert_eq!(get(&s, id).await.created_on, t0());
}

/// `extra_info` JSON comes back equal: nested objects and arrays, Unicode,
/// escapes, numbers, nulls inside values. A top-level JSON `null` reads back
/// as no value (SQL NULL where the backend has one).
pub async fn json_round_trips(s: Stores) {
    seed(&s).await;
    let values = [
        json!({}),
        json!({"provenance": "auto-created", "type": "system-user"}),
        json!({
            "nested": {"deeper": {"list": [1, 2, {"x": null}], "empty": {}, "t": true}},
            "unicode": "Grüße, 世界 😀 \u{7f}",
            "escapes": "quote \" backslash \\ newline \n tab \t ctl \u{1} slash /",
            "numbers": [0, -1, 1.5, -0.25, 1e-7, 12345678901234567_i64, u64::MAX],
            "null": null,
            "Ключ": "значение",
        }),
        json!([1, "two", null, [3.0]]),
        json!("just a string"),
        json!(42),
    ];
    for (i, v) in values.iter().enumerate() {
        let u = NewUser {
            extra_info: Some(v.clone()),
            ..new_user(&format!("json{i}"))
        };
        let id = s.users.create_user(&u, t0()).await.expect("create");
        // Numbers keep their text (`1e-7` is stored as Python writes it,
        // `1e-07`): equal means equal as Python compares JSON values.
        let got = get(&s, id).await.extra_info;
        assert!(
            got.as_ref().is_some_and(|g| json_equal(g, v)),
            "created with {v}, read back {got:?}"
        );
        let patch = UserPatch {
            extra_info: Some(Some(json!({"replaced": v}))),
            ..Default::default()
        };
        s.users
            .update_user(id, &patch, None, at(1))
            .await
            .expect("update");
        let got = get(&s, id).await.extra_info;
        assert!(
            got.as_ref()
                .is_some_and(|g| json_equal(g, &json!({"replaced": v}))),
            "updated with {v}, read back {got:?}"
        );
    }

    let u = NewUser {
        extra_info: Some(Value::Null),
        ..new_user("jsonnull")
    };
    let id = s.users.create_user(&u, t0()).await.expect("create");
    let got = get(&s, id).await.extra_info;
    assert!(
        matches!(got, None | Some(Value::Null)),
        "JSON null read back as {got:?}"
    );
}

/// Concurrent creates all succeed with distinct ids; concurrent creates of
/// one e-mail let exactly one through.
pub async fn concurrent_creates(s: Stores) {
    seed(&s).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let users = s.users.clone();
        tasks.push(tokio::spawn(async move {
            users.create_user(&new_user(&format!("c{i}")), t0()).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("join").expect("concurrent create"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 16, "distinct ids");

    let mut tasks = Vec::new();
    for i in 0..8 {
        let users = s.users.clone();
        tasks.push(tokio::spawn(async move {
            let u = NewUser {
                system_id: format!("sys-same-{i}"),
                ..new_user("same")
            };
            users.create_user(&u, t0()).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(crate::StoreError::Conflict(_)) => {}
            Err(e) => panic!("concurrent duplicate: expected Conflict, got {e:?}"),
        }
    }
    assert_eq!(ok, 1, "exactly one of the duplicates is created");
    assert_eq!(s.users.list_users().await.expect("list").len(), 3 + 16 + 1);
}

fn ids(users: Vec<User>) -> Vec<i64> {
    users.into_iter().map(|u| u.user_id).collect()
}

async fn find(s: &Stores, column: UserColumn, value: ColumnValue) -> Vec<i64> {
    ids(s
        .users
        .find_users(column, &value)
        .await
        .unwrap_or_else(|e| panic!("find_users {column:?} {value:?}: {e:?}")))
}

/// `find_users` compares each kind of column exactly, orders by id, and
/// treats a value of the wrong kind as matching nothing.
pub async fn find_users_by_each_kind(s: Stores) {
    seed(&s).await;
    let a = create(&s, "alice", at(1)).await;
    let b = create(&s, "bob", at(2)).await;
    let c = create(&s, "carol", at(2)).await;
    let patch = UserPatch {
        is_active: Some(false),
        user_role: Some("staff".into()),
        emailverify_sent_datetime: Some(Some(plus_micros(at(7), 1))),
        ..Default::default()
    };
    s.users
        .update_user(b, &patch, None, at(2))
        .await
        .expect("update");

    assert_eq!(find(&s, UserColumn::UserId, ColumnValue::Int(a)).await, [a]);
    assert_eq!(
        find(&s, UserColumn::UserId, ColumnValue::Int(999)).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        find(
            &s,
            UserColumn::Email,
            ColumnValue::Text("bob@example.org".into())
        )
        .await,
        [b]
    );
    assert_eq!(
        find(
            &s,
            UserColumn::Email,
            ColumnValue::Text("BOB@example.org".into())
        )
        .await,
        Vec::<i64>::new()
    );
    assert_eq!(
        find(
            &s,
            UserColumn::SystemId,
            ColumnValue::Text("sys-carol".into())
        )
        .await,
        [c]
    );
    assert_eq!(
        find(
            &s,
            UserColumn::FullName,
            ColumnValue::Text("User alice".into())
        )
        .await,
        [a]
    );
    assert_eq!(
        find(&s, UserColumn::UserRole, ColumnValue::Text("staff".into())).await,
        [b]
    );
    assert_eq!(
        find(
            &s,
            UserColumn::UserRole,
            ColumnValue::Text("authenticated".into())
        )
        .await,
        [a, c]
    );
    assert_eq!(
        find(&s, UserColumn::IsActive, ColumnValue::Bool(false)).await,
        [3, b]
    );
    assert_eq!(
        find(&s, UserColumn::IsActive, ColumnValue::Bool(true)).await,
        [1, 2, a, c]
    );
    assert_eq!(
        find(&s, UserColumn::EmailVerified, ColumnValue::Bool(true))
            .await
            .len(),
        6
    );
    assert_eq!(
        find(&s, UserColumn::CreatedOn, ColumnValue::DateTime(at(2))).await,
        [b, c]
    );
    assert_eq!(
        find(
            &s,
            UserColumn::EmailverifySentDatetime,
            ColumnValue::DateTime(plus_micros(at(7), 1))
        )
        .await,
        [b]
    );
    assert_eq!(
        find(
            &s,
            UserColumn::EmailverifySentDatetime,
            ColumnValue::DateTime(at(7))
        )
        .await,
        Vec::<i64>::new(),
        "datetimes compare to the microsecond"
    );
    assert_eq!(
        find(&s, UserColumn::FailedLoginTries, ColumnValue::Int(0))
            .await
            .len(),
        6
    );
    // NULL columns never match.
    assert_eq!(
        find(&s, UserColumn::LastLoginTry, ColumnValue::DateTime(at(0))).await,
        Vec::<i64>::new()
    );
    // Wrong kinds match nothing and are not errors.
    assert_eq!(
        find(&s, UserColumn::UserId, ColumnValue::Text(a.to_string())).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        find(&s, UserColumn::Email, ColumnValue::Int(1)).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        find(&s, UserColumn::IsActive, ColumnValue::Int(1)).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        find(&s, UserColumn::CreatedOn, ColumnValue::Text("x".into())).await,
        Vec::<i64>::new()
    );
    // Text that looks like SQL is just text.
    assert_eq!(
        find(
            &s,
            UserColumn::Email,
            ColumnValue::Text("' OR '1'='1".into())
        )
        .await,
        Vec::<i64>::new()
    );
}

async fn find_extra(s: &Stores, wanted: Value) -> Vec<i64> {
    let wanted = wanted.as_object().cloned().expect("object");
    ids(s
        .users
        .find_users_by_extra_info(&wanted)
        .await
        .unwrap_or_else(|e| panic!("find_users_by_extra_info {wanted:?}: {e:?}")))
}

/// `find_users_by_extra_info` matches every key as a JSON value, the same on
/// every backend; NULL or non-object `extra_info` matches only `{}`.
pub async fn find_users_by_extra_info_values(s: Stores) {
    seed(&s).await;
    let a = create(&s, "alice", t0()).await;
    let b = create(&s, "bob", t0()).await;
    let c = create(&s, "carol", t0()).await;
    let set = |id, v: Option<Value>| {
        let s = s.clone();
        async move {
            let patch = UserPatch {
                extra_info: Some(v),
                ..Default::default()
            };
            s.users
                .update_user(id, &patch, None, t0())
                .await
                .expect("update");
        }
    };
    set(a, Some(json!({"team": "red", "n": 3, "ok": true, "tags": ["x", 1], "o": {"k": "v"}, "nul": null, "it's \"q\"": "é"}))).await;
    set(b, Some(json!({"team": "blue", "n": 3.0, "ok": false}))).await;
    set(c, None).await;

    assert_eq!(find_extra(&s, json!({"team": "red"})).await, [a]);
    assert_eq!(find_extra(&s, json!({"n": 3})).await, [a, b]);
    assert_eq!(find_extra(&s, json!({"n": 3.0, "team": "blue"})).await, [b]);
    assert_eq!(find_extra(&s, json!({"n": "3"})).await, Vec::<i64>::new());
    assert_eq!(find_extra(&s, json!({"ok": true})).await, [a]);
    assert_eq!(find_extra(&s, json!({"ok": false})).await, [b]);
    assert_eq!(find_extra(&s, json!({"ok": 1})).await, Vec::<i64>::new());
    assert_eq!(find_extra(&s, json!({"tags": ["x", 1]})).await, [a]);
    assert_eq!(
        find_extra(&s, json!({"tags": ["x"]})).await,
        Vec::<i64>::new()
    );
    assert_eq!(find_extra(&s, json!({"o": {"k": "v"}})).await, [a]);
    assert_eq!(find_extra(&s, json!({"o": {}})).await, Vec::<i64>::new());
    assert_eq!(find_extra(&s, json!({"nul": null})).await, [a]);
    assert_eq!(
        find_extra(&s, json!({"missing": null})).await,
        Vec::<i64>::new()
    );
    assert_eq!(find_extra(&s, json!({"it's \"q\"": "é"})).await, [a]);
    assert_eq!(
        find_extra(&s, json!({"team": "red", "ok": false})).await,
        Vec::<i64>::new()
    );
    // The seed users have {"provenance": ..., "type": ...}.
    assert_eq!(find_extra(&s, json!({"type": "system-user"})).await, [1, 2]);
    // `{}` matches everyone, including NULL extra_info.
    assert_eq!(find_extra(&s, json!({})).await, [1, 2, 3, a, b, c]);
}

/// Lock deadlines: listed while set, lifted once when due, never early.
pub async fn lock_deadlines_lift_once_when_due(s: Stores) {
    seed(&s).await;
    let a = create(&s, "alice", t0()).await;
    let b = create(&s, "bob", t0()).await;
    assert!(
        s.users
            .users_with_lock_deadline()
            .await
            .expect("list")
            .is_empty()
    );
    for (id, until) in [(a, at(100)), (b, at(200))] {
        let patch = UserPatch {
            is_active: Some(false),
            user_role: Some("locked".into()),
            locked_until: Some(Some(until)),
            ..Default::default()
        };
        s.users
            .update_user(id, &patch, None, t0())
            .await
            .expect("lock");
    }
    let listed = s.users.users_with_lock_deadline().await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|u| (u.user_id, u.locked_until))
            .collect::<Vec<_>>(),
        [(a, Some(at(100))), (b, Some(at(200)))]
    );

    // Not yet due: nothing changes.
    assert!(
        !s.users
            .lift_lock_if_due(a, "authenticated", plus_micros(at(100), -1))
            .await
            .expect("early")
    );
    assert_eq!(get(&s, a).await.user_role, "locked");
    // Unknown role: an error, nothing changes.
    assert!(
        s.users
            .lift_lock_if_due(a, "no-such-role", at(100))
            .await
            .is_err()
    );
    assert_eq!(get(&s, a).await.locked_until, Some(at(100)));
    // Due (the boundary is inclusive): lifted once.
    assert!(
        s.users
            .lift_lock_if_due(a, "staff", at(100))
            .await
            .expect("due")
    );
    let u = get(&s, a).await;
    assert_eq!(
        (u.is_active, u.user_role.as_str(), u.locked_until),
        (true, "staff", None)
    );
    assert_eq!(u.last_updated, at(100));
    assert!(
        !s.users
            .lift_lock_if_due(a, "staff", at(101))
            .await
            .expect("again")
    );
    // No deadline, or no such user: false.
    assert!(
        !s.users
            .lift_lock_if_due(1, "superuser", at(999))
            .await
            .expect("no deadline")
    );
    assert!(
        !s.users
            .lift_lock_if_due(999, "superuser", at(999))
            .await
            .expect("no user")
    );
    assert_eq!(get(&s, 1).await.last_updated, t0());

    let listed = s.users.users_with_lock_deadline().await.expect("list");
    assert_eq!(listed.iter().map(|u| u.user_id).collect::<Vec<_>>(), [b]);

    // Concurrent lifts: exactly one wins.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                s.users
                    .lift_lock_if_due(b, "authenticated", at(300))
                    .await
                    .expect("lift")
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("task") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

/// NUL characters get one behaviour on every backend: a lookup by a string
/// holding one finds nothing, a write of one is refused (an error, nothing
/// stored), and JSON values holding one are stored and found like any other
/// (one such row does not break lookups by `extra_info`).
pub async fn nul_characters_behave_the_same_everywhere(s: Stores) {
    seed(&s).await;
    let a = create(&s, "alice", t0()).await;
    let b = create(&s, "bob", t0()).await;
    let with_nul = json!({"team": "red", "bad": "x\u{0}y", "k\u{0}": 1});
    for (id, v) in [(a, with_nul.clone()), (b, json!({"team": "red"}))] {
        let patch = UserPatch {
            extra_info: Some(Some(v)),
            ..Default::default()
        };
        s.users
            .update_user(id, &patch, None, t0())
            .await
            .expect("update");
    }
    let got = s.users.user_by_id(a).await.expect("read").expect("user");
    assert_eq!(got.extra_info, Some(with_nul));
    assert_eq!(find_extra(&s, json!({"team": "red"})).await, [a, b]);
    assert_eq!(find_extra(&s, json!({"bad": "x\u{0}y"})).await, [a]);
    assert_eq!(
        find_extra(&s, json!({"k\u{0}": 1, "team": "red"})).await,
        [a]
    );
    assert_eq!(
        find_extra(&s, json!({"bad": "x\u{0}z"})).await,
        Vec::<i64>::new()
    );

    // Lookups by a string holding NUL find nothing.
    let nul_email = "alice@example.org\u{0}";
    assert!(
        s.users
            .user_by_email(nul_email)
            .await
            .expect("lookup")
            .is_none()
    );
    let found = s
        .users
        .find_users(UserColumn::Email, &ColumnValue::Text(nul_email.into()))
        .await
        .expect("find");
    assert!(found.is_empty());
    let sess = session("nul", a, t0(), at(3600));
    create_session(&s, &sess).await;
    let nul_token = format!("{}\u{0}", sess.session_token);
    assert!(
        s.sessions
            .active_session(&nul_token, t0())
            .await
            .expect("lookup")
            .is_none()
    );
    assert_eq!(
        s.sessions.delete_session(&nul_token).await.expect("delete"),
        0
    );
    assert!(
        s.sessions
            .active_session(&sess.session_token, t0())
            .await
            .expect("lookup")
            .is_some()
    );

    // Writes of a string holding NUL are refused and store nothing.
    let mut user = new_user("carol");
    user.system_id = "sys\u{0}carol".into();
    assert!(s.users.create_user(&user, t0()).await.is_err());
    assert!(
        s.users
            .user_by_email("carol@example.org")
            .await
            .expect("lookup")
            .is_none()
    );
    let patch = UserPatch {
        full_name: Some(Some("Al\u{0}ice".into())),
        ..Default::default()
    };
    assert!(s.users.update_user(a, &patch, None, t0()).await.is_err());
    let got = s.users.user_by_id(a).await.expect("read").expect("user");
    assert_eq!(got.full_name.as_deref(), Some("User alice"));
    let mut bad = session("nul2", a, t0(), at(3600));
    bad.user_agent = "agent\u{0}".into();
    assert!(s.sessions.create_session(&bad).await.is_err());
    assert!(
        s.sessions
            .active_session(&bad.session_token, t0())
            .await
            .expect("lookup")
            .is_none()
    );
}
