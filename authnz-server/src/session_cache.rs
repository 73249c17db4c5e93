//! An in-process cache of active sessions for the embedded deployment: one
//! `authnzrv` owning its SQLite file. `session-exists` (the request frontends
//! send on every page view) is then answered from memory instead of a SQLite
//! round trip through a worker thread.
//!
//! Correctness rests on this process seeing every write. [`CachedStore`]
//! wraps the user and session stores and keeps a global *epoch*: every call
//! that may change an existing session or user (update, delete, lock lift,
//! session delete or edit, cleanup) increments it when the call returns. A
//! cached entry remembers the epoch read *before* its database lookup and is
//! served only while the epoch is unchanged and its `expires` is still later
//! than the caller's `now` (the same test the database applies). So once a
//! write has returned, no lookup serves what it replaced; a write racing a
//! lookup makes that lookup's entry unusable. Inserts (new sessions, new
//! users) change no existing entry and do not invalidate. Only found
//! sessions are cached; unknown tokens always go to the database.
//!
//! It is switched on only where that holds: sessions in the SQLite auth
//! database, and this process holding an exclusive lock on
//! `<database>.authnzrv-lock` (see [`try_lock_exclusive`]). With PostgreSQL
//! or Redis, other instances write too, and nothing is cached.
//!
//! Memory: at most `capacity` entries; when full, the map is emptied (entries
//! are cheap to refill and a full map mostly holds dead epochs).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use authnz_api::{
    ColumnValue, NewUser, Session, SessionStore, StoreError, User, UserColumn, UserId, UserPatch,
    UserStore,
};
use chrono::NaiveDateTime;

/// Default most entries held.
pub const DEFAULT_CAPACITY: usize = 100_000;

#[derive(Debug)]
struct Entry {
    epoch: u64,
    session: Session,
    user: User,
}

/// The user and session stores with active sessions cached (see the
/// [module docs](self)). Implements both traits; use it for both.
#[derive(Debug)]
pub struct CachedStore {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    epoch: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CachedStore {
    /// Cache `sessions` (whose lookups join `users`) with at most
    /// `capacity` entries.
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        capacity: usize,
    ) -> Self {
        Self {
            users,
            sessions,
            epoch: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Entries held (live or dead).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single inserts and removals): keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After a write that may change existing sessions or users.
    fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    fn forget(&self, token: &str) {
        self.lock().remove(token);
    }
}

#[async_trait]
impl SessionStore for CachedStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        self.sessions.create_session(session).await
    }

    async fn active_session(
        &self,
        token: &str,
        now: NaiveDateTime,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(e) = self.lock().get(token)
            && e.epoch == epoch
            && e.session.expires > now
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some((e.session.clone(), e.user.clone())));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let found = self.sessions.active_session(token, now).await?;
        if let Some((session, user)) = &found {
            let mut entries = self.lock();
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(
                token.to_owned(),
                Entry {
                    epoch,
                    session: session.clone(),
                    user: user.clone(),
                },
            );
        }
        Ok(found)
    }

    async fn delete_session(&self, token: &str) -> Result<u64, StoreError> {
        let r = self.sessions.delete_session(token).await;
        self.invalidate();
        self.forget(token);
        r
    }

    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let r = self.sessions.delete_user_sessions(user_id, keep).await;
        self.invalidate();
        r
    }

    async fn user_sessions(
        &self,
        user_id: UserId,
        now: NaiveDateTime,
    ) -> Result<Vec<Session>, StoreError> {
        self.sessions.user_sessions(user_id, now).await
    }

    async fn set_session_extra(
        &self,
        token: &str,
        extra_info_json: Option<&serde_json::Value>,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let r = self
            .sessions
            .set_session_extra(token, extra_info_json, now)
            .await;
        self.invalidate();
        r
    }

    async fn delete_sessions_expired_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let r = self.sessions.delete_sessions_expired_before(before).await;
        self.invalidate();
        r
    }
}

#[async_trait]
impl UserStore for CachedStore {
    async fn create_user(&self, user: &NewUser, now: NaiveDateTime) -> Result<UserId, StoreError> {
        self.users.create_user(user, now).await
    }

    async fn user_by_id(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        self.users.user_by_id(user_id).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.users.user_by_email(email).await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.users.list_users().await
    }

    async fn update_user(
        &self,
        user_id: UserId,
        patch: &UserPatch,
        only_if_active: Option<bool>,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let r = self
            .users
            .update_user(user_id, patch, only_if_active, now)
            .await;
        self.invalidate();
        r
    }

    async fn delete_user(&self, user_id: UserId) -> Result<u64, StoreError> {
        let r = self.users.delete_user(user_id).await;
        self.invalidate();
        r
    }

    async fn find_users(
        &self,
        column: UserColumn,
        value: &ColumnValue,
    ) -> Result<Vec<User>, StoreError> {
        self.users.find_users(column, value).await
    }

    async fn find_users_by_extra_info(
        &self,
        wanted: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<User>, StoreError> {
        self.users.find_users_by_extra_info(wanted).await
    }

    async fn users_with_lock_deadline(&self) -> Result<Vec<User>, StoreError> {
        self.users.users_with_lock_deadline().await
    }

    async fn lift_lock_if_due(
        &self,
        user_id: UserId,
        restore_role: &str,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let r = self
            .users
            .lift_lock_if_due(user_id, restore_role, now)
            .await;
        self.invalidate();
        r
    }

    async fn superuser_role(&self) -> Result<Option<String>, StoreError> {
        self.users.superuser_role().await
    }
}

/// Take an exclusive, non-blocking advisory lock (`flock`) on
/// `<database>.authnzrv-lock`, created next to the SQLite file, held until
/// the returned file is dropped (or the process ends). `None` when another
/// process holds it (then the cache must stay off) or the file cannot be
/// made.
#[cfg(target_os = "linux")]
pub fn try_lock_exclusive(database: &std::path::Path) -> Option<std::fs::File> {
    let mut name = database.as_os_str().to_owned();
    name.push(".authnzrv-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::path::PathBuf::from(name))
        .ok()?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(file)
}

/// Without `flock`, never claim exclusive use: the cache stays off.
#[cfg(not(target_os = "linux"))]
pub fn try_lock_exclusive(_database: &std::path::Path) -> Option<std::fs::File> {
    None
}
