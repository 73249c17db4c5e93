//! [`SessionStore`] on Redis, users in SQL (or any [`UserStore`]).
//!
//! Layout (all under the backend's prefix `{p}`):
//!
//! - `{p}s:{token}`: hash with the session's fields: `user_id`,
//!   `ip_address`, `user_agent`, `created` and `expires` (µs since the
//!   epoch, so they round-trip exactly) and `extra` (the JSON text of
//!   `extra_info_json`, key order kept; absent for `None`);
//! - `{p}u:{user_id}`: sorted set of the user's tokens scored by `created`
//!   (for [`SessionStore::user_sessions`] and deleting by user);
//! - `{p}exp`: sorted set of all tokens scored by `expires` (for
//!   [`SessionStore::delete_sessions_expired_before`]);
//! - `{p}sk:{token}` and `{p}k:{apikey}`: the session's API keys, see
//!   [`crate::RedisSessionApiKeys`].
//!
//! Whether a session is active is decided by comparing `expires` with the
//! caller's `now` (strictly later, to the microsecond), never by Redis. The
//! Redis TTL of a session's keys is only garbage collection: `expires -
//! created` plus [`SESSION_GRACE`], independent of the wall clock, so a
//! session is kept at least as long as it can be active when `created` is
//! about the real time of creation. The per-user sets get the longest TTL of
//! their sessions; tokens left in them by TTL expiry are dropped when next
//! read.
//!
//! Every write (create, delete one, delete one of a user, delete by user,
//! delete expired, set the extra info) is one Lua script, so it is atomic
//! and a session and its API keys go together. Users live elsewhere, so
//! what SQL does with a foreign key is done here by looking the user up:
//! creating a session for an unknown user is refused
//! ([`StoreError::InvalidReference`], checked just before the write); a
//! session whose user no longer exists counts as absent (not active, not
//! listed, not counted as deleted) and is deleted when met.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authnz_api::ratelimit::epoch_micros;
use authnz_api::{Session, SessionStore, StoreError, User, UserId, UserStore};
use chrono::{DateTime, NaiveDateTime};
use redis::Script;

use crate::backend::RedisBackend;
use crate::error::RedisStoreError;

/// Kept after a session's lifetime (`expires - created`) before Redis drops
/// it, so clock skew and slow requests never make a live session vanish.
pub const SESSION_GRACE: Duration = Duration::from_secs(60);

/// Longest TTL given to anything (about 100 years), so an absurd `expires`
/// cannot overflow Redis.
const MAX_TTL_MS: i64 = 100 * 366 * 24 * 3600 * 1000;

/// How many expired sessions one cleanup script deletes; the cleanup loops,
/// so Redis is never blocked for long.
const CLEANUP_BATCH: usize = 500;

/// Lua: delete one session (if `uid` is given, only if it belongs to that
/// user), its API keys and its index entries. Returns its user id (as
/// stored) or false if there was no such session.
macro_rules! lua_del_session {
    () => {
        r"
local function del_session(p, tok, uid)
  local sk = p .. 's:' .. tok
  local owner = redis.call('HGET', sk, 'user_id')
  if not owner then
    redis.call('ZREM', p .. 'exp', tok)
    if uid then redis.call('ZREM', p .. 'u:' .. uid, tok) end
    return false
  end
  if uid and owner ~= uid then
    redis.call('ZREM', p .. 'u:' .. uid, tok)
    return false
  end
  local keys = redis.call('SMEMBERS', p .. 'sk:' .. tok)
  for _, k in ipairs(keys) do redis.call('DEL', p .. 'k:' .. k) end
  redis.call('DEL', sk, p .. 'sk:' .. tok)
  redis.call('ZREM', p .. 'exp', tok)
  redis.call('ZREM', p .. 'u:' .. owner, tok)
  return owner
end
"
    };
}

/// ARGV = prefix, token, user_id, ip, user agent, created, expires, has
/// extra ('1'/'0'), extra, ttl ms. Returns 1, or 0 if the token exists.
const CREATE_LUA: &str = r"
local p, tok = ARGV[1], ARGV[2]
local sk = p .. 's:' .. tok
if redis.call('EXISTS', sk) == 1 then return 0 end
redis.call('HSET', sk, 'user_id', ARGV[3], 'ip_address', ARGV[4], 'user_agent', ARGV[5],
  'created', ARGV[6], 'expires', ARGV[7])
if ARGV[8] == '1' then redis.call('HSET', sk, 'extra', ARGV[9]) end
local ttl = tonumber(ARGV[10])
redis.call('PEXPIRE', sk, ttl)
local uk = p .. 'u:' .. ARGV[3]
redis.call('ZADD', uk, ARGV[6], tok)
if redis.call('PTTL', uk) < ttl then redis.call('PEXPIRE', uk, ttl) end
redis.call('ZADD', p .. 'exp', ARGV[7], tok)
return 1
";

/// ARGV = prefix, token. Returns the user id or false.
const DELETE_LUA: &str = concat!(
    lua_del_session!(),
    r"
return del_session(ARGV[1], ARGV[2], nil)
"
);

/// ARGV = prefix, token, user_id. Deletes the session only if it is that
/// user's. Returns the user id or false.
const DELETE_OWN_LUA: &str = concat!(
    lua_del_session!(),
    r"
return del_session(ARGV[1], ARGV[2], ARGV[3])
"
);

/// ARGV = prefix, user_id, keep ('' for none). Returns the count deleted.
const DELETE_USER_LUA: &str = concat!(
    lua_del_session!(),
    r"
local p, uid, keep = ARGV[1], ARGV[2], ARGV[3]
local n = 0
for _, tok in ipairs(redis.call('ZRANGE', p .. 'u:' .. uid, 0, -1)) do
  if tok ~= keep and del_session(p, tok, uid) then n = n + 1 end
end
return n
"
);

/// ARGV = prefix, before (µs, exclusive), batch. Returns {scanned, deleted}.
const DELETE_EXPIRED_LUA: &str = concat!(
    lua_del_session!(),
    r"
local p = ARGV[1]
local toks = redis.call('ZRANGEBYSCORE', p .. 'exp', '-inf', '(' .. ARGV[2], 'LIMIT', 0, ARGV[3])
local n = 0
for _, tok in ipairs(toks) do
  if del_session(p, tok, nil) then n = n + 1 end
end
return {#toks, n}
"
);

/// ARGV = prefix, user_id. Returns {token, field, value, ...} per live
/// session in `created` order; drops tokens whose session is gone.
const USER_SESSIONS_LUA: &str = r"
local p, uid = ARGV[1], ARGV[2]
local uk = p .. 'u:' .. uid
local out = {}
for _, tok in ipairs(redis.call('ZRANGE', uk, 0, -1)) do
  local h = redis.call('HGETALL', p .. 's:' .. tok)
  local owner = nil
  for i = 1, #h, 2 do if h[i] == 'user_id' then owner = h[i + 1] end end
  if owner == uid then
    table.insert(h, 1, tok)
    table.insert(out, h)
  else
    redis.call('ZREM', uk, tok)
  end
end
return out
";

/// ARGV = prefix, token, now (µs), has extra ('1'/'0'), extra. Returns the
/// user id if the session was active and changed, else false.
const SET_EXTRA_LUA: &str = r"
local sk = ARGV[1] .. 's:' .. ARGV[2]
local f = redis.call('HMGET', sk, 'expires', 'user_id')
if not f[1] or tonumber(f[1]) <= tonumber(ARGV[3]) then return false end
if ARGV[4] == '1' then
  redis.call('HSET', sk, 'extra', ARGV[5])
else
  redis.call('HDEL', sk, 'extra')
end
return f[2]
";

/// The Lua scripts of the session store, compiled (hashed) once.
#[derive(Debug, Clone)]
struct Scripts {
    create: Script,
    delete: Script,
    delete_own: Script,
    delete_user: Script,
    delete_expired: Script,
    user_sessions: Script,
    set_extra: Script,
}

impl Scripts {
    fn new() -> Self {
        Self {
            create: Script::new(CREATE_LUA),
            delete: Script::new(DELETE_LUA),
            delete_own: Script::new(DELETE_OWN_LUA),
            delete_user: Script::new(DELETE_USER_LUA),
            delete_expired: Script::new(DELETE_EXPIRED_LUA),
            user_sessions: Script::new(USER_SESSIONS_LUA),
            set_extra: Script::new(SET_EXTRA_LUA),
        }
    }
}

/// Sessions in Redis, users from a [`UserStore`]. Get one from
/// [`RedisBackend::session_store`].
#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    backend: RedisBackend,
    users: Arc<dyn UserStore>,
    scripts: Scripts,
}

impl RedisSessionStore {
    /// Sessions on `backend`'s connection and prefix; `users` answers who a
    /// session's user is.
    pub fn new(backend: RedisBackend, users: Arc<dyn UserStore>) -> Self {
        Self {
            backend,
            users,
            scripts: Scripts::new(),
        }
    }

    /// True if `user_id` names an existing user.
    async fn user_exists(&self, user_id: UserId) -> Result<bool, StoreError> {
        Ok(self.users.user_by_id(user_id).await?.is_some())
    }

    /// Delete the session `token`; its owner's id if there was one.
    async fn delete_raw(&self, token: &str) -> Result<Option<UserId>, StoreError> {
        let mut c = self.backend.conn.clone();
        let owner: Option<String> = self
            .backend
            .run(
                self.scripts
                    .delete
                    .arg(&*self.backend.prefix)
                    .arg(token)
                    .invoke_async(&mut c),
            )
            .await?;
        owner.map(|o| parse_i64(&o, "session user_id")).transpose()
    }
}

/// The TTL of a session's keys: its lifetime plus the grace, in ms.
fn session_ttl_ms(s: &Session) -> i64 {
    let life_us = epoch_micros(s.expires)
        .saturating_sub(epoch_micros(s.created))
        .max(0);
    let grace_ms = i64::try_from(SESSION_GRACE.as_millis()).unwrap_or(60_000);
    (life_us / 1000)
        .saturating_add(grace_ms)
        .clamp(grace_ms, MAX_TTL_MS)
}

pub(crate) fn parse_i64(s: &str, what: &'static str) -> Result<i64, StoreError> {
    s.parse::<i64>()
        .map_err(|_| RedisStoreError::Corrupt(what).into())
}

pub(crate) fn parse_time(s: &str, what: &'static str) -> Result<NaiveDateTime, StoreError> {
    let us = parse_i64(s, what)?;
    DateTime::from_timestamp_micros(us)
        .map(|d| d.naive_utc())
        .ok_or_else(|| RedisStoreError::Corrupt(what).into())
}

/// `extra_info_json` as stored: (present, JSON text).
fn extra_arg(extra: Option<&serde_json::Value>) -> Result<(&'static str, String), StoreError> {
    match extra {
        None => Ok(("0", String::new())),
        Some(v) => Ok((
            "1",
            serde_json::to_string(v).map_err(RedisStoreError::from)?,
        )),
    }
}

/// A session from its token and hash fields; `None` for an empty hash.
fn session_from_fields(
    token: &str,
    mut f: HashMap<String, String>,
) -> Result<Option<Session>, StoreError> {
    if f.is_empty() {
        return Ok(None);
    }
    let mut take = |name: &'static str| {
        f.remove(name)
            .ok_or_else(|| StoreError::from(RedisStoreError::Corrupt(name)))
    };
    let user_id = parse_i64(&take("user_id")?, "session user_id")?;
    let ip_address = take("ip_address")?;
    let user_agent = take("user_agent")?;
    let created = parse_time(&take("created")?, "session created")?;
    let expires = parse_time(&take("expires")?, "session expires")?;
    let extra_info_json = match f.remove("extra") {
        None => None,
        Some(text) => Some(authnz_api::pyjson::loads_str(&text).map_err(RedisStoreError::from)?),
    };
    Ok(Some(Session {
        session_token: token.to_owned(),
        ip_address,
        user_agent,
        user_id,
        created,
        expires,
        extra_info_json,
    }))
}

/// A session from a flat `[token, field, value, ...]` reply.
fn session_from_flat(flat: Vec<String>) -> Result<Option<Session>, StoreError> {
    let mut it = flat.into_iter();
    let Some(token) = it.next() else {
        return Err(RedisStoreError::Corrupt("session list").into());
    };
    let mut fields = HashMap::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        fields.insert(k, v);
    }
    session_from_fields(&token, fields)
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        // As in the SQL store (PostgreSQL cannot hold them): text with NUL
        // characters is refused, so every backend behaves alike.
        if [
            &session.session_token,
            &session.ip_address,
            &session.user_agent,
        ]
        .into_iter()
        .any(|t| t.contains('\0'))
        {
            return Err(StoreError::backend(
                "text containing a NUL character cannot be stored",
            ));
        }
        if !self.user_exists(session.user_id).await? {
            return Err(StoreError::InvalidReference(format!(
                "user {} does not exist",
                session.user_id
            )));
        }
        let (has_extra, extra) = extra_arg(session.extra_info_json.as_ref())?;
        let mut c = self.backend.conn.clone();
        let created: i64 = self
            .backend
            .run(
                self.scripts
                    .create
                    .arg(&*self.backend.prefix)
                    .arg(&session.session_token)
                    .arg(session.user_id)
                    .arg(&session.ip_address)
                    .arg(&session.user_agent)
                    .arg(epoch_micros(session.created))
                    .arg(epoch_micros(session.expires))
                    .arg(has_extra)
                    .arg(extra)
                    .arg(session_ttl_ms(session))
                    .invoke_async(&mut c),
            )
            .await?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict("session token exists".into()))
        }
    }

    async fn active_session(
        &self,
        token: &str,
        now: NaiveDateTime,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let mut c = self.backend.conn.clone();
        let fields: HashMap<String, String> = self
            .backend
            .run(
                redis::cmd("HGETALL")
                    .arg(self.backend.key("s", token))
                    .query_async(&mut c),
            )
            .await?;
        let Some(session) = session_from_fields(token, fields)? else {
            return Ok(None);
        };
        if session.expires <= now {
            return Ok(None);
        }
        match self.users.user_by_id(session.user_id).await? {
            Some(user) => Ok(Some((session, user))),
            None => {
                // The user was deleted: the session went with them.
                self.delete_raw(token).await?;
                Ok(None)
            }
        }
    }

    async fn delete_session(&self, token: &str) -> Result<u64, StoreError> {
        match self.delete_raw(token).await? {
            // A session of a deleted user was already gone as far as the
            // contract goes: report it as such.
            Some(owner) if self.user_exists(owner).await? => Ok(1),
            _ => Ok(0),
        }
    }

    async fn delete_user_session(&self, user_id: UserId, token: &str) -> Result<u64, StoreError> {
        let mut c = self.backend.conn.clone();
        let owner: Option<String> = self
            .backend
            .run(
                self.scripts
                    .delete_own
                    .arg(&*self.backend.prefix)
                    .arg(token)
                    .arg(user_id)
                    .invoke_async(&mut c),
            )
            .await?;
        // As in `delete_session`: a session of a deleted user was gone.
        if owner.is_some() && self.user_exists(user_id).await? {
            Ok(1)
        } else {
            Ok(0)
        }
    }

    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<u64, StoreError> {
        let mut c = self.backend.conn.clone();
        let n: i64 = self
            .backend
            .run(
                self.scripts
                    .delete_user
                    .arg(&*self.backend.prefix)
                    .arg(user_id)
                    .arg(keep.unwrap_or(""))
                    .invoke_async(&mut c),
            )
            .await?;
        if n > 0 && !self.user_exists(user_id).await? {
            return Ok(0);
        }
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn user_sessions(
        &self,
        user_id: UserId,
        now: NaiveDateTime,
    ) -> Result<Vec<Session>, StoreError> {
        let mut c = self.backend.conn.clone();
        let rows: Vec<Vec<String>> = self
            .backend
            .run(
                self.scripts
                    .user_sessions
                    .arg(&*self.backend.prefix)
                    .arg(user_id)
                    .invoke_async(&mut c),
            )
            .await?;
        let mut out = Vec::new();
        for row in rows {
            if let Some(s) = session_from_flat(row)?
                && s.expires > now
            {
                out.push(s);
            }
        }
        if !out.is_empty() && !self.user_exists(user_id).await? {
            self.delete_user_sessions(user_id, None).await?;
            return Ok(Vec::new());
        }
        Ok(out)
    }

    async fn set_session_extra(
        &self,
        token: &str,
        extra_info_json: Option<&serde_json::Value>,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let (has_extra, extra) = extra_arg(extra_info_json)?;
        let mut c = self.backend.conn.clone();
        let owner: Option<String> = self
            .backend
            .run(
                self.scripts
                    .set_extra
                    .arg(&*self.backend.prefix)
                    .arg(token)
                    .arg(epoch_micros(now))
                    .arg(has_extra)
                    .arg(extra)
                    .invoke_async(&mut c),
            )
            .await?;
        let Some(owner) = owner else { return Ok(0) };
        if self
            .user_exists(parse_i64(&owner, "session user_id")?)
            .await?
        {
            Ok(1)
        } else {
            self.delete_raw(token).await?;
            Ok(0)
        }
    }

    async fn delete_sessions_expired_before(
        &self,
        before: NaiveDateTime,
    ) -> Result<u64, StoreError> {
        let mut total = 0u64;
        loop {
            let mut c = self.backend.conn.clone();
            let (scanned, deleted): (usize, u64) = self
                .backend
                .run(
                    self.scripts
                        .delete_expired
                        .arg(&*self.backend.prefix)
                        .arg(epoch_micros(before))
                        .arg(CLEANUP_BATCH)
                        .invoke_async(&mut c),
                )
                .await?;
            total = total.saturating_add(deleted);
            if scanned < CLEANUP_BATCH {
                return Ok(total);
            }
        }
    }
}
