//! authnz on Redis: the request rate limiter, the failed-login counter, the
//! replay guard and the session store (with the session-tied API keys),
//! shared by every server process that uses the same Redis server and key
//! prefix.
//!
//! # Use
//!
//! ```no_run
//! # async fn demo(users: std::sync::Arc<dyn authnz_api::UserStore>,
//! #     roles: std::sync::Arc<dyn authnz_api::RoleStore>,
//! #     sql_keys: std::sync::Arc<dyn authnz_api::ApiKeyStore>)
//! #     -> Result<(), authnz_api::StoreError> {
//! use authnz_store_redis::{RedisBackend, RedisOptions};
//!
//! let redis = RedisBackend::connect("redis://127.0.0.1:6379", "authnz:", RedisOptions::default()).await?;
//! let limiter = redis.rate_limiter();
//! let throttle = redis.login_throttle();
//! let replay = redis.replay_guard();
//! let sessions = redis.session_store(users.clone());
//! let apikeys = redis.session_apikeys(users, roles, sql_keys);
//! # let _ = (limiter, throttle, replay, sessions, apikeys);
//! # Ok(()) }
//! ```
//!
//! Users, roles and no-session API keys stay in SQL; the session store asks
//! the [`UserStore`](authnz_api::UserStore) for a session's user.
//!
//! `rediss://` URLs connect over TLS (rustls with ring), trusting the
//! bundled Mozilla roots and the system's, or only
//! [`RedisOptions::tls_root_pem`] when given.
//!
//! # Keys
//!
//! Every key starts with the backend's prefix `{p}`:
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `{p}rl:{key}` | string | rate limiter TAT, µs since the epoch | when the TAT has passed |
//! | `{p}lt:{key}` | string | failed-login count | idle expiry, 24 h default |
//! | `{p}rp:{id}` | string | replay guard `until`, µs | at `until` |
//! | `{p}s:{token}` | hash | a session's fields | lifetime + 60 s |
//! | `{p}u:{user_id}` | sorted set | the user's session tokens by `created` | longest of its sessions |
//! | `{p}exp` | sorted set | all session tokens by `expires` | emptied by the cleanup |
//! | `{p}k:{apikey}` | hash | a session-tied API key | with its session |
//! | `{p}sk:{token}` | set | a session's API keys | with its session |
//!
//! The [`RedisBus`] (see [`RedisBackend::invalidation_bus`]) uses the
//! pub/sub channel `{p}{name}` (the server's session cache: `{p}cache`);
//! channels hold nothing, so there is nothing to expire or clean.
//!
//! Times are stored as integer microseconds since the Unix epoch, so they
//! round-trip exactly. Redis TTLs are garbage collection only: every
//! decision (rate, replay, session and key validity) compares with the
//! `now` the caller passes from its clock, never with Redis `TIME`, and
//! every TTL is computed from the caller's times (e.g. `tat - now`), so
//! injected clocks work. Lua does its arithmetic in doubles: exact for
//! times below 2^53 µs (the year 2255).
//!
//! The session scripts build key names from the prefix, so they assume one
//! Redis server (or a prefix holding a hash tag, e.g. `{authnz}:`, so that
//! every key lands in one cluster slot).
//!
//! # Atomicity
//!
//! Each decision or write is one Lua script run with `EVALSHA` (loaded on
//! first use): a rate decision, a failure count, a first use, creating or
//! deleting a session with its index entries and API keys. Concurrent calls
//! for one key therefore behave as the contract suites of `authnz-api`
//! require (e.g. exactly `burst` of `n` concurrent requests are allowed).
//! References to users and roles, which live elsewhere, are checked just
//! before the write; a session or key whose user has gone meanwhile counts
//! as absent when next met and is deleted then.
//!
//! # Failures
//!
//! All implementations share one [`redis::aio::ConnectionManager`]: one
//! multiplexed connection that reconnects by itself when the server comes
//! back. Every call is bounded: connection attempts and answers time out
//! after [`RedisOptions::timeout`] (1 s by default), a lost connection is
//! retried [`RedisOptions::reconnect_retries`] times, and the whole call
//! fails after [`RedisOptions::deadline`] at most. Connection, I/O and
//! timeout errors become [`StoreError::Unavailable`](authnz_api::StoreError)
//! (the server decides whether to fail open or closed); anything else
//! becomes `StoreError::Backend`. The driver error is kept as the source.
//! Nothing here logs tokens, keys or e-mail addresses.

mod apikeys;
mod backend;
mod bus;
mod error;
pub mod lease;
mod ratelimit;
mod replay;
mod sessions;
mod throttle;

pub use apikeys::RedisSessionApiKeys;
pub use backend::{RedisBackend, RedisOptions};
pub use bus::RedisBus;
pub use error::RedisStoreError;
pub use ratelimit::{MAX_LEASED_KEYS, RedisRateLimiter};
pub use redis;
pub use replay::RedisReplayGuard;
pub use sessions::{RedisSessionStore, SESSION_GRACE};
pub use throttle::{DEFAULT_THROTTLE_IDLE_EXPIRY, RedisLoginThrottle};

#[cfg(feature = "testing")]
pub mod testing;
