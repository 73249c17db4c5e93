//! The cryptography of the JWT signing keys, on `ring` (already built for
//! TLS, so it costs no extra compile time): Ed25519 key pairs, their JWK
//! form and RFC 7638 thumbprint (the `kid`), the sealing of private keys
//! with a key derived from the server secret (the shared
//! [`crate::sealing`]), the opaque session id and the compact JWS encoding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use ring::{digest, hmac};
use serde_json::{Value, json};

use crate::sealing::{SealError, Sealer};

/// The JOSE name of the one algorithm used.
pub const ALGORITHM: &str = "EdDSA";

/// HKDF salt for every key derived here from the server secret.
const DERIVE_SALT: &[u8] = b"authnz jwt v1";
/// HKDF info of the key that seals private keys.
const SEALING_INFO: &[u8] = b"signing key sealing";
/// HKDF info of the key of the opaque session id (`sid`).
const SID_INFO: &[u8] = b"session id";

/// Why a key could not be made, sealed or opened. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the system random number generator failed")]
    Random,
    #[error("cannot derive a key from the server secret")]
    Derive,
    #[error(
        "the private key of {kid} cannot be opened: it was sealed with another server secret, or the stored text is damaged"
    )]
    Unseal { kid: String },
    #[error("the private key of {kid} is not a valid Ed25519 key")]
    BadKey { kid: String },
}

/// A freshly made key: what is stored, and the pair that signs.
pub struct NewKey {
    pub kid: String,
    /// The raw 32-byte public key, base64url without padding (JWK `x`).
    pub public_x: String,
    /// The private key (PKCS#8) sealed for storage.
    pub sealed_private_key: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The keys derived from the server secret.
pub struct Derived {
    sealing: Sealer,
    sid: hmac::Key,
}

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived(<redacted>)")
    }
}

impl Derived {
    /// Derives the sealing key and the session-id key from the 32-byte
    /// server secret (HKDF-SHA256, distinct `info` for each).
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, KeyError> {
        let prk = crate::sealing::extract(secret, DERIVE_SALT);
        let sealing = Sealer::expand(&prk, SEALING_INFO).map_err(|_| KeyError::Derive)?;
        let sid_okm = prk
            .expand(&[SID_INFO], hmac::HMAC_SHA256)
            .map_err(|_| KeyError::Derive)?;
        Ok(Self {
            sealing,
            sid: hmac::Key::from(sid_okm),
        })
    }

    /// A new Ed25519 key, its `kid` and its sealed private key.
    pub fn generate(&self) -> Result<NewKey, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Random)?;
        let public_x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = thumbprint(&public_x);
        let sealed_private_key = self.seal(&kid, pkcs8.as_ref())?;
        Ok(NewKey {
            kid,
            public_x,
            sealed_private_key,
        })
    }

    /// Sealed with the `kid` as associated data (a sealed key copied to
    /// another row does not open).
    fn seal(&self, kid: &str, plain: &[u8]) -> Result<String, KeyError> {
        self.sealing
            .seal(kid.as_bytes(), plain)
            .map_err(|_| KeyError::Random)
    }

    /// Opens the sealed private key of `kid` into a signing pair.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Ed25519KeyPair, KeyError> {
        let plain = self
            .sealing
            .open(kid.as_bytes(), sealed)
            .map_err(|e| match e {
                SealError::Open => KeyError::Unseal {
                    kid: kid.to_owned(),
                },
                SealError::Random => KeyError::Random,
                SealError::Derive => KeyError::Derive,
            })?;
        Ed25519KeyPair::from_pkcs8(&plain).map_err(|_| KeyError::BadKey {
            kid: kid.to_owned(),
        })
    }

    /// The opaque session id of a session token: HMAC-SHA256 under a key
    /// derived from the server secret, first 16 bytes, base64url (22
    /// characters). Stable for a session, and the token cannot be recovered
    /// from it.
    pub fn session_id(&self, session_token: &str) -> String {
        let tag = hmac::sign(&self.sid, session_token.as_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key (`x`, base64url):
/// SHA-256 over the required members in lexicographic order, base64url.
pub fn thumbprint(public_x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{public_x}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// The public JWK of a key (RFC 8037): nothing but public material.
pub fn public_jwk(kid: &str, public_x: &str) -> Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": public_x,
        "kid": kid,
        "alg": ALGORITHM,
        "use": "sig",
    })
}

/// A compact JWS (RFC 7515) of `claims`, signed by `pair`, with `kid` in
/// the header.
pub fn sign_compact(pair: &Ed25519KeyPair, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": ALGORITHM, "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = pair.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    )
}

/// A random token id (`jti`): 16 bytes, base64url.
pub fn random_id() -> Result<String, KeyError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| KeyError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ED25519, UnparsedPublicKey};

    #[test]
    fn sealed_key_opens_only_with_its_secret_and_kid() {
        let derived = Derived::from_secret(&[7; 32]).unwrap();
        let key = derived.generate().unwrap();
        assert!(!key.sealed_private_key.contains(&key.public_x));
        let pair = derived.open(&key.kid, &key.sealed_private_key).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            key.public_x
        );
        let other = Derived::from_secret(&[8; 32]).unwrap();
        assert!(matches!(
            other.open(&key.kid, &key.sealed_private_key),
            Err(KeyError::Unseal { .. })
        ));
        assert!(
            derived
                .open("another-kid", &key.sealed_private_key)
                .is_err()
        );
        assert!(derived.open(&key.kid, "v1.").is_err());
        assert!(derived.open(&key.kid, "garbage").is_err());
    }

    #[test]
    fn signature_verifies_with_the_published_key() {
        let derived = Derived::from_secret(&[1; 32]).unwrap();
        let key = derived.generate().unwrap();
        let pair = derived.open(&key.kid, &key.sealed_private_key).unwrap();
        let jwt = sign_compact(&pair, &key.kid, &json!({"sub": "4"}));
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let public = URL_SAFE_NO_PAD.decode(&key.public_x).unwrap();
        UnparsedPublicKey::new(&ED25519, public)
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
            .unwrap();
    }

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        // RFC 8037 appendix A.3.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn session_id_is_stable_and_not_the_token() {
        let derived = Derived::from_secret(&[3; 32]).unwrap();
        let a = derived.session_id("token-a");
        assert_eq!(a, derived.session_id("token-a"));
        assert_ne!(a, derived.session_id("token-b"));
        assert_eq!(a.len(), 22);
        let other = Derived::from_secret(&[4; 32]).unwrap();
        assert_ne!(a, other.session_id("token-a"));
    }
}
