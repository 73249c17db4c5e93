//! The handlers of the request types, and the dispatcher [`run`]. The request
//! types themselves, with their schemas, are the request table of
//! `authnz_proto::request`.
//!
//! An action takes the [`Context`] and the schema-checked `body` and returns a
//! [`reply::Reply`] (the result object `R` of PROTOCOL.md 1.8). Actions never touch
//! HTTP, Fernet or SQL: they speak domain types and the storage traits.
//! An [`ActionError`] is an "unhandled" failure that the wire reports as 400
//! (PROTOCOL.md 1.10, Q-20).

pub mod access;
pub mod account;
pub mod apikeys;
pub mod args;
pub mod email;
pub mod internal;
pub mod jwt;
pub mod login;
pub mod offload;
pub mod passwords;
pub mod permissions;
pub mod reply;
pub mod sessions;
pub mod users;

use serde_json::{Map, Value};

pub use crate::context::Context;
pub use authnz_proto::request::RequestType;
use reply::Reply;

/// A failure the protocol reports as HTTP 400 (upstream's unhandled errors).
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A storage backend failed where upstream has no handled failure.
    #[error("storage: {0}")]
    Store(#[from] authnz_api::StoreError),
    /// Password hashing failed.
    #[error("hashing: {0}")]
    Hash(#[from] crate::passwords::HashError),
    /// An input upstream crashes on (listed per request type in PROTOCOL.md 3).
    /// The text may quote the input, so it displays escaped (it is logged).
    #[error("unhandled input: {}", authnz_api::logtext::LogText(.0))]
    Unhandled(String),
    /// Anything else that should not happen: which step failed, and the
    /// error that made it fail (kept as the source; also shown, like the
    /// storage and hashing variants, because the log line shows only this
    /// text).
    #[error("internal: {what}: {source}")]
    Internal {
        /// The step that failed, e.g. "mail task".
        what: &'static str,
        /// Why it failed.
        #[source]
        source: authnz_api::error::BoxError,
    },
}

impl ActionError {
    /// An [`ActionError::Internal`] for `what`, keeping `source`.
    pub fn internal(what: &'static str, source: impl Into<authnz_api::error::BoxError>) -> Self {
        ActionError::Internal {
            what,
            source: source.into(),
        }
    }
}

/// Run the handler of a request of type `kind` whose `body` passed the
/// schema check. This `match` is where a request type meets its handler: a
/// new entry in the request table does not compile until it has one.
pub async fn run(
    kind: RequestType,
    ctx: &Context,
    body: &Map<String, Value>,
) -> Result<Reply, ActionError> {
    use RequestType::*;
    args::check_int_ranges(
        body,
        kind.params()
            .iter()
            .map(|p| (p.name, p.spec.is_integer_only())),
    )?;
    match kind {
        SessionNew => sessions::session_new(ctx, body).await,
        SessionExists => sessions::session_exists(ctx, body).await,
        SessionDelete => sessions::session_delete(ctx, body).await,
        SessionDeleteUserid => sessions::session_delete_userid(ctx, body).await,
        SessionJwtIssue => jwt::session_jwt_issue(ctx, body).await,
        UserLogin => login::user_login(ctx, body).await,
        UserLogout => login::user_logout(ctx, body).await,
        UserPasscheck => login::user_passcheck(ctx, body).await,
        UserPasscheckNosession => login::user_passcheck_nosession(ctx, body).await,
        UserNew => users::user_new(ctx, body).await,
        UserList => users::user_list(ctx, body).await,
        UserLookupEmail => users::user_lookup_email(ctx, body).await,
        UserSetEmailverified => users::user_set_emailverified(ctx, body).await,
        UserChangepass => passwords::user_changepass(ctx, body).await,
        UserChangepassNosession => passwords::user_changepass_nosession(ctx, body).await,
        UserResetpass => passwords::user_resetpass(ctx, body).await,
        UserResetpassNosession => passwords::user_resetpass_nosession(ctx, body).await,
        UserValidatepass => passwords::user_validatepass(ctx, body).await,
        UserDelete => account::user_delete(ctx, body).await,
        UserEdit => account::user_edit(ctx, body).await,
        UserLock => account::user_lock(ctx, body).await,
        UserLookupMatch => account::user_lookup_match(ctx, body).await,
        InternalUserLock => internal::internal_user_lock(ctx, body).await,
        InternalUserDelete => internal::internal_user_delete(ctx, body).await,
        InternalUserEdit => internal::internal_user_edit(ctx, body).await,
        InternalSessionEdit => internal::internal_session_edit(ctx, body).await,
        UserCheckAccess => access::user_check_access(ctx, body).await,
        UserCheckLimit => access::user_check_limit(ctx, body).await,
        ApikeyNew => apikeys::apikey_new(ctx, body).await,
        ApikeyVerify => apikeys::apikey_verify(ctx, body).await,
        ApikeyRevoke => apikeys::apikey_revoke(ctx, body).await,
        ApikeyNewNosession => apikeys::apikey_new_nosession(ctx, body).await,
        ApikeyVerifyNosession => apikeys::apikey_verify_nosession(ctx, body).await,
        ApikeyRevokeNosession => apikeys::apikey_revoke_nosession(ctx, body).await,
        ApikeyRevokeallNosession => apikeys::apikey_revokeall_nosession(ctx, body).await,
        ApikeyRefreshNosession => apikeys::apikey_refresh_nosession(ctx, body).await,
        UserSendemailSignup => email::user_sendemail_signup(ctx, body).await,
        UserSendemailForgotpass => email::user_sendemail_forgotpass(ctx, body).await,
        UserSetEmailsent => email::user_set_emailsent(ctx, body).await,
    }
}
