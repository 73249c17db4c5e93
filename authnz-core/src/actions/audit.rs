//! `internal-audit-list` (not upstream): the audit log, newest first, with
//! keyset pagination. Internal: no permission check, for the frontend's own
//! administration pages.

use std::time::Duration;

use authnz_api::{AuditEventType, AuditQuery, AuditRecord};
use chrono::NaiveDateTime;
use serde_json::{Value, json};

use super::args::py_int;
use super::reply::Reply;
use super::request_args::InternalAuditListArgs;
use super::{ActionError, Context};

/// The most events one page holds.
pub const MAX_LIMIT: i64 = 1_000;

/// How long a listing waits for this instance's queued events to be
/// written first.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

const LISTED: &str = "Audit events listed.";
const FAILED: &str = "Audit events could not be listed.";

fn fail(reason: &str) -> Reply {
    Reply::failure(reason, &[FAILED])
        .with("events", Value::Null)
        .with("next_cursor", Value::Null)
}

/// A truthy optional text argument (the schema checked it is a `str`).
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn time(v: Option<&Value>) -> Result<Option<NaiveDateTime>, ()> {
    match text(v) {
        None => Ok(None),
        Some(s) => authnz_api::time::parse_stored_text(s).map(Some).ok_or(()),
    }
}

/// The cursor of the page after one ending with `last`: opaque to clients
/// (today the event id as text).
fn cursor_after(last: &AuditRecord) -> String {
    last.id.to_string()
}

/// One listed event on the wire.
pub fn event_json(r: &AuditRecord) -> Value {
    json!({
        "id": r.id,
        "time": authnz_api::time::to_isoformat(&r.time),
        "event": r.event,
        "outcome": r.outcome,
        "actor_user_id": r.actor_user_id,
        "subject_user_id": r.subject_user_id,
        "client_address": r.client_address,
        "request_id": r.request_id,
        "reason": r.reason,
    })
}

pub async fn internal_audit_list(
    ctx: &Context,
    args: InternalAuditListArgs<'_>,
) -> Result<Reply, ActionError> {
    if !(1..=MAX_LIMIT).contains(&args.limit) {
        return Ok(fail("limit must be between 1 and 1000"));
    }
    let event = text(args.event);
    if event.is_some_and(|e| AuditEventType::from_name(e).is_none()) {
        return Ok(fail("unknown event type"));
    }
    let (Ok(since), Ok(until)) = (time(args.since), time(args.until)) else {
        return Ok(fail(
            "since and until must be ISO 8601 date-times (YYYY-MM-DDTHH:MM:SS[.ffffff])",
        ));
    };
    let before_id = match text(args.cursor) {
        None => None,
        Some(c) => match c.parse::<i64>() {
            Ok(id) if id > 0 => Some(id),
            _ => return Ok(fail("invalid cursor")),
        },
    };
    let query = AuditQuery {
        subject_user_id: args.user_id.and_then(py_int),
        event: event.map(str::to_owned),
        since,
        until,
        before_id,
        // One more than asked: whether there is a next page.
        limit: u32::try_from(args.limit + 1).unwrap_or(u32::MAX),
    };
    // What this instance recorded before the request is listed with it.
    if !ctx.audit_log.flush(FLUSH_WAIT).await {
        tracing::warn!("internal-audit-list: queued audit events not written yet; listing anyway");
    }
    let mut records = match ctx.audit_store.audit_events(&query).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "internal-audit-list: cannot read the audit log");
            return Ok(fail("exception when reading the audit log"));
        }
    };
    let more = records.len() as i64 > args.limit;
    records.truncate(usize::try_from(args.limit).unwrap_or(0));
    let next_cursor = match records.last() {
        Some(last) if more => Value::from(cursor_after(last)),
        _ => Value::Null,
    };
    let events: Vec<Value> = records.iter().map(event_json).collect();
    Ok(Reply::success(&[LISTED])
        .with("events", events)
        .with("next_cursor", next_cursor))
}
