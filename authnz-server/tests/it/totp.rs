//! Second factors over the real protocol (PROTOCOL.md 3.2): TOTP enrolment,
//! the two-step login, replay, recovery codes, the back-off and lock, and
//! disabling, on SQLite and PostgreSQL, and the second step with sessions
//! in Redis. Codes are computed here, from the base32 secret the server
//! hands out, with `ring`'s HMAC-SHA-1 (RFC 6238 written out), never through
//! the server's TOTP code. A manual clock moves time from one 30-second
//! step to the next; a manual sleeper records back-off delays.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{Backend, TestDb, TestServer, alive, on_redis};
use authnz_api::{Clock, ManualClock};
use authnz_core::context::LockoutSettings;
use authnz_core::lockout::LOCKED_MESSAGE;
use authnz_core::sleeper::ManualSleeper;
use authnz_store_redis::testing::test_backend;
use chrono::TimeDelta;
use ring::hmac;
use serde_json::{Value, json};

const EMAIL: &str = "tess@example.org";
const PASSWORD: &str = "Gannet-Orchard-Velvet-38";
const LOCK_TIME: Duration = Duration::from_secs(3600);
const SECOND_FACTOR_REQUIRED: &str = "A second factor is required.";

/// RFC 4648 base32 (upper case, no padding) to bytes.
pub(crate) fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32 char");
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s) of `secret` at Unix
/// time `unix`.
pub(crate) fn totp_at(secret: &[u8], unix: i64) -> String {
    let counter = (unix / 30) as u64;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[19] & 0x0f);
    let value =
        u32::from_be_bytes([h[offset], h[offset + 1], h[offset + 2], h[offset + 3]]) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

#[test]
fn independent_totp_matches_rfc_6238() {
    let secret = b"12345678901234567890";
    assert_eq!(totp_at(secret, 59), "287082");
    assert_eq!(totp_at(secret, 1_111_111_109), "081804");
    assert_eq!(totp_at(secret, 2_000_000_000), "279037");
    assert_eq!(
        base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        secret.to_vec()
    );
}

struct Rig {
    s: TestServer,
    clock: Arc<ManualClock>,
    sleeper: Arc<ManualSleeper>,
}

impl Rig {
    async fn start(
        db: &TestDb,
        tweak: impl FnOnce(&mut authnz_server::app::ServerOptions),
    ) -> Self {
        let clock = Arc::new(ManualClock::starting_now());
        let sleeper = Arc::new(ManualSleeper::new());
        let sl = sleeper.clone();
        let s = TestServer::start_with(db, clock.clone() as Arc<dyn Clock>, move |o| {
            o.sleeper = sl;
            o.lockout = LockoutSettings {
                tries: 3,
                lock_time: LOCK_TIME,
            };
            tweak(o);
        })
        .await;
        Self { s, clock, sleeper }
    }

    /// The code of `secret` now.
    fn code(&self, secret: &[u8]) -> String {
        totp_at(secret, self.clock.now().and_utc().timestamp())
    }

    /// On to the next 30-second step.
    fn next_step(&self) {
        self.clock.advance(TimeDelta::seconds(30));
    }

    /// Back-off delays since the last call (unlock timers left out).
    fn delays(&self) -> Vec<f64> {
        let d = self
            .sleeper
            .requested()
            .into_iter()
            .filter(|d| *d < LOCK_TIME)
            .map(|d| d.as_secs_f64())
            .collect();
        self.sleeper.clear();
        d
    }

    /// `user-login` from a new anonymous session: (session token, reply).
    async fn login(&self, password: &str) -> (String, Value) {
        let token = self.s.new_session(Value::Null).await;
        let env = self
            .s
            .call(
                "user-login",
                json!({"session_token": token, "email": EMAIL, "password": password}),
            )
            .await;
        (token, env)
    }

    /// `user-login` that must ask for the second factor: (token, ticket).
    async fn first_step(&self, kinds: Value) -> (String, String) {
        let (token, env) = self.login(PASSWORD).await;
        assert_eq!(env["success"], json!(false), "{env}");
        assert_eq!(env["failure_reason"], json!("second factor required"));
        assert_eq!(env["messages"], json!([SECOND_FACTOR_REQUIRED]));
        let r = &env["response"];
        assert_eq!(r["second_factor"], kinds, "{env}");
        assert!(r["user_id"].is_i64(), "{env}");
        let ticket = r["login_ticket"].as_str().expect("ticket").to_owned();
        assert!(ticket.len() >= 40, "{ticket}");
        assert!(
            alive(&self.s, &token).await,
            "the session waits for the second step"
        );
        assert!(
            self.delays().is_empty(),
            "a right password is not a failure"
        );
        (token, ticket)
    }

    async fn second_step(&self, token: &str, ticket: &str, factor: (&str, &str)) -> Value {
        let mut body = json!({"session_token": token, "login_ticket": ticket});
        body[factor.0] = json!(factor.1);
        self.s.call("user-login-second-factor", body).await
    }
}

fn ok(env: &Value) {
    assert_eq!(env["success"], json!(true), "{env}");
}

fn refused(env: &Value, reason: &str) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(env["failure_reason"], json!(reason), "{env}");
}

/// Enroll (replacing a pending enrolment) and confirm; returns the secret
/// and the recovery codes.
async fn enable_totp(r: &Rig, uid: i64, keep: &str) -> (Vec<u8>, Vec<String>) {
    let s = &r.s;
    let env = s
        .call(
            "user-totp-enroll",
            json!({"user_id": uid, "password": "wrong-Password-00"}),
        )
        .await;
    refused(&env, "invalid password");
    assert_eq!(r.delays(), vec![1.0], "a wrong password counts");

    let first = s
        .call(
            "user-totp-enroll",
            json!({"user_id": uid, "password": PASSWORD}),
        )
        .await;
    ok(&first);
    let first_secret = base32_decode(first["response"]["secret_base32"].as_str().unwrap());
    let env = s
        .call(
            "user-totp-enroll",
            json!({"user_id": uid, "password": PASSWORD}),
        )
        .await;
    ok(&env);
    let b32 = env["response"]["secret_base32"].as_str().unwrap();
    let uri = env["response"]["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={b32}")), "{uri}");
    assert!(uri.contains("tess%40example.org"), "{uri}");
    let secret = base32_decode(b32);
    assert_eq!(secret.len(), 20);
    assert_ne!(
        secret, first_secret,
        "a new enrolment replaces the pending one"
    );

    // Not enabled yet: the password alone logs in.
    let (_, env) = r.login(PASSWORD).await;
    ok(&env);

    let env = s
        .call(
            "user-totp-confirm",
            json!({"user_id": uid, "totp_code": r.code(&first_secret)}),
        )
        .await;
    refused(&env, "wrong code");
    let env = s
        .call(
            "user-totp-confirm",
            json!({"user_id": uid, "totp_code": r.code(&secret), "session_token": keep}),
        )
        .await;
    ok(&env);
    let codes: Vec<String> = env["response"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10);

    let env = s
        .call(
            "user-totp-enroll",
            json!({"user_id": uid, "password": PASSWORD}),
        )
        .await;
    refused(&env, "totp already enabled");
    (secret, codes)
}

/// The whole life of a TOTP authenticator through the protocol.
async fn totp_life(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let r = Rig::start(&db, |_| {}).await;
    let s = &r.s;
    let uid = s.verified_user(EMAIL, PASSWORD).await;
    let kept = s.new_session(json!(uid)).await;
    let other = s.new_session(json!(uid)).await;

    let (secret, codes) = enable_totp(&r, uid, &kept).await;
    assert!(alive(s, &kept).await, "the caller's session stays");
    assert!(!alive(s, &other).await, "enabling ends the other sessions");

    // The password step asks for the second factor.
    let (token, ticket) = r.first_step(json!(["totp", "recovery"])).await;
    // The code accepted by the confirmation is refused again (replay).
    let env = r
        .second_step(&token, &ticket, ("totp_code", &r.code(&secret)))
        .await;
    refused(&env, "wrong second factor");
    assert_eq!(r.delays(), vec![1.0], "a refused code counts");
    // Bound to its session.
    let stranger = s.new_session(Value::Null).await;
    r.next_step();
    let code = r.code(&secret);
    let env = r
        .second_step(&stranger, &ticket, ("totp_code", &code))
        .await;
    refused(&env, "invalid login ticket");
    let env = r
        .second_step(&token, "not-a-ticket", ("totp_code", &code))
        .await;
    refused(&env, "invalid login ticket");
    let env = s
        .call(
            "user-login-second-factor",
            json!({"session_token": token, "login_ticket": ticket}),
        )
        .await;
    refused(&env, "one factor needed");
    // The right code of the next step logs in, as `user-login` would.
    let env = r.second_step(&token, &ticket, ("totp_code", &code)).await;
    ok(&env);
    assert_eq!(env["messages"], json!(["Login successful."]));
    assert_eq!(env["response"]["user_id"], json!(uid));
    assert_eq!(env["response"]["user_role"], json!("authenticated"));
    assert!(!alive(s, &token).await, "the pre-login session is consumed");
    assert!(r.delays().is_empty());
    // The ticket was used up.
    let env = r.second_step(&token, &ticket, ("totp_code", &code)).await;
    refused(&env, "invalid login ticket");
    // The same code on a new ticket: refused (replay).
    let (token, ticket) = r.first_step(json!(["totp", "recovery"])).await;
    let env = r.second_step(&token, &ticket, ("totp_code", &code)).await;
    refused(&env, "wrong second factor");
    assert_eq!(r.delays(), vec![1.0]);

    // A recovery code works once, typed any way.
    let typed = codes[0].to_uppercase().replace('-', " ");
    let env = r
        .second_step(&token, &ticket, ("recovery_code", &typed))
        .await;
    ok(&env);
    let (token, ticket) = r.first_step(json!(["totp", "recovery"])).await;
    let env = r
        .second_step(&token, &ticket, ("recovery_code", &codes[0]))
        .await;
    refused(&env, "wrong second factor");
    assert_eq!(r.delays(), vec![1.0]);

    // A ticket ends after five minutes.
    r.clock.advance(TimeDelta::seconds(301));
    let env = r
        .second_step(&token, &ticket, ("totp_code", &r.code(&secret)))
        .await;
    refused(&env, "invalid login ticket");

    // Wrong codes count toward the lock, as wrong passwords do (one
    // failure, the reused recovery code, is counted already; a right
    // password in between clears nothing).
    assert!(r.delays().is_empty(), "an ended ticket is not a guess");
    let (token, ticket) = r.first_step(json!(["totp", "recovery"])).await;
    for want in [1.5, 2.25] {
        let env = r
            .second_step(&token, &ticket, ("totp_code", "000000"))
            .await;
        refused(&env, "wrong second factor");
        assert_eq!(r.delays(), vec![want]);
    }
    let env = r
        .second_step(&token, &ticket, ("totp_code", "000001"))
        .await;
    assert_eq!(env["messages"], json!([LOCKED_MESSAGE]), "{env}");
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
    // Locked: the right code does not log in, nor does the password.
    r.next_step();
    let env = r
        .second_step(&token, &ticket, ("totp_code", &r.code(&secret)))
        .await;
    refused(&env, "user exists but is inactive");
    let (_, env) = r.login(PASSWORD).await;
    assert_eq!(env["success"], json!(false), "{env}");
    assert!(env["response"].get("login_ticket").is_none(), "{env}");

    // After the lock time the account logs in again with both steps.
    r.clock
        .advance(TimeDelta::from_std(LOCK_TIME).unwrap() + TimeDelta::seconds(1));
    r.delays();
    let (token, ticket) = r.first_step(json!(["totp", "recovery"])).await;
    let env = r
        .second_step(&token, &ticket, ("totp_code", &r.code(&secret)))
        .await;
    ok(&env);

    // Disable: needs the password and a fresh code; ends the other sessions.
    r.next_step();
    let kept = s.new_session(json!(uid)).await;
    let other = s.new_session(json!(uid)).await;
    let env = s
        .call(
            "user-totp-disable",
            json!({"user_id": uid, "password": PASSWORD, "totp_code": "123456x"}),
        )
        .await;
    refused(&env, "wrong code");
    let env = s
        .call(
            "user-totp-disable",
            json!({"user_id": uid, "password": "wrong-Password-00", "totp_code": r.code(&secret)}),
        )
        .await;
    refused(&env, "invalid password");
    assert_eq!(r.delays(), vec![1.0, 1.5]);
    let env = s
        .call(
            "user-totp-disable",
            json!({"user_id": uid, "password": PASSWORD, "totp_code": r.code(&secret), "session_token": kept}),
        )
        .await;
    ok(&env);
    assert!(alive(s, &kept).await);
    assert!(!alive(s, &other).await, "disabling ends the other sessions");
    // Back to one step.
    let (_, env) = r.login(PASSWORD).await;
    ok(&env);
    assert_eq!(env["response"]["user_id"], json!(uid));
    let env = s
        .call(
            "user-totp-disable",
            json!({"user_id": uid, "password": PASSWORD, "totp_code": r.code(&secret)}),
        )
        .await;
    refused(&env, "totp not enabled");

    // The audit log has the factor's life and the second steps.
    let ctx = &s.built.state.ctx;
    assert!(ctx.audit_log.flush(Duration::from_secs(10)).await);
    let events = ctx
        .audit_store
        .audit_events(&authnz_api::AuditQuery {
            subject_user_id: Some(uid),
            event: None,
            since: None,
            until: None,
            before_id: None,
            limit: 1000,
        })
        .await
        .unwrap();
    let seen: Vec<(String, Option<String>)> =
        events.into_iter().map(|e| (e.event, e.reason)).collect();
    for want in [
        ("second_factor.enabled", Some("totp")),
        ("login.succeeded", Some("totp")),
        ("login.succeeded", Some("recovery-code")),
        ("login.failed", Some("wrong-second-factor")),
        ("second_factor.disabled", Some("totp")),
    ] {
        let want = (want.0.to_owned(), want.1.map(str::to_owned));
        assert!(seen.contains(&want), "{want:?} not in {seen:?}");
    }
    r.s.stop().await;
    db.drop_db().await;
}

/// Without a second factor nothing changes: the password step logs in
/// and consumes the session, and unknown users or bad input are refused
/// without a panic.
async fn no_factor_and_bad_input(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let r = Rig::start(&db, |_| {}).await;
    let s = &r.s;
    let uid = s.verified_user(EMAIL, PASSWORD).await;
    let (token, env) = r.login(PASSWORD).await;
    ok(&env);
    assert_eq!(
        env["response"],
        json!({"success": true, "messages": ["Login successful."], "user_id": uid, "user_role": "authenticated"})
    );
    assert!(!alive(s, &token).await);
    for (request, body, reason) in [
        (
            "user-totp-enroll",
            json!({"user_id": 999, "password": PASSWORD}),
            "user does not exist or is inactive",
        ),
        (
            "user-totp-confirm",
            json!({"user_id": uid, "totp_code": "123456"}),
            "no pending totp",
        ),
        (
            "user-totp-confirm",
            json!({"user_id": 999, "totp_code": "123456"}),
            "user does not exist or is inactive",
        ),
        (
            "user-login-second-factor",
            json!({"session_token": "x\u{0}", "login_ticket": "\u{0}", "totp_code": "1"}),
            "invalid login ticket",
        ),
        (
            "user-login-second-factor",
            json!({"session_token": "x", "login_ticket": "y", "totp_code": "1", "recovery_code": "2"}),
            "one factor needed",
        ),
    ] {
        let env = s.call(request, body).await;
        refused(&env, reason);
    }
    let env = s
        .call(
            "user-totp-enroll",
            json!({"user_id": "1", "password": PASSWORD}),
        )
        .await;
    assert_eq!(env["success"], json!(false), "{env}");
    assert!(
        env["response"]["response"]["problems"].is_array(),
        "a schema failure: {env}"
    );
    r.s.stop().await;
    db.drop_db().await;
}

per_backend!(totp_life, no_factor_and_bad_input);

/// Sessions in Redis, tickets in SQL: the second step checks the session
/// in Redis and consumes it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_step_with_sessions_in_redis() {
    let test = "sqlite::second_step_with_sessions_in_redis";
    let Some(db) = TestDb::new(Backend::Sqlite, test).await else {
        return;
    };
    let Some((redis, cleanup)) = test_backend(test).await else {
        db.drop_db().await;
        return;
    };
    let r = Rig::start(&db, |o| on_redis(o, &redis)).await;
    let s = &r.s;
    let uid = s.verified_user(EMAIL, PASSWORD).await;
    let kept = s.new_session(json!(uid)).await;
    let other = s.new_session(json!(uid)).await;
    let (secret, _) = enable_totp(&r, uid, &kept).await;
    assert!(alive(s, &kept).await);
    assert!(!alive(s, &other).await);
    r.next_step();
    let (token, ticket) = r.first_step(json!(["totp", "recovery"])).await;
    let env = r
        .second_step(&token, &ticket, ("totp_code", &r.code(&secret)))
        .await;
    ok(&env);
    assert!(!alive(s, &token).await);
    assert_eq!(crate::common::sql_session_rows(s).await.0, 0);
    r.s.stop().await;
    db.drop_db().await;
    drop(cleanup);
}
