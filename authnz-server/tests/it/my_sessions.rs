//! "My sessions" (not upstream, PROTOCOL.md 3.9): `user-sessions-list` and
//! `user-sessions-revoke` through the real server and protocol, with
//! sessions in SQLite (behind the session cache), PostgreSQL, MySQL and
//! Redis. The list holds exactly the user's active sessions, by opaque id
//! and never by token; revoking ends exactly the named session of the
//! caller's own user (and its API keys), or all the others; another user's
//! session is never touched; expired sessions are neither listed nor
//! revocable. The same across instances is in `cache_coherence.rs`.

use std::sync::Arc;

use crate::common::{Backend, TestDb, TestServer, on_redis};
use authnz_api::{Clock, ManualClock};
use authnz_store_redis::testing::test_backend;
use chrono::TimeDelta;
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";

async fn list(s: &TestServer, user_id: i64, token: &str) -> Value {
    s.call(
        "user-sessions-list",
        json!({"user_id": user_id, "session_token": token}),
    )
    .await
}

/// The listed sessions, after checking the reply is a success.
async fn listed(s: &TestServer, user_id: i64, token: &str) -> Vec<Value> {
    let env = list(s, user_id, token).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["messages"], json!(["Sessions listed."]), "{env}");
    env["response"]["sessions"]
        .as_array()
        .expect("sessions")
        .clone()
}

/// The id of the session listed as `current` by its own token.
async fn own_id(s: &TestServer, user_id: i64, token: &str) -> String {
    let sessions = listed(s, user_id, token).await;
    let mine: Vec<&Value> = sessions
        .iter()
        .filter(|x| x["current"] == json!(true))
        .collect();
    assert_eq!(mine.len(), 1, "{sessions:?}");
    mine[0]["session_id"].as_str().expect("id").to_owned()
}

async fn revoke(s: &TestServer, user_id: i64, token: &str, session_id: &str) -> Value {
    s.call(
        "user-sessions-revoke",
        json!({"user_id": user_id, "session_token": token, "session_id": session_id}),
    )
    .await
}

async fn alive(s: &TestServer, token: &str) -> bool {
    s.call("session-exists", json!({"session_token": token}))
        .await["success"]
        == json!(true)
}

/// Asked twice, so the session cache (SQLite, Redis) holds it.
async fn warm(s: &TestServer, token: &str) {
    assert!(alive(s, token).await);
    assert!(alive(s, token).await);
}

fn refused(env: &Value, reason: &str) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(env["failure_reason"], json!(reason), "{env}");
}

/// A session of `user_id` expiring `secs` seconds after the server's now.
async fn session_for(s: &TestServer, clock: &ManualClock, user_id: i64, secs: i64) -> String {
    let expires = clock.now() + TimeDelta::seconds(secs);
    let env = s
        .call(
            "session-new",
            json!({
                "ip_address": "198.51.100.4",
                "user_agent": format!("agent-{secs}"),
                "user_id": user_id,
                "expires": expires.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                "extra_info_json": null,
            }),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    env["response"]["session_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn scenario(s: &TestServer, clock: &ManualClock) {
    let alice = s.verified_user("alice@example.org", PASSWORD).await;
    let bob = s.verified_user("bob@example.org", PASSWORD).await;
    let a1 = session_for(s, clock, alice, 3600).await;
    clock.advance(TimeDelta::seconds(1));
    let a2 = session_for(s, clock, alice, 7200).await;
    clock.advance(TimeDelta::seconds(1));
    let short = session_for(s, clock, alice, 60).await;
    let b1 = session_for(s, clock, bob, 3600).await;

    // The list: alice's three sessions, oldest first, no tokens.
    let env = list(s, alice, &a1).await;
    let text = env.to_string();
    for t in [&a1, &a2, &short, &b1] {
        assert!(!text.contains(t.as_str()), "a raw token in {text}");
    }
    let sessions = listed(s, alice, &a1).await;
    let agents: Vec<&Value> = sessions.iter().map(|x| &x["user_agent"]).collect();
    assert_eq!(
        agents,
        [
            &json!("agent-3600"),
            &json!("agent-7200"),
            &json!("agent-60")
        ]
    );
    let current: Vec<&Value> = sessions.iter().map(|x| &x["current"]).collect();
    assert_eq!(current, [&json!(true), &json!(false), &json!(false)]);
    for x in &sessions {
        let keys: Vec<&String> = x.as_object().expect("object").keys().collect();
        assert_eq!(
            keys.len(),
            6,
            "session_id, created, expires, ip_address, user_agent, current: {x}"
        );
        assert_eq!(x["ip_address"], json!("198.51.100.4"));
        assert_eq!(x["session_id"].as_str().expect("id").len(), 22, "{x}");
    }
    assert!(sessions[0]["created"].as_str().unwrap() < sessions[1]["created"].as_str().unwrap());
    let a2_id = own_id(s, alice, &a2).await;
    assert_eq!(sessions[1]["session_id"], json!(a2_id), "ids are stable");
    let b1_id = own_id(s, bob, &b1).await;

    // The caller must be a signed-in session of that very user.
    refused(
        &list(s, bob, &a1).await,
        "session does not belong to this user",
    );
    refused(
        &list(s, alice, "no-such-token").await,
        "session does not exist or expired",
    );
    let anon = s.new_session(Value::Null).await;
    refused(
        &list(s, 2, &anon).await,
        "session is anonymous: sign in first",
    );
    let env = list(s, bob, &a1).await;
    assert_eq!(env["response"]["sessions"], Value::Null, "{env}");
    assert_eq!(env["messages"], json!(["Could not list the sessions."]));

    // Another user's session: never revoked, whichever way it is asked.
    warm(s, &b1).await;
    refused(
        &revoke(s, alice, &a1, &b1_id).await,
        "no such session of this user",
    );
    refused(
        &revoke(s, bob, &a1, &b1_id).await,
        "session does not belong to this user",
    );
    refused(
        &revoke(s, bob, &a1, "others").await,
        "session does not belong to this user",
    );
    let env = revoke(s, alice, &a1, &b1_id).await;
    assert_eq!(env["response"]["revoked"], json!(0), "{env}");
    assert!(alive(s, &b1).await, "bob's session survives");

    // A session-tied API key dies with its revoked session.
    let env = s
        .call(
            "apikey-new",
            json!({
                "issuer": "frontend", "audience": "api.example.org", "subject": "/api/data",
                "apiversion": 1, "expires_days": 1, "not_valid_before": 0,
                "user_id": alice, "user_role": "authenticated", "ip_address": "198.51.100.4",
                "user_agent": "agent-7200", "session_token": a2,
            }),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let key: Value =
        serde_json::from_str(env["response"]["apikey"].as_str().expect("key")).expect("claims");
    clock.advance(TimeDelta::seconds(1));
    let verify = json!({"apikey_dict": key, "user_id": alice, "user_role": "authenticated"});
    let env = s.call("apikey-verify", verify.clone()).await;
    assert_eq!(env["success"], json!(true), "{env}");

    // Revoke one by its id: gone at once (the cached answer too).
    warm(s, &a2).await;
    let env = revoke(s, alice, &a1, &a2_id).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["messages"], json!(["Session revoked."]));
    assert_eq!(
        (&env["response"]["revoked"], &env["response"]["current"]),
        (&json!(1), &json!(false))
    );
    assert!(!alive(s, &a2).await, "the revoked session is gone");
    let env = s.call("apikey-verify", verify).await;
    assert_eq!(env["success"], json!(false), "its API key too: {env}");
    refused(
        &revoke(s, alice, &a1, &a2_id).await,
        "no such session of this user",
    );
    assert_eq!(listed(s, alice, &a1).await.len(), 2);

    // An expired session is neither listed nor revocable.
    let short_id = own_id(s, alice, &short).await;
    clock.advance(TimeDelta::seconds(61));
    let sessions = listed(s, alice, &a1).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    refused(
        &revoke(s, alice, &a1, &short_id).await,
        "no such session of this user",
    );
    refused(
        &list(s, alice, &short).await,
        "session does not exist or expired",
    );

    // "others": all but the caller's.
    let a3 = session_for(s, clock, alice, 3600).await;
    let a4 = session_for(s, clock, alice, 3600).await;
    warm(s, &a3).await;
    warm(s, &a4).await;
    let env = revoke(s, alice, &a1, "others").await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["messages"], json!(["All other sessions revoked."]));
    // a3, a4 and the expired `short` (if the store still holds it).
    let n = env["response"]["revoked"].as_i64().expect("count");
    assert!((2..=3).contains(&n), "{env}");
    assert!(!alive(s, &a3).await && !alive(s, &a4).await);
    assert!(alive(s, &a1).await, "the caller's session stays");
    assert!(alive(s, &b1).await, "other users' sessions stay");
    assert_eq!(listed(s, alice, &a1).await.len(), 1);

    // The caller's own session: a logout, said so in the reply.
    let a1_id = own_id(s, alice, &a1).await;
    warm(s, &a1).await;
    let env = revoke(s, alice, &a1, &a1_id).await;
    assert_eq!(
        (&env["response"]["revoked"], &env["response"]["current"]),
        (&json!(1), &json!(true)),
        "{env}"
    );
    assert!(!alive(s, &a1).await);
    refused(
        &list(s, alice, &a1).await,
        "session does not exist or expired",
    );

    // Each revocation is in the audit log, by and about alice: two single
    // ones and one of the others, newest first.
    let env = s
        .call(
            "internal-audit-list",
            json!({"limit": 10, "user_id": alice, "event": "session.revoked"}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let events = env["response"]["events"]
        .as_array()
        .expect("events")
        .clone();
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(reasons, ["user-one", "user-others", "user-one"], "{env}");
    for e in &events {
        assert_eq!(e["actor_user_id"], json!(alice), "{e}");
        assert_eq!(e["outcome"], json!("ok"), "{e}");
    }
}

async fn sessions_in_sql(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone() as Arc<dyn Clock>, |_| {}).await;
    scenario(&s, &clock).await;
    s.stop().await;
    db.drop_db().await;
}

per_backend!(sessions_in_sql);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_redis() {
    let test = "my_sessions::redis";
    let Some(db) = TestDb::new(Backend::Sqlite, test).await else {
        return;
    };
    let Some((redis, cleanup)) = test_backend(test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone() as Arc<dyn Clock>, |o| {
        on_redis(o, &redis);
    })
    .await;
    scenario(&s, &clock).await;
    s.stop().await;
    db.drop_db().await;
    drop(cleanup);
}
