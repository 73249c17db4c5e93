//! JSON numbers as Python's `json.loads` makes them: a number written with a
//! `.`, an exponent, or as `NaN` / `Infinity` / `-Infinity` is a `float`;
//! every other number is an `int` of any size. The number's text decides,
//! so a 30-digit integer stays an `int` (serde_json keeps the text as sent,
//! feature `arbitrary_precision`), and comparisons are exact, as Python's.

use serde_json::Number;

/// A JSON number as the Python value `json.loads` gives.
#[derive(Debug, Clone, PartialEq)]
pub enum PyNumber {
    /// An `int`: its decimal digits with an optional `-`, never `-0`.
    Int(String),
    /// A `float` (NaN and the infinities included; too large a literal is an
    /// infinity, as in Python).
    Float(f64),
}

impl PyNumber {
    /// The Python value of `n`.
    pub fn of(n: &Number) -> Self {
        Self::of_text(&n.to_string())
    }

    /// The Python value of a JSON number written as `text`.
    pub fn of_text(text: &str) -> Self {
        let is_float = text == "NaN"
            || text.ends_with("Infinity")
            || text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        if is_float {
            // Rust parses `NaN`, `Infinity` and `-Infinity` too, and gives
            // an infinity for an out-of-range literal, as Python does.
            return PyNumber::Float(text.parse().unwrap_or(f64::NAN));
        }
        match text.strip_prefix('-') {
            Some(digits) if digits.bytes().all(|b| b == b'0') => PyNumber::Int("0".to_owned()),
            _ => PyNumber::Int(text.to_owned()),
        }
    }

    /// Python `bool(x)`.
    pub fn truthy(&self) -> bool {
        match self {
            PyNumber::Int(digits) => digits != "0",
            // NaN is truthy in Python.
            PyNumber::Float(f) => *f != 0.0,
        }
    }

    /// Python `==` between two numbers: ints exactly, floats as IEEE
    /// doubles, an int and a float by exact mathematical value.
    pub fn py_eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PyNumber::Int(a), PyNumber::Int(b)) => a == b,
            (PyNumber::Float(a), PyNumber::Float(b)) => a == b,
            (PyNumber::Int(i), PyNumber::Float(f)) | (PyNumber::Float(f), PyNumber::Int(i)) => {
                integral_decimal(*f).is_some_and(|d| d == *i)
            }
        }
    }
}

/// The exact decimal digits of `f` when it is a finite whole number.
fn integral_decimal(f: f64) -> Option<String> {
    if !f.is_finite() || f.fract() != 0.0 {
        return None;
    }
    if f.abs() < 9.2e18 {
        // Exact: a whole f64 below 2^63 is an i64.
        return Some(format!("{}", f as i64));
    }
    // f = mantissa * 2^exp with exp > 0: multiply out in base 10^9.
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1075;
    let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let mut limbs: Vec<u64> = vec![mantissa % 1_000_000_000, mantissa / 1_000_000_000];
    for _ in 0..exp.max(0) {
        let mut carry = 0u64;
        for limb in &mut limbs {
            let v = *limb * 2 + carry;
            *limb = v % 1_000_000_000;
            carry = v / 1_000_000_000;
        }
        if carry > 0 {
            limbs.push(carry);
        }
    }
    while limbs.len() > 1 && limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut out = String::from(if f < 0.0 { "-" } else { "" });
    let mut iter = limbs.iter().rev();
    if let Some(top) = iter.next() {
        out.push_str(&top.to_string());
    }
    for limb in iter {
        out.push_str(&format!("{limb:09}"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn py(text: &str) -> PyNumber {
        PyNumber::of(&text.parse::<Number>().expect("number"))
    }

    #[test]
    fn kinds_follow_the_text() {
        assert_eq!(py("1"), PyNumber::Int("1".into()));
        assert_eq!(py("-0"), PyNumber::Int("0".into()));
        assert_eq!(py("1.0"), PyNumber::Float(1.0));
        assert_eq!(py("1e2"), PyNumber::Float(100.0));
        assert_eq!(py("1E2"), PyNumber::Float(100.0));
    }

    #[test]
    fn whole_floats_have_exact_digits() {
        // Python: int(2.0**64), int(1e30), int(-1.5e300) // 10**280.
        assert_eq!(
            integral_decimal(18446744073709551616.0).as_deref(),
            Some("18446744073709551616")
        );
        assert_eq!(
            integral_decimal(1e30).as_deref(),
            Some("1000000000000000019884624838656")
        );
        assert_eq!(integral_decimal(-3.0).as_deref(), Some("-3"));
        assert_eq!(integral_decimal(0.5), None);
        assert_eq!(integral_decimal(f64::INFINITY), None);
        let max = integral_decimal(f64::MAX).expect("whole");
        assert_eq!(max.len(), 309);
        assert!(max.starts_with("17976931348623157"));
    }
}
