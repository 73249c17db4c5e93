//! The second-factor helpers ([`Auth::totp_enroll`], [`Auth::totp_confirm`],
//! [`Auth::login`] answering [`AuthError::SecondFactorRequired`],
//! [`Auth::login_second_factor`]) against a real authnz server. The TOTP
//! codes are computed here independently (RFC 6238, HMAC-SHA1 with ring).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use authnz_axum::{Auth, AuthConfig, AuthError, AuthLayer, CurrentUser, SiteKey};
use authnz_client::Secret;
use axum::Router;
use axum::extract::{Form, State};
use axum::routing::{get, post};
use ring::hmac;

use crate::common::{Browser, Server, USER_EMAIL, USER_PASSWORD};

fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut out) = (0u32, 0u64, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32 char");
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn totp_at(secret: &[u8], unix: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &(unix / 30).to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[19] & 0x0f);
    let value =
        u32::from_be_bytes([h[offset], h[offset + 1], h[offset + 2], h[offset + 3]]) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

/// The code of `step_offset` steps from now (codes are single use: the
/// login takes the next step's code, within the ±1 window).
fn code(secret: &[u8], step_offset: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_at(secret, now + 30 * step_offset)
}

#[derive(Clone, Default)]
struct Ticket(Arc<Mutex<Option<Secret>>>);

fn field<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map_or("", String::as_str)
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

async fn second(
    auth: Auth,
    State(t): State<Ticket>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<String, AuthError> {
    let ticket = t.0.lock().unwrap().clone().unwrap_or_else(|| "".into());
    let user = auth.login_second_factor(&ticket, field(&f, "code")).await?;
    Ok(format!("in {}", user.user_id))
}

async fn enroll(auth: Auth, Form(f): Form<HashMap<String, String>>) -> Result<String, AuthError> {
    let (secret, uri) = auth.totp_enroll(field(&f, "password")).await?;
    assert!(uri.expose().starts_with("otpauth://totp/"));
    Ok(secret.expose().to_owned())
}

async fn confirm(auth: Auth, Form(f): Form<HashMap<String, String>>) -> Result<String, AuthError> {
    let codes = auth.totp_confirm(field(&f, "code")).await?;
    Ok(codes
        .iter()
        .map(|c| c.expose().to_owned())
        .collect::<Vec<_>>()
        .join("\n"))
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
        .route("/login", post(login))
        .route("/second", post(second))
        .route("/enroll", post(enroll))
        .route("/confirm", post(confirm))
        .with_state(Ticket::default())
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn totp_login_takes_two_steps_and_rotates_the_session() {
    let server = Server::start().await;
    let user_id = server.add_user().await;
    let addr = site(&server).await;
    let mut b = Browser::new(addr);

    let r = b.login(USER_EMAIL, USER_PASSWORD).await;
    assert_eq!(r.body, format!("in {user_id}"));
    let r = b
        .post_form_csrf("/enroll", &[("password", USER_PASSWORD)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = base32_decode(&r.body);
    let r = b
        .post_form_csrf("/confirm", &[("code", &code(&secret, 0))])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let recovery: Vec<String> = r.body.lines().map(str::to_owned).collect();
    assert_eq!(recovery.len(), 10);

    // A fresh browser: the password alone does not sign in.
    let mut b = Browser::new(addr);
    let r = b.login(USER_EMAIL, USER_PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.starts_with("second factor: totp"), "{}", r.body);
    let before = b.token().expect("session cookie");
    assert_ne!(
        b.get("/whoami").await.body,
        format!("{user_id} authenticated")
    );

    // A wrong code is refused, the session stays.
    let wrong = if code(&secret, 1) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = b.post_form_csrf("/second", &[("code", wrong)]).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(b.token().as_deref(), Some(before.as_str()));

    // The right code signs in with a new token.
    let r = b
        .post_form_csrf("/second", &[("code", &code(&secret, 1))])
        .await;
    assert_eq!(r.body, format!("in {user_id}"));
    assert_ne!(b.token().as_deref(), Some(before.as_str()));
    assert_eq!(
        b.get("/whoami").await.body,
        format!("{user_id} authenticated")
    );

    // A recovery code stands in for a code.
    let mut b = Browser::new(addr);
    let r = b.login(USER_EMAIL, USER_PASSWORD).await;
    assert!(r.body.starts_with("second factor:"), "{}", r.body);
    let r = b.post_form_csrf("/second", &[("code", &recovery[0])]).await;
    assert_eq!(r.body, format!("in {user_id}"));

    server.stop().await;
}

#[test]
fn second_factor_required_hides_the_ticket() {
    let e = AuthError::SecondFactorRequired {
        ticket: "tkt-very-secret-value".into(),
        kinds: vec!["totp".into()],
    };
    assert!(!format!("{e:?}").contains("tkt-very-secret-value"));
    assert!(!e.to_string().contains("tkt-very-secret-value"));
}
