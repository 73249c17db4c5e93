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
    // The TTL is the time to the TAT on the caller's clock plus one second
    // of grace (see the limiter's module docs).
    let ttl = pttl(&mut con, &format!("{p}rl:k"));
    assert!((3_900..=4_000).contains(&ttl), "rate limiter TTL {ttl}");

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

/// The Redis limiter decides exactly as the in-process one (the same
/// `gcra`), decision for decision, over a long pseudo-random sequence of
/// keys, limits and instants, including `retry_after` to the microsecond.
#[tokio::test]
async fn limiter_matches_the_in_process_gcra() {
    let Some((b, _cleanup)) = backend("limiter_matches_the_in_process_gcra").await else {
        return;
    };
    let redis = b.rate_limiter();
    let memory = authnz_api::MemoryRateLimiter::default();
    let limits = [
        RateLimit::new(60, 3),
        RateLimit::new(600, 1),
        RateLimit::new(7, 2),
        RateLimit::new(1, 1),
        RateLimit::new(100_000, 50),
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut now = t0();
    for i in 0..1_500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = format!("k{}", x % 4);
        let limit = limits[usize::try_from((x >> 8) % 5).expect("small")];
        // Mostly small steps (µs to ms), sometimes whole seconds.
        let step = match (x >> 16) % 4 {
            0 => 0,
            1 => i64::try_from((x >> 20) % 1_000).expect("small"),
            2 => i64::try_from((x >> 20) % 300_000).expect("small"),
            _ => i64::try_from((x >> 20) % 5_000_000).expect("small"),
        };
        now += chrono::TimeDelta::microseconds(step);
        let want = memory.decide(&key, limit, now);
        let got = redis.check(&key, limit, now).await.expect("check");
        assert_eq!(got, want, "decision {i}: {key} {limit:?}");
    }
}

/// Deleting a session (one, by user, or by the expiry cleanup) leaves none
/// of its keys behind: hash, index entries, API keys.
#[tokio::test]
async fn deleting_sessions_leaves_no_keys() {
    use authnz_api::SessionApiKey;
    use authnz_api::testkit::fixtures::{session, token};

    let Some((b, cleanup)) = backend("deleting_sessions_leaves_no_keys").await else {
        return;
    };
    let sql = SqlStore::connect("sqlite::memory:", &SqlOptions::default())
        .await
        .expect("sqlite");
    sql.migrate().await.expect("migrate");
    let sql = Arc::new(sql);
    let stores = authnz_api::testkit::Stores {
        users: sql.clone(),
        roles: sql.clone(),
        sessions: Arc::new(b.session_store(sql.clone())),
        apikeys: Arc::new(b.session_apikeys(sql.clone(), sql.clone(), sql.clone())),
    };
    authnz_api::testkit::fixtures::seed(&stores).await;
    let key = |tag: &str, sess: &str| SessionApiKey {
        apikey: token(tag),
        issued: t0(),
        expires: at(3600),
        not_valid_before: t0(),
        user_id: 1,
        user_role: "superuser".to_owned(),
        session_token: token(sess),
    };
    for (s, expires) in [("one", at(3600)), ("two", at(3600)), ("old", at(10))] {
        stores
            .sessions
            .create_session(&session(s, 1, t0(), expires))
            .await
            .expect("create");
        for k in ["a", "b"] {
            stores
                .apikeys
                .create_session_apikey(&key(&format!("{s}-{k}"), s))
                .await
                .expect("key");
        }
    }
    assert_eq!(cleanup.count(), 3 * 4 + 2, "3 x (s, sk, 2 k) + u:1 + exp");

    assert_eq!(
        stores
            .sessions
            .delete_session(&token("one"))
            .await
            .expect("d"),
        1
    );
    assert_eq!(cleanup.count(), 2 * 4 + 2);
    assert_eq!(
        stores
            .sessions
            .delete_sessions_expired_before(at(11))
            .await
            .expect("cleanup"),
        1
    );
    assert_eq!(cleanup.count(), 4 + 2);
    assert_eq!(
        stores
            .sessions
            .delete_user_sessions(1, None)
            .await
            .expect("d"),
        1
    );
    assert_eq!(cleanup.count(), 0, "empty sorted sets vanish too");
    sql.close().await;
}
