//! Client-supplied text made safe for a log line.
//!
//! A request can carry any characters: a `\n` in a request name would start
//! a forged log line, a NUL or an escape sequence would reach the log file or
//! the terminal. Every client string that reaches a log goes through
//! [`log_escape`] (or [`LogText`]): it is written as Python's `repr()` would
//! write it (quoted, every control and other non-printable character
//! escaped), cut to [`LOG_TEXT_MAX_CHARS`] characters.

use std::fmt;

use super::repr::push_py_repr;

/// At most this many characters of a client string are logged; the rest is
/// replaced by a count.
pub const LOG_TEXT_MAX_CHARS: usize = 128;

/// `text` quoted and escaped for a log line, cut to
/// [`LOG_TEXT_MAX_CHARS`] characters: `'req\nFAKE LINE\x00'`, or
/// `'aaaa…'...(+872 chars)` when cut. The result holds only printable
/// characters.
pub fn log_escape(text: &str) -> String {
    let cut = text
        .char_indices()
        .nth(LOG_TEXT_MAX_CHARS)
        .map_or(text.len(), |(i, _)| i);
    let (kept, rest) = text.split_at(cut);
    let mut out = String::with_capacity(kept.len() + 16);
    push_py_repr(&mut out, kept);
    if !rest.is_empty() {
        out.push_str(&format!("...(+{} chars)", rest.chars().count()));
    }
    out
}

/// A client string that displays as [`log_escape`] of itself, for tracing
/// fields (`request = %LogText(name)`) and error messages that may reach a
/// log.
#[derive(Debug, Clone, Copy)]
pub struct LogText<'a>(pub &'a str);

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&log_escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_line_breaks_are_escaped() {
        assert_eq!(log_escape("req\nFAKE LINE\u{0}"), "'req\\nFAKE LINE\\x00'");
        assert_eq!(
            log_escape("a\r\u{1b}[31m\u{2028}\u{202e}\u{85}"),
            "'a\\r\\x1b[31m\\u2028\\u202e\\x85'"
        );
        assert_eq!(log_escape("é😀"), "'é😀'");
        assert_eq!(LogText("x\ty").to_string(), "'x\\ty'");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "a".repeat(LOG_TEXT_MAX_CHARS + 1000);
        let logged = log_escape(&long);
        assert_eq!(
            logged,
            format!("'{}'...(+1000 chars)", "a".repeat(LOG_TEXT_MAX_CHARS))
        );
        let exact = "b".repeat(LOG_TEXT_MAX_CHARS);
        assert_eq!(log_escape(&exact), format!("'{exact}'"));
    }
}
