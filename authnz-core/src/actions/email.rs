//! E-mail requests (PROTOCOL.md 3.5): `user-sendemail-signup` and
//! `user-sendemail-forgotpass` send the verification mails through the
//! configured mailer; `user-set-emailsent` records a mail a frontend sent
//! itself.
//!
//! Fixed upstream quirks: Q-5 (string `email_address`, object
//! `created_info`, `account_verify_url` with `server_verify_url` as the
//! fallback, and `server_verify_url` needed only without an
//! `account_verify_url`) and Q-9 (unknown e-mail in `user-set-emailsent` is a handled
//! failure). A send runs in its own task together with the write of the
//! "sent" time, so a client that hangs up mid-send cannot leave a delivered
//! mail unrecorded; a failed or timed-out send writes nothing.

use authnz_api::{MailError, StoreError, UserId, UserPatch};
use chrono::{NaiveDateTime, TimeDelta};
use serde_json::Value;

use super::args::py_int;
use super::reply::{Reply, dt};
use super::request_args::{
    UserSendemailForgotpassArgs, UserSendemailSignupArgs, UserSetEmailsentArgs,
};
use super::{ActionError, Context};
use crate::mail::templates::{Fields, MailKind, wrap_code};
use authnz_proto::envelope::schema_failure;
use authnz_proto::python::repr::py_list;
use authnz_proto::python::truth::truthy;
use authnz_proto::request::RequestType;
use authnz_proto::schema::{Problem, STR};

/// Failure 1 of both send requests: the mail settings are incomplete.
const MSG_BAD_SETTINGS: &str = "Invalid email server settings provided. Can't send an email.";

const SIGNUP_BAD_SETTINGS: &str =
    "invalid request: missing 'emailsender', 'emailserver', or 'emailport' in request";
const SIGNUP_NOT_ALLOWED: (&str, &str) = (
    "not allowed to send verification email to target user, send_verification = False",
    "Not allowed to send an email verification request.",
);
const SIGNUP_NO_USER: (&str, &str) = (
    "target user for verification email does not exist",
    "Invalid verify email request.",
);
const SIGNUP_ACTIVE: (&str, &str) = (
    "target user for verification email already active and verified",
    "Not sending an verify email request to an existing user.",
);
const SIGNUP_NO_SESSION: (&str, &str) = (
    "invalid session for requesting a verification email",
    "Invalid verify email request.",
);
const SIGNUP_SEND_FAILED: (&str, &str) = (
    "verification email could not be sent because of an email server problem",
    "Could not send email for the verify email request.",
);
const SIGNUP_SENT: &str = "Verify email sent successfully.";

const FORGOT_BAD_SETTINGS: &str = "missing 'emailserver', 'emailsender', 'emailport' in request";
const FORGOT_NO_USER: (&str, &str) = (
    "invalid user for forgot-pass email request",
    "Invalid password reset email request.",
);
const FORGOT_TOO_SOON: (&str, &str) = (
    "forgot-pass verification email sent less than 24 hours ago",
    "Invalid password reset email request.",
);
const FORGOT_NO_SESSION: (&str, &str) = (
    "invalid session for forgot-pass request",
    "Invalid verification email request.",
);
const FORGOT_SEND_FAILED: &str =
    "forgot-pass verification email could not be sent because email server issue";

const EMAILSENT_BAD_TYPE: (&str, &str) = (
    "invalid request: invalid email_type requested",
    "Invalid email sent notification request.",
);
const EMAILSENT_FAILED: (&str, &str) = (
    "could not update the email sent status in DB",
    "Email sent notification request failed.",
);
const EMAILSENT_OK: &str = "Email sent notification request succeeded.";

/// How long a forgot-password mail blocks the next one.
const FORGOTPASS_INTERVAL: TimeDelta = TimeDelta::hours(24);

fn signup_failure(reason: &str, message: &str) -> Reply {
    Reply::failure(reason, &[message])
        .with("user_id", Value::Null)
        .with("email_address", Value::Null)
        .with("emailverify_sent_datetime", Value::Null)
}

fn forgot_failure(reason: &str, message: &str) -> Reply {
    Reply::failure(reason, &[message])
        .with("user_id", Value::Null)
        .with("email_address", Value::Null)
        .with("emailforgotpass_sent_datetime", Value::Null)
}

/// `now + verification_expiry seconds` as isoformat + ` (UTC time)`.
/// An expiry too large for a date is upstream's unhandled error (400).
fn expiry_text(now: NaiveDateTime, seconds: i64) -> Result<String, ActionError> {
    let at = TimeDelta::try_seconds(seconds)
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| ActionError::Unhandled("verification_expiry out of range".into()))?;
    Ok(format!(
        "{} (UTC time)",
        authnz_api::time::to_isoformat(&at)
    ))
}

/// A URL path argument if it is a non-empty string.
fn url_arg(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// What happened to a send and its record.
enum Delivery {
    Sent,
    MailFailed(MailError),
    RecordFailed(StoreError),
}

/// Send `message` and then run `record`, both in one spawned task that
/// finishes even if the request's future is dropped.
async fn deliver<F>(
    ctx: &Context,
    route: crate::mail::Route,
    message: authnz_api::MailMessage,
    record: F,
) -> Result<Delivery, ActionError>
where
    F: std::future::Future<Output = Result<u64, StoreError>> + Send + 'static,
{
    let mail = ctx.mail.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = mail.send(&route, &message).await {
            return Delivery::MailFailed(e);
        }
        match record.await {
            Ok(_) => Delivery::Sent,
            Err(e) => Delivery::RecordFailed(e),
        }
    });
    task.await
        .map_err(|e| ActionError::internal("mail task", e))
}

/// The schema of `user-sendemail-signup` lists `server_verify_url` as
/// optional; it is needed when there is no non-empty `account_verify_url`
/// string. Then a missing or non-string `server_verify_url` gets, byte for
/// byte, the schema failure it got when it was a required `str` (the
/// envelope wraps this reply exactly as the schema failure was wrapped).
/// A truthy non-string one is already refused by the schema, as an
/// optional argument.
fn missing_verify_url(args: &UserSendemailSignupArgs<'_>) -> Option<Reply> {
    if url_arg(args.account_verify_url).is_some() {
        return None;
    }
    let problem = match args.server_verify_url {
        None => "missing",
        Some(v) if !v.is_string() => "incorrect type",
        Some(_) => return None,
    };
    let problems = [Problem {
        param: "server_verify_url",
        problem,
        required_type: STR,
        required_param: true,
    }];
    match schema_failure(
        RequestType::UserSendemailSignup.name(),
        &problems,
        Value::Null,
    ) {
        Value::Object(mut envelope) => match envelope.remove("response") {
            Some(Value::Object(response)) => Some(Reply(response)),
            _ => None,
        },
        _ => None,
    }
}

pub async fn user_sendemail_signup(
    ctx: &Context,
    args: UserSendemailSignupArgs<'_>,
) -> Result<Reply, ActionError> {
    // Before anything else, as the schema check it stands for.
    if let Some(failure) = missing_verify_url(&args) {
        return Ok(failure);
    }
    let Ok(route) = ctx.mail.route(&args.mail_settings()) else {
        return Ok(signup_failure(SIGNUP_BAD_SETTINGS, MSG_BAD_SETTINGS));
    };
    let created = args.created_info;
    let created_field = |key: &str| created.get(key);
    if !created_field("send_verification").is_some_and(truthy) {
        return Ok(signup_failure(SIGNUP_NOT_ALLOWED.0, SIGNUP_NOT_ALLOWED.1));
    }
    let target: Option<UserId> = created_field("user_id").and_then(py_int);
    let email = args.email_address;
    let user = match ctx.users.user_by_email(email).await? {
        Some(u) if Some(u.user_id) == target => u,
        _ => return Ok(signup_failure(SIGNUP_NO_USER.0, SIGNUP_NO_USER.1)),
    };
    if user.is_active || user.user_role != "locked" {
        return Ok(signup_failure(SIGNUP_ACTIVE.0, SIGNUP_ACTIVE.1));
    }
    let now = ctx.clock.now();
    let token = args.session_token;
    let Some((session, _)) = ctx.sessions.active_session(token, now).await? else {
        return Ok(signup_failure(SIGNUP_NO_SESSION.0, SIGNUP_NO_SESSION.1));
    };

    let expiry = expiry_text(now, args.verification_expiry)?;
    let baseurl = args.server_baseurl;
    let path = url_arg(args.account_verify_url)
        .or_else(|| url_arg(args.server_verify_url))
        .unwrap_or_default();
    let url = format!("{baseurl}{path}");
    let browser = session.user_agent.replace('_', ".");
    let code = wrap_code(args.verification_token);
    let fields = Fields {
        server_name: args.server_name,
        server_baseurl: baseurl,
        user_email: &user.email,
        browser: &browser,
        ip_address: &session.ip_address,
        verification_code: &code,
        verification_url: &url,
        verification_expiry: &expiry,
    };
    let who = ctx.pii(&user.user_id.to_string());
    let Some(message) = ctx
        .mail
        .message(MailKind::Signup, &route.sender, &[&user.email], &fields)
    else {
        tracing::warn!(user = %who, "sign-up mail not sent: sender or recipient fails the address pattern");
        return Ok(signup_failure(SIGNUP_SEND_FAILED.0, SIGNUP_SEND_FAILED.1));
    };

    // Upstream's update: this user, still inactive, still with the e-mail
    // the sign-up reported.
    let record_email_matches =
        created_field("user_email").and_then(Value::as_str) == Some(user.email.as_str());
    let users = ctx.users.clone();
    let user_id = user.user_id;
    let record = async move {
        if !record_email_matches {
            return Ok(0);
        }
        let patch = UserPatch {
            emailverify_sent_datetime: Some(Some(now)),
            ..UserPatch::default()
        };
        users.update_user(user_id, &patch, Some(false), now).await
    };
    match deliver(ctx, route, message, record).await? {
        Delivery::Sent => {
            tracing::info!(user = %who, mailer = ctx.mail.mailer.kind(), "sign-up verification mail sent");
            Ok(Reply::success(&[SIGNUP_SENT])
                .with("user_id", user.user_id)
                .with("email_address", user.email)
                .with("emailverify_sent_datetime", dt(Some(&now))))
        }
        Delivery::MailFailed(e) => {
            tracing::warn!(user = %who, error = %e, "sign-up verification mail could not be sent");
            Ok(signup_failure(SIGNUP_SEND_FAILED.0, SIGNUP_SEND_FAILED.1))
        }
        Delivery::RecordFailed(e) => Err(e.into()),
    }
}

pub async fn user_sendemail_forgotpass(
    ctx: &Context,
    args: UserSendemailForgotpassArgs<'_>,
) -> Result<Reply, ActionError> {
    let Ok(route) = ctx.mail.route(&args.mail_settings()) else {
        return Ok(forgot_failure(FORGOT_BAD_SETTINGS, MSG_BAD_SETTINGS));
    };
    let email = args.email_address;
    let user = match ctx.users.user_by_email(email).await? {
        Some(u) if u.is_active && u.user_role != "locked" && u.user_role != "anonymous" => u,
        _ => return Ok(forgot_failure(FORGOT_NO_USER.0, FORGOT_NO_USER.1)),
    };
    let now = ctx.clock.now();
    if user
        .emailforgotpass_sent_datetime
        .is_some_and(|sent| now - sent < FORGOTPASS_INTERVAL)
    {
        return Ok(forgot_failure(FORGOT_TOO_SOON.0, FORGOT_TOO_SOON.1));
    }
    let token = args.session_token;
    let Some((session, _)) = ctx.sessions.active_session(token, now).await? else {
        return Ok(forgot_failure(FORGOT_NO_SESSION.0, FORGOT_NO_SESSION.1));
    };

    let expiry = expiry_text(now, args.verification_expiry)?;
    let baseurl = args.server_baseurl;
    let url = format!("{baseurl}{}", args.password_forgot_url);
    let browser = session.user_agent.replace('_', ".");
    let code = wrap_code(args.verification_token);
    let fields = Fields {
        server_name: args.server_name,
        server_baseurl: baseurl,
        user_email: &user.email,
        browser: &browser,
        ip_address: &session.ip_address,
        verification_code: &code,
        verification_url: &url,
        verification_expiry: &expiry,
    };
    let recipients = [user.email.as_str()];
    let send_failed = || {
        forgot_failure(
            FORGOT_SEND_FAILED,
            &format!(
                "Could not send email to {} for the user password reset request.",
                py_list(recipients)
            ),
        )
    };
    let who = ctx.pii(&user.user_id.to_string());
    let Some(message) = ctx
        .mail
        .message(MailKind::ForgotPass, &route.sender, &recipients, &fields)
    else {
        tracing::warn!(user = %who, "password reset mail not sent: sender or recipient fails the address pattern");
        return Ok(send_failed());
    };

    let users = ctx.users.clone();
    let user_id = user.user_id;
    let record = async move {
        let patch = UserPatch {
            emailforgotpass_sent_datetime: Some(Some(now)),
            ..UserPatch::default()
        };
        users.update_user(user_id, &patch, Some(true), now).await
    };
    match deliver(ctx, route, message, record).await? {
        Delivery::Sent => {
            tracing::info!(user = %who, mailer = ctx.mail.mailer.kind(), "password reset mail sent");
            Ok(Reply::success(&[format!(
                "Password reset request sent successfully to {}",
                py_list(recipients)
            )])
            .with("user_id", user.user_id)
            .with("email_address", user.email.clone())
            .with("emailforgotpass_sent_datetime", dt(Some(&now))))
        }
        Delivery::MailFailed(e) => {
            tracing::warn!(user = %who, error = %e, "password reset mail could not be sent");
            Ok(send_failed())
        }
        Delivery::RecordFailed(e) => Err(e.into()),
    }
}

fn emailsent_failure(reason: &str, message: &str) -> Reply {
    Reply::failure(reason, &[message])
        .with("email", Value::Null)
        .with("emailverify_sent_datetime", Value::Null)
        .with("emailforgotpass_sent_datetime", Value::Null)
        .with("user_id", Value::Null)
        .with("is_active", Value::Null)
        .with("user_role", Value::Null)
}

/// `user-set-emailsent`, with Q-9 fixed.
pub async fn user_set_emailsent(
    ctx: &Context,
    args: UserSetEmailsentArgs<'_>,
) -> Result<Reply, ActionError> {
    let now = ctx.clock.now();
    let patch = match args.email_type {
        "signup" => UserPatch {
            emailverify_sent_datetime: Some(Some(now)),
            ..UserPatch::default()
        },
        "forgotpass" => UserPatch {
            emailforgotpass_sent_datetime: Some(Some(now)),
            ..UserPatch::default()
        },
        _ => {
            return Ok(emailsent_failure(
                EMAILSENT_BAD_TYPE.0,
                EMAILSENT_BAD_TYPE.1,
            ));
        }
    };
    let Some(user) = ctx.users.user_by_email(args.email).await? else {
        return Ok(emailsent_failure(EMAILSENT_FAILED.0, EMAILSENT_FAILED.1));
    };
    ctx.users
        .update_user(user.user_id, &patch, None, now)
        .await?;
    let Some(after) = ctx.users.user_by_id(user.user_id).await? else {
        return Ok(emailsent_failure(EMAILSENT_FAILED.0, EMAILSENT_FAILED.1));
    };
    Ok(Reply::success(&[EMAILSENT_OK])
        .with("email", after.email)
        .with(
            "emailverify_sent_datetime",
            dt(after.emailverify_sent_datetime.as_ref()),
        )
        .with(
            "emailforgotpass_sent_datetime",
            dt(after.emailforgotpass_sent_datetime.as_ref()),
        )
        .with("user_id", after.user_id)
        .with("is_active", after.is_active)
        .with("user_role", after.user_role))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_isoformat_in_utc() {
        let now = authnz_api::time::parse_stored_text("2030-01-01 00:00:00.5").unwrap();
        assert_eq!(
            expiry_text(now, 900).unwrap(),
            "2030-01-01T00:15:00.500000 (UTC time)"
        );
        assert!(expiry_text(now, i64::MAX).is_err());
    }
}
