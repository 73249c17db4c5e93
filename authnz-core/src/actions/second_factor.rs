//! Second factors of a login (not upstream, PROTOCOL.md 3.2): the second
//! step of a login (`user-login-second-factor`) and the TOTP requests
//! (`user-totp-enroll`, `user-totp-confirm`, `user-totp-disable`). The
//! password step is `user-login` ([`super::login`]), which calls
//! [`ask_for_second_factor`] for an account with a second factor enabled.
//!
//! Failures of a code, and wrong passwords of enroll and disable, count
//! toward the login back-off and automatic lock of the user's e-mail
//! ([`crate::lockout::after_attempt`]), as wrong passwords of `user-login`
//! do. Codes, secrets, tickets and session tokens are never logged.

use authnz_api::{AuditEventType, AuditOutcome, LoginTicket, User, UserId};
use chrono::TimeDelta;
use serde_json::Value;

use super::reply::Reply;
use super::request_args::{
    UserLoginSecondFactorArgs, UserTotpConfirmArgs, UserTotpDisableArgs, UserTotpEnrollArgs,
};
use super::user_sessions::end_other_sessions;
use super::{ActionError, Context};
use crate::second_factor::{
    self as factor, KIND_PASSKEY, KIND_RECOVERY, KIND_TOTP, TICKET_LIFETIME, check_code,
    recovery_code_hash,
};
use crate::validate::text::cut_password;

/// `failure_reason` of the password step of a login that needs a second
/// factor (the pipeline neither counts it as a failure nor clears the
/// back-off for it).
pub const SECOND_FACTOR_REQUIRED: &str = "second factor required";
const SECOND_FACTOR_MESSAGE: &str = "A second factor is required.";
const LOGIN_OK: &str = "Login successful.";
const BAD_TICKET: &str = "The login has expired or is unknown. Please log in again.";
const BAD_CODE: &str = "That code didn't work.";
const ONE_FACTOR: &str = "Provide exactly one of totp_code, recovery_code and passkey_response.";
const NOT_VERIFIED: &str = "We could not verify your password.";
const NO_USER: &str = "This account cannot use a second factor.";
const ALREADY: &str = "A TOTP authenticator is already enabled for this account.";
const NOT_PENDING: &str = "There is no TOTP enrolment waiting for a code.";
const NOT_ENABLED: &str = "No TOTP authenticator is enabled for this account.";
const UNUSABLE: &str = "The TOTP authenticator cannot be used: the server secret has changed. \
                        Use a recovery code, or ask the admins.";
const ENROLLED: &str = "Scan the code with an authenticator app, then confirm with a code.";
const CONFIRMED: &str = "TOTP is enabled. Keep the recovery codes in a safe place.";
const DISABLED: &str = "TOTP is disabled.";

/// The password step of a login succeeded for `user`, who has the second
/// factors `kinds`: a ticket bound to the presented session `token`, and
/// the reply that asks for the second step (a failure, so a frontend that
/// knows nothing of second factors does not log the person in).
pub async fn ask_for_second_factor(
    ctx: &Context,
    user: &User,
    token: &str,
    kinds: Vec<&'static str>,
) -> Result<Reply, ActionError> {
    let now = ctx.clock.now();
    let store = &ctx.second_factors.store;
    // Tickets end within minutes; whoever makes one sweeps the ended ones.
    store.delete_login_tickets_expired(now).await?;
    let ticket = factor::new_ticket().map_err(|e| ActionError::internal("login ticket", e))?;
    let lifetime = TimeDelta::from_std(TICKET_LIFETIME).unwrap_or(TimeDelta::MAX);
    let record = LoginTicket {
        ticket_hash: factor::hash(&ticket),
        user_id: user.user_id,
        session_hash: factor::hash(token),
        expires: now.checked_add_signed(lifetime).unwrap_or(now),
    };
    store.create_login_ticket(&record).await?;
    metrics::counter!("authnz_logins_total", "result" => "second_factor").increment(1);
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "login needs a second factor");
    Ok(
        Reply::failure(SECOND_FACTOR_REQUIRED, &[SECOND_FACTOR_MESSAGE])
            .with("user_id", user.user_id)
            .with("second_factor", kinds)
            .with("login_ticket", ticket),
    )
}

/// A text argument given and not empty, else `None`.
pub(super) fn given_text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Count a failure toward the back-off and lock of `user`'s e-mail; the
/// lock reply if this failure locked the account, else `reply`.
pub(super) async fn count_failure(ctx: &Context, user: &User, reply: Reply) -> Reply {
    match crate::lockout::after_attempt(ctx, &user.email, false).await {
        Some(lock) => lock,
        None => reply,
    }
}

/// The user that may manage or use a second factor: active, verified, not
/// locked (an expired automatic lock is lifted first).
pub(super) async fn usable_user(
    ctx: &Context,
    user_id: UserId,
) -> Result<Option<User>, ActionError> {
    let user = ctx.users.user_by_id(user_id).await?;
    let user = crate::lockout::lift_if_expired(ctx, user).await?;
    Ok(user.filter(|u| u.is_active && u.email_verified && u.user_role != "locked"))
}

/// The usable user `user_id` (see [`usable_user`]) when `password` is
/// theirs; else the failure reply (a wrong password counts toward the
/// back-off and lock; an unknown user costs a dummy hash all the same).
pub(super) async fn user_with_password(
    ctx: &Context,
    user_id: UserId,
    password: &str,
) -> Result<Result<User, Reply>, ActionError> {
    let fail = |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_id", user_id);
    let password = cut_password(password);
    let Some(user) = usable_user(ctx, user_id).await? else {
        ctx.hasher.verify_dummy().await?;
        return Ok(Err(fail("user does not exist or is inactive", NO_USER)));
    };
    if !ctx.hasher.verify(password, &user.password).await? {
        let reply = fail("invalid password", NOT_VERIFIED);
        return Ok(Err(count_failure(ctx, &user, reply).await));
    }
    Ok(Ok(user))
}

/// Whether `code` is a current code of the enabled authenticator of
/// `user_id`, never accepted before (the step is recorded). `Err` with the
/// reply when the authenticator is missing or cannot be opened.
async fn accept_totp_code(
    ctx: &Context,
    user_id: UserId,
    code: &str,
) -> Result<Result<bool, Reply>, ActionError> {
    let store = &ctx.second_factors.store;
    let Some(record) = store.totp(user_id).await?.filter(|t| t.enabled) else {
        return Ok(Err(Reply::failure("totp not enabled", &[NOT_ENABLED])));
    };
    let secret = match ctx
        .second_factors
        .open_secret(user_id, &record.sealed_secret)
    {
        Ok(secret) => secret,
        Err(e) => {
            tracing::warn!(user = %ctx.pii(&user_id.to_string()), error = %e, "cannot open a TOTP secret");
            return Ok(Err(Reply::failure("totp unusable", &[UNUSABLE])));
        }
    };
    let Some(step) = check_code(&secret, code, ctx.clock.now()) else {
        return Ok(Ok(false));
    };
    // Refused when this step or a later one was accepted before (replay).
    Ok(Ok(store.accept_totp_step(user_id, step).await?))
}

pub async fn user_login_second_factor(
    ctx: &Context,
    args: UserLoginSecondFactorArgs<'_>,
) -> Result<Reply, ActionError> {
    let now = ctx.clock.now();
    let store = &ctx.second_factors.store;
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_id", Value::Null);
    let totp_code = given_text(args.totp_code);
    let recovery_code = given_text(args.recovery_code);
    let passkey_response = args
        .passkey_response
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    let given = [
        totp_code.is_some(),
        recovery_code.is_some(),
        passkey_response.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Ok(fail("one factor needed", ONE_FACTOR));
    }
    if passkey_response.is_some() && ctx.passkeys.is_none() {
        return Ok(fail(
            super::passkeys::NOT_CONFIGURED,
            "Passkeys are not enabled on this server.",
        ));
    }
    let ticket_hash = factor::hash(args.login_ticket);
    let Some(ticket) = store.login_ticket(&ticket_hash, now).await? else {
        return Ok(fail("invalid login ticket", BAD_TICKET));
    };
    // Bound to the session of the password step, which must still be live.
    let session = ctx.sessions.active_session(args.session_token, now).await?;
    if ticket.session_hash != factor::hash(args.session_token) || session.is_none() {
        return Ok(fail("invalid login ticket", BAD_TICKET));
    }
    let Some(user) = usable_user(ctx, ticket.user_id).await? else {
        metrics::counter!("authnz_logins_total", "result" => "locked").increment(1);
        return Ok(fail("user exists but is inactive", BAD_TICKET));
    };
    let accepted = match (totp_code, recovery_code, passkey_response) {
        (Some(code), _, _) => match accept_totp_code(ctx, user.user_id, code).await? {
            Ok(accepted) => accepted,
            Err(reply) => return Ok(reply.with("user_id", Value::Null)),
        },
        (None, Some(code), _) => {
            store
                .use_recovery_code(user.user_id, &recovery_code_hash(code))
                .await?
        }
        (None, None, Some(response)) => {
            match super::passkeys::accept_second_factor(ctx, &user, args.login_ticket, response)
                .await?
            {
                Ok(accepted) => accepted,
                Err(reply) => return Ok(reply.with("user_id", Value::Null)),
            }
        }
        (None, None, None) => false,
    };
    if !accepted {
        metrics::counter!("authnz_logins_total", "result" => "wrong_second_factor").increment(1);
        ctx.audit(AuditEventType::LoginFailed, AuditOutcome::Failed)
            .subject(user.user_id)
            .reason("wrong-second-factor")
            .emit();
        tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "second factor refused");
        return Ok(count_failure(ctx, &user, fail("wrong second factor", BAD_CODE)).await);
    }
    // Single use: of two steps racing with one ticket, one logs in.
    if !store.consume_login_ticket(&ticket_hash, now).await? {
        return Ok(fail("invalid login ticket", BAD_TICKET));
    }
    // As `user-login`: the pre-login session is consumed (session fixation).
    ctx.sessions.delete_session(args.session_token).await?;
    // A success clears the back-off counter (it never answers a lock).
    let _ = crate::lockout::after_attempt(ctx, &user.email, true).await;
    metrics::counter!("authnz_logins_total", "result" => "ok").increment(1);
    ctx.audit(AuditEventType::LoginSucceeded, AuditOutcome::Ok)
        .user(user.user_id)
        .reason(match (totp_code, recovery_code) {
            (Some(_), _) => "totp",
            (None, Some(_)) => "recovery-code",
            (None, None) => "passkey",
        })
        .emit();
    tracing::info!(
        user = %ctx.pii(&user.user_id.to_string()),
        factor = match (totp_code, recovery_code) {
            (Some(_), _) => KIND_TOTP,
            (None, Some(_)) => KIND_RECOVERY,
            (None, None) => KIND_PASSKEY,
        },
        "login successful"
    );
    Ok(Reply::success(&[LOGIN_OK])
        .with("user_id", user.user_id)
        .with("user_role", user.user_role))
}

pub async fn user_totp_enroll(
    ctx: &Context,
    args: UserTotpEnrollArgs<'_>,
) -> Result<Reply, ActionError> {
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_id", args.user_id);
    let user = match user_with_password(ctx, args.user_id, args.password).await? {
        Ok(user) => user,
        Err(reply) => return Ok(reply),
    };
    let store = &ctx.second_factors.store;
    if store.totp(user.user_id).await?.is_some_and(|t| t.enabled) {
        return Ok(fail("totp already enabled", ALREADY));
    }
    let secret = factor::new_secret().map_err(|e| ActionError::internal("totp secret", e))?;
    let sealed = ctx
        .second_factors
        .seal_secret(user.user_id, &secret)
        .map_err(|e| ActionError::internal("totp secret", e))?;
    if !store
        .put_pending_totp(user.user_id, &sealed, ctx.clock.now())
        .await?
    {
        return Ok(fail("totp already enabled", ALREADY));
    }
    let uri = ctx
        .second_factors
        .otpauth_uri(&secret, &user.email)
        .ok_or_else(|| ActionError::internal("otpauth uri", "cannot build the URI"))?;
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "TOTP enrolment started");
    Ok(Reply::success(&[ENROLLED])
        .with("user_id", user.user_id)
        .with("secret_base32", factor::base32(&secret))
        .with("otpauth_uri", uri))
}

pub async fn user_totp_confirm(
    ctx: &Context,
    args: UserTotpConfirmArgs<'_>,
) -> Result<Reply, ActionError> {
    let fail = |reason: &str, msg: &str| {
        Reply::failure(reason, &[msg])
            .with("user_id", args.user_id)
            .with("recovery_codes", Value::Null)
    };
    let Some(user) = usable_user(ctx, args.user_id).await? else {
        return Ok(fail("user does not exist or is inactive", NO_USER));
    };
    let store = &ctx.second_factors.store;
    let Some(pending) = store.totp(user.user_id).await?.filter(|t| !t.enabled) else {
        return Ok(fail("no pending totp", NOT_PENDING));
    };
    let secret = match ctx
        .second_factors
        .open_secret(user.user_id, &pending.sealed_secret)
    {
        Ok(secret) => secret,
        Err(e) => {
            tracing::warn!(user = %ctx.pii(&user.user_id.to_string()), error = %e, "cannot open a pending TOTP secret");
            return Ok(fail("no pending totp", NOT_PENDING));
        }
    };
    let Some(step) = check_code(&secret, args.totp_code, ctx.clock.now()) else {
        return Ok(fail("wrong code", BAD_CODE));
    };
    let codes =
        factor::new_recovery_codes().map_err(|e| ActionError::internal("recovery codes", e))?;
    let hashes: Vec<String> = codes.iter().map(|c| recovery_code_hash(c)).collect();
    if !store
        .enable_totp(user.user_id, &pending.sealed_secret, step, &hashes)
        .await?
    {
        return Ok(fail("no pending totp", NOT_PENDING));
    }
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "TOTP enabled");
    ctx.audit(AuditEventType::SecondFactorEnabled, AuditOutcome::Ok)
        .user(user.user_id)
        .reason("totp")
        .emit();
    end_other_sessions(ctx, user.user_id, given_text(args.session_token)).await?;
    Ok(Reply::success(&[CONFIRMED])
        .with("user_id", user.user_id)
        .with("recovery_codes", codes))
}

pub async fn user_totp_disable(
    ctx: &Context,
    args: UserTotpDisableArgs<'_>,
) -> Result<Reply, ActionError> {
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_id", args.user_id);
    let user = match user_with_password(ctx, args.user_id, args.password).await? {
        Ok(user) => user,
        Err(reply) => return Ok(reply),
    };
    match accept_totp_code(ctx, user.user_id, args.totp_code).await? {
        Ok(true) => {}
        Ok(false) => {
            let reply = fail("wrong code", BAD_CODE);
            return Ok(count_failure(ctx, &user, reply).await);
        }
        Err(reply) => return Ok(reply.with("user_id", args.user_id)),
    }
    ctx.second_factors.store.delete_totp(user.user_id).await?;
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "TOTP disabled");
    ctx.audit(AuditEventType::SecondFactorDisabled, AuditOutcome::Ok)
        .user(user.user_id)
        .reason("totp")
        .emit();
    end_other_sessions(ctx, user.user_id, given_text(args.session_token)).await?;
    Ok(Reply::success(&[DISABLED]).with("user_id", user.user_id))
}
