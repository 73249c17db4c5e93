//! The request types: schema and action for each, and the dispatcher.
//!
//! An action takes the [`Context`] and the schema-checked `body` and returns a
//! [`reply::Reply`] (the result object `R` of spec 1.8). Actions never touch
//! HTTP, Fernet or SQL: they speak domain types and the storage traits.
//! An [`ActionError`] is an "unhandled" failure that the wire reports as 400
//! (spec 1.10, Q-20).

pub mod args;
pub mod email;
pub mod login;
pub mod reply;
pub mod sessions;
pub mod users;

use serde_json::{Map, Value};

pub use crate::context::Context;
use crate::protocol::schema::{
    BOOL, DICT, DICT_OR_NONE, INT, INT_OR_NONE, Param, STR, STR_OR_NONE, opt, req,
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
    #[error("unhandled input: {0}")]
    Unhandled(String),
    /// Anything else that should not happen.
    #[error("internal: {0}")]
    Internal(String),
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
            UserSendemailSignup => schemas::USER_SENDEMAIL_SIGNUP,
            UserSendemailForgotpass => schemas::USER_SENDEMAIL_FORGOTPASS,
            UserSetEmailsent => schemas::USER_SET_EMAILSENT,
        }
    }

    /// Run the action.
    pub async fn run(self, ctx: &Context, body: &Map<String, Value>) -> Result<Reply, ActionError> {
        use RequestType::*;
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
            UserSendemailSignup => email::user_sendemail_signup(ctx, body).await,
            UserSendemailForgotpass => email::user_sendemail_forgotpass(ctx, body).await,
            UserSetEmailsent => email::user_set_emailsent(ctx, body).await,
        }
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
    /// `created_info` a `dict` (upstream: `str`). `server_verify_url` stays
    /// required as upstream documents it; an `account_verify_url` string
    /// wins over it.
    pub const USER_SENDEMAIL_SIGNUP: &[Param] = &{
        let m = mail_settings!();
        [
            req("email_address", STR),
            req("session_token", STR),
            req("created_info", DICT),
            req("server_name", STR),
            req("server_baseurl", STR),
            req("server_verify_url", STR),
            req("verification_token", STR),
            req("verification_expiry", INT),
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
