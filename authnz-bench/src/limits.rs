//! The physical limits the measured throughput is compared with.
//!
//! Measured in-process on the generator's core, while no load runs:
//!
//! - one Argon2id hash with the server's parameters (PROTOCOL.md 5.2: m=65536 KiB,
//!   t=3, p=4), the same `argon2` build the server uses;
//! - one Fernet open of a `session-exists` request plus one seal of its
//!   reply, with the server's own codec;
//! - one indexed session lookup (`active_session`, the primary-key select
//!   joined with its user) through the SQLite store, in a temporary file
//!   database in WAL mode, as the server opens it.
//!
//! - the same lookup answered by the in-process session cache that the
//!   server uses on its own SQLite file (`authnz_server::session_cache`).
//!
//! Login can go no faster than `cores / hash_time` (authnz spends exactly one
//! Argon2 verification per login, PROTOCOL.md 5.3); session-exists no faster than
//! `cores / (fernet + lookup)`, or with the cache `cores / (fernet + hit)`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use argon2::{Algorithm, Argon2, Params, Version};
use authnz_api::{InitialData, NewUser, Role, RoleStore as _, Session, SessionStore as _};
use authnz_core::passwords::HashParams;
use authnz_proto::codec::Codec;
use authnz_server::session_cache::{CachedStore, DEFAULT_MAX_BYTES};
use authnz_store_sql::{SqlOptions, SqlStore};
use serde_json::json;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub argon2: Duration,
    pub fernet: Duration,
    pub lookup: Duration,
    /// The same lookup answered by the session cache.
    pub cached_lookup: Duration,
}

impl Limits {
    /// Logins per second `cores` can do.
    pub fn login_limit(&self, cores: usize) -> f64 {
        cores as f64 / self.argon2.as_secs_f64()
    }

    /// Session checks per second `cores` can do.
    pub fn session_limit(&self, cores: usize) -> f64 {
        cores as f64 / (self.fernet + self.lookup).as_secs_f64()
    }

    /// Session checks per second `cores` can do with the session cache.
    pub fn cached_session_limit(&self, cores: usize) -> f64 {
        cores as f64 / (self.fernet + self.cached_lookup).as_secs_f64()
    }
}

/// Measure the three costs; `quick` takes fewer samples.
pub async fn measure(quick: bool) -> anyhow::Result<Limits> {
    let argon2 = argon2_time(if quick { 2 } else { 5 })?;
    let fernet = fernet_time(if quick { 2_000 } else { 20_000 });
    let (lookup, cached_lookup) = lookup_time(if quick { 2_000 } else { 20_000 }).await?;
    Ok(Limits {
        argon2,
        fernet,
        lookup,
        cached_lookup,
    })
}

/// Median of `runs` hashes.
fn argon2_time(runs: usize) -> anyhow::Result<Duration> {
    let p = HashParams::default();
    let params = Params::new(p.m_cost_kib, p.t_cost, p.p_cost, Some(p.output_len))
        .map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0u8; 32];
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        argon2
            .hash_password_into(
                b"correct horse battery staple",
                b"sixteen byte sal",
                &mut out,
            )
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Mean cost of opening a request and sealing a reply of realistic size.
fn fernet_time(runs: u32) -> Duration {
    let codec = Codec::new(&[9u8; 32]);
    let request = codec.seal(&json!({
        "request": "session-exists",
        "body": {"session_token": "x".repeat(43), "client_ipaddr": "127.0.0.1"},
        "reqid": "bench-123456",
        "client_ipaddr": "127.0.0.1",
    }));
    let reply = json!({
        "success": true,
        "response": {
            "success": true,
            "session_info": {
                "user_id": 2, "email": "anonuser@localhost", "email_verified": true,
                "is_active": true, "user_role": "anonymous", "session_token": "x".repeat(43),
                "ip_address": "127.0.0.1", "user_agent": "authnz-bench",
                "created": "2026-11-28T20:00:00.123456", "expires": "2099-01-01T00:00:00",
                "extra_info_json": null
            },
            "messages": ["Session look up successful."]
        },
        "messages": ["Session look up successful."],
        "reqid": "bench-123456",
    });
    let t = Instant::now();
    let mut sink = 0usize;
    for _ in 0..runs.max(1) {
        if let Ok(v) = codec.open(request.as_bytes()) {
            sink += v.as_object().map_or(0, serde_json::Map::len);
        }
        sink += codec.seal(&reply).len();
    }
    let elapsed = t.elapsed();
    std::hint::black_box(sink);
    elapsed / runs.max(1)
}

/// Mean cost of one `active_session` call through the SQLite store, and
/// through the session cache in front of it (warmed).
async fn lookup_time(runs: u32) -> anyhow::Result<(Duration, Duration)> {
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let url = format!("sqlite://{}", dir.path().join("lookup.sqlite").display());
    let store = Arc::new(
        authnz_server::app::open_database(&url, &SqlOptions::default())
            .await
            .context("cannot open the lookup database")?,
    );
    let now = chrono::Utc::now().naive_utc();
    seed(&store, now).await?;
    let mut tokens = Vec::new();
    for i in 0..1000 {
        let token = format!("{i:043}");
        store
            .create_session(&Session {
                session_token: token.clone(),
                ip_address: "127.0.0.1".into(),
                user_agent: "authnz-bench".into(),
                user_id: 2,
                created: now,
                expires: now + chrono::Duration::days(30),
                extra_info_json: None,
            })
            .await
            .context("cannot create a session")?;
        tokens.push(token);
    }
    let t = Instant::now();
    let mut found = 0u32;
    for i in 0..runs.max(1) {
        let token = &tokens[i as usize % tokens.len()];
        if store.active_session(token, now).await?.is_some() {
            found += 1;
        }
    }
    let elapsed = t.elapsed();
    let cached = CachedStore::new(store.clone(), store.clone(), DEFAULT_MAX_BYTES);
    for token in &tokens {
        cached.active_session(token, now).await?;
    }
    let t = Instant::now();
    for i in 0..runs.max(1) {
        let token = &tokens[i as usize % tokens.len()];
        if cached.active_session(token, now).await?.is_some() {
            found += 1;
        }
    }
    let cached_elapsed = t.elapsed();
    store.close().await;
    anyhow::ensure!(found == 2 * runs.max(1), "lookups missed their sessions");
    Ok((elapsed / runs.max(1), cached_elapsed / runs.max(1)))
}

async fn seed(store: &SqlStore, now: chrono::NaiveDateTime) -> anyhow::Result<()> {
    let user = |email: &str, role: &str| NewUser {
        system_id: format!("bench-{email}"),
        full_name: Some("Bench".into()),
        password: "not-a-hash".into(),
        email: email.into(),
        email_verified: true,
        is_active: true,
        user_role: role.into(),
        extra_info: None,
        emailverify_sent_datetime: None,
    };
    let data = InitialData {
        roles: ["superuser", "staff", "authenticated", "anonymous", "locked"]
            .iter()
            .map(|r| Role {
                name: (*r).into(),
                desc: String::new(),
            })
            .collect(),
        users: [
            user("admin@localhost", "superuser"),
            user("anonuser@localhost", "anonymous"),
            user("dummyuser@localhost", "locked"),
        ],
    };
    store
        .initialize(&data, now)
        .await
        .context("cannot seed the lookup database")?;
    Ok(())
}
