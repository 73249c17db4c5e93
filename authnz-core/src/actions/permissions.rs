//! The built-in permission rules of the account requests (PROTOCOL.md 3.3, 6.2):
//! who may edit which fields of whom, who may lock and unlock, who may delete
//! their own account, and which accounts nobody may touch.
//!
//! These are the fixed rules of PROTOCOL.md 6.3, not policy-table decisions: upstream
//! never consults the permission policy for them, and the default policy
//! could not express them (it makes `user` an item no role owns, and
//! `authenticated` an invalid role for it, yet upstream lets an
//! authenticated user edit and delete their own account). Role-name
//! validation for `user-edit` does use the loaded policy
//! ([`crate::policy::Policy::has_role`]).

use authnz_api::{ANONYMOUS_USER_ID, DUMMY_USER_ID, UserId};

use crate::policy::Policy;

/// The superuser role name (PROTOCOL.md 6.2).
pub const SUPERUSER: &str = "superuser";
/// The role of locked and not yet verified accounts.
pub const LOCKED: &str = "locked";

/// The fields a user may change on their own account.
pub const SELF_EDITABLE: &[&str] = &["full_name", "email"];
/// The fields a superuser may change on any account.
pub const SUPERUSER_EDITABLE: &[&str] = &[
    "full_name",
    "email",
    "is_active",
    "user_role",
    "email_verified",
];

/// The built-in anonymous and dummy accounts, which no request may edit or
/// lock (PROTOCOL.md 6.2).
pub fn is_system_account(user_id: UserId) -> bool {
    user_id == ANONYMOUS_USER_ID || user_id == DUMMY_USER_ID
}

/// How far a `user-edit` request reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditScope {
    /// An `authenticated` or `staff` user editing their own account.
    OwnAccount,
    /// A superuser editing any account.
    AnyAccount,
}

impl EditScope {
    /// The fields this scope may change.
    pub fn editable_fields(self) -> &'static [&'static str] {
        match self {
            EditScope::OwnAccount => SELF_EDITABLE,
            EditScope::AnyAccount => SUPERUSER_EDITABLE,
        }
    }
}

/// The scope a user with `user_role` gets when editing `target`, or `None`
/// if the role may not edit that account at all. (The caller still checks
/// that the session really belongs to that user and role.)
pub fn edit_scope(user_id: UserId, user_role: &str, target: UserId) -> Option<EditScope> {
    if target == user_id && matches!(user_role, "authenticated" | "staff") {
        Some(EditScope::OwnAccount)
    } else if user_role == SUPERUSER {
        Some(EditScope::AnyAccount)
    } else {
        None
    }
}

/// Whether `role` is one a superuser may assign through `user-edit`: a role
/// of the loaded policy (the configured file, Q-11).
pub fn is_assignable_role(policy: &Policy, role: &str) -> bool {
    policy.has_role(role)
}

/// Whether a user with `user_role` may lock and unlock other accounts.
pub fn may_toggle_locks(user_role: &str) -> bool {
    user_role == SUPERUSER
}

/// Whether a user with `user_role` may delete their own account.
pub fn may_delete_own_account(user_role: &str) -> bool {
    user_role != SUPERUSER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        assert_eq!(
            edit_scope(5, "authenticated", 5),
            Some(EditScope::OwnAccount)
        );
        assert_eq!(edit_scope(5, "staff", 5), Some(EditScope::OwnAccount));
        assert_eq!(edit_scope(5, "staff", 6), None);
        assert_eq!(edit_scope(5, "authenticated", 6), None);
        assert_eq!(edit_scope(1, "superuser", 1), Some(EditScope::AnyAccount));
        assert_eq!(edit_scope(1, "superuser", 6), Some(EditScope::AnyAccount));
        assert_eq!(edit_scope(5, "locked", 5), None);
        assert!(is_system_account(2) && is_system_account(3) && !is_system_account(1));
        assert!(may_toggle_locks("superuser") && !may_toggle_locks("staff"));
        assert!(!may_delete_own_account("superuser") && may_delete_own_account("staff"));
    }
}
