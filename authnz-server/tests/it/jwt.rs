//! `session-jwt-issue` and `GET /.well-known/jwks.json` (not upstream)
//! through the real server and protocol, on SQLite and PostgreSQL: tokens
//! verify against the published keys (checked here with `ring` straight
//! from the JWKS; the e2e suite checks them with PyJWT), claims and the
//! lifetime cap, refusals (anonymous, unknown, expired sessions, bad
//! arguments), rotation through `authnzrv jwks rotate` picked up by a
//! running server within its reload interval, and private keys sealed with
//! the server secret.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestDb, TestServer, login};
use authnz_api::{ManualClock, SigningKeyStore as _, SystemClock};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_authnzrv");

/// The JWKS as served, with the status and head.
async fn fetch_jwks(s: &TestServer) -> Value {
    let (status, head, body) = s
        .raw("GET", "/.well-known/jwks.json", Some("127.0.0.1"), b"")
        .await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    serde_json::from_slice(&body).expect("JWKS is JSON")
}

fn b64_json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// Verify `jwt` against `jwks` (signature by the key its `kid` names);
/// returns (header, claims) or why it does not verify.
fn verify(jwt: &str, jwks: &Value) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not three parts".into());
    }
    let header = b64_json(parts[0]);
    if header["alg"] != json!("EdDSA") {
        return Err(format!("alg {}", header["alg"]));
    }
    let kid = header["kid"].as_str().ok_or("no kid")?;
    let key = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == json!(kid))
        .ok_or_else(|| format!("kid {kid} not published"))?;
    let x = URL_SAFE_NO_PAD
        .decode(key["x"].as_str().ok_or("no x")?)
        .map_err(|e| e.to_string())?;
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|e| e.to_string())?;
    let input = format!("{}.{}", parts[0], parts[1]);
    UnparsedPublicKey::new(&ED25519, x)
        .verify(input.as_bytes(), &signature)
        .map_err(|_| "bad signature".to_owned())?;
    Ok((header, b64_json(parts[1])))
}

async fn issue(s: &TestServer, token: &str, audience: &str, secs: i64) -> Value {
    s.call(
        "session-jwt-issue",
        json!({"session_token": token, "audience": audience, "expires_seconds": secs}),
    )
    .await
}

fn jwt_of(env: &Value) -> String {
    assert_eq!(env["success"], json!(true), "{env}");
    env["response"]["jwt"].as_str().expect("jwt").to_owned()
}

/// A signed-in session of the superuser (user 1), as a frontend makes one
/// after `user-login` succeeds.
async fn admin_session(s: &TestServer) -> String {
    let env = login(s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["user_id"], json!(1), "{env}");
    s.new_session(json!(1)).await
}

async fn token_verifies_with_the_published_key(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let session = admin_session(&s).await;
    let jwks = fetch_jwks(&s).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "one key made at first start: {jwks}");
    for key in keys {
        let mut members: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        // Public members only: no `d`.
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"], "{key}");
        assert_eq!(key["kty"], json!("OKP"));
        assert_eq!(key["crv"], json!("Ed25519"));
    }

    let first = issue(&s, &session, "billing", 60).await;
    assert_eq!(first["response"]["expires_seconds"], json!(60));
    let first = jwt_of(&first);
    let (header, claims) = verify(&first, &jwks).expect("verifies");
    assert_eq!(header["typ"], json!("JWT"));
    assert_eq!(header["kid"], keys[0]["kid"]);
    assert_eq!(claims["sub"], json!("1"));
    assert_eq!(claims["role"], json!("superuser"));
    assert_eq!(claims["aud"], json!("billing"));
    assert_eq!(claims["iss"], json!("authnzerver"));
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64().expect("exp") - iat, 60);
    let now = chrono::Utc::now().timestamp();
    assert!((iat - now).abs() < 30, "iat {iat} vs now {now}");
    let sid = claims["sid"].as_str().expect("sid");
    assert!(!sid.is_empty() && sid != session && !session.contains(sid));
    assert!(
        !first.contains(&session),
        "the session token leaks into the JWT"
    );

    // A second token of the same session: same sid, another jti.
    let second = jwt_of(&issue(&s, &session, "reports", 30).await);
    let (_, claims2) = verify(&second, &jwks).expect("verifies");
    assert_eq!(claims2["sid"], claims["sid"]);
    assert_ne!(claims2["jti"], claims["jti"]);
    assert_eq!(claims2["aud"], json!("reports"));

    // Another session of the same user: another sid.
    let other = admin_session(&s).await;
    let (_, claims3) = verify(&jwt_of(&issue(&s, &other, "billing", 60).await), &jwks).unwrap();
    assert_ne!(claims3["sid"], claims["sid"]);

    // A tampered token does not verify.
    let mut forged: Vec<String> = first.split('.').map(str::to_owned).collect();
    let mut forged_claims = claims.clone();
    forged_claims["role"] = json!("superuser-plus");
    forged[1] = URL_SAFE_NO_PAD.encode(forged_claims.to_string());
    assert!(verify(&forged.join("."), &jwks).is_err());

    // The cap: jwtmaxexpiry (900 s by default).
    let capped = issue(&s, &session, "billing", 100_000).await;
    assert_eq!(capped["response"]["expires_seconds"], json!(900));
    let (_, c) = verify(&jwt_of(&capped), &jwks).unwrap();
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);

    s.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn token_verifies_with_the_published_key_sqlite() {
    token_verifies_with_the_published_key(Backend::Sqlite, "jwt_verifies_sqlite").await;
}

#[tokio::test]
async fn token_verifies_with_the_published_key_postgres() {
    token_verifies_with_the_published_key(Backend::Postgres, "jwt_verifies_pg").await;
}

fn assert_refused(env: &Value, reason_part: &str) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(env["response"]["jwt"], Value::Null, "{env}");
    let reason = env["failure_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(reason_part),
        "{reason:?} lacks {reason_part:?}: {env}"
    );
}

async fn refusals(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone(), |o| {
        o.jwt.max_expiry = Duration::from_secs(120);
    })
    .await;
    let anonymous = s.new_session(Value::Null).await;
    assert_refused(&issue(&s, &anonymous, "billing", 60).await, "anonymous");
    assert_refused(
        &issue(&s, "no-such-session", "billing", 60).await,
        "does not exist",
    );
    // A signed-up user who is not verified yet is inactive.
    let env = s
        .call(
            "user-new",
            json!({"full_name": "Not Yet", "email": "notyet@example.org", "password": "Plover-Quince-Sextant-77"}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let inactive_id = env["response"]["user_id"].clone();
    let inactive = s.new_session(inactive_id).await;
    assert_refused(&issue(&s, &inactive, "billing", 60).await, "not active");
    // An active user who is not an admin gets a token with their role.
    let uid = s
        .verified_user("member@example.org", "Gannet-Marlin-Obelisk-91")
        .await;
    let member = s.new_session(json!(uid)).await;
    let jwks = fetch_jwks(&s).await;
    let (_, claims) = verify(&jwt_of(&issue(&s, &member, "billing", 60).await), &jwks).unwrap();
    assert_eq!(claims["sub"], json!(uid.to_string()));
    assert_eq!(claims["role"], json!("authenticated"));

    let session = admin_session(&s).await;
    assert_refused(&issue(&s, &session, "", 60).await, "audience");
    assert_refused(&issue(&s, &session, "a\u{7}b", 60).await, "audience");
    assert_refused(&issue(&s, &session, &"a".repeat(257), 60).await, "audience");
    assert_refused(&issue(&s, &session, "billing", 0).await, "expires_seconds");
    assert_refused(&issue(&s, &session, "billing", -5).await, "expires_seconds");
    // A configured cap of 120 s.
    let capped = issue(&s, &session, "billing", 121).await;
    assert_eq!(
        capped["response"]["expires_seconds"],
        json!(120),
        "{capped}"
    );
    // A wrong type is the schema failure of every request.
    let env = s
        .call(
            "session-jwt-issue",
            json!({"session_token": session, "audience": "billing", "expires_seconds": "60"}),
        )
        .await;
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(env["response"]["jwt"], Value::Null, "{env}");
    // Time passes beyond the session's expiry: refused.
    let ok = issue(&s, &session, "billing", 60).await;
    assert_eq!(ok["success"], json!(true), "{ok}");
    clock.advance(TimeDelta::days(365 * 120));
    assert_refused(&issue(&s, &session, "billing", 60).await, "does not exist");
    s.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn refusals_sqlite() {
    refusals(Backend::Sqlite, "jwt_refusals_sqlite").await;
}

#[tokio::test]
async fn refusals_postgres() {
    refusals(Backend::Postgres, "jwt_refusals_pg").await;
}

/// `authnzrv jwks ARGS --json` against the database of `db`, with the
/// server's secret.
fn jwks_cli(db: &TestDb, s: &TestServer, args: &[&str]) -> Value {
    let authdb = match db.url.strip_prefix("sqlite://") {
        Some(path) => format!("sqlite:///{path}"),
        None => db.url.clone(),
    };
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("AUTHNZERVER_") || k == "PORT" || k == "NOTIFY_SOCKET" {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(s.basedir.path())
        .env("AUTHNZERVER_BASEDIR", s.basedir.path())
        .env("AUTHNZERVER_AUTHDB", &authdb)
        .env(
            "AUTHNZERVER_SECRET",
            base64::engine::general_purpose::URL_SAFE.encode(s.key),
        )
        .env("AUTHNZERVER_PIISALT", "jwt-cli-salt")
        .env("AUTHNZERVER_MAILER", "file")
        .arg("jwks")
        .args(args)
        .arg("--json")
        .stdin(Stdio::null())
        .output()
        .expect("run authnzrv");
    assert!(
        out.status.success(),
        "authnzrv jwks {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn rotation(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let reload = Duration::from_millis(700);
    let s = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        o.jwt.reload_interval = reload;
    })
    .await;
    let session = admin_session(&s).await;
    let before = fetch_jwks(&s).await;
    let k1 = kids(&before);
    assert_eq!(k1.len(), 1);
    let old_token = jwt_of(&issue(&s, &session, "billing", 600).await);

    let rotated = jwks_cli(&db, &s, &["rotate"]);
    let k2 = rotated["kid"].as_str().expect("kid").to_owned();
    assert_ne!(k2, k1[0]);
    assert_eq!(rotated["published"], json!([k2, k1[0]]));
    let listed = jwks_cli(&db, &s, &["list"]);
    assert_eq!(listed[0]["kid"], json!(k2));
    assert_eq!(listed[0]["current"], json!(true));
    assert_eq!(listed[1]["kid"], json!(k1[0]));

    // Within the reload interval the server may still sign with the old
    // key; after it, it signs with the new one and publishes both.
    tokio::time::sleep(reload + Duration::from_millis(300)).await;
    let after = fetch_jwks(&s).await;
    assert_eq!(kids(&after), [k2.clone(), k1[0].clone()]);
    let new_token = jwt_of(&issue(&s, &session, "billing", 600).await);
    let (header, _) = verify(&new_token, &after).expect("new token verifies");
    assert_eq!(header["kid"], json!(k2));
    // A token signed before the rotation still verifies.
    let (header, _) = verify(&old_token, &after).expect("old token still verifies");
    assert_eq!(header["kid"], json!(k1[0]));

    // A second rotation retires the first key: its tokens stop verifying.
    let again = jwks_cli(&db, &s, &["rotate"]);
    assert_eq!(again["removed"], json!([k1[0]]));
    tokio::time::sleep(reload + Duration::from_millis(300)).await;
    let last = fetch_jwks(&s).await;
    assert_eq!(kids(&last).len(), 2);
    assert!(!kids(&last).contains(&k1[0]));
    assert!(verify(&old_token, &last).is_err());
    assert!(verify(&new_token, &last).is_ok());

    s.stop().await;
    db.drop_db().await;
}

#[tokio::test]
async fn rotation_sqlite() {
    rotation(Backend::Sqlite, "jwt_rotation_sqlite").await;
}

#[tokio::test]
async fn rotation_postgres() {
    rotation(Backend::Postgres, "jwt_rotation_pg").await;
}

/// The private keys are stored sealed with the server secret: the stored
/// text holds no key material a reader of the database could use, and a
/// server with another secret cannot sign with them (but still publishes
/// the public keys).
#[tokio::test]
async fn private_keys_are_sealed_with_the_secret() {
    let Some(db) = TestDb::new(Backend::Postgres, "jwt_sealed_pg").await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let stored = s.built.store.signing_keys().await.expect("keys");
    assert_eq!(stored.len(), 1);
    let sealed = &stored[0].sealed_private_key;
    assert!(sealed.starts_with("v1."), "{}", &sealed[..3]);
    let raw = URL_SAFE_NO_PAD.decode(&sealed[3..]).expect("base64url");
    // An unsealed Ed25519 PKCS#8 document starts with this DER prefix.
    assert!(!raw.windows(4).any(|w| w == [0x30, 0x51, 0x02, 0x01]));
    assert!(ring::signature::Ed25519KeyPair::from_pkcs8(&raw).is_err());
    let jwks = fetch_jwks(&s).await;
    s.stop().await;

    let other = TestServer::start_with(&db, Arc::new(SystemClock), |o| {
        o.secret = [0x5a; 32];
    })
    .await;
    assert_eq!(fetch_jwks(&other).await, jwks);
    let session = admin_session(&other).await;
    assert_refused(&issue(&other, &session, "billing", 60).await, "signing key");
    other.stop().await;
    db.drop_db().await;
}

/// A rotation stamps the new key after the newest stored one even when the
/// rotating host's clock is behind, so the new key is the current one.
#[tokio::test]
async fn rotation_with_a_clock_behind_still_makes_the_newest_key() {
    let Some(db) = TestDb::new(Backend::Sqlite, "jwt_clock_behind").await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let jwt = &s.built.state.ctx.jwt;
    let first = jwt.stored().await.unwrap()[0].clone();
    let behind = first.1 - TimeDelta::days(1);
    let rotation = jwt.rotate(behind).await.unwrap();
    let stored = jwt.stored().await.unwrap();
    assert_eq!(stored[0].0, rotation.kid);
    assert!(stored[0].1 > first.1);
    assert_eq!(stored[1].0, first.0);
    assert_eq!(jwt.current_kid().await.unwrap(), rotation.kid);
    s.stop().await;
    db.drop_db().await;
}

/// The JWKS path answers GET only, and only for allowed hosts.
#[tokio::test]
async fn jwks_route_methods_and_hosts() {
    let Some(db) = TestDb::new(Backend::Sqlite, "jwt_route").await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let (status, _, _) = s
        .raw("POST", "/.well-known/jwks.json", Some("127.0.0.1"), b"x")
        .await;
    assert_eq!(status, 405);
    let (status, _, _) = s
        .raw("GET", "/.well-known/jwks.json", Some("evil.example"), b"")
        .await;
    assert_eq!(status, 404);
    let (status, head, _) = s
        .raw("GET", "/.well-known/jwks.json", Some("localhost"), b"")
        .await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: public, max-age=60"),
        "{head}"
    );
    s.stop().await;
    db.drop_db().await;
}
