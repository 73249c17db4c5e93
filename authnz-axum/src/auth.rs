//! The per-request context ([`Auth`]): who is calling, and the helpers
//! that change the session (login, logout, password change) or talk to
//! authnz for the caller (permissions, API keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authnz_client::requests::{
    ApikeyNew, ApikeyNewNosession, ApikeyRevoke, ApikeyRevokeNosession, OauthIdentity,
    SessionExists, SessionNew, UserChangepass, UserCheckAccess, UserLogin, UserLoginSecondFactor,
    UserLogout, UserOauthFinish, UserOauthList, UserOauthStart, UserOauthUnlink, UserTotpConfirm,
    UserTotpDisable, UserTotpEnroll,
};
use authnz_client::types::{ApiKeyClaims, ApiVersion, Subject};
use authnz_client::{Client, Secret};
use authnz_proto::Codec;

use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::keys;

/// How the caller was identified.
#[derive(Debug, Clone, PartialEq)]
pub enum Via {
    /// The session cookie (maybe an anonymous session).
    Session,
    /// An API key in `Authorization: Bearer`.
    ApiKey {
        /// A key tied to a session (`apikey-new`) rather than a no-session
        /// key (`apikey-new-nosession`).
        session_tied: bool,
        /// The key's claims (`Debug` hides its token).
        claims: ApiKeyClaims,
    },
}

/// The caller of a request. `Debug` leaves out the e-mail address.
#[derive(Clone, PartialEq)]
pub struct User {
    /// authnz's user ID (the anonymous user has its own ID).
    pub user_id: i64,
    /// The role: `anonymous`, `authenticated`, `staff`, `superuser`,
    /// `locked`, ...
    pub role: String,
    /// The e-mail address (from the session; `None` for API keys).
    pub email: Option<String>,
    /// The full name (from the session; `None` for API keys).
    pub full_name: Option<String>,
    /// Whether the account is active (`false` for a locked or unverified
    /// account whose session still exists).
    pub active: bool,
    /// Cookie session or API key.
    pub via: Via,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("user_id", &self.user_id)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

impl User {
    /// The anonymous user (a visitor who has not signed in).
    pub fn is_anonymous(&self) -> bool {
        self.role == "anonymous"
    }

    /// A signed-in, active user who is not locked.
    pub fn is_logged_in(&self) -> bool {
        !self.is_anonymous() && self.role != "locked" && self.active
    }
}

/// The item of a permission check ([`Auth::check_access`]), as the
/// policy of authnz sees it.
#[derive(Debug, Clone)]
pub struct Access<'a> {
    /// `create`, `view`, `list`, `edit`, `delete`, ...
    pub action: &'a str,
    /// The kind of item (`dataset`, `collection`, `apikey`, ...).
    pub target_name: &'a str,
    /// The owner's user ID.
    pub target_owner: i64,
    /// `public`, `shared` or `private`.
    pub target_visibility: &'a str,
    /// The user IDs the item is shared with.
    pub target_sharedwith: &'a [i64],
}

/// An API key just issued: give `bearer` to the user (it is shown once;
/// the site cannot show it again unless it stores it).
#[derive(Debug, Clone)]
pub struct IssuedApiKey {
    /// The key to send as `Authorization: Bearer <bearer>`: the claims,
    /// sealed with the site key.
    pub bearer: Secret,
    /// The claims, to revoke the key later ([`Auth::revoke_api_key`]).
    pub claims: ApiKeyClaims,
    /// When it expires (authnz's text).
    pub expires: String,
    /// The refresh token of a no-session key.
    pub refresh_token: Option<Secret>,
}

/// A social login just finished ([`Auth::oauth_finish`]).
#[derive(Debug, Clone)]
pub struct OauthLogin {
    /// The signed-in user (the session is already rotated).
    pub user: User,
    /// This login made the account (authnz had no account for the
    /// identity or its e-mail address).
    pub new_user: bool,
}

/// The identities linked to the signed-in account
/// ([`Auth::oauth_identities`]).
#[derive(Debug, Clone)]
pub struct OauthIdentities {
    /// False for an account made by a social login that has not set a
    /// password yet: its last identity cannot be unlinked.
    pub has_password: bool,
    /// `{provider, subject, created}`, by provider name.
    pub identities: Vec<OauthIdentity>,
}

/// A change of the session cookie to send with the response.
#[derive(Debug, Clone)]
pub(crate) enum CookieOp {
    Set(Secret),
    Clear,
}

/// Cached `session-exists` answers: token -> (when cached, user).
pub(crate) struct Cache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (Instant, User)>>,
}

impl Cache {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, token: &str) -> Option<User> {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(token) {
            Some((at, user)) if at.elapsed() < self.ttl => Some(user.clone()),
            Some(_) => {
                map.remove(token);
                None
            }
            None => None,
        }
    }

    fn put(&self, token: &str, user: &User) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.capacity {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(token.to_owned(), (Instant::now(), user.clone()));
    }

    pub(crate) fn remove_token(&self, token: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(token);
    }

    pub(crate) fn remove_user(&self, user_id: i64) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, u)| u.user_id != user_id);
    }
}

/// What the layer shares between requests.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) config: AuthConfig,
    pub(crate) csrf_key: [u8; 32],
    pub(crate) apikey_codec: Codec,
    pub(crate) cache: Option<Cache>,
    pub(crate) limiter: Option<crate::limits::Limiter>,
}

impl Shared {
    /// The session's user: from the cache, or `session-exists`. `None`
    /// when the session does not exist (or expired).
    pub(crate) async fn lookup(
        &self,
        client: &Client,
        token: &Secret,
    ) -> Result<Option<User>, AuthError> {
        if let Some(cache) = &self.cache
            && let Some(user) = cache.get(token.expose())
        {
            return Ok(Some(user));
        }
        let reply = client
            .session_exists(&SessionExists {
                session_token: token.clone(),
            })
            .await;
        match reply {
            Ok(reply) => {
                let info = reply.session_info;
                let user = User {
                    user_id: info.user_id,
                    role: info.user_role.unwrap_or_else(|| "anonymous".into()),
                    email: info.email,
                    full_name: info.full_name,
                    active: info.is_active.unwrap_or(false),
                    via: Via::Session,
                };
                if let Some(cache) = &self.cache {
                    cache.put(token.expose(), &user);
                }
                Ok(Some(user))
            }
            Err(e) if e.failure().is_some() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A new session (anonymous with `user_id: None`) and its user.
    pub(crate) async fn new_session(
        &self,
        client: &Client,
        user_id: Option<i64>,
        ip: &str,
        user_agent: &str,
    ) -> Result<(Secret, User), AuthError> {
        let expires = chrono::Utc::now().naive_utc()
            + chrono::Duration::days(i64::from(self.config.session_days));
        let reply = client
            .session_new(&SessionNew {
                ip_address: ip.to_owned(),
                user_agent: user_agent.to_owned(),
                user_id,
                expires: expires.format("%Y-%m-%dT%H:%M:%S").to_string(),
                extra_info_json: None,
            })
            .await?;
        let token = reply.session_token;
        match self.lookup(client, &token).await? {
            Some(user) => Ok((token, user)),
            None => Err(AuthError::Unavailable(authnz_client::Error::Protocol(
                "a session just created does not exist".into(),
            ))),
        }
    }
}

pub(crate) struct State {
    pub(crate) user: User,
    pub(crate) token: Option<Secret>,
    pub(crate) cookie: Option<CookieOp>,
    pub(crate) ip: String,
    pub(crate) user_agent: String,
}

/// The authentication context of one request, put there by
/// [`crate::AuthLayer`]; an extractor. Clones share the request's state.
#[derive(Clone)]
pub struct Auth {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: Client,
    pub(crate) state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("user", &self.user())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The caller (maybe anonymous).
    pub fn user(&self) -> User {
        self.lock().user.clone()
    }

    /// The session token of a cookie session (`None` for an API key).
    pub fn session_token(&self) -> Option<Secret> {
        self.lock().token.clone()
    }

    /// The CSRF token to put in this session's forms (field
    /// [`AuthConfig::csrf_field`]) or `fetch` calls (header
    /// [`AuthConfig::csrf_header`]); `None` for an API-key caller. It
    /// changes when the session does (at login and logout).
    pub fn csrf_token(&self) -> Option<String> {
        let token = self.session_token()?;
        Some(keys::csrf_token(&self.shared.csrf_key, token.expose()))
    }

    /// The name of the CSRF form field.
    pub fn csrf_field(&self) -> &str {
        &self.shared.config.csrf_field
    }

    /// The authnz client, sending the end user's address as
    /// `client_ipaddr`, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The end user's address.
    pub fn client_ip(&self) -> String {
        self.lock().ip.clone()
    }

    pub(crate) fn require_session(&self) -> Result<(Secret, User), AuthError> {
        let state = self.lock();
        match &state.token {
            Some(t) => Ok((t.clone(), state.user.clone())),
            None => Err(AuthError::Forbidden),
        }
    }

    pub(crate) fn set_session(&self, token: Secret, user: User) {
        let mut state = self.lock();
        state.token = Some(token.clone());
        state.user = user;
        state.cookie = Some(CookieOp::Set(token));
    }

    /// Sign in with an e-mail address and password. authnz deletes the
    /// current session whatever the outcome; on success a new session is
    /// made for the user and its cookie sent (the token rotates: no session
    /// fixation), on failure a new anonymous one, and the refusal is
    /// returned ([`AuthError::Refused`] with the messages for the user).
    /// For an account with a second factor the right password answers
    /// [`AuthError::SecondFactorRequired`]: the session stays (the ticket
    /// is bound to it) and [`Auth::login_second_factor`] ends the login.
    pub async fn login(&self, email: &str, password: &str) -> Result<User, AuthError> {
        let (old, _) = self.require_session()?;
        if let Some(cache) = &self.shared.cache {
            cache.remove_token(old.expose());
        }
        let (ip, ua) = {
            let s = self.lock();
            (s.ip.clone(), s.user_agent.clone())
        };
        let outcome = self
            .client
            .user_login(&UserLogin {
                session_token: old,
                email: email.to_owned(),
                password: password.into(),
            })
            .await;
        match outcome {
            Ok(reply) => {
                let (token, user) = self
                    .shared
                    .new_session(&self.client, Some(reply.user_id), &ip, &ua)
                    .await?;
                self.set_session(token, user.clone());
                Ok(user)
            }
            Err(e) => {
                let err = AuthError::from(e);
                // SecondFactorRequired: the session lives on, bound to the
                // ticket; any other refusal consumed it.
                if matches!(err, AuthError::Refused { .. }) {
                    let (token, user) = self
                        .shared
                        .new_session(&self.client, None, &ip, &ua)
                        .await?;
                    self.set_session(token, user);
                }
                Err(err)
            }
        }
    }

    /// The second step of a login that answered
    /// [`AuthError::SecondFactorRequired`] (`user-login-second-factor`), in
    /// the same session: `code` is a 6-digit TOTP code or a recovery code.
    /// On success the token rotates as in [`Auth::login`]; on a refusal
    /// (wrong code, expired or foreign ticket) the session stays as it was
    /// and [`AuthError::Refused`] carries the messages for the user (the
    /// ticket may be tried again while it lives). With a passkey instead:
    /// [`Auth::login_second_factor_passkey`].
    pub async fn login_second_factor(
        &self,
        ticket: &Secret,
        code: &str,
    ) -> Result<User, AuthError> {
        let code = code.trim();
        let is_totp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        self.finish_second_factor(UserLoginSecondFactor {
            login_ticket: ticket.clone(),
            totp_code: is_totp.then(|| code.into()),
            recovery_code: (!is_totp).then(|| code.into()),
            ..Default::default()
        })
        .await
    }

    /// `user-login-second-factor` in this session with the factor filled
    /// in `request` (its `session_token` is set here); on success the
    /// token rotates as in [`Auth::login`], on a refusal the session stays.
    pub(crate) async fn finish_second_factor(
        &self,
        mut request: UserLoginSecondFactor,
    ) -> Result<User, AuthError> {
        let (old, _) = self.require_session()?;
        let (ip, ua) = {
            let s = self.lock();
            (s.ip.clone(), s.user_agent.clone())
        };
        request.session_token = old.clone();
        let reply = self.client.user_login_second_factor(&request).await?;
        if let Some(cache) = &self.shared.cache {
            cache.remove_token(old.expose());
        }
        let (token, user) = self
            .shared
            .new_session(&self.client, Some(reply.user_id), &ip, &ua)
            .await?;
        self.set_session(token, user.clone());
        Ok(user)
    }

    /// Start enrolling a TOTP authenticator for the signed-in user
    /// (`user-totp-enroll`, needs the password): the secret in base32 and
    /// the `otpauth://` URI (for a QR code). Not active until
    /// [`Auth::totp_confirm`].
    pub async fn totp_enroll(&self, password: &str) -> Result<(Secret, Secret), AuthError> {
        let user = self.logged_in()?;
        let reply = self
            .client
            .user_totp_enroll(&UserTotpEnroll {
                user_id: user.user_id,
                password: password.into(),
            })
            .await?;
        Ok((reply.secret_base32, reply.otpauth_uri))
    }

    /// Enable the pending authenticator with a first code
    /// (`user-totp-confirm`): the recovery codes, to show once. The user's
    /// other sessions end; the cache drops them.
    pub async fn totp_confirm(&self, code: &str) -> Result<Vec<Secret>, AuthError> {
        let (token, _) = self.require_session()?;
        let user_id = self.logged_in()?.user_id;
        let reply = self
            .client
            .user_totp_confirm(&UserTotpConfirm {
                user_id,
                totp_code: code.trim().into(),
                session_token: Some(token),
            })
            .await;
        if let Some(cache) = &self.shared.cache {
            cache.remove_user(user_id);
        }
        Ok(reply?.recovery_codes)
    }

    /// Disable TOTP (`user-totp-disable`, password and a current code):
    /// the authenticator and recovery codes are removed. The user's other
    /// sessions end; the cache drops them.
    pub async fn totp_disable(&self, password: &str, code: &str) -> Result<(), AuthError> {
        let (token, _) = self.require_session()?;
        let user_id = self.logged_in()?.user_id;
        let reply = self
            .client
            .user_totp_disable(&UserTotpDisable {
                user_id,
                password: password.into(),
                totp_code: code.trim().into(),
                session_token: Some(token),
            })
            .await;
        if let Some(cache) = &self.shared.cache {
            cache.remove_user(user_id);
        }
        reply?;
        Ok(())
    }

    /// Begin a social login at `provider` (a name from authnz's
    /// `oauthproviders`) in the caller's session (`user-oauth-start`):
    /// answers the provider's authorization URL to redirect the browser to.
    /// `redirect_uri` is the site's callback URL for this provider, exactly
    /// as configured at authnz and at the provider; the provider sends the
    /// browser back there with `code` and `state`, which go to
    /// [`Auth::oauth_finish`]. authnz keeps the `state`, PKCE verifier and
    /// nonce (bound to this session, for ten minutes): the site stores
    /// nothing.
    pub async fn oauth_start(
        &self,
        provider: &str,
        redirect_uri: &str,
    ) -> Result<String, AuthError> {
        let (token, _) = self.require_session()?;
        let reply = self
            .client
            .user_oauth_start(&UserOauthStart {
                provider: provider.to_owned(),
                session_token: token,
                redirect_uri: redirect_uri.to_owned(),
            })
            .await?;
        Ok(reply.authorize_url)
    }

    /// End a social login with the `state` and `code` of the provider's
    /// redirect back (`user-oauth-finish`, same `provider` and
    /// `redirect_uri` as [`Auth::oauth_start`], same session). On success
    /// authnz has consumed the session: as in [`Auth::login`] a new one is
    /// made for the user and its cookie sent (the token rotates). On a
    /// refusal (unknown, reused, expired or foreign `state`, the provider
    /// refused the code, a locked account, ...) the session stays as it
    /// was and [`AuthError::Refused`] carries the messages for the user. For
    /// an account with a second factor: [`AuthError::SecondFactorRequired`]
    /// (the session stays), ended by [`Auth::login_second_factor`].
    pub async fn oauth_finish(
        &self,
        provider: &str,
        redirect_uri: &str,
        state: &str,
        code: &str,
    ) -> Result<OauthLogin, AuthError> {
        let (old, _) = self.require_session()?;
        let (ip, ua) = {
            let s = self.lock();
            (s.ip.clone(), s.user_agent.clone())
        };
        let reply = self
            .client
            .user_oauth_finish(&UserOauthFinish {
                provider: provider.to_owned(),
                session_token: old.clone(),
                state: state.into(),
                code: code.into(),
                redirect_uri: redirect_uri.to_owned(),
            })
            .await?;
        if let Some(cache) = &self.shared.cache {
            cache.remove_token(old.expose());
        }
        let (token, user) = self
            .shared
            .new_session(&self.client, Some(reply.user_id), &ip, &ua)
            .await?;
        self.set_session(token, user.clone());
        Ok(OauthLogin {
            user,
            new_user: reply.new_user,
        })
    }

    /// The identities linked to the signed-in user's account
    /// (`user-oauth-list`).
    pub async fn oauth_identities(&self) -> Result<OauthIdentities, AuthError> {
        let user = self.logged_in()?;
        let reply = self
            .client
            .user_oauth_list(&UserOauthList {
                user_id: user.user_id,
            })
            .await?;
        Ok(OauthIdentities {
            has_password: reply.has_password,
            identities: reply.identities,
        })
    }

    /// Unlink the signed-in user's identity at `provider`
    /// (`user-oauth-unlink`). Refused ([`AuthError::Refused`]) when there
    /// is none, or when it is the account's only way to log in.
    pub async fn oauth_unlink(&self, provider: &str) -> Result<(), AuthError> {
        let user = self.logged_in()?;
        self.client
            .user_oauth_unlink(&UserOauthUnlink {
                user_id: user.user_id,
                provider: provider.to_owned(),
            })
            .await?;
        Ok(())
    }

    pub(crate) fn logged_in(&self) -> Result<User, AuthError> {
        let user = self.user();
        if user.is_logged_in() {
            Ok(user)
        } else {
            Err(AuthError::NotLoggedIn {
                login_path: self.shared.config.login_path.clone(),
            })
        }
    }

    /// Sign out: delete the session at authnz (and its session-tied API
    /// keys), drop it from the cache and delete the cookie. The next
    /// request gets a new anonymous session.
    pub async fn logout(&self) -> Result<(), AuthError> {
        let (token, user) = self.require_session()?;
        if let Some(cache) = &self.shared.cache {
            cache.remove_token(token.expose());
        }
        let result = if user.is_anonymous() {
            self.client
                .session_delete(&authnz_client::requests::SessionDelete {
                    session_token: token,
                })
                .await
                .map(|_| ())
        } else {
            self.client
                .user_logout(&UserLogout {
                    session_token: token,
                    user_id: user.user_id,
                })
                .await
                .map(|_| ())
        };
        // Whatever authnz said (a session already gone is fine), the
        // browser forgets the token.
        {
            let mut state = self.lock();
            state.token = None;
            state.cookie = Some(CookieOp::Clear);
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) if e.failure().is_some() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Change the signed-in user's password. authnz deletes every other
    /// session of the user (this one survives); the cache drops them all.
    /// Returns authnz's messages for the user.
    pub async fn change_password(
        &self,
        current_password: &str,
        new_password: &str,
    ) -> Result<Vec<String>, AuthError> {
        let (token, user) = self.require_session()?;
        if !user.is_logged_in() {
            return Err(AuthError::NotLoggedIn {
                login_path: self.shared.config.login_path.clone(),
            });
        }
        let reply = self
            .client
            .user_changepass(&UserChangepass {
                user_id: user.user_id,
                session_token: token,
                full_name: user.full_name.clone().unwrap_or_default(),
                email: user.email.clone().unwrap_or_default(),
                current_password: current_password.into(),
                new_password: new_password.into(),
            })
            .await;
        if let Some(cache) = &self.shared.cache {
            cache.remove_user(user.user_id);
        }
        Ok(reply?.messages)
    }

    /// Drop every cached session of a user (after a change made outside
    /// the helpers, e.g. an admin locking the account). No-op without the
    /// cache.
    pub fn invalidate_user(&self, user_id: i64) {
        if let Some(cache) = &self.shared.cache {
            cache.remove_user(user_id);
        }
    }

    /// May the caller do `access.action` on the item? `user-check-access`
    /// with the caller's ID and role: `Ok(false)` when the policy says no.
    pub async fn check_access(&self, access: &Access<'_>) -> Result<bool, AuthError> {
        let user = self.user();
        let shared = access
            .target_sharedwith
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let reply = self
            .client
            .user_check_access(&UserCheckAccess {
                user_id: user.user_id,
                user_role: user.role.clone(),
                action: access.action.to_owned(),
                target_name: access.target_name.to_owned(),
                target_owner: access.target_owner,
                target_visibility: access.target_visibility.to_owned(),
                target_sharedwith: shared,
            })
            .await;
        match reply {
            Ok(_) => Ok(true),
            Err(e) if e.failure().is_some() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// [`Auth::check_access`], refusing with [`AuthError::Forbidden`]
    /// (403) when the policy says no.
    pub async fn require_access(&self, access: &Access<'_>) -> Result<(), AuthError> {
        if self.check_access(access).await? {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }

    fn seal(&self, apikey: &Secret) -> Result<(Secret, ApiKeyClaims), AuthError> {
        let claims = ApiKeyClaims::from_apikey(apikey).map_err(AuthError::Unavailable)?;
        let bearer = self
            .shared
            .apikey_codec
            .seal_bytes(apikey.expose().as_bytes());
        Ok((Secret::new(bearer), claims))
    }

    /// Issue an API key tied to this session (`apikey-new`): it dies with
    /// the session (logout) or after `expires_days`.
    pub async fn new_api_key(&self, expires_days: i64) -> Result<IssuedApiKey, AuthError> {
        let (token, user) = self.require_session()?;
        let (ip, ua) = {
            let s = self.lock();
            (s.ip.clone(), s.user_agent.clone())
        };
        let reply = self
            .client
            .apikey_new(&ApikeyNew {
                issuer: self.shared.config.apikey_issuer.clone(),
                audience: self.shared.config.apikey_audience.clone(),
                subject: Subject::One("api".into()),
                apiversion: ApiVersion::Int(1),
                expires_days,
                not_valid_before: 0.0,
                user_id: user.user_id,
                user_role: user.role,
                ip_address: ip,
                user_agent: ua,
                session_token: token,
            })
            .await?;
        let (bearer, claims) = self.seal(&reply.apikey)?;
        Ok(IssuedApiKey {
            bearer,
            claims,
            expires: reply.expires,
            refresh_token: None,
        })
    }

    /// Issue a no-session API key (`apikey-new-nosession`) for the
    /// signed-in user: it survives logout and lasts `expires_seconds`.
    pub async fn new_api_key_nosession(
        &self,
        expires_seconds: i64,
    ) -> Result<IssuedApiKey, AuthError> {
        let user = self.user();
        let ip = self.client_ip();
        let reply = self
            .client
            .apikey_new_nosession(&ApikeyNewNosession {
                issuer: self.shared.config.apikey_issuer.clone(),
                audience: self.shared.config.apikey_audience.clone(),
                subject: Subject::One("api".into()),
                apiversion: ApiVersion::Int(1),
                expires_seconds,
                not_valid_before: 0.0,
                user_id: user.user_id,
                user_role: user.role,
                ip_address: ip,
                refresh_expires: expires_seconds,
                refresh_nbf: 0.0,
            })
            .await?;
        let (bearer, claims) = self.seal(&reply.apikey)?;
        Ok(IssuedApiKey {
            bearer,
            claims,
            expires: reply.expires,
            refresh_token: Some(reply.refresh_token),
        })
    }

    /// Revoke an API key of the caller (either kind). `Ok(false)` when
    /// authnz revoked nothing (already revoked, not the caller's).
    pub async fn revoke_api_key(&self, claims: &ApiKeyClaims) -> Result<bool, AuthError> {
        let user = self.user();
        let reply = if claims.0.contains_key("usa") {
            self.client
                .apikey_revoke(&ApikeyRevoke {
                    apikey_dict: claims.clone(),
                    user_id: user.user_id,
                    user_role: user.role,
                })
                .await
        } else {
            self.client
                .apikey_revoke_nosession(&ApikeyRevokeNosession {
                    apikey_dict: claims.clone(),
                    user_id: user.user_id,
                    user_role: user.role,
                })
                .await
        };
        match reply {
            Ok(_) => Ok(true),
            Err(e) if e.failure().is_some() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
