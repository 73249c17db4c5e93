//! Parsers for item values that are not secrets: Python-`int()`-compatible
//! integers with ranges, the 0/1 debug flag, the host allow-list and the
//! listen address. Each returns the reason text of a
//! [`super::ConfigError::Invalid`]; the loader adds the item's name.

use std::net::IpAddr;

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
/// (spec 1.2). At least one host must remain.
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
