//! Python `repr()` of strings, lists and sets, for the failure reasons that
//! embed it (spec Q-19): `['user_role', 'extra_info']`, `{'password'}`.

/// Python's `repr()` of a `str`: single quotes unless the text holds
/// a `'` and no `"`; backslash, the quote, `\n`, `\r`, `\t` and every
/// character Python's `str.isprintable()` rejects escaped as Python does
/// (see [`authnz_api::pyrepr`]).
pub fn py_str(s: &str) -> String {
    authnz_api::pyrepr::py_repr_str(s)
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
#[path = "pyrepr_vectors.rs"]
mod vectors;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector computed by CPython (`gen_pyrepr_vectors.py`).
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
