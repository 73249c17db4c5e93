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
use authnz_api::{
    ApiKeyRef, ColumnValue, InitialData, NewUser, NoSessionApiKey, Role, Session, SessionApiKey,
    User, UserColumn, UserId, UserPatch, extra_info_matches,
};
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, Postgres, Row};

use crate::SqlOptions;
use crate::error::SqlStoreError;
use crate::json;
use crate::rows::{
    ReadColumns, SESSION_COLUMN_COUNT, find_users_sql, nosession_apikey_columns,
    nosession_apikey_from_row, session_apikey_columns, session_apikey_from_row, session_columns,
    session_columns_s, session_from_row, user_columns, user_columns_u, user_from_row,
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

fn opt_dt(t: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    t.map(truncate_micros)
}

fn json_param(v: Option<&Value>) -> Result<Option<String>, SqlStoreError> {
    json::to_column(v)
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

// ---------------------------------------------------------------------------
// users

/// Insert a user; `user_id` `None` takes the next value of the sequence.
async fn insert_user<'e, E>(
    ex: E,
    user_id: Option<UserId>,
    user: &NewUser,
    now: NaiveDateTime,
) -> Result<UserId, SqlStoreError>
where
    E: Executor<'e, Database = Postgres>,
{
    // An explicit NULL would not fall back to the column default, hence two
    // statements.
    let sql = if user_id.is_some() {
        "INSERT INTO users (system_id, full_name, password, email, email_verified, is_active, \
         emailverify_sent_datetime, failed_login_tries, extra_info, created_on, last_updated, \
         user_role, user_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8::json, $9, $9, $10, $11) RETURNING user_id"
    } else {
        "INSERT INTO users (system_id, full_name, password, email, email_verified, is_active, \
         emailverify_sent_datetime, failed_login_tries, extra_info, created_on, last_updated, \
         user_role) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8::json, $9, $9, $10) RETURNING user_id"
    };
    let mut query = sqlx::query(sql)
        .bind(&user.system_id)
        .bind(&user.full_name)
        .bind(&user.password)
        .bind(&user.email)
        .bind(user.email_verified)
        .bind(user.is_active)
        .bind(opt_dt(user.emailverify_sent_datetime))
        .bind(json_param(user.extra_info.as_ref())?)
        .bind(dt(now))
        .bind(&user.user_role);
    if let Some(id) = user_id {
        query = query.bind(id);
    }
    let row = query.fetch_one(ex).await?;
    row.int(0, "user_id")
}

pub(crate) async fn create_user(
    pool: &PgPool,
    user: &NewUser,
    now: NaiveDateTime,
) -> Result<UserId, SqlStoreError> {
    insert_user(pool, None, user, now).await
}

pub(crate) async fn user_by_id(
    pool: &PgPool,
    user_id: UserId,
) -> Result<Option<User>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| user_from_row(&r, 0)).transpose()
}

pub(crate) async fn user_by_email(
    pool: &PgPool,
    email: &str,
) -> Result<Option<User>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    row.map(|r| user_from_row(&r, 0)).transpose()
}

pub(crate) async fn list_users(pool: &PgPool) -> Result<Vec<User>, SqlStoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users ORDER BY user_id"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| user_from_row(r, 0)).collect()
}

pub(crate) async fn update_user(
    pool: &PgPool,
    user_id: UserId,
    patch: &UserPatch,
    only_if_active: Option<bool>,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    // One static statement: each nullable column has a "set it" flag and a
    // value (so NULL can be written), the others use COALESCE.
    let extra_info = match &patch.extra_info {
        Some(v) => json_param(v.as_ref())?,
        None => None,
    };
    let result = sqlx::query(
        "UPDATE users SET \
           full_name = CASE WHEN $1 THEN $2 ELSE full_name END, \
           password = COALESCE($3, password), \
           email = COALESCE($4, email), \
           email_verified = COALESCE($5, email_verified), \
           is_active = COALESCE($6, is_active), \
           user_role = COALESCE($7, user_role), \
           extra_info = CASE WHEN $8 THEN $9::json ELSE extra_info END, \
           emailverify_sent_datetime = CASE WHEN $10 THEN $11 ELSE emailverify_sent_datetime END, \
           emailforgotpass_sent_datetime = \
             CASE WHEN $12 THEN $13 ELSE emailforgotpass_sent_datetime END, \
           locked_until = CASE WHEN $17 THEN $18 ELSE locked_until END, \
           last_updated = $14 \
         WHERE user_id = $15 AND ($16::boolean IS NULL OR is_active = $16)",
    )
    .bind(patch.full_name.is_some())
    .bind(patch.full_name.clone().flatten())
    .bind(&patch.password)
    .bind(&patch.email)
    .bind(patch.email_verified)
    .bind(patch.is_active)
    .bind(&patch.user_role)
    .bind(patch.extra_info.is_some())
    .bind(extra_info)
    .bind(patch.emailverify_sent_datetime.is_some())
    .bind(opt_dt(patch.emailverify_sent_datetime.flatten()))
    .bind(patch.emailforgotpass_sent_datetime.is_some())
    .bind(opt_dt(patch.emailforgotpass_sent_datetime.flatten()))
    .bind(dt(now))
    .bind(user_id)
    .bind(only_if_active)
    .bind(patch.locked_until.is_some())
    .bind(opt_dt(patch.locked_until.flatten()))
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

pub(crate) async fn delete_user(pool: &PgPool, user_id: UserId) -> Result<u64, SqlStoreError> {
    let mut tx = pool.begin().await?;
    // The foreign keys cascade all of these; deleting explicitly keeps the
    // result right even on a database whose cascades are missing.
    for sql in [
        "DELETE FROM apikeys WHERE user_id = $1",
        "DELETE FROM apikeys_nosession WHERE user_id = $1",
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM preferences WHERE user_id = $1",
        "DELETE FROM user_groups WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
    }
    let deleted = sqlx::query("DELETE FROM users WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}

pub(crate) async fn superuser_role(pool: &PgPool) -> Result<Option<String>, SqlStoreError> {
    Ok(
        sqlx::query_scalar("SELECT user_role FROM users WHERE user_id = 1")
            .fetch_optional(pool)
            .await?,
    )
}

// ---------------------------------------------------------------------------
// user lookups by column and by extra_info, lock deadlines

pub(crate) async fn find_users(
    pool: &PgPool,
    column: UserColumn,
    value: &ColumnValue,
) -> Result<Vec<User>, SqlStoreError> {
    if value.kind() != column.kind() {
        return Ok(Vec::new());
    }
    let query = sqlx::query(find_users_sql(column));
    let query = match value {
        ColumnValue::Int(i) => query.bind(*i),
        ColumnValue::Text(t) => query.bind(t.as_str()),
        ColumnValue::Bool(b) => query.bind(*b),
        ColumnValue::DateTime(t) => query.bind(dt(*t)),
    };
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(|r| user_from_row(r, 0)).collect()
}

pub(crate) async fn find_users_by_extra_info(
    pool: &PgPool,
    wanted: &serde_json::Map<String, Value>,
) -> Result<Vec<User>, SqlStoreError> {
    if wanted.is_empty() {
        return list_users(pool).await;
    }
    // `jsonb @>` narrows down to rows holding every key with a containing
    // value (numbers by value, as wanted); the exact check here then drops
    // partial containment of nested arrays and objects.
    //
    // `jsonb` cannot hold a NUL character, so a row whose JSON text holds the
    // escape `\u0000` is never cast (CASE evaluates in order) and is checked
    // here instead; a wanted value holding one can only be in such rows.
    let wanted_text = json::python_dumps(&Value::Object(wanted.clone()))?;
    let rows = if wanted_text.contains("\\u0000") {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE strpos(extra_info::text, '\\u0000') > 0 ORDER BY user_id"
        ))
        .fetch_all(pool)
        .await?
    } else {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE extra_info IS NOT NULL AND CASE \
              WHEN strpos(extra_info::text, '\\u0000') > 0 THEN true \
              ELSE extra_info::jsonb @> $1::jsonb END \
              ORDER BY user_id"
        ))
        .bind(wanted_text)
        .fetch_all(pool)
        .await?
    };
    let mut users = Vec::with_capacity(rows.len());
    for r in &rows {
        let user = user_from_row(r, 0)?;
        if extra_info_matches(user.extra_info.as_ref(), wanted) {
            users.push(user);
        }
    }
    Ok(users)
}

pub(crate) async fn users_with_lock_deadline(pool: &PgPool) -> Result<Vec<User>, SqlStoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE locked_until IS NOT NULL ORDER BY user_id"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| user_from_row(r, 0)).collect()
}

pub(crate) async fn lift_lock_if_due(
    pool: &PgPool,
    user_id: UserId,
    restore_role: &str,
    now: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let changed = sqlx::query(
        "UPDATE users SET is_active = true, user_role = $1, locked_until = NULL, \
           last_updated = $2 \
         WHERE user_id = $3 AND locked_until IS NOT NULL AND locked_until <= $2",
    )
    .bind(restore_role)
    .bind(dt(now))
    .bind(user_id)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

// ---------------------------------------------------------------------------
// sessions

pub(crate) async fn create_session(pool: &PgPool, s: &Session) -> Result<(), SqlStoreError> {
    sqlx::query(concat!(
        "INSERT INTO sessions (",
        session_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7::json)"
    ))
    .bind(&s.session_token)
    .bind(&s.ip_address)
    .bind(&s.user_agent)
    .bind(s.user_id)
    .bind(dt(s.created))
    .bind(dt(s.expires))
    .bind(json_param(s.extra_info_json.as_ref())?)
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn active_session(
    pool: &PgPool,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<(Session, User)>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        session_columns_s!(),
        ", ",
        user_columns_u!(),
        " FROM sessions s JOIN users u ON u.user_id = s.user_id \
          WHERE s.session_token = $1 AND s.expires > $2"
    ))
    .bind(token)
    .bind(dt(now))
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok((
            session_from_row(&r, 0)?,
            user_from_row(&r, SESSION_COLUMN_COUNT)?,
        ))
    })
    .transpose()
}

pub(crate) async fn delete_session(pool: &PgPool, token: &str) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE session_token = $1")
        .bind(token)
        .execute(pool)
        .await?
        .rows_affected())
}

pub(crate) async fn delete_user_sessions(
    pool: &PgPool,
    user_id: UserId,
    keep: Option<&str>,
) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query(
        "DELETE FROM sessions WHERE user_id = $1 AND ($2::text IS NULL OR session_token <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .execute(pool)
    .await?
    .rows_affected())
}

pub(crate) async fn user_sessions(
    pool: &PgPool,
    user_id: UserId,
    now: NaiveDateTime,
) -> Result<Vec<Session>, SqlStoreError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE user_id = $1 AND expires > $2 \
          ORDER BY created, session_token COLLATE \"C\""
    ))
    .bind(user_id)
    .bind(dt(now))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| session_from_row(r, 0)).collect()
}

pub(crate) async fn set_session_extra(
    pool: &PgPool,
    token: &str,
    extra: Option<&Value>,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query(
        "UPDATE sessions SET extra_info_json = $1::json \
         WHERE session_token = $2 AND expires > $3",
    )
    .bind(json_param(extra)?)
    .bind(token)
    .bind(dt(now))
    .execute(pool)
    .await?
    .rows_affected())
}

pub(crate) async fn delete_sessions_expired_before(
    pool: &PgPool,
    before: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires < $1")
        .bind(dt(before))
        .execute(pool)
        .await?
        .rows_affected())
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
        insert_user(&mut *tx, Some(user_id), user, now).await?;
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
