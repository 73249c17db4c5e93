//! Opening and sealing protocol bodies (docs/PROTOCOL.md §1.4).
//!
//! Body = standard-base64(Fernet token), where the Fernet token itself is the
//! usual URL-safe base64 text. Tokens are never rejected for their timestamp,
//! past or future: the `fernet` crate's 60-second future-skew check is
//! neutralised by passing a "current time" at the end of the `u64` range.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::python::truth::truthy;

/// The shared Fernet key and the operations on it.
pub struct Codec {
    fernet: fernet::Fernet,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codec { key: <redacted> }")
    }
}

/// Why a body could not be opened. Every variant is a 401 on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("body is not standard base64")]
    OuterBase64,
    #[error("token is not a valid Fernet token for the key")]
    Token,
    #[error("plaintext is not JSON")]
    Json,
    #[error("plaintext is falsy")]
    Falsy,
}

/// When a verified request token was made, and which token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStamp {
    /// The Fernet timestamp: Unix seconds, as the sender's clock had it.
    pub issued_at: u64,
    /// The token's HMAC as lower-case hex: unique per token (it covers the
    /// timestamp, the random IV and the ciphertext), and no secret.
    pub id: String,
}

impl TokenStamp {
    /// Read a Fernet token (version, 8-byte big-endian timestamp, 16-byte
    /// IV, ciphertext, 32-byte HMAC) that has already been verified.
    fn of(token: &str) -> Option<Self> {
        let raw = URL_SAFE
            .decode(token)
            .or_else(|_| URL_SAFE_NO_PAD.decode(token))
            .ok()?;
        if raw.len() < 1 + 8 + 16 + 32 {
            return None;
        }
        let issued_at = u64::from_be_bytes(raw.get(1..9)?.try_into().ok()?);
        let mac = raw.get(raw.len() - 32..)?;
        let id = mac.iter().map(|b| format!("{b:02x}")).collect();
        Some(Self { issued_at, id })
    }
}

/// "Now" for the fernet crate's skew check: high enough that no timestamp is
/// ever in the future, low enough that `now + 60` cannot overflow.
const NO_SKEW_CHECK_TIME: u64 = u64::MAX - 60;

impl Codec {
    /// A codec for the 32-byte key (16 signing + 16 encryption bytes).
    pub fn new(key: &[u8; 32]) -> Self {
        let text = URL_SAFE.encode(key);
        // A 32-byte key encoded as URL-safe base64 is always accepted.
        let fernet = fernet::Fernet::new(&text).unwrap_or_else(|| unreachable!("32-byte key"));
        Self { fernet }
    }

    /// Decode, verify, decrypt and parse a request body. The plaintext is read
    /// as Python's `json.loads` reads bytes ([`crate::python::json::loads`]:
    /// `NaN`/`Infinity`, byte-order marks, numbers kept exactly as sent).
    /// Falsy JSON values are refused, as upstream does.
    pub fn open(&self, body: &[u8]) -> Result<Value, OpenError> {
        let plaintext = self.open_bytes(body)?;
        let value = crate::python::json::loads(&plaintext).map_err(|_| OpenError::Json)?;
        if !truthy(&value) {
            return Err(OpenError::Falsy);
        }
        Ok(value)
    }

    /// [`Codec::open`], also returning the token's timestamp and identity
    /// (for the opt-in replay guard, `requestttl`).
    pub fn open_stamped(&self, body: &[u8]) -> Result<(Value, TokenStamp), OpenError> {
        let (plaintext, token) = self.open_token(body)?;
        let stamp = TokenStamp::of(&token).ok_or(OpenError::Token)?;
        let value = crate::python::json::loads(&plaintext).map_err(|_| OpenError::Json)?;
        if !truthy(&value) {
            return Err(OpenError::Falsy);
        }
        Ok((value, stamp))
    }

    /// Decode and decrypt a body to its plaintext bytes.
    pub fn open_bytes(&self, body: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.open_token(body).map(|(plaintext, _)| plaintext)
    }

    /// Decode and decrypt a body: the plaintext and the verified Fernet token
    /// text.
    fn open_token(&self, body: &[u8]) -> Result<(Vec<u8>, String), OpenError> {
        // Copy only in the rare case of whitespace inside the body.
        let compact: std::borrow::Cow<'_, [u8]> = if body.iter().any(u8::is_ascii_whitespace) {
            body.iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect()
        } else {
            std::borrow::Cow::Borrowed(body)
        };
        let token = STANDARD
            .decode(&compact)
            .map_err(|_| OpenError::OuterBase64)?;
        let token = String::from_utf8(token).map_err(|_| OpenError::Token)?;
        let plaintext = self
            .fernet
            .decrypt_at_time(&token, None, NO_SKEW_CHECK_TIME)
            .map_err(|_| OpenError::Token)?;
        Ok((plaintext, token))
    }

    /// Serialise, encrypt (current timestamp) and wrap a response.
    pub fn seal(&self, value: &Value) -> String {
        // Serialising a `Value` cannot fail.
        let json = serde_json::to_vec(value).unwrap_or_default();
        self.seal_bytes(&json)
    }

    /// Encrypt and wrap raw plaintext bytes.
    pub fn seal_bytes(&self, plaintext: &[u8]) -> String {
        STANDARD.encode(self.fernet.encrypt(plaintext))
    }

    /// Encrypt at a given Unix time (for tests and interop vectors).
    pub fn seal_bytes_at(&self, plaintext: &[u8], unix_time: u64) -> String {
        STANDARD.encode(self.fernet.encrypt_at_time(plaintext, unix_time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codec() -> Codec {
        Codec::new(&[7u8; 32])
    }

    #[test]
    fn stamped_tokens_carry_their_time_and_a_unique_id() {
        let c = codec();
        let a = c.seal_bytes_at(br#"{"a": 1}"#, 1_600_000_000);
        let b = c.seal_bytes_at(br#"{"a": 1}"#, 1_600_000_000);
        let (va, sa) = c.open_stamped(a.as_bytes()).unwrap();
        let (_, sb) = c.open_stamped(b.as_bytes()).unwrap();
        assert_eq!(va, serde_json::json!({"a": 1}));
        assert_eq!(sa.issued_at, 1_600_000_000);
        assert_eq!(sa.id.len(), 64);
        // Same plaintext, same second: still two tokens (random IV).
        assert_ne!(sa.id, sb.id);
        assert_eq!(c.open_stamped(a.as_bytes()).unwrap().1, sa);
        assert_eq!(c.open_stamped(b"bm9wZQ=="), Err(OpenError::Token));
    }

    #[test]
    fn round_trip() {
        let c = codec();
        let v = json!({"request": "session-new", "reqid": 1, "body": {"x": [1, 2.5, "é"]}});
        assert_eq!(c.open(c.seal(&v).as_bytes()), Ok(v));
    }

    /// Python's `json.loads` on the decrypted bytes: `NaN`/`Infinity`, a
    /// UTF-8 byte-order mark, UTF-16.
    #[test]
    fn reads_the_plaintext_as_python_does() {
        let c = codec();
        let nan = br#"{"a": NaN, "b": [Infinity, -Infinity]}"#;
        let v = c.open(c.seal_bytes(nan).as_bytes()).expect("NaN accepted");
        assert_eq!(
            crate::python::json::dumps(&v),
            r#"{"a": NaN, "b": [Infinity, -Infinity]}"#
        );
        assert_eq!(v.to_string(), r#"{"a":NaN,"b":[Infinity,-Infinity]}"#);
        let bom = b"\xef\xbb\xbf{\"a\": 1}";
        assert_eq!(c.open(c.seal_bytes(bom).as_bytes()), Ok(json!({"a": 1})));
        let utf16: Vec<u8> = r#"{"a": 1}"#.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(c.open(c.seal_bytes(&utf16).as_bytes()), Ok(json!({"a": 1})));
        let big = br#"{"reqid": 123456789012345678901234567890}"#;
        let v = c.open(c.seal_bytes(big).as_bytes()).expect("big int");
        assert_eq!(v.to_string(), r#"{"reqid":123456789012345678901234567890}"#);
    }

    #[test]
    fn accepts_tokens_from_any_time() {
        let c = codec();
        for t in [0u64, 1, 1 << 40, u64::MAX] {
            let body = c.seal_bytes_at(br#"{"a": 1}"#, t);
            assert_eq!(
                c.open(body.as_bytes()),
                Ok(json!({"a": 1})),
                "timestamp {t}"
            );
        }
    }

    #[test]
    fn ignores_ascii_whitespace_in_the_outer_layer() {
        let c = codec();
        let body = c.seal(&json!({"a": 1}));
        let (a, b) = body.split_at(10);
        let spaced = format!(" {a}\r\n{b}\n");
        assert_eq!(c.open(spaced.as_bytes()), Ok(json!({"a": 1})));
    }

    #[test]
    fn refuses_bad_bodies() {
        let c = codec();
        let good = c.seal(&json!({"a": 1}));
        // Bare Fernet token without the outer layer.
        let bare = STANDARD.decode(&good).expect("b64");
        assert!(c.open(&bare).is_err());
        assert_eq!(c.open(b"%%%not base64"), Err(OpenError::OuterBase64));
        // Wrong key.
        let other = Codec::new(&[8u8; 32]);
        assert_eq!(other.open(good.as_bytes()), Err(OpenError::Token));
        // Tampered byte inside the token.
        let mut token = STANDARD.decode(&good).expect("b64");
        let mid = token.len() / 2;
        token[mid] = if token[mid] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            c.open(STANDARD.encode(&token).as_bytes()),
            Err(OpenError::Token)
        );
        // Not JSON, and falsy JSON.
        assert_eq!(
            c.open(c.seal_bytes(b"not json").as_bytes()),
            Err(OpenError::Json)
        );
        for falsy in ["{}", "[]", "0", "\"\"", "null", "false", "-0", "0.0"] {
            assert_eq!(
                c.open(c.seal_bytes(falsy.as_bytes()).as_bytes()),
                Err(OpenError::Falsy)
            );
        }
    }
}
