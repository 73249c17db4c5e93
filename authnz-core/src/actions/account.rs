//! Account requests of PROTOCOL.md 3.3 beyond sign-up: `user-delete`, `user-edit`,
//! `user-lock` and `user-lookup-match`. Who may do what is asked of
//! [`super::permissions`]; the lock itself is the toggle of
//! [`super::internal`].

use authnz_api::time::parse_stored_text;
use authnz_api::{ColumnKind, ColumnValue, StoreError, User, UserColumn, UserId};
use serde_json::Value;

use super::internal::{LockAction, delete_user_and_sessions, patch_from_update, toggle_lock};
use super::permissions::{
    EditScope, edit_scope, is_assignable_role, is_system_account, may_delete_own_account,
    may_toggle_locks,
};
use super::reply::{Reply, user_info};
use super::request_args::{UserDeleteArgs, UserEditArgs, UserLockArgs, UserLookupMatchArgs};
use super::{ActionError, Context};
use crate::validate::text::cut_password;
use authnz_api::{AuditEventType, AuditOutcome};
use authnz_proto::python::repr::py_list;

pub async fn user_delete(ctx: &Context, args: UserDeleteArgs<'_>) -> Result<Reply, ActionError> {
    const NOT_VERIFIED: &str = "We could not verify your email address or password.";
    let email = args.email;
    let given_id = args.user_id.given.clone();
    let password = cut_password(args.password);
    let reply = |r: Reply| r.with("user_id", given_id.clone()).with("email", email);

    let user = ctx
        .users
        .user_by_id(args.user_id.value)
        .await?
        .filter(|u| u.email == email);
    let Some(user) = user else {
        ctx.hasher.verify_dummy().await?;
        return Ok(reply(Reply::failure("invalid email", &[NOT_VERIFIED])));
    };
    if !ctx.hasher.verify(password, &user.password).await? {
        return Ok(reply(Reply::failure("invalid password", &[NOT_VERIFIED])));
    }
    if !may_delete_own_account(&user.user_role) {
        return Ok(reply(Reply::failure(
            "can't delete superusers",
            &["Can't delete superusers."],
        )));
    }
    if !delete_user_and_sessions(ctx, user.user_id).await? {
        return Ok(reply(Reply::failure(
            "user deletion failed in DB",
            &["Could not delete user from DB."],
        )));
    }
    tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "user deleted their account");
    ctx.audit(AuditEventType::UserDeleted, AuditOutcome::Ok)
        .user(user.user_id)
        .emit();
    Ok(reply(Reply::success(&[
        "User successfully deleted from DB.",
    ])))
}

/// True if `token` is an active session of the active user `user_id` whose
/// role is `user_role`.
async fn session_matches(
    ctx: &Context,
    token: &str,
    user_id: UserId,
    user_role: &str,
) -> Result<bool, StoreError> {
    Ok(ctx
        .sessions
        .active_session(token, ctx.clock.now())
        .await?
        .is_some_and(|(s, u)| {
            u.is_active && s.user_id == user_id && u.user_id == user_id && u.user_role == user_role
        }))
}

pub async fn user_edit(ctx: &Context, args: UserEditArgs<'_>) -> Result<Reply, ActionError> {
    const EXTRA: &str = "extra elements in update_dict not allowed";
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_info", Value::Null);
    let user_id = args.user_id;
    let user_role = args.user_role;
    let token = args.session_token;
    let target = args.target_userid;
    let update = args.update_dict;

    if is_system_account(target) {
        return Ok(fail(
            "invalid request: can't edit anonymous/locked users",
            "Editing anonymous/locked user accounts not allowed.",
        ));
    }
    let Some(scope) = edit_scope(user_id, user_role, target) else {
        return Ok(fail(
            "invalid session for edit attempt",
            "user_id or session info not available for this user edit attempt.",
        ));
    };
    let session_ok = session_matches(ctx, token, user_id, user_role).await?;
    let allowed = scope.editable_fields();
    let has_extra = update.keys().any(|k| !allowed.contains(&k.as_str()));
    match scope {
        EditScope::OwnAccount => {
            if !session_ok {
                return Ok(fail(
                    "no valid session found for originating user_id",
                    "User session info not available for this user edit attempt.",
                ));
            }
            if has_extra {
                return Ok(fail(
                    &format!(
                        "role '{user_role}' can't edit anything other than 'full_name', 'email'"
                    ),
                    EXTRA,
                ));
            }
        }
        EditScope::AnyAccount => {
            if !session_ok {
                return Ok(fail(
                    "invalid session for edit attempt",
                    "Superuser session info not available for this user edit attempt.",
                ));
            }
            if has_extra {
                return Ok(fail(
                    &format!(
                        "role: 'superuser' is not allowed to edit items: '{}'",
                        py_list(update.keys().map(String::as_str))
                    ),
                    EXTRA,
                ));
            }
            if let Some(role) = update.get("user_role")
                && !role
                    .as_str()
                    .is_some_and(|r| is_assignable_role(&ctx.policy, r))
            {
                return Ok(fail(
                    "role change requested is not valid",
                    "unknown role change request in update_dict",
                ));
            }
        }
    }

    // Values are stored as given (Q-14: no validation or escaping).
    let update_failed = || {
        fail(
            "exception when trying to update user",
            "User update failed.",
        )
    };
    let Ok(patch) = patch_from_update(update) else {
        return Ok(update_failed());
    };
    match ctx
        .users
        .update_user(target, &patch, None, ctx.clock.now())
        .await
    {
        Ok(1) => {}
        Ok(_) => return Ok(update_failed()),
        Err(e) => {
            tracing::info!(error = %e, "user-edit: update refused");
            return Ok(update_failed());
        }
    }
    let Some(after) = ctx.users.user_by_id(target).await? else {
        return Ok(update_failed());
    };
    tracing::info!(user = %ctx.pii(&target.to_string()), "user edited");
    if patch.user_role.is_some() {
        ctx.audit(AuditEventType::RoleChanged, AuditOutcome::Ok)
            .actor(user_id)
            .subject(target)
            .emit();
    }
    Ok(Reply::success(&["User update successful."]).with("user_info", user_info(&after)))
}

pub async fn user_lock(ctx: &Context, args: UserLockArgs<'_>) -> Result<Reply, ActionError> {
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_info", Value::Null);
    let user_id = args.user_id;
    let user_role = args.user_role;
    let target = args.target_userid;
    if !may_toggle_locks(user_role) {
        return Ok(fail(
            "user role is not 'superuser', required to toggle locks",
            "You don't have lock/unlock privileges.",
        ));
    }
    if target == user_id {
        return Ok(fail(
            "can't toggle a lock state on self",
            "You can't lock/unlock your own user account.",
        ));
    }
    let Some(action) = LockAction::parse(args.action) else {
        return Ok(fail(
            "action must be one of 'lock', 'unlock'",
            "Unknown action requested for toggle_user_lock.",
        ));
    };
    if is_system_account(target) {
        return Ok(fail(
            "can't toggle lock state for system anonymous/locked accounts",
            "Editing anonymous/locked user accounts not allowed.",
        ));
    }
    let session_ok = match session_matches(ctx, args.session_token, user_id, user_role).await {
        Ok(ok) => ok,
        Err(e) => {
            tracing::warn!(error = %e, "user-lock: session check failed");
            return Ok(fail(
                "exception when trying to toggle lock state",
                "User lock toggle failed.",
            ));
        }
    };
    if !session_ok {
        return Ok(fail(
            "invalid session for user attempting lock toggle",
            "Superuser session info not available for this user edit attempt.",
        ));
    }
    Ok(toggle_lock(ctx, target, action, None, Some(user_id))
        .await?
        .reply)
}

/// The JSON `match` of `user-lookup-match` as a value of the column's kind,
/// or `None` if it cannot equal any value of that column (then nothing
/// matches). Integers accept booleans and integral floats, booleans accept
/// 0/1 (the stored form on SQLite), datetimes accept the stored or
/// `isoformat()` text.
fn column_value(kind: ColumnKind, v: &Value) -> Option<ColumnValue> {
    match (kind, v) {
        (ColumnKind::Int, Value::Bool(b)) => Some(ColumnValue::Int(i64::from(*b))),
        (ColumnKind::Int, Value::Number(n)) => n.as_i64().map(ColumnValue::Int).or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| ColumnValue::Int(f as i64))
        }),
        (ColumnKind::Text, Value::String(s)) => Some(ColumnValue::Text(s.clone())),
        (ColumnKind::Bool, Value::Bool(b)) => Some(ColumnValue::Bool(*b)),
        (ColumnKind::Bool, Value::Number(n)) => match n.as_i64() {
            Some(0) => Some(ColumnValue::Bool(false)),
            Some(1) => Some(ColumnValue::Bool(true)),
            _ => None,
        },
        (ColumnKind::DateTime, Value::String(s)) => parse_stored_text(s).map(ColumnValue::DateTime),
        _ => None,
    }
}

pub async fn user_lookup_match(
    ctx: &Context,
    args: UserLookupMatchArgs<'_>,
) -> Result<Reply, ActionError> {
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_info", Value::Null);
    let by = args.by;
    let wanted = args.r#match;
    if wanted.is_object() != (by == "extra_info") {
        return Ok(fail(
            "invalid request: 'by' is 'extra_info' but 'match' is not a dict or 'match' is a \
             dict and 'by' is not 'extra_info'",
            "Invalid match condition provided.",
        ));
    }
    let found: Result<Vec<User>, StoreError> = match wanted {
        Value::Object(keys) => ctx.users.find_users_by_extra_info(keys).await,
        // Q-13 fixed: `password` is not in the column list, so it is an
        // unknown column like any other.
        _ => match UserColumn::from_name(by) {
            None => return Ok(fail("exception in DB access", "User look up failed.")),
            Some(column) => match column_value(column.kind(), wanted) {
                Some(value) => ctx.users.find_users(column, &value).await,
                None => Ok(Vec::new()),
            },
        },
    };
    match found {
        Ok(users) => Ok(Reply::success(&["User look up successful."]).with(
            "user_info",
            Value::Array(users.iter().map(user_info).collect()),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "user-lookup-match failed");
            Ok(fail("exception in DB access", "User look up failed."))
        }
    }
}
