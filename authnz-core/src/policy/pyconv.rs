//! The comma-separated `target_sharedwith` list of the access decision
//! (PROTOCOL.md 6.3), read with Python's `int()`
//! ([`authnz_proto::python::convert`], re-exported here).

use authnz_api::UserId;

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

#[cfg(test)]
mod tests {
    use super::*;

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
