//! Authorization checks (PROTOCOL.md 3.7): `user-check-access` and
//! `user-check-limit`, and [`check_access`], the full access decision of PROTOCOL.md
//! 6.3 (policy tables plus the user checks in the database) that other
//! actions reuse for their own permission checks (API keys, PROTOCOL.md 3.6).
//!
//! The pure policy decision is [`crate::policy::Policy::decide`]; this module
//! adds what needs the database: the caller must exist with the given role
//! and be active, and so must the owner and every shared-with user.

use authnz_api::UserId;

use super::reply::{Reply, py_bool};
use super::request_args::{UserCheckAccessArgs, UserCheckLimitArgs};
use super::{ActionError, Context};
use crate::policy::AccessQuery;
use crate::policy::pyconv::parse_sharing;

/// An access question, as `user-check-access` receives it.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    pub user_id: UserId,
    pub user_role: &'a str,
    pub action: &'a str,
    pub target_name: &'a str,
    pub target_owner: UserId,
    pub target_visibility: &'a str,
    /// Comma-separated user ids and `group:<id>`s; `""` or `none` (any
    /// case) for nobody.
    pub target_sharedwith: &'a str,
}

/// The outcome of [`check_access`]; each maps to one failure reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessOutcome {
    Granted,
    /// The policy does not allow it: `action not permitted`.
    NotPermitted,
    /// The caller is missing, inactive or has another role.
    InvalidCaller,
    /// Some of the owner and shared-with users are missing or inactive.
    UsersMissing,
    /// None of the users named were found.
    NoUsersFound,
    /// Unknown role, malformed `target_sharedwith`, or a database error.
    Error,
}

impl AccessOutcome {
    /// The `failure_reason` of `user-check-access` for this outcome.
    pub fn failure_reason(self) -> Option<&'static str> {
        match self {
            AccessOutcome::Granted => None,
            AccessOutcome::NotPermitted => Some("action not permitted"),
            AccessOutcome::InvalidCaller => Some("user initiating request is not valid"),
            AccessOutcome::UsersMissing => {
                Some("users specified as owner or shared-with not found")
            }
            AccessOutcome::NoUsersFound => {
                Some("none of the users specified in the request were found")
            }
            AccessOutcome::Error => Some("exception when checking the DB"),
        }
    }
}

/// The access decision of PROTOCOL.md 6.3, with its database checks. Database errors
/// are an outcome ([`AccessOutcome::Error`]), not an [`ActionError`].
pub async fn check_access(ctx: &Context, req: &AccessRequest<'_>) -> AccessOutcome {
    let Some(sharing) = parse_sharing(req.target_sharedwith) else {
        return AccessOutcome::Error;
    };
    // Shared with a group the caller belongs to (not upstream): the caller
    // counts as one of the users the item is shared with. A group that does
    // not exist has no members.
    let via_group = if sharing.groups.is_empty() {
        false
    } else {
        match ctx.groups.user_memberships(req.user_id).await {
            Ok(memberships) => memberships
                .iter()
                .any(|m| sharing.groups.contains(&m.group.group_id)),
            Err(e) => {
                tracing::warn!(error = %e, "access check: group lookup failed");
                return AccessOutcome::Error;
            }
        }
    };
    let shared_with = sharing.users;
    let granted = match ctx.policy.decide(&AccessQuery {
        user_id: req.user_id,
        role: req.user_role,
        action: req.action,
        item: req.target_name,
        owner: req.target_owner,
        visibility: req.target_visibility,
        shared_with: &shared_with,
        via_group,
    }) {
        Ok(granted) => granted,
        Err(_) => return AccessOutcome::Error,
    };
    match ctx.users.user_by_id(req.user_id).await {
        Ok(Some(u)) if u.is_active && u.user_role == req.user_role => {}
        Ok(_) => return AccessOutcome::InvalidCaller,
        Err(e) => {
            tracing::warn!(error = %e, "access check: caller lookup failed");
            return AccessOutcome::Error;
        }
    }
    let mut ids: Vec<UserId> = Vec::with_capacity(shared_with.len() + 2);
    ids.push(req.user_id);
    ids.push(req.target_owner);
    ids.extend_from_slice(&shared_with);
    ids.sort_unstable();
    ids.dedup();
    let mut found = 0;
    for &id in &ids {
        if id == req.user_id {
            // Checked above: exists and is active.
            found += 1;
            continue;
        }
        match ctx.users.user_by_id(id).await {
            Ok(Some(u)) if u.is_active => found += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "access check: user lookup failed");
                return AccessOutcome::Error;
            }
        }
    }
    if found == 0 {
        AccessOutcome::NoUsersFound
    } else if found < ids.len() {
        AccessOutcome::UsersMissing
    } else if granted {
        AccessOutcome::Granted
    } else {
        AccessOutcome::NotPermitted
    }
}

pub async fn user_check_access(
    ctx: &Context,
    args: UserCheckAccessArgs<'_>,
) -> Result<Reply, ActionError> {
    let req = AccessRequest {
        user_id: args.user_id,
        user_role: args.user_role,
        action: args.action,
        target_name: args.target_name,
        target_owner: args.target_owner,
        target_visibility: args.target_visibility,
        target_sharedwith: args.target_sharedwith,
    };
    let outcome = check_access(ctx, &req).await;
    Ok(match outcome.failure_reason() {
        None => Reply::success(&["Access request check successful. Access granted: True."]),
        Some(reason) if outcome == AccessOutcome::Error => Reply::failure(
            reason,
            &["Could not validate access to the requested item."],
        ),
        Some(reason) => Reply::failure(
            reason,
            &["Access request check successful. Access granted: False."],
        ),
    })
}

pub async fn user_check_limit(
    ctx: &Context,
    args: UserCheckLimitArgs<'_>,
) -> Result<Reply, ActionError> {
    let user_id = args.user_id;
    let role = args.user_role;
    let limit_name = args.limit_name;
    let value = args.value_to_check;
    let error = || {
        Reply::failure(
            "exception when checking the DB",
            &["Could not validate limit rule for the requested item."],
        )
    };
    let Ok(passed) = ctx.policy.within_limit(role, limit_name, value) else {
        return Ok(error());
    };
    let message = format!(
        "Limit check successful. Limit check passed: {}.",
        py_bool(passed)
    );
    match ctx.users.user_by_id(user_id).await {
        Ok(Some(u)) if u.is_active && u.user_role == role => {}
        Ok(_) => {
            return Ok(Reply::failure(
                "user attempting access not found",
                &["Limit check successful. Limit check passed: False."],
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "limit check: user lookup failed");
            return Ok(error());
        }
    }
    Ok(if passed {
        Reply::success(&[message])
    } else {
        Reply::failure("user is over limit", &[message])
    })
}
