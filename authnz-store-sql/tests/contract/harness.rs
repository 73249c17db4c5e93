//! Harnesses that give each contract test a fresh, empty, migrated
//! `SqlStore`: SQLite in memory, SQLite in a file in its own temporary
//! directory, and PostgreSQL or MySQL/MariaDB in its own database
//! `authnz_t_<hex>` that teardown drops.

// The SQLite-only helpers go unused in a PostgreSQL-only build.
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::testkit::{self, Harness, Stores};
#[cfg(feature = "mysql")]
pub use authnz_store_sql::testing::MySqlDatabase;
#[cfg(feature = "postgres")]
pub use authnz_store_sql::testing::PgDatabase;
use authnz_store_sql::{SqlOptions, SqlStore};

/// Short timeouts, so a missing service fails fast.
pub fn test_options() -> SqlOptions {
    SqlOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(3),
        ..SqlOptions::default()
    }
}

/// A store plus what to clean up after the test.
#[derive(Debug)]
pub struct SqlHarness {
    pub store: Arc<SqlStore>,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Nothing,
    Dir(TempDir),
    #[cfg(feature = "postgres")]
    Postgres(PgDatabase),
    #[cfg(feature = "mysql")]
    MySql(MySqlDatabase),
}

#[async_trait]
impl Harness for SqlHarness {
    fn stores(&self) -> Stores {
        Stores::from_store(self.store.clone())
    }

    fn signing_keys(&self) -> Option<Arc<dyn authnz_api::SigningKeyStore>> {
        Some(self.store.clone())
    }

    fn second_factors(&self) -> Option<Arc<dyn authnz_api::SecondFactorStore>> {
        Some(self.store.clone())
    }

    fn groups(&self) -> Option<Arc<dyn authnz_api::GroupStore>> {
        Some(self.store.clone())
    }

    fn audit(&self) -> Option<Arc<dyn authnz_api::AuditStore>> {
        Some(self.store.clone())
    }

    fn oauth(&self) -> Option<Arc<dyn authnz_api::OAuthStore>> {
        Some(self.store.clone())
    }

    fn webhooks(&self) -> Option<authnz_api::testkit::webhooks::Pair> {
        Some((self.store.clone(), self.store.clone()))
    }

    async fn teardown(self: Box<Self>) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Nothing => {}
            Cleanup::Dir(dir) => drop(dir),
            #[cfg(feature = "postgres")]
            Cleanup::Postgres(db) => db.drop_database().await,
            #[cfg(feature = "mysql")]
            Cleanup::MySql(db) => db.drop_database().await,
        }
    }
}

/// Factory: SQLite in memory.
#[cfg(feature = "sqlite")]
pub async fn sqlite_memory(_test: &'static str) -> Option<Box<dyn Harness>> {
    let store = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("open in-memory SQLite");
    store.migrate().await.expect("migrate");
    Some(Box::new(SqlHarness {
        store: Arc::new(store),
        cleanup: Cleanup::Nothing,
    }))
}

/// Factory: SQLite in a file in a fresh temporary directory.
#[cfg(feature = "sqlite")]
pub async fn sqlite_file(_test: &'static str) -> Option<Box<dyn Harness>> {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.path().join("auth.sqlite").display());
    let store = SqlStore::connect(&url, &test_options())
        .await
        .expect("open SQLite file");
    store.migrate().await.expect("migrate");
    Some(Box::new(SqlHarness {
        store: Arc::new(store),
        cleanup: Cleanup::Dir(dir),
    }))
}

#[cfg(feature = "postgres")]
/// Factory: PostgreSQL, a database of its own (skipped when
/// `AUTHNZ_TEST_POSTGRES_URL` is unset, unless services are required).
pub async fn postgres(test: &'static str) -> Option<Box<dyn Harness>> {
    let db = PgDatabase::create(test).await?;
    let store = SqlStore::connect(&db.url, &test_options())
        .await
        .expect("open PostgreSQL");
    store.migrate().await.expect("migrate");
    Some(Box::new(SqlHarness {
        store: Arc::new(store),
        cleanup: Cleanup::Postgres(db),
    }))
}

#[cfg(feature = "mysql")]
/// Factory: MySQL/MariaDB, a database of its own (skipped when
/// `AUTHNZ_TEST_MYSQL_URL` is unset, unless services are required).
pub async fn mysql(test: &'static str) -> Option<Box<dyn Harness>> {
    let db = MySqlDatabase::create(test).await?;
    let store = SqlStore::connect(&db.url, &test_options())
        .await
        .expect("open MySQL");
    store.migrate().await.expect("migrate");
    Some(Box::new(SqlHarness {
        store: Arc::new(store),
        cleanup: Cleanup::MySql(db),
    }))
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(testkit::unique_name("authnz_t"));
        std::fs::create_dir_all(&path).expect("create temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tables of PROTOCOL.md 8.1, sorted (with authnz's `audit_events`,
/// `jwt_signing_keys`, `oauth_identities`, `oauth_states`, the second-factor
/// and passkey tables and `webhook_outbox`).
pub const TABLES: [&str; 18] = [
    "apikeys",
    "apikeys_nosession",
    "audit_events",
    "groups",
    "jwt_signing_keys",
    "login_tickets",
    "oauth_identities",
    "oauth_states",
    "passkey_challenges",
    "preferences",
    "roles",
    "sessions",
    "user_groups",
    "user_passkeys",
    "user_recovery_codes",
    "user_totp",
    "users",
    "webhook_outbox",
];

/// Index names of PROTOCOL.md 8.1 (`ix_<table>_<column>`).
pub const SPEC_INDEXES: [&str; 24] = [
    "ix_users_system_id",
    "ix_users_full_name",
    "ix_users_email_verified",
    "ix_users_is_active",
    "ix_users_last_login_success",
    "ix_users_last_login_try",
    "ix_users_created_on",
    "ix_users_last_updated",
    "ix_users_user_role",
    "ix_sessions_created",
    "ix_sessions_expires",
    "ix_apikeys_expires",
    "ix_apikeys_not_valid_before",
    "ix_apikeys_nosession_expires",
    "ix_apikeys_nosession_not_valid_before",
    "ix_apikeys_nosession_refresh_expires",
    "ix_apikeys_nosession_refresh_nbf",
    "ix_groups_system_id",
    "ix_groups_visibility",
    "ix_groups_is_active",
    "ix_groups_created_on",
    "ix_groups_group_role",
    "ix_audit_events_created",
    "ix_audit_events_subject",
];

/// The invalidation bus on `LISTEN`/`NOTIFY` of a database of its own.
#[cfg(feature = "postgres")]
pub struct PgBusHarness {
    store: Arc<SqlStore>,
    bus: Arc<dyn authnz_api::InvalidationBus>,
    db: tokio::sync::Mutex<Option<PgDatabase>>,
}

#[cfg(feature = "postgres")]
#[async_trait]
impl authnz_api::testkit::bus::BusHarness for PgBusHarness {
    fn bus(&self) -> Arc<dyn authnz_api::InvalidationBus> {
        self.bus.clone()
    }

    async fn cut_subscriptions(&self) {
        let pool = self.store.postgres_pool().unwrap();
        let cut: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = $1",
        )
        .bind(authnz_store_sql::LISTENER_APPLICATION_NAME)
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(
            !cut.is_empty() && cut.iter().all(|ok| *ok),
            "no LISTEN backend to cut: {cut:?}"
        );
    }

    async fn teardown(&self) {
        self.store.close().await;
        if let Some(db) = self.db.lock().await.take() {
            db.drop_database().await;
        }
    }
}

/// Factory: the PostgreSQL invalidation bus.
#[cfg(feature = "postgres")]
pub async fn pg_bus(test: &'static str) -> Option<Box<dyn authnz_api::testkit::bus::BusHarness>> {
    let db = PgDatabase::create(test).await?;
    let store = SqlStore::connect(&db.url, &test_options())
        .await
        .expect("open PostgreSQL");
    let bus = Arc::new(
        store
            .invalidation_bus("authnz_cache")
            .expect("a PostgreSQL store"),
    );
    Some(Box::new(PgBusHarness {
        store: Arc::new(store),
        bus,
        db: tokio::sync::Mutex::new(Some(db)),
    }))
}
