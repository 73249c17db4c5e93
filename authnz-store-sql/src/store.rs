//! [`SqlStore`]: one connection pool, any dialect, implementing the
//! storage traits by running each call's operation (`users.rs`,
//! `sessions.rs`, `roles.rs`, `apikeys.rs`) on whichever pool it holds.
//!
//! This module only opens, migrates and closes the pool, refuses NUL
//! characters, bounds every call by the deadline and converts errors into
//! [`StoreError`] at the trait boundary.

use async_trait::async_trait;
use authnz_api::{
    ApiKeyRef, ApiKeyStore, AuditEvent, AuditQuery, AuditRecord, AuditStore, ColumnValue, Delivery,
    Group, GroupId, GroupMember, GroupStore, InitialData, LoginTicket, Membership, NewDelivery,
    NewGroup, NewPasskey, NewUser, NoSessionApiKey, OAuthIdentity, OAuthState, OAuthStore,
    PasskeyChallenge, PasskeyRecord, Role, RoleStore, SecondFactorStore, Session, SessionApiKey,
    SessionStore, SigningKeyRecord, SigningKeyStore, StoreError, TotpRecord, User, UserColumn,
    UserId, UserPatch, UserStore, WebhookStore,
};
use std::time::Duration;

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::SqlOptions;
use crate::error::SqlStoreError;
use crate::url::Dialect;

#[cfg(feature = "mysql")]
use crate::mysql;
#[cfg(feature = "postgres")]
use crate::postgres;
#[cfg(feature = "sqlite")]
use crate::sqlite;

/// The SQL store: SQLite, PostgreSQL or MySQL/MariaDB behind one type.
///
/// Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
    /// The longest one trait operation may take
    /// ([`SqlOptions::operation_deadline`]).
    deadline: Duration,
}

#[derive(Debug, Clone)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

/// Run the operation `module::op`, generic over the dialect, on whichever pool
/// the store holds,
/// within the store's deadline, and convert its error into a [`StoreError`].
///
/// The deadline is the one behaviour every dialect shares: an operation
/// that has not finished after `acquire_timeout + statement_timeout` is
/// abandoned and reported as [`StoreError::Unavailable`]. (The databases cut
/// their own statements earlier where they can; dropping the future rolls
/// back an open transaction, and sqlx checks a connection before reusing it.)
macro_rules! dispatch {
    ($self:ident, $module:ident :: $op:ident ( $($arg:expr),* )) => {
        match &$self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => within("sqlite", $self.deadline, crate::$module::$op(p, $($arg),*)).await,
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => within("postgres", $self.deadline, crate::$module::$op(p, $($arg),*)).await,
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => within("mysql", $self.deadline, crate::$module::$op(p, $($arg),*)).await,
        }
    };
}

/// NUL characters in text (spec'd nowhere, refused by PostgreSQL's `text`,
/// kept by SQLite and MySQL) get one behaviour on every dialect: a lookup by
/// such a string finds nothing (no stored text can hold one), and a write of
/// one is refused with [`StoreError::Backend`] before it reaches the
/// database, so nothing is stored. JSON values may hold NUL characters: they
/// are stored as the escape `\u0000`.
fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// The refusal of a write holding a NUL character.
fn nul_refused() -> StoreError {
    StoreError::backend("text containing a NUL character cannot be stored")
}

/// `op`, or [`StoreError::Unavailable`] once `deadline` has passed.
async fn within<T>(
    dialect: &'static str,
    deadline: Duration,
    op: impl Future<Output = Result<T, SqlStoreError>>,
) -> Result<T, StoreError> {
    let result = match tokio::time::timeout(deadline, op).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::from(SqlStoreError::TimedOut(deadline))),
    };
    if let Err(StoreError::Backend { .. } | StoreError::Unavailable { .. }) = &result {
        // The server's `authnz_store_errors_total` (docs/OPERATIONS.md,
        // "Metrics"); a no-op where no metrics recorder is set.
        metrics::counter!("authnz_store_errors_total", "backend" => dialect).increment(1);
    }
    result
}

impl SqlStore {
    /// Open a connection pool on `url` (see [`Dialect`] for the forms) and
    /// check that one connection works. Does not create the schema: call
    /// [`SqlStore::migrate`] next.
    ///
    /// For a SQLite file, an existing file must have mode 0600 or it is
    /// refused (PROTOCOL.md 7.5, [`SqlStoreError::InsecurePermissions`]); a missing
    /// one is created with mode 0600 when [`SqlOptions::create_if_missing`]
    /// is set, and the database is switched to WAL mode with
    /// `journal_size_limit=5242880`. Every SQLite connection enforces foreign
    /// keys.
    ///
    /// Errors: [`StoreError::Unavailable`] when the server cannot be reached
    /// within [`SqlOptions::acquire_timeout`]; [`StoreError::Backend`] for a
    /// bad URL, a missing driver or a refused file, with a
    /// [`SqlStoreError`] as the source.
    pub async fn connect(url: &str, opts: &SqlOptions) -> Result<SqlStore, StoreError> {
        Self::connect_inner(url, opts)
            .await
            .map_err(StoreError::from)
    }

    async fn connect_inner(url: &str, opts: &SqlOptions) -> Result<SqlStore, SqlStoreError> {
        let dialect = Dialect::from_url(url).ok_or(SqlStoreError::UnsupportedUrl)?;
        let pool = match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => {
                Pool::Sqlite(sqlite::connect(&crate::url::sqlite_target(url)?, opts).await?)
            }
            #[cfg(feature = "postgres")]
            Dialect::Postgres => Pool::Postgres(postgres::connect(url, opts).await?),
            #[cfg(feature = "mysql")]
            Dialect::MySql => Pool::MySql(mysql::connect(url, opts).await?),
            #[allow(unreachable_patterns)]
            other => return Err(SqlStoreError::DialectDisabled(other.name())),
        };
        Ok(SqlStore {
            pool,
            deadline: opts.operation_deadline(),
        })
    }

    /// Create or complete the schema by running the embedded migrations
    /// (`migrations/<dialect>/`). Safe to run on every start, on a fresh
    /// database and on one created by upstream; sqlx records what it applied
    /// in `_sqlx_migrations`. Not bound by the statement timeout.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => sqlite::MIGRATOR.run(p).await.map_err(SqlStoreError::from),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => postgres::migrate(p).await,
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => mysql::migrate(p).await,
        };
        result.map_err(StoreError::from)
    }

    /// Close every connection, waiting for those in use to be returned.
    /// Later operations fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.close().await,
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.close().await,
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => p.close().await,
        }
    }

    /// Which dialect this store speaks.
    pub fn dialect(&self) -> Dialect {
        match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Pool::MySql(_) => Dialect::MySql,
        }
    }

    /// The SQLite pool, for operations outside the storage traits (and
    /// tests). Values written through it must follow PROTOCOL.md 8.2.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The PostgreSQL pool, for operations outside the storage traits (and
    /// tests).
    #[cfg(feature = "postgres")]
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// An invalidation bus on the notification channel `channel` of this
    /// PostgreSQL database (`LISTEN`/`NOTIFY`, see [`crate::PgBus`]);
    /// `None` on the other dialects, which have nothing like it. Publishing
    /// is bounded by the store's operation deadline.
    #[cfg(feature = "postgres")]
    pub fn invalidation_bus(&self, channel: &str) -> Option<crate::PgBus> {
        self.postgres_pool()
            .map(|p| crate::PgBus::new(p.clone(), channel.to_owned(), self.deadline))
    }

    /// The MySQL/MariaDB pool, for operations outside the storage traits (and
    /// tests).
    #[cfg(feature = "mysql")]
    pub fn mysql_pool(&self) -> Option<&sqlx::MySqlPool> {
        match &self.pool {
            Pool::MySql(p) => Some(p),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: &NewUser, now: NaiveDateTime) -> Result<UserId, StoreError> {
        if [
            &user.system_id,
            &user.password,
            &user.email,
            &user.user_role,
        ]
        .into_iter()
        .chain(user.full_name.as_ref())
        .any(|t| has_nul(t))
        {
            return Err(nul_refused());
        }
        dispatch!(self, users::create_user(user, now))
    }

    async fn user_by_id(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        dispatch!(self, users::user_by_id(user_id))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        if has_nul(email) {
            return Ok(None);
        }
        dispatch!(self, users::user_by_email(email))
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        dispatch!(self, users::list_users())
    }

    async fn update_user(
        &self,
        user_id: UserId,
        patch: &UserPatch,
        only_if_active: Option<bool>,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        if [&patch.password, &patch.email, &patch.user_role]
            .into_iter()
            .flatten()
            .chain(patch.full_name.iter().flatten())
            .any(|t| has_nul(t))
        {
            return Err(nul_refused());
        }
        dispatch!(
            self,
            users::update_user(user_id, patch, only_if_active, now)
        )
    }

    async fn delete_user(&self, user_id: UserId) -> Result<u64, StoreError> {
        dispatch!(self, users::delete_user(user_id))
    }

    async fn find_users(
        &self,
        column: UserColumn,
        value: &ColumnValue,
    ) -> Result<Vec<User>, StoreError> {
        if let ColumnValue::Text(t) = value
            && has_nul(t)
        {
            return Ok(Vec::new());
        }
        dispatch!(self, users::find_users(column, value))
    }

    async fn find_users_by_extra_info(
        &self,
        wanted: &serde_json::Map<String, Value>,
    ) -> Result<Vec<User>, StoreError> {
        dispatch!(self, users::find_users_by_extra_info(wanted))
    }

    async fn users_with_lock_deadline(&self) -> Result<Vec<User>, StoreError> {
        dispatch!(self, users::users_with_lock_deadline())
    }

    async fn lift_lock_if_due(
        &self,
        user_id: UserId,
        restore_role: &str,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        dispatch!(self, users::lift_lock_if_due(user_id, restore_role, now))
    }

    async fn superuser_role(&self) -> Result<Option<String>, StoreError> {
        dispatch!(self, users::superuser_role())
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        if [
            &session.session_token,
            &session.ip_address,
            &session.user_agent,
        ]
        .into_iter()
        .any(|t| has_nul(t))
        {
            return Err(nul_refused());
        }
        dispatch!(self, sessions::create_session(session))
    }

    async fn active_session(
        &self,
        token: &str,
        now: NaiveDateTime,
    ) -> Result<Option<(Session, User)>, StoreError> {
        if has_nul(token) {
            return Ok(None);
        }
        dispatch!(self, sessions::active_session(token, now))
    }

    async fn delete_session(&self, token: &str) -> Result<u64, StoreError> {
        if has_nul(token) {
            return Ok(0);
        }
        dispatch!(self, sessions::delete_session(token))
    }

    async fn delete_user_session(&self, user_id: UserId, token: &str) -> Result<u64, StoreError> {
        if has_nul(token) {
            return Ok(0);
        }
        dispatch!(self, sessions::delete_user_session(user_id, token))
    }

    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        // A token with a NUL matches no session, so every session goes.
        let keep = keep.filter(|k| !has_nul(k));
        dispatch!(self, sessions::delete_user_sessions(user_id, keep))
    }

    async fn user_sessions(
        &self,
        user_id: UserId,
        now: NaiveDateTime,
    ) -> Result<Vec<Session>, StoreError> {
        dispatch!(self, sessions::user_sessions(user_id, now))
    }

    async fn set_session_extra(
        &self,
        token: &str,
        extra_info_json: Option<&Value>,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        if has_nul(token) {
            return Ok(0);
        }
        dispatch!(
            self,
            sessions::set_session_extra(token, extra_info_json, now)
        )
    }

    async fn delete_sessions_expired_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        dispatch!(self, sessions::delete_sessions_expired_before(before))
    }
}

#[async_trait]
impl RoleStore for SqlStore {
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        dispatch!(self, roles::list_roles())
    }

    async fn initialize(&self, data: &InitialData, now: NaiveDateTime) -> Result<bool, StoreError> {
        dispatch!(self, roles::initialize(data, now))
    }
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn create_group(
        &self,
        group: &NewGroup,
        now: NaiveDateTime,
    ) -> Result<Group, StoreError> {
        if [&group.system_id, &group.group_name, &group.group_role]
            .iter()
            .any(|t| has_nul(t))
        {
            return Err(nul_refused());
        }
        dispatch!(self, groups::create_group(group, now))
    }

    async fn group_by_id(&self, group_id: GroupId) -> Result<Option<Group>, StoreError> {
        dispatch!(self, groups::group_by_id(group_id))
    }

    async fn list_groups(&self) -> Result<Vec<Group>, StoreError> {
        dispatch!(self, groups::list_groups())
    }

    async fn user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        dispatch!(self, groups::user_memberships(user_id))
    }

    async fn group_members(&self, group_id: GroupId) -> Result<Vec<GroupMember>, StoreError> {
        dispatch!(self, groups::group_members(group_id))
    }

    async fn add_group_member(
        &self,
        group_id: GroupId,
        user_id: UserId,
        is_owner: bool,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        // A group or user deleted between the check and the insert is a
        // foreign-key violation: the same "does not exist".
        match dispatch!(
            self,
            groups::add_group_member(group_id, user_id, is_owner, now)
        ) {
            Ok(Some(added)) => Ok(added),
            Ok(None) | Err(StoreError::InvalidReference(_)) => Err(StoreError::NotFound),
            Err(e) => Err(e),
        }
    }

    async fn remove_group_member(
        &self,
        group_id: GroupId,
        user_id: UserId,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        dispatch!(self, groups::remove_group_member(group_id, user_id, now))
    }

    async fn delete_group(&self, group_id: GroupId) -> Result<u64, StoreError> {
        dispatch!(self, groups::delete_group(group_id))
    }
}

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        dispatch!(self, signing_keys::signing_keys())
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        if [
            &key.kid,
            &key.algorithm,
            &key.public_key,
            &key.sealed_private_key,
        ]
        .iter()
        .any(|t| has_nul(t))
        {
            return Err(nul_refused());
        }
        dispatch!(self, signing_keys::add_signing_key(key))
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<u64, StoreError> {
        if has_nul(kid) {
            return Ok(0);
        }
        dispatch!(self, signing_keys::delete_signing_key(kid))
    }
}

#[async_trait]
impl SecondFactorStore for SqlStore {
    async fn totp(&self, user_id: UserId) -> Result<Option<TotpRecord>, StoreError> {
        dispatch!(self, second_factors::totp(user_id))
    }

    async fn put_pending_totp(
        &self,
        user_id: UserId,
        sealed_secret: &str,
        created: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        if has_nul(sealed_secret) {
            return Err(nul_refused());
        }
        dispatch!(
            self,
            second_factors::put_pending_totp(user_id, sealed_secret, created)
        )
    }

    async fn enable_totp(
        &self,
        user_id: UserId,
        sealed_secret: &str,
        step: i64,
        recovery_hashes: &[String],
    ) -> Result<bool, StoreError> {
        if has_nul(sealed_secret) {
            return Ok(false);
        }
        if recovery_hashes.iter().any(|h| has_nul(h)) {
            return Err(nul_refused());
        }
        dispatch!(
            self,
            second_factors::enable_totp(user_id, sealed_secret, step, recovery_hashes)
        )
    }

    async fn accept_totp_step(&self, user_id: UserId, step: i64) -> Result<bool, StoreError> {
        dispatch!(self, second_factors::accept_totp_step(user_id, step))
    }

    async fn delete_totp(&self, user_id: UserId) -> Result<u64, StoreError> {
        dispatch!(self, second_factors::delete_totp(user_id))
    }

    async fn recovery_codes_left(&self, user_id: UserId) -> Result<u64, StoreError> {
        dispatch!(self, second_factors::recovery_codes_left(user_id))
    }

    async fn use_recovery_code(
        &self,
        user_id: UserId,
        code_hash: &str,
    ) -> Result<bool, StoreError> {
        if has_nul(code_hash) {
            return Ok(false);
        }
        dispatch!(self, second_factors::use_recovery_code(user_id, code_hash))
    }

    async fn create_login_ticket(&self, ticket: &LoginTicket) -> Result<(), StoreError> {
        if has_nul(&ticket.ticket_hash) || has_nul(&ticket.session_hash) {
            return Err(nul_refused());
        }
        dispatch!(self, second_factors::create_login_ticket(ticket))
    }

    async fn login_ticket(
        &self,
        ticket_hash: &str,
        now: NaiveDateTime,
    ) -> Result<Option<LoginTicket>, StoreError> {
        if has_nul(ticket_hash) {
            return Ok(None);
        }
        dispatch!(self, second_factors::login_ticket(ticket_hash, now))
    }

    async fn consume_login_ticket(
        &self,
        ticket_hash: &str,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        if has_nul(ticket_hash) {
            return Ok(false);
        }
        dispatch!(self, second_factors::consume_login_ticket(ticket_hash, now))
    }

    async fn delete_login_tickets_expired(&self, before: NaiveDateTime) -> Result<u64, StoreError> {
        dispatch!(self, second_factors::delete_login_tickets_expired(before))
    }

    async fn add_passkey(
        &self,
        passkey: &NewPasskey,
        recovery_hashes: &[String],
    ) -> Result<i64, StoreError> {
        let texts = [
            &passkey.credential_id,
            &passkey.user_handle,
            &passkey.name,
            &passkey.passkey_json,
        ];
        if texts.iter().any(|t| has_nul(t)) || recovery_hashes.iter().any(|h| has_nul(h)) {
            return Err(nul_refused());
        }
        dispatch!(self, second_factors::add_passkey(passkey, recovery_hashes))
    }

    async fn passkeys(&self, user_id: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        dispatch!(self, second_factors::passkeys(user_id))
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        if has_nul(credential_id) {
            return Ok(None);
        }
        dispatch!(
            self,
            second_factors::passkey_by_credential_id(credential_id)
        )
    }

    async fn passkey_count(&self, user_id: UserId) -> Result<u64, StoreError> {
        dispatch!(self, second_factors::passkey_count(user_id))
    }

    async fn use_passkey(
        &self,
        passkey_id: i64,
        passkey_json: &str,
        sign_count: i64,
        used: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        if has_nul(passkey_json) {
            return Err(nul_refused());
        }
        dispatch!(
            self,
            second_factors::use_passkey(passkey_id, passkey_json, sign_count, used)
        )
    }

    async fn delete_passkey(&self, user_id: UserId, passkey_id: i64) -> Result<bool, StoreError> {
        dispatch!(self, second_factors::delete_passkey(user_id, passkey_id))
    }

    async fn delete_passkeys(&self, user_id: UserId) -> Result<u64, StoreError> {
        dispatch!(self, second_factors::delete_passkeys(user_id))
    }

    async fn put_passkey_challenge(&self, challenge: &PasskeyChallenge) -> Result<(), StoreError> {
        let texts = [
            &challenge.challenge_hash,
            &challenge.kind,
            &challenge.state_json,
        ];
        if texts.iter().any(|t| has_nul(t)) {
            return Err(nul_refused());
        }
        dispatch!(self, second_factors::put_passkey_challenge(challenge))
    }

    async fn take_passkey_challenge(
        &self,
        challenge_hash: &str,
        now: NaiveDateTime,
    ) -> Result<Option<PasskeyChallenge>, StoreError> {
        if has_nul(challenge_hash) {
            return Ok(None);
        }
        dispatch!(
            self,
            second_factors::take_passkey_challenge(challenge_hash, now)
        )
    }

    async fn delete_passkey_challenges_expired(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        dispatch!(
            self,
            second_factors::delete_passkey_challenges_expired(before)
        )
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let texts = events.iter().flat_map(|e| {
            [&e.client_address, &e.request_id, &e.reason]
                .into_iter()
                .flatten()
        });
        if texts.into_iter().any(|t| has_nul(t)) {
            return Err(nul_refused());
        }
        dispatch!(self, audit::append_audit_events(events, &[]))
    }

    async fn append_audit_events_with_deliveries(
        &self,
        events: &[AuditEvent],
        deliveries: &[NewDelivery],
    ) -> Result<(), StoreError> {
        let texts = events
            .iter()
            .flat_map(|e| {
                [&e.client_address, &e.request_id, &e.reason]
                    .into_iter()
                    .flatten()
                    .map(String::as_str)
            })
            .chain(
                deliveries
                    .iter()
                    .flat_map(|d| [d.endpoint.as_str(), &d.event_type, &d.body]),
            );
        if texts.into_iter().any(has_nul) {
            return Err(nul_refused());
        }
        dispatch!(self, audit::append_audit_events(events, deliveries))
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        if query.event.as_deref().is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        dispatch!(self, audit::audit_events(query))
    }

    async fn delete_audit_events_before(&self, before: NaiveDateTime) -> Result<u64, StoreError> {
        dispatch!(self, audit::delete_audit_events_before(before))
    }
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn claim_deliveries(
        &self,
        now: NaiveDateTime,
        until: NaiveDateTime,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        dispatch!(self, webhooks::claim_deliveries(now, until, limit))
    }

    async fn delivery_done(&self, id: i64) -> Result<bool, StoreError> {
        dispatch!(self, webhooks::delivery_done(id))
    }

    async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt: Option<NaiveDateTime>,
    ) -> Result<bool, StoreError> {
        // The error is the worker's own text; a NUL in it is replaced, not
        // refused, so a failure is always recorded.
        let error = error.replace('\0', " ");
        dispatch!(self, webhooks::delivery_failed(id, &error, next_attempt))
    }

    async fn deliveries(&self, parked_only: bool, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        dispatch!(self, webhooks::deliveries(parked_only, limit))
    }

    async fn retry_parked(&self, id: Option<i64>, now: NaiveDateTime) -> Result<u64, StoreError> {
        dispatch!(self, webhooks::retry_parked(id, now))
    }
}

#[async_trait]
impl OAuthStore for SqlStore {
    async fn add_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        if [
            &state.state,
            &state.provider,
            &state.session_token,
            &state.pkce_verifier,
            &state.nonce,
            &state.redirect_uri,
        ]
        .iter()
        .any(|t| has_nul(t))
        {
            return Err(nul_refused());
        }
        dispatch!(self, oauth::add_oauth_state(state))
    }

    async fn take_oauth_state(&self, state: &str) -> Result<Option<OAuthState>, StoreError> {
        if has_nul(state) {
            return Ok(None);
        }
        dispatch!(self, oauth::take_oauth_state(state))
    }

    async fn delete_oauth_states_expired_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        dispatch!(self, oauth::delete_oauth_states_expired_before(before))
    }

    async fn add_oauth_identity(&self, identity: &OAuthIdentity) -> Result<(), StoreError> {
        if has_nul(&identity.provider) || has_nul(&identity.subject) {
            return Err(nul_refused());
        }
        dispatch!(self, oauth::add_oauth_identity(identity))
    }

    async fn oauth_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<OAuthIdentity>, StoreError> {
        if has_nul(provider) || has_nul(subject) {
            return Ok(None);
        }
        dispatch!(self, oauth::oauth_identity(provider, subject))
    }

    async fn user_oauth_identities(
        &self,
        user_id: UserId,
    ) -> Result<Vec<OAuthIdentity>, StoreError> {
        dispatch!(self, oauth::user_oauth_identities(user_id))
    }

    async fn delete_oauth_identity(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> Result<u64, StoreError> {
        if has_nul(provider) {
            return Ok(0);
        }
        dispatch!(self, oauth::delete_oauth_identity(user_id, provider))
    }
}

#[async_trait]
impl ApiKeyStore for SqlStore {
    async fn create_session_apikey(&self, key: &SessionApiKey) -> Result<(), StoreError> {
        dispatch!(self, apikeys::create_session_apikey(key))
    }

    async fn valid_session_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<SessionApiKey>, StoreError> {
        if has_nul(key.apikey) || has_nul(key.user_role) {
            return Ok(None);
        }
        dispatch!(self, apikeys::valid_session_apikey(key, now))
    }

    async fn delete_session_apikey(&self, key: ApiKeyRef<'_>) -> Result<u64, StoreError> {
        if has_nul(key.apikey) || has_nul(key.user_role) {
            return Ok(0);
        }
        dispatch!(self, apikeys::delete_session_apikey(key))
    }

    async fn create_nosession_apikey(&self, key: &NoSessionApiKey) -> Result<(), StoreError> {
        dispatch!(self, apikeys::create_nosession_apikey(key))
    }

    async fn valid_nosession_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<NoSessionApiKey>, StoreError> {
        if has_nul(key.apikey) || has_nul(key.user_role) {
            return Ok(None);
        }
        dispatch!(self, apikeys::valid_nosession_apikey(key, now))
    }

    async fn refreshable_nosession_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<NoSessionApiKey>, StoreError> {
        if has_nul(key.apikey) || has_nul(key.user_role) {
            return Ok(None);
        }
        dispatch!(self, apikeys::refreshable_nosession_apikey(key, now))
    }

    async fn delete_nosession_apikey(&self, key: ApiKeyRef<'_>) -> Result<u64, StoreError> {
        if has_nul(key.apikey) || has_nul(key.user_role) {
            return Ok(0);
        }
        dispatch!(self, apikeys::delete_nosession_apikey(key))
    }

    async fn delete_user_nosession_apikeys(
        &self,
        user_id: UserId,
        user_role: &str,
    ) -> Result<u64, StoreError> {
        if has_nul(user_role) {
            return Ok(0);
        }
        dispatch!(
            self,
            apikeys::delete_user_nosession_apikeys(user_id, user_role)
        )
    }
}
