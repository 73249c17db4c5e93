//! Everything an action may use, built once at start-up and shared by all
//! requests: the storage backends (as trait objects), the clock, the hashing
//! pool, the validators and the mailer. Nothing here is parsed per request.

use std::sync::Arc;

use authnz_api::{Clock, RoleStore, SessionStore, UserStore};

use crate::mail::MailService;
use crate::passwords::PasswordHasher;
use crate::validate::{PasswordPolicy, Validators};

/// Shared state of the actions.
#[derive(Debug, Clone)]
pub struct Context {
    pub users: Arc<dyn UserStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub roles: Arc<dyn RoleStore>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    pub validators: Arc<Validators>,
    /// The server's password policy (`passpolicy`, spec 5.1), parsed once.
    pub password_policy: PasswordPolicy,
    /// Salt for hashing PII in logs (spec 7.8); `none` logs in clear.
    pub pii_salt: Arc<str>,
    /// The mail backend (`Arc<dyn Mailer>`), templates and mail settings.
    pub mail: Arc<MailService>,
}

impl Context {
    /// A log-safe stand-in for a user id, e-mail, token or address.
    pub fn pii(&self, value: &str) -> String {
        crate::validate::pii::pii_hash(value, &self.pii_salt)
    }
}
