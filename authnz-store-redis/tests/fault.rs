//! Failure behaviour against a private `redis-server` child process: calls
//! fail with `StoreError::Unavailable` within a bounded time while the
//! server is down or hung, and succeed again once it is back, without
//! rebuilding the backend.
//!
//! Needs `redis-server` on the PATH; without it the tests print `SKIPPED`
//! and pass, unless `AUTHNZ_REQUIRE_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authnz_api::testkit::fixtures::{at, t0};
use authnz_api::{
    LoginThrottle, RateLimit, RateLimiter, ReplayGuard, SessionStore, StoreError, UserStore,
};
use authnz_store_redis::testing::{PrivateRedis, free_port};
use authnz_store_redis::{RedisBackend, RedisOptions};
use authnz_store_sql::{SqlOptions, SqlStore};

/// Longest a failing call may take (the deadline with the options below is
/// 3 s; the brief allows a margin for a loaded machine).
const MAX_FAIL: Duration = Duration::from_secs(5);

fn options() -> RedisOptions {
    RedisOptions {
        timeout: Duration::from_secs(1),
        reconnect_retries: 1,
        tls_root_pem: None,
    }
}

/// One call of each implementation; the error of the first that fails.
async fn calls(
    rl: &dyn RateLimiter,
    th: &dyn LoginThrottle,
    rg: &dyn ReplayGuard,
    ss: &dyn SessionStore,
    n: i64,
) -> Vec<Result<(), StoreError>> {
    vec![
        rl.check("k", RateLimit::new(600, 1000), t0())
            .await
            .map(drop),
        th.record_failure("k", t0()).await.map(drop),
        rg.first_use(&format!("id{n}"), at(60), t0())
            .await
            .map(drop),
        ss.active_session("tok", t0()).await.map(drop),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_is_unavailable_and_recovers_without_rebuilding() {
    let Some(mut server) = PrivateRedis::start("down_is_unavailable_and_recovers") else {
        return;
    };
    let backend = RedisBackend::connect(&server.url(), "fault:", options())
        .await
        .expect("connect");
    let sql = SqlStore::connect("sqlite::memory:", &SqlOptions::default())
        .await
        .expect("sqlite");
    sql.migrate().await.expect("migrate");
    let users: Arc<dyn UserStore> = Arc::new(sql);
    let (rl, th, rg) = (
        backend.rate_limiter(),
        backend.login_throttle(),
        backend.replay_guard(),
    );
    let ss = backend.session_store(users);

    for r in calls(&rl, &th, &rg, &ss, 0).await {
        r.expect("server up");
    }

    server.stop();
    for round in 1..=3 {
        let start = Instant::now();
        let r = rl.check("k", RateLimit::new(600, 1000), t0()).await;
        let took = start.elapsed();
        assert!(
            matches!(r, Err(StoreError::Unavailable { .. })),
            "round {round}: {r:?}"
        );
        assert!(took < MAX_FAIL, "round {round}: took {took:?}");
        eprintln!("round {round}: limiter failed after {took:?}");
        for (i, r) in calls(&rl, &th, &rg, &ss, round)
            .await
            .into_iter()
            .enumerate()
        {
            assert!(
                matches!(r, Err(StoreError::Unavailable { .. })),
                "round {round}, call {i}: {r:?}"
            );
        }
    }
    let start = Instant::now();
    let r = th.failures("k").await;
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
    assert!(start.elapsed() < MAX_FAIL);

    // Back on the same port: the same backend recovers by itself.
    server.spawn().expect("restart redis-server");
    let start = Instant::now();
    loop {
        match rl.check("k", RateLimit::new(600, 1000), t0()).await {
            Ok(_) => break,
            Err(StoreError::Unavailable { .. }) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("did not recover: {e:?}"),
        }
    }
    eprintln!("recovered after {:?}", start.elapsed());
    for r in calls(&rl, &th, &rg, &ss, 99).await {
        r.expect("server back");
    }
    // The restarted server is empty: the throttle counts from 1 again.
    assert_eq!(th.failures("k").await.expect("failures"), 1);
}

/// Nothing listening: connecting fails fast with Unavailable; a lazy backend
/// fails its calls the same way.
#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let start = Instant::now();
    let r = RedisBackend::connect(&url, "x:", options()).await;
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
    assert!(start.elapsed() < MAX_FAIL, "{:?}", start.elapsed());

    let lazy = RedisBackend::connect_lazy(&url, "x:", options()).expect("lazy");
    let start = Instant::now();
    let r = lazy
        .rate_limiter()
        .check("k", RateLimit::new(60, 1), t0())
        .await;
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
    assert!(start.elapsed() < MAX_FAIL, "{:?}", start.elapsed());
}

/// A server that accepts connections and never answers: every call still
/// ends, with Unavailable, within the deadline.
#[tokio::test]
async fn hung_server_is_unavailable_within_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Accept and hold connections without ever reading or writing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
            if held.len() > 64 {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let url = format!("redis://127.0.0.1:{port}");
    let lazy = RedisBackend::connect_lazy(&url, "x:", options()).expect("lazy");
    for _ in 0..2 {
        let start = Instant::now();
        let r = lazy.replay_guard().first_use("id", at(60), t0()).await;
        let took = start.elapsed();
        assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
        assert!(
            took <= options().deadline() + Duration::from_millis(500),
            "{took:?}"
        );
    }
    let r = RedisBackend::connect(&url, "x:", options()).await;
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
}

/// A malformed URL is a Backend error, not Unavailable.
#[test]
fn malformed_url_is_a_backend_error() {
    let r = RedisBackend::connect_lazy("http://nope", "x:", options());
    assert!(matches!(r, Err(StoreError::Backend { .. })), "{r:?}");
}
