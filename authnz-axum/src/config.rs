//! Settings of the layer: the cookie, the cache, CSRF, API keys.

use std::time::Duration;

use axum::http::HeaderName;

use crate::limits::RequestLimits;

/// When the session cookie gets the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieSecurity {
    /// Secure, except when the request reached the site over plain HTTP on
    /// a loopback host (`localhost`, `127.0.0.0/8`, `[::1]` in `Host`, and
    /// no `X-Forwarded-Proto: https`), where a browser would drop it.
    Auto,
    /// Always `Secure`.
    Always,
    /// Never `Secure` (plain-HTTP development on a non-loopback host).
    Never,
}

/// The layer's settings; [`AuthConfig::default`] gives sensible ones.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub(crate) cookie_name: String,
    pub(crate) cookie_path: String,
    pub(crate) cookie_domain: Option<String>,
    pub(crate) session_days: u32,
    pub(crate) security: CookieSecurity,
    pub(crate) cache_ttl: Option<Duration>,
    pub(crate) cache_capacity: usize,
    pub(crate) csrf_field: String,
    pub(crate) csrf_header: HeaderName,
    pub(crate) max_form_bytes: usize,
    pub(crate) login_path: Option<String>,
    pub(crate) client_ip_header: Option<HeaderName>,
    pub(crate) apikey_issuer: String,
    pub(crate) apikey_audience: String,
    pub(crate) request_limits: Option<RequestLimits>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            cookie_name: "authnz_session".into(),
            cookie_path: "/".into(),
            cookie_domain: None,
            session_days: 30,
            security: CookieSecurity::Auto,
            cache_ttl: None,
            cache_capacity: 10_000,
            csrf_field: "_csrf".into(),
            csrf_header: HeaderName::from_static("x-csrf-token"),
            max_form_bytes: 64 * 1024,
            login_path: None,
            client_ip_header: None,
            apikey_issuer: "authnz-axum".into(),
            apikey_audience: "authnz-axum".into(),
            request_limits: None,
        }
    }
}

impl AuthConfig {
    /// The cookie's name (default `authnz_session`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// The cookie's `Path` (default `/`).
    pub fn cookie_path(mut self, path: impl Into<String>) -> Self {
        self.cookie_path = path.into();
        self
    }

    /// The cookie's `Domain` (default none: this host only).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie_domain = Some(domain.into());
        self
    }

    /// How long sessions and their cookie last, in days (default 30; at
    /// least 1).
    pub fn session_days(mut self, days: u32) -> Self {
        self.session_days = days.max(1);
        self
    }

    /// When the cookie is `Secure` (default [`CookieSecurity::Auto`]).
    pub fn cookie_security(mut self, security: CookieSecurity) -> Self {
        self.security = security;
        self
    }

    /// Cache `session-exists` answers in process for `ttl` (default: no
    /// cache). A session deleted elsewhere (another site, an admin
    /// command) may then be honoured for up to `ttl`; logout, login and
    /// password changes through this layer drop their entries at once.
    pub fn session_cache(mut self, ttl: Duration) -> Self {
        self.cache_ttl = (!ttl.is_zero()).then_some(ttl);
        self
    }

    /// At most this many cached sessions (default 10,000).
    pub fn session_cache_capacity(mut self, n: usize) -> Self {
        self.cache_capacity = n.max(1);
        self
    }

    /// The form field holding the CSRF token (default `_csrf`).
    pub fn csrf_field(mut self, name: impl Into<String>) -> Self {
        self.csrf_field = name.into();
        self
    }

    /// The header holding the CSRF token (default `X-CSRF-Token`).
    pub fn csrf_header(mut self, name: HeaderName) -> Self {
        self.csrf_header = name;
        self
    }

    /// Largest URL-encoded form body read to find the CSRF token (default
    /// 64 KiB; larger: 413).
    pub fn max_form_bytes(mut self, n: usize) -> Self {
        self.max_form_bytes = n;
        self
    }

    /// Where [`crate::LoggedIn`] and [`crate::RequireRole`] send an
    /// anonymous browser (303) instead of answering 401.
    pub fn login_path(mut self, path: impl Into<String>) -> Self {
        self.login_path = Some(path.into());
        self
    }

    /// Take the end user's address from this header (its last
    /// comma-separated item, as a trusted reverse proxy appends it, e.g.
    /// `X-Forwarded-For`) instead of the socket's peer. authnz rate-limits
    /// by this address. Only set it behind a proxy that sets the header.
    pub fn client_ip_header(mut self, name: HeaderName) -> Self {
        self.client_ip_header = Some(name);
        self
    }

    /// The issuer and audience written into API keys this site issues and
    /// required of the keys it accepts (default `authnz-axum` for both).
    pub fn apikey_issuer_audience(
        mut self,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        self.apikey_issuer = issuer.into();
        self.apikey_audience = audience.into();
        self
    }

    /// Count each caller's requests (per session, or per API key) and
    /// answer 429 with `Retry-After` over its role's limit, before the
    /// route runs (default: no limits of the layer's own; authnz's limits
    /// on its requests still apply). See [`RequestLimits`].
    pub fn request_limits(mut self, limits: RequestLimits) -> Self {
        self.request_limits = Some(limits);
        self
    }
}
