//! Social login (PROTOCOL.md 3.11, not upstream): `user-oauth-start`,
//! `user-oauth-finish`, `user-oauth-list`, `user-oauth-unlink`.
//!
//! The frontend carries the browser to the provider and back; this module
//! makes and checks the security parameters (a random `state`, a PKCE
//! verifier and an OpenID Connect nonce, stored bound to the caller's
//! session for ten minutes and used once) and decides which account the
//! person gets. Talking to the provider is [`crate::oauth::OAuthProviders`]'
//! job. Codes, tokens and secrets never reach a log.

use authnz_api::{
    AuditEventType, AuditOutcome, NO_PASSWORD, NewUser, OAuthIdentity, OAuthState, StoreError, User,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use serde_json::{Value, json};

use super::reply::Reply;
use super::request_args::{
    UserOauthFinishArgs, UserOauthListArgs, UserOauthStartArgs, UserOauthUnlinkArgs,
};
use super::{ActionError, Context};
use crate::oauth::{AuthorizeParams, OAuthProviders, ProviderIdentity};

/// How long a login may take from `user-oauth-start` to `user-oauth-finish`.
pub const STATE_LIFETIME: TimeDelta = TimeDelta::minutes(10);

const NOT_CONFIGURED: &str = "Social login is not configured on this server.";
const UNKNOWN_PROVIDER: &str = "No login provider of that name is configured.";
const BAD_REDIRECT: &str =
    "That redirect URI is not one of this provider's configured redirect URIs.";
const NO_SESSION: &str = "No session token provided.";
const BAD_STATE: &str = "This login attempt is unknown or was already used. Please start again.";
const FOREIGN_STATE: &str = "This login attempt was started in another session or for another provider. Please start again.";
const EXPIRED_STATE: &str = "This login attempt has expired. Please start again.";
const REDIRECT_MISMATCH: &str =
    "The redirect URI differs from the one this login attempt was started with.";
const LOCKED: &str = "Sorry, this account is locked or inactive.";
const LOGIN_OK: &str = "Login successful.";

/// 32 random bytes, URL-safe base64 without padding (43 characters).
fn random_token(what: &'static str) -> Result<String, ActionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ActionError::internal(what, e))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The providers and the provider's name, or the failure reply.
fn provider<'c>(ctx: &'c Context, name: &str) -> Result<&'c dyn OAuthProviders, Reply> {
    let Some(providers) = ctx.oauth.as_deref() else {
        return Err(Reply::failure(
            "social login not configured",
            &[NOT_CONFIGURED],
        ));
    };
    if !providers.has_provider(name) {
        return Err(Reply::failure("unknown provider", &[UNKNOWN_PROVIDER]));
    }
    Ok(providers)
}

fn login_failure(reason: &str, message: &str) -> Reply {
    Reply::failure(reason, &[message])
        .with("user_id", Value::Null)
        .with("new_user", false)
}

pub async fn user_oauth_start(
    ctx: &Context,
    args: UserOauthStartArgs<'_>,
) -> Result<Reply, ActionError> {
    let providers = match provider(ctx, args.provider) {
        Ok(p) => p,
        Err(reply) => return Ok(reply),
    };
    if !providers.redirect_uri_allowed(args.provider, args.redirect_uri) {
        return Ok(Reply::failure("redirect_uri not allowed", &[BAD_REDIRECT]));
    }
    let now = ctx.clock.now();
    if ctx
        .sessions
        .active_session(args.session_token, now)
        .await?
        .is_none()
    {
        return Ok(Reply::failure("session does not exist", &[NO_SESSION]));
    }
    let state = OAuthState {
        state: random_token("oauth state")?,
        provider: args.provider.to_owned(),
        session_token: args.session_token.to_owned(),
        pkce_verifier: random_token("pkce verifier")?,
        nonce: random_token("oauth nonce")?,
        redirect_uri: args.redirect_uri.to_owned(),
        expires: now + STATE_LIFETIME,
    };
    let url = match providers
        .authorize_url(args.provider, args.redirect_uri, params(&state))
        .await
    {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(provider = args.provider, error = %e, "social login start failed");
            return Ok(Reply::failure("provider error", &[&e.to_string()]));
        }
    };
    // Logins abandoned halfway are removed here, by whoever starts the next.
    if let Err(e) = ctx
        .oauth_store
        .delete_oauth_states_expired_before(now)
        .await
    {
        tracing::warn!(error = %e, "could not remove expired social-login states");
    }
    ctx.oauth_store.add_oauth_state(&state).await?;
    Ok(Reply::success(&["Go to the provider's authorization URL."])
        .with("authorize_url", url)
        .with("state", state.state))
}

fn params(state: &OAuthState) -> AuthorizeParams<'_> {
    AuthorizeParams {
        state: &state.state,
        nonce: &state.nonce,
        pkce_verifier: &state.pkce_verifier,
    }
}

pub async fn user_oauth_finish(
    ctx: &Context,
    args: UserOauthFinishArgs<'_>,
) -> Result<Reply, ActionError> {
    let providers = match provider(ctx, args.provider) {
        Ok(p) => p,
        Err(reply) => return Ok(reply.with("user_id", Value::Null).with("new_user", false)),
    };
    let now = ctx.clock.now();
    if ctx
        .sessions
        .active_session(args.session_token, now)
        .await?
        .is_none()
    {
        return Ok(login_failure("session does not exist", NO_SESSION));
    }
    // Taken (and so spent) before any check: a state is tried at most once.
    let Some(state) = ctx.oauth_store.take_oauth_state(args.state).await? else {
        return Ok(login_failure("unknown state", BAD_STATE));
    };
    if state.session_token != args.session_token || state.provider != args.provider {
        tracing::warn!(
            provider = args.provider,
            "social login: state of another session or provider"
        );
        return Ok(login_failure("foreign state", FOREIGN_STATE));
    }
    if state.expires <= now {
        return Ok(login_failure("expired state", EXPIRED_STATE));
    }
    if state.redirect_uri != args.redirect_uri {
        return Ok(login_failure("redirect_uri mismatch", REDIRECT_MISMATCH));
    }
    let identity = match providers
        .finish(args.provider, args.code, args.redirect_uri, params(&state))
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(provider = args.provider, error = %e, "social login finish failed");
            return Ok(login_failure("provider error", &e.to_string()));
        }
    };
    let (user, new_user) = match account_for(ctx, args.provider, &identity).await? {
        Ok(found) => found,
        Err(reply) => return Ok(reply),
    };
    if user.user_role == "locked" || !user.is_active {
        metrics::counter!("authnz_logins_total", "result" => "locked").increment(1);
        ctx.audit(AuditEventType::LoginLocked, AuditOutcome::Failed)
            .subject(user.user_id)
            .reason("social-login")
            .emit();
        return Ok(Reply::failure("user exists but is inactive", &[LOCKED])
            .with("user_id", user.user_id)
            .with("new_user", new_user));
    }
    // As after a password login, the pre-login session is consumed: the
    // frontend makes a fresh one (no session fixation).
    ctx.sessions.delete_session(args.session_token).await?;
    metrics::counter!("authnz_logins_total", "result" => "ok").increment(1);
    ctx.audit(AuditEventType::LoginSucceeded, AuditOutcome::Ok)
        .user(user.user_id)
        .reason("social-login")
        .emit();
    tracing::info!(
        user = %ctx.pii(&user.user_id.to_string()),
        provider = args.provider,
        new_user,
        "social login successful"
    );
    Ok(Reply::success(&[LOGIN_OK])
        .with("user_id", user.user_id)
        .with("user_role", user.user_role)
        .with("new_user", new_user))
}

/// The account of `identity`: the linked one; else a local account with the
/// same e-mail, linked only when the provider asserts that e-mail verified;
/// else a new account. `Err` holds a failure reply.
async fn account_for(
    ctx: &Context,
    provider: &str,
    identity: &ProviderIdentity,
) -> Result<Result<(User, bool), Reply>, ActionError> {
    let now = ctx.clock.now();
    let gone = || {
        login_failure(
            "user does not exist",
            "The linked account no longer exists.",
        )
    };
    if let Some(linked) = ctx
        .oauth_store
        .oauth_identity(provider, &identity.subject)
        .await?
    {
        let user = ctx.users.user_by_id(linked.user_id).await?;
        let user = crate::lockout::lift_if_expired(ctx, user).await?;
        return Ok(user.map(|u| (u, false)).ok_or_else(gone));
    }
    let link = |user_id| OAuthIdentity {
        provider: provider.to_owned(),
        subject: identity.subject.clone(),
        user_id,
        created: now,
    };
    let by_email = match &identity.email {
        Some(email) => ctx.users.user_by_email(email).await?,
        None => None,
    };
    if let Some(existing) = &by_email
        && identity.email_verified
    {
        ctx.oauth_store
            .add_oauth_identity(&link(existing.user_id))
            .await?;
        ctx.audit(AuditEventType::IdentityLinked, AuditOutcome::Ok)
            .subject(existing.user_id)
            .reason("verified-email")
            .emit();
        tracing::info!(
            user = %ctx.pii(&existing.user_id.to_string()),
            provider,
            "social login: identity linked to the account of its verified e-mail"
        );
        let user = crate::lockout::lift_if_expired(ctx, by_email).await?;
        return Ok(user.map(|u| (u, false)).ok_or_else(gone));
    }
    // A new account. Its e-mail is the provider's when it is free; an
    // unverified address that a local account already has is never linked,
    // and the new account gets a placeholder address instead.
    let (email, email_verified) = match &identity.email {
        Some(email) if by_email.is_none() => (email.clone(), identity.email_verified),
        _ => (
            format!("{}@oauth.invalid", uuid::Uuid::new_v4().simple()),
            false,
        ),
    };
    let new = NewUser {
        system_id: uuid::Uuid::new_v4().to_string(),
        full_name: None,
        password: NO_PASSWORD.to_owned(),
        email,
        email_verified,
        is_active: true,
        user_role: "authenticated".to_owned(),
        extra_info: Some(json!({
            "provenance": "social-login",
            "type": "normal-user",
            "provider": provider,
        })),
        emailverify_sent_datetime: None,
    };
    let user_id = ctx.users.create_user(&new, now).await?;
    if let Err(e) = ctx.oauth_store.add_oauth_identity(&link(user_id)).await {
        // Another finish for the same identity won the race: undo ours.
        let _ = ctx.users.delete_user(user_id).await;
        return Err(e.into());
    }
    ctx.audit(AuditEventType::UserSignup, AuditOutcome::Ok)
        .user(user_id)
        .reason("social-login")
        .emit();
    ctx.audit(AuditEventType::IdentityLinked, AuditOutcome::Ok)
        .user(user_id)
        .reason("new-account")
        .emit();
    tracing::info!(
        user = %ctx.pii(&user_id.to_string()),
        provider,
        "social login: new account"
    );
    let user = ctx.users.user_by_id(user_id).await?;
    Ok(user.map(|u| (u, true)).ok_or_else(gone))
}

pub async fn user_oauth_list(ctx: &Context, args: UserOauthListArgs) -> Result<Reply, ActionError> {
    let Some(user) = ctx.users.user_by_id(args.user_id).await? else {
        return Ok(Reply::failure("user does not exist", &["No such user."])
            .with("identities", Value::Array(vec![])));
    };
    let identities: Vec<Value> = ctx
        .oauth_store
        .user_oauth_identities(user.user_id)
        .await?
        .into_iter()
        .map(|i| {
            json!({
                "provider": i.provider,
                "subject": i.subject,
                "created": super::reply::dt(Some(&i.created)),
            })
        })
        .collect();
    Ok(Reply::success(&["Linked identities listed."])
        .with("user_id", user.user_id)
        .with("has_password", user.password != NO_PASSWORD)
        .with("identities", Value::Array(identities)))
}

pub async fn user_oauth_unlink(
    ctx: &Context,
    args: UserOauthUnlinkArgs<'_>,
) -> Result<Reply, ActionError> {
    let Some(user) = ctx.users.user_by_id(args.user_id).await? else {
        return Ok(Reply::failure("user does not exist", &["No such user."]));
    };
    let identities = ctx.oauth_store.user_oauth_identities(user.user_id).await?;
    if !identities.iter().any(|i| i.provider == args.provider) {
        return Ok(Reply::failure(
            "identity does not exist",
            &["This account has no identity at that provider."],
        ));
    }
    if user.password == NO_PASSWORD && identities.len() == 1 {
        return Ok(Reply::failure(
            "last login method",
            &[
                "This is the account's only way to log in: set a password (by a password reset) before unlinking it.",
            ],
        ));
    }
    match ctx
        .oauth_store
        .delete_oauth_identity(user.user_id, args.provider)
        .await
    {
        Ok(1) => {
            ctx.audit(AuditEventType::IdentityUnlinked, AuditOutcome::Ok)
                .subject(user.user_id)
                .emit();
            Ok(Reply::success(&["Identity unlinked."]).with("user_id", user.user_id))
        }
        Ok(_) => Ok(Reply::failure(
            "identity does not exist",
            &["This account has no identity at that provider."],
        )),
        Err(StoreError::NotFound) => Ok(Reply::failure(
            "identity does not exist",
            &["This account has no identity at that provider."],
        )),
        Err(e) => Err(e.into()),
    }
}
