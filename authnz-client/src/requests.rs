//! One struct per request type with exactly its wire arguments
//! (docs/PROTOCOL.md §3; the schemas of `authnz_proto::request`), one
//! struct per success reply, and the typed method of [`Client`] for each.
//!
//! Secrets (passwords, session tokens, API keys, refresh tokens) are
//! [`Secret`]s, so every struct here derives `Debug` without leaking them.
//! Optional arguments are `Option`s left out of the body when `None`.

use authnz_proto::RequestType;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::Error;
use crate::secret::Secret;
use crate::types::{
    ApiKeyClaims, ApiVersion, ListedSession, SessionInfo, SessionRecord, Subject, UserInfo,
};

/// A typed request: its wire arguments (serialised as `body`), its request
/// type and the type of its success reply.
pub trait Request: Serialize {
    /// The request type.
    const TYPE: RequestType;
    /// The result object of a successful reply.
    type Reply: DeserializeOwned;
}

// ---------------------------------------------------------------- requests

/// `session-new`: create a session (anonymous with `user_id: None`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionNew {
    pub ip_address: String,
    pub user_agent: String,
    pub user_id: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]`, naive UTC.
    pub expires: String,
    pub extra_info_json: Option<Map<String, Value>>,
}

/// `session-exists`: look up an active session.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionExists {
    pub session_token: Secret,
}

/// `session-delete`: delete one session.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionDelete {
    pub session_token: Secret,
}

/// `session-delete-userid`: delete all sessions of a user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionDeleteUserid {
    pub session_token: Secret,
    pub user_id: i64,
    pub keep_current_session: bool,
}

/// `session-jwt-issue` (not in the original): a short-lived signed token
/// (JWT) for the session's user, for downstream services.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionJwtIssue {
    pub session_token: Secret,
    /// The service the token is for (the `aud` claim).
    pub audience: String,
    /// The lifetime asked for; the server cuts it to `jwtmaxexpiry`.
    pub expires_seconds: i64,
}

/// `user-login`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserLogin {
    pub session_token: Secret,
    pub email: String,
    pub password: Secret,
}

/// `user-login-second-factor`: the second step of a login whose
/// `user-login` answered that a second factor is required (see
/// [`Failure::second_factor`](crate::Failure::second_factor)). Give exactly
/// one of `totp_code`, `recovery_code` and `passkey_response` (the
/// browser's assertion for the options of
/// [`UserPasskeySecondFactorStart`]); the success reply is `user-login`'s.
#[derive(Clone, Default, Serialize)]
pub struct UserLoginSecondFactor {
    pub session_token: Secret,
    pub login_ticket: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_code: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<Secret>,
    /// The `PublicKeyCredential` of `navigator.credentials.get()`, its
    /// binary fields base64url (as webauthn-rs serialises it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey_response: Option<Value>,
}

impl std::fmt::Debug for UserLoginSecondFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLoginSecondFactor")
            .field("session_token", &self.session_token)
            .field("login_ticket", &self.login_ticket)
            .field("totp_code", &self.totp_code)
            .field("recovery_code", &self.recovery_code)
            .field(
                "passkey_response",
                &self.passkey_response.as_ref().map(|_| Redacted),
            )
            .finish()
    }
}

/// Shown in `Debug` output in place of WebAuthn JSON (credentials and
/// options carry challenges and signatures).
struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `user-passkey-register-start` (not in the original): start registering
/// a passkey; the reply's `options` go to `navigator.credentials.create()`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPasskeyRegisterStart {
    pub user_id: i64,
    pub password: Secret,
    /// A name for the passkey (shown in the list); the server picks one
    /// when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `user-passkey-register-finish` (not in the original): store the passkey
/// the browser created. The user's sessions end, except `session_token`
/// when given.
#[derive(Clone, Default, Serialize)]
pub struct UserPasskeyRegisterFinish {
    pub user_id: i64,
    /// The `registration_id` of the start reply (single use, 5 minutes).
    pub registration_id: Secret,
    /// The `RegisterPublicKeyCredential` of `navigator.credentials.create()`,
    /// its binary fields base64url.
    pub credential: Value,
    /// A name for the passkey; wins over the one given at the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for UserPasskeyRegisterFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPasskeyRegisterFinish")
            .field("user_id", &self.user_id)
            .field("registration_id", &self.registration_id)
            .field("credential", &Redacted)
            .field("name", &self.name)
            .field("session_token", &self.session_token)
            .finish()
    }
}

/// `user-passkey-login-start` (not in the original): start a passwordless
/// login; the reply's `options` go to `navigator.credentials.get()`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPasskeyLoginStart {
    pub session_token: Secret,
}

/// `user-passkey-login-finish` (not in the original): log in with the
/// browser's assertion; the success reply is `user-login`'s.
#[derive(Clone, Default, Serialize)]
pub struct UserPasskeyLoginFinish {
    pub session_token: Secret,
    /// The `login_id` of the start reply (single use, 5 minutes).
    pub login_id: Secret,
    /// The `PublicKeyCredential` of `navigator.credentials.get()`, its
    /// binary fields base64url.
    pub credential: Value,
}

impl std::fmt::Debug for UserPasskeyLoginFinish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPasskeyLoginFinish")
            .field("session_token", &self.session_token)
            .field("login_id", &self.login_id)
            .field("credential", &Redacted)
            .finish()
    }
}

/// `user-passkey-list` (not in the original): the passkeys of a user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPasskeyList {
    pub user_id: i64,
}

/// `user-passkey-delete` (not in the original): remove one passkey. The
/// user's sessions end, except `session_token` when given.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPasskeyDelete {
    pub user_id: i64,
    pub password: Secret,
    pub passkey_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
}

/// `user-passkey-second-factor-start` (not in the original): the options
/// for `navigator.credentials.get()` when the second step of a login is
/// answered with a passkey (then [`UserLoginSecondFactor`] with
/// `passkey_response`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPasskeySecondFactorStart {
    pub session_token: Secret,
    pub login_ticket: Secret,
}

/// `user-totp-enroll`: start enrolling a TOTP authenticator (pending until
/// confirmed).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserTotpEnroll {
    pub user_id: i64,
    pub password: Secret,
}

/// `user-totp-confirm`: enable the pending authenticator with a first
/// code. The user's sessions end, except `session_token` when given.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserTotpConfirm {
    pub user_id: i64,
    pub totp_code: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
}

/// `user-totp-disable`: remove the authenticator and the recovery codes.
/// The user's sessions end, except `session_token` when given.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserTotpDisable {
    pub user_id: i64,
    pub password: Secret,
    pub totp_code: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
}

/// `user-logout`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserLogout {
    pub session_token: Secret,
    pub user_id: i64,
}

/// `user-passcheck`: check the password of the session's user.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPasscheck {
    pub session_token: Secret,
    pub password: Secret,
}

/// `user-passcheck-nosession`: check an e-mail and password.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPasscheckNosession {
    pub email: String,
    pub password: Secret,
}

/// `user-new`: sign up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserNew {
    pub full_name: String,
    pub email: String,
    pub password: Secret,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_info: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_retry_wait: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_id: Option<String>,
}

/// `user-list`: one user (`Some(id)`) or all users (`None`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserList {
    pub user_id: Option<i64>,
}

/// `user-lookup-email`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserLookupEmail {
    pub email: String,
}

/// `user-set-emailverified`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserSetEmailverified {
    pub email: String,
}

/// `user-changepass`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserChangepass {
    pub user_id: i64,
    pub session_token: Secret,
    pub full_name: String,
    pub email: String,
    pub current_password: Secret,
    pub new_password: Secret,
}

/// `user-changepass-nosession`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserChangepassNosession {
    pub user_id: i64,
    pub full_name: String,
    pub email: String,
    pub current_password: Secret,
    pub new_password: Secret,
}

/// `user-resetpass`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserResetpass {
    pub email_address: String,
    pub new_password: Secret,
    pub session_token: Secret,
}

/// `user-resetpass-nosession`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserResetpassNosession {
    pub email_address: String,
    pub new_password: Secret,
    pub required_active: bool,
}

/// `user-validatepass`: check a password against the server's policy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserValidatepass {
    pub password: Secret,
    pub email: String,
    pub full_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_pass_length: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unsafe_similarity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_character_frequency: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_pwned_matches: Option<i64>,
}

/// `user-delete`: a user deletes their own account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserDelete {
    pub email: String,
    pub user_id: i64,
    pub password: Secret,
}

/// `user-edit`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserEdit {
    pub user_id: i64,
    pub user_role: String,
    pub session_token: Secret,
    pub target_userid: i64,
    pub update_dict: Map<String, Value>,
}

/// `user-lock`: `action` is `lock` or `unlock`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserLock {
    pub user_id: i64,
    pub user_role: String,
    pub session_token: Secret,
    pub target_userid: i64,
    pub action: String,
}

/// `user-lookup-match`: users whose column `by` equals `match`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserLookupMatch {
    pub by: String,
    #[serde(rename = "match")]
    pub match_: Value,
}

/// `user-sessions-list` (not in the original): the active sessions of the
/// user of `session_token`, who must be `user_id`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserSessionsList {
    pub user_id: i64,
    pub session_token: Secret,
}

/// `user-sessions-revoke` (not in the original): end one of the user's
/// sessions (a `session_id` from the list) or, with `"others"`, every
/// session but the one of `session_token`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserSessionsRevoke {
    pub user_id: i64,
    pub session_token: Secret,
    pub session_id: String,
}

impl UserSessionsRevoke {
    /// The `session_id` that ends every session but the caller's.
    pub const OTHERS: &'static str = "others";
}

/// `internal-user-lock`: `action` is `lock` or `unlock`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InternalUserLock {
    pub target_userid: i64,
    pub action: String,
}

/// `internal-user-delete`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InternalUserDelete {
    pub target_userid: i64,
}

/// `internal-user-edit`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InternalUserEdit {
    pub target_userid: i64,
    pub update_dict: Map<String, Value>,
}

/// `internal-session-edit`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InternalSessionEdit {
    pub target_session_token: Secret,
    pub update_dict: Map<String, Value>,
}

/// `internal-audit-list`: the audit log, newest first, one page of at most
/// `limit` events (1-1000). Every filter is optional; pass the previous
/// reply's `next_cursor` as `cursor` for the next page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InternalAuditList {
    pub limit: i64,
    /// Only events about this user (the subject).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Only events of this type (`login.failed`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Only events at or after this time (`YYYY-MM-DDTHH:MM:SS[.ffffff]`, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only events before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `user-check-access`: may this user do `action` on the item?
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserCheckAccess {
    pub user_id: i64,
    pub user_role: String,
    pub action: String,
    pub target_name: String,
    pub target_owner: i64,
    pub target_visibility: String,
    /// Comma-separated user IDs and `group:<id>`s; `""` for nobody.
    pub target_sharedwith: String,
}

/// `user-check-limit`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserCheckLimit {
    pub user_id: i64,
    pub user_role: String,
    pub limit_name: String,
    pub value_to_check: Value,
}

/// `group-new` (not in the original): a group manager (by default a
/// superuser or staff member) makes a group. `user_id` and `user_role` name
/// the acting user, as in [`UserCheckAccess`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupNew {
    pub user_id: i64,
    pub user_role: String,
    pub group_name: String,
}

/// `group-list` (not in the original): the groups of `member_id` with
/// their owner flags, or without it every group (managers) or the acting
/// user's own groups (others).
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupList {
    pub user_id: i64,
    pub user_role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_id: Option<i64>,
}

/// `group-members` (not in the original): a group's members.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupMembers {
    pub user_id: i64,
    pub user_role: String,
    pub group_id: i64,
}

/// `group-add-member` (not in the original): add a member, or set an
/// existing member's owner flag.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupAddMember {
    pub user_id: i64,
    pub user_role: String,
    pub group_id: i64,
    pub member_id: i64,
    pub is_owner: bool,
}

/// `group-remove-member` (not in the original): end a membership.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupRemoveMember {
    pub user_id: i64,
    pub user_role: String,
    pub group_id: i64,
    pub member_id: i64,
}

/// `group-delete` (not in the original): delete a group and its
/// memberships.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupDelete {
    pub user_id: i64,
    pub user_role: String,
    pub group_id: i64,
}

/// `apikey-new`: a key tied to a session.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyNew {
    pub issuer: String,
    pub audience: String,
    pub subject: Subject,
    pub apiversion: ApiVersion,
    pub expires_days: i64,
    pub not_valid_before: f64,
    pub user_id: i64,
    pub user_role: String,
    pub ip_address: String,
    pub user_agent: String,
    pub session_token: Secret,
}

/// `apikey-verify`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyVerify {
    pub apikey_dict: ApiKeyClaims,
    pub user_id: i64,
    pub user_role: String,
}

/// `apikey-revoke`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyRevoke {
    pub apikey_dict: ApiKeyClaims,
    pub user_id: i64,
    pub user_role: String,
}

/// `apikey-new-nosession`: a key with a refresh token.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyNewNosession {
    pub issuer: String,
    pub audience: String,
    pub subject: Subject,
    pub apiversion: ApiVersion,
    pub expires_seconds: i64,
    pub not_valid_before: f64,
    pub user_id: i64,
    pub user_role: String,
    pub ip_address: String,
    pub refresh_expires: i64,
    pub refresh_nbf: f64,
}

/// `apikey-verify-nosession`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyVerifyNosession {
    pub apikey_dict: ApiKeyClaims,
    pub user_id: i64,
    pub user_role: String,
}

/// `apikey-revoke-nosession`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyRevokeNosession {
    pub apikey_dict: ApiKeyClaims,
    pub user_id: i64,
    pub user_role: String,
}

/// `apikey-revokeall-nosession`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyRevokeallNosession {
    pub apikey_dict: ApiKeyClaims,
    pub user_id: i64,
    pub user_role: String,
}

/// `apikey-refresh-nosession`: exchange a refresh token for a new key.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApikeyRefreshNosession {
    pub apikey_dict: ApiKeyClaims,
    pub user_id: i64,
    pub user_role: String,
    pub refresh_token: Secret,
    pub ip_address: String,
    pub expires_seconds: i64,
    pub not_valid_before: f64,
    pub refresh_expires: i64,
    pub refresh_nbf: f64,
}

/// Optional mail settings of the two send requests, used by the server
/// only when its operator set `emailbodyoverrides`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MailSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emailuser: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emailpass: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emailserver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emailport: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emailsender: Option<String>,
}

/// `user-sendemail-signup`: send the sign-up verification mail.
/// `created_info` is the result object of `user-new`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserSendemailSignup {
    pub email_address: String,
    pub session_token: Secret,
    pub created_info: Map<String, Value>,
    pub server_name: String,
    pub server_baseurl: String,
    pub verification_token: Secret,
    pub verification_expiry: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_verify_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_verify_url: Option<String>,
    #[serde(flatten)]
    pub mail: MailSettings,
}

/// `user-sendemail-forgotpass`: send the forgot-password mail.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserSendemailForgotpass {
    pub email_address: String,
    pub session_token: Secret,
    pub server_name: String,
    pub server_baseurl: String,
    pub password_forgot_url: String,
    pub verification_token: Secret,
    pub verification_expiry: i64,
    #[serde(flatten)]
    pub mail: MailSettings,
}

/// `user-set-emailsent`: `email_type` is `signup` or `forgotpass`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserSetEmailsent {
    pub email: String,
    pub email_type: String,
}

/// `user-oauth-start`: begin a social login in the caller's session.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserOauthStart {
    pub provider: String,
    pub session_token: Secret,
    pub redirect_uri: String,
}

/// `user-oauth-finish`: end a social login with the provider's `code` and
/// `state` from the redirect back.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserOauthFinish {
    pub provider: String,
    pub session_token: Secret,
    pub state: Secret,
    pub code: Secret,
    pub redirect_uri: String,
}

/// `user-oauth-list`: the identities linked to an account.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserOauthList {
    pub user_id: i64,
}

/// `user-oauth-unlink`: unlink the account's identity at a provider.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserOauthUnlink {
    pub user_id: i64,
    pub provider: String,
}

// ----------------------------------------------------------------- replies

/// A success without result fields beyond `messages`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Done {
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `session-new`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionNewReply {
    pub session_token: Secret,
    pub expires: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `session-jwt-issue`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionJwtReply {
    /// The signed token (a bearer credential, hence a [`Secret`]).
    pub jwt: Secret,
    /// The lifetime given, after the server's cap.
    pub expires_seconds: i64,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// One event of `internal-audit-list`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuditEvent {
    pub id: i64,
    /// When it happened (`isoformat`, UTC).
    pub time: String,
    /// The event type's stable name (`login.failed`, ...).
    pub event: String,
    /// `ok` or `failed`.
    pub outcome: String,
    pub actor_user_id: Option<i64>,
    pub subject_user_id: Option<i64>,
    /// In the server's configured form (full, truncated or hashed).
    pub client_address: Option<String>,
    pub request_id: Option<String>,
    /// A short class (`wrong-password`, `automatic`, ...).
    pub reason: Option<String>,
}

/// `internal-audit-list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AuditListReply {
    pub events: Vec<AuditEvent>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-sessions-list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserSessionsReply {
    /// In the order they were created, oldest first.
    pub sessions: Vec<ListedSession>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-sessions-revoke`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RevokedSessionsReply {
    /// How many sessions ended.
    pub revoked: i64,
    /// True if the caller's own session was the one revoked (the frontend
    /// should then forget its cookie).
    pub current: bool,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `session-exists`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionExistsReply {
    pub session_info: SessionInfo,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `internal-session-edit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SessionEditReply {
    pub session_info: SessionRecord,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-login`, `user-passcheck`, `user-passcheck-nosession`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserIdRole {
    pub user_id: i64,
    /// Always sent by authnz; the original's 0.1.3 release leaves it out.
    pub user_role: Option<String>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-totp-enroll`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TotpEnrollReply {
    pub user_id: i64,
    /// The shared secret, base32 (for typing into an app).
    pub secret_base32: Secret,
    /// The `otpauth://totp/...` URI (for a QR code); holds the secret.
    pub otpauth_uri: Secret,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-oauth-start`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OauthStartReply {
    /// Where to send the browser.
    pub authorize_url: String,
    /// The `state` the provider will send back (also in the URL).
    pub state: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-passkey-register-start`.
#[derive(Clone, PartialEq, Deserialize)]
pub struct PasskeyRegisterStartReply {
    pub user_id: i64,
    /// Give it back with the credential (single use, 5 minutes).
    pub registration_id: Secret,
    /// A `CreationChallengeResponse`: `{"publicKey": {...}}`, binary fields
    /// base64url (decode them before `navigator.credentials.create()`).
    pub options: Value,
    #[serde(default)]
    pub messages: Vec<String>,
}

impl std::fmt::Debug for PasskeyRegisterStartReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRegisterStartReply")
            .field("user_id", &self.user_id)
            .field("registration_id", &self.registration_id)
            .field("options", &Redacted)
            .field("messages", &self.messages)
            .finish()
    }
}

/// `user-passkey-register-finish`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PasskeyRegisterFinishReply {
    pub user_id: i64,
    pub passkey_id: i64,
    pub name: String,
    /// Fresh recovery codes when this is the user's first second factor
    /// (shown once); `None` when the user had unused codes already.
    #[serde(default)]
    pub recovery_codes: Option<Vec<Secret>>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-passkey-login-start` and `user-passkey-second-factor-start`.
#[derive(Clone, PartialEq, Deserialize)]
pub struct PasskeyLoginStartReply {
    /// Give it back with the assertion (single use, 5 minutes).
    pub login_id: Secret,
    /// A `RequestChallengeResponse`: `{"publicKey": {...}, "mediation"?}`,
    /// binary fields base64url (decode them before
    /// `navigator.credentials.get()`).
    pub options: Value,
    #[serde(default)]
    pub messages: Vec<String>,
}

impl std::fmt::Debug for PasskeyLoginStartReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyLoginStartReply")
            .field("login_id", &self.login_id)
            .field("options", &Redacted)
            .field("messages", &self.messages)
            .finish()
    }
}

/// `user-passkey-second-factor-start`.
#[derive(Clone, PartialEq, Deserialize)]
pub struct PasskeySecondFactorStartReply {
    /// A `RequestChallengeResponse` whose `allowCredentials` are the user's
    /// passkeys.
    pub options: Value,
    #[serde(default)]
    pub messages: Vec<String>,
}

impl std::fmt::Debug for PasskeySecondFactorStartReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeySecondFactorStartReply")
            .field("options", &Redacted)
            .field("messages", &self.messages)
            .finish()
    }
}

/// `user-passkey-list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PasskeyListReply {
    pub user_id: i64,
    pub passkeys: Vec<ListedPasskey>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// One passkey of `user-passkey-list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ListedPasskey {
    /// The id `user-passkey-delete` takes.
    pub passkey_id: i64,
    pub name: String,
    /// ISO 8601, UTC.
    pub created: String,
    /// ISO 8601, UTC; `None` before its first login.
    pub last_used: Option<String>,
}

/// `user-totp-confirm`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TotpConfirmReply {
    pub user_id: i64,
    /// The recovery codes, shown once: each logs in once instead of a code.
    pub recovery_codes: Vec<Secret>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-oauth-finish`: as `user-login`, and whether the account is new.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OauthFinishReply {
    pub user_id: i64,
    pub user_role: String,
    pub new_user: bool,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// One linked identity of `user-oauth-list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OauthIdentity {
    pub provider: String,
    pub subject: String,
    pub created: String,
}

/// `user-oauth-list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OauthListReply {
    pub user_id: i64,
    /// False for an account made by a social login that has not set a
    /// password yet.
    pub has_password: bool,
    pub identities: Vec<OauthIdentity>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-logout`, `internal-user-delete`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserIdReply {
    pub user_id: i64,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-new`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserNewReply {
    pub user_email: String,
    pub user_id: i64,
    pub system_id: Option<String>,
    pub send_verification: bool,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-delete`, `user-changepass`, `user-changepass-nosession`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserIdEmail {
    pub user_id: i64,
    pub email: Option<String>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-list`, `user-lookup-match`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserInfoList {
    pub user_info: Vec<UserInfo>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-lookup-email`, `user-edit`, `user-lock`, `internal-user-lock`,
/// `internal-user-edit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserInfoReply {
    pub user_info: UserInfo,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-set-emailverified`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EmailVerifiedReply {
    pub user_id: i64,
    pub is_active: bool,
    pub user_role: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-sendemail-signup`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SignupMailReply {
    pub user_id: i64,
    pub email_address: String,
    pub emailverify_sent_datetime: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-sendemail-forgotpass`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ForgotpassMailReply {
    pub user_id: i64,
    pub email_address: String,
    pub emailforgotpass_sent_datetime: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `user-set-emailsent`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EmailSentReply {
    pub email: String,
    pub emailverify_sent_datetime: Option<String>,
    pub emailforgotpass_sent_datetime: Option<String>,
    pub user_id: i64,
    pub is_active: bool,
    pub user_role: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `apikey-new`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApikeyNewReply {
    /// The claims as a JSON text; protect it before handing it out.
    pub apikey: Secret,
    pub expires: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `apikey-new-nosession`, `apikey-refresh-nosession`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApikeyNosessionReply {
    pub apikey: Secret,
    pub expires: String,
    pub refresh_token: Secret,
    pub refresh_token_expires: String,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `apikey-revokeall-nosession`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RevokeAllReply {
    pub revoked_keys: Option<i64>,
    pub deleted_keys: Option<i64>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// A group as the `group-*` replies show it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupInfo {
    pub group_id: i64,
    pub group_name: String,
    pub created_by: i64,
    /// Python `isoformat()`, naive UTC.
    pub created_on: String,
    pub last_updated: String,
    /// Whether the listed member owns the group: only in a `group-list`
    /// reply for one member.
    #[serde(default)]
    pub is_owner: Option<bool>,
}

/// `group-new`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupNewReply {
    pub group: GroupInfo,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `group-list`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupListReply {
    /// The member whose groups these are; `None` for every group.
    pub member_id: Option<i64>,
    pub groups: Vec<GroupInfo>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// One member in a `group-members` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct GroupMember {
    pub user_id: i64,
    pub is_owner: bool,
}

/// `group-members`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupMembersReply {
    pub group_id: i64,
    pub members: Vec<GroupMember>,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `group-add-member`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupAddMemberReply {
    pub group_id: i64,
    pub member_id: i64,
    pub is_owner: bool,
    /// False when the user already was a member (their owner flag was set).
    pub added: bool,
    #[serde(default)]
    pub messages: Vec<String>,
}

/// `group-remove-member`, `group-delete`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupIdReply {
    pub group_id: i64,
    #[serde(default)]
    pub messages: Vec<String>,
}

// ------------------------------------------------- the table of methods

/// Binds each request struct to its request type and reply, gives
/// [`Client`] one method per request type, and builds [`method_name`],
/// whose `match` has no catch-all arm: a request type added to the
/// request table without a typed method here does not compile.
macro_rules! typed_requests {
    ($( $kind:ident => $method:ident($req:ident) -> $reply:ident; )*) => {
        $(
            impl Request for $req {
                const TYPE: RequestType = RequestType::$kind;
                type Reply = $reply;
            }
        )*

        impl Client {
            $(
                #[doc = concat!("`", stringify!($method), "`: see [`", stringify!($req), "`].")]
                pub async fn $method(&self, request: &$req) -> Result<$reply, Error> {
                    self.call(request).await
                }
            )*
        }

        /// The name of the [`Client`] method for a request type.
        pub const fn method_name(kind: RequestType) -> &'static str {
            match kind {
                $(RequestType::$kind => stringify!($method),)*
            }
        }

        /// Every typed request as `(request type, its body with default
        /// values)`, for checks against the request table.
        pub fn default_bodies() -> Vec<(RequestType, Value)> {
            vec![$(
                (
                    <$req as Request>::TYPE,
                    serde_json::to_value($req::default()).unwrap_or(Value::Null),
                ),
            )*]
        }
    };
}

typed_requests! {
    SessionNew => session_new(SessionNew) -> SessionNewReply;
    SessionExists => session_exists(SessionExists) -> SessionExistsReply;
    SessionDelete => session_delete(SessionDelete) -> Done;
    SessionDeleteUserid => session_delete_userid(SessionDeleteUserid) -> Done;
    SessionJwtIssue => session_jwt_issue(SessionJwtIssue) -> SessionJwtReply;
    UserLogin => user_login(UserLogin) -> UserIdRole;
    UserLoginSecondFactor => user_login_second_factor(UserLoginSecondFactor) -> UserIdRole;
    UserTotpEnroll => user_totp_enroll(UserTotpEnroll) -> TotpEnrollReply;
    UserTotpConfirm => user_totp_confirm(UserTotpConfirm) -> TotpConfirmReply;
    UserTotpDisable => user_totp_disable(UserTotpDisable) -> UserIdReply;
    UserPasskeyRegisterStart => user_passkey_register_start(UserPasskeyRegisterStart) -> PasskeyRegisterStartReply;
    UserPasskeyRegisterFinish => user_passkey_register_finish(UserPasskeyRegisterFinish) -> PasskeyRegisterFinishReply;
    UserPasskeyLoginStart => user_passkey_login_start(UserPasskeyLoginStart) -> PasskeyLoginStartReply;
    UserPasskeyLoginFinish => user_passkey_login_finish(UserPasskeyLoginFinish) -> UserIdRole;
    UserPasskeyList => user_passkey_list(UserPasskeyList) -> PasskeyListReply;
    UserPasskeyDelete => user_passkey_delete(UserPasskeyDelete) -> UserIdReply;
    UserPasskeySecondFactorStart => user_passkey_second_factor_start(UserPasskeySecondFactorStart) -> PasskeySecondFactorStartReply;
    UserLogout => user_logout(UserLogout) -> UserIdReply;
    UserPasscheck => user_passcheck(UserPasscheck) -> UserIdRole;
    UserPasscheckNosession => user_passcheck_nosession(UserPasscheckNosession) -> UserIdRole;
    UserNew => user_new(UserNew) -> UserNewReply;
    UserList => user_list(UserList) -> UserInfoList;
    UserLookupEmail => user_lookup_email(UserLookupEmail) -> UserInfoReply;
    UserSetEmailverified => user_set_emailverified(UserSetEmailverified) -> EmailVerifiedReply;
    UserChangepass => user_changepass(UserChangepass) -> UserIdEmail;
    UserChangepassNosession => user_changepass_nosession(UserChangepassNosession) -> UserIdEmail;
    UserResetpass => user_resetpass(UserResetpass) -> Done;
    UserResetpassNosession => user_resetpass_nosession(UserResetpassNosession) -> Done;
    UserValidatepass => user_validatepass(UserValidatepass) -> Done;
    UserDelete => user_delete(UserDelete) -> UserIdEmail;
    UserEdit => user_edit(UserEdit) -> UserInfoReply;
    UserLock => user_lock(UserLock) -> UserInfoReply;
    UserLookupMatch => user_lookup_match(UserLookupMatch) -> UserInfoList;
    UserSessionsList => user_sessions_list(UserSessionsList) -> UserSessionsReply;
    UserSessionsRevoke => user_sessions_revoke(UserSessionsRevoke) -> RevokedSessionsReply;
    InternalUserLock => internal_user_lock(InternalUserLock) -> UserInfoReply;
    InternalUserDelete => internal_user_delete(InternalUserDelete) -> UserIdReply;
    InternalUserEdit => internal_user_edit(InternalUserEdit) -> UserInfoReply;
    InternalSessionEdit => internal_session_edit(InternalSessionEdit) -> SessionEditReply;
    InternalAuditList => internal_audit_list(InternalAuditList) -> AuditListReply;
    UserCheckAccess => user_check_access(UserCheckAccess) -> Done;
    UserCheckLimit => user_check_limit(UserCheckLimit) -> Done;
    GroupNew => group_new(GroupNew) -> GroupNewReply;
    GroupList => group_list(GroupList) -> GroupListReply;
    GroupMembers => group_members(GroupMembers) -> GroupMembersReply;
    GroupAddMember => group_add_member(GroupAddMember) -> GroupAddMemberReply;
    GroupRemoveMember => group_remove_member(GroupRemoveMember) -> GroupIdReply;
    GroupDelete => group_delete(GroupDelete) -> GroupIdReply;
    ApikeyNew => apikey_new(ApikeyNew) -> ApikeyNewReply;
    ApikeyVerify => apikey_verify(ApikeyVerify) -> Done;
    ApikeyRevoke => apikey_revoke(ApikeyRevoke) -> Done;
    ApikeyNewNosession => apikey_new_nosession(ApikeyNewNosession) -> ApikeyNosessionReply;
    ApikeyVerifyNosession => apikey_verify_nosession(ApikeyVerifyNosession) -> Done;
    ApikeyRevokeNosession => apikey_revoke_nosession(ApikeyRevokeNosession) -> Done;
    ApikeyRevokeallNosession => apikey_revokeall_nosession(ApikeyRevokeallNosession) -> RevokeAllReply;
    ApikeyRefreshNosession => apikey_refresh_nosession(ApikeyRefreshNosession) -> ApikeyNosessionReply;
    UserSendemailSignup => user_sendemail_signup(UserSendemailSignup) -> SignupMailReply;
    UserSendemailForgotpass => user_sendemail_forgotpass(UserSendemailForgotpass) -> ForgotpassMailReply;
    UserSetEmailsent => user_set_emailsent(UserSetEmailsent) -> EmailSentReply;
    UserOauthStart => user_oauth_start(UserOauthStart) -> OauthStartReply;
    UserOauthFinish => user_oauth_finish(UserOauthFinish) -> OauthFinishReply;
    UserOauthList => user_oauth_list(UserOauthList) -> OauthListReply;
    UserOauthUnlink => user_oauth_unlink(UserOauthUnlink) -> UserIdReply;
}

impl Client {
    /// Send a typed request; its reply on `success: true`, else
    /// [`Error::Failed`].
    pub async fn call<R: Request>(&self, request: &R) -> Result<R::Reply, Error> {
        let body = serde_json::to_value(request)
            .map_err(|e| Error::Config(format!("cannot serialise the request: {e}")))?;
        let response = self.send(R::TYPE, body).await?.into_result()?;
        serde_json::from_value(response).map_err(|e| {
            Error::Protocol(format!(
                "the result of {} does not have its fields: {}",
                R::TYPE.name(),
                without_quoted_text(&e.to_string())
            ))
        })
    }
}

/// serde's message with every `"..."` cut out: a value that failed to
/// decode may be a token.
fn without_quoted_text(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("<value>");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Each struct's body has exactly the names of its schema (required
    /// ones always, nothing the schema lacks) and passes the schema check.
    #[test]
    fn every_request_struct_matches_its_schema() {
        let bodies = default_bodies();
        let kinds: HashSet<RequestType> = bodies.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds.len(), bodies.len(), "one struct per request type");
        assert_eq!(kinds.len(), RequestType::ALL.len());
        for (kind, body) in bodies {
            let Value::Object(mut body) = body else {
                panic!("{kind:?} does not serialise to an object")
            };
            // `Any` and `dict` refuse null, the default of a `Value` field.
            for p in kind.params() {
                if body.get(p.name) != Some(&Value::Null) {
                    continue;
                }
                if p.spec == authnz_proto::schema::ANY {
                    body.insert(p.name.into(), Value::from(1));
                } else if p.spec == authnz_proto::schema::DICT {
                    body.insert(p.name.into(), Value::Object(Map::new()));
                }
            }
            let names: HashSet<&str> = kind.params().iter().map(|p| p.name).collect();
            for key in body.keys() {
                assert!(
                    names.contains(key.as_str()),
                    "{kind:?}: `{key}` is not in its schema"
                );
            }
            for p in kind.params().iter().filter(|p| p.required) {
                assert!(body.contains_key(p.name), "{kind:?}: `{}` missing", p.name);
            }
            // `subject`, `apiversion` and the floats are the interesting
            // types; defaults of the rest are type-correct too.
            let problems = authnz_proto::schema::check(kind.params(), &body);
            assert!(problems.is_empty(), "{kind:?}: {problems:?}");
            assert_eq!(RequestType::from_name(kind.name()), Some(kind));
            assert!(!method_name(kind).is_empty());
        }
    }

    #[test]
    fn optional_arguments_are_left_out_when_none_and_sent_when_set() {
        let body = serde_json::to_value(UserValidatepass {
            max_character_frequency: Some(1.0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(body["max_character_frequency"], serde_json::json!(1.0));
        assert!(body.get("min_pass_length").is_none());
        let Value::Object(body) = body else { panic!() };
        assert!(
            authnz_proto::schema::check(RequestType::UserValidatepass.params(), &body).is_empty()
        );
    }

    #[test]
    fn debug_of_requests_and_replies_shows_no_secret() {
        let login = UserLogin {
            session_token: "tok-SECRET".into(),
            email: "a@b.c".into(),
            password: "pw-SECRET".into(),
        };
        let refresh = ApikeyRefreshNosession {
            apikey_dict: ApiKeyClaims(
                serde_json::json!({"tkn": "tkn-SECRET", "uid": 4})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
            refresh_token: "refresh-SECRET".into(),
            ..Default::default()
        };
        let reply = ApikeyNosessionReply {
            apikey: "key-SECRET".into(),
            expires: "x".into(),
            refresh_token: "refresh-SECRET".into(),
            refresh_token_expires: "y".into(),
            messages: vec![],
        };
        let mail = UserSendemailSignup {
            verification_token: "verify-SECRET".into(),
            mail: MailSettings {
                emailpass: Some("smtp-SECRET".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let oauth = UserOauthFinish {
            session_token: "tok-SECRET".into(),
            state: "state-SECRET".into(),
            code: "code-SECRET".into(),
            ..Default::default()
        };
        let passkey = UserPasskeyLoginFinish {
            session_token: "tok-SECRET".into(),
            login_id: "login-SECRET".into(),
            credential: serde_json::json!({"response": {"signature": "sig-SECRET"}}),
        };
        let second = UserLoginSecondFactor {
            session_token: "tok-SECRET".into(),
            login_ticket: "ticket-SECRET".into(),
            passkey_response: Some(serde_json::json!({"id": "cred-SECRET"})),
            ..Default::default()
        };
        let options = PasskeyLoginStartReply {
            login_id: "login-SECRET".into(),
            options: serde_json::json!({"publicKey": {"challenge": "challenge-SECRET"}}),
            messages: vec![],
        };
        for text in [
            format!("{passkey:?}"),
            format!("{second:?}"),
            format!("{options:?}"),
            format!("{login:?}"),
            format!("{oauth:?}"),
            format!("{refresh:?}"),
            format!("{reply:?}"),
            format!("{mail:?}"),
        ] {
            assert!(!text.contains("SECRET"), "{text}");
        }
        // The wire still carries them.
        let wire = serde_json::to_string(&login).unwrap();
        assert!(wire.contains("pw-SECRET") && wire.contains("tok-SECRET"));
    }

    #[test]
    fn decode_errors_drop_quoted_values() {
        assert_eq!(
            without_quoted_text(r#"invalid type: string "tok", expected i64"#),
            "invalid type: string <value>, expected i64"
        );
    }
}
