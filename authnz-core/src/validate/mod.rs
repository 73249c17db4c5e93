//! Input validation for the authnzerver protocol: the pure, I/O-free rules
//! that decide whether a sign-up e-mail, full name or password is accepted,
//! and the Python-compatible string helpers they are built from.
//!
//! Everything here reproduces upstream `authnzerver` (Python) behaviour as
//! written in PROTOCOL.md sections 3.3, 5 and 7.8, down to message texts and
//! floating-point thresholds, because the decisions are visible on the wire.
//! The data these rules need (common passwords, disposable domains, public
//! suffixes) is compiled in from `data/`; the only file reads are the
//! optional public-suffix cache ([`suffix`]) and FQDN detection ([`fqdn`]),
//! both done once at start-up. Build a [`Validators`] then and share it.
//!
//! Test vectors were produced by CPython (`gen_vectors.py` beside this file
//! writes `test_vectors.rs`); `gen_py_tables.py` writes the Unicode tables
//! in `py_tables.rs`.

pub mod difflib;
pub mod email;
pub mod fqdn;
pub mod name;
pub mod password;
pub mod pii;
mod py_tables;
pub mod suffix;
pub mod text;

#[cfg(test)]
mod test_vectors;

use std::path::Path;
use std::time::SystemTime;

pub use email::{EmailRejection, EmailValidator, normalize_email};
pub use name::{FullNameError, process_full_name, sign_up_full_name};
pub use password::{PasswordChecker, PasswordPolicy, PolicyOutcome};
pub use pii::pii_hash;
pub use suffix::PublicSuffixList;

/// Everything the validators load at start-up, built once and shared.
#[derive(Debug, Clone)]
pub struct Validators {
    /// Password policy checks 1-5 (bundled common-password list + FQDN).
    pub password: PasswordChecker,
    /// Sign-up e-mail rules (bundled disposable-domain list).
    pub email: EmailValidator,
    /// Public suffixes for the full-name check.
    pub suffixes: PublicSuffixList,
}

impl Validators {
    /// Builds the validators: `fqdn` is the server's host name for the
    /// similarity check (typically [`fqdn::detect_fqdn`]), `suffix_cache`
    /// the optional upstream cache file (typically
    /// [`PublicSuffixList::default_cache_path`]) judged fresh against `now`.
    pub fn load(fqdn: &str, suffix_cache: Option<&Path>, now: SystemTime) -> Validators {
        Validators {
            password: PasswordChecker::new(fqdn),
            email: EmailValidator::new(),
            suffixes: PublicSuffixList::load(suffix_cache, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_builds_everything() {
        let v = Validators::load("auth.example.org", None, SystemTime::now());
        assert!(v.email.validate("jane@example.org").is_ok());
        assert!(!v.suffixes.is_empty());
        let outcome = v.password.check(
            &PasswordPolicy::default(),
            "correct horse battery staple",
            "user@example.org",
            "User",
        );
        assert!(outcome.ok);
    }
}
