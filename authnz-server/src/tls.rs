//! HTTPS serving, when both `tls_cert_file` and `tls_cert_key` are set
//! (spec 7.1, 7.5 step 7).
//!
//! rustls with the ring provider: TLS 1.2 and 1.3 only (upstream refuses 1.0
//! and 1.1 too), no client certificates requested. Each accepted connection
//! gets a bounded handshake time, then is served over HTTP/1.1 by the same
//! router as plain HTTP.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::http::{AppState, router};

/// A client that has not finished the handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Build the TLS configuration from PEM files: a certificate chain and a
/// private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert_file: &Path, key_file: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("cannot read TLS certificate file {}", cert_file.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| {
            format!(
                "TLS certificate file {} is not valid PEM",
                cert_file.display()
            )
        })?;
    if certs.is_empty() {
        bail!(
            "TLS certificate file {} holds no certificate",
            cert_file.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key_file).with_context(|| {
        format!(
            "cannot read a private key from TLS key file {}",
            key_file.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not fit together")?;
    Ok(Arc::new(config))
}

/// Serve HTTPS on `listener` until `shutdown` resolves. Connections already
/// accepted finish on their own tasks.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    config: Arc<ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let app = router(state);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer))),
        );
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(error = %e, "TLS connection ended with an error");
            }
        });
    }
}
