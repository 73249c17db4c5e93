//! Internal actions (PROTOCOL.md 3.8 and `internal-session-edit` of 3.1): no
//! permission checks, for the frontend's own use only. Also the lock toggle
//! they share with `user-lock` and the automatic lock of PROTOCOL.md 4.2, and the
//! `"__delete__"` merge rule shared by the two `extra_info` edits.

use authnz_api::{AuditEventType, AuditOutcome, StoreError, User, UserId, UserPatch};
use chrono::NaiveDateTime;
use serde_json::{Map, Value, json};

use super::permissions::{LOCKED, is_system_account};
use super::reply::{Reply, dt, user_info};
use super::request_args::{
    InternalSessionEditArgs, InternalUserDeleteArgs, InternalUserEditArgs, InternalUserLockArgs,
};
use super::{ActionError, Context};
use authnz_proto::python::repr::py_set;

/// The marker value that removes a key in an `extra_info` merge.
pub const DELETE_MARKER: &str = "__delete__";

/// Merge `update` into `stored` (PROTOCOL.md 3.1): `"__delete__"` removes an
/// existing key; anything else (including `"__delete__"` for a missing key)
/// sets it.
pub fn merge_extra(stored: Option<&Value>, update: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = match stored {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in update {
        if v.as_str() == Some(DELETE_MARKER) && merged.contains_key(k) {
            merged.remove(k);
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    merged
}

/// `lock` or `unlock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAction {
    Lock,
    Unlock,
}

impl LockAction {
    /// Parse the `action` argument.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lock" => Some(LockAction::Lock),
            "unlock" => Some(LockAction::Unlock),
            _ => None,
        }
    }
}

/// The outcome of [`toggle_lock`].
#[derive(Debug)]
pub struct LockChange {
    /// The result object of `internal-user-lock`.
    pub reply: Reply,
    /// True when this call locked a user that was not locked before.
    pub newly_locked: bool,
}

const TOGGLE_FAILED: &str = "User lock toggle failed.";
const TOGGLE_EXCEPTION: &str = "exception encountered when trying lock toggle action";

/// `extra_info.previous_user_roles`, default `["locked"]`; `None` when
/// `extra_info` is not an object or the list is not a list (upstream fails).
fn previous_roles(user: &User) -> Option<Vec<Value>> {
    let extra = user.extra_info.as_ref()?.as_object()?;
    match extra.get("previous_user_roles") {
        None => Some(vec![json!(LOCKED)]),
        Some(Value::Array(a)) => Some(a.clone()),
        Some(_) => None,
    }
}

/// The role an unlock restores: the last of `previous_user_roles`.
pub fn restore_role(user: &User) -> String {
    previous_roles(user)
        .and_then(|p| p.last().and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| LOCKED.to_owned())
}

fn toggle_failure() -> LockChange {
    LockChange {
        reply: Reply::failure(TOGGLE_EXCEPTION, &[TOGGLE_FAILED]).with("user_info", Value::Null),
        newly_locked: false,
    }
}

/// The lock toggle of `internal-user-lock` (PROTOCOL.md 3.8) on a target that is
/// not a system account. `until` is the end of an automatic lock (PROTOCOL.md 4.2,
/// stored so it survives a restart); `None` is a lock by hand, which lasts
/// until unlocked by hand (and makes an automatic lock in place permanent).
/// `actor` is who asked (for the audit log; `None` for the frontend's
/// internal requests, the automatic lock and the admin commands).
pub async fn toggle_lock(
    ctx: &Context,
    target: UserId,
    action: LockAction,
    until: Option<NaiveDateTime>,
    actor: Option<UserId>,
) -> Result<LockChange, ActionError> {
    let now = ctx.clock.now();
    let user = match ctx.users.user_by_id(target).await {
        Ok(Some(u)) => u,
        Ok(None) => return Ok(toggle_failure()),
        Err(e) => {
            tracing::warn!(error = %e, "lock toggle: cannot read the user");
            return Ok(toggle_failure());
        }
    };
    let Some(mut previous) = previous_roles(&user) else {
        return Ok(toggle_failure());
    };
    let is_locked = user.user_role == LOCKED;
    // A change of the lock state (not just of an automatic lock's end).
    let changes_state = match action {
        LockAction::Lock => !is_locked,
        LockAction::Unlock => is_locked,
    };
    let (patch, delete_sessions) = match action {
        LockAction::Lock if !is_locked => {
            previous.push(json!(user.user_role));
            let mut extra = merge_extra(user.extra_info.as_ref(), &Map::new());
            extra.insert("previous_user_roles".into(), Value::Array(previous));
            let patch = UserPatch {
                extra_info: Some(Some(Value::Object(extra))),
                is_active: Some(false),
                user_role: Some(LOCKED.to_owned()),
                locked_until: Some(until),
                ..UserPatch::default()
            };
            (Some(patch), true)
        }
        // A lock by hand on an automatically locked user: keep it locked
        // until unlocked by hand.
        LockAction::Lock if until.is_none() && user.locked_until.is_some() => {
            let patch = UserPatch {
                locked_until: Some(None),
                ..UserPatch::default()
            };
            (Some(patch), false)
        }
        LockAction::Unlock if is_locked => {
            let role = previous
                .last()
                .and_then(Value::as_str)
                .unwrap_or(LOCKED)
                .to_owned();
            let patch = UserPatch {
                is_active: Some(true),
                user_role: Some(role),
                locked_until: Some(None),
                ..UserPatch::default()
            };
            (Some(patch), false)
        }
        _ => (None, false),
    };
    if let Some(patch) = patch {
        match ctx.users.update_user(target, &patch, None, now).await {
            Ok(1) => {}
            Ok(_) => return Ok(toggle_failure()),
            Err(e) => {
                tracing::warn!(error = %e, "lock toggle: update failed");
                return Ok(toggle_failure());
            }
        }
    }
    if delete_sessions && let Err(e) = ctx.sessions.delete_user_sessions(target, None).await {
        tracing::warn!(error = %e, "lock: could not delete the user's sessions");
        return Ok(toggle_failure());
    }
    let after = match ctx.users.user_by_id(target).await {
        Ok(Some(u)) => u,
        _ => return Ok(toggle_failure()),
    };
    tracing::info!(user = %ctx.pii(&target.to_string()), ?action, "lock toggled");
    if changes_state {
        let event = match action {
            LockAction::Lock => AuditEventType::UserLocked,
            LockAction::Unlock => AuditEventType::UserUnlocked,
        };
        let pending = ctx.audit(event, AuditOutcome::Ok).subject(target);
        let pending = match (actor, until) {
            (Some(actor), _) => pending.actor(actor),
            (None, Some(_)) => pending.reason("automatic"),
            (None, None) => pending,
        };
        pending.emit();
    }
    Ok(LockChange {
        reply: Reply::success(&["User lock toggle successful."])
            .with("user_info", user_info(&after)),
        newly_locked: action == LockAction::Lock && !is_locked,
    })
}

pub async fn internal_user_lock(
    ctx: &Context,
    args: InternalUserLockArgs<'_>,
) -> Result<Reply, ActionError> {
    let target = args.target_userid;
    let Some(action) = LockAction::parse(args.action) else {
        return Ok(Reply::failure(
            "action must be either 'lock' or 'unlock'",
            &["Unknown action requested for toggle_user_lock."],
        )
        .with("user_info", Value::Null));
    };
    if is_system_account(target) {
        return Ok(Reply::failure(
            "can't edit anonymous/locked users",
            &["Editing anonymous/locked user accounts not allowed."],
        )
        .with("user_info", Value::Null));
    }
    Ok(toggle_lock(ctx, target, action, None, None).await?.reply)
}

/// Delete a user and their sessions; the shared tail of `user-delete` and
/// `internal-user-delete`. `Ok(false)` when the row is still there.
pub async fn delete_user_and_sessions(ctx: &Context, user_id: UserId) -> Result<bool, StoreError> {
    ctx.sessions.delete_user_sessions(user_id, None).await?;
    ctx.users.delete_user(user_id).await?;
    Ok(ctx.users.user_by_id(user_id).await?.is_none())
}

pub async fn internal_user_delete(
    ctx: &Context,
    args: InternalUserDeleteArgs,
) -> Result<Reply, ActionError> {
    let target = args.target_userid;
    // Upstream succeeds for unknown users too, and protects nobody.
    if !delete_user_and_sessions(ctx, target).await? {
        return Ok(Reply::failure(
            "user deletion failed in DB",
            &["Could not delete user from DB."],
        )
        .with("user_id", target));
    }
    tracing::info!(user = %ctx.pii(&target.to_string()), "user deleted (internal)");
    ctx.audit(AuditEventType::UserDeleted, AuditOutcome::Ok)
        .subject(target)
        .emit();
    Ok(Reply::success(&["User successfully deleted from DB."]).with("user_id", target))
}

/// Keys `internal-user-edit` refuses (PROTOCOL.md 3.8).
const INTERNAL_EDIT_FORBIDDEN: &[&str] = &[
    "user_id",
    "system_id",
    "password",
    "emailverify_sent_datetime",
    "emailforgotpass_sent_datetime",
    "emailchangepass_sent_datetime",
    "last_login_success",
    "last_login_try",
    "failed_login_tries",
    "created_on",
    "last_updated",
];

/// Why an `update_dict` could not become a [`UserPatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUpdate;

/// A boolean column value as SQLAlchemy accepts it: `true`/`false` or 0/1.
fn bool_value(v: &Value) -> Result<bool, BadUpdate> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        _ => Err(BadUpdate),
    }
}

/// Turn the column edits of an `update_dict` into a patch: `full_name`
/// (text or null), `email`, `user_role` (text), `is_active`,
/// `email_verified` (booleans). Any other key, or a value of the wrong type,
/// is what upstream's database rejects. `extra_info` is handled by the
/// caller and skipped here.
pub fn patch_from_update(update: &Map<String, Value>) -> Result<UserPatch, BadUpdate> {
    let mut patch = UserPatch::default();
    for (k, v) in update {
        match (k.as_str(), v) {
            ("extra_info", _) => {}
            ("full_name", Value::String(s)) => patch.full_name = Some(Some(s.clone())),
            ("full_name", Value::Null) => patch.full_name = Some(None),
            ("email", Value::String(s)) => patch.email = Some(s.clone()),
            ("user_role", Value::String(s)) => patch.user_role = Some(s.clone()),
            ("is_active", v) => patch.is_active = Some(bool_value(v)?),
            ("email_verified", v) => patch.email_verified = Some(bool_value(v)?),
            _ => return Err(BadUpdate),
        }
    }
    Ok(patch)
}

pub async fn internal_user_edit(
    ctx: &Context,
    args: InternalUserEditArgs<'_>,
) -> Result<Reply, ActionError> {
    const FAILED: &str = "User info update failed.";
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("user_info", Value::Null);
    let target = args.target_userid;
    let update = match args.update_dict {
        m if !m.is_empty() => m,
        _ => {
            return Ok(fail(
                "invalid request: missing 'update_dict' in request",
                "Invalid user-edit request: missing or invalid parameters.",
            ));
        }
    };
    let mut forbidden: Vec<&str> = INTERNAL_EDIT_FORBIDDEN
        .iter()
        .copied()
        .filter(|k| update.contains_key(*k))
        .collect();
    if !forbidden.is_empty() {
        forbidden.sort_unstable();
        return Ok(fail(
            &format!(
                "invalid request: disallowed keys in update_dict: {}",
                py_set(forbidden)
            ),
            "Invalid edit-user request: invalid update parameters.",
        ));
    }
    let now = ctx.clock.now();
    let Some(user) = ctx.users.user_by_id(target).await? else {
        return Ok(fail("no such user", FAILED));
    };
    let db_error = || fail("DB error when updating user info", FAILED);
    let Ok(mut patch) = patch_from_update(update) else {
        return Ok(db_error());
    };
    match update.get("extra_info") {
        None | Some(Value::Null) => {}
        Some(Value::Object(changes)) => {
            patch.extra_info = Some(Some(Value::Object(merge_extra(
                user.extra_info.as_ref(),
                changes,
            ))));
        }
        // Upstream cannot merge a non-object (its update of a dict fails).
        Some(_) => return Ok(db_error()),
    }
    match ctx.users.update_user(target, &patch, None, now).await {
        Ok(1) => {}
        Ok(_) => return Ok(db_error()),
        Err(e) => {
            tracing::info!(error = %e, "internal-user-edit: update refused");
            return Ok(db_error());
        }
    }
    let Some(after) = ctx.users.user_by_id(target).await? else {
        return Ok(db_error());
    };
    if patch.user_role.is_some() {
        ctx.audit(AuditEventType::RoleChanged, AuditOutcome::Ok)
            .subject(target)
            .emit();
    }
    Ok(Reply::success(&["User-info update successful."]).with("user_info", user_info(&after)))
}

pub async fn internal_session_edit(
    ctx: &Context,
    args: InternalSessionEditArgs<'_>,
) -> Result<Reply, ActionError> {
    const FAILED: &str = "Session extra_info update failed.";
    let fail =
        |reason: &str, msg: &str| Reply::failure(reason, &[msg]).with("session_info", Value::Null);
    let token = args.target_session_token;
    let update = match args.update_dict {
        m if !m.is_empty() => m,
        _ => {
            return Ok(fail(
                "invalid request: missing 'update_dict' in request",
                "Invalid session edit request: missing or invalid parameters.",
            ));
        }
    };
    let now = ctx.clock.now();
    let db_error = |e: StoreError| {
        tracing::warn!(error = %e, "internal-session-edit failed");
        fail(
            "DB error when updating session info",
            "Session info update failed.",
        )
    };
    let session = match ctx.sessions.active_session(token, now).await {
        Ok(Some((s, _))) => s,
        Ok(None) => return Ok(fail("no such session", FAILED)),
        Err(e) => return Ok(db_error(e)),
    };
    let merged = Value::Object(merge_extra(session.extra_info_json.as_ref(), update));
    match ctx
        .sessions
        .set_session_extra(token, Some(&merged), now)
        .await
    {
        Ok(1) => {}
        Ok(_) => {
            return Ok(fail(
                "session requested for update doesn't exist or expired",
                FAILED,
            ));
        }
        Err(e) => return Ok(db_error(e)),
    }
    let info = json!({
        "user_id": session.user_id,
        "session_token": session.session_token,
        "ip_address": session.ip_address,
        "user_agent": session.user_agent,
        "created": dt(Some(&session.created)),
        "expires": dt(Some(&session.expires)),
        "extra_info_json": merged,
    });
    Ok(Reply::success(&["Session extra_info update successful."]).with("session_info", info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_rule() {
        let stored = json!({"a": 1, "b": 2});
        let update = json!({"a": "__delete__", "c": "__delete__", "b": [3]});
        let merged = merge_extra(Some(&stored), update.as_object().expect("object"));
        assert_eq!(Value::Object(merged), json!({"b": [3], "c": "__delete__"}));
        let merged = merge_extra(None, update.as_object().expect("object"));
        assert_eq!(
            Value::Object(merged),
            json!({"a": "__delete__", "b": [3], "c": "__delete__"})
        );
    }

    #[test]
    fn update_dict_to_patch() {
        let u = json!({"full_name": null, "email": "x@y", "is_active": 1, "email_verified": false, "user_role": "staff", "extra_info": {"k": 1}});
        let p = patch_from_update(u.as_object().expect("object")).expect("valid");
        assert_eq!(p.full_name, Some(None));
        assert_eq!(p.is_active, Some(true));
        assert_eq!(p.email_verified, Some(false));
        assert_eq!(p.extra_info, None);
        for bad in [
            json!({"nope": 1}),
            json!({"is_active": "yes"}),
            json!({"email": null}),
            json!({"locked_until": null}),
        ] {
            assert_eq!(
                patch_from_update(bad.as_object().expect("object")),
                Err(BadUpdate),
                "{bad}"
            );
        }
    }
}
