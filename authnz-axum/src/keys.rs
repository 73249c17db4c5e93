//! The site key and what is derived from it: CSRF tokens bound to the
//! session token, and the Fernet key that seals API keys handed out.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::Blake2bMac;
use blake2::digest::consts::U32;
use blake2::digest::{FixedOutput, Update};
use subtle::ConstantTimeEq as _;

/// The site's own 32-byte secret: it binds CSRF tokens to sessions and
/// seals the API keys the site issues (authnz leaves protecting API keys
/// to the frontend). Keep it as secret as the authnz key; changing it
/// invalidates the API keys handed out. `Debug` does not show it.
#[derive(Clone)]
pub struct SiteKey([u8; 32]);

impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteKey(<redacted>)")
    }
}

/// BLAKE2b-256 keyed with `key` (at most 64 bytes, else its hash is the
/// key), personalised with `person`, over `data`.
fn mac(key: &[u8], person: &[u8], data: &[u8]) -> [u8; 32] {
    let hashed;
    let key = if key.len() > 64 {
        hashed = mac(&[], b"authnz-axum-long", key);
        &hashed[..]
    } else {
        key
    };
    let key = (!key.is_empty()).then_some(key);
    match Blake2bMac::<U32>::new_with_salt_and_personal(key, &[], person) {
        Ok(mut m) => {
            m.update(data);
            m.finalize_fixed().into()
        }
        // Unreachable: key <= 64 bytes, person <= 16 bytes.
        Err(_) => [0; 32],
    }
}

impl SiteKey {
    /// A site key from 32 random bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A site key derived from another secret (for example the text of
    /// the authnz key file), so a site needs only one secret. Whoever has
    /// that secret can derive this key too.
    pub fn derive_from(secret: &[u8]) -> Self {
        Self(mac(secret, b"authnz-axum-site", b"site key v1"))
    }

    /// A MAC of `data` for `purpose` (43 URL-safe characters): for a
    /// site's own signed tokens, such as the links in its mails.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> String {
        let key = mac(&self.0, b"authnz-axum-sign", purpose.as_bytes());
        URL_SAFE_NO_PAD.encode(mac(&key, b"authnz-axum-sign", data))
    }

    /// Whether `signature` is [`SiteKey::sign`]'s for `purpose` and `data`
    /// (constant time).
    pub fn verify(&self, purpose: &str, data: &[u8], signature: &str) -> bool {
        let expected = self.sign(purpose, data);
        expected.len() == signature.len()
            && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    }

    pub(crate) fn csrf_key(&self) -> [u8; 32] {
        mac(&self.0, b"authnz-axum-csrf", b"")
    }

    pub(crate) fn apikey_key(&self) -> [u8; 32] {
        mac(&self.0, b"authnz-axum-akey", b"")
    }
}

/// The CSRF token of a session: 43 URL-safe characters.
pub(crate) fn csrf_token(csrf_key: &[u8; 32], session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(csrf_key, b"authnz-axum-csrf", session_token.as_bytes()))
}

/// What the request limits count a caller (session token or bearer key)
/// under: a hash keyed with the CSRF key, so the table holds no token.
pub(crate) fn caller_id(csrf_key: &[u8; 32], token: &str) -> [u8; 16] {
    let full = mac(csrf_key, b"authnz-axum-rate", token.as_bytes());
    let mut id = [0; 16];
    id.copy_from_slice(&full[..16]);
    id
}

/// Whether `presented` is the session's CSRF token (constant time).
pub(crate) fn csrf_matches(csrf_key: &[u8; 32], session_token: &str, presented: &str) -> bool {
    let expected = csrf_token(csrf_key, session_token);
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_the_key() {
        let k1 = SiteKey::from_bytes([1; 32]).csrf_key();
        let k2 = SiteKey::from_bytes([2; 32]).csrf_key();
        let t = csrf_token(&k1, "session-a");
        assert_eq!(t.len(), 43);
        assert!(csrf_matches(&k1, "session-a", &t));
        assert!(!csrf_matches(&k1, "session-b", &t));
        assert!(!csrf_matches(&k2, "session-a", &t));
        assert!(!csrf_matches(&k1, "session-a", ""));
        assert!(!csrf_matches(&k1, "session-a", &t[..42]));
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = SiteKey::derive_from(b"secret one");
        let b = SiteKey::derive_from(b"secret two");
        assert_ne!(a.0, b.0);
        assert_ne!(a.csrf_key(), a.apikey_key());
        assert_eq!(
            SiteKey::derive_from(&[7; 100]).0,
            SiteKey::derive_from(&[7; 100]).0
        );
        assert_ne!(
            SiteKey::derive_from(&[7; 100]).0,
            SiteKey::derive_from(&[7; 99]).0
        );
        assert_eq!(format!("{a:?}"), "SiteKey(<redacted>)");
        let sig = a.sign("verify", b"x");
        assert!(a.verify("verify", b"x", &sig));
        assert!(!a.verify("reset", b"x", &sig));
        assert!(!a.verify("verify", b"y", &sig));
        assert!(!b.verify("verify", b"x", &sig));
    }
}
