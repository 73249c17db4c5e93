//! Turning result rows into domain types, once for every dialect (SQLite,
//! PostgreSQL, MySQL/MariaDB).
//!
//! The dialects store the same columns in different physical types (SQLite
//! TEXT datetimes and 0/1 booleans, PostgreSQL native types, MySQL DATETIME
//! with microseconds, TINYINT(1) booleans and JSON as text). Each dialect
//! implements [`ReadColumns`] for its row type; the mapping from column
//! positions to [`User`] and [`Session`] fields lives here only. Queries select
//! the columns in the order of [`user_columns!`] and [`session_columns!`].

use authnz_api::{NoSessionApiKey, Session, SessionApiKey, User};
use chrono::NaiveDateTime;
use serde_json::Value;

use crate::error::SqlStoreError;

/// The `users` columns in the order [`user_from_row`] reads them.
macro_rules! user_columns {
    () => {
        "user_id, system_id, full_name, password, email, email_verified, is_active, \
         emailverify_sent_datetime, emailforgotpass_sent_datetime, \
         emailchangepass_sent_datetime, last_login_success, last_login_try, \
         failed_login_tries, extra_info, created_on, last_updated, user_role, locked_until"
    };
}

/// [`user_columns!`] qualified with the table alias `u`.
macro_rules! user_columns_u {
    () => {
        "u.user_id, u.system_id, u.full_name, u.password, u.email, u.email_verified, \
         u.is_active, u.emailverify_sent_datetime, u.emailforgotpass_sent_datetime, \
         u.emailchangepass_sent_datetime, u.last_login_success, u.last_login_try, \
         u.failed_login_tries, u.extra_info, u.created_on, u.last_updated, u.user_role, \
         u.locked_until"
    };
}

/// The `sessions` columns in the order [`session_from_row`] reads them.
macro_rules! session_columns {
    () => {
        "session_token, ip_address, user_agent, user_id, created, expires, extra_info_json"
    };
}

/// [`session_columns!`] qualified with the table alias `s`.
macro_rules! session_columns_s {
    () => {
        "s.session_token, s.ip_address, s.user_agent, s.user_id, s.created, s.expires, \
         s.extra_info_json"
    };
}

pub(crate) use {session_columns, session_columns_s, user_columns, user_columns_u};

/// Number of columns in [`session_columns!`]: where the user columns start
/// when a query selects a session joined with its user.
pub(crate) const SESSION_COLUMN_COUNT: usize = 7;

/// Typed access to the columns of one result row, by position.
///
/// `column` names the column for error messages only.
pub(crate) trait ReadColumns {
    fn text(&self, i: usize, column: &'static str) -> Result<String, SqlStoreError>;
    fn opt_text(&self, i: usize, column: &'static str) -> Result<Option<String>, SqlStoreError>;
    fn int(&self, i: usize, column: &'static str) -> Result<i64, SqlStoreError>;
    fn opt_int(&self, i: usize, column: &'static str) -> Result<Option<i64>, SqlStoreError>;
    fn flag(&self, i: usize, column: &'static str) -> Result<bool, SqlStoreError>;
    fn opt_datetime(
        &self,
        i: usize,
        column: &'static str,
    ) -> Result<Option<NaiveDateTime>, SqlStoreError>;
    /// A JSON column; SQL NULL and JSON `null` are both `None`.
    fn json(&self, i: usize, column: &'static str) -> Result<Option<Value>, SqlStoreError>;

    fn datetime(&self, i: usize, column: &'static str) -> Result<NaiveDateTime, SqlStoreError> {
        self.opt_datetime(i, column)?
            .ok_or_else(|| SqlStoreError::Decode {
                column,
                reason: "unexpected NULL".to_owned(),
            })
    }
}

/// Read a [`User`] from the 18 columns of [`user_columns!`] starting at `at`.
pub(crate) fn user_from_row(r: &impl ReadColumns, at: usize) -> Result<User, SqlStoreError> {
    Ok(User {
        user_id: r.int(at, "user_id")?,
        system_id: r.text(at + 1, "system_id")?,
        full_name: r.opt_text(at + 2, "full_name")?,
        password: r.text(at + 3, "password")?,
        email: r.text(at + 4, "email")?,
        email_verified: r.flag(at + 5, "email_verified")?,
        is_active: r.flag(at + 6, "is_active")?,
        emailverify_sent_datetime: r.opt_datetime(at + 7, "emailverify_sent_datetime")?,
        emailforgotpass_sent_datetime: r.opt_datetime(at + 8, "emailforgotpass_sent_datetime")?,
        emailchangepass_sent_datetime: r.opt_datetime(at + 9, "emailchangepass_sent_datetime")?,
        last_login_success: r.opt_datetime(at + 10, "last_login_success")?,
        last_login_try: r.opt_datetime(at + 11, "last_login_try")?,
        failed_login_tries: r.opt_int(at + 12, "failed_login_tries")?,
        extra_info: r.json(at + 13, "extra_info")?,
        created_on: r.datetime(at + 14, "created_on")?,
        last_updated: r.datetime(at + 15, "last_updated")?,
        user_role: r.text(at + 16, "user_role")?,
        locked_until: r.opt_datetime(at + 17, "locked_until")?,
    })
}

/// Read a [`Session`] from the seven columns starting at `at`.
pub(crate) fn session_from_row(r: &impl ReadColumns, at: usize) -> Result<Session, SqlStoreError> {
    Ok(Session {
        session_token: r.text(at, "session_token")?,
        ip_address: r.text(at + 1, "ip_address")?,
        user_agent: r.text(at + 2, "user_agent")?,
        user_id: r.int(at + 3, "user_id")?,
        created: r.datetime(at + 4, "created")?,
        expires: r.datetime(at + 5, "expires")?,
        extra_info_json: r.json(at + 6, "extra_info_json")?,
    })
}

/// The `apikeys` columns in the order [`session_apikey_from_row`] reads them.
macro_rules! session_apikey_columns {
    () => {
        "apikey, issued, expires, not_valid_before, user_id, user_role, session_token"
    };
}

/// The `apikeys_nosession` columns in the order [`nosession_apikey_from_row`]
/// reads them.
macro_rules! nosession_apikey_columns {
    () => {
        "apikey, issued, expires, not_valid_before, refresh_token, refresh_issued, \
         refresh_expires, refresh_nbf, user_id, user_role"
    };
}

pub(crate) use {nosession_apikey_columns, session_apikey_columns};

/// Read a [`SessionApiKey`] from the columns of [`session_apikey_columns!`].
pub(crate) fn session_apikey_from_row(
    r: &impl ReadColumns,
) -> Result<SessionApiKey, SqlStoreError> {
    Ok(SessionApiKey {
        apikey: r.text(0, "apikey")?,
        issued: r.datetime(1, "issued")?,
        expires: r.datetime(2, "expires")?,
        not_valid_before: r.datetime(3, "not_valid_before")?,
        user_id: r.int(4, "user_id")?,
        user_role: r.text(5, "user_role")?,
        session_token: r.text(6, "session_token")?,
    })
}

/// Read a [`NoSessionApiKey`] from the columns of
/// [`nosession_apikey_columns!`].
pub(crate) fn nosession_apikey_from_row(
    r: &impl ReadColumns,
) -> Result<NoSessionApiKey, SqlStoreError> {
    Ok(NoSessionApiKey {
        apikey: r.text(0, "apikey")?,
        issued: r.datetime(1, "issued")?,
        expires: r.datetime(2, "expires")?,
        not_valid_before: r.datetime(3, "not_valid_before")?,
        refresh_token: r.text(4, "refresh_token")?,
        refresh_issued: r.datetime(5, "refresh_issued")?,
        refresh_expires: r.datetime(6, "refresh_expires")?,
        refresh_nbf: r.datetime(7, "refresh_nbf")?,
        user_id: r.int(8, "user_id")?,
        user_role: r.text(9, "user_role")?,
    })
}
