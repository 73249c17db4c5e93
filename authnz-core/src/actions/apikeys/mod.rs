//! API keys (PROTOCOL.md 3.6): session-tied keys (`apikey-new`, `apikey-verify`,
//! `apikey-revoke`) and no-session keys with refresh tokens
//! (`apikey-new-nosession`, `apikey-verify-nosession`,
//! `apikey-revoke-nosession`, `apikey-revokeall-nosession`,
//! `apikey-refresh-nosession`).
//!
//! The server never signs a key: it stores the random `tkn` with its time
//! window and returns the claims as JSON text ([`claims`]). Every operation
//! first asks [`check_access`] whether the caller may `create`, `view` or
//! `delete` an `apikey` owned by the key's user. Refresh tokens are stored
//! only as Argon2 hashes (the password hasher and parameters); keys, tokens
//! and refresh tokens are never logged.

pub mod claims;

use authnz_api::{AuditEventType, AuditOutcome};
use authnz_api::{NoSessionApiKey, SessionApiKey, UserId};
use chrono::TimeDelta;
use serde_json::{Map, Value};

use super::access::{AccessOutcome, AccessRequest, check_access};
use super::reply::{Reply, dt};
use super::request_args::{
    ApikeyNewArgs, ApikeyNewNosessionArgs, ApikeyRefreshNosessionArgs, ApikeyRevokeArgs,
    ApikeyRevokeNosessionArgs, ApikeyRevokeallNosessionArgs, ApikeyVerifyArgs,
    ApikeyVerifyNosessionArgs,
};
use super::sessions::new_session_token;
use super::{ActionError, Context};
use claims::{NewClaims, PresentedKey, add, required_claim, seconds, whole_seconds};

const NOT_ALLOWED_TO_OPERATE: &str = "originating user is not allowed to operate on this API key";
const VERIFY_DENIED: &str =
    "API key verification failed. You are not allowed to operate on this API key.";
const REVOKE_DENIED: &str =
    "API key revocation failed. You are not allowed to operate on this API key.";
const ISSUE_DENIED: &str = "API key issuance failed. You are not allowed to issue an API key.";
const VERIFY_FAILED: (&str, &str) = (
    "key validation failed, provided key does not match stored key or has expired",
    "API key could not be verified.",
);
const REVOKE_PROCESSED: &str = "API key revocation processed.";
const REFRESH_FAILED: &str = "API key refresh failed. The API key presented does not have a valid \
     refresh token. You may need to login again to generate a new API key.";
/// Sic: no space after the period (PROTOCOL.md 3.6).
const REFRESH_FAILED_SIC: &str = "API key refresh failed. The API key presented does not have a \
     valid refresh token.You may need to login again to generate a new API key.";

/// May the caller do `action` on an API key owned by `owner`? (The access
/// check of PROTOCOL.md 6.3 with item `apikey`, visibility `private`, no sharing.)
async fn allowed(
    ctx: &Context,
    user_id: UserId,
    user_role: &str,
    action: &str,
    owner: UserId,
) -> bool {
    let outcome = check_access(
        ctx,
        &AccessRequest {
            user_id,
            user_role,
            action,
            target_name: "apikey",
            target_owner: owner,
            target_visibility: "private",
            target_sharedwith: "",
        },
    )
    .await;
    outcome == AccessOutcome::Granted
}

/// `subject` may be a string or a list of strings (the documented form; the
/// upstream schema only takes a string).
fn subject(v: &Value) -> Result<&Value, ActionError> {
    match v {
        Value::String(_) => Ok(v),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(v),
        _ => Err(ActionError::Unhandled(
            "subject must be a string or a list of strings".to_owned(),
        )),
    }
}

/// The caller of verify/revoke requests and the key they present.
fn caller_and_key(caller: Caller<'_>) -> Result<(UserId, &str, PresentedKey<'_>), ActionError> {
    let key = PresentedKey::from_dict(caller.apikey_dict)?;
    Ok((caller.user_id, caller.user_role, key))
}

/// The arguments the verify and revoke requests share.
#[derive(Clone, Copy)]
struct Caller<'a> {
    apikey_dict: &'a Map<String, Value>,
    user_id: UserId,
    user_role: &'a str,
}

/// The [`Caller`] of a verify or revoke request's arguments.
macro_rules! caller {
    ($args:expr) => {
        Caller {
            apikey_dict: $args.apikey_dict,
            user_id: $args.user_id,
            user_role: $args.user_role,
        }
    };
}

pub async fn apikey_new(ctx: &Context, args: ApikeyNewArgs<'_>) -> Result<Reply, ActionError> {
    let user_id = args.user_id;
    let user_role = args.user_role;
    let ip_address = args.ip_address;
    let user_agent = args.user_agent;
    let sub = subject(args.subject)?;
    let nbf_after = seconds(args.not_valid_before, "not_valid_before")?;
    let expires_days = TimeDelta::try_days(args.expires_days)
        .ok_or_else(|| ActionError::Unhandled("expires_days out of range".to_owned()))?;

    if !allowed(ctx, user_id, user_role, "create", user_id).await {
        return Ok(Reply::failure(
            "user not allowed to issue API key",
            &[ISSUE_DENIED],
        ));
    }
    let invalid_session = |message: &str| {
        Reply::failure(
            "invalid session for user requesting API key issuance",
            &[message],
        )
        .with("apikey", Value::Null)
        .with("expires", Value::Null)
    };
    let now = ctx.clock.now();
    let token = args.session_token;
    let Some((session, user)) = ctx.sessions.active_session(token, now).await? else {
        return Ok(invalid_session(
            "Invalid session token for API key issuance request.",
        ));
    };
    if session.user_id != user_id
        || session.ip_address != ip_address
        || session.user_agent != user_agent
        || user.user_role != user_role
    {
        return Ok(invalid_session(
            "DB session user_id, ip_address, user_agent, user_role does not match provided \
             session info.",
        ));
    }
    let key = SessionApiKey {
        apikey: new_session_token()?,
        issued: now,
        expires: add(now, expires_days)?,
        not_valid_before: add(now, nbf_after)?,
        user_id,
        user_role: user_role.to_owned(),
        session_token: session.session_token.clone(),
    };
    ctx.apikeys.create_session_apikey(&key).await?;
    let text = NewClaims {
        iss: args.issuer,
        ver: args.apiversion,
        uid: user_id,
        rol: user_role,
        usa: Some(user_agent),
        aud: args.audience,
        sub,
        ipa: ip_address,
        tkn: &key.apikey,
        iat: key.issued,
        nbf: key.not_valid_before,
        exp: key.expires,
    }
    .to_json_text();
    tracing::info!(user = %ctx.pii(&user_id.to_string()), "session-tied API key issued");
    ctx.audit(AuditEventType::ApikeyIssued, AuditOutcome::Ok)
        .user(user_id)
        .reason("session")
        .emit();
    let expires = dt(Some(&key.expires));
    let message = format!(
        "API key generated successfully, expires: {}.",
        expires.as_str().unwrap_or_default()
    );
    Ok(Reply::success(&[message])
        .with("apikey", text)
        .with("expires", expires))
}

/// What a no-session key is issued with (from `apikey-new-nosession`, or from
/// the old claims and the request in `apikey-refresh-nosession`).
struct NoSessionIssue<'a> {
    issuer: &'a Value,
    audience: &'a Value,
    subject: &'a Value,
    apiversion: &'a Value,
    user_id: UserId,
    user_role: &'a str,
    ip_address: &'a str,
    expires: TimeDelta,
    not_valid_before: TimeDelta,
    refresh_expires: TimeDelta,
    refresh_nbf: TimeDelta,
}

impl<'a> NoSessionIssue<'a> {
    /// The timing arguments of a request: `expires_seconds`,
    /// `not_valid_before`, `refresh_expires`, `refresh_nbf`.
    fn durations(
        expires_seconds: i64,
        not_valid_before: &Value,
        refresh_expires: i64,
        refresh_nbf: &Value,
    ) -> Result<[TimeDelta; 4], ActionError> {
        Ok([
            whole_seconds(expires_seconds, "expires_seconds")?,
            seconds(not_valid_before, "not_valid_before")?,
            whole_seconds(refresh_expires, "refresh_expires")?,
            seconds(refresh_nbf, "refresh_nbf")?,
        ])
    }
}

/// Issue a no-session key; `None` when the caller may not (the reply is then
/// the caller's to build).
async fn issue_nosession(
    ctx: &Context,
    p: &NoSessionIssue<'_>,
) -> Result<Option<Reply>, ActionError> {
    if !allowed(ctx, p.user_id, p.user_role, "create", p.user_id).await {
        return Ok(None);
    }
    let now = ctx.clock.now();
    let refresh_token = new_session_token()?;
    let key = NoSessionApiKey {
        apikey: new_session_token()?,
        issued: now,
        expires: add(now, p.expires)?,
        not_valid_before: add(now, p.not_valid_before)?,
        refresh_token: ctx.hasher.hash(&refresh_token).await?,
        refresh_issued: now,
        refresh_expires: add(now, p.refresh_expires)?,
        refresh_nbf: add(now, p.refresh_nbf)?,
        user_id: p.user_id,
        user_role: p.user_role.to_owned(),
    };
    ctx.apikeys.create_nosession_apikey(&key).await?;
    let text = NewClaims {
        iss: p.issuer,
        ver: p.apiversion,
        uid: p.user_id,
        rol: p.user_role,
        usa: None,
        aud: p.audience,
        sub: p.subject,
        ipa: p.ip_address,
        tkn: &key.apikey,
        iat: key.issued,
        nbf: key.not_valid_before,
        exp: key.expires,
    }
    .to_json_text();
    tracing::info!(user = %ctx.pii(&p.user_id.to_string()), "no-session API key issued");
    ctx.audit(AuditEventType::ApikeyIssued, AuditOutcome::Ok)
        .user(p.user_id)
        .reason("nosession")
        .emit();
    let expires = dt(Some(&key.expires));
    let message = format!(
        "API key generated successfully, expires: {}.",
        expires.as_str().unwrap_or_default()
    );
    Ok(Some(
        Reply::success(&[message])
            .with("apikey", text)
            .with("expires", expires)
            .with("refresh_token", refresh_token)
            .with("refresh_token_expires", dt(Some(&key.refresh_expires))),
    ))
}

pub async fn apikey_new_nosession(
    ctx: &Context,
    args: ApikeyNewNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    let [expires, not_valid_before, refresh_expires, refresh_nbf] = NoSessionIssue::durations(
        args.expires_seconds,
        args.not_valid_before,
        args.refresh_expires,
        args.refresh_nbf,
    )?;
    let issue = NoSessionIssue {
        issuer: args.issuer,
        audience: args.audience,
        subject: subject(args.subject)?,
        apiversion: args.apiversion,
        user_id: args.user_id,
        user_role: args.user_role,
        ip_address: args.ip_address,
        expires,
        not_valid_before,
        refresh_expires,
        refresh_nbf,
    };
    Ok(match issue_nosession(ctx, &issue).await? {
        Some(reply) => reply,
        None => Reply::failure(
            "originating user is not allowed to issue an API key",
            &[ISSUE_DENIED],
        ),
    })
}

/// Verify a presented key of either kind; `Ok(Err(reply))` is a failure
/// reply, `Ok(Ok(reply))` success.
async fn verify(
    ctx: &Context,
    caller: Caller<'_>,
    nosession: bool,
) -> Result<Result<Reply, Reply>, ActionError> {
    let (user_id, user_role, key) = caller_and_key(caller)?;
    let failed = |reason| {
        ctx.audit(AuditEventType::ApikeyVerifyFailed, AuditOutcome::Failed)
            .actor(user_id)
            .subject(key.uid)
            .reason(reason)
            .emit();
    };
    if !allowed(ctx, user_id, user_role, "view", key.uid).await {
        failed("not-allowed");
        return Ok(Err(Reply::failure(
            NOT_ALLOWED_TO_OPERATE,
            &[VERIFY_DENIED],
        )));
    }
    let now = ctx.clock.now();
    let expires = if nosession {
        ctx.apikeys
            .valid_nosession_apikey(key.as_ref(), now)
            .await?
            .map(|k| k.expires)
    } else {
        ctx.apikeys
            .valid_session_apikey(key.as_ref(), now)
            .await?
            .map(|k| k.expires)
    };
    let Some(expires) = expires else {
        failed("invalid");
        return Ok(Err(Reply::failure(VERIFY_FAILED.0, &[VERIFY_FAILED.1])));
    };
    let expires = dt(Some(&expires));
    let what = if nosession {
        "No-session API key"
    } else {
        "API key"
    };
    Ok(Ok(Reply::success(&[format!(
        "{what} verified successfully. Expires: {}.",
        expires.as_str().unwrap_or_default()
    )])))
}

pub async fn apikey_verify(
    ctx: &Context,
    args: ApikeyVerifyArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(verify(ctx, caller!(args), false)
        .await?
        .unwrap_or_else(|r| r))
}

pub async fn apikey_verify_nosession(
    ctx: &Context,
    args: ApikeyVerifyNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    Ok(verify(ctx, caller!(args), true)
        .await?
        .unwrap_or_else(|r| r))
}

/// Revoke a presented key of either kind; the number of rows deleted, or
/// `None` when the caller may not.
async fn revoke(
    ctx: &Context,
    user_id: UserId,
    user_role: &str,
    key: PresentedKey<'_>,
    nosession: bool,
) -> Result<Option<u64>, ActionError> {
    let pending = |outcome| {
        ctx.audit(AuditEventType::ApikeyRevoked, outcome)
            .actor(user_id)
            .subject(key.uid)
    };
    if !allowed(ctx, user_id, user_role, "delete", key.uid).await {
        pending(AuditOutcome::Failed).reason("not-allowed").emit();
        return Ok(None);
    }
    let deleted = if nosession {
        ctx.apikeys.delete_nosession_apikey(key.as_ref()).await?
    } else {
        ctx.apikeys.delete_session_apikey(key.as_ref()).await?
    };
    if deleted > 0 {
        pending(AuditOutcome::Ok).emit();
    }
    Ok(Some(deleted))
}

async fn revoke_action(
    ctx: &Context,
    caller: Caller<'_>,
    nosession: bool,
) -> Result<Reply, ActionError> {
    let (user_id, user_role, key) = caller_and_key(caller)?;
    Ok(
        match revoke(ctx, user_id, user_role, key, nosession).await? {
            None => Reply::failure(NOT_ALLOWED_TO_OPERATE, &[REVOKE_DENIED]),
            Some(1) => Reply::success(&[REVOKE_PROCESSED]),
            Some(_) => Reply::failure_without_reason(&[REVOKE_PROCESSED]),
        },
    )
}

pub async fn apikey_revoke(
    ctx: &Context,
    args: ApikeyRevokeArgs<'_>,
) -> Result<Reply, ActionError> {
    revoke_action(ctx, caller!(args), false).await
}

pub async fn apikey_revoke_nosession(
    ctx: &Context,
    args: ApikeyRevokeNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    revoke_action(ctx, caller!(args), true).await
}

pub async fn apikey_revokeall_nosession(
    ctx: &Context,
    args: ApikeyRevokeallNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    let (user_id, user_role, key) = caller_and_key(caller!(args))?;
    if !allowed(ctx, user_id, user_role, "delete", key.uid).await {
        return Ok(Reply::failure(
            "originating user is not allowed to delete API keys",
            &["All API keys revocation failed. You are not allowed to delete API keys."],
        ));
    }
    if verify(ctx, caller!(args), true).await?.is_err() {
        return Ok(Reply::failure(
            "provided API key is invalid, revoke-all operation requires a valid key to start \
             with",
            &["All API keys revocation failed. The API key presented is invalid."],
        ));
    }
    let deleted = ctx
        .apikeys
        .delete_user_nosession_apikeys(key.uid, key.rol)
        .await?;
    tracing::info!(user = %ctx.pii(&key.uid.to_string()), deleted, "no-session API keys revoked");
    ctx.audit(AuditEventType::ApikeyRevoked, AuditOutcome::Ok)
        .actor(user_id)
        .subject(key.uid)
        .reason("all-nosession")
        .emit();
    Ok(Reply::success(&["All API keys revocation processed."])
        .with("revoked_keys", deleted)
        .with("deleted_keys", deleted))
}

pub async fn apikey_refresh_nosession(
    ctx: &Context,
    args: ApikeyRefreshNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    let (user_id, user_role, key) = caller_and_key(caller!(args))?;
    let dict = args.apikey_dict;
    let [iss, ver, aud, sub] = [
        required_claim(dict, "iss")?,
        required_claim(dict, "ver")?,
        required_claim(dict, "aud")?,
        required_claim(dict, "sub")?,
    ];
    let [expires, not_valid_before, refresh_expires, refresh_nbf] = NoSessionIssue::durations(
        args.expires_seconds,
        args.not_valid_before,
        args.refresh_expires,
        args.refresh_nbf,
    )?;

    let now = ctx.clock.now();
    let Some(stored) = ctx
        .apikeys
        .refreshable_nosession_apikey(key.as_ref(), now)
        .await?
    else {
        return Ok(Reply::failure(
            "provided API key has no stored refresh token, probably invalid",
            &[REFRESH_FAILED],
        ));
    };
    let presented = args.refresh_token;
    if !ctx.hasher.verify(presented, &stored.refresh_token).await? {
        tracing::info!(user = %ctx.pii(&key.uid.to_string()), "API key refresh: wrong refresh token");
        return Ok(Reply::failure(
            "provided refresh token does not match stored refresh token",
            &[REFRESH_FAILED],
        ));
    }
    if revoke(ctx, user_id, user_role, key, true).await? != Some(1) {
        return Ok(Reply::failure(
            "user from provided API key not allowed to revoke old key",
            &[REFRESH_FAILED_SIC],
        ));
    }
    let issue = NoSessionIssue {
        issuer: iss,
        audience: aud,
        subject: sub,
        apiversion: ver,
        user_id,
        user_role,
        ip_address: args.ip_address,
        expires,
        not_valid_before,
        refresh_expires,
        refresh_nbf,
    };
    Ok(match issue_nosession(ctx, &issue).await? {
        Some(reply) => reply,
        None => Reply::failure(
            "user from provided API key not allowed to issue new key",
            &[REFRESH_FAILED_SIC],
        ),
    })
}
