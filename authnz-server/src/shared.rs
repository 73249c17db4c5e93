//! The state several instances may share (PROTOCOL.md 4.1 rate limits, 4.2 login
//! back-off, the replay guard, and optionally sessions): in the process, or
//! in Redis. One place decides which implementation backs which part, used
//! by the binary and by the tests alike.

use std::sync::Arc;

use authnz_api::{
    InvalidationBus, LoginThrottle, MemoryLoginThrottle, MemoryRateLimiter, MemoryReplayGuard,
    RateLimiter, ReplayGuard,
};

use crate::app::{ServerOptions, SessionPlacement};

/// The name (after the Redis key prefix) of the session cache's
/// invalidation channel.
pub const CACHE_CHANNEL: &str = "cache";

/// The PostgreSQL notification channel of the session cache, when the
/// caches are kept coherent over the auth database (no Redis). Channels
/// are per database, so instances on different databases never mix.
pub const PG_CACHE_CHANNEL: &str = "authnz_cache";

/// Where the shareable state lives.
#[derive(Debug, Clone)]
pub struct SharedState {
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub throttle: Arc<dyn LoginThrottle>,
    pub replay_guard: Arc<dyn ReplayGuard>,
    pub sessions: SessionPlacement,
    /// The bus that keeps the instances' session caches coherent (see
    /// [`crate::cache_bus`]); `None` in the process.
    pub cache_bus: Option<Arc<dyn InvalidationBus>>,
}

impl SharedState {
    /// Everything in the process (no `redis_url`): bounded in-memory maps,
    /// sessions in the auth database.
    pub fn in_process() -> Self {
        Self {
            rate_limiter: Arc::new(MemoryRateLimiter::default()),
            throttle: Arc::new(MemoryLoginThrottle::default()),
            replay_guard: Arc::new(MemoryReplayGuard::default()),
            sessions: SessionPlacement::Sql,
            cache_bus: None,
        }
    }

    /// Rate limiter, login throttle and replay guard on `redis`; sessions
    /// too when `sessions_in_redis` (`sessionstore = redis`). No cache bus:
    /// add one with [`SharedState::with_cache_bus`].
    #[cfg(feature = "redis")]
    pub fn on_redis(redis: &authnz_store_redis::RedisBackend, sessions_in_redis: bool) -> Self {
        Self {
            rate_limiter: Arc::new(redis.rate_limiter()),
            throttle: Arc::new(redis.login_throttle()),
            replay_guard: Arc::new(redis.replay_guard()),
            sessions: if sessions_in_redis {
                SessionPlacement::Redis(redis.clone())
            } else {
                SessionPlacement::Sql
            },
            cache_bus: None,
        }
    }

    /// The session caches of the instances kept coherent over the pub/sub
    /// channel `{prefix}cache` of `redis`.
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn with_cache_bus(mut self, redis: &authnz_store_redis::RedisBackend) -> Self {
        self.cache_bus = Some(Arc::new(redis.invalidation_bus(CACHE_CHANNEL)));
        self
    }

    /// Put this state into the server options.
    pub fn apply(self, opts: &mut ServerOptions) {
        opts.rate_limiter = self.rate_limiter;
        opts.throttle = self.throttle;
        opts.replay_guard = self.replay_guard;
        opts.sessions = self.sessions;
        opts.cache_bus = self.cache_bus;
    }
}
