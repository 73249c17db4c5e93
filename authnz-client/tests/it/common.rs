//! A real authnz server for one test: SQLite in a temp dir, cheap Argon2,
//! the file mailer, rate limits as asked, on `127.0.0.1:0`.

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{MemoryLoginThrottle, MemoryRateLimiter, MemoryReplayGuard, SystemClock};
use authnz_client::{Client, Key};
use authnz_core::context::LockoutSettings;
use authnz_core::passwords::HashParams;
use authnz_core::policy::Policy;
use authnz_core::sleeper::ManualSleeper;
use authnz_server::app::{AdminSeed, Built, ServerOptions, SessionPlacement, build, serve};
use authnz_server::mail::MailOptions;
use authnz_server::ratelimit::{RateLimitsConfig, parse_ratelimits};
use authnz_store_sql::SqlOptions;
use tokio::net::TcpListener;

pub const ADMIN_EMAIL: &str = "admin@example.org";
pub const ADMIN_PASSWORD: &str = "client-Tests-admin-pass-91";

pub struct Server {
    pub url: String,
    pub key: [u8; 32],
    pub dir: tempfile::TempDir,
    built: Built,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Rate limiting on (so `client_ipaddr` matters) and far out of the way.
fn generous() -> RateLimitsConfig {
    let mut limits = parse_ratelimits(
        "ipaddr:1000000;user:1000000;session:1000000;apikey:1000000;burst:1000000",
    )
    .expect("valid ratelimits")
    .expect("on");
    for (name, _) in authnz_proto::request::AGGRESSIVE_LIMITS {
        limits.overrides.insert((*name).to_owned(), 1_000_000);
    }
    limits
}

impl Server {
    /// A server with generous rate limits.
    pub async fn start() -> Self {
        Self::start_with(Some(generous())).await
    }

    /// A server with these rate limits (`None`: off).
    pub async fn start_with(rate_limits: Option<RateLimitsConfig>) -> Self {
        Self::start_full(rate_limits, None).await
    }

    /// A server with these rate limits, serving HTTPS with this certificate
    /// and key (PEM files) when given.
    pub async fn start_full(
        rate_limits: Option<RateLimitsConfig>,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(13).wrapping_add(5));
        let opts = ServerOptions {
            database_url: format!("sqlite://{}", dir.path().join("authdb.sqlite").display()),
            db: SqlOptions {
                max_connections: 4,
                acquire_timeout: Duration::from_secs(3),
                ..SqlOptions::default()
            },
            secret: key,
            pii_salt: "client-test-salt".into(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
            rate_limits,
            rate_limiter: Arc::new(MemoryRateLimiter::default()),
            workers: 2,
            hash_params: HashParams {
                m_cost_kib: 512,
                t_cost: 1,
                p_cost: 1,
                output_len: 32,
            },
            policy: Policy::load(None).expect("default policy"),
            session_expiry_days: 30,
            admin: AdminSeed {
                email: ADMIN_EMAIL.into(),
                password: Some(ADMIN_PASSWORD.into()),
            },
            basedir: dir.path().to_path_buf(),
            password_policy: "min_pass_length:12; max_unsafe_similarity:50; max_char_frequency:0.3; min_pwned_matches:25".into(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(ManualSleeper::new()),
            throttle: Arc::new(MemoryLoginThrottle::default()),
            sessions: SessionPlacement::Sql,
            session_cache: true,
            cache_bus: None,
            cache_bus_on_database: false,
            cache_coherence: Default::default(),
            request_ttl: None,
            replay_guard: Arc::new(MemoryReplayGuard::default()),
            lockout: LockoutSettings::default(),
            breach_check_url: None,
            mail: MailOptions::file(
                dir.path().join("mail-outbox"),
                dir.path().join("email-templates"),
            ),
            metrics: authnz_server::app::MetricsOptions::default(),
            jwt: authnz_core::jwt::JwtSettings::default(),
        };
        let built = build(&opts).await.expect("server builds");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stop = async {
            let _ = rx.await;
        };
        let (task, url) = match tls {
            None => (
                tokio::spawn(serve(listener, built.state.clone(), stop)),
                format!("http://{addr}"),
            ),
            Some((cert, key)) => {
                let config = authnz_server::tls::server_config(&cert, &key).expect("TLS config");
                (
                    tokio::spawn(authnz_server::tls::serve(
                        listener,
                        built.state.clone(),
                        config,
                        stop,
                    )),
                    format!("https://localhost:{}", addr.port()),
                )
            }
        };
        Self {
            url,
            key,
            dir,
            built,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url, Key::from_bytes(self.key)).expect("client")
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.built.store.close().await;
    }
}
