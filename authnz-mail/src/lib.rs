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

/// The backends compiled into this build, in config spelling.
pub const COMPILED_BACKENDS: &[&str] = &[
    #[cfg(feature = "file")]
    "file",
    #[cfg(feature = "smtp")]
    "smtp",
    #[cfg(feature = "ses")]
    "ses",
];
