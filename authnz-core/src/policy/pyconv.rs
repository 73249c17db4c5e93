//! The comma-separated `target_sharedwith` list of the access decision
//! (PROTOCOL.md 6.3), read with Python's `int()`
//! ([`authnz_proto::python::convert`], re-exported here), with its
//! `group:<id>` elements (not upstream).

use authnz_api::{GroupId, UserId};

pub use authnz_proto::python::convert::{Num, py_float_text, py_int_text, to_float, to_int};

/// The `target_sharedwith` argument (PROTOCOL.md 3.7, 6.3): `""` or `none` in any
/// case means nobody; otherwise comma-separated Python `int()` texts. `None`
/// when an element is not an integer (upstream: `exception when checking the
/// DB`). An integer too large for a user id becomes `i64::MIN`, an id no user
/// has.
pub fn parse_shared_with(text: &str) -> Option<Vec<UserId>> {
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|part| py_int_text(part).map(|v| i64::try_from(v).unwrap_or(i64::MIN)))
        .collect()
}

/// The prefix of a group in `target_sharedwith` (not upstream): `group:7`.
pub const GROUP_PREFIX: &str = "group:";

/// Who an item is shared with: users, and groups (not upstream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sharing {
    pub users: Vec<UserId>,
    pub groups: Vec<GroupId>,
}

/// The `target_sharedwith` argument with groups (PROTOCOL.md 6.3): as
/// [`parse_shared_with`], where an element may also be `group:<id>`
/// (surrounding whitespace allowed, the id read with Python's `int()`).
/// `None` when an element is neither. A group id too large for an id
/// becomes `i64::MIN`, an id no group has.
pub fn parse_sharing(text: &str) -> Option<Sharing> {
    let mut out = Sharing::default();
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Some(out);
    }
    for part in text.split(',') {
        let id = |t: &str| py_int_text(t).map(|v| i64::try_from(v).unwrap_or(i64::MIN));
        match part.trim().strip_prefix(GROUP_PREFIX) {
            // No whitespace between the prefix and the number.
            Some(rest) if rest.trim_start() == rest => out.groups.push(id(rest)?),
            Some(_) => return None,
            None => out.users.push(id(part)?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_lists_with_groups() {
        let sharing = |users: &[i64], groups: &[i64]| {
            Some(Sharing {
                users: users.to_vec(),
                groups: groups.to_vec(),
            })
        };
        assert_eq!(parse_sharing(""), sharing(&[], &[]));
        assert_eq!(parse_sharing("nOnE"), sharing(&[], &[]));
        assert_eq!(parse_sharing("4, +5,6 "), sharing(&[4, 5, 6], &[]));
        assert_eq!(
            parse_sharing("4, group:7 ,group:+8"),
            sharing(&[4], &[7, 8])
        );
        assert_eq!(parse_sharing("group:7"), sharing(&[], &[7]));
        assert_eq!(
            parse_sharing("group:99999999999999999999"),
            sharing(&[], &[i64::MIN])
        );
        for bad in [
            "group:", "group:x", "group: 7", "Group:7", "group:7,", "groups:7", "4,x",
        ] {
            assert_eq!(parse_sharing(bad), None, "{bad:?}");
        }
        // The users-only reading refuses groups, as upstream would.
        assert_eq!(parse_shared_with("group:7"), None);
    }

    #[test]
    fn shared_with_lists() {
        assert_eq!(parse_shared_with(""), Some(vec![]));
        assert_eq!(parse_shared_with("NoNe"), Some(vec![]));
        assert_eq!(parse_shared_with("4, +5,6 "), Some(vec![4, 5, 6]));
        assert_eq!(
            parse_shared_with("99999999999999999999"),
            Some(vec![i64::MIN])
        );
        assert_eq!(parse_shared_with("4,,5"), None);
        assert_eq!(parse_shared_with("4,x"), None);
        assert_eq!(parse_shared_with(" "), None);
        assert_eq!(parse_shared_with(" none"), None);
    }
}
