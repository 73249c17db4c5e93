//! Passkeys (WebAuthn) for the signed-in user and for logging in: the
//! helpers of [`Auth`] over authnz's `user-passkey-*` requests.
//!
//! Every ceremony has two steps with the browser in between: a start
//! helper answers the options to hand to `navigator.credentials.create`
//! (registration) or `navigator.credentials.get` (login), as webauthn-rs
//! serialises them (`{"publicKey": {...}}`, binary fields in base64url),
//! and a finish helper takes the browser's credential in the same
//! encoding. authnz keeps the challenge (single use, five minutes); the
//! site only carries the ceremony's id ([`PasskeyChallenge::id`]) from one
//! step to the other.
//!
//! - Adding a passkey: [`Auth::passkey_register_start`] (needs the
//!   password) and [`Auth::passkey_register_finish`].
//! - Managing them: [`Auth::passkeys`] and [`Auth::passkey_delete`].
//! - Passwordless login: [`Auth::passkey_login_start`] and
//!   [`Auth::passkey_login_finish`], which rotates the session token as
//!   [`Auth::login`] does.
//! - A passkey as the second factor of a password (or social) login that
//!   answered [`AuthError::SecondFactorRequired`] with `passkey` among its
//!   kinds: [`Auth::passkey_second_factor_start`] and
//!   [`Auth::login_second_factor_passkey`].

use authnz_client::Secret;
use authnz_client::requests::{
    UserLoginSecondFactor, UserPasskeyDelete, UserPasskeyList, UserPasskeyLoginFinish,
    UserPasskeyLoginStart, UserPasskeyRegisterFinish, UserPasskeyRegisterStart,
    UserPasskeySecondFactorStart,
};
use serde_json::Value;

use crate::auth::{Auth, User};
use crate::error::AuthError;

pub use authnz_client::requests::ListedPasskey;

/// A WebAuthn ceremony started at authnz: the options for the browser and
/// the id that finishes it. `Debug` hides both (the options carry the
/// challenge).
#[derive(Clone)]
pub struct PasskeyChallenge {
    /// The ceremony's id (a registration or login id: single use, five
    /// minutes): give it back to the finish helper.
    pub id: Secret,
    /// `{"publicKey": {...}}` for `navigator.credentials.create` or
    /// `.get`, binary fields in base64url.
    pub options: Value,
}

impl std::fmt::Debug for PasskeyChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyChallenge")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A passkey just added ([`Auth::passkey_register_finish`]).
#[derive(Debug, Clone)]
pub struct PasskeyAdded {
    /// authnz's id of the passkey (for [`Auth::passkey_delete`]).
    pub passkey_id: i64,
    /// Its name.
    pub name: String,
    /// The recovery codes, to show once: only when this passkey is the
    /// account's first second factor (no unused recovery codes before).
    pub recovery_codes: Option<Vec<Secret>>,
}

impl Auth {
    /// Start adding a passkey to the signed-in user's account
    /// (`user-passkey-register-start`, needs the password: a wrong one
    /// counts toward the account's back-off). `name` labels the passkey in
    /// lists (authnz picks one when `None`). Hand
    /// [`PasskeyChallenge::options`] to `navigator.credentials.create`.
    pub async fn passkey_register_start(
        &self,
        password: &str,
        name: Option<&str>,
    ) -> Result<PasskeyChallenge, AuthError> {
        let user = self.logged_in()?;
        let reply = self
            .client
            .user_passkey_register_start(&UserPasskeyRegisterStart {
                user_id: user.user_id,
                password: password.into(),
                name: name.map(str::to_owned),
            })
            .await?;
        Ok(PasskeyChallenge {
            id: reply.registration_id,
            options: reply.options,
        })
    }

    /// Finish adding a passkey (`user-passkey-register-finish`) with the
    /// id of [`Auth::passkey_register_start`] and the browser's credential
    /// (`RegisterPublicKeyCredential` JSON). The user's other sessions end
    /// (this one stays); the cache drops them.
    pub async fn passkey_register_finish(
        &self,
        registration_id: &Secret,
        credential: Value,
        name: Option<&str>,
    ) -> Result<PasskeyAdded, AuthError> {
        let (token, _) = self.require_session()?;
        let user_id = self.logged_in()?.user_id;
        let reply = self
            .client
            .user_passkey_register_finish(&UserPasskeyRegisterFinish {
                user_id,
                registration_id: registration_id.clone(),
                credential,
                name: name.map(str::to_owned),
                session_token: Some(token),
            })
            .await;
        if let Some(cache) = &self.shared.cache {
            cache.remove_user(user_id);
        }
        let reply = reply?;
        Ok(PasskeyAdded {
            passkey_id: reply.passkey_id,
            name: reply.name,
            recovery_codes: reply.recovery_codes,
        })
    }

    /// The signed-in user's passkeys (`user-passkey-list`): id, name,
    /// created and last used (ISO 8601 UTC).
    pub async fn passkeys(&self) -> Result<Vec<ListedPasskey>, AuthError> {
        let user = self.logged_in()?;
        let reply = self
            .client
            .user_passkey_list(&UserPasskeyList {
                user_id: user.user_id,
            })
            .await?;
        Ok(reply.passkeys)
    }

    /// Delete one of the signed-in user's passkeys (`user-passkey-delete`,
    /// needs the password). The user's other sessions end (this one
    /// stays); the cache drops them. Deleting the last second factor also
    /// deletes the recovery codes.
    pub async fn passkey_delete(&self, password: &str, passkey_id: i64) -> Result<(), AuthError> {
        let (token, _) = self.require_session()?;
        let user_id = self.logged_in()?.user_id;
        let reply = self
            .client
            .user_passkey_delete(&UserPasskeyDelete {
                user_id,
                password: password.into(),
                passkey_id,
                session_token: Some(token),
            })
            .await;
        if let Some(cache) = &self.shared.cache {
            cache.remove_user(user_id);
        }
        reply?;
        Ok(())
    }

    /// Start a passwordless login in this session
    /// (`user-passkey-login-start`): the options ask for any passkey of
    /// this site (discoverable credentials), for `navigator.credentials.get`.
    pub async fn passkey_login_start(&self) -> Result<PasskeyChallenge, AuthError> {
        let (token, _) = self.require_session()?;
        let reply = self
            .client
            .user_passkey_login_start(&UserPasskeyLoginStart {
                session_token: token,
            })
            .await?;
        Ok(PasskeyChallenge {
            id: reply.login_id,
            options: reply.options,
        })
    }

    /// Finish a passwordless login (`user-passkey-login-finish`, same
    /// session as [`Auth::passkey_login_start`]) with the browser's
    /// assertion (`PublicKeyCredential` JSON). On success authnz has
    /// consumed the session: as in [`Auth::login`] a new one is made for
    /// the user and its cookie sent (the token rotates: no session
    /// fixation). On a refusal (unknown passkey, failed verification,
    /// used or expired login id, inactive account) the refusal is returned
    /// as [`AuthError::Refused`]; the session stays if authnz kept it, else
    /// a new anonymous one replaces it.
    pub async fn passkey_login_finish(
        &self,
        login_id: &Secret,
        credential: Value,
    ) -> Result<User, AuthError> {
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
            .user_passkey_login_finish(&UserPasskeyLoginFinish {
                session_token: old.clone(),
                login_id: login_id.clone(),
                credential,
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
                if matches!(err, AuthError::Refused { .. })
                    && self.shared.lookup(&self.client, &old).await?.is_none()
                {
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

    /// The options of a passkey as the second factor of a login that
    /// answered [`AuthError::SecondFactorRequired`] with `passkey` among its
    /// kinds (`user-passkey-second-factor-start`, same session): they allow
    /// the account's passkeys only. Finish with
    /// [`Auth::login_second_factor_passkey`] and the same ticket.
    pub async fn passkey_second_factor_start(&self, ticket: &Secret) -> Result<Value, AuthError> {
        let (token, _) = self.require_session()?;
        let reply = self
            .client
            .user_passkey_second_factor_start(&UserPasskeySecondFactorStart {
                session_token: token,
                login_ticket: ticket.clone(),
            })
            .await?;
        Ok(reply.options)
    }

    /// The second step of a login with a passkey
    /// (`user-login-second-factor` with `passkey_response`, the browser's
    /// assertion for the options of [`Auth::passkey_second_factor_start`]).
    /// As [`Auth::login_second_factor`]: on success the token rotates, on a
    /// refusal the session stays and the ticket may be tried again while it
    /// lives.
    pub async fn login_second_factor_passkey(
        &self,
        ticket: &Secret,
        credential: Value,
    ) -> Result<User, AuthError> {
        self.finish_second_factor(UserLoginSecondFactor {
            login_ticket: ticket.clone(),
            passkey_response: Some(credential),
            ..Default::default()
        })
        .await
    }
}
