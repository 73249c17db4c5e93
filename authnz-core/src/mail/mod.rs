//! The actions' side of sending mail: at request time resolving the
//! effective settings (config, or the request body when the Q-16 overrides
//! are allowed), building the message from the [`templates`] and sending it
//! with a bounded wait ([`MailService`]).
//!
//! The backends themselves live in `authnz-mail`; the server builds the
//! configured one at start-up. This module decides who gets what.
//! Recipients that fail the e-mail pattern of PROTOCOL.md 5.4 are dropped, a sender
//! that fails it stops the send (PROTOCOL.md 3.5).

pub mod templates;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use authnz_api::{MailError, MailMessage, Mailer};
use serde_json::Value;

pub use authnz_mail::MailerKind;

use crate::validate::email::matches_address_pattern;
use templates::{Fields, MailKind, Templates};

/// Default of `emailsender`: the From address when none is configured.
pub const DEFAULT_EMAILSENDER: &str = "Authnzerver <authnzerver@localhost>";

/// SMTP connection security (`emailtls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connect, then STARTTLS, required (upstream's behaviour).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// Plain text only.
    None,
}

impl SmtpSecurity {
    /// Parse `starttls`, `tls` or `none` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "starttls" => Some(SmtpSecurity::StartTls),
            "tls" => Some(SmtpSecurity::Tls),
            "none" => Some(SmtpSecurity::None),
            _ => None,
        }
    }
}

/// SMTP settings from the config (also the base of body overrides).
#[derive(Clone)]
pub struct SmtpOptions {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub user: String,
    pub password: String,
    /// Extra root certificates (PEM file) for TLS.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for SmtpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Everything about mail the server is started with (plain data).
#[derive(Debug, Clone)]
pub struct MailOptions {
    pub backend: MailerKind,
    /// `emailsender`: the From address.
    pub sender: String,
    pub smtp: SmtpOptions,
    pub ses_region: Option<String>,
    pub ses_endpoint: Option<String>,
    /// Folder of the file mailer.
    pub file_dir: PathBuf,
    /// Bound of every send.
    pub timeout: Duration,
    /// may request bodies override the mail settings?
    pub allow_body_overrides: bool,
    /// Folder of template overrides (`<basedir>/email-templates`).
    pub templates_dir: PathBuf,
}

impl MailOptions {
    /// The file mailer writing to `file_dir`, defaults elsewhere (tests).
    pub fn file(file_dir: PathBuf, templates_dir: PathBuf) -> Self {
        MailOptions {
            backend: MailerKind::File,
            sender: DEFAULT_EMAILSENDER.to_owned(),
            smtp: SmtpOptions {
                host: "localhost".into(),
                port: 25,
                security: SmtpSecurity::StartTls,
                user: String::new(),
                password: String::new(),
                ca_file: None,
            },
            ses_region: None,
            ses_endpoint: None,
            file_dir,
            timeout: Duration::from_secs(10),
            allow_body_overrides: false,
            templates_dir,
        }
    }
}

/// Why the mailer could not be built (start-up stops).
#[derive(Debug, thiserror::Error)]
pub enum MailSetupError {
    #[error("the {0} mailer is not compiled into this authnzrv; rebuild with `--features {0}`")]
    NotCompiled(&'static str),
    #[error("cannot read AUTHNZERVER_EMAILCAFILE {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mailer: {0}")]
    Mail(#[from] MailError),
    #[error(transparent)]
    Templates(#[from] templates::TemplateError),
}

/// An SMTP mailer with `smtp`'s settings, each send bounded by `timeout`
/// (the configured backend, and the per-request one of Q-16).
#[cfg(feature = "smtp")]
pub fn smtp_mailer(
    smtp: &SmtpOptions,
    timeout: Duration,
) -> Result<Arc<dyn Mailer>, MailSetupError> {
    use authnz_mail::{SmtpMailer, SmtpSettings, SmtpTls};
    let extra_roots_pem = match &smtp.ca_file {
        Some(path) => Some(
            std::fs::read(path).map_err(|source| MailSetupError::CaFile {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let settings = SmtpSettings {
        host: smtp.host.clone(),
        port: smtp.port,
        tls: match smtp.security {
            SmtpSecurity::StartTls => SmtpTls::StartTls,
            SmtpSecurity::Tls => SmtpTls::Implicit,
            SmtpSecurity::None => SmtpTls::None,
        },
        user: Some(smtp.user.clone()),
        password: Some(smtp.password.clone()),
        timeout,
        extra_roots_pem,
    };
    Ok(Arc::new(SmtpMailer::new(settings)?))
}

/// Without the `smtp` feature: the SMTP backend is not compiled in.
#[cfg(not(feature = "smtp"))]
pub fn smtp_mailer(
    _smtp: &SmtpOptions,
    _timeout: Duration,
) -> Result<Arc<dyn Mailer>, MailSetupError> {
    Err(MailSetupError::NotCompiled("smtp"))
}

/// The mail side of the action context.
#[derive(Debug, Clone)]
pub struct MailService {
    pub mailer: Arc<dyn Mailer>,
    pub options: MailOptions,
    pub templates: Arc<Templates>,
}

/// The mailer and sender one request uses.
#[derive(Debug, Clone)]
pub struct Route {
    pub mailer: Arc<dyn Mailer>,
    pub sender: String,
}

/// The mail settings of a request are incomplete (PROTOCOL.md 3.5 failure 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncompleteSettings;

/// The optional mail settings of the two send requests, as given (`None`:
/// absent). They are the request's arguments of those names.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailSettings<'a> {
    pub emailuser: Option<&'a Value>,
    pub emailpass: Option<&'a Value>,
    pub emailserver: Option<&'a Value>,
    pub emailport: Option<&'a Value>,
    pub emailsender: Option<&'a Value>,
}

/// A body value that overrides a setting: `None` when the key is absent,
/// `Some(None)` when it is present but null, not a string, or empty.
fn body_str(v: Option<&Value>) -> Option<Option<String>> {
    v.map(|v| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

impl MailService {
    /// The service over an already built backend (the server builds the
    /// configured one); loads the templates.
    pub fn new(
        mailer: Arc<dyn Mailer>,
        options: MailOptions,
    ) -> Result<MailService, MailSetupError> {
        let templates = Arc::new(Templates::load(&options.templates_dir)?);
        Ok(MailService {
            mailer,
            options,
            templates,
        })
    }

    /// The effective mailer and sender for a request (PROTOCOL.md 3.5 and Q-16).
    ///
    /// Without `emailbodyoverrides` the body's mail keys are ignored and the
    /// configuration is used. With it, `emailsender` in the body replaces the
    /// sender for any backend, and any of `emailserver`, `emailport`,
    /// `emailuser`, `emailpass` in the body sends this mail by SMTP with the
    /// body's values over the configured SMTP ones. A present but null (or
    /// empty) `emailsender`, `emailserver` or `emailport` is incomplete.
    pub fn route(&self, settings: &MailSettings<'_>) -> Result<Route, IncompleteSettings> {
        let configured = Route {
            mailer: self.mailer.clone(),
            sender: self.options.sender.clone(),
        };
        if !self.options.allow_body_overrides {
            return Ok(configured);
        }
        let sender = match body_str(settings.emailsender) {
            None => configured.sender,
            Some(Some(s)) => s,
            Some(None) => return Err(IncompleteSettings),
        };
        let smtp_keys = [
            settings.emailserver,
            settings.emailport,
            settings.emailuser,
            settings.emailpass,
        ];
        if !smtp_keys.iter().any(Option::is_some) {
            return Ok(Route {
                mailer: configured.mailer,
                sender,
            });
        }
        let mut smtp = self.options.smtp.clone();
        match body_str(settings.emailserver) {
            None => {}
            Some(Some(host)) => smtp.host = host,
            Some(None) => return Err(IncompleteSettings),
        }
        match settings.emailport {
            None => {}
            Some(v) => {
                smtp.port = v
                    .as_u64()
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p > 0)
                    .ok_or(IncompleteSettings)?;
            }
        }
        if let Some(user) = body_str(settings.emailuser) {
            smtp.user = user.unwrap_or_default();
        }
        if let Some(password) = body_str(settings.emailpass) {
            smtp.password = password.unwrap_or_default();
        }
        match smtp_mailer(&smtp, self.options.timeout) {
            Ok(mailer) => Ok(Route { mailer, sender }),
            Err(e) => {
                // The settings come from the request: the error may quote them.
                tracing::warn!(
                    error = %authnz_api::logtext::LogText(&e.to_string()),
                    "cannot honour the request's SMTP settings"
                );
                Err(IncompleteSettings)
            }
        }
    }

    /// The message of `kind` for `recipients`, or `None` when the sender
    /// fails the address pattern or no recipient passes it (PROTOCOL.md 3.5 steps
    /// 1-2; the caller reports a send failure).
    pub fn message(
        &self,
        kind: MailKind,
        sender: &str,
        recipients: &[&str],
        fields: &Fields<'_>,
    ) -> Option<MailMessage> {
        let sender = sender.replace(['\r', '\n'], "");
        if !matches_address_pattern(bare_address(&sender)) {
            return None;
        }
        let to: Vec<String> = recipients
            .iter()
            .map(|r| r.replace(['\r', '\n'], ""))
            .filter(|r| matches_address_pattern(r))
            .collect();
        if to.is_empty() {
            return None;
        }
        let template = self.templates.get(kind);
        Some(MailMessage {
            from: sender,
            to,
            subject: templates::subject(kind, fields.server_name),
            text: templates::render(&template.text, fields, false),
            html: template
                .html
                .as_ref()
                .map(|h| templates::render(h, fields, true)),
        })
    }

    /// Send with the configured bound; a send that takes longer is
    /// abandoned and reported as [`MailError::Timeout`].
    pub async fn send(&self, route: &Route, message: &MailMessage) -> Result<(), MailError> {
        let bound = self.options.timeout;
        match tokio::time::timeout(bound, route.mailer.send(message)).await {
            Ok(result) => result,
            Err(_) => Err(MailError::Timeout(bound)),
        }
    }
}

/// The address inside `Name <addr>`, or the whole text trimmed.
pub fn bare_address(sender: &str) -> &str {
    let t = sender.trim();
    match (t.rfind('<'), t.ends_with('>')) {
        (Some(i), true) => &t[i + 1..t.len() - 1],
        _ => t,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    async fn service(overrides: bool) -> MailService {
        let dir = tempfile::tempdir().unwrap();
        let mut options = MailOptions::file(dir.path().join("out"), dir.path().join("t"));
        options.allow_body_overrides = overrides;
        let mailer = Arc::new(authnz_mail::FileMailer::new(options.file_dir.clone()));
        MailService::new(mailer, options).unwrap()
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn settings(m: &Map<String, Value>) -> MailSettings<'_> {
        MailSettings {
            emailuser: m.get("emailuser"),
            emailpass: m.get("emailpass"),
            emailserver: m.get("emailserver"),
            emailport: m.get("emailport"),
            emailsender: m.get("emailsender"),
        }
    }

    #[test]
    fn bare_addresses() {
        assert_eq!(bare_address("Authnzerver <a@localhost>"), "a@localhost");
        assert_eq!(bare_address(" a@b.c "), "a@b.c");
        assert_eq!(bare_address("<a@b.c>"), "a@b.c");
    }

    #[tokio::test]
    async fn overrides_are_ignored_unless_allowed() {
        let s = service(false).await;
        let r = s
            .route(&settings(&body(
                json!({"emailsender": "x@evil.example", "emailserver": null}),
            )))
            .unwrap();
        assert_eq!(r.sender, "Authnzerver <authnzerver@localhost>");
        assert_eq!(r.mailer.kind(), "file");
    }

    #[tokio::test]
    async fn allowed_overrides() {
        let s = service(true).await;
        let r = s
            .route(&settings(&body(json!({"emailsender": "x@other.example"}))))
            .unwrap();
        assert_eq!(r.sender, "x@other.example");
        assert_eq!(r.mailer.kind(), "file");
        assert_eq!(
            s.route(&settings(&body(json!({"emailsender": null}))))
                .unwrap_err(),
            IncompleteSettings
        );
        assert_eq!(
            s.route(&settings(&body(json!({"emailserver": null}))))
                .unwrap_err(),
            IncompleteSettings
        );
        assert_eq!(
            s.route(&settings(&body(json!({"emailport": "25"}))))
                .unwrap_err(),
            IncompleteSettings
        );
        #[cfg(feature = "smtp")]
        {
            let r = s
                .route(&settings(&body(
                    json!({"emailserver": "127.0.0.1", "emailport": 2525}),
                )))
                .unwrap();
            assert_eq!(r.mailer.kind(), "smtp");
        }
    }

    #[tokio::test]
    async fn recipients_and_sender_follow_the_pattern() {
        let s = service(false).await;
        let fields = Fields {
            server_name: "Srv",
            server_baseurl: "https://srv",
            user_email: "u@example.org",
            browser: "b",
            ip_address: "1.2.3.4",
            verification_code: "C",
            verification_url: "https://srv/v",
            verification_expiry: "e",
        };
        let m = s
            .message(
                MailKind::Signup,
                "Srv <srv@example.org>",
                &["u@example.org", "bad address", "o'brien@example.org"],
                &fields,
            )
            .unwrap();
        assert_eq!(m.to, ["u@example.org"]);
        assert_eq!(
            m.subject,
            "[Srv] Please verify your account sign up request"
        );
        assert!(m.html.is_some());
        assert!(
            s.message(
                MailKind::Signup,
                "Srv <srv@example.org>",
                &["nope"],
                &fields
            )
            .is_none()
        );
        assert!(
            s.message(
                MailKind::Signup,
                "Srv <bad sender>",
                &["u@example.org"],
                &fields
            )
            .is_none()
        );
    }
}
