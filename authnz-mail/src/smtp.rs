//! The SMTP backend: lettre's async transport on tokio with rustls (ring,
//! Mozilla roots plus optional extra roots from a PEM file).
//!
//! Three connection modes ([`SmtpTls`]): `starttls` (plain connect, then
//! STARTTLS is *required*; a server that does not offer it gets no mail, as
//! upstream refuses too), `tls` (implicit TLS, usually port 465) and `none`
//! (plain text; only for a trusted local relay or a test sink). The login is
//! used when both user and password are non-empty. The whole send (connect,
//! TLS, login, every command) is bounded by [`SmtpSettings::timeout`]; one
//! connection per message, no pool (sign-up mail is rare, and a pool would
//! hold idle connections to a server that may drop them).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::{MailError, MailMessage, Mailer};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text only (trusted local relays, test sinks).
    None,
    /// Plain connect, then STARTTLS; refuse to send if it is not offered.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

impl SmtpTls {
    /// The config spelling: `none`, `starttls`, `tls`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "plain" => Some(SmtpTls::None),
            "starttls" => Some(SmtpTls::StartTls),
            "tls" | "smtps" | "implicit" => Some(SmtpTls::Implicit),
            _ => None,
        }
    }

    /// The config spelling of this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::None => "none",
            SmtpTls::StartTls => "starttls",
            SmtpTls::Implicit => "tls",
        }
    }
}

/// Where and how to deliver by SMTP.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Server host name or IP address (also the name checked in its
    /// certificate).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// Login user; the login happens only when user and password are both
    /// non-empty.
    pub user: Option<String>,
    /// Login password.
    pub password: Option<String>,
    /// Bound of the whole send (connecting, TLS, login, every command).
    pub timeout: Duration,
    /// Extra root certificates (PEM) trusted for TLS, besides Mozilla's.
    pub extra_roots_pem: Option<Vec<u8>>,
}

impl SmtpSettings {
    /// Plain-text delivery to `host:port` with no login (tests, local sinks).
    pub fn plain(host: impl Into<String>, port: u16) -> Self {
        SmtpSettings {
            host: host.into(),
            port,
            tls: SmtpTls::None,
            user: None,
            password: None,
            timeout: Duration::from_secs(10),
            extra_roots_pem: None,
        }
    }

    fn credentials(&self) -> Option<Credentials> {
        match (&self.user, &self.password) {
            (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                Some(Credentials::new(user.clone(), password.clone()))
            }
            _ => None,
        }
    }
}

/// The password is never shown.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("extra_roots", &self.extra_roots_pem.is_some())
            .finish()
    }
}

/// Delivers by SMTP.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: SmtpSettings,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("settings", &self.settings)
            .finish()
    }
}

impl SmtpMailer {
    /// A mailer for `settings`. Fails only on unusable TLS settings (a bad
    /// PEM file); nothing connects until the first send.
    pub fn new(settings: SmtpSettings) -> Result<Self, MailError> {
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters(&settings)?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters(&settings)?),
        };
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.clone())
                .port(settings.port)
                .tls(tls)
                .timeout(Some(settings.timeout));
        if let Some(credentials) = settings.credentials() {
            builder = builder.credentials(credentials);
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            settings,
        })
    }

    /// The settings this mailer delivers with.
    pub fn settings(&self) -> &SmtpSettings {
        &self.settings
    }
}

fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(settings.host.clone());
    if let Some(pem) = &settings.extra_roots_pem {
        // lettre accepts a PEM without any certificate (an empty list).
        if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(MailError::InvalidMessage(
                "the extra root certificate file holds no PEM certificate".to_owned(),
            ));
        }
        let cert = Certificate::from_pem(pem).map_err(|e| {
            MailError::InvalidMessage(format!("unusable extra root certificate: {e}"))
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(MailError::backend)
}

/// Map lettre's error into the domain error.
fn map_error(e: lettre::transport::smtp::Error, timeout: Duration) -> MailError {
    if e.is_timeout() {
        MailError::Timeout(timeout)
    } else if e.is_permanent() || e.is_transient() {
        MailError::rejected(e)
    } else {
        MailError::unavailable(e)
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        let built = crate::message::build(message)?;
        // lettre bounds the TCP connect but not every read (a server that
        // accepts and never greets would hang it), so bound the whole send.
        let timeout = self.settings.timeout;
        match tokio::time::timeout(timeout, self.transport.send(built)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| map_error(e, timeout)),
            Err(_) => Err(MailError::Timeout(timeout)),
        }
    }

    fn kind(&self) -> &'static str {
        "smtp"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn tls_modes_parse() {
        assert_eq!(SmtpTls::parse("STARTTLS"), Some(SmtpTls::StartTls));
        assert_eq!(SmtpTls::parse(" tls "), Some(SmtpTls::Implicit));
        assert_eq!(SmtpTls::parse("none"), Some(SmtpTls::None));
        assert_eq!(SmtpTls::parse("ssl3"), None);
        for mode in [SmtpTls::None, SmtpTls::StartTls, SmtpTls::Implicit] {
            assert_eq!(SmtpTls::parse(mode.as_str()), Some(mode));
        }
    }

    #[test]
    fn login_needs_user_and_password() {
        let mut s = SmtpSettings::plain("localhost", 25);
        assert!(s.credentials().is_none());
        s.user = Some("u".into());
        s.password = Some(String::new());
        assert!(s.credentials().is_none());
        s.password = Some("p".into());
        assert!(s.credentials().is_some());
        let shown = format!("{s:?}");
        assert!(!shown.contains("\"p\""), "{shown}");
    }

    #[test]
    fn bad_pem_is_refused() {
        let mut s = SmtpSettings::plain("localhost", 25);
        s.tls = SmtpTls::StartTls;
        s.extra_roots_pem = Some(b"not a pem".to_vec());
        assert!(SmtpMailer::new(s).is_err());
    }
}
