//! The mailer contract suite: what every [`Mailer`] must do, written once
//! and run against each backend with what that backend really delivered
//! (the file outbox parsed back, the SMTP sink's parse, moto's record of
//! SES, the in-memory list).
//!
//! A backend test provides a factory, an `async fn(&'static str) ->
//! Option<Box<dyn MailHarness>>` that gets the test's name and returns a
//! fresh mailer with an empty delivery record (or `None` to skip, see
//! [`super::python_with`]), and expands
//! [`mailer_contract_tests!`](crate::mailer_contract_tests) with it: one
//! `#[tokio::test]` per contract test, in a module `mailer_contract`.
//!
//! ```ignore
//! async fn memory(_test: &'static str) -> Option<Box<dyn MailHarness>> {
//!     Some(Box::new(MemoryHarness::default()))
//! }
//! authnz_mail::mailer_contract_tests!(memory);
//! ```
//!
//! The contract: a message is delivered once, with its sender, every
//! recipient, its subject (line breaks removed, so no header can be added),
//! its text and its HTML part (or none); messages arrive in sending order;
//! an unusable sender or recipient, or no recipient at all, is
//! [`MailError::InvalidAddress`], nothing is delivered, and the error does
//! not repeat the address.

use std::sync::Arc;

use async_trait::async_trait;
use authnz_api::{MailError, MailMessage, Mailer};

use crate::memory::MemoryMailer;

/// The sender every contract message uses (a backend that must verify its
/// senders, like SES, verifies this one in its factory).
pub const SENDER: &str = "sender@example.org";

/// One delivered message, read back from where the backend put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The `From` address as delivered (`Name <addr>` or `addr`).
    pub from: String,
    /// The recipients (the `To` header, split).
    pub to: Vec<String>,
    /// The subject, decoded.
    pub subject: String,
    /// The plain-text part, decoded.
    pub text: String,
    /// The HTML part, decoded, if there is one.
    pub html: Option<String>,
}

/// One backend under test with a way to read back what it delivered.
#[async_trait]
pub trait MailHarness: Send + Sync + 'static {
    /// The mailer under test.
    fn mailer(&self) -> Arc<dyn Mailer>;

    /// Everything delivered since the harness was made, oldest first.
    async fn delivered(&self) -> Vec<Delivered>;

    /// `true` when the delivery record keeps one body only: the HTML part
    /// when there is one, else the text (moto's SES record). The harness
    /// then reports that body as [`Delivered::text`] and no HTML, and the
    /// contract compares accordingly.
    fn keeps_one_body(&self) -> bool {
        false
    }

    /// Release what the harness started (default: nothing; services are
    /// also stopped when the harness is dropped).
    async fn teardown(self: Box<Self>) {}
}

/// The in-memory backend's harness.
#[derive(Debug, Default)]
pub struct MemoryHarness {
    /// The mailer; its list is the delivery record.
    pub mailer: MemoryMailer,
}

#[async_trait]
impl MailHarness for MemoryHarness {
    fn mailer(&self) -> Arc<dyn Mailer> {
        Arc::new(self.mailer.clone())
    }

    async fn delivered(&self) -> Vec<Delivered> {
        self.mailer
            .messages()
            .into_iter()
            .map(|m| Delivered {
                from: m.from,
                to: m.to,
                subject: m.subject,
                text: m.text,
                html: m.html,
            })
            .collect()
    }
}

/// The file backend's harness: a fresh folder, read back in name order
/// (which is sending order) and parsed with [`parse_eml`].
#[cfg(feature = "file")]
#[derive(Debug)]
pub struct FileHarness {
    /// Holds the outbox folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// The mailer, writing to `dir/outbox` (created on the first send).
    pub mailer: crate::FileMailer,
}

#[cfg(feature = "file")]
impl FileHarness {
    /// A mailer writing into a new temporary folder.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mailer = crate::FileMailer::new(dir.path().join("outbox"));
        FileHarness { dir, mailer }
    }
}

#[cfg(feature = "file")]
impl Default for FileHarness {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "file")]
#[async_trait]
impl MailHarness for FileHarness {
    fn mailer(&self) -> Arc<dyn Mailer> {
        Arc::new(self.mailer.clone())
    }

    async fn delivered(&self) -> Vec<Delivered> {
        let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(self.mailer.dir()) {
            Ok(entries) => entries
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect(),
            Err(_) => Vec::new(),
        };
        // File names are unique, not ordered (two sends within one clock
        // tick may sort either way): order by when each file was written.
        files.sort_by_key(|p| {
            let written = std::fs::metadata(p).and_then(|m| m.modified()).ok();
            (written, p.clone())
        });
        files
            .iter()
            .map(|p| parse_eml(&std::fs::read(p).expect("read .eml")))
            .collect()
    }
}

/// Parse an RFC 5322 message (what the file and SMTP backends write).
pub fn parse_eml(raw: &[u8]) -> Delivered {
    use mailparse::MailHeaderMap as _;
    let parsed = mailparse::parse_mail(raw).expect("a parseable message");
    let header = |name: &str| parsed.headers.get_first_value(name).unwrap_or_default();
    let mut text = None;
    let mut html = None;
    for part in parsed.parts() {
        match part.ctype.mimetype.as_str() {
            "text/plain" if text.is_none() => text = Some(part.get_body().expect("text body")),
            "text/html" if html.is_none() => html = Some(part.get_body().expect("html body")),
            _ => {}
        }
    }
    Delivered {
        from: header("From"),
        to: split_addresses(&header("To")),
        subject: header("Subject"),
        text: text.unwrap_or_default(),
        html,
    }
}

/// `a, b` into `["a", "b"]` (the contract's addresses hold no commas).
pub fn split_addresses(header: &str) -> Vec<String> {
    header
        .split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// Bodies compared as text: line ends as `\n`, no trailing line breaks
/// (transports turn `\n` into CRLF and may add a final one).
fn body(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end_matches('\n').to_owned()
}

/// An address as (display name, address): `"A B" <x@y>` and `A B <x@y>`
/// are the same mailbox, whichever quoting a transport chose.
fn mailbox(text: &str) -> (Option<String>, String) {
    let parsed: lettre::message::Mailbox = text.trim().parse().expect("a delivered address");
    (parsed.name, parsed.email.to_string())
}

fn assert_same(h: &dyn MailHarness, got: &Delivered, want: &MailMessage) {
    assert_eq!(mailbox(&got.from), mailbox(&want.from), "sender");
    let to = |list: &[String]| list.iter().map(|a| mailbox(a)).collect::<Vec<_>>();
    assert_eq!(to(&got.to), to(&want.to), "recipients");
    assert_eq!(got.subject, want.subject, "subject");
    if h.keeps_one_body() {
        let shown = want.html.as_deref().unwrap_or(&want.text);
        assert_eq!(body(&got.text), body(shown), "the one body recorded");
        return;
    }
    assert_eq!(body(&got.text), body(&want.text), "text part");
    assert_eq!(
        got.html.as_deref().map(body),
        want.html.as_deref().map(body),
        "HTML part"
    );
}

/// The message the contract tests start from: two recipients, non-ASCII
/// subject and bodies, both parts.
pub fn message() -> MailMessage {
    MailMessage {
        from: format!("Authnz Test <{SENDER}>"),
        to: vec!["first@example.org".into(), "second@example.com".into()],
        subject: "[Test] Bitte bestätigen: ✓".into(),
        text: "Grüße!\ncode: ABC-123_xyz\nlink: https://example.org/verify?t=1&u=2\n".into(),
        html: Some("<p>Grüße! <code>ABC-123_xyz</code></p>".into()),
    }
}

/// The backend names itself in lower-case ASCII.
pub async fn names_its_kind(h: &dyn MailHarness) {
    let kind = h.mailer().kind();
    assert!(!kind.is_empty());
    assert!(
        kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
        "{kind}"
    );
}

/// Sender, recipients, subject, text and HTML arrive as sent, once.
pub async fn delivers_both_parts(h: &dyn MailHarness) {
    let m = message();
    h.mailer().send(&m).await.expect("send");
    let got = h.delivered().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_same(h, &got[0], &m);
}

/// Without HTML the message has a text part only.
pub async fn delivers_text_only(h: &dyn MailHarness) {
    let mut m = message();
    m.html = None;
    m.to.truncate(1);
    m.from = SENDER.to_owned();
    h.mailer().send(&m).await.expect("send");
    let got = h.delivered().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_same(h, &got[0], &m);
}

/// Line breaks in the subject are removed: no header can be smuggled in.
pub async fn line_breaks_cannot_add_headers(h: &dyn MailHarness) {
    let mut m = message();
    m.subject = "Hello\r\nBcc: evil@example.net\nX-Evil: 1".into();
    h.mailer().send(&m).await.expect("send");
    let got = h.delivered().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].subject, "HelloBcc: evil@example.netX-Evil: 1");
    let to: Vec<_> = got[0].to.iter().map(|a| mailbox(a)).collect();
    let want: Vec<_> = m.to.iter().map(|a| mailbox(a)).collect();
    assert_eq!(to, want);
}

/// Each send is one message, in sending order.
pub async fn delivers_in_order(h: &dyn MailHarness) {
    let mailer = h.mailer();
    for n in 1..=3 {
        let mut m = message();
        m.subject = format!("message {n}");
        mailer.send(&m).await.expect("send");
    }
    let subjects: Vec<String> = h.delivered().await.into_iter().map(|d| d.subject).collect();
    assert_eq!(subjects, ["message 1", "message 2", "message 3"]);
}

async fn refused(h: &dyn MailHarness, m: &MailMessage, secret: &str) {
    let e = h.mailer().send(m).await.expect_err("an unusable address");
    assert!(matches!(e, MailError::InvalidAddress(_)), "{e:?}");
    assert!(!e.to_string().contains(secret), "{e}");
    assert!(!format!("{e:?}").contains(secret), "{e:?}");
    assert!(h.delivered().await.is_empty(), "nothing is delivered");
}

/// An unusable sender is refused, without repeating it.
pub async fn unusable_sender_is_refused(h: &dyn MailHarness) {
    let mut m = message();
    m.from = "secret sender@".into();
    refused(h, &m, "secret").await;
}

/// One unusable recipient stops the whole message, without repeating it.
pub async fn unusable_recipient_is_refused(h: &dyn MailHarness) {
    let mut m = message();
    m.to.push("secret-person@".into());
    refused(h, &m, "secret-person").await;
}

/// A message for nobody is refused.
pub async fn no_recipient_is_refused(h: &dyn MailHarness) {
    let mut m = message();
    m.to.clear();
    refused(h, &m, "\u{0}").await;
}

/// Expand to one `#[tokio::test]` per contract test, in a module
/// `mailer_contract`, each on a fresh harness from `$factory` (see
/// [`crate::testing::contract`]).
#[macro_export]
macro_rules! mailer_contract_tests {
    ($factory:path) => {
        mod mailer_contract {
            #[allow(unused_imports)]
            use super::*;
            $crate::mailer_contract_tests!(@each $factory;
                names_its_kind,
                delivers_both_parts,
                delivers_text_only,
                line_breaks_cannot_add_headers,
                delivers_in_order,
                unusable_sender_is_refused,
                unusable_recipient_is_refused,
                no_recipient_is_refused,
            );
        }
    };
    (@each $factory:path; $($name:ident,)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let test = concat!("mailer_contract::", stringify!($name));
                let Some(harness) = $factory(test).await else {
                    return;
                };
                $crate::testing::contract::$name(harness.as_ref()).await;
                $crate::testing::contract::MailHarness::teardown(harness).await;
            }
        )*
    };
}
