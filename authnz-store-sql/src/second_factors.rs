//! The operations of [`SecondFactorStore`](authnz_api::SecondFactorStore)
//! on `user_totp`, `user_recovery_codes`, `login_tickets`, `user_passkeys`
//! and `passkey_challenges`, written once for every dialect (see
//! [`crate::db`] for how).

use authnz_api::{LoginTicket, NewPasskey, PasskeyChallenge, PasskeyRecord, TotpRecord, UserId};
use chrono::NaiveDateTime;
use sqlx::Pool;

use crate::db::{self, Arg, SqlDialect, args, sql};
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
    // The recovery codes stay while a passkey is left as a second factor.
    let sql = sql!(
        D,
        "DELETE FROM user_recovery_codes WHERE user_id = ? \
         AND NOT EXISTS (SELECT 1 FROM user_passkeys WHERE user_id = ?)"
    );
    D::execute(&mut tx, sql, args![user_id, user_id]).await?;
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

pub(crate) async fn add_passkey<D: SqlDialect>(
    pool: &Pool<D>,
    p: &NewPasskey,
    recovery_hashes: &[String],
) -> Result<i64, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    let args = args![
        p.user_id,
        &p.credential_id,
        &p.user_handle,
        &p.name,
        &p.passkey_json,
        p.sign_count,
        p.created,
    ];
    let passkey_id = if D::HAS_RETURNING {
        let sql = sql!(
            D,
            "INSERT INTO user_passkeys (user_id, credential_id, user_handle, name, \
             passkey_json, sign_count, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, NULL) \
             RETURNING passkey_id"
        );
        let row = D::fetch_optional(&mut tx, sql, args).await?;
        row.ok_or(sqlx::Error::RowNotFound)?.int(0, "passkey_id")?
    } else {
        let sql = sql!(
            D,
            "INSERT INTO user_passkeys (user_id, credential_id, user_handle, name, \
             passkey_json, sign_count, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"
        );
        let done = D::execute(&mut tx, sql, args).await?;
        done.last_insert_id.ok_or(SqlStoreError::Decode {
            column: "passkey_id",
            reason: "the driver reported no id for the new row".to_owned(),
        })?
    };
    if !recovery_hashes.is_empty() {
        let sql = sql!(D, "DELETE FROM user_recovery_codes WHERE user_id = ?");
        D::execute(&mut tx, sql, args![p.user_id]).await?;
        let sql = sql!(
            D,
            "INSERT INTO user_recovery_codes (user_id, code_hash) VALUES (?, ?)"
        );
        for hash in recovery_hashes {
            D::execute(&mut tx, sql, args![p.user_id, hash]).await?;
        }
    }
    tx.commit().await?;
    Ok(passkey_id)
}

fn passkey_from_row(r: &impl ReadColumns) -> Result<PasskeyRecord, SqlStoreError> {
    Ok(PasskeyRecord {
        passkey_id: r.int(0, "passkey_id")?,
        user_id: r.int(1, "user_id")?,
        credential_id: r.text(2, "credential_id")?,
        user_handle: r.text(3, "user_handle")?,
        name: r.text(4, "name")?,
        passkey_json: r.text(5, "passkey_json")?,
        sign_count: r.int(6, "sign_count")?,
        created: r.datetime(7, "created")?,
        last_used: r.opt_datetime(8, "last_used")?,
    })
}

pub(crate) async fn passkeys<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<Vec<PasskeyRecord>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT passkey_id, user_id, credential_id, user_handle, name, passkey_json, \
         sign_count, created, last_used FROM user_passkeys WHERE user_id = ? \
         ORDER BY passkey_id"
    );
    let rows = db::fetch_all(pool, sql, args![user_id]).await?;
    rows.iter().map(passkey_from_row).collect()
}

pub(crate) async fn passkey_by_credential_id<D: SqlDialect>(
    pool: &Pool<D>,
    credential_id: &str,
) -> Result<Option<PasskeyRecord>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT passkey_id, user_id, credential_id, user_handle, name, passkey_json, \
         sign_count, created, last_used FROM user_passkeys WHERE credential_id = ?"
    );
    let row = db::fetch_optional(pool, sql, args![credential_id]).await?;
    row.as_ref().map(passkey_from_row).transpose()
}

pub(crate) async fn passkey_count<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(D, "SELECT COUNT(*) FROM user_passkeys WHERE user_id = ?");
    let rows = db::fetch_all(pool, sql, args![user_id]).await?;
    let n = match rows.first() {
        Some(r) => r.int(0, "count")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or_default())
}

pub(crate) async fn use_passkey<D: SqlDialect>(
    pool: &Pool<D>,
    passkey_id: i64,
    passkey_json: &str,
    sign_count: i64,
    used: NaiveDateTime,
) -> Result<bool, SqlStoreError> {
    let sql = sql!(
        D,
        "UPDATE user_passkeys SET passkey_json = ?, sign_count = ?, last_used = ? \
         WHERE passkey_id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))"
    );
    let args = args![
        passkey_json,
        sign_count,
        used,
        passkey_id,
        sign_count,
        sign_count
    ];
    Ok(db::execute(pool, sql, args).await? == 1)
}

/// Delete the recovery codes of `user_id` when no second factor is left.
async fn drop_codes_without_factor<D: SqlDialect>(
    conn: &mut D::Connection,
    user_id: UserId,
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM user_recovery_codes WHERE user_id = ? \
         AND NOT EXISTS (SELECT 1 FROM user_passkeys WHERE user_id = ?) \
         AND NOT EXISTS (SELECT 1 FROM user_totp WHERE user_id = ? AND enabled = ?)"
    );
    D::execute(conn, sql, args![user_id, user_id, user_id, true]).await?;
    Ok(())
}

pub(crate) async fn delete_passkey<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
    passkey_id: i64,
) -> Result<bool, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    let sql = sql!(
        D,
        "DELETE FROM user_passkeys WHERE user_id = ? AND passkey_id = ?"
    );
    let done = D::execute(&mut tx, sql, args![user_id, passkey_id]).await?;
    if done.rows_affected != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    drop_codes_without_factor::<D>(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn delete_passkeys<D: SqlDialect>(
    pool: &Pool<D>,
    user_id: UserId,
) -> Result<u64, SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    let sql = sql!(D, "DELETE FROM user_passkeys WHERE user_id = ?");
    let done = D::execute(&mut tx, sql, args![user_id]).await?;
    drop_codes_without_factor::<D>(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(done.rows_affected)
}

pub(crate) async fn put_passkey_challenge<D: SqlDialect>(
    pool: &Pool<D>,
    c: &PasskeyChallenge,
) -> Result<(), SqlStoreError> {
    let mut tx = db::begin_write(pool).await?;
    let sql = sql!(D, "DELETE FROM passkey_challenges WHERE challenge_hash = ?");
    D::execute(&mut tx, sql, args![&c.challenge_hash]).await?;
    let sql = sql!(
        D,
        "INSERT INTO passkey_challenges (challenge_hash, user_id, kind, state_json, expires) \
         VALUES (?, ?, ?, ?, ?)"
    );
    let args = args![
        &c.challenge_hash,
        Arg::Int(c.user_id),
        &c.kind,
        &c.state_json,
        c.expires
    ];
    D::execute(&mut tx, sql, args).await?;
    tx.commit().await?;
    Ok(())
}

/// Read, then delete: the row is the caller's only if its delete removed
/// it, so of two concurrent takes exactly one gets it.
pub(crate) async fn take_passkey_challenge<D: SqlDialect>(
    pool: &Pool<D>,
    challenge_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<PasskeyChallenge>, SqlStoreError> {
    let sql = sql!(
        D,
        "SELECT challenge_hash, user_id, kind, state_json, expires FROM passkey_challenges \
         WHERE challenge_hash = ? AND expires > ?"
    );
    let Some(r) = db::fetch_optional(pool, sql, args![challenge_hash, now]).await? else {
        return Ok(None);
    };
    let found = PasskeyChallenge {
        challenge_hash: r.text(0, "challenge_hash")?,
        user_id: r.opt_int(1, "user_id")?,
        kind: r.text(2, "kind")?,
        state_json: r.text(3, "state_json")?,
        expires: r.datetime(4, "expires")?,
    };
    let sql = sql!(
        D,
        "DELETE FROM passkey_challenges WHERE challenge_hash = ? AND expires > ?"
    );
    if db::execute(pool, sql, args![challenge_hash, now]).await? != 1 {
        return Ok(None);
    }
    Ok(Some(found))
}

pub(crate) async fn delete_passkey_challenges_expired<D: SqlDialect>(
    pool: &Pool<D>,
    before: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(D, "DELETE FROM passkey_challenges WHERE expires <= ?");
    db::execute(pool, sql, args![before]).await
}
