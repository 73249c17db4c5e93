//! The tower layer: identify the caller, keep the session cookie, check
//! CSRF, then run the route and send the cookie change with its response.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use authnz_client::requests::{ApikeyVerify, ApikeyVerifyNosession};
use authnz_client::types::ApiKeyClaims;
use authnz_client::{Client, Secret};
use authnz_proto::Codec;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Auth, Cache, CookieOp, Shared, State, User, Via};
use crate::config::{AuthConfig, CookieSecurity};
use crate::error::AuthError;
use crate::keys::{self, SiteKey};
use crate::limits::{Limiter, retry_after_secs};

/// Longest session cookie value or bearer key looked at.
const MAX_TOKEN_LEN: usize = 4096;
/// Longest `User-Agent` passed on to authnz.
const MAX_USER_AGENT: usize = 512;

/// The layer: add it to a [`axum::Router`] with `.layer(...)`. Cheap to
/// clone.
#[derive(Clone)]
pub struct AuthLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthLayer")
            .field("client", &self.shared.client)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl AuthLayer {
    /// A layer asking authnz through `client`, with the site's own key
    /// (CSRF tokens, API keys) and these settings.
    pub fn new(client: Client, site_key: &SiteKey, config: AuthConfig) -> Self {
        let cache = config
            .cache_ttl
            .map(|ttl| Cache::new(ttl, config.cache_capacity));
        Self {
            shared: Arc::new(Shared {
                client,
                csrf_key: site_key.csrf_key(),
                apikey_codec: Codec::new(&site_key.apikey_key()),
                cache,
                limiter: config.request_limits.clone().map(Limiter::new),
                config,
            }),
        }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps a route in.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService").finish_non_exhaustive()
    }
}

impl<S> tower_service::Service<Request<Body>> for AuthService<S>
where
    S: tower_service::Service<Request<Body>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let secure = cookie_secure(&shared.config, req.headers());
            let (outcome, auth) = prepare(&shared, req).await;
            let mut response = match outcome {
                Ok(req) => inner.call(req).await?,
                Err(e) => e.into_response(),
            };
            if let Some(auth) = auth {
                let op = auth
                    .state
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .cookie
                    .take();
                if let Some(op) = op
                    && let Ok(v) = HeaderValue::from_str(&set_cookie(&shared.config, &op, secure))
                {
                    response.headers_mut().append(header::SET_COOKIE, v);
                    // A response that sets a session cookie is for this
                    // browser only.
                    response
                        .headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
            }
            Ok(response)
        })
    }
}

/// Identify the caller and check CSRF. The [`Auth`] is returned even on a
/// refusal so a new session's cookie still reaches the browser.
async fn prepare(
    shared: &Arc<Shared>,
    mut req: Request<Body>,
) -> (Result<Request<Body>, AuthError>, Option<Auth>) {
    let ip = client_ip(&shared.config, &req);
    let client = shared.client.for_ip(&ip);
    let user_agent = user_agent(req.headers());

    if let Some(value) = req.headers().get(header::AUTHORIZATION)
        && let Some(key) = bearer(value)
    {
        let user = match verify_api_key(shared, &client, key).await {
            Ok(user) => user,
            Err(e) => return (Err(e), None),
        };
        if let Err(e) = count_request(shared, key, &user.role) {
            return (Err(e), None);
        }
        let auth = Auth {
            shared: shared.clone(),
            client,
            state: Arc::new(Mutex::new(State {
                user,
                token: None,
                cookie: None,
                ip,
                user_agent,
            })),
        };
        req.extensions_mut().insert(auth.clone());
        return (Ok(req), Some(auth));
    }

    let mut session = None;
    if let Some(token) = session_cookie(req.headers(), &shared.config.cookie_name) {
        match shared.lookup(&client, &token).await {
            Ok(Some(user)) => session = Some((token, user, false)),
            Ok(None) => {}
            Err(e) => return (Err(e), None),
        }
    }
    let (token, user, fresh) = match session {
        Some(s) => s,
        None => match shared.new_session(&client, None, &ip, &user_agent).await {
            Ok((token, user)) => (token, user, true),
            Err(e) => return (Err(e), None),
        },
    };
    let role = user.role.clone();
    let auth = Auth {
        shared: shared.clone(),
        client,
        state: Arc::new(Mutex::new(State {
            user,
            token: Some(token.clone()),
            cookie: fresh.then(|| CookieOp::Set(token.clone())),
            ip,
            user_agent,
        })),
    };

    if let Err(e) = count_request(shared, token.expose(), &role) {
        return (Err(e), Some(auth));
    }
    if !is_safe(req.method()) {
        match check_csrf(shared, req, token.expose()).await {
            Ok(r) => req = r,
            Err(e) => return (Err(e), Some(auth)),
        }
    }
    req.extensions_mut().insert(auth.clone());
    (Ok(req), Some(auth))
}

/// One request of the caller holding `token` (session token or bearer
/// key) against the layer's own limits, if any.
fn count_request(shared: &Shared, token: &str, role: &str) -> Result<(), AuthError> {
    let Some(limiter) = &shared.limiter else {
        return Ok(());
    };
    let caller = keys::caller_id(&shared.csrf_key, token);
    limiter
        .check(caller, role, std::time::Instant::now())
        .map_err(|wait| AuthError::RateLimited {
            retry_after: Some(retry_after_secs(wait)),
        })
}

fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The header's token, else the form field's (the body is read, up to the
/// limit, and put back).
async fn check_csrf(
    shared: &Shared,
    req: Request<Body>,
    session_token: &str,
) -> Result<Request<Body>, AuthError> {
    let config = &shared.config;
    if let Some(value) = req.headers().get(&config.csrf_header) {
        let ok = value
            .to_str()
            .is_ok_and(|v| keys::csrf_matches(&shared.csrf_key, session_token, v.trim()));
        return if ok { Ok(req) } else { Err(AuthError::Csrf) };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(AuthError::Csrf);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, config.max_form_bytes)
        .await
        .map_err(|_| AuthError::PayloadTooLarge)?;
    let ok = form_urlencoded::parse(&bytes)
        .find(|(k, _)| *k == config.csrf_field)
        .is_some_and(|(_, v)| keys::csrf_matches(&shared.csrf_key, session_token, &v));
    if !ok {
        return Err(AuthError::Csrf);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The key of `Authorization: Bearer <key>` (scheme case-insensitive;
/// empty when missing, which is refused); `None` for other schemes.
fn bearer(value: &HeaderValue) -> Option<&str> {
    let text = String::from_utf8_lossy(value.as_bytes());
    let text = text.trim();
    let scheme = text.split(' ').next().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    // A non-ASCII key is no key of ours: refuse it as empty.
    let rest = value.to_str().map(str::trim).unwrap_or("");
    Some(rest.get(scheme.len()..).unwrap_or("").trim())
}

async fn verify_api_key(shared: &Shared, client: &Client, key: &str) -> Result<User, AuthError> {
    if key.is_empty() || key.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidApiKey);
    }
    let text = shared
        .apikey_codec
        .open_bytes(key.as_bytes())
        .map_err(|_| AuthError::InvalidApiKey)?;
    let text = String::from_utf8(text).map_err(|_| AuthError::InvalidApiKey)?;
    let claims =
        ApiKeyClaims::from_apikey(&Secret::new(text)).map_err(|_| AuthError::InvalidApiKey)?;
    let config = &shared.config;
    let claim = |name: &str| claims.0.get(name);
    if claim("iss").and_then(|v| v.as_str()) != Some(config.apikey_issuer.as_str())
        || claim("aud").and_then(|v| v.as_str()) != Some(config.apikey_audience.as_str())
    {
        return Err(AuthError::InvalidApiKey);
    }
    let (Some(user_id), Some(role)) = (
        claim("uid").and_then(|v| v.as_i64()),
        claim("rol").and_then(|v| v.as_str()).map(str::to_owned),
    ) else {
        return Err(AuthError::InvalidApiKey);
    };
    let session_tied = claims.0.contains_key("usa");
    let reply = if session_tied {
        client
            .apikey_verify(&ApikeyVerify {
                apikey_dict: claims.clone(),
                user_id,
                user_role: role.clone(),
            })
            .await
    } else {
        client
            .apikey_verify_nosession(&ApikeyVerifyNosession {
                apikey_dict: claims.clone(),
                user_id,
                user_role: role.clone(),
            })
            .await
    };
    match reply {
        Ok(_) => Ok(User {
            user_id,
            role,
            email: None,
            full_name: None,
            active: true,
            via: Via::ApiKey {
                session_tied,
                claims,
            },
        }),
        Err(e) if e.failure().is_some() => Err(AuthError::InvalidApiKey),
        Err(e) => Err(e.into()),
    }
}

/// The session cookie's value, if it looks like a token.
fn session_cookie(headers: &HeaderMap, name: &str) -> Option<Secret> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_TOKEN_LEN
                && v.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b',' && b != b';')
        })
        .map(Secret::from)
}

fn user_agent(headers: &HeaderMap) -> String {
    let ua = headers
        .get(header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    ua.chars().take(MAX_USER_AGENT).collect()
}

fn client_ip(config: &AuthConfig, req: &Request<Body>) -> String {
    if let Some(name) = &config.client_ip_header
        && let Some(ip) = req
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    {
        return ip.to_string();
    }
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        // Without ConnectInfo (serve without
        // `into_make_service_with_connect_info`) every caller shares one
        // address at authnz's rate limiter.
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// Whether the cookie gets `Secure` for this request.
fn cookie_secure(config: &AuthConfig, headers: &HeaderMap) -> bool {
    match config.security {
        CookieSecurity::Always => true,
        CookieSecurity::Never => false,
        CookieSecurity::Auto => {
            let https = headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            https || !is_loopback_host(host)
        }
    }
}

fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn set_cookie(config: &AuthConfig, op: &CookieOp, secure: bool) -> String {
    let (value, max_age) = match op {
        CookieOp::Set(token) => (
            token.expose(),
            u64::from(config.session_days) * 24 * 60 * 60,
        ),
        CookieOp::Clear => ("", 0),
    };
    let mut c = format!(
        "{}={}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax",
        config.cookie_name, value, config.cookie_path, max_age
    );
    if let Some(domain) = &config.cookie_domain {
        c.push_str("; Domain=");
        c.push_str(domain);
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:3000",
            "127.9.9.9",
            "[::1]:80",
            "[::1]",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.org",
            "example.org:80",
            "10.0.0.1:80",
            "",
            "[2001:db8::1]:80",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn cookies_are_parsed_strictly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; authnz_session=tok-1; b=2"),
        );
        assert_eq!(
            session_cookie(&h, "authnz_session").unwrap().expose(),
            "tok-1"
        );
        h.insert(header::COOKIE, HeaderValue::from_static("authnz_session="));
        assert!(session_cookie(&h, "authnz_session").is_none());
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("xauthnz_session=t"),
        );
        assert!(session_cookie(&h, "authnz_session").is_none());
    }

    #[test]
    fn bearer_scheme() {
        assert_eq!(bearer(&HeaderValue::from_static("Bearer abc")), Some("abc"));
        assert_eq!(
            bearer(&HeaderValue::from_static("bearer  abc ")),
            Some("abc")
        );
        assert_eq!(bearer(&HeaderValue::from_static("Basic abc")), None);
        assert_eq!(bearer(&HeaderValue::from_static("Bearer")), Some(""));
        assert_eq!(
            bearer(&HeaderValue::from_bytes(b"Bearer \xff").unwrap()),
            Some("")
        );
    }
}
