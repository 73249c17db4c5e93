//! [`ApiKeyStore`] for a deployment whose sessions live in Redis.
//!
//! In SQL a session-tied key has a foreign key to its session, which cannot
//! point into Redis. So [`RedisSessionApiKeys`] keeps the session-tied keys
//! next to their sessions and hands the no-session keys (which have no such
//! tie) to an inner store, normally the SQL one:
//!
//! - `{p}k:{apikey}`: hash with `issued`, `expires`, `not_valid_before` (µs
//!   since the epoch), `user_id`, `user_role` and `session_token`;
//! - `{p}sk:{session_token}`: set of the session's keys, so the session's
//!   delete script (delete one, by user, expired) deletes them with it.
//!
//! Both get the session's remaining TTL at creation, so Redis drops them
//! with it. Creating a key checks the user and the role (through the user
//! and role stores) and then, in one Lua script, that the session exists and
//! the token is free. A lookup matches token, user id and role, checks the
//! validity window against the caller's `now`, that the session still
//! exists, and that the user still exists (one lookup by primary key in the
//! user store: users are deleted there, and their keys go with them).

use std::sync::Arc;

use async_trait::async_trait;
use authnz_api::ratelimit::epoch_micros;
use authnz_api::{
    ApiKeyRef, ApiKeyStore, NoSessionApiKey, RoleStore, SessionApiKey, StoreError, UserId,
    UserStore,
};
use chrono::NaiveDateTime;
use redis::Script;

use crate::backend::RedisBackend;
use crate::error::RedisStoreError;
use crate::sessions::{parse_i64, parse_time};

/// ARGV = prefix, apikey, session token, issued, expires, nbf, user_id,
/// role. Returns 1, 0 if the key exists, -1 if the session does not.
const CREATE_LUA: &str = r"
local p, key, tok = ARGV[1], ARGV[2], ARGV[3]
local sk = p .. 's:' .. tok
if redis.call('EXISTS', sk) == 0 then return -1 end
local kk = p .. 'k:' .. key
if redis.call('EXISTS', kk) == 1 then return 0 end
redis.call('HSET', kk, 'issued', ARGV[4], 'expires', ARGV[5], 'not_valid_before', ARGV[6],
  'user_id', ARGV[7], 'user_role', ARGV[8], 'session_token', tok)
local set = p .. 'sk:' .. tok
redis.call('SADD', set, key)
local ttl = redis.call('PTTL', sk)
if ttl > 0 then
  redis.call('PEXPIRE', kk, ttl)
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
end
return 1
";

/// ARGV = prefix, apikey. Returns the key's fields (or nils) and whether its
/// session exists.
const LOOKUP_LUA: &str = r"
local p = ARGV[1]
local f = redis.call('HMGET', p .. 'k:' .. ARGV[2], 'issued', 'expires', 'not_valid_before',
  'user_id', 'user_role', 'session_token')
if not f[6] then return false end
f[7] = tostring(redis.call('EXISTS', p .. 's:' .. f[6]))
return f
";

/// ARGV = prefix, apikey, user_id, role. Returns 1 if deleted, else 0.
const DELETE_LUA: &str = r"
local p = ARGV[1]
local kk = p .. 'k:' .. ARGV[2]
local f = redis.call('HMGET', kk, 'user_id', 'user_role', 'session_token')
if f[1] ~= ARGV[3] or f[2] ~= ARGV[4] or not f[3] then return 0 end
redis.call('DEL', kk)
redis.call('SREM', p .. 'sk:' .. f[3], ARGV[2])
return 1
";

/// Session-tied API keys in Redis beside their sessions, no-session keys
/// delegated. Get one from [`RedisBackend::session_apikeys`].
#[derive(Debug, Clone)]
pub struct RedisSessionApiKeys {
    backend: RedisBackend,
    users: Arc<dyn UserStore>,
    roles: Arc<dyn RoleStore>,
    nosession: Arc<dyn ApiKeyStore>,
    create: Script,
    lookup: Script,
    delete: Script,
}

impl RedisSessionApiKeys {
    /// Session-tied keys on `backend`'s connection and prefix; `users` and
    /// `roles` check references; `nosession` handles every no-session
    /// method.
    pub fn new(
        backend: RedisBackend,
        users: Arc<dyn UserStore>,
        roles: Arc<dyn RoleStore>,
        nosession: Arc<dyn ApiKeyStore>,
    ) -> Self {
        Self {
            backend,
            users,
            roles,
            nosession,
            create: Script::new(CREATE_LUA),
            lookup: Script::new(LOOKUP_LUA),
            delete: Script::new(DELETE_LUA),
        }
    }

    async fn user_exists(&self, user_id: UserId) -> Result<bool, StoreError> {
        Ok(self.users.user_by_id(user_id).await?.is_some())
    }
}

#[async_trait]
impl ApiKeyStore for RedisSessionApiKeys {
    async fn create_session_apikey(&self, key: &SessionApiKey) -> Result<(), StoreError> {
        if !self.user_exists(key.user_id).await? {
            return Err(StoreError::InvalidReference(format!(
                "user {} does not exist",
                key.user_id
            )));
        }
        let roles = self.roles.list_roles().await?;
        if !roles.iter().any(|r| r.name == key.user_role) {
            return Err(StoreError::InvalidReference(
                "role does not exist".to_owned(),
            ));
        }
        let mut c = self.backend.conn.clone();
        let outcome: i64 = self
            .backend
            .run(
                self.create
                    .arg(&*self.backend.prefix)
                    .arg(&key.apikey)
                    .arg(&key.session_token)
                    .arg(epoch_micros(key.issued))
                    .arg(epoch_micros(key.expires))
                    .arg(epoch_micros(key.not_valid_before))
                    .arg(key.user_id)
                    .arg(&key.user_role)
                    .invoke_async(&mut c),
            )
            .await?;
        match outcome {
            1 => Ok(()),
            0 => Err(StoreError::Conflict("API key exists".into())),
            _ => Err(StoreError::InvalidReference(
                "session does not exist".into(),
            )),
        }
    }

    async fn valid_session_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<SessionApiKey>, StoreError> {
        let mut c = self.backend.conn.clone();
        let fields: Option<Vec<Option<String>>> = self
            .backend
            .run(
                self.lookup
                    .arg(&*self.backend.prefix)
                    .arg(key.apikey)
                    .invoke_async(&mut c),
            )
            .await?;
        let Some(fields) = fields else {
            return Ok(None);
        };
        let [
            Some(issued),
            Some(expires),
            Some(nbf),
            Some(user_id),
            Some(user_role),
            Some(session_token),
            Some(session_exists),
        ] = <[Option<String>; 7]>::try_from(fields)
            .map_err(|_| RedisStoreError::Corrupt("API key fields"))?
        else {
            return Err(RedisStoreError::Corrupt("API key fields").into());
        };
        let found = SessionApiKey {
            apikey: key.apikey.to_owned(),
            issued: parse_time(&issued, "API key issued")?,
            expires: parse_time(&expires, "API key expires")?,
            not_valid_before: parse_time(&nbf, "API key not_valid_before")?,
            user_id: parse_i64(&user_id, "API key user_id")?,
            user_role,
            session_token,
        };
        let valid = found.user_id == key.user_id
            && found.user_role == key.user_role
            && found.issued < now
            && found.not_valid_before < now
            && found.expires > now
            && session_exists == "1";
        if !valid || !self.user_exists(found.user_id).await? {
            return Ok(None);
        }
        Ok(Some(found))
    }

    async fn delete_session_apikey(&self, key: ApiKeyRef<'_>) -> Result<u64, StoreError> {
        let mut c = self.backend.conn.clone();
        let n: i64 = self
            .backend
            .run(
                self.delete
                    .arg(&*self.backend.prefix)
                    .arg(key.apikey)
                    .arg(key.user_id)
                    .arg(key.user_role)
                    .invoke_async(&mut c),
            )
            .await?;
        Ok(u64::from(n == 1))
    }

    async fn create_nosession_apikey(&self, key: &NoSessionApiKey) -> Result<(), StoreError> {
        self.nosession.create_nosession_apikey(key).await
    }

    async fn valid_nosession_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<NoSessionApiKey>, StoreError> {
        self.nosession.valid_nosession_apikey(key, now).await
    }

    async fn refreshable_nosession_apikey(
        &self,
        key: ApiKeyRef<'_>,
        now: NaiveDateTime,
    ) -> Result<Option<NoSessionApiKey>, StoreError> {
        self.nosession.refreshable_nosession_apikey(key, now).await
    }

    async fn delete_nosession_apikey(&self, key: ApiKeyRef<'_>) -> Result<u64, StoreError> {
        self.nosession.delete_nosession_apikey(key).await
    }

    async fn delete_user_nosession_apikeys(
        &self,
        user_id: UserId,
        user_role: &str,
    ) -> Result<u64, StoreError> {
        self.nosession
            .delete_user_nosession_apikeys(user_id, user_role)
            .await
    }
}
