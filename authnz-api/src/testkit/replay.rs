//! The [`ReplayGuard`] contract, for every backend of
//! the replay guard (in-process and Redis).
//!
//! A backend provides `async fn(&'static str) -> Option<Arc<dyn
//! ReplayGuard>>` returning a fresh, empty guard (or `None` to skip; a
//! shared backend uses the test name as its key prefix) and instantiates
//! [`replay_guard_tests!`](crate::replay_guard_tests). Every test passes
//! explicit timestamps, far from the wall clock; none sleeps.

use std::sync::Arc;

use chrono::NaiveDateTime;

use super::fixtures::{at, plus_micros, t0};
use crate::replay::ReplayGuard;

async fn first(
    g: &Arc<dyn ReplayGuard>,
    id: &str,
    until: NaiveDateTime,
    now: NaiveDateTime,
) -> bool {
    g.first_use(id, until, now).await.expect("first_use")
}

/// The first use is `true`, every later one (before `until`) `false`; ids are
/// independent and exact.
pub async fn first_use_then_replay(g: Arc<dyn ReplayGuard>) {
    assert!(first(&g, "id-1", at(60), t0()).await);
    assert!(!first(&g, "id-1", at(60), t0()).await);
    assert!(!first(&g, "id-1", at(60), at(30)).await);
    // A replay with a later `until` is still a replay.
    assert!(!first(&g, "id-1", at(600), at(31)).await);
    assert!(first(&g, "id-2", at(60), t0()).await);
    assert!(first(&g, "ID-1", at(60), t0()).await);
    assert!(first(&g, "id-1x", at(60), t0()).await);
    assert!(!first(&g, "id-2", at(60), at(1)).await);
}

/// An entry counts until `until`, exclusive, to the microsecond; after that
/// the id is unseen and may be recorded again.
pub async fn entry_expires_at_until(g: Arc<dyn ReplayGuard>) {
    let until = plus_micros(at(60), 7);
    assert!(first(&g, "edge", until, t0()).await);
    assert!(!first(&g, "edge", until, plus_micros(until, -1)).await);
    assert!(
        first(&g, "edge", at(120), until).await,
        "until == now counts as unseen"
    );
    assert!(!first(&g, "edge", at(120), at(119)).await, "recorded again");
    assert!(first(&g, "edge", at(200), at(120)).await);
}

/// A call whose `until` is not after `now` returns `true` and records
/// nothing that a later call would see.
pub async fn already_expired_records_nothing(g: Arc<dyn ReplayGuard>) {
    assert!(first(&g, "late", t0(), t0()).await);
    assert!(first(&g, "late", t0(), t0()).await);
    assert!(first(&g, "late", at(-1), t0()).await);
    assert!(first(&g, "late", at(10), t0()).await);
    assert!(!first(&g, "late", at(10), at(5)).await);
}

/// Concurrent first uses of one id at one instant: exactly one wins.
pub async fn concurrent_first_use_is_atomic(g: Arc<dyn ReplayGuard>) {
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.first_use("hot", at(60), t0()).await.expect("first_use") })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("task") {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert!(!first(&g, "hot", at(60), at(1)).await);
}

/// Many distinct ids never make a call fail, and a fresh id is always a
/// first use; the newest ids are remembered.
pub async fn many_ids_never_fail(g: Arc<dyn ReplayGuard>) {
    for i in 0..2_000 {
        assert!(
            first(&g, &format!("id-{i}"), at(3600), t0()).await,
            "fresh id {i}"
        );
    }
    for i in 1_990..2_000 {
        assert!(
            !first(&g, &format!("id-{i}"), at(3600), at(1)).await,
            "recent id {i}"
        );
    }
    // Once expired, all are unseen again.
    for i in 0..50 {
        assert!(first(&g, &format!("id-{i}"), at(7200), at(3600)).await);
    }
}

/// Instantiate the [`ReplayGuard`] contract as a module `replay_guard` of
/// `#[tokio::test]`s, given the path of an `async fn(&'static str) ->
/// Option<Arc<dyn ReplayGuard>>`.
#[macro_export]
macro_rules! replay_guard_tests {
    ($make:path) => {
        mod replay_guard {
            #[allow(unused_imports)]
            use super::*;

            $crate::__replay_guard_test!($make, first_use_then_replay);
            $crate::__replay_guard_test!($make, entry_expires_at_until);
            $crate::__replay_guard_test!($make, already_expired_records_nothing);
            $crate::__replay_guard_test!($make, concurrent_first_use_is_atomic);
            $crate::__replay_guard_test!($make, many_ids_never_fail);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __replay_guard_test {
    ($make:path, $test:ident) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let name = concat!(module_path!(), "::", stringify!($test));
            if let Some(g) = $make(name).await {
                $crate::testkit::replay::$test(g).await;
            }
        }
    };
}
