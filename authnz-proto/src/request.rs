//! The request table: every request type once, with its wire name, its
//! parameter schema (upstream's `apischema.py`, with the fixes
//! docs/PROTOCOL.md lists), its aggressive per-type rate limit if it has
//! one, and whether it is login-like (subject to the login back-off and
//! automatic lock).
//!
//! [`request_table!`] turns the table into [`RequestType`] and its lookups.
//! Adding a request type is one entry here plus its handler in the server
//! (whose dispatch `match` stops compiling until the handler is there).

use serde_json::Value;

use crate::python::truth::truthy;
use crate::schema::{
    ANY, BOOL, DICT, DICT_OR_NONE, FLOAT, FLOAT_OR_INT, INT, INT_OR_FLOAT, INT_OR_NONE, Param, STR,
    STR_OR_INT, STR_OR_LIST, STR_OR_NONE, opt, req,
};

/// Builds [`RequestType`] from the table: one variant per entry, and
/// `ALL`, `from_name`, `name`, `params`, `aggressive_limit` and
/// `is_login_like`, each answered from the entry alone.
macro_rules! request_table {
    ($(
        $(#[$meta:meta])*
        $variant:ident = $name:literal {
            params: $params:expr,
            aggressive_limit: $limit:expr,
            login_like: $login:expr $(,)?
        }
    )*) => {
        /// Every request type this server implements (the request table).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RequestType {
            $(
                #[doc = concat!("`", $name, "`")]
                $(#[$meta])*
                $variant,
            )*
        }

        impl RequestType {
            /// Every request type, in table order.
            pub const ALL: &'static [RequestType] = &[$(RequestType::$variant),*];

            /// The request type whose wire name is `name`, if there is one.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(RequestType::$variant),)*
                    _ => None,
                }
            }

            /// The wire name (`request` of the request object).
            pub const fn name(self) -> &'static str {
                match self {
                    $(RequestType::$variant => $name,)*
                }
            }

            /// The parameter schema: required arguments, then optional ones.
            pub const fn params(self) -> &'static [Param] {
                match self {
                    $(RequestType::$variant => {
                        const PARAMS: &[Param] = $params;
                        PARAMS
                    })*
                }
            }

            /// The built-in aggressive per-minute limit, if this type has
            /// one (a `ratelimits` override still wins over it).
            pub const fn aggressive_limit(self) -> Option<u32> {
                match self {
                    $(RequestType::$variant => $limit,)*
                }
            }

            /// Whether the login back-off and automatic lock apply.
            pub const fn is_login_like(self) -> bool {
                match self {
                    $(RequestType::$variant => $login,)*
                }
            }
        }
    };
}

/// Upstream's optional mail settings of the two send requests (used only
/// with `emailbodyoverrides`).
const MAIL_SETTINGS: [Param; 5] = [
    opt("emailuser", STR_OR_NONE),
    opt("emailpass", STR_OR_NONE),
    opt("emailserver", STR),
    opt("emailport", INT),
    opt("emailsender", STR),
];

request_table! {
    SessionNew = "session-new" {
        params: &[
            req("ip_address", STR),
            req("user_agent", STR),
            req("user_id", INT_OR_NONE),
            req("expires", STR),
            req("extra_info_json", DICT_OR_NONE),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    SessionExists = "session-exists" {
        params: &[req("session_token", STR)],
        aggressive_limit: None,
        login_like: false,
    }
    SessionDelete = "session-delete" {
        params: &[req("session_token", STR)],
        aggressive_limit: None,
        login_like: false,
    }
    /// Not upstream: a short-lived signed token (JWT) for the session's user.
    SessionJwtIssue = "session-jwt-issue" {
        params: &[
            req("session_token", STR),
            req("audience", STR),
            req("expires_seconds", INT),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    SessionDeleteUserid = "session-delete-userid" {
        params: &[
            req("session_token", STR),
            req("user_id", INT),
            req("keep_current_session", BOOL),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    UserLogin = "user-login" {
        params: &[
            req("session_token", STR),
            req("email", STR),
            req("password", STR),
        ],
        aggressive_limit: Some(10),
        login_like: true,
    }
    /// Not upstream: the second step of a login whose password step
    /// answered that a second factor is required. Exactly one of
    /// `totp_code`, `recovery_code` and `passkey_response` (the browser's
    /// assertion after `user-passkey-second-factor-start`). Not login-like in this table: the
    /// body names no e-mail, so the handler applies the back-off and lock
    /// to the ticket's user itself.
    UserLoginSecondFactor = "user-login-second-factor" {
        params: &[
            req("session_token", STR),
            req("login_ticket", STR),
            opt("totp_code", STR),
            opt("recovery_code", STR),
            opt("passkey_response", DICT),
        ],
        aggressive_limit: Some(10),
        login_like: false,
    }
    /// Not upstream: start enrolling a TOTP authenticator (pending until
    /// `user-totp-confirm`).
    UserTotpEnroll = "user-totp-enroll" {
        params: &[req("user_id", INT), req("password", STR)],
        aggressive_limit: Some(5),
        login_like: false,
    }
    /// Not upstream: enable the pending authenticator with its first code;
    /// answers the recovery codes. With `session_token`, that session is
    /// kept and the user's others end; without, all of them end.
    UserTotpConfirm = "user-totp-confirm" {
        params: &[
            req("user_id", INT),
            req("totp_code", STR),
            opt("session_token", STR),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    /// Not upstream: remove the authenticator and the recovery codes.
    /// `session_token` as for `user-totp-confirm`.
    UserTotpDisable = "user-totp-disable" {
        params: &[
            req("user_id", INT),
            req("password", STR),
            req("totp_code", STR),
            opt("session_token", STR),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    /// Not upstream: start registering a passkey (PROTOCOL.md 3.12); the
    /// reply holds the browser's creation options and a registration id.
    UserPasskeyRegisterStart = "user-passkey-register-start" {
        params: &[
            req("user_id", INT),
            req("password", STR),
            opt("name", STR),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    /// Not upstream: finish registering a passkey with the browser's
    /// credential. With `session_token`, that session is kept and the
    /// user's others end; without, all of them end.
    UserPasskeyRegisterFinish = "user-passkey-register-finish" {
        params: &[
            req("user_id", INT),
            req("registration_id", STR),
            req("credential", DICT),
            opt("name", STR),
            opt("session_token", STR),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    /// Not upstream: start a passwordless login with a passkey.
    UserPasskeyLoginStart = "user-passkey-login-start" {
        params: &[req("session_token", STR)],
        aggressive_limit: Some(10),
        login_like: false,
    }
    /// Not upstream: finish a passwordless login with the browser's
    /// assertion; the reply of a successful one is `user-login`'s. Not
    /// login-like in this table: the handler applies the back-off and lock
    /// to the passkey's user itself.
    UserPasskeyLoginFinish = "user-passkey-login-finish" {
        params: &[
            req("session_token", STR),
            req("login_id", STR),
            req("credential", DICT),
        ],
        aggressive_limit: Some(10),
        login_like: false,
    }
    /// Not upstream: the passkeys of a user.
    UserPasskeyList = "user-passkey-list" {
        params: &[req("user_id", INT)],
        aggressive_limit: Some(10),
        login_like: false,
    }
    /// Not upstream: remove a passkey. `session_token` as for
    /// `user-passkey-register-finish`.
    UserPasskeyDelete = "user-passkey-delete" {
        params: &[
            req("user_id", INT),
            req("password", STR),
            req("passkey_id", INT),
            opt("session_token", STR),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    /// Not upstream: the browser's options for answering the second step
    /// of a login with a passkey (`user-login-second-factor` with
    /// `passkey_response`).
    UserPasskeySecondFactorStart = "user-passkey-second-factor-start" {
        params: &[req("session_token", STR), req("login_ticket", STR)],
        aggressive_limit: Some(10),
        login_like: false,
    }
    UserLogout = "user-logout" {
        params: &[req("session_token", STR), req("user_id", INT)],
        aggressive_limit: Some(10),
        login_like: false,
    }
    UserPasscheck = "user-passcheck" {
        params: &[req("session_token", STR), req("password", STR)],
        aggressive_limit: None,
        login_like: false,
    }
    UserPasscheckNosession = "user-passcheck-nosession" {
        params: &[req("email", STR), req("password", STR)],
        aggressive_limit: None,
        login_like: true,
    }
    UserNew = "user-new" {
        params: &[
            req("full_name", STR),
            req("email", STR),
            req("password", STR),
            opt("extra_info", DICT_OR_NONE),
            opt("verify_retry_wait", INT_OR_NONE),
            opt("system_id", STR_OR_NONE),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    UserList = "user-list" {
        params: &[req("user_id", INT_OR_NONE)],
        aggressive_limit: None,
        login_like: false,
    }
    UserLookupEmail = "user-lookup-email" {
        params: &[req("email", STR)],
        aggressive_limit: None,
        login_like: false,
    }
    UserSetEmailverified = "user-set-emailverified" {
        params: &[req("email", STR)],
        aggressive_limit: None,
        login_like: false,
    }
    UserChangepass = "user-changepass" {
        params: &[
            req("user_id", INT),
            req("session_token", STR),
            req("full_name", STR),
            req("email", STR),
            req("current_password", STR),
            req("new_password", STR),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    UserChangepassNosession = "user-changepass-nosession" {
        params: &[
            req("user_id", INT),
            req("full_name", STR),
            req("email", STR),
            req("current_password", STR),
            req("new_password", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    UserResetpass = "user-resetpass" {
        params: &[
            req("email_address", STR),
            req("new_password", STR),
            req("session_token", STR),
        ],
        aggressive_limit: Some(5),
        login_like: false,
    }
    UserResetpassNosession = "user-resetpass-nosession" {
        params: &[
            req("email_address", STR),
            req("new_password", STR),
            req("required_active", BOOL),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    UserValidatepass = "user-validatepass" {
        params: &[
            req("password", STR),
            req("email", STR),
            req("full_name", STR),
            opt("min_pass_length", INT),
            opt("max_unsafe_similarity", INT),
            opt("max_character_frequency", FLOAT),
            opt("min_pwned_matches", INT),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    UserDelete = "user-delete" {
        params: &[req("email", STR), req("user_id", INT), req("password", STR)],
        aggressive_limit: None,
        login_like: false,
    }
    UserEdit = "user-edit" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("session_token", STR),
            req("target_userid", INT),
            req("update_dict", DICT),
        ],
        aggressive_limit: Some(10),
        login_like: false,
    }
    UserLock = "user-lock" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("session_token", STR),
            req("target_userid", INT),
            req("action", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    UserLookupMatch = "user-lookup-match" {
        params: &[req("by", STR), req("match", ANY)],
        aggressive_limit: None,
        login_like: false,
    }
    /// Not upstream: the active sessions of the caller's own user.
    UserSessionsList = "user-sessions-list" {
        params: &[req("user_id", INT), req("session_token", STR)],
        aggressive_limit: Some(30),
        login_like: false,
    }
    /// Not upstream: end one of the caller's own sessions, or all others.
    UserSessionsRevoke = "user-sessions-revoke" {
        params: &[
            req("user_id", INT),
            req("session_token", STR),
            req("session_id", STR),
        ],
        aggressive_limit: Some(10),
        login_like: false,
    }
    InternalUserLock = "internal-user-lock" {
        params: &[req("target_userid", INT), req("action", STR)],
        aggressive_limit: None,
        login_like: false,
    }
    InternalUserDelete = "internal-user-delete" {
        params: &[req("target_userid", INT)],
        aggressive_limit: None,
        login_like: false,
    }
    InternalUserEdit = "internal-user-edit" {
        params: &[req("target_userid", INT), req("update_dict", DICT)],
        aggressive_limit: None,
        login_like: false,
    }
    InternalSessionEdit = "internal-session-edit" {
        params: &[req("target_session_token", STR), req("update_dict", DICT)],
        aggressive_limit: None,
        login_like: false,
    }
    InternalAuditList = "internal-audit-list" {
        params: &[
            req("limit", INT),
            opt("user_id", INT),
            opt("event", STR),
            opt("since", STR),
            opt("until", STR),
            opt("cursor", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    UserCheckAccess = "user-check-access" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("action", STR),
            req("target_name", STR),
            req("target_owner", INT),
            req("target_visibility", STR),
            req("target_sharedwith", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    UserCheckLimit = "user-check-limit" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("limit_name", STR),
            req("value_to_check", ANY),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    /// Not upstream: a superuser or staff member (the policy's group
    /// managers) makes a group.
    GroupNew = "group-new" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("group_name", STR),
        ],
        aggressive_limit: Some(30),
        login_like: false,
    }
    /// Not upstream: every group (managers), or the groups of one member.
    GroupList = "group-list" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            opt("member_id", INT),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    /// Not upstream: the members of a group and their owner flags.
    GroupMembers = "group-members" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("group_id", INT),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    /// Not upstream: add a member (or change an owner flag).
    GroupAddMember = "group-add-member" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("group_id", INT),
            req("member_id", INT),
            req("is_owner", BOOL),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    /// Not upstream: end a membership.
    GroupRemoveMember = "group-remove-member" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("group_id", INT),
            req("member_id", INT),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    /// Not upstream: delete a group and its memberships.
    GroupDelete = "group-delete" {
        params: &[
            req("user_id", INT),
            req("user_role", STR),
            req("group_id", INT),
        ],
        aggressive_limit: Some(30),
        login_like: false,
    }
    ApikeyNew = "apikey-new" {
        params: &[
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
        ],
        aggressive_limit: Some(30),
        login_like: false,
    }
    ApikeyVerify = "apikey-verify" {
        params: &[
            req("apikey_dict", DICT),
            req("user_id", INT),
            req("user_role", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    ApikeyRevoke = "apikey-revoke" {
        params: &[
            req("apikey_dict", DICT),
            req("user_id", INT),
            req("user_role", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    ApikeyNewNosession = "apikey-new-nosession" {
        params: &[
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
        ],
        aggressive_limit: Some(30),
        login_like: false,
    }
    ApikeyVerifyNosession = "apikey-verify-nosession" {
        params: &[
            req("apikey_dict", DICT),
            req("user_id", INT),
            req("user_role", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    ApikeyRevokeNosession = "apikey-revoke-nosession" {
        params: &[
            req("apikey_dict", DICT),
            req("user_id", INT),
            req("user_role", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    ApikeyRevokeallNosession = "apikey-revokeall-nosession" {
        params: &[
            req("apikey_dict", DICT),
            req("user_id", INT),
            req("user_role", STR),
        ],
        aggressive_limit: None,
        login_like: false,
    }
    ApikeyRefreshNosession = "apikey-refresh-nosession" {
        params: &[
            req("apikey_dict", DICT),
            req("user_id", INT),
            req("user_role", STR),
            req("refresh_token", STR),
            req("ip_address", STR),
            req("expires_seconds", INT),
            req("not_valid_before", INT_OR_FLOAT),
            req("refresh_expires", INT),
            req("refresh_nbf", INT_OR_FLOAT),
        ],
        aggressive_limit: Some(30),
        login_like: false,
    }
    /// Fixed against upstream: `email_address` is a `str` (upstream: `int`)
    /// and `created_info` a `dict` (upstream: `str`). `server_verify_url` is
    /// needed only without an `account_verify_url` string, which wins over
    /// it: the server's handler then answers what this schema answered when
    /// `server_verify_url` was required.
    UserSendemailSignup = "user-sendemail-signup" {
        params: &{
            let m = MAIL_SETTINGS;
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
        },
        aggressive_limit: Some(2),
        login_like: false,
    }
    /// Fixed against upstream: `email_address` is a `str` (upstream: `int`).
    UserSendemailForgotpass = "user-sendemail-forgotpass" {
        params: &{
            let m = MAIL_SETTINGS;
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
        },
        aggressive_limit: Some(2),
        login_like: false,
    }
    UserSetEmailsent = "user-set-emailsent" {
        params: &[req("email", STR), req("email_type", STR)],
        aggressive_limit: Some(2),
        login_like: false,
    }
    /// Not upstream: social login (PROTOCOL.md 3.11).
    UserOauthStart = "user-oauth-start" {
        params: &[
            req("provider", STR),
            req("session_token", STR),
            req("redirect_uri", STR),
        ],
        aggressive_limit: Some(10),
        login_like: false,
    }
    /// Not upstream: social login (PROTOCOL.md 3.11).
    UserOauthFinish = "user-oauth-finish" {
        params: &[
            req("provider", STR),
            req("session_token", STR),
            req("state", STR),
            req("code", STR),
            req("redirect_uri", STR),
        ],
        aggressive_limit: Some(10),
        login_like: false,
    }
    /// Not upstream: social login (PROTOCOL.md 3.11).
    UserOauthList = "user-oauth-list" {
        params: &[req("user_id", INT)],
        aggressive_limit: Some(10),
        login_like: false,
    }
    /// Not upstream: social login (PROTOCOL.md 3.11).
    UserOauthUnlink = "user-oauth-unlink" {
        params: &[req("user_id", INT), req("provider", STR)],
        aggressive_limit: Some(10),
        login_like: false,
    }
}

/// How many request types have an aggressive limit.
const AGGRESSIVE_COUNT: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < RequestType::ALL.len() {
        if RequestType::ALL[i].aggressive_limit().is_some() {
            n += 1;
        }
        i += 1;
    }
    n
};

/// The built-in aggressive per-minute limits, `(wire name, limit)` in table
/// order, derived from the table.
pub const AGGRESSIVE_LIMITS: &[(&str, u32)] = &{
    let mut out = [("", 0u32); AGGRESSIVE_COUNT];
    let mut i = 0;
    let mut j = 0;
    while i < RequestType::ALL.len() {
        let kind = RequestType::ALL[i];
        if let Some(limit) = kind.aggressive_limit() {
            out[j] = (kind.name(), limit);
            j += 1;
        }
        i += 1;
    }
    out
};

/// The built-in aggressive limit of the request type named `name`, if it
/// has one (none for a name that is not a request type).
pub fn aggressive_limit(name: &str) -> Option<u32> {
    RequestType::from_name(name).and_then(RequestType::aggressive_limit)
}

/// The default rate-limit family of a request type name, by its prefix
/// (`user-`, `session-`, `apikey-`, `internal-`); any other text, including
/// a name that is no request type, is [`RateFamily::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateFamily {
    /// `user-*`
    User,
    /// `session-*`
    Session,
    /// `apikey-*`
    Apikey,
    /// `internal-*`
    Internal,
    /// Anything else (limited per client address).
    Other,
}

impl RateFamily {
    /// The family of the request type name `name` (any text).
    pub fn of_name(name: &str) -> Self {
        if name.starts_with("user-") {
            RateFamily::User
        } else if name.starts_with("session-") {
            RateFamily::Session
        } else if name.starts_with("apikey-") {
            RateFamily::Apikey
        } else if name.starts_with("internal-") {
            RateFamily::Internal
        } else {
            RateFamily::Other
        }
    }
}

/// Whether a request of the type named `name` (any text, known or not)
/// names an e-mail address and is also limited per address: its name
/// contains `email`, as upstream decides.
pub fn names_an_email(name: &str) -> bool {
    name.contains("email")
}

/// The e-mail address a request names: `body.email`, or if that is falsy
/// `body.email_address`, as text (the JSON text of a non-string); `None`
/// when both are falsy or the body is not an object.
pub fn email_of(body: &Value) -> Option<String> {
    let obj = body.as_object()?;
    let pick = |k: &str| obj.get(k).filter(|v| truthy(v));
    let v = pick("email").or_else(|| pick("email_address"))?;
    Some(match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_table_is_whole_and_consistent() {
        assert_eq!(RequestType::ALL.len(), 63);
        let names: HashSet<&str> = RequestType::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), 63, "wire names are unique");
        for &kind in RequestType::ALL {
            assert_eq!(RequestType::from_name(kind.name()), Some(kind));
            let params = kind.params();
            assert!(!params.is_empty(), "{kind:?}");
            // Required arguments come first, names are unique.
            let first_opt = params.iter().position(|p| !p.required);
            if let Some(i) = first_opt {
                assert!(params[i..].iter().all(|p| !p.required), "{kind:?}");
            }
            let unique: HashSet<&str> = params.iter().map(|p| p.name).collect();
            assert_eq!(unique.len(), params.len(), "{kind:?}");
        }
        assert_eq!(RequestType::from_name("user-frobnicate"), None);
        assert_eq!(RequestType::from_name("USER-NEW"), None);
    }

    #[test]
    fn login_like_and_aggressive_limits() {
        let login: Vec<&str> = RequestType::ALL
            .iter()
            .filter(|k| k.is_login_like())
            .map(|k| k.name())
            .collect();
        assert_eq!(login, ["user-login", "user-passcheck-nosession"]);
        let mut limits = AGGRESSIVE_LIMITS.to_vec();
        limits.sort_unstable();
        assert_eq!(
            limits,
            [
                ("apikey-new", 30),
                ("apikey-new-nosession", 30),
                ("apikey-refresh-nosession", 30),
                ("group-delete", 30),
                ("group-new", 30),
                ("user-changepass", 5),
                ("user-edit", 10),
                ("user-login", 10),
                ("user-login-second-factor", 10),
                ("user-logout", 10),
                ("user-new", 5),
                ("user-oauth-finish", 10),
                ("user-oauth-list", 10),
                ("user-oauth-start", 10),
                ("user-oauth-unlink", 10),
                ("user-passkey-delete", 5),
                ("user-passkey-list", 10),
                ("user-passkey-login-finish", 10),
                ("user-passkey-login-start", 10),
                ("user-passkey-register-finish", 5),
                ("user-passkey-register-start", 5),
                ("user-passkey-second-factor-start", 10),
                ("user-resetpass", 5),
                ("user-sendemail-forgotpass", 2),
                ("user-sendemail-signup", 2),
                ("user-sessions-list", 30),
                ("user-sessions-revoke", 10),
                ("user-set-emailsent", 2),
                ("user-totp-confirm", 5),
                ("user-totp-disable", 5),
                ("user-totp-enroll", 5),
            ]
        );
        assert_eq!(aggressive_limit("user-new"), Some(5));
        assert_eq!(aggressive_limit("user-list"), None);
        assert_eq!(aggressive_limit("nope"), None);
    }

    #[test]
    fn families_and_emails() {
        assert_eq!(RateFamily::of_name("user-new"), RateFamily::User);
        assert_eq!(RateFamily::of_name("session-x"), RateFamily::Session);
        assert_eq!(RateFamily::of_name("apikey-"), RateFamily::Apikey);
        assert_eq!(RateFamily::of_name("internal-a"), RateFamily::Internal);
        assert_eq!(RateFamily::of_name("user"), RateFamily::Other);
        assert_eq!(RateFamily::of_name(""), RateFamily::Other);
        assert!(names_an_email("user-lookup-email"));
        assert!(names_an_email("user-sendemail-signup"));
        assert!(!names_an_email("user-new"));
        let body = serde_json::json!({"email": "", "email_address": "a@b.c"});
        assert_eq!(email_of(&body).as_deref(), Some("a@b.c"));
        assert_eq!(
            email_of(&serde_json::json!({"email": 5})).as_deref(),
            Some("5")
        );
        assert_eq!(email_of(&serde_json::json!({"email": null})), None);
        assert_eq!(email_of(&serde_json::json!([1])), None);
    }
}
