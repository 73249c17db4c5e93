//! Full-name processing and spam checks for sign-up (PROTOCOL.md 3.3
//! `user-new` steps 2-4).
//!
//! The stored full name is NFKC-normalised (each side of the `@` on its own
//! when there is one; no case folding), HTML-escaped and whitespace-squeezed,
//! in that order, exactly as upstream. The processed name is then rejected
//! when it looks like a link (`http` in its case-fold, or `://`) or when its
//! case-fold contains a public-suffix entry (`.com`, `.co.uk`, ...).
//!
//! A name with two or more `@` makes upstream raise (its `split('@')` does
//! not unpack into two parts), which escapes the action and gives the whole
//! request HTTP 400; [`FullNameError::TooManyAts`] lets the caller do that.

use super::suffix::PublicSuffixList;
use super::text::{casefold, html_escape, nfkc, squeeze};

/// `failure_reason` for a name rejected by the link or suffix check.
pub const FAILURE_INVALID_FULL_NAME: &str = "invalid full name";
/// The message for a name rejected by the link or suffix check.
pub const MSG_INVALID_FULL_NAME: &str = "The full name provided appears to contain an HTTP link, \
                                         and cannot be used to sign up for an account on this \
                                         server.";
/// `failure_reason` when no public suffix list is loaded.
pub const FAILURE_NO_SUFFIX_LIST: &str = "public suffix list not present";
/// The message when no public suffix list is loaded.
pub const MSG_NO_SUFFIX_LIST: &str =
    "Full name could not be validated because of an internal server error";

/// Why a sign-up full name was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FullNameError {
    /// Two or more `@`: upstream crashes; the caller answers HTTP 400.
    #[error("the full name contains more than one '@'")]
    TooManyAts,
    /// Step 3: the processed name looks like an HTTP link.
    #[error("the full name looks like a link")]
    Link,
    /// Step 4: the case-folded processed name contains this suffix entry.
    #[error("the full name contains the public suffix {0:?}")]
    PublicSuffix(String),
    /// Step 4 could not run because the suffix list is empty.
    #[error("no public suffix list is loaded")]
    NoSuffixList,
}

impl FullNameError {
    /// The `failure_reason` for this error (`None` for `TooManyAts`, which
    /// is an HTTP 400 rather than a failure response).
    pub fn failure_reason(&self) -> Option<&'static str> {
        match self {
            FullNameError::TooManyAts => None,
            FullNameError::Link | FullNameError::PublicSuffix(_) => Some(FAILURE_INVALID_FULL_NAME),
            FullNameError::NoSuffixList => Some(FAILURE_NO_SUFFIX_LIST),
        }
    }

    /// The user-facing message for this error (`None` for `TooManyAts`).
    pub fn message(&self) -> Option<&'static str> {
        match self {
            FullNameError::TooManyAts => None,
            FullNameError::Link | FullNameError::PublicSuffix(_) => Some(MSG_INVALID_FULL_NAME),
            FullNameError::NoSuffixList => Some(MSG_NO_SUFFIX_LIST),
        }
    }
}

/// Upstream `normalize_value(name, casefold=False)`: NFKC of the whole name,
/// or of each side separately when it has exactly one `@`.
pub fn normalize_full_name(raw: &str) -> Result<String, FullNameError> {
    let mut parts = raw.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(whole), None, _) => Ok(nfkc(whole)),
        (Some(local), Some(domain), None) => Ok(format!("{}@{}", nfkc(local), nfkc(domain))),
        _ => Err(FullNameError::TooManyAts),
    }
}

/// Steps 2: the stored form of a full name (normalise, escape, squeeze).
pub fn process_full_name(raw: &str) -> Result<String, FullNameError> {
    Ok(squeeze(&html_escape(&normalize_full_name(raw)?)))
}

/// Step 3 on a processed name: `http` in its case-fold, or `://` in it.
pub fn looks_like_link(processed: &str) -> bool {
    casefold(processed).contains("http") || processed.contains("://")
}

/// Steps 3 and 4 on a processed name.
pub fn check_full_name(processed: &str, suffixes: &PublicSuffixList) -> Result<(), FullNameError> {
    if looks_like_link(processed) {
        return Err(FullNameError::Link);
    }
    if suffixes.is_empty() {
        return Err(FullNameError::NoSuffixList);
    }
    match suffixes.find_in(&casefold(processed)) {
        Some(entry) => Err(FullNameError::PublicSuffix(entry.to_owned())),
        None => Ok(()),
    }
}

/// Steps 2-4: the processed name to store, or why it is refused.
pub fn sign_up_full_name(raw: &str, suffixes: &PublicSuffixList) -> Result<String, FullNameError> {
    let processed = process_full_name(raw)?;
    check_full_name(&processed, suffixes)?;
    Ok(processed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::test_vectors as tv;
    use super::*;

    #[test]
    fn spec_example_is_escaped_and_squeezed() {
        assert_eq!(
            process_full_name("Jane <b>Doe</b>  x").unwrap(),
            "Jane &lt;b&gt;Doe&lt;/b&gt; x"
        );
        let psl = PublicSuffixList::bundled();
        assert_eq!(
            sign_up_full_name("Jane <b>Doe</b>  x", &psl).unwrap(),
            "Jane &lt;b&gt;Doe&lt;/b&gt; x"
        );
    }

    #[test]
    fn processing_matches_python() {
        for &(raw, want) in tv::FULL_NAME_PROCESS {
            match want {
                Some(w) => assert_eq!(process_full_name(raw).as_deref(), Ok(w), "{raw:?}"),
                None => assert_eq!(process_full_name(raw), Err(FullNameError::TooManyAts)),
            }
        }
    }

    #[test]
    fn at_signs() {
        assert_eq!(normalize_full_name("ﬁ@ﬂ").unwrap(), "fi@fl");
        assert_eq!(normalize_full_name("a@b@c"), Err(FullNameError::TooManyAts));
        // A fullwidth at-sign is not an '@' until after NFKC.
        assert_eq!(normalize_full_name("a＠b").unwrap(), "a@b");
        let e = process_full_name("x@y@z").unwrap_err();
        assert_eq!(e.failure_reason(), None);
    }

    #[test]
    fn links() {
        let psl = PublicSuffixList::bundled();
        for name in ["see HTTP stuff", "ftp://x", "xhttpx", "ｈｔｔｐ"] {
            let e = sign_up_full_name(name, &psl).unwrap_err();
            assert_eq!(e, FullNameError::Link, "{name}");
            assert_eq!(e.failure_reason(), Some(FAILURE_INVALID_FULL_NAME));
            assert_eq!(e.message(), Some(MSG_INVALID_FULL_NAME));
        }
    }

    #[test]
    fn suffixes() {
        let psl = PublicSuffixList::bundled();
        assert_eq!(sign_up_full_name("John Smith", &psl).unwrap(), "John Smith");
        assert_eq!(
            sign_up_full_name("buy at shop.com", &psl),
            Err(FullNameError::PublicSuffix(".co".to_owned()))
        );
        assert!(sign_up_full_name("Shop.COM", &psl).is_err());
        assert!(sign_up_full_name("J. R. R. Tolkien", &psl).is_ok());
        let empty = PublicSuffixList::from_cache_text("");
        let e = sign_up_full_name("John Smith", &empty).unwrap_err();
        assert_eq!(e, FullNameError::NoSuffixList);
        assert_eq!(e.failure_reason(), Some(FAILURE_NO_SUFFIX_LIST));
        assert_eq!(e.message(), Some(MSG_NO_SUFFIX_LIST));
    }

    #[test]
    fn checks_match_python_vectors() {
        let psl = PublicSuffixList::bundled();
        for &(raw, want_ok) in tv::FULL_NAME_CHECK {
            let got = sign_up_full_name(raw, &psl);
            assert_eq!(got.is_ok(), want_ok, "{raw:?}: {got:?}");
        }
    }
}
