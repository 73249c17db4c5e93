//! Rate limiting (PROTOCOL.md 4.1, 9.1) over the real protocol with a manual clock:
//! the burst is allowed, then 429 with the exact body and a `Retry-After`
//! that tells the truth, then recovery at the configured rate; per-type
//! limits, e-mail keys, `/health`, and nothing counted when it is off.

use std::sync::Arc;

use crate::common::{Backend, TestDb, TestServer};
use authnz_api::ManualClock;
use authnz_proto::errors::BODY_429;
use authnz_server::ratelimit::parse_ratelimits;
use chrono::TimeDelta;
use serde_json::{Value, json};

async fn start(db: &TestDb, ratelimits: &str) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let limits = parse_ratelimits(ratelimits).expect("valid");
    let s = TestServer::start_with(db, clock.clone(), move |o| o.rate_limits = limits).await;
    (s, clock)
}

/// Send one request; (status, Retry-After header if any, body text).
async fn send(s: &TestServer, request: &str, ip: &str, body: Value) -> (u16, Option<u64>, String) {
    let object = json!({"request": request, "body": body, "reqid": 1, "client_ipaddr": ip});
    let sealed = s.codec.seal(&object);
    let (status, head, body) = s
        .raw("POST", "/", Some("127.0.0.1"), sealed.as_bytes())
        .await;
    (
        status,
        retry_after(&head),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn retry_after(head: &str) -> Option<u64> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("retry-after")
            .then(|| v.trim().parse().expect("Retry-After is whole seconds"))
    })
}

/// How many of `n` requests get 200.
async fn count_ok(s: &TestServer, request: &str, ip: &str, body: Value, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if send(s, request, ip, body.clone()).await.0 == 200 {
            ok += 1;
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_then_429_then_recovery_at_the_rate() {
    let db = TestDb::new(Backend::Sqlite, "rl_burst")
        .await
        .expect("sqlite");
    let (s, clock) = start(&db, "session:30;burst:5").await;
    let body = json!({"session_token": "nope"});
    assert_eq!(
        count_ok(&s, "session-exists", "10.0.0.1", body.clone(), 5).await,
        5
    );
    let (status, retry, text) = send(&s, "session-exists", "10.0.0.1", body.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(text, BODY_429);
    // 30/min: one request every 2 s.
    assert_eq!(retry, Some(2));
    // Still limited just before the interval, refused requests do not count.
    clock.advance(TimeDelta::milliseconds(1999));
    assert_eq!(
        send(&s, "session-exists", "10.0.0.1", body.clone()).await.0,
        429
    );
    clock.advance(TimeDelta::milliseconds(1));
    assert_eq!(
        count_ok(&s, "session-exists", "10.0.0.1", body.clone(), 3).await,
        1
    );
    // Another address and another type are not affected.
    assert_eq!(
        count_ok(&s, "session-exists", "10.0.0.2", body.clone(), 1).await,
        1
    );
    assert_eq!(count_ok(&s, "session-new", "10.0.0.1", json!({"user_id": 2, "expires": "2099-01-01T00:00:00", "user_agent": "x", "ip_address": "1.1.1.1"}), 1).await, 1);
    // A quiet client recovers its whole burst.
    clock.advance(TimeDelta::minutes(5));
    assert_eq!(
        count_ok(&s, "session-exists", "10.0.0.1", body, 10).await,
        5
    );
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggressive_limits_and_overrides() {
    let db = TestDb::new(Backend::Sqlite, "rl_aggr")
        .await
        .expect("sqlite");
    // user-new keeps its built-in 5/min; user-list gets the override.
    let (s, clock) = start(&db, "user-list:3").await;
    let mut ok = 0;
    for i in 0..8 {
        let body = json!({"email": format!("u{i}@example.com"), "password": "Plover-Quince-Sextant-77", "full_name": "U"});
        let (st, retry, _) = send(&s, "user-new", "10.0.0.9", body).await;
        if st == 200 {
            ok += 1;
        } else {
            assert_eq!((st, retry), (429, Some(12)), "5/min: next one in 12 s");
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(
        count_ok(&s, "user-list", "10.0.0.9", json!({"user_id": 1}), 10).await,
        3
    );
    clock.advance(TimeDelta::seconds(20));
    assert_eq!(
        count_ok(&s, "user-list", "10.0.0.9", json!({"user_id": 1}), 10).await,
        1
    );
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_requests_are_also_limited_per_email() {
    let db = TestDb::new(Backend::Sqlite, "rl_email")
        .await
        .expect("sqlite");
    let (s, _clock) = start(&db, "user-lookup-email:4").await;
    // Four addresses, one e-mail: the e-mail's bucket runs out after 4.
    let mut ok = 0;
    for i in 0..8 {
        let (st, _, _) = send(
            &s,
            "user-lookup-email",
            &format!("10.0.1.{i}"),
            json!({"email": "who@example.com"}),
        )
        .await;
        ok += usize::from(st == 200);
    }
    assert_eq!(ok, 4);
    // A different e-mail from a fresh address is fine.
    assert_eq!(
        send(
            &s,
            "user-lookup-email",
            "10.0.2.1",
            json!({"email": "other@example.com"})
        )
        .await
        .0,
        200
    );
    // No e-mail at all: 429 with upstream's fixed Retry-After.
    let (st, retry, text) = send(&s, "user-lookup-email", "10.0.2.2", json!({"email": ""})).await;
    assert_eq!((st, retry, text.as_str()), (429, Some(180), BODY_429));
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_limited_by_tcp_address_and_not_when_off() {
    let db = TestDb::new(Backend::Sqlite, "rl_health")
        .await
        .expect("sqlite");
    let (s, _clock) = start(&db, "apikey:60;burst:3").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (st, head, _) = s.raw("GET", "/health", Some("127.0.0.1"), b"").await;
        statuses.push((st, retry_after(&head)));
    }
    assert_eq!(
        statuses,
        vec![
            (200, None),
            (200, None),
            (200, None),
            (429, Some(1)),
            (429, Some(1))
        ]
    );
    s.stop().await;
    let (s, _clock) = start(&db, "none").await;
    for _ in 0..5 {
        assert_eq!(s.raw("GET", "/health", Some("127.0.0.1"), b"").await.0, 200);
    }
    // Off: nothing counted, not even a hundred requests of an aggressive type.
    assert_eq!(
        count_ok(
            &s,
            "user-logout",
            "10.0.0.1",
            json!({"session_token": "x", "user_id": 5}),
            100
        )
        .await,
        100
    );
    s.stop().await;
    db.drop_db().await;
}
