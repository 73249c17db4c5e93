//! Python's `repr()` of strings, lists and sets, for the failure reasons that
//! embed it (`['user_role', 'extra_info']`, `{'password'}`) and for
//! [`super::logtext`], which writes client text into log lines; and Python's
//! text for a bool.

use std::fmt::Write as _;

use super::printable::is_printable;

/// Python `repr(s)` for a `str`: single quotes unless the text holds a `'`
/// and no `"`; backslash, the chosen quote, `\t`, `\n`, `\r` escaped, and
/// every character that `str.isprintable()` calls non-printable written as
/// `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn py_repr_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_py_repr(&mut out, s);
    out
}

/// [`py_repr_str`] appended to `out`.
pub fn push_py_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if !c.is_ascii() && is_printable(c) => out.push(c),
            c => {
                let cp = u32::from(c);
                // Writing into a `String` cannot fail.
                let _ = if cp <= 0xff {
                    write!(out, "\\x{cp:02x}")
                } else if cp <= 0xffff {
                    write!(out, "\\u{cp:04x}")
                } else {
                    write!(out, "\\U{cp:08x}")
                };
            }
        }
    }
    out.push(quote);
}

/// Python's `repr()` of a `str`: single quotes unless the text holds
/// a `'` and no `"`; backslash, the quote, `\n`, `\r`, `\t` and every
/// character Python's `str.isprintable()` rejects escaped as Python does
/// (see [`py_repr_str`]).
pub fn py_str(s: &str) -> String {
    py_repr_str(s)
}

/// Python `repr(list_of_str)`: `['a', 'b']`.
pub fn py_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(py_str).collect();
    format!("[{}]", parts.join(", "))
}

/// Python `repr(set_of_str)`: `{'a', 'b'}` (a set's order is arbitrary in
/// Python; here it is the order given).
pub fn py_set<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(py_str).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Python's text for a bool (`True` / `False`), used inside messages.
pub fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

#[cfg(test)]
#[path = "repr_vectors.rs"]
mod vectors;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector computed by CPython (`gen_repr_vectors.py`).
    #[test]
    fn reprs_match_cpython_vectors() {
        for (input, want) in vectors::PY_REPR_VECTORS {
            assert_eq!(py_str(input), *want, "repr of {input:?}");
        }
        assert!(vectors::PY_REPR_VECTORS.len() > 100);
    }

    #[test]
    fn reprs_match_python() {
        assert_eq!(
            py_list(["user_role", "extra_info"]),
            "['user_role', 'extra_info']"
        );
        assert_eq!(py_set(["password"]), "{'password'}");
        assert_eq!(py_str("it's"), "\"it's\"");
        assert_eq!(py_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_str("x\\y\n\u{1}é"), "'x\\\\y\\n\\x01é'");
        assert_eq!(py_list(std::iter::empty()), "[]");
        assert_eq!(py_list(["a@example.org"]), "['a@example.org']");
        assert_eq!(py_str("o\u{2019}brien"), "'o\u{2019}brien'");
        assert_eq!(py_str("\u{85}"), "'\\x85'");
    }
}
