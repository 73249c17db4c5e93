//! The WebAuthn relying party of passkeys (PROTOCOL.md 3.12): the config
//! items `webauthnrpid`, `webauthnorigins` and `webauthnrpname`, checked at
//! start-up, and (Cargo feature `passkeys`) the implementation of
//! `authnz_core::passkeys::RelyingParty` on `webauthn-rs`.
//!
//! What webauthn-rs decides, and what this module changes:
//!
//! - registration asks for user verification and no attestation, with
//!   every secure algorithm webauthn-rs offers; the options are changed to
//!   ask for a discoverable credential (`residentKey: "required"`), which a
//!   passwordless login needs;
//! - a passwordless login lists no credentials; webauthn-rs marks its
//!   options for conditional mediation (autofill), which is dropped, so
//!   the page decides how to ask (`mediation` may be added by the page);
//! - every assertion checks the signature, the origin against
//!   `webauthnorigins`, the challenge, the relying party id hash, user
//!   verification, and that the signature counter went up (a counter that
//!   did not is refused as a possibly cloned authenticator).
//!
//! webauthn-rs logs ceremony states and credentials at its debug and trace
//! levels; the server's log filter caps its targets at `warn`
//! ([`QUIET_LOG_TARGETS`]).

use std::sync::Arc;

/// Log directives that keep webauthn-rs at `warn` and above: it logs
/// ceremony states (with their challenges) and credentials at its debug
/// and trace levels. The server's log filter adds them whatever
/// `AUTHNZ_LOG` says.
pub const QUIET_LOG_TARGETS: [&str; 2] = ["webauthn_rs=warn", "webauthn_rs_core=warn"];

/// Why the passkey configuration was refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyConfigError {
    /// An origin of `webauthnorigins` is not an `http(s)://host[:port]` URL.
    #[error(
        "webauthnorigins: {0:?} is not an origin like https://example.org or http://localhost:9000"
    )]
    BadOrigin(String),
    /// `webauthnrpid` is not the host, or a parent domain of the host, of
    /// every origin.
    #[error(
        "webauthnrpid: {rp_id:?} is not the host (or a parent domain of the host) of {origin:?}"
    )]
    RpIdMismatch {
        /// The relying party id.
        rp_id: String,
        /// The origin it does not fit.
        origin: String,
    },
    /// webauthn-rs refused the configuration.
    #[error("passkeys: {0}")]
    Refused(String),
    /// `webauthnorigins` is set, but the server was built without the
    /// `passkeys` feature.
    #[error(
        "webauthnorigins is set, but this authnzrv was built without the `passkeys` feature \
         (cargo build -p authnz-server --features passkeys)"
    )]
    NotBuilt,
}

/// The relying party's settings, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySettings {
    /// `webauthnrpid`; empty: the host of the first origin.
    pub rp_id: String,
    /// `webauthnorigins`, split at commas (at least one).
    pub origins: Vec<String>,
    /// `webauthnrpname`.
    pub rp_name: String,
}

impl PasskeySettings {
    /// The settings of the three items: `None` when `origins` (the text of
    /// `webauthnorigins`) is empty, i.e. passkeys are off.
    pub fn from_items(rp_id: &str, origins: &str, rp_name: &str) -> Option<Self> {
        let origins: Vec<String> = origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        if origins.is_empty() {
            return None;
        }
        Some(Self {
            rp_id: rp_id.trim().to_owned(),
            origins,
            rp_name: match rp_name.trim() {
                "" => "authnz".to_owned(),
                name => name.to_owned(),
            },
        })
    }
}

/// The relying party of `settings`, ready for the action context.
#[cfg(feature = "passkeys")]
pub fn build(
    settings: &PasskeySettings,
) -> Result<Arc<dyn authnz_core::passkeys::RelyingParty>, PasskeyConfigError> {
    Ok(Arc::new(rp::WebauthnParty::new(settings)?))
}

/// Without the `passkeys` feature: refused.
#[cfg(not(feature = "passkeys"))]
pub fn build(
    _settings: &PasskeySettings,
) -> Result<Arc<dyn authnz_core::passkeys::RelyingParty>, PasskeyConfigError> {
    Err(PasskeyConfigError::NotBuilt)
}

#[cfg(feature = "passkeys")]
mod rp {
    use authnz_core::passkeys::{
        Asserted, Ceremony, Claimed, PasskeyError, Registered, RelyingParty, hex,
    };
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::Value;
    use webauthn_rs::prelude::{
        AuthenticationResult, DiscoverableAuthentication, DiscoverableKey, Passkey,
        PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
        RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
    };

    use super::{PasskeyConfigError, PasskeySettings};

    /// The longest credential id WebAuthn allows, in bytes.
    const MAX_CREDENTIAL_ID: usize = 1023;

    /// The largest passkey stored, serialised (a passkey without
    /// attestation is about 500 bytes, one with a certificate chain a few
    /// KiB).
    const MAX_PASSKEY_JSON: usize = 64 * 1024;

    /// The relying party on webauthn-rs.
    pub struct WebauthnParty {
        webauthn: Webauthn,
        rp_id: String,
    }

    impl std::fmt::Debug for WebauthnParty {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("WebauthnParty")
                .field("rp_id", &self.rp_id)
                .finish_non_exhaustive()
        }
    }

    /// An origin: `http(s)://host[:port]`, nothing after it but `/`.
    fn origin(text: &str) -> Result<Url, PasskeyConfigError> {
        let bad = || PasskeyConfigError::BadOrigin(text.to_owned());
        let url = Url::parse(text).map_err(|_| bad())?;
        let plain = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some_and(|h| !h.is_empty())
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none();
        if plain { Ok(url) } else { Err(bad()) }
    }

    /// Whether `rp_id` is the host of `url` or a parent domain of it.
    fn fits(rp_id: &str, url: &Url) -> bool {
        url.host_str()
            .is_some_and(|h| h == rp_id || h.ends_with(&format!(".{rp_id}")))
    }

    impl WebauthnParty {
        pub fn new(settings: &PasskeySettings) -> Result<Self, PasskeyConfigError> {
            let origins = settings
                .origins
                .iter()
                .map(|o| origin(o))
                .collect::<Result<Vec<_>, _>>()?;
            let Some(first) = origins.first() else {
                return Err(PasskeyConfigError::BadOrigin(String::new()));
            };
            let rp_id = if settings.rp_id.is_empty() {
                first.host_str().unwrap_or("localhost").to_owned()
            } else {
                settings.rp_id.clone()
            };
            for (url, text) in origins.iter().zip(&settings.origins) {
                if !fits(&rp_id, url) {
                    return Err(PasskeyConfigError::RpIdMismatch {
                        rp_id,
                        origin: text.clone(),
                    });
                }
            }
            let mut builder = WebauthnBuilder::new(&rp_id, first)
                .map_err(|e| PasskeyConfigError::Refused(e.to_string()))?
                .rp_name(&settings.rp_name);
            for url in &origins[1..] {
                builder = builder.append_allowed_origin(url);
            }
            let webauthn = builder
                .build()
                .map_err(|e| PasskeyConfigError::Refused(e.to_string()))?;
            Ok(Self { webauthn, rp_id })
        }
    }

    fn to_text<T: Serialize>(what: &str, v: &T) -> Result<String, PasskeyError> {
        serde_json::to_string(v).map_err(|e| PasskeyError::Internal(format!("{what}: {e}")))
    }

    fn to_value<T: Serialize>(what: &str, v: &T) -> Result<Value, PasskeyError> {
        serde_json::to_value(v).map_err(|e| PasskeyError::Internal(format!("{what}: {e}")))
    }

    /// A stored text (state or passkey) back to its type.
    fn stored<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, PasskeyError> {
        serde_json::from_str(text)
            .map_err(|_| PasskeyError::Internal(format!("a stored {what} does not parse")))
    }

    /// The browser's JSON as a credential. The serde error may quote the
    /// input, so it is not kept.
    fn browser<T: DeserializeOwned>(what: &str, v: &Value) -> Result<T, PasskeyError> {
        T::deserialize(v).map_err(|_| PasskeyError::Malformed(format!("not a {what}")))
    }

    /// A verification failure of webauthn-rs (its variants name the check
    /// that failed and hold no secret).
    fn refused(e: WebauthnError) -> PasskeyError {
        PasskeyError::Refused(format!("{e:?}"))
    }

    fn counter(res: &AuthenticationResult) -> i64 {
        i64::from(res.counter())
    }

    /// `passkey` brought up to date by `res`, as `Asserted`.
    fn asserted(
        mut passkey: Passkey,
        res: &AuthenticationResult,
    ) -> Result<Asserted, PasskeyError> {
        passkey.update_credential(res);
        Ok(Asserted {
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref()),
            passkey_json: to_text("passkey", &passkey)?,
            sign_count: counter(res),
        })
    }

    impl RelyingParty for WebauthnParty {
        fn start_registration(
            &self,
            user_handle: &[u8; 16],
            user_name: &str,
            display_name: &str,
            existing: &[&str],
        ) -> Result<Ceremony, PasskeyError> {
            let exclude = existing
                .iter()
                .map(|p| stored::<Passkey>("passkey", p).map(|p| p.cred_id().clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let exclude = (!exclude.is_empty()).then_some(exclude);
            let (ccr, state) = self
                .webauthn
                .start_passkey_registration(
                    Uuid::from_bytes(*user_handle),
                    user_name,
                    display_name,
                    exclude,
                )
                .map_err(|e| PasskeyError::Internal(format!("{e:?}")))?;
            let mut options = to_value("options", &ccr)?;
            // A discoverable credential, for passwordless login.
            if let Some(sel) = options
                .pointer_mut("/publicKey/authenticatorSelection")
                .and_then(Value::as_object_mut)
            {
                sel.insert("residentKey".into(), "required".into());
                sel.insert("requireResidentKey".into(), true.into());
            }
            Ok(Ceremony {
                options,
                state: to_text::<PasskeyRegistration>("state", &state)?,
            })
        }

        fn finish_registration(
            &self,
            credential: &Value,
            state: &str,
        ) -> Result<Registered, PasskeyError> {
            let reg: RegisterPublicKeyCredential = browser("registration credential", credential)?;
            let state: PasskeyRegistration = stored("registration state", state)?;
            let passkey = self
                .webauthn
                .finish_passkey_registration(&reg, &state)
                .map_err(refused)?;
            // WebAuthn L3 7.1: a credential id is at most 1023 bytes
            // (webauthn-rs takes up to 65535; the column holds 1400
            // base64url characters).
            if passkey.cred_id().len() > MAX_CREDENTIAL_ID {
                return Err(PasskeyError::Refused(
                    "credential id longer than 1023 bytes".into(),
                ));
            }
            let passkey_json = to_text("passkey", &passkey)?;
            // What the browser may make webauthn-rs keep (attestation
            // certificates, transports) is bounded: every second step's
            // state and options repeat it for each of the user's passkeys.
            if passkey_json.len() > MAX_PASSKEY_JSON {
                return Err(PasskeyError::Refused(
                    "the credential is too large to store".into(),
                ));
            }
            let sign_count = serde_json::to_value(&passkey)
                .ok()
                .and_then(|v| v.pointer("/cred/counter").and_then(Value::as_i64))
                .unwrap_or(0);
            Ok(Registered {
                credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_ref()),
                passkey_json,
                sign_count,
            })
        }

        fn start_discoverable(&self) -> Result<Ceremony, PasskeyError> {
            let (mut rcr, state) = self
                .webauthn
                .start_discoverable_authentication()
                .map_err(|e| PasskeyError::Internal(format!("{e:?}")))?;
            // A modal request by default; the page may ask for autofill.
            rcr.mediation = None;
            Ok(Ceremony {
                options: to_value("options", &rcr)?,
                state: to_text::<DiscoverableAuthentication>("state", &state)?,
            })
        }

        fn claimed(&self, credential: &Value) -> Result<Claimed, PasskeyError> {
            let cred: PublicKeyCredential = browser("login credential", credential)?;
            let (uuid, cred_id) = self
                .webauthn
                .identify_discoverable_authentication(&cred)
                .map_err(refused)?;
            Ok(Claimed {
                user_handle: hex(uuid.as_bytes()),
                credential_id: URL_SAFE_NO_PAD.encode(cred_id),
            })
        }

        fn finish_discoverable(
            &self,
            credential: &Value,
            state: &str,
            passkey_json: &str,
        ) -> Result<Asserted, PasskeyError> {
            let cred: PublicKeyCredential = browser("login credential", credential)?;
            let state: DiscoverableAuthentication = stored("login state", state)?;
            let passkey: Passkey = stored("passkey", passkey_json)?;
            let key = DiscoverableKey::from(&passkey);
            let res = self
                .webauthn
                .finish_discoverable_authentication(&cred, state, &[key])
                .map_err(refused)?;
            if !res.user_verified() {
                return Err(PasskeyError::Refused("no user verification".into()));
            }
            asserted(passkey, &res)
        }

        fn start_authentication(&self, passkeys: &[&str]) -> Result<Ceremony, PasskeyError> {
            let passkeys = passkeys
                .iter()
                .map(|p| stored::<Passkey>("passkey", p))
                .collect::<Result<Vec<_>, _>>()?;
            let (rcr, state) = self
                .webauthn
                .start_passkey_authentication(&passkeys)
                .map_err(|e| PasskeyError::Internal(format!("{e:?}")))?;
            Ok(Ceremony {
                options: to_value("options", &rcr)?,
                state: to_text::<PasskeyAuthentication>("state", &state)?,
            })
        }

        fn finish_authentication(
            &self,
            credential: &Value,
            state: &str,
            passkeys: &[&str],
        ) -> Result<Asserted, PasskeyError> {
            let cred: PublicKeyCredential = browser("assertion", credential)?;
            let state: PasskeyAuthentication = stored("second-factor state", state)?;
            let res = self
                .webauthn
                .finish_passkey_authentication(&cred, &state)
                .map_err(refused)?;
            if !res.user_verified() {
                return Err(PasskeyError::Refused("no user verification".into()));
            }
            for text in passkeys {
                let passkey: Passkey = stored("passkey", text)?;
                if passkey.cred_id() == res.cred_id() {
                    return asserted(passkey, &res);
                }
            }
            Err(PasskeyError::Refused("the passkey has been removed".into()))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn settings(rp_id: &str, origins: &[&str]) -> PasskeySettings {
            PasskeySettings {
                rp_id: rp_id.into(),
                origins: origins.iter().map(|o| (*o).to_owned()).collect(),
                rp_name: "authnz".into(),
            }
        }

        #[test]
        fn origins_and_rp_id_are_checked() {
            let ok = WebauthnParty::new(&settings("", &["http://localhost:9000"])).unwrap();
            assert_eq!(ok.rp_id, "localhost");
            let ok = WebauthnParty::new(&settings(
                "example.org",
                &["https://example.org", "https://login.example.org:8443/"],
            ))
            .unwrap();
            assert_eq!(ok.rp_id, "example.org");
            for bad in [
                "example.org",
                "ftp://example.org",
                "https://example.org/login",
                "https://u:p@example.org",
            ] {
                assert!(
                    matches!(
                        WebauthnParty::new(&settings("", &[bad])),
                        Err(PasskeyConfigError::BadOrigin(_))
                    ),
                    "{bad}"
                );
            }
            assert!(matches!(
                WebauthnParty::new(&settings("example.org", &["https://example.com"])),
                Err(PasskeyConfigError::RpIdMismatch { .. })
            ));
            assert!(matches!(
                WebauthnParty::new(&settings("ample.org", &["https://example.org"])),
                Err(PasskeyConfigError::RpIdMismatch { .. })
            ));
        }

        #[test]
        fn registration_options_ask_for_a_discoverable_credential() {
            let rp = WebauthnParty::new(&settings("", &["http://localhost:9000"])).unwrap();
            let c = rp
                .start_registration(&[7; 16], "a@example.org", "A", &[])
                .unwrap();
            let sel = &c.options["publicKey"]["authenticatorSelection"];
            assert_eq!(sel["residentKey"], "required");
            assert_eq!(sel["userVerification"], "required");
            assert_eq!(c.options["publicKey"]["rp"]["id"], "localhost");
            let d = rp.start_discoverable().unwrap();
            assert!(d.options.get("mediation").is_none());
            assert!(
                d.options["publicKey"]
                    .get("allowCredentials")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
            );
            assert!(matches!(
                rp.claimed(&serde_json::json!({"id": 1})),
                Err(PasskeyError::Malformed(_))
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_items() {
        assert_eq!(PasskeySettings::from_items("", " , ", "x"), None);
        let s = PasskeySettings::from_items(
            " example.org ",
            "https://example.org, https://www.example.org",
            "",
        )
        .unwrap();
        assert_eq!(s.rp_id, "example.org");
        assert_eq!(
            s.origins,
            ["https://example.org", "https://www.example.org"]
        );
        assert_eq!(s.rp_name, "authnz");
    }
}
