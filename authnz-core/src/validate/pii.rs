//! Salted hashes of personal data for log lines (PROTOCOL.md 7.8).
//!
//! Upstream never logs e-mails, user IDs, IPs or tokens in clear; it logs
//! `hex(BLAKE2b(value, key=salt, digest_size=12, person=b"authnzrv-pii"))`,
//! or the value itself when the configured salt is exactly `none`. Using
//! the same function keeps log correlation working across a migration.
//!
//! BLAKE2b keys are at most 64 bytes; Python raises `ValueError` for a
//! longer salt, so upstream cannot log at all with one and there is no
//! upstream value to be compatible with. Rather than fail a log call, a
//! salt longer than 64 bytes is first reduced to its unkeyed BLAKE2b-512
//! digest (64 bytes) and that is used as the key, so the whole salt still
//! matters. [`pii_salt_is_upstream_compatible`] lets configuration loading
//! warn about such salts (generated salts are 44 characters).

use blake2::digest::consts::U12;
use blake2::digest::{FixedOutput, Update};
use blake2::{Blake2b512, Blake2bMac, Digest};

/// BLAKE2b personalisation upstream uses.
pub const PII_PERSON: &[u8] = b"authnzrv-pii";
/// Longest salt (in UTF-8 bytes) that BLAKE2b takes as a key directly.
pub const PII_SALT_MAX_BYTES: usize = 64;
/// The salt value that turns hashing off.
pub const PII_SALT_NONE: &str = "none";

/// Whether upstream could use this salt (at most 64 UTF-8 bytes).
pub fn pii_salt_is_upstream_compatible(salt: &str) -> bool {
    salt.len() <= PII_SALT_MAX_BYTES
}

/// The log form of `value`: 24 lower-case hex characters, or `value`
/// itself when `salt` is exactly `none`.
pub fn pii_hash(value: &str, salt: &str) -> String {
    if salt == PII_SALT_NONE {
        return value.to_owned();
    }
    let long_key;
    let key: &[u8] = if salt.len() > PII_SALT_MAX_BYTES {
        long_key = Blake2b512::digest(salt.as_bytes());
        &long_key
    } else {
        salt.as_bytes()
    };
    // An empty key means unkeyed hashing, as in Python (`key=b""`).
    let key = (!key.is_empty()).then_some(key);
    match Blake2bMac::<U12>::new_with_salt_and_personal(key, &[], PII_PERSON) {
        Ok(mut mac) => {
            mac.update(value.as_bytes());
            to_hex(&mac.finalize_fixed())
        }
        // Unreachable: key <= 64 bytes and the person is 12 <= 16 bytes.
        // Never fall back to the clear value.
        Err(_) => "0".repeat(24),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::test_vectors as tv;
    use super::*;

    #[test]
    fn matches_python_hashlib() {
        assert!(!tv::PII.is_empty());
        for &(value, salt, want) in tv::PII {
            assert_eq!(pii_hash(value, salt), want, "pii_hash({value:?}, {salt:?})");
        }
    }

    #[test]
    fn none_salt_is_clear_text() {
        assert_eq!(pii_hash("user@example.com", "none"), "user@example.com");
        assert_ne!(pii_hash("user@example.com", "None"), "user@example.com");
    }

    #[test]
    fn shape() {
        let h = pii_hash("x", "salt");
        assert_eq!(h.len(), 24);
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn long_salts_are_hashed_first() {
        let long = "s".repeat(65);
        assert!(!pii_salt_is_upstream_compatible(&long));
        assert!(pii_salt_is_upstream_compatible(&"s".repeat(64)));
        let h = pii_hash("x", &long);
        assert_eq!(h.len(), 24);
        let key = Blake2b512::digest(long.as_bytes());
        let mut mac =
            Blake2bMac::<U12>::new_with_salt_and_personal(Some(&key), &[], PII_PERSON).unwrap();
        mac.update(b"x");
        assert_eq!(h, to_hex(&mac.finalize_fixed()));
        assert_ne!(pii_hash("x", &"s".repeat(66)), h);
    }
}
