//! The social-login providers of `oauthproviders` (PROTOCOL.md 3.11): the
//! JSON file that lists them, checked at start-up, and (Cargo feature
//! `oauth`) their OpenID Connect implementation of
//! `authnz_core::oauth::OAuthProviders` in [`oidc`].
//!
//! The file is a JSON list of objects:
//!
//! ```json
//! [{"name": "google", "kind": "google", "client_id": "…",
//!   "client_secret_file": "/etc/authnz/google-secret",
//!   "redirect_uris": ["https://example.org/oauth/google"]}]
//! ```
//!
//! `kind` is `oidc` (any OpenID Connect provider: `issuer` required),
//! `google` (OpenID Connect with Google's issuer unless `issuer` says
//! otherwise), `github` or `twitter` (plain OAuth 2.0 with PKCE and their
//! user APIs; `authorize_url`, `token_url` and `api_url` override their
//! endpoints).
//! `client_secret` or `client_secret_file` (a file holding the secret, read
//! once; neither for a public client), `redirect_uris` (the exact URIs the
//! frontend may use), `scopes` (default `openid email profile`; `openid` is
//! always added) and `timeout_seconds` (each call to the provider, default
//! 10, 1 to 60) complete an entry.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

#[cfg(feature = "oauth")]
pub mod oidc;
#[cfg(feature = "oauth")]
mod plain;

/// Google's OpenID Connect issuer, the default of `kind: google`.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The scopes asked for when an entry names none.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];
/// The scopes of `kind: github` when an entry names none: the profile and
/// the e-mail addresses with their verification.
pub const GITHUB_SCOPES: [&str; 2] = ["read:user", "user:email"];
/// The scopes of `kind: twitter` when an entry names none (`/2/users/me`
/// needs both).
pub const TWITTER_SCOPES: [&str; 2] = ["users.read", "tweet.read"];
/// The longest one call to a provider may take, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What kind of provider an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenID Connect provider, by discovery.
    Oidc,
    /// Google (OpenID Connect).
    Google,
    /// GitHub (OAuth 2.0 and its user API): not supported yet.
    Github,
    /// Twitter/X (OAuth 2.0): not supported yet.
    Twitter,
}

/// One entry of the file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    kind: ProviderKind,
    client_id: String,
    client_secret: Option<String>,
    client_secret_file: Option<String>,
    issuer: Option<String>,
    redirect_uris: Vec<String>,
    scopes: Option<Vec<String>>,
    timeout_seconds: Option<u64>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    api_url: Option<String>,
}

/// One checked provider entry.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The name requests use (`provider`).
    pub name: String,
    /// `oidc` or `google`.
    pub kind: ProviderKind,
    /// The OpenID Connect issuer (discovery at
    /// `<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// The client id at the provider.
    pub client_id: String,
    /// The client secret (never shown), `None` for a public client.
    pub client_secret: Option<String>,
    /// The exact redirect URIs a login may use.
    pub redirect_uris: Vec<String>,
    /// The scopes asked for (`openid` first).
    pub scopes: Vec<String>,
    /// The longest one call to the provider may take.
    pub timeout: Duration,
    /// The endpoints of a `github` or `twitter` provider (`None` for
    /// OpenID Connect, which finds them by discovery).
    pub endpoints: Option<Endpoints>,
}

/// Where a plain OAuth 2.0 provider (GitHub, Twitter/X) is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The authorization endpoint the browser is sent to.
    pub authorize_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// The base URL of the user API (`/user` and `/user/emails` for GitHub,
    /// `/2/users/me` for Twitter/X).
    pub api_url: String,
}

/// GitHub's endpoints.
pub const GITHUB: [&str; 3] = [
    "https://github.com/login/oauth/authorize",
    "https://github.com/login/oauth/access_token",
    "https://api.github.com",
];
/// Twitter/X's endpoints.
pub const TWITTER: [&str; 3] = [
    "https://x.com/i/oauth2/authorize",
    "https://api.x.com/2/oauth2/token",
    "https://api.x.com",
];

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why `oauthproviders` was refused. The texts never quote a secret.
#[derive(Debug, thiserror::Error)]
pub enum OAuthConfigError {
    /// The file cannot be read.
    #[error("cannot read the oauthproviders file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a list of provider objects.
    #[error("the oauthproviders file is not a JSON list of providers: {0}")]
    Json(String),
    /// An entry is wrong.
    #[error("oauthproviders, provider {name:?}: {problem}")]
    Provider {
        /// The entry's name (or its position).
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// The server was built without the `oauth` feature.
    #[error(
        "oauthproviders is set, but this authnzrv was built without social login (Cargo feature `oauth`)"
    )]
    NotBuilt,
}

fn problem(name: &str, problem: impl Into<String>) -> OAuthConfigError {
    OAuthConfigError::Provider {
        name: name.to_owned(),
        problem: problem.into(),
    }
}

/// Whether `uri` is an absolute `http://` or `https://` URL with a host and
/// no fragment (what a redirect URI may be).
fn valid_redirect_uri(uri: &str) -> bool {
    let Ok(parsed) = uri.parse::<hyper::Uri>() else {
        return false;
    };
    matches!(parsed.scheme_str(), Some("http" | "https"))
        && parsed.host().is_some_and(|h| !h.is_empty())
        && !uri.contains('#')
}

/// Parse and check the provider list `text` (the file's content);
/// `client_secret_file` paths are read relative to the working directory.
pub fn parse_providers(text: &str) -> Result<Vec<ProviderConfig>, OAuthConfigError> {
    let raw: Vec<RawProvider> = serde_json::from_str(text)
        .map_err(|e| OAuthConfigError::Json(without_quoted_text(&e.to_string())))?;
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let name = p.name.trim().to_owned();
        let label = if name.is_empty() {
            format!("#{}", i + 1)
        } else {
            name.clone()
        };
        if name.is_empty()
            || name.len() > 100
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(problem(
                &label,
                "name must be 1 to 100 characters of A-Z, a-z, 0-9, '-', '_', '.'",
            ));
        }
        if !names.insert(name.clone()) {
            return Err(problem(&label, "a provider of this name is listed twice"));
        }
        let http_url = |u: &str| {
            u.parse::<hyper::Uri>().is_ok_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            })
        };
        let overrides = [&p.authorize_url, &p.token_url, &p.api_url];
        let (issuer, endpoints) = match p.kind {
            ProviderKind::Oidc | ProviderKind::Google => {
                if overrides.iter().any(|o| o.is_some()) {
                    return Err(problem(
                        &label,
                        "authorize_url, token_url and api_url are for kind github and twitter \
                         (OpenID Connect finds its endpoints by discovery)",
                    ));
                }
                let issuer = match (p.kind, p.issuer) {
                    (_, Some(issuer)) => issuer,
                    (ProviderKind::Google, None) => GOOGLE_ISSUER.to_owned(),
                    _ => return Err(problem(&label, "kind oidc needs an issuer")),
                };
                if !http_url(&issuer) {
                    return Err(problem(&label, "issuer must be an http:// or https:// URL"));
                }
                (issuer, None)
            }
            ProviderKind::Github | ProviderKind::Twitter => {
                if p.issuer.is_some() {
                    return Err(problem(
                        &label,
                        "issuer is for OpenID Connect (kind oidc or google)",
                    ));
                }
                let defaults = if p.kind == ProviderKind::Github {
                    GITHUB
                } else {
                    TWITTER
                };
                let [authorize_url, token_url, api_url] = [0, 1, 2].map(|i| {
                    overrides[i]
                        .clone()
                        .unwrap_or_else(|| defaults[i].to_owned())
                });
                for u in [&authorize_url, &token_url, &api_url] {
                    if !http_url(u) {
                        return Err(problem(
                            &label,
                            format!("{u:?} is not an http:// or https:// URL"),
                        ));
                    }
                }
                let endpoints = Endpoints {
                    authorize_url,
                    token_url,
                    api_url: api_url.trim_end_matches('/').to_owned(),
                };
                (String::new(), Some(endpoints))
            }
        };
        if p.client_id.trim().is_empty() {
            return Err(problem(&label, "client_id is empty"));
        }
        let client_secret = match (p.client_secret, p.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(problem(
                    &label,
                    "give client_secret or client_secret_file, not both",
                ));
            }
            (Some(secret), None) => Some(secret),
            (None, Some(file)) => {
                let secret = std::fs::read_to_string(&file).map_err(|e| {
                    problem(
                        &label,
                        format!("cannot read client_secret_file {file}: {e}"),
                    )
                })?;
                Some(secret.trim().to_owned())
            }
            (None, None) => None,
        };
        if client_secret.as_deref().is_some_and(str::is_empty) {
            return Err(problem(&label, "the client secret is empty"));
        }
        if p.redirect_uris.is_empty() {
            return Err(problem(&label, "redirect_uris is empty"));
        }
        if let Some(bad) = p.redirect_uris.iter().find(|u| !valid_redirect_uri(u)) {
            return Err(problem(
                &label,
                format!(
                    "redirect URI {bad:?} is not an absolute http:// or https:// URL without a fragment"
                ),
            ));
        }
        let (mut scopes, defaults): (Vec<String>, &[&str]) = match p.kind {
            ProviderKind::Oidc | ProviderKind::Google => {
                (vec!["openid".to_owned()], &DEFAULT_SCOPES)
            }
            ProviderKind::Github => (vec![], &GITHUB_SCOPES),
            ProviderKind::Twitter => (vec![], &TWITTER_SCOPES),
        };
        let given = p
            .scopes
            .unwrap_or_else(|| defaults.iter().map(|s| (*s).to_owned()).collect());
        for scope in given {
            if scope.is_empty() || scope.contains(char::is_whitespace) {
                return Err(problem(&label, "a scope is empty or holds a space"));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let timeout = match p.timeout_seconds {
            None => DEFAULT_TIMEOUT,
            Some(s @ 1..=60) => Duration::from_secs(s),
            Some(_) => return Err(problem(&label, "timeout_seconds must be 1 to 60")),
        };
        out.push(ProviderConfig {
            name,
            kind: p.kind,
            issuer,
            client_id: p.client_id,
            client_secret,
            redirect_uris: p.redirect_uris,
            scopes,
            timeout,
            endpoints,
        });
    }
    Ok(out)
}

/// serde's message with every `"..."` cut out (it may quote a secret).
fn without_quoted_text(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

/// The providers of the file at `path`, ready for the action context.
pub fn load(path: &Path) -> Result<Arc<dyn authnz_core::oauth::OAuthProviders>, OAuthConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| OAuthConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let providers = parse_providers(&text)?;
    build(providers)
}

/// The providers `configs`, ready for the action context.
#[cfg(feature = "oauth")]
pub fn build(
    configs: Vec<ProviderConfig>,
) -> Result<Arc<dyn authnz_core::oauth::OAuthProviders>, OAuthConfigError> {
    Ok(Arc::new(oidc::OidcProviders::new(configs).map_err(
        |e| problem("(all)", format!("cannot set up TLS: {e}")),
    )?))
}

/// Without the `oauth` feature: refused.
#[cfg(not(feature = "oauth"))]
pub fn build(
    _configs: Vec<ProviderConfig>,
) -> Result<Arc<dyn authnz_core::oauth::OAuthProviders>, OAuthConfigError> {
    Err(OAuthConfigError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(extra: &str) -> String {
        format!(
            r#"[{{"name": "p", "client_id": "c", "client_secret": "s3cret",
                 "redirect_uris": ["https://app.example.org/cb"]{extra}}}]"#
        )
    }

    #[test]
    fn google_defaults_and_oidc_needs_an_issuer() {
        let p = parse_providers(&one(r#", "kind": "google""#)).expect("google");
        assert_eq!(p[0].issuer, GOOGLE_ISSUER);
        assert_eq!(p[0].scopes, ["openid", "email", "profile"]);
        assert_eq!(p[0].timeout, DEFAULT_TIMEOUT);
        let e = parse_providers(&one(r#", "kind": "oidc""#)).expect_err("no issuer");
        assert!(e.to_string().contains("needs an issuer"), "{e}");
        let p = parse_providers(&one(
            r#", "kind": "oidc", "issuer": "http://127.0.0.1:9/", "scopes": ["email"], "timeout_seconds": 2"#,
        ))
        .expect("oidc");
        assert_eq!(p[0].scopes, ["openid", "email"]);
        assert_eq!(p[0].timeout, Duration::from_secs(2));
    }

    #[test]
    fn github_and_twitter_endpoints() {
        let p = parse_providers(&one(r#", "kind": "github""#)).expect("github");
        let e = p[0].endpoints.as_ref().expect("endpoints");
        assert_eq!(e.token_url, GITHUB[1]);
        assert_eq!(p[0].scopes, ["read:user", "user:email"]);
        let p = parse_providers(&one(
            r#", "kind": "twitter", "api_url": "http://127.0.0.1:9/", "token_url": "http://127.0.0.1:9/t""#,
        ))
        .expect("twitter");
        let e = p[0].endpoints.as_ref().expect("endpoints");
        assert_eq!(e.authorize_url, TWITTER[0]);
        assert_eq!(e.token_url, "http://127.0.0.1:9/t");
        assert_eq!(e.api_url, "http://127.0.0.1:9");
        assert_eq!(p[0].scopes, ["users.read", "tweet.read"]);
    }

    #[test]
    fn refusals_are_clear_and_quote_no_secret() {
        for (extra, wanted) in [
            (
                r#", "kind": "github", "issuer": "https://x""#,
                "issuer is for OpenID Connect",
            ),
            (
                r#", "kind": "google", "token_url": "https://x/t""#,
                "are for kind github",
            ),
            (
                r#", "kind": "twitter", "api_url": "ftp://x""#,
                "not an http",
            ),
            (
                r#", "kind": "google", "client_secret_file": "/x""#,
                "not both",
            ),
            (r#", "kind": "google", "timeout_seconds": 0"#, "1 to 60"),
            (r#", "kind": "google", "colour": "red""#, "unknown field"),
            (r#", "kind": "kerberos""#, "unknown variant"),
        ] {
            let e = parse_providers(&one(extra)).expect_err(extra).to_string();
            assert!(e.contains(wanted), "{extra}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        let bad_uri = r#"[{"name": "p", "kind": "google", "client_id": "c",
                           "redirect_uris": ["/relative"]}]"#;
        let e = parse_providers(bad_uri).expect_err("relative").to_string();
        assert!(e.contains("redirect URI"), "{e}");
        let twice = r#"[{"name": "p", "kind": "google", "client_id": "c", "redirect_uris": ["https://a/b"]},
                        {"name": "p", "kind": "google", "client_id": "c", "redirect_uris": ["https://a/b"]}]"#;
        let e = parse_providers(twice).expect_err("twice").to_string();
        assert!(e.contains("listed twice"), "{e}");
    }
}
