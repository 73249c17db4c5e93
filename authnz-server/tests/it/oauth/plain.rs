//! GitHub and Twitter/X through STAND-INS: they cannot run here, so a small
//! loopback server plays their token endpoint and user API (`/user`,
//! `/user/emails`; `/2/users/me`), checking what authnz sends (the code,
//! the client credentials, the PKCE verifier against the challenge of the
//! authorization URL). The account rules are the same as for OpenID
//! Connect: a verified primary e-mail links, an unverified one never does;
//! Twitter/X gives no e-mail, so its people get accounts of their own.

use std::sync::{Arc, Mutex};

use authnz_api::SystemClock;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::{CALLBACK, query_param};
use super::{failed_with, identities, server_with};
use crate::common::{Backend, TestDb, TestServer};

const CLIENT_ID: &str = "plain-client";
const CLIENT_SECRET: &str = "plain-client-secret-0123456789";
const ACCESS_TOKEN: &str = "standin-access-token-0123456789";
const GOOD_CODE: &str = "good-code";

/// What the stand-in expects and answers.
#[derive(Default)]
struct Expect {
    /// The PKCE challenge of the current login (from its authorization URL).
    challenge: String,
    /// GitHub's user id and e-mail list.
    github_id: i64,
    github_emails: Value,
}

/// The stand-in for GitHub and Twitter/X, serving until dropped.
struct StandIn {
    base: String,
    expect: Arc<Mutex<Expect>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let expect = Arc::new(Mutex::new(Expect::default()));
        let served = expect.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(answer(conn, served.clone()));
            }
        });
        Self { base, expect, task }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn form_value(form: &str, name: &str) -> Option<String> {
    query_param(&format!("?{form}"), name)
}

async fn answer(mut conn: TcpStream, expect: Arc<Mutex<Expect>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body_start) = loop {
        let n = conn.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&buf[..i]).into_owned(), i + 4);
        }
    };
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
    };
    let length: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < body_start + length {
        let n = conn.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[body_start..]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let bearer_ok = header("authorization").as_deref() == Some(&format!("Bearer {ACCESS_TOKEN}"));
    let (status, reply) = {
        let e = expect.lock().expect("expect");
        match path.as_str() {
            "/github/token" | "/twitter/token" => {
                let verifier = form_value(&body, "code_verifier").unwrap_or_default();
                let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
                    &ring::digest::SHA256,
                    verifier.as_bytes(),
                ));
                let credentials = if path.starts_with("/github") {
                    form_value(&body, "client_id").as_deref() == Some(CLIENT_ID)
                        && form_value(&body, "client_secret").as_deref() == Some(CLIENT_SECRET)
                } else {
                    header("authorization")
                        == Some(format!(
                            "Basic {}",
                            STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
                        ))
                };
                let good = form_value(&body, "code").as_deref() == Some(GOOD_CODE)
                    && form_value(&body, "grant_type").as_deref() == Some("authorization_code")
                    && form_value(&body, "redirect_uri").as_deref() == Some(CALLBACK)
                    && challenge == e.challenge
                    && credentials;
                if good {
                    (
                        200,
                        json!({"access_token": ACCESS_TOKEN, "token_type": "bearer"}),
                    )
                } else if path.starts_with("/github") {
                    // GitHub refuses with 200 and an error.
                    (200, json!({"error": "bad_verification_code"}))
                } else {
                    (400, json!({"error": "invalid_request"}))
                }
            }
            "/github/api/user" if bearer_ok => (200, json!({"id": e.github_id, "login": "octo"})),
            "/github/api/user/emails" if bearer_ok => (200, e.github_emails.clone()),
            "/twitter/api/2/users/me" if bearer_ok => (
                200,
                json!({"data": {"id": "1234567890", "name": "Tweety", "username": "tweety"}}),
            ),
            _ => (401, json!({"message": "Bad credentials"})),
        }
    };
    let text = reply.to_string();
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = conn.write_all(response.as_bytes()).await;
}

/// A login at `provider` whose stand-in answers `code`: the finish reply.
async fn login(s: &TestServer, op: &StandIn, provider: &str, code: &str) -> Value {
    let token = s.new_session(Value::Null).await;
    let env = s
        .call(
            "user-oauth-start",
            json!({"provider": provider, "session_token": token, "redirect_uri": CALLBACK}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let url = env["response"]["authorize_url"].as_str().expect("url");
    let state = env["response"]["state"].as_str().expect("state");
    let authorize = format!("{}/{provider}/authorize?", op.base);
    assert!(url.starts_with(&authorize), "{url}");
    assert_eq!(query_param(url, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query_param(url, "state").as_deref(), Some(state));
    assert_eq!(query_param(url, "redirect_uri").as_deref(), Some(CALLBACK));
    assert_eq!(
        query_param(url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    op.expect.lock().expect("expect").challenge =
        query_param(url, "code_challenge").expect("challenge");
    s.call(
        "user-oauth-finish",
        json!({"provider": provider, "session_token": token, "state": state,
               "code": code, "redirect_uri": CALLBACK}),
    )
    .await
}

async fn setup(name: &str) -> Option<(TestDb, TestServer, StandIn)> {
    let db = TestDb::new(Backend::Sqlite, name).await?;
    let op = StandIn::start().await;
    let list = json!([
        {"name": "github", "kind": "github", "client_id": CLIENT_ID,
         "client_secret": CLIENT_SECRET, "redirect_uris": [CALLBACK],
         "authorize_url": format!("{}/github/authorize", op.base),
         "token_url": format!("{}/github/token", op.base),
         "api_url": format!("{}/github/api", op.base)},
        {"name": "twitter", "kind": "twitter", "client_id": CLIENT_ID,
         "client_secret": CLIENT_SECRET, "redirect_uris": [CALLBACK],
         "authorize_url": format!("{}/twitter/authorize", op.base),
         "token_url": format!("{}/twitter/token", op.base),
         "api_url": format!("{}/twitter/api/", op.base)},
    ]);
    let s = server_with(&db, Arc::new(SystemClock), &list.to_string()).await;
    Some((db, s, op))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_stand_in_account_rules() {
    let Some((db, s, op)) = setup("oauth::github").await else {
        return;
    };
    let local = s
        .verified_user("octo@example.org", "correct-Horse-battery-staple-42")
        .await;
    // An unverified primary address is never linked: a new account.
    {
        let mut e = op.expect.lock().expect("expect");
        e.github_id = 101;
        e.github_emails = json!([
            {"email": "octo@example.org", "primary": true, "verified": false},
            {"email": "other@example.org", "primary": false, "verified": true},
        ]);
    }
    let env = login(&s, &op, "github", GOOD_CODE).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["new_user"], json!(true), "{env}");
    assert_ne!(env["response"]["user_id"], json!(local));
    // A verified primary address links the local account.
    {
        let mut e = op.expect.lock().expect("expect");
        e.github_id = 202;
        e.github_emails = json!([{"email": "octo@example.org", "primary": true, "verified": true}]);
    }
    let env = login(&s, &op, "github", GOOD_CODE).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["user_id"], json!(local), "{env}");
    assert_eq!(env["response"]["new_user"], json!(false));
    let listed = identities(&s, local).await;
    assert_eq!(
        listed["identities"],
        json!([{"provider": "github", "subject": "202",
                "created": listed["identities"][0]["created"]}])
    );
    // The same GitHub user again: the same account.
    let env = login(&s, &op, "github", GOOD_CODE).await;
    assert_eq!(env["response"]["user_id"], json!(local), "{env}");
    // A refused code.
    let env = login(&s, &op, "github", "stale-code").await;
    failed_with(&env, "provider error");
    assert!(
        env["messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("refused: bad_verification_code")),
        "{env}"
    );
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twitter_stand_in_accounts_keyed_by_identity() {
    let Some((db, s, op)) = setup("oauth::twitter").await else {
        return;
    };
    let env = login(&s, &op, "twitter", GOOD_CODE).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["new_user"], json!(true));
    let user_id = env["response"]["user_id"].as_i64().expect("id");
    let info = s.call("user-list", json!({"user_id": user_id})).await;
    let user = &info["response"]["user_info"][0];
    assert!(
        user["email"]
            .as_str()
            .is_some_and(|e| e.ends_with("@oauth.invalid")),
        "{info}"
    );
    assert_eq!(user["email_verified"], json!(false));
    let env = login(&s, &op, "twitter", GOOD_CODE).await;
    assert_eq!(env["response"]["user_id"], json!(user_id), "{env}");
    assert_eq!(env["response"]["new_user"], json!(false));
    assert_eq!(
        identities(&s, user_id).await["identities"][0]["subject"],
        json!("1234567890")
    );
    let env = login(&s, &op, "twitter", "stale-code").await;
    failed_with(&env, "provider error");
    s.stop().await;
    db.drop_db().await;
}
