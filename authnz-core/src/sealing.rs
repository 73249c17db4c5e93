//! Sealing small secrets for storage with a key derived from the server
//! secret: HKDF-SHA256 (a salt and an `info` per use, so each use has its
//! own key), then AES-256-GCM with a random nonce and associated data that
//! ties a sealed value to its row. Used for the JWT signing keys
//! ([`crate::jwt::keys`]) and the TOTP secrets ([`crate::second_factor`]);
//! on `ring`, already built for TLS.
//!
//! A sealed value is text: `v1.` then base64url (no padding) of the nonce
//! and the ciphertext with its tag.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// Prefix of a sealed value: the sealing scheme's version.
const SEALED_PREFIX: &str = "v1.";

/// Why a value could not be sealed or opened. Never holds key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the system random number generator failed")]
    Random,
    #[error("cannot derive a key from the server secret")]
    Derive,
    #[error(
        "cannot open: sealed with another server secret, for another row, or the stored text is damaged"
    )]
    Open,
}

/// An AES-256-GCM key derived from the server secret.
pub struct Sealer(LessSafeKey);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

/// The HKDF pseudo-random key of the 32-byte server secret under `salt`,
/// from which each use expands its own key by `info`.
pub fn extract(secret: &[u8; 32], salt: &[u8]) -> hkdf::Prk {
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(secret)
}

impl Sealer {
    /// The sealing key expanded from `prk` ([`extract`]) with `info`.
    pub fn expand(prk: &hkdf::Prk, info: &[u8]) -> Result<Self, SealError> {
        let info = [info];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| SealError::Derive)?;
        Ok(Self(LessSafeKey::new(UnboundKey::from(okm))))
    }

    /// `plain` sealed, bound to `aad` (the same `aad` is needed to open it).
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut in_out = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| SealError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// The plain bytes of `sealed`, which must have been sealed with this
    /// key and `aad`.
    pub fn open(&self, aad: &[u8], sealed: &str) -> Result<Vec<u8>, SealError> {
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or(SealError::Open)?;
        let mut bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SealError::Open)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let mut in_out = bytes.split_off(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = bytes.as_slice().try_into().map_err(|_| SealError::Open)?;
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| SealError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_its_key_info_and_aad() {
        let prk = extract(&[7; 32], b"salt");
        let a = Sealer::expand(&prk, b"a").unwrap();
        let sealed = a.seal(b"row-1", b"plain text").unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("plain"));
        assert_eq!(a.open(b"row-1", &sealed).unwrap(), b"plain text");
        assert_eq!(a.open(b"row-2", &sealed), Err(SealError::Open));
        let b = Sealer::expand(&prk, b"b").unwrap();
        assert_eq!(b.open(b"row-1", &sealed), Err(SealError::Open));
        let other = Sealer::expand(&extract(&[8; 32], b"salt"), b"a").unwrap();
        assert_eq!(other.open(b"row-1", &sealed), Err(SealError::Open));
        assert_eq!(a.open(b"row-1", "v1."), Err(SealError::Open));
        assert_eq!(a.open(b"row-1", "garbage"), Err(SealError::Open));
        assert_ne!(sealed, a.seal(b"row-1", b"plain text").unwrap());
    }
}
