//! Plain OAuth 2.0 providers without OpenID Connect: GitHub and Twitter/X.
//! The authorization code flow with PKCE (S256) and `state`; the person is
//! then read from the provider's user API with the access token (which is
//! used once and never kept or logged):
//!
//! - GitHub: `GET <api>/user` (the numeric `id` is the subject) and
//!   `GET <api>/user/emails` (the primary address, verified or not, as
//!   GitHub says);
//! - Twitter/X: `GET <api>/2/users/me` (`data.id`); it gives no e-mail, so
//!   the person gets an account of their own, keyed by the identity alone.

use authnz_core::oauth::{AuthorizeParams, OAuthError, ProviderIdentity};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openidconnect::url::{Url, form_urlencoded};
use openidconnect::{PkceCodeChallenge, PkceCodeVerifier};
use serde_json::Value;

use super::oidc::Http;
use super::{Endpoints, ProviderConfig, ProviderKind};

/// One GitHub or Twitter/X provider.
#[derive(Debug)]
pub(super) struct PlainProvider {
    pub(super) config: ProviderConfig,
    endpoints: Endpoints,
    http: Http,
}

impl PlainProvider {
    pub(super) fn new(config: ProviderConfig, endpoints: Endpoints, http: Http) -> Self {
        Self {
            config,
            endpoints,
            http,
        }
    }

    pub(super) fn authorize_url(
        &self,
        redirect_uri: &str,
        params: AuthorizeParams<'_>,
    ) -> Result<String, OAuthError> {
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            params.pkce_verifier.to_owned(),
        ));
        let scope = self.config.scopes.join(" ");
        let url = Url::parse_with_params(
            &self.endpoints.authorize_url,
            [
                ("response_type", "code"),
                ("client_id", self.config.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("scope", scope.as_str()),
                ("state", params.state),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(|e| OAuthError::Unavailable(format!("bad authorize_url: {e}")))?;
        Ok(url.to_string())
    }

    pub(super) async fn finish(
        &self,
        code: &str,
        redirect_uri: &str,
        params: AuthorizeParams<'_>,
    ) -> Result<ProviderIdentity, OAuthError> {
        let access_token = self.token(code, redirect_uri, params).await?;
        match self.config.kind {
            ProviderKind::Github => self.github_person(&access_token).await,
            _ => self.twitter_person(&access_token).await,
        }
    }

    /// The token request; the access token.
    async fn token(
        &self,
        code: &str,
        redirect_uri: &str,
        params: AuthorizeParams<'_>,
    ) -> Result<String, OAuthError> {
        let mut request = hyper::http::Request::post(&self.endpoints.token_url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("User-Agent", "authnz");
        // The form is built whole here (its serializer cannot cross an await).
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_verifier", params.pkce_verifier)
                .append_pair("client_id", &self.config.client_id);
            match (&self.config.client_secret, self.config.kind) {
                // GitHub takes the secret in the form.
                (Some(secret), ProviderKind::Github) => {
                    form.append_pair("client_secret", secret);
                }
                // Twitter/X, as OAuth 2.0 says: HTTP Basic.
                (Some(secret), _) => {
                    let basic = STANDARD.encode(format!(
                        "{}:{}",
                        form_urlencoded::byte_serialize(self.config.client_id.as_bytes())
                            .collect::<String>(),
                        form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
                    ));
                    request = request.header("Authorization", format!("Basic {basic}"));
                }
                (None, _) => {}
            }
            form.finish()
        };
        let request = request
            .body(body.into_bytes())
            .map_err(|e| OAuthError::Unavailable(format!("bad token_url: {e}")))?;
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| OAuthError::Unavailable(e.to_string()))?;
        let status = response.status();
        let body: Value = serde_json::from_slice(response.body()).map_err(|_| {
            OAuthError::Unavailable(format!("unreadable token response (status {status})"))
        })?;
        // GitHub answers a refused code with 200 and an `error`.
        if let Some(error) = body.get("error").and_then(Value::as_str) {
            return Err(OAuthError::Refused(format!(
                "the token request was refused: {}",
                printable(error)
            )));
        }
        if !status.is_success() {
            return Err(OAuthError::Unavailable(format!(
                "the token request failed with status {status}"
            )));
        }
        body.get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::Refused("the provider sent no access token".to_owned()))
    }

    /// `GET <api><path>` with the access token, as JSON.
    async fn api(&self, path: &str, access_token: &str) -> Result<Value, OAuthError> {
        let request = hyper::http::Request::get(format!("{}{path}", self.endpoints.api_url))
            .header("Accept", "application/json")
            .header("Authorization", format!("Bearer {access_token}"))
            .header("User-Agent", "authnz")
            .body(Vec::new())
            .map_err(|e| OAuthError::Unavailable(format!("bad api_url: {e}")))?;
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| OAuthError::Unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(OAuthError::Unavailable(format!(
                "{path} answered with status {}",
                response.status()
            )));
        }
        serde_json::from_slice(response.body())
            .map_err(|_| OAuthError::Unavailable(format!("{path} answered unreadable JSON")))
    }

    async fn github_person(&self, access_token: &str) -> Result<ProviderIdentity, OAuthError> {
        let user = self.api("/user", access_token).await?;
        let subject = subject_of(&user["id"])
            .ok_or_else(|| OAuthError::Refused("the user API gave no id".to_owned()))?;
        let emails = self.api("/user/emails", access_token).await?;
        let primary = emails
            .as_array()
            .and_then(|list| list.iter().find(|e| e["primary"] == Value::Bool(true)));
        let (email, email_verified) = match primary {
            Some(e) => (
                e["email"].as_str().map(str::to_owned),
                e["verified"] == Value::Bool(true),
            ),
            None => (None, false),
        };
        Ok(ProviderIdentity {
            subject,
            email,
            email_verified,
        })
    }

    async fn twitter_person(&self, access_token: &str) -> Result<ProviderIdentity, OAuthError> {
        let me = self.api("/2/users/me", access_token).await?;
        let subject = subject_of(&me["data"]["id"])
            .ok_or_else(|| OAuthError::Refused("the user API gave no id".to_owned()))?;
        Ok(ProviderIdentity {
            subject,
            email: None,
            email_verified: false,
        })
    }
}

/// A stable id as text: a JSON number or a non-empty string of at most 255
/// characters.
fn subject_of(id: &Value) -> Option<String> {
    let text = match id {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    (!text.is_empty() && text.chars().count() <= 255).then_some(text)
}

/// A provider's error code, shown only if it is a short plain word.
fn printable(code: &str) -> &str {
    if code.len() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        code
    } else {
        "(unreadable error)"
    }
}
