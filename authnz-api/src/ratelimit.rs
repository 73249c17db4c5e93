//! The request rate limiter of PROTOCOL.md 4.1, as a trait so the state can live in
//! the process ([`MemoryRateLimiter`]) or in a shared store such as Redis
//! (`authnz-store-redis`), and one in-process implementation.
//!
//! Unlike upstream's lifetime average (PROTOCOL.md 4.1, issue 5), every backend
//! implements GCRA, the generic cell rate algorithm: equivalently a token
//! bucket per key holding at most `burst` requests and refilled at
//! `per_minute / 60` requests per second. A key's whole state is one
//! timestamp, its *theoretical arrival time* (TAT): the moment the bucket
//! would be full again. For a limit with emission interval
//! `T = 60 s / per_minute` and a request at `now`:
//!
//! ```text
//! tat     = max(stored TAT (or now if none), now)
//! new_tat = tat + T
//! allowed iff new_tat - now <= burst * T      (then store new_tat)
//! else limited, retry after (new_tat - now) - burst * T
//! ```
//!
//! Rejected requests change nothing, so a client that stops hammering
//! recovers at the configured rate, and a key whose TAT has passed is
//! indistinguishable from an unknown one and may be forgotten.
//!
//! The trait only decides; which key and which limit apply to a request is
//! the server's business (request type + address, request type + e-mail).

use crate::expiring::ExpiringKeys;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;

/// Microseconds in a minute.
const MICROS_PER_MINUTE: i64 = 60_000_000;

/// A rate limit: `per_minute` requests per minute sustained, up to `burst`
/// at once from a key that has been quiet.
///
/// Both are clamped to at least 1 when applied: a limit of 0 per minute
/// would never refill, a burst of 0 would refuse everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// Sustained rate, requests per minute.
    pub per_minute: u32,
    /// Capacity of the bucket: requests allowed back to back.
    pub burst: u32,
}

impl RateLimit {
    /// A limit of `per_minute` requests per minute with bucket size `burst`.
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }

    /// The emission interval `T = 60 s / per_minute`, in whole microseconds
    /// (rounded down, at least 1).
    pub fn interval_micros(&self) -> i64 {
        (MICROS_PER_MINUTE / i64::from(self.per_minute.max(1))).max(1)
    }

    /// The tolerance `burst * T`, in microseconds: how far ahead of `now` a
    /// key's TAT may run after an allowed request.
    pub fn tolerance_micros(&self) -> i64 {
        self.interval_micros()
            .saturating_mul(i64::from(self.burst.max(1)))
    }
}

/// The outcome of one [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// The request may proceed; it has been counted.
    Allowed,
    /// The request is refused and was not counted.
    Limited {
        /// How long until the next request for this key (under the same
        /// limit) would be allowed. Never zero.
        retry_after: Duration,
    },
}

impl RateDecision {
    /// True for [`RateDecision::Allowed`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, RateDecision::Allowed)
    }

    /// For a `Retry-After` header: whole seconds until the next request
    /// would be allowed, rounded up (at least 1); `None` when allowed.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            RateDecision::Allowed => None,
            RateDecision::Limited { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Some(secs.max(1))
            }
        }
    }
}

/// The pure GCRA step shared by implementations: given the stored TAT of a
/// key (`None` if unknown, in microseconds since the epoch), the limit and
/// `now_micros`, the decision and the TAT to store when allowed.
pub fn gcra(stored_tat: Option<i64>, limit: RateLimit, now_micros: i64) -> (RateDecision, i64) {
    let tat = stored_tat.map_or(now_micros, |t| t.max(now_micros));
    let new_tat = tat.saturating_add(limit.interval_micros());
    let ahead = new_tat.saturating_sub(now_micros);
    let tolerance = limit.tolerance_micros();
    if ahead <= tolerance {
        (RateDecision::Allowed, new_tat)
    } else {
        let wait = u64::try_from(ahead - tolerance).unwrap_or(1).max(1);
        (
            RateDecision::Limited {
                retry_after: Duration::from_micros(wait),
            },
            tat,
        )
    }
}

/// `t` as microseconds since the Unix epoch (naive UTC).
pub fn epoch_micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// Decides, per key, whether one more request fits under a [`RateLimit`].
#[async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug + 'static {
    /// Decide one request for `key` under `limit` at `now` (from the
    /// caller's [`Clock`](crate::Clock); implementations never read the wall
    /// clock), with GCRA as described in the [module docs](self):
    ///
    /// - a key never seen (or idle long enough to be full again) allows
    ///   `limit.burst` requests at the same instant, then is
    ///   [`RateDecision::Limited`];
    /// - one more request fits every `60 / per_minute` seconds after that;
    /// - a limited request is not counted: it changes no state;
    /// - the state is one TAT per key, independent of the limit, so the
    ///   limit of a key may change between calls and is applied as given;
    /// - `retry_after` is exactly the time until a request under the same
    ///   limit would be allowed (at least 1 µs).
    ///
    /// Must be atomic per decision: `n` concurrent calls for a fresh key
    /// at one instant allow exactly `min(n, burst)` of them.
    ///
    /// A bounded implementation may forget keys to make room, preferring keys
    /// that are full again, but must never fail or refuse because it is
    /// full. Errors only when the backing service is unavailable
    /// ([`StoreError::Unavailable`]); the server decides whether to fail open.
    async fn check(
        &self,
        key: &str,
        limit: RateLimit,
        now: NaiveDateTime,
    ) -> Result<RateDecision, StoreError>;
}

/// Default most keys [`MemoryRateLimiter`] holds (upstream's limit, PROTOCOL.md
/// 4.1).
pub const DEFAULT_RATE_LIMITER_CAPACITY: usize = 20_000;

/// How many expired keys a decision drops on the way, so memory shrinks
/// when traffic stops without a sweeper task.
const EXPIRE_PER_CHECK: usize = 2;

/// The in-process [`RateLimiter`]: a map from key to TAT, lost on restart.
///
/// Holds at most `capacity` keys. A decision first drops up to two keys that
/// are full again (TAT in the past: forgetting them changes no decision);
/// when a new key arrives and the map is still full, the key with the
/// earliest TAT (the one closest to full, so forgetting it grants the least)
/// is dropped. Every decision is O(log n) under a short, never-awaited lock.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    capacity: usize,
    inner: Mutex<ExpiringKeys>,
}

impl MemoryRateLimiter {
    /// A limiter holding at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(ExpiringKeys::default()),
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drop every key that is full again at `now`. Decisions already do this
    /// a little at a time; for a periodic sweep or tests.
    pub fn expire(&self, now: NaiveDateTime) {
        self.lock().expire(epoch_micros(now), usize::MAX);
    }

    /// Decide synchronously (the trait method only wraps this).
    pub fn decide(&self, key: &str, limit: RateLimit, now: NaiveDateTime) -> RateDecision {
        let now = epoch_micros(now);
        let mut b = self.lock();
        b.expire(now, EXPIRE_PER_CHECK);
        let (decision, new_tat) = gcra(b.get(key), limit, now);
        if decision.is_allowed() {
            b.set(key, new_tat, self.capacity);
        }
        decision
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ExpiringKeys> {
        // The maps are updated together after the arithmetic; a panic in
        // between cannot happen short of allocation failure. Keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_RATE_LIMITER_CAPACITY)
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(
        &self,
        key: &str,
        limit: RateLimit,
        now: NaiveDateTime,
    ) -> Result<RateDecision, StoreError> {
        Ok(self.decide(key, limit, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_900_000_000 + secs, 0)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    }

    const L: RateLimit = RateLimit::new(60, 3);

    #[test]
    fn gcra_burst_then_interval() {
        let rl = MemoryRateLimiter::new(10);
        for _ in 0..3 {
            assert!(rl.decide("k", L, t(0)).is_allowed());
        }
        let d = rl.decide("k", L, t(0));
        assert_eq!(
            d,
            RateDecision::Limited {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(d.retry_after_secs(), Some(1));
        assert!(rl.decide("k", L, t(1)).is_allowed());
        assert!(!rl.decide("k", L, t(1)).is_allowed());
    }

    #[test]
    fn retry_after_rounds_up() {
        let d = RateDecision::Limited {
            retry_after: Duration::from_micros(1),
        };
        assert_eq!(d.retry_after_secs(), Some(1));
        let d = RateDecision::Limited {
            retry_after: Duration::from_millis(2_001),
        };
        assert_eq!(d.retry_after_secs(), Some(3));
        assert_eq!(RateDecision::Allowed.retry_after_secs(), None);
    }

    #[test]
    fn zero_limits_are_clamped() {
        let z = RateLimit::new(0, 0);
        assert_eq!(z.interval_micros(), 60_000_000);
        assert_eq!(z.tolerance_micros(), 60_000_000);
        let rl = MemoryRateLimiter::new(10);
        assert!(rl.decide("k", z, t(0)).is_allowed());
        assert!(!rl.decide("k", z, t(30)).is_allowed());
        assert!(rl.decide("k", z, t(60)).is_allowed());
    }

    #[test]
    fn full_keys_expire_on_the_way() {
        let rl = MemoryRateLimiter::new(100);
        rl.decide("a", L, t(0));
        rl.decide("b", L, t(0));
        assert_eq!(rl.len(), 2);
        // Both are full again after 1 s; the next decision drops them.
        rl.decide("c", L, t(2));
        assert_eq!(rl.len(), 1);
        rl.expire(t(10));
        assert!(rl.is_empty());
    }

    #[test]
    fn when_full_drops_the_key_closest_to_full() {
        let rl = MemoryRateLimiter::new(2);
        // "hot" is deep in debt, "cold" used one token.
        for _ in 0..3 {
            rl.decide("hot", L, t(0));
        }
        rl.decide("cold", L, t(0));
        assert!(rl.decide("new", L, t(0)).is_allowed());
        assert_eq!(rl.len(), 2);
        // "hot" was kept and is still limited.
        assert!(!rl.decide("hot", L, t(0)).is_allowed());
    }

    #[test]
    fn default_capacity_never_fails() {
        let rl = MemoryRateLimiter::default();
        assert_eq!(rl.capacity(), DEFAULT_RATE_LIMITER_CAPACITY);
        let now = t(0);
        for i in 0..(DEFAULT_RATE_LIMITER_CAPACITY + 500) {
            assert!(rl.decide(&format!("k{i}"), L, now).is_allowed());
        }
        assert_eq!(rl.len(), DEFAULT_RATE_LIMITER_CAPACITY);
    }

    #[test]
    fn sub_second_interval() {
        // 600/min: one request every 100 ms.
        let l = RateLimit::new(600, 1);
        let rl = MemoryRateLimiter::new(10);
        assert!(rl.decide("k", l, t(0)).is_allowed());
        let d = rl.decide("k", l, t(0) + TimeDelta::milliseconds(40));
        assert_eq!(
            d,
            RateDecision::Limited {
                retry_after: Duration::from_millis(60)
            }
        );
        assert!(
            rl.decide("k", l, t(0) + TimeDelta::milliseconds(100))
                .is_allowed()
        );
    }
}

/// The contract suite on the in-process limiter: with the default capacity,
/// and with a tiny one so eviction happens during the suite.
#[cfg(all(test, feature = "testkit"))]
mod contract {
    use std::sync::Arc;

    use super::{MemoryRateLimiter, RateLimiter};

    async fn memory(_test: &'static str) -> Option<Arc<dyn RateLimiter>> {
        Some(Arc::new(MemoryRateLimiter::default()))
    }

    crate::rate_limiter_tests!(memory);

    mod tiny {
        use super::*;

        async fn memory_tiny(_test: &'static str) -> Option<Arc<dyn RateLimiter>> {
            Some(Arc::new(MemoryRateLimiter::new(4)))
        }

        crate::rate_limiter_tests!(memory_tiny);
    }
}
