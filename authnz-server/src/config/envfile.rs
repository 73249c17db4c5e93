//! The envfile reader (PROTOCOL.md 7.3): the file is the default section of an INI
//! file as Python's `configparser` reads it, because that is what upstream
//! deployments and the `.env` written by auto-setup contain.
//!
//! Rules, all as `configparser` with its default settings:
//! - `KEY=VALUE` or `KEY: VALUE`; the key ends at the first `=` or `:`; key
//!   and value are trimmed; keys are case-insensitive (stored upper-case).
//! - Lines whose first non-blank character is `#` or `;` are comments; there
//!   are no inline comments (`A=1 # x` has the value `1 # x`).
//! - A line indented deeper than its key line continues the previous value
//!   (joined with `\n`); blank lines inside such a value are kept, trailing
//!   ones dropped.
//! - Quotes are kept as written.
//! - A duplicate key, a line without `=`/`:` and an empty key are errors.
//! - A `[DEFAULT]` header is accepted and ignored; any other section header
//!   is an error (upstream would silently ignore the entries below it).
//! - Interpolation is done when a value is read (like `configparser`, so a
//!   stray `%` in an unrelated key never stops start-up): `%%` is `%`,
//!   `%(name)s` is the value of key `name` of the same file (case-insensitive,
//!   nested up to 10 levels), any other `%` is an error that names the key
//!   and the line but never echoes the value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::ConfigError;

/// Nesting limit of `%(name)s` references (`configparser`'s
/// `MAX_INTERPOLATION_DEPTH`).
const MAX_INTERPOLATION_DEPTH: usize = 10;

#[derive(Debug, Clone)]
struct Entry {
    /// 1-based line of the key, for messages.
    line: usize,
    /// The value's lines (first line plus continuation lines).
    lines: Vec<String>,
}

/// A parsed envfile: raw (not yet interpolated) values by upper-cased key.
#[derive(Debug, Clone)]
pub struct Envfile {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

impl Envfile {
    /// Reads and parses the envfile at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            what: "envfile",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses envfile text; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let error = |line: usize, reason: String| ConfigError::Envfile {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        // The key whose value continuation lines extend, and its indent.
        let mut current: Option<String> = None;
        let mut indent_level = 0usize;

        for (index, raw_line) in text.lines().enumerate() {
            let line_no = index + 1;
            let stripped = raw_line.trim();
            if stripped.starts_with('#') || stripped.starts_with(';') {
                continue;
            }
            if stripped.is_empty() {
                if let Some(entry) = current.as_ref().and_then(|k| entries.get_mut(k)) {
                    entry.lines.push(String::new());
                }
                continue;
            }
            let indent = raw_line.len() - raw_line.trim_start().len();
            if let Some(entry) = current.as_ref().and_then(|k| entries.get_mut(k))
                && indent > indent_level
            {
                entry.lines.push(stripped.to_owned());
                continue;
            }
            indent_level = indent;

            if let Some(header) = section_header(stripped) {
                if header == "DEFAULT" {
                    current = None;
                    continue;
                }
                return Err(error(
                    line_no,
                    format!(
                        "section [{header}] is not supported: an envfile holds only KEY=VALUE lines"
                    ),
                ));
            }
            let Some(split) = stripped.find(['=', ':']) else {
                return Err(error(
                    line_no,
                    "expected KEY=VALUE or KEY: VALUE".to_owned(),
                ));
            };
            let key = stripped[..split].trim_end();
            if key.is_empty() {
                return Err(error(
                    line_no,
                    "the key before '=' or ':' is empty".to_owned(),
                ));
            }
            let key = key.to_uppercase();
            let value = stripped[split + 1..].trim().to_owned();
            if let Some(previous) = entries.get(&key) {
                return Err(error(
                    line_no,
                    format!("key {key} is set twice (first on line {})", previous.line),
                ));
            }
            entries.insert(
                key.clone(),
                Entry {
                    line: line_no,
                    lines: vec![value],
                },
            );
            current = Some(key);
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All keys, upper-cased.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The interpolated value of `key` (case-insensitive), `None` if absent.
    pub fn get(&self, key: &str) -> Result<Option<String>, ConfigError> {
        let key = key.to_uppercase();
        let Some(entry) = self.entries.get(&key) else {
            return Ok(None);
        };
        let mut out = String::new();
        self.interpolate(&joined(entry), 1, &mut out)
            .map_err(|reason| ConfigError::Envfile {
                path: self.path.clone(),
                line: entry.line,
                reason: format!("value of {key}: {reason}"),
            })?;
        Ok(Some(out))
    }

    fn interpolate(&self, mut rest: &str, depth: usize, out: &mut String) -> Result<(), String> {
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(format!(
                "%(name)s references nest deeper than {MAX_INTERPOLATION_DEPTH} levels"
            ));
        }
        while let Some(p) = rest.find('%') {
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            if let Some(tail) = rest.strip_prefix("%%") {
                out.push('%');
                rest = tail;
            } else if let Some(tail) = rest.strip_prefix("%(") {
                let reference = tail
                    .find(')')
                    .filter(|&end| end > 0 && tail[end + 1..].starts_with('s'))
                    .map(|end| (&tail[..end], &tail[end + 2..]));
                let Some((name, tail)) = reference else {
                    return Err(
                        "bad interpolation reference: write %(name)s, or %% for a literal %"
                            .to_owned(),
                    );
                };
                let Some(entry) = self.entries.get(&name.to_uppercase()) else {
                    return Err(format!(
                        "%({name})s refers to a key that is not in the file"
                    ));
                };
                let value = joined(entry);
                if value.contains('%') {
                    self.interpolate(&value, depth + 1, out)?;
                } else {
                    out.push_str(&value);
                }
                rest = tail;
            } else {
                return Err(
                    "'%' must be followed by '%' or '(' (write a literal % as %%)".to_owned(),
                );
            }
        }
        out.push_str(rest);
        Ok(())
    }
}

/// `configparser` joins continuation lines with `\n` and strips trailing
/// whitespace (the blank lines kept inside a value).
fn joined(entry: &Entry) -> String {
    entry.lines.join("\n").trim_end().to_owned()
}

/// `[name]` at the start of a stripped line (`configparser`'s `SECTCRE`,
/// greedy up to the last `]`).
fn section_header(stripped: &str) -> Option<&str> {
    let inner = stripped.strip_prefix('[')?;
    let end = inner.rfind(']')?;
    (end > 0).then(|| &inner[..end])
}

/// Escapes a value for writing into an envfile: `%` becomes `%%`. Values
/// that would not read back unchanged (leading or trailing whitespace, line
/// breaks) are refused.
pub fn escape_value(value: &str) -> Result<String, String> {
    if value.contains(['\n', '\r']) {
        return Err("contains a line break".to_owned());
    }
    if value.trim() != value {
        return Err("has leading or trailing whitespace".to_owned());
    }
    Ok(value.replace('%', "%%"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Envfile {
        Envfile::parse(Path::new("/t/.env"), text).unwrap()
    }

    fn get(file: &Envfile, key: &str) -> Option<String> {
        file.get(key).unwrap()
    }

    #[test]
    fn key_value_forms_and_trimming() {
        let f = parse("A=1\nB : two words  \nC=x=y\nD: a:b\nE=\nF =  \"quoted\" \n");
        assert_eq!(get(&f, "A").as_deref(), Some("1"));
        assert_eq!(get(&f, "B").as_deref(), Some("two words"));
        assert_eq!(get(&f, "C").as_deref(), Some("x=y"));
        assert_eq!(get(&f, "D").as_deref(), Some("a:b"));
        assert_eq!(get(&f, "E").as_deref(), Some(""));
        assert_eq!(get(&f, "F").as_deref(), Some("\"quoted\""));
        assert_eq!(get(&f, "missing"), None);
    }

    #[test]
    fn key_split_at_first_separator_of_either_kind() {
        let f = parse("URL: postgresql://u:p@h/db\nX=a:b\n");
        assert_eq!(get(&f, "URL").as_deref(), Some("postgresql://u:p@h/db"));
        // `configparser` splits at the first '=' or ':', whichever comes first.
        let f = parse("K:V=W\n");
        assert_eq!(get(&f, "K").as_deref(), Some("V=W"));
    }

    #[test]
    fn keys_are_case_insensitive() {
        let f = parse("authnzerver_port=1\n");
        assert_eq!(get(&f, "AUTHNZERVER_PORT").as_deref(), Some("1"));
        assert_eq!(get(&f, "Authnzerver_Port").as_deref(), Some("1"));
        let err = Envfile::parse(Path::new("/t/.env"), "a=1\nA=2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "envfile /t/.env: line 2: key A is set twice (first on line 1)"
        );
    }

    #[test]
    fn comments_and_blank_lines() {
        let f = parse("# c\n; c\n   # indented comment\n\nA=1 # not a comment\n");
        assert_eq!(get(&f, "A").as_deref(), Some("1 # not a comment"));
        assert_eq!(f.keys().count(), 1);
    }

    #[test]
    fn continuation_lines() {
        let f = parse("A=first\n  second\n\n  third\n\nB=2\n");
        assert_eq!(get(&f, "A").as_deref(), Some("first\nsecond\n\nthird"));
        assert_eq!(get(&f, "B").as_deref(), Some("2"));
        // Comments inside a continued value are skipped.
        let f = parse("A=1\n  # c\n  2\n");
        assert_eq!(get(&f, "A").as_deref(), Some("1\n2"));
        // An indented key line sets the level its continuations must exceed.
        let f = parse("  A=1\n  B=2\n    more\n");
        assert_eq!(get(&f, "A").as_deref(), Some("1"));
        assert_eq!(get(&f, "B").as_deref(), Some("2\nmore"));
    }

    #[test]
    fn crlf_and_bom() {
        let f = parse("\u{feff}A=1\r\nB=2\r\n");
        assert_eq!(get(&f, "A").as_deref(), Some("1"));
        assert_eq!(get(&f, "B").as_deref(), Some("2"));
    }

    #[test]
    fn percent_interpolation() {
        let f = parse("A=50%%\nB=%(a)s and %(C)s\nC=%(a)s!\nD=100%\nE=%(nope)s\nF=%(x\nG=%(g)s\n");
        assert_eq!(get(&f, "A").as_deref(), Some("50%"));
        assert_eq!(get(&f, "B").as_deref(), Some("50% and 50%!"));
        let err = f.get("D").unwrap_err().to_string();
        assert_eq!(
            err,
            "envfile /t/.env: line 4: value of D: '%' must be followed by '%' or '(' (write a literal % as %%)"
        );
        let err = f.get("E").unwrap_err().to_string();
        assert!(
            err.contains("%(nope)s refers to a key that is not in the file"),
            "{err}"
        );
        let err = f.get("F").unwrap_err().to_string();
        assert!(err.contains("bad interpolation reference"), "{err}");
        let err = f.get("G").unwrap_err().to_string();
        assert!(err.contains("nest deeper than 10"), "{err}");
    }

    #[test]
    fn bad_percent_in_an_unread_key_is_harmless() {
        let f = parse("OTHER=100%\nA=1\n");
        assert_eq!(get(&f, "A").as_deref(), Some("1"));
    }

    #[test]
    fn malformed_lines_are_errors() {
        let err = Envfile::parse(Path::new("/t/.env"), "A=1\njust words\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "envfile /t/.env: line 2: expected KEY=VALUE or KEY: VALUE"
        );
        let err = Envfile::parse(Path::new("/t/.env"), "=1\n").unwrap_err();
        assert!(err.to_string().contains("key before"));
        let err = Envfile::parse(Path::new("/t/.env"), "[server]\nA=1\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("section [server] is not supported")
        );
        let f = parse("[DEFAULT]\nA=1\n");
        assert_eq!(get(&f, "A").as_deref(), Some("1"));
    }

    #[test]
    fn escape_round_trips() {
        let value = "/srv/100%/dir";
        let f = parse(&format!("A={}\n", escape_value(value).unwrap()));
        assert_eq!(get(&f, "A").as_deref(), Some(value));
        assert!(escape_value(" x").is_err());
        assert!(escape_value("a\nb").is_err());
    }
}
