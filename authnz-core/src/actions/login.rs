//! Login, logout and password checks (PROTOCOL.md 3.2).
//!
//! Timing (PROTOCOL.md 5.3, Q-12 fixed): every path of `user-login`, `user-passcheck`
//! and `user-passcheck-nosession` costs exactly one Argon2 verification — the
//! user's hash when there is a user to check, the in-memory dummy hash
//! otherwise — so response times do not reveal which sessions or e-mails
//! exist. (Upstream spends two on most paths and one on some.)

use authnz_api::{AuditEventType, AuditOutcome, User, UserPatch};
use serde_json::Value;

use super::reply::Reply;
use super::request_args::{
    UserLoginArgs, UserLogoutArgs, UserPasscheckArgs, UserPasscheckNosessionArgs,
};
use super::{ActionError, Context};
use crate::validate::text::cut_password;

const BAD_COMBO: &str = "Sorry, that user ID and password combination didn't work.";
const NO_MATCH: &str = "user does not exist or password doesn't match";
const INACTIVE: &str = "user exists but is inactive";

/// Verify `password` against the user's hash, or spend the same effort on the
/// dummy hash when there is no user. True only for a real match.
async fn verify_user_or_dummy(
    ctx: &Context,
    user: Option<&User>,
    password: &str,
) -> Result<bool, ActionError> {
    let password = cut_password(password);
    match user {
        Some(u) => Ok(ctx.hasher.verify(password, &u.password).await?),
        None => {
            ctx.hasher.verify_dummy().await?;
            Ok(false)
        }
    }
}

pub async fn user_login(ctx: &Context, args: UserLoginArgs<'_>) -> Result<Reply, ActionError> {
    let token = args.session_token;
    let email = args.email;
    let password = args.password;
    let now = ctx.clock.now();

    let session = ctx.sessions.active_session(token, now).await?;
    let mut locked = false;
    // The account the e-mail names, whether or not it may log in (for the
    // audit log).
    let mut found = None;
    let user = match session {
        None => None,
        Some(_) => {
            let user = ctx.users.user_by_email(email).await?;
            let user = crate::lockout::lift_if_expired(ctx, user).await?;
            locked = user.as_ref().is_some_and(|u| u.user_role == "locked");
            found = user.as_ref().map(|u| u.user_id);
            user.filter(|u| u.is_active && u.email_verified)
        }
    };
    let matched = verify_user_or_dummy(ctx, user.as_ref(), password).await?;

    // Not upstream: the right password of an unlocked account with a second
    // factor enabled starts a login ticket instead of logging in. The
    // presented session stays, bound to the ticket; the second step
    // (`user-login-second-factor`) consumes it. Accounts without a second
    // factor go on exactly as before.
    if let (Some(u), true) = (user.as_ref(), matched)
        && u.user_role != "locked"
    {
        let kinds = ctx.second_factors.enabled_kinds(u.user_id).await?;
        if !kinds.is_empty() {
            rehash_if_needed(ctx, u, password).await;
            return super::second_factor::ask_for_second_factor(ctx, u, token, kinds).await;
        }
    }

    // The presented session is always consumed, success or not. If it cannot
    // be deleted the login fails (a storage error, HTTP 400 like every other
    // database error here): logging in while the pre-login session lives on
    // would let whoever planted that session ride the login (session
    // fixation).
    ctx.sessions.delete_session(token).await?;

    let failed = |reason| {
        let event = match reason {
            "locked" => AuditEventType::LoginLocked,
            _ => AuditEventType::LoginFailed,
        };
        let pending = ctx.audit(event, AuditOutcome::Failed).reason(reason);
        match found {
            Some(id) => pending.subject(id).emit(),
            None => pending.emit(),
        }
    };
    if session.is_none() {
        failed("no-session");
        return Ok(
            Reply::failure("session does not exist", &["No session token provided."])
                .with("user_id", Value::Null),
        );
    }
    let known = user.is_some();
    let (Some(user), true) = (user, matched) else {
        let result = match (locked, known) {
            (true, _) => "locked",
            (false, false) => "unknown",
            (false, true) => "wrong_password",
        };
        metrics::counter!("authnz_logins_total", "result" => result).increment(1);
        failed(match result {
            "unknown" if found.is_some() => "inactive",
            "unknown" => "unknown-user",
            "wrong_password" => "wrong-password",
            other => other,
        });
        tracing::info!(email = %ctx.pii(email), "login failed");
        return Ok(Reply::failure(NO_MATCH, &[BAD_COMBO]).with("user_id", Value::Null));
    };

    rehash_if_needed(ctx, &user, password).await;

    if user.user_role == "locked" {
        metrics::counter!("authnz_logins_total", "result" => "locked").increment(1);
        failed("locked");
        return Ok(Reply::failure(INACTIVE, &[BAD_COMBO]).with("user_id", user.user_id));
    }
    metrics::counter!("authnz_logins_total", "result" => "ok").increment(1);
    ctx.audit(AuditEventType::LoginSucceeded, AuditOutcome::Ok)
        .user(user.user_id)
        .emit();
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "login successful");
    Ok(Reply::success(&["Login successful."])
        .with("user_id", user.user_id)
        .with("user_role", user.user_role))
}

/// Store a new hash of `password` when the user's hash has older
/// parameters (failures are logged: the login goes on).
async fn rehash_if_needed(ctx: &Context, user: &User, password: &str) {
    if !ctx.hasher.needs_rehash(&user.password) {
        return;
    }
    match ctx.hasher.hash(cut_password(password)).await {
        Ok(new_hash) => {
            let patch = UserPatch {
                password: Some(new_hash),
                ..UserPatch::default()
            };
            let now = ctx.clock.now();
            if let Err(e) = ctx.users.update_user(user.user_id, &patch, None, now).await {
                tracing::warn!(error = %e, "rehash on login: could not store the new hash");
            }
        }
        Err(e) => tracing::warn!(error = %e, "rehash on login failed"),
    }
}

pub async fn user_logout(ctx: &Context, args: UserLogoutArgs<'_>) -> Result<Reply, ActionError> {
    const MSG: &str = "Logout failed. Invalid session_token for user_id.";
    let token = args.session_token;
    let given = args.user_id.given.clone();
    let user_id = Some(args.user_id.value);

    let Some((session, _user)) = ctx.sessions.active_session(token, ctx.clock.now()).await? else {
        return Ok(Reply::failure("session does not exist", &[MSG]).with("user_id", given));
    };
    if Some(session.user_id) != user_id {
        return Ok(Reply::failure("user does not exist", &[MSG]).with("user_id", given));
    }
    if ctx.sessions.delete_session(token).await? != 1 {
        return Ok(Reply::failure("delete session failed", &[MSG]).with("user_id", given));
    }
    ctx.audit(AuditEventType::Logout, AuditOutcome::Ok)
        .user(session.user_id)
        .emit();
    Ok(Reply::success(&["Logout successful."]).with("user_id", session.user_id))
}

/// The shared tail of both passchecks: verify, then report inactive/locked.
async fn passcheck_user(
    ctx: &Context,
    user: Option<User>,
    password: &str,
) -> Result<Reply, ActionError> {
    let matched = verify_user_or_dummy(ctx, user.as_ref(), password).await?;
    let (Some(user), true) = (user, matched) else {
        return Ok(Reply::failure(NO_MATCH, &[BAD_COMBO]).with("user_id", Value::Null));
    };
    if !user.is_active || user.user_role == "locked" {
        return Ok(Reply::failure(INACTIVE, &[BAD_COMBO]).with("user_id", user.user_id));
    }
    Ok(Reply::success(&["Verification successful."])
        .with("user_id", user.user_id)
        .with("user_role", user.user_role))
}

pub async fn user_passcheck(
    ctx: &Context,
    args: UserPasscheckArgs<'_>,
) -> Result<Reply, ActionError> {
    let token = args.session_token;
    let password = args.password;
    match ctx.sessions.active_session(token, ctx.clock.now()).await? {
        None => {
            ctx.hasher.verify_dummy().await?;
            Ok(
                Reply::failure("session does not exist", &["No session token provided."])
                    .with("user_id", Value::Null),
            )
        }
        Some((_session, user)) => passcheck_user(ctx, Some(user), password).await,
    }
}

pub async fn user_passcheck_nosession(
    ctx: &Context,
    args: UserPasscheckNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    let email = args.email;
    let password = args.password;
    let user = ctx.users.user_by_email(email).await?;
    let user = crate::lockout::lift_if_expired(ctx, user).await?;
    passcheck_user(ctx, user, password).await
}
