//! The optional online breach check of PROTOCOL.md 5.1 step 6, as an interface:
//! how often a password appears in a breach corpus. The server implements
//! it over HTTP (haveibeenpwned's k-anonymity range API); the actions only
//! see this trait, so this crate carries no HTTP client.

use async_trait::async_trait;

/// A breach lookup for passwords.
#[async_trait]
pub trait BreachLookup: Send + Sync + std::fmt::Debug + 'static {
    /// How often `password` appears in the breach corpus, or `None` if the
    /// lookup failed (the check fails open: the implementation logs why and
    /// the password counts as not breached).
    async fn count(&self, password: &str) -> Option<u64>;
}
