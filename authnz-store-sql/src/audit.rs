//! The `audit_events` operations of [`AuditStore`](authnz_api::AuditStore),
//! written once for every dialect (see [`crate::db`] for how).

use authnz_api::{AuditEvent, AuditQuery, AuditRecord, NewDelivery};
use sqlx::Pool;

use crate::db::{self, SqlDialect, args, sql};
use crate::error::SqlStoreError;
use crate::rows::ReadColumns;

pub(crate) async fn append_audit_events<D: SqlDialect>(
    pool: &Pool<D>,
    events: &[AuditEvent],
    deliveries: &[NewDelivery],
) -> Result<(), SqlStoreError> {
    if events.is_empty() && deliveries.is_empty() {
        return Ok(());
    }
    let sql = sql!(
        D,
        "INSERT INTO audit_events (created, event, outcome, actor_user_id, subject_user_id, ",
        "client_address, request_id, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let mut tx = db::begin_write(pool).await?;
    for e in events {
        let args = args![
            e.time,
            e.event.name(),
            e.outcome.name(),
            db::Arg::Int(e.actor_user_id),
            db::Arg::Int(e.subject_user_id),
            &e.client_address,
            &e.request_id,
            &e.reason,
        ];
        D::execute(&mut tx, sql, args).await?;
    }
    crate::webhooks::insert_deliveries(&mut tx, deliveries).await?;
    tx.commit().await?;
    Ok(())
}

/// The columns every listing reads, in [`record`]'s order.
macro_rules! audit_select {
    () => {
        "SELECT id, created, event, outcome, actor_user_id, subject_user_id, client_address, \
         request_id, reason FROM audit_events WHERE "
    };
}

/// The filters besides the subject; `?::type IS NULL` lets one statement
/// serve every combination (PostgreSQL needs the parameter's type).
macro_rules! audit_filters {
    () => {
        "(?::text IS NULL OR event = ?) \
         AND (?::timestamp IS NULL OR created >= ?) \
         AND (?::timestamp IS NULL OR created < ?) \
         AND (?::bigint IS NULL OR id < ?) \
         ORDER BY id DESC LIMIT ?"
    };
}

/// Two statements: with a subject (the `(subject_user_id, id)` index), and
/// without (the primary key, newest first).
pub(crate) async fn audit_events<D: SqlDialect>(
    pool: &Pool<D>,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>, SqlStoreError> {
    let event = q.event.as_deref();
    let mut args = Vec::new();
    let sql = match q.subject_user_id {
        Some(subject) => {
            args.push(db::Arg::from(subject));
            sql!(
                D,
                audit_select!(),
                "subject_user_id = ? AND ",
                audit_filters!()
            )
        }
        None => sql!(D, audit_select!(), audit_filters!()),
    };
    args.extend(args![
        event,
        event,
        q.since,
        q.since,
        q.until,
        q.until,
        db::Arg::Int(q.before_id),
        db::Arg::Int(q.before_id),
        i64::from(q.limit),
    ]);
    let rows = db::fetch_all(pool, sql, args).await?;
    rows.iter().map(record).collect()
}

fn record(r: &impl ReadColumns) -> Result<AuditRecord, SqlStoreError> {
    Ok(AuditRecord {
        id: r.int(0, "id")?,
        time: r.datetime(1, "created")?,
        event: r.text(2, "event")?,
        outcome: r.text(3, "outcome")?,
        actor_user_id: r.opt_int(4, "actor_user_id")?,
        subject_user_id: r.opt_int(5, "subject_user_id")?,
        client_address: r.opt_text(6, "client_address")?,
        request_id: r.opt_text(7, "request_id")?,
        reason: r.opt_text(8, "reason")?,
    })
}

/// In batches ([`db::delete_in_batches`]); the derived table around the
/// `LIMIT` is for MySQL.
pub(crate) async fn delete_audit_events_before<D: SqlDialect>(
    pool: &Pool<D>,
    before: chrono::NaiveDateTime,
) -> Result<u64, SqlStoreError> {
    let sql = sql!(
        D,
        "DELETE FROM audit_events WHERE id IN (SELECT id FROM \
         (SELECT id FROM audit_events WHERE created < ? LIMIT ",
        "1000",
        ") AS batch)"
    );
    db::delete_in_batches(pool, sql, before).await
}
