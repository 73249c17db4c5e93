//! The `oauth_identities` and `oauth_states` operations of
//! [`OAuthStore`](authnz_api::OAuthStore), written once for every dialect
//! (see [`crate::db`] for how).

use authnz_api::{OAuthIdentity, OAuthState, UserId};
use chrono::NaiveDateTime;
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::ReadColumns;

pub(crate) async fn add_oauth_state<D: SqlDialect>(
    pool: &Pool<D>,
    s: &OAuthState,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO oauth_states (state, provider, session_token, pkce_verifier, nonce, ",
        "redirect_uri, expires) VALUES (?, ?, ?, ?, ?, ?, ?)"
    );
    let args = args![
        &s.state,
        &s.provider,
        &s.session_token,
        &s.pkce_verifier,
        &s.nonce,
        &s.redirect_uri,
        s.expires,
    ];
    db::execute(pool, sql, args).await?;
    Ok(())
}

/// Read, then delete: the row is the caller's only if its delete removed it,
/// so of two concurrent takes exactly one gets it.
pub(crate) async fn take_oauth_state<D: SqlDialect>(
    pool: &Pool<D>,
    state: &str,
) -> Result<Option<OAuthState>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT state, provider, session_token, pkce_verifier, nonce, redirect_uri, expires ",
        "FROM oauth_states WHERE state = ?"
    );
    let Some(r) = db::fetch_optional(pool, sql, args![state]).await? else {
        return Ok(None);
    };
    let found = OAuthState {
        state: r.text(0, "state")?,
        provider: r.text(1, "provider")?,
        session_token: r.text(2, "session_token")?,
        pkce_verifier: r.text(3, "pkce_verifier")?,
        nonce: r.text(4, "nonce")?,
        redirect_uri: r.text(5, "redirect_uri")?,
        expires: r.datetime(6, "expires")?,
    };
    let sql = sql!(D, "DELETE FROM oauth_states WHERE state = ?");
    if db::execute(pool, sql, args![state]).await? != 1 {
        return Ok(None);
    }
    Ok(Some(found))
}

pub(crate) async fn delete_oauth_states_expired_before<D: SqlDialect>(
    pool: &Pool<D>,
    before: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(D, "DELETE FROM oauth_states WHERE expires < ?");
    db::execute(pool, sql, args![before]).await
}

pub(crate) async fn add_oauth_identity<D: SqlDialect>(
    pool: &Pool<D>,
    i: &OAuthIdentity,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO oauth_identities (provider, subject, user_id, created) VALUES (?, ?, ?, ?)"
    );
    db::execute(
        pool,
        sql,
        args![&i.provider, &i.subject, i.user_id, i.created],
    )
    .await?;
    Ok(())
}

fn identity_from_row(r: &impl ReadColumns) -> Result<OAuthIdentity, SqlStoreError> {
    Ok(OAuthIdentity {
        provider: r.text(0, "provider")?,
        subject: r.text(1, "subject")?,
        user_id: r.int(2, "user_id")?,
        created: r.datetime(3, "created")?,
    })
}

pub(crate) async fn oauth_identity<D: SqlDialect>(
    pool: &Pool<D>,
    provider: &str,
    subject: &str,
) -> Result<Option<OAuthIdentity>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT provider, subject, user_id, created FROM oauth_identities ",
        "WHERE provider = ? AND subject = ?"
    );
    db::fetch_optional(pool, sql, args![provider, subject])
        .await?
        .map(|r| identity_from_row(&r))
        .transpose()
}

pub(crate) async fn user_oauth_identities<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<Vec<OAuthIdentity>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT provider, subject, user_id, created FROM oauth_identities WHERE user_id = ?"
    );
    let rows = db::fetch_all(pool, sql, args![user_id]).await?;
    let mut found = rows
        .iter()
        .map(identity_from_row)
        .collect::<Result<Vec<_>, SqlStoreError>>()?;
    // Ordered here, in byte order whatever the collation.
    found.sort_by(|a, b| a.provider.cmp(&b.provider));
    Ok(found)
}

pub(crate) async fn delete_oauth_identity<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    provider: &str,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM oauth_identities WHERE user_id = ? AND provider = ?"
    );
    db::execute(pool, sql, args![user_id, provider]).await
}
