//! [`LoginThrottle`] on Redis: one counter per key, `{prefix}lt:{key}`,
//! incremented with `INCR` and given an idle expiry with `PEXPIRE` in the
//! same Lua script (atomic: concurrent failures each count once).
//!
//! The in-process throttle is bounded by a key count; here memory is bounded
//! by time instead: a key with no failure for the idle expiry
//! ([`DEFAULT_THROTTLE_IDLE_EXPIRY`], 24 h, configurable) is forgotten, as
//! if its user had logged in. The expiry is Redis wall-clock time: it is
//! garbage collection, not part of any decision.

use std::time::Duration;

use async_trait::async_trait;
use authnz_api::{LoginThrottle, StoreError};
use chrono::NaiveDateTime;
use redis::Script;

use crate::backend::RedisBackend;

/// How long a key without new failures is kept by default.
pub const DEFAULT_THROTTLE_IDLE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// KEYS[1] = the counter; ARGV[1] = idle expiry in ms. Returns the count.
const RECORD_LUA: &str = r"
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
";

/// The failed-login counter on Redis. Get one from
/// [`RedisBackend::login_throttle`].
#[derive(Debug, Clone)]
pub struct RedisLoginThrottle {
    backend: RedisBackend,
    idle_expiry: Duration,
    script: Script,
}

impl RedisLoginThrottle {
    /// A throttle on `backend`'s connection and prefix, forgetting keys idle
    /// for [`DEFAULT_THROTTLE_IDLE_EXPIRY`].
    pub fn new(backend: RedisBackend) -> Self {
        Self {
            backend,
            idle_expiry: DEFAULT_THROTTLE_IDLE_EXPIRY,
            script: Script::new(RECORD_LUA),
        }
    }

    /// Forget a key once it has had no failure for `idle_expiry` (at least
    /// 1 ms).
    pub fn with_idle_expiry(mut self, idle_expiry: Duration) -> Self {
        self.idle_expiry = idle_expiry.max(Duration::from_millis(1));
        self
    }

    /// How long a key without new failures is kept.
    pub fn idle_expiry(&self) -> Duration {
        self.idle_expiry
    }
}

#[async_trait]
impl LoginThrottle for RedisLoginThrottle {
    async fn record_failure(&self, key: &str, _now: NaiveDateTime) -> Result<u32, StoreError> {
        let ms = u64::try_from(self.idle_expiry.as_millis()).unwrap_or(u64::MAX / 2);
        let mut c = self.backend.conn.clone();
        let n: i64 = self
            .backend
            .run(
                self.script
                    .key(self.backend.key("lt", key))
                    .arg(ms)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(u32::try_from(n.max(1)).unwrap_or(u32::MAX))
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.backend.conn.clone();
        let _: i64 = self
            .backend
            .run(
                redis::cmd("DEL")
                    .arg(self.backend.key("lt", key))
                    .query_async(&mut c),
            )
            .await?;
        Ok(())
    }

    async fn failures(&self, key: &str) -> Result<u32, StoreError> {
        let mut c = self.backend.conn.clone();
        let n: Option<i64> = self
            .backend
            .run(
                redis::cmd("GET")
                    .arg(self.backend.key("lt", key))
                    .query_async(&mut c),
            )
            .await?;
        Ok(n.map_or(0, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)))
    }
}
