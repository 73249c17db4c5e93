//! Python's `repr()` of a `str`, shared by the failure texts that embed it
//! and by [`crate::logtext`], which writes client text into log lines.

use std::fmt::Write as _;

use crate::pyprintable::is_printable;

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
