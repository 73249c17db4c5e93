//! `--grow`: the same scenarios on a store filled with many users and
//! sessions, next to the empty-store figures.
//!
//! The rows are written straight into the running server's store (one
//! `INSERT … SELECT` per table on SQLite and PostgreSQL, Lua batches on
//! Redis), not through the protocol: a million sessions through
//! `session-new` would take longer than the whole bench. Inserts change no
//! existing row, so the server (and its session cache) keeps serving while
//! they land. The rows look like real ones: verified active users with an
//! Argon2 hash, sessions spread over those users, one no-session API key
//! per user; [`EXPIRED_EVERY`]th session expired long ago, so the
//! expired-session cleanup has work of a realistic share to do.
//!
//! After the grown run, the cleanup itself is timed: the store's
//! `delete_sessions_expired_before` (what the server's daily task calls) runs
//! while `session-exists` load continues, and both its duration and the
//! checks' latency during it are reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use authnz_api::{SessionStore, UserStore};
use authnz_store_redis::{RedisBackend, RedisOptions};
use authnz_store_sql::{SqlOptions, SqlStore};
use chrono::{TimeDelta, Utc};

/// One session in this many is expired (long past the cleanup's cut-off).
pub const EXPIRED_EVERY: u64 = 10;

/// Sessions written per Redis script call.
const REDIS_BATCH: usize = 2_000;

/// A syntactically valid Argon2id hash that no password used by the bench
/// matches (the grown users never log in; the hash only gives rows their
/// real size).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Z3Jvd24tdXNlcnMtc2FsdA$\
    2mWc3Vb8dzA5yXy0lYw4mC6v2c1sV7mJxqk5lq8p0Qk";

/// How many rows to add.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub users: u64,
    pub sessions: u64,
}

impl Spec {
    /// `USERS:SESSIONS`, e.g. `100000:1000000`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (u, s) = text
            .split_once(':')
            .context("--grow takes USERS:SESSIONS, e.g. 100000:1000000")?;
        let users: u64 = u.trim().parse().context("--grow: USERS is not a number")?;
        let sessions: u64 = s
            .trim()
            .parse()
            .context("--grow: SESSIONS is not a number")?;
        anyhow::ensure!(
            (1..=10_000_000).contains(&users) && sessions <= 100_000_000,
            "--grow: USERS must be in 1..=10000000 and SESSIONS at most 100000000"
        );
        Ok(Self { users, sessions })
    }

    /// The label the grown rows carry in the report, e.g. `100k users, 1M sessions`.
    pub fn label(self) -> String {
        format!(
            "{} users, {} sessions",
            short(self.users),
            short(self.sessions)
        )
    }
}

fn short(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(100_000) {
        let m = n as f64 / 1e6;
        format!("{m}M")
    } else if n >= 1_000 && n.is_multiple_of(100) {
        let k = n as f64 / 1e3;
        format!("{k}k")
    } else {
        n.to_string()
    }
}

/// Where the server under test keeps its data.
#[derive(Debug, Clone)]
pub enum Target {
    /// The SQLite file (users, sessions and keys).
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL (users, sessions and keys).
    Postgres(String),
    /// Users and keys in PostgreSQL, sessions in Redis under `prefix`.
    PostgresRedis {
        url: String,
        redis_url: String,
        prefix: String,
    },
}

/// Rows added, and how long it took.
#[derive(Debug)]
pub struct Loaded {
    pub expired_sessions: u64,
    pub took: Duration,
}

fn sql_options() -> SqlOptions {
    SqlOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(10),
        // Bulk statements run long; the bench's own connection is not the
        // server's and has no reason to cut them.
        statement_timeout: Duration::from_secs(1800),
        busy_timeout: Duration::from_secs(30),
        create_if_missing: false,
    }
}

async fn open_sql(url: &str) -> anyhow::Result<SqlStore> {
    SqlStore::connect(url, &sql_options())
        .await
        .with_context(|| format!("cannot open the server's database {url}"))
}

fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

/// Add `spec`'s rows to the store at `target`.
pub async fn load(target: &Target, spec: Spec) -> anyhow::Result<Loaded> {
    let started = Instant::now();
    let expired_sessions = spec.sessions / EXPIRED_EVERY;
    match target {
        Target::Sqlite(path) => {
            let store = open_sql(&sqlite_url(path)).await?;
            let pool = store.sqlite_pool().context("not a SQLite store")?;
            load_sqlite(pool, spec).await?;
            store.close().await;
        }
        Target::Postgres(url) => {
            let store = open_sql(url).await?;
            let pool = store.postgres_pool().context("not a PostgreSQL store")?;
            load_postgres_users(pool, spec).await?;
            load_postgres_sessions(pool, spec).await?;
            store.close().await;
        }
        Target::PostgresRedis {
            url,
            redis_url,
            prefix,
        } => {
            let store = open_sql(url).await?;
            let pool = store.postgres_pool().context("not a PostgreSQL store")?;
            load_postgres_users(pool, spec).await?;
            let ids: Vec<i32> = sqlx::query_scalar(
                "SELECT user_id FROM users WHERE system_id LIKE 'grow-%' ORDER BY user_id",
            )
            .fetch_all(pool)
            .await
            .context("reading the grown users' ids")?;
            store.close().await;
            load_redis_sessions(redis_url, prefix, &ids, spec).await?;
        }
    }
    Ok(Loaded {
        expired_sessions,
        took: started.elapsed(),
    })
}

async fn load_sqlite(pool: &sqlx::SqlitePool, spec: Spec) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO users (system_id, full_name, password, email, email_verified,
                            is_active, user_role, extra_info)
         SELECT 'grow-' || i, 'Grown User ' || i, ?2, 'grow' || i || '@bench.invalid',
                1, 1, 'authenticated', NULL FROM n",
    )
    .bind(spec.users as i64)
    .bind(DUMMY_HASH)
    .execute(&mut *tx)
    .await
    .context("bulk-loading users")?;
    // Each session belongs to grown user `1 + i % users`, found through
    // the unique index on `system_id`.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO sessions (session_token, ip_address, user_agent, user_id, created, expires)
         SELECT printf('grow%016d', i), '192.0.2.' || (i % 250), 'authnz-bench grown session',
                (SELECT user_id FROM users WHERE system_id = 'grow-' || (1 + i % ?2)),
                strftime('%Y-%m-%d %H:%M:%f000', 'now', '-1 hours'),
                CASE WHEN i % ?3 = 0
                     THEN strftime('%Y-%m-%d %H:%M:%f000', 'now', '-60 days')
                     ELSE strftime('%Y-%m-%d %H:%M:%f000', 'now', '+30 days') END
         FROM n",
    )
    .bind(spec.sessions as i64)
    .bind(spec.users as i64)
    .bind(EXPIRED_EVERY as i64)
    .execute(&mut *tx)
    .await
    .context("bulk-loading sessions")?;
    sqlx::query(
        "INSERT INTO apikeys_nosession (apikey, issued, expires, not_valid_before,
             refresh_token, refresh_issued, refresh_expires, refresh_nbf, user_id, user_role)
         SELECT 'grow-key-' || user_id,
                strftime('%Y-%m-%d %H:%M:%f000', 'now', '-1 hours'),
                strftime('%Y-%m-%d %H:%M:%f000', 'now', '+30 days'),
                strftime('%Y-%m-%d %H:%M:%f000', 'now', '-1 hours'),
                'grow-refresh-' || user_id,
                strftime('%Y-%m-%d %H:%M:%f000', 'now', '-1 hours'),
                strftime('%Y-%m-%d %H:%M:%f000', 'now', '+60 days'),
                strftime('%Y-%m-%d %H:%M:%f000', 'now', '-1 hours'),
                user_id, user_role
         FROM users WHERE system_id LIKE 'grow-%'",
    )
    .execute(&mut *tx)
    .await
    .context("bulk-loading API keys")?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    Ok(())
}

async fn load_postgres_users(pool: &sqlx::PgPool, spec: Spec) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO users (system_id, full_name, password, email, email_verified,
                            is_active, user_role)
         SELECT 'grow-' || i, 'Grown User ' || i, $1, 'grow' || i || '@bench.invalid',
                true, true, 'authenticated'
         FROM generate_series(1, $2::bigint) AS i",
    )
    .bind(DUMMY_HASH)
    .bind(spec.users as i64)
    .execute(pool)
    .await
    .context("bulk-loading users")?;
    sqlx::query(
        "INSERT INTO apikeys_nosession (apikey, issued, expires, not_valid_before,
             refresh_token, refresh_issued, refresh_expires, refresh_nbf, user_id, user_role)
         SELECT 'grow-key-' || user_id, now() AT TIME ZONE 'UTC' - interval '1 hour',
                now() AT TIME ZONE 'UTC' + interval '30 days',
                now() AT TIME ZONE 'UTC' - interval '1 hour',
                'grow-refresh-' || user_id, now() AT TIME ZONE 'UTC' - interval '1 hour',
                now() AT TIME ZONE 'UTC' + interval '60 days',
                now() AT TIME ZONE 'UTC' - interval '1 hour',
                user_id, user_role
         FROM users WHERE system_id LIKE 'grow-%'",
    )
    .execute(pool)
    .await
    .context("bulk-loading API keys")?;
    sqlx::query("ANALYZE users").execute(pool).await?;
    sqlx::query("ANALYZE apikeys_nosession")
        .execute(pool)
        .await?;
    Ok(())
}

async fn load_postgres_sessions(pool: &sqlx::PgPool, spec: Spec) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (session_token, ip_address, user_agent, user_id, created, expires)
         SELECT 'grow' || lpad(i::text, 16, '0'), '192.0.2.' || (i % 250),
                'authnz-bench grown session', u.user_id,
                now() AT TIME ZONE 'UTC' - interval '1 hour',
                CASE WHEN i % $3 = 0 THEN now() AT TIME ZONE 'UTC' - interval '60 days'
                     ELSE now() AT TIME ZONE 'UTC' + interval '30 days' END
         FROM generate_series(1, $1::bigint) AS i
         JOIN users u ON u.system_id = 'grow-' || (1 + i % $2::bigint)",
    )
    .bind(spec.sessions as i64)
    .bind(spec.users as i64)
    .bind(EXPIRED_EVERY as i64)
    .execute(pool)
    .await
    .context("bulk-loading sessions")?;
    sqlx::query("ANALYZE sessions").execute(pool).await?;
    Ok(())
}

/// ARGV = prefix, now (µs), then per session: token, user id, expires (µs),
/// ttl (ms). The same keys and fields the Redis session store writes.
const REDIS_LOAD_LUA: &str = r"
local p, now = ARGV[1], ARGV[2]
for j = 3, #ARGV, 4 do
  local tok, uid, exp, ttl = ARGV[j], ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  local sk = p .. 's:' .. tok
  redis.call('HSET', sk, 'user_id', uid, 'ip_address', '192.0.2.1',
    'user_agent', 'authnz-bench grown session', 'created', now, 'expires', exp)
  redis.call('PEXPIRE', sk, ttl)
  local uk = p .. 'u:' .. uid
  redis.call('ZADD', uk, now, tok)
  if redis.call('PTTL', uk) < tonumber(ttl) then redis.call('PEXPIRE', uk, ttl) end
  redis.call('ZADD', p .. 'exp', exp, tok)
end
return (#ARGV - 2) / 4
";

async fn load_redis_sessions(
    redis_url: &str,
    prefix: &str,
    ids: &[i32],
    spec: Spec,
) -> anyhow::Result<()> {
    anyhow::ensure!(!ids.is_empty(), "no grown users to give sessions to");
    let client = redis::Client::open(redis_url).context("bad Redis URL")?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .context("cannot connect to Redis")?;
    let script = redis::Script::new(REDIS_LOAD_LUA);
    let now = Utc::now();
    let micros = |t: chrono::DateTime<Utc>| t.timestamp_micros().to_string();
    let now_us = micros(now - TimeDelta::hours(1));
    let live = micros(now + TimeDelta::days(30));
    let dead = micros(now - TimeDelta::days(60));
    // Redis garbage-collects by TTL; the expired ones are kept an hour so
    // the cleanup has them to delete, as it would after a quiet day.
    let live_ttl = (TimeDelta::days(31).num_milliseconds()).to_string();
    let dead_ttl = (TimeDelta::hours(1).num_milliseconds()).to_string();
    let mut i: u64 = 1;
    while i <= spec.sessions {
        let end = (i + REDIS_BATCH as u64).min(spec.sessions + 1);
        let mut inv = script.prepare_invoke();
        inv.arg(prefix).arg(&now_us);
        for k in i..end {
            let uid = ids[(k % ids.len() as u64) as usize];
            let expired = k.is_multiple_of(EXPIRED_EVERY);
            inv.arg(format!("grow{k:016}"))
                .arg(uid)
                .arg(if expired { &dead } else { &live })
                .arg(if expired { &dead_ttl } else { &live_ttl });
        }
        let _: i64 = inv
            .invoke_async(&mut conn)
            .await
            .context("bulk-loading sessions into Redis")?;
        i = end;
    }
    Ok(())
}

/// The session store the server uses, opened by the bench, for timing the
/// cleanup.
pub async fn session_store(target: &Target) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(match target {
        Target::Sqlite(path) => Arc::new(open_sql(&sqlite_url(path)).await?),
        Target::Postgres(url) => Arc::new(open_sql(url).await?),
        Target::PostgresRedis {
            url,
            redis_url,
            prefix,
        } => {
            let users: Arc<dyn UserStore> = Arc::new(open_sql(url).await?);
            let redis = RedisBackend::connect(redis_url, prefix, RedisOptions::default())
                .await
                .context("cannot connect to Redis")?;
            Arc::new(redis.session_store(users))
        }
    })
}

/// Run the cleanup the server runs daily (sessions expired more than 30 days
/// ago) and return how many it deleted and how long it took.
pub async fn cleanup(store: &dyn SessionStore) -> anyhow::Result<(u64, Duration)> {
    let cutoff = Utc::now().naive_utc() - TimeDelta::days(30);
    let started = Instant::now();
    let n = store
        .delete_sessions_expired_before(cutoff)
        .await
        .context("the expired-session cleanup failed")?;
    Ok((n, started.elapsed()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_labels_the_spec() {
        let s = Spec::parse("100000:1000000").unwrap();
        assert_eq!((s.users, s.sessions), (100_000, 1_000_000));
        assert_eq!(s.label(), "100k users, 1M sessions");
        assert_eq!(
            Spec::parse("1500:20").unwrap().label(),
            "1.5k users, 20 sessions"
        );
        assert!(Spec::parse("100000").is_err());
        assert!(Spec::parse("0:10").is_err());
        assert!(Spec::parse("x:10").is_err());
    }
}
