//! The connection shared by every Redis-backed implementation: one
//! [`ConnectionManager`] (a multiplexed connection that reconnects by
//! itself), the key prefix, and the deadline every call runs under.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use authnz_api::{ApiKeyStore, RoleStore, StoreError, UserStore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisResult};

use crate::error::RedisStoreError;
use crate::{
    RedisBus, RedisLoginThrottle, RedisRateLimiter, RedisReplayGuard, RedisSessionApiKeys,
    RedisSessionStore,
};

/// How calls to Redis are bounded, and whom to trust over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// How long one connection attempt and one command's answer may take.
    pub timeout: Duration,
    /// How many times a lost connection is re-established (with a short
    /// back-off) before the calls waiting on it fail. Later calls start a
    /// new attempt, so the backend recovers when Redis comes back.
    pub reconnect_retries: usize,
    /// For `rediss://` URLs: the root certificates (PEM) to trust instead
    /// of the bundled Mozilla roots and the system's, e.g. a private CA.
    pub tls_root_pem: Option<Vec<u8>>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            reconnect_retries: 1,
            tls_root_pem: None,
        }
    }
}

impl RedisOptions {
    /// The longest any single call may take before it fails with
    /// [`StoreError::Unavailable`]: every connection attempt, the back-off
    /// between them and the answer, `(reconnect_retries + 2) × timeout`.
    pub fn deadline(&self) -> Duration {
        let n = u32::try_from(self.reconnect_retries.saturating_add(2)).unwrap_or(u32::MAX);
        self.timeout.saturating_mul(n)
    }

    /// The client for `url`: with [`RedisOptions::tls_root_pem`] as the only
    /// trusted roots when given.
    fn client(&self, url: &str) -> Result<Client, StoreError> {
        let client = match &self.tls_root_pem {
            Some(pem) => Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => Client::open(url),
        };
        Ok(client.map_err(RedisStoreError::from)?)
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(self.reconnect_retries)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay((self.timeout / 4).max(Duration::from_millis(50)))
    }
}

/// A connection to one Redis server and a key prefix; hands out the
/// Redis-backed implementations, which all share the connection. Cheap to
/// clone.
#[derive(Clone)]
pub struct RedisBackend {
    pub(crate) conn: ConnectionManager,
    /// For the dedicated subscriber connection of the [`RedisBus`].
    pub(crate) client: Arc<Client>,
    pub(crate) prefix: Arc<str>,
    pub(crate) deadline: Duration,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The manager's Debug shows the connection info, which may hold a
        // password: leave it out.
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Connect to the Redis server at `url` (`redis://[:password@]host:port[/db]`,
    /// or `rediss://...` for TLS) and check it answers. Every key this
    /// backend writes starts with `prefix` (e.g. `authnz:`).
    ///
    /// Errors: [`StoreError::Backend`] for a malformed URL,
    /// [`StoreError::Unavailable`] when the server does not answer within
    /// [`RedisOptions::deadline`].
    pub async fn connect(
        url: &str,
        prefix: &str,
        options: RedisOptions,
    ) -> Result<Self, StoreError> {
        let client = options.client(url)?;
        let deadline = options.deadline();
        let conn = bounded(
            deadline,
            ConnectionManager::new_with_config(client.clone(), options.manager_config()),
        )
        .await?;
        Ok(Self {
            conn,
            client: Arc::new(client),
            prefix: prefix.into(),
            deadline,
        })
    }

    /// Like [`RedisBackend::connect`], but without connecting now: the first
    /// call connects. For starting while Redis is still down.
    pub fn connect_lazy(
        url: &str,
        prefix: &str,
        options: RedisOptions,
    ) -> Result<Self, StoreError> {
        let client = options.client(url)?;
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), options.manager_config())
                .map_err(RedisStoreError::from)?;
        Ok(Self {
            conn,
            client: Arc::new(client),
            prefix: prefix.into(),
            deadline: options.deadline(),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Send `PING`; for health checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = self.run(redis::cmd("PING").query_async(&mut c)).await?;
        Ok(())
    }

    /// The request rate limiter on this connection.
    pub fn rate_limiter(&self) -> RedisRateLimiter {
        RedisRateLimiter::new(self.clone())
    }

    /// The failed-login counter on this connection, with the default idle
    /// expiry ([`crate::DEFAULT_THROTTLE_IDLE_EXPIRY`]).
    pub fn login_throttle(&self) -> RedisLoginThrottle {
        RedisLoginThrottle::new(self.clone())
    }

    /// The replay guard on this connection.
    pub fn replay_guard(&self) -> RedisReplayGuard {
        RedisReplayGuard::new(self.clone())
    }

    /// The session store on this connection; `users` (the SQL user store)
    /// answers who a session's user is.
    pub fn session_store(&self, users: Arc<dyn UserStore>) -> RedisSessionStore {
        RedisSessionStore::new(self.clone(), users)
    }

    /// The API-key store whose session-tied keys live here next to the
    /// sessions; `users` and `roles` check references, `nosession` (the SQL
    /// store) keeps the keys without a session.
    pub fn session_apikeys(
        &self,
        users: Arc<dyn UserStore>,
        roles: Arc<dyn RoleStore>,
        nosession: Arc<dyn ApiKeyStore>,
    ) -> RedisSessionApiKeys {
        RedisSessionApiKeys::new(self.clone(), users, roles, nosession)
    }

    /// The invalidation bus on the pub/sub channel `{prefix}{name}`:
    /// publishes on this connection, listens on a connection of its own.
    pub fn invalidation_bus(&self, name: &str) -> RedisBus {
        RedisBus::new(self.clone(), format!("{}{name}", self.prefix))
    }

    /// `{prefix}{kind}:{id}`.
    pub(crate) fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Run one Redis call under the deadline, mapping errors.
    pub(crate) async fn run<T>(
        &self,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        bounded(self.deadline, call).await
    }
}

pub(crate) async fn bounded<T>(
    deadline: Duration,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(RedisStoreError::from(e).into()),
        Err(_) => Err(RedisStoreError::Timeout(deadline).into()),
    }
}
