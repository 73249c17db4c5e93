//! `GET /metrics` (docs/OPERATIONS.md, "Metrics") through a real server:
//! each request outcome moves its counter by exactly what was sent (each
//! test server has its own recorder), logins and locks are counted, the
//! endpoint is refused with 404 without the token, from a host not allowed
//! and when off, and no label carries client data.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestDb, TestServer, login};
use authnz_api::SystemClock;
use authnz_proto::errors::BODY_404_HTML;
use authnz_proto::request::RequestType;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One `GET` with extra header lines; (status, body).
async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    host: &str,
    headers: &[&str],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut buf),
    )
    .await
    .expect("answer within 30 s")
    .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

/// The metrics of `s` as text (asserting 200).
async fn scrape(s: &TestServer) -> String {
    let (status, body) = get(s.addr, "/metrics", "127.0.0.1", &[]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every sample: `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample line");
            (k.to_owned(), v.parse().expect("sample value"))
        })
        .collect()
}

fn value(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(0.0)
}

fn requests(request: &str, outcome: &str) -> String {
    format!("authnz_requests_total{{request=\"{request}\",outcome=\"{outcome}\"}}")
}

/// POST an object, sealed, to `/`; the status.
async fn post(s: &TestServer, object: &Value) -> u16 {
    s.raw(
        "POST",
        "/",
        Some("127.0.0.1"),
        s.codec.seal(object).as_bytes(),
    )
    .await
    .0
}

async fn counters_move_for_each_outcome(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        o.lockout.tries = 2;
    })
    .await;
    let before = samples(&scrape(&s).await);

    // ok x2 (session-new), failed x1 (session-exists of a missing token).
    let token = s.new_session(Value::Null).await;
    let _ = s.new_session(Value::Null).await;
    let env = s
        .call("session-exists", json!({"session_token": "no-such-token"}))
        .await;
    assert_eq!(env["success"], json!(false));
    // bad_request: an unknown type (under "unknown"), a known one without a body.
    assert_eq!(
        post(
            &s,
            &json!({"request": "no-such-request", "body": {}, "reqid": 1, "client_ipaddr": "1.2.3.4"})
        )
        .await,
        400
    );
    assert_eq!(
        post(
            &s,
            &json!({"request": "session-exists", "body": 5, "reqid": 1, "client_ipaddr": "1.2.3.4"})
        )
        .await,
        400
    );
    // unauthorized: not a token.
    assert_eq!(s.post_body(b"not a fernet token").await.0, 401);
    // rate_limited: an e-mail request type without an e-mail.
    assert_eq!(
        post(
            &s,
            &json!({"request": "user-set-emailverified", "body": {}, "reqid": 1, "client_ipaddr": "1.2.3.4"})
        )
        .await,
        429
    );
    // error: no reqid.
    assert_eq!(
        post(
            &s,
            &json!({"request": "session-exists", "body": {"session_token": token}, "client_ipaddr": "1.2.3.4"})
        )
        .await,
        500
    );
    // Logins: unknown e-mail, wrong password x2 (the second locks: tries = 2
    // tolerates one more failure, the third locks), locked, ok.
    let env = login(&s, "nobody@example.org", ADMIN_PASSWORD).await;
    assert_eq!(env["success"], json!(false));
    let email = "locker@example.org";
    let password = "a-Fine-password-for-locking-77";
    s.verified_user(email, password).await;
    for _ in 0..3 {
        let env = login(&s, email, "wrong-Password-123456").await;
        assert_eq!(env["success"], json!(false));
    }
    let env = login(&s, email, password).await;
    assert_eq!(env["success"], json!(false), "locked: {env}");
    let env = login(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(env["success"], json!(true), "{env}");

    let after = samples(&scrape(&s).await);
    let delta = |key: &str| value(&after, key) - value(&before, key);
    // 2 + 1 + the sessions made by the 6 logins and verified_user's calls.
    assert_eq!(delta(&requests("session-new", "ok")), 2.0 + 6.0);
    assert_eq!(delta(&requests("session-exists", "failed")), 1.0);
    assert_eq!(delta(&requests("unknown", "bad_request")), 1.0);
    assert_eq!(delta(&requests("session-exists", "bad_request")), 1.0);
    assert_eq!(delta(&requests("unknown", "unauthorized")), 1.0);
    assert_eq!(
        delta(&requests("user-set-emailverified", "rate_limited")),
        1.0
    );
    assert_eq!(delta(&requests("session-exists", "error")), 1.0);
    assert_eq!(delta(&requests("user-login", "ok")), 1.0);
    assert_eq!(delta(&requests("user-login", "failed")), 5.0);
    assert_eq!(
        delta("authnz_request_duration_seconds_count{request=\"session-exists\"}"),
        3.0
    );
    assert_eq!(
        delta("authnz_rate_limited_total{class=\"missing_email\"}"),
        1.0
    );
    assert_eq!(delta("authnz_logins_total{result=\"unknown\"}"), 1.0);
    assert_eq!(delta("authnz_logins_total{result=\"wrong_password\"}"), 3.0);
    assert_eq!(delta("authnz_logins_total{result=\"locked\"}"), 1.0);
    assert_eq!(delta("authnz_logins_total{result=\"ok\"}"), 1.0);
    assert_eq!(delta("authnz_account_locks_total"), 1.0);
    // Every login and user-new hashes or verifies once at least.
    assert!(delta("authnz_argon2_operations_total{op=\"verify\"}") >= 6.0);
    assert!(delta("authnz_argon2_operations_total{op=\"hash\"}") >= 1.0);
    assert!(delta("authnz_argon2_wait_seconds_count") >= 7.0);
    assert_eq!(value(&after, "authnz_argon2_queue_depth"), 0.0);
    assert_eq!(value(&after, "authnz_argon2_workers"), 2.0);
    let dialect = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
        #[cfg(feature = "mysql")]
        Backend::MySql => "mysql",
    };
    assert_eq!(
        value(
            &after,
            &format!("authnz_backend_up{{backend=\"{dialect}\"}}")
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            &format!(
                "authnz_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    if backend == Backend::Sqlite {
        // The cache answers the second lookup of a live session.
        let token = s.new_session(Value::Null).await;
        let base = samples(&scrape(&s).await);
        for _ in 0..2 {
            let env = s
                .call("session-exists", json!({"session_token": token}))
                .await;
            assert_eq!(env["success"], json!(true));
        }
        let now = samples(&scrape(&s).await);
        let d = |k: &str| value(&now, k) - value(&base, k);
        assert_eq!(d("authnz_session_cache_hits_total"), 1.0);
        assert_eq!(d("authnz_session_cache_misses_total"), 1.0);
        assert!(value(&now, "authnz_session_cache_bytes") > 0.0);
        assert!(value(&now, "authnz_session_cache_entries") >= 1.0);
    }
    s.stop().await;
    db.drop_db().await;
}

per_backend!(counters_move_for_each_outcome);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_without_the_token_from_other_hosts_and_when_off() {
    let db = TestDb::new(Backend::Sqlite, "metrics::refused")
        .await
        .expect("sqlite");
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        o.metrics.token = Some("scrape-Token-1".into());
    })
    .await;
    let good = "Authorization: Bearer scrape-Token-1";
    for (host, headers) in [
        ("127.0.0.1", &[][..]),
        ("127.0.0.1", &["Authorization: Bearer scrape-Token-2"][..]),
        ("127.0.0.1", &["Authorization: Bearer scrape-Token-"][..]),
        ("127.0.0.1", &["Authorization: Basic scrape-Token-1"][..]),
        ("127.0.0.1", &["Authorization: scrape-Token-1"][..]),
        ("evil.example", &[good][..]),
        ("localhost.evil.example", &[good][..]),
    ] {
        let (status, body) = get(s.addr, "/metrics", host, headers).await;
        assert_eq!(
            (status, body.as_str()),
            (404, BODY_404_HTML),
            "{host} {headers:?}"
        );
    }
    let (status, body) = get(s.addr, "/metrics", "localhost:13431", &[good]).await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE authnz_build_info gauge"), "{body}");
    let (status, _, _) = s.raw("POST", "/metrics", Some("127.0.0.1"), b"").await;
    assert_eq!(status, 404);
    s.stop().await;

    // Off: 404 for everyone, the protocol still served.
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        o.metrics.enabled = false;
    })
    .await;
    let (status, body) = get(s.addr, "/metrics", "127.0.0.1", &[]).await;
    assert_eq!((status, body.as_str()), (404, BODY_404_HTML));
    let _ = s.new_session(Value::Null).await;
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_on_its_own_listener_only_when_asked() {
    let db = TestDb::new(Backend::Sqlite, "metrics::own_listener")
        .await
        .expect("sqlite");
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        o.metrics.own_listener = true;
    })
    .await;
    let (status, _) = get(s.addr, "/metrics", "127.0.0.1", &[]).await;
    assert_eq!(status, 404, "not on the protocol's port");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(authnz_server::serving::serve_router(
        listener,
        authnz_server::http::metrics_router(s.built.state.clone()),
        None,
        authnz_server::serving::HttpLimits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let _ = s.new_session(Value::Null).await;
    let (status, body) = get(addr, "/metrics", "127.0.0.1", &[]).await;
    assert_eq!(status, 200);
    assert!(body.contains(&requests("session-new", "ok")), "{body}");
    let (status, _) = get(addr, "/metrics", "evil.example", &[]).await;
    assert_eq!(status, 404);
    let (status, _) = get(addr, "/health", "127.0.0.1", &[]).await;
    assert_eq!(status, 404, "only /metrics there");
    let _ = stop.send(());
    task.await.expect("join").expect("serve");
    s.stop().await;
    db.drop_db().await;
}

/// Label values allowed anywhere in the output: the request table's names
/// and fixed words.
fn allowed_label_values() -> BTreeSet<String> {
    let mut ok: BTreeSet<String> = RequestType::ALL
        .iter()
        .map(|t| t.name().to_owned())
        .collect();
    for w in [
        "unknown",
        "ok",
        "failed",
        "bad_request",
        "unauthorized",
        "rate_limited",
        "error",
        "wrong_password",
        "locked",
        "address",
        "email",
        "missing_email",
        "health",
        "hash",
        "verify",
        "sqlite",
        "postgres",
        "mysql",
        "redis",
        env!("CARGO_PKG_VERSION"),
    ] {
        ok.insert(w.to_owned());
    }
    ok
}

/// Every `label="value"` of every sample line.
fn label_values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, rest)) = line.split_once('{') else {
            continue;
        };
        let (labels, _) = rest.rsplit_once('}').expect("closing brace");
        for pair in labels.split("\",") {
            let (k, v) = pair.split_once("=\"").expect("label");
            out.push((k.to_owned(), v.trim_end_matches('"').to_owned()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_data_in_any_label() {
    let db = TestDb::new(Backend::Sqlite, "metrics::no_client_data")
        .await
        .expect("sqlite");
    let s = TestServer::start(&db).await;
    let emails = [
        "Secret.Person+tag@example.org",
        "unknown-lookup@example.net",
        "weird\"quote@example.com",
    ];
    let odd_names = [
        "user-new\n{evil=\"1\"}",
        "Secret.Person+tag@example.org",
        "session-exists ",
        "SESSION-EXISTS",
        "x-odd-request-name-zz9",
        "le\u{e9}on",
    ];
    let odd_ips = ["10.9.8.7", "odd-client-address-zz8"];
    for email in emails {
        let _ = s
            .call(
                "user-new",
                json!({"full_name": "Odd Name Zz7", "email": email, "password": "a-Fine-password-77-zz"}),
            )
            .await;
        let _ = login(&s, email, "wrong-Password-zz6").await;
        let _ = post(
            &s,
            &json!({"request": "user-sendemail-forgotpass", "body": {"email": email}, "reqid": 3, "client_ipaddr": odd_ips[0]}),
        )
        .await;
    }
    for name in odd_names {
        for ip in odd_ips {
            let status = post(
                &s,
                &json!({"request": name, "body": {"email": emails[0]}, "reqid": 2, "client_ipaddr": ip}),
            )
            .await;
            assert!(status == 400 || status == 429, "{name}: {status}");
        }
    }
    let text = scrape(&s).await;
    for needle in emails
        .iter()
        .chain(odd_names.iter())
        .chain(odd_ips.iter())
        .copied()
        .chain([
            "example.org",
            "example.net",
            "zz6",
            "zz7",
            "zz8",
            "zz9",
            "@",
        ])
    {
        assert!(!text.contains(needle), "{needle:?} found in /metrics");
    }
    let allowed = allowed_label_values();
    let labels = label_values(&text);
    assert!(labels.len() > 20, "{text}");
    for (k, v) in labels {
        // Histogram buckets carry `le`, a number.
        if k == "le" {
            assert!(v == "+Inf" || v.parse::<f64>().is_ok(), "le={v}");
            continue;
        }
        assert!(allowed.contains(&v), "label {k}={v:?} is not a fixed word");
    }
    assert!(text.contains(&requests("unknown", "bad_request")), "{text}");
    s.stop().await;
    db.drop_db().await;
}

/// Storage failures count under their backend, and the health gauges
/// follow: sessions in a private Redis that is then stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_errors_and_health_by_backend() {
    use authnz_store_redis::testing::PrivateRedis;
    use authnz_store_redis::{RedisBackend, RedisOptions};
    let test = "metrics::store_errors";
    let Some(db) = TestDb::new(Backend::Postgres, test).await else {
        return;
    };
    let Some(mut redis) = PrivateRedis::start(test) else {
        db.drop_db().await;
        return;
    };
    let options = RedisOptions {
        timeout: std::time::Duration::from_millis(300),
        reconnect_retries: 0,
        tls_root_pem: None,
    };
    let backend = RedisBackend::connect(&redis.url(), "metrics:", options)
        .await
        .expect("connect");
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        crate::common::on_redis(o, &backend);
    })
    .await;
    let token = s.new_session(Value::Null).await;
    let before = samples(&scrape(&s).await);
    assert_eq!(value(&before, "authnz_backend_up{backend=\"redis\"}"), 1.0);
    assert_eq!(
        value(&before, "authnz_backend_up{backend=\"postgres\"}"),
        1.0
    );
    assert_eq!(
        value(&before, "authnz_store_errors_total{backend=\"redis\"}"),
        0.0
    );

    redis.stop();
    for _ in 0..3 {
        let env = s
            .call("session-exists", json!({"session_token": token}))
            .await;
        assert_eq!(env["success"], json!(false), "{env}");
    }
    let after = samples(&scrape(&s).await);
    assert_eq!(value(&after, "authnz_backend_up{backend=\"redis\"}"), 0.0);
    assert_eq!(
        value(&after, "authnz_backend_up{backend=\"postgres\"}"),
        1.0
    );
    assert!(
        value(&after, "authnz_store_errors_total{backend=\"redis\"}") >= 3.0,
        "{after:?}"
    );
    assert_eq!(
        value(&after, "authnz_store_errors_total{backend=\"postgres\"}"),
        0.0
    );
    // Answered with the DB-error failure reply.
    assert!(value(&after, &requests("session-exists", "failed")) >= 3.0);
    s.stop().await;
    db.drop_db().await;
}
