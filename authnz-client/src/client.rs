//! The connection side: a pooled HTTP/1.1 client (hyper-util's keep-alive
//! pool), the Fernet codec, a fresh `reqid` per request and the mapping of
//! every outcome to [`Envelope`] or [`Error`].

use std::sync::Arc;
use std::time::Duration;

use authnz_proto::{Codec, RequestType};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

use crate::error::{Error, Failure};
use crate::secret::RedactedJson;

/// Largest reply body read (a `user-list` of many users is the big one).
const MAX_REPLY_BYTES: usize = 32 * 1024 * 1024;
/// How much of an error body is kept.
const MAX_ERROR_BODY: usize = 4096;

#[cfg(feature = "https")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "https"))]
type Connector = HttpConnector;

/// The shared Fernet key (32 bytes). Its `Debug` output is redacted.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A key from its text as the server's `secret` file holds it: URL-safe
    /// or standard base64, with or without padding, surrounding whitespace
    /// and double quotes ignored.
    pub fn from_text(text: &str) -> Result<Self, Error> {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let text = text.trim().trim_matches('"').trim();
        let bytes = [URL_SAFE, URL_SAFE_NO_PAD, STANDARD, STANDARD_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| Error::Config("the key is not base64".into()))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Config("the key does not decode to 32 bytes".into()))?;
        Ok(Self(bytes))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Settings of a [`Client`]; made by [`Client::builder`].
#[derive(Debug)]
pub struct ClientBuilder {
    url: String,
    key: Key,
    connect_timeout: Duration,
    request_timeout: Duration,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    client_ipaddr: String,
    /// Trust only these roots for https:// (else Mozilla's).
    #[cfg(feature = "https")]
    tls_roots: Option<Vec<rustls_pki_types::CertificateDer<'static>>>,
}

impl ClientBuilder {
    /// For `https://`: trust only the certificates in this PEM text (a
    /// private CA, a self-signed server certificate) instead of Mozilla's
    /// roots.
    #[cfg(feature = "https")]
    pub fn tls_roots_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        use rustls_pki_types::pem::PemObject as _;
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("invalid PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Config("no certificate in the PEM text".into()));
        }
        self.tls_roots = Some(certs);
        Ok(self)
    }

    /// Time allowed to open a connection (default 5 s, as the Python
    /// client).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time allowed for a whole request, connecting included, until the
    /// reply is read (default 5 s, as the Python client).
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// How long an idle kept-alive connection stays in the pool (default
    /// 60 s).
    pub fn pool_idle_timeout(mut self, t: Duration) -> Self {
        self.pool_idle_timeout = t;
        self
    }

    /// How many idle connections to keep (default 32).
    pub fn pool_max_idle(mut self, n: usize) -> Self {
        self.pool_max_idle_per_host = n;
        self
    }

    /// The `client_ipaddr` sent when no other is given with
    /// [`Client::for_ip`] (default `127.0.0.1`). The server rate-limits by
    /// it, so a frontend should send its end user's address.
    pub fn client_ipaddr(mut self, ip: impl Into<String>) -> Self {
        self.client_ipaddr = ip.into();
        self
    }

    /// Build the client. Needs a Tokio runtime only when requests are made.
    pub fn build(self) -> Result<Client, Error> {
        let base: Uri = self
            .url
            .parse()
            .map_err(|e| Error::Config(format!("invalid URL: {e}")))?;
        let https = match base.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(Error::Config("the URL must be http:// or https://".into())),
        };
        if https && !cfg!(feature = "https") {
            return Err(Error::Config(
                "https:// needs the `https` feature of authnz-client".into(),
            ));
        }
        let authority = base
            .authority()
            .ok_or_else(|| Error::Config("the URL has no host".into()))?
            .clone();
        // The key is the only credential; a user:password@ part would only
        // end up in logs.
        if authority.as_str().contains('@') {
            return Err(Error::Config("the URL must not hold credentials".into()));
        }
        let prefix = base.path().trim_end_matches('/').to_owned();
        let endpoint = |path: &str| -> Result<Uri, Error> {
            Uri::builder()
                .scheme(if https { "https" } else { "http" })
                .authority(authority.clone())
                .path_and_query(format!("{prefix}{path}"))
                .build()
                .map_err(|e| Error::Config(format!("invalid URL: {e}")))
        };
        let api = endpoint("/")?;
        let health = endpoint("/health")?;

        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(self.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(!https);
        #[cfg(feature = "https")]
        let connector = make_connector(http, self.tls_roots)?;
        #[cfg(not(feature = "https"))]
        let connector = make_connector(http);
        let hyper = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .build(connector);
        Ok(Client {
            inner: Arc::new(Inner {
                hyper,
                codec: Codec::new(&self.key.0),
                api,
                health,
                request_timeout: self.request_timeout,
            }),
            client_ipaddr: Arc::from(self.client_ipaddr),
        })
    }
}

#[cfg(feature = "https")]
fn make_connector(
    http: HttpConnector,
    roots: Option<Vec<rustls_pki_types::CertificateDer<'static>>>,
) -> Result<Connector, Error> {
    use hyper_rustls::ConfigBuilderExt as _;
    use tokio_rustls::rustls;
    // ring explicitly: no process-wide default provider needed.
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS configuration: {e}")))?;
    let config = match roots {
        None => builder.with_webpki_roots().with_no_client_auth(),
        Some(certs) => {
            let mut store = rustls::RootCertStore::empty();
            for cert in certs {
                store
                    .add(cert)
                    .map_err(|e| Error::Config(format!("unusable root certificate: {e}")))?;
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
    };
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

#[cfg(not(feature = "https"))]
fn make_connector(http: HttpConnector) -> Connector {
    http
}

struct Inner {
    hyper: HyperClient<Connector, Full<Bytes>>,
    codec: Codec,
    api: Uri,
    health: Uri,
    request_timeout: Duration,
}

/// An authnz client: cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    client_ipaddr: Arc<str>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.api)
            .field("key", &"<redacted>")
            .field("request_timeout", &self.inner.request_timeout)
            .field("client_ipaddr", &self.client_ipaddr)
            .finish()
    }
}

/// A decrypted reply envelope (docs/PROTOCOL.md §1.8), as [`Client::send`]
/// returns it whatever its `success`.
#[derive(Clone)]
pub struct Envelope {
    /// The request type.
    pub request: RequestType,
    /// `success` of the envelope.
    pub success: bool,
    /// `messages` of the envelope.
    pub messages: Vec<String>,
    /// `failure_reason` of the envelope (only on failures that have one).
    pub failure_reason: Option<String>,
    /// The result object `R` (`response`), success, messages and
    /// failure_reason included.
    pub response: Value,
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("request", &self.request.name())
            .field("success", &self.success)
            .field("messages", &self.messages)
            .field("failure_reason", &self.failure_reason)
            .field("response", &RedactedJson(&self.response))
            .finish()
    }
}

impl Envelope {
    /// `Ok(response)` on success, else [`Error::Failed`].
    pub fn into_result(self) -> Result<Value, Error> {
        if self.success {
            Ok(self.response)
        } else {
            Err(Error::Failed(Box::new(Failure {
                request: self.request,
                failure_reason: self.failure_reason,
                messages: self.messages,
                response: self.response,
            })))
        }
    }
}

/// `GET /health` (docs/PROTOCOL.md §9): a 200 or a 500 with the JSON body.
#[derive(Debug, Clone)]
pub struct Health {
    /// The HTTP status: 200 healthy, 500 not.
    pub status: u16,
    /// `Health-Ok`.
    pub ok: bool,
    /// `Expected-Workers`.
    pub expected_workers: Option<i64>,
    /// `Workers`: each worker's state (`"ok"` or what is broken).
    pub workers: Map<String, Value>,
    /// `Check-Time`, seconds.
    pub check_time: Option<f64>,
}

impl Client {
    /// Settings for a client of the server at `url` (`http://host:port`,
    /// optionally with a path prefix) holding `key`.
    pub fn builder(url: impl Into<String>, key: Key) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            key,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: 32,
            client_ipaddr: "127.0.0.1".into(),
            #[cfg(feature = "https")]
            tls_roots: None,
        }
    }

    /// A client with the default settings.
    pub fn new(url: impl Into<String>, key: Key) -> Result<Self, Error> {
        Self::builder(url, key).build()
    }

    /// This client (same pool) sending `ip` as `client_ipaddr`: the
    /// address of the end user a frontend request serves.
    pub fn for_ip(&self, ip: impl AsRef<str>) -> Self {
        Self {
            inner: self.inner.clone(),
            client_ipaddr: Arc::from(ip.as_ref()),
        }
    }

    /// The escape hatch: send `body` (a JSON object) as request `kind` and
    /// return the decrypted envelope whatever its `success`. HTTP errors,
    /// a wrong `reqid` and undecryptable replies are still errors.
    pub async fn send(&self, kind: RequestType, body: Value) -> Result<Envelope, Error> {
        let Value::Object(mut body) = body else {
            return Err(Error::Config("a request body must be a JSON object".into()));
        };
        let reqid = fresh_reqid();
        // As the Python client: client_ipaddr also inside the body.
        body.insert(
            "client_ipaddr".into(),
            Value::String(self.client_ipaddr.to_string()),
        );
        let mut object = Map::with_capacity(4);
        object.insert("request".into(), Value::String(kind.name().into()));
        object.insert("body".into(), Value::Object(body));
        object.insert("reqid".into(), Value::String(reqid.clone()));
        object.insert(
            "client_ipaddr".into(),
            Value::String(self.client_ipaddr.to_string()),
        );
        let sealed = self.inner.codec.seal(&Value::Object(object));
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.inner.api.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(Full::new(Bytes::from(sealed)))
            .map_err(|e| Error::Config(format!("cannot build the request: {e}")))?;
        let (status, retry_after, body) = self.exchange(request).await?;
        if status != StatusCode::OK {
            return Err(status_error(status, retry_after, &body));
        }
        let envelope = self.inner.codec.open(&body).map_err(Error::Decrypt)?;
        parse_envelope(kind, &reqid, envelope)
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, Error> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(self.inner.health.clone())
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Config(format!("cannot build the request: {e}")))?;
        let (status, retry_after, body) = self.exchange(request).await?;
        if status != StatusCode::OK && status != StatusCode::INTERNAL_SERVER_ERROR {
            return Err(status_error(status, retry_after, &body));
        }
        let parsed: Value = match serde_json::from_slice(&body) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ if status == StatusCode::INTERNAL_SERVER_ERROR => {
                return Err(status_error(status, retry_after, &body));
            }
            _ => {
                return Err(Error::Protocol(
                    "/health did not answer a JSON object".into(),
                ));
            }
        };
        Ok(Health {
            status: status.as_u16(),
            ok: parsed.get("Health-Ok") == Some(&Value::Bool(true)),
            expected_workers: parsed.get("Expected-Workers").and_then(Value::as_i64),
            workers: parsed
                .get("Workers")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            check_time: parsed.get("Check-Time").and_then(Value::as_f64),
        })
    }

    /// One HTTP exchange within the request timeout: status, `Retry-After`
    /// and the body (bounded).
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Option<Duration>, Bytes), Error> {
        let timeout = self.inner.request_timeout;
        let work = async {
            let response = self
                .inner
                .hyper
                .request(request)
                .await
                .map_err(|e| Error::Transport(Box::new(e)))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(response.into_body(), MAX_REPLY_BYTES)
                .collect()
                .await
                .map_err(Error::Transport)?
                .to_bytes();
            Ok((status, retry_after, body))
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| Error::Timeout(timeout))?
    }
}

/// A new request ID: 12 random URL-safe characters (the Python client
/// sends 11).
fn fresh_reqid() -> String {
    let mut bytes = [0u8; 9];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: still unique per process and request.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&n.to_be_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn status_error(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Error {
    let cut = &body[..body.len().min(MAX_ERROR_BODY)];
    let body = String::from_utf8_lossy(cut).into_owned();
    match status.as_u16() {
        400 => Error::BadRequest { body },
        401 => Error::Unauthorized { body },
        429 => Error::TooManyRequests { retry_after, body },
        500 => Error::ServerError { body },
        status => Error::Status { status, body },
    }
}

fn texts(items: Vec<Value>) -> Vec<String> {
    items
        .into_iter()
        .map(|m| match m {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect()
}

fn parse_envelope(kind: RequestType, reqid: &str, envelope: Value) -> Result<Envelope, Error> {
    let Value::Object(mut env) = envelope else {
        return Err(Error::Protocol("the reply is not a JSON object".into()));
    };
    let received = env.remove("reqid").unwrap_or(Value::Null);
    if received.as_str() != Some(reqid) {
        return Err(Error::ReqidMismatch {
            sent: reqid.to_owned(),
            received,
        });
    }
    let success = match env.get("success") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(Error::Protocol("the reply has no boolean `success`".into())),
    };
    let response = env.remove("response").unwrap_or(Value::Null);
    // The original's 0.1.3 release leaves the envelope's `messages` empty
    // and may put `failure_reason` only in the result object: take them
    // from there when the envelope has none.
    let mut messages = match env.remove("messages") {
        Some(Value::Array(items)) => texts(items),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(Error::Protocol("`messages` is not a list".into())),
    };
    if messages.is_empty()
        && let Some(Value::Array(items)) = response.get("messages")
    {
        messages = texts(items.clone());
    }
    let failure_reason = match env.remove("failure_reason") {
        Some(Value::String(s)) => Some(s),
        _ if !success => response
            .get("failure_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    };
    Ok(Envelope {
        request: kind,
        success,
        messages,
        failure_reason,
        response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_in_every_base64_spelling() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 9 + 250) as u8);
        use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
        for text in [
            URL_SAFE.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
            STANDARD.encode(bytes),
            format!(" \"{}\"\n", URL_SAFE.encode(bytes)),
        ] {
            assert_eq!(Key::from_text(&text).unwrap().0, bytes, "{text}");
        }
        assert!(Key::from_text("short").is_err());
        assert!(Key::from_text(&URL_SAFE.encode([1u8; 31])).is_err());
        assert_eq!(format!("{:?}", Key::from_bytes(bytes)), "Key(<redacted>)");
    }

    #[cfg(not(feature = "https"))]
    #[test]
    fn https_needs_the_feature() {
        let err =
            Client::new("https://localhost:1", Key::from_bytes([1; 32])).expect_err("no https");
        assert!(
            matches!(err, Error::Config(ref m) if m.contains("`https` feature")),
            "{err:?}"
        );
    }

    #[test]
    fn reqids_are_fresh() {
        let a = fresh_reqid();
        assert_eq!(a.len(), 12);
        assert_ne!(a, fresh_reqid());
    }

    #[test]
    fn urls_are_checked() {
        let key = Key::from_bytes([1; 32]);
        assert!(Client::new("ftp://x", key.clone()).is_err());
        assert!(Client::new("not a url", key.clone()).is_err());
        let err = Client::new("http://me:pw-SECRET@127.0.0.1:1/", key.clone()).expect_err("creds");
        assert!(!format!("{err:?}").contains("SECRET"));
        let c = Client::new("http://127.0.0.1:1/prefix/", key).unwrap();
        assert_eq!(c.inner.api.to_string(), "http://127.0.0.1:1/prefix/");
        assert_eq!(
            c.inner.health.to_string(),
            "http://127.0.0.1:1/prefix/health"
        );
        let text = format!("{c:?}");
        assert!(text.contains("<redacted>"));
    }
}
