//! The request types: schema and action for each, and the dispatcher.
//!
//! An action takes the [`Context`] and the schema-checked `body` and returns a
//! [`reply::Reply`] (the result object `R` of spec 1.8). Actions never touch
//! HTTP, Fernet or SQL: they speak domain types and the storage traits.
//! An [`ActionError`] is an "unhandled" failure that the wire reports as 400
//! (spec 1.10, Q-20).

pub mod access;
pub mod account;
pub mod apikeys;
pub mod args;
pub mod email;
pub mod internal;
pub mod login;
pub mod offload;
pub mod passwords;
pub mod permissions;
pub mod reply;
pub mod sessions;
pub mod users;

use serde_json::{Map, Value};

pub use crate::context::Context;
use authnz_proto::schema::{
    ANY, BOOL, DICT, DICT_OR_NONE, FLOAT, INT, INT_OR_NONE, Param, STR, STR_OR_NONE, opt, req,
};
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
    /// An input upstream crashes on (listed per request type in the spec).
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

/// Every request type this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    SessionNew,
    SessionExists,
    SessionDelete,
    SessionDeleteUserid,
    UserLogin,
    UserLogout,
    UserPasscheck,
    UserPasscheckNosession,
    UserNew,
    UserList,
    UserLookupEmail,
    UserSetEmailverified,
    UserChangepass,
    UserChangepassNosession,
    UserResetpass,
    UserResetpassNosession,
    UserValidatepass,
    UserDelete,
    UserEdit,
    UserLock,
    UserLookupMatch,
    InternalUserLock,
    InternalUserDelete,
    InternalUserEdit,
    InternalSessionEdit,
    UserCheckAccess,
    UserCheckLimit,
    ApikeyNew,
    ApikeyVerify,
    ApikeyRevoke,
    ApikeyNewNosession,
    ApikeyVerifyNosession,
    ApikeyRevokeNosession,
    ApikeyRevokeallNosession,
    ApikeyRefreshNosession,
    UserSendemailSignup,
    UserSendemailForgotpass,
    UserSetEmailsent,
}

impl RequestType {
    /// The request type named `name`, if this server implements it.
    pub fn from_name(name: &str) -> Option<Self> {
        use RequestType::*;
        Some(match name {
            "session-new" => SessionNew,
            "session-exists" => SessionExists,
            "session-delete" => SessionDelete,
            "session-delete-userid" => SessionDeleteUserid,
            "user-login" => UserLogin,
            "user-logout" => UserLogout,
            "user-passcheck" => UserPasscheck,
            "user-passcheck-nosession" => UserPasscheckNosession,
            "user-new" => UserNew,
            "user-list" => UserList,
            "user-lookup-email" => UserLookupEmail,
            "user-set-emailverified" => UserSetEmailverified,
            "user-changepass" => UserChangepass,
            "user-changepass-nosession" => UserChangepassNosession,
            "user-resetpass" => UserResetpass,
            "user-resetpass-nosession" => UserResetpassNosession,
            "user-validatepass" => UserValidatepass,
            "user-delete" => UserDelete,
            "user-edit" => UserEdit,
            "user-lock" => UserLock,
            "user-lookup-match" => UserLookupMatch,
            "internal-user-lock" => InternalUserLock,
            "internal-user-delete" => InternalUserDelete,
            "internal-user-edit" => InternalUserEdit,
            "internal-session-edit" => InternalSessionEdit,
            "user-check-access" => UserCheckAccess,
            "user-check-limit" => UserCheckLimit,
            "apikey-new" => ApikeyNew,
            "apikey-verify" => ApikeyVerify,
            "apikey-revoke" => ApikeyRevoke,
            "apikey-new-nosession" => ApikeyNewNosession,
            "apikey-verify-nosession" => ApikeyVerifyNosession,
            "apikey-revoke-nosession" => ApikeyRevokeNosession,
            "apikey-revokeall-nosession" => ApikeyRevokeallNosession,
            "apikey-refresh-nosession" => ApikeyRefreshNosession,
            "user-sendemail-signup" => UserSendemailSignup,
            "user-sendemail-forgotpass" => UserSendemailForgotpass,
            "user-set-emailsent" => UserSetEmailsent,
            _ => return None,
        })
    }

    /// The upstream schema of this request type (spec section 3).
    pub fn params(self) -> &'static [Param] {
        use RequestType::*;
        match self {
            SessionNew => schemas::SESSION_NEW,
            SessionExists | SessionDelete => schemas::SESSION_TOKEN,
            SessionDeleteUserid => schemas::SESSION_DELETE_USERID,
            UserLogin => schemas::USER_LOGIN,
            UserLogout => schemas::USER_LOGOUT,
            UserPasscheck => schemas::USER_PASSCHECK,
            UserPasscheckNosession => schemas::USER_PASSCHECK_NOSESSION,
            UserNew => schemas::USER_NEW,
            UserList => schemas::USER_LIST,
            UserLookupEmail | UserSetEmailverified => schemas::EMAIL,
            UserChangepass => schemas::USER_CHANGEPASS,
            UserChangepassNosession => schemas::USER_CHANGEPASS_NOSESSION,
            UserResetpass => schemas::USER_RESETPASS,
            UserResetpassNosession => schemas::USER_RESETPASS_NOSESSION,
            UserValidatepass => schemas::USER_VALIDATEPASS,
            UserDelete => schemas::USER_DELETE,
            UserEdit => schemas::USER_EDIT,
            UserLock => schemas::USER_LOCK,
            UserLookupMatch => schemas::USER_LOOKUP_MATCH,
            InternalUserLock => schemas::INTERNAL_USER_LOCK,
            InternalUserDelete => schemas::INTERNAL_USER_DELETE,
            InternalUserEdit => schemas::INTERNAL_USER_EDIT,
            InternalSessionEdit => schemas::INTERNAL_SESSION_EDIT,
            UserCheckAccess => schemas::USER_CHECK_ACCESS,
            UserCheckLimit => schemas::USER_CHECK_LIMIT,
            ApikeyNew => schemas::APIKEY_NEW,
            ApikeyNewNosession => schemas::APIKEY_NEW_NOSESSION,
            ApikeyVerify
            | ApikeyRevoke
            | ApikeyVerifyNosession
            | ApikeyRevokeNosession
            | ApikeyRevokeallNosession => schemas::APIKEY_DICT,
            ApikeyRefreshNosession => schemas::APIKEY_REFRESH_NOSESSION,
            UserSendemailSignup => schemas::USER_SENDEMAIL_SIGNUP,
            UserSendemailForgotpass => schemas::USER_SENDEMAIL_FORGOTPASS,
            UserSetEmailsent => schemas::USER_SET_EMAILSENT,
        }
    }

    /// Run the action.
    pub async fn run(self, ctx: &Context, body: &Map<String, Value>) -> Result<Reply, ActionError> {
        use RequestType::*;
        args::check_int_ranges(
            body,
            self.params()
                .iter()
                .map(|p| (p.name, p.spec.is_integer_only())),
        )?;
        match self {
            SessionNew => sessions::session_new(ctx, body).await,
            SessionExists => sessions::session_exists(ctx, body).await,
            SessionDelete => sessions::session_delete(ctx, body).await,
            SessionDeleteUserid => sessions::session_delete_userid(ctx, body).await,
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

    /// The two request types subject to the login back-off and automatic
    /// lock (spec 4.2).
    pub fn is_login_like(self) -> bool {
        matches!(
            self,
            RequestType::UserLogin | RequestType::UserPasscheckNosession
        )
    }
}

/// The upstream schemas (`authnzerver/apischema.py`, spec section 3).
mod schemas {
    use super::*;

    pub const SESSION_NEW: &[Param] = &[
        req("ip_address", STR),
        req("user_agent", STR),
        req("user_id", INT_OR_NONE),
        req("expires", STR),
        req("extra_info_json", DICT_OR_NONE),
    ];
    pub const SESSION_TOKEN: &[Param] = &[req("session_token", STR)];
    pub const SESSION_DELETE_USERID: &[Param] = &[
        req("session_token", STR),
        req("user_id", INT),
        req("keep_current_session", BOOL),
    ];
    pub const USER_LOGIN: &[Param] = &[
        req("session_token", STR),
        req("email", STR),
        req("password", STR),
    ];
    pub const USER_LOGOUT: &[Param] = &[req("session_token", STR), req("user_id", INT)];
    pub const USER_PASSCHECK: &[Param] = &[req("session_token", STR), req("password", STR)];
    pub const USER_PASSCHECK_NOSESSION: &[Param] = &[req("email", STR), req("password", STR)];
    pub const USER_NEW: &[Param] = &[
        req("full_name", STR),
        req("email", STR),
        req("password", STR),
        opt("extra_info", DICT_OR_NONE),
        opt("verify_retry_wait", INT_OR_NONE),
        opt("system_id", STR_OR_NONE),
    ];
    pub const USER_LIST: &[Param] = &[req("user_id", INT_OR_NONE)];
    pub const EMAIL: &[Param] = &[req("email", STR)];
    pub const USER_CHANGEPASS: &[Param] = &[
        req("user_id", INT),
        req("session_token", STR),
        req("full_name", STR),
        req("email", STR),
        req("current_password", STR),
        req("new_password", STR),
    ];
    pub const USER_CHANGEPASS_NOSESSION: &[Param] = &[
        req("user_id", INT),
        req("full_name", STR),
        req("email", STR),
        req("current_password", STR),
        req("new_password", STR),
    ];
    pub const USER_RESETPASS: &[Param] = &[
        req("email_address", STR),
        req("new_password", STR),
        req("session_token", STR),
    ];
    pub const USER_RESETPASS_NOSESSION: &[Param] = &[
        req("email_address", STR),
        req("new_password", STR),
        req("required_active", BOOL),
    ];
    pub const USER_VALIDATEPASS: &[Param] = &[
        req("password", STR),
        req("email", STR),
        req("full_name", STR),
        opt("min_pass_length", INT),
        opt("max_unsafe_similarity", INT),
        opt("max_character_frequency", FLOAT),
        opt("min_pwned_matches", INT),
    ];
    pub const USER_DELETE: &[Param] =
        &[req("email", STR), req("user_id", INT), req("password", STR)];
    pub const USER_EDIT: &[Param] = &[
        req("user_id", INT),
        req("user_role", STR),
        req("session_token", STR),
        req("target_userid", INT),
        req("update_dict", DICT),
    ];
    pub const USER_LOCK: &[Param] = &[
        req("user_id", INT),
        req("user_role", STR),
        req("session_token", STR),
        req("target_userid", INT),
        req("action", STR),
    ];
    pub const USER_LOOKUP_MATCH: &[Param] = &[req("by", STR), req("match", ANY)];
    pub const INTERNAL_USER_LOCK: &[Param] = &[req("target_userid", INT), req("action", STR)];
    pub const INTERNAL_USER_DELETE: &[Param] = &[req("target_userid", INT)];
    pub const INTERNAL_USER_EDIT: &[Param] = &[req("target_userid", INT), req("update_dict", DICT)];
    pub const INTERNAL_SESSION_EDIT: &[Param] =
        &[req("target_session_token", STR), req("update_dict", DICT)];

    use authnz_proto::schema::{FLOAT_OR_INT, INT_OR_FLOAT, STR_OR_INT, STR_OR_LIST};

    pub const USER_CHECK_ACCESS: &[Param] = &[
        req("user_id", INT),
        req("user_role", STR),
        req("action", STR),
        req("target_name", STR),
        req("target_owner", INT),
        req("target_visibility", STR),
        req("target_sharedwith", STR),
    ];
    pub const USER_CHECK_LIMIT: &[Param] = &[
        req("user_id", INT),
        req("user_role", STR),
        req("limit_name", STR),
        req("value_to_check", ANY),
    ];
    pub const APIKEY_NEW: &[Param] = &[
        req("issuer", STR),
        req("audience", STR),
        req("subject", STR_OR_LIST),
        req("apiversion", STR_OR_INT),
        req("expires_days", INT),
        req("not_valid_before", FLOAT_OR_INT),
        req("user_id", INT),
        req("user_role", STR),
        req("ip_address", STR),
        req("user_agent", STR),
        req("session_token", STR),
    ];
    pub const APIKEY_NEW_NOSESSION: &[Param] = &[
        req("issuer", STR),
        req("audience", STR),
        req("subject", STR_OR_LIST),
        req("apiversion", STR_OR_INT),
        req("expires_seconds", INT),
        req("not_valid_before", FLOAT_OR_INT),
        req("user_id", INT),
        req("user_role", STR),
        req("ip_address", STR),
        req("refresh_expires", INT),
        req("refresh_nbf", FLOAT_OR_INT),
    ];
    pub const APIKEY_DICT: &[Param] = &[
        req("apikey_dict", DICT),
        req("user_id", INT),
        req("user_role", STR),
    ];
    pub const APIKEY_REFRESH_NOSESSION: &[Param] = &[
        req("apikey_dict", DICT),
        req("user_id", INT),
        req("user_role", STR),
        req("refresh_token", STR),
        req("ip_address", STR),
        req("expires_seconds", INT),
        req("not_valid_before", INT_OR_FLOAT),
        req("refresh_expires", INT),
        req("refresh_nbf", INT_OR_FLOAT),
    ];

    /// Upstream's optional mail settings of the two send requests (Q-16;
    /// used only with `emailbodyoverrides`).
    macro_rules! mail_settings {
        () => {
            [
                opt("emailuser", STR_OR_NONE),
                opt("emailpass", STR_OR_NONE),
                opt("emailserver", STR),
                opt("emailport", INT),
                opt("emailsender", STR),
            ]
        };
    }

    /// Q-5 fixed: `email_address` is a `str` (upstream: `int`) and
    /// `created_info` a `dict` (upstream: `str`). `server_verify_url` is
    /// needed only without an `account_verify_url` string, which wins over
    /// it: the handler (`email::user_sendemail_signup`) then answers what
    /// this schema answered when `server_verify_url` was required.
    pub const USER_SENDEMAIL_SIGNUP: &[Param] = &{
        let m = mail_settings!();
        [
            req("email_address", STR),
            req("session_token", STR),
            req("created_info", DICT),
            req("server_name", STR),
            req("server_baseurl", STR),
            req("verification_token", STR),
            req("verification_expiry", INT),
            opt("server_verify_url", STR),
            opt("account_verify_url", STR),
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
        ]
    };
    /// Q-5 fixed: `email_address` is a `str` (upstream: `int`).
    pub const USER_SENDEMAIL_FORGOTPASS: &[Param] = &{
        let m = mail_settings!();
        [
            req("email_address", STR),
            req("session_token", STR),
            req("server_name", STR),
            req("server_baseurl", STR),
            req("password_forgot_url", STR),
            req("verification_token", STR),
            req("verification_expiry", INT),
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
        ]
    };
    pub const USER_SET_EMAILSENT: &[Param] = &[req("email", STR), req("email_type", STR)];
}
