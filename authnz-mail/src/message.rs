//! Turning a [`MailMessage`] into an RFC 5322 message with lettre's builder,
//! shared by the SMTP and file backends (SES takes the parts as they are).
//!
//! Line breaks are removed from the sender, the recipients and the subject
//! (PROTOCOL.md 3.5, so a value cannot add headers); the headers are `From`, `To`
//! (all recipients, joined by `, `), `Sender` (the bare sender address),
//! `Subject`, `Date` and a fresh `Message-ID`. With an HTML body the message
//! is `multipart/alternative` with the text part first. Errors never repeat
//! an address: addresses are PII.

use authnz_api::{MailError, MailMessage};
use lettre::Message;
use lettre::message::{Mailbox, MultiPart, SinglePart};

/// `text` without CR and LF characters.
pub fn one_line(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect()
}

/// Parse `Name <addr>` or a bare `addr` after removing line breaks.
pub fn mailbox(text: &str, what: &str) -> Result<Mailbox, MailError> {
    one_line(text)
        .trim()
        .parse::<Mailbox>()
        .map_err(|_| MailError::InvalidAddress(format!("{what} is not a usable address")))
}

/// The lettre message for `message`.
pub fn build(message: &MailMessage) -> Result<Message, MailError> {
    let from = mailbox(&message.from, "the sender")?;
    if message.to.is_empty() {
        return Err(MailError::InvalidAddress("no recipient".to_owned()));
    }
    let bare_sender = Mailbox::new(None, from.email.clone());
    let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), from.email.domain());
    let mut builder = Message::builder()
        .from(from)
        .sender(bare_sender)
        .subject(one_line(&message.subject))
        .message_id(Some(message_id))
        .date_now();
    for to in &message.to {
        builder = builder.to(mailbox(to, "a recipient")?);
    }
    let built = match &message.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(SinglePart::plain(message.text.clone())),
    };
    built.map_err(|e| MailError::InvalidMessage(e.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn msg() -> MailMessage {
        MailMessage {
            from: "Authnzerver <authnzerver@example.org>".into(),
            to: vec!["a@example.org".into(), "b@example.org".into()],
            subject: "[Srv] Hello\r\nBcc: evil@example.org".into(),
            text: "plain body".into(),
            html: Some("<p>html body</p>".into()),
        }
    }

    #[test]
    fn headers_and_parts() {
        let raw = String::from_utf8(build(&msg()).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("From: Authnzerver <authnzerver@example.org>\r\n"),
            "{raw}"
        );
        assert!(raw.contains("Sender: authnzerver@example.org\r\n"), "{raw}");
        assert!(
            raw.contains("To: a@example.org, b@example.org\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("Subject: [Srv] HelloBcc: evil@example.org\r\n"),
            "{raw}"
        );
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
        assert!(raw.contains("Message-ID: <"), "{raw}");
        assert!(raw.contains("@example.org>\r\n"), "{raw}");
        assert!(raw.contains("Date: "), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("plain body"), "{raw}");
        assert!(raw.contains("<p>html body</p>"), "{raw}");
    }

    #[test]
    fn text_only() {
        let mut m = msg();
        m.html = None;
        let raw = String::from_utf8(build(&m).unwrap().formatted()).unwrap();
        assert!(!raw.contains("multipart"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
    }

    #[test]
    fn bad_addresses_are_named_but_not_repeated() {
        let mut m = msg();
        m.from = "not an address".into();
        let e = build(&m).unwrap_err().to_string();
        assert_eq!(e, "invalid address: the sender is not a usable address");
        let mut m = msg();
        m.to = vec!["secret-person@".into()];
        let e = build(&m).unwrap_err().to_string();
        assert!(!e.contains("secret-person"), "{e}");
        let mut m = msg();
        m.to.clear();
        assert!(matches!(build(&m), Err(MailError::InvalidAddress(_))));
    }
}
