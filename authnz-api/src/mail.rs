//! Outgoing e-mail: the [`Mailer`] trait every mail backend implements
//! (`authnz-mail`: SMTP, Amazon SES, a file outbox), the [`MailMessage`] the
//! server hands it, and the [`MailError`] a backend maps its failures into.
//!
//! The server decides *what* to send (templates, recipients already checked
//! against the address pattern of PROTOCOL.md 5.4) and *whether* a send counts (it
//! bounds every send with its own timeout); a backend only delivers.

use std::fmt;

use async_trait::async_trait;

use crate::error::BoxError;

/// One message: a sender, one or more recipients, a subject and a body with a
/// plain-text part and an optional HTML alternative.
///
/// Addresses are `Name <addr>` or a bare `addr`. Backends remove line breaks
/// from the sender, the recipients and the subject before use (PROTOCOL.md 3.5).
#[derive(Clone, PartialEq, Eq)]
pub struct MailMessage {
    /// The `From` address (also the envelope sender and the `Sender` header).
    pub from: String,
    /// The recipients; every one gets the same message (`To`, joined by `, `).
    pub to: Vec<String>,
    /// The `Subject` header.
    pub subject: String,
    /// The `text/plain` body.
    pub text: String,
    /// The `text/html` alternative, if any.
    pub html: Option<String>,
}

/// The message's `Debug` hides addresses and bodies: they are PII, and bodies
/// carry verification tokens. Only sizes are shown, so a message can be logged.
impl fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailMessage")
            .field("recipients", &self.to.len())
            .field("subject_len", &self.subject.len())
            .field("text_len", &self.text.len())
            .field("html_len", &self.html.as_ref().map(String::len))
            .finish()
    }
}

/// Why a message was not sent, in domain terms. Every variant means "nothing
/// was delivered as far as the backend knows"; the server then records no
/// "sent" time (PROTOCOL.md 3.5).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The sender or a recipient address cannot be used (bad syntax, no
    /// recipient left). Retrying will not help.
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// The message could not be built (e.g. a header the format cannot hold).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The mail service could not be reached or did not answer in time
    /// (connection refused, TLS handshake failed, timeout). Retrying later may
    /// succeed.
    #[error("mail service unavailable")]
    Unavailable {
        /// The transport error.
        #[source]
        source: BoxError,
    },
    /// The mail service answered but refused the message, a recipient or the
    /// login (SMTP 4xx/5xx, SES `MessageRejected`, ...).
    #[error("rejected by the mail service")]
    Rejected {
        /// The service's answer.
        #[source]
        source: BoxError,
    },
    /// The send did not finish within the allowed time.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// Anything else (I/O error of the file outbox, SDK error, ...).
    #[error("mail backend error")]
    Backend {
        /// The backend error.
        #[source]
        source: BoxError,
    },
}

impl MailError {
    /// Wrap any transport error as "unavailable".
    pub fn unavailable<E: Into<BoxError>>(e: E) -> Self {
        MailError::Unavailable { source: e.into() }
    }

    /// Wrap any service answer as "rejected".
    pub fn rejected<E: Into<BoxError>>(e: E) -> Self {
        MailError::Rejected { source: e.into() }
    }

    /// Wrap any other error as a generic backend failure.
    pub fn backend<E: Into<BoxError>>(e: E) -> Self {
        MailError::Backend { source: e.into() }
    }
}

/// A way to deliver mail. Chosen at start-up from config and held as
/// `Arc<dyn Mailer>`.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug + 'static {
    /// Deliver `message`. `Ok` means the backend accepted it for delivery
    /// (the SMTP server answered 250 to the data, SES returned a message id,
    /// the file is completely written); every error means it did not.
    ///
    /// Implementations must not block the async executor and should bound
    /// their own network waits; callers bound the whole call as well, and
    /// dropping the future abandons the send.
    async fn send(&self, message: &MailMessage) -> Result<(), MailError>;

    /// A short name of the backend for logs: `smtp`, `ses`, `file`, ...
    fn kind(&self) -> &'static str;
}
