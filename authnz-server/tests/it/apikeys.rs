//! API keys (PROTOCOL.md 3.6) and the authorization checks (3.7) over the real
//! protocol, on SQLite and PostgreSQL. Time windows are driven by a
//! `ManualClock`, never by sleeping.

use std::sync::Arc;

use crate::common::{Backend, TestDb, TestServer};
use authnz_api::{Clock, ManualClock};
use chrono::TimeDelta;
use serde_json::{Map, Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";
const UA: &str = "Mozilla/5.0 test";

struct Env {
    s: TestServer,
    clock: Arc<ManualClock>,
}

impl Env {
    fn tick(&self, secs: i64) {
        self.clock.advance(TimeDelta::seconds(secs));
    }

    async fn call(&self, request: &str, body: Value) -> Value {
        self.s.call(request, body).await
    }
}

async fn with_env<F, Fut>(backend: Backend, test: &str, f: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: std::future::Future<Output = Env>,
{
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone() as Arc<dyn Clock>, |_| {}).await;
    let env = f(Env { s, clock }).await;
    env.s.stop().await;
    db.drop_db().await;
}

fn claims(env: &Value) -> Map<String, Value> {
    let text = env["response"]["apikey"].as_str().expect("apikey text");
    serde_json::from_str(text).expect("claims parse")
}

fn key_order(env: &Value) -> Vec<String> {
    // serde_json's Map sorts keys; read the order from the text itself.
    let text = env["response"]["apikey"].as_str().unwrap();
    text.split("\", ")
        .flat_map(|part| part.split(", \""))
        .filter_map(|p| p.trim_start_matches(['{', '"']).split_once("\": "))
        .map(|(k, _)| k.to_owned())
        .collect()
}

fn new_key_body(user_id: i64, role: &str, session: &str, nbf: i64) -> Value {
    json!({
        "issuer": "frontend", "audience": "api.example.org", "subject": "/api/data",
        "apiversion": 1, "expires_days": 1, "not_valid_before": nbf,
        "user_id": user_id, "user_role": role, "ip_address": "127.0.0.1",
        "user_agent": UA, "session_token": session,
    })
}

fn nosession_body(user_id: i64, role: &str) -> Value {
    json!({
        "issuer": "frontend", "audience": "api.example.org", "subject": ["/a", "/b"],
        "apiversion": "v2", "expires_seconds": 600, "not_valid_before": 0.5,
        "user_id": user_id, "user_role": role, "ip_address": "10.1.2.3",
        "refresh_expires": 3600, "refresh_nbf": 5,
    })
}

fn dict_body(dict: &Map<String, Value>, user_id: i64, role: &str) -> Value {
    json!({"apikey_dict": dict, "user_id": user_id, "user_role": role})
}

async fn session_tied_keys(backend: Backend, test: &str) {
    with_env(backend, test, |e| async move {
        let alice = e.s.verified_user("alice@example.org", PASSWORD).await;
        let bob = e.s.verified_user("bob@example.org", PASSWORD).await;
        let session = e.s.new_session(json!(alice)).await;

        let env = e.call("apikey-new", new_key_body(alice, "authenticated", &session, 30)).await;
        assert_eq!(env["success"], json!(true), "{env}");
        let c = claims(&env);
        assert_eq!(
            key_order(&env),
            ["iss", "ver", "uid", "rol", "usa", "aud", "sub", "ipa", "tkn", "iat", "nbf", "exp"]
        );
        let text = env["response"]["apikey"].as_str().unwrap();
        assert!(text.starts_with(r#"{"iss": "frontend", "ver": 1, "uid": "#), "{text}");
        assert_eq!(c["uid"], json!(alice));
        assert_eq!(c["rol"], json!("authenticated"));
        assert_eq!(c["usa"], json!(UA));
        assert_eq!(c["tkn"].as_str().unwrap().len(), 43);
        let expires = env["response"]["expires"].as_str().unwrap().to_owned();
        assert_eq!(c["exp"], json!(expires));
        assert_eq!(
            env["messages"],
            json!([format!("API key generated successfully, expires: {expires}.")])
        );

        // Not valid before 30 s.
        e.tick(1);
        let env = e.call("apikey-verify", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(
            env["failure_reason"],
            json!("key validation failed, provided key does not match stored key or has expired")
        );
        assert_eq!(env["messages"], json!(["API key could not be verified."]));
        e.tick(30);
        let env = e.call("apikey-verify", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(
            env["messages"],
            json!([format!("API key verified successfully. Expires: {expires}.")])
        );
        // The superuser may view anyone's key.
        let env = e.call("apikey-verify", dict_body(&c, 1, "superuser")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        // Another user may not; nor the owner with a role they do not have.
        for (uid, role) in [(bob, "authenticated"), (alice, "staff"), (2, "anonymous")] {
            let env = e.call("apikey-verify", dict_body(&c, uid, role)).await;
            assert_eq!(
                env["failure_reason"],
                json!("originating user is not allowed to operate on this API key"),
                "{uid} {role}"
            );
            assert_eq!(
                env["messages"],
                json!(["API key verification failed. You are not allowed to operate on this API key."])
            );
        }
        // A forged role claim does not match the stored key.
        let mut forged = c.clone();
        forged.insert("rol".into(), json!("superuser"));
        let env = e.call("apikey-verify", dict_body(&forged, 1, "superuser")).await;
        assert_eq!(env["success"], json!(false));
        // A missing claim is unhandled upstream: 400.
        let mut partial = c.clone();
        partial.remove("tkn");
        let err = e
            .s
            .send_object(&json!({"request": "apikey-verify", "body": dict_body(&partial, alice, "authenticated"), "reqid": 1, "client_ipaddr": "127.0.0.1"}))
            .await
            .expect_err("400");
        assert_eq!(err.0, 400);

        // Revoke: others may not; the owner may, once.
        let env = e.call("apikey-revoke", dict_body(&c, bob, "authenticated")).await;
        assert_eq!(
            env["messages"],
            json!(["API key revocation failed. You are not allowed to operate on this API key."])
        );
        let env = e.call("apikey-revoke", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["API key revocation processed."]));
        let env = e.call("apikey-verify", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false));
        let env = e.call("apikey-revoke", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false));
        assert!(env.get("failure_reason").is_none(), "{env}");
        assert!(env["response"].get("failure_reason").is_none(), "{env}");

        // Expiry: one day.
        let env = e.call("apikey-new", new_key_body(alice, "authenticated", &session, 0)).await;
        let c2 = claims(&env);
        e.tick(86_399);
        let env = e.call("apikey-verify", dict_body(&c2, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        e.tick(1);
        let env = e.call("apikey-verify", dict_body(&c2, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false), "expired: {env}");

        // A key dies with its session.
        let env = e.call("apikey-new", new_key_body(alice, "authenticated", &session, 0)).await;
        let c3 = claims(&env);
        e.tick(1);
        let env = e.call("apikey-verify", dict_body(&c3, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        let env = e.call("session-delete", json!({"session_token": session})).await;
        assert_eq!(env["success"], json!(true), "{env}");
        let env = e.call("apikey-verify", dict_body(&c3, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false), "session gone: {env}");
        e
    })
    .await;
}

async fn session_tied_issue_failures(backend: Backend, test: &str) {
    with_env(backend, test, |e| async move {
        let alice = e.s.verified_user("alice@example.org", PASSWORD).await;
        let session = e.s.new_session(json!(alice)).await;
        // Wrong role for the caller: not allowed.
        let env = e.call("apikey-new", new_key_body(alice, "staff", &session, 0)).await;
        assert_eq!(env["failure_reason"], json!("user not allowed to issue API key"));
        assert_eq!(
            env["messages"],
            json!(["API key issuance failed. You are not allowed to issue an API key."])
        );
        assert!(env["response"].get("apikey").is_none(), "{env}");
        // Anonymous may not issue keys.
        let anon = e.s.new_session(Value::Null).await;
        let env = e.call("apikey-new", new_key_body(2, "anonymous", &anon, 0)).await;
        assert_eq!(env["failure_reason"], json!("user not allowed to issue API key"));
        // Unknown session.
        let env = e.call("apikey-new", new_key_body(alice, "authenticated", "nope", 0)).await;
        assert_eq!(
            env["failure_reason"],
            json!("invalid session for user requesting API key issuance")
        );
        assert_eq!(env["messages"], json!(["Invalid session token for API key issuance request."]));
        assert_eq!(env["response"]["apikey"], Value::Null);
        assert_eq!(env["response"]["expires"], Value::Null);
        // Session of someone else / other user agent.
        let mut body = new_key_body(alice, "authenticated", &session, 0);
        body["user_agent"] = json!("curl/8");
        let env = e.call("apikey-new", body).await;
        assert_eq!(
            env["messages"],
            json!(["DB session user_id, ip_address, user_agent, user_role does not match provided session info."])
        );
        // A list subject is accepted (as documented); a list of non-strings is not.
        let mut body = new_key_body(alice, "authenticated", &session, 0);
        body["subject"] = json!(["/x", "/y"]);
        let env = e.call("apikey-new", body).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(claims(&env)["sub"], json!(["/x", "/y"]));
        // Schema: subject must be a string or a list.
        let mut body = new_key_body(alice, "authenticated", &session, 0);
        body["subject"] = json!(5);
        let env = e.call("apikey-new", body).await;
        assert_eq!(
            env["response"]["response"]["problems"][0]["param"],
            json!("subject"),
            "{env}"
        );
        e
    })
    .await;
}

async fn nosession_keys(backend: Backend, test: &str) {
    with_env(backend, test, |e| async move {
        let alice = e.s.verified_user("alice@example.org", PASSWORD).await;
        let bob = e.s.verified_user("bob@example.org", PASSWORD).await;
        let env = e.call("apikey-new-nosession", nosession_body(alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(
            key_order(&env),
            ["iss", "ver", "uid", "rol", "aud", "sub", "ipa", "tkn", "iat", "nbf", "exp"]
        );
        let c = claims(&env);
        assert_eq!(c["sub"], json!(["/a", "/b"]));
        assert_eq!(c["ver"], json!("v2"));
        let refresh = env["response"]["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(refresh.len(), 43);
        assert!(env["response"]["refresh_token_expires"].is_string());
        let expires = env["response"]["expires"].as_str().unwrap().to_owned();

        // nbf = iat + 0.5 s.
        let env = e.call("apikey-verify-nosession", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false));
        e.tick(1);
        let env = e.call("apikey-verify-nosession", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(
            env["messages"],
            json!([format!("No-session API key verified successfully. Expires: {expires}.")])
        );
        let env = e.call("apikey-verify-nosession", dict_body(&c, bob, "authenticated")).await;
        assert_eq!(
            env["failure_reason"],
            json!("originating user is not allowed to operate on this API key")
        );
        // Survives logout of every session.
        let env = e
            .call("session-delete-userid", json!({"session_token": "", "user_id": alice, "keep_current_session": false}))
            .await;
        assert!(env.get("success").is_some());

        let refresh_body = |dict: &Map<String, Value>, token: &str| {
            json!({
                "apikey_dict": dict, "user_id": alice, "user_role": "authenticated",
                "refresh_token": token, "ip_address": "10.9.9.9", "expires_seconds": 60,
                "not_valid_before": 0, "refresh_expires": 600, "refresh_nbf": 1,
            })
        };
        // The refresh token is not valid before 5 s.
        let env = e.call("apikey-refresh-nosession", refresh_body(&c, &refresh)).await;
        assert_eq!(
            env["failure_reason"],
            json!("provided API key has no stored refresh token, probably invalid")
        );
        e.tick(5);
        let env = e.call("apikey-refresh-nosession", refresh_body(&c, "wrong-token")).await;
        assert_eq!(
            env["failure_reason"],
            json!("provided refresh token does not match stored refresh token")
        );
        assert_eq!(
            env["messages"],
            json!(["API key refresh failed. The API key presented does not have a valid refresh token. You may need to login again to generate a new API key."])
        );
        // The key itself expires (600 s) before its refresh token (3600 s).
        e.tick(700);
        let env = e.call("apikey-verify-nosession", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false), "expired");
        let env = e.call("apikey-refresh-nosession", refresh_body(&c, &refresh)).await;
        assert_eq!(env["success"], json!(true), "{env}");
        let c2 = claims(&env);
        let refresh2 = env["response"]["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(c2["tkn"], c["tkn"]);
        assert_ne!(refresh2, refresh);
        assert_eq!(c2["iss"], c["iss"]);
        assert_eq!(c2["sub"], c["sub"]);
        assert_eq!(c2["ipa"], json!("10.9.9.9"));
        e.tick(1);
        let env = e.call("apikey-verify-nosession", dict_body(&c2, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        // The old key and the old refresh token are dead.
        let env = e.call("apikey-refresh-nosession", refresh_body(&c, &refresh)).await;
        assert_eq!(env["success"], json!(false));
        let env = e.call("apikey-refresh-nosession", refresh_body(&c2, &refresh)).await;
        assert_eq!(env["success"], json!(false), "old refresh token on the new key");
        let env = e.call("apikey-revoke-nosession", dict_body(&c, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false));
        // Refresh on behalf of someone else: revoking the old key is refused.
        e.tick(1);
        let mut other = refresh_body(&c2, &refresh2);
        other["user_id"] = json!(bob);
        let env = e.call("apikey-refresh-nosession", other).await;
        assert_eq!(
            env["failure_reason"],
            json!("user from provided API key not allowed to revoke old key")
        );
        assert_eq!(
            env["messages"],
            json!(["API key refresh failed. The API key presented does not have a valid refresh token.You may need to login again to generate a new API key."])
        );

        // Revoke one.
        let env = e.call("apikey-revoke-nosession", dict_body(&c2, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        let env = e.call("apikey-verify-nosession", dict_body(&c2, alice, "authenticated")).await;
        assert_eq!(env["success"], json!(false));

        // Revoke all: needs a valid key; counts under both names.
        let mut keys = Vec::new();
        for _ in 0..3 {
            let env = e.call("apikey-new-nosession", nosession_body(alice, "authenticated")).await;
            keys.push(claims(&env));
        }
        let env = e.call("apikey-new-nosession", nosession_body(bob, "authenticated")).await;
        let bobs = claims(&env);
        e.tick(1);
        let env = e.call("apikey-revokeall-nosession", dict_body(&keys[0], bob, "authenticated")).await;
        assert_eq!(
            env["failure_reason"],
            json!("originating user is not allowed to delete API keys")
        );
        let env = e.call("apikey-revokeall-nosession", dict_body(&c2, alice, "authenticated")).await;
        assert_eq!(
            env["failure_reason"],
            json!("provided API key is invalid, revoke-all operation requires a valid key to start with")
        );
        let env = e.call("apikey-revokeall-nosession", dict_body(&keys[0], alice, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["response"]["revoked_keys"], json!(3));
        assert_eq!(env["response"]["deleted_keys"], json!(3));
        assert_eq!(env["messages"], json!(["All API keys revocation processed."]));
        for k in &keys {
            let env = e.call("apikey-verify-nosession", dict_body(k, alice, "authenticated")).await;
            assert_eq!(env["success"], json!(false));
        }
        let env = e.call("apikey-verify-nosession", dict_body(&bobs, bob, "authenticated")).await;
        assert_eq!(env["success"], json!(true), "bob's key stays: {env}");

        // Issuing for a role the caller does not have is refused.
        let env = e.call("apikey-new-nosession", nosession_body(alice, "superuser")).await;
        assert_eq!(
            env["failure_reason"],
            json!("originating user is not allowed to issue an API key")
        );
        e
    })
    .await;
}

async fn access_and_limit_checks(backend: Backend, test: &str) {
    with_env(backend, test, |e| async move {
        let alice = e.s.verified_user("alice@example.org", PASSWORD).await;
        let bob = e.s.verified_user("bob@example.org", PASSWORD).await;
        let check = |uid: i64, role: &str, action: &str, item: &str, owner: i64, vis: &str, shared: &str| {
            json!({"user_id": uid, "user_role": role, "action": action, "target_name": item,
                   "target_owner": owner, "target_visibility": vis, "target_sharedwith": shared})
        };
        let granted = "Access request check successful. Access granted: True.";
        let denied = "Access request check successful. Access granted: False.";
        let cases: Vec<(Value, Option<&str>, &str)> = vec![
            (check(alice, "authenticated", "edit", "dataset", alice, "private", ""), None, granted),
            (check(alice, "authenticated", "view", "dataset", bob, "private", ""), Some("action not permitted"), denied),
            (check(alice, "authenticated", "edit", "dataset", bob, "shared", &format!("{alice}")), None, granted),
            (check(alice, "authenticated", "edit", "dataset", bob, "shared", "None"), Some("action not permitted"), denied),
            (check(alice, "authenticated", "view", "dataset", bob, "public", ""), None, granted),
            (check(alice, "authenticated", "edit", "collection", alice, "private", ""), Some("action not permitted"), denied),
            (check(1, "superuser", "delete", "dataset", bob, "private", ""), None, granted),
            (check(alice, "staff", "view", "dataset", alice, "private", ""), Some("user initiating request is not valid"), denied),
            (check(alice, "authenticated", "view", "dataset", 999, "public", ""), Some("users specified as owner or shared-with not found"), denied),
            (check(alice, "authenticated", "view", "dataset", bob, "shared", &format!("{alice},999")), Some("users specified as owner or shared-with not found"), denied),
            // An object owned by the inactive dummy user (3): nobody may see it.
            (check(1, "superuser", "view", "dataset", 3, "public", ""), Some("users specified as owner or shared-with not found"), denied),
            (check(alice, "authenticated", "view", "dataset", bob, "shared", "1,x"), Some("exception when checking the DB"), "Could not validate access to the requested item."),
            (check(alice, "emperor", "view", "dataset", bob, "public", ""), Some("exception when checking the DB"), "Could not validate access to the requested item."),
        ];
        for (body, reason, message) in cases {
            let env = e.call("user-check-access", body.clone()).await;
            assert_eq!(env["success"], json!(reason.is_none()), "{body} -> {env}");
            assert_eq!(env.get("failure_reason").cloned(), reason.map(|r| json!(r)), "{body}");
            assert_eq!(env["messages"], json!([message]), "{body}");
        }

        let limit = |uid: i64, role: &str, name: &str, value: Value| {
            json!({"user_id": uid, "user_role": role, "limit_name": name, "value_to_check": value})
        };
        let pass = "Limit check successful. Limit check passed: True.";
        let fail = "Limit check successful. Limit check passed: False.";
        let cases: Vec<(Value, Option<&str>, &str)> = vec![
            (limit(alice, "authenticated", "max_requests_per_minute", json!(5999)), None, pass),
            (limit(alice, "authenticated", "max_requests_per_minute", json!(6000)), Some("user is over limit"), fail),
            (limit(alice, "authenticated", "max_requests_per_minute", json!("12")), None, pass),
            (limit(alice, "authenticated", "max_requests_per_minute", json!("1.5")), Some("user is over limit"), fail),
            (limit(alice, "authenticated", "no_such_limit", json!(1e12)), None, pass),
            (limit(alice, "staff", "max_requests", json!(1)), Some("user attempting access not found"), fail),
            (limit(alice, "emperor", "max_requests", json!(1)), Some("exception when checking the DB"), "Could not validate limit rule for the requested item."),
        ];
        for (body, reason, message) in cases {
            let env = e.call("user-check-limit", body.clone()).await;
            assert_eq!(env["success"], json!(reason.is_none()), "{body} -> {env}");
            assert_eq!(env.get("failure_reason").cloned(), reason.map(|r| json!(r)), "{body}");
            assert_eq!(env["messages"], json!([message]), "{body}");
        }
        e
    })
    .await;
}

per_backend!(
    session_tied_keys,
    session_tied_issue_failures,
    nosession_keys,
    access_and_limit_checks
);
