//! A STAND-IN OpenID Connect issuer on loopback, for the ID tokens a real
//! provider never sends: it serves discovery, its key set and a token
//! endpoint that answers with whatever ID token the test made (signed with
//! the stand-in's Ed25519 key, another key, or HMAC). The real flow is
//! tested against `oidc-provider` (`support`); this only checks that
//! authnz refuses bad ID tokens: bad signature, wrong issuer, audience or
//! nonce, expired, HMAC-signed; and that it fetches the key set again when
//! a token names a key it does not know (key rotation).

use std::sync::{Arc, Mutex};

use authnz_api::SystemClock;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::{CALLBACK, PROVIDER, query_param};
use super::{failed_with, finish, server_with, start};
use crate::common::{Backend, TestDb, TestServer};

const CLIENT_ID: &str = "standin-client";
const CLIENT_SECRET: &str = "standin-client-secret-0123456789abcdef";

/// An Ed25519 signing key with its `kid`.
struct Key {
    kid: String,
    pair: Ed25519KeyPair,
}

impl Key {
    fn new(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("key");
        Self {
            kid: kid.to_owned(),
            pair: Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key"),
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
            "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.pair.public_key().as_ref()),
        })
    }

    /// A JWT of `claims`, signed by this key, its header naming `kid`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self.pair.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// What the stand-in serves; the test changes it between logins.
struct State {
    issuer: String,
    keys: Vec<Value>,
    id_token: String,
}

/// The stand-in issuer, serving until dropped.
struct StandIn {
    issuer: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    async fn start(keys: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State {
            issuer: issuer.clone(),
            keys,
            id_token: String::new(),
        }));
        let served = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(answer(conn, served.clone()));
            }
        });
        Self {
            issuer,
            state,
            task,
        }
    }

    fn set_keys(&self, keys: Vec<Value>) {
        self.state.lock().expect("state").keys = keys;
    }

    fn set_id_token(&self, token: String) {
        self.state.lock().expect("state").id_token = token;
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One request: discovery, the key set, or the token endpoint.
async fn answer(mut conn: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read the head, then the body its Content-Length announces.
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
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < body_start + length {
        let n = conn.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let reply = {
        let s = state.lock().expect("state");
        match path.as_str() {
            "/.well-known/openid-configuration" => json!({
                "issuer": s.issuer,
                "authorization_endpoint": format!("{}/authorize", s.issuer),
                "token_endpoint": format!("{}/token", s.issuer),
                "jwks_uri": format!("{}/jwks", s.issuer),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["EdDSA"],
            }),
            "/jwks" => json!({"keys": s.keys}),
            "/token" => json!({
                "access_token": "standin-access-token",
                "token_type": "Bearer",
                "expires_in": 60,
                "id_token": s.id_token,
            }),
            _ => json!({"error": "not found"}),
        }
    };
    let body = reply.to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(response.as_bytes()).await;
}

/// The claims of a good ID token for the login whose authorization URL is
/// `url`.
fn claims(issuer: &str, url: &str, subject: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": issuer,
        "sub": subject,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": query_param(url, "nonce").expect("nonce in the URL"),
        "email": format!("{subject}@example.org"),
        "email_verified": true,
    })
}

/// One login through the stand-in with the ID token `make` builds from the
/// good claims; the finish reply.
async fn login_with(s: &TestServer, op: &StandIn, make: impl FnOnce(Value) -> String) -> Value {
    let token = s.new_session(Value::Null).await;
    let (url, state) = start(s, &token, CALLBACK).await;
    assert!(
        url.starts_with(&format!("{}/authorize?", op.issuer)),
        "{url}"
    );
    op.set_id_token(make(claims(&op.issuer, &url, "standin-person")));
    finish(s, &token, &state, "any-code", CALLBACK).await
}

fn refused_for(env: &Value, what: &str) {
    failed_with(env, "provider error");
    let message = env["messages"][0].as_str().unwrap_or_default();
    assert!(
        message.contains("refused") && message.contains(what),
        "wanted a refusal for {what}: {env}"
    );
}

fn hs256(secret: &str, claims: &Value) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_id_tokens_are_refused() {
    let Some(db) = TestDb::new(Backend::Sqlite, "oauth::standin").await else {
        return;
    };
    let key = Key::new("k1");
    let other = Key::new("k1");
    let op = StandIn::start(vec![key.jwk()]).await;
    let list = json!([{
        "name": PROVIDER, "kind": "oidc", "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET, "issuer": op.issuer,
        "redirect_uris": [CALLBACK], "timeout_seconds": 5,
    }]);
    let s = server_with(&db, Arc::new(SystemClock), &list.to_string()).await;

    // The stand-in works: a good token logs in.
    let good = login_with(&s, &op, |c| key.sign("k1", &c)).await;
    assert_eq!(good["success"], json!(true), "{good}");

    // Signed by another key under the published kid.
    let env = login_with(&s, &op, |c| other.sign("k1", &c)).await;
    refused_for(&env, "Signature");
    // Another issuer, another audience, another nonce, expired.
    let env = login_with(&s, &op, |mut c| {
        c["iss"] = json!("http://127.0.0.1:1");
        key.sign("k1", &c)
    })
    .await;
    refused_for(&env, "issuer");
    let env = login_with(&s, &op, |mut c| {
        c["aud"] = json!("another-client");
        key.sign("k1", &c)
    })
    .await;
    refused_for(&env, "audience");
    let env = login_with(&s, &op, |mut c| {
        c["nonce"] = json!("not-the-nonce");
        key.sign("k1", &c)
    })
    .await;
    refused_for(&env, "nonce");
    let env = login_with(&s, &op, |mut c| {
        let past = chrono::Utc::now().timestamp() - 600;
        c["iat"] = json!(past - 300);
        c["exp"] = json!(past);
        key.sign("k1", &c)
    })
    .await;
    refused_for(&env, "Expired");
    // HMAC keyed with the client secret: not a provider's signature.
    let env = login_with(&s, &op, |c| hs256(CLIENT_SECRET, &c)).await;
    refused_for(&env, "ID token");
    // Not a JWT at all.
    let env = login_with(&s, &op, |_| "not.a-token".to_owned()).await;
    failed_with(&env, "provider error");

    // Key rotation: the provider signs with a key published after authnz
    // read the key set; authnz fetches it again and accepts the token.
    let rotated = Key::new("k2");
    op.set_keys(vec![key.jwk(), rotated.jwk()]);
    let env = login_with(&s, &op, |c| rotated.sign("k2", &c)).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["user_id"], good["response"]["user_id"]);
    // A kid it still does not know after fetching again is refused.
    let stray = Key::new("k3");
    let env = login_with(&s, &op, |c| stray.sign("k3", &c)).await;
    refused_for(&env, "Signature");

    s.stop().await;
    db.drop_db().await;
}
