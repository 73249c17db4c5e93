//! [`RateLimiter`] on Redis: GCRA exactly as [`authnz_api::ratelimit::gcra`],
//! one Lua script per decision.
//!
//! Key `{prefix}rl:{key}` holds the key's TAT in microseconds since the
//! epoch. The script reads it, decides and (only when allowed) writes the new
//! TAT with `PX` set to the time until that TAT, measured from the caller's
//! `now`, plus one second, so a key vanishes soon after it would be full
//! again and idle keys cost no memory. The second of grace matters because
//! the expiry runs on Redis's clock while decisions use the caller's: without
//! it a key whose TAT is a millisecond ahead could expire before a caller
//! whose clock lags (or a slow round trip) asks again, and the bucket would
//! be forgotten while still in debt. A kept TAT at or before `now` counts as
//! `now`, so the grace never changes a decision. `now` is always the caller's; Redis `TIME` is never read.
//!
//! Arithmetic: Lua numbers are doubles, exact for integers below 2^53 µs
//! (the year 2255). The script only ever adds the interval to a TAT and
//! subtracts `now`; the interval and the tolerance are computed in Rust with
//! the same saturating `i64` arithmetic as `gcra`, and the script compares
//! the debt `tat - now` with `tolerance - interval` (equivalent to
//! `tat + interval - now <= tolerance`), so the decisions and `retry_after`
//! agree with the in-process limiter to the microsecond.

use std::time::Duration;

use async_trait::async_trait;
use authnz_api::ratelimit::epoch_micros;
use authnz_api::{RateDecision, RateLimit, RateLimiter, StoreError};
use chrono::NaiveDateTime;
use redis::Script;

use crate::backend::RedisBackend;

/// KEYS[1] = the key; ARGV = now, interval, tolerance - interval (all µs).
/// Returns 0 when allowed (and stores the new TAT), else the wait in µs.
const GCRA_LUA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local slack = tonumber(ARGV[3])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  local s = tonumber(stored)
  if s and s > now then tat = s end
end
local debt = tat - now
if debt <= slack then
  local new_tat = tat + interval
  local ms = math.ceil((new_tat - now) / 1000) + 1000
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', string.format('%d', ms))
  return 0
end
return debt - slack
";

/// The request rate limiter on Redis, shared by every server process using
/// the same Redis and prefix. Get one from
/// [`RedisBackend::rate_limiter`].
#[derive(Debug, Clone)]
pub struct RedisRateLimiter {
    backend: RedisBackend,
    script: Script,
}

impl RedisRateLimiter {
    /// A limiter on `backend`'s connection and prefix.
    pub fn new(backend: RedisBackend) -> Self {
        Self {
            backend,
            script: Script::new(GCRA_LUA),
        }
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
        let interval = limit.interval_micros();
        let slack = limit.tolerance_micros().saturating_sub(interval);
        let mut c = self.backend.conn.clone();
        let wait: i64 = self
            .backend
            .run(
                self.script
                    .key(self.backend.key("rl", key))
                    .arg(epoch_micros(now))
                    .arg(interval)
                    .arg(slack)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(if wait <= 0 {
            RateDecision::Allowed
        } else {
            RateDecision::Limited {
                retry_after: Duration::from_micros(u64::try_from(wait).unwrap_or(1).max(1)),
            }
        })
    }
}
