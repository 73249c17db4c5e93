//! Harnesses that give each contract test a fresh, empty, migrated
//! `SqlStore`: SQLite in memory, SQLite in a file in its own temporary
//! directory, and PostgreSQL in its own database `authnz_t_<hex>` that
//! teardown drops.

// The SQLite-only helpers go unused in a PostgreSQL-only build.
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::testkit::{self, Harness, Stores};
#[cfg(feature = "postgres")]
use authnz_store_sql::sqlx::{self, AssertSqlSafe, Connection};
use authnz_store_sql::{SqlOptions, SqlStore};

/// The environment variable naming the PostgreSQL test server.
#[cfg(feature = "postgres")]
pub const POSTGRES_URL_VAR: &str = "AUTHNZ_TEST_POSTGRES_URL";

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
}

#[async_trait]
impl Harness for SqlHarness {
    fn stores(&self) -> Stores {
        Stores::from_store(self.store.clone())
    }

    async fn teardown(self: Box<Self>) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Nothing => {}
            Cleanup::Dir(dir) => drop(dir),
            #[cfg(feature = "postgres")]
            Cleanup::Postgres(db) => db.drop_database().await,
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

/// A PostgreSQL database made for one test.
#[cfg(feature = "postgres")]
#[derive(Debug)]
pub struct PgDatabase {
    /// The service URL it was made through.
    admin_url: String,
    /// Its name, `authnz_t_<hex>`.
    pub name: String,
    /// Its URL.
    pub url: String,
}

#[cfg(feature = "postgres")]
impl PgDatabase {
    /// Create an empty database, or `None` when the test is skipped.
    pub async fn create(test: &'static str) -> Option<PgDatabase> {
        let admin_url = testkit::service_url(POSTGRES_URL_VAR, test)?;
        let name = testkit::unique_name("authnz_t");
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {POSTGRES_URL_VAR}: {e}"));
        // The name is ours (letters, digits, underscore): safe to splice.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        let url = testkit::url_with_database(&admin_url, &name);
        Some(PgDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// Drop the database, disconnecting anything still connected.
    pub async fn drop_database(self) {
        let result = async {
            let mut admin = sqlx::PgConnection::connect(&self.admin_url).await?;
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut admin)
                .await?;
            admin.close().await
        }
        .await;
        if let Err(e) = result {
            eprintln!("WARNING: could not drop test database {}: {e}", self.name);
        }
    }
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

/// The tables of spec 8.1, sorted.
pub const TABLES: [&str; 8] = [
    "apikeys",
    "apikeys_nosession",
    "groups",
    "preferences",
    "roles",
    "sessions",
    "user_groups",
    "users",
];

/// Index names of spec 8.1 (`ix_<table>_<column>`).
pub const SPEC_INDEXES: [&str; 22] = [
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
];
