//! SQLite-only checks: file permissions (PROTOCOL.md 7.5), pragmas, the schema of
//! PROTOCOL.md 8.1, the storage formats of PROTOCOL.md 8.2, and adopting a database that
//! upstream's SQLAlchemy created.

use std::os::unix::fs::PermissionsExt;

use authnz_api::testkit::Stores;
use authnz_api::testkit::fixtures::{at, initial_data, new_user, seed, session, t0, token};
use authnz_api::{NewUser, RoleStore, SessionStore, StoreError, UserPatch, UserStore};
use authnz_store_sql::sqlx::{self, Connection, Row};
use authnz_store_sql::{Dialect, SqlOptions, SqlStore, SqlStoreError};
use chrono::NaiveDateTime;
use serde_json::json;

use crate::harness::{SPEC_INDEXES, TABLES, TempDir, test_options};

fn url_of(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

fn dt(s: &str) -> NaiveDateTime {
    authnz_api::time::parse_stored_text(s).expect("valid datetime")
}

/// The `SqlStoreError` inside a `StoreError::Backend`.
fn inner(e: &StoreError) -> &SqlStoreError {
    let source = match e {
        StoreError::Backend { source } | StoreError::Unavailable { source } => source,
        other => panic!("expected Backend/Unavailable, got {other:?}"),
    };
    source
        .downcast_ref::<SqlStoreError>()
        .expect("a SqlStoreError source")
}

#[tokio::test]
async fn new_file_gets_mode_0600_and_wal() {
    let dir = TempDir::new();
    let path = dir.path().join("auth.sqlite");
    let store = SqlStore::connect(&url_of(&path), &test_options())
        .await
        .expect("connect");
    assert_eq!(store.dialect(), Dialect::Sqlite);
    assert_eq!(mode_of(&path), 0o600);
    store.migrate().await.expect("migrate");
    let stores = Stores::from_store(std::sync::Arc::new(store.clone()));
    seed(&stores).await;
    assert_eq!(mode_of(&path), 0o600);
    let wal = dir.path().join("auth.sqlite-wal");
    if wal.exists() {
        assert_eq!(
            mode_of(&wal),
            0o600,
            "the WAL file follows the database's mode"
        );
    }
    store.close().await;

    // Reopening the file we made is fine, and migrating again is a no-op.
    let store = SqlStore::connect(&url_of(&path), &test_options())
        .await
        .expect("reopen");
    store.migrate().await.expect("migrate again");
    assert_eq!(store.list_roles().await.expect("roles").len(), 5);
    store.close().await;
}

#[tokio::test]
async fn refuses_a_file_with_other_permissions() {
    let dir = TempDir::new();
    let path = dir.path().join("auth.sqlite");
    for mode in [0o644, 0o640, 0o700, 0o400] {
        std::fs::write(&path, b"").expect("create file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let err = SqlStore::connect(&url_of(&path), &test_options())
            .await
            .expect_err("must refuse");
        let inner = inner(&err);
        assert!(
            matches!(inner, SqlStoreError::InsecurePermissions { mode: m, .. } if *m == mode),
            "{inner:?}"
        );
        let text = inner.to_string();
        assert!(
            text.contains("incorrect permissions on auth DB, will not load it"),
            "{text}"
        );
        assert!(
            text.contains(&path.display().to_string()),
            "names the file: {text}"
        );
        // Refused before SQLite touched it.
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 0);
        std::fs::remove_file(&path).expect("remove");
    }
}

#[tokio::test]
async fn missing_file_without_create_is_an_error() {
    let dir = TempDir::new();
    let path = dir.path().join("absent.sqlite");
    let opts = SqlOptions {
        create_if_missing: false,
        ..test_options()
    };
    let err = SqlStore::connect(&url_of(&path), &opts)
        .await
        .expect_err("missing file");
    assert!(matches!(inner(&err), SqlStoreError::File { .. }), "{err:?}");
    assert!(!path.exists());
}

#[tokio::test]
async fn url_forms() {
    let dir = TempDir::new();
    let path = dir.path().join("plain.sqlite");
    // `sqlite:PATH` without slashes.
    let store = SqlStore::connect(&format!("sqlite:{}", path.display()), &test_options())
        .await
        .expect("sqlite:PATH");
    store.close().await;
    assert!(path.exists());

    let err = SqlStore::connect("oracle://localhost/x", &test_options())
        .await
        .expect_err("oracle");
    assert!(matches!(inner(&err), SqlStoreError::UnsupportedUrl));
    // A known dialect whose driver is not compiled in.
    #[cfg(not(feature = "mysql"))]
    {
        let err = SqlStore::connect("mysql://localhost/x", &test_options())
            .await
            .expect_err("mysql");
        assert!(matches!(
            inner(&err),
            SqlStoreError::DialectDisabled("mysql")
        ));
    }
    let err = SqlStore::connect("sqlite:", &test_options())
        .await
        .expect_err("empty path");
    assert!(matches!(inner(&err), SqlStoreError::UnsupportedUrl));
}

#[tokio::test]
async fn pragmas_on_every_connection() {
    let dir = TempDir::new();
    let store = SqlStore::connect(&url_of(&dir.path().join("p.sqlite")), &test_options())
        .await
        .expect("connect");
    let pool = store.sqlite_pool().expect("a SQLite pool");
    // Hold several connections at once so more than one is checked.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(pool.acquire().await.expect("acquire"));
    }
    for conn in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .expect("fk");
        assert_eq!(fk, 1);
        let limit: i64 = sqlx::query_scalar("PRAGMA journal_size_limit")
            .fetch_one(&mut **conn)
            .await
            .expect("journal_size_limit");
        assert_eq!(limit, 5_242_880);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **conn)
            .await
            .expect("busy");
        assert!(busy >= 1000, "busy timeout {busy} ms");
    }
    drop(conns);
    store.close().await;

    let memory = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("memory");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(memory.sqlite_pool().expect("pool"))
        .await
        .expect("fk");
    assert_eq!(fk, 1);
    memory.close().await;
}

#[tokio::test]
async fn memory_databases_are_separate_and_persistent() {
    let a = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("a");
    let b = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("b");
    a.migrate().await.expect("migrate a");
    b.migrate().await.expect("migrate b");
    assert!(a.initialize(&initial_data(), t0()).await.expect("seed a"));
    assert_eq!(b.list_roles().await.expect("b roles"), vec![]);
    // Many operations later, a still has its data (the connection is kept).
    for i in 0..20 {
        a.create_user(&new_user(&format!("m{i}")), t0())
            .await
            .expect("create");
    }
    assert_eq!(a.list_users().await.expect("users").len(), 23);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn schema_has_every_table_and_index() {
    let store = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("memory");
    store.migrate().await.expect("migrate");
    let pool = store.sqlite_pool().expect("pool");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' \
         AND name NOT LIKE 'sqlite%' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    assert_eq!(tables, TABLES);
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'index'")
            .fetch_all(pool)
            .await
            .expect("indexes");
    for ix in SPEC_INDEXES {
        assert!(indexes.iter().any(|i| i == ix), "missing index {ix}");
    }
    let unique: i64 = sqlx::query_scalar(
        "SELECT \"unique\" FROM pragma_index_list('users') WHERE name = 'ix_users_system_id'",
    )
    .fetch_one(pool)
    .await
    .expect("index_list");
    assert_eq!(unique, 1);
    // user_id is the rowid (no AUTOINCREMENT, so no sqlite_sequence table).
    let ddl: String =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'")
            .fetch_one(pool)
            .await
            .expect("ddl");
    assert!(ddl.contains("user_id INTEGER PRIMARY KEY,"), "{ddl}");
    assert!(!ddl.to_uppercase().contains("AUTOINCREMENT"));
    store.close().await;
}

/// Highest user id is reused after deletion, as upstream (rowid, no
/// AUTOINCREMENT).
#[tokio::test]
async fn highest_user_id_is_reused() {
    let store = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("memory");
    store.migrate().await.expect("migrate");
    let s = Stores::from_store(std::sync::Arc::new(store.clone()));
    seed(&s).await;
    let id = store
        .create_user(&new_user("a"), t0())
        .await
        .expect("create");
    assert_eq!(id, 4);
    assert_eq!(store.delete_user(id).await.expect("delete"), 1);
    assert_eq!(
        store
            .create_user(&new_user("b"), t0())
            .await
            .expect("create"),
        4
    );
    store.close().await;
}

#[tokio::test]
async fn values_are_stored_in_upstream_formats() {
    let store = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("memory");
    store.migrate().await.expect("migrate");
    let s = Stores::from_store(std::sync::Arc::new(store.clone()));
    seed(&s).await;
    let pool = store.sqlite_pool().expect("pool").clone();

    let u = NewUser {
        extra_info: Some(json!({"name": "Zoë", "list": [1, 2.5, null], "nested": {"ok": true}})),
        emailverify_sent_datetime: Some(dt("2030-01-02 03:04:05")),
        ..new_user("fmt")
    };
    let id = store.create_user(&u, t0()).await.expect("create");
    let row = sqlx::query(
        "SELECT created_on, typeof(created_on), last_updated, emailverify_sent_datetime, \
         email_verified, typeof(email_verified), is_active, extra_info, \
         emailforgotpass_sent_datetime IS NULL, failed_login_tries FROM users WHERE user_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("raw row");
    assert_eq!(row.get::<String, _>(0), "2030-01-02 03:04:05.678901");
    assert_eq!(row.get::<String, _>(1), "text");
    assert_eq!(row.get::<String, _>(2), "2030-01-02 03:04:05.678901");
    assert_eq!(row.get::<String, _>(3), "2030-01-02 03:04:05.000000");
    assert_eq!(row.get::<i64, _>(4), 1);
    assert_eq!(row.get::<String, _>(5), "integer");
    assert_eq!(row.get::<i64, _>(6), 1);
    assert_eq!(
        row.get::<String, _>(7),
        // Python json.dumps keeps insertion order; so do we (preserve_order).
        r#"{"name": "Zo\u00eb", "list": [1, 2.5, null], "nested": {"ok": true}}"#
    );
    assert!(row.get::<bool, _>(8));
    assert_eq!(row.get::<i64, _>(9), 0);

    // Writing NULL and JSON null.
    let patch = UserPatch {
        extra_info: Some(Some(serde_json::Value::Null)),
        is_active: Some(false),
        ..UserPatch::default()
    };
    store
        .update_user(id, &patch, None, at(1))
        .await
        .expect("update");
    let (extra_null, active, updated): (bool, i64, String) = sqlx::query_as(
        "SELECT extra_info IS NULL, is_active, last_updated FROM users WHERE user_id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("raw");
    assert!(extra_null, "JSON null is stored as SQL NULL");
    assert_eq!(active, 0);
    assert_eq!(updated, "2030-01-02 03:04:06.678901");

    let mut sess = session("fmt", id, t0(), at(3600));
    sess.extra_info_json = Some(json!({"k": "v"}));
    store.create_session(&sess).await.expect("session");
    let (created, expires, extra): (String, String, String) = sqlx::query_as(
        "SELECT created, expires, extra_info_json FROM sessions WHERE session_token = $1",
    )
    .bind(&sess.session_token)
    .fetch_one(&pool)
    .await
    .expect("raw session");
    assert_eq!(created, "2030-01-02 03:04:05.678901");
    assert_eq!(expires, "2030-01-02 04:04:05.678901");
    assert_eq!(extra, r#"{"k": "v"}"#);
    store.close().await;
}

/// DDL as upstream's SQLAlchemy emits it for SQLite (abridged to the tables
/// with rows here; migrating adds the rest).
const UPSTREAM_DDL: &str = r#"
CREATE TABLE roles (
	name VARCHAR(100) NOT NULL,
	"desc" VARCHAR(280) NOT NULL,
	PRIMARY KEY (name)
);
CREATE TABLE users (
	user_id INTEGER NOT NULL,
	system_id VARCHAR(50) NOT NULL,
	full_name VARCHAR(280),
	password TEXT NOT NULL,
	email VARCHAR(280) NOT NULL,
	email_verified BOOLEAN NOT NULL,
	is_active BOOLEAN NOT NULL,
	emailverify_sent_datetime DATETIME,
	emailforgotpass_sent_datetime DATETIME,
	emailchangepass_sent_datetime DATETIME,
	last_login_success DATETIME,
	last_login_try DATETIME,
	failed_login_tries INTEGER,
	extra_info JSON,
	created_on DATETIME NOT NULL,
	last_updated DATETIME NOT NULL,
	user_role VARCHAR(100) NOT NULL,
	PRIMARY KEY (user_id),
	UNIQUE (email),
	CHECK (email_verified IN (0, 1)),
	CHECK (is_active IN (0, 1)),
	FOREIGN KEY(user_role) REFERENCES roles (name)
);
CREATE INDEX ix_users_created_on ON users (created_on);
CREATE UNIQUE INDEX ix_users_system_id ON users (system_id);
CREATE INDEX ix_users_user_role ON users (user_role);
CREATE TABLE sessions (
	session_token VARCHAR NOT NULL,
	ip_address VARCHAR(280) NOT NULL,
	user_agent VARCHAR(280) NOT NULL,
	user_id INTEGER NOT NULL,
	created DATETIME NOT NULL,
	expires DATETIME NOT NULL,
	extra_info_json JSON,
	PRIMARY KEY (session_token),
	FOREIGN KEY(user_id) REFERENCES users (user_id) ON DELETE CASCADE
);
CREATE INDEX ix_sessions_expires ON sessions (expires);
CREATE INDEX ix_sessions_created ON sessions (created);
INSERT INTO roles VALUES ('superuser', 'Role with superuser privileges');
INSERT INTO roles VALUES ('staff', 'Role with staff privileges');
INSERT INTO roles VALUES ('authenticated', 'Role with authenticated privileges');
INSERT INTO roles VALUES ('anonymous', 'Role with anonymous privileges');
INSERT INTO roles VALUES ('locked', 'Role with locked privileges');
INSERT INTO users VALUES (1, 'b6a1a0b4-0000-4000-8000-000000000001', 'Superuser account',
  '$argon2id$v=19$m=102400,t=2,p=8$aaaa$bbbb', 'admin@localhost', 1, 1, NULL, NULL, NULL,
  NULL, NULL, 0, '{"provenance": "auto-created", "type": "system-user"}',
  '2024-05-06 07:08:09.123456', '2024-05-06 07:08:09.123456', 'superuser');
INSERT INTO users VALUES (2, 'b6a1a0b4-0000-4000-8000-000000000002',
  'The systemwide anonymous user', '$argon2id$v=19$m=102400,t=2,p=8$cccc$dddd',
  'anonuser@localhost', 1, 1, NULL, NULL, NULL, NULL, NULL, 0,
  '{"provenance": "auto-created", "type": "system-user"}',
  '2024-05-06 07:08:09.223456', '2024-05-06 07:08:09.223456', 'anonymous');
INSERT INTO users VALUES (3, 'b6a1a0b4-0000-4000-8000-000000000003',
  'The systemwide locked user', '$argon2id$v=19$m=102400,t=2,p=8$eeee$ffff',
  'dummyuser@localhost', 1, 0, NULL, NULL, NULL, NULL, NULL, 0,
  '{"provenance": "auto-created", "type": "locked-user"}',
  '2024-05-06 07:08:09.323456', '2024-05-06 07:08:09.323456', 'locked');
INSERT INTO users VALUES (4, 'b6a1a0b4-0000-4000-8000-000000000004', NULL,
  '$argon2id$v=19$m=102400,t=2,p=8$gggg$hhhh', 'Someone@Example.com', 0, 1,
  '2024-05-07 00:00:00.000001', NULL, NULL, NULL, NULL, 0,
  '{"city": "K\u00f8benhavn", "tags": ["a", "b"]}',
  '2024-05-07 00:00:00.000000', '2024-05-08 12:00:00.500000', 'authenticated');
INSERT INTO sessions VALUES ('upstream-live', '127.0.0.1', 'Mozilla/5.0', 4,
  '2024-05-07 00:00:00.000000', '2999-01-01 00:00:00.000000', '{"csrf": "x"}');
INSERT INTO sessions VALUES ('upstream-edge', '::1', 'curl/8', 2,
  '2024-05-07 00:00:00.000000', '2024-05-08 08:08:09.500000', NULL);
"#;

#[tokio::test]
async fn adopts_a_database_made_by_upstream() {
    let dir = TempDir::new();
    let path = dir.path().join(".authdb.sqlite");
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut conn = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .expect("create upstream DB");
        sqlx::raw_sql(UPSTREAM_DDL)
            .execute(&mut conn)
            .await
            .expect("upstream DDL");
        conn.close().await.expect("close");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let store = SqlStore::connect(&url_of(&path), &test_options())
        .await
        .expect("open upstream DB");
    store.migrate().await.expect("migrate upstream DB");

    // Already seeded: initialize writes nothing.
    assert!(
        !store
            .initialize(&initial_data(), t0())
            .await
            .expect("initialize")
    );
    assert_eq!(store.list_roles().await.expect("roles").len(), 5);
    assert_eq!(
        store.superuser_role().await.expect("superuser"),
        Some("superuser".into())
    );

    let users = store.list_users().await.expect("users");
    assert_eq!(
        users.iter().map(|u| u.user_id).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(users[0].created_on, dt("2024-05-06 07:08:09.123456"));
    assert_eq!(
        users[0].extra_info,
        Some(json!({"provenance": "auto-created", "type": "system-user"}))
    );
    assert!(!users[2].is_active);
    let someone = store
        .user_by_email("Someone@Example.com")
        .await
        .expect("email")
        .expect("found");
    assert_eq!(someone.user_id, 4);
    assert_eq!(someone.full_name, None);
    assert!(!someone.email_verified);
    assert_eq!(
        someone.emailverify_sent_datetime,
        Some(dt("2024-05-07 00:00:00.000001"))
    );
    assert_eq!(someone.last_updated, dt("2024-05-08 12:00:00.5"));
    assert_eq!(
        someone.extra_info,
        Some(json!({"city": "København", "tags": ["a", "b"]}))
    );
    assert_eq!(someone.failed_login_tries, Some(0));
    assert_eq!(
        store
            .user_by_email("someone@example.com")
            .await
            .expect("email"),
        None
    );

    // Upstream sessions, compared as text against our bound `now`.
    let (sess, user) = store
        .active_session("upstream-live", t0())
        .await
        .expect("active")
        .expect("live");
    assert_eq!(sess.expires, dt("2999-01-01 00:00:00"));
    assert_eq!(sess.extra_info_json, Some(json!({"csrf": "x"})));
    assert_eq!(user.user_id, 4);
    let edge = dt("2024-05-08 08:08:09.5");
    assert!(
        store
            .active_session("upstream-edge", edge)
            .await
            .expect("edge")
            .is_none()
    );
    let before = edge - chrono::TimeDelta::microseconds(1);
    assert!(
        store
            .active_session("upstream-edge", before)
            .await
            .expect("edge")
            .is_some()
    );
    assert_eq!(
        store
            .user_sessions(2, before)
            .await
            .expect("sessions")
            .len(),
        1
    );

    // New rows continue upstream's numbering and work beside the old ones.
    let id = store
        .create_user(&new_user("newcomer"), t0())
        .await
        .expect("create");
    assert_eq!(id, 5);
    store
        .create_session(&session("ours", id, t0(), at(60)))
        .await
        .expect("our session");
    assert_eq!(
        store
            .delete_sessions_expired_before(t0())
            .await
            .expect("cleanup"),
        1
    );
    assert!(
        store
            .active_session(&token("ours"), t0())
            .await
            .expect("ours")
            .is_some()
    );

    // The cascade works on the upstream table too.
    assert_eq!(store.delete_user(4).await.expect("delete"), 1);
    assert!(
        store
            .active_session("upstream-live", t0())
            .await
            .expect("gone")
            .is_none()
    );
    assert_eq!(mode_of(&path), 0o600);
    store.close().await;
}

/// The audit log is append-only: a trigger refuses every `UPDATE`, while
/// the retention cleanup's `DELETE` works.
#[tokio::test]
async fn audit_events_refuse_updates() {
    use authnz_api::{AuditEvent, AuditEventType, AuditOutcome, AuditStore as _};
    let store = SqlStore::connect("sqlite::memory:", &test_options())
        .await
        .expect("memory");
    store.migrate().await.expect("migrate");
    let event = AuditEvent {
        time: t0(),
        event: AuditEventType::LoginFailed,
        outcome: AuditOutcome::Failed,
        actor_user_id: None,
        subject_user_id: Some(5),
        client_address: None,
        request_id: None,
        reason: Some("wrong-password".into()),
    };
    store.append_audit_events(&[event]).await.expect("append");
    let pool = store.sqlite_pool().expect("pool");
    let err = sqlx::query("UPDATE audit_events SET outcome = 'ok'")
        .execute(pool)
        .await
        .expect_err("updates are refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(
        store
            .delete_audit_events_before(at(1))
            .await
            .expect("delete"),
        1
    );
    store.close().await;
}
