//! [`ReplayGuard`] on Redis: key `{prefix}rp:{id}` holds the `until` of a
//! seen id (µs since the epoch), with `PX` set to `until - now` from the
//! caller's `now`, so Redis forgets it once it has expired.
//!
//! A plain `SET NX PX` would let Redis's wall clock decide when an entry
//! stops counting; the contract says the caller's `now` decides (so
//! injected clocks work), so one Lua script reads the stored `until`,
//! compares it with `now` and writes only on a first use: atomic, one round
//! trip.

use async_trait::async_trait;
use authnz_api::ratelimit::epoch_micros;
use authnz_api::{ReplayGuard, StoreError};
use chrono::NaiveDateTime;
use redis::Script;

use crate::backend::RedisBackend;

/// KEYS[1] = the entry; ARGV = until, now (µs). Returns 1 for a first use,
/// 0 for a replay.
const FIRST_USE_LUA: &str = r"
local untl = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local stored = redis.call('GET', KEYS[1])
if stored and tonumber(stored) > now then return 0 end
if untl <= now then
  if stored then redis.call('DEL', KEYS[1]) end
  return 1
end
local ms = math.ceil((untl - now) / 1000)
if ms < 1 then ms = 1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', string.format('%d', ms))
return 1
";

/// The replay guard on Redis, shared by every server process using the same
/// Redis and prefix. Get one from [`RedisBackend::replay_guard`].
#[derive(Debug, Clone)]
pub struct RedisReplayGuard {
    backend: RedisBackend,
    script: Script,
}

impl RedisReplayGuard {
    /// A guard on `backend`'s connection and prefix.
    pub fn new(backend: RedisBackend) -> Self {
        Self {
            backend,
            script: Script::new(FIRST_USE_LUA),
        }
    }
}

#[async_trait]
impl ReplayGuard for RedisReplayGuard {
    async fn first_use(
        &self,
        token_id: &str,
        until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = self.backend.conn.clone();
        let first: i64 = self
            .backend
            .run(
                self.script
                    .key(self.backend.key("rp", token_id))
                    .arg(epoch_micros(until))
                    .arg(epoch_micros(now))
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(first == 1)
    }
}
