//! The keys that sign the JSON Web Tokens of `session-jwt-issue`
//! (not upstream): a small table shared by every instance, so a key made or
//! rotated on one instance signs and verifies on all of them.
//!
//! The store keeps what it is given: the public key in the clear (it is
//! published) and the private key already sealed by the caller (encrypted
//! with a key derived from the server secret); it never sees a private key.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;

/// One stored signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key id (`kid`): unique, at most 64 characters.
    pub kid: String,
    /// The JOSE algorithm name (`EdDSA`), at most 16 characters.
    pub algorithm: String,
    /// The public key, as the caller encodes it (text, published as is).
    pub public_key: String,
    /// The private key, sealed by the caller (text, opaque to the store).
    pub sealed_private_key: String,
    /// When the key was made; the newest key is the current one.
    pub created: NaiveDateTime,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// The signing keys: the `jwt_signing_keys` table.
#[async_trait]
pub trait SigningKeyStore: Send + Sync + std::fmt::Debug + 'static {
    /// Every stored key, newest first: by `created` descending, then by
    /// `kid` descending (byte order) for keys made in the same microsecond.
    /// An empty list when there is none.
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Store a new key, every field as given (`created` to the microsecond).
    ///
    /// Errors: [`StoreError::Conflict`] if a key with this `kid` is already
    /// stored (nothing is written).
    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;

    /// Remove the key `kid`; returns how many keys were removed (0 or 1).
    async fn delete_signing_key(&self, kid: &str) -> Result<u64, StoreError>;
}
