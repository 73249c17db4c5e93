//! Passkeys on the example site: the account page's list (name, added,
//! last used) with add and delete, "Log in with a passkey" on the login
//! page (no password), and a passkey on the second-factor page.
//!
//! The ceremonies run in the browser (`static/passkeys.js`, served at
//! [`SCRIPT_PATH`]): it posts JSON with the session's CSRF token in the
//! `X-CSRF-Token` header (the layer refuses any POST without it, 403) to
//! the `start` routes here, which answer authnz's options, hands them to
//! `navigator.credentials`, and posts the credential to the `finish`
//! routes. Those answer `{"redirect": ...}` (and, for the first second
//! factor, the recovery codes), or `{"error": "<message for the user>"}`
//! with a 4xx status. Deleting is a plain form with the password.

use authnz_axum::{Auth, AuthError, ListedPasskey, LoggedIn};
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Shared, account_page, esc, hidden_csrf, refused};

/// Where the site serves its passkey script.
pub(crate) const SCRIPT_PATH: &str = "/static/passkeys.js";

const SCRIPT: &str = include_str!("../static/passkeys.js");

/// The longest passkey name the site passes on.
const MAX_NAME: usize = 64;

/// The passkey routes.
pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    use axum::routing::{get, post};
    router
        .route(SCRIPT_PATH, get(script))
        .route("/account/passkeys/register/start", post(register_start))
        .route("/account/passkeys/register/finish", post(register_finish))
        .route("/account/passkeys/delete", post(delete))
        .route("/login/passkey/start", post(login_start))
        .route("/login/passkey/finish", post(login_finish))
        .route(
            "/login/second-factor/passkey/start",
            post(second_factor_start),
        )
        .route(
            "/login/second-factor/passkey/finish",
            post(second_factor_finish),
        )
}

async fn script() -> Response {
    let mut r = SCRIPT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn script_tag() -> String {
    format!("<script src=\"{SCRIPT_PATH}\"></script>")
}

/// The box the script writes its errors into.
const ERROR_BOX: &str = "<p id=\"passkey-error\" class=\"error\" role=\"alert\" hidden></p>";

// ------------------------------------------------------------ JSON answers

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A refusal as the script shows it: authnz's messages as JSON (400), not
/// signed in as JSON (401); anything else (authnz unreachable, rate
/// limited) as the layer answers it.
fn json_refusal(e: AuthError) -> Response {
    match e {
        AuthError::Refused { messages, .. } => {
            let text = if messages.is_empty() {
                "The request was refused.".to_owned()
            } else {
                messages.join(" ")
            };
            json_error(StatusCode::BAD_REQUEST, &text)
        }
        AuthError::NotLoggedIn { .. } => json_error(
            StatusCode::UNAUTHORIZED,
            "You are not logged in (any more). Reload the page and log in again.",
        ),
        AuthError::SecondFactorRequired { .. } => json_error(
            StatusCode::UNAUTHORIZED,
            "A second factor is required: log in with your password.",
        ),
        other => other.into_response(),
    }
}

/// The passkey name asked for (`None` when blank), or why it is refused.
fn name_of(name: Option<&str>) -> Result<Option<String>, String> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > MAX_NAME || n.chars().any(char::is_control) => Err(format!(
            "A passkey name has at most {MAX_NAME} characters and no control characters."
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

// ---------------------------------------------------------------- account

/// The account page's passkey section: the list with a delete form per
/// passkey, and the add form the script drives.
pub(crate) async fn section(auth: &Auth) -> Result<String, AuthError> {
    let listed = match auth.passkeys().await {
        Ok(l) => l,
        Err(e) => {
            let messages = refused(e)?;
            return Ok(format!(
                "<h2>Passkeys</h2><p id=\"passkeys-unavailable\">{}</p>",
                esc(&messages.join(" "))
            ));
        }
    };
    let rows: String = listed.iter().map(|k| row(auth, k)).collect();
    let table = if rows.is_empty() {
        "<p id=\"no-passkeys\">You have no passkey yet.</p>".to_owned()
    } else {
        format!(
            "<table id=\"passkeys\"><tr><th>Name</th><th>Added</th><th>Last used</th><th></th></tr>\
             {rows}</table>"
        )
    };
    Ok(format!(
        "<h2>Passkeys</h2><p>A passkey logs you in without a password, and serves as the \
         second factor after your password.</p>{table}\
         <div id=\"passkey-add-form\">\
         <label>Name <input id=\"passkey-name\" maxlength=\"{MAX_NAME}\" placeholder=\"e.g. Laptop\"></label> \
         <label>Password <input id=\"passkey-password\" type=\"password\" autocomplete=\"current-password\"></label> \
         <button type=\"button\" id=\"passkey-add\">Add a passkey</button></div>\
         {ERROR_BOX}<div id=\"passkey-result\"></div>{}",
        script_tag()
    ))
}

/// An ISO 8601 time as `YYYY-MM-DD HH:MM UTC` (as given if it does not
/// parse).
fn when(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        })
        .unwrap_or_else(|_| text.to_owned())
}

fn row(auth: &Auth, k: &ListedPasskey) -> String {
    let id = k.passkey_id;
    format!(
        "<tr class=\"passkey\" id=\"passkey-{id}\"><td class=\"passkey-name\">{name}</td>\
         <td class=\"passkey-created\">{created}</td><td class=\"passkey-last-used\">{used}</td>\
         <td><form method=\"post\" action=\"/account/passkeys/delete\">{csrf}\
         <input type=\"hidden\" name=\"passkey_id\" value=\"{id}\">\
         <label>Password <input name=\"password\" type=\"password\" id=\"passkey-delete-password-{id}\" \
         autocomplete=\"current-password\"></label> \
         <button type=\"submit\" class=\"passkey-delete\" id=\"passkey-delete-{id}\">Delete</button>\
         </form></td></tr>",
        name = esc(&k.name),
        created = esc(&when(&k.created)),
        used = k
            .last_used
            .as_deref()
            .map_or_else(|| "never".to_owned(), |t| esc(&when(t))),
        csrf = hidden_csrf(auth),
    )
}

#[derive(Debug, Deserialize)]
struct RegisterStart {
    #[serde(default)]
    password: String,
    name: Option<String>,
}

/// `POST /account/passkeys/register/start` (JSON `{password, name}`):
/// `{id, options}` for `navigator.credentials.create`.
async fn register_start(auth: Auth, Json(body): Json<RegisterStart>) -> Response {
    let name = match name_of(body.name.as_deref()) {
        Ok(n) => n,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, &why),
    };
    if body.password.is_empty() {
        return json_error(
            StatusCode::BAD_REQUEST,
            "Enter your password to add a passkey.",
        );
    }
    match auth
        .passkey_register_start(&body.password, name.as_deref())
        .await
    {
        Ok(c) => Json(json!({ "id": c.id.expose(), "options": c.options })).into_response(),
        Err(e) => json_refusal(e),
    }
}

#[derive(Debug, Deserialize)]
struct RegisterFinish {
    id: String,
    name: Option<String>,
    credential: Value,
}

/// `POST /account/passkeys/register/finish` (JSON `{id, name,
/// credential}`): `{message, recovery_codes, redirect}`.
async fn register_finish(auth: Auth, Json(body): Json<RegisterFinish>) -> Response {
    let name = match name_of(body.name.as_deref()) {
        Ok(n) => n,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, &why),
    };
    match auth
        .passkey_register_finish(&body.id.as_str().into(), body.credential, name.as_deref())
        .await
    {
        Ok(added) => {
            let codes = added
                .recovery_codes
                .map(|c| c.iter().map(|s| s.expose().to_owned()).collect::<Vec<_>>());
            Json(json!({
                "message": format!(
                    "Your passkey \u{201c}{}\u{201d} is added. Your other sessions are logged out.",
                    added.name
                ),
                "recovery_codes": codes,
                "redirect": "/account?m=passkeyadded",
            }))
            .into_response()
        }
        Err(e) => json_refusal(e),
    }
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    passkey_id: i64,
    #[serde(default)]
    password: String,
}

/// `POST /account/passkeys/delete` (form `{passkey_id, password}`).
async fn delete(
    auth: Auth,
    State(st): State<Shared>,
    LoggedIn(user): LoggedIn,
    Form(f): Form<DeleteForm>,
) -> Result<Response, AuthError> {
    let outcome = if f.password.is_empty() {
        Err(AuthError::Refused {
            reason: None,
            messages: vec!["Enter your password to delete a passkey.".to_owned()],
        })
    } else {
        auth.passkey_delete(&f.password, f.passkey_id).await
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/account?m=passkeyremoved").into_response()),
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

// ------------------------------------------------------------------ login

/// The login page's passkey button.
pub(crate) fn login_button() -> String {
    format!(
        "<div id=\"passkey-login-box\"><p>Or, without a password:</p>\
         <button type=\"button\" id=\"passkey-login\">Log in with a passkey</button>{ERROR_BOX}</div>{}",
        script_tag()
    )
}

/// `POST /login/passkey/start`: `{id, options}` for
/// `navigator.credentials.get` (any passkey of this site).
async fn login_start(auth: Auth) -> Response {
    match auth.passkey_login_start().await {
        Ok(c) => Json(json!({ "id": c.id.expose(), "options": c.options })).into_response(),
        Err(e) => json_refusal(e),
    }
}

#[derive(Debug, Deserialize)]
struct LoginFinish {
    id: String,
    credential: Value,
}

/// `POST /login/passkey/finish` (JSON `{id, credential}`): signed in with
/// a new session token, `{redirect}`.
async fn login_finish(auth: Auth, Json(body): Json<LoginFinish>) -> Response {
    match auth
        .passkey_login_finish(&body.id.as_str().into(), body.credential)
        .await
    {
        Ok(_) => Json(json!({ "redirect": "/account" })).into_response(),
        Err(e) => json_refusal(e),
    }
}

// ---------------------------------------------------------- second factor

/// The second-factor page's passkey button (the ticket rides along: it is
/// bound to this session at authnz).
pub(crate) fn second_factor_button(ticket: &str) -> String {
    format!(
        "<p><button type=\"button\" id=\"passkey-second\" data-ticket=\"{}\">Use a passkey</button></p>\
         {ERROR_BOX}{}",
        esc(ticket),
        script_tag()
    )
}

#[derive(Debug, Deserialize)]
struct SecondStart {
    ticket: String,
}

/// `POST /login/second-factor/passkey/start` (JSON `{ticket}`):
/// `{options}` allowing the account's passkeys.
async fn second_factor_start(auth: Auth, Json(body): Json<SecondStart>) -> Response {
    match auth
        .passkey_second_factor_start(&body.ticket.as_str().into())
        .await
    {
        Ok(options) => Json(json!({ "options": options })).into_response(),
        Err(e) => json_refusal(e),
    }
}

#[derive(Debug, Deserialize)]
struct SecondFinish {
    ticket: String,
    credential: Value,
}

/// `POST /login/second-factor/passkey/finish` (JSON `{ticket,
/// credential}`): signed in with a new session token, `{redirect}`.
async fn second_factor_finish(auth: Auth, Json(body): Json<SecondFinish>) -> Response {
    match auth
        .login_second_factor_passkey(&body.ticket.as_str().into(), body.credential)
        .await
    {
        Ok(_) => Json(json!({ "redirect": "/account" })).into_response(),
        Err(e) => json_refusal(e),
    }
}
