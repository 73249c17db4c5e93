//! The providers: OpenID Connect (`kind: oidc` and `google`) on the
//! `openidconnect` crate, and GitHub and Twitter/X ([`super::plain`]), all
//! with authnz's own HTTP client (hyper with rustls, no redirects followed,
//! every call bounded by the provider's timeout).
//!
//! The provider's metadata and key set come from discovery and are cached
//! for an hour; an ID token signed by a key the cached set lacks (`kid`
//! unknown) makes the key set be fetched again once. The ID token's
//! signature (asymmetric algorithms only), `iss`, `aud`, `exp` and `nonce`
//! are checked by the crate's verifier. Codes, tokens and the client secret
//! never reach a log or an error text.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authnz_core::oauth::{AuthorizeParams, OAuthError, OAuthProviders, ProviderIdentity};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, TokenResponse as _,
};
use tokio::sync::Mutex;
use tokio_rustls::rustls;

use super::ProviderConfig;
use super::plain::PlainProvider;

/// How long discovered metadata and keys are used before being fetched
/// again.
const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);
/// The largest provider response read.
const MAX_BODY: usize = 1024 * 1024;

/// The signature algorithms an ID token may use: asymmetric ones only (no
/// HMAC keyed with the client secret).
const ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// An HTTP failure, as shown: no URL query, no body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTP client every provider request goes through.
#[derive(Debug, Clone)]
pub(super) struct Http {
    client: HttpsClient,
    timeout: Duration,
}

type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

impl Http {
    fn new(
        timeout: Duration,
        tls: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, rustls::Error> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        http.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(tls)?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// One request, within the timeout; the response as the crate wants it.
    pub(super) fn send(&self, request: HttpRequest) -> HttpFuture {
        let client = self.client.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let host = parts.uri.host().unwrap_or("").to_owned();
            let request = hyper::Request::from_parts(parts, Full::new(Bytes::from(body)));
            let exchange = async {
                let response = client
                    .request(request)
                    .await
                    .map_err(|e| HttpError(format!("cannot reach {host}: {}", error_chain(&e))))?;
                let (parts, body) = response.into_parts();
                let body = http_body_util::Limited::new(body, MAX_BODY)
                    .collect()
                    .await
                    .map_err(|e| HttpError(format!("cannot read the answer of {host}: {e}")))?
                    .to_bytes();
                Ok(HttpResponse::from_parts(parts, body.to_vec()))
            };
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(HttpError(format!(
                    "{host} did not answer within {} s",
                    timeout.as_secs()
                ))),
            }
        })
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = HttpFuture;

    fn call(&'c self, request: HttpRequest) -> HttpFuture {
        self.send(request)
    }
}

/// An error and its sources, for a log line or a message.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The discovered metadata (with its key set) and when it was fetched.
#[derive(Debug, Clone)]
struct Discovered {
    metadata: CoreProviderMetadata,
    at: Instant,
}

/// One configured provider.
#[derive(Debug)]
struct Provider {
    config: ProviderConfig,
    http: Http,
    cache: Mutex<Option<Discovered>>,
}

impl Provider {
    /// The provider's metadata: cached, or discovered now.
    async fn metadata(&self) -> Result<CoreProviderMetadata, OAuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(d) = cache.as_ref().filter(|d| d.at.elapsed() < METADATA_MAX_AGE) {
            return Ok(d.metadata.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OAuthError::Unavailable(format!("bad issuer URL: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                OAuthError::Unavailable(format!("discovery failed: {}", error_chain(&e)))
            })?;
        *cache = Some(Discovered {
            metadata: metadata.clone(),
            at: Instant::now(),
        });
        Ok(metadata)
    }

    /// Fetch the key set again (a token named a key the cached set lacks).
    async fn refresh_keys(&self) -> Result<CoreProviderMetadata, OAuthError> {
        let metadata = self.metadata().await?;
        let keys = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| {
                OAuthError::Unavailable(format!("cannot fetch the key set: {}", error_chain(&e)))
            })?;
        let metadata = metadata.set_jwks(keys);
        let mut cache = self.cache.lock().await;
        *cache = Some(Discovered {
            metadata: metadata.clone(),
            at: Instant::now(),
        });
        Ok(metadata)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
        redirect_uri: &str,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OAuthError,
    > {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OAuthError::Refused(format!("bad redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect))
    }
}

/// The OpenID Connect providers, by name.
#[derive(Debug)]
pub struct OidcProviders {
    providers: HashMap<String, Provider>,
    /// The GitHub and Twitter/X providers ([`super::plain`]).
    plain: HashMap<String, PlainProvider>,
}

impl OidcProviders {
    /// The providers of `configs` (nothing is fetched until first used).
    /// HTTPS trusts the bundled Mozilla root certificates.
    ///
    /// Errors only if the TLS provider cannot be set up.
    pub fn new(configs: Vec<ProviderConfig>) -> Result<Self, rustls::Error> {
        let tls = Arc::new(rustls::crypto::ring::default_provider());
        let mut providers = HashMap::new();
        let mut plain = HashMap::new();
        for config in configs {
            let http = Http::new(config.timeout, tls.clone())?;
            if let Some(endpoints) = config.endpoints.clone() {
                plain.insert(
                    config.name.clone(),
                    PlainProvider::new(config, endpoints, http),
                );
                continue;
            }
            providers.insert(
                config.name.clone(),
                Provider {
                    config,
                    http,
                    cache: Mutex::new(None),
                },
            );
        }
        Ok(Self { providers, plain })
    }

    fn provider(&self, name: &str) -> Result<&Provider, OAuthError> {
        self.providers
            .get(name)
            .ok_or_else(|| OAuthError::Refused("no such provider".to_owned()))
    }
}

/// Whether a verification failed for want of the token's key.
fn unknown_key(e: &ClaimsVerificationError) -> bool {
    matches!(
        e,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

#[async_trait]
impl OAuthProviders for OidcProviders {
    fn has_provider(&self, provider: &str) -> bool {
        self.providers.contains_key(provider) || self.plain.contains_key(provider)
    }

    fn redirect_uri_allowed(&self, provider: &str, redirect_uri: &str) -> bool {
        let config = match self.plain.get(provider) {
            Some(p) => Some(&p.config),
            None => self.providers.get(provider).map(|p| &p.config),
        };
        config.is_some_and(|c| c.redirect_uris.iter().any(|u| u == redirect_uri))
    }

    async fn authorize_url(
        &self,
        provider: &str,
        redirect_uri: &str,
        params: AuthorizeParams<'_>,
    ) -> Result<String, OAuthError> {
        if let Some(p) = self.plain.get(provider) {
            return p.authorize_url(redirect_uri, params);
        }
        let p = self.provider(provider)?;
        let client = p.client(p.metadata().await?, redirect_uri)?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            params.pkce_verifier.to_owned(),
        ));
        let state = params.state.to_owned();
        let nonce = params.nonce.to_owned();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge);
        for scope in p.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        Ok(url.to_string())
    }

    async fn finish(
        &self,
        provider: &str,
        code: &str,
        redirect_uri: &str,
        params: AuthorizeParams<'_>,
    ) -> Result<ProviderIdentity, OAuthError> {
        if let Some(p) = self.plain.get(provider) {
            return p.finish(code, redirect_uri, params).await;
        }
        let p = self.provider(provider)?;
        let metadata = p.metadata().await?;
        let client = p.client(metadata, redirect_uri)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OAuthError::Unavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(params.pkce_verifier.to_owned()))
            .request_async(&p.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    OAuthError::Refused(format!("the token request was refused: {}", r.error()))
                }
                RequestTokenError::Request(e) => OAuthError::Unavailable(error_chain(&e)),
                RequestTokenError::Parse(e, _) => {
                    OAuthError::Unavailable(format!("unreadable token response: {}", e.path()))
                }
                RequestTokenError::Other(e) => OAuthError::Unavailable(e),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OAuthError::Refused("the provider sent no ID token".to_owned()))?;
        let nonce = Nonce::new(params.nonce.to_owned());
        let verified = {
            let verifier = client.id_token_verifier().set_allowed_algs(ALGORITHMS);
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verified {
            Ok(claims) => claims,
            Err(e) if unknown_key(&e) => {
                let client = p.client(p.refresh_keys().await?, redirect_uri)?;
                let verifier = client.id_token_verifier().set_allowed_algs(ALGORITHMS);
                id_token
                    .claims(&verifier, &nonce)
                    .map_err(|e| OAuthError::Refused(format!("ID token: {e}")))?
                    .clone()
            }
            Err(e) => return Err(OAuthError::Refused(format!("ID token: {e}"))),
        };
        Ok(ProviderIdentity {
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
        })
    }
}
