//! The `apikeys` and `apikeys_nosession` operations of
//! [`ApiKeyStore`](authnz_api::ApiKeyStore), written once for every dialect
//! (see [`crate::db`] for how).

use authnz_api::{ApiKeyRef, NoSessionApiKey, SessionApiKey, UserId};
use chrono::NaiveDateTime;
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::{
    nosession_apikey_columns, nosession_apikey_from_row, session_apikey_columns,
    session_apikey_from_row,
};

pub(crate) async fn create_session_apikey<D: SqlDialect>(
    pool: &Pool<D>,
    k: &SessionApiKey,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO apikeys (",
        session_apikey_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?)"
    );
    let args = args![
        &k.apikey,
        k.issued,
        k.expires,
        k.not_valid_before,
        k.user_id,
        &k.user_role,
        &k.session_token,
    ];
    db::execute(pool, sql, args).await?;
    Ok(())
}

pub(crate) async fn valid_session_apikey<D: SqlDialect>(
    pool: &Pool<D>,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<SessionApiKey>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        session_apikey_columns!(),
        " FROM apikeys WHERE apikey = ? AND user_id = ? AND user_role = ? \
          AND expires > ? AND issued < ? AND not_valid_before < ?"
    );
    let args = args![key.apikey, key.user_id, key.user_role, now, now, now];
    let row = db::fetch_optional(pool, sql, args).await?;
    row.map(|r| session_apikey_from_row(&r)).transpose()
}

pub(crate) async fn delete_session_apikey<D: SqlDialect>(
    pool: &Pool<D>,
    key: ApiKeyRef<'_>,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM apikeys WHERE apikey = ? AND user_id = ? AND user_role = ?"
    );
    db::execute(pool, sql, args![key.apikey, key.user_id, key.user_role]).await
}

pub(crate) async fn create_nosession_apikey<D: SqlDialect>(
    pool: &Pool<D>,
    k: &NoSessionApiKey,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO apikeys_nosession (",
        nosession_apikey_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let args = args![
        &k.apikey,
        k.issued,
        k.expires,
        k.not_valid_before,
        &k.refresh_token,
        k.refresh_issued,
        k.refresh_expires,
        k.refresh_nbf,
        k.user_id,
        &k.user_role,
    ];
    db::execute(pool, sql, args).await?;
    Ok(())
}

pub(crate) async fn valid_nosession_apikey<D: SqlDialect>(
    pool: &Pool<D>,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<NoSessionApiKey>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        nosession_apikey_columns!(),
        " FROM apikeys_nosession WHERE apikey = ? AND user_id = ? AND user_role = ? \
          AND expires > ? AND issued < ? AND not_valid_before < ?"
    );
    let args = args![key.apikey, key.user_id, key.user_role, now, now, now];
    let row = db::fetch_optional(pool, sql, args).await?;
    row.map(|r| nosession_apikey_from_row(&r)).transpose()
}

pub(crate) async fn refreshable_nosession_apikey<D: SqlDialect>(
    pool: &Pool<D>,
    key: ApiKeyRef<'_>,
    now: NaiveDateTime,
) -> Result<Option<NoSessionApiKey>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ",
        nosession_apikey_columns!(),
        " FROM apikeys_nosession WHERE apikey = ? AND user_id = ? AND user_role = ? \
          AND refresh_expires > ? AND refresh_nbf < ? AND refresh_issued < ?"
    );
    let args = args![key.apikey, key.user_id, key.user_role, now, now, now];
    let row = db::fetch_optional(pool, sql, args).await?;
    row.map(|r| nosession_apikey_from_row(&r)).transpose()
}

pub(crate) async fn delete_nosession_apikey<D: SqlDialect>(
    pool: &Pool<D>,
    key: ApiKeyRef<'_>,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM apikeys_nosession WHERE apikey = ? AND user_id = ? AND user_role = ?"
    );
    db::execute(pool, sql, args![key.apikey, key.user_id, key.user_role]).await
}

pub(crate) async fn delete_user_nosession_apikeys<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    user_role: &str,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM apikeys_nosession WHERE user_id = ? AND user_role = ?"
    );
    db::execute(pool, sql, args![user_id, user_role]).await
}
