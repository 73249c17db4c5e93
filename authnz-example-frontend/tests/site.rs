//! The example site against a real authnzrv, without a browser: the JSON
//! of `GET /api/whoami` for each kind of caller, the 401 of a bad key and
//! the 403 of a form without its CSRF token; the passkey routes with a
//! software authenticator in the browser's place. (The whole flows in
//! Chromium are tests/e2e/test_frontend_browser.py and
//! test_frontend_passkey_browser.py.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../authnz-axum/tests/it/common.rs"]
#[allow(dead_code)]
mod common;

#[path = "../../authnz-axum/tests/it/softkey.rs"]
#[allow(dead_code)]
mod softkey;

use authnz_axum::SiteKey;
use authnz_example_frontend::{Settings, app};
use common::{Browser, Server, USER_EMAIL, USER_PASSWORD};

async fn serve(server: &Server) -> std::net::SocketAddr {
    serve_with(server, Vec::new()).await
}

async fn serve_with(server: &Server, oauth_providers: Vec<String>) -> std::net::SocketAddr {
    let app = app(Settings {
        client: server.client(),
        site_key: SiteKey::from_bytes([9; 32]),
        base_url: "http://127.0.0.1".into(),
        site_name: "test".into(),
        oauth_providers,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    addr
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The value of the first hidden `name` field in a page.
fn field(page: &str, name: &str) -> String {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        .to_owned()
}

#[tokio::test]
async fn whoami_for_cookie_sessions_and_api_keys_and_csrf_refusals() {
    let server = Server::start().await;
    let uid = server.add_user().await;
    let addr = serve(&server).await;
    let mut b = Browser::new(addr);

    let anon = json(&b.get("/api/whoami").await.body);
    assert_eq!(anon["user_role"], "anonymous");
    assert!(
        anon["email"].is_null() && anon["user_id"].is_i64(),
        "{anon}"
    );

    // Signing up with a taken address looks like a sign-up (no account
    // enumeration), and sends no mail to the active account.
    let csrf = field(&b.get("/signup").await.body, "_csrf");
    let r = b
        .post_form(
            "/signup",
            &[
                ("_csrf", &csrf),
                ("full_name", "Someone Else"),
                ("email", USER_EMAIL),
                ("password", "amber-Thistle-canyon-41"),
            ],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("We sent a verification link"), "{}", r.body);
    let outbox = server.dir.path().join("mail-outbox");
    let mails = std::fs::read_dir(&outbox).map_or(0, |d| d.count());
    assert_eq!(mails, 0, "a mail went to an existing account");

    // Log in through the form.
    let csrf = field(&b.get("/login").await.body, "_csrf");
    let r = b
        .post_form(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", USER_EMAIL),
                ("password", USER_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/account"))
    );
    let me = json(&b.get("/api/whoami").await.body);
    assert_eq!(
        me,
        serde_json::json!({"user_id": uid, "user_role": "authenticated", "email": USER_EMAIL})
    );
    // Without passkeys at authnz, the account page says so (and offers none).
    let account = b.get("/account").await.body;
    assert!(
        account.contains("<p id=\"passkeys-unavailable\">Passkeys are not enabled"),
        "{account}"
    );
    assert!(!account.contains("id=\"passkey-add\""), "{account}");

    // An API key from the keys page, then /api/whoami with it alone.
    let csrf = field(&b.get("/apikeys").await.body, "_csrf");
    let page = b.post_form("/apikeys", &[("_csrf", &csrf)]).await.body;
    let key = page
        .split("<pre id=\"new-key\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    let mut api = Browser::new(addr);
    let bearer = format!("Bearer {key}");
    let r = api
        .send("GET", "/api/whoami", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json(&r.body), me);
    assert!(r.set_cookies().is_empty());
    for bad in ["Bearer nonsense", "Bearer "] {
        let r = api
            .send("GET", "/api/whoami", &[("authorization", bad)], "")
            .await;
        assert_eq!(r.status, 401, "{bad}");
    }

    // POST /logout without the token: 403, still signed in; with it: out.
    let r = b.post_form("/logout", &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("CSRF"), "{}", r.body);
    assert_eq!(json(&b.get("/api/whoami").await.body)["user_id"], uid);
    let csrf = field(&b.get("/account").await.body, "_csrf");
    let r = b.post_form("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(
        json(&b.get("/api/whoami").await.body)["user_role"],
        "anonymous"
    );
    // The no-session key outlives the session; revoked, it is refused.
    let r = api
        .send("GET", "/api/whoami", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(r.status, 200);
    let csrf = field(&b.get("/login").await.body, "_csrf");
    b.post_form(
        "/login",
        &[
            ("_csrf", &csrf),
            ("email", USER_EMAIL),
            ("password", USER_PASSWORD),
        ],
    )
    .await;
    let page = b.get("/apikeys").await.body;
    let (csrf, id) = (field(&page, "_csrf"), field(&page, "id"));
    let r = b
        .post_form("/apikeys/revoke", &[("_csrf", &csrf), ("id", &id)])
        .await;
    assert_eq!(r.status, 303, "{r:?}");
    let r = api
        .send("GET", "/api/whoami", &[("authorization", &bearer)], "")
        .await;
    assert_eq!(r.status, 401);
    server.stop().await;
}

/// The social-login pages without a provider to talk to (the whole flow
/// against a real provider is tests/e2e/test_frontend_oauth_browser.py):
/// the buttons, and the error page for each way a login can go wrong
/// before it reaches one, with nobody logged in.
#[tokio::test]
async fn social_login_buttons_and_error_pages() {
    let server = Server::start().await;
    // Without configured providers: no buttons, no routes to start one.
    let addr = serve(&server).await;
    let mut b = Browser::new(addr);
    let r = b.get("/login").await;
    // (The passkey button is there, the provider buttons are not.)
    assert!(!r.body.contains("oauth-login"), "{}", r.body);
    assert_eq!(b.get("/oauth/testop/start").await.status, 404);

    let addr = serve_with(&server, vec!["testop".into(), "other".into()]).await;
    let mut b = Browser::new(addr);
    let r = b.get("/login").await;
    assert!(
        r.body.contains("id=\"oauth-testop\"") && r.body.contains("Log in with testop"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("action=\"/oauth/other/start\""),
        "{}",
        r.body
    );

    // A provider the site does not offer.
    let r = b.get("/oauth/nosuch/start").await;
    assert_eq!(r.status, 404, "{r:?}");
    assert!(
        r.body.contains("no login provider of that name"),
        "{}",
        r.body
    );
    // authnz has no providers: its refusal is on the error page.
    let r = b.get("/oauth/testop/start").await;
    assert_eq!(r.status, 502, "{r:?}");
    assert!(r.body.contains("Social login failed"), "{}", r.body);
    assert!(r.body.contains("not configured"), "{}", r.body);
    // The provider's error: its code is shown only when it is a plain code.
    let r = b
        .get("/oauth/testop/callback?error=access_denied&state=s")
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("(access_denied)"), "{}", r.body);
    let r = b
        .get("/oauth/testop/callback?error=%3Cscript%3E&state=s")
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(!r.body.contains("script"), "{}", r.body);
    // No code, or no state.
    let r = b.get("/oauth/testop/callback?state=s").await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("no code or no state"), "{}", r.body);
    // A code and state authnz never made: refused, nobody logged in.
    let r = b.get("/oauth/testop/callback?state=s&code=c").await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("Social login failed"), "{}", r.body);
    let anon = json(&b.get("/api/whoami").await.body);
    assert_eq!(anon["user_role"], "anonymous", "{anon}");
    // Unlinking needs a signed-in user (and the form's CSRF token).
    let csrf = field(&b.get("/login").await.body, "_csrf");
    let r = b
        .post_form(
            "/account/oauth/unlink",
            &[("provider", "testop"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location").as_deref(), Some("/login"));
    server.stop().await;
}

/// POST JSON with `csrf` in the `X-CSRF-Token` header (as the site's
/// script does), or without the header when `csrf` is empty.
async fn post_json(
    b: &mut Browser,
    path: &str,
    csrf: &str,
    body: &serde_json::Value,
) -> common::Reply {
    let mut headers = vec![("content-type", "application/json")];
    if !csrf.is_empty() {
        headers.push(("x-csrf-token", csrf));
    }
    b.send("POST", path, &headers, &body.to_string()).await
}

/// The value of an attribute of the element with `id`.
fn attribute(page: &str, id: &str, name: &str) -> String {
    let element = page
        .split(&format!("id=\"{id}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no #{id} in {page}"));
    let start = element.split('>').next().unwrap();
    start
        .split(&format!("{name}=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} on #{id}"))
        .to_owned()
}

/// The passkey routes of the site with a software authenticator: the
/// script, CSRF on the JSON routes, adding one (recovery codes the first
/// time), the account page's list, passwordless login, the passkey on the
/// second-factor page, clear JSON errors, deleting with the password.
#[tokio::test]
async fn passkeys_through_the_site() {
    use serde_json::json;
    const ORIGIN: &str = "http://localhost:9000";
    let server = Server::start_with_passkeys(ORIGIN).await;
    let uid = server.add_user().await;
    let addr = serve(&server).await;
    let mut key = softkey::SoftKey::new(ORIGIN);

    let mut b = Browser::new(addr);
    let r = b.get("/static/passkeys.js").await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/javascript")),
        "{r:?}"
    );
    assert!(r.body.contains("navigator.credentials.create"));

    let login = b.get("/login").await.body;
    assert!(login.contains("id=\"passkey-login\""), "{login}");
    assert!(login.contains("src=\"/static/passkeys.js\""), "{login}");
    let csrf = field(&login, "_csrf");
    assert!(login.contains(&format!("<meta name=\"csrf-token\" content=\"{csrf}\">")));
    b.post_form(
        "/login",
        &[
            ("_csrf", &csrf),
            ("email", USER_EMAIL),
            ("password", USER_PASSWORD),
        ],
    )
    .await;
    let account = b.get("/account").await.body;
    assert!(account.contains("id=\"no-passkeys\""), "{account}");
    let csrf = field(&account, "_csrf");

    // The JSON routes need the CSRF header.
    let start = json!({"password": USER_PASSWORD, "name": "Laptop"});
    let r = post_json(&mut b, "/account/passkeys/register/start", "", &start).await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = post_json(
        &mut b,
        "/account/passkeys/register/start",
        &csrf,
        &json!({"password": "not-the-password"}),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        json(&r.body)["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    let r = post_json(
        &mut b,
        "/account/passkeys/register/start",
        &csrf,
        &json!({"password": USER_PASSWORD, "name": "x".repeat(65)}),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = post_json(&mut b, "/account/passkeys/register/start", &csrf, &start).await;
    assert_eq!(r.status, 200, "{r:?}");
    let started = json(&r.body);
    let credential = key.create(&started["options"]);
    let r = post_json(
        &mut b,
        "/account/passkeys/register/finish",
        &csrf,
        &json!({"id": started["id"], "name": "Laptop", "credential": credential}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let added = json(&r.body);
    assert_eq!(added["recovery_codes"].as_array().map(Vec::len), Some(10));
    assert_eq!(added["redirect"], "/account?m=passkeyadded");
    let account = b.get("/account?m=passkeyadded").await.body;
    assert!(account.contains("Your passkey is added"), "{account}");
    assert!(
        account.contains("<td class=\"passkey-name\">Laptop</td>"),
        "{account}"
    );
    assert!(
        account.contains("<td class=\"passkey-last-used\">never</td>"),
        "{account}"
    );
    let passkey_id = field(&account, "passkey_id");

    // Passwordless login: the script's two calls.
    let mut b2 = Browser::new(addr);
    let csrf2 = field(&b2.get("/login").await.body, "_csrf");
    let r = post_json(&mut b2, "/login/passkey/start", &csrf2, &json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let started = json(&r.body);
    // A broken credential gets a clear JSON error, and nobody signs in.
    let r = post_json(
        &mut b2,
        "/login/passkey/finish",
        &csrf2,
        &json!({"id": started["id"], "credential": {"id": "nonsense"}}),
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        json(&r.body)["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );
    assert_eq!(
        json(&b2.get("/api/whoami").await.body)["user_role"],
        "anonymous"
    );
    let csrf2 = field(&b2.get("/login").await.body, "_csrf");
    let r = post_json(&mut b2, "/login/passkey/start", &csrf2, &json!({})).await;
    let started = json(&r.body);
    let assertion = key.get(&started["options"]);
    let r = post_json(
        &mut b2,
        "/login/passkey/finish",
        &csrf2,
        &json!({"id": started["id"], "credential": assertion}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json(&r.body), json!({"redirect": "/account"}));
    assert_eq!(json(&b2.get("/api/whoami").await.body)["user_id"], uid);

    // Password, then the passkey on the second-factor page.
    let mut b3 = Browser::new(addr);
    let csrf3 = field(&b3.get("/login").await.body, "_csrf");
    let page = b3
        .post_form(
            "/login",
            &[
                ("_csrf", &csrf3),
                ("email", USER_EMAIL),
                ("password", USER_PASSWORD),
            ],
        )
        .await
        .body;
    assert!(page.contains("Two-factor authentication"), "{page}");
    let ticket = attribute(&page, "passkey-second", "data-ticket");
    assert_eq!(ticket, field(&page, "ticket"));
    assert!(field(&page, "factors").contains("passkey"), "{page}");
    assert!(
        page.contains("id=\"code\""),
        "recovery codes are offered: {page}"
    );
    let r = post_json(
        &mut b3,
        "/login/second-factor/passkey/start",
        &csrf3,
        &json!({"ticket": ticket}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let options = json(&r.body)["options"].clone();
    let assertion = key.get(&options);
    let r = post_json(
        &mut b3,
        "/login/second-factor/passkey/finish",
        &csrf3,
        &json!({"ticket": ticket, "credential": assertion}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json(&b3.get("/api/whoami").await.body)["user_id"], uid);

    // Deleting needs the password.
    let account = b3.get("/account").await.body;
    assert!(
        !account.contains("<td class=\"passkey-last-used\">never</td>"),
        "{account}"
    );
    let csrf3 = field(&account, "_csrf");
    let r = b3
        .post_form(
            "/account/passkeys/delete",
            &[
                ("_csrf", &csrf3),
                ("passkey_id", &passkey_id),
                ("password", "not-the-password"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = b3
        .post_form(
            "/account/passkeys/delete",
            &[
                ("_csrf", &csrf3),
                ("passkey_id", &passkey_id),
                ("password", USER_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (303, Some("/account?m=passkeyremoved"))
    );
    let account = b3.get("/account?m=passkeyremoved").await.body;
    assert!(account.contains("id=\"no-passkeys\""), "{account}");
    server.stop().await;
}
