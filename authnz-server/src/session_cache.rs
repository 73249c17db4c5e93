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
//! Without more, it is switched on only where that holds: sessions in the
//! SQLite auth database, and this process holding an exclusive lock on
//! `<database>.authnzrv-lock` (see [`try_lock_exclusive`]). Where other
//! instances write too (PostgreSQL, MySQL, sessions in Redis), the cache is
//! made with a [`Coherence`] ([`CachedStore::with_coherence`]): every write
//! is also announced on a shared invalidation bus, every announcement from
//! any instance bumps the epoch, the cache is served from only while the bus
//! is known to work, and no entry is served longer than a maximum age after
//! it was read (see [`crate::cache_bus`]).
//!
//! Users are shared: a session entry holds its user's id, and the user row
//! is held once, as an `Arc<User>` in a second map keyed by user id, with
//! its own epoch. A lookup is served from memory only when both the session
//! entry and its user's entry carry the current epoch; both were then read
//! after the last completed write, so the pair is one a database lookup
//! could have returned. A miss reads both from the database and refreshes
//! both entries (an entry of the same epoch is kept, so concurrent sessions
//! keep sharing one row).
//!
//! With a maximum age, entries in use are read again *before* they reach
//! it: a hit on a pair older than its refresh point (between half and seven
//! eighths of the maximum age, spread by token so that sessions read
//! together are not all read again together) is still served, and queues
//! the token for one background task ([`CachedStore::spawn_refresher`])
//! that reads it from the store and replaces both entries (at the epoch
//! read before that lookup, as a miss does). Hot sessions then never miss
//! on age, and the bound is unchanged: nothing is served older than the
//! maximum age. The queue is bounded; a token that does not fit is queued
//! again by a later hit.
//!
//! Memory is bounded in bytes, not entries: every entry's size is estimated
//! (strings, including the password hash, and the whole `extra_info` JSON
//! tree, plus fixed overheads) and the total is kept at most `max_bytes`
//! (default [`DEFAULT_MAX_BYTES`], 64 MiB). When an insert would pass the
//! budget, both maps are emptied (entries are cheap to refill and a full map
//! mostly holds dead epochs). An entry larger than an eighth of the budget
//! is never cached: its lookups always go to the database. So one user with
//! a huge `extra_info` and hundreds of sessions costs one copy of the row,
//! and no mix of users and sessions holds more than the budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authnz_api::{
    ColumnValue, NewUser, Session, SessionStore, StoreError, User, UserColumn, UserId, UserPatch,
    UserStore,
};
use chrono::NaiveDateTime;

use crate::cache_bus::Coherence;

/// Default byte budget of the cache (estimated, see the [module docs](self)).
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// Entries larger than `max_bytes / TOO_LARGE_FRACTION` are not cached.
const TOO_LARGE_FRACTION: usize = 8;

/// Estimated bookkeeping per map entry (hash slot, key, entry header).
const ENTRY_OVERHEAD: usize = 64;

#[derive(Debug)]
struct SessionEntry {
    epoch: u64,
    /// When its lookup started (for the maximum age).
    read_at: Instant,
    /// A hit on the pair older than this queues a background refresh.
    refresh_after: Duration,
    /// Queued for a background refresh, not yet done.
    refreshing: bool,
    session: Session,
    bytes: usize,
}

/// Most tokens waiting for a background refresh.
const REFRESH_QUEUE: usize = 4096;

/// Where between half and seven eighths of `max_age` the pair of `token`
/// is read again in the background (FNV-1a of the token spreads it).
fn refresh_point(token: &str, max_age: Duration) -> Duration {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in token.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let spread = (h % 1024) as f64 / 1024.0;
    max_age.mul_f64(0.5 + 0.375 * spread)
}

#[derive(Debug)]
struct UserEntry {
    epoch: u64,
    read_at: Instant,
    user: Arc<User>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Entries {
    sessions: HashMap<String, SessionEntry>,
    users: HashMap<UserId, UserEntry>,
    /// Sum of the `bytes` of every entry in both maps.
    bytes: usize,
}

impl Entries {
    fn clear(&mut self) {
        self.sessions.clear();
        self.users.clear();
        self.bytes = 0;
    }

    fn remove_session(&mut self, token: &str) {
        if let Some(old) = self.sessions.remove(token) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
        }
    }
}

/// The estimated heap and inline size of a cached session, its key included.
fn session_bytes(s: &Session) -> usize {
    ENTRY_OVERHEAD
        + std::mem::size_of::<SessionEntry>()
        + 2 * s.session_token.len()
        + s.ip_address.len()
        + s.user_agent.len()
        + s.extra_info_json.as_ref().map_or(0, json_bytes)
}

/// The estimated heap and inline size of a cached user row.
fn user_bytes(u: &User) -> usize {
    ENTRY_OVERHEAD
        + std::mem::size_of::<UserEntry>()
        + std::mem::size_of::<User>()
        + u.system_id.len()
        + u.full_name.as_ref().map_or(0, String::len)
        + u.password.len()
        + u.email.len()
        + u.user_role.len()
        + u.extra_info.as_ref().map_or(0, json_bytes)
}

/// The estimated size of a JSON tree (walked without recursion).
fn json_bytes(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    let mut total = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total += std::mem::size_of::<Value>();
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(a) => stack.extend(a),
            Value::Object(m) => {
                for (k, v) in m {
                    total += std::mem::size_of::<String>() + k.len() + ENTRY_OVERHEAD / 4;
                    stack.push(v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    total
}

/// The user and session stores with active sessions cached (see the
/// [module docs](self)). Implements both traits; use it for both.
#[derive(Debug)]
pub struct CachedStore {
    users: Arc<dyn UserStore>,
    sessions: Arc<dyn SessionStore>,
    epoch: Arc<AtomicU64>,
    /// Set when other instances write too.
    coherence: Option<Arc<Coherence>>,
    /// No entry is served longer than this after it was read.
    max_age: Option<Duration>,
    entries: Mutex<Entries>,
    max_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Sessions dropped to stay within `max_bytes`.
    evictions: AtomicU64,
    /// Background refreshes done.
    refreshes: AtomicU64,
    /// The queue of [`CachedStore::spawn_refresher`]'s task, once started.
    refresh: std::sync::OnceLock<tokio::sync::mpsc::Sender<(String, NaiveDateTime)>>,
}

impl CachedStore {
    /// Cache `sessions` (whose lookups join `users`) in at most `max_bytes`
    /// (estimated) of memory.
    pub fn new(
        users: Arc<dyn UserStore>,
        sessions: Arc<dyn SessionStore>,
        max_bytes: usize,
    ) -> Self {
        Self {
            users,
            sessions,
            epoch: Arc::new(AtomicU64::new(0)),
            coherence: None,
            max_age: None,
            entries: Mutex::new(Entries::default()),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            refresh: std::sync::OnceLock::new(),
        }
    }

    /// The cache of a store other instances write too: served from only
    /// while `coherence` says so, writes announced on its bus, entries
    /// served at most its `max_age` after they were read.
    pub fn with_coherence(mut self, coherence: Arc<Coherence>) -> Self {
        self.epoch = coherence.epoch();
        self.max_age = Some(coherence.settings().max_age);
        self.coherence = Some(coherence);
        self
    }

    /// True while lookups may be answered from memory.
    pub fn serving(&self) -> bool {
        self.coherence.as_ref().is_none_or(|c| c.serving())
    }

    /// (hits, misses) so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Background refreshes done so far.
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    /// Start the task that reads hot entries again before they reach the
    /// maximum age (see the [module docs](self)); it stops when the cache
    /// is dropped. `None` (nothing started) without a maximum age or when
    /// one is already running.
    pub fn spawn_refresher(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        self.max_age?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(REFRESH_QUEUE);
        self.refresh.set(tx).ok()?;
        let cache = Arc::downgrade(self);
        Some(tokio::spawn(async move {
            while let Some((token, now)) = rx.recv().await {
                let Some(cache) = cache.upgrade() else { return };
                cache.refresh_one(&token, now).await;
            }
        }))
    }

    /// Read `token`'s pair again, as a miss would, and replace its entries.
    async fn refresh_one(&self, token: &str, now: NaiveDateTime) {
        let epoch = self.epoch.load(Ordering::Acquire);
        let read_at = Instant::now();
        if self.serving()
            && let Ok(Some((session, user))) = self.sessions.active_session(token, now).await
            && self.serving()
        {
            self.refreshes.fetch_add(1, Ordering::Relaxed);
            self.remember(token, epoch, read_at, &session, &user);
            return;
        }
        if let Some(s) = self.lock().sessions.get_mut(token) {
            s.refreshing = false;
        }
    }

    /// Session entries held (live or dead).
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// True when no session entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sessions dropped so far to stay within the memory budget.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Estimated bytes held by all entries (at most the budget).
    pub fn held_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// User rows held (each at most once, shared by its sessions).
    pub fn user_copies(&self) -> usize {
        self.lock().users.len()
    }

    /// The cached user row of the session `token`, if both are held.
    pub fn cached_user(&self, token: &str) -> Option<Arc<User>> {
        let entries = self.lock();
        let user_id = entries.sessions.get(token)?.session.user_id;
        entries.users.get(&user_id).map(|u| u.user.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding this lock cannot leave the maps inconsistent
        // in a way that serves stale data (entries carry their epoch; the
        // byte count is only a bound): keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After a write that may change existing sessions or users: drop
    /// every entry here, and announce it to the other instances.
    async fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(c) = &self.coherence {
            c.publish_invalidation().await;
        }
    }

    fn fresh(&self, read_at: Instant) -> bool {
        self.max_age.is_none_or(|age| read_at.elapsed() < age)
    }

    fn forget(&self, token: &str) {
        self.lock().remove_session(token);
    }

    /// The pair for `token` if both entries carry `epoch` and the session
    /// is still active at `now`.
    /// Queues the pair for a background refresh when it is past its
    /// refresh point.
    fn cached(&self, token: &str, epoch: u64, now: NaiveDateTime) -> Option<(Session, User)> {
        let mut entries = self.lock();
        let s = entries.sessions.get(token)?;
        if s.epoch != epoch || s.session.expires <= now || !self.fresh(s.read_at) {
            return None;
        }
        let u = entries.users.get(&s.session.user_id)?;
        if u.epoch != epoch || !self.fresh(u.read_at) {
            return None;
        }
        let hit = (s.session.clone(), User::clone(&u.user));
        let due = !s.refreshing && s.read_at.min(u.read_at).elapsed() > s.refresh_after;
        let queue = match self.refresh.get() {
            Some(q) if due => q,
            _ => return Some(hit),
        };
        if let Some(s) = entries.sessions.get_mut(token) {
            s.refreshing = true;
        }
        drop(entries);
        if queue.try_send((token.to_owned(), now)).is_err()
            && let Some(s) = self.lock().sessions.get_mut(token)
        {
            s.refreshing = false;
        }
        Some(hit)
    }

    /// Remember a database answer read at `epoch`, within the budget.
    fn remember(&self, token: &str, epoch: u64, read_at: Instant, session: &Session, user: &User) {
        // Sized outside the lock: walking a large `extra_info` takes a while.
        let s_bytes = session_bytes(session);
        let u_bytes = user_bytes(user);
        if s_bytes.saturating_add(u_bytes) > self.max_bytes / TOO_LARGE_FRACTION {
            return;
        }
        let mut entries = self.lock();
        entries.remove_session(token);
        // A held row of the same epoch is shared, unless this read is
        // newer (a refresh): then the newer row replaces it.
        let mut shared = entries
            .users
            .get(&user.user_id)
            .is_some_and(|u| u.epoch == epoch && self.fresh(u.read_at) && u.read_at >= read_at);
        let added = s_bytes + if shared { 0 } else { u_bytes };
        if entries.bytes + added > self.max_bytes {
            let dropped = entries.sessions.len() as u64;
            self.evictions.fetch_add(dropped, Ordering::Relaxed);
            entries.clear();
            shared = false;
        }
        if !shared {
            let fresh = UserEntry {
                epoch,
                read_at,
                user: Arc::new(user.clone()),
                bytes: u_bytes,
            };
            if let Some(old) = entries.users.insert(user.user_id, fresh) {
                entries.bytes = entries.bytes.saturating_sub(old.bytes);
            }
            entries.bytes += u_bytes;
        }
        entries.sessions.insert(
            token.to_owned(),
            SessionEntry {
                epoch,
                read_at,
                refresh_after: self
                    .max_age
                    .map_or(Duration::MAX, |age| refresh_point(token, age)),
                refreshing: false,
                session: session.clone(),
                bytes: s_bytes,
            },
        );
        entries.bytes += s_bytes;
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
        let read_at = Instant::now();
        let serving = self.serving();
        if serving && let Some(hit) = self.cached(token, epoch, now) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(hit));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let found = self.sessions.active_session(token, now).await?;
        if serving && let Some((session, user)) = &found {
            self.remember(token, epoch, read_at, session, user);
        }
        Ok(found)
    }

    async fn delete_session(&self, token: &str) -> Result<u64, StoreError> {
        let r = self.sessions.delete_session(token).await;
        self.invalidate().await;
        self.forget(token);
        r
    }

    async fn delete_user_session(&self, user_id: UserId, token: &str) -> Result<u64, StoreError> {
        let r = self.sessions.delete_user_session(user_id, token).await;
        self.invalidate().await;
        self.forget(token);
        r
    }

    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let r = self.sessions.delete_user_sessions(user_id, keep).await;
        self.invalidate().await;
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
        self.invalidate().await;
        r
    }

    async fn delete_sessions_expired_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let r = self.sessions.delete_sessions_expired_before(before).await;
        self.invalidate().await;
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
        self.invalidate().await;
        r
    }

    async fn delete_user(&self, user_id: UserId) -> Result<u64, StoreError> {
        let r = self.users.delete_user(user_id).await;
        self.invalidate().await;
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
        self.invalidate().await;
        r
    }

    async fn superuser_role(&self) -> Result<Option<String>, StoreError> {
        self.users.superuser_role().await
    }
}

/// The outcome of [`lock_exclusive`].
#[derive(Debug)]
pub enum DatabaseLock {
    /// This process holds the lock until the file is dropped.
    Taken(std::fs::File),
    /// Another process holds it: a server caching sessions, or an admin
    /// command changing users.
    HeldElsewhere,
    /// The lock could not be tried (the file cannot be made or opened, or
    /// this platform has no `flock`).
    Unavailable(std::io::Error),
}

/// The lock file of a SQLite database: `<database>.authnzrv-lock`.
pub fn lock_file_path(database: &std::path::Path) -> std::path::PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".authnzrv-lock");
    std::path::PathBuf::from(name)
}

/// Take an exclusive, non-blocking advisory lock (`flock`) on
/// [`lock_file_path`], created next to the SQLite file, held until the
/// returned file is dropped (or the process ends). The server holds it
/// while it caches sessions; the admin commands that change users or
/// sessions take it too, and refuse to run when a server holds it.
#[cfg(target_os = "linux")]
pub fn lock_exclusive(database: &std::path::Path) -> DatabaseLock {
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_file_path(database))
    {
        Ok(file) => file,
        Err(e) => return DatabaseLock::Unavailable(e),
    };
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => DatabaseLock::Taken(file),
        Err(rustix::io::Errno::WOULDBLOCK) => DatabaseLock::HeldElsewhere,
        Err(e) => DatabaseLock::Unavailable(e.into()),
    }
}

/// Without `flock` there is no lock (and the server never caches).
#[cfg(not(target_os = "linux"))]
pub fn lock_exclusive(_database: &std::path::Path) -> DatabaseLock {
    DatabaseLock::Unavailable(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "no flock on this platform",
    ))
}

/// [`lock_exclusive`] as an option: `None` when another process holds the
/// lock (then the cache must stay off) or it cannot be tried.
pub fn try_lock_exclusive(database: &std::path::Path) -> Option<std::fs::File> {
    match lock_exclusive(database) {
        DatabaseLock::Taken(file) => Some(file),
        DatabaseLock::HeldElsewhere | DatabaseLock::Unavailable(_) => None,
    }
}
