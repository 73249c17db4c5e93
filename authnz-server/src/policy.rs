//! The permission policy file (spec 6.1), as far as the foundation needs it:
//! the list of roles that seeds the `roles` table and bounds role changes.
//!
//! The full decision engine comes with the API-key issue. The policy is read
//! once at start-up from the configured file (Q-11 fixed) or the bundled
//! default, never per request.

use std::path::Path;

use serde::Deserialize;

/// The bundled default policy (spec 6.5), also copied into the basedir by
/// auto-setup.
pub use crate::config::DEFAULT_POLICY_JSON;

/// Roles every policy must define: the code depends on them.
const REQUIRED_ROLES: [&str; 3] = ["superuser", "anonymous", "locked"];

/// The parts of a policy file the server uses so far.
#[derive(Debug, Clone, Deserialize)]
pub struct Policy {
    pub roles: Vec<String>,
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

impl Policy {
    /// Parse policy JSON; `origin` names the file in errors.
    pub fn parse(json: &str, origin: &str) -> Result<Self, PolicyError> {
        let policy: Policy = serde_json::from_str(json).map_err(|e| PolicyError::Invalid {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        for role in REQUIRED_ROLES {
            if !policy.roles.iter().any(|r| r == role) {
                return Err(PolicyError::Invalid {
                    path: origin.to_owned(),
                    message: format!("the roles list must contain '{role}'"),
                });
            }
        }
        Ok(policy)
    }

    /// Load the configured policy file, or the bundled default.
    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        match path {
            None => Self::parse(
                DEFAULT_POLICY_JSON,
                "<bundled default-permissions-model.json>",
            ),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| PolicyError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                Self::parse(&text, &p.display().to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_roles() {
        let p = Policy::load(None).expect("default policy");
        assert_eq!(
            p.roles,
            ["superuser", "staff", "authenticated", "anonymous", "locked"]
        );
    }

    #[test]
    fn missing_required_role_is_named() {
        let err =
            Policy::parse(r#"{"roles": ["superuser", "locked"]}"#, "p.json").expect_err("invalid");
        assert!(
            err.to_string().contains("p.json") && err.to_string().contains("'anonymous'"),
            "{err}"
        );
    }
}
