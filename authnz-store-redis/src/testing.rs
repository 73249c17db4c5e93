//! Test support for this crate's tests and other crates' (feature
//! `testing`): a fresh key prefix on the Redis server named by
//! `AUTHNZ_TEST_REDIS_URL`, deleted afterwards, and a private `redis-server`
//! child process to kill and restart.
//!
//! Both skip loudly (`SKIPPED ...` on stderr, the test returns `None`) when
//! the service is missing, and fail instead under `AUTHNZ_REQUIRE_SERVICES=1`.

#![allow(clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authnz_api::testkit;

use crate::{RedisBackend, RedisOptions};

/// The environment variable naming the Redis test server.
pub const REDIS_URL_VAR: &str = "AUTHNZ_TEST_REDIS_URL";

/// A backend with default options under a fresh prefix on the Redis server
/// of [`REDIS_URL_VAR`], and the guard that deletes the prefix's keys; `None`
/// when the test is skipped.
pub async fn test_backend(test: &str) -> Option<(RedisBackend, PrefixCleanup)> {
    test_backend_with(test, RedisOptions::default()).await
}

/// [`test_backend`] with other options.
pub async fn test_backend_with(
    test: &str,
    options: RedisOptions,
) -> Option<(RedisBackend, PrefixCleanup)> {
    let cleanup = PrefixCleanup::fresh(test)?;
    let backend = RedisBackend::connect(&cleanup.url, &cleanup.prefix, options)
        .await
        .expect("connect to the test Redis");
    Some((backend, cleanup))
}

/// Deletes every key under a prefix when dropped (SCAN MATCH prefix* + DEL).
#[derive(Debug)]
pub struct PrefixCleanup {
    url: String,
    prefix: String,
}

impl PrefixCleanup {
    /// A fresh prefix (`authnz_t_<hex>:`) on the server of
    /// [`REDIS_URL_VAR`], for a backend made elsewhere (e.g. a server
    /// process); `None` when the test is skipped.
    pub fn fresh(test: &str) -> Option<PrefixCleanup> {
        let url = testkit::service_url(REDIS_URL_VAR, test)?;
        let prefix = format!("{}:", testkit::unique_name("authnz_t"));
        Some(PrefixCleanup { url, prefix })
    }

    /// Clean up `prefix` on the server at `url` when dropped.
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> PrefixCleanup {
        PrefixCleanup {
            url: url.into(),
            prefix: prefix.into(),
        }
    }

    /// The Redis server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key prefix, ending in `:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Delete the keys now (synchronously, on a connection of its own).
    pub fn clean(&self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut con) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            eprintln!("could not clean up Redis prefix {}", self.prefix);
            return;
        };
        let pattern = format!("{}*", self.prefix);
        let mut cursor: u64 = 0;
        loop {
            let Ok((next, keys)): Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut con)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query(&mut con);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }

    /// The keys under the prefix.
    pub fn keys(&self) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).expect("url");
        let mut con = client.get_connection().expect("connect");
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query(&mut con)
            .expect("KEYS")
    }

    /// How many keys are under the prefix.
    pub fn count(&self) -> usize {
        self.keys().len()
    }
}

impl Drop for PrefixCleanup {
    fn drop(&mut self) {
        self.clean();
    }
}

/// A port nothing listened on a moment ago (bind port 0, drop). Another
/// process may take it meanwhile: callers retry when binding it fails.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("addr").port()
}

/// A `redis-server` child on a fixed port, with nothing on disk, killed on
/// drop. Needs `redis-server` on the PATH.
#[derive(Debug)]
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    tls: Option<TlsFiles>,
}

/// A private CA and a server certificate for 127.0.0.1 it signed, in a
/// folder of their own (removed on drop).
#[derive(Debug)]
struct TlsFiles {
    dir: std::path::PathBuf,
}

impl TlsFiles {
    /// Make them with the `openssl` command.
    fn make() -> std::io::Result<TlsFiles> {
        let dir = std::env::temp_dir().join(crate::testing::unique_dir_name());
        std::fs::create_dir_all(&dir)?;
        let files = TlsFiles { dir };
        let run = |args: &[&str]| -> std::io::Result<()> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&files.dir)
                .stdin(Stdio::null())
                .output()?;
            if out.status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!(
                    "openssl {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                )))
            }
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=authnz test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ])?;
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        std::fs::write(
            files.dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n",
        )?;
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ])?;
        Ok(files)
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PrivateRedis {
    /// Start one on a free port, or `None` (skip) without `redis-server`.
    pub fn start(test: &str) -> Option<PrivateRedis> {
        Self::start_with(test, None)
    }

    /// Start one serving TLS only (`rediss://`), with a certificate for
    /// 127.0.0.1 signed by a private CA ([`PrivateRedis::ca_pem`]); `None`
    /// (skip) without `redis-server` or `openssl`.
    pub fn start_tls(test: &str) -> Option<PrivateRedis> {
        match TlsFiles::make() {
            Ok(files) => Self::start_with(test, Some(files)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                skip_or_fail(test, "openssl is not installed");
                None
            }
            Err(e) => panic!("make TLS files: {e}"),
        }
    }

    /// The private CA's certificate (PEM) of a TLS server.
    pub fn ca_pem(&self) -> Option<Vec<u8>> {
        let tls = self.tls.as_ref()?;
        std::fs::read(tls.dir.join("ca.pem")).ok()
    }

    fn start_with(test: &str, tls: Option<TlsFiles>) -> Option<PrivateRedis> {
        let mut r = PrivateRedis {
            port: free_port(),
            child: None,
            tls,
        };
        match r.spawn() {
            Ok(()) => Some(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                skip_or_fail(test, "redis-server is not installed");
                None
            }
            Err(e) => panic!("start redis-server: {e}"),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://...` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Start the server (again) on its port and wait until it listens. The
    /// restarted server is empty.
    pub fn spawn(&mut self) -> std::io::Result<()> {
        self.stop();
        let mut cmd = Command::new("redis-server");
        match &self.tls {
            None => {
                cmd.args(["--port", &self.port.to_string()]);
            }
            Some(tls) => {
                cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .args(["--tls-cert-file", &tls.path("server.pem")])
                    .args(["--tls-key-file", &tls.path("server.key")])
                    .args(["--tls-ca-cert-file", &tls.path("ca.pem")])
                    .args(["--tls-auth-clients", "no"]);
            }
        }
        let child = cmd
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Kill the server (SIGKILL) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Skip `test` loudly, or fail it when services are required.
fn skip_or_fail(test: &str, why: &str) {
    let required = std::env::var(testkit::REQUIRE_SERVICES_VAR).is_ok_and(|v| v.trim() == "1");
    assert!(!required, "{why}: cannot run {test}");
    eprintln!("SKIPPED ({why}): {test}");
}

/// A fresh folder name under the temp dir.
fn unique_dir_name() -> String {
    testkit::unique_name("authnz_redis_tls")
}
