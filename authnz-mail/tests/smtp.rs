//! The SMTP backend against a real SMTP server (aiosmtpd) on loopback: plain,
//! STARTTLS with a private CA, implicit TLS, login, and the failures (server
//! down, silent, rejecting the recipient, STARTTLS not offered, untrusted
//! certificate, wrong password); and the mailer contract suite, read back
//! through the sink's own (Python) parse of what it received.
#![cfg(feature = "smtp")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use authnz_api::{MailError, MailMessage, Mailer};
use authnz_mail::testing::contract::{Delivered, MailHarness, split_addresses};
use authnz_mail::testing::{SinkOptions, SmtpSink, TestCerts, closed_port, silent_listener};
use authnz_mail::{SmtpMailer, SmtpSettings, SmtpTls};

fn message() -> MailMessage {
    MailMessage {
        from: "Authnz Test <sender@example.org>".into(),
        to: vec!["first@example.org".into(), "second@example.com".into()],
        subject: "[Test] Please verify".into(),
        text: "code: ABC-123_xyz\nlink: https://example.org/verify\n".into(),
        html: Some("<p>code: <code>ABC-123_xyz</code></p>".into()),
    }
}

fn settings(port: u16, tls: SmtpTls) -> SmtpSettings {
    SmtpSettings {
        tls,
        timeout: Duration::from_secs(5),
        ..SmtpSettings::plain("127.0.0.1", port)
    }
}

fn with_ca(mut s: SmtpSettings, certs: &TestCerts) -> SmtpSettings {
    s.extra_roots_pem = Some(std::fs::read(&certs.ca_pem).unwrap());
    s
}

/// The contract suite's harness: a plain sink and a mailer pointed at it.
#[derive(Debug)]
struct SmtpHarness {
    sink: SmtpSink,
    mailer: SmtpMailer,
}

#[async_trait::async_trait]
impl MailHarness for SmtpHarness {
    fn mailer(&self) -> Arc<dyn Mailer> {
        Arc::new(self.mailer.clone())
    }

    async fn delivered(&self) -> Vec<Delivered> {
        // The sink records a message before it answers 250, so what a
        // successful send delivered is already there.
        self.sink
            .messages()
            .iter()
            .map(|m| Delivered {
                from: m.get("from").to_owned(),
                to: split_addresses(m.get("to")),
                subject: m.get("subject").to_owned(),
                text: m.get("text").to_owned(),
                html: m.json["html"].as_str().map(str::to_owned),
            })
            .collect()
    }

    async fn teardown(self: Box<Self>) {
        self.sink.stop().await;
    }
}

async fn smtp_harness(test: &'static str) -> Option<Box<dyn MailHarness>> {
    let sink = sink(SinkOptions::default(), test).await?;
    let mailer = SmtpMailer::new(settings(sink.port, SmtpTls::None)).unwrap();
    Some(Box::new(SmtpHarness { sink, mailer }))
}

authnz_mail::mailer_contract_tests!(smtp_harness);

async fn sink(options: SinkOptions, test: &str) -> Option<SmtpSink> {
    SmtpSink::start(options, test).await
}

#[tokio::test]
async fn plain_delivery_with_both_parts() {
    let Some(sink) = sink(
        SinkOptions::default(),
        "smtp::plain_delivery_with_both_parts",
    )
    .await
    else {
        return;
    };
    let mailer = SmtpMailer::new(settings(sink.port, SmtpTls::None)).unwrap();
    assert_eq!(mailer.kind(), "smtp");
    mailer.send(&message()).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.get("mail_from"), "sender@example.org");
    assert_eq!(m.rcpt_tos(), ["first@example.org", "second@example.com"]);
    assert_eq!(m.get("from"), "Authnz Test <sender@example.org>");
    assert_eq!(m.get("to"), "first@example.org, second@example.com");
    assert_eq!(m.get("sender"), "sender@example.org");
    assert_eq!(m.get("subject"), "[Test] Please verify");
    assert_eq!(m.get("content_type"), "multipart/alternative");
    assert!(
        m.get("message_id").ends_with("@example.org>"),
        "{:?}",
        m.json
    );
    assert!(!m.get("date").is_empty());
    assert!(m.get("text").contains("code: ABC-123_xyz"), "{:?}", m.json);
    assert!(m.get("text").contains("https://example.org/verify"));
    assert!(m.get("html").contains("<code>ABC-123_xyz</code>"));
    assert_eq!(m.json["tls"], false);
    sink.stop().await;
}

#[tokio::test]
async fn starttls_with_private_ca_and_login() {
    let test = "smtp::starttls_with_private_ca_and_login";
    let Some(certs) = TestCerts::generate(test) else {
        return;
    };
    let options = SinkOptions {
        starttls: Some((certs.cert.clone(), certs.key.clone())),
        login: Some(("mailuser".into(), "s3cret pass".into())),
        ..SinkOptions::default()
    };
    let Some(sink) = sink(options, test).await else {
        return;
    };
    let mut s = with_ca(settings(sink.port, SmtpTls::StartTls), &certs);
    s.user = Some("mailuser".into());
    s.password = Some("s3cret pass".into());
    SmtpMailer::new(s.clone())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["tls"], true);
    assert_eq!(got[0].get("login"), "mailuser");
    assert!(got[0].get("text").contains("ABC-123_xyz"));

    // Wrong password: the server refuses the login, nothing is delivered.
    s.password = Some("wrong".into());
    let e = SmtpMailer::new(s)
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Rejected { .. }), "{e:?}");
    assert_eq!(sink.messages().len(), 1);
    sink.stop().await;
}

#[tokio::test]
async fn login_required_over_plain_text() {
    let test = "smtp::login_required_over_plain_text";
    let options = SinkOptions {
        login: Some(("mailuser".into(), "pw".into())),
        ..SinkOptions::default()
    };
    let Some(sink) = sink(options, test).await else {
        return;
    };
    let mut s = settings(sink.port, SmtpTls::None);
    // No login (an empty password means none): the sink refuses the MAIL.
    s.user = Some("mailuser".into());
    s.password = Some(String::new());
    let e = SmtpMailer::new(s.clone())
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Rejected { .. }), "{e:?}");
    assert!(sink.messages().is_empty());
    s.password = Some("pw".into());
    SmtpMailer::new(s).unwrap().send(&message()).await.unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].get("login"), "mailuser");
    assert_eq!(got[0].json["tls"], false);
    sink.stop().await;
}

#[tokio::test]
async fn starttls_refuses_an_untrusted_certificate() {
    let test = "smtp::starttls_refuses_an_untrusted_certificate";
    let Some(certs) = TestCerts::generate(test) else {
        return;
    };
    let options = SinkOptions {
        starttls: Some((certs.cert.clone(), certs.key.clone())),
        ..SinkOptions::default()
    };
    let Some(sink) = sink(options, test).await else {
        return;
    };
    // Mozilla roots only: the private CA is unknown.
    let e = SmtpMailer::new(settings(sink.port, SmtpTls::StartTls))
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Unavailable { .. }), "{e:?}");
    assert!(sink.messages().is_empty());
    sink.stop().await;
}

#[tokio::test]
async fn starttls_required_but_not_offered() {
    let test = "smtp::starttls_required_but_not_offered";
    let Some(sink) = sink(SinkOptions::default(), test).await else {
        return;
    };
    let e = SmtpMailer::new(settings(sink.port, SmtpTls::StartTls))
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(!matches!(e, MailError::Timeout(_)), "{e:?}");
    assert!(sink.messages().is_empty(), "no plain-text fallback");
    sink.stop().await;
}

#[tokio::test]
async fn implicit_tls_delivery() {
    let test = "smtp::implicit_tls_delivery";
    let Some(certs) = TestCerts::generate(test) else {
        return;
    };
    let options = SinkOptions {
        implicit_tls: Some((certs.cert.clone(), certs.key.clone())),
        ..SinkOptions::default()
    };
    let Some(sink) = sink(options, test).await else {
        return;
    };
    SmtpMailer::new(with_ca(settings(sink.port, SmtpTls::Implicit), &certs))
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json["tls"], true);
    sink.stop().await;
}

#[tokio::test]
async fn rejected_recipient() {
    let test = "smtp::rejected_recipient";
    let options = SinkOptions {
        reject_suffix: Some("@example.com".into()),
        ..SinkOptions::default()
    };
    let Some(sink) = sink(options, test).await else {
        return;
    };
    let e = SmtpMailer::new(settings(sink.port, SmtpTls::None))
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Rejected { .. }), "{e:?}");
    assert!(sink.messages().is_empty());
    sink.stop().await;
}

#[tokio::test]
async fn server_down() {
    let port = closed_port().await;
    let e = SmtpMailer::new(settings(port, SmtpTls::None))
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Unavailable { .. }), "{e:?}");
}

#[tokio::test]
async fn silent_server_times_out() {
    let (port, listener) = silent_listener().await;
    let mut s = settings(port, SmtpTls::None);
    s.timeout = Duration::from_millis(700);
    let started = Instant::now();
    let e = SmtpMailer::new(s)
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, MailError::Timeout(_)), "{e:?}");
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    listener.abort();
}
