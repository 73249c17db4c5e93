//! The [`RoleStore`](crate::RoleStore) contract: role listing and the
//! first-run seeding of PROTOCOL.md 8.4.

use super::Stores;
use super::fixtures::{
    assert_conflict, assert_invalid_reference, at, initial_data, role, seed, t0,
};
use crate::types::{InitialData, NewUser, Role};

/// A fresh store has no roles, no users and no superuser.
pub async fn fresh_store_is_empty(s: Stores) {
    assert_eq!(s.roles.list_roles().await.expect("list_roles"), vec![]);
    assert_eq!(s.users.list_users().await.expect("list_users"), vec![]);
    assert_eq!(
        s.users.superuser_role().await.expect("superuser_role"),
        None
    );
}

/// `initialize` stores the roles and the three users with ids 1, 2, 3 in
/// order, every field as given, `created_on = last_updated = now`.
pub async fn initialize_seeds_roles_and_users(s: Stores) {
    let data = initial_data();
    let now = at(42);
    assert!(s.roles.initialize(&data, now).await.expect("initialize"));

    let mut want_roles = data.roles.clone();
    want_roles.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(s.roles.list_roles().await.expect("list_roles"), want_roles);

    let users = s.users.list_users().await.expect("list_users");
    assert_eq!(users.len(), 3);
    for (i, (got, want)) in users.iter().zip(data.users.iter()).enumerate() {
        assert_eq!(got.user_id, i as i64 + 1, "{}", want.email);
        assert_eq!(got.system_id, want.system_id);
        assert_eq!(got.full_name, want.full_name);
        assert_eq!(got.password, want.password);
        assert_eq!(got.email, want.email);
        assert_eq!(got.email_verified, want.email_verified);
        assert_eq!(got.is_active, want.is_active);
        assert_eq!(got.user_role, want.user_role);
        assert_eq!(got.extra_info, want.extra_info);
        assert_eq!(got.emailverify_sent_datetime, None);
        assert_eq!(got.failed_login_tries, Some(0));
        assert_eq!((got.created_on, got.last_updated), (now, now));
    }
    assert_eq!(
        s.users.superuser_role().await.expect("superuser_role"),
        Some("superuser".into())
    );
}

/// A second `initialize` returns false and writes nothing, even with
/// different data.
pub async fn initialize_twice_writes_nothing(s: Stores) {
    seed(&s).await;
    let roles_before = s.roles.list_roles().await.expect("roles");
    let users_before = s.users.list_users().await.expect("users");

    assert!(
        !s.roles
            .initialize(&initial_data(), at(1))
            .await
            .expect("again")
    );

    let mut other = initial_data();
    other.roles = vec![
        role("superuser"),
        role("wizard"),
        role("anonymous"),
        role("locked"),
    ];
    for (i, u) in other.users.iter_mut().enumerate() {
        u.email = format!("other{i}@localhost");
        u.system_id = format!("other-{i}");
    }
    assert!(
        !s.roles
            .initialize(&other, at(2))
            .await
            .expect("different data")
    );

    assert_eq!(s.roles.list_roles().await.expect("roles"), roles_before);
    assert_eq!(s.users.list_users().await.expect("users"), users_before);
}

/// When a seed user names an unknown role, `initialize` fails with an
/// invalid reference and writes nothing at all, so it can be retried.
pub async fn initialize_is_atomic_on_unknown_role(s: Stores) {
    let mut bad = initial_data();
    bad.users[2].user_role = "no-such-role".into();
    assert_invalid_reference(s.roles.initialize(&bad, t0()).await, "unknown role");
    assert_eq!(s.roles.list_roles().await.expect("roles"), vec![]);
    assert_eq!(s.users.list_users().await.expect("users"), vec![]);

    assert!(
        s.roles
            .initialize(&initial_data(), t0())
            .await
            .expect("retry")
    );
    let ids: Vec<i64> = s
        .users
        .list_users()
        .await
        .expect("users")
        .iter()
        .map(|u| u.user_id)
        .collect();
    assert_eq!(ids, vec![1, 2, 3], "a failed seeding does not use up ids");
}

/// When two seed users share an e-mail, `initialize` fails with a conflict
/// and writes nothing at all.
pub async fn initialize_is_atomic_on_duplicate_email(s: Stores) {
    let mut bad = initial_data();
    bad.users[2] = NewUser {
        email: bad.users[0].email.clone(),
        ..bad.users[2].clone()
    };
    assert_conflict(s.roles.initialize(&bad, t0()).await, "duplicate e-mail");
    assert_eq!(s.roles.list_roles().await.expect("roles"), vec![]);
    assert_eq!(s.users.list_users().await.expect("users"), vec![]);
}

/// Roles are listed ordered by name, in byte order (upper case before lower
/// case), with their descriptions.
pub async fn list_roles_byte_order(s: Stores) {
    let names = [
        "superuser",
        "anonymous",
        "locked",
        "Zeta",
        "alpha",
        "_system",
        "Ärger",
        "b",
    ];
    let data = InitialData {
        roles: names
            .iter()
            .map(|n| Role {
                name: (*n).to_owned(),
                desc: format!("Role with {n} privileges — ünïcode"),
            })
            .collect(),
        ..initial_data()
    };
    assert!(s.roles.initialize(&data, t0()).await.expect("initialize"));
    let got: Vec<String> = s
        .roles
        .list_roles()
        .await
        .expect("list_roles")
        .into_iter()
        .map(|r| r.name)
        .collect();
    let mut want: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    want.sort();
    assert_eq!(got, want);
    let roles = s.roles.list_roles().await.expect("list_roles");
    assert!(
        roles
            .iter()
            .all(|r| r.desc == format!("Role with {} privileges — ünïcode", r.name))
    );
}
