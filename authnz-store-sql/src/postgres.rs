//! The PostgreSQL dialect: every store operation as PostgreSQL SQL.
//!
//! Columns have native types (`TIMESTAMP WITHOUT TIME ZONE`, `BOOLEAN`,
//! `JSON`). JSON values are bound as Python-style text and cast with
//! `::json`, which keeps the text verbatim, so rows look the same whichever
//! server wrote them. Integer columns are `INTEGER` as upstream makes them;
//! they are read as either width so a database with `BIGINT` ids works too.
//! Role names sort in byte order (`COLLATE "C"`), as on SQLite.

use std::str::FromStr;

use authnz_api::time::truncate_micros;
use authnz_api::{ApiKeyRef, InitialData, NoSessionApiKey, Role, SessionApiKey, UserId};
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Row};

use crate::SqlOptions;
use crate::db::{self, Arg, Done, Placeholders, Query, SqlDialect, args};
use crate::error::SqlStoreError;
use crate::json;
use crate::rows::{
    ReadColumns, nosession_apikey_columns, nosession_apikey_from_row, session_apikey_columns,
    session_apikey_from_row, user_columns,
};

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

fn dt(t: NaiveDateTime) -> NaiveDateTime {
    truncate_micros(t)
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

// ---------------------------------------------------------------------------
// roles

pub(crate) async fn list_roles(pool: &PgPool) -> Result<Vec<Role>, SqlStoreError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as(r#"SELECT name, "desc" FROM roles ORDER BY name COLLATE "C""#)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, desc)| Role { name, desc })
        .collect())
}

pub(crate) async fn initialize(
    pool: &PgPool,
    data: &InitialData,
    now: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let mut tx = pool.begin().await?;
    let seeded: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM roles)")
        .fetch_one(&mut *tx)
        .await?;
    if seeded {
        tx.rollback().await?;
        return Ok(false);
    }
    for role in &data.roles {
        let inserted = sqlx::query(r#"INSERT INTO roles (name, "desc") VALUES ($1, $2)"#)
            .bind(&role.name)
            .bind(&role.desc)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            // Either a concurrent initializer committed its roles after our
            // check (then the database is seeded: not an error), or `data`
            // names a role twice (a conflict). Ask again to tell which.
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                tx.rollback().await?;
                let seeded: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM roles)")
                    .fetch_one(pool)
                    .await?;
                return if seeded {
                    Ok(false)
                } else {
                    Err(sqlx::Error::Database(db).into())
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Explicit ids, as upstream: the built-in users are 1, 2 and 3. A
    // sequence is not transactional, so letting it number them would skip
    // ids after a failed attempt. Then move the sequence past them.
    for (user_id, user) in (1..).zip(&data.users) {
        crate::users::insert_user::<Postgres>(&mut tx, Some(user_id), user, now).await?;
    }
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('users', 'user_id'), \
         COALESCE(MAX(user_id), 0) + 1, false) FROM users",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

// ---------------------------------------------------------------------------
// API keys

pub(crate) async fn create_session_apikey(
    pool: &PgPool,
    k: &SessionApiKey,
) -> Result<(), SqlStoreError> {
    sqlx::query(concat!(
        "INSERT INTO apikeys (",
        session_apikey_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&k.apikey)
    .bind(dt(k.issued))
    .bind(dt(k.expires))
    .bind(dt(k.not_valid_before))
    .bind(k.user_id)
    .bind(&k.user_role)
    .bind(&k.session_token)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn valid_session_apikey(
    pool: &PgPool,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<SessionApiKey>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        session_apikey_columns!(),
        " FROM apikeys WHERE apikey = $1 AND user_id = $2 AND user_role = $3 \
          AND expires > $4 AND issued < $4 AND not_valid_before < $4"
    ))
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .bind(dt(now))
    .fetch_optional(pool)
    .await?;
    row.map(|r| session_apikey_from_row(&r)).transpose()
}

pub(crate) async fn delete_session_apikey(
    pool: &PgPool,
    key: ApiKeyRef<'_>,
) -> Result<u64, SqlStoreError> {
    Ok(
        sqlx::query("DELETE FROM apikeys WHERE apikey = $1 AND user_id = $2 AND user_role = $3")
            .bind(key.apikey)
            .bind(key.user_id)
            .bind(key.user_role)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub(crate) async fn create_nosession_apikey(
    pool: &PgPool,
    k: &NoSessionApiKey,
) -> Result<(), SqlStoreError> {
    sqlx::query(concat!(
        "INSERT INTO apikeys_nosession (",
        nosession_apikey_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&k.apikey)
    .bind(dt(k.issued))
    .bind(dt(k.expires))
    .bind(dt(k.not_valid_before))
    .bind(&k.refresh_token)
    .bind(dt(k.refresh_issued))
    .bind(dt(k.refresh_expires))
    .bind(dt(k.refresh_nbf))
    .bind(k.user_id)
    .bind(&k.user_role)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn valid_nosession_apikey(
    pool: &PgPool,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<NoSessionApiKey>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        nosession_apikey_columns!(),
        " FROM apikeys_nosession WHERE apikey = $1 AND user_id = $2 AND user_role = $3 \
          AND expires > $4 AND issued < $4 AND not_valid_before < $4"
    ))
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .bind(dt(now))
    .fetch_optional(pool)
    .await?;
    row.map(|r| nosession_apikey_from_row(&r)).transpose()
}

pub(crate) async fn refreshable_nosession_apikey(
    pool: &PgPool,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<NoSessionApiKey>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        nosession_apikey_columns!(),
        " FROM apikeys_nosession WHERE apikey = $1 AND user_id = $2 AND user_role = $3 \
          AND refresh_expires > $4 AND refresh_nbf < $4 AND refresh_issued < $4"
    ))
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .bind(dt(now))
    .fetch_optional(pool)
    .await?;
    row.map(|r| nosession_apikey_from_row(&r)).transpose()
}

pub(crate) async fn delete_nosession_apikey(
    pool: &PgPool,
    key: ApiKeyRef<'_>,
) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query(
        "DELETE FROM apikeys_nosession WHERE apikey = $1 AND user_id = $2 AND user_role = $3",
    )
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .execute(pool)
    .await?
    .rows_affected())
}

pub(crate) async fn delete_user_nosession_apikeys(
    pool: &PgPool,
    user_id: UserId,
    user_role: &str,
) -> Result<u64, SqlStoreError> {
    Ok(
        sqlx::query("DELETE FROM apikeys_nosession WHERE user_id = $1 AND user_role = $2")
            .bind(user_id)
            .bind(user_role)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
