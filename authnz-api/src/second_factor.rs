//! Second factors of a login (not upstream): a user's TOTP authenticator
//! (pending or enabled), their single-use recovery codes, and the login
//! tickets that link the password step of a login to its second step.
//!
//! The store keeps what it is given: the TOTP secret already sealed by the
//! caller (encrypted with a key derived from the server secret), recovery
//! codes and tickets only as hashes made by the caller. It never sees a
//! secret, a code or a ticket in the clear.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;
use crate::types::UserId;

/// The TOTP authenticator of one user.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: UserId,
    /// The shared secret, sealed by the caller (text, opaque to the store).
    pub sealed_secret: String,
    /// False while the enrolment waits for its first code.
    pub enabled: bool,
    /// The last time step (Unix time / 30 s) whose code was accepted, so a
    /// code is never accepted twice; `None` before the first.
    pub last_step: Option<i64>,
    /// When the enrolment was made.
    pub created: NaiveDateTime,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("user_id", &self.user_id)
            .field("enabled", &self.enabled)
            .field("last_step", &self.last_step)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// A login ticket: the password step of a login succeeded for `user_id`
/// from the session whose token hashes to `session_hash`; the second step
/// may finish it until `expires`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginTicket {
    /// The ticket's hash (at most 64 characters): the key.
    pub ticket_hash: String,
    pub user_id: UserId,
    /// The hash of the session token the password step was made with (at
    /// most 64 characters).
    pub session_hash: String,
    /// The ticket is valid while `expires > now`.
    pub expires: NaiveDateTime,
}

impl std::fmt::Debug for LoginTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginTicket")
            .field("user_id", &self.user_id)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The second factors: the tables `user_totp`, `user_recovery_codes` and
/// `login_tickets`. Every row belongs to a user and goes when the user is
/// deleted.
#[async_trait]
pub trait SecondFactorStore: Send + Sync + std::fmt::Debug + 'static {
    /// The TOTP authenticator of `user_id`, pending or enabled, or `None`.
    async fn totp(&self, user_id: UserId) -> Result<Option<TotpRecord>, StoreError>;

    /// Store a pending (not yet enabled) authenticator for `user_id`,
    /// replacing a pending one. Returns false, writing nothing, when the
    /// user has an enabled one.
    ///
    /// Errors: [`StoreError::InvalidReference`] if `user_id` names no user.
    async fn put_pending_totp(
        &self,
        user_id: UserId,
        sealed_secret: &str,
        created: NaiveDateTime,
    ) -> Result<bool, StoreError>;

    /// Enable the pending authenticator of `user_id` whose sealed secret is
    /// `sealed_secret`, recording `step` as its last accepted step, and
    /// replace the user's recovery codes by `recovery_hashes`: all of it or
    /// nothing (atomic). Returns false, writing nothing, when there is no
    /// such pending authenticator (none, enabled already, or replaced by
    /// another enrolment).
    async fn enable_totp(
        &self,
        user_id: UserId,
        sealed_secret: &str,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<bool, StoreError>;

    /// Record `step` as the last accepted step of the enabled authenticator
    /// of `user_id` if it is later than the last one recorded (or none is):
    /// atomic, so of two requests with codes of one step only one gets
    /// true. False when not recorded (no enabled authenticator, or a step
    /// not later than the last).
    async fn accept_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError>;

    /// Remove the authenticator of `user_id` (pending or enabled) and every
    /// recovery code of the user, atomically. Returns the authenticators
    /// removed (0 or 1).
    async fn delete_totp(&self, user_id: UserId) -> Result<u64, StoreError>;

    /// How many unused recovery codes `user_id` has.
    async fn recovery_codes_left(&self, user_id: UserId) -> Result<u64, StoreError>;

    /// Use up the recovery code of `user_id` whose hash is `code_hash`:
    /// atomic, so a code is accepted once. True if it was there.
    async fn use_recovery_code(&self, user_id: UserId, code_hash: &str)
    -> Result<bool, StoreError>;

    /// Store a login ticket.
    ///
    /// Errors: [`StoreError::InvalidReference`] if `user_id` names no user;
    /// [`StoreError::Conflict`] if the hash is stored already. Nothing is
    /// written then.
    async fn create_login_ticket(&self, ticket: &LoginTicket) -> Result<(), StoreError>;

    /// The valid ticket (`expires > now`) with this hash, or `None`.
    async fn login_ticket(
        &self,
        ticket_hash: &str,
        now: NaiveDateTime,
    ) -> Result<Option<LoginTicket>, StoreError>;

    /// Use up the valid ticket (`expires > now`) with this hash: atomic, so
    /// a ticket finishes one login. True if it was there and valid.
    async fn consume_login_ticket(
        &self,
        ticket_hash: &str,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError>;

    /// Delete every ticket whose `expires` is not later than `before`.
    /// Returns the rows deleted.
    async fn delete_login_tickets_expired(&self, before: NaiveDateTime) -> Result<u64, StoreError>;
}
