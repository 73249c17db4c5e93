//! Signed tokens for downstream services (not upstream): the JWT signing
//! keys every instance shares through the auth database, the token that
//! `session-jwt-issue` hands out, and the public key set served at
//! `GET /.well-known/jwks.json`.
//!
//! The newest stored key is the current one and signs; the one before it
//! stays published so tokens it signed verify until they expire. `authnzrv
//! jwks rotate` ([`JwtKeys::rotate`]) adds a new key and removes any older
//! than those two. Each instance keeps the keys it read for at most
//! [`JwtSettings::reload_interval`] and then reads them again on the next
//! use, so a rotation made elsewhere is picked up within that bound.
//!
//! Private keys are stored sealed with a key derived from the server secret
//! ([`keys::Derived`]); they exist in the clear only in this process.

pub mod keys;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use authnz_api::{SigningKeyRecord, SigningKeyStore, StoreError};
use chrono::NaiveDateTime;
use ring::signature::Ed25519KeyPair;
use serde_json::{Value, json};

use keys::{Derived, KeyError};

/// How many keys are published: the current one and the one before it.
pub const PUBLISHED_KEYS: usize = 2;

/// The settings of the signed tokens (config items `jwtissuer`,
/// `jwtmaxexpiry`, `jwtkeyreload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The `iss` claim.
    pub issuer: String,
    /// The longest lifetime a token may be given; longer requests are cut
    /// to it.
    pub max_expiry: Duration,
    /// How long an instance uses the keys it read before reading them again.
    pub reload_interval: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: "authnzerver".to_owned(),
            max_expiry: Duration::from_secs(900),
            reload_interval: Duration::from_secs(60),
        }
    }
}

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("signing key store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("no signing key is stored")]
    NoKey,
}

/// The signing key in use, opened.
struct Current {
    kid: String,
    pair: Ed25519KeyPair,
}

/// The keys as last read from the store.
struct Snapshot {
    read_at: Instant,
    /// The current key, when one is stored and opens with our secret.
    current: Result<Current, String>,
    /// The public JWKs of the published keys, newest first.
    published: Vec<Value>,
}

/// The shared signing keys of this instance; cheap to share (`Arc`).
pub struct JwtKeys {
    store: Arc<dyn SigningKeyStore>,
    derived: Derived,
    settings: JwtSettings,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What [`JwtKeys::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new current key.
    pub kid: String,
    /// The keys published now, newest first.
    pub published: Vec<String>,
    /// The keys removed (older than the two published).
    pub removed: Vec<String>,
}

/// The claims of a token, before signing.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub user_id: i64,
    pub role: &'a str,
    pub audience: &'a str,
    pub session_token: &'a str,
    pub now: NaiveDateTime,
    pub lifetime_secs: u64,
}

impl JwtKeys {
    /// The keys of `store`, sealed and opened with keys derived from the
    /// server `secret`. Reads nothing yet.
    pub fn new(
        store: Arc<dyn SigningKeyStore>,
        secret: &[u8; 32],
        settings: JwtSettings,
    ) -> Result<Self, JwtError> {
        Ok(Self {
            store,
            derived: Derived::from_secret(secret)?,
            settings,
            snapshot: RwLock::new(None),
        })
    }

    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// The opaque id of a session (22 characters): an HMAC of its token
    /// under a key derived from the server secret, so the same on every
    /// instance, and the token cannot be recovered from it. The `sid`
    /// claim of the tokens and the `session_id` of `user-sessions-list`.
    pub fn session_id(&self, session_token: &str) -> String {
        self.derived.session_id(session_token)
    }

    /// Make a first key when none is stored (at autosetup and at start-up).
    /// Returns the `kid` made, or `None` when a key already existed. Two
    /// instances starting together may both make one: both are then
    /// published and the newer signs, which is harmless.
    pub async fn ensure_key(&self, now: NaiveDateTime) -> Result<Option<String>, JwtError> {
        if !self.store.signing_keys().await?.is_empty() {
            return Ok(None);
        }
        let kid = self.add_key(now).await?;
        self.forget();
        Ok(Some(kid))
    }

    /// Make a new current key and keep the previous one published; remove
    /// every older key. The new key is stamped `now`, or just after the
    /// newest stored key if that is later (another host's clock), so it is
    /// the newest.
    pub async fn rotate(&self, now: NaiveDateTime) -> Result<Rotation, JwtError> {
        let now = authnz_api::time::truncate_micros(now);
        let created = match self.store.signing_keys().await?.first() {
            Some(newest) if newest.created >= now => {
                newest.created + chrono::TimeDelta::microseconds(1)
            }
            _ => now,
        };
        let kid = self.add_key(created).await?;
        let mut published = Vec::new();
        let mut removed = Vec::new();
        for key in self.store.signing_keys().await? {
            if published.len() < PUBLISHED_KEYS {
                published.push(key.kid);
            } else {
                self.store.delete_signing_key(&key.kid).await?;
                removed.push(key.kid);
            }
        }
        self.forget();
        Ok(Rotation {
            kid,
            published,
            removed,
        })
    }

    async fn add_key(&self, created: NaiveDateTime) -> Result<String, JwtError> {
        let key = self.derived.generate()?;
        let record = SigningKeyRecord {
            kid: key.kid.clone(),
            algorithm: keys::ALGORITHM.to_owned(),
            public_key: key.public_x,
            sealed_private_key: key.sealed_private_key,
            created: authnz_api::time::truncate_micros(created),
        };
        self.store.add_signing_key(&record).await?;
        Ok(key.kid)
    }

    /// The stored keys, newest (current) first: `kid` and when it was made.
    pub async fn stored(&self) -> Result<Vec<(String, NaiveDateTime)>, JwtError> {
        Ok(self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .map(|k| (k.kid, k.created))
            .collect())
    }

    /// Drop what was read, so the next use reads the store again.
    fn forget(&self) {
        if let Ok(mut guard) = self.snapshot.write() {
            *guard = None;
        }
    }

    /// The keys as read at most `reload_interval` ago, reading them again
    /// if that is older.
    async fn snapshot(&self) -> Result<Arc<Snapshot>, JwtError> {
        if let Ok(guard) = self.snapshot.read()
            && let Some(snap) = guard.as_ref()
            && snap.read_at.elapsed() < self.settings.reload_interval
        {
            return Ok(snap.clone());
        }
        let records = self.store.signing_keys().await?;
        let current = match records.first() {
            None => Err("no signing key is stored".to_owned()),
            Some(newest) => self
                .derived
                .open(&newest.kid, &newest.sealed_private_key)
                .map(|pair| Current {
                    kid: newest.kid.clone(),
                    pair,
                })
                .map_err(|e| {
                    tracing::error!(error = %e, "the current JWT signing key cannot be used: run `authnzrv jwks rotate`");
                    e.to_string()
                }),
        };
        let published = records
            .iter()
            .take(PUBLISHED_KEYS)
            .map(|r| keys::public_jwk(&r.kid, &r.public_key))
            .collect();
        let snap = Arc::new(Snapshot {
            read_at: Instant::now(),
            current,
            published,
        });
        if let Ok(mut guard) = self.snapshot.write() {
            *guard = Some(snap.clone());
        }
        Ok(snap)
    }

    /// The JSON Web Key Set of the published keys: `{"keys": [...]}`,
    /// newest first, public members only.
    pub async fn jwks(&self) -> Result<Value, JwtError> {
        let snap = self.snapshot().await?;
        Ok(json!({ "keys": snap.published }))
    }

    /// The `kid` of the current signing key.
    pub async fn current_kid(&self) -> Result<String, JwtError> {
        match &self.snapshot().await?.current {
            Ok(current) => Ok(current.kid.clone()),
            Err(_) => Err(JwtError::NoKey),
        }
    }

    /// A signed token for `req` (lifetime already capped by the caller).
    pub async fn issue(&self, req: &TokenRequest<'_>) -> Result<String, JwtError> {
        let snap = self.snapshot().await?;
        let current = match &snap.current {
            Ok(current) => current,
            Err(why) => {
                tracing::warn!(reason = %why, "cannot sign a JWT");
                return Err(JwtError::NoKey);
            }
        };
        let iat = req.now.and_utc().timestamp();
        let exp = iat.saturating_add(i64::try_from(req.lifetime_secs).unwrap_or(i64::MAX));
        let claims = json!({
            "iss": self.settings.issuer,
            "sub": req.user_id.to_string(),
            "aud": req.audience,
            "iat": iat,
            "exp": exp,
            "jti": keys::random_id()?,
            "sid": self.session_id(req.session_token),
            "role": req.role,
        });
        Ok(keys::sign_compact(&current.pair, &current.kid, &claims))
    }
}
