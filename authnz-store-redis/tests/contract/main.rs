//! The contract suites of `authnz-api` on the Redis implementations, against
//! the Redis server of `AUTHNZ_TEST_REDIS_URL` (skipped loudly when unset,
//! failed when `AUTHNZ_REQUIRE_SERVICES=1`), plus Redis-specific checks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod redis_specific;

mod limiter {
    authnz_api::rate_limiter_tests!(crate::harness::rate_limiter);
}

mod throttle {
    authnz_api::login_throttle_tests!(crate::harness::login_throttle);
}

mod replay {
    authnz_api::replay_guard_tests!(crate::harness::replay_guard);
}

/// Users and roles in SQLite, sessions and session-tied keys in Redis.
mod split {
    authnz_api::contract_tests!(crate::harness::split);
}

/// The invalidation bus (pub/sub) on a private `redis-server`.
mod pubsub {
    authnz_api::bus_tests!(crate::harness::bus);
}
