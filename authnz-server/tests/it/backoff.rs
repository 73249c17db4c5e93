//! The login back-off and automatic lock of PROTOCOL.md 4.2 over the real protocol,
//! on SQLite and PostgreSQL, with a manual clock and a manual sleeper: no
//! test waits for a back-off delay, each requested delay is checked instead.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Backend, TestDb, TestServer, login};
use authnz_api::{Clock as _, ManualClock, MemoryLoginThrottle, UserStore as _};
use authnz_core::context::LockoutSettings;
use authnz_core::lockout::LOCKED_MESSAGE;
use authnz_core::sleeper::ManualSleeper;
use chrono::TimeDelta;
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";
const LOCK_TIME: Duration = Duration::from_secs(3600);

struct Rig {
    s: TestServer,
    clock: Arc<ManualClock>,
    sleeper: Arc<ManualSleeper>,
}

async fn start(db: &TestDb, tries: u32, clock: Arc<ManualClock>) -> Rig {
    let sleeper = Arc::new(ManualSleeper::new());
    let sl = sleeper.clone();
    let s = TestServer::start_with(db, clock.clone(), move |o| {
        o.sleeper = sl;
        o.lockout = LockoutSettings {
            tries,
            lock_time: LOCK_TIME,
        };
    })
    .await;
    Rig { s, clock, sleeper }
}

/// Back-off delays recorded since the last call (unlock-timer waits, which
/// are at least `LOCK_TIME`, are left out).
fn take_delays(sleeper: &ManualSleeper) -> Vec<f64> {
    let d = sleeper
        .requested()
        .into_iter()
        .filter(|d| *d < LOCK_TIME)
        .map(|d| d.as_secs_f64())
        .collect();
    sleeper.clear();
    d
}

async fn passcheck(s: &TestServer, email: &str, password: &str) -> Value {
    s.call(
        "user-passcheck-nosession",
        json!({"email": email, "password": password}),
    )
    .await
}

fn is_lock_response(env: &Value) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert!(env.get("failure_reason").is_none(), "{env}");
    assert_eq!(env["messages"], json!([LOCKED_MESSAGE]));
    assert_eq!(
        env["response"],
        json!({"success": false, "user_id": null, "messages": [LOCKED_MESSAGE]})
    );
}

/// Delays of 1, 1.5, 2.25 ... seconds capped at 40, for an unknown e-mail
/// too; the lock response after `userlocktries` failures, with no delay.
async fn delays_grow_and_cap(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let r = start(&db, 12, Arc::new(ManualClock::starting_now())).await;
    let mut want = 1.0_f64;
    for n in 1..=12 {
        let env = if n % 2 == 0 {
            login(&r.s, "nobody@example.org", PASSWORD).await
        } else {
            passcheck(&r.s, "nobody@example.org", PASSWORD).await
        };
        assert_eq!(
            env["failure_reason"],
            json!("user does not exist or password doesn't match"),
            "failure {n}: the normal response, after the delay"
        );
        let delays = take_delays(&r.sleeper);
        assert_eq!(delays.len(), 1, "failure {n}: {delays:?}");
        assert!(
            (delays[0] - want.min(40.0)).abs() < 1e-9,
            "failure {n}: {delays:?}"
        );
        want *= 1.5;
    }
    // The 13th: nothing to lock, but the same lock response (no enumeration).
    is_lock_response(&passcheck(&r.s, "nobody@example.org", PASSWORD).await);
    assert!(
        take_delays(&r.sleeper).is_empty(),
        "no delay with the lock response"
    );
    r.s.stop().await;
    db.drop_db().await;
}

/// Lock after `userlocktries`, sessions gone, no login even with the right
/// password; the lock lifts after `userlocktime` on the next request; a
/// success clears the counter.
async fn lock_unlock_and_clear(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let r = start(&db, 3, Arc::new(ManualClock::starting_now())).await;
    let s = &r.s;
    let email = "victim@example.org";
    let uid = s.verified_user(email, PASSWORD).await;
    let session = s.new_session(json!(uid)).await;

    // A success before any failure, then failures count from 1.
    assert_eq!(passcheck(s, email, PASSWORD).await["success"], json!(true));
    for (n, want) in [(1, 1.0), (2, 1.5)] {
        let env = login(s, email, "wrong-password-1").await;
        assert_eq!(
            env["failure_reason"],
            json!("user does not exist or password doesn't match"),
            "{n}"
        );
        assert_eq!(take_delays(&r.sleeper), [want]);
    }
    // Schema failures count too (email present).
    let env = s
        .call("user-passcheck-nosession", json!({"email": email}))
        .await;
    assert_eq!(
        env["response"]["response"]["failure_reason"],
        json!("invalid request parameters")
    );
    assert_eq!(take_delays(&r.sleeper), [2.25]);
    // Without body.email, upstream's back-off fails with 400.
    let err = s
        .send_object(
            &json!({"request": "user-login", "body": {"session_token": "x", "password": "y"},
                             "reqid": 1, "client_ipaddr": "127.0.0.1"}),
        )
        .await
        .expect_err("400");
    assert_eq!(err.0, 400);

    // The fourth failure locks.
    let locked_at = r.clock.now();
    is_lock_response(&passcheck(s, email, "wrong-password-1").await);
    assert!(take_delays(&r.sleeper).is_empty());
    let user = s.built.store.user_by_id(uid).await.unwrap().unwrap();
    assert_eq!((user.user_role.as_str(), user.is_active), ("locked", false));
    assert_eq!(
        user.locked_until,
        Some(locked_at + TimeDelta::seconds(3600))
    );
    let env = s
        .call("session-exists", json!({"session_token": session}))
        .await;
    assert_eq!(
        env["success"],
        json!(false),
        "a locked user loses its sessions"
    );
    // Even the right password now gets the lock response.
    is_lock_response(&login(s, email, PASSWORD).await);

    // Not yet: one second early.
    r.clock.advance(TimeDelta::seconds(3599));
    is_lock_response(&login(s, email, PASSWORD).await);
    assert_eq!(
        s.built
            .store
            .user_by_id(uid)
            .await
            .unwrap()
            .unwrap()
            .user_role,
        "locked"
    );

    // After userlocktime the next login lifts the lock and succeeds, which
    // clears the counter.
    r.clock.advance(TimeDelta::seconds(1));
    let env = login(s, email, PASSWORD).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["user_role"], json!("authenticated"));
    let user = s.built.store.user_by_id(uid).await.unwrap().unwrap();
    assert_eq!((user.is_active, user.locked_until), (true, None));
    take_delays(&r.sleeper);
    let env = passcheck(s, email, "wrong-password-1").await;
    assert_eq!(
        env["failure_reason"],
        json!("user does not exist or password doesn't match")
    );
    assert_eq!(take_delays(&r.sleeper), [1.0], "the counter was cleared");
    r.s.stop().await;
    db.drop_db().await;
}

/// The in-process timer lifts the lock when `userlocktime` has passed, with
/// no request touching the user.
async fn unlock_timer(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let r = start(&db, 1, Arc::new(ManualClock::starting_now())).await;
    let email = "timer@example.org";
    let uid = r.s.verified_user(email, PASSWORD).await;
    passcheck(&r.s, email, "wrong-password-1").await;
    r.sleeper.hold();
    is_lock_response(&passcheck(&r.s, email, "wrong-password-1").await);
    // The timer is armed and waiting for userlocktime (plus slack).
    r.sleeper.until_waiting(1).await;
    assert!(r.sleeper.requested().iter().any(|d| *d >= LOCK_TIME));
    r.clock.advance(TimeDelta::seconds(3600));
    r.sleeper.release();
    let mut user = None;
    for _ in 0..500 {
        let u = r.s.built.store.user_by_id(uid).await.unwrap().unwrap();
        if u.is_active {
            user = Some(u);
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let user = user.expect("the timer lifted the lock");
    assert_eq!(
        (user.user_role.as_str(), user.locked_until),
        ("authenticated", None)
    );
    r.s.stop().await;
    db.drop_db().await;
}

/// a lock whose time ran out while the server was down is lifted at
/// start-up.
async fn restart_lifts_expired_lock(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let r = start(&db, 1, clock.clone()).await;
    let email = "restart@example.org";
    let uid = r.s.verified_user(email, PASSWORD).await;
    passcheck(&r.s, email, "x-wrong-password").await;
    is_lock_response(&passcheck(&r.s, email, "x-wrong-password").await);
    r.s.stop().await;

    // Restarted before the end: still locked (and the timer re-armed).
    let r = start(&db, 1, clock.clone()).await;
    let u = r.s.built.store.user_by_id(uid).await.unwrap().unwrap();
    assert_eq!(u.user_role, "locked");
    r.s.stop().await;

    clock.advance(TimeDelta::seconds(3601));
    let r = start(&db, 1, clock.clone()).await;
    let u = r.s.built.store.user_by_id(uid).await.unwrap().unwrap();
    assert_eq!(
        (u.user_role.as_str(), u.is_active, u.locked_until),
        ("authenticated", true, None)
    );
    // A fresh process has a fresh counter: the right password works.
    assert_eq!(login(&r.s, email, PASSWORD).await["success"], json!(true));
    r.s.stop().await;
    db.drop_db().await;
}

/// While one client is held in its back-off delay, other requests are
/// served at once.
async fn delay_does_not_block_others(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let r = start(&db, 10, Arc::new(ManualClock::starting_now())).await;
    held_client(&r).await;
    r.s.stop().await;
    db.drop_db().await;
}

async fn held_client(r: &Rig) {
    let s = &r.s;
    let email = "busy@example.org";
    s.verified_user(email, PASSWORD).await;
    let session = s.new_session(Value::Null).await;

    r.sleeper.hold();
    let delayed = passcheck(s, email, "wrong-password-1");
    tokio::pin!(delayed);
    tokio::select! {
        env = &mut delayed => panic!("answered while its delay is held: {env}"),
        () = r.sleeper.until_waiting(1) => {}
    }
    // Served while the other request waits (the server would answer within
    // milliseconds; 10 s only guards against a hang).
    let env = tokio::time::timeout(
        Duration::from_secs(10),
        s.call("session-exists", json!({"session_token": session})),
    )
    .await
    .expect("session-exists is served during another client's back-off");
    assert_eq!(env["success"], json!(true));
    let env = tokio::time::timeout(Duration::from_secs(10), passcheck(s, email, PASSWORD))
        .await
        .expect("a good password is served too");
    assert_eq!(env["success"], json!(true));
    assert_eq!(
        r.sleeper.requested().len(),
        1,
        "the delayed request is still waiting"
    );

    r.sleeper.release();
    let env = delayed.await;
    assert_eq!(
        env["failure_reason"],
        json!("user does not exist or password doesn't match")
    );
}

/// Issue 11, defect 4: a victim has 2 failures; then more junk logins than
/// the old 1,000-entry table held (schema failures, so no Argon2, each with
/// its own e-mail and client address); the victim's next wrong password
/// must still be failure 3, and the one after it must lock.
async fn junk_flood_cannot_reset_a_count(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let r = start(&db, 3, Arc::new(ManualClock::starting_now())).await;
    let s = &r.s;
    let email = "victim@example.org";
    let uid = s.verified_user(email, PASSWORD).await;
    for _ in 0..2 {
        login(s, email, "wrong-password-1").await;
    }
    assert_eq!(take_delays(&r.sleeper), vec![1.0, 1.5]);

    const JUNK: usize = 1_100;
    for i in 0..JUNK {
        let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
        // No password: fails the schema before any Argon2 work.
        let env = s
            .call_as(
                &ip,
                "user-passcheck-nosession",
                json!({"email": format!("junk{i}@example.net")}),
            )
            .await;
        assert_eq!(env["success"], json!(false));
    }
    r.sleeper.clear();

    let env = login(s, email, "wrong-password-1").await;
    assert_eq!(
        env["failure_reason"],
        json!("user does not exist or password doesn't match"),
        "failure 3 is still a normal failure"
    );
    assert_eq!(
        take_delays(&r.sleeper),
        vec![2.25],
        "the victim's count survived the flood: this is failure 3"
    );
    is_lock_response(&login(s, email, "wrong-password-1").await);
    let user = s
        .built
        .state
        .ctx
        .users
        .user_by_id(uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user_role, "locked", "failure 4 locked the account");
    r.s.stop().await;
    db.drop_db().await;
}

/// At the in-process throttle's bound (here: no room at all), an account's
/// failure cannot be counted and locks at once instead of going uncounted;
/// an unknown e-mail still gets the normal delays.
async fn full_throttle_locks_instead_of_forgetting(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let sleeper = Arc::new(ManualSleeper::new());
    let sl = sleeper.clone();
    let s = TestServer::start_with(&db, Arc::new(ManualClock::starting_now()), move |o| {
        o.sleeper = sl;
        o.throttle = Arc::new(MemoryLoginThrottle::new(1, 1 << 20));
        o.lockout = LockoutSettings {
            tries: 5,
            lock_time: LOCK_TIME,
        };
    })
    .await;
    let email = "full@example.org";
    let uid = s.verified_user(email, PASSWORD).await;
    for want in [1.0, 1.5] {
        let env = passcheck(&s, "nobody@example.org", PASSWORD).await;
        assert_eq!(env["success"], json!(false));
        assert_eq!(take_delays(&sleeper), vec![want]);
    }
    is_lock_response(&login(&s, email, "wrong-password-1").await);
    assert!(take_delays(&sleeper).is_empty());
    let user = s
        .built
        .state
        .ctx
        .users
        .user_by_id(uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user_role, "locked");
    s.stop().await;
    db.drop_db().await;
}

per_backend!(
    delays_grow_and_cap,
    lock_unlock_and_clear,
    unlock_timer,
    restart_lifts_expired_lock,
    delay_does_not_block_others,
    junk_flood_cannot_reset_a_count,
    full_throttle_locks_instead_of_forgetting
);
