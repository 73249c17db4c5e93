//! Nothing secret from a social login reaches the log, at any level: not
//! the client secret, the code, the state, the session token or the
//! e-mail, on a login and on a refused finish, against the real OpenID
//! Connect provider of the `it` tests. A test binary of its own, because it
//! installs the process-wide log subscriber (one per binary; `it` has its
//! own for `log_injection`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code, unused_macros)]
#[macro_use]
#[path = "it/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "it/oauth/support.rs"]
mod support;

use std::sync::{Arc, Mutex};

use authnz_api::SystemClock;
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;

use common::{Backend, TestDb, TestServer};
use support::{CALLBACK, OidcProvider, PROVIDER, log_in_at_provider, providers_json};

/// A `MakeWriter` appending every log line to one shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

async fn start(s: &TestServer, token: &str) -> String {
    let env = s
        .call(
            "user-oauth-start",
            json!({"provider": PROVIDER, "session_token": token, "redirect_uri": CALLBACK}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "start: {env}");
    env["response"]["authorize_url"]
        .as_str()
        .expect("url")
        .to_owned()
}

async fn finish(s: &TestServer, token: &str, state: &str, code: &str) -> Value {
    s.call(
        "user-oauth-finish",
        json!({
            "provider": PROVIDER, "session_token": token, "state": state,
            "code": code, "redirect_uri": CALLBACK,
        }),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test binary");

    let Some(db) = TestDb::new(Backend::Sqlite, "oauth_log").await else {
        return;
    };
    let Some(op) = OidcProvider::start().await else {
        db.drop_db().await;
        return;
    };
    let providers = authnz_server::oauth::build(
        authnz_server::oauth::parse_providers(&providers_json(&op.issuer, json!({})))
            .expect("provider list parses"),
    )
    .expect("providers build");
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| o.oauth = Some(providers)).await;

    let email = "kim@example.org";
    let token = s.new_session(Value::Null).await;
    let url = start(&s, &token).await;
    let back = log_in_at_provider(&url, email).await;
    let wrong = finish(&s, &token, &back.state, &format!("{}x", back.code)).await;
    assert_eq!(
        wrong["response"]["failure_reason"],
        json!("provider error"),
        "{wrong}"
    );
    let token2 = s.new_session(Value::Null).await;
    let url = start(&s, &token2).await;
    let back2 = log_in_at_provider(&url, email).await;
    let env = finish(&s, &token2, &back2.state, &back2.code).await;
    assert_eq!(env["success"], json!(true), "{env}");
    s.stop().await;
    db.drop_db().await;
    op.stop().await;

    let log = String::from_utf8(captured.0.lock().expect("log").clone()).expect("UTF-8");
    for line in ["social login finish failed", "social login successful"] {
        assert!(log.contains(line), "{line:?} was logged:\n{log}");
    }
    for secret in [
        support::CLIENT_SECRET,
        &back.code,
        &back.state,
        &back2.code,
        &back2.state,
        &token,
        &token2,
        email,
    ] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}
