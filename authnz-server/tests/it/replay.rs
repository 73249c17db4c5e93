//! Opt-in replay protection (`requestttl`) over the real protocol with a
//! manual clock: fresh tokens pass once, a replayed, too old or future-dated
//! token gets 401 with the exact body, and with the default (off) the same
//! token may be sent again and again, as upstream.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Backend, TestDb, TestServer};
use authnz_api::{Clock as _, ManualClock};
use authnz_proto::errors::BODY_401;
use chrono::TimeDelta;
use serde_json::json;

fn body_at(s: &TestServer, unix: i64) -> String {
    let object = json!({
        "request": "session-exists",
        "body": {"session_token": "x"},
        "reqid": 7,
        "client_ipaddr": "10.9.9.9",
    });
    let plaintext = serde_json::to_vec(&object).unwrap();
    s.codec
        .seal_bytes_at(&plaintext, u64::try_from(unix).unwrap())
}

async fn status(s: &TestServer, body: &str) -> (u16, String) {
    let (st, b) = s.post_body(body.as_bytes()).await;
    (st, String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_old_and_future_tokens_are_refused() {
    let db = TestDb::new(Backend::Sqlite, "replay_on")
        .await
        .expect("sqlite");
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone(), |o| {
        o.request_ttl = Some(Duration::from_secs(60));
    })
    .await;
    let now = clock.now().and_utc().timestamp();
    let fresh = body_at(&s, now);
    assert_eq!(status(&s, &fresh).await.0, 200);
    // The very same token again: a replay.
    assert_eq!(status(&s, &fresh).await, (401, BODY_401.to_owned()));
    // A new token for the same request is fine (the reqid is not the key).
    assert_eq!(status(&s, &body_at(&s, now)).await.0, 200);
    // Age: 59 s old passes, 60 s old does not; 5 s ahead passes, 6 s not.
    assert_eq!(status(&s, &body_at(&s, now - 59)).await.0, 200);
    assert_eq!(status(&s, &body_at(&s, now - 60)).await.0, 401);
    assert_eq!(status(&s, &body_at(&s, now + 5)).await.0, 200);
    assert_eq!(status(&s, &body_at(&s, now + 6)).await.0, 401);
    // Once the window has passed, the old token is refused as too old.
    clock.advance(TimeDelta::seconds(61));
    assert_eq!(status(&s, &fresh).await.0, 401);
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_tokens_may_be_replayed_and_any_age() {
    let db = TestDb::new(Backend::Sqlite, "replay_off")
        .await
        .expect("sqlite");
    let s = TestServer::start(&db).await;
    let old = body_at(&s, 0);
    for _ in 0..3 {
        assert_eq!(status(&s, &old).await.0, 200);
    }
    s.stop().await;
    db.drop_db().await;
}
