//! HTTPS serving with a self-signed certificate made by the `openssl` command:
//! the encrypted protocol works over TLS, a plain-HTTP client is refused
//! without harming the server, and a bad key file is a clear start-up error.
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Backend, TestDb};
use authnz_api::SystemClock;
use authnz_server::app::build;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

async fn https_exchange(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
    request: &[u8],
) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut tls = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    tls.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .ok();
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_protocol_over_tls() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = crate::common::self_signed_cert(dir.path());
    let db = TestDb::new(Backend::Sqlite, "tls").await.expect("sqlite");
    let basedir = tempfile::tempdir().expect("basedir");
    let opts = crate::common::options(&db, basedir.path(), Arc::new(SystemClock));
    let codec = authnz_proto::codec::Codec::new(&opts.secret);
    let built = build(&opts).await.expect("build");
    let tls_config = authnz_server::tls::server_config(&cert, &key).expect("TLS config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(authnz_server::tls::serve(
        listener,
        built.state.clone(),
        tls_config,
        async {
            let _ = rx.await;
        },
    ));

    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&cert).expect("cert") {
        roots.add(c.expect("pem")).expect("root");
    }
    let client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client));

    // A plain-HTTP client on the TLS port gets no HTTP answer, and the
    // server keeps serving.
    let mut plain = TcpStream::connect(addr).await.expect("connect");
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut junk = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut junk)).await;
    assert!(
        !junk.starts_with(b"HTTP/1.1 200"),
        "plain HTTP must not be served on the TLS port"
    );

    let health = https_exchange(
        &connector,
        addr,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        health.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&health)
    );

    let body = codec.seal(&json!({
        "request": "session-new",
        "body": {"ip_address": "127.0.0.1", "user_agent": "tls", "user_id": null, "expires": "2100-01-01T00:00:00.5", "extra_info_json": null},
        "reqid": 9,
        "client_ipaddr": "127.0.0.1",
    }));
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = https_exchange(&connector, addr, request.as_bytes()).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    let envelope: Value = codec.open(&answer[split..]).expect("decrypts");
    assert_eq!(envelope["success"], json!(true));
    assert_eq!(envelope["reqid"], json!(9));

    let _ = tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    built.store.close().await;
}

#[test]
fn bad_tls_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = crate::common::self_signed_cert(dir.path());
    let err =
        authnz_server::tls::server_config(&key, &key).expect_err("a key is not a certificate");
    assert!(format!("{err:#}").contains("key.pem"), "{err:#}");
    let err =
        authnz_server::tls::server_config(&cert, &cert).expect_err("a certificate is not a key");
    assert!(format!("{err:#}").contains("cert.pem"), "{err:#}");
    let missing = dir.path().join("missing.pem");
    let err = authnz_server::tls::server_config(&missing, &key).expect_err("missing file");
    assert!(format!("{err:#}").contains("missing.pem"), "{err:#}");
}
