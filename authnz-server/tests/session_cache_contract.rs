//! The session cache ([`authnz_server::session_cache::CachedStore`]) must be
//! invisible: the whole user, session and API-key contract suites run
//! against it (over SQLite), so every create / read / change / read-again
//! sequence of the contract checks that no write leaves a stale entry
//! behind. Plus cache-specific checks: reads are served from memory, and a
//! second process cannot take the database's lock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::testkit::fixtures::{at, create, create_session, seed, session, t0};
use authnz_api::testkit::{Harness, Stores};
use authnz_api::{SessionStore as _, UserPatch, UserStore as _};
use authnz_server::session_cache::{CachedStore, try_lock_exclusive};
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
    let cached = Arc::new(CachedStore::new(store.clone(), store.clone(), 1000));
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
    // Bounded: a tiny cache never holds more than its capacity.
    let tiny = CachedStore::new(h.store.clone(), h.store.clone(), 2);
    for i in 0..5 {
        let t = session(&format!("t{i}"), alice, t0(), at(3600));
        create_session(&s, &t).await;
        assert!(
            tiny.active_session(&t.session_token, at(1))
                .await
                .unwrap()
                .is_some()
        );
        assert!(tiny.len() <= 2);
    }
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
