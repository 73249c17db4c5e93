//! [`RateLimiter`] on Redis: GCRA exactly as [`authnz_api::ratelimit::gcra`],
//! decided by one Lua script, with leases in front of it so that a busy key
//! is mostly decided in the process (see [`crate::lease`]).
//!
//! Key `{prefix}rl:{key}` holds the key's TAT in microseconds since the
//! epoch. The script reads it, grants as many requests as the caller asks
//! for and the bucket has room for (one, for a key that is not leased: then
//! it is exactly one GCRA decision) and writes the new TAT with `PX` set to
//! the time until that TAT, measured from the caller's `now`, plus one
//! second, so a key vanishes soon after it would be full again and idle
//! keys cost no memory. The second of grace matters because the expiry runs
//! on Redis's clock while decisions use the caller's: without it a key whose
//! TAT is a millisecond ahead could expire before a caller whose clock lags
//! (or a slow round trip) asks again, and the bucket would be forgotten
//! while still in debt. A kept TAT at or before `now` counts as `now`, so the
//! grace never changes a decision. `now` is always the caller's; Redis
//! `TIME` is never read.
//!
//! Arithmetic: Lua numbers are doubles, exact for integers below 2^53 µs
//! (the year 2255). The script only adds multiples of the interval to a TAT
//! and subtracts `now`; the interval and the tolerance are computed in Rust
//! with the same saturating `i64` arithmetic as `gcra`, and the room left is
//! `floor((tolerance - (tat - now)) / interval)` (at least one request fits
//! exactly when `tat + interval - now <= tolerance`), so the decisions and
//! `retry_after` agree with the in-process limiter to the microsecond.
//!
//! Failures: a failed script call is returned as the error (the server fails
//! open). Requests of the same key that waited for that call fail with it
//! rather than each waiting out a deadline of its own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::ratelimit::epoch_micros;
use authnz_api::{RateDecision, RateLimit, RateLimiter, StoreError};
use chrono::NaiveDateTime;
use redis::Script;

use crate::backend::RedisBackend;
use crate::lease::{Grant, HOT_WINDOW_MICROS, KeyLease, Local, Refill, max_lease};

/// Most keys whose lease one limiter keeps (see [`crate::lease`]); a new
/// key beyond that is decided in Redis, one request at a time.
pub const MAX_LEASED_KEYS: usize = 10_000;

/// KEYS[1] = the key; ARGV = now, interval, tolerance (all µs), how many
/// requests the caller wants, the end of the stretch it holds (-1: none)
/// and where that stretch's unused tail starts.
///
/// Returns `{count, start}` when `count >= 1` requests fit from `start` on
/// (the TAT is stored `count` intervals later), else `{0, wait}`. With
/// `want = 1` and no stretch this is exactly one GCRA decision. The
/// arithmetic is [`crate::lease`]'s `model_script`.
const LEASE_LUA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tolerance = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local expected = tonumber(ARGV[5])
local tail = tonumber(ARGV[6])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local s = tonumber(stored)
  if s then
    if s == expected then
      if tail > now then tat = tail end
    elseif s > now then
      tat = s
    end
  end
end
local room = math.floor((tolerance - (tat - now)) / interval)
if room < 1 then
  return {0, tat + interval - now - tolerance}
end
local n = want
if n > room then n = room end
if n > 1 and n > math.floor(room / 2) then
  n = math.max(1, math.floor(room / 2))
end
local new_tat = tat + n * interval
local ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ms))
return {n, tat}
";

/// The request rate limiter on Redis, shared by every server process using
/// the same Redis and prefix. Get one from [`RedisBackend::rate_limiter`].
///
/// Each value (and its clones) is one *instance*: it keeps the leases of
/// [`crate::lease`] for up to [`MAX_LEASED_KEYS`] keys, so busy keys are
/// mostly decided without a round trip. Two values made by two calls of
/// [`RedisBackend::rate_limiter`] behave as two server processes.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    backend: RedisBackend,
    script: Script,
    leases: Arc<LeaseTable>,
}

/// One key's lease and the lock that makes its refills one at a time.
#[derive(Debug, Default)]
struct Entry {
    state: Mutex<KeyLease>,
    refill: tokio::sync::Mutex<()>,
}

impl Entry {
    fn state(&self) -> MutexGuard<'_, KeyLease> {
        // The state is a few integers updated without awaiting; a panic
        // while it is held cannot leave it worse than a stale lease.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The leases of one instance, at most `capacity` keys.
#[derive(Debug)]
struct LeaseTable {
    capacity: usize,
    map: Mutex<HashMap<String, Arc<Entry>>>,
    /// When idle leases were last swept out (µs, the callers' clock).
    last_sweep: AtomicI64,
}

impl LeaseTable {
    fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            map: Mutex::new(HashMap::new()),
            last_sweep: AtomicI64::new(i64::MIN),
        }
    }

    /// The entry of `key`, made if there is room; `None` when the table is
    /// full of leases that are still in use.
    fn entry(&self, key: &str, now: i64) -> Option<Arc<Entry>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(key) {
            return Some(e.clone());
        }
        if map.len() >= self.capacity {
            // Sweep at most once per hot window: a full table of live
            // leases must not cost a scan per request.
            let last = self.last_sweep.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= HOT_WINDOW_MICROS {
                self.last_sweep.store(now, Ordering::Relaxed);
                // Forgetting an idle lease changes no decision.
                map.retain(|_, e| Arc::strong_count(e) > 1 || !e.state().idle(now));
            }
            if map.len() >= self.capacity {
                return None;
            }
        }
        let e = Arc::new(Entry::default());
        map.insert(key.to_owned(), e.clone());
        Some(e)
    }

    /// The entry of `key`, if it has one.
    fn existing(&self, key: &str) -> Option<Arc<Entry>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).cloned()
    }

    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl RedisRateLimiter {
    /// A limiter on `backend`'s connection and prefix.
    pub fn new(backend: RedisBackend) -> Self {
        Self::with_capacity(backend, MAX_LEASED_KEYS)
    }

    /// A limiter keeping leases for at most `capacity` keys.
    pub fn with_capacity(backend: RedisBackend, capacity: usize) -> Self {
        Self {
            backend,
            script: Script::new(LEASE_LUA),
            leases: Arc::new(LeaseTable::new(capacity)),
        }
    }

    /// How many keys hold a lease entry now.
    pub fn leased_keys(&self) -> usize {
        self.leases.len()
    }

    /// One script call.
    async fn ask(
        &self,
        key: &str,
        limit: RateLimit,
        now: i64,
        refill: Refill,
    ) -> Result<Grant, StoreError> {
        let mut c = self.backend.conn.clone();
        let (count, value): (i64, i64) = self
            .backend
            .run(
                self.script
                    .key(self.backend.key("rl", key))
                    .arg(now)
                    .arg(limit.interval_micros())
                    .arg(limit.tolerance_micros())
                    .arg(refill.want)
                    .arg(refill.expected_end)
                    .arg(refill.tail)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(Grant::from_reply(count, value))
    }

    /// One request decided in Redis, as without leases.
    async fn ask_one(
        &self,
        key: &str,
        limit: RateLimit,
        now: i64,
    ) -> Result<RateDecision, StoreError> {
        let one = Refill {
            want: 1,
            expected_end: -1,
            tail: now,
        };
        Ok(match self.ask(key, limit, now, one).await? {
            Grant::Slots { .. } => RateDecision::Allowed,
            Grant::Wait(w) => RateDecision::Limited {
                retry_after: Duration::from_micros(u64::try_from(w).unwrap_or(1).max(1)),
            },
        })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(
        &self,
        key: &str,
        limit: RateLimit,
        now: NaiveDateTime,
    ) -> Result<RateDecision, StoreError> {
        let now = epoch_micros(now);
        // A limit too small to lease still goes through a lease the key
        // holds (under another limit), so that its stretch is used.
        let entry = if max_lease(limit) > 1 {
            self.leases.entry(key, now)
        } else {
            self.leases.existing(key)
        };
        let Some(entry) = entry else {
            return self.ask_one(key, limit, now).await;
        };
        let seen = {
            let mut s = entry.state();
            match s.spend(limit, now) {
                Local::Decided(d) => return Ok(d),
                Local::AskRedis => s.generation,
            }
        };
        // One refill per key at a time; the others wait for it and spend
        // from what it brought.
        let _refilling = entry.refill.lock().await;
        let refill = {
            let mut s = entry.state();
            if s.generation != seen && s.last_failed {
                // The call this request waited for failed: fail like it,
                // rather than queueing one more deadline behind it.
                return Err(StoreError::Unavailable {
                    source: "the rate limiter's Redis call failed".into(),
                });
            }
            match s.spend(limit, now) {
                Local::Decided(d) => return Ok(d),
                Local::AskRedis => s.refill(limit, now),
            }
        };
        let answer = self.ask(key, limit, now, refill).await;
        let mut s = entry.state();
        match answer {
            Ok(grant) => Ok(s.granted(limit, now, grant)),
            Err(e) => {
                s.failed();
                Err(e)
            }
        }
    }
}
