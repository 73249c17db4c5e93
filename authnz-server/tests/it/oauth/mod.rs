//! Social login (PROTOCOL.md 3.9) through the real protocol against a real
//! OpenID Connect provider (`oidc-provider` on loopback, see `support`):
//! `user-oauth-start`, the provider's login form, the code, then
//! `user-oauth-finish`; the account rules; and the security cases: state
//! reuse, state of another session, expired state, wrong redirect URI,
//! unverified e-mail, provider down. ID tokens the real provider would
//! never send (bad signature, wrong audience or nonce, expired) come from a
//! stand-in issuer (`standin`); GitHub and Twitter/X from stand-ins of
//! their token endpoints and user APIs (`plain`).

mod plain;
mod standin;
mod support;

use std::sync::Arc;

use authnz_api::{Clock, ManualClock, SystemClock};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::common::{Backend, TestDb, TestServer};
use authnz_server::app::ServerOptions;
use support::{
    CALLBACK, OTHER_CALLBACK, OidcProvider, PROVIDER, log_in_at_provider, providers_json,
};

const PASSWORD: &str = "correct-Horse-battery-staple-42";

/// An authnz test server with the providers of `providers` (a JSON list).
pub async fn server_with(db: &TestDb, clock: Arc<dyn Clock>, providers: &str) -> TestServer {
    let providers = authnz_server::oauth::build(
        authnz_server::oauth::parse_providers(providers).expect("provider list parses"),
    )
    .expect("providers build");
    TestServer::start_with(db, clock, |o: &mut ServerOptions| o.oauth = Some(providers)).await
}

/// `user-oauth-start` in session `token`: (authorize_url, state).
async fn start(s: &TestServer, token: &str, redirect_uri: &str) -> (String, String) {
    let env = s
        .call(
            "user-oauth-start",
            json!({"provider": PROVIDER, "session_token": token, "redirect_uri": redirect_uri}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "start: {env}");
    let r = &env["response"];
    (
        r["authorize_url"].as_str().expect("url").to_owned(),
        r["state"].as_str().expect("state").to_owned(),
    )
}

async fn finish(s: &TestServer, token: &str, state: &str, code: &str, redirect_uri: &str) -> Value {
    s.call(
        "user-oauth-finish",
        json!({
            "provider": PROVIDER, "session_token": token, "state": state,
            "code": code, "redirect_uri": redirect_uri,
        }),
    )
    .await
}

/// A whole login as `login` at the provider, in a fresh session: the
/// finish reply.
async fn social_login(s: &TestServer, login: &str) -> Value {
    let token = s.new_session(Value::Null).await;
    let (url, state) = start(s, &token, CALLBACK).await;
    let back = log_in_at_provider(&url, login).await;
    assert_eq!(back.state, state, "the provider sends the state back");
    finish(s, &token, &back.state, &back.code, CALLBACK).await
}

fn failed_with(env: &Value, reason: &str) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(env["response"]["failure_reason"], json!(reason), "{env}");
}

async fn identities(s: &TestServer, user_id: i64) -> Value {
    let env = s.call("user-oauth-list", json!({"user_id": user_id})).await;
    assert_eq!(env["success"], json!(true), "{env}");
    env["response"].clone()
}

/// The audit log's events about `user_id`, oldest first, as
/// (event, reason) pairs.
async fn audited(s: &TestServer, user_id: i64) -> Vec<(String, String)> {
    let env = s
        .call(
            "internal-audit-list",
            json!({"limit": 50, "user_id": user_id}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let mut events: Vec<(String, String)> = env["response"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    events.reverse();
    events
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn user_count(s: &TestServer) -> usize {
    let env = s.call("user-list", json!({"user_id": null})).await;
    env["response"]["user_info"].as_array().map_or(0, Vec::len)
}

/// Up: the provider; authnz with it configured. `None`: skipped.
async fn setup(
    backend: Backend,
    name: &str,
    clock: Arc<dyn Clock>,
) -> Option<(OidcProvider, TestDb, TestServer)> {
    let db = TestDb::new(backend, name).await?;
    let Some(op) = OidcProvider::start().await else {
        db.drop_db().await;
        return None;
    };
    let s = server_with(&db, clock, &providers_json(&op.issuer, json!({}))).await;
    Some((op, db, s))
}

async fn teardown(op: OidcProvider, db: TestDb, s: TestServer) {
    s.stop().await;
    db.drop_db().await;
    op.stop().await;
}

/// First login makes an account (role `authenticated`, e-mail verified as
/// the provider says, no password); the next one finds it; the pre-login
/// session is consumed; the account is listed with its identity and cannot
/// unlink its only way to log in.
async fn login_makes_then_finds_the_account(backend: Backend, name: &'static str) {
    let Some((op, db, s)) = setup(backend, name, Arc::new(SystemClock)).await else {
        return;
    };
    let token = s.new_session(Value::Null).await;
    let (url, state) = start(&s, &token, CALLBACK).await;
    assert!(url.starts_with(&format!("{}/auth?", op.issuer)), "{url}");
    for part in [
        "response_type=code",
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        &format!("state={state}"),
        "scope=openid+email+profile",
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    let back = log_in_at_provider(&url, "carol@example.org").await;
    let env = finish(&s, &token, &back.state, &back.code, CALLBACK).await;
    assert_eq!(env["success"], json!(true), "{env}");
    let r = &env["response"];
    assert_eq!(r["new_user"], json!(true), "{env}");
    assert_eq!(r["user_role"], json!("authenticated"), "{env}");
    let user_id = r["user_id"].as_i64().expect("user id");
    // The pre-login session is gone, as after a password login.
    let exists = s
        .call("session-exists", json!({"session_token": token}))
        .await;
    assert_eq!(exists["success"], json!(false), "{exists}");

    let info = s
        .call("user-lookup-email", json!({"email": "carol@example.org"}))
        .await;
    assert_eq!(
        info["response"]["user_info"]["user_id"],
        json!(user_id),
        "{info}"
    );
    assert_eq!(info["response"]["user_info"]["email_verified"], json!(true));
    // No password logs in.
    let t = s.new_session(Value::Null).await;
    let login = s
        .call(
            "user-login",
            json!({"session_token": t, "email": "carol@example.org", "password": "!no-password"}),
        )
        .await;
    assert_eq!(login["success"], json!(false), "{login}");

    let again = social_login(&s, "carol@example.org").await;
    assert_eq!(again["success"], json!(true), "{again}");
    assert_eq!(again["response"]["new_user"], json!(false));
    assert_eq!(again["response"]["user_id"], json!(user_id));

    let listed = identities(&s, user_id).await;
    assert_eq!(listed["has_password"], json!(false));
    assert_eq!(listed["identities"][0]["provider"], json!(PROVIDER));
    assert_eq!(
        listed["identities"][0]["subject"],
        json!("carol@example.org")
    );
    let unlink = s
        .call(
            "user-oauth-unlink",
            json!({"user_id": user_id, "provider": PROVIDER}),
        )
        .await;
    failed_with(&unlink, "last login method");
    assert_eq!(
        identities(&s, user_id).await["identities"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // The audit log: the account made and linked, a login, the refused
    // password attempt, the second login.
    assert_eq!(
        audited(&s, user_id).await,
        pairs(&[
            ("user.signup", "social-login"),
            ("identity.linked", "new-account"),
            ("login.succeeded", "social-login"),
            ("login.failed", "wrong-password"),
            ("login.succeeded", "social-login"),
        ])
    );
    teardown(op, db, s).await;
}

per_backend!(login_makes_then_finds_the_account);

/// A provider-verified e-mail links the local account of that e-mail; with
/// a password it may unlink the identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_email_links_the_local_account() {
    let Some((op, db, s)) = setup(Backend::Sqlite, "oauth::verified", Arc::new(SystemClock)).await
    else {
        return;
    };
    let local = s.verified_user("dave@example.org", PASSWORD).await;
    let env = social_login(&s, "dave@example.org").await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["user_id"], json!(local));
    assert_eq!(env["response"]["new_user"], json!(false));
    let listed = identities(&s, local).await;
    assert_eq!(listed["has_password"], json!(true));
    let unlink = s
        .call(
            "user-oauth-unlink",
            json!({"user_id": local, "provider": PROVIDER}),
        )
        .await;
    assert_eq!(unlink["success"], json!(true), "{unlink}");
    assert_eq!(identities(&s, local).await["identities"], json!([]));
    let events = audited(&s, local).await;
    let social: Vec<_> = events
        .iter()
        .filter(|(e, _)| e.starts_with("identity.") || e == "login.succeeded")
        .cloned()
        .collect();
    assert_eq!(
        social,
        pairs(&[
            ("identity.linked", "verified-email"),
            ("login.succeeded", "social-login"),
            ("identity.unlinked", ""),
        ]),
        "{events:?}"
    );
    teardown(op, db, s).await;
}

/// An e-mail the provider does not assert verified is never linked: the
/// person gets a new account, the local one is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_email_is_not_linked() {
    let Some((op, db, s)) =
        setup(Backend::Sqlite, "oauth::unverified", Arc::new(SystemClock)).await
    else {
        return;
    };
    let email = "unverified-erin@example.org";
    let local = s.verified_user(email, PASSWORD).await;
    let env = social_login(&s, email).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["new_user"], json!(true));
    let other = env["response"]["user_id"].as_i64().expect("id");
    assert_ne!(other, local);
    assert_eq!(identities(&s, local).await["identities"], json!([]));
    // The new account did not take the address, and is not verified.
    let info = s.call("user-list", json!({"user_id": other})).await;
    let user = &info["response"]["user_info"][0];
    assert_ne!(user["email"], json!(email), "{info}");
    assert_eq!(user["email_verified"], json!(false), "{info}");
    // The local account still logs in with its password.
    let t = s.new_session(Value::Null).await;
    let login = s
        .call(
            "user-login",
            json!({"session_token": t, "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(login["response"]["user_id"], json!(local), "{login}");
    teardown(op, db, s).await;
}

/// A locked account stays locked: the linked identity logs nobody in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_account_stays_locked() {
    let Some((op, db, s)) = setup(Backend::Sqlite, "oauth::locked", Arc::new(SystemClock)).await
    else {
        return;
    };
    let local = s.verified_user("frank@example.org", PASSWORD).await;
    let lock = s
        .call(
            "internal-user-lock",
            json!({"target_userid": local, "action": "lock"}),
        )
        .await;
    assert_eq!(lock["success"], json!(true), "{lock}");
    let env = social_login(&s, "frank@example.org").await;
    failed_with(&env, "user exists but is inactive");
    teardown(op, db, s).await;
}

/// A state is used once: after a finish with a wrong code, the right code
/// with the same state is refused too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_single_use() {
    let Some((op, db, s)) = setup(Backend::Sqlite, "oauth::reuse", Arc::new(SystemClock)).await
    else {
        return;
    };
    let before = user_count(&s).await;
    let token = s.new_session(Value::Null).await;
    let (url, _) = start(&s, &token, CALLBACK).await;
    let back = log_in_at_provider(&url, "gina@example.org").await;
    let wrong = finish(&s, &token, &back.state, "not-the-code", CALLBACK).await;
    failed_with(&wrong, "provider error");
    assert!(
        wrong["messages"][0]
            .as_str()
            .is_some_and(|m| m.contains("the token request was refused: invalid_grant")),
        "{wrong}"
    );
    let again = finish(&s, &token, &back.state, &back.code, CALLBACK).await;
    failed_with(&again, "unknown state");
    assert_eq!(user_count(&s).await, before, "no account was made");
    teardown(op, db, s).await;
}

/// A state started in another session is refused (and spent), with no
/// account change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_of_another_session_is_refused() {
    let Some((op, db, s)) = setup(Backend::Sqlite, "oauth::foreign", Arc::new(SystemClock)).await
    else {
        return;
    };
    let before = user_count(&s).await;
    let victim = s.new_session(Value::Null).await;
    let attacker = s.new_session(Value::Null).await;
    let (url, _) = start(&s, &victim, CALLBACK).await;
    let back = log_in_at_provider(&url, "hank@example.org").await;
    let env = finish(&s, &attacker, &back.state, &back.code, CALLBACK).await;
    failed_with(&env, "foreign state");
    let env = finish(&s, &victim, &back.state, &back.code, CALLBACK).await;
    failed_with(&env, "unknown state");
    // A made-up state is unknown.
    let env = finish(&s, &victim, "made-up-state", &back.code, CALLBACK).await;
    failed_with(&env, "unknown state");
    assert_eq!(user_count(&s).await, before);
    teardown(op, db, s).await;
}

/// A state older than ten minutes (server clock) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_state_is_refused() {
    let clock = Arc::new(ManualClock::starting_now());
    let Some((op, db, s)) = setup(Backend::Sqlite, "oauth::expired", clock.clone()).await else {
        return;
    };
    let before = user_count(&s).await;
    let token = s.new_session(Value::Null).await;
    let (url, _) = start(&s, &token, CALLBACK).await;
    let back = log_in_at_provider(&url, "ivy@example.org").await;
    clock.advance(TimeDelta::minutes(10) + TimeDelta::seconds(1));
    let env = finish(&s, &token, &back.state, &back.code, CALLBACK).await;
    failed_with(&env, "expired state");
    assert_eq!(user_count(&s).await, before);
    teardown(op, db, s).await;
}

/// Only configured redirect URIs start a login, and the finish must name
/// the one the login was started with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_uri_must_match() {
    let Some((op, db, s)) = setup(Backend::Sqlite, "oauth::redirect", Arc::new(SystemClock)).await
    else {
        return;
    };
    let token = s.new_session(Value::Null).await;
    for bad in [
        "http://127.0.0.1:9/oauth/callback/",
        "http://127.0.0.1:9/oauth/callback?x=1",
        "https://evil.example/oauth/callback",
    ] {
        let env = s
            .call(
                "user-oauth-start",
                json!({"provider": PROVIDER, "session_token": token, "redirect_uri": bad}),
            )
            .await;
        failed_with(&env, "redirect_uri not allowed");
    }
    let (url, _) = start(&s, &token, CALLBACK).await;
    let back = log_in_at_provider(&url, "jack@example.org").await;
    let env = finish(&s, &token, &back.state, &back.code, OTHER_CALLBACK).await;
    failed_with(&env, "redirect_uri mismatch");
    teardown(op, db, s).await;
}

/// An unknown provider, a missing session, and a server without providers
/// are refused with clear failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_provider_and_no_session() {
    let Some((op, db, s)) = setup(Backend::Sqlite, "oauth::unknown", Arc::new(SystemClock)).await
    else {
        return;
    };
    let token = s.new_session(Value::Null).await;
    let env = s
        .call(
            "user-oauth-start",
            json!({"provider": "nope", "session_token": token, "redirect_uri": CALLBACK}),
        )
        .await;
    failed_with(&env, "unknown provider");
    let env = s
        .call(
            "user-oauth-start",
            json!({"provider": PROVIDER, "session_token": "no-such-session", "redirect_uri": CALLBACK}),
        )
        .await;
    failed_with(&env, "session does not exist");
    teardown(op, db, s).await;

    let Some(db) = TestDb::new(Backend::Sqlite, "oauth::unconfigured").await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let token = s.new_session(Value::Null).await;
    let env = s
        .call(
            "user-oauth-start",
            json!({"provider": PROVIDER, "session_token": token, "redirect_uri": CALLBACK}),
        )
        .await;
    failed_with(&env, "social login not configured");
    s.stop().await;
    db.drop_db().await;
}

/// A provider that is down, or that accepts connections and never answers,
/// fails the login with a clear message (in bounded time: the provider's
/// `timeout_seconds`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_down_fails_clearly() {
    let Some(db) = TestDb::new(Backend::Sqlite, "oauth::down").await else {
        return;
    };
    // Refused: a port that was free a moment ago.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    // Silent: accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let list = json!([
        {"name": "down", "kind": "oidc", "client_id": "c", "client_secret": "s",
         "issuer": format!("http://127.0.0.1:{closed}"), "redirect_uris": [CALLBACK],
         "timeout_seconds": 2},
        {"name": "silent", "kind": "oidc", "client_id": "c", "client_secret": "s",
         "issuer": format!("http://127.0.0.1:{silent_port}"), "redirect_uris": [CALLBACK],
         "timeout_seconds": 1},
    ]);
    let s = server_with(&db, Arc::new(SystemClock), &list.to_string()).await;
    let token = s.new_session(Value::Null).await;
    for (provider, wanted) in [
        ("down", "cannot reach"),
        ("silent", "did not answer within 1 s"),
    ] {
        let env = s
            .call(
                "user-oauth-start",
                json!({"provider": provider, "session_token": token, "redirect_uri": CALLBACK}),
            )
            .await;
        failed_with(&env, "provider error");
        let message = env["messages"][0].as_str().unwrap_or_default();
        assert!(message.contains("unavailable"), "{env}");
        assert!(message.contains(wanted), "{provider}: {env}");
    }
    hold.abort();
    s.stop().await;
    db.drop_db().await;
}
