//! "My sessions" (not upstream, PROTOCOL.md 3.9): a signed-in user lists
//! their active sessions (`user-sessions-list`) and ends one of them or all
//! the others (`user-sessions-revoke`); and [`end_other_sessions`], the one
//! way the server ends a user's other sessions (password change and reset,
//! and any later step that must log the user out elsewhere).
//!
//! A session is named on the wire by an opaque `session_id`, never by its
//! token: HMAC-SHA256 of the token under a key derived from the server
//! secret ([`crate::jwt::JwtKeys::session_id`], the same id as the `sid`
//! claim of `session-jwt-issue`). Every instance sharing the secret gives a
//! session the same id, and the token cannot be recovered from it.
//!
//! Deletes go through `ctx.sessions`, which in the server is the session
//! cache when it is on: each delete bumps the cache's epoch and is
//! announced on the invalidation bus, so a revoked session is gone on every
//! instance, not only on the one that revoked it.

use authnz_api::{ANONYMOUS_USER_ID, AuditEventType, AuditOutcome, Session, StoreError, UserId};
use serde_json::{Value, json};

use super::reply::{Reply, dt};
use super::request_args::{UserSessionsListArgs, UserSessionsRevokeArgs};
use super::{ActionError, Context};

/// The `session_id` that names every session of the user but the caller's.
pub const OTHERS: &str = "others";

const LISTED: &str = "Sessions listed.";
const NOT_LISTED: &str = "Could not list the sessions.";
const REVOKED_ONE: &str = "Session revoked.";
const REVOKED_OTHERS: &str = "All other sessions revoked.";
const NOT_REVOKED: &str = "Could not revoke the session.";

const NO_SESSION: &str = "session does not exist or expired";
const NOT_THEIRS: &str = "session does not belong to this user";
const ANONYMOUS: &str = "session is anonymous: sign in first";
const NO_SUCH_ID: &str = "no such session of this user";
const DB_LOOKUP: &str = "DB error when retrieving session info";
const DB_DELETE: &str = "DB error when deleting session";

/// End every session of `user_id` except the one whose token is
/// `keep_token` (if given; `None` ends them all). Returns how many ended.
///
/// The sessions' session-tied API keys go with them, and every instance
/// stops serving them at once (the session cache is invalidated). Call it
/// whenever a change to an account must log the user out elsewhere:
/// changing the password (keeping the caller's session), resetting it
/// (ending them all), enabling or disabling a second factor.
pub async fn end_other_sessions(
    ctx: &Context,
    user_id: UserId,
    keep_token: Option<&str>,
) -> Result<u64, StoreError> {
    let n = ctx
        .sessions
        .delete_user_sessions(user_id, keep_token)
        .await?;
    tracing::info!(
        user = %ctx.pii(&user_id.to_string()),
        ended = n,
        kept = keep_token.is_some(),
        "other sessions ended"
    );
    Ok(n)
}

/// Why the caller may not act on `user_id`'s sessions: the failure reason.
enum Refusal {
    Reason(&'static str),
    Store(StoreError),
}

/// The caller's session if `token` is an active session of `user_id`, a
/// signed-in (not anonymous) user.
async fn callers_session(ctx: &Context, user_id: UserId, token: &str) -> Result<Session, Refusal> {
    let (session, _user) = match ctx.sessions.active_session(token, ctx.clock.now()).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Refusal::Reason(NO_SESSION)),
        Err(e) => return Err(Refusal::Store(e)),
    };
    if session.user_id == ANONYMOUS_USER_ID {
        return Err(Refusal::Reason(ANONYMOUS));
    }
    if session.user_id != user_id {
        return Err(Refusal::Reason(NOT_THEIRS));
    }
    Ok(session)
}

/// One session as listed: never its token.
fn listed(ctx: &Context, s: &Session, current_token: &str) -> Value {
    json!({
        "session_id": ctx.jwt.session_id(&s.session_token),
        "created": dt(Some(&s.created)),
        "expires": dt(Some(&s.expires)),
        "ip_address": s.ip_address,
        "user_agent": s.user_agent,
        "current": s.session_token == current_token,
    })
}

pub async fn user_sessions_list(
    ctx: &Context,
    args: UserSessionsListArgs<'_>,
) -> Result<Reply, ActionError> {
    let refused =
        |reason: &str| Reply::failure(reason, &[NOT_LISTED]).with("sessions", Value::Null);
    let token = args.session_token;
    match callers_session(ctx, args.user_id, token).await {
        Ok(_) => {}
        Err(Refusal::Reason(reason)) => return Ok(refused(reason)),
        Err(Refusal::Store(e)) => {
            tracing::warn!(error = %e, "user-sessions-list: session look-up failed");
            return Ok(refused(DB_LOOKUP));
        }
    }
    let sessions = match ctx
        .sessions
        .user_sessions(args.user_id, ctx.clock.now())
        .await
    {
        Ok(sessions) => sessions,
        Err(e) => {
            tracing::warn!(error = %e, "user-sessions-list: listing failed");
            return Ok(refused(DB_LOOKUP));
        }
    };
    let list: Vec<Value> = sessions.iter().map(|s| listed(ctx, s, token)).collect();
    Ok(Reply::success(&[LISTED]).with("sessions", list))
}

pub async fn user_sessions_revoke(
    ctx: &Context,
    args: UserSessionsRevokeArgs<'_>,
) -> Result<Reply, ActionError> {
    let refused = |reason: &str| Reply::failure(reason, &[NOT_REVOKED]).with("revoked", 0);
    let user_id = args.user_id;
    let token = args.session_token;
    match callers_session(ctx, user_id, token).await {
        Ok(_) => {}
        Err(Refusal::Reason(reason)) => return Ok(refused(reason)),
        Err(Refusal::Store(e)) => {
            tracing::warn!(error = %e, "user-sessions-revoke: session look-up failed");
            return Ok(refused(DB_LOOKUP));
        }
    }
    if args.session_id == OTHERS {
        return Ok(match end_other_sessions(ctx, user_id, Some(token)).await {
            Ok(n) => {
                if n > 0 {
                    ctx.audit(AuditEventType::SessionRevoked, AuditOutcome::Ok)
                        .user(user_id)
                        .reason("user-others")
                        .emit();
                }
                Reply::success(&[REVOKED_OTHERS])
                    .with("revoked", n)
                    .with("current", false)
            }
            Err(e) => {
                tracing::warn!(error = %e, "user-sessions-revoke: delete failed");
                refused(DB_DELETE)
            }
        });
    }
    // Only the user's own active sessions are candidates: an id of another
    // user's session (or of an expired one) matches nothing here.
    let sessions = match ctx.sessions.user_sessions(user_id, ctx.clock.now()).await {
        Ok(sessions) => sessions,
        Err(e) => {
            tracing::warn!(error = %e, "user-sessions-revoke: listing failed");
            return Ok(refused(DB_LOOKUP));
        }
    };
    let Some(target) = sessions
        .iter()
        .find(|s| ctx.jwt.session_id(&s.session_token) == args.session_id)
    else {
        return Ok(refused(NO_SUCH_ID));
    };
    // Deleted only if still the user's (the store checks it in the same step).
    match ctx
        .sessions
        .delete_user_session(user_id, &target.session_token)
        .await
    {
        Ok(1) => {
            tracing::info!(user = %ctx.pii(&user_id.to_string()), "session revoked by its user");
            ctx.audit(AuditEventType::SessionRevoked, AuditOutcome::Ok)
                .user(user_id)
                .reason("user-one")
                .emit();
            Ok(Reply::success(&[REVOKED_ONE])
                .with("revoked", 1)
                .with("current", target.session_token == token))
        }
        Ok(_) => Ok(refused(NO_SUCH_ID)),
        Err(e) => {
            tracing::warn!(error = %e, "user-sessions-revoke: delete failed");
            Ok(refused(DB_DELETE))
        }
    }
}
