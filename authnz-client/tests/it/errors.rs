//! The error paths, each told apart: 401 (wrong key), 429 with its
//! Retry-After and 404 from a real authnzrv; a reply with another `reqid`,
//! a reply under another key and a 500 from a tiny loopback server; a
//! refused connection and a server that never answers. Also: kept-alive
//! connections are reused, and no `Debug` output shows a secret.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authnz_client::requests::{SessionExists, SessionNew};
use authnz_client::{Client, Error, Key, RequestType};
use authnz_proto::Codec;
use authnz_proto::errors::{BODY_401, BODY_429};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::Server;

fn anonymous() -> SessionNew {
    SessionNew {
        ip_address: "192.0.2.1".into(),
        user_agent: "errors test".into(),
        user_id: None,
        expires: "2099-01-01T00:00:00".into(),
        extra_info_json: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_401_and_unknown_path_is_404() {
    let server = Server::start().await;
    let wrong = Client::new(&server.url, Key::from_bytes([0x42; 32])).expect("client");
    let err = wrong.session_new(&anonymous()).await.expect_err("401");
    assert!(
        matches!(&err, Error::Unauthorized { body } if body == BODY_401),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(401));
    // The right key works on the same server.
    server
        .client()
        .session_new(&anonymous())
        .await
        .expect("200");

    let prefixed =
        Client::new(format!("{}/nope", server.url), Key::from_bytes(server.key)).expect("client");
    let err = prefixed.session_new(&anonymous()).await.expect_err("404");
    assert!(matches!(err, Error::Status { status: 404, .. }), "{err:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_is_429_with_retry_after() {
    let limits = authnz_server::ratelimit::parse_ratelimits("session:1;burst:1").expect("valid");
    let server = Server::start_with(limits).await;
    let c = server.client();
    c.session_new(&anonymous()).await.expect("first allowed");
    let err = c.session_new(&anonymous()).await.expect_err("429");
    let Error::TooManyRequests { retry_after, body } = &err else {
        panic!("not a 429: {err:?}")
    };
    assert_eq!(body, BODY_429);
    let wait = retry_after.expect("Retry-After is a number of seconds");
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert_eq!(err.status(), Some(429));
    // Another client address has its own budget.
    c.for_ip("192.0.2.77")
        .session_new(&anonymous())
        .await
        .expect("another address is not limited");
    server.stop().await;
}

/// What the loopback server answers: (status, extra headers, body), from
/// the request body it got.
type Handler = Arc<dyn Fn(&[u8]) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync>;

/// A keep-alive HTTP/1.1 server on loopback that answers every request with
/// `handler`; counts the connections it accepted.
async fn loopback(handler: Handler) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_connection(stream, handler.clone()));
        }
    });
    (addr, accepted)
}

async fn serve_connection(mut stream: TcpStream, handler: Handler) {
    let mut buf = Vec::new();
    loop {
        // Read one request: head, then Content-Length bytes.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..head_end + length).skip(head_end).collect();
        let (status, headers, reply) = handler(&body);
        let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", reply.len());
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&reply);
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

const KEY: [u8; 32] = [9; 32];

/// A handler that decrypts the request with `KEY` and answers a successful
/// `session-new`-like envelope, with the reqid `reqid(sent)` and sealed by
/// `seal_key`.
fn echo_handler(reqid: fn(&Value) -> Value, seal_key: [u8; 32]) -> Handler {
    Arc::new(move |body| {
        let request = Codec::new(&KEY).open(body).expect("request decrypts");
        let envelope = json!({
            "success": true,
            "response": {"success": true, "messages": [], "session_token": "t", "expires": "e"},
            "messages": [],
            "reqid": reqid(&request["reqid"]),
        });
        (
            200,
            vec![],
            Codec::new(&seal_key).seal(&envelope).into_bytes(),
        )
    })
}

#[tokio::test]
async fn a_reply_with_another_reqid_is_refused() {
    // Control: the same server echoing the reqid is accepted.
    let (addr, _) = loopback(echo_handler(|sent| sent.clone(), KEY)).await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    let ok = c.session_new(&anonymous()).await.expect("matching reqid");
    assert_eq!(ok.expires, "e");

    let (addr, _) = loopback(echo_handler(|_| json!("someone-elses"), KEY)).await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    let err = c.session_new(&anonymous()).await.expect_err("mismatch");
    let Error::ReqidMismatch { sent, received } = &err else {
        panic!("not a reqid mismatch: {err:?}")
    };
    assert_eq!(received, &json!("someone-elses"));
    assert_eq!(sent.len(), 12);
    // Also for the raw escape hatch, and for a reply without any reqid.
    assert!(matches!(
        c.send(RequestType::UserList, json!({"user_id": null}))
            .await,
        Err(Error::ReqidMismatch { .. })
    ));
    let (addr, _) = loopback(echo_handler(|_| Value::Null, KEY)).await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    assert!(matches!(
        c.session_new(&anonymous()).await,
        Err(Error::ReqidMismatch {
            received: Value::Null,
            ..
        })
    ));
}

#[tokio::test]
async fn each_request_gets_a_fresh_reqid() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let inner = echo_handler(|sent| sent.clone(), KEY);
    let handler: Handler = Arc::new(move |body| {
        let request = Codec::new(&KEY).open(body).expect("decrypts");
        log.lock().expect("lock").push(request["reqid"].clone());
        inner(body)
    });
    let (addr, _) = loopback(handler).await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    for _ in 0..3 {
        c.session_new(&anonymous()).await.expect("ok");
    }
    let ids = seen.lock().expect("lock").clone();
    assert_eq!(ids.len(), 3);
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "{ids:?}"
    );
}

#[tokio::test]
async fn a_reply_under_another_key_and_a_500_are_errors() {
    let (addr, _) = loopback(echo_handler(|sent| sent.clone(), [3; 32])).await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    assert!(matches!(
        c.session_new(&anonymous()).await,
        Err(Error::Decrypt(_))
    ));

    let (addr, _) = loopback(Arc::new(|_| {
        (
            500,
            vec![],
            b"HTTP 500: Could not service this request.".to_vec(),
        )
    }))
    .await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    let err = c.session_new(&anonymous()).await.expect_err("500");
    assert!(
        matches!(&err, Error::ServerError { body } if body == "HTTP 500: Could not service this request."),
        "{err:?}"
    );
    // A 429 without a usable Retry-After still is a 429.
    let (addr, _) = loopback(Arc::new(|_| {
        (
            429,
            vec![("Retry-After", "soon".into())],
            BODY_429.as_bytes().to_vec(),
        )
    }))
    .await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    assert!(matches!(
        c.session_new(&anonymous()).await,
        Err(Error::TooManyRequests {
            retry_after: None,
            ..
        })
    ));
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let (addr, accepted) = loopback(echo_handler(|sent| sent.clone(), KEY)).await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    for _ in 0..5 {
        c.session_new(&anonymous()).await.expect("ok");
    }
    // Clones share the pool.
    c.for_ip("192.0.2.9")
        .session_new(&anonymous())
        .await
        .expect("ok");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for six requests"
    );
}

#[tokio::test]
async fn refused_connection_and_silent_server() {
    // A port nobody listens on any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = Client::new(format!("http://127.0.0.1:{port}"), Key::from_bytes(KEY)).expect("client");
    let err = c.session_new(&anonymous()).await.expect_err("refused");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(matches!(c.health().await, Err(Error::Transport(_))));

    // Accepts, reads, never answers: the request timeout ends it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let c = Client::builder(format!("http://{addr}"), Key::from_bytes(KEY))
        .request_timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let started = std::time::Instant::now();
    let err = c.session_new(&anonymous()).await.expect_err("timeout");
    assert!(
        matches!(err, Error::Timeout(t) if t == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_shows_no_key_password_or_token() {
    let server = Server::start().await;
    let c = server.client();
    let key_texts = [
        base64::engine::general_purpose::URL_SAFE.encode(server.key),
        base64::engine::general_purpose::STANDARD.encode(server.key),
        format!("{:?}", server.key),
    ];
    let session = c.session_new(&anonymous()).await.expect("session");
    let token = session.session_token.expose().to_owned();
    let exists = c
        .session_exists(&SessionExists {
            session_token: session.session_token.clone(),
        })
        .await
        .expect("exists");
    let raw = c
        .send(RequestType::SessionExists, json!({"session_token": token}))
        .await
        .expect("raw");
    let failed = c
        .user_login(&authnz_client::requests::UserLogin {
            session_token: session.session_token.clone(),
            email: "nobody@example.org".into(),
            password: "Sekrit-password-77".into(),
        })
        .await
        .expect_err("no such user");
    let texts = [
        format!("{c:?}"),
        format!("{:?}", Key::from_bytes(server.key)),
        format!("{session:?}"),
        format!("{exists:?}"),
        format!("{raw:?}"),
        format!("{failed:?}"),
        format!("{failed}"),
    ];
    for text in &texts {
        assert!(!text.contains(&token), "token in {text}");
        assert!(!text.contains("Sekrit-password-77"), "password in {text}");
        for k in &key_texts {
            assert!(!text.contains(k.as_str()), "key in {text}");
        }
    }
    // The raw reply does hold the token: the check above is not vacuous.
    assert_eq!(raw.response["session_info"]["session_token"], json!(token));
    server.stop().await;
}

#[tokio::test]
async fn an_unhealthy_server_is_a_health_report_not_an_error() {
    let (addr, _) = loopback(Arc::new(|_| {
        let body = r#"{"Expected-Workers": 2, "Workers": {"authnz-argon2-0": "database broken", "authnz-argon2-1": "ok"}, "Check-Time": 0.5, "Health-Ok": false}"#;
        (500, vec![], body.as_bytes().to_vec())
    }))
    .await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    let health = c.health().await.expect("a 500 with the JSON report");
    assert_eq!((health.status, health.ok), (500, false));
    assert_eq!(health.expected_workers, Some(2));
    assert_eq!(health.workers["authnz-argon2-0"], json!("database broken"));
    assert_eq!(health.check_time, Some(0.5));

    // A 500 without the report is a server error.
    let (addr, _) = loopback(Arc::new(|_| (500, vec![], b"boom".to_vec()))).await;
    let c = Client::new(format!("http://{addr}"), Key::from_bytes(KEY)).expect("client");
    assert!(matches!(c.health().await, Err(Error::ServerError { .. })));
}
