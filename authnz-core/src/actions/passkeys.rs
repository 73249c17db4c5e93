//! Passkeys (not upstream, PROTOCOL.md 3.12): registering, listing and
//! deleting a user's passkeys, passwordless login with one, and a passkey
//! as the second step of a login (`user-passkey-second-factor-start`, then
//! `user-login-second-factor` with `passkey_response`).
//!
//! Each ceremony is two requests. The first stores the relying party's
//! state under the hash of an id the client holds (a fresh registration
//! id or login id, or the login ticket of the second step), valid five
//! minutes; the second takes it once, so an id finishes one ceremony.
//! The WebAuthn checks themselves (signature, origin, challenge, relying
//! party, user verification, signature counter) are the relying party's
//! ([`crate::passkeys::RelyingParty`]); a counter that did not go up is
//! refused again by the store when the new counter is recorded, so two
//! assertions racing with one counter value log in once.
//!
//! A verification failure with a known user's passkey counts toward that
//! user's login back-off and automatic lock (PROTOCOL.md 4.2), as a wrong
//! password does; so does a wrong password of register-start and delete.
//! Credentials, challenges, ids, tickets, session tokens and e-mail
//! addresses are never logged.

use std::sync::Arc;

use authnz_api::{AuditEventType, AuditOutcome, NewPasskey, PasskeyChallenge, User, UserId};
use chrono::TimeDelta;
use serde_json::{Map, Value, json};

use super::reply::{Reply, dt};
use super::request_args::{
    UserPasskeyDeleteArgs, UserPasskeyListArgs, UserPasskeyLoginFinishArgs,
    UserPasskeyLoginStartArgs, UserPasskeyRegisterFinishArgs, UserPasskeyRegisterStartArgs,
    UserPasskeySecondFactorStartArgs,
};
use super::second_factor::{count_failure, given_text, usable_user, user_with_password};
use super::user_sessions::end_other_sessions;
use super::{ActionError, Context};
use crate::passkeys::{Ceremony, PasskeyError, RelyingParty, hex, user_handle};
use crate::second_factor::{self as factor, TICKET_LIFETIME, recovery_code_hash};

/// `failure_reason` when the server has no relying party configured.
pub const NOT_CONFIGURED: &str = "passkeys not configured";
const NOT_CONFIGURED_MSG: &str = "Passkeys are not enabled on this server.";
const NO_USER: &str = "This account cannot use passkeys.";
const BAD_REGISTRATION: &str =
    "The passkey registration has expired or is unknown. Please start again.";
const REGISTRATION_FAILED: &str = "The passkey could not be registered.";
const ALREADY: &str = "This passkey is registered already.";
const TOO_MANY: &str = "This account has as many passkeys as it may have.";
const BAD_NAME: &str = "A passkey name is at most 100 characters, without control characters.";
const REGISTERED: &str = "The passkey is registered.";
const REGISTERED_CODES: &str =
    "The passkey is registered. Keep the recovery codes in a safe place.";
const NO_SESSION: &str = "No session token provided.";
const STARTED: &str = "Use a passkey to continue.";
const BAD_LOGIN: &str = "The login has expired or is unknown. Please log in again.";
const PASSKEY_FAILED: &str = "That passkey didn't work.";
const LOGIN_OK: &str = "Login successful.";
const LISTED: &str = "The passkeys of this account.";
const NOT_FOUND: &str = "There is no such passkey on this account.";
const DELETED: &str = "The passkey is removed.";
const NO_PASSKEY: &str = "This account has no passkey.";
const NOT_STARTED: &str = "Start the passkey step first.";

/// Ceremony kinds, as stored with a challenge.
const KIND_REGISTER: &str = "register";
const KIND_LOGIN: &str = "login";
const KIND_SECOND_FACTOR: &str = "second-factor";

/// The most passkeys one account may have (the state of a second-factor
/// ceremony lists them all).
pub const MAX_PASSKEYS: u64 = 20;
/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The name of a passkey registered without one.
const DEFAULT_NAME: &str = "Passkey";

fn not_configured(user_id: Value) -> Reply {
    Reply::failure(NOT_CONFIGURED, &[NOT_CONFIGURED_MSG]).with("user_id", user_id)
}

/// The relying party, or the reply that passkeys are off.
fn relying_party(ctx: &Context, user_id: Value) -> Result<&Arc<dyn RelyingParty>, Reply> {
    ctx.passkeys.as_ref().ok_or_else(|| not_configured(user_id))
}

/// When a ceremony started now ends.
fn expiry(ctx: &Context) -> chrono::NaiveDateTime {
    let now = ctx.clock.now();
    let lifetime = TimeDelta::from_std(TICKET_LIFETIME).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(lifetime).unwrap_or(now)
}

/// A passkey name as given (trimmed), `Ok(None)` when none was given, or
/// `Err` when it is too long or holds control characters.
fn passkey_name(v: Option<&Value>) -> Result<Option<String>, ()> {
    let Some(name) = given_text(v).map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(());
    }
    Ok(Some(name.to_owned()))
}

/// Log a relying-party failure (its text holds no secret) and say whether
/// it was the relying party's own fault (then the request fails as a 400).
fn log_refusal(ctx: &Context, user_id: Option<UserId>, what: &str, e: &PasskeyError) {
    let user = user_id.map(|u| ctx.pii(&u.to_string())).unwrap_or_default();
    match e {
        PasskeyError::Internal(_) => tracing::warn!(%user, error = %e, "{what}"),
        _ => tracing::info!(%user, error = %e, "{what}"),
    }
}

/// Store the state of `ceremony` under the hash of `id` for `user_id`.
async fn put_ceremony(
    ctx: &Context,
    id: &str,
    user_id: Option<UserId>,
    kind: &str,
    state: Value,
) -> Result<(), ActionError> {
    let store = &ctx.second_factors.store;
    // Ceremonies end within minutes; whoever starts one sweeps the ended
    // ones (the cleanup task does too).
    store
        .delete_passkey_challenges_expired(ctx.clock.now())
        .await?;
    let challenge = PasskeyChallenge {
        challenge_hash: factor::hash(id),
        user_id,
        kind: kind.to_owned(),
        state_json: state.to_string(),
        expires: expiry(ctx),
    };
    store.put_passkey_challenge(&challenge).await?;
    Ok(())
}

/// Take the ceremony of `kind` stored under the hash of `id` (once): its
/// user and its state object.
async fn take_ceremony(
    ctx: &Context,
    id: &str,
    kind: &str,
) -> Result<Option<(Option<UserId>, Map<String, Value>)>, ActionError> {
    let store = &ctx.second_factors.store;
    let Some(c) = store
        .take_passkey_challenge(&factor::hash(id), ctx.clock.now())
        .await?
    else {
        return Ok(None);
    };
    if c.kind != kind {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(&c.state_json) {
        Ok(Value::Object(state)) => Ok(Some((c.user_id, state))),
        _ => Err(ActionError::internal(
            "passkey ceremony",
            "a stored ceremony state does not parse",
        )),
    }
}

/// The relying party's state text of a stored ceremony.
fn rp_state(state: &Map<String, Value>) -> Result<&str, ActionError> {
    state
        .get("rp")
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::internal("passkey ceremony", "a stored state has no rp state"))
}

pub async fn user_passkey_register_start(
    ctx: &Context,
    args: UserPasskeyRegisterStartArgs<'_>,
) -> Result<Reply, ActionError> {
    let rp = match relying_party(ctx, args.user_id.into()) {
        Ok(rp) => rp,
        Err(reply) => return Ok(reply),
    };
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_id", args.user_id);
    let Ok(name) = passkey_name(args.name) else {
        return Ok(fail("invalid passkey name", BAD_NAME));
    };
    let user = match user_with_password(ctx, args.user_id, args.password).await? {
        Ok(user) => user,
        Err(reply) => return Ok(reply),
    };
    let existing = ctx.second_factors.store.passkeys(user.user_id).await?;
    if existing.len() as u64 >= MAX_PASSKEYS {
        return Ok(fail("too many passkeys", TOO_MANY));
    }
    let existing: Vec<&str> = existing.iter().map(|p| p.passkey_json.as_str()).collect();
    let display = if user.full_name.as_deref().unwrap_or("").trim().is_empty() {
        user.email.as_str()
    } else {
        user.full_name.as_deref().unwrap_or("")
    };
    let handle = user_handle(user.user_id);
    let ceremony = match rp.start_registration(&handle, &user.email, display, &existing) {
        Ok(c) => c,
        Err(e) => {
            log_refusal(
                ctx,
                Some(user.user_id),
                "passkey registration not started",
                &e,
            );
            return Err(ActionError::internal("passkey registration", e));
        }
    };
    let registration_id =
        factor::new_ticket().map_err(|e| ActionError::internal("registration id", e))?;
    let state = json!({"rp": ceremony.state, "name": name});
    put_ceremony(
        ctx,
        &registration_id,
        Some(user.user_id),
        KIND_REGISTER,
        state,
    )
    .await?;
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "passkey registration started");
    Ok(Reply::success(&[STARTED])
        .with("user_id", user.user_id)
        .with("registration_id", registration_id)
        .with("options", ceremony.options))
}

pub async fn user_passkey_register_finish(
    ctx: &Context,
    args: UserPasskeyRegisterFinishArgs<'_>,
) -> Result<Reply, ActionError> {
    let rp = match relying_party(ctx, args.user_id.into()) {
        Ok(rp) => rp,
        Err(reply) => return Ok(reply),
    };
    let fail = |reason: &str, msg: &str| {
        Reply::failure(reason, &[msg])
            .with("user_id", args.user_id)
            .with("passkey_id", Value::Null)
            .with("recovery_codes", Value::Null)
    };
    let Ok(name) = passkey_name(args.name) else {
        return Ok(fail("invalid passkey name", BAD_NAME));
    };
    let Some(user) = usable_user(ctx, args.user_id).await? else {
        return Ok(fail("user does not exist or is inactive", NO_USER));
    };
    let Some((Some(owner), state)) =
        take_ceremony(ctx, args.registration_id, KIND_REGISTER).await?
    else {
        return Ok(fail("invalid registration", BAD_REGISTRATION));
    };
    if owner != user.user_id {
        return Ok(fail("invalid registration", BAD_REGISTRATION));
    }
    // Again here: registrations started side by side each saw room.
    if ctx.second_factors.store.passkey_count(user.user_id).await? >= MAX_PASSKEYS {
        return Ok(fail("too many passkeys", TOO_MANY));
    }
    let credential = Value::Object(args.credential.clone());
    let registered = match rp.finish_registration(&credential, rp_state(&state)?) {
        Ok(r) => r,
        Err(e) => {
            log_refusal(ctx, Some(user.user_id), "passkey registration refused", &e);
            if let PasskeyError::Internal(_) = e {
                return Err(ActionError::internal("passkey registration", e));
            }
            return Ok(fail("passkey registration failed", REGISTRATION_FAILED));
        }
    };
    let name = name
        .or_else(|| state.get("name").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_NAME.to_owned());
    let store = &ctx.second_factors.store;
    // The first second factor comes with recovery codes (as TOTP does);
    // later ones leave the user's codes as they are.
    let codes = if store.recovery_codes_left(user.user_id).await? == 0 {
        Some(factor::new_recovery_codes().map_err(|e| ActionError::internal("recovery codes", e))?)
    } else {
        None
    };
    let hashes: Vec<String> = codes
        .iter()
        .flatten()
        .map(|c| recovery_code_hash(c))
        .collect();
    let passkey = NewPasskey {
        user_id: user.user_id,
        credential_id: registered.credential_id,
        user_handle: hex(&user_handle(user.user_id)),
        name: name.clone(),
        passkey_json: registered.passkey_json,
        sign_count: registered.sign_count,
        created: ctx.clock.now(),
    };
    let passkey_id = match store.add_passkey(&passkey, &hashes).await {
        Ok(id) => id,
        Err(authnz_api::StoreError::Conflict(_)) => {
            return Ok(fail("passkey already registered", ALREADY));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), passkey_id, "passkey registered");
    ctx.audit(AuditEventType::PasskeyAdded, AuditOutcome::Ok)
        .user(user.user_id)
        .reason("passkey")
        .emit();
    end_other_sessions(ctx, user.user_id, given_text(args.session_token)).await?;
    let msg = if codes.is_some() {
        REGISTERED_CODES
    } else {
        REGISTERED
    };
    Ok(Reply::success(&[msg])
        .with("user_id", user.user_id)
        .with("passkey_id", passkey_id)
        .with("name", name)
        .with("recovery_codes", codes.map_or(Value::Null, |c| json!(c))))
}

pub async fn user_passkey_login_start(
    ctx: &Context,
    args: UserPasskeyLoginStartArgs<'_>,
) -> Result<Reply, ActionError> {
    let rp = match relying_party(ctx, Value::Null) {
        Ok(rp) => rp,
        Err(reply) => return Ok(reply),
    };
    let now = ctx.clock.now();
    if ctx
        .sessions
        .active_session(args.session_token, now)
        .await?
        .is_none()
    {
        return Ok(Reply::failure("session does not exist", &[NO_SESSION]));
    }
    let ceremony: Ceremony = rp.start_discoverable().map_err(|e| {
        log_refusal(ctx, None, "passkey login not started", &e);
        ActionError::internal("passkey login", e)
    })?;
    let login_id = factor::new_ticket().map_err(|e| ActionError::internal("login id", e))?;
    // Bound to the presented session, as a login ticket is.
    let state = json!({"rp": ceremony.state, "session": factor::hash(args.session_token)});
    put_ceremony(ctx, &login_id, None, KIND_LOGIN, state).await?;
    Ok(Reply::success(&[STARTED])
        .with("login_id", login_id)
        .with("options", ceremony.options))
}

/// Count a failed assertion with `user`'s passkey and answer `reply` (or
/// the lock reply, if this failure locked the account).
async fn refused(ctx: &Context, user: &User, what: &'static str, reply: Reply) -> Reply {
    metrics::counter!("authnz_logins_total", "result" => "wrong_passkey").increment(1);
    ctx.audit(AuditEventType::LoginFailed, AuditOutcome::Failed)
        .subject(user.user_id)
        .reason(what)
        .emit();
    count_failure(ctx, user, reply).await
}

pub async fn user_passkey_login_finish(
    ctx: &Context,
    args: UserPasskeyLoginFinishArgs<'_>,
) -> Result<Reply, ActionError> {
    let rp = match relying_party(ctx, Value::Null) {
        Ok(rp) => rp,
        Err(reply) => return Ok(reply),
    };
    let now = ctx.clock.now();
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_id", Value::Null);
    let Some((_, state)) = take_ceremony(ctx, args.login_id, KIND_LOGIN).await? else {
        return Ok(fail("invalid login ticket", BAD_LOGIN));
    };
    let session = ctx.sessions.active_session(args.session_token, now).await?;
    let bound = state.get("session").and_then(Value::as_str);
    if session.is_none() || bound != Some(factor::hash(args.session_token).as_str()) {
        return Ok(fail("invalid login ticket", BAD_LOGIN));
    }
    let credential = Value::Object(args.credential.clone());
    let claimed = match rp.claimed(&credential) {
        Ok(c) => c,
        Err(e) => {
            log_refusal(ctx, None, "passkey login refused", &e);
            return Ok(fail("passkey verification failed", PASSKEY_FAILED));
        }
    };
    let store = &ctx.second_factors.store;
    let Some(passkey) = store
        .passkey_by_credential_id(&claimed.credential_id)
        .await?
        .filter(|p| p.user_handle == claimed.user_handle)
    else {
        metrics::counter!("authnz_logins_total", "result" => "unknown").increment(1);
        ctx.audit(AuditEventType::LoginFailed, AuditOutcome::Failed)
            .reason("unknown-passkey")
            .emit();
        tracing::info!("passkey login with an unknown passkey");
        return Ok(fail("unknown passkey", PASSKEY_FAILED));
    };
    let Some(user) = usable_user(ctx, passkey.user_id).await? else {
        metrics::counter!("authnz_logins_total", "result" => "locked").increment(1);
        ctx.audit(AuditEventType::LoginFailed, AuditOutcome::Failed)
            .subject(passkey.user_id)
            .reason("inactive")
            .emit();
        return Ok(fail("user exists but is inactive", PASSKEY_FAILED));
    };
    let asserted =
        match rp.finish_discoverable(&credential, rp_state(&state)?, &passkey.passkey_json) {
            Ok(a) => a,
            Err(e) => {
                log_refusal(ctx, Some(user.user_id), "passkey login refused", &e);
                if let PasskeyError::Internal(_) = e {
                    return Err(ActionError::internal("passkey login", e));
                }
                let reply = fail("passkey verification failed", PASSKEY_FAILED);
                return Ok(refused(ctx, &user, "wrong-passkey", reply).await);
            }
        };
    // The counter must still be above the stored one when it is recorded
    // (another login with this passkey may have finished meanwhile).
    if !store
        .use_passkey(
            passkey.passkey_id,
            &asserted.passkey_json,
            asserted.sign_count,
            now,
        )
        .await?
    {
        log_refusal(
            ctx,
            Some(user.user_id),
            "passkey login refused",
            &PasskeyError::Refused("the signature counter did not go up".into()),
        );
        let reply = fail("passkey verification failed", PASSKEY_FAILED);
        return Ok(refused(ctx, &user, "wrong-passkey", reply).await);
    }
    // As `user-login`: the pre-login session is consumed (session fixation).
    ctx.sessions.delete_session(args.session_token).await?;
    let _ = crate::lockout::after_attempt(ctx, &user.email, true).await;
    metrics::counter!("authnz_logins_total", "result" => "ok").increment(1);
    ctx.audit(AuditEventType::LoginSucceeded, AuditOutcome::Ok)
        .user(user.user_id)
        .reason("passkey")
        .emit();
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), factor = "passkey", "login successful");
    Ok(Reply::success(&[LOGIN_OK])
        .with("user_id", user.user_id)
        .with("user_role", user.user_role))
}

pub async fn user_passkey_list(
    ctx: &Context,
    args: UserPasskeyListArgs,
) -> Result<Reply, ActionError> {
    if let Err(reply) = relying_party(ctx, args.user_id.into()) {
        return Ok(reply);
    }
    let passkeys = ctx.second_factors.store.passkeys(args.user_id).await?;
    let listed: Vec<Value> = passkeys
        .iter()
        .map(|p| {
            json!({
                "passkey_id": p.passkey_id,
                "name": p.name,
                "created": dt(Some(&p.created)),
                "last_used": dt(p.last_used.as_ref()),
            })
        })
        .collect();
    Ok(Reply::success(&[LISTED])
        .with("user_id", args.user_id)
        .with("passkeys", listed))
}

pub async fn user_passkey_delete(
    ctx: &Context,
    args: UserPasskeyDeleteArgs<'_>,
) -> Result<Reply, ActionError> {
    if let Err(reply) = relying_party(ctx, args.user_id.into()) {
        return Ok(reply);
    }
    let user = match user_with_password(ctx, args.user_id, args.password).await? {
        Ok(user) => user,
        Err(reply) => return Ok(reply),
    };
    let store = &ctx.second_factors.store;
    if !store.delete_passkey(user.user_id, args.passkey_id).await? {
        return Ok(
            Reply::failure("passkey does not exist", &[NOT_FOUND]).with("user_id", args.user_id)
        );
    }
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), passkey_id = args.passkey_id, "passkey removed");
    ctx.audit(AuditEventType::PasskeyRemoved, AuditOutcome::Ok)
        .user(user.user_id)
        .reason("passkey")
        .emit();
    end_other_sessions(ctx, user.user_id, given_text(args.session_token)).await?;
    Ok(Reply::success(&[DELETED]).with("user_id", user.user_id))
}

pub async fn user_passkey_second_factor_start(
    ctx: &Context,
    args: UserPasskeySecondFactorStartArgs<'_>,
) -> Result<Reply, ActionError> {
    let rp = match relying_party(ctx, Value::Null) {
        Ok(rp) => rp,
        Err(reply) => return Ok(reply),
    };
    let now = ctx.clock.now();
    let fail = |reason: &str, msg: &str| Reply::failure(reason, &[msg]);
    let store = &ctx.second_factors.store;
    let ticket_hash = factor::hash(args.login_ticket);
    let Some(ticket) = store.login_ticket(&ticket_hash, now).await? else {
        return Ok(fail("invalid login ticket", BAD_LOGIN));
    };
    let session = ctx.sessions.active_session(args.session_token, now).await?;
    if ticket.session_hash != factor::hash(args.session_token) || session.is_none() {
        return Ok(fail("invalid login ticket", BAD_LOGIN));
    }
    let passkeys = store.passkeys(ticket.user_id).await?;
    if passkeys.is_empty() {
        return Ok(fail("no passkey", NO_PASSKEY));
    }
    let jsons: Vec<&str> = passkeys.iter().map(|p| p.passkey_json.as_str()).collect();
    let ceremony = rp.start_authentication(&jsons).map_err(|e| {
        log_refusal(ctx, Some(ticket.user_id), "passkey step not started", &e);
        ActionError::internal("passkey second factor", e)
    })?;
    // Stored under the login ticket (a new start replaces an earlier one).
    let state = json!({"rp": ceremony.state});
    put_ceremony(
        ctx,
        args.login_ticket,
        Some(ticket.user_id),
        KIND_SECOND_FACTOR,
        state,
    )
    .await?;
    Ok(Reply::success(&[STARTED]).with("options", ceremony.options))
}

/// The second step of a login answered with a passkey: whether `response`
/// is a valid assertion of one of `user`'s passkeys for the ceremony
/// started with the login ticket `login_ticket` (the passkey's counter is
/// recorded). `Err` with the reply when passkeys are off or no ceremony was
/// started (not counted as a failure).
pub(super) async fn accept_second_factor(
    ctx: &Context,
    user: &User,
    login_ticket: &str,
    response: &Map<String, Value>,
) -> Result<Result<bool, Reply>, ActionError> {
    let rp = match relying_party(ctx, Value::Null) {
        Ok(rp) => rp,
        Err(reply) => return Ok(Err(reply)),
    };
    let Some((owner, state)) = take_ceremony(ctx, login_ticket, KIND_SECOND_FACTOR).await? else {
        return Ok(Err(Reply::failure("passkey not started", &[NOT_STARTED])));
    };
    if owner != Some(user.user_id) {
        return Ok(Err(Reply::failure("passkey not started", &[NOT_STARTED])));
    }
    let store = &ctx.second_factors.store;
    let passkeys = store.passkeys(user.user_id).await?;
    let jsons: Vec<&str> = passkeys.iter().map(|p| p.passkey_json.as_str()).collect();
    let credential = Value::Object(response.clone());
    let asserted = match rp.finish_authentication(&credential, rp_state(&state)?, &jsons) {
        Ok(a) => a,
        Err(e) => {
            log_refusal(ctx, Some(user.user_id), "passkey step refused", &e);
            if let PasskeyError::Internal(_) = e {
                return Err(ActionError::internal("passkey second factor", e));
            }
            return Ok(Ok(false));
        }
    };
    let Some(used) = passkeys
        .iter()
        .find(|p| p.credential_id == asserted.credential_id)
    else {
        return Ok(Ok(false));
    };
    Ok(Ok(store
        .use_passkey(
            used.passkey_id,
            &asserted.passkey_json,
            asserted.sign_count,
            ctx.clock.now(),
        )
        .await?))
}
