//! HTTPS serving, when both `tls_cert_file` and `tls_cert_key` are set
//! (PROTOCOL.md 7.1, 7.5 step 7).
//!
//! rustls with the ring provider: TLS 1.2 and 1.3 only (upstream refuses 1.0
//! and 1.1 too), no client certificates requested. Connections are served by
//! [`crate::serving`], the same loop and limits as plain HTTP; the handshake
//! counts towards the header timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::http::AppState;
use crate::serving::HttpLimits;

/// Why the TLS files cannot be used (start-up stops). The texts name the
/// file; the sources say what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read TLS certificate file {}", path.display())]
    ReadCertificates {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("TLS certificate file {} is not valid PEM", path.display())]
    BadCertificatePem {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("TLS certificate file {} holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("cannot read a private key from TLS key file {}", path.display())]
    ReadKey {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("TLS protocol versions")]
    ProtocolVersions(#[source] rustls::Error),
    #[error("the TLS certificate and key do not fit together")]
    Mismatch(#[source] rustls::Error),
}

/// Build the TLS configuration from PEM files: a certificate chain and a
/// private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(
    cert_file: &Path,
    key_file: &Path,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let path = || cert_file.to_path_buf();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|source| TlsConfigError::ReadCertificates {
            path: path(),
            source,
        })?
        .collect::<Result<_, _>>()
        .map_err(|source| TlsConfigError::BadCertificatePem {
            path: path(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate { path: path() });
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| TlsConfigError::ReadKey {
        path: key_file.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        .map_err(TlsConfigError::ProtocolVersions)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsConfigError::Mismatch)?;
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
