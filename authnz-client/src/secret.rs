//! Values that must never reach a log: the shared key, passwords, session
//! tokens, API keys and refresh tokens. [`Secret`] serialises as the plain
//! text the protocol needs and prints as `<redacted>` in `Debug` output, so
//! a request or reply struct can derive `Debug` safely.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A secret string: sent and received as plain text, never shown by
/// `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret text, for the places that need it (a cookie, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret text, consuming the wrapper.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

/// Keys of a JSON object whose values are secrets or personal data; the
/// `Debug` output of replies held as raw JSON (failures, mismatches) shows
/// `<redacted>` in their place.
const SENSITIVE_KEYS: &[&str] = &[
    "password",
    "current_password",
    "new_password",
    "session_token",
    "target_session_token",
    "apikey",
    "apikey_dict",
    "refresh_token",
    "tkn",
    "verification_token",
    "emailpass",
    "email",
    "email_address",
    "user_email",
    "login_ticket",
    "totp_code",
    "recovery_code",
    "recovery_codes",
    "secret_base32",
    "otpauth_uri",
];

/// A `Debug` view of a JSON value with the values of [`SENSITIVE_KEYS`]
/// replaced, at any depth.
pub(crate) struct RedactedJson<'a>(pub &'a serde_json::Value);

impl std::fmt::Debug for RedactedJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use serde_json::Value;
        match self.0 {
            Value::Object(map) => {
                let mut m = f.debug_map();
                for (k, v) in map {
                    if SENSITIVE_KEYS.contains(&k.as_str()) && !v.is_null() {
                        m.entry(k, &format_args!("<redacted>"));
                    } else {
                        m.entry(k, &RedactedJson(v));
                    }
                }
                m.finish()
            }
            Value::Array(items) => f
                .debug_list()
                .entries(items.iter().map(RedactedJson))
                .finish(),
            other => write!(f, "{other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_text_and_serde_keeps_it() {
        let s = Secret::new("hunter2-password");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hunter2-password\"");
        let back: Secret = serde_json::from_str("\"tok\"").unwrap();
        assert_eq!(back.expose(), "tok");
    }

    #[test]
    fn redacted_json_hides_sensitive_keys_at_any_depth() {
        let v = serde_json::json!({
            "user_id": 4,
            "session_info": {"session_token": "tok-SECRET", "user_agent": "UA"},
            "list": [{"apikey": "key-SECRET", "expires": "x"}],
            "login_ticket": "ticket-SECRET",
            "recovery_codes": ["code-SECRET"],
            "otpauth_uri": "otpauth://totp/x?secret=SECRET",
            "email": null,
        });
        let text = format!("{:?}", RedactedJson(&v));
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("user_agent") && text.contains("UA"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
