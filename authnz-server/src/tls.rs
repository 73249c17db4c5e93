//! HTTPS serving, when both `tls_cert_file` and `tls_cert_key` are set
//! (spec 7.1, 7.5 step 7).
//!
//! rustls with the ring provider: TLS 1.2 and 1.3 only (upstream refuses 1.0
//! and 1.1 too), no client certificates requested. Connections are served by
//! [`crate::serving`], the same loop and limits as plain HTTP; the handshake
//! counts towards the header timeout.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::http::AppState;
use crate::serving::HttpLimits;

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

/// Serve HTTPS on `listener` with the default [`HttpLimits`] until
/// `shutdown` resolves, then drain (see [`crate::serving`], which serves
/// plain HTTP and HTTPS alike).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    config: Arc<ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serving::serve(
        listener,
        state,
        Some(config),
        HttpLimits::default(),
        shutdown,
    )
    .await
}
