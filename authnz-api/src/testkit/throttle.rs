//! The [`LoginThrottle`](crate::LoginThrottle) contract, for every backend
//! of the failed-login counter (in-process and Redis).
//!
//! A backend provides `async fn(&'static str) -> Option<Arc<dyn
//! LoginThrottle>>` returning a fresh, empty throttle (or `None` to skip) and
//! instantiates [`login_throttle_tests!`](crate::login_throttle_tests).

use std::sync::Arc;

use super::fixtures::t0;
use crate::throttle::LoginThrottle;

/// Failures count up from 1 per key; keys are independent.
pub async fn counts_per_key(th: Arc<dyn LoginThrottle>) {
    assert_eq!(th.failures("k1").await.expect("failures"), 0);
    for n in 1..=5 {
        assert_eq!(th.record_failure("k1", t0()).await.expect("record"), n);
    }
    assert_eq!(th.record_failure("k2", t0()).await.expect("record"), 1);
    assert_eq!(th.failures("k1").await.expect("failures"), 5);
    assert_eq!(th.failures("k2").await.expect("failures"), 1);
    // Keys are opaque and exact.
    assert_eq!(th.failures("K1").await.expect("failures"), 0);
}

/// `clear` forgets one key only; clearing an unknown key is fine.
pub async fn clear_resets_one_key(th: Arc<dyn LoginThrottle>) {
    th.record_failure("a", t0()).await.expect("record");
    th.record_failure("a", t0()).await.expect("record");
    th.record_failure("b", t0()).await.expect("record");
    th.clear("a").await.expect("clear");
    th.clear("never-seen").await.expect("clear unknown");
    assert_eq!(th.failures("a").await.expect("failures"), 0);
    assert_eq!(th.failures("b").await.expect("failures"), 1);
    assert_eq!(th.record_failure("a", t0()).await.expect("record"), 1);
}

/// Concurrent failures for one key are each counted once.
pub async fn concurrent_records_are_atomic(th: Arc<dyn LoginThrottle>) {
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let th = th.clone();
            tokio::spawn(async move { th.record_failure("hot", t0()).await.expect("record") })
        })
        .collect();
    let mut counts = Vec::new();
    for t in tasks {
        counts.push(t.await.expect("task"));
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=32).collect::<Vec<u32>>());
    assert_eq!(th.failures("hot").await.expect("failures"), 32);
}

/// Keys reported as belonging to no account count the same way, and a key
/// counted for an account keeps counting when reported as unknown.
pub async fn unknown_keys_count_too(th: Arc<dyn LoginThrottle>) {
    for n in 1..=3 {
        assert_eq!(
            th.record_unknown_failure("nobody", t0())
                .await
                .expect("record"),
            n
        );
    }
    assert_eq!(th.failures("nobody").await.expect("failures"), 3);
    th.clear("nobody").await.expect("clear");
    assert_eq!(th.failures("nobody").await.expect("failures"), 0);
    assert_eq!(th.record_failure("acct", t0()).await.expect("record"), 1);
    assert_eq!(
        th.record_unknown_failure("acct", t0())
            .await
            .expect("record"),
        2
    );
    assert_eq!(th.record_failure("acct", t0()).await.expect("record"), 3);
}

/// Issue 11: a flood of failures for other keys (unknown ones and other
/// accounts, more than upstream's 1,000-entry table) never resets a
/// counted key: its next failure is the next number.
pub async fn flood_cannot_reset_a_counted_key(th: Arc<dyn LoginThrottle>) {
    for n in 1..=3 {
        assert_eq!(th.record_failure("victim", t0()).await.expect("record"), n);
    }
    for i in 0..1_500 {
        let n = th
            .record_unknown_failure(&format!("junk{i}"), t0())
            .await
            .expect("record unknown");
        assert_eq!(n, 1, "junk{i}");
    }
    for i in 0..1_500 {
        let n = th
            .record_failure(&format!("other{i}"), t0())
            .await
            .expect("record");
        assert_eq!(n, 1, "other{i}: room for it");
    }
    assert_eq!(th.failures("victim").await.expect("failures"), 3);
    assert_eq!(th.record_failure("victim", t0()).await.expect("record"), 4);
}

/// Instantiate the [`LoginThrottle`] contract as a module `login_throttle` of
/// `#[tokio::test]`s, given the path of an `async fn(&'static str) ->
/// Option<Arc<dyn LoginThrottle>>`.
#[macro_export]
macro_rules! login_throttle_tests {
    ($make:path) => {
        mod login_throttle {
            #[allow(unused_imports)]
            use super::*;

            $crate::__throttle_test!($make, counts_per_key);
            $crate::__throttle_test!($make, clear_resets_one_key);
            $crate::__throttle_test!($make, concurrent_records_are_atomic);
            $crate::__throttle_test!($make, unknown_keys_count_too);
            $crate::__throttle_test!($make, flood_cannot_reset_a_counted_key);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __throttle_test {
    ($make:path, $test:ident) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let name = concat!(module_path!(), "::", stringify!($test));
            if let Some(th) = $make(name).await {
                $crate::testkit::throttle::$test(th).await;
            }
        }
    };
}
