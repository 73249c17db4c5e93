//! The `webhook_outbox` operations of [`WebhookStore`](authnz_api::WebhookStore),
//! written once for every dialect (see [`crate::db`] for how). Rows are
//! inserted by `audit::append_audit_events` in the events' transaction.

use authnz_api::{Delivery, NewDelivery};
use chrono::NaiveDateTime;
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::ReadColumns;

/// Insert `deliveries` inside the caller's transaction.
pub(crate) async fn insert_deliveries<D: SqlDialect>(
    tx: &mut sqlx::Transaction<'static, D>,
    deliveries: &[NewDelivery],
) -> Result<(), SqlStoreError> {
    let sql = sql!(
        D,
        "INSERT INTO webhook_outbox (created, endpoint, event_type, body, attempts, ",
        "next_attempt, parked) VALUES (?, ?, ?, ?, 0, ?, 0)"
    );
    for d in deliveries {
        let args = args![
            d.created,
            d.endpoint.as_str(),
            d.event_type.as_str(),
            d.body.as_str(),
            d.created
        ];
        D::execute(tx, sql, args).await?;
    }
    Ok(())
}

/// The columns every read takes, in [`delivery`]'s order.
macro_rules! outbox_select {
    () => {
        "SELECT id, endpoint, event_type, body, created, attempts, next_attempt, parked, \
         last_error FROM webhook_outbox WHERE "
    };
}

/// Pick due rows, then claim each with a conditional `UPDATE` that only one
/// of several concurrent claimers can win (the condition is re-checked on
/// the row under the database's write lock).
pub(crate) async fn claim_deliveries<D: SqlDialect>(
    pool: &Pool<D>,
    now: NaiveDateTime,
    until: NaiveDateTime,
    limit: u32,
) -> Result<Vec<Delivery>, SqlStoreError> {
    let due = sql!(
        D,
        "SELECT id FROM webhook_outbox WHERE parked = 0 AND next_attempt <= ? ",
        "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt, id LIMIT ?"
    );
    let claim = sql!(
        D,
        "UPDATE webhook_outbox SET claimed_until = ? WHERE id = ? AND parked = 0 ",
        "AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until < ?)"
    );
    let read = sql!(D, outbox_select!(), "id = ?");
    let rows = db::fetch_all(pool, due, args![now, now, i64::from(limit)]).await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = row.int(0, "id")?;
        if db::execute(pool, claim, args![until, id, now, now]).await? != 1 {
            continue;
        }
        if let Some(r) = db::fetch_optional(pool, read, args![id]).await? {
            claimed.push(delivery(&r)?);
        }
    }
    Ok(claimed)
}

pub(crate) async fn delivery_done<D: SqlDialect>(
    pool: &Pool<D>,
    id: i64,
) -> Result<bool, SqlStoreError> {
    let sql = sql!(D, "DELETE FROM webhook_outbox WHERE id = ?");
    Ok(db::execute(pool, sql, args![id]).await? > 0)
}

pub(crate) async fn delivery_failed<D: SqlDialect>(
    pool: &Pool<D>,
    id: i64,
    error: &str,
    next_attempt: Option<NaiveDateTime>,
) -> Result<bool, SqlStoreError> {
    let n = match next_attempt {
        Some(next) => {
            let sql = sql!(
                D,
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, ",
                "claimed_until = NULL, next_attempt = ? WHERE id = ?"
            );
            db::execute(pool, sql, args![error, next, id]).await?
        }
        None => {
            let sql = sql!(
                D,
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, ",
                "claimed_until = NULL, parked = 1 WHERE id = ?"
            );
            db::execute(pool, sql, args![error, id]).await?
        }
    };
    Ok(n > 0)
}

pub(crate) async fn deliveries<D: SqlDialect>(
    pool: &Pool<D>,
    parked_only: bool,
    limit: u32,
) -> Result<Vec<Delivery>, SqlStoreError> {
    let sql = sql!(D, outbox_select!(), "parked >= ? ORDER BY id LIMIT ?");
    let min = i64::from(parked_only);
    let rows = db::fetch_all(pool, sql, args![min, i64::from(limit)]).await?;
    rows.iter().map(delivery).collect()
}

pub(crate) async fn retry_parked<D: SqlDialect>(
    pool: &Pool<D>,
    id: Option<i64>,
    now: NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "UPDATE webhook_outbox SET parked = 0, attempts = 0, claimed_until = NULL, ",
        "next_attempt = ? WHERE parked = 1 AND (?::bigint IS NULL OR id = ?)"
    );
    db::execute(pool, sql, args![now, db::Arg::Int(id), db::Arg::Int(id)]).await
}

fn delivery(r: &impl ReadColumns) -> Result<Delivery, SqlStoreError> {
    let attempts = r.int(5, "attempts")?;
    Ok(Delivery {
        id: r.int(0, "id")?,
        endpoint: r.text(1, "endpoint")?,
        event_type: r.text(2, "event_type")?,
        body: r.text(3, "body")?,
        created: r.datetime(4, "created")?,
        attempts: u32::try_from(attempts).map_err(|_| SqlStoreError::Decode {
            column: "attempts",
            reason: format!("out of range: {attempts}"),
        })?,
        next_attempt: r.datetime(6, "next_attempt")?,
        parked: r.int(7, "parked")? != 0,
        last_error: r.opt_text(8, "last_error")?,
    })
}
