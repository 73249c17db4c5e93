//! MySQL/MariaDB-only checks: column types, collations and index names of
//! PROTOCOL.md 8.1, the stored JSON text, adopting a database laid out as upstream's
//! SQLAlchemy models would make it, and how an unreachable server is
//! reported.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authnz_api::testkit::Stores;
use authnz_api::testkit::fixtures::{initial_data, new_user, seed, t0};
use authnz_api::{RoleStore, StoreError, UserStore};
use authnz_store_sql::sqlx::{self, Connection};
use authnz_store_sql::{Dialect, SqlOptions, SqlStore};

use crate::harness::{MySqlDatabase, SPEC_INDEXES, TABLES, test_options};

/// Run `body` on a fresh (optionally migrated) database, dropping it
/// afterwards even if `body` panics; skip when no server is configured.
async fn with_database<F, Fut>(test: &'static str, migrate: bool, body: F)
where
    F: FnOnce(SqlStore, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = MySqlDatabase::create(test).await else {
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
    for url in [
        "mysql://root@127.0.0.1:1/authnz",
        "mariadb://root@127.0.0.1:1/authnz",
    ] {
        let err = SqlStore::connect(url, &opts)
            .await
            .expect_err("nothing listens on port 1");
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn schema_types_collations_and_indexes() {
    with_database(
        "mysql_specific::schema_types_collations_and_indexes",
        true,
        |store, _| async move {
            assert_eq!(store.dialect(), Dialect::MySql);
            let pool = store.mysql_pool().expect("pool").clone();
            let mut tables: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name NOT LIKE '\\_%'",
            )
            .fetch_all(&pool)
            .await
            .expect("tables");
            // information_schema's collation sorts `_` after letters.
            tables.sort();
            assert_eq!(tables, TABLES);

            let engines: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT CAST(engine AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            )
            .fetch_all(&pool)
            .await
            .expect("engines");
            assert_eq!(engines, ["InnoDB"]);

            // (table, column, COLUMN_TYPE, collation or "")
            let columns: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), \
                   CAST(column_type AS CHAR), CAST(COALESCE(collation_name, '') AS CHAR) \
                 FROM information_schema.columns WHERE table_schema = DATABASE()",
            )
            .fetch_all(&pool)
            .await
            .expect("columns");
            let column = |t: &str, c: &str| {
                columns
                    .iter()
                    .find(|(tn, cn, _, _)| tn == t && cn == c)
                    .map(|(_, _, ty, coll)| (ty.as_str(), coll.as_str()))
                    .unwrap_or(("missing", ""))
            };
            assert_eq!(column("users", "user_id").0, "int(11)");
            assert_eq!(column("users", "created_on").0, "datetime(6)");
            assert_eq!(column("users", "locked_until").0, "datetime(6)");
            assert_eq!(column("users", "email_verified").0, "tinyint(1)");
            // Exact, byte-ordered, no trailing-space padding.
            for (t, c) in [
                ("users", "email"),
                ("users", "system_id"),
                ("users", "user_role"),
                ("roles", "name"),
                ("sessions", "session_token"),
                ("apikeys", "apikey"),
                ("apikeys", "session_token"),
                ("apikeys_nosession", "apikey"),
            ] {
                assert_eq!(column(t, c).1, "utf8mb4_nopad_bin", "{t}.{c}");
            }

            let indexes: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT CAST(index_name AS CHAR) FROM information_schema.statistics \
                 WHERE table_schema = DATABASE()",
            )
            .fetch_all(&pool)
            .await
            .expect("indexes");
            for ix in SPEC_INDEXES {
                assert!(indexes.iter().any(|i| i == ix), "missing index {ix}");
            }

            // Running the migrations again changes nothing.
            store.migrate().await.expect("migrate again");
        },
    )
    .await;
}

#[tokio::test]
async fn json_is_stored_as_python_text() {
    with_database(
        "mysql_specific::json_is_stored_as_python_text",
        true,
        |store, _| async move {
            let s = Stores::from_store(Arc::new(store.clone()));
            seed(&s).await;
            let pool = store.mysql_pool().expect("pool").clone();
            let text: String =
                sqlx::query_scalar("SELECT CAST(extra_info AS CHAR) FROM users WHERE user_id = 1")
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

/// Roughly what SQLAlchemy's models would make on MySQL (`BOOL`, `JSON`,
/// the unbounded token columns with a length, which MySQL needs), with
/// upstream's seed rows inserted with explicit ids; `datetime` is the
/// timestamp type and `options` the table options (collation).
fn upstream_ddl(datetime: &str, options: &str) -> String {
    format!(
        r#"
CREATE TABLE roles (name VARCHAR(100) NOT NULL, `desc` VARCHAR(280) NOT NULL, PRIMARY KEY (name)) {options};
CREATE TABLE users (
    user_id INTEGER NOT NULL AUTO_INCREMENT, system_id VARCHAR(50) NOT NULL, full_name VARCHAR(280),
    password TEXT NOT NULL, email VARCHAR(280) NOT NULL, email_verified BOOL NOT NULL,
    is_active BOOL NOT NULL, emailverify_sent_datetime {datetime},
    emailforgotpass_sent_datetime {datetime}, emailchangepass_sent_datetime {datetime},
    last_login_success {datetime}, last_login_try {datetime},
    failed_login_tries INTEGER, extra_info JSON, created_on {datetime} NOT NULL,
    last_updated {datetime} NOT NULL, user_role VARCHAR(100) NOT NULL,
    PRIMARY KEY (user_id), UNIQUE (email), FOREIGN KEY(user_role) REFERENCES roles (name)) {options};
CREATE UNIQUE INDEX ix_users_system_id ON users (system_id);
INSERT INTO roles VALUES ('superuser', 'd'), ('anonymous', 'd'), ('locked', 'd'), ('authenticated', 'd');
INSERT INTO users (user_id, system_id, password, email, email_verified, is_active,
                   failed_login_tries, extra_info, created_on, last_updated, user_role)
VALUES (1, 's1', 'h', 'admin@localhost', true, true, 0, '{{"a": 1}}', '2024-01-01', '2024-01-01', 'superuser'),
       (2, 's2', 'h', 'anonuser@localhost', true, true, 0, NULL, '2024-01-01', '2024-01-01', 'anonymous'),
       (3, 's3', 'h', 'dummyuser@localhost', true, false, 0, NULL, '2024-01-01', '2024-01-01', 'locked');
"#
    )
}

async fn run_ddl(url: &str, ddl: String) {
    let mut conn = sqlx::MySqlConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut conn)
        .await
        .expect("upstream DDL");
    conn.close().await.expect("close");
}

/// Tables with exact collations and microsecond timestamps are adopted as
/// they are: the migrations only add what is missing.
#[tokio::test]
async fn adopts_a_database_made_by_upstream() {
    with_database(
        "mysql_specific::adopts_a_database_made_by_upstream",
        false,
        |store, url| async move {
            let ddl = upstream_ddl(
                "DATETIME(6)",
                "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin",
            );
            run_ddl(&url, ddl).await;

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
            assert_eq!(users[0].locked_until, None);
            // AUTO_INCREMENT follows the explicit ids.
            let id = store
                .create_user(&new_user("next"), t0())
                .await
                .expect("create");
            assert_eq!(id, 4);
        },
    )
    .await;
}

/// Tables whose text compares case-insensitively (the server's default
/// collation) or whose timestamps drop microseconds would break the storage
/// contract: the migration refuses them with a clear message, changes
/// nothing, and can be run again once they are converted.
#[tokio::test]
async fn refuses_inexact_existing_tables() {
    with_database(
        "mysql_specific::refuses_inexact_existing_tables",
        false,
        |store, url| async move {
            run_ddl(&url, upstream_ddl("DATETIME", "")).await;
            for _ in 0..2 {
                let err = store.migrate().await.expect_err("inexact tables");
                assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
                let text = format!("{err:?}");
                assert!(text.contains("utf8mb4_nopad_bin"), "{text}");
            }
            let pool = store.mysql_pool().expect("pool").clone();
            let tables: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() \
                 AND table_name = 'sessions'",
            )
            .fetch_one(&pool)
            .await
            .expect("count");
            assert_eq!(tables, 0, "nothing was created");
        },
    )
    .await;
}
