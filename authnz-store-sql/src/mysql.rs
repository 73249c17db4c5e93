//! The MySQL / MariaDB dialect: connection set-up, migrations, reading rows,
//! and what [`SqlDialect`] needs (the operations are written once, in
//! `users.rs` and its siblings).
//!
//! Columns have native types (`DATETIME(6)`, `BOOLEAN` = `TINYINT(1)`,
//! `JSON`). JSON values are bound as Python-style text; MariaDB's `JSON` is
//! `LONGTEXT` with a validity check, so the text is kept verbatim and rows
//! look the same whichever server wrote them. Every text column has the
//! collation `utf8mb4_nopad_bin` (see the migration), so equality, unique
//! keys and `ORDER BY` are exact and in byte order, as on SQLite and
//! PostgreSQL. MySQL has no `RETURNING` (MariaDB only for some statements),
//! so new user ids come from `LAST_INSERT_ID()`.

use std::str::FromStr;

use authnz_api::time::truncate_micros;
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Executor, MySql, Row};

use crate::SqlOptions;
use crate::db::{self, Arg, Done, Placeholders, Query, SqlDialect, args};
use crate::error::SqlStoreError;
use crate::json;
use crate::rows::{ReadColumns, user_columns};

/// The migrations for this dialect, embedded at build time.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx_macros::migrate!("migrations/mysql");

/// Open a pool on a `mysql://` or `mariadb://` URL.
///
/// Connections use utf8mb4 and the UTC time zone (sqlx's defaults, stated
/// here so they cannot drift): DATETIME columns hold naive UTC and are never
/// converted, but `UTC_TIMESTAMP()` defaults and any TIMESTAMP column would be.
pub(crate) async fn connect(url: &str, opts: &SqlOptions) -> Result<MySqlPool, SqlStoreError> {
    // sqlx knows only `mysql://`; `mariadb://` is the same protocol.
    let url = crate::url::Dialect::sqlx_url(url);
    let options = MySqlConnectOptions::from_str(&url)?
        .charset("utf8mb4")
        .timezone(Some("+00:00".to_owned()));
    let limits = SessionLimits::new(opts.statement_timeout);
    Ok(MySqlPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
        .after_connect(move |conn, _meta| Box::pin(async move { limits.apply(conn).await }))
        .connect_with(options)
        .await?)
}

/// The per-session limits that make the server cut a statement after the
/// statement timeout: MariaDB's `max_statement_time` (seconds, any
/// statement), or MySQL's `max_execution_time` (milliseconds, reads only);
/// and on both the InnoDB lock wait (whole seconds, at least 1).
#[derive(Debug, Clone, Copy)]
struct SessionLimits {
    millis: u128,
    lock_wait_secs: u64,
}

impl SessionLimits {
    fn new(statement_timeout: std::time::Duration) -> Self {
        SessionLimits {
            millis: statement_timeout.as_millis().max(1),
            lock_wait_secs: statement_timeout.as_secs().max(1),
        }
    }

    /// Set the limits on `conn`.
    async fn apply(self, conn: &mut sqlx::MySqlConnection) -> Result<(), sqlx::Error> {
        let version: String = sqlx::query_scalar("SELECT VERSION()")
            .fetch_one(&mut *conn)
            .await?;
        // Numbers only: safe to splice.
        let sql = if version.to_ascii_lowercase().contains("mariadb") {
            format!(
                "SET SESSION max_statement_time = {}.{:03}, innodb_lock_wait_timeout = {}",
                self.millis / 1000,
                self.millis % 1000,
                self.lock_wait_secs
            )
        } else {
            format!(
                "SET SESSION max_execution_time = {}, innodb_lock_wait_timeout = {}",
                self.millis, self.lock_wait_secs
            )
        };
        conn.execute(sqlx::AssertSqlSafe(sql)).await?;
        Ok(())
    }
}

/// Run the embedded migrations on a connection of their own without the
/// statement limits (a migration may take longer than one request may), and
/// close that connection afterwards.
pub(crate) async fn migrate(pool: &MySqlPool) -> Result<(), SqlStoreError> {
    // The same connection options, without the session limits set by the
    // pool's `after_connect`.
    let own = MySqlPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_with((*pool.connect_options()).clone())
        .await?;
    let result = MIGRATOR.run(&own).await;
    own.close().await;
    Ok(result?)
}

impl ReadColumns for MySqlRow {
    fn text(&self, i: usize, _column: &'static str) -> Result<String, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_text(&self, i: usize, _column: &'static str) -> Result<Option<String>, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn int(&self, i: usize, column: &'static str) -> Result<i64, SqlStoreError> {
        self.opt_int(i, column)?
            .ok_or_else(|| SqlStoreError::Decode {
                column,
                reason: "unexpected NULL".to_owned(),
            })
    }

    fn opt_int(&self, i: usize, _column: &'static str) -> Result<Option<i64>, SqlStoreError> {
        // sqlx-mysql decodes every signed integer width as i64.
        Ok(self.try_get::<Option<i64>, _>(i)?)
    }

    fn flag(&self, i: usize, _column: &'static str) -> Result<bool, SqlStoreError> {
        Ok(self.try_get(i)?)
    }

    fn opt_datetime(
        &self,
        i: usize,
        _column: &'static str,
    ) -> Result<Option<NaiveDateTime>, SqlStoreError> {
        let t: Option<NaiveDateTime> = self.try_get(i)?;
        Ok(t.map(truncate_micros))
    }

    fn json(&self, i: usize, column: &'static str) -> Result<Option<Value>, SqlStoreError> {
        // MariaDB's JSON is LONGTEXT: read the text and parse it.
        json::from_column(self.try_get::<Option<String>, _>(i)?, column)
    }
}

impl SqlDialect for MySql {
    const PLACEHOLDERS: Placeholders = Placeholders::Positional;
    /// MySQL has none (MariaDB only for some statements): new user ids come
    /// from `LAST_INSERT_ID()`.
    const HAS_RETURNING: bool = false;
    const BEGIN_WRITE: Option<&'static str> = None;
    // InnoDB moves AUTO_INCREMENT past explicit ids by itself: no
    // AFTER_EXPLICIT_USER_IDS.

    fn bind(query: Query<Self>, arg: Arg<'_>) -> Query<Self> {
        match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Bool(v) => query.bind(v),
            Arg::Time(v) => query.bind(v.map(truncate_micros)),
            Arg::Json(v) => query.bind(v),
        }
    }

    db::run_methods!(|r| Done {
        rows_affected: r.rows_affected(),
        last_insert_id: i64::try_from(r.last_insert_id()).ok(),
    });

    /// Only users with some `extra_info`: MySQL's JSON_CONTAINS and
    /// MariaDB's differ in how they compare numbers (1 vs 1.0) and MariaDB's
    /// JSON paths need key quoting, so all the comparing is left to the
    /// exact check.
    async fn extra_info_candidates(
        conn: &mut MySqlConnection,
        _wanted: &serde_json::Map<String, Value>,
    ) -> Result<Vec<MySqlRow>, SqlStoreError> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE extra_info IS NOT NULL ORDER BY user_id"
        );
        Ok(Self::fetch_all(conn, sql, args![]).await?)
    }
}
