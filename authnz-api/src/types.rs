//! Domain types: users, sessions, roles, and the patches that change them.
//!
//! Field names follow the tables of spec section 8.1. All datetimes are naive
//! UTC truncated to microseconds.

use chrono::NaiveDateTime;
use serde_json::Value;

/// A user's numeric id. 1, 2 and 3 are the built-in superuser, anonymous and
/// dummy users (spec 8.4).
pub type UserId = i64;

/// The built-in superuser's id.
pub const SUPERUSER_ID: UserId = 1;
/// The built-in anonymous user's id: owner of sessions created without a user.
pub const ANONYMOUS_USER_ID: UserId = 2;
/// The built-in dummy (locked) user's id, whose hash is verified for timing.
pub const DUMMY_USER_ID: UserId = 3;

/// One row of the `users` table.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: UserId,
    pub system_id: String,
    pub full_name: Option<String>,
    /// Argon2 PHC string. Never leaves the server.
    pub password: String,
    pub email: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub emailverify_sent_datetime: Option<NaiveDateTime>,
    pub emailforgotpass_sent_datetime: Option<NaiveDateTime>,
    pub emailchangepass_sent_datetime: Option<NaiveDateTime>,
    pub last_login_success: Option<NaiveDateTime>,
    pub last_login_try: Option<NaiveDateTime>,
    pub failed_login_tries: Option<i64>,
    /// JSON object (or any JSON value written by an older deployment); `None`
    /// is SQL NULL.
    pub extra_info: Option<Value>,
    pub created_on: NaiveDateTime,
    pub last_updated: NaiveDateTime,
    pub user_role: String,
}

/// Everything needed to insert a user. `created_on` and `last_updated` are both
/// set to `now`; `failed_login_tries` starts at 0.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub system_id: String,
    pub full_name: Option<String>,
    pub password: String,
    pub email: String,
    pub email_verified: bool,
    pub is_active: bool,
    pub user_role: String,
    pub extra_info: Option<Value>,
    pub emailverify_sent_datetime: Option<NaiveDateTime>,
}

/// A partial update of a user row: `None` leaves a column unchanged.
///
/// For nullable columns the inner `Option` is the new value (`Some(None)`
/// writes NULL). `last_updated` is always set by the store to the `now` passed
/// to [`crate::UserStore::update_user`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPatch {
    pub full_name: Option<Option<String>>,
    pub password: Option<String>,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub is_active: Option<bool>,
    pub user_role: Option<String>,
    pub extra_info: Option<Option<Value>>,
    pub emailverify_sent_datetime: Option<Option<NaiveDateTime>>,
    pub emailforgotpass_sent_datetime: Option<Option<NaiveDateTime>>,
}

impl UserPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == UserPatch::default()
    }
}

/// One row of the `sessions` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// 43-character URL-safe token; the primary key.
    pub session_token: String,
    pub ip_address: String,
    pub user_agent: String,
    pub user_id: UserId,
    pub created: NaiveDateTime,
    pub expires: NaiveDateTime,
    pub extra_info_json: Option<Value>,
}

/// One row of the `roles` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub desc: String,
}

/// What a fresh database is seeded with (spec 8.4).
#[derive(Debug, Clone, PartialEq)]
pub struct InitialData {
    /// Role rows, in policy order.
    pub roles: Vec<Role>,
    /// The superuser, anonymous and dummy users, inserted in this order so that
    /// they receive ids 1, 2 and 3.
    pub users: [NewUser; 3],
}

/// One row of the `apikeys` table: an API key tied to a user session
/// (spec 3.6, `apikey-new`). It dies with its session (spec 8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionApiKey {
    /// The `tkn` claim: 43 URL-safe characters; the primary key.
    pub apikey: String,
    pub issued: NaiveDateTime,
    pub expires: NaiveDateTime,
    pub not_valid_before: NaiveDateTime,
    pub user_id: UserId,
    pub user_role: String,
    pub session_token: String,
}

/// One row of the `apikeys_nosession` table: an API key with a refresh token
/// and no session (spec 3.6, `apikey-new-nosession`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSessionApiKey {
    /// The `tkn` claim; the primary key.
    pub apikey: String,
    pub issued: NaiveDateTime,
    pub expires: NaiveDateTime,
    pub not_valid_before: NaiveDateTime,
    /// Argon2 PHC hash of the refresh token; the token itself is never stored.
    pub refresh_token: String,
    pub refresh_issued: NaiveDateTime,
    pub refresh_expires: NaiveDateTime,
    pub refresh_nbf: NaiveDateTime,
    pub user_id: UserId,
    pub user_role: String,
}

/// Which stored API key an operation is about: the `tkn`, `uid` and `rol`
/// claims, all three of which must match a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyRef<'a> {
    pub apikey: &'a str,
    pub user_id: UserId,
    pub user_role: &'a str,
}
