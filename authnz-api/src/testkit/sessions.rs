//! The [`SessionStore`](crate::SessionStore) contract.
//!
//! "Active" means `expires > now` strictly; every boundary is checked to the
//! microsecond with explicit timestamps.

use serde_json::{Value, json};

use super::Stores;
use super::fixtures::{
    assert_conflict, assert_invalid_reference, at, create, create_session, plus_micros, seed,
    session, t0, token,
};
use crate::types::Session;

async fn is_active(s: &Stores, tag: &str, now: chrono::NaiveDateTime) -> bool {
    s.sessions
        .active_session(&token(tag), now)
        .await
        .expect("active_session")
        .is_some()
}

/// A created session reads back with its user, both field for field.
pub async fn create_and_read_active(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let mut sess = session("alice", alice, t0(), at(3600));
    sess.extra_info_json = Some(json!({"csrf": "abc", "n": 1}));
    s.sessions
        .create_session(&sess)
        .await
        .expect("create_session");

    let (got, user) = s
        .sessions
        .active_session(&sess.session_token, at(1))
        .await
        .expect("active_session")
        .expect("the session is active");
    assert_eq!(got, sess);
    let want_user = s
        .users
        .user_by_id(alice)
        .await
        .expect("user")
        .expect("exists");
    assert_eq!(user, want_user);

    // Sessions of the anonymous user work the same way.
    let anon = session("anon", 2, t0(), at(60));
    create_session(&s, &anon).await;
    let (got, user) = s
        .sessions
        .active_session(&anon.session_token, t0())
        .await
        .expect("active_session")
        .expect("active");
    assert_eq!(got, anon);
    assert_eq!((user.user_id, user.user_role.as_str()), (2, "anonymous"));
}

/// A session for a user that does not exist is an invalid reference and is
/// not stored.
pub async fn create_unknown_user_is_invalid_reference(s: Stores) {
    seed(&s).await;
    let sess = session("ghost", 999, t0(), at(3600));
    assert_invalid_reference(s.sessions.create_session(&sess).await, "unknown user");
    assert!(!is_active(&s, "ghost", t0()).await);
    assert_eq!(
        s.sessions
            .delete_session(&sess.session_token)
            .await
            .expect("delete"),
        0
    );
}

/// A second session with a taken token is a conflict; the first is kept.
pub async fn create_duplicate_token_conflicts(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    let first = session("dup", alice, t0(), at(3600));
    create_session(&s, &first).await;
    let second = Session {
        user_agent: "other".into(),
        ..session("dup", bob, at(1), at(7200))
    };
    assert_conflict(s.sessions.create_session(&second).await, "duplicate token");
    let (got, user) = s
        .sessions
        .active_session(&first.session_token, at(2))
        .await
        .expect("active")
        .expect("first is kept");
    assert_eq!(got, first);
    assert_eq!(user.user_id, alice);
}

/// Active means `expires > now`: one microsecond before is active, the exact
/// instant and later are not.
pub async fn expiry_boundary_is_exclusive(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let expires = at(600);
    create_session(&s, &session("edge", alice, t0(), expires)).await;

    assert!(is_active(&s, "edge", t0()).await);
    assert!(is_active(&s, "edge", plus_micros(expires, -1)).await);
    assert!(
        !is_active(&s, "edge", expires).await,
        "expires == now is not active"
    );
    assert!(!is_active(&s, "edge", plus_micros(expires, 1)).await);
    assert!(!is_active(&s, "edge", at(100_000)).await);
    // A session can expire before it was created (no bounds are enforced).
    create_session(&s, &session("born-dead", alice, t0(), at(-1))).await;
    assert!(!is_active(&s, "born-dead", t0()).await);
    assert!(is_active(&s, "born-dead", at(-2)).await);
}

/// Unknown tokens, including the empty string and near misses, find nothing.
pub async fn unknown_token_is_none(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    create_session(&s, &session("real", alice, t0(), at(3600))).await;
    let real = token("real");
    for t in [
        String::new(),
        "nope".to_owned(),
        real.to_uppercase(),
        real[..42].to_owned(),
        format!("{real}x"),
    ] {
        let got = s
            .sessions
            .active_session(&t, t0())
            .await
            .expect("active_session");
        assert!(got.is_none(), "{t:?}");
    }
}

/// `delete_session` deletes one session, active or expired, and reports 1;
/// then 0.
pub async fn delete_session_expired_or_not(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    create_session(&s, &session("live", alice, t0(), at(3600))).await;
    create_session(&s, &session("dead", alice, at(-7200), at(-3600))).await;
    create_session(&s, &session("other", alice, t0(), at(3600))).await;

    assert_eq!(
        s.sessions
            .delete_session(&token("live"))
            .await
            .expect("delete"),
        1
    );
    assert!(!is_active(&s, "live", t0()).await);
    assert_eq!(
        s.sessions
            .delete_session(&token("live"))
            .await
            .expect("again"),
        0
    );
    assert_eq!(
        s.sessions
            .delete_session(&token("dead"))
            .await
            .expect("expired"),
        1
    );
    assert_eq!(
        s.sessions
            .delete_session(&token("dead"))
            .await
            .expect("again"),
        0
    );
    assert_eq!(
        s.sessions.delete_session("missing").await.expect("missing"),
        0
    );
    assert!(is_active(&s, "other", t0()).await);
    // The token can be used again after deletion.
    create_session(&s, &session("live", alice, at(1), at(3600))).await;
    assert!(is_active(&s, "live", at(2)).await);
}

/// Without `keep`, every session of the user goes (expired ones too); other
/// users' sessions stay.
pub async fn delete_user_sessions_all(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    create_session(&s, &session("a1", alice, t0(), at(3600))).await;
    create_session(&s, &session("a2", alice, at(1), at(3600))).await;
    create_session(&s, &session("a3", alice, at(-9), at(-1))).await;
    create_session(&s, &session("b1", bob, t0(), at(3600))).await;

    assert_eq!(
        s.sessions
            .delete_user_sessions(alice, None)
            .await
            .expect("delete"),
        3
    );
    for tag in ["a1", "a2", "a3"] {
        assert_eq!(
            s.sessions.delete_session(&token(tag)).await.expect("gone"),
            0,
            "{tag}"
        );
    }
    assert!(is_active(&s, "b1", t0()).await);
    assert_eq!(
        s.sessions
            .delete_user_sessions(alice, None)
            .await
            .expect("again"),
        0
    );
    assert_eq!(
        s.sessions
            .delete_user_sessions(999, None)
            .await
            .expect("nobody"),
        0
    );
}

/// With `keep`, every session of the user except that one goes; a `keep`
/// token that is not theirs protects nothing of theirs and touches nothing
/// else.
pub async fn delete_user_sessions_keep(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    create_session(&s, &session("a1", alice, t0(), at(3600))).await;
    create_session(&s, &session("a2", alice, at(1), at(3600))).await;
    create_session(&s, &session("a3", alice, at(2), at(3600))).await;
    create_session(&s, &session("b1", bob, t0(), at(3600))).await;

    let kept = token("a2");
    let n = s
        .sessions
        .delete_user_sessions(alice, Some(&kept))
        .await
        .expect("delete");
    assert_eq!(n, 2);
    assert!(is_active(&s, "a2", t0()).await);
    assert!(!is_active(&s, "a1", t0()).await);
    assert!(!is_active(&s, "a3", t0()).await);
    // Only the kept one is left: nothing more to delete.
    let n = s
        .sessions
        .delete_user_sessions(alice, Some(&kept))
        .await
        .expect("again");
    assert_eq!(n, 0);

    // Bob's token as `keep` for alice: alice's last session goes, bob's stays.
    let n = s
        .sessions
        .delete_user_sessions(alice, Some(&token("b1")))
        .await
        .expect("foreign keep");
    assert_eq!(n, 1);
    assert!(!is_active(&s, "a2", t0()).await);
    assert!(is_active(&s, "b1", t0()).await);

    // A keep token that matches nothing: everything of the user goes.
    let n = s
        .sessions
        .delete_user_sessions(bob, Some("no-such-token"))
        .await
        .expect("d");
    assert_eq!(n, 1);
    assert!(!is_active(&s, "b1", t0()).await);
}

/// `user_sessions` lists the user's active sessions only, ordered by
/// `created`.
pub async fn user_sessions_active_in_created_order(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    let third = session("third", alice, at(30), at(3600));
    let first = session("first", alice, at(10), at(3600));
    let expired = session("expired", alice, at(5), at(100));
    let second = Session {
        extra_info_json: Some(json!({"k": "v"})),
        ..session("second", alice, at(20), plus_micros(at(100), 1))
    };
    for sess in [&third, &first, &expired, &second] {
        create_session(&s, sess).await;
    }
    create_session(&s, &session("bobs", bob, at(15), at(3600))).await;

    let got = s
        .sessions
        .user_sessions(alice, at(100))
        .await
        .expect("user_sessions");
    assert_eq!(got, vec![first.clone(), second, third.clone()]);
    let got = s
        .sessions
        .user_sessions(alice, plus_micros(at(100), 1))
        .await
        .expect("later");
    assert_eq!(got, vec![first, third]);
    assert_eq!(
        s.sessions
            .user_sessions(alice, at(3600))
            .await
            .expect("all gone"),
        vec![]
    );
    assert_eq!(
        s.sessions.user_sessions(999, t0()).await.expect("nobody"),
        vec![]
    );
}

/// `delete_user_session` deletes a session of that user only, active or
/// expired; another user's session, an unknown token and one already
/// deleted give 0 and change nothing.
pub async fn delete_user_session_only_their_own(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    create_session(&s, &session("a1", alice, t0(), at(3600))).await;
    create_session(&s, &session("a2", alice, at(-9), at(-1))).await;
    create_session(&s, &session("b1", bob, t0(), at(3600))).await;

    let del = |uid, tag: &str| {
        let s = &s;
        let tok = token(tag);
        async move {
            s.sessions
                .delete_user_session(uid, &tok)
                .await
                .expect("delete_user_session")
        }
    };
    assert_eq!(del(bob, "a1").await, 0, "bob cannot delete alice's session");
    assert!(is_active(&s, "a1", t0()).await);
    assert_eq!(del(alice, "b1").await, 0, "nor alice bob's");
    assert!(is_active(&s, "b1", t0()).await);
    assert_eq!(del(alice, "a1").await, 1);
    assert!(!is_active(&s, "a1", t0()).await);
    assert_eq!(del(alice, "a1").await, 0, "already gone");
    assert_eq!(del(alice, "a2").await, 1, "expired ones too");
    assert_eq!(del(alice, "missing").await, 0);
    assert_eq!(del(999, "b1").await, 0, "no such user");
    assert_eq!(
        s.sessions.user_sessions(bob, t0()).await.expect("bob's"),
        vec![session("b1", bob, t0(), at(3600))]
    );
    assert_eq!(
        s.sessions.user_sessions(alice, t0()).await.expect("none"),
        vec![]
    );
}

/// The listing of a user's sessions follows every kind of delete, and a
/// token deleted and then used again for another user is listed under that
/// user only.
pub async fn user_sessions_follow_deletes(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    for (i, tag) in ["s1", "s2", "s3", "s4"].into_iter().enumerate() {
        let created = at(i64::try_from(i).expect("small"));
        create_session(&s, &session(tag, alice, created, at(3600))).await;
    }
    let listed = |uid| {
        let s = &s;
        async move {
            s.sessions
                .user_sessions(uid, at(10))
                .await
                .expect("user_sessions")
                .into_iter()
                .map(|x| x.session_token)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(alice).await,
        ["s1", "s2", "s3", "s4"].map(token).to_vec()
    );
    s.sessions
        .delete_session(&token("s1"))
        .await
        .expect("delete");
    s.sessions
        .delete_user_session(alice, &token("s2"))
        .await
        .expect("delete own");
    assert_eq!(listed(alice).await, ["s3", "s4"].map(token).to_vec());
    s.sessions
        .delete_user_sessions(alice, Some(&token("s4")))
        .await
        .expect("delete others");
    assert_eq!(listed(alice).await, vec![token("s4")]);
    // s1's token now names a session of bob.
    create_session(&s, &session("s1", bob, at(5), at(3600))).await;
    assert_eq!(listed(alice).await, vec![token("s4")]);
    assert_eq!(listed(bob).await, vec![token("s1")]);
    assert_eq!(
        s.sessions
            .delete_user_session(alice, &token("s1"))
            .await
            .expect("not hers"),
        0
    );
    assert_eq!(listed(bob).await, vec![token("s1")]);
}

/// `set_session_extra` replaces `extra_info_json` of an active session only.
pub async fn set_extra_only_on_active(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let live = Session {
        extra_info_json: Some(json!({"old": true, "keep": "no"})),
        ..session("live", alice, t0(), at(100))
    };
    create_session(&s, &live).await;
    let dead = Session {
        extra_info_json: Some(json!({"old": true})),
        ..session("dead", alice, at(-100), at(-1))
    };
    create_session(&s, &dead).await;

    let new = json!({"new": {"nested": [1, 2]}, "ü": "ß"});
    let n = s
        .sessions
        .set_session_extra(&token("live"), Some(&new), at(1))
        .await
        .expect("set");
    assert_eq!(n, 1);
    let (got, _) = s
        .sessions
        .active_session(&token("live"), at(1))
        .await
        .expect("active")
        .expect("still active");
    assert_eq!(
        got.extra_info_json,
        Some(new.clone()),
        "replaced, not merged"
    );
    assert_eq!((got.created, got.expires), (live.created, live.expires));

    // Expired (now == expires counts as expired) and unknown tokens: 0, and
    // the stored value is unchanged (read at a time when it was active).
    let n = s
        .sessions
        .set_session_extra(&token("dead"), Some(&new), at(0))
        .await
        .expect("s");
    assert_eq!(n, 0);
    let n = s
        .sessions
        .set_session_extra(&token("live"), Some(&json!(1)), at(100))
        .await;
    assert_eq!(n.expect("set at expiry"), 0);
    let n = s
        .sessions
        .set_session_extra("unknown", Some(&new), at(0))
        .await
        .expect("s");
    assert_eq!(n, 0);
    let (got, _) = s
        .sessions
        .active_session(&token("dead"), at(-50))
        .await
        .expect("active")
        .expect("active in the past");
    assert_eq!(got.extra_info_json, Some(json!({"old": true})));
    let (got, _) = s
        .sessions
        .active_session(&token("live"), at(2))
        .await
        .expect("active")
        .expect("active");
    assert_eq!(got.extra_info_json, Some(new));

    // None clears it.
    let n = s
        .sessions
        .set_session_extra(&token("live"), None, at(3))
        .await
        .expect("clear");
    assert_eq!(n, 1);
    let (got, _) = s
        .sessions
        .active_session(&token("live"), at(3))
        .await
        .expect("active")
        .expect("active");
    assert_eq!(got.extra_info_json, None);
}

/// The cleanup deletes sessions whose `expires` is strictly earlier than
/// `before`, of every user, and reports how many.
pub async fn delete_expired_before(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let bob = create(&s, "bob", t0()).await;
    let cutoff = at(1000);
    create_session(&s, &session("old1", alice, t0(), at(10))).await;
    create_session(&s, &session("old2", bob, t0(), plus_micros(cutoff, -1))).await;
    create_session(&s, &session("edge", alice, t0(), cutoff)).await;
    create_session(&s, &session("new", bob, t0(), at(5000))).await;

    assert_eq!(
        s.sessions
            .delete_sessions_expired_before(cutoff)
            .await
            .expect("cleanup"),
        2
    );
    assert_eq!(
        s.sessions
            .delete_session(&token("old1"))
            .await
            .expect("gone"),
        0
    );
    assert_eq!(
        s.sessions
            .delete_session(&token("old2"))
            .await
            .expect("gone"),
        0
    );
    assert!(
        is_active(&s, "edge", t0()).await,
        "expires == before is kept"
    );
    assert!(is_active(&s, "new", t0()).await);
    assert_eq!(
        s.sessions
            .delete_sessions_expired_before(cutoff)
            .await
            .expect("again"),
        0
    );
}

/// The cleanup deletes in bounded batches (so it never holds the store for
/// long); however many batches it takes, every expired session goes, every
/// live one stays, and the count is the total.
pub async fn delete_expired_before_in_many_batches(s: Stores) {
    const EXPIRED: usize = 2_600;
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let cutoff = at(1000);
    for i in 0..EXPIRED {
        create_session(&s, &session(&format!("old{i}"), alice, t0(), at(10))).await;
    }
    for i in 0..10 {
        create_session(&s, &session(&format!("live{i}"), alice, t0(), at(5000))).await;
    }
    assert_eq!(
        s.sessions
            .delete_sessions_expired_before(cutoff)
            .await
            .expect("cleanup"),
        EXPIRED as u64
    );
    for i in 0..10 {
        assert!(
            is_active(&s, &format!("live{i}"), t0()).await,
            "live{i} kept"
        );
    }
    for i in [0, EXPIRED / 2, EXPIRED - 1] {
        assert_eq!(
            s.sessions
                .delete_session(&token(&format!("old{i}")))
                .await
                .expect("gone"),
            0,
            "old{i} deleted"
        );
    }
}

/// Session datetimes and `extra_info_json` come back exactly.
pub async fn datetimes_and_json_round_trip(s: Stores) {
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let extras: [Option<Value>; 5] = [
        None,
        Some(json!({})),
        Some(json!({"a": {"b": {"c": [null, true, false, 0.5, "x"]}}, "emoji": "🦀"})),
        Some(json!(["list", {"of": "things"}])),
        Some(json!({"quote": "\"", "backslash": "\\", "newline": "\n", "cjk": "漢字"})),
    ];
    for (i, extra) in extras.into_iter().enumerate() {
        let created = plus_micros(t0(), i as i64 * 111_111 + 1);
        let expires = plus_micros(at(86_400 * 365), i as i64 * 7 + 999_990);
        let sess = Session {
            extra_info_json: extra,
            ..session(&format!("rt{i}"), alice, created, expires)
        };
        create_session(&s, &sess).await;
        let (got, _) = s
            .sessions
            .active_session(&sess.session_token, created)
            .await
            .expect("active")
            .expect("active");
        assert_eq!(got, sess);
    }
    let null = Session {
        extra_info_json: Some(Value::Null),
        ..session("rtnull", alice, t0(), at(60))
    };
    create_session(&s, &null).await;
    let (got, _) = s
        .sessions
        .active_session(&null.session_token, t0())
        .await
        .expect("active")
        .expect("active");
    assert!(matches!(got.extra_info_json, None | Some(Value::Null)));
}
