//! PostgreSQL-only checks: column types and index names of PROTOCOL.md 8.1, the
//! stored JSON text, adopting a database made by upstream, and how an
//! unreachable server is reported.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authnz_api::testkit::Stores;
use authnz_api::testkit::fixtures::{initial_data, new_user, seed, t0};
use authnz_api::{RoleStore, StoreError, UserStore};
use authnz_store_sql::sqlx::{self, Connection};
use authnz_store_sql::{Dialect, SqlOptions, SqlStore};

use crate::harness::{PgDatabase, SPEC_INDEXES, TABLES, test_options};

/// Run `body` on a fresh migrated database, dropping it afterwards even if
/// `body` panics; skip when no server is configured.
async fn with_database<F, Fut>(test: &'static str, migrate: bool, body: F)
where
    F: FnOnce(SqlStore, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = PgDatabase::create(test).await else {
        return;
    };
    let url = db.url.clone();
    let store = SqlStore::connect(&url, &test_options())
        .await
        .expect("connect");
    if migrate {
        store.migrate().await.expect("migrate");
    }
    let outcome = tokio::spawn(body(store.clone(), url)).await;
    store.close().await;
    db.drop_database().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn refused_connection_is_unavailable() {
    // Port 1 on loopback: nothing listens there.
    let opts = SqlOptions {
        acquire_timeout: Duration::from_secs(1),
        ..SqlOptions::default()
    };
    let started = Instant::now();
    let err = SqlStore::connect("postgres://postgres@127.0.0.1:1/authnz", &opts)
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn schema_types_and_indexes() {
    with_database(
        "postgres_specific::schema_types_and_indexes",
        true,
        |store, _| async move {
            assert_eq!(store.dialect(), Dialect::Postgres);
            let pool = store.postgres_pool().expect("pool").clone();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' ORDER BY 1",
            )
            .fetch_all(&pool)
            .await
            .expect("tables");
            assert_eq!(tables, TABLES);

            let types: Vec<(String, String)> = sqlx::query_as(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_name = 'users' ORDER BY ordinal_position",
            )
            .fetch_all(&pool)
            .await
            .expect("columns");
            let type_of = |c: &str| {
                types
                    .iter()
                    .find(|(n, _)| n == c)
                    .map(|(_, t)| t.as_str())
                    .unwrap_or("missing")
            };
            assert_eq!(type_of("user_id"), "integer");
            assert_eq!(type_of("created_on"), "timestamp without time zone");
            assert_eq!(type_of("email_verified"), "boolean");
            assert_eq!(type_of("extra_info"), "json");

            let indexes: Vec<String> = sqlx::query_scalar(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'",
            )
            .fetch_all(&pool)
            .await
            .expect("indexes");
            for ix in SPEC_INDEXES {
                assert!(indexes.iter().any(|i| i == ix), "missing index {ix}");
            }
        },
    )
    .await;
}

#[tokio::test]
async fn json_is_stored_as_python_text() {
    with_database(
        "postgres_specific::json_is_stored_as_python_text",
        true,
        |store, _| async move {
            let s = Stores::from_store(Arc::new(store.clone()));
            seed(&s).await;
            let pool = store.postgres_pool().expect("pool").clone();
            let text: String =
                sqlx::query_scalar("SELECT extra_info::text FROM users WHERE user_id = 1")
                    .fetch_one(&pool)
                    .await
                    .expect("extra_info");
            assert_eq!(
                text,
                r#"{"provenance": "auto-created", "type": "system-user"}"#
            );
        },
    )
    .await;
}

/// Roughly what SQLAlchemy creates on PostgreSQL, with upstream's seed rows
/// inserted with explicit ids (which leaves the sequence at 1).
const UPSTREAM_DDL: &str = r#"
CREATE TABLE roles (name VARCHAR(100) NOT NULL, "desc" VARCHAR(280) NOT NULL, PRIMARY KEY (name));
CREATE TABLE users (
    user_id SERIAL NOT NULL, system_id VARCHAR(50) NOT NULL, full_name VARCHAR(280),
    password TEXT NOT NULL, email VARCHAR(280) NOT NULL, email_verified BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL, emailverify_sent_datetime TIMESTAMP WITHOUT TIME ZONE,
    emailforgotpass_sent_datetime TIMESTAMP WITHOUT TIME ZONE,
    emailchangepass_sent_datetime TIMESTAMP WITHOUT TIME ZONE,
    last_login_success TIMESTAMP WITHOUT TIME ZONE, last_login_try TIMESTAMP WITHOUT TIME ZONE,
    failed_login_tries INTEGER, extra_info JSON, created_on TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    last_updated TIMESTAMP WITHOUT TIME ZONE NOT NULL, user_role VARCHAR(100) NOT NULL,
    PRIMARY KEY (user_id), UNIQUE (email), FOREIGN KEY(user_role) REFERENCES roles (name));
CREATE UNIQUE INDEX ix_users_system_id ON users (system_id);
INSERT INTO roles VALUES ('superuser', 'd'), ('anonymous', 'd'), ('locked', 'd'), ('authenticated', 'd');
INSERT INTO users (user_id, system_id, password, email, email_verified, is_active,
                   failed_login_tries, extra_info, created_on, last_updated, user_role)
VALUES (1, 's1', 'h', 'admin@localhost', true, true, 0, '{"a": 1}', '2024-01-01', '2024-01-01', 'superuser'),
       (2, 's2', 'h', 'anonuser@localhost', true, true, 0, NULL, '2024-01-01', '2024-01-01', 'anonymous'),
       (3, 's3', 'h', 'dummyuser@localhost', true, false, 0, NULL, '2024-01-01', '2024-01-01', 'locked');
"#;

#[tokio::test]
async fn adopts_a_database_made_by_upstream() {
    with_database(
        "postgres_specific::adopts_a_database_made_by_upstream",
        false,
        |store, url| async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
            sqlx::raw_sql(UPSTREAM_DDL)
                .execute(&mut conn)
                .await
                .expect("upstream DDL");
            conn.close().await.expect("close");

            store.migrate().await.expect("migrate an upstream database");
            assert!(
                !store
                    .initialize(&initial_data(), t0())
                    .await
                    .expect("initialize")
            );
            let users = store.list_users().await.expect("users");
            assert_eq!(users.len(), 3);
            assert_eq!(users[0].extra_info, Some(serde_json::json!({"a": 1})));
            // The sequence was moved past the explicit ids.
            let id = store
                .create_user(&new_user("next"), t0())
                .await
                .expect("create");
            assert_eq!(id, 4);
        },
    )
    .await;
}

/// A test that panics before its teardown still leaves no database behind:
/// `PgDatabase` drops it when it goes out of scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_dropped_even_without_teardown() {
    let Some(db) = PgDatabase::create("database_dropped_even_without_teardown").await else {
        return;
    };
    let name = db.name.clone();
    let admin_url = std::env::var("AUTHNZ_TEST_POSTGRES_URL").expect("url");
    let exists = |name: String, url: String| async move {
        let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut c)
            .await
            .expect("count");
        n == 1
    };
    assert!(exists(name.clone(), admin_url.clone()).await);
    let unwound = tokio::spawn(async move {
        let _db = db;
        panic!("a test failing before its teardown");
    })
    .await;
    assert!(unwound.is_err());
    assert!(!exists(name, admin_url).await, "database left behind");
}

/// Short database timeouts for the outage tests.
fn one_second_timeouts() -> SqlOptions {
    SqlOptions {
        acquire_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(1),
        ..test_options()
    }
}

/// The defaults stay well under the 5 s after which the original's client
/// gives up.
#[test]
fn default_deadline_is_under_five_seconds() {
    let opts = SqlOptions::default();
    assert!(
        opts.operation_deadline() < Duration::from_secs(5),
        "{opts:?}"
    );
}

/// An operation stuck behind a lock is cut by the statement timeout and
/// reported as unavailable, instead of waiting for as long as the lock is
/// held; once the lock is gone the same store works.
#[tokio::test]
async fn a_blocked_operation_is_cut_by_the_statement_timeout() {
    with_database(
        "postgres_specific::a_blocked_operation_is_cut_by_the_statement_timeout",
        true,
        |_, url| async move {
            let store = SqlStore::connect(&url, &one_second_timeouts())
                .await
                .expect("connect");
            let mut locker = sqlx::PgConnection::connect(&url).await.expect("connect");
            for sql in ["BEGIN", "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"] {
                sqlx::query(sql).execute(&mut locker).await.expect(sql);
            }
            let started = Instant::now();
            let result = tokio::time::timeout(
                Duration::from_secs(30),
                store.user_by_email("nobody@example.org"),
            )
            .await
            .expect("the operation must end on its own while the lock is held");
            assert!(
                matches!(result, Err(StoreError::Unavailable { .. })),
                "{result:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
            locker.close().await.expect("unlock");
            assert!(
                store
                    .user_by_email("nobody@example.org")
                    .await
                    .expect("works")
                    .is_none()
            );
            store.close().await;
        },
    )
    .await;
}

/// A TCP proxy in front of the test server that can simulate an outage:
/// while stalled it accepts connections and never answers, and the
/// connections it was forwarding are cut.
struct Proxy {
    addr: std::net::SocketAddr,
    stalled: Arc<std::sync::atomic::AtomicBool>,
    tasks: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (st, tk) = (stalled.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut client, _)) = listener.accept().await {
                if st.load(Ordering::SeqCst) {
                    held.push(client);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tk.lock().unwrap().push(task);
            }
        });
        Proxy {
            addr,
            stalled,
            tasks,
            accept,
        }
    }

    fn outage(&self) {
        self.stalled
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    fn recover(&self) {
        self.stalled
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.outage();
        self.accept.abort();
    }
}

/// A database that stops answering: every operation fails as unavailable
/// within the deadline (acquire + statement timeout), and the same store
/// works again once the database is back, without a restart.
#[tokio::test]
async fn outage_fails_fast_and_recovers() {
    with_database(
        "postgres_specific::outage_fails_fast_and_recovers",
        true,
        |_, url| async move {
            let parsed =
                authnz_store_sql::sqlx::postgres::PgConnectOptions::from_str(&url).expect("url");
            let target = tokio::net::lookup_host((parsed.get_host(), parsed.get_port()))
                .await
                .expect("resolve")
                .next()
                .expect("address");
            let proxy = Proxy::start(target).await;
            let proxied = url.replacen(
                &format!("{}:{}", parsed.get_host(), parsed.get_port()),
                &proxy.addr.to_string(),
                1,
            );
            assert_ne!(proxied, url);
            let store = SqlStore::connect(&proxied, &one_second_timeouts())
                .await
                .expect("connect");
            assert!(
                store
                    .user_by_email("a@example.org")
                    .await
                    .expect("up")
                    .is_none()
            );

            proxy.outage();
            for _ in 0..3 {
                let started = Instant::now();
                let result = tokio::time::timeout(
                    Duration::from_secs(30),
                    store.user_by_email("a@example.org"),
                )
                .await
                .expect("the operation must end on its own during the outage");
                assert!(
                    matches!(result, Err(StoreError::Unavailable { .. })),
                    "{result:?}"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "{:?}",
                    started.elapsed()
                );
            }

            proxy.recover();
            let mut recovered = false;
            for _ in 0..10 {
                if store.user_by_email("a@example.org").await.is_ok() {
                    recovered = true;
                    break;
                }
            }
            assert!(recovered, "the store works again after the outage");
            store.close().await;
        },
    )
    .await;
}

/// The audit log is append-only: a trigger refuses every `UPDATE`.
#[tokio::test]
async fn audit_events_refuse_updates() {
    with_database(
        "postgres_specific::audit_events_refuse_updates",
        true,
        |store, _| async move {
            use authnz_api::{AuditEvent, AuditEventType, AuditOutcome, AuditStore as _};
            let event = AuditEvent {
                time: t0(),
                event: AuditEventType::Logout,
                outcome: AuditOutcome::Ok,
                actor_user_id: Some(5),
                subject_user_id: Some(5),
                client_address: None,
                request_id: None,
                reason: None,
            };
            store.append_audit_events(&[event]).await.expect("append");
            let pool = store.postgres_pool().expect("pool").clone();
            let err = sqlx::query("UPDATE audit_events SET outcome = 'failed'")
                .execute(&pool)
                .await
                .expect_err("updates are refused");
            assert!(err.to_string().contains("append-only"), "{err}");
        },
    )
    .await;
}
