//! From the validated configuration to a running server: logging, the
//! shared state (in-process or Redis), the [`ServerOptions`] the library's
//! [`app`] module builds a server or an action context from, auto-setup,
//! and the serve loop with its systemd notices.
//!
//! The admin subcommands ([`crate::admin`]) go through the same
//! [`server_options`] and [`shared_state`], so they reach the same database,
//! Redis and session placement with the same flags, environment and files.

use std::sync::Arc;

use anyhow::Context as _;
use authnz_api::{Clock, SystemClock};
use authnz_core::context::LockoutSettings;
use authnz_core::passwords::{HashParams, PasswordHasher};
use authnz_core::policy::Policy;
use authnz_core::sleeper::TokioSleeper;
use authnz_server::app::{self, AdminSeed, ServerOptions, SessionPlacement};
use authnz_server::cache_bus::CoherenceSettings;
use authnz_server::config::items;
use authnz_server::config::{
    ADMIN_EMAIL_ENV, ADMIN_PASSWORD_ENV, AutosetupSeed, Cli, Config, Environment,
    FALLBACK_ADMIN_EMAIL, LogFormat, StdioPrompter, prepare_basedir_with,
};
use authnz_server::mail::templates::TEMPLATE_DIR;
use authnz_server::mail::{MailOptions, SmtpOptions};
use authnz_server::ratelimit::parse_ratelimits;
use authnz_server::shared::SharedState;
use authnz_store_sql::SqlOptions;
use tracing_subscriber::EnvFilter;

/// Log to stderr in `format`, at `default_level` unless `AUTHNZ_LOG` says
/// otherwise. Both formats carry the same fields: whatever an event logs is
/// already hashed or left out where it is personal data or a secret.
pub fn init_logging(default_level: &str, format: LogFormat) {
    let mut filter =
        EnvFilter::try_from_env("AUTHNZ_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    // webauthn-rs logs ceremony states and credentials at debug and trace:
    // never below warn, whatever AUTHNZ_LOG asks.
    for quiet in authnz_server::passkeys::QUIET_LOG_TARGETS {
        if let Ok(directive) = quiet.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// Load the configuration, with the `--autosetup` hint when nothing is set
/// up yet.
pub fn load_config(cli: &Cli, env: &Environment) -> anyhow::Result<Config> {
    match Config::load(cli, env) {
        Ok(config) => Ok(config),
        Err(e) => match Config::setup_hint(cli, env, &e) {
            Some(hint) => anyhow::bail!("{e}\n{hint}"),
            None => Err(e.into()),
        },
    }
}

/// Spec 7.4: prepare the basedir, create and seed the database, write the
/// credentials file, print how to start.
pub async fn autosetup(cli: &Cli, env: &Environment) -> anyhow::Result<()> {
    let basedir = Config::resolve_basedir(cli, env)?;
    let seed = AutosetupSeed::from_cli_and_environment(cli, env);
    let plan = prepare_basedir_with(
        &basedir,
        &seed,
        cli.autosetup_interactive(),
        &mut StdioPrompter,
    )?;
    let policy = Policy::load(Some(&plan.permissions))?;
    let store = app::open_database(&plan.authdb.sqlx_url(), &SqlOptions::default()).await?;
    let hasher = PasswordHasher::new(1, HashParams::default())?;
    let admin = AdminSeed {
        email: plan.admin_email.clone(),
        password: plan.admin_password.clone(),
    };
    let written = app::seed(
        &store,
        &hasher,
        &policy,
        &admin,
        &plan.basedir,
        SystemClock.now(),
    )
    .await?;
    // The first JWT signing key, sealed with the secret just kept or made.
    let secret = authnz_server::config::FernetKey::parse(
        &std::fs::read_to_string(&plan.secret_key_path)
            .with_context(|| format!("read {}", plan.secret_key_path.display()))?,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", plan.secret_key_path.display()))?;
    let jwt = authnz_core::jwt::JwtKeys::new(
        Arc::new(store.clone()),
        secret.as_bytes(),
        authnz_core::jwt::JwtSettings::default(),
    )?;
    if let Some(kid) = jwt.ensure_key(SystemClock.now()).await? {
        println!("JWT signing key made: {kid}");
    }
    store.close().await;
    match written {
        Some(path) => println!("Admin credentials written to {}", path.display()),
        None => println!("The auth database was already initialised; admin credentials unchanged."),
    }
    println!("Configuration written to {}", plan.env_path.display());
    println!("Start the server with: {}", plan.start_command());
    Ok(())
}

/// The options the server (or an admin command) is built from, for
/// `config`. `session_cache` is the server's decision (it needs the
/// database lock); admin commands pass `false`.
pub fn server_options(
    config: &Config,
    env: &Environment,
    shared: SharedState,
    session_cache: bool,
) -> anyhow::Result<ServerOptions> {
    let policy = Policy::load(config.permissions.as_deref())?;
    let admin_email = env
        .get_nonblank(ADMIN_EMAIL_ENV)
        .map(str::to_owned)
        .or_else(|| env.os_user().map(|u| format!("{u}@localhost")))
        .unwrap_or_else(|| FALLBACK_ADMIN_EMAIL.to_owned());
    let rate_limits = parse_ratelimits(&config.ratelimits)?;
    Ok(ServerOptions {
        database_url: config.authdb.sqlx_url(),
        db: SqlOptions {
            acquire_timeout: config.dbacquiretimeout,
            statement_timeout: config.dbstatementtimeout,
            ..SqlOptions::default()
        },
        secret: *config.secret.as_bytes(),
        pii_salt: config.piisalt.clone(),
        allowed_hosts: config.allowedhosts.clone(),
        rate_limits,
        rate_limiter: shared.rate_limiter,
        workers: config.workers,
        hash_params: config.hash_params,
        policy,
        session_expiry_days: config.sessionexpiry,
        admin: AdminSeed {
            email: admin_email,
            password: env.get_nonblank(ADMIN_PASSWORD_ENV).map(str::to_owned),
        },
        basedir: config.basedir.clone(),
        password_policy: config.passpolicy.clone(),
        clock: Arc::new(SystemClock),
        sleeper: Arc::new(TokioSleeper),
        throttle: shared.throttle,
        sessions: shared.sessions,
        session_cache,
        cache_bus: if cache_enabled(config) {
            shared.cache_bus
        } else {
            None
        },
        // No Redis: PostgreSQL's LISTEN/NOTIFY (see `app::context_parts`).
        cache_bus_on_database: cache_enabled(config)
            && config.authdb.backend() == authnz_store_sql::Dialect::Postgres,
        cache_coherence: CoherenceSettings {
            max_age: config
                .values
                .duration(&authnz_server::config::items::SESSIONCACHEMAXAGEMS)
                .unwrap_or(CoherenceSettings::default().max_age),
            ..CoherenceSettings::default()
        },
        request_ttl: config.requestttl,
        replay_guard: shared.replay_guard,
        lockout: LockoutSettings {
            tries: config.userlocktries,
            lock_time: std::time::Duration::from_secs(config.userlocktime),
        },
        breach_check_url: config.breachcheck.then(|| config.breachcheckurl.clone()),
        mail: mail_options(config),
        jwt: jwt_settings(config),
        audit: audit_settings(config),
        metrics: authnz_server::app::MetricsOptions {
            enabled: config.values.flag(&items::METRICS).unwrap_or(true),
            token: config
                .values
                .text(&items::METRICSTOKEN)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            own_listener: metrics_listen(config)?.is_some(),
        },
        oauth: match config.values.path(&items::OAUTHPROVIDERS) {
            Some(path) => Some(authnz_server::oauth::load(path)?),
            None => None,
        },
        passkeys: match passkey_settings(config) {
            Some(settings) => Some(authnz_server::passkeys::build(&settings)?),
            None => None,
        },
        webhooks: match config.values.path(&items::WEBHOOKS) {
            Some(path) => Some(Arc::new(load_webhooks(path)?)),
            None => None,
        },
        webhook_settings: webhook_settings(config),
    })
}

/// `webauthnorigins`, `webauthnrpid`, `webauthnrpname`: `None` when no
/// origin is set (passkeys off).
fn passkey_settings(config: &Config) -> Option<authnz_server::passkeys::PasskeySettings> {
    let text = |item| config.values.text(item).unwrap_or("");
    authnz_server::passkeys::PasskeySettings::from_items(
        text(&items::WEBAUTHNRPID),
        text(&items::WEBAUTHNORIGINS),
        text(&items::WEBAUTHNRPNAME),
    )
}

/// `metricslisten`: `None` when empty, else its `HOST:PORT`.
fn metrics_listen(config: &Config) -> anyhow::Result<Option<(String, u16)>> {
    let text = config
        .values
        .text(&items::METRICSLISTEN)
        .unwrap_or("")
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = text.rsplit_once(':').and_then(|(host, port)| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some((host.to_owned(), port.parse::<u16>().ok()?)).filter(|(h, _)| !h.is_empty())
    });
    match parsed {
        Some(p) => Ok(Some(p)),
        None => anyhow::bail!(
            "Config item: \"AUTHNZERVER_METRICSLISTEN\" is invalid: expected HOST:PORT, e.g. 127.0.0.1:9431"
        ),
    }
}

/// `jwtissuer`, `jwtmaxexpiry`, `jwtkeyreload`.
/// The longest the server waits at shutdown for queued audit events to be
/// written.
const AUDIT_CLOSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `auditaddress` and `auditqueue`.
fn audit_settings(config: &Config) -> authnz_core::audit::AuditSettings {
    use authnz_core::audit::{AddressForm, AuditSettings};
    let defaults = AuditSettings::default();
    AuditSettings {
        address: config
            .values
            .text(&items::AUDITADDRESS)
            .and_then(AddressForm::from_word)
            .unwrap_or(defaults.address),
        queue: config
            .values
            .int(&items::AUDITQUEUE)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(defaults.queue),
    }
}

/// The `webhooks` file, checked: errors name the file and the entry at
/// fault, never a secret.
pub fn load_webhooks(path: &std::path::Path) -> anyhow::Result<authnz_core::webhooks::Webhooks> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Config item \"webhooks\": cannot read {}", path.display()))?;
    authnz_core::webhooks::parse_config(&text)
        .map_err(|e| anyhow::anyhow!("Config item \"webhooks\": {}: {e}", path.display()))
}

/// `webhookattempts` and `webhooktimeout`.
fn webhook_settings(config: &Config) -> authnz_server::webhooks::WebhookSettings {
    let defaults = authnz_server::webhooks::WebhookSettings::default();
    authnz_server::webhooks::WebhookSettings {
        attempts: config
            .values
            .int(&items::WEBHOOKATTEMPTS)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(defaults.attempts),
        timeout: config
            .values
            .duration(&items::WEBHOOKTIMEOUT)
            .unwrap_or(defaults.timeout),
        ..defaults
    }
}

/// `auditretention`: days, 0 for no cleanup.
fn audit_retention_days(config: &Config) -> i64 {
    config.values.int(&items::AUDITRETENTION).unwrap_or(365)
}

fn jwt_settings(config: &Config) -> authnz_core::jwt::JwtSettings {
    use authnz_server::config::items::{JWTISSUER, JWTKEYRELOAD, JWTMAXEXPIRY};
    let defaults = authnz_core::jwt::JwtSettings::default();
    authnz_core::jwt::JwtSettings {
        issuer: config
            .values
            .text(&JWTISSUER)
            .map_or(defaults.issuer, str::to_owned),
        max_expiry: config
            .values
            .duration(&JWTMAXEXPIRY)
            .unwrap_or(defaults.max_expiry),
        reload_interval: config
            .values
            .duration(&JWTKEYRELOAD)
            .unwrap_or(defaults.reload_interval),
    }
}

/// `sessioncache` (default on): whether active sessions may be cached at all.
fn cache_enabled(config: &Config) -> bool {
    config
        .values
        .flag(&authnz_server::config::items::SESSIONCACHE)
        .unwrap_or(true)
}

/// Build the server for `config`, listen, tell systemd it is ready, serve
/// until SIGTERM or SIGINT, drain, stop.
pub async fn serve(config: Config, env: &Environment) -> anyhow::Result<()> {
    let tls = match config.tls() {
        Some(files) => Some(authnz_server::tls::server_config(
            files.cert_file,
            files.cert_key,
        )?),
        None => None,
    };
    let shared = shared_state(&config).await?;
    let cache_on = cache_enabled(&config);
    if !cache_on {
        tracing::info!("session cache off (sessioncache = 0)");
    }
    // Without a bus, the session cache needs this process to be the only
    // writer: SQLite, sessions in it, and the database's lock file ours.
    // The admin commands look for the same lock (see `admin::guard`).
    let cache_lock = match (&shared.sessions, config.authdb.sqlite_path()) {
        (SessionPlacement::Sql, Some(path)) if cache_on && shared.cache_bus.is_none() => {
            let lock = authnz_server::session_cache::try_lock_exclusive(path);
            if lock.is_none() {
                tracing::warn!(
                    "another process holds the lock of this SQLite database: active sessions are not cached"
                );
            }
            lock
        }
        _ => None,
    };
    let session_cache = cache_on
        && matches!(shared.sessions, SessionPlacement::Sql)
        && (cache_lock.is_some() || config.authdb.sqlite_path().is_none())
        && config.authdb.backend() == authnz_store_sql::Dialect::Sqlite;
    let opts = server_options(&config, env, shared, session_cache)?;
    match &opts.rate_limits {
        Some(limits) => {
            tracing::info!("{}", limits.summary());
            for line in limits.describe() {
                tracing::debug!(limit = %line, "rate limit");
            }
        }
        None => tracing::info!("rate limiting is off (ratelimits = none)"),
    }
    let p = opts.hash_params;
    tracing::info!(
        m_kib = p.m_cost_kib,
        t = p.t_cost,
        p = p.p_cost,
        workers = opts.workers,
        "Argon2id parameters of new hashes"
    );
    let clock = opts.clock.clone();
    let built = app::build(&opts).await?;
    if let Some(t) = &built.state.telemetry {
        // The one server of this process: tasks outside a request count too.
        t.install_global();
    }
    if let Some(path) = &built.credentials_file {
        tracing::info!(file = %path.display(), "new database: admin credentials written");
    }
    let cleanup = authnz_server::cleanup::spawn(
        built.state.ctx.sessions.clone(),
        clock,
        built.state.ctx.sleeper.clone(),
        config.sessionexpiry,
    );
    let ceremony_cleanup = authnz_server::cleanup::spawn_second_factors(
        built.state.ctx.second_factors.store.clone(),
        built.state.ctx.clock.clone(),
        built.state.ctx.sleeper.clone(),
    );
    let audit_retention = audit_retention_days(&config);
    let audit_cleanup = (audit_retention > 0).then(|| {
        authnz_server::cleanup::spawn_audit(
            built.state.ctx.audit_store.clone(),
            built.state.ctx.clock.clone(),
            built.state.ctx.sleeper.clone(),
            audit_retention,
        )
    });
    let listener = tokio::net::TcpListener::bind((config.listen.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.listen, config.port))?;
    let address = listener.local_addr()?;
    tracing::info!(
        address = %address,
        database = %config.authdb_display,
        tls = tls.is_some(),
        "authnzrv listening"
    );
    let limits = config.http_limits;
    tracing::info!(
        header_timeout_s = limits.header_timeout.as_secs(),
        body_timeout_s = limits.body_timeout.as_secs(),
        idle_timeout_s = limits.idle_timeout.as_secs(),
        max_connections = limits.connection_cap(),
        shutdown_timeout_s = limits.shutdown_timeout.as_secs(),
        "HTTP limits"
    );
    let metrics_task = match metrics_listen(&config)? {
        Some((host, port)) if built.state.telemetry.is_some() => {
            let listener = tokio::net::TcpListener::bind((host.as_str(), port))
                .await
                .with_context(|| format!("cannot listen on {host}:{port} (metricslisten)"))?;
            tracing::info!(address = %listener.local_addr()?, "metrics listening");
            let app = authnz_server::http::metrics_router(built.state.clone());
            Some(tokio::spawn(authnz_server::serving::serve_router(
                listener,
                app,
                tls.clone(),
                limits,
                shutdown_signal(),
            )))
        }
        _ => None,
    };
    // The listener is bound and the state built: connections made from now
    // on wait in the backlog until `serve` accepts them.
    authnz_server::notify::ready(&format!("listening on {address}"));
    authnz_server::serving::serve(listener, built.state.clone(), tls, limits, async {
        shutdown_signal().await;
        authnz_server::notify::stopping();
    })
    .await?;
    cleanup.abort();
    ceremony_cleanup.abort();
    if let Some(task) = audit_cleanup {
        task.abort();
    }
    // Deliveries in flight stay claimed until their lease ends; the next
    // start (or another instance) attempts them again.
    if let Some(task) = &built.webhook_worker {
        task.abort();
    }
    // Every request has been answered: write the audit events still queued.
    if !built.state.ctx.audit_log.close(AUDIT_CLOSE_LIMIT).await {
        tracing::warn!("audit log: not every queued event could be written before stopping");
    }
    if let Some(task) = metrics_task {
        task.abort();
    }
    drop(cache_lock);
    built.store.close().await;
    tracing::info!("authnzrv stopped");
    Ok(())
}

/// Where rate limits, the login throttle, the replay guard and sessions
/// live, from `redis_url` and `sessionstore`.
#[cfg(feature = "redis")]
pub async fn shared_state(config: &Config) -> anyhow::Result<SharedState> {
    use authnz_server::config::SessionStoreKind;
    use authnz_store_redis::{RedisBackend, RedisOptions};

    let Some(url) = &config.redis_url else {
        return Ok(SharedState::in_process());
    };
    let tls_root_pem =
        match &config.rediscafile {
            Some(path) => Some(std::fs::read(path).with_context(|| {
                format!("AUTHNZERVER_REDISCAFILE: cannot read {}", path.display())
            })?),
            None => None,
        };
    let options = RedisOptions {
        timeout: config.redistimeout,
        tls_root_pem,
        ..RedisOptions::default()
    };
    let redis = match RedisBackend::connect(url, &config.redisprefix, options.clone()).await {
        Ok(redis) => {
            tracing::info!(prefix = %config.redisprefix, "Redis connected");
            redis
        }
        Err(authnz_api::StoreError::Unavailable { .. }) => {
            // Start anyway: every use retries, so the server recovers when
            // Redis comes up (rate limits fail open meanwhile).
            tracing::warn!("Redis is unreachable at start-up; it is retried on every use");
            RedisBackend::connect_lazy(url, &config.redisprefix, options)
                .map_err(|e| anyhow::anyhow!("AUTHNZERVER_REDIS_URL: {e}"))?
        }
        Err(e) => anyhow::bail!("AUTHNZERVER_REDIS_URL: cannot use this Redis URL: {e}"),
    };
    let sessions_in_redis = config.sessionstore == SessionStoreKind::Redis;
    if sessions_in_redis {
        tracing::info!("sessions live in Redis");
    }
    Ok(SharedState::on_redis(&redis, sessions_in_redis).with_cache_bus(&redis))
}

/// Without the `redis` feature everything is in-process.
#[cfg(not(feature = "redis"))]
pub async fn shared_state(config: &Config) -> anyhow::Result<SharedState> {
    if config.redis_url.is_some() {
        anyhow::bail!(
            "AUTHNZERVER_REDIS_URL is set, but this authnzrv was built without the `redis` feature"
        );
    }
    Ok(SharedState::in_process())
}

/// The mail part of the server options, from the validated config.
fn mail_options(config: &Config) -> MailOptions {
    MailOptions {
        backend: config.mailer,
        sender: config.emailsender.clone(),
        smtp: SmtpOptions {
            host: config.emailserver.clone(),
            port: config.emailport,
            security: config.emailtls,
            user: config.emailuser.clone(),
            password: config.emailpass.clone(),
            ca_file: config.emailcafile.clone(),
        },
        ses_region: config.sesregion.clone(),
        ses_endpoint: config.sesendpoint.clone(),
        file_dir: config.emailfiledir.clone(),
        timeout: config.emailtimeout,
        allow_body_overrides: config.emailbodyoverrides,
        templates_dir: config.basedir.join(TEMPLATE_DIR),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
