//! Domain types: users, sessions, roles, and the patches that change them.
//!
//! Field names follow the tables of PROTOCOL.md 8.1. All datetimes are naive
//! UTC truncated to microseconds.

use chrono::NaiveDateTime;
use serde_json::Value;

/// A user's numeric id. 1, 2 and 3 are the built-in superuser, anonymous and
/// dummy users (PROTOCOL.md 8.4).
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
    /// When an automatic lock (PROTOCOL.md 4.2) ends; `None` for users that are not
    /// locked or were locked by hand. Not part of upstream's schema nor of any
    /// wire object: it only lets an expired lock be lifted after a restart
    ///
    pub locked_until: Option<NaiveDateTime>,
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
    /// See [`User::locked_until`].
    pub locked_until: Option<Option<NaiveDateTime>>,
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

/// What a fresh database is seeded with (PROTOCOL.md 8.4).
#[derive(Debug, Clone, PartialEq)]
pub struct InitialData {
    /// Role rows, in policy order.
    pub roles: Vec<Role>,
    /// The superuser, anonymous and dummy users, inserted in this order so that
    /// they receive ids 1, 2 and 3.
    pub users: [NewUser; 3],
}

/// The `users` columns a lookup may match on (`user-lookup-match`, PROTOCOL.md 3.3):
/// a closed list, so no column name ever comes from a request. `password` is
/// deliberately absent, and so are `extra_info` (matched by keys, see
/// [`crate::UserStore::find_users_by_extra_info`]) and `locked_until` (not
/// part of upstream's schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserColumn {
    UserId,
    SystemId,
    FullName,
    Email,
    EmailVerified,
    IsActive,
    EmailverifySentDatetime,
    EmailforgotpassSentDatetime,
    EmailchangepassSentDatetime,
    LastLoginSuccess,
    LastLoginTry,
    FailedLoginTries,
    CreatedOn,
    LastUpdated,
    UserRole,
}

/// What kind of value a [`UserColumn`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Int,
    Text,
    Bool,
    DateTime,
}

/// A typed value to compare a [`UserColumn`] with.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValue {
    Int(i64),
    Text(String),
    Bool(bool),
    DateTime(NaiveDateTime),
}

impl ColumnValue {
    /// The kind of this value.
    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnValue::Int(_) => ColumnKind::Int,
            ColumnValue::Text(_) => ColumnKind::Text,
            ColumnValue::Bool(_) => ColumnKind::Bool,
            ColumnValue::DateTime(_) => ColumnKind::DateTime,
        }
    }
}

impl UserColumn {
    /// Every column, in table order.
    pub const ALL: [UserColumn; 15] = [
        UserColumn::UserId,
        UserColumn::SystemId,
        UserColumn::FullName,
        UserColumn::Email,
        UserColumn::EmailVerified,
        UserColumn::IsActive,
        UserColumn::EmailverifySentDatetime,
        UserColumn::EmailforgotpassSentDatetime,
        UserColumn::EmailchangepassSentDatetime,
        UserColumn::LastLoginSuccess,
        UserColumn::LastLoginTry,
        UserColumn::FailedLoginTries,
        UserColumn::CreatedOn,
        UserColumn::LastUpdated,
        UserColumn::UserRole,
    ];

    /// The SQL column name (a constant, safe to splice into SQL).
    pub fn name(self) -> &'static str {
        match self {
            UserColumn::UserId => "user_id",
            UserColumn::SystemId => "system_id",
            UserColumn::FullName => "full_name",
            UserColumn::Email => "email",
            UserColumn::EmailVerified => "email_verified",
            UserColumn::IsActive => "is_active",
            UserColumn::EmailverifySentDatetime => "emailverify_sent_datetime",
            UserColumn::EmailforgotpassSentDatetime => "emailforgotpass_sent_datetime",
            UserColumn::EmailchangepassSentDatetime => "emailchangepass_sent_datetime",
            UserColumn::LastLoginSuccess => "last_login_success",
            UserColumn::LastLoginTry => "last_login_try",
            UserColumn::FailedLoginTries => "failed_login_tries",
            UserColumn::CreatedOn => "created_on",
            UserColumn::LastUpdated => "last_updated",
            UserColumn::UserRole => "user_role",
        }
    }

    /// The column called `name` (exact, lower case), if it may be matched on.
    pub fn from_name(name: &str) -> Option<UserColumn> {
        UserColumn::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The kind of value the column holds.
    pub fn kind(self) -> ColumnKind {
        match self {
            UserColumn::UserId | UserColumn::FailedLoginTries => ColumnKind::Int,
            UserColumn::SystemId
            | UserColumn::FullName
            | UserColumn::Email
            | UserColumn::UserRole => ColumnKind::Text,
            UserColumn::EmailVerified | UserColumn::IsActive => ColumnKind::Bool,
            UserColumn::EmailverifySentDatetime
            | UserColumn::EmailforgotpassSentDatetime
            | UserColumn::EmailchangepassSentDatetime
            | UserColumn::LastLoginSuccess
            | UserColumn::LastLoginTry
            | UserColumn::CreatedOn
            | UserColumn::LastUpdated => ColumnKind::DateTime,
        }
    }
}

/// JSON equality as Python sees it: like `==` on [`Value`], except that
/// numbers compare by value, exactly (`1 == 1.0`, but
/// `9007199254740993 != 9007199254740992.0`; see [`crate::pynum`]).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            crate::pynum::PyNumber::of(x).py_eq(&crate::pynum::PyNumber::of(y))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `extra_info` holds every key of `wanted` with an equal value
/// ([`json_equal`]). An empty `wanted` matches anything, even `None`.
pub fn extra_info_matches(
    extra_info: Option<&Value>,
    wanted: &serde_json::Map<String, Value>,
) -> bool {
    if wanted.is_empty() {
        return true;
    }
    let Some(Value::Object(have)) = extra_info else {
        return false;
    };
    wanted
        .iter()
        .all(|(k, v)| have.get(k).is_some_and(|h| json_equal(h, v)))
}

/// One row of the `apikeys` table: an API key tied to a user session
/// (PROTOCOL.md 3.6, `apikey-new`). It dies with its session (PROTOCOL.md 8.3).
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
/// and no session (PROTOCOL.md 3.6, `apikey-new-nosession`).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn column_names_round_trip_and_exclude_secrets() {
        for c in UserColumn::ALL {
            assert_eq!(UserColumn::from_name(c.name()), Some(c));
        }
        for bad in [
            "password",
            "extra_info",
            "locked_until",
            "EMAIL",
            "email ",
            "1=1",
        ] {
            assert_eq!(UserColumn::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn json_equality_is_numeric() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(
            &json!({"a": [1, {"b": 2.0}]}),
            &json!({"a": [1.0, {"b": 2}]})
        ));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(!json_equal(&json!(true), &json!(1)));
        assert!(!json_equal(&json!([1, 2]), &json!([1])));
    }

    /// Python compares an int with a float exactly: `2**53 + 1 == 2.0**53`
    /// is False, though both are the same `f64`.
    #[test]
    fn int_float_equality_is_exact_as_in_python() {
        let num = |t: &str| serde_json::from_str::<Value>(t).expect("json");
        assert!(!json_equal(
            &num("9007199254740993"),
            &num("9007199254740992.0")
        ));
        assert!(json_equal(
            &num("9007199254740992"),
            &num("9007199254740992.0")
        ));
        assert!(!json_equal(
            &num("-9007199254740993"),
            &num("-9007199254740992.0")
        ));
        assert!(json_equal(
            &num("18446744073709551616"),
            &num("1.8446744073709552e19")
        ));
        assert!(!json_equal(
            &num("18446744073709551617"),
            &num("1.8446744073709552e19")
        ));
        assert!(json_equal(&num("-0"), &num("0.0")));
        assert!(!json_equal(&num("1"), &num("1.5")));
        assert!(json_equal(&num("100"), &num("1e2")));
        // Python: 10**30 == 1e30 is False (1e30 is 1000000000000000019884624838656).
        assert!(!json_equal(
            &num("1000000000000000000000000000000"),
            &num("1e30")
        ));
        assert!(json_equal(
            &num("1000000000000000019884624838656"),
            &num("1e30")
        ));
    }

    #[test]
    fn extra_info_matching() {
        let have = json!({"a": "x", "n": 3, "t": true, "o": {"k": [1]}});
        let want = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(extra_info_matches(
            Some(&have),
            &want(json!({"a": "x", "n": 3.0}))
        ));
        assert!(extra_info_matches(
            Some(&have),
            &want(json!({"t": true, "o": {"k": [1]}}))
        ));
        assert!(!extra_info_matches(
            Some(&have),
            &want(json!({"a": "x", "missing": 1}))
        ));
        assert!(!extra_info_matches(Some(&have), &want(json!({"o": {}}))));
        assert!(!extra_info_matches(None, &want(json!({"a": "x"}))));
        assert!(!extra_info_matches(
            Some(&json!([1])),
            &want(json!({"a": "x"}))
        ));
        assert!(extra_info_matches(None, &want(json!({}))));
    }
}
