//! Social login (not upstream): the identities a user has at OAuth 2.0 /
//! OpenID Connect providers, and the short-lived state of a login in
//! progress (`user-oauth-start` to `user-oauth-finish`).
//!
//! An identity is the pair (provider name, the provider's stable subject
//! id), linked to one local user; a user has at most one identity per
//! provider. A login state is made by `user-oauth-start`, bound to one
//! session and one provider, and used at most once.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;
use crate::types::UserId;

/// The `password` of an account made by a social login: no Argon2 hash, so
/// no password matches it (password login and `user-changepass` fail) until
/// a password reset stores a real one.
pub const NO_PASSWORD: &str = "!no-password";

/// One linked identity: a row of `oauth_identities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthIdentity {
    /// The configured provider's name, at most 100 characters.
    pub provider: String,
    /// The provider's stable id of the person (OIDC `sub`), at most 255
    /// characters.
    pub subject: String,
    /// The local account.
    pub user_id: UserId,
    /// When it was linked.
    pub created: NaiveDateTime,
}

/// A login in progress: a row of `oauth_states`. Its secrets (the PKCE
/// verifier, the nonce) never leave the server.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// The `state` parameter sent to the provider (unique, at most 64
    /// characters).
    pub state: String,
    /// The provider it was started for.
    pub provider: String,
    /// The session it was started in.
    pub session_token: String,
    /// The PKCE code verifier (at most 128 characters).
    pub pkce_verifier: String,
    /// The OpenID Connect nonce (at most 128 characters).
    pub nonce: String,
    /// The redirect URI the provider was given.
    pub redirect_uri: String,
    /// When it stops being accepted.
    pub expires: NaiveDateTime,
}

impl std::fmt::Debug for OAuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthState")
            .field("provider", &self.provider)
            .field("redirect_uri", &self.redirect_uri)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

/// The identities and login states: the tables `oauth_identities` and
/// `oauth_states`.
#[async_trait]
pub trait OAuthStore: Send + Sync + std::fmt::Debug + 'static {
    /// Store a new login state, every field as given.
    ///
    /// Errors: [`StoreError::Conflict`] if a state with this `state` value
    /// is already stored (nothing is written).
    async fn add_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Remove the login state `state` and return it, expired or not: only
    /// one of several concurrent calls for the same state gets it, the
    /// others (and every later call) get `None`.
    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError>;

    /// Remove every login state that expired before `before`; returns how
    /// many.
    async fn delete_oauth_states_expired_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError>;

    /// Link an identity to its user.
    ///
    /// Errors: [`StoreError::Conflict`] if this (provider, subject) is
    /// already linked, or the user already has an identity at this provider
    /// (nothing is written); [`StoreError::InvalidReference`] if the user
    /// does not exist.
    async fn add_oauth_identity(&self, identity: &OAuthIdentity) -> Result<(), StoreError>;

    /// The identity (provider, subject), if linked.
    async fn oauth_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<OAuthIdentity>, StoreError>;

    /// Every identity of `user_id`, by provider name (byte order); empty
    /// when none. Deleting the user removes them.
    async fn user_oauth_identities(
        &self,
        user_id: UserId,
    ) -> Result<Vec<OAuthIdentity>, StoreError>;

    /// Unlink the identity of `user_id` at `provider`; returns how many were
    /// removed (0 or 1).
    async fn delete_oauth_identity(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> Result<u64, StoreError>;
}
