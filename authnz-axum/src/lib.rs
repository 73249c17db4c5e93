//! Sessions, login and logout, CSRF protection, API keys, roles and
//! permission checks for an [axum] 0.8 site, from an authnz server through
//! [`authnz_client`]: what the original authnzerver's Tornado
//! `BaseHandler` gives a Python frontend.
//!
//! Add [`AuthLayer`] to a router; every request then carries an [`Auth`]
//! (the request's principal and the login/logout helpers) that handlers
//! take as an extractor, or take one of the narrower extractors:
//!
//! - [`CurrentUser`]: whoever calls, maybe the anonymous user;
//! - [`LoggedIn`]: a signed-in user (else 401, or a redirect to the
//!   configured login page);
//! - [`RequireRole`]: a signed-in user with one of the roles of a
//!   [`RoleSet`] (else 403);
//! - [`ApiKeyUser`]: a caller that sent a valid API key as
//!   `Authorization: Bearer` (else 401);
//! - [`CsrfToken`]: the token to put in the site's forms.
//!
//! Per request, the layer:
//!
//! 1. with `Authorization: Bearer <key>`: opens the key (sealed with the
//!    site key when it was issued), checks its issuer and audience and asks
//!    authnz (`apikey-verify` or `apikey-verify-nosession`); an invalid,
//!    expired or revoked key is refused with 401. No cookie, no CSRF check:
//!    a bearer key is not ambient authority.
//! 2. otherwise reads the session cookie and asks authnz
//!    (`session-exists`, optionally through a short in-process cache); when
//!    there is no cookie or the session is gone it creates an anonymous
//!    session (`session-new`) and sets the cookie (HttpOnly, SameSite=Lax,
//!    Secure unless the site is reached over plain HTTP on loopback);
//! 3. on unsafe methods (anything but GET, HEAD, OPTIONS, TRACE) requires
//!    the CSRF token bound to the session, in the `X-CSRF-Token` header or
//!    the `_csrf` field of a URL-encoded form: else 403;
//! 4. with [`AuthConfig::request_limits`], counts the caller's requests
//!    (per session, or per API key) and answers 429 with `Retry-After` over
//!    its role's limit, as the original's `BaseHandler` does;
//! 5. turns a 429 from authnz into a 429 with the same `Retry-After`, and
//!    an unreachable authnz into a 503.
//!
//! [`Auth::login`] rotates the session token (authnz deletes the presented
//! session at every login; a new one is made for the user: no session
//! fixation), [`Auth::logout`] deletes the session and the cookie, and
//! [`Auth::change_password`] leaves only the current session alive. With
//! the cache on, all three drop the affected entries at once.
//!
//! Social login (authnz's `oauthproviders`) takes two routes and two
//! helpers: a start route calls [`Auth::oauth_start`] and redirects the
//! browser to the provider; the callback route (the `redirect_uri`
//! configured at authnz and at the provider) gives the `state` and `code`
//! of its query to [`Auth::oauth_finish`], which logs the user in with the
//! same token rotation as [`Auth::login`]. authnz makes and checks `state`,
//! PKCE and nonce; the site keeps nothing between the two requests.
//! [`Auth::oauth_identities`] and [`Auth::oauth_unlink`] list and unlink
//! the signed-in user's identities.
//!
//! Two-factor logins: for an account with a second factor, [`Auth::login`]
//! (and [`Auth::oauth_finish`]) answer [`AuthError::SecondFactorRequired`]
//! with a ticket and the account's kinds (`totp`, `passkey`, `recovery`);
//! [`Auth::login_second_factor`] ends the login with a TOTP or recovery
//! code, [`Auth::passkey_second_factor_start`] and
//! [`Auth::login_second_factor_passkey`] with a passkey.
//!
//! Passkeys (WebAuthn; authnz's `webauthnorigins` must list the site's
//! origin) take a start and a finish helper per ceremony, with the browser
//! in between: the start helper answers the options for
//! `navigator.credentials.create` or `.get` (webauthn-rs JSON, binary
//! fields in base64url), the finish helper takes the browser's credential
//! in the same encoding. [`Auth::passkey_register_start`] and
//! [`Auth::passkey_register_finish`] add one to the signed-in account,
//! [`Auth::passkeys`] and [`Auth::passkey_delete`] list and delete them,
//! [`Auth::passkey_login_start`] and [`Auth::passkey_login_finish`] log in
//! without a password (rotating the token as [`Auth::login`] does).
//! The page's script posts JSON with the CSRF token in the header:
//!
//! ```no_run
//! use authnz_axum::{Auth, AuthError};
//! use axum::Json;
//! use serde_json::{Value, json};
//!
//! // POST /passkey/login/start: the options for navigator.credentials.get
//! async fn login_start(auth: Auth) -> Result<Json<Value>, AuthError> {
//!     let challenge = auth.passkey_login_start().await?;
//!     Ok(Json(json!({"id": challenge.id.expose(), "options": challenge.options})))
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct Finish {
//!     id: String,
//!     credential: Value,
//! }
//!
//! // POST /passkey/login/finish: signed in, with a new session token
//! async fn login_finish(auth: Auth, Json(f): Json<Finish>) -> Result<Json<Value>, AuthError> {
//!     auth.passkey_login_finish(&f.id.into(), f.credential).await?;
//!     Ok(Json(json!({"redirect": "/account"})))
//! }
//! ```
//!
//! ```no_run
//! use authnz_axum::{Auth, AuthError};
//! use axum::extract::{Path, Query};
//! use axum::response::Redirect;
//!
//! const BASE: &str = "https://example.org";
//!
//! async fn start(auth: Auth, Path(provider): Path<String>) -> Result<Redirect, AuthError> {
//!     let callback = format!("{BASE}/oauth/{provider}/callback");
//!     Ok(Redirect::to(&auth.oauth_start(&provider, &callback).await?))
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct Back {
//!     state: String,
//!     code: String,
//! }
//!
//! async fn callback(
//!     auth: Auth,
//!     Path(provider): Path<String>,
//!     Query(back): Query<Back>,
//! ) -> Result<Redirect, AuthError> {
//!     let callback = format!("{BASE}/oauth/{provider}/callback");
//!     auth.oauth_finish(&provider, &callback, &back.state, &back.code).await?;
//!     Ok(Redirect::to("/account"))
//! }
//! ```

mod auth;
mod config;
mod error;
mod extract;
mod keys;
mod layer;
mod limits;
mod passkeys;

pub use auth::{Access, Auth, IssuedApiKey, OauthIdentities, OauthLogin, User, Via};
pub use authnz_client;
pub use config::{AuthConfig, CookieSecurity};
pub use error::AuthError;
pub use extract::{
    ApiKeyUser, CsrfToken, CurrentUser, LoggedIn, RequireRole, RoleSet, Staff, Superuser,
};
pub use keys::SiteKey;
pub use layer::{AuthLayer, AuthService};
pub use limits::RequestLimits;
pub use passkeys::{ListedPasskey, PasskeyAdded, PasskeyChallenge};
