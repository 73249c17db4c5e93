//! Checks beyond the contract: TTLs come from the caller's times (not the
//! wall clock), the key layout is as documented, teardown leaves nothing,
//! and non-connection errors are `Backend`, not `Unavailable`.

use std::sync::Arc;

use authnz_api::testkit::fixtures::{at, t0};
use authnz_api::{LoginThrottle, RateLimit, RateLimiter, ReplayGuard, StoreError};
use authnz_store_redis::DEFAULT_THROTTLE_IDLE_EXPIRY;
use authnz_store_sql::{SqlOptions, SqlStore};

use crate::harness::{REDIS_URL_VAR, backend};

fn raw(test: &str) -> Option<redis::Connection> {
    let url = authnz_api::testkit::service_url(REDIS_URL_VAR, test)?;
    Some(
        redis::Client::open(url)
            .expect("url")
            .get_connection()
            .expect("connect"),
    )
}

fn pttl(con: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query(con).expect("PTTL")
}

/// Keys get TTLs computed from the caller's `now` (2030 in the fixtures),
/// and every key lands under the prefix.
#[tokio::test]
async fn ttls_follow_the_callers_clock() {
    let Some((b, cleanup)) = backend("ttls_follow_the_callers_clock").await else {
        return;
    };
    let mut con = raw("ttls_follow_the_callers_clock").expect("url is set");
    let p = b.prefix().to_owned();

    // 60/min, burst 10: after 3 requests the TAT is 3 s ahead of `now`.
    let rl = b.rate_limiter();
    for _ in 0..3 {
        rl.check("k", RateLimit::new(60, 10), t0())
            .await
            .expect("check");
    }
    let ttl = pttl(&mut con, &format!("{p}rl:k"));
    assert!((2_900..=3_000).contains(&ttl), "rate limiter TTL {ttl}");

    let th = b.login_throttle();
    th.record_failure("e", t0()).await.expect("record");
    let ttl = pttl(&mut con, &format!("{p}lt:e"));
    let day = i64::try_from(DEFAULT_THROTTLE_IDLE_EXPIRY.as_millis()).expect("fits");
    assert!(ttl > day - 10_000 && ttl <= day, "throttle TTL {ttl}");

    let rg = b.replay_guard();
    assert!(rg.first_use("id", at(90), t0()).await.expect("first_use"));
    let ttl = pttl(&mut con, &format!("{p}rp:id"));
    assert!((89_000..=90_000).contains(&ttl), "replay TTL {ttl}");

    // A session lasting an hour: kept for the hour plus the grace.
    let sql = SqlStore::connect("sqlite::memory:", &SqlOptions::default())
        .await
        .expect("sqlite");
    sql.migrate().await.expect("migrate");
    let sql = Arc::new(sql);
    let stores = authnz_api::testkit::Stores {
        users: sql.clone(),
        roles: sql.clone(),
        sessions: Arc::new(b.session_store(sql.clone())),
        apikeys: sql.clone(),
    };
    authnz_api::testkit::fixtures::seed(&stores).await;
    let s = authnz_api::testkit::fixtures::session("ttl", 1, t0(), at(3600));
    stores.sessions.create_session(&s).await.expect("create");
    let ttl = pttl(&mut con, &format!("{p}s:{}", s.session_token));
    assert!((3_650_000..=3_660_000).contains(&ttl), "session TTL {ttl}");
    let ttl = pttl(&mut con, &format!("{p}u:1"));
    assert!((3_650_000..=3_660_000).contains(&ttl), "user set TTL {ttl}");

    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{p}*"))
        .query(&mut con)
        .expect("KEYS");
    keys.sort();
    let token = &s.session_token;
    let mut want = vec![
        format!("{p}exp"),
        format!("{p}lt:e"),
        format!("{p}rl:k"),
        format!("{p}rp:id"),
        format!("{p}s:{token}"),
        format!("{p}u:1"),
    ];
    want.sort();
    assert_eq!(keys, want);

    sql.close().await;
    cleanup.clean();
    assert_eq!(cleanup.count(), 0, "teardown leaves nothing");
}

/// A Redis error that is not about the connection (here a key of the wrong
/// type) is `Backend`, with the driver error as its source.
#[tokio::test]
async fn wrong_type_is_a_backend_error() {
    let Some((b, _cleanup)) = backend("wrong_type_is_a_backend_error").await else {
        return;
    };
    let mut con = raw("wrong_type_is_a_backend_error").expect("url is set");
    let _: i64 = redis::cmd("HSET")
        .arg(format!("{}lt:h", b.prefix()))
        .arg("f")
        .arg("v")
        .query(&mut con)
        .expect("HSET");
    match b.login_throttle().record_failure("h", t0()).await {
        Err(StoreError::Backend { source }) => {
            assert!(source.to_string().contains("WRONGTYPE"), "{source}");
        }
        other => panic!("expected Backend, got {other:?}"),
    }
}
