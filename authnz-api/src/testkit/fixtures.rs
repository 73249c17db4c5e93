//! Test data for the contract suite: fixed timestamps, the default roles,
//! the seed users of PROTOCOL.md 8.4, and builders for users and sessions.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde_json::json;

use super::Stores;
use crate::error::StoreError;
use crate::types::{InitialData, NewUser, Role, Session, UserId};

/// The reference instant of every test: 2030-01-02 03:04:05.678901, with a
/// fraction so that lost microseconds show.
pub fn t0() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2030, 1, 2)
        .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 678_901))
        .expect("valid date")
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> NaiveDateTime {
    t0() + TimeDelta::seconds(secs)
}

/// `t` plus `micros` microseconds.
pub fn plus_micros(t: NaiveDateTime, micros: i64) -> NaiveDateTime {
    t + TimeDelta::microseconds(micros)
}

/// The roles of the default policy (PROTOCOL.md 6.5), with upstream's descriptions.
pub fn default_roles() -> Vec<Role> {
    ["superuser", "staff", "authenticated", "anonymous", "locked"]
        .into_iter()
        .map(role)
        .collect()
}

/// A role row as upstream makes it: `Role with <name> privileges`.
pub fn role(name: &str) -> Role {
    Role {
        name: name.to_owned(),
        desc: format!("Role with {name} privileges"),
    }
}

/// The seed data of PROTOCOL.md 8.4 (with fixed system ids and fake hashes).
pub fn initial_data() -> InitialData {
    let system_user = json!({"provenance": "auto-created", "type": "system-user"});
    let superuser = NewUser {
        system_id: "00000000-0000-4000-8000-000000000001".to_owned(),
        full_name: Some("Superuser account".to_owned()),
        password: "$argon2id$v=19$m=65536,t=3,p=4$c3VwZXI$aGFzaA".to_owned(),
        email: "admin@localhost".to_owned(),
        email_verified: true,
        is_active: true,
        user_role: "superuser".to_owned(),
        extra_info: Some(system_user.clone()),
        emailverify_sent_datetime: None,
    };
    let anonymous = NewUser {
        system_id: "00000000-0000-4000-8000-000000000002".to_owned(),
        full_name: Some("The systemwide anonymous user".to_owned()),
        password: "$argon2id$v=19$m=65536,t=3,p=4$YW5vbg$aGFzaA".to_owned(),
        email: "anonuser@localhost".to_owned(),
        user_role: "anonymous".to_owned(),
        extra_info: Some(system_user),
        ..superuser.clone()
    };
    let dummy = NewUser {
        system_id: "00000000-0000-4000-8000-000000000003".to_owned(),
        full_name: Some("The systemwide locked user".to_owned()),
        password: "$argon2id$v=19$m=65536,t=3,p=4$ZHVtbXk$aGFzaA".to_owned(),
        email: "dummyuser@localhost".to_owned(),
        is_active: false,
        user_role: "locked".to_owned(),
        extra_info: Some(json!({"provenance": "auto-created", "type": "locked-user"})),
        ..superuser.clone()
    };
    InitialData {
        roles: default_roles(),
        users: [superuser, anonymous, dummy],
    }
}

/// Seed the stores with [`initial_data`] at [`t0`] (users 1, 2, 3).
pub async fn seed(stores: &Stores) {
    let inserted = stores
        .roles
        .initialize(&initial_data(), t0())
        .await
        .expect("initialize a fresh store");
    assert!(inserted, "initialize on a fresh store must return true");
}

/// An ordinary, active, verified user `<tag>@example.org` with role
/// `authenticated`.
pub fn new_user(tag: &str) -> NewUser {
    NewUser {
        system_id: format!("sys-{tag}"),
        full_name: Some(format!("User {tag}")),
        password: format!("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA${tag}"),
        email: format!("{tag}@example.org"),
        email_verified: true,
        is_active: true,
        user_role: "authenticated".to_owned(),
        extra_info: Some(json!({"tag": tag})),
        emailverify_sent_datetime: None,
    }
}

/// Create [`new_user`]`(tag)` at `now` and return its id.
pub async fn create(stores: &Stores, tag: &str, now: NaiveDateTime) -> UserId {
    stores
        .users
        .create_user(&new_user(tag), now)
        .await
        .unwrap_or_else(|e| panic!("create user {tag}: {e:?}"))
}

/// A session token that looks like the real ones (43 URL-safe characters).
pub fn token(tag: &str) -> String {
    format!("{tag:-<43}").chars().take(43).collect()
}

/// A session of `user_id` from `created` to `expires`.
pub fn session(
    tag: &str,
    user_id: UserId,
    created: NaiveDateTime,
    expires: NaiveDateTime,
) -> Session {
    Session {
        session_token: token(tag),
        ip_address: "203.0.113.7".to_owned(),
        user_agent: format!("Mozilla/5.0 (contract test {tag})"),
        user_id,
        created,
        expires,
        extra_info_json: None,
    }
}

/// Create `session` and panic on error.
pub async fn create_session(stores: &Stores, session: &Session) {
    stores
        .sessions
        .create_session(session)
        .await
        .unwrap_or_else(|e| panic!("create session {}: {e:?}", session.session_token));
}

/// Assert that `result` is a [`StoreError::Conflict`].
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected StoreError::Conflict, got {other:?}"),
    }
}

/// Assert that `result` is a [`StoreError::InvalidReference`].
#[track_caller]
pub fn assert_invalid_reference<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::InvalidReference(_)) => {}
        other => panic!("{what}: expected StoreError::InvalidReference, got {other:?}"),
    }
}
