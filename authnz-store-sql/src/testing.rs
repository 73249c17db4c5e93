//! Test support for crates that run against real databases (feature
//! `testing`): a throw-away PostgreSQL database per test, made on the server
//! named by `AUTHNZ_TEST_POSTGRES_URL` and dropped afterwards.

#[cfg(feature = "postgres")]
use authnz_api::testkit;
#[cfg(feature = "postgres")]
use sqlx::{AssertSqlSafe, Connection};

/// The environment variable naming the PostgreSQL test server.
pub const POSTGRES_URL_VAR: &str = "AUTHNZ_TEST_POSTGRES_URL";

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
