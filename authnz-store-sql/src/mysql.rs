//! The MySQL / MariaDB dialect: every store operation as MySQL SQL.
//!
//! Columns have native types (`DATETIME(6)`, `BOOLEAN` = `TINYINT(1)`,
//! `JSON`). JSON values are bound as Python-style text; MariaDB's `JSON` is
//! `LONGTEXT` with a validity check, so the text is kept verbatim and rows
//! look the same whichever server wrote them. Every text column has the
//! collation `utf8mb4_nopad_bin` (see the migration), so equality, unique
//! keys and `ORDER BY` are exact and in byte order, as on SQLite and
//! PostgreSQL. MySQL has no `RETURNING` (MariaDB only for some statements),
//! so new user ids come from `LAST_INSERT_ID()`.
//!
//! The semantics are those of the PostgreSQL dialect, statement by
//! statement; only the SQL differs.

use std::str::FromStr;

use authnz_api::time::truncate_micros;
use authnz_api::{
    ApiKeyRef, ColumnValue, InitialData, NewUser, NoSessionApiKey, Role, Session, SessionApiKey,
    User, UserColumn, UserId, UserPatch, extra_info_matches,
};
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlRow};
use sqlx::{Executor, MySql, Row};

use crate::SqlOptions;
use crate::error::SqlStoreError;
use crate::json;
use crate::rows::{
    ReadColumns, SESSION_COLUMN_COUNT, find_users_sql_mysql, nosession_apikey_columns,
    nosession_apikey_from_row, session_apikey_columns, session_apikey_from_row, session_columns,
    session_columns_s, session_from_row, user_columns, user_columns_u, user_from_row,
};

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

fn dt(t: NaiveDateTime) -> NaiveDateTime {
    truncate_micros(t)
}

fn opt_dt(t: Option<NaiveDateTime>) -> Option<NaiveDateTime> {
    t.map(truncate_micros)
}

fn json_param(v: Option<&Value>) -> Result<Option<String>, SqlStoreError> {
    json::to_column(v)
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

// ---------------------------------------------------------------------------
// users

/// Insert a user; `user_id` `None` takes the next AUTO_INCREMENT value.
async fn insert_user<'e, E>(
    ex: E,
    user_id: Option<UserId>,
    user: &NewUser,
    now: NaiveDateTime,
) -> Result<UserId, SqlStoreError>
where
    E: Executor<'e, Database = MySql>,
{
    // An explicit NULL would take the next value too, but only outside the
    // NO_AUTO_VALUE_ON_ZERO mode games; two statements are clearer.
    let sql = if user_id.is_some() {
        "INSERT INTO users (system_id, full_name, password, email, email_verified, is_active, \
         emailverify_sent_datetime, failed_login_tries, extra_info, created_on, last_updated, \
         user_role, user_id) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)"
    } else {
        "INSERT INTO users (system_id, full_name, password, email, email_verified, is_active, \
         emailverify_sent_datetime, failed_login_tries, extra_info, created_on, last_updated, \
         user_role) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"
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
        .bind(dt(now))
        .bind(&user.user_role);
    if let Some(id) = user_id {
        query = query.bind(id);
    }
    let result = query.execute(ex).await?;
    match user_id {
        Some(id) => Ok(id),
        None => i64::try_from(result.last_insert_id()).map_err(|_| SqlStoreError::Decode {
            column: "user_id",
            reason: "LAST_INSERT_ID() out of range".to_owned(),
        }),
    }
}

pub(crate) async fn create_user(
    pool: &MySqlPool,
    user: &NewUser,
    now: NaiveDateTime,
) -> Result<UserId, SqlStoreError> {
    insert_user(pool, None, user, now).await
}

pub(crate) async fn user_by_id(
    pool: &MySqlPool,
    user_id: UserId,
) -> Result<Option<User>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE user_id = ?"
    ))
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    row.map(|r| user_from_row(&r, 0)).transpose()
}

pub(crate) async fn user_by_email(
    pool: &MySqlPool,
    email: &str,
) -> Result<Option<User>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE email = ?"
    ))
    .bind(email)
    .fetch_optional(pool)
    .await?;
    row.map(|r| user_from_row(&r, 0)).transpose()
}

pub(crate) async fn list_users(pool: &MySqlPool) -> Result<Vec<User>, SqlStoreError> {
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
    pool: &MySqlPool,
    user_id: UserId,
    patch: &UserPatch,
    only_if_active: Option<bool>,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    // One static statement: each nullable column has a "set it" flag and a
    // value (so NULL can be written), the others use COALESCE. MySQL
    // placeholders are positional, so a value used twice is bound twice.
    let extra_info = match &patch.extra_info {
        Some(v) => json_param(v.as_ref())?,
        None => None,
    };
    let result = sqlx::query(
        "UPDATE users SET \
           full_name = CASE WHEN ? THEN ? ELSE full_name END, \
           password = COALESCE(?, password), \
           email = COALESCE(?, email), \
           email_verified = COALESCE(?, email_verified), \
           is_active = COALESCE(?, is_active), \
           user_role = COALESCE(?, user_role), \
           extra_info = CASE WHEN ? THEN ? ELSE extra_info END, \
           emailverify_sent_datetime = CASE WHEN ? THEN ? ELSE emailverify_sent_datetime END, \
           emailforgotpass_sent_datetime = \
             CASE WHEN ? THEN ? ELSE emailforgotpass_sent_datetime END, \
           locked_until = CASE WHEN ? THEN ? ELSE locked_until END, \
           last_updated = ? \
         WHERE user_id = ? AND (? IS NULL OR is_active = ?)",
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
    .bind(patch.locked_until.is_some())
    .bind(opt_dt(patch.locked_until.flatten()))
    .bind(dt(now))
    .bind(user_id)
    .bind(only_if_active)
    .bind(only_if_active)
    .execute(pool)
    .await?;
    // Affected rows are the rows *matched* (sqlx sets CLIENT_FOUND_ROWS), so
    // an update that changes nothing still counts, as on PostgreSQL.
    Ok(result.rows_affected())
}

pub(crate) async fn delete_user(pool: &MySqlPool, user_id: UserId) -> Result<u64, SqlStoreError> {
    let mut tx = pool.begin().await?;
    // The foreign keys cascade all of these; deleting explicitly keeps the
    // result right even on a database whose cascades are missing.
    for sql in [
        "DELETE FROM apikeys WHERE user_id = ?",
        "DELETE FROM apikeys_nosession WHERE user_id = ?",
        "DELETE FROM sessions WHERE user_id = ?",
        "DELETE FROM preferences WHERE user_id = ?",
        "DELETE FROM user_groups WHERE user_id = ?",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
    }
    let deleted = sqlx::query("DELETE FROM users WHERE user_id = ?")
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}

pub(crate) async fn superuser_role(pool: &MySqlPool) -> Result<Option<String>, SqlStoreError> {
    Ok(
        sqlx::query_scalar("SELECT user_role FROM users WHERE user_id = 1")
            .fetch_optional(pool)
            .await?,
    )
}

// ---------------------------------------------------------------------------
// user lookups by column and by extra_info, lock deadlines

pub(crate) async fn find_users(
    pool: &MySqlPool,
    column: UserColumn,
    value: &ColumnValue,
) -> Result<Vec<User>, SqlStoreError> {
    if value.kind() != column.kind() {
        return Ok(Vec::new());
    }
    let query = sqlx::query(find_users_sql_mysql(column));
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
    pool: &MySqlPool,
    wanted: &serde_json::Map<String, Value>,
) -> Result<Vec<User>, SqlStoreError> {
    if wanted.is_empty() {
        return list_users(pool).await;
    }
    // MySQL's JSON_CONTAINS and MariaDB's differ in how they compare numbers
    // (1 vs 1.0) and MariaDB's JSON paths need key quoting, so the values are
    // compared here, exactly as on the other dialects; SQL only skips users
    // without extra_info.
    let rows = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE extra_info IS NOT NULL ORDER BY user_id"
    ))
    .fetch_all(pool)
    .await?;
    let mut users = Vec::with_capacity(rows.len());
    for r in &rows {
        let user = user_from_row(r, 0)?;
        if extra_info_matches(user.extra_info.as_ref(), wanted) {
            users.push(user);
        }
    }
    Ok(users)
}

pub(crate) async fn users_with_lock_deadline(pool: &MySqlPool) -> Result<Vec<User>, SqlStoreError> {
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
    pool: &MySqlPool,
    user_id: UserId,
    restore_role: &str,
    now: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let now = dt(now);
    let changed = sqlx::query(
        "UPDATE users SET is_active = true, user_role = ?, locked_until = NULL, \
           last_updated = ? \
         WHERE user_id = ? AND locked_until IS NOT NULL AND locked_until <= ?",
    )
    .bind(restore_role)
    .bind(now)
    .bind(user_id)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

// ---------------------------------------------------------------------------
// sessions

pub(crate) async fn create_session(pool: &MySqlPool, s: &Session) -> Result<(), SqlStoreError> {
    sqlx::query(concat!(
        "INSERT INTO sessions (",
        session_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?)"
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
    pool: &MySqlPool,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<(Session, User)>, SqlStoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        session_columns_s!(),
        ", ",
        user_columns_u!(),
        " FROM sessions s JOIN users u ON u.user_id = s.user_id \
          WHERE s.session_token = ? AND s.expires > ?"
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

pub(crate) async fn delete_session(pool: &MySqlPool, token: &str) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE session_token = ?")
        .bind(token)
        .execute(pool)
        .await?
        .rows_affected())
}

pub(crate) async fn delete_user_sessions(
    pool: &MySqlPool,
    user_id: UserId,
    keep: Option<&str>,
) -> Result<u64, SqlStoreError> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE user_id = ? AND (? IS NULL OR session_token <> ?)")
            .bind(user_id)
            .bind(keep)
            .bind(keep)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub(crate) async fn user_sessions(
    pool: &MySqlPool,
    user_id: UserId,
    now: NaiveDateTime,
) -> Result<Vec<Session>, SqlStoreError> {
    // session_token has a binary collation: byte order, as COLLATE "C".
    let rows = sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE user_id = ? AND expires > ? \
          ORDER BY created, session_token"
    ))
    .bind(user_id)
    .bind(dt(now))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|r| session_from_row(r, 0)).collect()
}

pub(crate) async fn set_session_extra(
    pool: &MySqlPool,
    token: &str,
    extra: Option<&Value>,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query(
        "UPDATE sessions SET extra_info_json = ? \
         WHERE session_token = ? AND expires > ?",
    )
    .bind(json_param(extra)?)
    .bind(token)
    .bind(dt(now))
    .execute(pool)
    .await?
    .rows_affected())
}

pub(crate) async fn delete_sessions_expired_before(
    pool: &MySqlPool,
    before: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires < ?")
        .bind(dt(before))
        .execute(pool)
        .await?
        .rows_affected())
}

// ---------------------------------------------------------------------------
// roles

pub(crate) async fn list_roles(pool: &MySqlPool) -> Result<Vec<Role>, SqlStoreError> {
    // name has a binary collation: byte order.
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT name, `desc` FROM roles ORDER BY name")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(name, desc)| Role { name, desc })
        .collect())
}

async fn roles_exist<'e, E>(ex: E) -> Result<bool, SqlStoreError>
where
    E: Executor<'e, Database = MySql>,
{
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM roles LIMIT 1) AS r")
        .fetch_one(ex)
        .await?;
    Ok(n > 0)
}

pub(crate) async fn initialize(
    pool: &MySqlPool,
    data: &InitialData,
    now: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let mut tx = pool.begin().await?;
    if roles_exist(&mut *tx).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    for role in &data.roles {
        let inserted = sqlx::query("INSERT INTO roles (name, `desc`) VALUES (?, ?)")
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
                return if roles_exist(pool).await? {
                    Ok(false)
                } else {
                    Err(sqlx::Error::Database(db).into())
                };
            }
            Err(e) => return Err(e.into()),
        }
    }
    // Explicit ids, as upstream: the built-in users are 1, 2 and 3. InnoDB
    // moves AUTO_INCREMENT past them by itself.
    for (user_id, user) in (1..).zip(&data.users) {
        insert_user(&mut *tx, Some(user_id), user, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

// ---------------------------------------------------------------------------
// API keys

pub(crate) async fn create_session_apikey(
    pool: &MySqlPool,
    k: &SessionApiKey,
) -> Result<(), SqlStoreError> {
    sqlx::query(concat!(
        "INSERT INTO apikeys (",
        session_apikey_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?)"
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
    pool: &MySqlPool,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<SessionApiKey>, SqlStoreError> {
    let now = dt(now);
    let row = sqlx::query(concat!(
        "SELECT ",
        session_apikey_columns!(),
        " FROM apikeys WHERE apikey = ? AND user_id = ? AND user_role = ? \
          AND expires > ? AND issued < ? AND not_valid_before < ?"
    ))
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| session_apikey_from_row(&r)).transpose()
}

pub(crate) async fn delete_session_apikey(
    pool: &MySqlPool,
    key: ApiKeyRef<'_>,
) -> Result<u64, SqlStoreError> {
    Ok(
        sqlx::query("DELETE FROM apikeys WHERE apikey = ? AND user_id = ? AND user_role = ?")
            .bind(key.apikey)
            .bind(key.user_id)
            .bind(key.user_role)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

pub(crate) async fn create_nosession_apikey(
    pool: &MySqlPool,
    k: &NoSessionApiKey,
) -> Result<(), SqlStoreError> {
    sqlx::query(concat!(
        "INSERT INTO apikeys_nosession (",
        nosession_apikey_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
    pool: &MySqlPool,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<NoSessionApiKey>, SqlStoreError> {
    let now = dt(now);
    let row = sqlx::query(concat!(
        "SELECT ",
        nosession_apikey_columns!(),
        " FROM apikeys_nosession WHERE apikey = ? AND user_id = ? AND user_role = ? \
          AND expires > ? AND issued < ? AND not_valid_before < ?"
    ))
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| nosession_apikey_from_row(&r)).transpose()
}

pub(crate) async fn refreshable_nosession_apikey(
    pool: &MySqlPool,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<NoSessionApiKey>, SqlStoreError> {
    let now = dt(now);
    let row = sqlx::query(concat!(
        "SELECT ",
        nosession_apikey_columns!(),
        " FROM apikeys_nosession WHERE apikey = ? AND user_id = ? AND user_role = ? \
          AND refresh_expires > ? AND refresh_nbf < ? AND refresh_issued < ?"
    ))
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .bind(now)
    .bind(now)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| nosession_apikey_from_row(&r)).transpose()
}

pub(crate) async fn delete_nosession_apikey(
    pool: &MySqlPool,
    key: ApiKeyRef<'_>,
) -> Result<u64, SqlStoreError> {
    Ok(sqlx::query(
        "DELETE FROM apikeys_nosession WHERE apikey = ? AND user_id = ? AND user_role = ?",
    )
    .bind(key.apikey)
    .bind(key.user_id)
    .bind(key.user_role)
    .execute(pool)
    .await?
    .rows_affected())
}

pub(crate) async fn delete_user_nosession_apikeys(
    pool: &MySqlPool,
    user_id: UserId,
    user_role: &str,
) -> Result<u64, SqlStoreError> {
    Ok(
        sqlx::query("DELETE FROM apikeys_nosession WHERE user_id = ? AND user_role = ?")
            .bind(user_id)
            .bind(user_role)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
