//! The session cache of several instances (docs/OPERATIONS.md, session
//! cache): two real `authnzrv` processes on one PostgreSQL database and one
//! Redis, both caching. Every request that changes a session or a user,
//! sent to A, is seen by `session-exists` on B after at most the message
//! delivery (polled with a deadline far below the maximum entry age, which
//! the tests raise to 10 minutes so that it cannot hide a missed message).
//! A control shows the check can fail: with A not publishing
//! (`sessioncache = 0` on A), B keeps answering from its cache. And with
//! Redis killed and restarted (a private `redis-server`), B never answers
//! from a cache that may have missed a message.
//!
//! Without Redis the same checks run over PostgreSQL's `LISTEN`/`NOTIFY`
//! (`*_postgres_only`), and the listening connection of every instance is
//! cut with `pg_terminate_backend`: the caches turn off, nothing from
//! before the cut is served after it, and they come back.
//!
//! Needs `AUTHNZ_TEST_POSTGRES_URL`, `AUTHNZ_TEST_REDIS_URL` and
//! `redis-server`; skipped loudly without, failed under
//! `AUTHNZ_REQUIRE_SERVICES=1`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Client, TestDb};
use authnz_store_redis::testing::{PrefixCleanup, PrivateRedis, free_port};
use base64::Engine as _;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_authnzrv");
const PASSWORD: &str = "Plover-Quince-Sextant-77";
const NEW_PASSWORD: &str = "Gannet-Tamarind-Lodestar-31";
/// How long B may take to see a change made through A (the delivery of one
/// pub/sub message; measured far below this).
const BOUND: Duration = Duration::from_secs(1);

struct Node {
    name: &'static str,
    child: Child,
    log: PathBuf,
    client: Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::ops::Deref for Node {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Node {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Times the log says the cache went on / off.
    fn cache_switches(&self) -> (usize, usize) {
        let t = self.log_text();
        (
            t.matches("session cache on").count(),
            t.matches("session cache off").count(),
        )
    }

    /// B's cache was on throughout, except for heartbeat stalls (on a
    /// loaded machine both instances' heartbeats are sometimes late by
    /// more than the silence limit together, and the cache rightly turns
    /// off for a moment); nothing else turned it off, and it is on now.
    async fn stayed_on_but_for_stalls(&self) {
        let log = self.log_text();
        for line in log.lines().filter(|l| l.contains("session cache off")) {
            assert!(
                line.contains("no heartbeat"),
                "{}: cache off for another reason than a stall: {line}",
                self.name
            );
        }
        let (_, off) = self.cache_switches();
        if off > 0 {
            eprintln!("{}: {off} heartbeat stall(s) during the run", self.name);
        }
        self.wait_switches(off + 1, off).await;
    }

    /// Wait until the log shows `on` switches on and `off` switches off.
    async fn wait_switches(&self, on: usize, off: usize) -> Duration {
        let start = Instant::now();
        loop {
            let (n_on, n_off) = self.cache_switches();
            if n_on >= on && n_off >= off {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{}: cache switches {n_on} on / {n_off} off, waiting for {on} / {off}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

struct Setup {
    key: [u8; 32],
    authdb: String,
    /// `None`: no Redis, the caches are kept coherent over PostgreSQL's
    /// `LISTEN`/`NOTIFY`.
    redis_url: Option<String>,
    prefix: String,
    dir: tempfile::TempDir,
}

async fn start(s: &Setup, name: &'static str, sessionstore: &str, cache: bool) -> Node {
    let basedir = s.dir.path().join(name);
    std::fs::create_dir_all(&basedir).unwrap();
    let secret = base64::engine::general_purpose::URL_SAFE.encode(s.key);
    for attempt in 0..5 {
        let port = free_port();
        let log = basedir.join(format!("authnzrv-{attempt}.log"));
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("AUTHNZERVER_") || k == "PORT" || k == "AUTHNZ_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(&basedir)
            .args(["--listen", "127.0.0.1", "--port", &port.to_string()])
            .args(["--sessionstore", sessionstore])
            .env("AUTHNZERVER_BASEDIR", &basedir)
            .env("AUTHNZERVER_AUTHDB", &s.authdb)
            .env("AUTHNZERVER_SECRET", &secret)
            .env("AUTHNZERVER_PIISALT", "cache-coherence-salt")
            .env("AUTHNZERVER_REDISPREFIX", &s.prefix)
            .env("AUTHNZERVER_REDISTIMEOUTMS", "300")
            .env("AUTHNZERVER_RATELIMITS", "none")
            .env("AUTHNZERVER_SESSIONCACHE", if cache { "1" } else { "0" })
            .env("AUTHNZERVER_SESSIONCACHEMAXAGEMS", "600000")
            .env("AUTHNZERVER_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("AUTHNZERVER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("AUTHNZERVER_MAILER", "file")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(url) = &s.redis_url {
            cmd.env("AUTHNZERVER_REDIS_URL", url);
        }
        let child = cmd.spawn().expect("start authnzrv");
        let mut node = Node {
            name,
            child,
            log,
            client: Client::new(([127, 0, 0, 1], port).into(), &s.key),
        };
        if ready(&mut node).await {
            return node;
        }
        let text = node.log_text();
        assert!(text.contains("in use"), "{name} did not start:\n{text}");
    }
    panic!("{name}: no free port after 5 attempts");
}

async fn ready(n: &mut Node) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if n.child.try_wait().unwrap().is_some() {
            return false;
        }
        if tokio::net::TcpStream::connect(n.client.addr).await.is_ok() {
            let (status, _, _) = n.raw("GET", "/health", Some("localhost"), b"").await;
            if status == 200 {
                return true;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready:\n{}",
            n.name,
            n.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A verified user made through `a`: (user id, e-mail).
async fn user(a: &Client, n: &str) -> (i64, String) {
    let email = format!("cc-{n}@example.org");
    (a.verified_user(&email, PASSWORD).await, email)
}

async fn exists(c: &Client, token: &str) -> Value {
    c.call("session-exists", json!({"session_token": token}))
        .await
}

/// Ask B three times (so the answer is cached); the session info.
async fn warm(b: &Client, token: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..3 {
        let env = exists(b, token).await;
        assert_eq!(env["success"], json!(true), "{env}");
        last = env["response"]["session_info"].clone();
    }
    last
}

/// Poll `session-exists` on `b` until `fresh` holds; how long it took.
/// Panics with the stale answer after [`BOUND`].
async fn seen(b: &Client, token: &str, what: &str, fresh: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let env = exists(b, token).await;
        if fresh(&env) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < BOUND,
            "{what}: B still answers stale after {:?}: {env}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn gone(env: &Value) -> bool {
    env["success"] == json!(false)
}

fn ok(env: &Value, what: &str) {
    assert_eq!(env["success"], json!(true), "{what}: {env}");
}

/// Every mutating request type on A, then B. Returns the slowest delivery.
async fn every_change(a: &Client, b: &Client) -> Duration {
    let mut worst = Duration::ZERO;
    let mut note = |what: &str, d: Duration| {
        eprintln!("{what}: seen on B after {d:?}");
        worst = worst.max(d);
    };

    let (uid, _) = user(a, "sdel").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call("session-delete", json!({"session_token": t})).await,
        "session-delete",
    );
    note("session-delete", seen(b, &t, "session-delete", gone).await);

    let (uid, _) = user(a, "logout").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call("user-logout", json!({"session_token": t, "user_id": uid}))
            .await,
        "user-logout",
    );
    note("user-logout", seen(b, &t, "user-logout", gone).await);

    let (uid, _) = user(a, "sdeluid").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "session-delete-userid",
            json!({"session_token": "", "user_id": uid, "keep_current_session": false}),
        )
        .await,
        "session-delete-userid",
    );
    note(
        "session-delete-userid",
        seen(b, &t, "session-delete-userid", gone).await,
    );

    // user-sessions-revoke by id: the caller lists on A, revokes on A.
    let (uid, _) = user(a, "revoke").await;
    let caller = a.new_session(json!(uid)).await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    warm(b, &caller).await;
    let sessions = a
        .call(
            "user-sessions-list",
            json!({"user_id": uid, "session_token": caller}),
        )
        .await;
    ok(&sessions, "user-sessions-list");
    let target = sessions["response"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == json!(false))
        .unwrap()["session_id"]
        .clone();
    ok(
        &a.call(
            "user-sessions-revoke",
            json!({"user_id": uid, "session_token": caller, "session_id": target}),
        )
        .await,
        "user-sessions-revoke",
    );
    note(
        "user-sessions-revoke",
        seen(b, &t, "user-sessions-revoke", gone).await,
    );
    ok(&exists(b, &caller).await, "the caller's session");

    // user-sessions-revoke "others".
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "user-sessions-revoke",
            json!({"user_id": uid, "session_token": caller, "session_id": "others"}),
        )
        .await,
        "user-sessions-revoke others",
    );
    note(
        "user-sessions-revoke others",
        seen(b, &t, "user-sessions-revoke others", gone).await,
    );
    ok(&exists(b, &caller).await, "the caller's session");

    let (uid, _) = user(a, "sedit").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "internal-session-edit",
            json!({"target_session_token": t, "update_dict": {"cart": "full"}}),
        )
        .await,
        "internal-session-edit",
    );
    note(
        "internal-session-edit",
        seen(b, &t, "internal-session-edit", |e| {
            e["response"]["session_info"]["extra_info_json"]["cart"] == json!("full")
        })
        .await,
    );

    let (uid, _) = user(a, "role").await;
    let t = a.new_session(json!(uid)).await;
    assert_eq!(warm(b, &t).await["user_role"], json!("authenticated"));
    ok(
        &a.call(
            "internal-user-edit",
            json!({"target_userid": uid, "update_dict": {"user_role": "staff"}}),
        )
        .await,
        "role change",
    );
    note(
        "role change",
        seen(b, &t, "role change", |e| {
            e["response"]["session_info"]["user_role"] == json!("staff")
        })
        .await,
    );

    let (uid, _) = user(a, "uedit").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "internal-user-edit",
            json!({"target_userid": uid, "update_dict": {"full_name": "Renamed Person"}}),
        )
        .await,
        "user edit",
    );
    note(
        "user edit",
        seen(b, &t, "user edit", |e| {
            e["response"]["session_info"]["full_name"] == json!("Renamed Person")
        })
        .await,
    );

    let (uid, _) = user(a, "lock").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "internal-user-lock",
            json!({"target_userid": uid, "action": "lock"}),
        )
        .await,
        "lock",
    );
    note("lock", seen(b, &t, "lock", gone).await);

    let (uid, email) = user(a, "chpass").await;
    let keep = a.new_session(json!(uid)).await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "user-changepass",
            json!({"user_id": uid, "session_token": keep, "full_name": "Test Person",
                   "email": email, "current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await,
        "user-changepass",
    );
    note(
        "user-changepass",
        seen(b, &t, "user-changepass", gone).await,
    );
    ok(&exists(b, &keep).await, "the kept session");

    let (uid, email) = user(a, "reset").await;
    let t = a.new_session(json!(uid)).await;
    let anon = a.new_session(Value::Null).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "user-resetpass",
            json!({"email_address": email, "new_password": NEW_PASSWORD, "session_token": anon}),
        )
        .await,
        "user-resetpass",
    );
    note("user-resetpass", seen(b, &t, "user-resetpass", gone).await);

    let (uid, email) = user(a, "udel").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call(
            "user-delete",
            json!({"email": email, "user_id": uid, "password": PASSWORD}),
        )
        .await,
        "user-delete",
    );
    note("user-delete", seen(b, &t, "user-delete", gone).await);

    let (uid, _) = user(a, "idel").await;
    let t = a.new_session(json!(uid)).await;
    warm(b, &t).await;
    ok(
        &a.call("internal-user-delete", json!({"target_userid": uid}))
            .await,
        "internal-user-delete",
    );
    note(
        "internal-user-delete",
        seen(b, &t, "internal-user-delete", gone).await,
    );
    worst
}

async fn setup(test: &str) -> Option<(TestDb, PrefixCleanup, Setup)> {
    let db = TestDb::new(Backend::Postgres, test).await?;
    let Some(cleanup) = PrefixCleanup::fresh(test) else {
        db.drop_db().await;
        return None;
    };
    let s = Setup {
        key: [9u8; 32],
        authdb: db.url.clone(),
        redis_url: Some(cleanup.url().to_owned()),
        prefix: cleanup.prefix().to_owned(),
        dir: tempfile::tempdir().unwrap(),
    };
    Some((db, cleanup, s))
}

async fn every_change_seen(test: &str, sessionstore: &str) {
    let Some((db, cleanup, s)) = setup(test).await else {
        return;
    };
    let a = start(&s, "A", sessionstore, true).await;
    let b = start(&s, "B", sessionstore, true).await;
    a.wait_switches(1, 0).await;
    b.wait_switches(1, 0).await;
    let worst = every_change(&a, &b).await;
    eprintln!("{test}: slowest delivery {worst:?}");
    b.stayed_on_but_for_stalls().await;
    drop((a, b));
    db.drop_db().await;
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_on_a_is_seen_on_b_sessions_in_sql() {
    every_change_seen("cache_coherence::sql", "sql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_on_a_is_seen_on_b_sessions_in_redis() {
    every_change_seen("cache_coherence::redis", "redis").await;
}

/// The control: A does not publish (its cache, and so its bus, is off), so
/// B keeps serving what it cached. The checks above would fail so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_invalidation_b_serves_stale() {
    let test = "cache_coherence::control";
    let Some((db, cleanup, s)) = setup(test).await else {
        return;
    };
    let a = start(&s, "A", "sql", false).await;
    let b = start(&s, "B", "sql", true).await;
    b.wait_switches(1, 0).await;
    let (uid, _) = user(&a, "ctl").await;
    let t = a.new_session(json!(uid)).await;
    warm(&b, &t).await;
    ok(
        &a.call("session-delete", json!({"session_token": t})).await,
        "session-delete",
    );
    assert!(gone(&exists(&a, &t).await), "deleted, as A (uncached) sees");
    for _ in 0..5 {
        tokio::time::sleep(BOUND / 4).await;
        ok(&exists(&b, &t).await, "B answers from its cache");
    }
    drop((a, b));
    db.drop_db().await;
    drop(cleanup);
}

/// Redis killed and restarted under two caching instances (sessions in
/// PostgreSQL, so they keep working without Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted() {
    let test = "cache_coherence::redis_killed";
    let Some(db) = TestDb::new(Backend::Postgres, test).await else {
        return;
    };
    let Some(mut redis) = PrivateRedis::start(test) else {
        db.drop_db().await;
        return;
    };
    let s = Setup {
        key: [10u8; 32],
        authdb: db.url.clone(),
        redis_url: Some(redis.url()),
        prefix: "cc:".to_owned(),
        dir: tempfile::tempdir().unwrap(),
    };
    let a = start(&s, "A", "sql", true).await;
    let b = start(&s, "B", "sql", true).await;
    a.wait_switches(1, 0).await;
    b.wait_switches(1, 0).await;

    let (uid, _) = user(&a, "k1").await;
    let t1 = a.new_session(json!(uid)).await;
    let t2 = a.new_session(json!(uid)).await;
    warm(&b, &t1).await;
    assert_eq!(warm(&b, &t2).await["user_role"], json!("authenticated"));

    redis.stop();
    let off = b.wait_switches(1, 1).await;
    eprintln!("B's cache went off {off:?} after Redis was killed");
    // While Redis is down: every change is seen at once (no polling).
    let start_write = Instant::now();
    ok(
        &a.call("session-delete", json!({"session_token": t1})).await,
        "session-delete",
    );
    eprintln!(
        "a write on A with Redis down took {:?}",
        start_write.elapsed()
    );
    assert!(gone(&exists(&b, &t1).await), "B stale while Redis is down");
    ok(
        &a.call(
            "internal-user-edit",
            json!({"target_userid": uid, "update_dict": {"user_role": "staff"}}),
        )
        .await,
        "role change",
    );
    let env = exists(&b, &t2).await;
    assert_eq!(
        env["response"]["session_info"]["user_role"],
        json!("staff"),
        "{env}"
    );

    // Back: B's cache comes on again, and what it held before is not served.
    redis.spawn().expect("restart redis-server");
    let on = b.wait_switches(2, 1).await;
    eprintln!("B's cache came back {on:?} after Redis was restarted");
    ok(
        &a.call(
            "internal-user-edit",
            json!({"target_userid": uid, "update_dict": {"user_role": "authenticated"}}),
        )
        .await,
        "role change back",
    );
    let d = seen(&b, &t2, "role change after restart", |e| {
        e["response"]["session_info"]["user_role"] == json!("authenticated")
    })
    .await;
    eprintln!("after the restart, a role change was seen on B after {d:?}");
    warm(&b, &t2).await;
    ok(
        &a.call("session-delete", json!({"session_token": t2})).await,
        "session-delete",
    );
    let d = seen(&b, &t2, "session-delete after restart", gone).await;
    eprintln!("after the restart, a session-delete was seen on B after {d:?}");
    drop((a, b));
    db.drop_db().await;
}

/// PostgreSQL without Redis: both instances on its `LISTEN`/`NOTIFY`.
async fn setup_postgres_only(test: &str, key: u8) -> Option<(TestDb, Setup)> {
    let db = TestDb::new(Backend::Postgres, test).await?;
    let s = Setup {
        key: [key; 32],
        authdb: db.url.clone(),
        redis_url: None,
        prefix: "unused:".to_owned(),
        dir: tempfile::tempdir().unwrap(),
    };
    Some((db, s))
}

/// The node's log says its cache is kept coherent over PostgreSQL.
fn on_postgres_bus(n: &Node) {
    let log = n.log_text();
    assert!(
        log.contains("bus=\"postgres\"") || log.contains("bus=postgres"),
        "{}: not on the PostgreSQL bus:\n{log}",
        n.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_on_a_is_seen_on_b_postgres_only() {
    let test = "cache_coherence::pg_only";
    let Some((db, s)) = setup_postgres_only(test, 11).await else {
        return;
    };
    let a = start(&s, "A", "sql", true).await;
    let b = start(&s, "B", "sql", true).await;
    a.wait_switches(1, 0).await;
    b.wait_switches(1, 0).await;
    on_postgres_bus(&a);
    on_postgres_bus(&b);
    let worst = every_change(&a, &b).await;
    eprintln!("{test}: slowest delivery {worst:?}");
    b.stayed_on_but_for_stalls().await;
    drop((a, b));
    db.drop_db().await;
}

/// Cut every instance's `LISTEN` connection (`pg_terminate_backend`); how
/// many were cut.
async fn cut_listeners(db_url: &str) -> usize {
    use authnz_store_sql::sqlx::{self, Connection as _};
    let mut c = sqlx::PgConnection::connect(db_url).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(authnz_store_sql::LISTENER_APPLICATION_NAME)
    .fetch_all(&mut c)
    .await
    .unwrap();
    let _ = c.close().await;
    cut.into_iter().filter(|ok| *ok).count()
}

/// The listening connections cut under two caching instances: B's cache
/// turns off at once; a change made through A while B is not listening
/// (its message lost to B) is never hidden by what B cached before the
/// cut; B's cache comes back and follows changes again. Twice, to see the
/// recovery repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_terminated_postgres_only() {
    let test = "cache_coherence::pg_terminated";
    let Some((db, s)) = setup_postgres_only(test, 12).await else {
        return;
    };
    let a = start(&s, "A", "sql", true).await;
    let b = start(&s, "B", "sql", true).await;
    a.wait_switches(1, 0).await;
    b.wait_switches(1, 0).await;
    on_postgres_bus(&b);

    for round in 1..=2 {
        let (uid, _) = user(&a, &format!("term{round}")).await;
        let t1 = a.new_session(json!(uid)).await;
        let t2 = a.new_session(json!(uid)).await;
        warm(&b, &t1).await;
        assert_eq!(warm(&b, &t2).await["user_role"], json!("authenticated"));

        let cut = cut_listeners(&s.authdb).await;
        assert_eq!(cut, 2, "round {round}: one LISTEN connection per instance");
        let off = b.wait_switches(round, round).await;
        eprintln!("round {round}: B's cache went off {off:?} after the cut");
        // B is not listening now (it subscribes again after a back-off):
        // these changes' messages do not reach it.
        ok(
            &a.call("session-delete", json!({"session_token": t1})).await,
            "session-delete",
        );
        ok(
            &a.call(
                "internal-user-edit",
                json!({"target_userid": uid, "update_dict": {"user_role": "staff"}}),
            )
            .await,
            "role change",
        );
        // Whether B is still off or already back on: never the cached answer.
        assert!(
            gone(&exists(&b, &t1).await),
            "round {round}: B served a session deleted while it was not listening"
        );
        let on = b.wait_switches(round + 1, round).await;
        eprintln!("round {round}: B's cache came back {on:?} after the cut");
        assert!(
            gone(&exists(&b, &t1).await),
            "round {round}: stale after recovery"
        );
        let env = exists(&b, &t2).await;
        assert_eq!(
            env["response"]["session_info"]["user_role"],
            json!("staff"),
            "round {round}: stale role after recovery: {env}"
        );
        // Back on: it caches and follows changes again.
        warm(&b, &t2).await;
        ok(
            &a.call("session-delete", json!({"session_token": t2})).await,
            "session-delete after recovery",
        );
        let d = seen(&b, &t2, "session-delete after recovery", gone).await;
        eprintln!("round {round}: after recovery a session-delete was seen on B after {d:?}");
    }
    drop((a, b));
    db.drop_db().await;
}
