//! Parsers for item values by their [`Kind`]: Python-`int()`-compatible
//! integers with ranges, 0/1 flags, durations, choices, the host allow-list,
//! the listen address, URLs and files. Each returns the reason text of a
//! [`super::ConfigError::Invalid`]; the loader adds the item's name.
//! [`ItemValues`] holds the parsed value of every item that is set.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::database::DatabaseTarget;
use super::items::{Item, Kind, UrlKind};

/// The parsed value of one item, by its [`Kind`].
#[derive(Clone, PartialEq, Eq)]
pub enum ItemValue {
    /// [`Kind::Text`].
    Text(String),
    /// [`Kind::Password`], [`Kind::FileReadableSecret`] (resolved) and the
    /// Redis URL: never printed.
    Secret(String),
    /// [`Kind::Bool`].
    Bool(bool),
    /// [`Kind::Int`].
    Int(i64),
    /// [`Kind::Seconds`], [`Kind::Millis`].
    Duration(Duration),
    /// [`Kind::Choice`]: the matching word of the table.
    Choice(&'static str),
    /// [`Kind::HostList`].
    Hosts(Vec<String>),
    /// [`Kind::DatabaseUrl`].
    Database(DatabaseTarget),
    /// [`Kind::ExistingFile`], [`Kind::Dir`].
    Path(PathBuf),
}

impl fmt::Debug for ItemValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => write!(f, "{t:?}"),
            Self::Secret(_) => f.write_str("<redacted>"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(n) => write!(f, "{n}"),
            Self::Duration(d) => write!(f, "{d:?}"),
            Self::Choice(c) => f.write_str(c),
            Self::Hosts(h) => write!(f, "{h:?}"),
            Self::Database(d) => write!(f, "{d}"),
            Self::Path(p) => write!(f, "{p:?}"),
        }
    }
}

/// Parses `text` as a value of `kind`. A [`Kind::FileReadableSecret`] is
/// taken as written here (the loader resolves a file name first).
pub fn parse_kind(kind: Kind, text: &str) -> Result<ItemValue, String> {
    Ok(match kind {
        Kind::Text => ItemValue::Text(text.to_owned()),
        Kind::Password | Kind::FileReadableSecret => ItemValue::Secret(text.to_owned()),
        Kind::Bool => ItemValue::Bool(parse_debugmode(text)?),
        Kind::Int { min, max, .. } => ItemValue::Int(parse_int_in(text, min, max)?),
        Kind::Seconds { min, max } => {
            ItemValue::Duration(Duration::from_secs(parse_int_in(text, min, max)?))
        }
        Kind::Millis { min, max } => {
            ItemValue::Duration(Duration::from_millis(parse_int_in(text, min, max)?))
        }
        Kind::Choice(words) => ItemValue::Choice(parse_choice(words, text)?),
        Kind::HostList => ItemValue::Hosts(parse_allowedhosts(text)?),
        Kind::ListenAddress => ItemValue::Text(parse_listen(text)?),
        Kind::DatabaseUrl => ItemValue::Database(DatabaseTarget::parse(text)?),
        Kind::ExistingFile => {
            let path = PathBuf::from(text);
            if !path.is_file() {
                return Err(format!("no such file: {}", path.display()));
            }
            ItemValue::Path(path)
        }
        Kind::Dir => ItemValue::Path(PathBuf::from(text)),
        Kind::Url(UrlKind::Http) => ItemValue::Text(parse_http_url(text)?),
        Kind::Url(UrlKind::HttpWithHost) => ItemValue::Text(parse_endpoint(text)?),
        Kind::Url(UrlKind::Redis) => ItemValue::Secret(parse_redis_url(text)?),
    })
}

/// One of `words`, case-insensitive, surrounding whitespace ignored:
/// `expected a, b or c, got "x"` otherwise.
pub fn parse_choice(words: &'static [&'static str], text: &str) -> Result<&'static str, String> {
    let wanted = text.trim().to_ascii_lowercase();
    words.iter().copied().find(|w| *w == wanted).ok_or_else(|| {
        let list = match words.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        format!("expected {list}, got {text:?}")
    })
}

fn parse_http_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_owned())
    } else {
        Err("not an http:// or https:// URL".to_owned())
    }
}

/// An `http://` or `https://` URL with a host.
pub fn parse_endpoint(text: &str) -> Result<String, String> {
    let t = text.trim();
    let rest = t
        .strip_prefix("https://")
        .or_else(|| t.strip_prefix("http://"))
        .ok_or_else(|| format!("expected an http:// or https:// URL, got {text:?}"))?;
    if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
        return Err(format!(
            "expected an http:// or https:// URL with a host, got {text:?}"
        ));
    }
    Ok(t.to_owned())
}

fn parse_redis_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    if ["redis://", "rediss://", "redis+unix://", "unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        Ok(url.to_owned())
    } else {
        Err("not a redis://, rediss:// or unix:// URL".to_owned())
    }
}

/// The parsed value of every item that is set, with the layer it came from.
/// Read with the typed getters (`int`, `duration`, ...): each returns `None`
/// when the item is unset or the getter does not match its kind (a test
/// checks each item's default against its kind).
#[derive(Debug, Clone, Default)]
pub struct ItemValues {
    values: BTreeMap<&'static str, (ItemValue, Option<String>)>,
}

impl ItemValues {
    pub(super) fn insert(&mut self, item: &Item, value: ItemValue, origin: Option<String>) {
        self.values.insert(item.key, (value, origin));
    }

    /// The parsed value of `item`, if set.
    pub fn get(&self, item: &Item) -> Option<&ItemValue> {
        self.values.get(item.key).map(|(value, _)| value)
    }

    /// The layer `item`'s value came from, when known.
    pub fn origin(&self, item: &Item) -> Option<&str> {
        self.values
            .get(item.key)
            .and_then(|(_, origin)| origin.as_deref())
    }

    /// A text value (text, listen address, URL, choice, secret).
    pub fn text(&self, item: &Item) -> Option<&str> {
        match self.get(item)? {
            ItemValue::Text(t) | ItemValue::Secret(t) => Some(t),
            ItemValue::Choice(c) => Some(c),
            _ => None,
        }
    }

    /// A [`Kind::Bool`] value.
    pub fn flag(&self, item: &Item) -> Option<bool> {
        match self.get(item)? {
            ItemValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A [`Kind::Int`] value.
    pub fn int(&self, item: &Item) -> Option<i64> {
        match self.get(item)? {
            ItemValue::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A [`Kind::Seconds`] or [`Kind::Millis`] value.
    pub fn duration(&self, item: &Item) -> Option<Duration> {
        match self.get(item)? {
            ItemValue::Duration(d) => Some(*d),
            _ => None,
        }
    }

    /// A [`Kind::ExistingFile`] or [`Kind::Dir`] value.
    pub fn path(&self, item: &Item) -> Option<&Path> {
        match self.get(item)? {
            ItemValue::Path(p) => Some(p),
            _ => None,
        }
    }
}

/// Parses an integer as Python's `int(text)` does for the decimal strings
/// upstream configs contain: surrounding whitespace, an optional sign, and
/// single underscores between digits are allowed.
pub fn parse_python_int(text: &str) -> Result<i128, String> {
    let bad = || format!("expected an integer, got {text:?}");
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(bad());
    }
    let magnitude: i128 = digits
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .parse()
        .map_err(|_| format!("expected an integer of reasonable size, got {text:?}"))?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Parses an integer and checks that it lies in `min..=max`.
pub fn parse_int_in<T>(text: &str, min: T, max: T) -> Result<T, String>
where
    T: Copy + Into<i128> + TryFrom<i128> + std::fmt::Display,
{
    let value = parse_python_int(text)?;
    if value < min.into() || value > max.into() {
        return Err(format!(
            "expected an integer from {min} to {max}, got {text:?}"
        ));
    }
    T::try_from(value).map_err(|_| format!("expected an integer from {min} to {max}, got {text:?}"))
}

/// `debugmode`: `0` or `1` (as integers, so `01` and ` 1 ` pass), or
/// `true`/`false` (a TOML boolean arrives as one of these).
pub fn parse_debugmode(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => return Ok(true),
        "false" => return Ok(false),
        _ => {}
    }
    match parse_python_int(text) {
        Ok(0) => Ok(false),
        Ok(1) => Ok(true),
        _ => Err(format!("expected 0 or 1, got {text:?}")),
    }
}

/// `allowedhosts`: split on `;`, pieces trimmed, empty pieces dropped
/// (PROTOCOL.md 1.2). At least one host must remain.
pub fn parse_allowedhosts(text: &str) -> Result<Vec<String>, String> {
    let hosts: Vec<String> = text
        .split(';')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    if hosts.is_empty() {
        return Err(format!(
            "expected host names separated by ';', got {text:?}"
        ));
    }
    Ok(hosts)
}

/// `listen`: an IP address (an IPv6 address may be bracketed; the brackets
/// are removed) or a host name.
pub fn parse_listen(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(trimmed);
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Ok(unbracketed.to_owned());
    }
    let is_host_name = !trimmed.is_empty()
        && trimmed.len() <= 253
        && !trimmed.starts_with(['-', '.'])
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if is_host_name {
        Ok(trimmed.to_owned())
    } else {
        Err(format!(
            "expected an IP address or a host name, got {text:?}"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn python_int_forms() {
        assert_eq!(parse_python_int("42").unwrap(), 42);
        assert_eq!(parse_python_int(" +7\n").unwrap(), 7);
        assert_eq!(parse_python_int("-3").unwrap(), -3);
        assert_eq!(parse_python_int("010").unwrap(), 10);
        assert_eq!(parse_python_int("1_000").unwrap(), 1000);
        for bad in ["", "abc", "1.5", "1__0", "_1", "1_", "0x10", "- 1", "1e3"] {
            assert!(parse_python_int(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_python_int("abc").unwrap_err(),
            "expected an integer, got \"abc\""
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_int_in::<u16>("65535", 0, u16::MAX).unwrap(), 65535);
        assert_eq!(
            parse_int_in::<u16>("65536", 0, u16::MAX).unwrap_err(),
            "expected an integer from 0 to 65535, got \"65536\""
        );
        assert!(parse_int_in::<u32>("0", 1, u32::MAX).is_err());
        assert!(parse_int_in::<i64>("99999999999999999999999999999999999999999", 0, 10).is_err());
    }

    #[test]
    fn debugmode_values() {
        assert!(!parse_debugmode("0").unwrap());
        assert!(parse_debugmode(" 1").unwrap());
        assert!(parse_debugmode("true").unwrap());
        assert!(!parse_debugmode("False").unwrap());
        assert!(parse_debugmode("2").is_err());
        assert!(parse_debugmode("yes").is_err());
    }

    #[test]
    fn allowedhosts_split() {
        assert_eq!(
            parse_allowedhosts(" localhost ; ;127.0.0.1;").unwrap(),
            vec!["localhost", "127.0.0.1"]
        );
        assert!(parse_allowedhosts(" ; ").is_err());
    }

    #[test]
    fn listen_values() {
        assert_eq!(parse_listen("0.0.0.0").unwrap(), "0.0.0.0");
        assert_eq!(parse_listen("::1").unwrap(), "::1");
        assert_eq!(parse_listen("[::]").unwrap(), "::");
        assert_eq!(parse_listen("auth.internal").unwrap(), "auth.internal");
        assert!(parse_listen("a b").is_err());
        assert!(parse_listen("-x").is_err());
    }
}
