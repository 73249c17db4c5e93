//! Random secrets in the shapes upstream generates: Fernet keys (also used
//! as the PII salt) and Python `secrets.token_urlsafe` tokens (generated
//! admin passwords). Bytes come straight from the operating system.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};

use super::error::RandomError;

/// `nbytes` random bytes from the operating system.
pub fn random_bytes(nbytes: usize) -> Result<Vec<u8>, RandomError> {
    let mut bytes = vec![0u8; nbytes];
    getrandom::fill(&mut bytes).map_err(RandomError)?;
    Ok(bytes)
}

/// Python's `secrets.token_urlsafe(nbytes)`: `nbytes` random bytes in
/// URL-safe base64 without padding (16 bytes give 22 characters).
pub fn random_urlsafe_token(nbytes: usize) -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(nbytes)?))
}

/// A new Fernet key as `Fernet.generate_key()` makes it: 32 random bytes in
/// URL-safe base64 with padding (44 characters).
pub fn generate_fernet_key() -> Result<String, RandomError> {
    Ok(URL_SAFE.encode(random_bytes(32)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::secret::FernetKey;
    use super::*;

    #[test]
    fn shapes() {
        let token = random_urlsafe_token(16).unwrap();
        assert_eq!(token.len(), 22);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(token, random_urlsafe_token(16).unwrap());
        let key = generate_fernet_key().unwrap();
        assert_eq!(key.len(), 44);
        assert!(key.ends_with('='));
        assert_eq!(FernetKey::parse(&key).unwrap().to_urlsafe_base64(), key);
    }
}
