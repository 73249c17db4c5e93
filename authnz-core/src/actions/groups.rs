//! Groups (PROTOCOL.md 3.10, not upstream): `group-new`, `group-list`,
//! `group-members`, `group-add-member`, `group-remove-member`,
//! `group-delete`.
//!
//! Every request names the acting user as `user_id` and `user_role`, like
//! `user-check-access`: the frontend vouches for them, the server checks
//! that this user exists, is active and has this role. Who may do what:
//!
//! - the policy's group managers (`group_policy.manager_roles`, by default
//!   `superuser` and `staff`) create and delete groups and manage any
//!   group's members and owners;
//! - a group's owners (members with the owner flag) add and remove its
//!   other members, unless the policy says `owners_manage_members: false`;
//!   they cannot name or remove owners;
//! - any member sees the group's members and may leave it;
//! - anyone lists their own groups.
//!
//! The system accounts (anonymous user 2 and the dummy user 3) cannot be
//! members: sharing with a group must not reach anonymous sessions.

use authnz_api::{
    ANONYMOUS_USER_ID, DUMMY_USER_ID, Group, GroupId, Membership, NewGroup, StoreError, UserId,
};
use authnz_proto::python::truth::truthy;
use serde_json::{Value, json};

use super::args::py_int;
use super::reply::{Reply, dt};
use super::request_args::{
    GroupAddMemberArgs, GroupDeleteArgs, GroupListArgs, GroupMembersArgs, GroupNewArgs,
    GroupRemoveMemberArgs,
};
use super::{ActionError, Context};

/// The longest group name, in characters (the `group_name` column).
pub const MAX_GROUP_NAME_CHARS: usize = 280;

const INVALID_CALLER: &str = "user initiating request is not valid";
const NOT_PERMITTED: &str = "action not permitted";
const NO_SUCH_GROUP: &str = "no such group";
const NO_SUCH_USER: &str = "no such user";
const NOT_A_MEMBER: &str = "user is not a member of the group";
const INVALID_NAME: &str = "invalid group name";
const SYSTEM_ACCOUNT: &str = "system accounts can't be group members";

const MSG_INVALID_CALLER: &str = "The user making this request could not be verified.";
const MSG_NOT_PERMITTED: &str = "You don't have permission to do this.";
const MSG_NO_SUCH_GROUP: &str = "The group was not found.";

/// The wire view of a group.
fn group_info(g: &Group) -> Value {
    json!({
        "group_id": g.group_id,
        "group_name": g.group_name,
        "created_by": g.created_by,
        "created_on": dt(Some(&g.created_on)),
        "last_updated": dt(Some(&g.last_updated)),
    })
}

/// The wire view of a group one member belongs to: [`group_info`] with
/// the member's owner flag.
fn membership_info(m: &Membership) -> Value {
    let mut v = group_info(&m.group);
    if let Value::Object(map) = &mut v {
        map.insert("is_owner".to_owned(), Value::Bool(m.is_owner));
    }
    v
}

fn not_permitted() -> Reply {
    Reply::failure(NOT_PERMITTED, &[MSG_NOT_PERMITTED])
}

fn no_such_group() -> Reply {
    Reply::failure(NO_SUCH_GROUP, &[MSG_NO_SUCH_GROUP])
}

/// The acting user, checked: `None` (with the failure reply to send) if no
/// active user `user_id` has the role `user_role`.
async fn verify_caller(
    ctx: &Context,
    user_id: UserId,
    user_role: &str,
) -> Result<Option<Reply>, ActionError> {
    Ok(match ctx.users.user_by_id(user_id).await? {
        Some(u) if u.is_active && u.user_role == user_role => None,
        _ => Some(Reply::failure(INVALID_CALLER, &[MSG_INVALID_CALLER])),
    })
}

/// How the caller stands towards one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    Manager,
    Owner,
    Member,
    Outsider,
}

/// The caller's standing towards `group_id` (a manager's whatever the
/// group), and whether the group exists.
async fn standing(
    ctx: &Context,
    user_id: UserId,
    user_role: &str,
    group_id: GroupId,
) -> Result<(Standing, bool), ActionError> {
    let exists = ctx.groups.group_by_id(group_id).await?.is_some();
    if ctx.policy.manages_groups(user_role) {
        return Ok((Standing::Manager, exists));
    }
    let mine = ctx.groups.user_memberships(user_id).await?;
    let standing = match mine.iter().find(|m| m.group.group_id == group_id) {
        Some(m) if m.is_owner => Standing::Owner,
        Some(_) => Standing::Member,
        None => Standing::Outsider,
    };
    Ok((standing, exists))
}

pub async fn group_new(ctx: &Context, args: GroupNewArgs<'_>) -> Result<Reply, ActionError> {
    if let Some(refused) = verify_caller(ctx, args.user_id, args.user_role).await? {
        return Ok(refused);
    }
    if !ctx.policy.manages_groups(args.user_role) {
        return Ok(not_permitted());
    }
    let name = args.group_name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_GROUP_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Ok(Reply::failure(
            INVALID_NAME,
            &["The group name must be 1 to 280 characters, without control characters."],
        ));
    }
    let group = ctx
        .groups
        .create_group(
            &NewGroup {
                system_id: uuid::Uuid::new_v4().to_string(),
                group_name: name.to_owned(),
                created_by: args.user_id,
                group_role: args.user_role.to_owned(),
            },
            ctx.clock.now(),
        )
        .await?;
    Ok(Reply::success(&["Group created."]).with("group", group_info(&group)))
}

pub async fn group_list(ctx: &Context, args: GroupListArgs<'_>) -> Result<Reply, ActionError> {
    // A truthy `member_id` passed the schema as an `int`; falsy is no filter.
    let member = match args.member_id {
        Some(v) if truthy(v) => match py_int(v) {
            Some(id) => Some(id),
            None => {
                return Err(ActionError::internal(
                    "argument decoding",
                    "'member_id' is not what the schema checked",
                ));
            }
        },
        _ => None,
    };
    if let Some(refused) = verify_caller(ctx, args.user_id, args.user_role).await? {
        return Ok(refused);
    }
    let manager = ctx.policy.manages_groups(args.user_role);
    let member = match member {
        Some(id) if id != args.user_id && !manager => return Ok(not_permitted()),
        Some(id) => Some(id),
        None if manager => None,
        None => Some(args.user_id),
    };
    let groups: Vec<Value> = match member {
        Some(id) => ctx
            .groups
            .user_memberships(id)
            .await?
            .iter()
            .map(membership_info)
            .collect(),
        None => ctx
            .groups
            .list_groups()
            .await?
            .iter()
            .map(group_info)
            .collect(),
    };
    Ok(Reply::success(&["Groups listed."])
        .with("member_id", member.map_or(Value::Null, Value::from))
        .with("groups", groups))
}

pub async fn group_members(
    ctx: &Context,
    args: GroupMembersArgs<'_>,
) -> Result<Reply, ActionError> {
    if let Some(refused) = verify_caller(ctx, args.user_id, args.user_role).await? {
        return Ok(refused);
    }
    let (standing, exists) = standing(ctx, args.user_id, args.user_role, args.group_id).await?;
    match standing {
        Standing::Outsider => return Ok(not_permitted()),
        _ if !exists => return Ok(no_such_group()),
        _ => {}
    }
    let members: Vec<Value> = ctx
        .groups
        .group_members(args.group_id)
        .await?
        .iter()
        .map(|m| json!({"user_id": m.user_id, "is_owner": m.is_owner}))
        .collect();
    Ok(Reply::success(&["Group members listed."])
        .with("group_id", args.group_id)
        .with("members", members))
}

pub async fn group_add_member(
    ctx: &Context,
    args: GroupAddMemberArgs<'_>,
) -> Result<Reply, ActionError> {
    if let Some(refused) = verify_caller(ctx, args.user_id, args.user_role).await? {
        return Ok(refused);
    }
    let (standing, exists) = standing(ctx, args.user_id, args.user_role, args.group_id).await?;
    let owner_may = standing == Standing::Owner && ctx.policy.owners_manage_members();
    // Owners add plain members only; naming (or unnaming) owners is the
    // managers' job.
    if !(standing == Standing::Manager || (owner_may && !args.is_owner)) {
        return Ok(not_permitted());
    }
    if !exists {
        return Ok(no_such_group());
    }
    if args.member_id == ANONYMOUS_USER_ID || args.member_id == DUMMY_USER_ID {
        return Ok(Reply::failure(
            SYSTEM_ACCOUNT,
            &["The anonymous and locked system accounts can't join groups."],
        ));
    }
    if standing == Standing::Owner {
        let current = ctx.groups.group_members(args.group_id).await?;
        if current
            .iter()
            .any(|m| m.user_id == args.member_id && m.is_owner)
        {
            return Ok(not_permitted());
        }
    }
    let add = || {
        ctx.groups.add_group_member(
            args.group_id,
            args.member_id,
            args.is_owner,
            ctx.clock.now(),
        )
    };
    // The same membership added concurrently: it exists now, so asking
    // again sets the flag.
    let result = match add().await {
        Err(StoreError::Conflict(_)) => add().await,
        other => other,
    };
    let added = match result {
        Ok(added) => added,
        Err(StoreError::NotFound) => {
            // The group was there a moment ago: the user is missing (or the
            // group went in between).
            return Ok(if ctx.groups.group_by_id(args.group_id).await?.is_none() {
                no_such_group()
            } else {
                Reply::failure(NO_SUCH_USER, &["The user was not found."])
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Reply::success(&[if added {
        "Member added."
    } else {
        "Membership updated."
    }])
    .with("group_id", args.group_id)
    .with("member_id", args.member_id)
    .with("is_owner", args.is_owner)
    .with("added", added))
}

pub async fn group_remove_member(
    ctx: &Context,
    args: GroupRemoveMemberArgs<'_>,
) -> Result<Reply, ActionError> {
    if let Some(refused) = verify_caller(ctx, args.user_id, args.user_role).await? {
        return Ok(refused);
    }
    let (standing, exists) = standing(ctx, args.user_id, args.user_role, args.group_id).await?;
    let leaving = args.member_id == args.user_id;
    let allowed = match standing {
        Standing::Manager => true,
        Standing::Owner if leaving => true,
        Standing::Owner if ctx.policy.owners_manage_members() => {
            // Not another owner.
            !ctx.groups
                .group_members(args.group_id)
                .await?
                .iter()
                .any(|m| m.user_id == args.member_id && m.is_owner)
        }
        Standing::Member => leaving,
        Standing::Owner | Standing::Outsider => false,
    };
    if !allowed {
        return Ok(not_permitted());
    }
    if !exists {
        return Ok(no_such_group());
    }
    let removed = ctx
        .groups
        .remove_group_member(args.group_id, args.member_id, ctx.clock.now())
        .await?;
    if removed == 0 {
        return Ok(Reply::failure(
            NOT_A_MEMBER,
            &["That user is not a member of this group."],
        ));
    }
    Ok(Reply::success(&["Member removed."])
        .with("group_id", args.group_id)
        .with("member_id", args.member_id))
}

pub async fn group_delete(ctx: &Context, args: GroupDeleteArgs<'_>) -> Result<Reply, ActionError> {
    if let Some(refused) = verify_caller(ctx, args.user_id, args.user_role).await? {
        return Ok(refused);
    }
    if !ctx.policy.manages_groups(args.user_role) {
        return Ok(not_permitted());
    }
    if ctx.groups.delete_group(args.group_id).await? == 0 {
        return Ok(no_such_group());
    }
    Ok(Reply::success(&["Group deleted."]).with("group_id", args.group_id))
}
