//! The session cleanup task (PROTOCOL.md 7.7) on both backends, with a manual clock:
//! only sessions that expired more than `sessionexpiry` days ago are deleted.
use crate::common::{Backend, TestDb};
use authnz_api::{ANONYMOUS_USER_ID, Clock as _, ManualClock, Session, SessionStore as _};
use authnz_server::cleanup;
use chrono::TimeDelta;

async fn deletes_only_long_expired_sessions(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = ManualClock::starting_now();
    let store =
        authnz_server::app::open_database(&db.url, &authnz_store_sql::SqlOptions::default())
            .await
            .expect("open");
    let now = clock.now();
    let tokens = [
        "expired-40-days",
        "expired-29-days",
        "expired-1-hour",
        "live",
    ];
    let expiries = [
        now - TimeDelta::days(40),
        now - TimeDelta::days(29),
        now - TimeDelta::hours(1),
        now + TimeDelta::days(1),
    ];
    // Sessions need a user: seed the built-in users.
    let hasher =
        authnz_core::passwords::PasswordHasher::new(1, crate::common::fast_hash()).expect("pool");
    let policy = authnz_core::policy::Policy::load(None).expect("policy");
    let dir = tempfile::tempdir().expect("dir");
    let admin = authnz_server::app::AdminSeed {
        email: "admin@example.org".into(),
        password: Some("x".into()),
    };
    authnz_server::app::seed(&store, &hasher, &policy, &admin, dir.path(), now)
        .await
        .expect("seed");
    for (token, expires) in tokens.iter().zip(expiries) {
        let session = Session {
            session_token: (*token).to_owned(),
            ip_address: "127.0.0.1".into(),
            user_agent: "test".into(),
            user_id: ANONYMOUS_USER_ID,
            created: now - TimeDelta::days(50),
            expires,
            extra_info_json: None,
        };
        store.create_session(&session).await.expect("create");
    }
    assert_eq!(cleanup::run_once(&store, &clock, 30).await, 1);
    // A month later the 29-day and 1-hour ones are old enough too.
    clock.advance(TimeDelta::days(31));
    assert_eq!(cleanup::run_once(&store, &clock, 30).await, 2);
    // The live one expired 30 days ago: kept until it is more than 30 days old.
    assert_eq!(cleanup::run_once(&store, &clock, 30).await, 0);
    clock.advance(TimeDelta::days(1));
    assert_eq!(cleanup::run_once(&store, &clock, 30).await, 1);
    store.close().await;
    db.drop_db().await;
}

per_backend!(deletes_only_long_expired_sessions);
