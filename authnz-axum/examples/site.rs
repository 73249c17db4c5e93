use std::net::SocketAddr;

use authnz_axum::{
    Auth, AuthConfig, AuthError, AuthLayer, CsrfToken, CurrentUser, LoggedIn, SiteKey,
};
use authnz_client::{Client, Key};
use axum::response::{Html, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};

/// `/` for everyone (with a login form), `/me` for signed-in users.
pub fn app(authnz: Client, site_key: SiteKey) -> Router {
    let config = AuthConfig::default().login_path("/");
    Router::new()
        .route("/", get(home))
        .route("/me", get(me))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(AuthLayer::new(authnz, &site_key, config))
}

async fn home(CurrentUser(user): CurrentUser, CsrfToken(csrf): CsrfToken) -> Html<String> {
    // Every form of the site carries the session's CSRF token.
    Html(format!(
        r#"<p>Hello, {} user.</p>
<form method="post" action="/login"><input type="hidden" name="_csrf" value="{csrf}">
<input name="email"> <input name="password" type="password"> <button>Log in</button></form>"#,
        user.role
    ))
}

#[derive(serde::Deserialize)]
struct Login {
    email: String,
    password: String,
}

async fn login(auth: Auth, Form(form): Form<Login>) -> Result<Redirect, AuthError> {
    // A new session token on success; a refusal is a 400 with authnz's message.
    auth.login(&form.email, &form.password).await?;
    Ok(Redirect::to("/me"))
}

async fn me(LoggedIn(user): LoggedIn) -> String {
    format!("user {} ({})", user.user_id, user.role)
}

async fn logout(auth: Auth) -> Result<Redirect, AuthError> {
    auth.logout().await?;
    Ok(Redirect::to("/"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // authnz's key, and a site key derived from it (CSRF, API keys).
    let secret = std::fs::read_to_string("authnz-data/.authnzerver-secret-key")?;
    let authnz = Client::new("http://127.0.0.1:13431", Key::from_text(&secret)?)?;
    let app = app(authnz, SiteKey::derive_from(secret.trim().as_bytes()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    // ConnectInfo gives the layer the visitor's address (authnz rate-limits by it).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
