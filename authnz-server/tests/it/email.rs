//! The e-mail requests over the real protocol (PROTOCOL.md 3.5): sign-up and
//! password-reset mails delivered to a real SMTP server (aiosmtpd on
//! loopback, started here) and read back, the once-per-24-hours rule, the
//! failures (server down, silent, rejecting the recipient) with nothing
//! marked as sent while other requests keep being served, the Q-16 body
//! overrides, the file mailer, and `user-set-emailsent`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{Backend, TestDb, TestServer};
use authnz_api::{Clock, ManualClock, SystemClock};
use authnz_mail::testing::{SinkOptions, SmtpSink, TestCerts, closed_port, silent_listener};
use authnz_server::config::{MailerKind, SmtpSecurity};
use authnz_server::mail::MailOptions;
use chrono::TimeDelta;
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";
const SENDER: &str = "Authnz Test <noreply-test@example.org>";
/// Longer than 70 characters, so the body wraps it.
const TOKEN: &str =
    "gAAAAABk-verification_token-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-END";

fn smtp_mail(port: u16, security: SmtpSecurity, basedir: &std::path::Path) -> MailOptions {
    let mut m = MailOptions::file(basedir.join("mail-outbox"), basedir.join("email-templates"));
    m.backend = MailerKind::Smtp;
    m.sender = SENDER.into();
    m.smtp.host = "127.0.0.1".into();
    m.smtp.port = port;
    m.smtp.security = security;
    m.timeout = Duration::from_secs(5);
    m
}

async fn server_with(
    db: &TestDb,
    clock: Arc<dyn Clock>,
    tweak: impl FnOnce(&mut MailOptions),
) -> TestServer {
    TestServer::start_with(db, clock, |o| tweak(&mut o.mail)).await
}

/// A session with a user agent holding `_` (the mail shows it as `.`).
async fn browser_session(s: &TestServer) -> String {
    let env = s
        .call(
            "session-new",
            json!({
                "ip_address": "203.0.113.9",
                "user_agent": "Mozilla/5.0 (X11; Linux_x86_64) Test_Browser",
                "user_id": null,
                "expires": "2100-01-01T00:00:00.000001",
                "extra_info_json": null,
            }),
        )
        .await;
    env["response"]["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `user-new` for `email`; returns the response (the `created_info`).
async fn sign_up(s: &TestServer, email: &str) -> Value {
    let env = s
        .call(
            "user-new",
            json!({"full_name": "Mail Person", "email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    env["response"].clone()
}

fn signup_body(email: &str, session: &str, created: &Value) -> Value {
    json!({
        "email_address": email,
        "session_token": session,
        "created_info": created,
        "server_name": "Authnz Test Server",
        "server_baseurl": "https://auth.example.org",
        "server_verify_url": "/fallback-verify",
        "account_verify_url": "/users/verify",
        "verification_token": TOKEN,
        "verification_expiry": 900,
    })
}

fn forgot_body(email: &str, session: &str) -> Value {
    json!({
        "email_address": email,
        "session_token": session,
        "server_name": "Authnz Test Server",
        "server_baseurl": "https://auth.example.org",
        "password_forgot_url": "/users/forgot-password",
        "verification_token": TOKEN,
        "verification_expiry": 900,
    })
}

async fn lookup(s: &TestServer, email: &str) -> Value {
    let env = s.call("user-lookup-email", json!({"email": email})).await;
    assert_eq!(env["success"], json!(true), "{env}");
    env["response"]["user_info"].clone()
}

fn token_lines() -> String {
    format!("{}\n{}", &TOKEN[..70], &TOKEN[70..])
}

async fn signup_and_forgotpass_over_smtp(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let Some(sink) = SmtpSink::start(SinkOptions::default(), test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = server_with(&db, clock.clone(), |m| {
        *m = smtp_mail(
            sink.port,
            SmtpSecurity::None,
            std::path::Path::new("/nonexistent"),
        );
    })
    .await;
    let email = "mail.person@example.org";
    let session = browser_session(&s).await;
    let created = sign_up(&s, email).await;
    let user_id = created["user_id"].as_i64().unwrap();
    let signed_up_at = lookup(&s, email).await["emailverify_sent_datetime"].clone();

    // Q-5 failures before any mail is sent.
    let mut not_allowed = created.clone();
    not_allowed["send_verification"] = json!(false);
    let env = s
        .call(
            "user-sendemail-signup",
            signup_body(email, &session, &not_allowed),
        )
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("not allowed to send verification email to target user, send_verification = False")
    );
    assert_eq!(
        env["messages"],
        json!(["Not allowed to send an email verification request."])
    );
    let mut wrong_user = created.clone();
    wrong_user["user_id"] = json!(user_id + 100);
    let env = s
        .call(
            "user-sendemail-signup",
            signup_body(email, &session, &wrong_user),
        )
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("target user for verification email does not exist")
    );
    assert_eq!(env["messages"], json!(["Invalid verify email request."]));
    for key in ["user_id", "email_address", "emailverify_sent_datetime"] {
        assert_eq!(env["response"][key], Value::Null, "{key}");
    }
    let env = s
        .call(
            "user-sendemail-signup",
            signup_body(email, "no-such-session", &created),
        )
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("invalid session for requesting a verification email")
    );
    assert!(sink.messages().is_empty());

    // The sign-up mail.
    clock.advance(TimeDelta::seconds(5));
    let env = s
        .call(
            "user-sendemail-signup",
            signup_body(email, &session, &created),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["messages"], json!(["Verify email sent successfully."]));
    let r = &env["response"];
    assert_eq!(r["user_id"], json!(user_id));
    assert_eq!(r["email_address"], json!(email));
    let sent_at = r["emailverify_sent_datetime"].clone();
    assert_ne!(sent_at, signed_up_at);
    assert_eq!(
        lookup(&s, email).await["emailverify_sent_datetime"],
        sent_at
    );

    let mails = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(m.rcpt_tos(), [email]);
    assert_eq!(m.get("to"), email);
    assert_eq!(m.get("mail_from"), "noreply-test@example.org");
    assert_eq!(m.get("from"), SENDER);
    assert_eq!(m.get("sender"), "noreply-test@example.org");
    assert_eq!(
        m.get("subject"),
        "[Authnz Test Server] Please verify your account sign up request"
    );
    let text = m.get("text").replace("\r\n", "\n");
    let html = m.get("html").replace("\r\n", "\n");
    for part in [&text, &html] {
        assert!(part.contains(&token_lines()), "token wrapped at 70: {part}");
        assert!(
            part.contains("https://auth.example.org/users/verify"),
            "{part}"
        );
        assert!(
            part.contains("Mozilla/5.0 (X11; Linux.x86.64) Test.Browser"),
            "{part}"
        );
        assert!(part.contains("203.0.113.9"), "{part}");
        assert!(part.contains(email), "{part}");
        assert!(part.contains("Authnz Test Server"), "{part}");
        assert!(part.contains(" (UTC time)"), "{part}");
    }
    assert!(!text.contains("/fallback-verify"));
    assert!(
        html.contains("<a href=\"https://auth.example.org/users/verify\">"),
        "{html}"
    );
    let expiry =
        chrono::NaiveDateTime::parse_from_str(sent_at.as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.f")
            .unwrap()
            + TimeDelta::seconds(900);
    assert!(
        text.contains(&format!(
            "{} (UTC time)",
            authnz_api::time::to_isoformat(&expiry)
        )),
        "{text}"
    );

    // Without account_verify_url the server_verify_url is the link.
    let mut body = signup_body(email, &session, &created);
    body.as_object_mut().unwrap().remove("account_verify_url");
    let env = s.call("user-sendemail-signup", body).await;
    assert_eq!(env["success"], json!(true), "{env}");
    let mails = sink.wait_for(2, Duration::from_secs(5)).await;
    assert!(
        mails[1]
            .get("text")
            .contains("https://auth.example.org/fallback-verify")
    );

    // Verified users get no more sign-up mails.
    let env = s
        .call("user-set-emailverified", json!({"email": email}))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let env = s
        .call(
            "user-sendemail-signup",
            signup_body(email, &session, &created),
        )
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("target user for verification email already active and verified")
    );
    assert_eq!(
        env["messages"],
        json!(["Not sending an verify email request to an existing user."])
    );

    // Password reset mail, once per 24 hours.
    let env = s
        .call(
            "user-sendemail-forgotpass",
            forgot_body("nobody@example.org", &session),
        )
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("invalid user for forgot-pass email request")
    );
    assert_eq!(
        env["messages"],
        json!(["Invalid password reset email request."])
    );
    let env = s
        .call(
            "user-sendemail-forgotpass",
            forgot_body(email, "no-such-session"),
        )
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("invalid session for forgot-pass request")
    );
    assert_eq!(
        env["messages"],
        json!(["Invalid verification email request."])
    );
    let env = s
        .call("user-sendemail-forgotpass", forgot_body(email, &session))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(
        env["messages"],
        json!(["Password reset request sent successfully to ['mail.person@example.org']"])
    );
    let first_reset = env["response"]["emailforgotpass_sent_datetime"].clone();
    assert!(first_reset.is_string());
    assert_eq!(env["response"]["user_id"], json!(user_id));
    assert_eq!(
        lookup(&s, email).await["emailforgotpass_sent_datetime"],
        first_reset
    );
    let mails = sink.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 3);
    assert_eq!(
        mails[2].get("subject"),
        "[Authnz Test Server] Please verify your password reset request"
    );
    assert!(
        mails[2]
            .get("text")
            .contains("https://auth.example.org/users/forgot-password")
    );
    assert!(
        mails[2]
            .get("text")
            .replace("\r\n", "\n")
            .contains(&token_lines())
    );

    clock.advance(TimeDelta::hours(23));
    let env = s
        .call("user-sendemail-forgotpass", forgot_body(email, &session))
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("forgot-pass verification email sent less than 24 hours ago")
    );
    assert_eq!(
        env["messages"],
        json!(["Invalid password reset email request."])
    );
    clock.advance(TimeDelta::hours(1));
    let env = s
        .call("user-sendemail-forgotpass", forgot_body(email, &session))
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_ne!(
        env["response"]["emailforgotpass_sent_datetime"],
        first_reset
    );
    assert_eq!(sink.wait_for(4, Duration::from_secs(5)).await.len(), 4);

    s.stop().await;
    sink.stop().await;
    db.drop_db().await;
}

/// Every failing send: the documented failure, nothing recorded as sent.
async fn failed_sends_record_nothing(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let rejecting = SinkOptions {
        reject_suffix: Some("@rejected.example.org".into()),
        ..SinkOptions::default()
    };
    let Some(sink) = SmtpSink::start(rejecting, test).await else {
        return;
    };
    let down = closed_port().await;
    let (silent, hung) = silent_listener().await;

    for (port, timeout, email) in [
        (down, 5, "down@example.org"),
        (sink.port, 5, "someone@rejected.example.org"),
        (silent, 1, "silent@example.org"),
    ] {
        let s = server_with(&db, Arc::new(SystemClock), |m| {
            *m = smtp_mail(
                port,
                SmtpSecurity::None,
                std::path::Path::new("/nonexistent"),
            );
            m.timeout = Duration::from_secs(timeout);
        })
        .await;
        let session = browser_session(&s).await;
        let created = sign_up(&s, email).await;
        let before = lookup(&s, email).await;
        let started = Instant::now();
        let env = s
            .call(
                "user-sendemail-signup",
                signup_body(email, &session, &created),
            )
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(timeout + 3),
            "{email}"
        );
        assert_eq!(env["success"], json!(false), "{email}: {env}");
        assert_eq!(
            env["failure_reason"],
            json!("verification email could not be sent because of an email server problem")
        );
        assert_eq!(
            env["messages"],
            json!(["Could not send email for the verify email request."])
        );
        assert_eq!(env["response"]["emailverify_sent_datetime"], Value::Null);
        assert_eq!(lookup(&s, email).await, before, "{email}: nothing written");

        s.call("user-set-emailverified", json!({"email": email}))
            .await;
        let env = s
            .call("user-sendemail-forgotpass", forgot_body(email, &session))
            .await;
        assert_eq!(
            env["failure_reason"],
            json!("forgot-pass verification email could not be sent because email server issue")
        );
        assert_eq!(
            env["messages"],
            json!([format!(
                "Could not send email to ['{email}'] for the user password reset request."
            )])
        );
        assert_eq!(
            lookup(&s, email).await["emailforgotpass_sent_datetime"],
            Value::Null
        );
        s.stop().await;
    }
    assert!(sink.messages().is_empty());
    hung.abort();
    sink.stop().await;
    db.drop_db().await;
}

per_backend!(
    signup_and_forgotpass_over_smtp,
    failed_sends_record_nothing,
    set_emailsent
);

/// A hung mail server delays only the request that sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_smtp_does_not_block_other_requests() {
    let Some(db) = TestDb::new(Backend::Sqlite, "email::slow_smtp").await else {
        return;
    };
    let (port, hung) = silent_listener().await;
    let s = Arc::new(
        server_with(&db, Arc::new(SystemClock), |m| {
            *m = smtp_mail(
                port,
                SmtpSecurity::None,
                std::path::Path::new("/nonexistent"),
            );
            m.timeout = Duration::from_secs(3);
        })
        .await,
    );
    let email = "patient@example.org";
    let session = browser_session(&s).await;
    let created = sign_up(&s, email).await;
    let started = Instant::now();
    let sending = {
        let s = s.clone();
        let body = signup_body(email, &session, &created);
        tokio::spawn(async move { s.call("user-sendemail-signup", body).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let t = Instant::now();
        let env = s
            .call("session-exists", json!({"session_token": session}))
            .await;
        assert_eq!(env["success"], json!(true));
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    assert!(!sending.is_finished(), "the send should still be waiting");
    let env = sending.await.unwrap();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(
        env["failure_reason"],
        json!("verification email could not be sent because of an email server problem")
    );
    hung.abort();
    match Arc::try_unwrap(s) {
        Ok(s) => s.stop().await,
        Err(_) => panic!("server still shared"),
    }
    db.drop_db().await;
}

/// STARTTLS with a private CA (`emailcafile`) and a login, through the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_login_through_the_server() {
    let test = "email::starttls_and_login_through_the_server";
    let Some(certs) = TestCerts::generate(test) else {
        return;
    };
    let options = SinkOptions {
        starttls: Some((certs.cert.clone(), certs.key.clone())),
        login: Some(("authnz".into(), "mail-pass".into())),
        ..SinkOptions::default()
    };
    let Some(sink) = SmtpSink::start(options, test).await else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Sqlite, test).await else {
        return;
    };
    let s = server_with(&db, Arc::new(SystemClock), |m| {
        *m = smtp_mail(
            sink.port,
            SmtpSecurity::StartTls,
            std::path::Path::new("/nonexistent"),
        );
        m.smtp.ca_file = Some(certs.ca_pem.clone());
        m.smtp.user = "authnz".into();
        m.smtp.password = "mail-pass".into();
    })
    .await;
    let email = "tls.person@example.org";
    let session = browser_session(&s).await;
    let created = sign_up(&s, email).await;
    let env = s
        .call(
            "user-sendemail-signup",
            signup_body(email, &session, &created),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let mails = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].json["tls"], true);
    assert_eq!(mails[0].get("login"), "authnz");
    assert!(
        mails[0]
            .get("text")
            .replace("\r\n", "\n")
            .contains(&token_lines())
    );
    s.stop().await;
    sink.stop().await;
    db.drop_db().await;
}

/// Q-16: body SMTP settings count only with `emailbodyoverrides`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_overrides_need_the_flag() {
    let test = "email::body_overrides_need_the_flag";
    let Some(sink) = SmtpSink::start(SinkOptions::default(), test).await else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Sqlite, test).await else {
        return;
    };
    let down = closed_port().await;
    for allowed in [false, true] {
        let s = server_with(&db, Arc::new(SystemClock), |m| {
            *m = smtp_mail(
                down,
                SmtpSecurity::None,
                std::path::Path::new("/nonexistent"),
            );
            m.allow_body_overrides = allowed;
        })
        .await;
        let email = if allowed {
            "allowed@example.org"
        } else {
            "refused@example.org"
        };
        let session = browser_session(&s).await;
        let created = sign_up(&s, email).await;
        let mut body = signup_body(email, &session, &created);
        let b = body.as_object_mut().unwrap();
        b.insert("emailserver".into(), json!("127.0.0.1"));
        b.insert("emailport".into(), json!(sink.port));
        b.insert("emailsender".into(), json!("other-sender@example.net"));
        let env = s.call("user-sendemail-signup", body.clone()).await;
        assert_eq!(env["success"], json!(allowed), "{env}");
        if allowed {
            let mails = sink.wait_for(1, Duration::from_secs(5)).await;
            assert_eq!(mails.len(), 1);
            assert_eq!(mails[0].get("from"), "other-sender@example.net");
            // A null server in the body: incomplete settings.
            body["emailserver"] = Value::Null;
            let env = s.call("user-sendemail-signup", body).await;
            assert_eq!(
                env["failure_reason"],
                json!(
                    "invalid request: missing 'emailsender', 'emailserver', or 'emailport' in request"
                )
            );
            assert_eq!(
                env["messages"],
                json!(["Invalid email server settings provided. Can't send an email."])
            );
        } else {
            assert!(sink.messages().is_empty());
        }
        s.stop().await;
    }
    sink.stop().await;
    db.drop_db().await;
}

/// The default (file) mailer writes an .eml into the basedir.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_mailer_writes_the_outbox() {
    let Some(db) = TestDb::new(Backend::Sqlite, "email::file_mailer").await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let email = "file.person@example.org";
    let session = browser_session(&s).await;
    let created = sign_up(&s, email).await;
    let env = s
        .call(
            "user-sendemail-signup",
            signup_body(email, &session, &created),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    let outbox = s.basedir.path().join("mail-outbox");
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains(&format!("To: {email}\r\n")), "{raw}");
    assert!(
        raw.contains("Subject: [Authnz Test Server] Please verify your account sign up request"),
        "{raw}"
    );
    assert!(raw.contains("multipart/alternative"), "{raw}");
    s.stop().await;
    db.drop_db().await;
}

/// Q-5: `server_verify_url` is needed only without an `account_verify_url`.
/// Without both (or with a non-string `server_verify_url`) the answer is,
/// byte for byte, the schema failure of a required `server_verify_url`; an
/// `account_verify_url` alone sends the mail with its link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_verify_url_alone_is_enough() {
    let Some(db) = TestDb::new(Backend::Sqlite, "email::account_verify_url_alone").await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let email = "verify.url@example.org";
    let session = browser_session(&s).await;
    let created = sign_up(&s, email).await;
    let outbox = s.basedir.path().join("mail-outbox");
    let sent = || std::fs::read_dir(&outbox).map_or(0, |d| d.count());

    // The answer's plaintext as the schema check wrote it when
    // `server_verify_url` was required (compact JSON, schema key order).
    let exact = |problem: &str| {
        format!(
            concat!(
                r#"{{"success":false,"response":{{"success":false,"response":"#,
                r#"{{"problems":[{{"param":"server_verify_url","problem":"{}","#,
                r#""required_type":"str","required_param":true}}],"#,
                r#""failure_reason":"invalid request parameters"}},"#,
                r#""messages":["request 'user-sendemail-signup' has invalid parameters"]}},"#,
                r#""messages":["request 'user-sendemail-signup' has invalid parameters"],"#,
                r#""reqid":42}}"#
            ),
            problem
        )
    };
    let answer = |body: Value| async {
        let (status, _, bytes) = s
            .call_raw_as("127.0.0.1", "user-sendemail-signup", body)
            .await;
        assert_eq!(status, 200);
        String::from_utf8(s.codec.open_bytes(&bytes).expect("decrypts")).expect("UTF-8")
    };
    let mut neither = signup_body(email, &session, &created);
    neither.as_object_mut().unwrap().remove("server_verify_url");
    neither
        .as_object_mut()
        .unwrap()
        .remove("account_verify_url");
    assert_eq!(answer(neither.clone()).await, exact("missing"));
    // An empty account_verify_url counts as none.
    neither["account_verify_url"] = json!("");
    assert_eq!(answer(neither.clone()).await, exact("missing"));
    // A non-string server_verify_url (a falsy one passes the optional
    // check) is the required argument's "incorrect type".
    neither["server_verify_url"] = json!(null);
    assert_eq!(answer(neither).await, exact("incorrect type"));
    assert_eq!(sent(), 0);

    let mut only_account = signup_body(email, &session, &created);
    only_account
        .as_object_mut()
        .unwrap()
        .remove("server_verify_url");
    let env = s.call("user-sendemail-signup", only_account).await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(sent(), 1);
    let file = std::fs::read_dir(&outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let raw = std::fs::read_to_string(file).unwrap();
    assert!(
        raw.contains("https://auth.example.org/users/verify"),
        "{raw}"
    );
    s.stop().await;
    db.drop_db().await;
}

/// Q-5: string e-mails and an object `created_info` pass the schema; the
/// upstream types (int, str) do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_schema_types() {
    let Some(db) = TestDb::new(Backend::Sqlite, "email::fixed_schema_types").await else {
        return;
    };
    let s = TestServer::start(&db).await;
    let mut body = signup_body("x@example.org", "t", &json!("not an object"));
    body["email_address"] = json!(12);
    let env = s.call("user-sendemail-signup", body).await;
    assert_eq!(
        env["response"]["response"]["problems"],
        json!([
            {"param": "email_address", "problem": "incorrect type", "required_type": "str", "required_param": true},
            {"param": "created_info", "problem": "incorrect type", "required_type": "dict", "required_param": true},
        ])
    );
    let mut body = forgot_body("x@example.org", "t");
    body["email_address"] = json!(12);
    let env = s.call("user-sendemail-forgotpass", body).await;
    assert_eq!(
        env["messages"],
        json!(["request 'user-sendemail-forgotpass' has invalid parameters"])
    );
    s.stop().await;
    db.drop_db().await;
}

async fn set_emailsent(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone(), |_| {}).await;
    let email = "external.mailer@example.org";
    let created = sign_up(&s, email).await;
    clock.advance(TimeDelta::minutes(3));

    let env = s
        .call(
            "user-set-emailsent",
            json!({"email": email, "email_type": "signup"}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(
        env["messages"],
        json!(["Email sent notification request succeeded."])
    );
    let r = &env["response"];
    assert_eq!(r["email"], json!(email));
    assert_eq!(r["user_id"], created["user_id"]);
    assert_eq!(r["is_active"], json!(false));
    assert_eq!(r["user_role"], json!("locked"));
    assert_eq!(r["emailforgotpass_sent_datetime"], Value::Null);
    let verify_at = r["emailverify_sent_datetime"].clone();
    assert_eq!(
        lookup(&s, email).await["emailverify_sent_datetime"],
        verify_at
    );
    assert_eq!(
        verify_at,
        json!(authnz_api::time::to_isoformat(&clock.now()))
    );

    clock.advance(TimeDelta::minutes(1));
    let env = s
        .call(
            "user-set-emailsent",
            json!({"email": email, "email_type": "forgotpass"}),
        )
        .await;
    assert_eq!(env["success"], json!(true), "{env}");
    assert_eq!(env["response"]["emailverify_sent_datetime"], verify_at);
    assert_eq!(
        env["response"]["emailforgotpass_sent_datetime"],
        json!(authnz_api::time::to_isoformat(&clock.now()))
    );

    let env = s
        .call(
            "user-set-emailsent",
            json!({"email": email, "email_type": "changepass"}),
        )
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("invalid request: invalid email_type requested")
    );
    assert_eq!(
        env["messages"],
        json!(["Invalid email sent notification request."])
    );
    // Q-9 fixed: an unknown e-mail is a handled failure, not a 400.
    let env = s
        .call(
            "user-set-emailsent",
            json!({"email": "ghost@example.org", "email_type": "signup"}),
        )
        .await;
    assert_eq!(env["success"], json!(false));
    assert_eq!(
        env["failure_reason"],
        json!("could not update the email sent status in DB")
    );
    assert_eq!(
        env["messages"],
        json!(["Email sent notification request failed."])
    );
    s.stop().await;
    db.drop_db().await;
}
