//! Groups of users (not upstream's requests, upstream's tables): the
//! `groups` table and the memberships of `user_groups`, where authnz adds
//! an owner flag (`user_groups.is_owner`).
//!
//! A group's owners are members too; deleting a user or a group removes its
//! memberships. The store checks references (the group and the user must
//! exist), nothing else: who may do what is decided by the actions.

use async_trait::async_trait;
use chrono::NaiveDateTime;

use crate::error::StoreError;
use crate::types::UserId;

/// A group's numeric id (`groups.group_id`), given by the database.
pub type GroupId = i64;

/// One row of the `groups` table, as authnz reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub group_id: GroupId,
    /// A random UUIDv4, as for users.
    pub system_id: String,
    /// The display name, at most 280 characters (not unique).
    pub group_name: String,
    /// The user who created the group (passed on when that user is deleted,
    /// see [`crate::UserStore::delete_user`]).
    pub created_by: UserId,
    /// Upstream's `group_role` column: the creator's role at creation.
    /// Recorded, not used for decisions.
    pub group_role: String,
    pub created_on: NaiveDateTime,
    pub last_updated: NaiveDateTime,
}

/// Everything needed to insert a group; `created_on` and `last_updated` are
/// both set to `now`, `is_active` to true, `visibility` to `private`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub system_id: String,
    pub group_name: String,
    pub created_by: UserId,
    pub group_role: String,
}

/// One membership: the member, and whether they own the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMember {
    pub user_id: UserId,
    pub is_owner: bool,
}

/// A group a user belongs to, with their owner flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group: Group,
    pub is_owner: bool,
}

/// Groups and memberships: the `groups` and `user_groups` tables.
///
/// Deleting a user ([`crate::UserStore::delete_user`]) removes their
/// memberships in the same transaction; the groups they created stay, and
/// their `created_by` passes to the lowest remaining user id (normally the
/// superuser, user 1), or they are deleted with the last user.
#[async_trait]
pub trait GroupStore: Send + Sync + std::fmt::Debug + 'static {
    /// Insert a group at `now` and return it with its new id.
    ///
    /// Errors: [`StoreError::InvalidReference`] if `created_by` is no user
    /// or `group_role` no role (nothing is written).
    async fn create_group(&self, group: &NewGroup, now: NaiveDateTime)
    -> Result<Group, StoreError>;

    /// The group `group_id`, if it exists.
    async fn group_by_id(&self, group_id: GroupId) -> Result<Option<Group>, StoreError>;

    /// Every group, by `group_id` ascending.
    async fn list_groups(&self) -> Result<Vec<Group>, StoreError>;

    /// The groups `user_id` belongs to (owned ones included), by `group_id`
    /// ascending; empty for a user in no group or no such user.
    async fn user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError>;

    /// The members of `group_id`, by `user_id` ascending; empty for a group
    /// without members or no such group.
    async fn group_members(&self, group_id: GroupId) -> Result<Vec<GroupMember>, StoreError>;

    /// Make `user_id` a member of `group_id` with this owner flag. Returns
    /// true if the membership is new, false if the user already was a
    /// member (their owner flag is then set to `is_owner`). Also touches the
    /// group's `last_updated` (`now`).
    ///
    /// Errors: [`StoreError::NotFound`] if the group or the user does not
    /// exist (nothing is written); [`StoreError::Conflict`] if the same
    /// membership was added concurrently (then it exists: asking again
    /// sets the flag).
    async fn add_group_member(
        &self,
        group_id: GroupId,
        user_id: UserId,
        is_owner: bool,
        now: NaiveDateTime,
    ) -> Result<bool, StoreError>;

    /// End the membership of `user_id` in `group_id`. Returns the rows
    /// deleted (0 or 1); touches the group's `last_updated` when 1.
    async fn remove_group_member(
        &self,
        group_id: GroupId,
        user_id: UserId,
        now: NaiveDateTime,
    ) -> Result<u64, StoreError>;

    /// Delete the group and all its memberships in one transaction. Returns
    /// the rows deleted from `groups` (0 or 1).
    async fn delete_group(&self, group_id: GroupId) -> Result<u64, StoreError>;
}
