//! The [`RateLimiter`](crate::RateLimiter) contract, for every backend of
//! the request rate limiter (in-process and Redis).
//!
//! A backend provides `async fn(&'static str) -> Option<Arc<dyn
//! RateLimiter>>` returning a fresh, empty limiter (or `None` to skip; a
//! shared backend uses the test name as its key prefix) and instantiates
//! [`rate_limiter_tests!`](crate::rate_limiter_tests). Every test passes
//! explicit timestamps; none sleeps.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};

use super::fixtures::{at, t0};
use crate::ratelimit::{RateDecision, RateLimit, RateLimiter};

/// `t0` plus `ms` milliseconds.
fn at_ms(ms: i64) -> NaiveDateTime {
    t0() + TimeDelta::milliseconds(ms)
}

async fn check(
    rl: &Arc<dyn RateLimiter>,
    key: &str,
    l: RateLimit,
    now: NaiveDateTime,
) -> RateDecision {
    rl.check(key, l, now).await.expect("check")
}

async fn allowed(rl: &Arc<dyn RateLimiter>, key: &str, l: RateLimit, now: NaiveDateTime) -> bool {
    check(rl, key, l, now).await.is_allowed()
}

fn limited(retry_after: Duration) -> RateDecision {
    RateDecision::Limited { retry_after }
}

/// A fresh key allows `burst` requests at once, then is limited until one
/// interval (60 s / per_minute) has passed.
pub async fn burst_then_limited(rl: Arc<dyn RateLimiter>) {
    let l = RateLimit::new(60, 5);
    for i in 0..5 {
        assert!(allowed(&rl, "k", l, t0()).await, "burst request {i}");
    }
    assert_eq!(
        check(&rl, "k", l, t0()).await,
        limited(Duration::from_secs(1))
    );
    // Half an interval later: half the wait left.
    assert_eq!(
        check(&rl, "k", l, at_ms(500)).await,
        limited(Duration::from_millis(500))
    );
    assert_eq!(
        check(&rl, "k", l, at_ms(500)).await.retry_after_secs(),
        Some(1)
    );
}

/// Limited requests are not counted: hammering does not push recovery back.
pub async fn rejections_do_not_consume(rl: Arc<dyn RateLimiter>) {
    let l = RateLimit::new(6, 2); // one every 10 s
    assert!(allowed(&rl, "k", l, t0()).await);
    assert!(allowed(&rl, "k", l, t0()).await);
    for s in 0..10 {
        for _ in 0..20 {
            assert!(!allowed(&rl, "k", l, at(s)).await, "limited at {s} s");
        }
    }
    assert!(allowed(&rl, "k", l, at(10)).await);
    assert!(!allowed(&rl, "k", l, at(10)).await);
}

/// After the burst, one more request fits every 60 / per_minute seconds, and
/// a key left alone refills to the full burst, but no further.
pub async fn recovers_at_the_configured_rate(rl: Arc<dyn RateLimiter>) {
    let l = RateLimit::new(120, 3); // one every 500 ms
    for _ in 0..3 {
        assert!(allowed(&rl, "k", l, t0()).await);
    }
    for step in 1..=10 {
        let now = at_ms(500 * step);
        assert!(!allowed(&rl, "k", l, now - TimeDelta::milliseconds(1)).await);
        assert!(allowed(&rl, "k", l, now).await, "step {step}");
        assert_eq!(
            check(&rl, "k", l, now).await,
            limited(Duration::from_millis(500))
        );
    }
    // Idle for a long time: full again, exactly `burst` requests fit.
    let later = at(3_600);
    for _ in 0..3 {
        assert!(allowed(&rl, "k", l, later).await);
    }
    assert!(!allowed(&rl, "k", l, later).await);
    // Partial refill: after 1 s, two tokens back.
    let then = later + TimeDelta::seconds(1);
    assert!(allowed(&rl, "k", l, then).await);
    assert!(allowed(&rl, "k", l, then).await);
    assert!(!allowed(&rl, "k", l, then).await);
}

/// Keys are independent and exact.
pub async fn keys_are_independent(rl: Arc<dyn RateLimiter>) {
    let l = RateLimit::new(60, 2);
    assert!(allowed(&rl, "user-login-10.0.0.1", l, t0()).await);
    assert!(allowed(&rl, "user-login-10.0.0.1", l, t0()).await);
    assert!(!allowed(&rl, "user-login-10.0.0.1", l, t0()).await);
    assert!(allowed(&rl, "user-login-10.0.0.2", l, t0()).await);
    assert!(allowed(&rl, "USER-LOGIN-10.0.0.1", l, t0()).await);
    assert!(allowed(&rl, "user-new-10.0.0.1", l, t0()).await);
    assert!(allowed(&rl, "user-login-10.0.0.2", l, t0()).await);
    assert!(!allowed(&rl, "user-login-10.0.0.2", l, t0()).await);
}

/// The limit is an argument of each decision: a key's state carries over
/// when its limit changes, and the new limit applies at once.
pub async fn limit_changes_are_respected(rl: Arc<dyn RateLimiter>) {
    let small = RateLimit::new(60, 2);
    let big = RateLimit::new(60, 10);
    assert!(allowed(&rl, "k", small, t0()).await);
    assert!(allowed(&rl, "k", small, t0()).await);
    assert!(!allowed(&rl, "k", small, t0()).await);
    // A bigger burst makes room for 8 more at the same instant.
    for i in 0..8 {
        assert!(allowed(&rl, "k", big, t0()).await, "big burst {i}");
    }
    assert!(!allowed(&rl, "k", big, t0()).await);
    // Back to the small limit: the 10 s of debt must be paid first.
    assert_eq!(
        check(&rl, "k", small, t0()).await,
        limited(Duration::from_secs(9))
    );
    assert!(allowed(&rl, "k", small, at(9)).await);
    // A faster rate shortens the interval: 600/min is 100 ms per request.
    let fast = RateLimit::new(600, 1);
    assert!(allowed(&rl, "f", fast, t0()).await);
    assert_eq!(
        check(&rl, "f", fast, t0()).await,
        limited(Duration::from_millis(100))
    );
    assert!(allowed(&rl, "f", fast, at_ms(100)).await);
}

/// Many distinct keys never make a decision fail, and a key not seen before
/// is always allowed.
pub async fn many_keys_never_fail(rl: Arc<dyn RateLimiter>) {
    let l = RateLimit::new(60, 1);
    for i in 0..2_000 {
        assert!(
            allowed(&rl, &format!("key-{i}"), l, t0()).await,
            "fresh key {i}"
        );
    }
    // And later, when they are all full again, they allow again.
    for i in 0..2_000 {
        assert!(allowed(&rl, &format!("key-{i}"), l, at(60)).await);
    }
}

/// Concurrent decisions for one key at one instant allow exactly `burst`.
pub async fn concurrent_checks_are_atomic(rl: Arc<dyn RateLimiter>) {
    let l = RateLimit::new(60, 10);
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let rl = rl.clone();
            tokio::spawn(async move { rl.check("hot", l, t0()).await.expect("check") })
        })
        .collect();
    let mut n_allowed = 0;
    for t in tasks {
        if t.await.expect("task").is_allowed() {
            n_allowed += 1;
        }
    }
    assert_eq!(n_allowed, 10);
    assert!(!allowed(&rl, "hot", l, t0()).await);
}

/// Instantiate the [`RateLimiter`] contract as a module `rate_limiter` of
/// `#[tokio::test]`s, given the path of an `async fn(&'static str) ->
/// Option<Arc<dyn RateLimiter>>`.
#[macro_export]
macro_rules! rate_limiter_tests {
    ($make:path) => {
        mod rate_limiter {
            #[allow(unused_imports)]
            use super::*;

            $crate::__rate_limiter_test!($make, burst_then_limited);
            $crate::__rate_limiter_test!($make, rejections_do_not_consume);
            $crate::__rate_limiter_test!($make, recovers_at_the_configured_rate);
            $crate::__rate_limiter_test!($make, keys_are_independent);
            $crate::__rate_limiter_test!($make, limit_changes_are_respected);
            $crate::__rate_limiter_test!($make, many_keys_never_fail);
            $crate::__rate_limiter_test!($make, concurrent_checks_are_atomic);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __rate_limiter_test {
    ($make:path, $test:ident) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let name = concat!(module_path!(), "::", stringify!($test));
            if let Some(rl) = $make(name).await {
                $crate::testkit::ratelimit::$test(rl).await;
            }
        }
    };
}
