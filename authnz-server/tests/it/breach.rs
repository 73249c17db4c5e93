//! The optional breach check (PROTOCOL.md 5.1 step 6) against a tiny local range
//! server started by the test: a listed password fails with the count, a
//! malformed line is skipped, and a server that is down or answers an error
//! counts as a pass (fail open). The check is off by default.

use std::sync::Arc;

use crate::common::{Backend, TestDb, TestServer};
use authnz_api::SystemClock;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// SHA-1("Plover-Quince-Sextant-77") is computed by the test itself.
const LISTED: &str = "Plover-Quince-Sextant-77";
const UNLISTED: &str = "Marmot-Lantern-Quiver-58";

fn sha1_hex(s: &str) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Serve `status` + `body` to every connection; returns the base URL.
async fn range_server(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/range/")
}

async fn validate(s: &TestServer, password: &str) -> Value {
    s.call(
        "user-validatepass",
        json!({"password": password, "email": "b@example.org", "full_name": "Bee"}),
    )
    .await
}

async fn with_url(db: &TestDb, url: Option<String>) -> TestServer {
    TestServer::start_with(db, Arc::new(SystemClock), move |o| {
        o.breach_check_url = url;
    })
    .await
}

async fn breach_check(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let listed = sha1_hex(LISTED);
    let body = format!(
        "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\nnot a line\r\n{}:notanumber\r\n{}:26\r\n",
        &listed[5..],
        listed[5..].to_lowercase()
    );
    let url = range_server("200 OK", body).await;

    let s = with_url(&db, Some(url)).await;
    let env = validate(&s, LISTED).await;
    assert_eq!(
        env["failure_reason"],
        json!("password is insecure or invalid"),
        "{env}"
    );
    assert_eq!(
        env["messages"],
        json!([
            "Your password was found with 26 matches in the database of recently compromised Web account passwords from https://haveibeenpwned.com/Passwords and is not secure."
        ])
    );
    assert_eq!(validate(&s, UNLISTED).await["success"], json!(true));
    // Sign-up uses the same policy.
    let env = s
        .call(
            "user-new",
            json!({"full_name": "Bee", "email": "bee@example.org", "password": LISTED}),
        )
        .await;
    assert_eq!(env["failure_reason"], json!("invalid password"), "{env}");
    s.stop().await;

    // Off by default: the same password passes.
    let s = with_url(&db, None).await;
    assert_eq!(validate(&s, LISTED).await["success"], json!(true));
    s.stop().await;

    // Down or failing servers: fail open.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let a = l.local_addr().expect("addr");
        drop(l);
        format!("http://{a}/range/")
    };
    for url in [
        dead,
        range_server("503 Service Unavailable", String::new()).await,
    ] {
        let s = with_url(&db, Some(url)).await;
        assert_eq!(validate(&s, LISTED).await["success"], json!(true));
        s.stop().await;
    }
    db.drop_db().await;
}

per_backend!(breach_check);

/// Serve one canned range answer over TLS with the given certificate.
async fn tls_range_server(cert: &std::path::Path, key: &std::path::Path, body: String) -> String {
    let config = authnz_server::tls::server_config(cert, key).expect("TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (acceptor, body) = (acceptor.clone(), body.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = tls.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{}/range/", addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_lookups_verify_the_certificate() {
    use authnz_server::breach::BreachCheck;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    use std::time::Duration;
    use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = crate::common::self_signed_cert(dir.path());
    let body = format!("{}:42\r\n", &sha1_hex(LISTED)[5..]);
    let url = tls_range_server(&cert, &key, body).await;

    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&cert).expect("cert") {
        roots.add(c.expect("pem")).expect("root");
    }
    let tls =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let trusting = BreachCheck::with_tls_config(&url, Duration::from_secs(5), tls);
    assert_eq!(trusting.count(LISTED).await, Some(42));
    assert_eq!(trusting.count(UNLISTED).await, Some(0));

    // The default client trusts only the bundled public roots: a self-signed
    // server is refused, and the lookup fails open.
    let public_roots = BreachCheck::new(&url, Duration::from_secs(5)).expect("client");
    assert_eq!(public_roots.count(LISTED).await, None);
}
