//! E-mail address validation for sign-up and e-mail normalisation
//! (PROTOCOL.md 5.4, used by `user-new` step 1 and 2).
//!
//! Validation runs the steps of PROTOCOL.md 5.4 in order and stops at the first failure;
//! every failure gives the same wire answer ([`FAILURE_INVALID_EMAIL`],
//! [`MSG_INVALID_EMAIL`]), the [`EmailRejection`] variant only says which
//! rule fired, for logs and tests. Step 3 (Unicode confusables, upstream's
//! `confusable_homoglyphs`) is not implemented: it can only fire on a string
//! that mixes scripts, and step 4 then rejects anything outside ASCII plus
//! U+2019, which is a single script (Latin/Common), so no address that
//! passes step 4 could ever fail step 3. The spec allows skipping it.
//!
//! The address pattern (step 4) is upstream's HTML5 regex, run by the
//! `regex` crate, which guarantees matching in time linear in the input
//! (no backtracking), so no address can make it slow. Its `$` is the end of
//! the text: unlike Python's `$`, it does not accept a trailing newline.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::text::{casefold, nfkc};

/// The bundled disposable-domain list (`data/disposable_email_blocklist.conf`).
const DISPOSABLE_DOMAINS: &str = include_str!("../../../data/disposable_email_blocklist.conf");

/// `failure_reason` for a rejected sign-up address.
pub const FAILURE_INVALID_EMAIL: &str = "invalid email";
/// The message for a rejected sign-up address.
pub const MSG_INVALID_EMAIL: &str = "The email address provided doesn't seem to be a valid email \
                                     address and cannot be used to sign up for an account on this \
                                     server.";

/// Local parts that cannot sign up (exact, case-sensitive; from
/// django-registration via upstream `validators.py`, BSD licence).
pub const RESERVED_LOCAL_PARTS: &[&str] = &[
    // Special host names.
    "autoconfig",
    "autodiscover",
    "broadcasthost",
    "isatap",
    "localdomain",
    "localhost",
    "wpad",
    // Protocol host names.
    "ftp",
    "imap",
    "mail",
    "news",
    "pop",
    "pop3",
    "smtp",
    "usenet",
    "uucp",
    "webmail",
    "www",
    // Addresses used by certificate authorities.
    "admin",
    "administrator",
    "hostmaster",
    "info",
    "is",
    "it",
    "mis",
    "postmaster",
    "root",
    "ssladmin",
    "ssladministrator",
    "sslwebmaster",
    "sysadmin",
    "webmaster",
    // RFC 2142.
    "abuse",
    "marketing",
    "noc",
    "sales",
    "security",
    "support",
    // No-reply addresses.
    "mailer-daemon",
    "nobody",
    "noreply",
    "no-reply",
    // Sensitive file names.
    "clientaccesspolicy.xml",
    "crossdomain.xml",
    "favicon.ico",
    "humans.txt",
    "keybase.txt",
    "robots.txt",
    ".htaccess",
    ".htpasswd",
    // Other sensitive names.
    "account",
    "accounts",
    "auth",
    "authorize",
    "blog",
    "buy",
    "cart",
    "clients",
    "contact",
    "contactus",
    "contact-us",
    "copyright",
    "dashboard",
    "doc",
    "docs",
    "download",
    "downloads",
    "enquiry",
    "faq",
    "help",
    "inquiry",
    "license",
    "login",
    "logout",
    "me",
    "myaccount",
    "oauth",
    "pay",
    "payment",
    "payments",
    "plans",
    "portfolio",
    "preferences",
    "pricing",
    "privacy",
    "profile",
    "register",
    "secure",
    "settings",
    "signin",
    "signup",
    "ssl",
    "status",
    "store",
    "subscribe",
    "terms",
    "tos",
    "user",
    "users",
    "weblog",
    "work",
];

/// Which sign-up rule rejected an address (all map to the same wire error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailRejection {
    /// Step 1: not exactly one `@`.
    #[error("the address does not have exactly one '@'")]
    AtCount,
    /// Step 2: the local part is a reserved name.
    #[error("the local part is a reserved name")]
    Reserved,
    /// Step 4: the address does not match the HTML5 pattern.
    #[error("the address does not match the address pattern")]
    Pattern,
    /// Step 5: the case-folded domain is on the disposable-domain list.
    #[error("the domain is a disposable e-mail domain")]
    Disposable,
}

/// Sign-up address validator; built once at start-up.
#[derive(Debug, Clone)]
pub struct EmailValidator {
    disposable: HashSet<&'static str>,
}

impl Default for EmailValidator {
    fn default() -> Self {
        Self::new()
    }
}

impl EmailValidator {
    /// A validator with the bundled disposable-domain list.
    pub fn new() -> EmailValidator {
        Self::with_blocklist(DISPOSABLE_DOMAINS)
    }

    /// A validator with another blocklist (one domain per line, only `\n`
    /// removed).
    pub fn with_blocklist(list: &'static str) -> EmailValidator {
        EmailValidator {
            disposable: list.split_terminator('\n').collect(),
        }
    }

    /// Whether `domain` (already case-folded) is exactly a blocklist line.
    pub fn is_disposable_domain(&self, domain: &str) -> bool {
        self.disposable.contains(domain)
    }

    /// Runs 5.4 steps 1, 2, 4 and 5 in order on the address as sent.
    pub fn validate(&self, email: &str) -> Result<(), EmailRejection> {
        let mut parts = email.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(EmailRejection::AtCount);
        };
        if RESERVED_LOCAL_PARTS.contains(&local) {
            return Err(EmailRejection::Reserved);
        }
        // Step 3 (confusables) is implied by step 4; see the module doc.
        if !matches_address_pattern(email) {
            return Err(EmailRejection::Pattern);
        }
        if self.is_disposable_domain(&casefold(domain)) {
            return Err(EmailRejection::Disposable);
        }
        Ok(())
    }
}

/// Upstream's HTML5 address regex (5.4 step 4): a local part of ASCII
/// alphanumerics, `` .!#$%&*+/=?^_`{|}~- `` and U+2019 (not the ASCII
/// apostrophe), `@`, then dot-separated labels of 1 to 255 of
/// `[A-Za-z0-9-]`, starting and ending with an alphanumeric. No top-level
/// domain is required.
pub const ADDRESS_PATTERN: &str = concat!(
    "^[a-zA-Z0-9.!#$%&\u{2019}*+/=?^_`{|}~-]+@",
    "[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,253}[a-zA-Z0-9])?",
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,253}[a-zA-Z0-9])?)*$",
);

/// [`ADDRESS_PATTERN`], compiled on first use. `None` (a pattern the crate
/// refuses, which a unit test rules out) matches nothing.
static ADDRESS: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(ADDRESS_PATTERN).ok());

/// Whether `email` matches [`ADDRESS_PATTERN`] as a whole (no trailing
/// newline accepted).
pub fn matches_address_pattern(email: &str) -> bool {
    ADDRESS.as_ref().is_some_and(|re| re.is_match(email))
}

/// Storage form of an e-mail address: NFKC then full case folding, applied
/// to the local part and the domain separately and joined with `@`.
///
/// Meant for addresses that passed [`EmailValidator::validate`] (exactly one
/// `@`). For other input each `@`-separated piece is normalised on its own;
/// upstream would raise for two or more `@` instead.
pub fn normalize_email(email: &str) -> String {
    email
        .split('@')
        .map(|part| casefold(&nfkc(part)))
        .collect::<Vec<_>>()
        .join("@")
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors as tv;
    use super::*;

    #[test]
    fn spec_examples() {
        let v = EmailValidator::new();
        assert_eq!(
            v.validate("o'brien@example.com"),
            Err(EmailRejection::Pattern)
        );
        assert_eq!(v.validate("o\u{2019}brien@example.com"), Ok(()));
        // The pattern needs no top-level domain, but "user" is reserved.
        assert!(matches_address_pattern("user@localhost"));
        assert_eq!(v.validate("user@localhost"), Err(EmailRejection::Reserved));
        assert_eq!(v.validate("jane@localhost"), Ok(()));
        assert_eq!(v.validate("root@localhost"), Err(EmailRejection::Reserved));
        assert_eq!(v.validate("Root@localhost"), Ok(()));
    }

    #[test]
    fn at_count() {
        let v = EmailValidator::new();
        assert_eq!(v.validate("no-at-sign"), Err(EmailRejection::AtCount));
        assert_eq!(v.validate("a@b@c"), Err(EmailRejection::AtCount));
        assert_eq!(v.validate(""), Err(EmailRejection::AtCount));
        // Reserved is checked before the pattern.
        assert_eq!(v.validate("admin@"), Err(EmailRejection::Reserved));
    }

    #[test]
    fn disposable_domains_case_folded() {
        let v = EmailValidator::new();
        assert!(v.is_disposable_domain("mailinator.com"));
        assert_eq!(
            v.validate("someone@MailInator.COM"),
            Err(EmailRejection::Disposable)
        );
        // No sub-domain matching.
        assert_eq!(v.validate("someone@sub.mailinator.com"), Ok(()));
        assert_eq!(v.disposable.len(), tv::DISPOSABLE_DISTINCT);
    }

    #[test]
    fn the_pattern_compiles() {
        assert!(ADDRESS.is_some());
    }

    #[test]
    fn pattern_details() {
        assert!(matches_address_pattern("a.b+c@x-y.example"));
        assert!(matches_address_pattern("!#$%&*+/=?^_`{|}~-@a"));
        assert!(!matches_address_pattern("a@-a.com"));
        assert!(!matches_address_pattern("a@a-.com"));
        assert!(!matches_address_pattern("a@a..com"));
        assert!(!matches_address_pattern("a@a.com."));
        assert!(!matches_address_pattern("a@"));
        assert!(!matches_address_pattern("@a.com"));
        assert!(!matches_address_pattern("a b@a.com"));
        assert!(!matches_address_pattern("a@a_b.com"));
        assert!(!matches_address_pattern("a@exämple.com"));
        assert!(!matches_address_pattern("ä@example.com"));
        // Python's `$` would take this; PROTOCOL.md 5.4 says we should not.
        assert!(!matches_address_pattern("a@example.com\n"));
        let label255 = "a".repeat(255);
        let label256 = "a".repeat(256);
        assert!(matches_address_pattern(&format!("a@{label255}.com")));
        assert!(!matches_address_pattern(&format!("a@{label256}.com")));
    }

    #[test]
    fn validate_matches_python_vectors() {
        let v = EmailValidator::new();
        for &(email, ok) in tv::EMAIL_VALID {
            assert_eq!(v.validate(email).is_ok(), ok, "validate({email:?})");
        }
    }

    #[test]
    fn every_reserved_name_is_rejected() {
        let v = EmailValidator::new();
        assert_eq!(RESERVED_LOCAL_PARTS.len(), tv::RESERVED_COUNT);
        for name in RESERVED_LOCAL_PARTS {
            assert_eq!(
                v.validate(&format!("{name}@example.com")),
                Err(EmailRejection::Reserved)
            );
        }
    }

    #[test]
    fn normalize_matches_python() {
        for &(input, want) in tv::NORMALIZE_EMAIL {
            assert_eq!(normalize_email(input), want, "normalize({input:?})");
        }
        assert_eq!(normalize_email("Straße@EXAMPLE.com"), "strasse@example.com");
    }
}
