//! Sessions and session-tied API keys in Redis (`--sessionstore redis`),
//! with the rate limiter, login throttle and replay guard there too, on
//! SQLite and PostgreSQL for users: the session flow over the real protocol
//! works, the keys land in Redis under the prefix, and the SQL `sessions`
//! and `apikeys` tables stay empty.
//!
//! Needs `AUTHNZ_TEST_REDIS_URL` (and `AUTHNZ_TEST_POSTGRES_URL` for the
//! PostgreSQL half); skipped loudly without, failed under
//! `AUTHNZ_REQUIRE_SERVICES=1`.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Backend, TestDb, TestServer, on_redis, sql_session_rows};
use authnz_api::{Clock, ManualClock};
use authnz_store_redis::testing::{PrefixCleanup, test_backend};
use chrono::TimeDelta;
use serde_json::{Map, Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";
const UA: &str = "Mozilla/5.0 test";

/// The keys under the prefix whose next part is `kind` (`s:`, `k:`, ...).
fn keys_of(cleanup: &PrefixCleanup, kind: &str) -> Vec<String> {
    let start = format!("{}{kind}", cleanup.prefix());
    cleanup
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&start))
        .collect()
}

async fn exists(s: &TestServer, token: &str) -> Value {
    s.call("session-exists", json!({"session_token": token}))
        .await
}

async fn alive(s: &TestServer, token: &str) -> bool {
    exists(s, token).await["success"] == json!(true)
}

async fn login(s: &TestServer, token: &str, email: &str, password: &str) -> Value {
    s.call(
        "user-login",
        json!({"session_token": token, "email": email, "password": password}),
    )
    .await
}

fn claims(env: &Value) -> Map<String, Value> {
    let text = env["response"]["apikey"].as_str().expect("apikey text");
    serde_json::from_str(text).expect("claims parse")
}

async fn sessions_in_redis(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let Some((redis, cleanup)) = test_backend(test).await else {
        db.drop_db().await;
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone() as Arc<dyn Clock>, |o| {
        on_redis(o, &redis);
        o.request_ttl = Some(Duration::from_secs(60));
    })
    .await;

    let alice_email = "alice@example.org";
    let alice = s.verified_user(alice_email, PASSWORD).await;
    let bob_email = "bob@example.org";
    let bob = s.verified_user(bob_email, PASSWORD).await;

    // Anonymous session, then a login that consumes it.
    let anon = s.new_session(Value::Null).await;
    let env = exists(&s, &anon).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(
        env["response"]["session_info"]["user_id"],
        json!(2),
        "{env}"
    );
    let env = login(&s, &anon, alice_email, "wrong-password-1").await;
    assert_eq!(env["success"], json!(false), "{env}");
    assert!(
        !keys_of(&cleanup, "lt:").is_empty(),
        "the failed login is counted in Redis"
    );
    let anon = s.new_session(Value::Null).await;
    let env = login(&s, &anon, alice_email, PASSWORD).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["user_id"], json!(alice));
    assert!(
        !alive(&s, &anon).await,
        "login consumes the presented session"
    );
    assert!(
        keys_of(&cleanup, "lt:").is_empty(),
        "a success clears the counter"
    );

    // An authenticated session, found with the user's details.
    let token = s.new_session(json!(alice)).await;
    let env = exists(&s, &token).await;
    assert_eq!(env["success"], json!(true), "{env}");
    let info = &env["response"]["session_info"];
    assert_eq!(info["user_id"], json!(alice));
    assert_eq!(info["email"], json!(alice_email));
    assert_eq!(info["user_role"], json!("authenticated"));

    // It lives in Redis, not in SQL.
    assert!(
        keys_of(&cleanup, "s:").contains(&format!("{}s:{token}", cleanup.prefix())),
        "{:?}",
        cleanup.keys()
    );
    assert!(!keys_of(&cleanup, &format!("u:{alice}")).is_empty());
    // (The rate limiter's keys are not checked here: with the generous test
    // limits a bucket is full again at once and its key expires; the shared
    // limiter is shown in multi_instance.rs.)
    assert!(
        !keys_of(&cleanup, "rp:").is_empty(),
        "replay guard in Redis"
    );
    assert_eq!(sql_session_rows(&s).await, (0, 0));

    // A session-tied API key: in Redis, verified, and dead with its session.
    let env = s
        .call(
            "apikey-new",
            json!({
                "issuer": "frontend", "audience": "api.example.org", "subject": "/api/data",
                "apiversion": 1, "expires_days": 1, "not_valid_before": 0,
                "user_id": alice, "user_role": "authenticated", "ip_address": "127.0.0.1",
                "user_agent": UA, "session_token": token,
            }),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let key = claims(&env);
    let verify = json!({"apikey_dict": key, "user_id": alice, "user_role": "authenticated"});
    clock.advance(TimeDelta::seconds(1));
    let env = s.call("apikey-verify", verify.clone()).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(keys_of(&cleanup, "k:").len(), 1);
    assert_eq!(sql_session_rows(&s).await, (0, 0), "the key is not in SQL");
    let env = s
        .call("session-delete", json!({"session_token": token}))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let env = s.call("apikey-verify", verify).await;
    assert_eq!(env["success"], json!(false), "session gone: {env}");
    assert!(!alive(&s, &token).await);
    assert!(keys_of(&cleanup, "k:").is_empty());

    // user-logout.
    let token = s.new_session(json!(alice)).await;
    let env = s
        .call(
            "user-logout",
            json!({"session_token": token, "user_id": alice}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["messages"], json!(["Logout successful."]));
    assert!(!alive(&s, &token).await);

    // session-delete-userid, keeping the presented session.
    let a = s.new_session(json!(alice)).await;
    let b = s.new_session(json!(alice)).await;
    let c = s.new_session(json!(alice)).await;
    let env = s
        .call(
            "session-delete-userid",
            json!({"session_token": a, "user_id": alice, "keep_current_session": true}),
        )
        .await;
    assert_eq!(
        env["messages"],
        json!(["Sessions delete processed. Success: True."]),
        "{env}"
    );
    assert!(alive(&s, &a).await);
    assert!(!alive(&s, &b).await);
    assert!(!alive(&s, &c).await);

    // user-delete: the deleted user's sessions give no access any more.
    let bob_token = s.new_session(json!(bob)).await;
    assert!(alive(&s, &bob_token).await);
    let env = s
        .call(
            "user-delete",
            json!({"email": bob_email, "user_id": bob, "password": PASSWORD}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let env = exists(&s, &bob_token).await;
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(
        env["failure_reason"],
        json!("session does not exist or expired")
    );
    assert!(
        !keys_of(&cleanup, "s:").contains(&format!("{}s:{bob_token}", cleanup.prefix())),
        "the dead session's key is gone"
    );
    assert!(alive(&s, &a).await, "other users' sessions are untouched");

    assert_eq!(sql_session_rows(&s).await, (0, 0), "nothing went to SQL");
    s.stop().await;
    db.drop_db().await;
    drop(cleanup);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sessions_in_redis() {
    sessions_in_redis(Backend::Sqlite, "sqlite::sessions_in_redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_in_redis() {
    sessions_in_redis(Backend::Postgres, "postgres::sessions_in_redis").await;
}
