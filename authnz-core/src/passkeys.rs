//! Passkeys (PROTOCOL.md 3.12) as an interface: the WebAuthn relying party.
//! The server implements it on `webauthn-rs` (feature `passkeys`); the
//! actions (`actions/passkeys.rs`) only see this trait, so this crate
//! carries no WebAuthn or OpenSSL code. The browser's JSON and the
//! ceremony states pass through here as JSON values and opaque texts; the
//! actions decide whose a passkey is, store it, and keep every ceremony
//! single use.

use ring::digest;
use serde_json::Value;

/// The browser's options of a ceremony and its state, to be stored until
/// the ceremony finishes (it holds the challenge: never logged).
#[derive(Clone, PartialEq)]
pub struct Ceremony {
    /// `{"publicKey": {...}}`, binary fields base64url: what the page
    /// hands to `navigator.credentials.create()` or `.get()`.
    pub options: Value,
    /// The relying party's state of the ceremony, serialised.
    pub state: String,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony").finish_non_exhaustive()
    }
}

/// A passkey the browser created, verified: what is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Registered {
    /// The credential id, base64url without padding.
    pub credential_id: String,
    /// The passkey as the relying party serialises it.
    pub passkey_json: String,
    /// Its signature counter at registration.
    pub sign_count: i64,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("sign_count", &self.sign_count)
            .finish_non_exhaustive()
    }
}

/// A verified assertion with one of the given passkeys.
#[derive(Clone, PartialEq, Eq)]
pub struct Asserted {
    /// The credential id of the passkey used (base64url without padding).
    pub credential_id: String,
    /// The passkey with its counter (and backup state) brought up to date.
    pub passkey_json: String,
    /// The signature counter of this assertion.
    pub sign_count: i64,
}

impl std::fmt::Debug for Asserted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asserted")
            .field("sign_count", &self.sign_count)
            .finish_non_exhaustive()
    }
}

/// Who an assertion of a passwordless login claims to be, before it is
/// verified.
#[derive(Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The user handle the authenticator returned (32 hex digits).
    pub user_handle: String,
    /// The credential id (base64url without padding).
    pub credential_id: String,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed").finish_non_exhaustive()
    }
}

/// Why a ceremony step failed. The text may be shown to the caller: it
/// never holds a credential, a challenge or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// The browser's JSON is not a credential of the expected shape.
    #[error("not a WebAuthn credential: {0}")]
    Malformed(String),
    /// The credential failed verification (signature, origin, challenge,
    /// relying party, user verification, counter).
    #[error("verification failed: {0}")]
    Refused(String),
    /// The relying party itself failed (a stored state or passkey that no
    /// longer parses, randomness).
    #[error("relying party: {0}")]
    Internal(String),
}

/// The configured relying party (`webauthnrpid`, `webauthnorigins`,
/// `webauthnrpname`).
pub trait RelyingParty: Send + Sync + std::fmt::Debug + 'static {
    /// Start registering a passkey for the user with this handle: a
    /// discoverable credential with user verification, none of `existing`
    /// (serialised passkeys of the user) again.
    fn start_registration(
        &self,
        user_handle: &[u8; 16],
        user_name: &str,
        display_name: &str,
        existing: &[&str],
    ) -> Result<Ceremony, PasskeyError>;

    /// Verify the browser's `credential` against the registration `state`.
    fn finish_registration(
        &self,
        credential: &Value,
        state: &str,
    ) -> Result<Registered, PasskeyError>;

    /// Start a passwordless login: any discoverable passkey of this relying
    /// party (no allowed credentials listed).
    fn start_discoverable(&self) -> Result<Ceremony, PasskeyError>;

    /// Who the assertion `credential` of a passwordless login claims to be.
    fn claimed(&self, credential: &Value) -> Result<Claimed, PasskeyError>;

    /// Verify the assertion `credential` of a passwordless login against
    /// `state` and the stored passkey it claims.
    fn finish_discoverable(
        &self,
        credential: &Value,
        state: &str,
        passkey_json: &str,
    ) -> Result<Asserted, PasskeyError>;

    /// Start an assertion limited to `passkeys` (serialised; a second step
    /// of a login).
    fn start_authentication(&self, passkeys: &[&str]) -> Result<Ceremony, PasskeyError>;

    /// Verify the assertion `credential` against `state`; `passkeys` are
    /// the user's passkeys as stored now (the one used is returned up to
    /// date).
    fn finish_authentication(
        &self,
        credential: &Value,
        state: &str,
        passkeys: &[&str],
    ) -> Result<Asserted, PasskeyError>;
}

/// Domain separation of user handles.
const USER_HANDLE_CONTEXT: &[u8] = b"authnz passkey user handle";

/// The WebAuthn user handle of `user_id`: the first 16 bytes of
/// SHA-256("authnz passkey user handle" || decimal user id). Stable, so
/// every passkey of a user carries the same handle, and free of personal
/// data (the authenticator keeps it).
pub fn user_handle(user_id: i64) -> [u8; 16] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(USER_HANDLE_CONTEXT);
    ctx.update(user_id.to_string().as_bytes());
    let d = ctx.finish();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

/// Lower-case hex of `bytes` (how user handles are stored and compared).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_handles_are_stable_and_distinct() {
        assert_eq!(user_handle(4), user_handle(4));
        assert_ne!(user_handle(4), user_handle(5));
        assert_eq!(hex(&user_handle(4)).len(), 32);
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
