//! The SES v2 backend against moto's SES emulator through the endpoint
//! override, and the mailer contract suite read back from moto's record of
//! sent messages (which keeps one body: the HTML part when there is one).
//! Runs whenever the `ses` feature is built and never skips: if
//! the emulator cannot be started the test fails.
#![cfg(feature = "ses")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{MailError, MailMessage, Mailer};
use authnz_mail::testing::contract::{Delivered, MailHarness, SENDER};
use authnz_mail::testing::{MotoServer, closed_port, require};
use authnz_mail::{SesMailer, SesSettings};
use serde_json::Value;

fn message(from: &str) -> MailMessage {
    MailMessage {
        from: from.into(),
        to: vec!["reader@example.org".into()],
        subject: "[Test] Please verify your account sign up request".into(),
        text: "code: SES-T0KEN-1\n".into(),
        html: Some("<p>SES-T0KEN-1</p>".into()),
    }
}

/// The contract suite's harness: a fresh moto with the contract's sender
/// verified.
#[derive(Debug)]
struct SesHarness {
    moto: MotoServer,
    mailer: SesMailer,
}

#[async_trait::async_trait]
impl MailHarness for SesHarness {
    fn mailer(&self) -> Arc<dyn Mailer> {
        Arc::new(self.mailer.clone())
    }

    async fn delivered(&self) -> Vec<Delivered> {
        let data = self.moto.data().await;
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        data["ses"]["Message"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|m| Delivered {
                        from: text(&m["source"]),
                        to: m["destinations"]["ToAddresses"]
                            .as_array()
                            .map(|a| a.iter().map(text).collect())
                            .unwrap_or_default(),
                        subject: text(&m["subject"]),
                        text: text(&m["body"]),
                        html: None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn keeps_one_body(&self) -> bool {
        true
    }

    async fn teardown(self: Box<Self>) {
        self.moto.stop().await;
    }
}

async fn ses_harness(test: &'static str) -> Option<Box<dyn MailHarness>> {
    let moto = require(MotoServer::start(test).await, test, "moto_server");
    moto.verify_identity(SENDER).await;
    let settings = SesSettings {
        region: Some("us-east-1".into()),
        endpoint: Some(moto.endpoint()),
        timeout: Duration::from_secs(10),
    };
    let mailer = SesMailer::with_static_credentials(settings, "testing", "testing")
        .await
        .unwrap();
    Some(Box::new(SesHarness { moto, mailer }))
}

authnz_mail::mailer_contract_tests!(ses_harness);

/// Every string anywhere in `v` (moto's data layout differs by version).
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn sends_through_the_emulator() {
    let test = "ses::sends_through_the_emulator";
    let moto = require(MotoServer::start(test).await, test, "moto_server");
    let settings = SesSettings {
        region: Some("us-east-1".into()),
        endpoint: Some(moto.endpoint()),
        timeout: Duration::from_secs(10),
    };
    let mailer = SesMailer::with_static_credentials(settings, "testing", "testing")
        .await
        .unwrap();
    assert_eq!(mailer.kind(), "ses");

    // Unverified sender: SES refuses.
    let e = mailer
        .send(&message("stranger@example.org"))
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Rejected { .. }), "{e:?}");

    moto.verify_identity("sender@example.org").await;
    mailer
        .send(&message("Authnz Test <sender@example.org>"))
        .await
        .unwrap();
    let mut all = Vec::new();
    strings(&moto.data().await, &mut all);
    assert!(all.iter().any(|s| s.contains("SES-T0KEN-1")), "{all:?}");
    assert!(
        all.iter().any(|s| s.contains("reader@example.org")),
        "{all:?}"
    );
    moto.stop().await;
}

#[tokio::test]
async fn endpoint_down_is_unavailable() {
    let port = closed_port().await;
    let settings = SesSettings {
        region: Some("us-east-1".into()),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        timeout: Duration::from_secs(3),
    };
    let mailer = SesMailer::with_static_credentials(settings, "testing", "testing")
        .await
        .unwrap();
    let e = mailer
        .send(&message("sender@example.org"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, MailError::Unavailable { .. } | MailError::Timeout(_)),
        "{e:?}"
    );
}
