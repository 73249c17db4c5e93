//! Full-name processing and spam checks for sign-up (PROTOCOL.md 3.3
//! `user-new` steps 2-4).
//!
//! The stored full name is NFKC-normalised (each side of the `@` on its own
//! when there is one; no case folding), HTML-escaped and whitespace-squeezed,
//! in that order, exactly as upstream. The processed name is then rejected
//! when it looks like a link (`http` in its case-fold, or `://`) or when its
//! case-fold contains a public-suffix entry (`.com`, `.co.uk`, ...).
//!
//! The processed name is at most [`FULL_NAME_MAX_CHARS`] (280) code points,
//! the width of the `full_name` column, which PostgreSQL and MySQL enforce
//! and SQLite does not. Processing stops as soon as the result is longer,
//! so a name whose NFKC form expands (U+FDFA becomes 18 characters) costs
//! time in proportion to the request, never to its expansion; a longer
//! name is refused on every backend alike (docs/PROTOCOL.md §10, D-22).
//!
//! A name with two or more `@` makes upstream raise (its `split('@')` does
//! not unpack into two parts), which escapes the action and gives the whole
//! request HTTP 400; [`FullNameError::TooManyAts`] lets the caller do that.

use super::suffix::PublicSuffixList;
use unicode_normalization::UnicodeNormalization;

use super::text::{casefold, html_escape, is_py_whitespace, nfkc, squeeze};

/// The longest stored full name, in code points: the `full_name` column is
/// `VARCHAR(280)` in every dialect (docs/PROTOCOL.md §8.1).
pub const FULL_NAME_MAX_CHARS: usize = 280;

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
/// or of each side separately when it has exactly one `@`. Unbounded: the
/// reference that [`process_full_name_bounded`] is tested against.
pub fn normalize_full_name(raw: &str) -> Result<String, FullNameError> {
    let mut parts = raw.split('@');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(whole), None, _) => Ok(nfkc(whole)),
        (Some(local), Some(domain), None) => Ok(format!("{}@{}", nfkc(local), nfkc(domain))),
        _ => Err(FullNameError::TooManyAts),
    }
}

/// A processed full name: the text to check and store, and whether the
/// whole name would have been longer than [`FULL_NAME_MAX_CHARS`] (then
/// `text` holds only its first `FULL_NAME_MAX_CHARS + 1` code points).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedName {
    /// The processed name (or its beginning, when `too_long`).
    pub text: String,
    /// The processed name is longer than the column allows.
    pub too_long: bool,
}

/// Step 2 with a bound: normalise (NFKC, each side of one `@` on its own),
/// HTML-escape and squeeze, in one pass that stops once the result has more
/// than `max_chars` code points. Equal to the unbounded composition
/// `squeeze(html_escape(normalize_full_name(raw)))` whenever that is at most
/// `max_chars` long.
pub fn process_full_name_bounded(
    raw: &str,
    max_chars: usize,
) -> Result<ProcessedName, FullNameError> {
    let mut parts = raw.split('@');
    let (first, second) = match (parts.next(), parts.next(), parts.next()) {
        (Some(whole), None, _) => (whole, None),
        (Some(local), Some(domain), None) => (local, Some(domain)),
        _ => return Err(FullNameError::TooManyAts),
    };
    let normalised = first.nfkc().chain(
        second
            .into_iter()
            .flat_map(|d| std::iter::once('@').chain(d.nfkc())),
    );
    let mut out = Squeezer::new(max_chars);
    for c in normalised {
        let done = match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        };
        if done {
            break;
        }
    }
    Ok(out.finish())
}

/// Tornado's `squeeze` then Python's `strip()`, one character at a time,
/// keeping at most `max + 1` code points.
struct Squeezer {
    out: String,
    len: usize,
    max: usize,
    /// Whitespace seen since the last other character: written only when
    /// another character follows (so trailing whitespace is stripped).
    pending: String,
    pending_len: usize,
    /// Inside a run of U+0000..=U+0020 (already one space in `pending`).
    in_run: bool,
    too_long: bool,
}

impl Squeezer {
    fn new(max: usize) -> Self {
        Squeezer {
            out: String::new(),
            len: 0,
            max,
            pending: String::new(),
            pending_len: 0,
            in_run: false,
            too_long: false,
        }
    }

    /// Adds `c`; true once the result is known to be longer than `max`.
    fn push(&mut self, c: char) -> bool {
        if c <= '\u{20}' {
            if !self.in_run {
                self.in_run = true;
                self.hold(' ');
            }
            return false;
        }
        self.in_run = false;
        if is_py_whitespace(c) {
            self.hold(c);
            return false;
        }
        if self.len > 0 && self.pending_len > 0 {
            // Leading whitespace (len == 0) is stripped; inner whitespace
            // is kept.
            self.len += self.pending_len;
            self.out.push_str(&self.pending);
        }
        self.pending.clear();
        self.pending_len = 0;
        self.out.push(c);
        self.len += 1;
        if self.len > self.max {
            self.too_long = true;
        }
        self.too_long
    }

    fn push_str(&mut self, s: &str) -> bool {
        s.chars().any(|c| self.push(c))
    }

    /// Whitespace that is kept only if another character follows. Beyond
    /// `max` held characters any follower makes the name too long, so the
    /// count goes on without the text.
    fn hold(&mut self, c: char) {
        if self.len == 0 {
            return;
        }
        if self.pending_len <= self.max {
            self.pending.push(c);
        }
        self.pending_len += 1;
    }

    fn finish(mut self) -> ProcessedName {
        if self.too_long {
            // Keep max + 1 code points, so the caller can still check and
            // report the beginning.
            if let Some((i, _)) = self.out.char_indices().nth(self.max + 1) {
                self.out.truncate(i);
            }
        }
        ProcessedName {
            text: self.out,
            too_long: self.too_long,
        }
    }
}

/// Step 2 without a bound (normalise, escape, squeeze): the reference that
/// [`process_full_name_bounded`] is tested against.
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

/// Steps 2-4: the processed name to store, or why it is refused. A name
/// longer than [`FULL_NAME_MAX_CHARS`] comes back with `too_long` set; the
/// link and suffix checks then see its first `FULL_NAME_MAX_CHARS + 1` code
/// points.
pub fn sign_up_full_name(
    raw: &str,
    suffixes: &PublicSuffixList,
) -> Result<ProcessedName, FullNameError> {
    let processed = process_full_name_bounded(raw, FULL_NAME_MAX_CHARS)?;
    check_full_name(&processed.text, suffixes)?;
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
            sign_up_full_name("Jane <b>Doe</b>  x", &psl).unwrap().text,
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
    fn bounded_processing_equals_the_reference() {
        let mut inputs: Vec<String> = tv::FULL_NAME_PROCESS
            .iter()
            .map(|(r, _)| r.to_string())
            .collect();
        inputs.extend(
            [
                "  Jane \u{a0} Doe \u{a0} ",
                "\u{a0}\u{3000}x\u{85}",
                " \t\n a  \u{1c}b ",
                "x\u{a0} \u{a0}y",
                "<'&\">",
                "\u{FDFA} @ \u{FB01}",
                "   ",
                "",
            ]
            .map(str::to_owned),
        );
        for raw in &inputs {
            let want = process_full_name(raw);
            for max in [0, 1, 2, 3, 5, 8, 13, 40, 280, usize::MAX - 1] {
                let got = process_full_name_bounded(raw, max);
                match &want {
                    Err(e) => assert_eq!(got.as_ref().err(), Some(e), "{raw:?}"),
                    Ok(w) => {
                        let got = got.unwrap();
                        let n = w.chars().count();
                        assert_eq!(got.too_long, n > max, "{raw:?} max {max}");
                        let prefix: String = w.chars().take(max.saturating_add(1)).collect();
                        assert_eq!(got.text, prefix, "{raw:?} max {max}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_expanding_name_stops_at_the_bound() {
        // U+FDFA expands to 18 code points under NFKC.
        let raw = "\u{FDFA}".repeat(100_000);
        let got = process_full_name_bounded(&raw, FULL_NAME_MAX_CHARS).unwrap();
        assert!(got.too_long);
        assert_eq!(got.text.chars().count(), FULL_NAME_MAX_CHARS + 1);
        let exact = "x".repeat(FULL_NAME_MAX_CHARS);
        let fits = process_full_name_bounded(&format!("  {exact}  "), FULL_NAME_MAX_CHARS).unwrap();
        assert!(!fits.too_long);
        assert_eq!(fits.text, exact);
        // Whitespace between characters counts; at the ends it does not.
        let spaced = format!("{} {}", "x".repeat(140), "y".repeat(140));
        assert!(
            process_full_name_bounded(&spaced, FULL_NAME_MAX_CHARS)
                .unwrap()
                .too_long
        );
        let trailing = format!("{exact}{}", "\u{a0}".repeat(1_000));
        assert!(
            !process_full_name_bounded(&trailing, FULL_NAME_MAX_CHARS)
                .unwrap()
                .too_long
        );
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
        assert_eq!(
            sign_up_full_name("John Smith", &psl).unwrap().text,
            "John Smith"
        );
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
