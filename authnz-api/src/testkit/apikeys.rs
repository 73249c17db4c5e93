//! The [`ApiKeyStore`](crate::ApiKeyStore) contract.
//!
//! A key is valid when `issued < now`, `not_valid_before < now` and
//! `expires > now`, all strict; each bound is checked to the microsecond.
//! Lookups and deletes match the token, user id and role together.

use chrono::NaiveDateTime;

use super::Stores;
use super::fixtures::{
    assert_conflict, assert_invalid_reference, at, create, create_session, plus_micros, seed,
    session, t0, token,
};
use crate::types::{ApiKeyRef, NoSessionApiKey, SessionApiKey, UserId};

/// A session-tied key issued at `t0`, valid from `at(10)` to `at(3600)`.
fn skey(tag: &str, user_id: UserId, session_tag: &str) -> SessionApiKey {
    SessionApiKey {
        apikey: token(&format!("key-{tag}")),
        issued: t0(),
        expires: at(3600),
        not_valid_before: at(10),
        user_id,
        user_role: "authenticated".to_owned(),
        session_token: token(session_tag),
    }
}

/// A no-session key issued at `t0`, valid from `at(10)` to `at(3600)`, its
/// refresh token usable from `at(20)` to `at(7200)`.
fn nkey(tag: &str, user_id: UserId) -> NoSessionApiKey {
    NoSessionApiKey {
        apikey: token(&format!("nskey-{tag}")),
        issued: t0(),
        expires: at(3600),
        not_valid_before: at(10),
        refresh_token: format!("$argon2id$v=19$m=512,t=1,p=1$c2FsdA${tag}"),
        refresh_issued: t0(),
        refresh_expires: at(7200),
        refresh_nbf: at(20),
        user_id,
        user_role: "authenticated".to_owned(),
    }
}

fn r(k: &SessionApiKey) -> ApiKeyRef<'_> {
    ApiKeyRef {
        apikey: &k.apikey,
        user_id: k.user_id,
        user_role: &k.user_role,
    }
}

fn rn(k: &NoSessionApiKey) -> ApiKeyRef<'_> {
    ApiKeyRef {
        apikey: &k.apikey,
        user_id: k.user_id,
        user_role: &k.user_role,
    }
}

async fn svalid(s: &Stores, key: ApiKeyRef<'_>, now: NaiveDateTime) -> Option<SessionApiKey> {
    s.apikeys
        .valid_session_apikey(key, now)
        .await
        .expect("valid_session_apikey")
}

async fn nvalid(s: &Stores, key: ApiKeyRef<'_>, now: NaiveDateTime) -> Option<NoSessionApiKey> {
    s.apikeys
        .valid_nosession_apikey(key, now)
        .await
        .expect("valid_nosession_apikey")
}

async fn nrefreshable(
    s: &Stores,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Option<NoSessionApiKey> {
    s.apikeys
        .refreshable_nosession_apikey(key, now)
        .await
        .expect("refreshable_nosession_apikey")
}

/// A user with a session `s-<tag>` lasting a day.
async fn user_with_session(s: &Stores, tag: &str) -> UserId {
    let id = create(s, tag, t0()).await;
    create_session(s, &session(&format!("s-{tag}"), id, t0(), at(86_400))).await;
    id
}

/// A stored key reads back field for field, and only inside its window.
pub async fn session_key_round_trip_and_window(s: Stores) {
    seed(&s).await;
    let alice = user_with_session(&s, "alice").await;
    let k = skey("a", alice, "s-alice");
    s.apikeys.create_session_apikey(&k).await.expect("create");

    assert_eq!(svalid(&s, r(&k), at(11)).await.as_ref(), Some(&k));
    // not_valid_before < now, strictly.
    assert!(svalid(&s, r(&k), at(10)).await.is_none());
    assert!(svalid(&s, r(&k), plus_micros(at(10), 1)).await.is_some());
    // expires > now, strictly.
    assert!(svalid(&s, r(&k), plus_micros(at(3600), -1)).await.is_some());
    assert!(svalid(&s, r(&k), at(3600)).await.is_none());
    assert!(svalid(&s, r(&k), at(100_000)).await.is_none());

    // issued < now, strictly, even when not_valid_before is earlier.
    let early = SessionApiKey {
        apikey: token("key-early"),
        not_valid_before: at(-100),
        ..k.clone()
    };
    s.apikeys
        .create_session_apikey(&early)
        .await
        .expect("create");
    assert!(svalid(&s, r(&early), t0()).await.is_none());
    assert!(svalid(&s, r(&early), plus_micros(t0(), 1)).await.is_some());
}

/// The token, user id and role must all match.
pub async fn session_key_matches_token_user_and_role(s: Stores) {
    seed(&s).await;
    let alice = user_with_session(&s, "alice").await;
    let bob = user_with_session(&s, "bob").await;
    let k = skey("a", alice, "s-alice");
    s.apikeys.create_session_apikey(&k).await.expect("create");
    let now = at(60);
    let other_user = ApiKeyRef {
        user_id: bob,
        ..r(&k)
    };
    let other_role = ApiKeyRef {
        user_role: "staff",
        ..r(&k)
    };
    let other_token = ApiKeyRef {
        apikey: "nope",
        ..r(&k)
    };
    for key in [other_user, other_role, other_token] {
        assert!(svalid(&s, key, now).await.is_none(), "{key:?}");
        assert_eq!(
            s.apikeys.delete_session_apikey(key).await.expect("delete"),
            0
        );
    }
    assert!(svalid(&s, r(&k), now).await.is_some(), "still there");
}

/// A key for an unknown user, role or session is refused and not stored.
pub async fn session_key_unknown_references(s: Stores) {
    seed(&s).await;
    let alice = user_with_session(&s, "alice").await;
    let bad = [
        skey("u", 999, "s-alice"),
        SessionApiKey {
            user_role: "emperor".to_owned(),
            ..skey("r", alice, "s-alice")
        },
        skey("s", alice, "s-nobody"),
    ];
    for k in &bad {
        assert_invalid_reference(s.apikeys.create_session_apikey(k).await, &k.apikey);
        let stored = SessionApiKey {
            user_id: alice,
            user_role: "authenticated".to_owned(),
            ..k.clone()
        };
        assert!(svalid(&s, r(&stored), at(60)).await.is_none());
    }
}

/// A second key with a taken token is a conflict; the first is kept.
pub async fn session_key_duplicate_token_conflicts(s: Stores) {
    seed(&s).await;
    let alice = user_with_session(&s, "alice").await;
    let k = skey("a", alice, "s-alice");
    s.apikeys.create_session_apikey(&k).await.expect("create");
    let again = SessionApiKey {
        expires: at(99_999),
        ..k.clone()
    };
    assert_conflict(s.apikeys.create_session_apikey(&again).await, "dup key");
    assert_eq!(svalid(&s, r(&k), at(60)).await.as_ref(), Some(&k));
}

/// Deleting the session deletes its keys (PROTOCOL.md 8.3); other sessions' keys stay.
pub async fn session_key_dies_with_its_session(s: Stores) {
    seed(&s).await;
    let alice = user_with_session(&s, "alice").await;
    create_session(&s, &session("s-alice2", alice, t0(), at(86_400))).await;
    let k1 = skey("one", alice, "s-alice");
    let k2 = skey("two", alice, "s-alice2");
    s.apikeys.create_session_apikey(&k1).await.expect("create");
    s.apikeys.create_session_apikey(&k2).await.expect("create");
    assert_eq!(
        s.sessions
            .delete_session(&token("s-alice"))
            .await
            .expect("delete session"),
        1
    );
    assert!(svalid(&s, r(&k1), at(60)).await.is_none());
    assert_eq!(s.apikeys.delete_session_apikey(r(&k1)).await.expect("d"), 0);
    assert!(svalid(&s, r(&k2), at(60)).await.is_some());
    // The same when the user's own session is deleted by its owner.
    create_session(&s, &session("s-alice3", alice, t0(), at(86_400))).await;
    let k3 = skey("three", alice, "s-alice3");
    s.apikeys.create_session_apikey(&k3).await.expect("create");
    assert_eq!(
        s.sessions
            .delete_user_session(alice, &token("s-alice3"))
            .await
            .expect("delete own session"),
        1
    );
    assert!(svalid(&s, r(&k3), at(60)).await.is_none());
    assert!(svalid(&s, r(&k2), at(60)).await.is_some());
    // And with the user.
    s.users.delete_user(alice).await.expect("delete user");
    assert!(svalid(&s, r(&k2), at(60)).await.is_none());
}

/// Delete removes exactly the matching row, valid or not.
pub async fn session_key_delete(s: Stores) {
    seed(&s).await;
    let alice = user_with_session(&s, "alice").await;
    let k = skey("a", alice, "s-alice");
    let other = skey("b", alice, "s-alice");
    s.apikeys.create_session_apikey(&k).await.expect("create");
    s.apikeys
        .create_session_apikey(&other)
        .await
        .expect("create");
    assert_eq!(s.apikeys.delete_session_apikey(r(&k)).await.expect("d"), 1);
    assert_eq!(s.apikeys.delete_session_apikey(r(&k)).await.expect("d"), 0);
    assert!(svalid(&s, r(&k), at(60)).await.is_none());
    assert!(svalid(&s, r(&other), at(60)).await.is_some());
}

/// A no-session key reads back field for field, only inside its window.
pub async fn nosession_key_round_trip_and_window(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let k = nkey("a", alice);
    s.apikeys.create_nosession_apikey(&k).await.expect("create");
    assert_eq!(nvalid(&s, rn(&k), at(11)).await.as_ref(), Some(&k));
    assert!(nvalid(&s, rn(&k), at(10)).await.is_none());
    assert!(nvalid(&s, rn(&k), plus_micros(at(10), 1)).await.is_some());
    assert!(
        nvalid(&s, rn(&k), plus_micros(at(3600), -1))
            .await
            .is_some()
    );
    assert!(nvalid(&s, rn(&k), at(3600)).await.is_none());
    let wrong_role = ApiKeyRef {
        user_role: "superuser",
        ..rn(&k)
    };
    assert!(nvalid(&s, wrong_role, at(60)).await.is_none());
    let wrong_user = ApiKeyRef {
        user_id: 1,
        ..rn(&k)
    };
    assert!(nvalid(&s, wrong_user, at(60)).await.is_none());
    assert_conflict(s.apikeys.create_nosession_apikey(&k).await, "dup key");
}

/// The refresh window is independent of the key's own window.
pub async fn nosession_refresh_window(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let k = nkey("a", alice);
    s.apikeys.create_nosession_apikey(&k).await.expect("create");
    assert!(
        nrefreshable(&s, rn(&k), at(20)).await.is_none(),
        "nbf strict"
    );
    let got = nrefreshable(&s, rn(&k), plus_micros(at(20), 1)).await;
    assert_eq!(got.as_ref(), Some(&k));
    // The key has expired, the refresh token has not.
    assert!(nvalid(&s, rn(&k), at(5000)).await.is_none());
    assert!(nrefreshable(&s, rn(&k), at(5000)).await.is_some());
    assert!(
        nrefreshable(&s, rn(&k), plus_micros(at(7200), -1))
            .await
            .is_some()
    );
    assert!(nrefreshable(&s, rn(&k), at(7200)).await.is_none());
    let wrong_user = ApiKeyRef {
        user_id: 1,
        ..rn(&k)
    };
    assert!(nrefreshable(&s, wrong_user, at(60)).await.is_none());
    // refresh_issued < now, strictly.
    let early = NoSessionApiKey {
        apikey: token("nskey-early"),
        refresh_nbf: at(-100),
        ..k.clone()
    };
    s.apikeys
        .create_nosession_apikey(&early)
        .await
        .expect("create");
    assert!(nrefreshable(&s, rn(&early), t0()).await.is_none());
    assert!(
        nrefreshable(&s, rn(&early), plus_micros(t0(), 1))
            .await
            .is_some()
    );
}

/// Delete one, then delete all of a user with a given role.
pub async fn nosession_key_delete_and_delete_all(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    let a1 = nkey("a1", alice);
    let a2 = nkey("a2", alice);
    let a3 = nkey("a3", alice);
    let a_staff = NoSessionApiKey {
        user_role: "staff".to_owned(),
        ..nkey("a-staff", alice)
    };
    let b1 = nkey("b1", bob);
    for k in [&a1, &a2, &a3, &a_staff, &b1] {
        s.apikeys.create_nosession_apikey(k).await.expect("create");
    }
    assert_eq!(
        s.apikeys.delete_nosession_apikey(rn(&a1)).await.expect("d"),
        1
    );
    assert_eq!(
        s.apikeys.delete_nosession_apikey(rn(&a1)).await.expect("d"),
        0
    );
    assert_eq!(
        s.apikeys
            .delete_user_nosession_apikeys(alice, "authenticated")
            .await
            .expect("delete all"),
        2
    );
    assert_eq!(
        s.apikeys
            .delete_user_nosession_apikeys(alice, "authenticated")
            .await
            .expect("delete all"),
        0
    );
    assert!(nvalid(&s, rn(&a2), at(60)).await.is_none());
    assert!(
        nvalid(&s, rn(&a_staff), at(60)).await.is_some(),
        "other role"
    );
    assert!(nvalid(&s, rn(&b1), at(60)).await.is_some(), "other user");
}

/// No-session keys are not tied to sessions; they go with their user.
pub async fn nosession_keys_survive_session_delete_but_not_user_delete(s: Stores) {
    seed(&s).await;
    let alice = user_with_session(&s, "alice").await;
    let k = nkey("a", alice);
    s.apikeys.create_nosession_apikey(&k).await.expect("create");
    s.sessions
        .delete_user_sessions(alice, None)
        .await
        .expect("delete sessions");
    assert!(nvalid(&s, rn(&k), at(60)).await.is_some());
    s.users.delete_user(alice).await.expect("delete user");
    assert!(nvalid(&s, rn(&k), at(60)).await.is_none());
    assert!(nrefreshable(&s, rn(&k), at(60)).await.is_none());
}

/// A no-session key for an unknown user or role is refused and not stored.
pub async fn nosession_key_unknown_references(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    assert_invalid_reference(
        s.apikeys.create_nosession_apikey(&nkey("u", 999)).await,
        "unknown user",
    );
    let bad_role = NoSessionApiKey {
        user_role: "emperor".to_owned(),
        ..nkey("r", alice)
    };
    assert_invalid_reference(
        s.apikeys.create_nosession_apikey(&bad_role).await,
        "unknown role",
    );
    assert!(nvalid(&s, rn(&nkey("u", alice)), at(60)).await.is_none());
    assert_eq!(
        s.apikeys
            .delete_user_nosession_apikeys(alice, "authenticated")
            .await
            .expect("delete all"),
        0
    );
}
