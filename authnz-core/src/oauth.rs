//! Social login (PROTOCOL.md 3.11) as an interface: the configured OAuth 2.0
//! / OpenID Connect providers. The server implements it over HTTP (feature
//! `oauth`: discovery, the token request, ID-token verification); the
//! actions (`actions/oauth.rs`) only see this trait, so this crate carries
//! no HTTP client. The actions make and check every security parameter
//! (state, PKCE verifier, nonce) and decide which account a person gets;
//! the providers only speak to the provider.

use async_trait::async_trait;

/// What the provider asserts about the person after a successful exchange:
/// from its verified ID token (signature, `iss`, `aud`, `exp`, `nonce`), or
/// for a plain OAuth 2.0 provider (GitHub, Twitter/X) from its user API.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's stable id of the person (OIDC `sub`).
    pub subject: String,
    /// The e-mail address the provider gives, if any.
    pub email: Option<String>,
    /// Whether the provider asserts that e-mail verified (OIDC
    /// `email_verified`); false when it says nothing.
    pub email_verified: bool,
}

impl std::fmt::Debug for ProviderIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderIdentity")
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

/// Why a provider step failed. The text is shown to the caller: it never
/// holds a client secret, a code or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The provider could not be reached, timed out, or answered with
    /// something unusable.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code, or what it sent failed a check (ID
    /// token signature, issuer, audience, expiry, nonce).
    #[error("the provider's answer was refused: {0}")]
    Refused(String),
}

/// The security parameters of one login, made by the action.
#[derive(Clone, Copy)]
pub struct AuthorizeParams<'a> {
    /// The `state` parameter.
    pub state: &'a str,
    /// The OpenID Connect nonce.
    pub nonce: &'a str,
    /// The PKCE code verifier (the provider sends its S256 challenge).
    pub pkce_verifier: &'a str,
}

impl std::fmt::Debug for AuthorizeParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeParams").finish_non_exhaustive()
    }
}

/// The configured providers, by name.
#[async_trait]
pub trait OAuthProviders: Send + Sync + std::fmt::Debug + 'static {
    /// Whether a provider of this name is configured.
    fn has_provider(&self, provider: &str) -> bool;

    /// Whether `redirect_uri` is, exactly, one of the provider's configured
    /// redirect URIs (false for an unknown provider).
    fn redirect_uri_allowed(&self, provider: &str, redirect_uri: &str) -> bool;

    /// The URL to send the browser to: the provider's authorization
    /// endpoint with the client id, `redirect_uri`, the scopes, `state`,
    /// `nonce` and the S256 PKCE challenge. May fetch the provider's
    /// metadata first (bounded in time).
    async fn authorize_url(
        &self,
        provider: &str,
        redirect_uri: &str,
        params: AuthorizeParams<'_>,
    ) -> Result<String, OAuthError>;

    /// Exchange `code` (with the PKCE verifier) at the token endpoint, then
    /// verify the ID token against the provider's keys and `nonce` (OpenID
    /// Connect) or read the person from the user API (GitHub, Twitter/X).
    async fn finish(
        &self,
        provider: &str,
        code: &str,
        redirect_uri: &str,
        params: AuthorizeParams<'_>,
    ) -> Result<ProviderIdentity, OAuthError>;
}
