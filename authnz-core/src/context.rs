//! Everything an action may use, built once at start-up and shared by all
//! requests: the storage backends (as trait objects), the clock and sleeper,
//! the hashing pool, the validators, the permission policy, the login
//! throttle and the mailer. Nothing here is parsed per request.

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{
    ApiKeyStore, Clock, GroupStore, LoginThrottle, OAuthStore, RoleStore, SessionStore, UserStore,
};

use crate::breach::BreachLookup;
use crate::mail::MailService;
use crate::oauth::OAuthProviders;
use crate::passwords::PasswordHasher;
use crate::policy::Policy;
use crate::sleeper::Sleeper;
use crate::validate::{PasswordPolicy, Validators};

/// The automatic lock of PROTOCOL.md 4.2 (`userlocktries`, `userlocktime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutSettings {
    /// Failures tolerated (each slowed down); the next one locks.
    pub tries: u32,
    /// How long an automatic lock lasts.
    pub lock_time: Duration,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        Self {
            tries: 10,
            lock_time: Duration::from_secs(3600),
        }
    }
}

/// Shared state of the actions.
#[derive(Debug, Clone)]
pub struct Context {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub roles: Arc<dyn RoleStore>,
    pub apikeys: Arc<dyn ApiKeyStore>,
    /// Groups and memberships (the `group-*` requests, group sharing in
    /// `user-check-access`).
    pub groups: Arc<dyn GroupStore>,
    /// The compiled permission policy (PROTOCOL.md 6), loaded once at start-up.
    pub policy: Policy,
    pub clock: Arc<dyn Clock>,
    /// Every deliberate wait (back-off, unlock timers) goes through this.
    pub sleeper: Arc<dyn Sleeper>,
    pub hasher: PasswordHasher,
    pub validators: Arc<Validators>,
    /// The server's password policy (`passpolicy`, PROTOCOL.md 5.1), parsed once.
    pub password_policy: PasswordPolicy,
    /// The online breach check (PROTOCOL.md 5.1 step 6), when enabled.
    pub breach: Option<Arc<dyn BreachLookup>>,
    /// Failed-login counters for the back-off (PROTOCOL.md 4.2).
    pub throttle: Arc<dyn LoginThrottle>,
    pub lockout: LockoutSettings,
    /// Salt for hashing PII in logs (PROTOCOL.md 7.8); `none` logs in clear.
    pub pii_salt: Arc<str>,
    /// The mail backend (`Arc<dyn Mailer>`), templates and mail settings.
    pub mail: Arc<MailService>,
    /// The JWT signing keys (`session-jwt-issue`, the JWKS endpoint).
    pub jwt: Arc<crate::jwt::JwtKeys>,
    /// Second factors of a login: TOTP authenticators, recovery codes and
    /// login tickets, with the key that seals TOTP secrets.
    pub second_factors: Arc<crate::second_factor::SecondFactors>,
    /// The audit log's recording side ([`crate::audit`]); record with
    /// [`Context::audit`].
    pub audit_log: Arc<crate::audit::AuditLog>,
    /// The audit log's stored events (`internal-audit-list`).
    pub audit_store: Arc<dyn authnz_api::AuditStore>,
    /// Linked identities and logins in progress (PROTOCOL.md 3.11).
    pub oauth_store: Arc<dyn OAuthStore>,
    /// The configured social-login providers, if any.
    pub oauth: Option<Arc<dyn OAuthProviders>>,
    /// The WebAuthn relying party (PROTOCOL.md 3.12), when passkeys are
    /// configured (`webauthnorigins`).
    pub passkeys: Option<Arc<dyn crate::passkeys::RelyingParty>>,
}

impl Context {
    /// Record a security-relevant event: one call,
    /// `ctx.audit(AuditEventType::X, AuditOutcome::Ok).subject(id).emit()`
    /// (also `.actor(id)`, `.user(id)` for both, `.reason("class")`). Never
    /// waits and never fails the request ([`crate::audit`]).
    pub fn audit(
        &self,
        event: authnz_api::AuditEventType,
        outcome: authnz_api::AuditOutcome,
    ) -> crate::audit::Pending<'_> {
        self.audit_log.event(event, outcome)
    }

    /// A log-safe stand-in for a user id, e-mail, token or address.
    pub fn pii(&self, value: &str) -> String {
        crate::validate::pii::pii_hash(value, &self.pii_salt)
    }

    /// The login-throttle key for an e-mail: a salted hash, never the address
    /// (even when logging in clear is configured), so the throttle's backend
    /// holds no personal data and keys have a fixed size.
    pub fn throttle_key(&self, email: &str) -> String {
        let salt: &str = if &*self.pii_salt == crate::validate::pii::PII_SALT_NONE {
            "authnz-login-throttle"
        } else {
            &self.pii_salt
        };
        crate::validate::pii::pii_hash(email, salt)
    }
}
