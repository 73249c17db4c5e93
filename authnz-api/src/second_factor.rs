//! Second factors of a login (not upstream): a user's TOTP authenticator
//! (pending or enabled), their single-use recovery codes, the login
//! tickets that link the password step of a login to its second step, and
//! passkeys (WebAuthn credentials) with the challenges of their ceremonies.
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

/// A stored passkey: a WebAuthn credential of a user.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The store's id of the passkey (what the wire calls `passkey_id`).
    pub passkey_id: i64,
    pub user_id: UserId,
    /// The credential id, base64url without padding (at most 1400
    /// characters); unique over all users.
    pub credential_id: String,
    /// The user handle the authenticator keeps (32 hex digits).
    pub user_handle: String,
    /// The name the person gave it (at most 100 characters).
    pub name: String,
    /// The credential as the WebAuthn library serialises it (public key,
    /// signature counter, ...), opaque to the store.
    pub passkey_json: String,
    /// The authenticator's signature counter at the last use.
    pub sign_count: i64,
    pub created: NaiveDateTime,
    /// The last login with it; `None` before the first.
    pub last_used: Option<NaiveDateTime>,
}

impl std::fmt::Debug for PasskeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRecord")
            .field("passkey_id", &self.passkey_id)
            .field("user_id", &self.user_id)
            .field("sign_count", &self.sign_count)
            .field("created", &self.created)
            .field("last_used", &self.last_used)
            .finish_non_exhaustive()
    }
}

/// A passkey to store ([`SecondFactorStore::add_passkey`]).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPasskey {
    pub user_id: UserId,
    pub credential_id: String,
    pub user_handle: String,
    pub name: String,
    pub passkey_json: String,
    pub sign_count: i64,
    pub created: NaiveDateTime,
}

impl std::fmt::Debug for NewPasskey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPasskey")
            .field("user_id", &self.user_id)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// The state of a WebAuthn ceremony in progress (a registration, a
/// passwordless login, or a passkey as the second step of a login),
/// valid while `expires > now` and taken once.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyChallenge {
    /// The hash of the id the client holds (registration id, login id or
    /// login ticket; at most 64 characters): the key.
    pub challenge_hash: String,
    /// The user, when the ceremony is for a known one.
    pub user_id: Option<UserId>,
    /// What the ceremony is (`register`, `login`, `second-factor`; at most
    /// 20 characters).
    pub kind: String,
    /// The ceremony's state as the caller serialises it, opaque to the store.
    pub state_json: String,
    pub expires: NaiveDateTime,
}

impl std::fmt::Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyChallenge")
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The second factors: the tables `user_totp`, `user_recovery_codes`,
/// `login_tickets`, `user_passkeys` and `passkey_challenges`. Every row
/// belongs to a user and goes when the user is deleted (a challenge of a
/// passwordless login has no user until it is finished).
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

    /// Remove the authenticator of `user_id` (pending or enabled) and, when
    /// the user has no passkey, every recovery code of the user, atomically.
    /// Returns the authenticators removed (0 or 1).
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

    /// Store a passkey and return its new `passkey_id`. When
    /// `recovery_hashes` is not empty, the user's recovery codes are
    /// replaced by them in the same transaction (all of it or nothing).
    ///
    /// Errors: [`StoreError::Conflict`] if the credential id is stored
    /// already (for any user); [`StoreError::InvalidReference`] if
    /// `user_id` names no user. Nothing is written then.
    async fn add_passkey(
        &self,
        passkey: &NewPasskey,
        recovery_hashes: &[String],
    ) -> Result<i64, StoreError>;

    /// The passkeys of `user_id`, oldest first (by `passkey_id`).
    async fn passkeys(&self, user_id: UserId) -> Result<Vec<PasskeyRecord>, StoreError>;

    /// The passkey whose credential id is `credential_id`, or `None`.
    async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRecord>, StoreError>;

    /// How many passkeys `user_id` has.
    async fn passkey_count(&self, user_id: UserId) -> Result<u64, StoreError>;

    /// Record a login with passkey `passkey_id`: its new serialised form,
    /// its signature counter `sign_count` and `last_used = used`, if the
    /// counter went up (or the stored one and `sign_count` are both 0, for
    /// authenticators without a counter): atomic, so of two logins with
    /// one counter value only one gets true. False, writing nothing, when
    /// the counter did not go up or there is no such passkey.
    async fn use_passkey(
        &self,
        passkey_id: i64,
        passkey_json: &str,
        sign_count: i64,
        used: NaiveDateTime,
    ) -> Result<bool, StoreError>;

    /// Delete passkey `passkey_id` of `user_id` (a passkey of another user
    /// is left alone) and, when that leaves the user with neither a passkey
    /// nor an enabled TOTP authenticator, their recovery codes: atomically.
    /// True if it was there.
    async fn delete_passkey(&self, user_id: UserId, passkey_id: i64) -> Result<bool, StoreError>;

    /// Delete every passkey of `user_id` and, when the user has no enabled
    /// TOTP authenticator, their recovery codes: atomically. Returns the
    /// passkeys deleted.
    async fn delete_passkeys(&self, user_id: UserId) -> Result<u64, StoreError>;

    /// Store the state of a ceremony, replacing one with the same hash.
    ///
    /// Errors: [`StoreError::InvalidReference`] if `user_id` is given and
    /// names no user; nothing is written then.
    async fn put_passkey_challenge(&self, challenge: &PasskeyChallenge) -> Result<(), StoreError>;

    /// Take the valid challenge (`expires > now`) with this hash: it is
    /// deleted, atomically, so of two takes only one gets it. `None` when
    /// there is none or it has expired (an expired one stays for the
    /// cleanup).
    async fn take_passkey_challenge(
        &self,
        challenge_hash: &str,
        now: NaiveDateTime,
    ) -> Result<Option<PasskeyChallenge>, StoreError>;

    /// Delete every challenge whose `expires` is not later than `before`.
    /// Returns the rows deleted.
    async fn delete_passkey_challenges_expired(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError>;
}
