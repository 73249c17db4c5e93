//! A real authnz server for one test: SQLite in a temp dir, cheap Argon2,
//! the file mailer, rate limits as asked, on `127.0.0.1:0`.

use std::time::Duration;

use authnz_client::{Client, Key};
use authnz_server::app::{AdminSeed, Built, ServerOptions, build, serve};
use authnz_server::ratelimit::RateLimitsConfig;
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
    RateLimitsConfig::uniform(1_000_000)
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
        let mut opts = ServerOptions::for_tests(
            format!("sqlite://{}", dir.path().join("authdb.sqlite").display()),
            dir.path(),
            key,
            AdminSeed {
                email: ADMIN_EMAIL.into(),
                password: Some(ADMIN_PASSWORD.into()),
            },
        )
        .expect("test options");
        opts.pii_salt = "client-test-salt".into();
        opts.rate_limits = rate_limits;
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
