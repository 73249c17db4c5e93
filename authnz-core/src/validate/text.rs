//! Python-compatible string helpers used by the validators (PROTOCOL.md 5.6).
//!
//! Upstream is Python, so "strip", "is a digit", "case-fold" and "escape"
//! mean what CPython and Tornado make them mean, which is not always what
//! Rust's `str` methods do: Python's `strip()` also removes U+001C..U+001F,
//! `str.isdigit()` accepts superscripts and other Numeric_Type=Digit
//! characters, and `casefold()` is full Unicode case folding (`ß` -> `ss`),
//! not lower-casing. Everything here counts Unicode code points, never bytes.

use unicode_normalization::UnicodeNormalization;

use super::py_tables::{PY_DIGIT_RANGES, PY_UNICODE_VERSION, PY_WHITESPACE};

/// Unicode version of the CPython whose `isdigit`/`isspace` the tables copy.
pub const PYTHON_UNICODE_VERSION: &str = PY_UNICODE_VERSION;

/// Passwords are cut to this many code points before hashing or checking
/// (PROTOCOL.md 3.0).
pub const PASSWORD_MAX_CHARS: usize = 256;

/// Python `str.isspace()` for one character: the whitespace set that
/// `str.strip()` removes (Unicode White_Space plus the information
/// separators U+001C..U+001F).
pub fn is_py_whitespace(c: char) -> bool {
    PY_WHITESPACE.binary_search(&c).is_ok()
}

/// Python `str.strip()` with no argument: removes Python whitespace at both
/// ends.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_whitespace)
}

/// Tornado's `squeeze`: every run of characters in U+0000..=U+0020 becomes
/// one space, then the result is `py_strip`ped.
pub fn squeeze(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c <= '\u{20}' {
            if !in_run {
                out.push(' ');
                in_run = true;
            }
        } else {
            out.push(c);
            in_run = false;
        }
    }
    let trimmed = py_strip(&out);
    if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_owned()
    }
}

/// Full Unicode case folding, as Python `str.casefold()` (`ß` -> `ss`).
pub fn casefold(s: &str) -> String {
    caseless::default_case_fold_str(s)
}

/// Unicode normalisation form NFKC, as Python
/// `unicodedata.normalize('NFKC', s)`.
pub fn nfkc(s: &str) -> String {
    s.nfkc().collect()
}

/// Python `html.escape(s, quote=True)` (what Tornado's `xhtml_escape` does):
/// `&` -> `&amp;`, `<` -> `&lt;`, `>` -> `&gt;`, `"` -> `&quot;`,
/// `'` -> `&#x27;`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

/// The first `PASSWORD_MAX_CHARS` (256) code points of a password, as
/// Python `password[:256]`.
pub fn cut_password(password: &str) -> &str {
    match password.char_indices().nth(PASSWORD_MAX_CHARS) {
        Some((byte_idx, _)) => &password[..byte_idx],
        None => password,
    }
}

/// Python `str.isdigit()` for one character: Unicode Numeric_Type Decimal
/// or Digit (so `²` and `①`-style digits count, `½` and `Ⅻ` do not).
pub fn is_py_digit(c: char) -> bool {
    authnz_proto::python::printable::in_ranges(PY_DIGIT_RANGES, c)
}

/// Python `str.isdigit()` for a string: non-empty and every code point is a
/// digit.
pub fn is_py_digit_str(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_py_digit)
}

/// Number of Unicode code points, Python `len(s)`.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::super::test_vectors as tv;
    use super::*;

    #[test]
    fn tables_are_sorted() {
        assert!(PY_WHITESPACE.windows(2).all(|w| w[0] < w[1]));
        assert!(PY_DIGIT_RANGES.windows(2).all(|w| w[0].1 < w[1].0));
        assert!(PY_DIGIT_RANGES.iter().all(|&(lo, hi)| lo <= hi));
        assert_eq!(PY_UNICODE_VERSION, tv::PY_UNICODE_VERSION);
    }

    #[test]
    fn strip_matches_python() {
        for &(input, want) in tv::STRIP {
            assert_eq!(py_strip(input), want, "strip({input:?})");
        }
        // Python strips the information separators; Rust's trim() does not.
        assert_eq!(py_strip("\u{1c}a\u{1f}"), "a");
        // U+200B (zero width space) and U+180E are not whitespace in Python.
        assert_eq!(py_strip("\u{200b}a\u{180e}"), "\u{200b}a\u{180e}");
        assert_eq!(py_strip(""), "");
        assert_eq!(py_strip(" \u{3000}\u{85} "), "");
    }

    #[test]
    fn squeeze_matches_tornado() {
        for &(input, want) in tv::SQUEEZE {
            assert_eq!(squeeze(input), want, "squeeze({input:?})");
        }
        assert_eq!(squeeze("  a \t\n b  "), "a b");
        assert_eq!(squeeze("a\u{0}\u{1}b"), "a b");
        // U+00A0 is not in the squeezed range but is stripped at the ends.
        assert_eq!(squeeze("\u{a0}a\u{a0}\u{a0}b\u{a0}"), "a\u{a0}\u{a0}b");
        assert_eq!(squeeze(""), "");
        assert_eq!(squeeze("\u{1}\u{2}"), "");
    }

    #[test]
    fn casefold_matches_python() {
        for &(input, want) in tv::CASEFOLD {
            assert_eq!(casefold(input), want, "casefold({input:?})");
        }
        assert_eq!(casefold("Straße"), "strasse");
        assert_eq!(casefold("ß"), "ss");
    }

    #[test]
    fn nfkc_matches_python() {
        for &(input, want) in tv::NFKC {
            assert_eq!(nfkc(input), want, "nfkc({input:?})");
        }
    }

    #[test]
    fn html_escape_matches_python() {
        for &(input, want) in tv::HTML_ESCAPE {
            assert_eq!(html_escape(input), want, "escape({input:?})");
        }
        assert_eq!(
            html_escape("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#x27;Neil &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn cut_password_counts_code_points() {
        let long: String = "é".repeat(300);
        let cut = cut_password(&long);
        assert_eq!(char_len(cut), 256);
        assert_eq!(cut.len(), 512);
        assert_eq!(cut_password("short"), "short");
        let exact = "x".repeat(256);
        assert_eq!(cut_password(&exact), exact);
        let emoji = "😀".repeat(257);
        assert_eq!(char_len(cut_password(&emoji)), 256);
        assert_eq!(cut_password(""), "");
    }

    #[test]
    fn isdigit_matches_python() {
        for &(input, want) in tv::ISDIGIT {
            assert_eq!(is_py_digit_str(input), want, "isdigit({input:?})");
        }
        assert!(is_py_digit('7'));
        assert!(is_py_digit('²'));
        assert!(is_py_digit('٣'));
        assert!(!is_py_digit('½'));
        assert!(!is_py_digit('a'));
        assert!(!is_py_digit_str(""));
    }

    /// Every code point assigned in CPython's Unicode version, case-folded
    /// and NFKC-normalised by both sides. Our crates follow newer Unicode
    /// versions, which only add mappings for characters CPython 3.11 does
    /// not know, so those are skipped. Run with
    /// `cargo test -- --ignored casefold_and_nfkc_match_python_everywhere`.
    #[test]
    #[ignore = "needs python3; slow in debug builds"]
    #[allow(clippy::unwrap_used)]
    fn casefold_and_nfkc_match_python_everywhere() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/validate/gen_vectors.py");
        let out = std::process::Command::new("python3")
            .args([script, "--unicode-dump"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let dump = String::from_utf8(out.stdout).unwrap();
        let decode = |ch: char, field: &str| -> String {
            if field == "=" {
                return ch.to_string();
            }
            field
                .split(',')
                .map(|h| char::from_u32(u32::from_str_radix(h, 16).unwrap()).unwrap())
                .collect()
        };
        let mut checked = 0;
        let mut bad = Vec::new();
        for line in dump.lines() {
            let mut f = line.split(' ');
            let (Some(cp), Some(cf), Some(nf)) = (f.next(), f.next(), f.next()) else {
                panic!("bad line {line:?}");
            };
            let ch = char::from_u32(u32::from_str_radix(cp, 16).unwrap()).unwrap();
            let s = ch.to_string();
            if casefold(&s) != decode(ch, cf) || nfkc(&s) != decode(ch, nf) {
                bad.push(cp.to_owned());
            }
            checked += 1;
        }
        assert!(checked > 280_000);
        assert!(bad.is_empty(), "differences at {bad:?}");
    }

    #[test]
    fn whitespace_table_is_exactly_python() {
        // Every code point of the table plus its neighbours.
        let all: String = PY_WHITESPACE.iter().collect();
        assert_eq!(py_strip(&all), "");
        assert_eq!(PY_WHITESPACE.len(), tv::PY_WHITESPACE_COUNT);
    }
}
