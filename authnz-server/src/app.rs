//! Start-up wiring (PROTOCOL.md 7.5): open and migrate the database, seed it on first
//! run, build the shared state, and serve.
//!
//! [`ServerOptions`] is plain data so tests can build a server without going
//! through the command line; `main` fills it from the validated `Config`.

use std::path::PathBuf;
use std::sync::Arc;

use authnz_api::{
    ApiKeyStore, Clock, GroupStore, InitialData, InvalidationBus, LoginThrottle, NewUser,
    RateLimiter, ReplayGuard, Role, RoleStore, SessionStore, StoreError, UserStore,
};
use authnz_store_sql::{SqlOptions, SqlStore};
use serde_json::json;
use tokio::net::TcpListener;

use crate::breach::{BREACH_TIMEOUT, BreachCheck};
use crate::cache_bus::{Coherence, CoherenceSettings, CoherenceTasks};
use crate::config::{
    AutosetupError, GENERATED_PASSWORD_BYTES, RandomError, USER_GENERATED_PASSWORD_MARKER,
    random_urlsafe_token, write_admin_credentials,
};
use crate::http::AppState;
use crate::limiter::RequestLimiter;
use crate::mail::{MailOptions, MailSetupError};
use crate::ratelimit::RateLimitsConfig;
use crate::replay::ReplayCheck;
use crate::serving::HttpLimits;
use crate::session_cache::CachedStore;
use authnz_core::breach::BreachLookup;
use authnz_core::context::{Context, LockoutSettings};
use authnz_core::passwords::{HashError, HashParams, PasswordHasher};
use authnz_core::policy::Policy;
use authnz_core::sleeper::Sleeper;
use authnz_core::validate::{PasswordPolicy, Validators};
use authnz_proto::codec::Codec;

/// Why the server could not be built (start-up stops). Each variant says
/// which step failed and keeps the error that made it fail.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the auth database")]
    OpenDatabase(#[source] StoreError),
    #[error("cannot migrate the auth database")]
    MigrateDatabase(#[source] StoreError),
    #[error("cannot start the hashing pool")]
    HashingPool(#[source] HashError),
    #[error("cannot set up the mailer")]
    Mailer(#[source] MailSetupError),
    #[error("cannot read roles")]
    ReadRoles(#[source] StoreError),
    #[error("cannot make a random secret for the seeded users")]
    Random(#[source] RandomError),
    #[error("cannot hash a password of the seeded users")]
    Hash(#[source] HashError),
    #[error("cannot initialise the auth database")]
    Initialize(#[source] StoreError),
    #[error("cannot write the admin credentials file")]
    Credentials(#[source] AutosetupError),
    #[error("cannot set up the JWT signing keys")]
    SigningKeys(#[source] authnz_core::jwt::JwtError),
    #[error("cannot derive the key that seals TOTP secrets")]
    SecondFactors(#[source] authnz_core::sealing::SealError),
    #[error("cannot set up webhook deliveries: {0}")]
    Webhooks(String),
}

/// Who the first-run superuser is (PROTOCOL.md 7.5 step 6).
#[derive(Debug, Clone)]
pub struct AdminSeed {
    pub email: String,
    /// `None`: generate a random password and write it to the credentials file.
    pub password: Option<String>,
}

/// Where sessions and session-tied API keys live (`sessionstore`).
#[derive(Debug, Clone, Default)]
pub enum SessionPlacement {
    /// The auth database (the default).
    #[default]
    Sql,
    /// Redis, shared by every instance; users and no-session API keys stay
    /// in SQL.
    #[cfg(feature = "redis")]
    Redis(authnz_store_redis::RedisBackend),
}

/// Everything needed to build a running server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// sqlx database URL.
    pub database_url: String,
    pub db: SqlOptions,
    pub secret: [u8; 32],
    pub pii_salt: String,
    pub allowed_hosts: Vec<String>,
    /// The parsed `ratelimits`; `None` switches rate limiting off.
    pub rate_limits: Option<RateLimitsConfig>,
    /// Where rate-limit state lives (in-process or shared).
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub workers: usize,
    pub hash_params: HashParams,
    pub policy: Policy,
    pub session_expiry_days: i64,
    pub admin: AdminSeed,
    /// Where the admin credentials file is written on first run.
    pub basedir: PathBuf,
    pub password_policy: String,
    pub clock: Arc<dyn Clock>,
    /// What every deliberate wait (back-off, unlock timers) goes through.
    pub sleeper: Arc<dyn Sleeper>,
    /// The failed-login counters (PROTOCOL.md 4.2).
    pub throttle: Arc<dyn LoginThrottle>,
    /// Where sessions live.
    pub sessions: SessionPlacement,
    /// Cache active sessions in the process ([`crate::session_cache`]): only
    /// when this process is the only writer of sessions and users (SQLite
    /// with the lock taken, or a test).
    pub session_cache: bool,
    /// Cache active sessions wherever they live, kept coherent with the
    /// other instances over this bus ([`crate::cache_bus`]); takes
    /// precedence over `session_cache`. `None`: only `session_cache` applies.
    pub cache_bus: Option<Arc<dyn InvalidationBus>>,
    /// Without `cache_bus`: cache active sessions all the same, kept
    /// coherent over the auth database's own notifications when it is
    /// PostgreSQL (`LISTEN`/`NOTIFY` on the channel
    /// [`crate::shared::PG_CACHE_CHANNEL`]); no effect on other databases.
    pub cache_bus_on_database: bool,
    /// Timings of the coherence protocol on `cache_bus`.
    pub cache_coherence: CoherenceSettings,
    /// Replay protection window (`requestttl`); `None` is off.
    pub request_ttl: Option<std::time::Duration>,
    /// The seen-set of the replay protection.
    pub replay_guard: Arc<dyn ReplayGuard>,
    /// `userlocktries` and `userlocktime`.
    pub lockout: LockoutSettings,
    /// Base URL of the breach check (PROTOCOL.md 5.1 step 6), `None` when it is off.
    pub breach_check_url: Option<String>,
    /// The mail backend and its settings.
    pub mail: MailOptions,
    /// The signed tokens of `session-jwt-issue` ([`authnz_core::jwt`]).
    pub jwt: authnz_core::jwt::JwtSettings,
    /// `GET /metrics` (`metrics`, `metricstoken`, `metricslisten`).
    pub metrics: MetricsOptions,
    /// The audit log (`auditaddress`, `auditqueue`; [`authnz_core::audit`]).
    pub audit: authnz_core::audit::AuditSettings,
    /// The social-login providers (`oauthproviders`), if any.
    pub oauth: Option<Arc<dyn authnz_core::oauth::OAuthProviders>>,
    /// The WebAuthn relying party (`webauthnorigins`, ...), if passkeys
    /// are configured.
    pub passkeys: Option<Arc<dyn authnz_core::passkeys::RelyingParty>>,
    /// The webhook endpoints (`webhooks`), if any: audit events are queued
    /// for them, and the server runs the delivery worker.
    pub webhooks: Option<Arc<authnz_core::webhooks::Webhooks>>,
    /// How deliveries are attempted (`webhookattempts`, `webhooktimeout`).
    pub webhook_settings: crate::webhooks::WebhookSettings,
}

impl ServerOptions {
    /// A small, fast configuration for tests and examples that start a
    /// server in their own process: the database at `database_url`, Argon2
    /// at 512 KiB and one pass, rate limits off, the throttle, limiter and
    /// replay guard in process, sessions in SQL with the in-process cache
    /// on, waits recorded instead of slept, the default policy, and the file
    /// mailer writing to `basedir/mail-outbox`. Change fields as a test
    /// needs; a production server is configured through `launch`.
    pub fn for_tests(
        database_url: String,
        basedir: &std::path::Path,
        secret: [u8; 32],
        admin: AdminSeed,
    ) -> Result<Self, authnz_core::policy::PolicyError> {
        Ok(Self {
            database_url,
            db: SqlOptions {
                max_connections: 4,
                acquire_timeout: std::time::Duration::from_secs(3),
                ..SqlOptions::default()
            },
            secret,
            pii_salt: "test-pii-salt".into(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            rate_limits: None,
            rate_limiter: Arc::new(authnz_api::MemoryRateLimiter::default()),
            workers: 2,
            hash_params: HashParams {
                m_cost_kib: 512,
                t_cost: 1,
                p_cost: 1,
                output_len: 32,
            },
            policy: Policy::load(None)?,
            session_expiry_days: 30,
            admin,
            basedir: basedir.to_path_buf(),
            password_policy: "min_pass_length:12; max_unsafe_similarity:50; max_char_frequency:0.3; min_pwned_matches:25".into(),
            clock: Arc::new(authnz_api::SystemClock),
            sleeper: Arc::new(authnz_core::sleeper::ManualSleeper::new()),
            throttle: Arc::new(authnz_api::MemoryLoginThrottle::default()),
            sessions: SessionPlacement::Sql,
            session_cache: true,
            cache_bus: None,
            cache_bus_on_database: false,
            cache_coherence: CoherenceSettings::default(),
            request_ttl: None,
            replay_guard: Arc::new(authnz_api::MemoryReplayGuard::default()),
            lockout: LockoutSettings::default(),
            breach_check_url: None,
            mail: MailOptions::file(basedir.join("mail-outbox"), basedir.join("email-templates")),
            jwt: authnz_core::jwt::JwtSettings::default(),
            metrics: MetricsOptions::default(),
            audit: authnz_core::audit::AuditSettings::default(),
            oauth: None,
            passkeys: None,
            webhooks: None,
            webhook_settings: crate::webhooks::WebhookSettings::default(),
        })
    }
}

/// Who gets `GET /metrics`, and where. The default is the configuration's:
/// on, no token, on the protocol's listener.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// `metrics`: keep and serve metrics at all.
    pub enabled: bool,
    /// `metricstoken`: required as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `metricslisten` is set: `/metrics` is served on its own listener
    /// ([`crate::http::metrics_router`]) and not on the protocol's.
    pub own_listener: bool,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            token: None,
            own_listener: false,
        }
    }
}

/// A server ready to accept connections.
#[derive(Debug)]
pub struct Built {
    pub state: Arc<AppState>,
    pub store: Arc<SqlStore>,
    /// Set when this start initialised the database and wrote credentials.
    pub credentials_file: Option<PathBuf>,
    /// The session cache, when there is one.
    pub session_cache: Option<Arc<CachedStore>>,
    /// The coherence tasks of a cache on a bus; they stop when this drops.
    pub cache_tasks: Option<CoherenceTasks>,
    /// The webhook delivery worker, when webhooks are configured; abort it
    /// before closing the store.
    pub webhook_worker: Option<tokio::task::JoinHandle<()>>,
}

/// Open (creating a SQLite file if needed) and migrate the auth database.
pub async fn open_database(url: &str, db: &SqlOptions) -> Result<SqlStore, StartupError> {
    let store = SqlStore::connect(url, db)
        .await
        .map_err(StartupError::OpenDatabase)?;
    store
        .migrate()
        .await
        .map_err(StartupError::MigrateDatabase)?;
    Ok(store)
}

/// Open the database, run migrations, seed it if empty, build the state.
pub async fn build(opts: &ServerOptions) -> Result<Built, StartupError> {
    let store = Arc::new(open_database(&opts.database_url, &opts.db).await?);
    let ContextParts {
        ctx,
        session_cache,
        coherence,
    } = context_parts(opts, store.clone()).await?;
    // The bus tasks run only in the server: a context without them (the
    // admin commands) never serves from its cache, but still announces
    // its writes.
    let cache_tasks = coherence.map(|c| {
        let mut tasks = c.spawn();
        if let Some(refresher) = session_cache.as_ref().and_then(|s| s.spawn_refresher()) {
            tasks.add(refresher);
        }
        tasks
    });
    tracing::info!(mailer = ctx.mail.mailer.kind(), "mail backend ready");
    let credentials_file = seed(
        store.as_ref(),
        &ctx.hasher,
        &opts.policy,
        &opts.admin,
        &opts.basedir,
        opts.clock.now(),
    )
    .await?;
    // A first signing key, if none is stored (a database made before this
    // feature, or by upstream). Not fatal: only `session-jwt-issue` needs it.
    match ctx.jwt.ensure_key(opts.clock.now()).await {
        Ok(Some(kid)) => tracing::info!(kid = %kid, "made the first JWT signing key"),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot make a JWT signing key"),
    }
    match authnz_core::lockout::resume(&ctx).await {
        Ok((lifted, armed)) if lifted + armed > 0 => {
            tracing::info!(
                lifted,
                armed,
                "automatic account locks: expired ones lifted, timers armed"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot resume automatic account locks"),
    }
    let telemetry = opts.metrics.enabled.then(|| {
        let t = crate::telemetry::Telemetry::new(opts.metrics.token.as_deref());
        t.spawn_upkeep();
        t
    });
    let state = Arc::new(AppState {
        telemetry,
        metrics_on_main: !opts.metrics.own_listener,
        session_cache: session_cache.clone(),
        database_backend: store.dialect().name(),
        ctx,
        codec: Codec::new(&opts.secret),
        allowed_hosts: opts.allowed_hosts.clone(),
        replay: opts
            .request_ttl
            .map(|ttl| ReplayCheck::new(ttl, opts.replay_guard.clone(), opts.clock.clone())),
        sessions_checked_by_health: !matches!(opts.sessions, SessionPlacement::Sql),
        limiter: opts.rate_limits.clone().map(|config| {
            RequestLimiter::new(
                config,
                opts.rate_limiter.clone(),
                opts.clock.clone(),
                &opts.pii_salt,
            )
        }),
    });
    let webhook_worker = match &opts.webhooks {
        Some(w) => Some(
            crate::webhooks::Worker::new(
                store.clone(),
                w.clone(),
                opts.webhook_settings,
                opts.clock.clone(),
            )
            .map_err(|e| StartupError::Webhooks(e.to_string()))?
            .spawn(),
        ),
        None => None,
    };
    Ok(Built {
        state,
        store,
        credentials_file,
        session_cache,
        cache_tasks,
        webhook_worker,
    })
}

/// The action context over an opened `store`, as `opts` say: the hashing
/// pool, the mailer, the validators, the password policy, the breach check,
/// and where sessions live (with the in-process session cache when
/// `opts.session_cache`). The server ([`build`]) and the admin commands of
/// `authnzrv` both build their context here, so they read and write the
/// same stores in the same way.
pub async fn context(opts: &ServerOptions, store: Arc<SqlStore>) -> Result<Context, StartupError> {
    Ok(context_parts(opts, store).await?.ctx)
}

/// What [`context_parts`] builds: the context, and the session cache with
/// its coherence state when there is one.
#[derive(Debug)]
pub struct ContextParts {
    pub ctx: Context,
    pub session_cache: Option<Arc<CachedStore>>,
    /// Set when the cache is kept coherent over `opts.cache_bus`; not yet
    /// started ([`Coherence::spawn`]), so the cache is not served from
    /// until it is.
    pub coherence: Option<Arc<Coherence>>,
}

/// [`context`], with the session cache and its coherence state.
pub async fn context_parts(
    opts: &ServerOptions,
    store: Arc<SqlStore>,
) -> Result<ContextParts, StartupError> {
    let hasher =
        PasswordHasher::new(opts.workers, opts.hash_params).map_err(StartupError::HashingPool)?;
    let mail = crate::mail::start(opts.mail.clone())
        .await
        .map_err(StartupError::Mailer)?;
    let validators = Validators::load(
        &authnz_core::validate::fqdn::detect_fqdn(),
        authnz_core::validate::PublicSuffixList::default_cache_path().as_deref(),
        std::time::SystemTime::now(),
    );
    let mut users: Arc<dyn UserStore> = store.clone();
    let (mut sessions, apikeys): (Arc<dyn SessionStore>, Arc<dyn ApiKeyStore>) =
        match &opts.sessions {
            SessionPlacement::Sql => (store.clone(), store.clone()),
            #[cfg(feature = "redis")]
            SessionPlacement::Redis(redis) => (
                Arc::new(redis.session_store(store.clone())),
                Arc::new(redis.session_apikeys(store.clone(), store.clone(), store.clone())),
            ),
        };
    let mut session_cache = None;
    let mut coherence = None;
    if let Some((bus, kind)) = cache_bus(opts, &store) {
        let c = Arc::new(Coherence::new(bus, opts.cache_coherence));
        session_cache = Some(Arc::new(
            CachedStore::new(
                users.clone(),
                sessions.clone(),
                crate::session_cache::DEFAULT_MAX_BYTES,
            )
            .with_coherence(c.clone()),
        ));
        tracing::info!(
            bus = kind,
            max_age_ms = opts.cache_coherence.max_age.as_millis() as u64,
            "active sessions are cached in the process, kept coherent over the invalidation bus"
        );
        coherence = Some(c);
    } else if opts.session_cache && matches!(opts.sessions, SessionPlacement::Sql) {
        session_cache = Some(Arc::new(CachedStore::new(
            store.clone(),
            store.clone(),
            crate::session_cache::DEFAULT_MAX_BYTES,
        )));
        tracing::info!("active sessions are cached in the process");
    }
    if let Some(cached) = &session_cache {
        users = cached.clone();
        sessions = cached.clone();
    }
    // The audit writer runs wherever the context does (the server, an admin
    // command); both close the log before they stop, which writes what is
    // queued.
    let (audit_log, audit_writer) = authnz_core::audit::AuditLog::new(
        opts.audit,
        Arc::from(opts.pii_salt.as_str()),
        opts.clock.clone(),
        store.clone(),
        opts.sleeper.clone(),
    );
    match &opts.webhooks {
        Some(w) => audit_writer.with_webhooks(w.clone()).spawn(),
        None => audit_writer.spawn(),
    };
    let ctx = Context {
        users,
        sessions,
        roles: store.clone() as Arc<dyn RoleStore>,
        apikeys,
        groups: store.clone() as Arc<dyn GroupStore>,
        policy: opts.policy.clone(),
        clock: opts.clock.clone(),
        hasher,
        validators: Arc::new(validators),
        password_policy: PasswordPolicy::parse(&opts.password_policy),
        breach: opts.breach_check_url.as_deref().and_then(|url| {
            match BreachCheck::new(url, BREACH_TIMEOUT) {
                Ok(check) => Some(Arc::new(check) as Arc<dyn BreachLookup>),
                Err(e) => {
                    tracing::warn!(error = %e, "breach check disabled: cannot set up TLS");
                    None
                }
            }
        }),
        throttle: opts.throttle.clone(),
        lockout: opts.lockout,
        sleeper: opts.sleeper.clone(),
        pii_salt: Arc::from(opts.pii_salt.as_str()),
        mail: Arc::new(mail),
        jwt: Arc::new(
            authnz_core::jwt::JwtKeys::new(store.clone(), &opts.secret, opts.jwt.clone())
                .map_err(StartupError::SigningKeys)?,
        ),
        second_factors: Arc::new(
            authnz_core::second_factor::SecondFactors::new(
                store.clone(),
                &opts.secret,
                &opts.jwt.issuer,
            )
            .map_err(StartupError::SecondFactors)?,
        ),
        audit_log,
        audit_store: store.clone(),
        oauth_store: store.clone() as Arc<dyn authnz_api::OAuthStore>,
        oauth: opts.oauth.clone(),
        passkeys: opts.passkeys.clone(),
    };
    Ok(ContextParts {
        ctx,
        session_cache,
        coherence,
    })
}

/// The bus the session caches of the instances are kept coherent over, and
/// what it runs on: `opts.cache_bus` (Redis) when set, else the auth
/// database's notifications when `opts.cache_bus_on_database` and it is
/// PostgreSQL, else none.
fn cache_bus(
    opts: &ServerOptions,
    store: &SqlStore,
) -> Option<(Arc<dyn InvalidationBus>, &'static str)> {
    if let Some(bus) = &opts.cache_bus {
        return Some((bus.clone(), "redis"));
    }
    if !opts.cache_bus_on_database {
        return None;
    }
    #[cfg(feature = "postgres")]
    if let Some(bus) = store.invalidation_bus(crate::shared::PG_CACHE_CHANNEL) {
        return Some((Arc::new(bus), "postgres"));
    }
    let _ = store;
    None
}

/// First-run seeding (PROTOCOL.md 8.4 and 7.5 step 6): roles from the policy, the
/// superuser, anonymous and dummy users, and the admin credentials file in
/// `basedir`. Does nothing on an initialised database. Returns the
/// credentials file when this call initialised the database.
pub async fn seed(
    store: &SqlStore,
    hasher: &PasswordHasher,
    policy: &Policy,
    admin: &AdminSeed,
    basedir: &std::path::Path,
    now: chrono::NaiveDateTime,
) -> Result<Option<PathBuf>, StartupError> {
    // Cheap check first so a normal start does not hash three passwords.
    if !store
        .list_roles()
        .await
        .map_err(StartupError::ReadRoles)?
        .is_empty()
    {
        return Ok(None);
    }
    let generated;
    let (admin_password, written_password) = match &admin.password {
        Some(p) => (p.as_str(), USER_GENERATED_PASSWORD_MARKER),
        None => {
            generated =
                random_urlsafe_token(GENERATED_PASSWORD_BYTES).map_err(StartupError::Random)?;
            (generated.as_str(), generated.as_str())
        }
    };
    let random_secret = random_urlsafe_token(32).map_err(StartupError::Random)?;
    let system_user = json!({"provenance": "auto-created", "type": "system-user"});
    let user = |email: &str, name: &str, hash: String, active: bool, role: &str, extra| NewUser {
        system_id: uuid::Uuid::new_v4().to_string(),
        full_name: Some(name.to_owned()),
        password: hash,
        email: email.to_owned(),
        email_verified: true,
        is_active: active,
        user_role: role.to_owned(),
        extra_info: Some(extra),
        emailverify_sent_datetime: None,
    };
    let data = InitialData {
        roles: policy
            .roles
            .iter()
            .map(|r| Role {
                name: r.clone(),
                desc: format!("Role with {r} privileges"),
            })
            .collect(),
        users: [
            user(
                &admin.email,
                "Superuser account",
                hasher
                    .hash(admin_password)
                    .await
                    .map_err(StartupError::Hash)?,
                true,
                "superuser",
                system_user.clone(),
            ),
            user(
                "anonuser@localhost",
                "The systemwide anonymous user",
                hasher
                    .hash(&random_secret)
                    .await
                    .map_err(StartupError::Hash)?,
                true,
                "anonymous",
                system_user,
            ),
            user(
                "dummyuser@localhost",
                "The systemwide locked user",
                hasher
                    .hash(&random_secret)
                    .await
                    .map_err(StartupError::Hash)?,
                false,
                "locked",
                json!({"provenance": "auto-created", "type": "locked-user"}),
            ),
        ],
    };
    if !store
        .initialize(&data, now)
        .await
        .map_err(StartupError::Initialize)?
    {
        return Ok(None);
    }
    let path = write_admin_credentials(basedir, &admin.email, written_password)
        .map_err(StartupError::Credentials)?;
    tracing::info!(file = %path.display(), "initialised the auth database; admin credentials written");
    Ok(Some(path))
}

/// Serve plain HTTP on `listener` with the default [`HttpLimits`] until
/// `shutdown` resolves, then drain (see [`crate::serving`]).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serving::serve(listener, state, None, HttpLimits::default(), shutdown).await
}
