//! `rediss://`: a private `redis-server` serving TLS only, with a
//! certificate signed by a private CA. Trusting that CA, every
//! implementation works over TLS; without it (bundled and system roots
//! only) or over plain `redis://`, connecting fails with an error instead of
//! talking in the clear.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use authnz_api::testkit::fixtures::t0;
use authnz_api::{LoginThrottle as _, RateLimit, RateLimiter as _};
use authnz_store_redis::testing::PrivateRedis;
use authnz_store_redis::{RedisBackend, RedisOptions};

fn options(ca: Option<Vec<u8>>) -> RedisOptions {
    RedisOptions {
        timeout: Duration::from_millis(500),
        reconnect_retries: 0,
        tls_root_pem: ca,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_the_private_ca_works() {
    let Some(server) = PrivateRedis::start_tls("rediss_with_the_private_ca_works") else {
        return;
    };
    assert!(server.url().starts_with("rediss://"));
    let redis = RedisBackend::connect(&server.url(), "t:", options(server.ca_pem()))
        .await
        .expect("TLS connection trusting the private CA");
    redis.ping().await.expect("PING over TLS");
    let limiter = redis.rate_limiter();
    let limit = RateLimit::new(60, 2);
    assert!(limiter.check("k", limit, t0()).await.unwrap().is_allowed());
    assert!(limiter.check("k", limit, t0()).await.unwrap().is_allowed());
    assert!(!limiter.check("k", limit, t0()).await.unwrap().is_allowed());
    assert_eq!(
        redis
            .login_throttle()
            .record_failure("x", t0())
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_or_plain_text_is_refused() {
    let Some(server) = PrivateRedis::start_tls("untrusted_certificate_or_plain_text_is_refused")
    else {
        return;
    };
    // Only the bundled Mozilla roots and the system's: the private CA is
    // not among them.
    let r = RedisBackend::connect(&server.url(), "t:", options(None)).await;
    assert!(r.is_err(), "an untrusted certificate was accepted");
    // Plain text to the TLS port.
    let plain = server.url().replacen("rediss://", "redis://", 1);
    let r = RedisBackend::connect(&plain, "t:", options(None)).await;
    assert!(r.is_err(), "plain text to a TLS-only server worked");
}
