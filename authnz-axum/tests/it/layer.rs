//! The layer's behaviour, one concern per test.

use std::time::Duration;

use authnz_axum::{AuthConfig, CookieSecurity, RequestLimits};
use authnz_client::requests::SessionNew;

use crate::app::{site, site_with_key};
use crate::common::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Browser, Server, USER_EMAIL, USER_PASSWORD, USER_PASSWORD_2,
};

fn cookie_attrs(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn first_visit_gets_an_anonymous_session_in_a_strict_cookie() {
    let server = Server::start().await;
    let addr = site(&server, AuthConfig::default()).await;
    let mut b = Browser::new(addr);

    let r = b.get("/whoami").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.ends_with(" anonymous session"), "{}", r.body);
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let attrs = cookie_attrs(&cookies[0]);
    for want in ["httponly", "samesite=lax", "path=/", "max-age=2592000"] {
        assert!(
            attrs.contains(&want.to_owned()),
            "{want} missing: {attrs:?}"
        );
    }
    // Plain HTTP on loopback: no Secure (a browser would drop the cookie).
    assert!(!attrs.contains(&"secure".to_owned()), "{attrs:?}");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let token = b.token().expect("cookie kept");

    // The session is authnz's: it exists there.
    let info = server
        .client()
        .session_exists(&authnz_client::requests::SessionExists {
            session_token: token.clone().into(),
        })
        .await
        .expect("session exists at authnz");
    assert_eq!(info.session_info.user_role.as_deref(), Some("anonymous"));

    // The next visit keeps it: no new cookie, same user.
    let again = b.get("/whoami").await;
    assert_eq!(again.body, r.body);
    assert!(again.set_cookies().is_empty(), "{again:?}");
    assert_eq!(b.token(), Some(token));

    // A made-up or deleted token gets a new anonymous session.
    b.cookie = Some("not-a-session".into());
    let r = b.get("/whoami").await;
    assert_eq!(r.set_cookies().len(), 1);
    assert_ne!(b.token().as_deref(), Some("not-a-session"));
    server.stop().await;
}

#[tokio::test]
async fn cookie_is_secure_off_loopback_and_configurable() {
    let server = Server::start().await;
    let addr = site(&server, AuthConfig::default()).await;
    for (host, proto, secure) in [
        ("www.example.org", None, true),
        ("localhost:8080", None, false),
        ("127.0.0.1", Some("https"), true),
        ("[::1]:80", None, false),
    ] {
        let mut b = Browser::new(addr);
        b.host = Some(host.into());
        let headers: Vec<(&str, &str)> = proto
            .map(|p| ("x-forwarded-proto", p))
            .into_iter()
            .collect();
        let r = b.send("GET", "/whoami", &headers, "").await;
        let attrs = cookie_attrs(&r.set_cookies()[0]);
        assert_eq!(
            attrs.contains(&"secure".to_owned()),
            secure,
            "{host}: {attrs:?}"
        );
    }

    let config = AuthConfig::default()
        .cookie_name("sid")
        .cookie_path("/app")
        .cookie_domain("example.org")
        .session_days(2)
        .cookie_security(CookieSecurity::Always);
    let addr = site(&server, config).await;
    let mut b = Browser::new(addr);
    b.cookie_name = "sid".into();
    let r = b.get("/whoami").await;
    let cookie = &r.set_cookies()[0];
    assert!(cookie.starts_with("sid="), "{cookie}");
    let attrs = cookie_attrs(cookie);
    for want in [
        "path=/app",
        "domain=example.org",
        "max-age=172800",
        "secure",
        "httponly",
    ] {
        assert!(
            attrs.contains(&want.to_owned()),
            "{want} missing: {attrs:?}"
        );
    }
    assert!(b.token().is_some());
    // The cookie is read back under its configured name.
    let again = b.get("/whoami").await;
    assert!(again.set_cookies().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn login_rotates_the_session_token() {
    let server = Server::start().await;
    let addr = site(&server, AuthConfig::default()).await;
    let mut b = Browser::new(addr);
    b.get("/whoami").await;
    let anonymous = b.token().unwrap();

    let r = b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.ends_with(" superuser session"), "{}", r.body);
    let signed_in = b.token().unwrap();
    assert_ne!(
        signed_in, anonymous,
        "no new token at login: session fixation"
    );
    assert!(cookie_attrs(&r.set_cookies()[0]).contains(&"httponly".to_owned()));

    // The pre-login token is dead: whoever held it gets a fresh anonymous
    // session, not the signed-in one.
    let mut attacker = Browser::new(addr);
    attacker.cookie = Some(anonymous.clone());
    let r = attacker.get("/whoami").await;
    assert!(r.body.ends_with(" anonymous session"), "{}", r.body);
    assert_ne!(attacker.token(), Some(anonymous));

    assert!(b.get("/private").await.body.ends_with(" superuser session"));

    // A refused login: 400 with authnz's message, and a new anonymous
    // session (authnz deleted the presented one).
    let mut c = Browser::new(addr);
    c.get("/whoami").await;
    let before = c.token().unwrap();
    let r = c.login(ADMIN_EMAIL, "wrong-password-123").await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("didn't work"), "{}", r.body);
    assert_ne!(c.token().unwrap(), before);
    assert!(c.get("/whoami").await.body.ends_with(" anonymous session"));
    server.stop().await;
}

#[tokio::test]
async fn unsafe_methods_need_the_sessions_csrf_token() {
    let server = Server::start().await;
    let addr = site(&server, AuthConfig::default()).await;
    let mut b = Browser::new(addr);
    let token = b.csrf().await;
    assert_eq!(token.len(), 43);

    // No token: a clear 403.
    let r = b.post_form("/echo", &[("a", "1")]).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("CSRF token"), "{}", r.body);
    // A wrong one, in the form or the header.
    assert_eq!(b.post_form("/echo", &[("_csrf", "x")]).await.status, 403);
    let r = b
        .send("POST", "/echo", &[("x-csrf-token", "nope")], "{}")
        .await;
    assert_eq!(r.status, 403);
    // Another session's token.
    let mut other = Browser::new(addr);
    let theirs = other.csrf().await;
    assert_ne!(theirs, token);
    assert_eq!(
        b.post_form("/echo", &[("_csrf", &theirs)]).await.status,
        403
    );
    // A JSON body cannot carry it: the header is needed.
    let r = b
        .send(
            "POST",
            "/echo",
            &[("content-type", "application/json")],
            "{\"_csrf\":\"x\"}",
        )
        .await;
    assert_eq!(r.status, 403);
    // A first visit that POSTs has no token to send.
    let mut fresh = Browser::new(addr);
    assert_eq!(
        fresh.post_form("/echo", &[("_csrf", &token)]).await.status,
        403
    );
    // DELETE is unsafe too.
    assert_eq!(b.send("DELETE", "/echo", &[], "").await.status, 403);

    // The right token: in the form (the route still gets the whole body) or
    // in the header.
    let r = b
        .post_form("/echo", &[("a", "1 2"), ("_csrf", &token)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, format!("a=1+2&_csrf={token}"));
    let r = b
        .send(
            "POST",
            "/echo",
            &[
                ("x-csrf-token", &token),
                ("content-type", "application/json"),
            ],
            "{\"k\":1}",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "{\"k\":1}");

    // A form larger than the limit: 413, not a hang or a crash.
    let big = "x".repeat(70 * 1024);
    let r = b
        .post_form("/echo", &[("big", &big), ("_csrf", &token)])
        .await;
    assert_eq!(r.status, 413);

    // The token changes with the session: after login the old one fails.
    let r = b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status, 200);
    assert_eq!(b.post_form("/echo", &[("_csrf", &token)]).await.status, 403);
    server.stop().await;
}

async fn logout_and_password_change_end_sessions(config: AuthConfig) {
    let server = Server::start().await;
    server.add_user().await;
    let addr = site(&server, config).await;

    // Logout: the session dies at authnz and the cookie is deleted.
    let mut b = Browser::new(addr);
    b.login(USER_EMAIL, USER_PASSWORD).await;
    let token = b.token().unwrap();
    assert!(
        b.get("/private")
            .await
            .body
            .ends_with(" authenticated session")
    );
    let r = b.post_form_csrf("/logout", &[]).await;
    assert_eq!(r.status, 200, "{r:?}");
    let cleared = &r.set_cookies()[0];
    assert!(cleared.starts_with("authnz_session=;"), "{cleared}");
    assert!(cookie_attrs(cleared).contains(&"max-age=0".to_owned()));
    let mut replay = Browser::new(addr);
    replay.cookie = Some(token);
    let r = replay.get("/private").await;
    assert_eq!(r.status, 401, "a logged-out token still works: {r:?}");

    // Password change: other sessions of the user end at once, this one
    // goes on.
    let mut one = Browser::new(addr);
    let mut two = Browser::new(addr);
    one.login(USER_EMAIL, USER_PASSWORD).await;
    two.login(USER_EMAIL, USER_PASSWORD).await;
    assert_eq!(one.get("/private").await.status, 200);
    assert_eq!(two.get("/private").await.status, 200);
    let r = two
        .post_form_csrf(
            "/changepass",
            &[("current", USER_PASSWORD), ("new", USER_PASSWORD_2)],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Password changed"), "{}", r.body);
    assert_eq!(
        one.get("/private").await.status,
        401,
        "other session survived"
    );
    assert_eq!(two.get("/private").await.status, 200);
    // A wrong current password is refused with authnz's message.
    let r = two
        .post_form_csrf(
            "/changepass",
            &[("current", "nope-nope-nope"), ("new", USER_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("did not match"), "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn logout_and_password_change_end_sessions_without_cache() {
    logout_and_password_change_end_sessions(AuthConfig::default()).await;
}

#[tokio::test]
async fn logout_and_password_change_end_sessions_with_cache() {
    logout_and_password_change_end_sessions(
        AuthConfig::default().session_cache(Duration::from_secs(300)),
    )
    .await;
}

#[tokio::test]
async fn the_cache_answers_for_its_ttl() {
    // A session deleted behind the site's back stays valid until the
    // entry expires (that is the trade-off the cache makes), and not after.
    let server = Server::start().await;
    let addr = site(
        &server,
        AuthConfig::default().session_cache(Duration::from_millis(800)),
    )
    .await;
    let mut b = Browser::new(addr);
    b.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(b.get("/private").await.status, 200);
    server
        .client()
        .session_delete(&authnz_client::requests::SessionDelete {
            session_token: b.token().unwrap().into(),
        })
        .await
        .expect("deleted");
    assert_eq!(b.get("/private").await.status, 200, "cache not used");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(b.get("/private").await.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn api_keys_of_both_kinds_are_verified_and_revocable() {
    let server = Server::start().await;
    let uid = server.add_user().await;
    let addr = site(&server, AuthConfig::default()).await;
    let mut b = Browser::new(addr);
    b.login(USER_EMAIL, USER_PASSWORD).await;

    for (kind, via) in [
        ("session", "apikey-session"),
        ("nosession", "apikey-nosession"),
    ] {
        let r = b.post_form_csrf("/apikey", &[("kind", kind)]).await;
        assert_eq!(r.status, 200, "{r:?}");
        let (key, claims) = r.body.split_once('\n').unwrap();
        let (key, claims) = (key.to_owned(), claims.to_owned());

        // A bearer key: the route gets its owner; no cookie, no CSRF.
        let mut api = Browser::new(addr);
        let auth = format!("Bearer {key}");
        let r = api
            .send("GET", "/api", &[("authorization", &auth)], "")
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body, format!("{uid} authenticated {via}"));
        assert!(r.set_cookies().is_empty(), "{r:?}");
        let r = api
            .send("POST", "/echo", &[("authorization", &auth)], "hi")
            .await;
        assert_eq!(r.status, 200, "bearer requests need no CSRF token");

        // Revoked: 401.
        let r = b.post_form_csrf("/revoke", &[("claims", &claims)]).await;
        assert_eq!(r.body, "true", "{r:?}");
        let r = api
            .send("GET", "/api", &[("authorization", &auth)], "")
            .await;
        assert_eq!(r.status, 401, "{kind}: revoked key accepted: {r:?}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }

    // A session-tied key dies with its session (logout).
    let r = b.post_form_csrf("/apikey", &[("kind", "session")]).await;
    let key = r.body.split_once('\n').unwrap().0.to_owned();
    let auth = format!("Bearer {key}");
    let mut api = Browser::new(addr);
    assert_eq!(
        api.send("GET", "/api", &[("authorization", &auth)], "")
            .await
            .status,
        200
    );
    b.post_form_csrf("/logout", &[]).await;
    assert_eq!(
        api.send("GET", "/api", &[("authorization", &auth)], "")
            .await
            .status,
        401
    );

    // Garbage, and a key sealed by another site: 401.
    for bad in [
        "Bearer ",
        "Bearer abc",
        &format!("Bearer {}", "A".repeat(5000)),
    ] {
        let r = api
            .send("GET", "/whoami", &[("authorization", bad)], "")
            .await;
        assert_eq!(r.status, 401, "{bad:.20}");
    }
    let other = site_with_key(&server, AuthConfig::default(), [7; 32]).await;
    b.login(USER_EMAIL, USER_PASSWORD).await;
    let r = b.post_form_csrf("/apikey", &[("kind", "nosession")]).await;
    let key = r.body.split_once('\n').unwrap().0.to_owned();
    let mut elsewhere = Browser::new(other);
    let r = elsewhere
        .send(
            "GET",
            "/api",
            &[("authorization", &format!("Bearer {key}"))],
            "",
        )
        .await;
    assert_eq!(r.status, 401);
    // No key at all on an API-key route: 401.
    assert_eq!(Browser::new(addr).get("/api").await.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn role_and_permission_extractors() {
    let server = Server::start().await;
    let uid = server.add_user().await;
    let addr = site(&server, AuthConfig::default()).await;

    let mut anon = Browser::new(addr);
    assert_eq!(anon.get("/private").await.status, 401);
    assert_eq!(anon.get("/admin").await.status, 401);

    let mut user = Browser::new(addr);
    user.login(USER_EMAIL, USER_PASSWORD).await;
    assert_eq!(user.get("/private").await.status, 200);
    let r = user.get("/admin").await;
    assert_eq!(r.status, 403, "{r:?}");

    let mut admin = Browser::new(addr);
    admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(admin.get("/admin").await.status, 200);

    // user-check-access: one's own private item yes, the admin's (user 1) no.
    let r = user.get(&format!("/access?owner={uid}")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "granted"));
    let r = user.get("/access?owner=1").await;
    assert_eq!(r.status, 403, "{r:?}");
    // A superuser may view anyone's.
    assert_eq!(admin.get(&format!("/access?owner={uid}")).await.status, 200);
    // The anonymous user may not view a private item.
    assert_eq!(anon.get(&format!("/access?owner={uid}")).await.status, 403);

    // With a login page configured, a browser is sent there.
    let addr = site(&server, AuthConfig::default().login_path("/login")).await;
    let r = Browser::new(addr).get("/private").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location").as_deref(), Some("/login"));
    server.stop().await;
}

#[tokio::test]
async fn rate_limits_of_authnz_pass_through_with_retry_after() {
    let server = Server::start_session_limit(3).await;
    let addr = site(&server, AuthConfig::default()).await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let r = Browser::new(addr).get("/whoami").await;
        statuses.push(r.status);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_eq!(statuses[..3], [200, 200, 200], "{statuses:?}");
    let ours: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    // authnz's own answer to the same address right now.
    let direct = server
        .client()
        .session_new(&SessionNew {
            ip_address: "127.0.0.1".into(),
            user_agent: "t".into(),
            user_id: None,
            expires: "2099-01-01T00:00:00".into(),
            extra_info_json: None,
        })
        .await
        .expect_err("limited");
    let authnz_client::Error::TooManyRequests {
        retry_after: Some(theirs),
        ..
    } = direct
    else {
        panic!("{direct:?}")
    };
    assert!(
        ours >= 1 && ours.abs_diff(theirs.as_secs()) <= 1,
        "{ours} vs {theirs:?}"
    );
    server.stop().await;
}

/// `Retry-After` of a 429, in seconds.
fn retry_after(r: &crate::common::Reply) -> u64 {
    assert_eq!(r.status, 429, "{r:?}");
    r.header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_layers_own_request_limits_count_each_session_and_key_by_role() {
    let server = Server::start().await;
    server.add_user().await;
    // Anonymous callers 3 a minute (one every 20 s after the burst),
    // everyone else 5.
    let limits = RequestLimits::per_minute(5).role("anonymous", 3);
    let addr = site(&server, AuthConfig::default().request_limits(limits)).await;

    // One browser: its first request makes the session and counts for it.
    let mut anon = Browser::new(addr);
    for i in 0..3 {
        assert_eq!(anon.get("/whoami").await.status, 200, "request {i}");
    }
    let r = anon.get("/whoami").await;
    let wait = retry_after(&r);
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    // Refused requests are not counted, and a refused request never
    // reaches the route: an unsafe one is refused before its CSRF check.
    assert_eq!(anon.get("/whoami").await.status, 429);
    assert_eq!(anon.post_form("/echo", &[("x", "y")]).await.status, 429);
    // Another browser (another session) has its own budget.
    assert_eq!(Browser::new(addr).get("/whoami").await.status, 200);

    // A signed-in user: /csrf and /login count for the anonymous session
    // (2 of 3), then the rotated session counts from zero under the
    // authenticated limit.
    let mut user = Browser::new(addr);
    let r = user.login(USER_EMAIL, USER_PASSWORD).await;
    assert_eq!(r.status, 200, "{r:?}");
    // /csrf + /apikey: 2 of 5.
    let r = user
        .post_form_csrf("/apikey", &[("kind", "nosession")])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let key = r.body.split_once('\n').unwrap().0.to_owned();
    for i in 0..3 {
        assert_eq!(user.get("/whoami").await.status, 200, "request {i}");
    }
    retry_after(&user.get("/whoami").await);

    // The API key is a caller of its own, counted under its owner's role.
    let auth = format!("Bearer {key}");
    let mut api = Browser::new(addr);
    for i in 0..5 {
        let r = api
            .send("GET", "/api", &[("authorization", &auth)], "")
            .await;
        assert_eq!(r.status, 200, "key request {i}: {r:?}");
    }
    let r = api
        .send("GET", "/api", &[("authorization", &auth)], "")
        .await;
    let wait = retry_after(&r);
    assert!((1..=12).contains(&wait), "Retry-After {wait}");
    assert!(r.set_cookies().is_empty(), "{r:?}");
    server.stop().await;
}

#[tokio::test]
async fn without_request_limits_nothing_is_counted() {
    let server = Server::start().await;
    let addr = site(&server, AuthConfig::default()).await;
    let mut b = Browser::new(addr);
    for i in 0..20 {
        assert_eq!(b.get("/whoami").await.status, 200, "request {i}");
    }
    server.stop().await;
}
