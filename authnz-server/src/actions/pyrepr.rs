//! Python `repr()` of strings, lists and sets, for the failure reasons that
//! embed it (spec Q-19): `['user_role', 'extra_info']`, `{'password'}`.

/// Python `repr(str)`: single quotes unless the text has a `'` and no `"`;
/// backslashes, the chosen quote and control characters escaped.
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
    }
}
