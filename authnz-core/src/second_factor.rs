//! Second factors of a login (not upstream): TOTP authenticators (RFC 6238:
//! HMAC-SHA-1, 6 digits, 30-second steps, one step of drift either way, on
//! `totp-rs`), single-use recovery codes, and the login tickets that carry
//! a login from its password step to its second step.
//!
//! What is stored, and how (the store never sees a secret in the clear):
//!
//! - a TOTP secret (20 random bytes) sealed with AES-256-GCM under a key
//!   derived from the server secret with HKDF-SHA256 (its own salt and
//!   `info`, see [`crate::sealing`]), bound to its user's id, so a sealed
//!   secret copied to another user's row does not open;
//! - recovery codes (16 random base32 characters, 80 bits) and login
//!   tickets (32 random bytes) as SHA-256 hashes: they are random enough
//!   that a fast hash cannot be reversed, and (unlike the TOTP secrets)
//!   they stay usable when the server secret changes;
//! - with a ticket, the SHA-256 hash of the session token it was issued
//!   for.

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{SecondFactorStore, StoreError, UserId};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use totp_rs::{Algorithm, Builder, Secret};

use crate::sealing::{SealError, Sealer};

/// HKDF salt of the keys derived here from the server secret.
const DERIVE_SALT: &[u8] = b"authnz second factors v1";
/// HKDF info of the key that seals TOTP secrets.
const TOTP_SEALING_INFO: &[u8] = b"totp secret sealing";

/// How long the second step of a login may follow its password step.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(300);
/// How many recovery codes an enabled authenticator comes with.
pub const RECOVERY_CODES: usize = 10;
/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;
/// Seconds of a TOTP time step.
pub const STEP_SECS: u64 = 30;
/// Digits of a TOTP code.
pub const DIGITS: u8 = 6;

/// The names of the kinds of second factor, as the wire lists them.
pub const KIND_TOTP: &str = "totp";
pub const KIND_PASSKEY: &str = "passkey";
pub const KIND_RECOVERY: &str = "recovery";

/// Characters of recovery codes: RFC 4648 base32, lower case.
const CODE_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Characters of a recovery code, without its separators.
const CODE_CHARS: usize = 16;

/// The second-factor state of this server: the store and the sealing key.
/// Cheap to share (`Arc`).
pub struct SecondFactors {
    pub store: Arc<dyn SecondFactorStore>,
    sealer: Sealer,
    issuer: String,
}

impl std::fmt::Debug for SecondFactors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondFactors")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl SecondFactors {
    /// The second factors of `store`, TOTP secrets sealed with a key derived
    /// from the server `secret`; `issuer` names this service in
    /// authenticator apps.
    pub fn new(
        store: Arc<dyn SecondFactorStore>,
        secret: &[u8; 32],
        issuer: &str,
    ) -> Result<Self, SealError> {
        let prk = crate::sealing::extract(secret, DERIVE_SALT);
        Ok(Self {
            store,
            sealer: Sealer::expand(&prk, TOTP_SEALING_INFO)?,
            issuer: issuer.to_owned(),
        })
    }

    /// A TOTP secret sealed for `user_id`.
    pub fn seal_secret(&self, user_id: UserId, secret: &[u8]) -> Result<String, SealError> {
        self.sealer.seal(&aad(user_id), secret)
    }

    /// The TOTP secret of `user_id` from its sealed form.
    pub fn open_secret(&self, user_id: UserId, sealed: &str) -> Result<Vec<u8>, SealError> {
        self.sealer.open(&aad(user_id), sealed)
    }

    /// The `otpauth://totp/...` URI of `secret` for the account `account`
    /// (what an authenticator app scans as a QR code).
    pub fn otpauth_uri(&self, secret: &[u8], account: &str) -> Option<String> {
        let build = |account: &str| {
            Builder::new()
                .with_algorithm(Algorithm::SHA1)
                .with_digits(DIGITS)
                .with_step_duration(STEP_SECS)
                .with_skew(1)
                .with_secret(secret.to_vec())
                .with_issuer(Some(self.issuer.as_str()))
                .with_account_name(account)
                .build()
                .ok()?
                .to_url()
                .ok()
        };
        // A label may not hold ':'; an address that does is left out.
        build(account).or_else(|| build("account"))
    }

    /// The kinds of second factor `user_id` has enabled (empty: none):
    /// `totp` with an enabled authenticator, `passkey` with at least one
    /// passkey, then `recovery` while unused recovery codes are left (only
    /// beside one of the others).
    pub async fn enabled_kinds(&self, user_id: UserId) -> Result<Vec<&'static str>, StoreError> {
        let mut kinds = Vec::new();
        if self.store.totp(user_id).await?.is_some_and(|t| t.enabled) {
            kinds.push(KIND_TOTP);
        }
        if self.store.passkey_count(user_id).await? > 0 {
            kinds.push(KIND_PASSKEY);
        }
        if !kinds.is_empty() && self.store.recovery_codes_left(user_id).await? > 0 {
            kinds.push(KIND_RECOVERY);
        }
        Ok(kinds)
    }
}

/// The associated data that binds a sealed TOTP secret to its user.
fn aad(user_id: UserId) -> Vec<u8> {
    format!("totp user {user_id}").into_bytes()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SealError::Random)?;
    Ok(bytes)
}

/// A new TOTP secret.
pub fn new_secret() -> Result<[u8; SECRET_BYTES], SealError> {
    random_bytes()
}

/// A secret as base32 without padding (what a person types into an app).
pub fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// The time step of a Unix time (seconds).
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS as i64)
}

/// The time step at which `code` is the valid code of `secret` at
/// `now`, allowing one step of drift either way, or `None`. Spaces in
/// `code` are ignored; anything but six digits is no match.
pub fn check_code(secret: &[u8], code: &str, now: NaiveDateTime) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let unix = u64::try_from(now.and_utc().timestamp()).ok()?;
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECS)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .build()
        .ok()?;
    let step = totp.check(&code, unix)?;
    i64::try_from(step).ok()
}

/// The SHA-256 of `text`, lower-case hex (64 characters): how recovery
/// codes, tickets and the session token of a ticket are stored.
pub fn hash(text: &str) -> String {
    let d = digest::digest(&digest::SHA256, text.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Fresh recovery codes, as shown to the person: four groups of four
/// base32 characters joined by `-`.
pub fn new_recovery_codes() -> Result<Vec<String>, SealError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes: [u8; CODE_CHARS] = random_bytes()?;
            let chars: Vec<char> = bytes
                .iter()
                .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
                .collect();
            Ok(chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-"))
        })
        .collect()
}

/// A recovery code as typed, reduced to the form that is hashed: lower
/// case, without separators and spaces.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !(c.is_whitespace() || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The stored hash of a recovery code as typed.
pub fn recovery_code_hash(code: &str) -> String {
    hash(&normalize_recovery_code(code))
}

/// A fresh login ticket (32 random bytes, base64url).
pub fn new_ticket() -> Result<String, SealError> {
    let bytes: [u8; 32] = random_bytes()?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn at(unix: i64) -> NaiveDateTime {
        DateTime::from_timestamp(unix, 0).unwrap().naive_utc()
    }

    /// RFC 6238 appendix B, SHA-1 (the last six digits of its 8-digit
    /// codes), and the ±1 step window.
    #[test]
    fn rfc_6238_vectors_and_window() {
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(check_code(secret, code, at(t)), Some(step_of(t)), "{t}");
        }
        assert_eq!(check_code(secret, "287082", at(59 + 30)), Some(1));
        assert_eq!(check_code(secret, "287082", at(59 - 30)), Some(1));
        assert_eq!(check_code(secret, "287082", at(59 + 60)), None);
        assert_eq!(check_code(secret, "287 082", at(59)), Some(1));
        for bad in ["", "28708", "2870822", "+87082", "abcdef", "２８７０８２"] {
            assert_eq!(check_code(secret, bad, at(59)), None, "{bad:?}");
        }
    }

    #[test]
    fn sealed_secret_opens_only_for_its_user_and_server_secret() {
        let store: Arc<dyn SecondFactorStore> = Arc::new(NoStore);
        let f = SecondFactors::new(store.clone(), &[1; 32], "authnz").unwrap();
        let secret = new_secret().unwrap();
        let sealed = f.seal_secret(4, &secret).unwrap();
        assert!(!sealed.contains(&base32(&secret)));
        assert_eq!(f.open_secret(4, &sealed).unwrap(), secret);
        assert!(f.open_secret(5, &sealed).is_err());
        let other = SecondFactors::new(store, &[2; 32], "authnz").unwrap();
        assert!(other.open_secret(4, &sealed).is_err());
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_secret() {
        let f = SecondFactors::new(Arc::new(NoStore), &[1; 32], "Example Site").unwrap();
        let uri = f
            .otpauth_uri(b"12345678901234567890", "a@example.org")
            .unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=Example%20Site"), "{uri}");
        assert!(uri.contains("a%40example.org"), "{uri}");
        let odd = f.otpauth_uri(b"12345678901234567890", "a:b").unwrap();
        assert!(odd.contains("account"), "{odd}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalized() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for c in &codes {
            assert_eq!(c.len(), 19);
            assert_eq!(normalize_recovery_code(c).len(), CODE_CHARS);
            assert_eq!(
                recovery_code_hash(&c.to_uppercase().replace('-', " ")),
                recovery_code_hash(c)
            );
        }
        assert_eq!(hash("abc").len(), 64);
        assert_ne!(new_ticket().unwrap(), new_ticket().unwrap());
    }

    /// A store that is never reached (for the tests of pure functions).
    #[derive(Debug)]
    struct NoStore;

    #[async_trait::async_trait]
    impl SecondFactorStore for NoStore {
        async fn totp(&self, _: UserId) -> Result<Option<authnz_api::TotpRecord>, StoreError> {
            unreachable!()
        }
        async fn put_pending_totp(
            &self,
            _: UserId,
            _: &str,
            _: NaiveDateTime,
        ) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn enable_totp(
            &self,
            _: UserId,
            _: &str,
            _: i64,
            _: &[String],
        ) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn accept_totp_step(&self, _: UserId, _: i64) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn delete_totp(&self, _: UserId) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn recovery_codes_left(&self, _: UserId) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn use_recovery_code(&self, _: UserId, _: &str) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn create_login_ticket(&self, _: &authnz_api::LoginTicket) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn login_ticket(
            &self,
            _: &str,
            _: NaiveDateTime,
        ) -> Result<Option<authnz_api::LoginTicket>, StoreError> {
            unreachable!()
        }
        async fn consume_login_ticket(
            &self,
            _: &str,
            _: NaiveDateTime,
        ) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn delete_login_tickets_expired(&self, _: NaiveDateTime) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn add_passkey(
            &self,
            _: &authnz_api::NewPasskey,
            _: &[String],
        ) -> Result<i64, StoreError> {
            unreachable!()
        }
        async fn passkeys(&self, _: UserId) -> Result<Vec<authnz_api::PasskeyRecord>, StoreError> {
            unreachable!()
        }
        async fn passkey_by_credential_id(
            &self,
            _: &str,
        ) -> Result<Option<authnz_api::PasskeyRecord>, StoreError> {
            unreachable!()
        }
        async fn passkey_count(&self, _: UserId) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn use_passkey(
            &self,
            _: i64,
            _: &str,
            _: i64,
            _: NaiveDateTime,
        ) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn delete_passkey(&self, _: UserId, _: i64) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn delete_passkeys(&self, _: UserId) -> Result<u64, StoreError> {
            unreachable!()
        }
        async fn put_passkey_challenge(
            &self,
            _: &authnz_api::PasskeyChallenge,
        ) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn take_passkey_challenge(
            &self,
            _: &str,
            _: NaiveDateTime,
        ) -> Result<Option<authnz_api::PasskeyChallenge>, StoreError> {
            unreachable!()
        }
        async fn delete_passkey_challenges_expired(
            &self,
            _: NaiveDateTime,
        ) -> Result<u64, StoreError> {
            unreachable!()
        }
    }
}
