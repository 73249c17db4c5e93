//! User requests of the foundation (PROTOCOL.md 3.3): `user-new`, `user-list`,
//! `user-lookup-email`, `user-set-emailverified`.

use authnz_api::{AuditEventType, AuditOutcome};
use std::sync::Arc;

use authnz_api::{NewUser, StoreError, User, UserPatch};
use chrono::TimeDelta;
use serde_json::{Value, json};

use super::args::py_int;
use super::reply::{Reply, user_info};
use super::request_args::{
    UserListArgs, UserLookupEmailArgs, UserNewArgs, UserSetEmailverifiedArgs,
};
use super::{ActionError, Context};
use crate::validate::email::{FAILURE_INVALID_EMAIL, MSG_INVALID_EMAIL, normalize_email};
use crate::validate::name::{FullNameError, sign_up_full_name};
use crate::validate::text::cut_password;
use authnz_proto::python::truth::truthy;

const CREATED: &str = "User account created. Please verify your email address to log in.";

fn signup_failure(reason: &str, messages: &[String], user_email: Value) -> Reply {
    Reply::failure(reason, messages)
        .with("user_email", user_email)
        .with("user_id", Value::Null)
        .with("send_verification", false)
}

/// Python `int(x)` for `verify_retry_wait`, default 6, at least 1 (hours).
/// A float is truncated toward zero as `int()` does; one beyond the 64-bit
/// range is refused (HTTP 400) rather than saturated.
fn verify_retry_wait(v: Option<&Value>) -> Result<i64, ActionError> {
    // 2^63 as f64: every finite float below it (in magnitude) fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let n = match v {
        None | Some(Value::Null) => 6,
        Some(v) => match py_int(v) {
            Some(n) => n,
            None => match v.as_f64().filter(|f| f.is_finite()).map(f64::trunc) {
                Some(f) if (-LIMIT..LIMIT).contains(&f) => f as i64,
                Some(_) => {
                    return Err(ActionError::Unhandled(
                        "verify_retry_wait out of range".to_owned(),
                    ));
                }
                None => match v.as_str().map(str::trim) {
                    Some(s) => match s.parse::<i64>() {
                        Ok(n) => n,
                        // An integer text too long for 64 bits.
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::num::IntErrorKind::PosOverflow
                                    | std::num::IntErrorKind::NegOverflow
                            ) =>
                        {
                            return Err(ActionError::Unhandled(
                                "verify_retry_wait out of range".to_owned(),
                            ));
                        }
                        Err(_) => 6,
                    },
                    None => 6,
                },
            },
        },
    };
    Ok(n.max(1))
}

pub async fn user_new(ctx: &Context, args: UserNewArgs<'_>) -> Result<Reply, ActionError> {
    let raw_email = args.email;
    let raw_name = args.full_name;
    let password = cut_password(args.password);
    let now = ctx.clock.now();

    // The e-mail and name rules read the whole (client-sized) values: off
    // the async workers (see `offload`).
    let validators = Arc::clone(&ctx.validators);
    let (given_email, given_name) = (raw_email.to_owned(), raw_name.to_owned());
    let checked = super::offload::run(move || {
        if validators.email.validate(&given_email).is_err() {
            return Err(None::<FullNameError>);
        }
        let full_name = sign_up_full_name(&given_name, &validators.suffixes).map_err(Some)?;
        Ok((normalize_email(&given_email), full_name))
    })
    .await?;
    let (email, processed) = match checked {
        Ok(both) => both,
        Err(None) => {
            return Ok(signup_failure(
                FAILURE_INVALID_EMAIL,
                &[MSG_INVALID_EMAIL.to_owned()],
                Value::Null,
            ));
        }
        Err(Some(e)) => {
            let (Some(reason), Some(message)) = (e.failure_reason(), e.message()) else {
                // Two or more '@' in the name: upstream's unhandled error.
                debug_assert_eq!(e, FullNameError::TooManyAts);
                return Err(ActionError::Unhandled(e.to_string()));
            };
            return Ok(signup_failure(reason, &[message.to_owned()], Value::Null));
        }
    };

    // A name longer than its column is not stored on any backend (D-22): the
    // sign-up goes on as for any other refused insert, and the password
    // policy sees the name's beginning.
    let (full_name, name_too_long) = (processed.text, processed.too_long);

    // Hash first, always, so a weak password costs as much as a good one.
    let hash = ctx.hasher.hash(password).await?;
    let policy = super::passwords::check_password(ctx, password, &email, &full_name).await?;
    if !policy.ok {
        return Ok(signup_failure(
            "invalid password",
            &policy.messages,
            Value::String(email),
        ));
    }

    let wait_hours = verify_retry_wait(args.verify_retry_wait)?;
    let system_id = match args.system_id {
        Some(Value::String(s)) => s.clone(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let provenance = json!({
        "provenance": "request-created",
        "type": "normal-user",
        "verify_retry_wait": wait_hours,
    });
    // A truthy `extra_info` that is not an object cannot be updated with the
    // provenance: upstream fails inside its guarded insert, so the user is
    // simply "not added": `DB issue with user creation`, or `user exists` for
    // a taken e-mail (a resend then keeps the stored `extra_info`).
    let extra_info = match args.extra_info {
        Some(v) if truthy(v) => match (v, provenance) {
            (Value::Object(given), Value::Object(p)) => {
                let mut given = given.clone();
                given.extend(p);
                Some(Value::Object(given))
            }
            _ => None,
        },
        _ => Some(provenance),
    };

    let mut messages = policy.messages.clone();
    messages.push(CREATED.to_owned());

    let new_user = extra_info
        .as_ref()
        .filter(|_| !name_too_long)
        .map(|extra_info| NewUser {
            system_id,
            full_name: Some(full_name.clone()),
            password: hash.clone(),
            email: email.clone(),
            email_verified: false,
            is_active: false,
            user_role: "locked".into(),
            extra_info: Some(extra_info.clone()),
            emailverify_sent_datetime: Some(now),
        });
    let added = match &new_user {
        None => false,
        Some(new_user) => match ctx.users.create_user(new_user, now).await {
            Ok(_) => true,
            Err(StoreError::Conflict(_) | StoreError::InvalidReference(_)) => false,
            Err(e) => {
                tracing::warn!(error = %e, "user-new: insert failed");
                false
            }
        },
    };
    let existing = ctx.users.user_by_email(&email).await?;
    let Some(user) = existing else {
        return Ok(Reply::failure("DB issue with user creation", &messages)
            .with("user_email", Value::Null)
            .with("user_id", Value::Null)
            .with("send_verification", false));
    };
    if added {
        tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "user created");
        ctx.audit(AuditEventType::UserSignup, AuditOutcome::Ok)
            .subject(user.user_id)
            .emit();
        return Ok(Reply::success(&messages)
            .with("user_email", user.email)
            .with("user_id", user.user_id)
            .with("system_id", user.system_id)
            .with("send_verification", true));
    }

    // The e-mail is taken. Q-8 fixed: a null sent time counts as long ago.
    let waited_long_enough = user.emailverify_sent_datetime.is_none_or(|sent| {
        // Hours beyond what a duration holds: never long enough.
        TimeDelta::try_hours(wait_hours).is_some_and(|wait| now - sent > wait)
    });
    // A name too long to store cannot overwrite the sign-up either.
    let resend = !user.is_active && waited_long_enough && !name_too_long;
    if resend {
        let patch = UserPatch {
            full_name: Some(Some(full_name)),
            password: Some(hash),
            email: Some(email.clone()),
            email_verified: Some(false),
            is_active: Some(false),
            user_role: Some("locked".into()),
            extra_info: extra_info.map(Some),
            emailverify_sent_datetime: Some(Some(now)),
            ..UserPatch::default()
        };
        ctx.users
            .update_user(user.user_id, &patch, None, now)
            .await?;
    }
    Ok(Reply::failure("user exists", &messages)
        .with("user_email", user.email)
        .with("user_id", user.user_id)
        .with("system_id", user.system_id)
        .with("send_verification", resend))
}

pub async fn user_list(ctx: &Context, args: UserListArgs<'_>) -> Result<Reply, ActionError> {
    let users: Result<Vec<User>, StoreError> = match args.user_id {
        Value::Null => ctx.users.list_users().await,
        // The spec is ["int","None"], which accepts anything: a value that is
        // not an integer matches no user.
        v => match py_int(v) {
            Some(id) => ctx
                .users
                .user_by_id(id)
                .await
                .map(|u| u.into_iter().collect()),
            None => Ok(Vec::new()),
        },
    };
    match users {
        Ok(users) => Ok(Reply::success(&["User look up successful."]).with(
            "user_info",
            Value::Array(users.iter().map(user_info).collect()),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "user-list failed");
            Ok(Reply::failure_without_reason(&["User look up failed."])
                .with("user_info", Value::Null))
        }
    }
}

pub async fn user_lookup_email(
    ctx: &Context,
    args: UserLookupEmailArgs<'_>,
) -> Result<Reply, ActionError> {
    let found = match ctx.users.user_by_email(args.email).await {
        Ok(user) => crate::lockout::lift_if_expired(ctx, user).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(Some(u)) => {
            Ok(Reply::success(&["User look up successful."]).with("user_info", user_info(&u)))
        }
        Ok(None) => Ok(
            Reply::failure("user email not found in DB", &["User look up failed."])
                .with("user_info", Value::Null),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "user-lookup-email failed");
            Ok(
                Reply::failure("exception when checking the DB", &["User look up failed."])
                    .with("user_info", Value::Null),
            )
        }
    }
}

/// The role a verified user gets: the current one unless it is `locked`, else
/// the last of `extra_info.previous_user_roles` unless that is `locked`, else
/// `authenticated`. `None` when `extra_info` is not an object (upstream
/// crashes there: 400).
fn role_after_verification(user: &User) -> Option<String> {
    let extra = user.extra_info.as_ref()?.as_object()?;
    if user.user_role != "locked" {
        return Some(user.user_role.clone());
    }
    let previous = extra
        .get("previous_user_roles")
        .and_then(Value::as_array)
        .and_then(|roles| roles.last())
        .and_then(Value::as_str)
        .unwrap_or("locked");
    Some(
        if previous == "locked" {
            "authenticated"
        } else {
            previous
        }
        .to_owned(),
    )
}

pub async fn user_set_emailverified(
    ctx: &Context,
    args: UserSetEmailverifiedArgs<'_>,
) -> Result<Reply, ActionError> {
    let email = args.email;
    let now = ctx.clock.now();
    let Some(user) = ctx.users.user_by_email(email).await? else {
        return Ok(Reply::failure(
            "could not find user in DB by email",
            &["Email verification toggle request failed."],
        )
        .with("user_id", Value::Null)
        .with("is_active", false)
        .with("user_role", "locked"));
    };
    let Some(role) = role_after_verification(&user) else {
        return Err(ActionError::Unhandled(
            "user extra_info is not an object".into(),
        ));
    };
    let patch = UserPatch {
        is_active: Some(true),
        email_verified: Some(true),
        user_role: Some(role),
        ..UserPatch::default()
    };
    ctx.users
        .update_user(user.user_id, &patch, Some(false), now)
        .await?;
    let Some(after) = ctx.users.user_by_id(user.user_id).await? else {
        return Err(ActionError::Unhandled(
            "user vanished during verification".into(),
        ));
    };
    ctx.audit(AuditEventType::UserVerified, AuditOutcome::Ok)
        .subject(after.user_id)
        .emit();
    Ok(
        Reply::success(&["Email verification toggle request succeeded."])
            .with("user_id", after.user_id)
            .with("is_active", after.is_active)
            .with("user_role", after.user_role),
    )
}
