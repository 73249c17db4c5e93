//! Storage edges over the real protocol, on every SQL backend: a login whose
//! session cannot be deleted fails, NUL bytes get the same replies
//! everywhere, integers are never truncated, scoped IPv6 addresses are
//! stored, and a non-object `extra_info` on sign-up is the original's
//! `DB issue with user creation`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use authnz_store_sql::SqlStore;
use common::{Backend, TestDb, TestServer};
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";

async fn with_server<F, Fut>(backend: Backend, test: &str, f: F)
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

/// Run raw SQL statements on the server's own database (fault injection).
async fn exec_sql(store: &SqlStore, statements: &[&'static str]) {
    use authnz_store_sql::sqlx;
    if let Some(pool) = store.sqlite_pool() {
        for s in statements {
            sqlx::query(*s).execute(pool).await.expect(s);
        }
    } else if let Some(pool) = store.postgres_pool() {
        for s in statements {
            sqlx::query(*s).execute(pool).await.expect(s);
        }
    } else {
        panic!("unexpected dialect");
    }
}

/// Make every DELETE on `sessions` fail in the database itself.
async fn break_session_deletes(store: &SqlStore) {
    if store.sqlite_pool().is_some() {
        exec_sql(
            store,
            &[
                "CREATE TRIGGER no_session_delete BEFORE DELETE ON sessions \
               BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            ],
        )
        .await;
    } else {
        exec_sql(
            store,
            &[
                "CREATE FUNCTION no_delete() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$",
                "CREATE TRIGGER no_session_delete BEFORE DELETE ON sessions \
                 FOR EACH ROW EXECUTE FUNCTION no_delete()",
            ],
        )
        .await;
    }
}

/// Defect 6: the presented session must be gone after a login, or the login
/// fails. With deletes failing in the store, a correct password gets the
/// storage-error answer (HTTP 400), not a successful login.
async fn login_fails_when_session_delete_fails(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        s.verified_user("kim@example.org", PASSWORD).await;
        let anon = s.new_session(Value::Null).await;
        break_session_deletes(&s.built.store).await;
        let (status, _, _) = s
            .call_raw_as(
                "127.0.0.1",
                "user-login",
                json!({"session_token": anon, "email": "kim@example.org", "password": PASSWORD}),
            )
            .await;
        assert_eq!(
            status, 400,
            "a login that could not consume its session must fail"
        );
        s
    })
    .await;
}

per_backend!(login_fails_when_session_delete_fails);
