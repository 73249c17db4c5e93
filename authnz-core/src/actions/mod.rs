//! The handlers of the request types, and the dispatcher [`run`]. The request
//! types themselves, with their schemas, are the request table of
//! `authnz_proto::request`.
//!
//! An action takes the [`Context`] and its argument struct (of
//! [`request_args`], decoded from the schema-checked body) and returns a
//! [`reply::Reply`] (the result object `R` of PROTOCOL.md 1.8). Actions never touch
//! HTTP, Fernet or SQL: they speak domain types and the storage traits.
//! An [`ActionError`] is an "unhandled" failure that the wire reports as 400
//! (PROTOCOL.md 1.10, Q-20).

pub mod access;
pub mod account;
pub mod apikeys;
pub mod args;
pub mod audit;
pub mod email;
pub mod groups;
pub mod internal;
pub mod jwt;
pub mod login;
pub mod oauth;
pub mod offload;
pub mod passkeys;
pub mod passwords;
pub mod permissions;
pub mod reply;
pub mod request_args;
pub mod second_factor;
pub mod sessions;
pub mod user_sessions;
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

/// The arguments of a request of type `kind` as the struct `T` its handler
/// takes; refused if `T` belongs to another request type.
fn decode<'a, T: args::Decode<'a>>(
    kind: RequestType,
    body: &'a Map<String, Value>,
) -> Result<T, ActionError> {
    if T::KIND != kind {
        return Err(ActionError::internal(
            "argument decoding",
            format!("{kind:?} dispatched to the arguments of {:?}", T::KIND),
        ));
    }
    T::decode(body)
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
        SessionNew => sessions::session_new(ctx, decode(kind, body)?).await,
        SessionExists => sessions::session_exists(ctx, decode(kind, body)?).await,
        SessionDelete => sessions::session_delete(ctx, decode(kind, body)?).await,
        SessionDeleteUserid => sessions::session_delete_userid(ctx, decode(kind, body)?).await,
        SessionJwtIssue => jwt::session_jwt_issue(ctx, decode(kind, body)?).await,
        UserLogin => login::user_login(ctx, decode(kind, body)?).await,
        UserLoginSecondFactor => {
            second_factor::user_login_second_factor(ctx, decode(kind, body)?).await
        }
        UserTotpEnroll => second_factor::user_totp_enroll(ctx, decode(kind, body)?).await,
        UserTotpConfirm => second_factor::user_totp_confirm(ctx, decode(kind, body)?).await,
        UserTotpDisable => second_factor::user_totp_disable(ctx, decode(kind, body)?).await,
        UserPasskeyRegisterStart => {
            passkeys::user_passkey_register_start(ctx, decode(kind, body)?).await
        }
        UserPasskeyRegisterFinish => {
            passkeys::user_passkey_register_finish(ctx, decode(kind, body)?).await
        }
        UserPasskeyLoginStart => passkeys::user_passkey_login_start(ctx, decode(kind, body)?).await,
        UserPasskeyLoginFinish => {
            passkeys::user_passkey_login_finish(ctx, decode(kind, body)?).await
        }
        UserPasskeyList => passkeys::user_passkey_list(ctx, decode(kind, body)?).await,
        UserPasskeyDelete => passkeys::user_passkey_delete(ctx, decode(kind, body)?).await,
        UserPasskeySecondFactorStart => {
            passkeys::user_passkey_second_factor_start(ctx, decode(kind, body)?).await
        }
        UserLogout => login::user_logout(ctx, decode(kind, body)?).await,
        UserPasscheck => login::user_passcheck(ctx, decode(kind, body)?).await,
        UserPasscheckNosession => login::user_passcheck_nosession(ctx, decode(kind, body)?).await,
        UserNew => users::user_new(ctx, decode(kind, body)?).await,
        UserList => users::user_list(ctx, decode(kind, body)?).await,
        UserLookupEmail => users::user_lookup_email(ctx, decode(kind, body)?).await,
        UserSetEmailverified => users::user_set_emailverified(ctx, decode(kind, body)?).await,
        UserChangepass => passwords::user_changepass(ctx, decode(kind, body)?).await,
        UserChangepassNosession => {
            passwords::user_changepass_nosession(ctx, decode(kind, body)?).await
        }
        UserResetpass => passwords::user_resetpass(ctx, decode(kind, body)?).await,
        UserResetpassNosession => {
            passwords::user_resetpass_nosession(ctx, decode(kind, body)?).await
        }
        UserValidatepass => passwords::user_validatepass(ctx, decode(kind, body)?).await,
        UserDelete => account::user_delete(ctx, decode(kind, body)?).await,
        UserEdit => account::user_edit(ctx, decode(kind, body)?).await,
        UserLock => account::user_lock(ctx, decode(kind, body)?).await,
        UserLookupMatch => account::user_lookup_match(ctx, decode(kind, body)?).await,
        UserSessionsList => user_sessions::user_sessions_list(ctx, decode(kind, body)?).await,
        UserSessionsRevoke => user_sessions::user_sessions_revoke(ctx, decode(kind, body)?).await,
        InternalUserLock => internal::internal_user_lock(ctx, decode(kind, body)?).await,
        InternalUserDelete => internal::internal_user_delete(ctx, decode(kind, body)?).await,
        InternalUserEdit => internal::internal_user_edit(ctx, decode(kind, body)?).await,
        InternalSessionEdit => internal::internal_session_edit(ctx, decode(kind, body)?).await,
        InternalAuditList => audit::internal_audit_list(ctx, decode(kind, body)?).await,
        UserCheckAccess => access::user_check_access(ctx, decode(kind, body)?).await,
        UserCheckLimit => access::user_check_limit(ctx, decode(kind, body)?).await,
        GroupNew => groups::group_new(ctx, decode(kind, body)?).await,
        GroupList => groups::group_list(ctx, decode(kind, body)?).await,
        GroupMembers => groups::group_members(ctx, decode(kind, body)?).await,
        GroupAddMember => groups::group_add_member(ctx, decode(kind, body)?).await,
        GroupRemoveMember => groups::group_remove_member(ctx, decode(kind, body)?).await,
        GroupDelete => groups::group_delete(ctx, decode(kind, body)?).await,
        ApikeyNew => apikeys::apikey_new(ctx, decode(kind, body)?).await,
        ApikeyVerify => apikeys::apikey_verify(ctx, decode(kind, body)?).await,
        ApikeyRevoke => apikeys::apikey_revoke(ctx, decode(kind, body)?).await,
        ApikeyNewNosession => apikeys::apikey_new_nosession(ctx, decode(kind, body)?).await,
        ApikeyVerifyNosession => apikeys::apikey_verify_nosession(ctx, decode(kind, body)?).await,
        ApikeyRevokeNosession => apikeys::apikey_revoke_nosession(ctx, decode(kind, body)?).await,
        ApikeyRevokeallNosession => {
            apikeys::apikey_revokeall_nosession(ctx, decode(kind, body)?).await
        }
        ApikeyRefreshNosession => apikeys::apikey_refresh_nosession(ctx, decode(kind, body)?).await,
        UserSendemailSignup => email::user_sendemail_signup(ctx, decode(kind, body)?).await,
        UserSendemailForgotpass => email::user_sendemail_forgotpass(ctx, decode(kind, body)?).await,
        UserSetEmailsent => email::user_set_emailsent(ctx, decode(kind, body)?).await,
        UserOauthStart => oauth::user_oauth_start(ctx, decode(kind, body)?).await,
        UserOauthFinish => oauth::user_oauth_finish(ctx, decode(kind, body)?).await,
        UserOauthList => oauth::user_oauth_list(ctx, decode(kind, body)?).await,
        UserOauthUnlink => oauth::user_oauth_unlink(ctx, decode(kind, body)?).await,
    }
}
