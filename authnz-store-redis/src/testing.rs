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
}

impl PrivateRedis {
    /// Start one on a free port, or `None` (skip) without `redis-server`.
    pub fn start(test: &str) -> Option<PrivateRedis> {
        let mut r = PrivateRedis {
            port: free_port(),
            child: None,
        };
        match r.spawn() {
            Ok(()) => Some(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let required =
                    std::env::var(testkit::REQUIRE_SERVICES_VAR).is_ok_and(|v| v.trim() == "1");
                assert!(
                    !required,
                    "redis-server is not installed: cannot run {test}"
                );
                eprintln!("SKIPPED (redis-server not installed): {test}");
                None
            }
            Err(e) => panic!("start redis-server: {e}"),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start the server (again) on its port and wait until it listens. The
    /// restarted server is empty.
    pub fn spawn(&mut self) -> std::io::Result<()> {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
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
