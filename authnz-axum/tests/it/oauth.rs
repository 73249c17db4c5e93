//! The social-login helpers ([`Auth::oauth_start`], [`Auth::oauth_finish`],
//! [`Auth::oauth_identities`], [`Auth::oauth_unlink`]) against a real
//! authnz server and a real OpenID Connect provider (the npm
//! `oidc-provider` on loopback, started by the server tests' support,
//! shared here): the finish rotates the session token as a login does; a
//! forged `state` is refused and leaves the session as it was.

use std::collections::HashMap;
use std::net::SocketAddr;

use authnz_axum::{Auth, AuthConfig, AuthError, AuthLayer, CurrentUser, SiteKey};
use authnz_client::requests::SessionExists;
use axum::Router;
use axum::extract::{Form, Query};
use axum::routing::{get, post};
use serde_json::json;

use crate::common::Server;

#[path = "../../../authnz-server/tests/it/oauth/support.rs"]
#[allow(dead_code)]
mod support;

use support::{CALLBACK, OidcProvider, PROVIDER, form_encode, log_in_at_provider, providers_json};

async fn whoami(CurrentUser(user): CurrentUser) -> String {
    format!("{} {}", user.user_id, user.role)
}

async fn start(auth: Auth) -> Result<String, AuthError> {
    auth.oauth_start(PROVIDER, CALLBACK).await
}

async fn callback(
    auth: Auth,
    Query(q): Query<HashMap<String, String>>,
) -> Result<String, AuthError> {
    let get = |k: &str| q.get(k).map_or("", String::as_str);
    let login = auth
        .oauth_finish(PROVIDER, CALLBACK, get("state"), get("code"))
        .await?;
    Ok(format!(
        "{} {} new={}",
        login.user.user_id, login.user.role, login.new_user
    ))
}

async fn identities(auth: Auth) -> Result<String, AuthError> {
    let linked = auth.oauth_identities().await?;
    let names: Vec<String> = linked
        .identities
        .iter()
        .map(|i| format!("{}:{}", i.provider, i.subject))
        .collect();
    Ok(format!(
        "password={} {}",
        linked.has_password,
        names.join(",")
    ))
}

async fn unlink(auth: Auth, Form(f): Form<HashMap<String, String>>) -> Result<String, AuthError> {
    auth.oauth_unlink(f.get("provider").map_or("", String::as_str))
        .await?;
    Ok("unlinked".into())
}

async fn csrf(auth: Auth) -> String {
    auth.csrf_token().unwrap_or_default()
}

async fn site(server: &Server) -> SocketAddr {
    let layer = AuthLayer::new(
        server.client(),
        &SiteKey::from_bytes([7; 32]),
        AuthConfig::default(),
    );
    let app = Router::new()
        .route("/whoami", get(whoami))
        .route("/csrf", get(csrf))
        .route("/oauth/start", get(start))
        .route("/oauth/callback", get(callback))
        .route("/identities", get(identities))
        .route("/unlink", post(unlink))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

#[tokio::test]
async fn oauth_finish_logs_in_with_a_rotated_session_and_refusals_change_nothing() {
    let Some(op) = OidcProvider::start().await else {
        return;
    };
    let server = Server::start_with_oauth(&providers_json(&op.issuer, json!({}))).await;
    let addr = site(&server).await;
    let mut b = crate::common::Browser::new(addr);

    // An anonymous session.
    let r = b.get("/whoami").await;
    assert!(r.body.ends_with(" anonymous"), "{r:?}");
    let anonymous = b.token().expect("a session cookie");

    // Not logged in: no identities to list.
    let r = b.get("/identities").await;
    assert_eq!(r.status, 401, "{r:?}");

    // A forged state: refused with the user's message, the session stays.
    let r = b.get("/oauth/start").await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = b
        .get("/oauth/callback?state=forged-state&code=forged-code")
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("unknown or was already used"), "{r:?}");
    assert_eq!(b.token().as_deref(), Some(anonymous.as_str()));
    assert!(b.get("/whoami").await.body.ends_with(" anonymous"));

    // The real flow: start, the provider's login form, finish.
    let r = b.get("/oauth/start").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.starts_with(&op.issuer), "{r:?}");
    let back = log_in_at_provider(&r.body, "axum-person@example.org").await;
    let r = b
        .get(&format!(
            "/oauth/callback?state={}&code={}",
            form_encode(&back.state),
            form_encode(&back.code)
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.ends_with(" authenticated new=true"), "{r:?}");
    let user_id = r.body.split(' ').next().unwrap().to_owned();

    // The token rotated; the old session is gone at authnz.
    let token = b.token().expect("a new session cookie");
    assert_ne!(token, anonymous, "the session token rotates");
    let old = server
        .client()
        .session_exists(&SessionExists {
            session_token: anonymous.as_str().into(),
        })
        .await;
    assert!(old.is_err(), "the pre-login session is gone: {old:?}");
    assert_eq!(
        b.get("/whoami").await.body,
        format!("{user_id} authenticated")
    );

    // The state is single use: the same callback again is refused.
    let r = b
        .get(&format!(
            "/oauth/callback?state={}&code={}",
            form_encode(&back.state),
            form_encode(&back.code)
        ))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(b.token().as_deref(), Some(token.as_str()));

    // The identity is listed; it is the only way in, so unlinking fails.
    let r = b.get("/identities").await;
    assert_eq!(
        r.body,
        format!("password=false {PROVIDER}:axum-person@example.org")
    );
    let csrf = b.get("/csrf").await.body;
    let r = b
        .post_form("/unlink", &[("provider", PROVIDER), ("_csrf", &csrf)])
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("only way to log in"), "{r:?}");

    server.stop().await;
    op.stop().await;
}
