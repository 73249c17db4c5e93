//! Webhooks (not upstream) through the real server, a real database
//! (SQLite and PostgreSQL) and a real receiver on a local socket: a failed
//! login is delivered in the Standard Webhooks format, its signature checked
//! here with `hmac`/`sha2` (not the server's `ring`); a 500, a closed
//! connection and a hanging receiver (the timeout) are retried until a 200;
//! a delivery is parked after `attempts` failures and delivered once
//! retried; a delivery pending while the server stops is delivered by the
//! next start.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authnz_api::WebhookStore as _;
use authnz_server::webhooks::WebhookSettings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::common::{Backend, TestDb, TestServer, login};

const EMAIL: &str = "hook.person@example.org";
const PASSWORD: &str = "Quasar-Tundra-Lantern-58";
const SECRET_B64: &str = "c2VjcmV0LWtleS1mb3Itd2ViaG9vay10ZXN0cw==";
/// Longest wait for anything the test expects (a guard, not a measurement).
const LONG: Duration = Duration::from_secs(60);

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Close the connection without answering.
    Close,
    /// Keep the connection open without answering.
    Hang,
}

/// One request as received.
#[derive(Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

/// A local HTTP receiver answering from a script (then 200).
struct Receiver {
    url: String,
    got: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(script: &[Answer]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::on(listener, script)
    }

    fn on(listener: TcpListener, script: &[Answer]) -> Self {
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (tx, got) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut conn).await else {
                        return;
                    };
                    let answer = script
                        .lock()
                        .expect("script")
                        .pop_front()
                        .unwrap_or(Answer::Status(200));
                    let _ = tx.send(req);
                    match answer {
                        Answer::Status(code) => {
                            let text = format!(
                                "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            );
                            let _ = conn.write_all(text.as_bytes()).await;
                        }
                        Answer::Close => drop(conn),
                        Answer::Hang => {
                            tokio::time::sleep(LONG).await;
                        }
                    }
                });
            }
        });
        Self { url, got, task }
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(LONG, self.got.recv())
            .await
            .expect("a delivery arrives")
            .expect("receiver running")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8(buf[head_end..head_end + len].to_vec()).ok()?;
    Some(Received { headers, body })
}

/// Check the Standard Webhooks signature with `hmac`/`sha2`.
fn verify(r: &Received) {
    let id = &r.headers["webhook-id"];
    let ts = &r.headers["webhook-timestamp"];
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(SECRET_B64).unwrap()).expect("key");
    mac.update(format!("{id}.{ts}.{}", r.body).as_bytes());
    let want = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(r.headers["webhook-signature"], want, "signature of {r:?}");
}

fn settings(attempts: u32) -> WebhookSettings {
    WebhookSettings {
        attempts,
        timeout: Duration::from_secs(1),
        concurrency: 4,
        backoff: Duration::from_millis(20),
        poll: Duration::from_millis(20),
    }
}

fn hooks(url: &str, events: &[&str]) -> Arc<authnz_core::webhooks::Webhooks> {
    let text = json!([{"url": url, "secret": format!("whsec_{SECRET_B64}"), "events": events}]);
    Arc::new(authnz_core::webhooks::parse_config(&text.to_string()).expect("config"))
}

async fn start(db: &TestDb, url: &str, attempts: u32) -> TestServer {
    let (w, s) = (hooks(url, &["login.failed"]), settings(attempts));
    TestServer::start_with(db, Arc::new(authnz_api::SystemClock), move |o| {
        o.webhooks = Some(w);
        o.webhook_settings = s;
    })
    .await
}

/// Wait until the outbox satisfies `done` (a guard against hanging).
async fn outbox_until(
    s: &TestServer,
    done: impl Fn(&[authnz_api::Delivery]) -> bool,
) -> Vec<authnz_api::Delivery> {
    tokio::time::timeout(LONG, async {
        loop {
            let all = s.built.store.deliveries(false, 100).await.expect("list");
            if done(&all) {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the outbox reaches the expected state")
}

async fn failed_login(s: &TestServer) -> i64 {
    let uid = s.verified_user(EMAIL, PASSWORD).await;
    let env = login(s, EMAIL, "Wrong-Password-Entirely-99").await;
    assert_eq!(env["success"], json!(false), "{env}");
    uid
}

async fn retried_until_delivered(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let mut rx = Receiver::start(&[
        Answer::Status(500),
        Answer::Close,
        Answer::Hang,
        Answer::Status(200),
    ])
    .await;
    let s = start(&db, &rx.url, 8).await;
    let uid = failed_login(&s).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(rx.next().await);
    }
    for r in &got {
        verify(r);
        assert_eq!(r.headers["webhook-id"], got[0].headers["webhook-id"]);
        assert!(r.headers["webhook-id"].starts_with("msg_"));
        assert_eq!(r.headers["content-type"], "application/json");
    }
    let body: Value = serde_json::from_str(&got[0].body).expect("JSON body");
    assert_eq!(body["type"], json!("login.failed"));
    assert_eq!(body["data"]["user_id"], json!(uid));
    assert_eq!(body["data"]["outcome"], json!("failed"));
    assert!(body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(!got[0].body.contains(EMAIL) && !got[0].body.contains("Wrong-Password"));
    // The 200 ends it: the row is deleted.
    outbox_until(&s, <[_]>::is_empty).await;
    // A tampered body does not verify (the check can fail).
    let tampered = Received {
        headers: got[0].headers.clone(),
        body: got[0].body.replace("login", "logix"),
    };
    assert!(std::panic::catch_unwind(|| verify(&tampered)).is_err());
    s.stop().await;
    db.drop_db().await;
}

async fn parked_then_retried(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let mut rx = Receiver::start(&[Answer::Status(500), Answer::Status(503)]).await;
    let s = start(&db, &rx.url, 2).await;
    failed_login(&s).await;
    rx.next().await;
    rx.next().await;
    let parked = outbox_until(&s, |all| all.iter().any(|d| d.parked)).await;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].attempts, 2);
    assert_eq!(parked[0].last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(
        s.built
            .store
            .deliveries(true, 10)
            .await
            .expect("parked")
            .len(),
        1
    );
    // What `authnzrv webhooks retry <id>` does.
    let n = s
        .built
        .store
        .retry_parked(Some(parked[0].id), chrono::Utc::now().naive_utc())
        .await
        .expect("retry");
    assert_eq!(n, 1);
    let third = rx.next().await;
    verify(&third);
    outbox_until(&s, <[_]>::is_empty).await;
    s.stop().await;
    db.drop_db().await;
}

async fn pending_delivery_survives_a_restart(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    // A port with nothing listening: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let first = start(&db, &url, 1000).await;
    failed_login(&first).await;
    outbox_until(&first, |all| all.first().is_some_and(|d| d.attempts >= 1)).await;
    first.stop().await;
    // The receiver comes up, then the server starts again.
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind");
    let mut rx = Receiver::on(listener, &[]);
    let second = start(&db, &url, 1000).await;
    let r = rx.next().await;
    verify(&r);
    let body: Value = serde_json::from_str(&r.body).expect("JSON");
    assert_eq!(body["type"], json!("login.failed"));
    outbox_until(&second, <[_]>::is_empty).await;
    second.stop().await;
    db.drop_db().await;
}

per_backend!(
    retried_until_delivered,
    parked_then_retried,
    pending_delivery_survives_a_restart,
);
