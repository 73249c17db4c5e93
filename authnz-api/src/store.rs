//! Storage traits: one per aggregate, object-safe, held as `Arc<dyn Trait>`.
//!
//! Every method states its contract. "Active" sessions are those whose
//! `expires` is strictly later than the `now` the caller passes. E-mail
//! comparisons are exact (byte for byte); normalisation is the caller's job.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;
use crate::types::{
    ApiKeyRef, ColumnValue, InitialData, NewUser, NoSessionApiKey, Role, Session, SessionApiKey,
    User, UserColumn, UserId, UserPatch,
};

/// Users: the `users` table.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug + 'static {
    /// Insert a user with `created_on = last_updated = now`,
    /// `failed_login_tries = 0`, and return its new id.
    ///
    /// Errors: [`StoreError::Conflict`] if the e-mail or `system_id` is
    /// already taken (nothing is written); [`StoreError::InvalidReference`] if
    /// `user_role` is not a known role.
    async fn create_user(&self, user: &NewUser, now: NaiveDateTime) -> Result<UserId, StoreError>;

    /// The user with this id, or `None`.
    async fn user_by_id(&self, user_id: UserId) -> Result<Option<User>, StoreError>;

    /// The user with exactly this e-mail (no case folding), or `None`.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;

    /// Every user, ordered by `user_id` ascending.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// Apply `patch` to the user with `user_id`, setting `last_updated = now`.
    /// When `only_if_active` is `Some(b)`, the row is updated only if its
    /// `is_active` equals `b`. Returns the number of rows changed (0 or 1).
    ///
    /// An empty patch still sets `last_updated` on a matching row.
    /// Errors: [`StoreError::Conflict`] on a duplicate e-mail,
    /// [`StoreError::InvalidReference`] on an unknown role; the row is then
    /// unchanged.
    async fn update_user(
        &self,
        user_id: UserId,
        patch: &UserPatch,
        only_if_active: Option<bool>,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError>;

    /// Delete the user; their sessions (and everything else that references
    /// the user) go with them in the same transaction. Returns rows deleted
    /// from `users` (0 if there was no such user).
    async fn delete_user(&self, user_id: UserId) -> Result<u64, StoreError>;

    /// Every user whose `column` equals `value`, ordered by `user_id`.
    ///
    /// Equality is exact: text byte for byte, datetimes to the microsecond,
    /// booleans and integers by value. A `value` of another kind than the
    /// column's ([`UserColumn::kind`]) matches nothing (an empty list, not an
    /// error), and a NULL column never matches.
    async fn find_users(
        &self,
        column: UserColumn,
        value: &ColumnValue,
    ) -> Result<Vec<User>, StoreError>;

    /// Every user whose `extra_info` is a JSON object holding each key of
    /// `wanted` with an equal value, ordered by `user_id`. Values compare as
    /// JSON ([`crate::types::json_equal`]: numbers by value, so `1` matches
    /// `1.0`; strings, booleans, `null`, arrays and objects exactly), the
    /// same on every backend. An empty `wanted` matches every user.
    async fn find_users_by_extra_info(
        &self,
        wanted: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<User>, StoreError>;

    /// Every user with a lock deadline (`locked_until` not NULL), due or not,
    /// ordered by `user_id`. Used at start-up to lift expired automatic locks
    /// and to re-arm the timers of the others.
    async fn users_with_lock_deadline(&self) -> Result<Vec<User>, StoreError>;

    /// Lift an automatic lock whose time has come, atomically: if the user's
    /// `locked_until` is set and `<= now`, set `is_active = true`,
    /// `user_role = restore_role`, `locked_until = NULL`,
    /// `last_updated = now`, and return `true`. Otherwise (no such user, no
    /// deadline, deadline in the future, e.g. because the user was locked
    /// again meanwhile) change nothing and return `false`. Two concurrent
    /// calls lift a lock once.
    ///
    /// Errors: [`StoreError::InvalidReference`] if `restore_role` is not a
    /// known role; the row is then unchanged.
    async fn lift_lock_if_due(
        &self,
        user_id: UserId,
        restore_role: &str,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError>;

    /// The health probe of PROTOCOL.md 9.1: the `user_role` of user 1, or `None` if
    /// there is no such row.
    async fn superuser_role(&self) -> Result<Option<String>, StoreError>;
}

/// Sessions: the `sessions` table of the SQL store, or Redis (`authnz-store-redis`,
/// `sessionstore = redis`).
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug + 'static {
    /// Insert a session.
    ///
    /// Errors: [`StoreError::InvalidReference`] if `user_id` names no user;
    /// [`StoreError::Conflict`] if the token exists. Nothing is written then.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The active session with this token (expires > now) together with its
    /// user, or `None` if there is none or it has expired.
    async fn active_session(
        &self,
        token: &str,
        now: NaiveDateTime,
    ) -> Result<Option<(Session, User)>, StoreError>;

    /// Delete the session with this token, expired or not. Returns the rows
    /// deleted (0 or 1). Session-tied API keys go with it.
    async fn delete_session(&self, token: &str) -> Result<u64, StoreError>;

    /// Delete the session with this token, expired or not, **only if it
    /// belongs to `user_id`** (the check and the delete are one atomic
    /// step). Returns the rows deleted (0 or 1): 0 for an unknown token and
    /// for another user's session, which is left untouched. Session-tied
    /// API keys go with it. (A user revoking one of their sessions,
    /// `user-sessions-revoke`.)
    async fn delete_user_session(&self, user_id: UserId, token: &str) -> Result<u64, StoreError>;

    /// Delete every session of `user_id` except the one whose token equals
    /// `keep` (if given). Returns the rows deleted.
    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<u64, StoreError>;

    /// The active sessions of a user, ordered by `created`.
    async fn user_sessions(
        &self,
        user_id: UserId,
        now: NaiveDateTime,
    ) -> Result<Vec<Session>, StoreError>;

    /// Replace the `extra_info_json` of the active session with this token.
    /// Returns the rows changed (0 if no active session has that token).
    async fn set_session_extra(
        &self,
        token: &str,
        extra_info_json: Option<&serde_json::Value>,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError>;

    /// Delete every session whose `expires` is earlier than `before`
    /// (the cleanup task of PROTOCOL.md 7.7). Returns the rows deleted.
    async fn delete_sessions_expired_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError>;
}

/// Roles and first-run seeding.
#[async_trait]
pub trait RoleStore: Send + Sync + std::fmt::Debug + 'static {
    /// All roles, ordered by name.
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;

    /// Seed a fresh database with the roles and the three built-in users (PROTOCOL.md
    /// 8.4), atomically. Returns `true` if the data was inserted, `false` if
    /// the database already had roles (then nothing is written).
    async fn initialize(&self, data: &InitialData, now: NaiveDateTime) -> Result<bool, StoreError>;
}

/// API keys: the `apikeys` (session-tied) and `apikeys_nosession` tables
/// (PROTOCOL.md 3.6, 8.1).
///
/// A key is *valid* at `now` when `issued < now`, `not_valid_before < now`
/// and `expires > now`, all strict. Every lookup matches the token, the user
/// id and the role together ([`ApiKeyRef`]); a key presented with another
/// user's id or another role does not exist as far as these methods go.
#[async_trait]
pub trait ApiKeyStore: Send + Sync + std::fmt::Debug + 'static {
    /// Insert a session-tied key.
    ///
    /// Errors: [`StoreError::InvalidReference`] if the user, the role or the
    /// session does not exist; [`StoreError::Conflict`] if the token exists.
    /// Nothing is written then. The key is deleted with its session or user.
    async fn create_session_apikey(&self, key: &SessionApiKey) -> Result<(), StoreError>;

    /// The session-tied key matching `key` if it is valid at `now`, else
    /// `None` (unknown, other user or role, expired, not yet valid).
    async fn valid_session_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<SessionApiKey>, StoreError>;

    /// Delete the session-tied key matching `key`, valid or not. Returns the
    /// rows deleted (0 or 1).
    async fn delete_session_apikey(&self, key: ApiKeyRef<'_>) -> Result<u64, StoreError>;

    /// Insert a no-session key (its `refresh_token` already hashed).
    ///
    /// Errors: as [`ApiKeyStore::create_session_apikey`], without the session.
    async fn create_nosession_apikey(&self, key: &NoSessionApiKey) -> Result<(), StoreError>;

    /// The no-session key matching `key` if it is valid at `now`, else `None`.
    async fn valid_nosession_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<NoSessionApiKey>, StoreError>;

    /// The no-session key matching `key` if its *refresh token* is usable at
    /// `now`: `refresh_issued < now`, `refresh_nbf < now` and
    /// `refresh_expires > now` (the key itself may have expired). `None`
    /// otherwise.
    async fn refreshable_nosession_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<NoSessionApiKey>, StoreError>;

    /// Delete the no-session key matching `key`, valid or not. Returns the
    /// rows deleted (0 or 1).
    async fn delete_nosession_apikey(&self, key: ApiKeyRef<'_>) -> Result<u64, StoreError>;

    /// Delete every no-session key of `user_id` stored with `user_role`.
    /// Returns the rows deleted.
    async fn delete_user_nosession_apikeys(
        &self,
        user_id: UserId,
        user_role: &str,
    ) -> Result<u64, StoreError>;
}
