//! `https://` (feature `https`): the protocol over TLS to a real authnzrv
//! serving a self-signed certificate that the client is told to trust; the
//! same server is refused without that trust (Mozilla's roots).

use authnz_client::requests::SessionNew;
use authnz_client::{Client, Error, Key};

use crate::common::Server;

/// A self-signed certificate for `localhost` made by the `openssl`
/// command: (certificate PEM, key PEM) paths.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command runs");
    assert!(status.success(), "openssl made a certificate");
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_over_https() {
    let certs = tempfile::tempdir().expect("dir");
    let (cert, key) = self_signed(certs.path());
    let server = Server::start_full(None, Some((cert.clone(), key))).await;
    assert!(server.url.starts_with("https://localhost:"));
    let pem = std::fs::read(&cert).expect("cert");
    let c = Client::builder(&server.url, Key::from_bytes(server.key))
        .tls_roots_pem(&pem)
        .expect("roots")
        .build()
        .expect("client");
    let session = c
        .session_new(&SessionNew {
            ip_address: "192.0.2.5".into(),
            user_agent: "https test".into(),
            user_id: None,
            expires: "2099-01-01T00:00:00".into(),
            extra_info_json: None,
        })
        .await
        .expect("session-new over TLS");
    assert_eq!(session.session_token.expose().len(), 43);
    let health = c.health().await.expect("health over TLS");
    assert!(health.ok);

    // Mozilla's roots do not know this certificate.
    let untrusting = Client::new(&server.url, Key::from_bytes(server.key)).expect("client");
    let err = untrusting
        .health()
        .await
        .expect_err("certificate not trusted");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(
        Client::builder(&server.url, Key::from_bytes(server.key))
            .tls_roots_pem(b"no certificate here")
            .is_err()
    );
    server.stop().await;
}
