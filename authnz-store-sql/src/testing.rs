//! Test support for crates that run against real databases (feature
//! `testing`): a throw-away PostgreSQL or MySQL/MariaDB database per test,
//! made on the server named by `AUTHNZ_TEST_POSTGRES_URL` or
//! `AUTHNZ_TEST_MYSQL_URL` and dropped afterwards.

// Test support: a failed setup panics, which is how a test reports it.
#![allow(clippy::panic)]

#[cfg(any(feature = "postgres", feature = "mysql"))]
use authnz_api::testkit;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::{AssertSqlSafe, Connection};

/// The environment variable naming the PostgreSQL test server.
pub const POSTGRES_URL_VAR: &str = "AUTHNZ_TEST_POSTGRES_URL";

/// The environment variable naming the MySQL/MariaDB test server.
pub const MYSQL_URL_VAR: &str = "AUTHNZ_TEST_MYSQL_URL";

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
    /// Set once dropped explicitly; otherwise `Drop` drops it (a test that
    /// panicked before its teardown).
    dropped: bool,
}

#[cfg(feature = "postgres")]
impl PgDatabase {
    /// Create an empty database, or `None` when the test is skipped.
    pub async fn create(test: &str) -> Option<PgDatabase> {
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
            dropped: false,
        })
    }

    /// Drop the database, disconnecting anything still connected.
    pub async fn drop_database(mut self) {
        self.dropped = true;
        drop_pg(&self.admin_url, &self.name).await;
    }
}

#[cfg(feature = "postgres")]
async fn drop_pg(admin_url: &str, name: &str) {
    let result = async {
        let mut admin = sqlx::PgConnection::connect(admin_url).await?;
        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("WARNING: could not drop test database {name}: {e}");
    }
}

#[cfg(feature = "postgres")]
impl Drop for PgDatabase {
    fn drop(&mut self) {
        if !self.dropped {
            let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
            block_on_own_thread(async move { drop_pg(&admin_url, &name).await });
        }
    }
}

/// Run `work` to completion on a thread and runtime of its own: `Drop` may
/// run inside an async runtime (a panicking test), where blocking on a
/// future is not allowed.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn block_on_own_thread(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(work);
        }
    })
    .join();
}

/// A MySQL/MariaDB database made for one test.
#[cfg(feature = "mysql")]
#[derive(Debug)]
pub struct MySqlDatabase {
    /// The service URL it was made through.
    admin_url: String,
    /// Its name, `authnz_t_<hex>`.
    pub name: String,
    /// Its URL.
    pub url: String,
    /// Set once dropped explicitly; otherwise `Drop` drops it.
    dropped: bool,
}

#[cfg(feature = "mysql")]
impl MySqlDatabase {
    /// Create an empty database, or `None` when the test is skipped.
    pub async fn create(test: &str) -> Option<MySqlDatabase> {
        let admin_url = testkit::service_url(MYSQL_URL_VAR, test)?;
        let name = testkit::unique_name("authnz_t");
        let mut admin = sqlx::MySqlConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {MYSQL_URL_VAR}: {e}"));
        // The name is ours (letters, digits, underscore): safe to splice.
        // A case-insensitive default collation, as most servers have: the
        // migrations must set the exact collations themselves.
        let sql =
            format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        let url = testkit::url_with_database(&admin_url, &name);
        Some(MySqlDatabase {
            admin_url,
            name,
            url,
            dropped: false,
        })
    }

    /// Drop the database. Close every pool on it first: MySQL has no
    /// `WITH (FORCE)`, so a connection holding a lock would make this wait.
    pub async fn drop_database(mut self) {
        self.dropped = true;
        drop_mysql(&self.admin_url, &self.name).await;
    }
}

#[cfg(feature = "mysql")]
async fn drop_mysql(admin_url: &str, name: &str) {
    let result = async {
        let mut admin = sqlx::MySqlConnection::connect(admin_url).await?;
        let sql = format!("DROP DATABASE IF EXISTS `{name}`");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("WARNING: could not drop test database {name}: {e}");
    }
}

#[cfg(feature = "mysql")]
impl Drop for MySqlDatabase {
    fn drop(&mut self) {
        if !self.dropped {
            let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
            block_on_own_thread(async move { drop_mysql(&admin_url, &name).await });
        }
    }
}
