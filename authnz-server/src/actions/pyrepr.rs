//! Python `repr()` of strings, lists and sets, for the failure reasons that
//! embed it (spec Q-19): `['user_role', 'extra_info']`, `{'password'}`.

/// Python's `repr()` of a `str` (Q-19): single quotes unless the text holds
/// a `'` and no `"`; backslash, the quote, `\n`, `\r`, `\t` and other
/// non-printable characters escaped as Python does.
pub fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
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
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

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
