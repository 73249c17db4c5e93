//! The in-memory backend: every message is kept in a list that tests read
//! back (the idea of lettre's `StubTransport`), so a test of the server can
//! check what was sent without a folder to scan or a mail server to run.
//!
//! It checks a message exactly as the SMTP and file backends do (it builds
//! the RFC 5322 form with [`crate::message::build`] and throws it away), so
//! a message it accepts is one they would accept, and it keeps what those
//! backends would deliver: sender, recipients and subject without line
//! breaks. [`MemoryMailer::failing`] makes one that refuses every message,
//! for the server's "mail could not be sent" paths. Clones share the list.
//!
//! Nothing here is tied to the `testing` feature: the backend has no
//! dependencies, and a caller may use it wherever mail should go nowhere.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use authnz_api::{MailError, MailMessage, Mailer};

use crate::message::one_line;

/// One message the [`MemoryMailer`] accepted, as a backend would deliver it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// The `From` address, without line breaks.
    pub from: String,
    /// The recipients, without line breaks.
    pub to: Vec<String>,
    /// The subject, without line breaks.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML alternative, if any.
    pub html: Option<String>,
}

#[derive(Default)]
struct Outbox {
    sent: Vec<SentMail>,
    failing: bool,
}

/// Keeps every message it is given; clones share one list.
#[derive(Clone, Default)]
pub struct MemoryMailer {
    outbox: Arc<Mutex<Outbox>>,
}

/// Only the number of messages is shown: they hold addresses and tokens.
impl fmt::Debug for MemoryMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outbox = self.lock();
        f.debug_struct("MemoryMailer")
            .field("messages", &outbox.sent.len())
            .field("failing", &outbox.failing)
            .finish()
    }
}

impl MemoryMailer {
    /// An empty mailer that accepts every well-formed message.
    pub fn new() -> Self {
        Self::default()
    }

    /// A mailer that answers every send with [`MailError::Unavailable`] and
    /// keeps nothing.
    pub fn failing() -> Self {
        let mailer = Self::default();
        mailer.set_failing(true);
        mailer
    }

    /// Switch the failing mode on or off (for this mailer and its clones).
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<SentMail> {
        self.lock().sent.clone()
    }

    /// Every message accepted so far, oldest first, emptying the list.
    pub fn take(&self) -> Vec<SentMail> {
        std::mem::take(&mut self.lock().sent)
    }

    /// How many messages were accepted (and not taken) so far.
    pub fn len(&self) -> usize {
        self.lock().sent.len()
    }

    /// Whether no message was accepted (or all were taken).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The list stays usable if a test panicked while holding it.
    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        // The same checks (and error texts) as the SMTP and file backends.
        crate::message::build(message)?;
        let mut outbox = self.lock();
        if outbox.failing {
            return Err(MailError::unavailable("the memory mailer is set to fail"));
        }
        outbox.sent.push(SentMail {
            from: one_line(&message.from).trim().to_owned(),
            to: message
                .to
                .iter()
                .map(|t| one_line(t).trim().to_owned())
                .collect(),
            subject: one_line(&message.subject),
            text: message.text.clone(),
            html: message.html.clone(),
        });
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn message() -> MailMessage {
        MailMessage {
            from: "Srv <srv@example.org>".into(),
            to: vec!["user@example.org".into()],
            subject: "Hello".into(),
            text: "the token is T0KEN".into(),
            html: None,
        }
    }

    #[tokio::test]
    async fn clones_share_the_list_and_take_empties_it() {
        let mailer = MemoryMailer::new();
        let shared: Arc<dyn Mailer> = Arc::new(mailer.clone());
        shared.send(&message()).await.unwrap();
        assert_eq!(mailer.len(), 1);
        let taken = mailer.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].text, "the token is T0KEN");
        assert!(mailer.is_empty());
        let shown = format!("{mailer:?}");
        assert!(!shown.contains("example.org"), "{shown}");
    }

    #[tokio::test]
    async fn failing_mode_keeps_nothing() {
        let mailer = MemoryMailer::failing();
        let e = mailer.send(&message()).await.unwrap_err();
        assert!(matches!(e, MailError::Unavailable { .. }), "{e:?}");
        assert!(mailer.is_empty());
        mailer.set_failing(false);
        mailer.send(&message()).await.unwrap();
        assert_eq!(mailer.len(), 1);
    }
}
