//! Domain types, storage traits and the error type shared by every authnz
//! crate.
//!
//! This crate does no I/O. Backends (`authnz-store-sql`, `authnz-store-redis`) implement
//! the traits in [`store`]; the server holds them as `Arc<dyn Trait>` and the
//! actions speak only these types. Time always comes from a [`Clock`], so tests
//! control expiry without sleeping.
//!
//! [`mail`] holds the [`Mailer`] trait that the mail backends (`authnz-mail`)
//! implement.
//!
//! With the `testkit` feature, [`testkit`] holds the contract suite that every
//! backend must pass.

pub mod audit;
pub mod bus;
pub mod clock;
pub mod error;
mod expiring;
pub mod groups;
pub mod mail;
pub mod oauth;
pub mod ratelimit;
pub mod replay;
pub mod second_factor;
pub mod signing_keys;
pub mod store;
pub mod throttle;
pub mod time;
pub mod types;

pub mod webhooks;

#[cfg(feature = "testkit")]
pub mod testkit;

// Python's wire semantics live in the wire contract, `authnz-proto`; these
// are their former names here, which the backends use.
pub use authnz_proto::python::json as pyjson;
pub use authnz_proto::python::logtext;
pub use authnz_proto::python::number as pynum;
pub use authnz_proto::python::printable as pyprintable;
pub use authnz_proto::python::repr as pyrepr;

pub use audit::{
    AUDIT_TEXT_MAX, AuditEvent, AuditEventType, AuditOutcome, AuditQuery, AuditRecord, AuditStore,
};
pub use bus::{BusEvent, InvalidationBus};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use groups::{Group, GroupId, GroupMember, GroupStore, Membership, NewGroup};
pub use mail::{MailError, MailMessage, Mailer};
pub use oauth::{NO_PASSWORD, OAuthIdentity, OAuthState, OAuthStore};
pub use ratelimit::{MemoryRateLimiter, RateDecision, RateLimit, RateLimiter};
pub use replay::{MemoryReplayGuard, ReplayGuard};
pub use second_factor::{
    LoginTicket, NewPasskey, PasskeyChallenge, PasskeyRecord, SecondFactorStore, TotpRecord,
};
pub use signing_keys::{SigningKeyRecord, SigningKeyStore};
pub use store::{ApiKeyStore, RoleStore, SessionStore, UserStore};
pub use throttle::{LoginThrottle, MemoryLoginThrottle, UNTRACKED};
pub use types::*;
pub use webhooks::{Delivery, NewDelivery, WEBHOOK_ERROR_MAX, WEBHOOK_URL_MAX, WebhookStore};
