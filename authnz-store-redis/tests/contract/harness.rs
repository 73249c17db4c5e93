//! Factories for the contract suites: every test gets its own key prefix on
//! the Redis server of `AUTHNZ_TEST_REDIS_URL`, and its keys are deleted
//! afterwards (`authnz_store_redis::testing`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::testkit::{Harness, Stores};
use authnz_api::{LoginThrottle, RateDecision, RateLimit, RateLimiter, ReplayGuard, StoreError};
use authnz_store_sql::{SqlOptions, SqlStore};
use chrono::NaiveDateTime;

pub use authnz_store_redis::testing::{PrefixCleanup, REDIS_URL_VAR, test_backend as backend};

/// An implementation plus the cleanup of its prefix, run when the last
/// handle goes.
#[derive(Debug)]
pub struct Cleaned<T> {
    inner: T,
    _cleanup: PrefixCleanup,
}

#[async_trait]
impl<T: RateLimiter> RateLimiter for Cleaned<T> {
    async fn check(
        &self,
        key: &str,
        limit: RateLimit,
        now: NaiveDateTime,
    ) -> Result<RateDecision, StoreError> {
        self.inner.check(key, limit, now).await
    }
}

#[async_trait]
impl<T: LoginThrottle> LoginThrottle for Cleaned<T> {
    async fn record_failure(&self, key: &str, now: NaiveDateTime) -> Result<u32, StoreError> {
        self.inner.record_failure(key, now).await
    }
    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.inner.clear(key).await
    }
    async fn failures(&self, key: &str) -> Result<u32, StoreError> {
        self.inner.failures(key).await
    }
}

#[async_trait]
impl<T: ReplayGuard> ReplayGuard for Cleaned<T> {
    async fn first_use(
        &self,
        token_id: &str,
        until: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        self.inner.first_use(token_id, until, now).await
    }
}

pub async fn rate_limiter(test: &'static str) -> Option<Arc<dyn RateLimiter>> {
    let (b, cleanup) = backend(test).await?;
    Some(Arc::new(Cleaned {
        inner: b.rate_limiter(),
        _cleanup: cleanup,
    }))
}

pub async fn login_throttle(test: &'static str) -> Option<Arc<dyn LoginThrottle>> {
    let (b, cleanup) = backend(test).await?;
    Some(Arc::new(Cleaned {
        inner: b.login_throttle(),
        _cleanup: cleanup,
    }))
}

pub async fn replay_guard(test: &'static str) -> Option<Arc<dyn ReplayGuard>> {
    let (b, cleanup) = backend(test).await?;
    Some(Arc::new(Cleaned {
        inner: b.replay_guard(),
        _cleanup: cleanup,
    }))
}

/// Users, roles and no-session keys in SQLite (in memory); sessions and
/// session-tied keys in Redis under a fresh prefix.
pub struct SplitHarness {
    sql: Arc<SqlStore>,
    stores: Stores,
    cleanup: PrefixCleanup,
}

#[async_trait]
impl Harness for SplitHarness {
    fn stores(&self) -> Stores {
        self.stores.clone()
    }

    async fn teardown(self: Box<Self>) {
        self.sql.close().await;
        self.cleanup.clean();
    }
}

pub async fn split(test: &'static str) -> Option<Box<dyn Harness>> {
    let (redis, cleanup) = backend(test).await?;
    let options = SqlOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(3),
        ..SqlOptions::default()
    };
    let sql = SqlStore::connect("sqlite::memory:", &options)
        .await
        .expect("open in-memory SQLite");
    sql.migrate().await.expect("migrate");
    let sql = Arc::new(sql);
    let stores = Stores {
        users: sql.clone(),
        roles: sql.clone(),
        sessions: Arc::new(redis.session_store(sql.clone())),
        apikeys: Arc::new(redis.session_apikeys(sql.clone(), sql.clone(), sql.clone())),
    };
    Some(Box::new(SplitHarness {
        sql,
        stores,
        cleanup,
    }))
}

/// The invalidation bus on a private `redis-server` (so that cutting every
/// pub/sub connection of it disturbs no other test).
pub struct RedisBusHarness {
    redis: std::sync::Mutex<authnz_store_redis::testing::PrivateRedis>,
    bus: Arc<dyn authnz_api::InvalidationBus>,
}

#[async_trait]
impl authnz_api::testkit::bus::BusHarness for RedisBusHarness {
    fn bus(&self) -> Arc<dyn authnz_api::InvalidationBus> {
        self.bus.clone()
    }

    async fn cut_subscriptions(&self) {
        let url = self.redis.lock().unwrap().url();
        let client = redis::Client::open(url).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(killed >= 1, "no pub/sub connection to cut");
    }

    async fn teardown(&self) {
        self.redis.lock().unwrap().stop();
    }
}

pub async fn bus(test: &'static str) -> Option<Box<dyn authnz_api::testkit::bus::BusHarness>> {
    // Skipped (loudly) like every other Redis test when the shared test
    // Redis is not configured.
    authnz_api::testkit::service_url(REDIS_URL_VAR, test)?;
    let redis = authnz_store_redis::testing::PrivateRedis::start(test)?;
    let backend = authnz_store_redis::RedisBackend::connect(
        &redis.url(),
        "bus:",
        authnz_store_redis::RedisOptions::default(),
    )
    .await
    .expect("connect to the private Redis");
    Some(Box::new(RedisBusHarness {
        bus: Arc::new(backend.invalidation_bus("cache")),
        redis: std::sync::Mutex::new(redis),
    }))
}
