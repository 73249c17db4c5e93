//! Password requests (PROTOCOL.md 3.4): change, reset, validate; and
//! [`check_password`], the one password policy (PROTOCOL.md 5.1, checks 1-6) that
//! these and `user-new` share.

use std::sync::Arc;
use std::time::Duration;

use authnz_api::{User, UserPatch};

use super::args::IntArg;
use super::reply::Reply;
use super::request_args::{
    UserChangepassArgs, UserChangepassNosessionArgs, UserResetpassArgs, UserResetpassNosessionArgs,
    UserValidatepassArgs,
};
use super::user_sessions::end_other_sessions;
use super::{ActionError, Context};
use crate::validate::PolicyOutcome;
use crate::validate::text::cut_password;

const CHANGED: &str = "Password changed successfully.";
const NOT_CHANGED: &str = "Password could not be changed.";

/// The password policy of PROTOCOL.md 5.1 with the server's `passpolicy`: checks 1-5,
/// then, if they passed and the breach check is configured, check 6 (failing
/// open). `password` is cut to 256 code points ([`cut_password`]) like on
/// every other path; callers that hash it cut it first, so what is checked
/// is what is stored. Checks 1-5 run off the async workers ([`offload`]).
///
/// [`offload`]: super::offload
pub async fn check_password(
    ctx: &Context,
    password: &str,
    email: &str,
    full_name: &str,
) -> Result<PolicyOutcome, ActionError> {
    let password = cut_password(password);
    let validators = Arc::clone(&ctx.validators);
    let policy = ctx.password_policy;
    let (owned_password, email, full_name) =
        (password.to_owned(), email.to_owned(), full_name.to_owned());
    let mut outcome = super::offload::run(move || {
        validators
            .password
            .check(&policy, &owned_password, &email, &full_name)
    })
    .await?;
    if let Some(breach) = &ctx.breach
        && outcome.passed_local_checks()
    {
        // Upstream's pause before the lookup: 0.1 + |random - 0.4| seconds.
        let jitter = 0.1 + (rand::random::<f64>() - 0.4).abs();
        ctx.sleeper.sleep(Duration::from_secs_f64(jitter)).await;
        let min = u64::try_from(ctx.password_policy.min_pwned_matches).unwrap_or(0);
        if let Some(count) = breach.count(password).await
            && count >= min
            && count > 0
        {
            outcome.record_breach(count);
        }
    }
    Ok(outcome)
}

/// `messages` followed by `extra`.
fn with_messages(messages: &[String], extra: &[&str]) -> Vec<String> {
    messages
        .iter()
        .cloned()
        .chain(extra.iter().map(|s| (*s).to_owned()))
        .collect()
}

/// Store `hash` for `user_id` (guarded by `only_if_active`) and check it
/// reads back. False when it did not stick.
async fn store_hash(
    ctx: &Context,
    user_id: i64,
    hash: &str,
    only_if_active: Option<bool>,
) -> Result<bool, ActionError> {
    let patch = UserPatch {
        password: Some(hash.to_owned()),
        ..UserPatch::default()
    };
    ctx.users
        .update_user(user_id, &patch, only_if_active, ctx.clock.now())
        .await?;
    Ok(ctx
        .users
        .user_by_id(user_id)
        .await?
        .is_some_and(|u| u.password == hash))
}

/// The arguments both `user-changepass` variants share.
#[derive(Clone, Copy)]
struct PasswordChange<'a> {
    user_id: IntArg<'a>,
    full_name: &'a str,
    email: &'a str,
    current_password: &'a str,
    new_password: &'a str,
}

/// Steps 1-5 of `user-changepass` (PROTOCOL.md 3.4), shared by both variants.
/// `Ok(Ok((user, policy messages)))` when the new hash is stored.
async fn change_password(
    ctx: &Context,
    args: PasswordChange<'_>,
) -> Result<Result<(User, Vec<String>), Reply>, ActionError> {
    const MISMATCH: &str = "Your current password did not match the stored password.";
    let given_id = args.user_id.given.clone();
    let email = args.email;
    let fail = |reason: &str, messages: &[String]| {
        Reply::failure(reason, messages)
            .with("user_id", given_id.clone())
            .with("email", email)
    };
    let current = cut_password(args.current_password);
    let new = cut_password(args.new_password);
    let user = ctx
        .users
        .user_by_id(args.user_id.value)
        .await?
        .filter(|u| u.email == email && u.is_active);
    let Some(user) = user else {
        // Same cost as a wrong password.
        ctx.hasher.verify_dummy().await?;
        return Ok(Err(fail("user does not exist", &[MISMATCH.to_owned()])));
    };
    if !ctx.hasher.verify(current, &user.password).await? {
        return Ok(Err(fail(
            "user password does not match",
            &[MISMATCH.to_owned()],
        )));
    }
    if ctx.hasher.verify(new, &user.password).await? {
        return Ok(Err(fail(
            "password did not change",
            &["Your new password cannot be the same as your old password.".to_owned()],
        )));
    }
    let hash = ctx.hasher.hash(new).await?;
    let policy = check_password(ctx, new, email, args.full_name).await?;
    if !policy.ok {
        return Ok(Err(fail(
            "new password is insecure",
            &with_messages(
                &policy.messages,
                &[
                    "The new password you entered is insecure. It must be at least 12 characters \
                   long and be sufficiently complex.",
                ],
            ),
        )));
    }
    if !store_hash(ctx, user.user_id, &hash, None).await? {
        return Ok(Err(fail(
            "DB error when updating password",
            &with_messages(&policy.messages, &[NOT_CHANGED]),
        )));
    }
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "password changed");
    Ok(Ok((user, policy.messages)))
}

pub async fn user_changepass(
    ctx: &Context,
    args: UserChangepassArgs<'_>,
) -> Result<Reply, ActionError> {
    let change = PasswordChange {
        user_id: args.user_id,
        full_name: args.full_name,
        email: args.email,
        current_password: args.current_password,
        new_password: args.new_password,
    };
    let (user, messages) = match change_password(ctx, change).await? {
        Ok(done) => done,
        Err(reply) => return Ok(reply),
    };
    // Log out every other session; the presented one (not validated, Q-15)
    // survives.
    end_other_sessions(ctx, user.user_id, Some(args.session_token)).await?;
    Ok(Reply::success(&with_messages(
        &messages,
        &[
            CHANGED,
            "For security purposes, you have been logged out of all other sessions.",
        ],
    ))
    .with("user_id", args.user_id.given.clone())
    .with("email", args.email))
}

pub async fn user_changepass_nosession(
    ctx: &Context,
    args: UserChangepassNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    let change = PasswordChange {
        user_id: args.user_id,
        full_name: args.full_name,
        email: args.email,
        current_password: args.current_password,
        new_password: args.new_password,
    };
    let (_user, messages) = match change_password(ctx, change).await? {
        Ok(done) => done,
        Err(reply) => return Ok(reply),
    };
    Ok(Reply::success(&with_messages(&messages, &[CHANGED]))
        .with("user_id", args.user_id.given.clone())
        .with("email", args.email))
}

/// The shared tail of both resets: hash, check, store, and log the user out
/// everywhere (deliberate difference from upstream, which forgets to).
async fn reset_password(
    ctx: &Context,
    user: &User,
    email: &str,
    new_password: &str,
    only_if_active: Option<bool>,
    insecure: (&str, &str),
) -> Result<Reply, ActionError> {
    let new = cut_password(new_password);
    let hash = ctx.hasher.hash(new).await?;
    let full_name = user.full_name.as_deref().unwrap_or_default();
    let policy = check_password(ctx, new, email, full_name).await?;
    if !policy.ok {
        let mut messages = vec![insecure.1.to_owned()];
        messages.extend(policy.messages);
        return Ok(Reply::failure(insecure.0, &messages));
    }
    if !store_hash(ctx, user.user_id, &hash, only_if_active).await? {
        return Ok(Reply::failure(
            "password update failed in DB",
            &with_messages(&policy.messages, &[NOT_CHANGED]),
        ));
    }
    // Every session ends: the one that asked for the reset is not the
    // user's signed-in session (D-7).
    end_other_sessions(ctx, user.user_id, None).await?;
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "password reset; all sessions ended");
    Ok(Reply::success(&with_messages(&policy.messages, &[CHANGED])))
}

pub async fn user_resetpass(
    ctx: &Context,
    args: UserResetpassArgs<'_>,
) -> Result<Reply, ActionError> {
    let email = args.email_address;
    let token = args.session_token;
    if ctx
        .sessions
        .active_session(token, ctx.clock.now())
        .await?
        .is_none()
    {
        return Ok(Reply::failure(
            "session does not exist",
            &["Invalid session token for password reset request."],
        ));
    }
    let Some(user) = ctx
        .users
        .user_by_email(email)
        .await?
        .filter(|u| u.is_active)
    else {
        return Ok(Reply::failure(
            "user does not exist",
            &["Invalid user for password reset request."],
        ));
    };
    reset_password(
        ctx,
        &user,
        email,
        args.new_password,
        None,
        (
            "invalid password",
            "Insecure password for password reset request.",
        ),
    )
    .await
}

pub async fn user_resetpass_nosession(
    ctx: &Context,
    args: UserResetpassNosessionArgs<'_>,
) -> Result<Reply, ActionError> {
    let email = args.email_address;
    let required_active = args.required_active;
    let user = ctx
        .users
        .user_by_email(email)
        .await?
        .filter(|u| u.is_active == required_active);
    let Some(user) = user else {
        return Ok(Reply::failure(
            "user does not exist or is_active was not as required",
            &["Invalid user for password reset request."],
        ));
    };
    reset_password(
        ctx,
        &user,
        email,
        args.new_password,
        Some(required_active),
        (
            "invalid new password",
            "Insecure new password for password reset request.",
        ),
    )
    .await
}

/// `user-validatepass`. The optional policy arguments are accepted (schema)
/// but, as upstream with a parsable `passpolicy`, the server's policy wins.
/// The password is cut to 256 code points as on every other path (upstream
/// checks it whole here, at a cost that grows with its length, and the
/// breach lookup then hashes a password no other request would store).
pub async fn user_validatepass(
    ctx: &Context,
    args: UserValidatepassArgs<'_>,
) -> Result<Reply, ActionError> {
    let outcome =
        check_password(ctx, cut_password(args.password), args.email, args.full_name).await?;
    Ok(if outcome.ok {
        Reply::success(&outcome.messages)
    } else {
        Reply::failure("password is insecure or invalid", &outcome.messages)
    })
}
