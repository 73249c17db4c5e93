//! The optional online breach check of PROTOCOL.md 5.1 step 6 (haveibeenpwned's
//! k-anonymity range API), off by default: the HTTP implementation of
//! `authnz_core::breach::BreachLookup`.
//!
//! Only the first five hex digits of the password's SHA-1 leave the server.
//! The lookup fails open, as upstream: any network error, timeout, non-200
//! status or unreadable body counts as "not found", with a warning in the
//! log. Malformed response lines are skipped (upstream would crash on them).
//!
//! The client speaks HTTP/1.1 over plain TCP or TLS (rustls with the ring
//! provider, trusting the Mozilla root certificates bundled by
//! `webpki-roots`), so the real `https://` service works out of the box, and
//! `breachcheckurl` can point at a mirror or proxy.

use std::time::Duration;

use async_trait::async_trait;
use authnz_core::breach::BreachLookup;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha1::{Digest as _, Sha1};
use tokio_rustls::rustls::{self, ClientConfig};

/// Upstream's endpoint.
pub const DEFAULT_BREACH_URL: &str = "https://api.pwnedpasswords.com/range/";
/// Upstream's timeout for one lookup.
pub const BREACH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response body read (a real range answer is ~30-40 KiB).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// A configured breach lookup.
#[derive(Debug, Clone)]
pub struct BreachCheck {
    base_url: String,
    timeout: Duration,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl BreachCheck {
    /// Lookups against `base_url` (the 5-digit prefix is appended), each
    /// limited to `timeout`.
    /// HTTPS trusts the bundled Mozilla root certificates.
    ///
    /// Errors only if the TLS provider cannot be set up (ring supports every
    /// protocol version rustls asks for, so in practice never).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, rustls::Error> {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let builder = HttpsConnectorBuilder::new().with_provider_and_webpki_roots(provider)?;
        Ok(Self::from_builder(base_url, timeout, builder))
    }

    /// Lookups whose HTTPS connections use `tls` (e.g. a private root
    /// certificate for a mirror, or in tests).
    pub fn with_tls_config(base_url: &str, timeout: Duration, tls: ClientConfig) -> Self {
        Self::from_builder(
            base_url,
            timeout,
            HttpsConnectorBuilder::new().with_tls_config(tls),
        )
    }

    fn from_builder(
        base_url: &str,
        timeout: Duration,
        builder: HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        http.enforce_http(false);
        let connector = builder.https_or_http().enable_http1().wrap_connector(http);
        Self {
            base_url: base_url.to_owned(),
            timeout,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// How often the password appears in the breach corpus, or `None` if the
    /// lookup failed (fail open; logged as a warning).
    pub async fn count(&self, password: &str) -> Option<u64> {
        let digest = hex_upper(&Sha1::digest(password.as_bytes()));
        let (prefix, suffix) = digest.split_at(5);
        match tokio::time::timeout(self.timeout, self.fetch(prefix)).await {
            Ok(Ok(body)) => Some(count_in_range(&body, suffix)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "breach check failed; treating the password as not breached");
                None
            }
            Err(_) => {
                tracing::warn!("breach check timed out; treating the password as not breached");
                None
            }
        }
    }

    async fn fetch(&self, prefix: &str) -> Result<String, String> {
        let uri: hyper::Uri = format!("{}{prefix}", self.base_url)
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
        let resp = self.client.get(uri).await.map_err(|e| e.to_string())?;
        if resp.status() != hyper::StatusCode::OK {
            return Err(format!("status {}", resp.status()));
        }
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|e| e.to_string())
    }
}

#[async_trait]
impl BreachLookup for BreachCheck {
    async fn count(&self, password: &str) -> Option<u64> {
        BreachCheck::count(self, password).await
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The count for `suffix` (35 hex digits, case-insensitive) in a range
/// answer of `SUFFIX:COUNT` lines; 0 if absent. Lines that are not of that
/// form are skipped.
pub fn count_in_range(body: &str, suffix: &str) -> u64 {
    body.lines()
        .filter_map(|line| {
            let (s, n) = line.trim().split_once(':')?;
            let n = n.trim().parse::<u64>().ok()?;
            s.trim().eq_ignore_ascii_case(suffix).then_some(n)
        })
        .next()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_prefix_and_suffix() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let d = hex_upper(&Sha1::digest(b"password"));
        assert_eq!(d, "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8");
    }

    #[test]
    fn range_lines() {
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\
                    garbage line\r\n\
                    1E4C9B93F3F0682250B6CF8331B7EE68FD8:notanumber\r\n\
                    1e4c9b93f3f0682250b6cf8331b7ee68fd8:3861493\r\n";
        assert_eq!(
            count_in_range(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD8"),
            3_861_493
        );
        assert_eq!(
            count_in_range(body, "0018A45C4D1DEF81644B54AB7F969B88D65"),
            1
        );
        assert_eq!(
            count_in_range(body, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"),
            0
        );
        assert_eq!(count_in_range("", "AB"), 0);
    }
}
