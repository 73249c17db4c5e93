//! The passkey helpers of [`Auth`] against a real authnz server with
//! passkeys configured, the browser's part played by a software
//! authenticator ([`crate::softkey`]): add a passkey (the password is
//! checked, the first one brings recovery codes), list it, log in with it
//! without a password (the session token rotates), use it as the second
//! factor of a password login (an assertion for another origin is
//! refused and the session stays), delete it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use authnz_axum::{Auth, AuthConfig, AuthError, AuthLayer, CurrentUser, SiteKey};
use authnz_client::Secret;
use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::common::{Browser, Reply, Server, USER_EMAIL, USER_PASSWORD};
use crate::softkey::SoftKey;

/// The origin authnz accepts in the tests (its relying party id is then
/// `localhost`). The software authenticator writes it in its client data;
/// the site's own address does not matter to authnz.
pub const ORIGIN: &str = "http://localhost:9000";

#[derive(Clone, Default)]
struct Ticket(Arc<Mutex<Option<Secret>>>);

fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map_or("", String::as_str)
}

fn text(v: &Value, k: &str) -> Secret {
    v[k].as_str().unwrap_or_default().into()
}

async fn whoami(CurrentUser(user): CurrentUser) -> String {
    format!("{} {}", user.user_id, user.role)
}

async fn csrf(auth: Auth) -> String {
    auth.csrf_token().unwrap_or_default()
}

async fn login(
    auth: Auth,
    State(t): State<Ticket>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<String, AuthError> {
    match auth.login(field(&f, "email"), field(&f, "password")).await {
        Ok(user) => Ok(format!("in {}", user.user_id)),
        Err(AuthError::SecondFactorRequired { ticket, kinds }) => {
            *t.0.lock().unwrap() = Some(ticket);
            Ok(format!("second factor: {}", kinds.join(",")))
        }
        Err(e) => Err(e),
    }
}

async fn register_start(
    auth: Auth,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Json<Value>, AuthError> {
    let c = auth
        .passkey_register_start(field(&f, "password"), f.get("name").map(String::as_str))
        .await?;
    Ok(Json(json!({"id": c.id.expose(), "options": c.options})))
}

async fn register_finish(auth: Auth, Json(body): Json<Value>) -> Result<Json<Value>, AuthError> {
    let added = auth
        .passkey_register_finish(
            &text(&body, "id"),
            body["credential"].clone(),
            body["name"].as_str(),
        )
        .await?;
    let codes = added
        .recovery_codes
        .map(|c| c.iter().map(|s| s.expose().to_owned()).collect::<Vec<_>>());
    Ok(Json(json!({
        "passkey_id": added.passkey_id,
        "name": added.name,
        "recovery_codes": codes,
    })))
}

async fn list(auth: Auth) -> Result<Json<Value>, AuthError> {
    let keys = auth.passkeys().await?;
    Ok(Json(json!(
        keys.iter()
            .map(|k| json!({
                "passkey_id": k.passkey_id,
                "name": k.name,
                "created": k.created,
                "last_used": k.last_used,
            }))
            .collect::<Vec<_>>()
    )))
}

async fn delete(auth: Auth, Form(f): Form<HashMap<String, String>>) -> Result<String, AuthError> {
    let id = field(&f, "passkey_id").parse().unwrap_or(-1);
    auth.passkey_delete(field(&f, "password"), id).await?;
    Ok("deleted".into())
}

async fn login_start(auth: Auth) -> Result<Json<Value>, AuthError> {
    let c = auth.passkey_login_start().await?;
    Ok(Json(json!({"id": c.id.expose(), "options": c.options})))
}

async fn login_finish(auth: Auth, Json(body): Json<Value>) -> Result<String, AuthError> {
    let user = auth
        .passkey_login_finish(&text(&body, "id"), body["credential"].clone())
        .await?;
    Ok(format!("in {}", user.user_id))
}

async fn second_start(auth: Auth, State(t): State<Ticket>) -> Result<Json<Value>, AuthError> {
    let ticket = t.0.lock().unwrap().clone().unwrap_or_default();
    Ok(Json(auth.passkey_second_factor_start(&ticket).await?))
}

async fn second_finish(
    auth: Auth,
    State(t): State<Ticket>,
    Json(credential): Json<Value>,
) -> Result<String, AuthError> {
    let ticket = t.0.lock().unwrap().clone().unwrap_or_default();
    let user = auth
        .login_second_factor_passkey(&ticket, credential)
        .await?;
    Ok(format!("in {}", user.user_id))
}

async fn site(server: &Server) -> SocketAddr {
    site_with(server, AuthConfig::default()).await
}

async fn site_with(server: &Server, config: AuthConfig) -> SocketAddr {
    let layer = AuthLayer::new(server.client(), &SiteKey::from_bytes([8; 32]), config);
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/csrf", get(csrf))
        .route("/login", post(login))
        .route("/passkeys", get(list))
        .route("/passkeys/delete", post(delete))
        .route("/passkeys/register/start", post(register_start))
        .route("/passkeys/register/finish", post(register_finish))
        .route("/passkeys/login/start", post(login_start))
        .route("/passkeys/login/finish", post(login_finish))
        .route("/passkeys/second/start", post(second_start))
        .route("/passkeys/second/finish", post(second_finish))
        .with_state(Ticket::default())
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// POST JSON with the session's CSRF token in the header.
async fn post_json(b: &mut Browser, path: &str, body: &Value) -> Reply {
    let token = b.csrf().await;
    b.send(
        "POST",
        path,
        &[
            ("content-type", "application/json"),
            ("x-csrf-token", &token),
        ],
        &body.to_string(),
    )
    .await
}

fn json_of(r: &Reply) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

#[tokio::test]
async fn passkeys_register_log_in_serve_as_second_factor_and_delete() {
    let server = Server::start_with_passkeys(ORIGIN).await;
    let user_id = server.add_user().await;
    let addr = site(&server).await;
    let mut key = SoftKey::new(ORIGIN);
    let mut b = Browser::new(addr);
    assert_eq!(
        b.login(USER_EMAIL, USER_PASSWORD).await.body,
        format!("in {user_id}")
    );

    // Adding a passkey needs the password.
    let r = b
        .post_form_csrf(
            "/passkeys/register/start",
            &[("password", "not-the-password"), ("name", "Laptop")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let start = json_of(
        &b.post_form_csrf(
            "/passkeys/register/start",
            &[("password", USER_PASSWORD), ("name", "Laptop")],
        )
        .await,
    );
    assert!(
        start["options"]["publicKey"]["challenge"].is_string(),
        "{start}"
    );
    let credential = key.create(&start["options"]);
    // Without the CSRF header the finish is refused before authnz sees it.
    let r = b
        .send(
            "POST",
            "/passkeys/register/finish",
            &[("content-type", "application/json")],
            &json!({"id": start["id"], "credential": credential}).to_string(),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let added = json_of(
        &post_json(
            &mut b,
            "/passkeys/register/finish",
            &json!({"id": start["id"], "credential": credential, "name": "Laptop"}),
        )
        .await,
    );
    assert_eq!(added["name"], "Laptop", "{added}");
    assert_eq!(
        added["recovery_codes"].as_array().map(Vec::len),
        Some(10),
        "the first second factor brings recovery codes: {added}"
    );
    let passkey_id = added["passkey_id"].as_i64().unwrap();
    // The registration id is single use.
    let r = post_json(
        &mut b,
        "/passkeys/register/finish",
        &json!({"id": start["id"], "credential": credential}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);

    let listed = json_of(&b.get("/passkeys").await);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["passkey_id"], passkey_id);
    assert_eq!(listed[0]["name"], "Laptop");
    assert!(listed[0]["created"].is_string(), "{listed}");
    assert!(listed[0]["last_used"].is_null(), "{listed}");

    // Passwordless login in a new browser: the session token rotates.
    let mut b2 = Browser::new(addr);
    let start = json_of(&post_json(&mut b2, "/passkeys/login/start", &json!({})).await);
    let before = b2.token().expect("an anonymous session");
    let assertion = key.get(&start["options"]);
    let r = post_json(
        &mut b2,
        "/passkeys/login/finish",
        &json!({"id": start["id"], "credential": assertion}),
    )
    .await;
    assert_eq!(r.body, format!("in {user_id}"));
    let after = b2.token().expect("a session");
    assert_ne!(before, after, "the token must rotate at login");
    assert_eq!(
        b2.get("/whoami").await.body,
        format!("{user_id} authenticated")
    );
    // The old token is dead.
    let mut stale = Browser::new(addr);
    stale.cookie = Some(before);
    assert!(stale.get("/whoami").await.body.ends_with("anonymous"));
    // The login id was used: a second finish is refused, and the new
    // session stays signed in.
    let r = post_json(
        &mut b2,
        "/passkeys/login/finish",
        &json!({"id": start["id"], "credential": assertion}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(
        b2.get("/whoami").await.body,
        format!("{user_id} authenticated")
    );

    // The passkey is now a second factor of password logins.
    let mut b3 = Browser::new(addr);
    let r = b3.login(USER_EMAIL, USER_PASSWORD).await;
    assert!(
        r.body.starts_with("second factor:") && r.body.contains("passkey"),
        "{}",
        r.body
    );
    let before = b3.token().unwrap();
    let options = json_of(&post_json(&mut b3, "/passkeys/second/start", &json!({})).await);
    let allowed = options["publicKey"]["allowCredentials"]
        .as_array()
        .map(Vec::len);
    assert_eq!(allowed, Some(1), "{options}");
    // An assertion made for another site is refused; the session stays.
    let forged = key.get_from(&options, "http://evil.example");
    let r = post_json(&mut b3, "/passkeys/second/finish", &forged).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(b3.token().as_deref(), Some(before.as_str()));
    assert!(b3.get("/whoami").await.body.ends_with("anonymous"));
    let options = json_of(&post_json(&mut b3, "/passkeys/second/start", &json!({})).await);
    let assertion = key.get(&options);
    let r = post_json(&mut b3, "/passkeys/second/finish", &assertion).await;
    assert_eq!(r.body, format!("in {user_id}"));
    assert_ne!(b3.token().as_deref(), Some(before.as_str()));

    let listed = json_of(&b3.get("/passkeys").await);
    assert!(listed[0]["last_used"].is_string(), "{listed}");

    // Deleting needs the password; then the password alone logs in.
    let id = passkey_id.to_string();
    let r = b3
        .post_form_csrf(
            "/passkeys/delete",
            &[("password", "not-the-password"), ("passkey_id", &id)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = b3
        .post_form_csrf(
            "/passkeys/delete",
            &[("password", USER_PASSWORD), ("passkey_id", &id)],
        )
        .await;
    assert_eq!(r.body, "deleted");
    assert_eq!(json_of(&b3.get("/passkeys").await), json!([]));
    let mut b4 = Browser::new(addr);
    assert_eq!(
        b4.login(USER_EMAIL, USER_PASSWORD).await.body,
        format!("in {user_id}")
    );

    server.stop().await;
}

/// Adding or deleting a passkey ends the user's other sessions, at once
/// even through the layer's session cache; the session that did it stays.
#[tokio::test]
async fn adding_and_deleting_a_passkey_end_the_other_sessions_through_the_cache() {
    let server = Server::start_with_passkeys(ORIGIN).await;
    let user_id = server.add_user().await;
    let addr = site_with(
        &server,
        AuthConfig::default().session_cache(std::time::Duration::from_secs(300)),
    )
    .await;
    let me = format!("{user_id} authenticated");
    let mut key = SoftKey::new(ORIGIN);
    let (mut a, mut other) = (Browser::new(addr), Browser::new(addr));
    a.login(USER_EMAIL, USER_PASSWORD).await;
    other.login(USER_EMAIL, USER_PASSWORD).await;
    assert_eq!(other.get("/whoami").await.body, me, "cached now");

    let start = json_of(
        &a.post_form_csrf("/passkeys/register/start", &[("password", USER_PASSWORD)])
            .await,
    );
    let credential = key.create(&start["options"]);
    let added = json_of(
        &post_json(
            &mut a,
            "/passkeys/register/finish",
            &json!({"id": start["id"], "credential": credential}),
        )
        .await,
    );
    assert!(other.get("/whoami").await.body.ends_with("anonymous"));
    assert_eq!(a.get("/whoami").await.body, me);

    // Back in with the passkey alone; then A deletes it.
    let start = json_of(&post_json(&mut other, "/passkeys/login/start", &json!({})).await);
    let assertion = key.get(&start["options"]);
    let r = post_json(
        &mut other,
        "/passkeys/login/finish",
        &json!({"id": start["id"], "credential": assertion}),
    )
    .await;
    assert_eq!(r.body, format!("in {user_id}"));
    assert_eq!(other.get("/whoami").await.body, me, "cached now");
    let id = added["passkey_id"].to_string();
    let r = a
        .post_form_csrf(
            "/passkeys/delete",
            &[("password", USER_PASSWORD), ("passkey_id", &id)],
        )
        .await;
    assert_eq!(r.body, "deleted");
    assert!(other.get("/whoami").await.body.ends_with("anonymous"));
    assert_eq!(a.get("/whoami").await.body, me);
    server.stop().await;
}

#[tokio::test]
async fn without_passkeys_configured_the_helpers_refuse_clearly() {
    let server = Server::start().await;
    server.add_user().await;
    let addr = site(&server).await;
    let mut b = Browser::new(addr);
    b.login(USER_EMAIL, USER_PASSWORD).await;
    let r = b
        .post_form_csrf("/passkeys/register/start", &[("password", USER_PASSWORD)])
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post_json(&mut Browser::new(addr), "/passkeys/login/start", &json!({})).await;
    assert_eq!(r.status, 400, "{}", r.body);
    server.stop().await;
}

#[test]
fn a_challenge_hides_its_id() {
    let c = authnz_axum::PasskeyChallenge {
        id: "reg-very-secret-id".into(),
        options: json!({}),
    };
    assert!(!format!("{c:?}").contains("reg-very-secret-id"));
}
