//! The PostgreSQL dialect: connection set-up, migrations, reading rows, and
//! what [`SqlDialect`] needs (the operations are written once, in
//! `users.rs` and its siblings).
//!
//! Columns have native types (`TIMESTAMP WITHOUT TIME ZONE`, `BOOLEAN`,
//! `JSON`). JSON values are bound as Python-style text and cast with
//! `::json`, which keeps the text verbatim, so rows look the same whichever
//! server wrote them. Integer columns are `INTEGER` as upstream makes them;
//! they are read as either width so a database with `BIGINT` ids works too.

use std::str::FromStr;

use authnz_api::time::truncate_micros;
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};

use crate::SqlOptions;
use crate::db::{self, Arg, Done, Placeholders, Query, SqlDialect, args};
use crate::error::SqlStoreError;
use crate::json;
use crate::rows::{ReadColumns, user_columns};

/// The migrations for this dialect, embedded at build time.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx_macros::migrate!("migrations/postgres");

/// Open a pool on a `postgres://` or `postgresql://` URL.
pub(crate) async fn connect(url: &str, opts: &SqlOptions) -> Result<PgPool, SqlStoreError> {
    // Every statement on every connection is cut by the server after the
    // statement timeout (SQLSTATE 57014, reported as unavailable).
    let statement_timeout = opts.statement_timeout.as_millis().max(1).to_string();
    let options = PgConnectOptions::from_str(url)?
        .application_name("authnz")
        .options([("statement_timeout", statement_timeout.as_str())]);
    Ok(PgPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
        .connect_with(options)
        .await?)
}

/// Run the embedded migrations on a connection of their own without the
/// statement timeout (a migration may take longer than one request may), and
/// close that connection afterwards.
pub(crate) async fn migrate(pool: &PgPool) -> Result<(), SqlStoreError> {
    // A later `-c statement_timeout` overrides the earlier one.
    let options = (*pool.connect_options())
        .clone()
        .options([("statement_timeout", "0")]);
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_with(options)
        .await?;
    let result = MIGRATOR.run(&own).await;
    own.close().await;
    Ok(result?)
}

impl ReadColumns for PgRow {
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
        // sqlx decodes integers only at their exact width.
        match self.try_get::<Option<i32>, _>(i) {
            Ok(v) => Ok(v.map(i64::from)),
            Err(sqlx::Error::ColumnDecode { .. }) => Ok(self.try_get::<Option<i64>, _>(i)?),
            Err(e) => Err(e.into()),
        }
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

    fn json(&self, i: usize, _column: &'static str) -> Result<Option<Value>, SqlStoreError> {
        let v: Option<Value> = self.try_get(i)?;
        Ok(v.filter(|v| !v.is_null()))
    }
}

impl SqlDialect for Postgres {
    const PLACEHOLDERS: Placeholders = Placeholders::Numbered;
    const HAS_RETURNING: bool = true;
    const BEGIN_WRITE: Option<&'static str> = None;
    /// A sequence is not transactional, so letting it number the built-in
    /// users would skip ids after a failed attempt: they get explicit ids,
    /// then the sequence moves past them.
    const AFTER_EXPLICIT_USER_IDS: Option<&'static str> = Some(
        "SELECT setval(pg_get_serial_sequence('users', 'user_id'), \
         COALESCE(MAX(user_id), 0) + 1, false) FROM users",
    );

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
        last_insert_id: None,
    });

    /// `jsonb @>` narrows down to rows holding every key with a containing
    /// value (numbers by value, as wanted); the exact check then drops
    /// partial containment of nested arrays and objects.
    ///
    /// `jsonb` cannot hold a NUL character, so a row whose JSON text holds
    /// the escape `\u0000` is never cast (CASE evaluates in order) and is
    /// left to the exact check; a wanted value holding one can only be in
    /// such rows.
    async fn extra_info_candidates(
        conn: &mut PgConnection,
        wanted: &serde_json::Map<String, Value>,
    ) -> Result<Vec<PgRow>, SqlStoreError> {
        let wanted_text = json::python_dumps(&Value::Object(wanted.clone()))?;
        let rows = if wanted_text.contains("\\u0000") {
            let sql = concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE strpos(extra_info::text, '\\u0000') > 0 ORDER BY user_id"
            );
            Self::fetch_all(conn, sql, args![]).await?
        } else {
            let sql = concat!(
                "SELECT ",
                user_columns!(),
                " FROM users WHERE extra_info IS NOT NULL AND CASE \
                  WHEN strpos(extra_info::text, '\\u0000') > 0 THEN true \
                  ELSE extra_info::jsonb @> $1::jsonb END \
                  ORDER BY user_id"
            );
            Self::fetch_all(conn, sql, args![&wanted_text]).await?
        };
        Ok(rows)
    }
}
