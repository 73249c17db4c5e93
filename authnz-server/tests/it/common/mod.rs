//! Test support: a real `authnz-server` on an ephemeral loopback port, a fresh
//! database per test (SQLite in a temp dir, or a throw-away PostgreSQL or,
//! with the `mysql` feature, MySQL/MariaDB database), and a client that speaks the real encrypted protocol over a real
//! socket with a hand-written HTTP/1.1 exchange.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authnz_api::{Clock, SystemClock};
use authnz_core::passwords::HashParams;
use authnz_proto::codec::Codec;
use authnz_server::app::{AdminSeed, Built, ServerOptions, build, serve};
use authnz_server::ratelimit::RateLimitsConfig;
#[cfg(feature = "mysql")]
use authnz_store_sql::testing::MySqlDatabase;
use authnz_store_sql::testing::PgDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const ADMIN_EMAIL: &str = "admin@example.org";
pub const ADMIN_PASSWORD: &str = "correct-Horse-battery-staple-42";

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// MySQL/MariaDB (`AUTHNZ_TEST_MYSQL_URL`), with the `mysql` feature.
    #[cfg(feature = "mysql")]
    MySql,
}

/// A fresh database for one test; dropped (PostgreSQL) or deleted with the
/// temp dir (SQLite) when the test ends.
pub struct TestDb {
    pub url: String,
    _dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
    #[cfg(feature = "mysql")]
    my: Option<MySqlDatabase>,
}

impl TestDb {
    /// `None` when the backend's service is not configured (the skip is
    /// printed, and turned into a failure by `AUTHNZ_REQUIRE_SERVICES=1`).
    pub async fn new(backend: Backend, test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let path = dir.path().join("authdb.sqlite");
                Some(Self {
                    url: format!("sqlite://{}", path.display()),
                    _dir: dir,
                    pg: None,
                    #[cfg(feature = "mysql")]
                    my: None,
                })
            }
            Backend::Postgres => {
                let pg = PgDatabase::create(test).await?;
                Some(Self {
                    url: pg.url.clone(),
                    _dir: dir,
                    pg: Some(pg),
                    #[cfg(feature = "mysql")]
                    my: None,
                })
            }
            #[cfg(feature = "mysql")]
            Backend::MySql => {
                let my = MySqlDatabase::create(test).await?;
                Some(Self {
                    url: my.url.clone(),
                    _dir: dir,
                    pg: None,
                    my: Some(my),
                })
            }
        }
    }

    pub async fn drop_db(self) {
        if let Some(pg) = self.pg {
            pg.drop_database().await;
        }
        #[cfg(feature = "mysql")]
        if let Some(my) = self.my {
            my.drop_database().await;
        }
    }
}

/// A running server plus a protocol client for it (`s.call(..)`, `s.addr`
/// and `s.codec` reach the client through `Deref`).
pub struct TestServer {
    pub client: Client,
    pub key: [u8; 32],
    pub built: Built,
    pub basedir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Cheap Argon2 parameters so tests do not spend seconds hashing.
pub fn fast_hash() -> HashParams {
    HashParams {
        m_cost_kib: 512,
        t_cost: 1,
        p_cost: 1,
        output_len: 32,
    }
}

/// Rate limiting on, with every limit (the aggressive ones too) far above
/// what a test sends.
pub fn generous_limits() -> RateLimitsConfig {
    RateLimitsConfig::uniform(1_000_000)
}

pub fn options(db: &TestDb, basedir: &std::path::Path, clock: Arc<dyn Clock>) -> ServerOptions {
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = i as u8 * 7 + 3;
    }
    let mut opts = ServerOptions::for_tests(
        db.url.clone(),
        basedir,
        key,
        AdminSeed {
            email: ADMIN_EMAIL.into(),
            password: Some(ADMIN_PASSWORD.into()),
        },
    )
    .expect("test options");
    // On (client_ipaddr required), but too high to get in the way of tests
    // that are not about rate limits.
    opts.rate_limits = Some(generous_limits());
    opts.hash_params = fast_hash();
    opts.clock = clock;
    // SQLite test servers run with the session cache, as the binary does on
    // its own SQLite file, so every session test exercises it.
    opts.session_cache = db.url.starts_with("sqlite");
    opts
}

impl TestServer {
    pub async fn start(db: &TestDb) -> Self {
        Self::start_with(db, Arc::new(SystemClock), |_| {}).await
    }

    pub async fn start_with(
        db: &TestDb,
        clock: Arc<dyn Clock>,
        tweak: impl FnOnce(&mut ServerOptions),
    ) -> Self {
        let basedir = tempfile::tempdir().expect("basedir");
        let mut opts = options(db, basedir.path(), clock);
        tweak(&mut opts);
        let key = opts.secret;
        let built = build(&opts).await.expect("server builds");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let state = built.state.clone();
        let task = tokio::spawn(serve(listener, state, async {
            let _ = rx.await;
        }));
        Self {
            client: Client::new(addr, &key),
            key,
            built,
            basedir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(worker) = &self.built.webhook_worker {
            worker.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        self.built
            .state
            .ctx
            .audit_log
            .close(Duration::from_secs(5))
            .await;
        self.built.store.close().await;
    }
}

impl std::ops::Deref for TestServer {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A protocol client for a server at `addr` sharing the Fernet key: a
/// hand-written HTTP/1.1 exchange per request, on a fresh connection.
pub struct Client {
    pub addr: SocketAddr,
    pub codec: Codec,
}

impl Client {
    pub fn new(addr: SocketAddr, key: &[u8; 32]) -> Self {
        Self {
            addr,
            codec: Codec::new(key),
        }
    }

    /// One raw HTTP/1.1 exchange: returns (status, headers text, body bytes).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        host: Option<&str>,
        body: &[u8],
    ) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if let Some(h) = host {
            head.push_str(&format!("Host: {h}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        stream.write_all(head.as_bytes()).await.expect("write head");
        // A server may answer (e.g. 400 for an oversized body) before reading
        // everything; ignore a broken pipe then.
        let _ = stream.write_all(body).await;
        let mut buf = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "server did not answer within 30 s");
        let text_end = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response head");
        let head = String::from_utf8_lossy(&buf[..text_end]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        (status, head, buf[text_end + 4..].to_vec())
    }

    /// POST an already-built body to `/`.
    pub async fn post_body(&self, body: &[u8]) -> (u16, Vec<u8>) {
        let (status, _, body) = self.raw("POST", "/", Some("127.0.0.1"), body).await;
        (status, body)
    }

    /// Encrypt and send a request object; decrypt a 200 answer.
    pub async fn send_object(&self, object: &Value) -> Result<Value, (u16, String)> {
        let (status, body) = self.post_body(self.codec.seal(object).as_bytes()).await;
        if status != 200 {
            return Err((status, String::from_utf8_lossy(&body).into_owned()));
        }
        Ok(self.codec.open(&body).expect("response decrypts"))
    }

    /// The request object the Python client sends, from client `ip`.
    pub fn request_object(ip: &str, request: &str, mut body: Value) -> Value {
        if let Some(b) = body.as_object_mut() {
            b.insert("client_ipaddr".into(), json!(ip));
        }
        json!({
            "request": request,
            "body": body,
            "reqid": 42,
            "client_ipaddr": ip,
        })
    }

    /// Send a request the way the Python client does (from 127.0.0.1) and
    /// return the envelope.
    pub async fn call(&self, request: &str, body: Value) -> Value {
        self.call_as("127.0.0.1", request, body).await
    }

    /// [`Client::call`] from client address `ip` (rate limits are per
    /// request type and client address).
    pub async fn call_as(&self, ip: &str, request: &str, body: Value) -> Value {
        let env = self
            .send_object(&Self::request_object(ip, request, body))
            .await
            .unwrap_or_else(|e| panic!("{request}: HTTP {e:?}"));
        assert_eq!(env["reqid"], json!(42));
        env
    }

    /// Like [`Client::call_as`], but return the raw exchange: (status,
    /// headers text, body bytes), for answers other than 200.
    pub async fn call_raw_as(
        &self,
        ip: &str,
        request: &str,
        body: Value,
    ) -> (u16, String, Vec<u8>) {
        let sealed = self.codec.seal(&Self::request_object(ip, request, body));
        self.raw("POST", "/", Some("127.0.0.1"), sealed.as_bytes())
            .await
    }

    /// `session-new` for `user_id` (null = anonymous); returns the token.
    pub async fn new_session(&self, user_id: Value) -> String {
        let env = self
            .call(
                "session-new",
                json!({
                    "ip_address": "127.0.0.1",
                    "user_agent": "Mozilla/5.0 test",
                    "user_id": user_id,
                    "expires": "2100-01-01T00:00:00.000001",
                    "extra_info_json": null,
                }),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        env["response"]["session_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Sign a user up and verify them; returns the user id.
    pub async fn verified_user(&self, email: &str, password: &str) -> i64 {
        let env = self
            .call(
                "user-new",
                json!({"full_name": "Test Person", "email": email, "password": password}),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        let env = self
            .call("user-set-emailverified", json!({"email": email}))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        env["response"]["user_id"].as_i64().expect("user id")
    }
}

/// Declare one test per backend for an async test body
/// `async fn(Backend, &'static str)`.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite, concat!("sqlite::", stringify!($name))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres, concat!("postgres::", stringify!($name))).await;
                }
            )*
        }
        #[cfg(feature = "mysql")]
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::MySql, concat!("mysql::", stringify!($name))).await;
                }
            )*
        }
    };
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, made with the
/// `openssl` command into `dir`: returns (certificate PEM, key PEM) paths.
pub fn self_signed_cert(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command runs");
    assert!(status.success(), "openssl made a certificate");
    (cert, key)
}

/// Rate limiter, login throttle, replay guard and sessions on `redis`, as
/// `authnzrv --redis-url .. --sessionstore redis` wires them (the same
/// [`SharedState::on_redis`] the binary uses).
pub fn on_redis(o: &mut ServerOptions, redis: &authnz_store_redis::RedisBackend) {
    authnz_server::shared::SharedState::on_redis(redis, true).apply(o);
}

/// Rows in the SQL `sessions` and `apikeys` tables (session-tied keys).
pub async fn sql_session_rows(s: &TestServer) -> (i64, i64) {
    use authnz_store_sql::sqlx;
    const SESSIONS: &str = "SELECT COUNT(*) FROM sessions";
    const APIKEYS: &str = "SELECT COUNT(*) FROM apikeys";
    let store = &s.built.store;
    if let Some(pool) = store.sqlite_pool() {
        let a: i64 = sqlx::query_scalar(SESSIONS)
            .fetch_one(pool)
            .await
            .expect("count");
        let b: i64 = sqlx::query_scalar(APIKEYS)
            .fetch_one(pool)
            .await
            .expect("count");
        (a, b)
    } else {
        #[cfg(feature = "mysql")]
        if let Some(pool) = store.mysql_pool() {
            let a: i64 = sqlx::query_scalar(SESSIONS)
                .fetch_one(pool)
                .await
                .expect("count");
            let b: i64 = sqlx::query_scalar(APIKEYS)
                .fetch_one(pool)
                .await
                .expect("count");
            return (a, b);
        }
        let pool = store.postgres_pool().expect("a SQLite or PostgreSQL store");
        let a: i64 = sqlx::query_scalar(SESSIONS)
            .fetch_one(pool)
            .await
            .expect("count");
        let b: i64 = sqlx::query_scalar(APIKEYS)
            .fetch_one(pool)
            .await
            .expect("count");
        (a, b)
    }
}

/// Run `f` against a fresh server on a fresh database of `backend`; returns at
/// once (the test is skipped) when the backend's service is not configured.
pub async fn with_server<F, Fut>(backend: Backend, test: &str, f: F)
where
    F: FnOnce(TestServer) -> Fut,
    Fut: std::future::Future<Output = TestServer>,
{
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let server = TestServer::start(&db).await;
    let server = f(server).await;
    server.stop().await;
    db.drop_db().await;
}

/// `user-login` from a fresh anonymous session.
pub async fn login(s: &TestServer, email: &str, password: &str) -> Value {
    let anon = s.new_session(Value::Null).await;
    s.call(
        "user-login",
        json!({"session_token": anon, "email": email, "password": password}),
    )
    .await
}

/// Whether `session-exists` says the session is alive.
pub async fn alive(s: &TestServer, token: &str) -> bool {
    s.call("session-exists", json!({"session_token": token}))
        .await["success"]
        == json!(true)
}
