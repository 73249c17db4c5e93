//! The SES v2 backend against moto's SES emulator through the endpoint
//! override. Runs whenever the `ses` feature is built and never skips: if
//! the emulator cannot be started the test fails.
#![cfg(feature = "ses")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use authnz_api::{MailError, MailMessage, Mailer};
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
