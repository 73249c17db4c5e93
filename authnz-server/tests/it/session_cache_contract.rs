//! The session cache ([`authnz_server::session_cache::CachedStore`]) must be
//! invisible: the whole user, session and API-key contract suites run
//! against it (over SQLite), so every create / read / change / read-again
//! sequence of the contract checks that no write leaves a stale entry
//! behind. Plus cache-specific checks: reads are served from memory, and a
//! second process cannot take the database's lock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::testkit::fixtures::{at, create, create_session, seed, session, t0};
use authnz_api::testkit::{Harness, Stores};
use authnz_api::{SessionStore as _, UserPatch, UserStore as _};
use authnz_server::session_cache::{CachedStore, DEFAULT_MAX_BYTES, try_lock_exclusive};
use authnz_store_sql::{SqlOptions, SqlStore};

struct CacheHarness {
    store: Arc<SqlStore>,
    cached: Arc<CachedStore>,
}

#[async_trait]
impl Harness for CacheHarness {
    fn stores(&self) -> Stores {
        Stores {
            users: self.cached.clone(),
            sessions: self.cached.clone(),
            roles: self.store.clone(),
            apikeys: self.store.clone(),
        }
    }

    async fn teardown(self: Box<Self>) {
        self.store.close().await;
    }
}

async fn open() -> CacheHarness {
    let store = SqlStore::connect(
        "sqlite::memory:",
        &SqlOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(3),
            ..SqlOptions::default()
        },
    )
    .await
    .expect("open in-memory SQLite");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    let cached = Arc::new(CachedStore::new(
        store.clone(),
        store.clone(),
        DEFAULT_MAX_BYTES,
    ));
    CacheHarness { store, cached }
}

async fn cached_sqlite(_test: &'static str) -> Option<Box<dyn Harness>> {
    Some(Box::new(open().await))
}

authnz_api::session_store_tests!(cached_sqlite);
authnz_api::user_store_tests!(cached_sqlite);
authnz_api::apikey_store_tests!(cached_sqlite);

#[tokio::test]
async fn repeated_lookups_are_served_from_memory_until_a_write() {
    let h = open().await;
    let s = h.stores();
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let sess = session("alice", alice, t0(), at(3600));
    create_session(&s, &sess).await;
    for _ in 0..5 {
        assert!(
            h.cached
                .active_session(&sess.session_token, at(1))
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(h.cached.stats(), (4, 1));
    // The entry is not served past the session's expiry.
    assert!(
        h.cached
            .active_session(&sess.session_token, at(3600))
            .await
            .unwrap()
            .is_none()
    );
    // A role change through the cache is seen at once.
    let patch = UserPatch {
        user_role: Some("staff".into()),
        ..UserPatch::default()
    };
    h.cached
        .update_user(alice, &patch, None, at(2))
        .await
        .unwrap();
    let (_, user) = h
        .cached
        .active_session(&sess.session_token, at(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user_role, "staff");
    // Bounded: a tiny cache never holds more than its byte budget.
    let tiny = CachedStore::new(h.store.clone(), h.store.clone(), 8 * 1024);
    for i in 0..5 {
        let t = session(&format!("t{i}"), alice, t0(), at(3600));
        create_session(&s, &t).await;
        assert!(
            tiny.active_session(&t.session_token, at(1))
                .await
                .unwrap()
                .is_some()
        );
        assert!(tiny.held_bytes() <= 8 * 1024);
    }
    h.store.close().await;
}

/// An `extra_info` of about `kib` KiB: many keys, so the size estimate has
/// structure to walk, not one long string.
fn big_extra_info(kib: usize) -> serde_json::Value {
    let chunk = "x".repeat(1000);
    let map: serde_json::Map<String, serde_json::Value> = (0..kib)
        .map(|i| (format!("k{i}"), serde_json::Value::from(chunk.clone())))
        .collect();
    serde_json::Value::Object(map)
}

async fn set_extra_info(
    s: &authnz_api::testkit::Stores,
    user: authnz_api::UserId,
    v: &serde_json::Value,
) {
    let patch = UserPatch {
        extra_info: Some(Some(v.clone())),
        ..UserPatch::default()
    };
    assert_eq!(
        s.users
            .update_user(user, &patch, None, at(1))
            .await
            .unwrap(),
        1
    );
}

/// Issue 11, defect 3: 400 sessions of one user with a 300 KB `extra_info`
/// used to hold 400 copies of the user row (about 120 MB). The user row is
/// now held once and the sessions point at it.
#[tokio::test]
async fn many_sessions_of_one_big_user_share_one_user_row() {
    let h = open().await;
    let s = h.stores();
    seed(&s).await;
    let alice = create(&s, "alice", t0()).await;
    let big = big_extra_info(300);
    set_extra_info(&s, alice, &big).await;
    let cache = CachedStore::new(h.store.clone(), h.store.clone(), DEFAULT_MAX_BYTES);
    let tokens: Vec<String> = (0..400)
        .map(|i| session(&format!("s{i}"), alice, t0(), at(3600)).session_token)
        .collect();
    for i in 0..400 {
        create_session(&s, &session(&format!("s{i}"), alice, t0(), at(3600))).await;
    }
    for round in 0..2 {
        for t in &tokens {
            let (sess, user) = cache.active_session(t, at(2)).await.unwrap().unwrap();
            assert_eq!(&sess.session_token, t);
            assert_eq!(user.extra_info.as_ref(), Some(&big), "round {round}");
        }
    }
    // The second round was served from memory: everything is cached.
    assert_eq!(cache.stats(), (400, 400));
    assert_eq!(cache.len(), 400);
    assert_eq!(cache.user_copies(), 1, "one copy of the user row");
    let held = cache.held_bytes();
    assert!(
        held > 300 * 1000 && held < 2 * 300 * 1024 + 400 * 1024,
        "400 sessions of one 300 KB user hold {held} bytes"
    );
    // Both lookups of the same user hand out the same shared row.
    let a = cache.cached_user(&tokens[0]).expect("cached user");
    let b = cache.cached_user(&tokens[399]).expect("cached user");
    assert!(Arc::ptr_eq(&a, &b), "sessions share the user row");
    h.store.close().await;
}

/// Issue 11, defect 3: a flood of distinct users with a large `extra_info`
/// never takes the cache past its byte budget, the cache keeps working,
/// and a user too large to be worth caching is answered but not held.
#[tokio::test]
async fn the_byte_budget_holds_under_a_flood_of_large_users() {
    let h = open().await;
    let s = h.stores();
    seed(&s).await;
    let budget = 2 << 20;
    let cache = CachedStore::new(h.store.clone(), h.store.clone(), budget);
    let big = big_extra_info(200);
    let mut max_held = 0;
    for i in 0..40 {
        let tag = format!("flood{i}");
        let uid = create(&s, &tag, t0()).await;
        set_extra_info(&s, uid, &big).await;
        let sess = session(&tag, uid, t0(), at(3600));
        create_session(&s, &sess).await;
        let (_, user) = cache
            .active_session(&sess.session_token, at(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.user_id, uid);
        max_held = max_held.max(cache.held_bytes());
        assert!(
            cache.held_bytes() <= budget,
            "{} > {budget}",
            cache.held_bytes()
        );
        // The entry just made is served from memory.
        let before = cache.stats().0;
        assert!(
            cache
                .active_session(&sess.session_token, at(2))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(cache.stats().0, before + 1, "entry {i} was cached");
    }
    assert!(max_held > budget / 2, "the budget was used: {max_held}");
    // One user larger than a slice of the budget is not cached at all.
    let huge = create(&s, "huge", t0()).await;
    set_extra_info(&s, huge, &big_extra_info(budget / 1024)).await;
    let sess = session("huge", huge, t0(), at(3600));
    create_session(&s, &sess).await;
    let len = cache.len();
    for _ in 0..2 {
        let (_, user) = cache
            .active_session(&sess.session_token, at(2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.user_id, huge);
    }
    assert!(cache.cached_user(&sess.session_token).is_none());
    assert!(cache.len() <= len);
    assert!(cache.held_bytes() <= budget);
    h.store.close().await;
}

#[test]
fn a_second_holder_cannot_take_the_database_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.sqlite");
    let first = try_lock_exclusive(&db).expect("first lock");
    assert!(try_lock_exclusive(&db).is_none(), "lock taken twice");
    drop(first);
    assert!(
        try_lock_exclusive(&db).is_some(),
        "lock free again after drop"
    );
}
