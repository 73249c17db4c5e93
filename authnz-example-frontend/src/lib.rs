//! An example site on [`authnz_axum`]: server-rendered pages for sign-up
//! (with the verification link from the mail), login, logout, password
//! change, forgotten-password reset, API keys, the user's own sessions
//! ("My sessions": list them, sign one or all others out), social login
//! ("Log in with <provider>" for the providers in [`Settings::oauth_providers`],
//! and the account's linked identities with unlink), two-factor
//! authentication (TOTP with a QR code, recovery codes), passkeys (add,
//! list and delete them on the account page, "Log in with a passkey"
//! without a password, a passkey as the second factor; the browser's part
//! is `static/passkeys.js`, see [`passkeys`]), and `GET /api/whoami` for a
//! cookie session or an API key.
//!
//! Everything that touches accounts goes to authnz; the site itself keeps
//! only the list of API keys it issued (in memory: authnz has no request
//! that lists keys) and signs the links in its mails with its
//! [`SiteKey`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use authnz_axum::{
    Auth, AuthConfig, AuthError, AuthLayer, CurrentUser, LoggedIn, RequestLimits, SiteKey, Via,
};
use authnz_client::Client;
use authnz_client::requests::{
    UserList, UserNew, UserResetpass, UserSendemailForgotpass, UserSendemailSignup,
    UserSessionsList, UserSessionsRevoke, UserSetEmailverified,
};
use authnz_client::types::ApiKeyClaims;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

mod passkeys;

/// How long the links in sign-up and reset mails work.
const LINK_SECONDS: i64 = 15 * 60;
/// How long API keys issued here last.
const APIKEY_SECONDS: i64 = 30 * 24 * 60 * 60;

/// What the site needs: where authnz is and the site's secrets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The authnz client.
    pub client: Client,
    /// The site's own key (CSRF, API keys, mail links).
    pub site_key: SiteKey,
    /// The site's public URL, for the links in mails (no trailing `/`).
    pub base_url: String,
    /// The name in mails and page titles.
    pub site_name: String,
    /// The social-login providers to offer (names from authnz's
    /// `oauthproviders`). Each one's callback is
    /// `<base_url>/oauth/<name>/callback`, which must be one of its
    /// `redirect_uris` at authnz and at the provider.
    pub oauth_providers: Vec<String>,
}

#[derive(Debug)]
struct KeyRow {
    id: u64,
    claims: ApiKeyClaims,
    expires: String,
    revoked: bool,
}

#[derive(Debug)]
struct AppState {
    settings: Settings,
    keys: Mutex<(u64, HashMap<i64, Vec<KeyRow>>)>,
}

type Shared = Arc<AppState>;

/// The site's router, with the authnz layer.
pub fn app(settings: Settings) -> Router {
    let layer = AuthLayer::new(
        settings.client.clone(),
        &settings.site_key,
        AuthConfig::default()
            .login_path("/login")
            .apikey_issuer_audience("authnz-example-frontend", "authnz-example-frontend")
            // Per session or API key, as the original's BaseHandler counts.
            .request_limits(RequestLimits::per_minute(6_000).role("anonymous", 600)),
    );
    let state = Arc::new(AppState {
        settings,
        keys: Mutex::new((0, HashMap::new())),
    });
    let router = Router::new()
        .route("/", get(home))
        .route("/signup", get(signup_page).post(signup))
        .route("/verify", get(verify_page).post(verify))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/password", post(change_password))
        .route("/account/oauth/unlink", post(oauth_unlink))
        .route("/account/totp/enroll", post(totp_enroll))
        .route("/account/totp/confirm", post(totp_confirm))
        .route("/account/totp/disable", post(totp_disable))
        .route("/login/second-factor", post(login_second_factor))
        .route("/oauth/{provider}/start", get(oauth_start))
        .route("/oauth/{provider}/callback", get(oauth_callback))
        .route("/forgot", get(forgot_page).post(forgot))
        .route("/reset", get(reset_page).post(reset))
        .route("/apikeys", get(apikeys).post(create_apikey))
        .route("/apikeys/revoke", post(revoke_apikey))
        .route("/sessions", get(sessions))
        .route("/sessions/revoke", post(revoke_session))
        .route("/api/whoami", get(whoami));
    passkeys::routes(router).with_state(state).layer(layer)
}

// ------------------------------------------------------------------ HTML

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: navigation (with the logout form when signed in), messages,
/// then `body`.
fn page(auth: &Auth, title: &str, messages: &[String], body: &str) -> Html<String> {
    let user = auth.user();
    let csrf = esc(&auth.csrf_token().unwrap_or_default());
    let nav = if user.is_logged_in() {
        format!(
            "<a href=\"/\">Home</a> | <a href=\"/account\">Account</a> | \
             <a href=\"/apikeys\">API keys</a> | <a href=\"/sessions\">My sessions</a> | \
             <form method=\"post\" action=\"/logout\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"_csrf\" value=\"{csrf}\">\
             <button id=\"logout\" type=\"submit\">Log out</button></form>"
        )
    } else {
        "<a href=\"/\">Home</a> | <a href=\"/signup\">Sign up</a> | \
         <a href=\"/login\">Log in</a> | <a href=\"/forgot\">Forgot password</a>"
            .to_owned()
    };
    let messages: String = messages
        .iter()
        .map(|m| format!("<li>{}</li>", esc(m)))
        .collect();
    let messages = if messages.is_empty() {
        String::new()
    } else {
        format!("<ul id=\"messages\">{messages}</ul>")
    };
    Html(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"csrf-token\" content=\"{csrf}\"></head>\
         <body><nav>{nav}</nav><h1>{title}</h1>{messages}{body}</body></html>\n",
        title = esc(title),
    ))
}

fn hidden_csrf(auth: &Auth) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(auth.csrf_field()),
        esc(&auth.csrf_token().unwrap_or_default())
    )
}

/// Messages for the `?m=` of a redirect (fixed texts: nothing from the URL
/// is shown).
fn notice(code: Option<&str>) -> Vec<String> {
    let text = match code {
        Some("verified") => "Your e-mail address is verified. You can log in now.",
        Some("loggedout") => "You are logged out.",
        Some("reset") => "Your password is reset. You can log in with the new one.",
        Some("password") => "Your password is changed. Your other sessions are logged out.",
        Some("revoked") => "The API key is revoked.",
        Some("session") => "That session is signed out.",
        Some("others") => "Your other sessions are signed out.",
        Some("oauth") => "You are logged in.",
        Some("oauthnew") => "You are logged in. Your account is new.",
        Some("unlinked") => "The identity is unlinked.",
        Some("totpoff") => "Two-factor authentication is disabled.",
        Some("passkeyadded") => "Your passkey is added. Your other sessions are logged out.",
        Some("passkeyremoved") => "The passkey is deleted. Your other sessions are logged out.",
        _ => return Vec::new(),
    };
    vec![text.to_owned()]
}

#[derive(Debug, Deserialize)]
struct Notice {
    m: Option<String>,
}

fn refused(e: AuthError) -> Result<Vec<String>, AuthError> {
    match e {
        AuthError::Refused { messages, .. } => Ok(if messages.is_empty() {
            vec!["The request was refused.".to_owned()]
        } else {
            messages
        }),
        other => Err(other),
    }
}

fn client_refused(e: authnz_client::Error) -> Result<Vec<String>, AuthError> {
    refused(AuthError::from(e))
}

// ---------------------------------------------------------- mail links

/// A signed link token: `base64url(purpose|email|expiry).signature`.
fn link_token(key: &SiteKey, purpose: &str, email: &str) -> String {
    let expiry = chrono::Utc::now().timestamp() + LINK_SECONDS;
    let payload = URL_SAFE_NO_PAD.encode(format!("{purpose}|{expiry}|{email}"));
    let sig = key.sign(purpose, payload.as_bytes());
    format!("{payload}.{sig}")
}

/// The e-mail address of a valid, unexpired link token for `purpose`.
fn open_link_token(key: &SiteKey, purpose: &str, token: &str) -> Option<String> {
    if token.len() > 1024 {
        return None;
    }
    let (payload, sig) = token.split_once('.')?;
    if !key.verify(purpose, payload.as_bytes(), sig) {
        return None;
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let mut parts = text.splitn(3, '|');
    let (p, expiry, email) = (parts.next()?, parts.next()?, parts.next()?);
    let expiry: i64 = expiry.parse().ok()?;
    (p == purpose && expiry >= chrono::Utc::now().timestamp()).then(|| email.to_owned())
}

// ---------------------------------------------------------------- pages

async fn home(auth: Auth, Query(n): Query<Notice>) -> Html<String> {
    let user = auth.user();
    let body = if user.is_logged_in() {
        format!(
            "<p id=\"who\">Signed in as {} ({}).</p>",
            esc(user.email.as_deref().unwrap_or("")),
            esc(&user.role)
        )
    } else {
        "<p id=\"who\">You are not signed in.</p>".to_owned()
    };
    page(&auth, "Home", &notice(n.m.as_deref()), &body)
}

fn signup_form(auth: &Auth) -> String {
    format!(
        "<form method=\"post\" action=\"/signup\">{}\
         <label>Full name <input name=\"full_name\" id=\"full_name\"></label><br>\
         <label>E-mail <input name=\"email\" id=\"email\" type=\"email\"></label><br>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\"></label><br>\
         <button type=\"submit\" id=\"submit\">Sign up</button></form>",
        hidden_csrf(auth)
    )
}

async fn signup_page(auth: Auth) -> Html<String> {
    page(&auth, "Sign up", &[], &signup_form(&auth))
}

#[derive(Debug, Deserialize)]
struct SignupForm {
    full_name: String,
    email: String,
    password: String,
}

async fn signup(
    State(app): State<Shared>,
    auth: Auth,
    Form(f): Form<SignupForm>,
) -> Result<Html<String>, AuthError> {
    let client = auth.client();
    let created = client
        .user_new(&UserNew {
            full_name: f.full_name.clone(),
            email: f.email.clone(),
            password: f.password.as_str().into(),
            ..Default::default()
        })
        .await;
    // `user exists` is answered like a sign-up (authnz says when to send
    // the mail again): the page must not tell who has an account.
    let (user_id, user_email, send) = match created {
        Ok(c) => (c.user_id, c.user_email, c.send_verification),
        Err(e)
            if e.failure()
                .is_some_and(|f| f.failure_reason.as_deref() == Some("user exists")) =>
        {
            let r = e.failure().map(|f| &f.response);
            let field = |name: &str| r.and_then(|r| r.get(name));
            match (
                field("user_id").and_then(serde_json::Value::as_i64),
                field("user_email").and_then(serde_json::Value::as_str),
            ) {
                (Some(id), Some(mail)) => (
                    id,
                    mail.to_owned(),
                    field("send_verification").and_then(serde_json::Value::as_bool) == Some(true),
                ),
                _ => (0, String::new(), false),
            }
        }
        Err(e) => {
            let messages = client_refused(e)?;
            return Ok(page(&auth, "Sign up", &messages, &signup_form(&auth)));
        }
    };
    if send {
        let token = link_token(&app.settings.site_key, "verify", &user_email);
        let mut info = serde_json::Map::new();
        info.insert("success".into(), true.into());
        info.insert("user_email".into(), user_email.clone().into());
        info.insert("user_id".into(), user_id.into());
        info.insert("send_verification".into(), true.into());
        let sent = client
            .user_sendemail_signup(&UserSendemailSignup {
                email_address: user_email.clone(),
                session_token: auth.session_token().unwrap_or_default(),
                created_info: info,
                server_name: app.settings.site_name.clone(),
                server_baseurl: app.settings.base_url.clone(),
                verification_token: token.as_str().into(),
                verification_expiry: LINK_SECONDS,
                account_verify_url: Some(format!("/verify?token={token}")),
                ..Default::default()
            })
            .await;
        if let Err(e) = sent {
            let messages = client_refused(e)?;
            return Ok(page(&auth, "Sign up", &messages, &signup_form(&auth)));
        }
    }
    // The same answer whether or not the address was already taken.
    Ok(page(
        &auth,
        "Check your mail",
        &["We sent a verification link to your e-mail address.".to_owned()],
        "",
    ))
}

#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn verify_page(auth: Auth, Query(q): Query<TokenQuery>) -> Html<String> {
    // A GET only shows a button: mail scanners that fetch links must not
    // verify anything.
    let body = format!(
        "<form method=\"post\" action=\"/verify\">{}\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <button type=\"submit\" id=\"verify\">Verify my e-mail address</button></form>",
        hidden_csrf(&auth),
        esc(q.token.as_deref().unwrap_or(""))
    );
    page(&auth, "Verify your e-mail address", &[], &body)
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    token: String,
}

async fn verify(
    State(app): State<Shared>,
    auth: Auth,
    Form(f): Form<TokenForm>,
) -> Result<Response, AuthError> {
    let Some(email) = open_link_token(&app.settings.site_key, "verify", &f.token) else {
        return Ok((
            StatusCode::BAD_REQUEST,
            page(
                &auth,
                "Verify your e-mail address",
                &["This link is invalid or has expired.".into()],
                "",
            ),
        )
            .into_response());
    };
    match auth
        .client()
        .user_set_emailverified(&UserSetEmailverified { email })
        .await
    {
        Ok(_) => Ok(Redirect::to("/login?m=verified").into_response()),
        Err(e) => {
            let messages = client_refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(&auth, "Verify your e-mail address", &messages, ""),
            )
                .into_response())
        }
    }
}

fn login_form(auth: &Auth) -> String {
    format!(
        "<form method=\"post\" action=\"/login\">{}\
         <label>E-mail <input name=\"email\" id=\"email\" type=\"email\"></label><br>\
         <label>Password <input name=\"password\" id=\"password\" type=\"password\"></label><br>\
         <button type=\"submit\" id=\"submit\">Log in</button></form>",
        hidden_csrf(auth)
    )
}

/// The "Log in with <provider>" buttons (plain GET forms: starting a
/// login changes nothing but this session's pending state at authnz).
fn oauth_buttons(providers: &[String]) -> String {
    if providers.is_empty() {
        return String::new();
    }
    let buttons: String = providers
        .iter()
        .map(|p| {
            let p = esc(p);
            format!(
                "<form method=\"get\" action=\"/oauth/{p}/start\" style=\"display:inline\">\
                 <button type=\"submit\" class=\"oauth-login\" id=\"oauth-{p}\">\
                 Log in with {p}</button></form> "
            )
        })
        .collect();
    format!("<div id=\"oauth-logins\"><p>Or:</p>{buttons}</div>")
}

async fn login_page(auth: Auth, State(st): State<Shared>, Query(n): Query<Notice>) -> Html<String> {
    let body = login_form(&auth)
        + &passkeys::login_button()
        + &oauth_buttons(&st.settings.oauth_providers);
    page(&auth, "Log in", &notice(n.m.as_deref()), &body)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login(
    auth: Auth,
    State(st): State<Shared>,
    Form(f): Form<LoginForm>,
) -> Result<Response, AuthError> {
    match auth.login(&f.email, &f.password).await {
        Ok(_) => Ok(Redirect::to("/account").into_response()),
        Err(AuthError::SecondFactorRequired { ticket, kinds }) => Ok(second_factor_page(
            &auth,
            StatusCode::OK,
            ticket.expose(),
            &kinds,
            &[],
        )),
        Err(e) => {
            let messages = refused(e)?;
            let body = login_form(&auth)
                + &passkeys::login_button()
                + &oauth_buttons(&st.settings.oauth_providers);
            Ok((
                StatusCode::UNAUTHORIZED,
                page(&auth, "Log in", &messages, &body),
            )
                .into_response())
        }
    }
}

/// The second factors the second-factor page knows how to offer.
const KINDS: [&str; 3] = ["totp", "passkey", "recovery"];

/// The account's second factors, from authnz's list or from the page's
/// hidden `factors` field (comma-separated): known kinds only, all of them
/// when none is given.
fn factor_kinds<S: AsRef<str>>(given: &[S]) -> Vec<&'static str> {
    let kinds: Vec<&'static str> = KINDS
        .into_iter()
        .filter(|k| given.iter().any(|g| g.as_ref() == *k))
        .collect();
    if kinds.is_empty() {
        KINDS.to_vec()
    } else {
        kinds
    }
}

/// The second step of a login: a passkey button and a code form, as the
/// account's factors (`kinds`) ask. The ticket rides in a hidden field;
/// authnz binds it to this session, so it is useless elsewhere.
fn second_factor_page<S: AsRef<str>>(
    auth: &Auth,
    status: StatusCode,
    ticket: &str,
    kinds: &[S],
    messages: &[String],
) -> Response {
    let kinds = factor_kinds(kinds);
    let has = |k: &str| kinds.contains(&k);
    let mut body = String::new();
    if has("passkey") {
        body.push_str(&passkeys::second_factor_button(ticket));
    }
    let prompt = match (has("totp"), has("recovery"), has("passkey")) {
        (true, true, _) => {
            Some("Enter the 6-digit code of your authenticator app, or a recovery code.")
        }
        (true, false, _) => Some("Enter the 6-digit code of your authenticator app."),
        (false, true, true) => Some("Or enter a recovery code."),
        (false, true, false) => Some("Enter a recovery code."),
        (false, false, _) => None,
    };
    if let Some(prompt) = prompt {
        body.push_str(&format!(
            "<p>{prompt}</p>\
             <form method=\"post\" action=\"/login/second-factor\">{}\
             <input type=\"hidden\" name=\"ticket\" value=\"{}\">\
             <input type=\"hidden\" name=\"factors\" value=\"{}\">\
             <label>Code <input name=\"code\" id=\"code\" autocomplete=\"one-time-code\"></label><br>\
             <button type=\"submit\" id=\"submit-code\">Log in</button></form>",
            hidden_csrf(auth),
            esc(ticket),
            kinds.join(","),
        ));
    }
    (
        status,
        page(auth, "Two-factor authentication", messages, &body),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct SecondFactorForm {
    ticket: String,
    code: String,
    #[serde(default)]
    factors: String,
}

async fn login_second_factor(
    auth: Auth,
    Form(f): Form<SecondFactorForm>,
) -> Result<Response, AuthError> {
    match auth
        .login_second_factor(&f.ticket.as_str().into(), &f.code)
        .await
    {
        Ok(_) => Ok(Redirect::to("/account").into_response()),
        Err(e) => {
            let messages = refused(e)?;
            let kinds: Vec<&str> = f.factors.split(',').collect();
            Ok(second_factor_page(
                &auth,
                StatusCode::UNAUTHORIZED,
                &f.ticket,
                &kinds,
                &messages,
            ))
        }
    }
}

async fn logout(auth: Auth) -> Result<Redirect, AuthError> {
    auth.logout().await?;
    Ok(Redirect::to("/login?m=loggedout"))
}

fn password_form(auth: &Auth) -> String {
    format!(
        "<h2>Change password</h2><form method=\"post\" action=\"/account/password\">{}\
         <label>Current password <input name=\"current_password\" id=\"current_password\" type=\"password\"></label><br>\
         <label>New password <input name=\"new_password\" id=\"new_password\" type=\"password\"></label><br>\
         <button type=\"submit\" id=\"change\">Change password</button></form>",
        hidden_csrf(auth)
    )
}

/// The linked identities with their unlink forms (empty without
/// configured providers).
async fn identities_section(auth: &Auth, st: &AppState) -> Result<String, AuthError> {
    if st.settings.oauth_providers.is_empty() {
        return Ok(String::new());
    }
    let linked = auth.oauth_identities().await?;
    let rows: String = linked
        .identities
        .iter()
        .map(|i| {
            format!(
                "<tr class=\"identity\"><td class=\"provider\">{p}</td><td>{s}</td><td>{c}</td>\
                 <td><form method=\"post\" action=\"/account/oauth/unlink\">{csrf}\
                 <input type=\"hidden\" name=\"provider\" value=\"{p}\">\
                 <button type=\"submit\" class=\"unlink\" id=\"unlink-{p}\">Unlink</button>\
                 </form></td></tr>",
                p = esc(&i.provider),
                s = esc(&i.subject),
                c = esc(&i.created),
                csrf = hidden_csrf(auth),
            )
        })
        .collect();
    let table = if rows.is_empty() {
        "<p id=\"no-identities\">No identity is linked to this account.</p>".to_owned()
    } else {
        format!(
            "<table id=\"identities\"><tr><th>Provider</th><th>Subject</th><th>Linked</th>\
             <th></th></tr>{rows}</table>"
        )
    };
    let password = if linked.has_password {
        ""
    } else {
        "<p id=\"no-password\">This account has no password: set one with \
         <a href=\"/forgot\">Forgot password</a> to log in without a provider.</p>"
    };
    Ok(format!("<h2>Linked identities</h2>{table}{password}"))
}

async fn account_page(
    auth: &Auth,
    st: &AppState,
    user: &authnz_axum::User,
    messages: &[String],
) -> Result<Html<String>, AuthError> {
    let body = format!(
        "<dl id=\"account\"><dt>E-mail</dt><dd id=\"account-email\">{}</dd>\
         <dt>Name</dt><dd>{}</dd><dt>Role</dt><dd id=\"account-role\">{}</dd>\
         <dt>User ID</dt><dd>{}</dd></dl>{}{}{}{}",
        esc(user.email.as_deref().unwrap_or("")),
        esc(user.full_name.as_deref().unwrap_or("")),
        esc(&user.role),
        user.user_id,
        identities_section(auth, st).await?,
        password_form(auth),
        totp_section(auth),
        passkeys::section(auth).await?
    );
    Ok(page(auth, "Your account", messages, &body))
}

async fn account(
    auth: Auth,
    State(st): State<Shared>,
    LoggedIn(user): LoggedIn,
    Query(n): Query<Notice>,
) -> Result<Html<String>, AuthError> {
    account_page(&auth, &st, &user, &notice(n.m.as_deref())).await
}

// ------------------------------------------------------------------- TOTP

/// Enable and disable forms of two-factor authentication (authnz refuses
/// whichever does not apply, with a message).
fn totp_section(auth: &Auth) -> String {
    format!(
        "<h2>Two-factor authentication</h2>\
         <form method=\"post\" action=\"/account/totp/enroll\">{csrf}\
         <label>Password <input name=\"password\" id=\"totp-enroll-password\" type=\"password\"></label> \
         <button type=\"submit\" id=\"totp-enable\">Enable</button></form>\
         <form method=\"post\" action=\"/account/totp/disable\">{csrf}\
         <label>Password <input name=\"password\" id=\"totp-disable-password\" type=\"password\"></label> \
         <label>Code <input name=\"code\" id=\"totp-disable-code\" autocomplete=\"one-time-code\"></label> \
         <button type=\"submit\" id=\"totp-disable\">Disable</button></form>",
        csrf = hidden_csrf(auth)
    )
}

/// The otpauth URI as an inline SVG QR code (empty if it does not fit).
fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build();
            // Inline in HTML: without the XML declaration.
            match svg.find("<svg") {
                Some(i) => svg[i..].to_owned(),
                None => String::new(),
            }
        }
        Err(_) => String::new(),
    }
}

#[derive(Debug, Deserialize)]
struct PasswordOnly {
    password: String,
}

async fn totp_enroll(
    auth: Auth,
    State(st): State<Shared>,
    LoggedIn(user): LoggedIn,
    Form(f): Form<PasswordOnly>,
) -> Result<Response, AuthError> {
    match auth.totp_enroll(&f.password).await {
        Ok((secret, uri)) => {
            let body = format!(
                "<p>Scan the code with an authenticator app, or type the secret in.</p>\
                 <div id=\"totp-qr\">{qr}</div>\
                 <p>Secret: <code id=\"totp-secret\">{secret}</code></p>\
                 <p>URI: <code id=\"totp-uri\">{uri}</code></p>\
                 <form method=\"post\" action=\"/account/totp/confirm\">{csrf}\
                 <label>Code <input name=\"code\" id=\"totp-confirm-code\" autocomplete=\"one-time-code\"></label> \
                 <button type=\"submit\" id=\"totp-confirm\">Confirm</button></form>",
                qr = qr_svg(uri.expose()),
                secret = esc(secret.expose()),
                uri = esc(uri.expose()),
                csrf = hidden_csrf(&auth),
            );
            Ok(page(&auth, "Enable two-factor authentication", &[], &body).into_response())
        }
        Err(e) => {
            let messages = refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                account_page(&auth, &st, &user, &messages).await?,
            )
                .into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
struct CodeOnly {
    code: String,
}

async fn totp_confirm(
    auth: Auth,
    State(st): State<Shared>,
    LoggedIn(user): LoggedIn,
    Form(f): Form<CodeOnly>,
) -> Result<Response, AuthError> {
    match auth.totp_confirm(&f.code).await {
        Ok(codes) => {
            let items: String = codes
                .iter()
                .map(|c| {
                    format!(
                        "<li class=\"recovery-code\"><code>{}</code></li>",
                        esc(c.expose())
                    )
                })
                .collect();
            let body = format!(
                "<p id=\"totp-enabled\">Two-factor authentication is enabled. Your other \
                 sessions are logged out.</p><p>Recovery codes: each logs you in once \
                 instead of a code. Keep them in a safe place; they are shown only now.</p>\
                 <ul id=\"recovery-codes\">{items}</ul><p><a href=\"/account\">Back to your account</a></p>"
            );
            Ok(page(&auth, "Two-factor authentication", &[], &body).into_response())
        }
        Err(e) => {
            let messages = refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                account_page(&auth, &st, &user, &messages).await?,
            )
                .into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
struct DisableForm {
    password: String,
    code: String,
}

async fn totp_disable(
    auth: Auth,
    State(st): State<Shared>,
    LoggedIn(user): LoggedIn,
    Form(f): Form<DisableForm>,
) -> Result<Response, AuthError> {
    match auth.totp_disable(&f.password, &f.code).await {
        Ok(()) => Ok(Redirect::to("/account?m=totpoff").into_response()),
        Err(e) => {
            let messages = refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                account_page(&auth, &st, &user, &messages).await?,
            )
                .into_response())
        }
    }
}

// --------------------------------------------------------- social login

/// The page of a social login that did not work, with a way back.
fn oauth_failed(auth: &Auth, status: StatusCode, messages: &[String]) -> Response {
    (
        status,
        page(
            auth,
            "Social login failed",
            messages,
            "<p id=\"oauth-failed\">Nothing was changed. <a href=\"/login\">Back to the login page</a></p>",
        ),
    )
        .into_response()
}

/// The provider's name from the path, if the site offers it.
fn offered<'a>(st: &'a AppState, provider: &str) -> Option<&'a str> {
    st.settings
        .oauth_providers
        .iter()
        .find(|p| *p == provider)
        .map(String::as_str)
}

fn callback_url(st: &AppState, provider: &str) -> String {
    format!("{}/oauth/{provider}/callback", st.settings.base_url)
}

async fn oauth_start(
    auth: Auth,
    State(st): State<Shared>,
    Path(provider): Path<String>,
) -> Result<Response, AuthError> {
    let Some(provider) = offered(&st, &provider) else {
        let messages = vec!["This site offers no login provider of that name.".to_owned()];
        return Ok(oauth_failed(&auth, StatusCode::NOT_FOUND, &messages));
    };
    match auth
        .oauth_start(provider, &callback_url(&st, provider))
        .await
    {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => Ok(oauth_failed(&auth, StatusCode::BAD_GATEWAY, &refused(e)?)),
    }
}

/// The provider's redirect back: `code` and `state`, or `error`.
#[derive(Debug, Deserialize)]
struct OauthBack {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn oauth_callback(
    auth: Auth,
    State(st): State<Shared>,
    Path(provider): Path<String>,
    Query(back): Query<OauthBack>,
) -> Result<Response, AuthError> {
    let Some(provider) = offered(&st, &provider) else {
        let messages = vec!["This site offers no login provider of that name.".to_owned()];
        return Ok(oauth_failed(&auth, StatusCode::NOT_FOUND, &messages));
    };
    if let Some(error) = back.error.as_deref() {
        // The provider's error code, shown only when it is a plain code.
        let code = if !error.is_empty()
            && error.len() <= 64
            && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            format!(" ({error})")
        } else {
            String::new()
        };
        let messages = vec![format!("The provider did not log you in{code}.")];
        return Ok(oauth_failed(&auth, StatusCode::BAD_REQUEST, &messages));
    }
    let (Some(code), Some(state)) = (back.code.as_deref(), back.state.as_deref()) else {
        let messages = vec!["The provider's answer has no code or no state.".to_owned()];
        return Ok(oauth_failed(&auth, StatusCode::BAD_REQUEST, &messages));
    };
    match auth
        .oauth_finish(provider, &callback_url(&st, provider), state, code)
        .await
    {
        Ok(login) => {
            let to = if login.new_user {
                "/account?m=oauthnew"
            } else {
                "/account?m=oauth"
            };
            Ok(Redirect::to(to).into_response())
        }
        Err(AuthError::SecondFactorRequired { ticket, kinds }) => Ok(second_factor_page(
            &auth,
            StatusCode::OK,
            ticket.expose(),
            &kinds,
            &[],
        )),
        Err(e) => Ok(oauth_failed(&auth, StatusCode::BAD_REQUEST, &refused(e)?)),
    }
}

#[derive(Debug, Deserialize)]
struct UnlinkForm {
    provider: String,
}

async fn oauth_unlink(
    auth: Auth,
    State(st): State<Shared>,
    LoggedIn(user): LoggedIn,
    Form(f): Form<UnlinkForm>,
) -> Result<Response, AuthError> {
    match auth.oauth_unlink(&f.provider).await {
        Ok(()) => Ok(Redirect::to("/account?m=unlinked").into_response()),
        Err(e) => {
            let messages = refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                account_page(&auth, &st, &user, &messages).await?,
            )
                .into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
}

async fn change_password(
    auth: Auth,
    _: LoggedIn,
    Form(f): Form<PasswordForm>,
) -> Result<Response, AuthError> {
    match auth
        .change_password(&f.current_password, &f.new_password)
        .await
    {
        Ok(_) => Ok(Redirect::to("/account?m=password").into_response()),
        Err(e) => {
            let messages = refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(&auth, "Your account", &messages, &password_form(&auth)),
            )
                .into_response())
        }
    }
}

fn forgot_form(auth: &Auth) -> String {
    format!(
        "<form method=\"post\" action=\"/forgot\">{}\
         <label>E-mail <input name=\"email\" id=\"email\" type=\"email\"></label><br>\
         <button type=\"submit\" id=\"submit\">Send me a reset link</button></form>",
        hidden_csrf(auth)
    )
}

async fn forgot_page(auth: Auth) -> Html<String> {
    page(&auth, "Forgot password", &[], &forgot_form(&auth))
}

#[derive(Debug, Deserialize)]
struct ForgotForm {
    email: String,
}

async fn forgot(
    State(app): State<Shared>,
    auth: Auth,
    Form(f): Form<ForgotForm>,
) -> Result<Html<String>, AuthError> {
    let token = link_token(&app.settings.site_key, "reset", &f.email);
    let sent = auth
        .client()
        .user_sendemail_forgotpass(&UserSendemailForgotpass {
            email_address: f.email.clone(),
            session_token: auth.session_token().unwrap_or_default(),
            server_name: app.settings.site_name.clone(),
            server_baseurl: app.settings.base_url.clone(),
            password_forgot_url: format!("/reset?token={token}"),
            verification_token: token.as_str().into(),
            verification_expiry: LINK_SECONDS,
            ..Default::default()
        })
        .await;
    // Refusals (no such user, a mail sent in the last 24 hours) get the
    // same answer as success: the page must not tell who has an account.
    if let Err(e) = sent
        && e.failure().is_none()
    {
        return Err(AuthError::from(e));
    }
    Ok(page(
        &auth,
        "Check your mail",
        &["If the address has an account, we sent it a password reset link.".to_owned()],
        "",
    ))
}

fn reset_form(auth: &Auth, token: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/reset\">{}\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <label>New password <input name=\"new_password\" id=\"new_password\" type=\"password\"></label><br>\
         <button type=\"submit\" id=\"submit\">Set the new password</button></form>",
        hidden_csrf(auth),
        esc(token)
    )
}

async fn reset_page(auth: Auth, Query(q): Query<TokenQuery>) -> Html<String> {
    page(
        &auth,
        "Reset your password",
        &[],
        &reset_form(&auth, q.token.as_deref().unwrap_or("")),
    )
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    token: String,
    new_password: String,
}

async fn reset(
    State(app): State<Shared>,
    auth: Auth,
    Form(f): Form<ResetForm>,
) -> Result<Response, AuthError> {
    let Some(email) = open_link_token(&app.settings.site_key, "reset", &f.token) else {
        return Ok((
            StatusCode::BAD_REQUEST,
            page(
                &auth,
                "Reset your password",
                &["This link is invalid or has expired.".into()],
                "",
            ),
        )
            .into_response());
    };
    let done = auth
        .client()
        .user_resetpass(&UserResetpass {
            email_address: email,
            new_password: f.new_password.as_str().into(),
            session_token: auth.session_token().unwrap_or_default(),
        })
        .await;
    match done {
        Ok(_) => Ok(Redirect::to("/login?m=reset").into_response()),
        Err(e) => {
            let messages = client_refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                page(
                    &auth,
                    "Reset your password",
                    &messages,
                    &reset_form(&auth, &f.token),
                ),
            )
                .into_response())
        }
    }
}

fn keys_page(
    app: &AppState,
    auth: &Auth,
    user_id: i64,
    messages: &[String],
    new_key: Option<&str>,
) -> Html<String> {
    let rows: String = {
        let keys = app.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.1
            .get(&user_id)
            .map(|rows| {
                rows.iter()
                    .filter(|r| !r.revoked)
                    .map(|r| {
                        format!(
                            "<tr><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/apikeys/revoke\">{}\
                             <input type=\"hidden\" name=\"id\" value=\"{}\">\
                             <button type=\"submit\" class=\"revoke\">Revoke</button></form></td></tr>",
                            r.id,
                            esc(&r.expires),
                            hidden_csrf(auth),
                            r.id
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let shown = new_key.map_or(String::new(), |k| {
        format!(
            "<p>Your new API key (shown only once; send it as \
             <code>Authorization: Bearer &lt;key&gt;</code>):</p>\
             <pre id=\"new-key\">{}</pre>",
            esc(k)
        )
    });
    let body = format!(
        "{shown}<table id=\"keys\"><tr><th>Key</th><th>Expires</th><th></th></tr>{rows}</table>\
         <form method=\"post\" action=\"/apikeys\">{}\
         <button type=\"submit\" id=\"create-key\">Create an API key</button></form>",
        hidden_csrf(auth)
    );
    page(auth, "API keys", messages, &body)
}

async fn apikeys(
    State(app): State<Shared>,
    auth: Auth,
    LoggedIn(user): LoggedIn,
    Query(n): Query<Notice>,
) -> Html<String> {
    keys_page(&app, &auth, user.user_id, &notice(n.m.as_deref()), None)
}

async fn create_apikey(
    State(app): State<Shared>,
    auth: Auth,
    LoggedIn(user): LoggedIn,
) -> Result<Html<String>, AuthError> {
    let issued = match auth.new_api_key_nosession(APIKEY_SECONDS).await {
        Ok(k) => k,
        Err(e) => {
            let messages = refused(e)?;
            return Ok(keys_page(&app, &auth, user.user_id, &messages, None));
        }
    };
    {
        let mut keys = app.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.0 += 1;
        let id = keys.0;
        keys.1.entry(user.user_id).or_default().push(KeyRow {
            id,
            claims: issued.claims,
            expires: issued.expires,
            revoked: false,
        });
    }
    Ok(keys_page(
        &app,
        &auth,
        user.user_id,
        &[],
        Some(issued.bearer.expose()),
    ))
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    id: u64,
}

async fn revoke_apikey(
    State(app): State<Shared>,
    auth: Auth,
    LoggedIn(user): LoggedIn,
    Form(f): Form<RevokeForm>,
) -> Result<Response, AuthError> {
    let claims = {
        let keys = app.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.1
            .get(&user.user_id)
            .and_then(|rows| rows.iter().find(|r| r.id == f.id && !r.revoked))
            .map(|r| r.claims.clone())
    };
    let Some(claims) = claims else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    auth.revoke_api_key(&claims).await?;
    {
        let mut keys = app.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(row) = keys
            .1
            .get_mut(&user.user_id)
            .and_then(|rows| rows.iter_mut().find(|r| r.id == f.id))
        {
            row.revoked = true;
        }
    }
    Ok(Redirect::to("/apikeys?m=revoked").into_response())
}

fn sessions_page(
    auth: &Auth,
    messages: &[String],
    listed: &[authnz_client::types::ListedSession],
) -> Html<String> {
    let rows: String = listed
        .iter()
        .map(|x| {
            let action = if x.current {
                "<td class=\"current\">This session</td>".to_owned()
            } else {
                format!(
                    "<td><form method=\"post\" action=\"/sessions/revoke\">{}\
                     <input type=\"hidden\" name=\"session_id\" value=\"{}\">\
                     <button type=\"submit\" class=\"revoke-session\">Sign out</button></form></td>",
                    hidden_csrf(auth),
                    esc(&x.session_id)
                )
            };
            format!(
                "<tr class=\"session\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{action}</tr>",
                esc(&x.created),
                esc(&x.expires),
                esc(&x.ip_address),
                esc(&x.user_agent)
            )
        })
        .collect();
    let body = format!(
        "<table id=\"sessions\"><tr><th>Signed in</th><th>Expires</th><th>Address</th>\
         <th>Browser</th><th></th></tr>{rows}</table>\
         <form method=\"post\" action=\"/sessions/revoke\">{}\
         <input type=\"hidden\" name=\"session_id\" value=\"{}\">\
         <button type=\"submit\" id=\"revoke-others\">Sign out everywhere else</button></form>",
        hidden_csrf(auth),
        UserSessionsRevoke::OTHERS
    );
    page(auth, "My sessions", messages, &body)
}

/// `GET /sessions`: where the user is signed in (authnz's
/// `user-sessions-list`), each other session with a button to sign it out.
async fn sessions(
    auth: Auth,
    LoggedIn(user): LoggedIn,
    Query(n): Query<Notice>,
) -> Result<Html<String>, AuthError> {
    let listed = auth
        .client()
        .user_sessions_list(&UserSessionsList {
            user_id: user.user_id,
            session_token: auth.session_token().unwrap_or_default(),
        })
        .await;
    Ok(match listed {
        Ok(reply) => sessions_page(&auth, &notice(n.m.as_deref()), &reply.sessions),
        Err(e) => sessions_page(&auth, &client_refused(e)?, &[]),
    })
}

#[derive(Debug, Deserialize)]
struct SessionForm {
    session_id: String,
}

/// `POST /sessions/revoke`: sign out one session (its opaque id from the
/// list) or, with `others`, every session but this one.
async fn revoke_session(
    auth: Auth,
    LoggedIn(user): LoggedIn,
    Form(f): Form<SessionForm>,
) -> Result<Response, AuthError> {
    let done = auth
        .client()
        .user_sessions_revoke(&UserSessionsRevoke {
            user_id: user.user_id,
            session_token: auth.session_token().unwrap_or_default(),
            session_id: f.session_id.clone(),
        })
        .await;
    // The revoked sessions must not be served from this site's cache.
    auth.invalidate_user(user.user_id);
    match done {
        Ok(r) if r.current => {
            auth.logout().await?;
            Ok(Redirect::to("/login?m=loggedout").into_response())
        }
        Ok(_) if f.session_id == UserSessionsRevoke::OTHERS => {
            Ok(Redirect::to("/sessions?m=others").into_response())
        }
        Ok(_) => Ok(Redirect::to("/sessions?m=session").into_response()),
        Err(e) => {
            let messages = client_refused(e)?;
            Ok((
                StatusCode::BAD_REQUEST,
                sessions_page(&auth, &messages, &[]),
            )
                .into_response())
        }
    }
}

/// `GET /api/whoami`: `{"user_id", "user_role", "email"}` of the cookie
/// session (`email` null when anonymous) or of the API key's owner.
async fn whoami(
    auth: Auth,
    CurrentUser(user): CurrentUser,
) -> Result<Json<serde_json::Value>, AuthError> {
    let email = match &user.via {
        Via::Session => user.email.clone().filter(|_| !user.is_anonymous()),
        Via::ApiKey { .. } => auth
            .client()
            .user_list(&UserList {
                user_id: Some(user.user_id),
            })
            .await?
            .user_info
            .into_iter()
            .next()
            .and_then(|u| u.email),
    };
    Ok(Json(serde_json::json!({
        "user_id": user.user_id,
        "user_role": user.role,
        "email": email,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_signed_per_purpose_and_expire() {
        let key = SiteKey::from_bytes([5; 32]);
        let t = link_token(&key, "verify", "a@b.org");
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        assert_eq!(
            open_link_token(&key, "verify", &t).as_deref(),
            Some("a@b.org")
        );
        assert_eq!(open_link_token(&key, "reset", &t), None);
        assert_eq!(
            open_link_token(&SiteKey::from_bytes([6; 32]), "verify", &t),
            None
        );
        let (payload, sig) = t.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode("verify|99999999999|x@b.org");
        assert_eq!(
            open_link_token(&key, "verify", &format!("{forged}.{sig}")),
            None
        );
        assert_eq!(open_link_token(&key, "verify", payload), None);
        // Expired: signed correctly, but its time is past.
        let old = URL_SAFE_NO_PAD.encode("verify|1000|a@b.org");
        let sig = key.sign("verify", old.as_bytes());
        assert_eq!(
            open_link_token(&key, "verify", &format!("{old}.{sig}")),
            None
        );
    }

    #[test]
    fn second_factor_kinds_are_the_known_ones_or_all() {
        assert_eq!(
            factor_kinds(&["recovery", "x", "passkey"]),
            ["passkey", "recovery"]
        );
        assert_eq!(factor_kinds(&["<script>"]), KINDS);
        assert_eq!(factor_kinds::<&str>(&[]), KINDS);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
