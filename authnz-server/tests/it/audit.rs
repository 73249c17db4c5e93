//! The audit log (not upstream) through the real server and protocol, on
//! SQLite and PostgreSQL: a failed and a successful login recorded with the
//! right event, outcome, subject, request id and (truncated) client
//! address, and no password, token or e-mail in any stored row; keyset
//! pagination with `internal-audit-list`'s cursor, stable while events are
//! added, with its filters and refusals; the retention cleanup.

use std::sync::Arc;

use authnz_api::{AuditQuery, AuditStore as _, ManualClock};
use authnz_core::audit::AddressForm;
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::common::{Backend, TestDb, TestServer};

const EMAIL: &str = "audit.person@example.org";
const PASSWORD: &str = "Quasar-Tundra-Lantern-58";
const WRONG: &str = "Wrong-Password-Entirely-99";

async fn list(s: &TestServer, body: Value) -> Value {
    let env = s.call("internal-audit-list", body).await;
    assert_eq!(env["success"], json!(true), "{env}");
    env["response"].clone()
}

/// `user-login` from `ip` with a fresh anonymous session; the envelope.
async fn login_from(s: &TestServer, ip: &str, password: &str) -> (Value, String) {
    let token = s.new_session(Value::Null).await;
    let env = s
        .call_as(
            ip,
            "user-login",
            json!({"session_token": token, "email": EMAIL, "password": password}),
        )
        .await;
    (env, token)
}

fn events_of(reply: &Value) -> Vec<Value> {
    reply["events"].as_array().expect("events").clone()
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().expect("event").to_owned())
        .collect()
}

async fn login_failure_then_success(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let s = TestServer::start_with(&db, Arc::new(authnz_api::SystemClock), |o| {
        o.audit.address = AddressForm::Truncated;
    })
    .await;
    let uid = s.verified_user(EMAIL, PASSWORD).await;
    let (failed, failed_token) = login_from(&s, "203.0.113.77", WRONG).await;
    assert_eq!(failed["success"], json!(false), "{failed}");
    let (ok, ok_token) = login_from(&s, "2001:db8:5:6::1", PASSWORD).await;
    assert_eq!(ok["success"], json!(true), "{ok}");

    let reply = list(&s, json!({"user_id": uid, "limit": 10})).await;
    let events = events_of(&reply);
    assert_eq!(
        names(&events),
        [
            "login.succeeded",
            "login.failed",
            "user.verified",
            "user.signup"
        ],
        "{reply}"
    );
    assert_eq!(reply["next_cursor"], Value::Null);
    let (success, failure) = (&events[0], &events[1]);
    assert_eq!(success["outcome"], json!("ok"));
    assert_eq!(success["subject_user_id"], json!(uid));
    assert_eq!(success["actor_user_id"], json!(uid));
    assert_eq!(success["client_address"], json!("2001:db8:5::"));
    assert_eq!(success["reason"], Value::Null);
    assert_eq!(failure["outcome"], json!("failed"));
    assert_eq!(failure["subject_user_id"], json!(uid));
    assert_eq!(failure["reason"], json!("wrong-password"));
    assert_eq!(failure["client_address"], json!("203.0.113.0"));
    // The test client's reqid.
    assert_eq!(failure["request_id"], json!("42"));
    assert!(success["id"].as_i64() > failure["id"].as_i64());

    // An unknown e-mail: recorded without a subject.
    let token = s.new_session(Value::Null).await;
    s.call(
        "user-login",
        json!({"session_token": token, "email": "nobody@example.org", "password": WRONG}),
    )
    .await;
    let unknown = list(&s, json!({"event": "login.failed", "limit": 1})).await;
    let unknown = &events_of(&unknown)[0];
    assert_eq!(unknown["subject_user_id"], Value::Null, "{unknown}");
    assert_eq!(unknown["reason"], json!("unknown-user"));

    // No password, token or e-mail in any stored row, whatever the column.
    let rows = s
        .built
        .store
        .audit_events(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(rows.len() >= 5, "{rows:?}");
    let stored = format!("{rows:?}");
    for secret in [PASSWORD, WRONG, &failed_token, &ok_token, &token, EMAIL] {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
    assert!(!stored.contains("203.0.113.77"), "{stored}");
    s.stop().await;
    db.drop_db().await;
}

async fn pages_follow_the_cursor(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let uid = s.verified_user(EMAIL, PASSWORD).await;
    for _ in 0..5 {
        login_from(&s, "127.0.0.1", WRONG).await;
    }
    let query = |cursor: &Value| {
        let mut body = json!({"user_id": uid, "event": "login.failed", "limit": 2});
        if let Some(c) = cursor.as_str() {
            body["cursor"] = json!(c);
        }
        body
    };
    let mut cursor = Value::Null;
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let reply = list(&s, query(&cursor)).await;
        pages += 1;
        let events = events_of(&reply);
        assert!(events.len() <= 2, "{reply}");
        ids.extend(events.iter().map(|e| e["id"].as_i64().unwrap()));
        // A login failure between two pages: newer than every page.
        login_from(&s, "127.0.0.1", WRONG).await;
        cursor = reply["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
        assert!(cursor.is_string(), "{reply}");
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // The time window: everything before now, nothing from the far future.
    let all = list(
        &s,
        json!({"user_id": uid, "until": "2100-01-01T00:00:00", "limit": 1000}),
    )
    .await;
    assert_eq!(events_of(&all).len(), 2 + 5 + 3);
    let none = list(
        &s,
        json!({"user_id": uid, "since": "2100-01-01T00:00:00", "limit": 10}),
    )
    .await;
    assert_eq!(events_of(&none), Vec::<Value>::new());

    // Refusals: a clear failure reply each.
    for (body, reason) in [
        (json!({"limit": 0}), "limit must be between 1 and 1000"),
        (json!({"limit": 1001}), "limit must be between 1 and 1000"),
        (
            json!({"limit": 5, "event": "login.maybe"}),
            "unknown event type",
        ),
        (
            json!({"limit": 5, "cursor": "not-a-cursor"}),
            "invalid cursor",
        ),
        (json!({"limit": 5, "since": "yesterday"}), "since and until"),
    ] {
        let env = s.call("internal-audit-list", body.clone()).await;
        assert_eq!(env["success"], json!(false), "{body}: {env}");
        let got = env["response"]["failure_reason"]
            .as_str()
            .unwrap_or_default();
        assert!(got.contains(reason), "{body}: {env}");
    }
    // The schema: `limit` is required.
    let env = s.call("internal-audit-list", json!({})).await;
    assert_eq!(env["success"], json!(false), "{env}");
    s.stop().await;
    db.drop_db().await;
}

async fn retention_cleanup_deletes_old_events(backend: Backend, test: &'static str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(chrono::Utc::now().naive_utc()));
    let s = TestServer::start_with(&db, clock.clone(), |_| {}).await;
    let uid = s.verified_user(EMAIL, PASSWORD).await;
    login_from(&s, "127.0.0.1", WRONG).await;
    let old = events_of(&list(&s, json!({"user_id": uid, "limit": 100})).await).len();
    assert_eq!(old, 3);
    clock.advance(TimeDelta::days(40));
    login_from(&s, "127.0.0.1", WRONG).await;
    // Flushed by the listing, then the cleanup the server runs daily.
    assert_eq!(
        events_of(&list(&s, json!({"user_id": uid, "limit": 100})).await).len(),
        4
    );
    let ctx = &s.built.state.ctx;
    let deleted =
        authnz_server::cleanup::run_audit_once(ctx.audit_store.as_ref(), ctx.clock.as_ref(), 30)
            .await;
    // The seeded accounts' events are older too (none are recorded at seed
    // time), so exactly the three of this user.
    assert_eq!(deleted, 3);
    let left = events_of(&list(&s, json!({"user_id": uid, "limit": 100})).await);
    assert_eq!(names(&left), ["login.failed"]);
    s.stop().await;
    db.drop_db().await;
}

per_backend!(
    login_failure_then_success,
    pages_follow_the_cursor,
    retention_cleanup_deletes_old_events,
);
