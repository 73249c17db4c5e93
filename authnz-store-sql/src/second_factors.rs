//! The operations of [`SecondFactorStore`](authnz_api::SecondFactorStore)
//! on `user_totp`, `user_recovery_codes` and `login_tickets`, written once
//! for every dialect (see [`crate::db`] for how).

use authnz_api::{LoginTicket, TotpRecord, UserId};
use chrono::NaiveDateTime;
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::ReadColumns;

pub(crate) async fn totp<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<Option<TotpRecord>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT user_id, sealed_secret, enabled, last_step, created FROM user_totp \
         WHERE user_id = ?"
    );
    let row = db::fetch_optional(pool, sql, args![user_id]).await?;
    row.map(|r| {
        Ok(TotpRecord {
            user_id: r.int(0, "user_id")?,
            sealed_secret: r.text(1, "sealed_secret")?,
            enabled: r.flag(2, "enabled")?,
            last_step: r.opt_int(3, "last_step")?,
            created: r.datetime(4, "created")?,
        })
    })
    .transpose()
}

pub(crate) async fn put_pending_totp<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    sealed_secret: &str,
    created: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    let sql = sql!(
        D,
        "UPDATE user_totp SET sealed_secret = ?, created = ?, last_step = NULL \
         WHERE user_id = ? AND enabled = ?"
    );
    let updated = D::execute(&mut tx, sql, args![sealed_secret, created, user_id, false]).await?;
    if updated.rows_affected == 0 {
        let sql = sql!(D, "SELECT enabled FROM user_totp WHERE user_id = ?");
        if D::fetch_optional(&mut tx, sql, args![user_id])
            .await?
            .is_some()
        {
            // An enabled one (a pending one was updated above).
            tx.rollback().await?;
            return Ok(false);
        }
        let sql = sql!(
            D,
            "INSERT INTO user_totp (user_id, sealed_secret, enabled, last_step, created) \
             VALUES (?, ?, ?, NULL, ?)"
        );
        D::execute(&mut tx, sql, args![user_id, sealed_secret, false, created]).await?;
    }
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn enable_totp<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    sealed_secret: &str,
    step: i64,
    recovery_hashes: &[String],
) -> Result<bool, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    let sql = sql!(
        D,
        "UPDATE user_totp SET enabled = ?, last_step = ? \
         WHERE user_id = ? AND enabled = ? AND sealed_secret = ?"
    );
    let done = D::execute(
        &mut tx,
        sql,
        args![true, step, user_id, false, sealed_secret],
    )
    .await?;
    if done.rows_affected != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    let sql = sql!(D, "DELETE FROM user_recovery_codes WHERE user_id = ?");
    D::execute(&mut tx, sql, args![user_id]).await?;
    let sql = sql!(
        D,
        "INSERT INTO user_recovery_codes (user_id, code_hash) VALUES (?, ?)"
    );
    for hash in recovery_hashes {
        D::execute(&mut tx, sql, args![user_id, hash]).await?;
    }
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn accept_totp_step<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    step: i64,
) -> Result<bool, SqlStoreError> {
    let sql = sql!(
        D,
        "UPDATE user_totp SET last_step = ? \
         WHERE user_id = ? AND enabled = ? AND (last_step IS NULL OR last_step < ?)"
    );
    Ok(db::execute(pool, sql, args![step, user_id, true, step]).await? == 1)
}

pub(crate) async fn delete_totp<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<u64, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    let sql = sql!(D, "DELETE FROM user_recovery_codes WHERE user_id = ?");
    D::execute(&mut tx, sql, args![user_id]).await?;
    let sql = sql!(D, "DELETE FROM user_totp WHERE user_id = ?");
    let done = D::execute(&mut tx, sql, args![user_id]).await?;
    tx.commit().await?;
    Ok(done.rows_affected)
}

pub(crate) async fn recovery_codes_left<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = ?"
    );
    let rows = db::fetch_all(pool, sql, args![user_id]).await?;
    let n = match rows.first() {
        Some(r) => r.int(0, "count")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or_default())
}

pub(crate) async fn use_recovery_code<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    code_hash: &str,
) -> Result<bool, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM user_recovery_codes WHERE user_id = ? AND code_hash = ?"
    );
    Ok(db::execute(pool, sql, args![user_id, code_hash]).await? == 1)
}

pub(crate) async fn create_login_ticket<D: SqlDialect>(
    pool: &Pool<D>,
    t: &LoginTicket,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO login_tickets (ticket_hash, user_id, session_hash, expires) \
         VALUES (?, ?, ?, ?)"
    );
    let args = args![&t.ticket_hash, t.user_id, &t.session_hash, t.expires];
    db::execute(pool, sql, args).await?;
    Ok(())
}

pub(crate) async fn login_ticket<D: SqlDialect>(
    pool: &Pool<D>,
    ticket_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<LoginTicket>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT ticket_hash, user_id, session_hash, expires FROM login_tickets \
         WHERE ticket_hash = ? AND expires > ?"
    );
    let row = db::fetch_optional(pool, sql, args![ticket_hash, now]).await?;
    row.map(|r| {
        Ok(LoginTicket {
            ticket_hash: r.text(0, "ticket_hash")?,
            user_id: r.int(1, "user_id")?,
            session_hash: r.text(2, "session_hash")?,
            expires: r.datetime(3, "expires")?,
        })
    })
    .transpose()
}

pub(crate) async fn consume_login_ticket<D: SqlDialect>(
    pool: &Pool<D>,
    ticket_hash: &str,
    now: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM login_tickets WHERE ticket_hash = ? AND expires > ?"
    );
    Ok(db::execute(pool, sql, args![ticket_hash, now]).await? == 1)
}

pub(crate) async fn delete_login_tickets_expired<D: SqlDialect>(
    pool: &Pool<D>,
    before: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(D, "DELETE FROM login_tickets WHERE expires <= ?");
    db::execute(pool, sql, args![before]).await
}
