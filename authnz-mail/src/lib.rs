//! Mail backends of authnz, each an implementation of
//! [`authnz_api::Mailer`] behind its own Cargo feature:
//!
//! - [`smtp`] (feature `smtp`): lettre over tokio and rustls; plain,
//!   STARTTLS or implicit TLS, optional login, bounded waits;
//! - [`ses`] (feature `ses`): Amazon SES v2 with the standard AWS credential
//!   and region chain and an endpoint override;
//! - [`file`] (feature `file`): one `.eml` file per message in a folder, the
//!   embedded default;
//! - [`memory`] (always): a list in memory that tests read back.
//!
//! The server picks one at start-up and holds it as `Arc<dyn Mailer>`; this
//! crate knows nothing of the protocol, templates or users. [`message`]
//! builds the RFC 5322 form the SMTP and file backends share. The `testing`
//! feature adds [`testing`]: real SMTP and SES emulators for tests and the
//! contract suite every backend passes ([`testing::contract`]).

pub mod memory;
pub mod message;

#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "ses")]
pub mod ses;
#[cfg(feature = "smtp")]
pub mod smtp;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "file")]
pub use file::FileMailer;
pub use memory::{MemoryMailer, SentMail};
#[cfg(feature = "ses")]
pub use ses::{SesMailer, SesSettings};
#[cfg(feature = "smtp")]
pub use smtp::{SmtpMailer, SmtpSettings, SmtpTls};

/// The mail backends a server can be configured with (`mailer`). The
/// in-memory backend is not one: it delivers nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailerKind {
    /// [`FileMailer`]: each message as an `.eml` file in a folder.
    File,
    /// `SmtpMailer`: SMTP to a mail server.
    Smtp,
    /// `SesMailer`: Amazon SES v2.
    Ses,
}

impl MailerKind {
    /// The config spelling, which is also the Cargo feature's name: `file`,
    /// `smtp`, `ses`.
    pub fn as_str(self) -> &'static str {
        match self {
            MailerKind::File => "file",
            MailerKind::Smtp => "smtp",
            MailerKind::Ses => "ses",
        }
    }

    /// Parse the config spelling (case-insensitive, surrounding blanks
    /// ignored).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "file" => Some(MailerKind::File),
            "smtp" => Some(MailerKind::Smtp),
            "ses" => Some(MailerKind::Ses),
            _ => None,
        }
    }

    /// Whether this build has the backend (its Cargo feature is on).
    pub fn is_compiled_in(self) -> bool {
        COMPILED_BACKENDS.contains(&self)
    }
}

/// The backends compiled into this build: the one list of them.
pub const COMPILED_BACKENDS: &[MailerKind] = &[
    #[cfg(feature = "file")]
    MailerKind::File,
    #[cfg(feature = "smtp")]
    MailerKind::Smtp,
    #[cfg(feature = "ses")]
    MailerKind::Ses,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_know_their_features() {
        for kind in [MailerKind::File, MailerKind::Smtp, MailerKind::Ses] {
            assert_eq!(MailerKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(MailerKind::parse(" SMTP "), Some(MailerKind::Smtp));
        assert_eq!(MailerKind::parse("memory"), None);
        assert_eq!(MailerKind::File.is_compiled_in(), cfg!(feature = "file"));
        assert_eq!(MailerKind::Smtp.is_compiled_in(), cfg!(feature = "smtp"));
        assert_eq!(MailerKind::Ses.is_compiled_in(), cfg!(feature = "ses"));
    }
}
