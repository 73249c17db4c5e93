//! The audit log (not upstream): an append-only record of security-relevant
//! events (sign-up, logins, locks, password and role changes, API keys,
//! session revocations), kept in the `audit_events` table.
//!
//! The server appends events in batches from a background writer, lists
//! them for `internal-audit-list` and `authnzrv audit`, and deletes those
//! older than the retention period. Rows are never updated.
//!
//! Event types have stable wire names ([`AuditEventType::name`]): they are
//! what `internal-audit-list` returns and filters on, and what a later
//! webhook outbox will deliver as the event `type`. A name, once published,
//! never changes meaning; new types are added, old ones are never reused.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;
use crate::types::UserId;

/// Longest `client_address`, `request_id` and `reason` a store keeps (in
/// characters); the caller shortens longer values.
pub const AUDIT_TEXT_MAX: usize = 128;

macro_rules! event_types {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What happened. Each variant has one stable wire name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditEventType {
            $($(#[$doc])* $variant,)*
        }

        impl AuditEventType {
            /// Every event type, in table order.
            pub const ALL: &'static [AuditEventType] = &[$(AuditEventType::$variant,)*];

            /// The stable wire name (`login.failed`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    $(AuditEventType::$variant => $name,)*
                }
            }

            /// The event type of a wire name; `None` for an unknown name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(AuditEventType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    /// A user signed up (`user-new`).
    UserSignup = "user.signup",
    /// A user's e-mail address was marked verified.
    UserVerified = "user.verified",
    /// A login succeeded.
    LoginSucceeded = "login.succeeded",
    /// A login failed (unknown user, wrong password, unverified or
    /// inactive account, no pre-login session).
    LoginFailed = "login.failed",
    /// A login to a locked account was refused (whatever the password).
    LoginLocked = "login.locked",
    /// A user logged out.
    Logout = "logout",
    /// An account was locked (by an administrator, or automatically after
    /// repeated login failures).
    UserLocked = "user.locked",
    /// An account was unlocked (by an administrator, or when an automatic
    /// lock ended).
    UserUnlocked = "user.unlocked",
    /// A user's password was changed by the user.
    PasswordChanged = "password.changed",
    /// A user's password was reset (the forgotten-password flow, or set by
    /// an administrator).
    PasswordReset = "password.reset",
    /// A user's role was changed.
    RoleChanged = "user.role_changed",
    /// A user was deleted.
    UserDeleted = "user.deleted",
    /// An API key was issued.
    ApikeyIssued = "apikey.issued",
    /// An API key failed verification.
    ApikeyVerifyFailed = "apikey.verify_failed",
    /// An API key (or every no-session key of a user) was revoked.
    ApikeyRevoked = "apikey.revoked",
    /// Sessions were revoked other than by a logout (every session of a
    /// user, or a session deleted by its token).
    SessionRevoked = "session.revoked",
    /// A second factor (a TOTP authenticator) was enabled.
    SecondFactorEnabled = "second_factor.enabled",
    /// A second factor was disabled (by the user, or by an administrator).
    SecondFactorDisabled = "second_factor.disabled",
    /// A social-login identity was linked to an account (to the account of
    /// its verified e-mail, or to a new account made for it).
    IdentityLinked = "identity.linked",
    /// A social-login identity was unlinked from its account.
    IdentityUnlinked = "identity.unlinked",
    /// A passkey was registered.
    PasskeyAdded = "passkey.added",
    /// A passkey was removed (by the user, or every passkey of a user by an
    /// administrator).
    PasskeyRemoved = "passkey.removed",
}

impl std::fmt::Display for AuditEventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the recorded attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// It did what was asked.
    Ok,
    /// It was refused or failed; the event's `reason` says why.
    Failed,
}

impl AuditOutcome {
    /// The stable wire name: `ok` or `failed`.
    pub const fn name(self) -> &'static str {
        match self {
            AuditOutcome::Ok => "ok",
            AuditOutcome::Failed => "failed",
        }
    }

    /// The outcome of a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ok" => Some(AuditOutcome::Ok),
            "failed" => Some(AuditOutcome::Failed),
            _ => None,
        }
    }
}

/// One event to append. It holds no password, token, key, code or e-mail
/// address: users are named by id, the client address is stored in the
/// configured form (full, truncated or a salted hash), and `reason` is a
/// short class (`wrong-password`, `unknown-user`, ...), never client text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened (stored to the microsecond).
    pub time: NaiveDateTime,
    pub event: AuditEventType,
    pub outcome: AuditOutcome,
    /// Who did it, when known (the session's user, the administrator).
    pub actor_user_id: Option<UserId>,
    /// Whom it concerns, when known.
    pub subject_user_id: Option<UserId>,
    /// The request's `client_ipaddr` in the configured form; at most
    /// [`AUDIT_TEXT_MAX`] characters.
    pub client_address: Option<String>,
    /// The request's `reqid` as text; at most [`AUDIT_TEXT_MAX`] characters.
    pub request_id: Option<String>,
    /// Why it failed, or how it happened (`automatic`, `admin-cli`); a
    /// short class, at most [`AUDIT_TEXT_MAX`] characters.
    pub reason: Option<String>,
}

/// One stored event, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The position in the log: larger ids were appended later. Keyset
    /// pagination goes by this id.
    pub id: i64,
    pub time: NaiveDateTime,
    /// The event type's wire name (text, so a listing never fails on a type
    /// a newer server wrote).
    pub event: String,
    /// The outcome's wire name.
    pub outcome: String,
    pub actor_user_id: Option<UserId>,
    pub subject_user_id: Option<UserId>,
    pub client_address: Option<String>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
}

/// Which events to list: every filter that is set must match. Events come
/// newest first (by id descending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events about this user (`subject_user_id`).
    pub subject_user_id: Option<UserId>,
    /// Only events of this type (wire name).
    pub event: Option<String>,
    /// Only events at or after this time.
    pub since: Option<NaiveDateTime>,
    /// Only events before this time.
    pub until: Option<NaiveDateTime>,
    /// Only events with an id below this one (the keyset cursor: the id of
    /// the last event of the previous page).
    pub before_id: Option<i64>,
    /// At most this many events.
    pub limit: u32,
}

/// The audit log: the `audit_events` table.
#[async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug + 'static {
    /// Append `events`, in order: all of them or none (one transaction).
    /// Ids grow in the order given. An empty slice writes nothing.
    ///
    /// Errors: a backend error for text holding a NUL character (nothing is
    /// written).
    async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// As [`append_audit_events`](Self::append_audit_events), and in the
    /// same transaction queue `deliveries` in the webhook outbox (see
    /// [`crate::webhooks`]): all of it or none. A store without an outbox
    /// refuses deliveries (the default).
    async fn append_audit_events_with_deliveries(
        &self,
        events: &[AuditEvent],
        deliveries: &[crate::webhooks::NewDelivery],
    ) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            self.append_audit_events(events).await
        } else {
            Err(StoreError::backend("this store keeps no webhook outbox"))
        }
    }

    /// The events matching `query`, newest first (id descending), at most
    /// `query.limit`. Events appended while paging have larger ids than
    /// any listed, so following `before_id` never repeats or skips one.
    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;

    /// Delete every event whose time is before `before`, in batches (each
    /// its own statement, so other writers get the database in between);
    /// returns how many were deleted.
    async fn delete_audit_events_before(&self, before: NaiveDateTime) -> Result<u64, StoreError>;
}
