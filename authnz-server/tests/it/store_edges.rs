//! Storage edges over the real protocol, on every SQL backend: a login whose
//! session cannot be deleted fails, NUL bytes get the same replies
//! everywhere, integers are never truncated, scoped IPv6 addresses are
//! stored, and a non-object `extra_info` on sign-up is the original's
//! `DB issue with user creation`.

use crate::common::{Backend, TestDb, TestServer, with_server};
use authnz_store_sql::SqlStore;
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";

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
        #[cfg(feature = "mysql")]
        if let Some(pool) = store.mysql_pool() {
            // Trigger DDL is not preparable on MySQL: the text protocol.
            for s in statements {
                sqlx::raw_sql(*s).execute(pool).await.expect(s);
            }
            return;
        }
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
    } else if store.postgres_pool().is_none() {
        exec_sql(
            store,
            &[
                "CREATE TRIGGER no_session_delete BEFORE DELETE ON sessions \
               FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected fault'",
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

/// Integer literals beyond the 64-bit range (as JSON text: some of them are
/// not representable in a `serde_json::Value`).
const HUGE_INTS: [&str; 5] = [
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "1000000000000000000000000000000",
    "340282366920938463463374607431768211456",
];

/// Send `request` with `body`, where the string `"__INT__"` is replaced by
/// the integer literal `int`; returns (HTTP status, decrypted envelope).
async fn call_with_int(s: &TestServer, request: &str, body: Value, int: &str) -> (u16, Value) {
    let object = crate::common::Client::request_object("127.0.0.1", request, body);
    let text = object.to_string().replace("\"__INT__\"", int);
    assert!(text.contains(int));
    let (status, reply) = s
        .post_body(s.codec.seal_bytes(text.as_bytes()).as_bytes())
        .await;
    let env = if status == 200 {
        s.codec.open(&reply).expect("decrypts")
    } else {
        Value::Null
    };
    (status, env)
}

/// Agreement with the original: no integer argument is truncated, wrapped or
/// defaulted. Out of range is a clear failure (HTTP 400, or a failure reply
/// for a value the schema already refuses), never a success, and nothing is
/// changed in the database.
async fn huge_integers_are_refused(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let uid = s.verified_user("kim@example.org", PASSWORD).await;
        let session = s.new_session(json!(uid)).await;
        let cases: Vec<(&str, Value)> = vec![
            ("internal-user-delete", json!({"target_userid": "__INT__"})),
            (
                "internal-user-lock",
                json!({"target_userid": "__INT__", "action": "lock"}),
            ),
            ("user-list", json!({"user_id": "__INT__"})),
            (
                "user-logout",
                json!({"session_token": session, "user_id": "__INT__"}),
            ),
            (
                "session-new",
                json!({"ip_address": "127.0.0.1", "user_agent": "x", "user_id": "__INT__",
                       "expires": "2100-01-01T00:00:00.000001", "extra_info_json": null}),
            ),
            (
                "user-new",
                json!({"full_name": "Test Person", "email": "new@example.org",
                       "password": PASSWORD, "verify_retry_wait": "__INT__"}),
            ),
            (
                "user-check-access",
                json!({"user_id": "__INT__", "user_role": "authenticated", "action": "view",
                       "target_name": "dataset", "target_owner": 1,
                       "target_visibility": "public", "target_sharedwith": ""}),
            ),
        ];
        for int in HUGE_INTS {
            for (request, body) in &cases {
                let (status, env) = call_with_int(&s, request, body.clone(), int).await;
                assert!(
                    status == 400 || (status == 200 && env["success"] == json!(false)),
                    "{request} with {int}: HTTP {status} {env}"
                );
                // Whatever is echoed is what was sent, never a wrapped value.
                for key in ["user_id", "target_userid"] {
                    let echoed = &env["response"][key];
                    assert!(
                        echoed.is_null()
                            || serde_json::to_string(echoed).ok().as_deref() == Some(int),
                        "{request} with {int} echoed {key} = {echoed}"
                    );
                }
            }
        }
        // Nothing was deleted, locked or logged out.
        let env = s.call("user-list", json!({"user_id": uid})).await;
        assert_eq!(
            env["response"]["user_info"][0]["is_active"],
            json!(true),
            "{env}"
        );
        let env = s
            .call("session-exists", json!({"session_token": session}))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        let env = s.call("user-list", json!({"user_id": null})).await;
        assert_eq!(
            env["response"]["user_info"].as_array().map(Vec::len),
            Some(4),
            "{env}"
        );
        s
    })
    .await;
}

/// Agreement with the original: a scoped IPv6 address is stored and returned.
async fn scoped_ipv6_session(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let env = s
            .call(
                "session-new",
                json!({"ip_address": "FE80::0001%eth0", "user_agent": "x", "user_id": null,
                       "expires": "2100-01-01T00:00:00.000001", "extra_info_json": null}),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        let token = env["response"]["session_token"].clone();
        let env = s
            .call("session-exists", json!({"session_token": token}))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(
            env["response"]["session_info"]["ip_address"],
            json!("fe80::1%eth0")
        );
        for bad in ["fe80::1%", "fe80::1%a%b", "10.0.0.1%eth0"] {
            let env = s
                .call(
                    "session-new",
                    json!({"ip_address": bad, "user_agent": "x", "user_id": null,
                           "expires": "2100-01-01T00:00:00.000001", "extra_info_json": null}),
                )
                .await;
            assert_eq!(
                env["failure_reason"],
                json!("DB error when making new session"),
                "{bad}"
            );
        }
        s
    })
    .await;
}

/// Agreement with the original: `user-new` with a truthy `extra_info` that is
/// not an object answers `DB issue with user creation` (HTTP 200) and creates
/// nothing.
async fn signup_with_non_object_extra_info(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        for (i, extra) in [json!(true), json!("x"), json!([1]), json!(7)]
            .into_iter()
            .enumerate()
        {
            let email = format!("extra{i}@example.org");
            let (status, _, body) = s
                .call_raw_as(
                    "127.0.0.1",
                    "user-new",
                    json!({"full_name": "Test Person", "email": email, "password": PASSWORD,
                           "extra_info": extra}),
                )
                .await;
            assert_eq!(status, 200, "extra_info {extra}");
            let env = s.codec.open(&body).expect("decrypts");
            assert_eq!(env["success"], json!(false), "{env}");
            assert_eq!(
                env["failure_reason"],
                json!("DB issue with user creation"),
                "{env}"
            );
            assert_eq!(env["response"]["user_id"], Value::Null);
            assert_eq!(env["response"]["user_email"], Value::Null);
            assert_eq!(env["response"]["send_verification"], json!(false));
            let env = s.call("user-lookup-email", json!({"email": email})).await;
            assert_eq!(env["success"], json!(false), "nothing stored: {env}");
        }
        s
    })
    .await;
}

/// NUL characters in the fields of several request types: the replies, with
/// volatile values (tokens, ids, times) blanked out.
async fn nul_replies(s: &TestServer) -> Vec<(String, u16, Value)> {
    let uid = s.verified_user("kim@example.org", PASSWORD).await;
    let token = s.new_session(json!(uid)).await;
    let new_session = |ip: &str, agent: &str| {
        json!({"ip_address": ip, "user_agent": agent, "user_id": null,
               "expires": "2100-01-01T00:00:00.000001", "extra_info_json": {"a": "x\u{0}"}})
    };
    let nul_token = format!("{token}\u{0}");
    let cases: Vec<(&str, Value)> = vec![
        ("session-new", new_session("127.0.0.1", "agent\u{0}")),
        ("session-new", new_session("fe80::1%eth\u{0}", "agent")),
        ("session-new", new_session("127.0.0.1", "agent")),
        ("session-exists", json!({"session_token": nul_token})),
        ("session-delete", json!({"session_token": nul_token})),
        (
            "user-login",
            json!({"session_token": nul_token, "email": "kim@example.org", "password": PASSWORD}),
        ),
        (
            "user-new",
            json!({"full_name": "Nul Person", "email": "nul@example.org", "password": PASSWORD, "system_id": "s\u{0}"}),
        ),
        (
            "user-lookup-email",
            json!({"email": "kim@example.org\u{0}"}),
        ),
        (
            "user-lookup-match",
            json!({"by": "email", "match": "kim@example.org\u{0}"}),
        ),
        (
            "user-lookup-match",
            json!({"by": "extra_info", "match": {"type": "normal-user"}}),
        ),
        (
            "user-set-emailverified",
            json!({"email": "kim@example.org\u{0}"}),
        ),
        (
            "internal-user-edit",
            json!({"target_userid": uid, "update_dict": {"extra_info": {"n": "\u{0}"}}}),
        ),
        (
            "user-lookup-match",
            json!({"by": "extra_info", "match": {"n": "\u{0}"}}),
        ),
        (
            "user-lookup-match",
            json!({"by": "extra_info", "match": {"type": "normal-user"}}),
        ),
        (
            "user-passcheck-nosession",
            json!({"email": "kim@example.org\u{0}", "password": PASSWORD}),
        ),
        ("session-exists", json!({"session_token": token})),
    ];
    let mut replies = Vec::new();
    for (request, body) in cases {
        let (status, _, raw) = s.call_raw_as("127.0.0.1", request, body).await;
        let mut env = if status == 200 {
            s.codec.open(&raw).expect("decrypts")
        } else {
            Value::Null
        };
        blank(&mut env);
        replies.push((request.to_owned(), status, env));
    }
    replies
}

/// Blank out values that differ between runs by design (tokens, times).
fn blank(v: &mut Value) {
    const VOLATILE: [&str; 9] = [
        "session_token",
        "created",
        "expires",
        "last_login_try",
        "last_updated",
        "created_on",
        "system_id",
        "emailverify_sent_datetime",
        "last_login_success",
    ];
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if VOLATILE.contains(&k.as_str()) && !v.is_null() {
                    *v = json!("<blank>");
                } else {
                    blank(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(blank),
        _ => {}
    }
}

/// NUL characters get the same replies on SQLite and PostgreSQL, all of them
/// ordinary protocol replies (HTTP 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_same_replies_on_every_backend() {
    let mut all = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::new(backend, "nul_characters_same_replies_on_every_backend").await
        else {
            return;
        };
        let s = TestServer::start(&db).await;
        all.push(nul_replies(&s).await);
        s.stop().await;
        db.drop_db().await;
    }
    assert_eq!(all.len(), 2, "both backends ran");
    assert_eq!(all[0].len(), all[1].len());
    assert!(all[0].len() >= 16);
    for (i, (sq, pg)) in all[0].iter().zip(&all[1]).enumerate() {
        assert_eq!(sq, pg, "case {i}: SQLite and PostgreSQL differ");
        assert_eq!(sq.1, 200, "case {i}: {sq:?}");
    }
}

per_backend!(
    login_fails_when_session_delete_fails,
    huge_integers_are_refused,
    scoped_ipv6_session,
    signup_with_non_object_extra_info
);
