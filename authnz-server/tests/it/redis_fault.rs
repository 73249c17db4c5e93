//! The server with sessions in Redis when Redis dies and comes back, against
//! a private `redis-server` child (users in PostgreSQL): every answer comes
//! within the Redis deadline; sessions fail like a database error, the rate
//! limiter fails open, `/health` says "session store broken"; users are
//! untouched; once Redis is back the same server works again.
//!
//! Needs `redis-server` on the PATH and `AUTHNZ_TEST_POSTGRES_URL`; skipped
//! loudly without, failed under `AUTHNZ_REQUIRE_SERVICES=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Backend, TestDb, TestServer, on_redis};
use authnz_api::{SystemClock, UserStore as _};
use authnz_store_redis::testing::PrivateRedis;
use authnz_store_redis::{RedisBackend, RedisOptions};
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";

/// A 500 ms timeout and one retry: each Redis call gives up after
/// `(1 + 2) × 500 ms = 1.5 s`.
fn options() -> RedisOptions {
    RedisOptions {
        timeout: Duration::from_millis(500),
        reconnect_retries: 1,
        tls_root_pem: None,
    }
}

/// Longest an answer may take while Redis is down (the deadline is 1.5 s;
/// a margin for a loaded machine).
const BOUND: Duration = Duration::from_secs(5);

async fn health(s: &TestServer) -> (u16, Value) {
    let (status, _, body) = s.raw("GET", "/health", Some("localhost"), b"").await;
    (status, serde_json::from_slice(&body).expect("health JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_and_back() {
    let test = "redis_fault::redis_down_and_back";
    let Some(db) = TestDb::new(Backend::Postgres, test).await else {
        return;
    };
    let Some(mut redis) = PrivateRedis::start(test) else {
        db.drop_db().await;
        return;
    };
    assert_eq!(options().deadline(), Duration::from_millis(1500));
    let backend = RedisBackend::connect(&redis.url(), "fault:", options())
        .await
        .expect("connect");
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        on_redis(o, &backend);
        o.request_ttl = None;
    })
    .await;

    // Before: all fine.
    let email = "alice@example.org";
    let uid = s.verified_user(email, PASSWORD).await;
    let token = s.new_session(json!(uid)).await;
    let env = s
        .call("session-exists", json!({"session_token": token}))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let (status, h) = health(&s).await;
    assert_eq!(status, 200, "{h}");
    let before = s.built.store.user_by_id(uid).await.unwrap().expect("user");

    redis.stop();

    // Sessions: the DB-error failure, within the bound.
    let start = Instant::now();
    let env = s
        .call("session-exists", json!({"session_token": token}))
        .await;
    let took = start.elapsed();
    assert!(took < BOUND, "session-exists took {took:?}");
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(
        env["failure_reason"],
        json!("DB error when retrieving session info"),
        "{env}"
    );
    assert_eq!(env["messages"], json!(["Session look up failed."]));
    assert_eq!(env["response"]["session_info"], Value::Null);
    eprintln!("session-exists with Redis down: {took:?}");

    let start = Instant::now();
    let env = s
        .call(
            "session-new",
            json!({"ip_address": "127.0.0.1", "user_agent": "Mozilla/5.0 test",
                   "user_id": uid, "expires": "2100-01-01T00:00:00.000001", "extra_info_json": null}),
        )
        .await;
    assert!(
        start.elapsed() < BOUND,
        "session-new took {:?}",
        start.elapsed()
    );
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(
        env["failure_reason"],
        json!("DB error when making new session")
    );

    // The rate limiter fails open: a limited request type (user-new, an
    // aggressive limit) goes through and works, users being in SQL.
    let start = Instant::now();
    let env = s
        .call(
            "user-new",
            json!({"full_name": "Bob", "email": "bob@example.org", "password": PASSWORD}),
        )
        .await;
    assert!(
        start.elapsed() < BOUND,
        "user-new took {:?}",
        start.elapsed()
    );
    assert_eq!(env["success"], json!(true), "{env}");

    // user-login with the right password: its session lookup fails, which
    // user-login (unlike session-exists) does not turn into a failure
    // reply: an unhandled storage error, HTTP 400, as with a failing SQL
    // session store. No failed login is counted (the lookup comes first).
    let start = Instant::now();
    let r = s
        .send_object(&crate::common::Client::request_object(
            "127.0.0.1",
            "user-login",
            json!({"session_token": token, "email": email, "password": PASSWORD}),
        ))
        .await;
    let took = start.elapsed();
    assert!(took < BOUND, "user-login took {took:?}");
    eprintln!("user-login with Redis down: {r:?} after {took:?}");
    let (status, _) = r.expect_err("no envelope while the session store is down");
    assert_eq!(status, 400);

    // /health: 500, session store broken, within the bound.
    let start = Instant::now();
    let (status, h) = health(&s).await;
    assert!(
        start.elapsed() < BOUND,
        "/health took {:?}",
        start.elapsed()
    );
    assert_eq!(status, 500, "{h}");
    let workers = h["Workers"].as_object().expect("Workers");
    assert!(!workers.is_empty(), "{h}");
    for (name, state) in workers {
        assert_eq!(state, &json!("session store broken"), "{name}: {h}");
    }
    assert_eq!(h["Health-Ok"], json!(false));

    // Users are untouched.
    let after = s.built.store.user_by_id(uid).await.unwrap().expect("user");
    assert_eq!(after.password, before.password);
    assert_eq!(after.email, before.email);
    assert_eq!(after.user_role, before.user_role);
    assert!(after.is_active && after.email_verified);

    // Back on the same port; the same server recovers by itself.
    redis.spawn().expect("restart redis-server");
    let start = Instant::now();
    let fresh = loop {
        let env = s
            .call(
                "session-new",
                json!({"ip_address": "127.0.0.1", "user_agent": "Mozilla/5.0 test",
                       "user_id": uid, "expires": "2100-01-01T00:00:00.000001", "extra_info_json": null}),
            )
            .await;
        if env["success"] == json!(true) {
            break env["response"]["session_token"]
                .as_str()
                .unwrap()
                .to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no recovery: {env}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("recovered after {:?}", start.elapsed());
    let env = s
        .call("session-exists", json!({"session_token": fresh}))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["session_info"]["user_id"], json!(uid));
    let (status, h) = health(&s).await;
    assert_eq!(status, 200, "{h}");

    // The session made before the kill is gone: the private redis-server
    // keeps nothing on disk (--save "" --appendonly no), so its restart is
    // empty. A production Redis with persistence would keep it.
    let env = s
        .call("session-exists", json!({"session_token": token}))
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("session does not exist or expired"),
        "{env}"
    );

    s.stop().await;
    db.drop_db().await;
}
