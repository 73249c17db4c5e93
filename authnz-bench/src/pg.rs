//! A throw-away PostgreSQL database for one bench run, created on the
//! server given by the maintenance URL (127.0.0.1:5432 by default) and
//! dropped at the end.

use anyhow::Context as _;
use sqlx::{AssertSqlSafe, Connection as _};

/// How long connecting to PostgreSQL may take before the backend is skipped.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug)]
pub struct Database {
    admin_url: String,
    name: String,
    /// URL of the new database, for the server.
    pub url: String,
}

impl Database {
    pub async fn create(admin_url: &str, run_id: &str) -> anyhow::Result<Self> {
        let name = format!("authnz_bench_{}", run_id.to_lowercase());
        let mut conn = connect(admin_url).await?;
        // The name is ours (letters, digits, underscore): safe to splice.
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let _ = conn.close().await;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drop the database (forcing out any connection left over).
    pub async fn drop_database(self) {
        let dropped = async {
            let mut conn = connect(&self.admin_url).await?;
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
            let _ = conn.close().await;
            anyhow::Ok(())
        };
        if let Err(e) = dropped.await {
            eprintln!("authnz-bench: could not drop database {}: {e:#}", self.name);
        }
    }
}

async fn connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect(url))
        .await
        .context("PostgreSQL did not answer in time")?
        .with_context(|| format!("cannot connect to {url}"))
}
