//! Extractors over the [`Auth`] the layer puts in each request.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::{Auth, User, Via};
use crate::error::AuthError;

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Auth>()
            .cloned()
            .ok_or(AuthError::NotInstalled)
    }
}

/// Whoever calls: a signed-in user, the anonymous user of a fresh session,
/// or the owner of an API key.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Auth::from_request_parts(parts, state).await?.user()))
    }
}

fn not_logged_in(auth: &Auth) -> AuthError {
    AuthError::NotLoggedIn {
        login_path: auth.shared.config.login_path.clone(),
    }
}

/// A signed-in, active user (session or API key); else 401, or 303 to the
/// login page when [`crate::AuthConfig::login_path`] is set.
#[derive(Debug, Clone)]
pub struct LoggedIn(pub User);

impl<S: Send + Sync> FromRequestParts<S> for LoggedIn {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        let user = auth.user();
        if user.is_logged_in() {
            Ok(Self(user))
        } else {
            Err(not_logged_in(&auth))
        }
    }
}

/// The roles a [`RequireRole`] accepts.
pub trait RoleSet: Send + Sync + 'static {
    /// The accepted roles.
    const ROLES: &'static [&'static str];
}

/// Role set: `superuser` only.
#[derive(Debug, Clone, Copy)]
pub struct Superuser;

impl RoleSet for Superuser {
    const ROLES: &'static [&'static str] = &["superuser"];
}

/// Role set: `staff` or `superuser`.
#[derive(Debug, Clone, Copy)]
pub struct Staff;

impl RoleSet for Staff {
    const ROLES: &'static [&'static str] = &["staff", "superuser"];
}

/// A signed-in user with one of the roles of `R` (not signed in: as
/// [`LoggedIn`]; another role: 403). Define a role set with a unit struct
/// implementing [`RoleSet`].
#[derive(Debug, Clone)]
pub struct RequireRole<R: RoleSet>(pub User, pub PhantomData<R>);

impl<S: Send + Sync, R: RoleSet> FromRequestParts<S> for RequireRole<R> {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let LoggedIn(user) = LoggedIn::from_request_parts(parts, state).await?;
        if R::ROLES.contains(&user.role.as_str()) {
            Ok(Self(user, PhantomData))
        } else {
            Err(AuthError::Forbidden)
        }
    }
}

/// A caller that sent a valid API key (`Authorization: Bearer`); without
/// one, 401. (A request with an invalid key never reaches the route: the
/// layer answers 401.)
#[derive(Debug, Clone)]
pub struct ApiKeyUser(pub User);

impl<S: Send + Sync> FromRequestParts<S> for ApiKeyUser {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = Auth::from_request_parts(parts, state).await?.user();
        match user.via {
            Via::ApiKey { .. } => Ok(Self(user)),
            Via::Session => Err(AuthError::InvalidApiKey),
        }
    }
}

/// The session's CSRF token for the site's forms (empty for an API-key
/// caller, which needs none).
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_request_parts(parts, state).await?;
        Ok(Self(auth.csrf_token().unwrap_or_default()))
    }
}
