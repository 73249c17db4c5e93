//! Python's `int()` and `float()` conversions of request values, as the
//! access and limit decisions apply them: `int(" 3")`, `int(3.9)`,
//! `int(True)`, `float("1e3")`.

use std::cmp::Ordering;

use serde_json::Value;

/// A converted number: Python `int` (held as `i128`, saturating far beyond
/// anything a limit can be) or `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn cmp(&self, other: &Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(b)),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(b),
            // Not produced by the limit decision (value and limit are converted
            // to the same type), but well defined anyway.
            (Num::Int(a), Num::Float(b)) => (*a as f64).partial_cmp(b),
            (Num::Float(a), Num::Int(b)) => a.partial_cmp(&(*b as f64)),
        }
    }

    /// Python `<` (false when either side is NaN).
    pub fn lt(&self, other: &Num) -> bool {
        self.cmp(other) == Some(Ordering::Less)
    }

    /// Python `>` (false when either side is NaN).
    pub fn gt(&self, other: &Num) -> bool {
        self.cmp(other) == Some(Ordering::Greater)
    }
}

/// Python `int(value)` for a JSON value, or `None` where Python raises.
pub fn to_int(value: &Value) -> Option<Num> {
    match value {
        Value::Bool(b) => Some(Num::Int(i128::from(*b))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Num::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(Num::Int(i128::from(u)))
            } else {
                let f = n.as_f64()?;
                // int(inf) and int(nan) raise; the rest truncate toward zero.
                f.is_finite().then(|| Num::Int(f.trunc() as i128))
            }
        }
        Value::String(s) => py_int_text(s).map(Num::Int),
        _ => None,
    }
}

/// Python `float(value)` for a JSON value, or `None` where Python raises.
pub fn to_float(value: &Value) -> Option<Num> {
    match value {
        Value::Bool(b) => Some(Num::Float(if *b { 1.0 } else { 0.0 })),
        Value::Number(n) => n.as_f64().map(Num::Float),
        Value::String(s) => py_float_text(s).map(Num::Float),
        _ => None,
    }
}

/// Remove Python's digit-group underscores (`1_000`), which must sit between
/// two digits; `None` if one does not.
fn strip_underscores(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let before = i.checked_sub(1).and_then(|j| bytes.get(j));
            let after = bytes.get(i + 1);
            if !(before.is_some_and(u8::is_ascii_digit) && after.is_some_and(u8::is_ascii_digit)) {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// Python `int(text)`: surrounding whitespace, an optional sign, decimal
/// digits with optional single underscores between them. Values beyond
/// `i128` saturate.
pub fn py_int_text(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    let digits = strip_underscores(digits)?;
    let mut value: i128 = 0;
    for b in digits.bytes() {
        value = value
            .saturating_mul(10)
            .saturating_add(i128::from(b - b'0'));
    }
    Some(if negative { -value } else { value })
}

/// Python `float(text)`: surrounding whitespace, decimal or exponent forms,
/// `inf`/`infinity`/`nan` in any case with an optional sign.
pub fn py_float_text(text: &str) -> Option<f64> {
    let t = text.trim();
    let unsigned = t.trim_start_matches(['+', '-']);
    if t.len() - unsigned.len() > 1 {
        return None;
    }
    let lower = unsigned.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return t.to_ascii_lowercase().parse().ok();
    }
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-' | b'_'))
    {
        return None;
    }
    strip_underscores(t)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_int() {
        let int = |v: Value| to_int(&v);
        assert_eq!(int(json!(3.9)), Some(Num::Int(3)));
        assert_eq!(int(json!(-3.9)), Some(Num::Int(-3)));
        assert_eq!(int(json!("12")), Some(Num::Int(12)));
        assert_eq!(int(json!(" +12 ")), Some(Num::Int(12)));
        assert_eq!(int(json!("1_000")), Some(Num::Int(1000)));
        assert_eq!(int(json!(true)), Some(Num::Int(1)));
        assert_eq!(
            int(json!(18446744073709551615u64)),
            Some(Num::Int(18446744073709551615))
        );
        for bad in [
            json!("1.5"),
            json!(""),
            json!("1__0"),
            json!("_1"),
            json!("0x10"),
            json!([1]),
            json!({}),
            json!("- 1"),
        ] {
            assert_eq!(int(bad.clone()), None, "{bad}");
        }
    }

    #[test]
    fn python_float() {
        let float = |v: Value| to_float(&v);
        assert_eq!(float(json!("1e3")), Some(Num::Float(1000.0)));
        assert_eq!(float(json!(" .5 ")), Some(Num::Float(0.5)));
        assert_eq!(float(json!(2)), Some(Num::Float(2.0)));
        assert_eq!(float(json!(false)), Some(Num::Float(0.0)));
        assert_eq!(
            float(json!("-Infinity")),
            Some(Num::Float(f64::NEG_INFINITY))
        );
        assert!(matches!(float(json!("nan")), Some(Num::Float(f)) if f.is_nan()));
        for bad in [
            json!("abc"),
            json!(""),
            json!("--1"),
            json!(null),
            json!([]),
        ] {
            assert_eq!(float(bad.clone()), None, "{bad}");
        }
        // NaN compares false both ways.
        let nan = Num::Float(f64::NAN);
        assert!(!nan.lt(&Num::Float(1.0)) && !nan.gt(&Num::Float(1.0)));
    }
}
