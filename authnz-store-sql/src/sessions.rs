//! The `sessions` operations of [`SessionStore`](authnz_api::SessionStore),
//! written once for every dialect (see [`crate::db`] for how).

use authnz_api::{Session, User, UserId};
use chrono::NaiveDateTime;
use serde_json::Value;
use sqlx::Pool;

use crate::db::{self, Arg, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::{
    SESSION_COLUMN_COUNT, session_columns, session_columns_s, session_from_row, user_columns_u,
    user_from_row,
};

pub(crate) async fn create_session<D: SqlDialect>(
    pool: &Pool<D>,
    s: &Session,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO sessions (",
        session_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?::json)"
    );
    let args = args![
        &s.session_token,
        &s.ip_address,
        &s.user_agent,
        s.user_id,
        s.created,
        s.expires,
        Arg::json(s.extra_info_json.as_ref())?,
    ];
    db::execute(pool, sql, args).await?;
    Ok(())
}

pub(crate) async fn active_session<D: SqlDialect>(
    pool: &Pool<D>,
    token: &str,
    now: NaiveDateTime,
) -> Result<Option<(Session, User)>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        session_columns_s!(),
        ", ",
        user_columns_u!(),
        " FROM sessions s JOIN users u ON u.user_id = s.user_id \
          WHERE s.session_token = ? AND s.expires > ?"
    );
    let row = db::fetch_optional(pool, sql, args![token, now]).await?;
    row.map(|r| {
        Ok((
            session_from_row(&r, 0)?,
            user_from_row(&r, SESSION_COLUMN_COUNT)?,
        ))
    })
    .transpose()
}

pub(crate) async fn delete_session<D: SqlDialect>(
    pool: &Pool<D>,
    token: &str,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(D, "DELETE FROM sessions WHERE session_token = ?");
    db::execute(pool, sql, args![token]).await
}

pub(crate) async fn delete_user_session<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    token: &str,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM sessions WHERE session_token = ? AND user_id = ?"
    );
    db::execute(pool, sql, args![token, user_id]).await
}

pub(crate) async fn delete_user_sessions<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    keep: Option<&str>,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM sessions WHERE user_id = ? AND (?::text IS NULL OR session_token <> ?)"
    );
    db::execute(pool, sql, args![user_id, keep, keep]).await
}

pub(crate) async fn user_sessions<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    now: NaiveDateTime,
) -> Result<Vec<Session>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE user_id = ? AND expires > ?"
    );
    let rows = db::fetch_all(pool, sql, args![user_id, now]).await?;
    let mut sessions = rows
        .iter()
        .map(|r| session_from_row(r, 0))
        .collect::<Result<Vec<_>, _>>()?;
    // Ordered here: tokens in byte order whatever the database's collation.
    sessions.sort_by(|a, b| (a.created, &a.session_token).cmp(&(b.created, &b.session_token)));
    Ok(sessions)
}

pub(crate) async fn set_session_extra<D: SqlDialect>(
    pool: &Pool<D>,
    token: &str,
    extra: Option<&Value>,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "UPDATE sessions SET extra_info_json = ?::json WHERE session_token = ? AND expires > ?"
    );
    db::execute(pool, sql, args![Arg::json(extra)?, token, now]).await
}

/// In batches ([`db::delete_in_batches`]). The derived table around the `LIMIT` is
/// what MySQL needs (it refuses `LIMIT` directly in an `IN` subquery); the
/// other dialects take it as it is.
pub(crate) async fn delete_sessions_expired_before<D: SqlDialect>(
    pool: &Pool<D>,
    before: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM sessions WHERE session_token IN (SELECT session_token FROM \
         (SELECT session_token FROM sessions WHERE expires < ? LIMIT ",
        "1000",
        ") AS batch)"
    );
    db::delete_in_batches(pool, sql, before).await
}
