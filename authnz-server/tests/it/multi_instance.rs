//! Two real `authnzrv` processes sharing one PostgreSQL database and one
//! Redis (`--sessionstore redis`, a fresh key prefix): a session made through
//! one is found through the other, a client limited through one is limited
//! through the other, and failed logins spread over both lock the account
//! after `userlocktries` failures in total.
//!
//! Needs `AUTHNZ_TEST_POSTGRES_URL` and `AUTHNZ_TEST_REDIS_URL`; skipped
//! loudly without, failed under `AUTHNZ_REQUIRE_SERVICES=1`. The real login
//! back-off is slept (1 s + 1.5 s + 2.25 s).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Client, TestDb};
use authnz_core::lockout::LOCKED_MESSAGE;
use authnz_store_redis::testing::{PrefixCleanup, free_port};
use base64::Engine as _;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_authnzrv");
const PASSWORD: &str = "Plover-Quince-Sextant-77";
const LOCK_TRIES: u32 = 3;

/// One `authnzrv` child, killed on drop.
struct Instance {
    name: &'static str,
    child: Child,
    log: PathBuf,
    client: Client,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::ops::Deref for Instance {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Instance {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What both instances share.
struct Shared {
    key: [u8; 32],
    authdb: String,
    redis_url: String,
    prefix: String,
    /// For a `rediss://` Redis with a private CA.
    redis_ca_file: Option<PathBuf>,
    /// `AUTHNZERVER_RATELIMITS` of both.
    ratelimits: &'static str,
    dir: tempfile::TempDir,
}

/// Start instance `name` on a free port and wait until `/health` answers
/// 200; a port taken meanwhile is retried with another.
async fn start(shared: &Shared, name: &'static str) -> Instance {
    let basedir = shared.dir.path().join(name);
    std::fs::create_dir_all(&basedir).unwrap();
    let secret = base64::engine::general_purpose::URL_SAFE.encode(shared.key);
    for attempt in 0..5 {
        let port = free_port();
        let log = basedir.join(format!("authnzrv-{attempt}.log"));
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("AUTHNZERVER_") || k == "PORT" {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(&basedir)
            .args(["--listen", "127.0.0.1", "--port", &port.to_string()])
            .args(["--sessionstore", "redis"])
            .env("AUTHNZERVER_BASEDIR", &basedir)
            .env("AUTHNZERVER_AUTHDB", &shared.authdb)
            .env("AUTHNZERVER_SECRET", &secret)
            .env("AUTHNZERVER_PIISALT", "multi-instance-salt")
            .env("AUTHNZERVER_REDIS_URL", &shared.redis_url)
            .env("AUTHNZERVER_REDISPREFIX", &shared.prefix)
            .env("AUTHNZERVER_RATELIMITS", shared.ratelimits)
            .env("AUTHNZERVER_USERLOCKTRIES", LOCK_TRIES.to_string())
            .env("AUTHNZERVER_USERLOCKTIME", "3600")
            .env("AUTHNZERVER_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("AUTHNZERVER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("AUTHNZERVER_MAILER", "file")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(ca) = &shared.redis_ca_file {
            cmd.env("AUTHNZERVER_REDISCAFILE", ca);
        }
        let child = cmd.spawn().expect("start authnzrv");
        let mut inst = Instance {
            name,
            child,
            log,
            client: Client::new(([127, 0, 0, 1], port).into(), &shared.key),
        };
        if wait_ready(&mut inst).await {
            return inst;
        }
        let text = inst.log_text();
        assert!(text.contains("in use"), "{name} did not start:\n{text}");
        eprintln!("{name}: port {port} taken, retrying");
    }
    panic!("{name}: no free port after 5 attempts");
}

/// True once `/health` answers 200; false if the child exited first.
async fn wait_ready(inst: &mut Instance) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if inst.child.try_wait().unwrap().is_some() {
            return false;
        }
        if tokio::net::TcpStream::connect(inst.client.addr)
            .await
            .is_ok()
        {
            let (status, _, body) = inst.raw("GET", "/health", Some("localhost"), b"").await;
            if status == 200 {
                return true;
            }
            eprintln!(
                "{}: /health {status}: {}",
                inst.name,
                String::from_utf8_lossy(&body)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready within 60 s:\n{}",
            inst.name,
            inst.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn new_session(c: &Client, ip: &str, user_id: Value) -> String {
    let env = c
        .call_as(
            ip,
            "session-new",
            json!({"ip_address": ip, "user_agent": "Mozilla/5.0 test", "user_id": user_id,
                   "expires": "2100-01-01T00:00:00.000001", "extra_info_json": null}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    env["response"]["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn retry_after(head: &str) -> Option<u64> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("retry-after")
            .then(|| v.trim().parse().ok())?
    })
}

/// `user-login` from its own client address `10.0.1.<n>` with a fresh
/// anonymous session; the envelope and how long the answer took.
async fn login(c: &Client, n: u32, email: &str, password: &str) -> (Value, Duration) {
    let ip = format!("10.0.1.{n}");
    let token = new_session(c, &ip, Value::Null).await;
    let start = Instant::now();
    let env = c
        .call_as(
            &ip,
            "user-login",
            json!({"session_token": token, "email": email, "password": password}),
        )
        .await;
    (env, start.elapsed())
}

fn is_lock_response(env: &Value) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert!(env.get("failure_reason").is_none(), "{env}");
    assert_eq!(env["messages"], json!([LOCKED_MESSAGE]), "{env}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_sessions_limits_and_lockout() {
    let test = "multi_instance::two_processes";
    let Some(db) = TestDb::new(Backend::Postgres, test).await else {
        return;
    };
    let Some(cleanup) = PrefixCleanup::fresh(test) else {
        db.drop_db().await;
        return;
    };
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(11).wrapping_add(5);
    }
    let shared = Shared {
        key,
        authdb: db.url.clone(),
        redis_url: cleanup.url().to_owned(),
        prefix: cleanup.prefix().to_owned(),
        redis_ca_file: None,
        ratelimits: "session:60;burst:4",
        dir: tempfile::tempdir().unwrap(),
    };
    // One after the other: the first initialises the database.
    let a = start(&shared, "A").await;
    let b = start(&shared, "B").await;
    assert_ne!(a.addr, b.addr);
    checks(&a, &b).await;
    assert!(cleanup.count() > 0, "the instances wrote under the prefix");
    drop((a, b));
    db.drop_db().await;
    drop(cleanup);
}

/// The checks; a panic shows both servers' logs (see `Instance`'s drop).
async fn checks(a: &Client, b: &Client) {
    // (a) A session made through A is found through B, and deleted through
    // B it is gone through A.
    let ip = "10.0.0.1";
    let token = new_session(a, ip, Value::Null).await;
    let env = b
        .call_as(ip, "session-exists", json!({"session_token": token}))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["session_info"]["user_id"], json!(2));
    let env = b
        .call_as(ip, "session-delete", json!({"session_token": token}))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let env = a
        .call_as(ip, "session-exists", json!({"session_token": token}))
        .await;
    assert_eq!(env["success"], json!(false), "{env}");

    // (b) session:60 with a burst of 4: four session-exists through A use
    // the client's burst, the fifth through B is refused.
    let ip = "10.0.0.2";
    let token = new_session(a, "10.0.0.3", Value::Null).await;
    for i in 0..4 {
        let (status, _, _) = a
            .call_raw_as(ip, "session-exists", json!({"session_token": token}))
            .await;
        assert_eq!(status, 200, "request {i} through A");
    }
    let (status, head, _) = b
        .call_raw_as(ip, "session-exists", json!({"session_token": token}))
        .await;
    assert_eq!(status, 429, "limited through B: {head}");
    let wait = retry_after(&head).expect("Retry-After");
    assert!((1..=60).contains(&wait), "{head}");
    // Another client is not limited.
    let (status, _, _) = b
        .call_raw_as(
            "10.0.0.4",
            "session-exists",
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(status, 200);

    // (c) Failed logins alternating between A and B: the back-off grows
    // with the total count, and the account locks after LOCK_TRIES of them.
    let email = "carol@example.org";
    let env = a
        .call(
            "user-new",
            json!({"full_name": "Carol", "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let env = b
        .call("user-set-emailverified", json!({"email": email}))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    // Each attempt from its own client address, so the per-address limit
    // on user-login (burst 4) is not what stops them.
    let mut delays = Vec::new();
    for n in 0..LOCK_TRIES {
        let via = if n % 2 == 0 { a } else { b };
        let (env, took) = login(via, n, email, "wrong-password-1").await;
        assert_eq!(
            env["failure_reason"],
            json!("user does not exist or password doesn't match"),
            "failure {n}: {env}"
        );
        delays.push(took);
    }
    eprintln!("failed-login answers took {delays:?}");
    // Delays 1 s, 1.5 s, 2.25 s: the count is shared (with per-process
    // counters the second, through B, would be its first: 1 s).
    for (d, min) in delays.iter().zip([1.0, 1.5, 2.25]) {
        assert!(d.as_secs_f64() >= min - 0.05, "{delays:?}");
    }
    // The next failure (through B: each process alone has seen fewer)
    // locks the account.
    let (env, _) = login(b, LOCK_TRIES, email, "wrong-password-1").await;
    is_lock_response(&env);
    // Even the right password, through either instance, gets the lock
    // response now.
    let (env, _) = login(a, LOCK_TRIES + 1, email, PASSWORD).await;
    is_lock_response(&env);
    let (env, _) = login(b, LOCK_TRIES + 2, email, PASSWORD).await;
    is_lock_response(&env);
}

/// The binary's own `rediss://` path: `--redis-url rediss://...` with
/// `AUTHNZERVER_REDISCAFILE` naming a private CA; sessions live in a
/// TLS-only private Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_redis_over_tls() {
    let test = "multi_instance::sessions_in_redis_over_tls";
    let Some(redis) = authnz_store_redis::testing::PrivateRedis::start_tls(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("redis-ca.pem");
    std::fs::write(&ca_file, redis.ca_pem().expect("CA")).unwrap();
    let shared = Shared {
        key: [7u8; 32],
        // SQLAlchemy form: four slashes for an absolute path.
        authdb: format!("sqlite:///{}", dir.path().join("auth.sqlite").display()),
        redis_url: redis.url(),
        prefix: "tls:".to_owned(),
        redis_ca_file: Some(ca_file),
        ratelimits: "session:60;burst:4",
        dir,
    };
    let a = start(&shared, "TLS").await;
    let token = new_session(&a, "10.3.0.1", Value::Null).await;
    let env = a
        .call_as(
            "10.3.0.2",
            "session-exists",
            json!({"session_token": token}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    drop(a);
}

/// `n` `session-exists` of client `ip` through `c`, one after the other:
/// how many were allowed (200) and refused (429); anything else fails.
async fn hammer(c: &Client, ip: &str, token: &str, n: usize) -> (usize, usize) {
    let (mut ok, mut limited) = (0, 0);
    for i in 0..n {
        let (status, head, _) = c
            .call_raw_as(ip, "session-exists", json!({"session_token": token}))
            .await;
        match status {
            200 => ok += 1,
            429 => {
                let wait = retry_after(&head).expect("Retry-After");
                assert!((1..=60).contains(&wait), "{head}");
                limited += 1;
            }
            other => panic!("request {i}: status {other}: {head}"),
        }
    }
    (ok, limited)
}

/// The most a GCRA limit of `per_minute` with `burst` allows in `elapsed`:
/// the burst, one more per interval, and one for the edges.
fn gcra_bound(per_minute: u32, burst: u32, elapsed: Duration) -> usize {
    let per_sec = f64::from(per_minute) / 60.0;
    burst as usize + (elapsed.as_secs_f64() * per_sec).floor() as usize + 1
}

/// Leased limits (600/min, burst 150: leases of up to 60 requests) across
/// two processes: one client hammering both at once never gets more than
/// the limit allows in total, and a client of one instance alone still gets
/// its whole burst. See `authnz_store_redis::lease`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_exceed_a_leased_limit() {
    let test = "multi_instance::leased_limit";
    let Some(db) = TestDb::new(Backend::Postgres, test).await else {
        return;
    };
    let Some(cleanup) = PrefixCleanup::fresh(test) else {
        db.drop_db().await;
        return;
    };
    let shared = Shared {
        key: [23u8; 32],
        authdb: db.url.clone(),
        redis_url: cleanup.url().to_owned(),
        prefix: cleanup.prefix().to_owned(),
        redis_ca_file: None,
        ratelimits: "session:600;burst:150",
        dir: tempfile::tempdir().unwrap(),
    };
    let a = start(&shared, "A").await;
    let b = start(&shared, "B").await;
    let token = new_session(&a, "10.9.0.100", Value::Null).await;

    // One instance alone: exactly what GCRA allows (the burst, plus one per
    // 100 ms that the run lasts).
    let begin = Instant::now();
    let (ok, limited) = hammer(&a, "10.9.0.1", &token, 250).await;
    let bound = gcra_bound(600, 150, begin.elapsed());
    eprintln!("one instance: {ok} allowed, {limited} refused, bound {bound}");
    assert!(ok >= 150, "the whole burst through one instance: {ok}");
    assert!(ok <= bound, "{ok} > {bound}");
    assert!(limited > 0);

    // Both at once, for one client: never more than the limit in total.
    let begin = Instant::now();
    let (via_a, via_b) = tokio::join!(
        hammer(&a, "10.9.0.2", &token, 250),
        hammer(&b, "10.9.0.2", &token, 250)
    );
    let bound = gcra_bound(600, 150, begin.elapsed());
    let total = via_a.0 + via_b.0;
    eprintln!("two instances: A {via_a:?}, B {via_b:?} (allowed, refused); bound {bound}");
    assert!(total <= bound, "{total} allowed > {bound}");
    // Each keeps spending what it leased, so the burst is used up.
    assert!(total >= 150, "{total} allowed");
    // Refused through one, refused through the other too (the TAT is in
    // Redis; the other's lease, if any, is spent).
    let (status, _, _) = b
        .call_raw_as(
            "10.9.0.2",
            "session-exists",
            json!({"session_token": token}),
        )
        .await;
    let (status_a, _, _) = a
        .call_raw_as(
            "10.9.0.2",
            "session-exists",
            json!({"session_token": token}),
        )
        .await;
    assert!(status == 429 || status_a == 429, "{status} {status_a}");
    drop((a, b));
    db.drop_db().await;
    drop(cleanup);
}

/// The reason for leases: a busy client's requests cost far fewer Redis
/// calls than requests. Counted on a private Redis (`INFO commandstats`),
/// one instance on SQLite with sessions in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_client_costs_few_redis_calls() {
    let test = "multi_instance::few_redis_calls";
    let Some(redis) = authnz_store_redis::testing::PrivateRedis::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared {
        key: [29u8; 32],
        authdb: format!("sqlite:///{}", dir.path().join("auth.sqlite").display()),
        redis_url: redis.url(),
        prefix: "lease:".to_owned(),
        redis_ca_file: None,
        // 1 ms per request and a minute of burst: leases of up to 6 s,
        // however slowly a loaded machine answers.
        ratelimits: "session:60000;burst:60000",
        dir,
    };
    let a = start(&shared, "A").await;
    let token = new_session(&a, "10.8.0.100", Value::Null).await;
    // Warm the session cache.
    let (ok, _) = hammer(&a, "10.8.0.99", &token, 3).await;
    assert_eq!(ok, 3);
    let url = redis.url();
    let scripts = move || -> u64 {
        let client = authnz_store_redis::redis::Client::open(url.as_str()).unwrap();
        let mut con = client.get_connection().unwrap();
        let info: String = authnz_store_redis::redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut con)
            .unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
            .filter_map(|l| {
                l.split_once("calls=")?
                    .1
                    .split(',')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let before = scripts();
    let n = 400;
    let (ok, limited) = hammer(&a, "10.8.0.1", &token, n).await;
    let calls = scripts() - before;
    eprintln!("{n} session-exists: {ok} allowed, {limited} refused, {calls} script calls");
    assert_eq!(ok, n);
    // One call per request without leases; doubling leases need about
    // 13 calls to reach their full size of 6,000 requests (6 s).
    assert!(calls <= 40, "{calls} script calls for {n} requests");
    drop(a);
}
