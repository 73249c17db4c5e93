//! The site under test: a router using every extractor and helper, served
//! on a loopback port in front of a real authnz server.

use std::net::SocketAddr;

use authnz_axum::{
    Access, ApiKeyUser, Auth, AuthConfig, AuthError, AuthLayer, CsrfToken, CurrentUser, LoggedIn,
    RequireRole, SiteKey, Superuser, Via,
};
use authnz_client::types::ApiKeyClaims;
use axum::Router;
use axum::extract::{Form, Query};
use axum::routing::{get, post};
use std::collections::HashMap;

use crate::common::Server;

pub const SITE_KEY: [u8; 32] = [42; 32];

fn describe(user: &authnz_axum::User) -> String {
    let via = match &user.via {
        Via::Session => "session",
        Via::ApiKey {
            session_tied: true, ..
        } => "apikey-session",
        Via::ApiKey {
            session_tied: false,
            ..
        } => "apikey-nosession",
    };
    format!("{} {} {}", user.user_id, user.role, via)
}

async fn whoami(CurrentUser(user): CurrentUser) -> String {
    describe(&user)
}

async fn csrf(CsrfToken(token): CsrfToken) -> String {
    token
}

async fn login(auth: Auth, Form(f): Form<HashMap<String, String>>) -> Result<String, AuthError> {
    let user = auth
        .login(
            f.get("email").map_or("", String::as_str),
            f.get("password").map_or("", String::as_str),
        )
        .await?;
    Ok(describe(&user))
}

async fn logout(auth: Auth) -> Result<String, AuthError> {
    auth.logout().await?;
    Ok("bye".into())
}

async fn changepass(
    auth: Auth,
    Form(f): Form<HashMap<String, String>>,
) -> Result<String, AuthError> {
    let messages = auth
        .change_password(
            f.get("current").map_or("", String::as_str),
            f.get("new").map_or("", String::as_str),
        )
        .await?;
    Ok(messages.join(" "))
}

async fn private(LoggedIn(user): LoggedIn) -> String {
    describe(&user)
}

async fn admin(RequireRole(user, _): RequireRole<Superuser>) -> String {
    describe(&user)
}

async fn api(ApiKeyUser(user): ApiKeyUser) -> String {
    describe(&user)
}

/// Issue a key: `kind=session` or `nosession`. Answers the bearer key and
/// the claims JSON on two lines.
async fn apikey(
    auth: Auth,
    _: LoggedIn,
    Form(f): Form<HashMap<String, String>>,
) -> Result<String, AuthError> {
    let issued = match f.get("kind").map(String::as_str) {
        Some("session") => auth.new_api_key(1).await?,
        _ => auth.new_api_key_nosession(3600).await?,
    };
    Ok(format!(
        "{}\n{}",
        issued.bearer.expose(),
        serde_json::Value::Object(issued.claims.0)
    ))
}

async fn revoke(auth: Auth, Form(f): Form<HashMap<String, String>>) -> Result<String, AuthError> {
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(f.get("claims").map_or("{}", String::as_str)).unwrap_or_default();
    Ok(auth
        .revoke_api_key(&ApiKeyClaims(claims))
        .await?
        .to_string())
}

async fn access(auth: Auth, Query(q): Query<HashMap<String, String>>) -> Result<String, AuthError> {
    let owner: i64 = q.get("owner").and_then(|o| o.parse().ok()).unwrap_or(0);
    auth.require_access(&Access {
        action: "view",
        target_name: "dataset",
        target_owner: owner,
        target_visibility: "private",
        target_sharedwith: &[],
    })
    .await?;
    Ok("granted".into())
}

async fn echo(body: String) -> String {
    body
}

pub fn router(layer: AuthLayer) -> Router {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/csrf", get(csrf))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/changepass", post(changepass))
        .route("/private", get(private))
        .route("/admin", get(admin))
        .route("/api", get(api))
        .route("/apikey", post(apikey))
        .route("/revoke", post(revoke))
        .route("/access", get(access))
        .route("/echo", post(echo))
        .layer(layer)
}

/// Serve the test site for `server` with `config`; its address.
pub async fn site(server: &Server, config: AuthConfig) -> SocketAddr {
    site_with_key(server, config, SITE_KEY).await
}

pub async fn site_with_key(server: &Server, config: AuthConfig, key: [u8; 32]) -> SocketAddr {
    let layer = AuthLayer::new(server.client(), &SiteKey::from_bytes(key), config);
    let app = router(layer);
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
