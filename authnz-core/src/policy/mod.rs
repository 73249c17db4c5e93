//! The permission policy (PROTOCOL.md 6): loading, validating and compiling
//! the operator's policy JSON, and the two decisions made with it — "may this
//! user do this action on this item" (6.3) and "is this value within this
//! role's limit" (6.4).
//!
//! The policy is read once at start-up from the configured `permissions` file
//! (Q-11 fixed: that file is used for every decision) or the bundled default.
//! Loading validates every name against the declared `roles`, `items`,
//! `actions`, `visibilities` and `limits` and refuses the file with an error
//! that names it and the offending entry (`role_policy.staff.
//! allowed_actions_for_other.public[2]: unknown action "veiw"`). The valid
//! policy is compiled into index tables ([`compile`]), so a decision is a few
//! hash lookups and a bit test, with no allocation and no I/O. The database
//! checks that PROTOCOL.md 6.3 adds around the pure decision live with the actions
//! (`actions::access`).
//!
//! Upstream re-reads the file on every decision; this server does not (a
//! policy change needs a restart, after `authnzrv policy check FILE`).

mod compile;
pub mod pyconv;
mod report;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use authnz_api::UserId;
use serde_json::Value;

/// The bundled default policy (PROTOCOL.md 6.5), also copied into the basedir by
/// the server's auto-setup.
pub const DEFAULT_POLICY_JSON: &str = include_str!("../../../data/default-permissions-model.json");

/// How the bundled default is named in errors and reports.
pub const DEFAULT_POLICY_ORIGIN: &str = "<bundled default-permissions-model.json>";

/// A validated, compiled permission policy. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The `roles` list in file order: seeds the `roles` table (PROTOCOL.md 8.4) and
    /// bounds role changes.
    pub roles: Vec<String>,
    compiled: Arc<compile::Compiled>,
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read permissions policy {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("permissions policy {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

/// A decision asked about a role the policy does not define. Upstream fails
/// with a `KeyError` here; the requests report `exception when checking the
/// DB` (PROTOCOL.md 6.3, 6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

/// The inputs of the policy half of the access decision (PROTOCOL.md 6.3 step 1).
#[derive(Debug, Clone, Copy)]
pub struct AccessQuery<'a> {
    /// The caller.
    pub user_id: UserId,
    /// The caller's role.
    pub role: &'a str,
    /// What the caller wants to do (`view`, `edit`, ...).
    pub action: &'a str,
    /// The kind of item (`dataset`, `apikey`, ...).
    pub item: &'a str,
    /// The item's owner.
    pub owner: UserId,
    /// The item's visibility (`public`, `unlisted`, `shared`, `private`).
    pub visibility: &'a str,
    /// The users the item is shared with, already parsed
    /// ([`pyconv::parse_shared_with`]); empty for nobody.
    pub shared_with: &'a [UserId],
    /// The item is shared with a group the caller belongs to (not
    /// upstream): for a `shared` item, the caller is treated as one of the
    /// users it is shared with.
    pub via_group: bool,
}

/// How the caller relates to an item, for [`Policy::can`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The caller owns the item (`user_id == owner`).
    Owner,
    /// Someone else owns it, and it is shared with the caller (or with
    /// everyone, user 2).
    SharedWith,
    /// Someone else owns it and it is not shared with the caller.
    Other,
}

impl Policy {
    /// Parse, validate and compile policy JSON; `origin` names the file in
    /// errors.
    pub fn parse(json: &str, origin: &str) -> Result<Self, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let value: Value =
            serde_json::from_str(json).map_err(|e| invalid(format!("malformed JSON: {e}")))?;
        let compiled = compile::Compiled::from_json(&value).map_err(invalid)?;
        Ok(Policy {
            roles: compiled.role_names().to_vec(),
            compiled: Arc::new(compiled),
        })
    }

    /// Load the configured policy file, or the bundled default.
    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        match path {
            None => Self::parse(DEFAULT_POLICY_JSON, DEFAULT_POLICY_ORIGIN),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| PolicyError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                Self::parse(&text, &p.display().to_string())
            }
        }
    }

    /// True if `role` is one of the policy's roles (e.g. a valid target of a
    /// `user-edit` role change).
    pub fn has_role(&self, role: &str) -> bool {
        self.compiled.role(role).is_some()
    }

    /// The policy half of the access decision (PROTOCOL.md 6.3 step 1): `granted`.
    ///
    /// Unknown items, actions and visibilities are simply not granted; only
    /// an unknown role is an error, as upstream.
    pub fn decide(&self, q: &AccessQuery<'_>) -> Result<bool, UnknownRole> {
        self.compiled.decide(q)
    }

    /// The narrow form of [`Policy::decide`] for code that already knows how
    /// the caller relates to the item: may `role` do `action` on an `item`
    /// with this `visibility`?
    pub fn can(
        &self,
        role: &str,
        action: &str,
        item: &str,
        visibility: &str,
        relation: Relation,
    ) -> Result<bool, UnknownRole> {
        // Stand-in ids that reproduce the relation: 1 is the caller; 3 owns
        // other people's items; sharing uses an explicit list with the caller.
        let (owner, shared_with): (UserId, &[UserId]) = match relation {
            Relation::Owner => (1, &[]),
            Relation::SharedWith => (3, &[1]),
            Relation::Other => (3, &[]),
        };
        self.decide(&AccessQuery {
            user_id: 1,
            role,
            action,
            item,
            owner,
            visibility,
            shared_with,
            via_group: false,
        })
    }

    /// Whether `role` manages groups (PROTOCOL.md 6.1 `group_policy`: by
    /// default `superuser` and `staff`): it may create and delete any group
    /// and manage any group's members and owners.
    pub fn manages_groups(&self, role: &str) -> bool {
        self.compiled.manages_groups(role)
    }

    /// Whether a group's owners may add and remove its other members
    /// (`group_policy.owners_manage_members`, by default true).
    pub fn owners_manage_members(&self) -> bool {
        self.compiled.groups.owners_manage_members
    }

    /// The limit decision (PROTOCOL.md 6.4): true when `value` passes `role`'s limit
    /// `limit_name` (or the role has no such limit).
    pub fn within_limit(
        &self,
        role: &str,
        limit_name: &str,
        value: &Value,
    ) -> Result<bool, UnknownRole> {
        self.compiled.within_limit(role, limit_name, value)
    }

    /// A plain-text table of what each role may do, for `authnzrv policy
    /// check`.
    pub fn report(&self) -> String {
        report::render(&self.compiled)
    }
}
