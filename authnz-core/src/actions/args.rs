//! Typed request arguments: the machinery behind the argument structs of
//! `super::request_args` (one per request type), and the 64-bit range check.
//!
//! After the schema check (and [`check_int_ranges`]) passed, the dispatcher
//! decodes the body into the handler's argument struct ([`Decode`]); each
//! field's Rust type ([`FromArg`]) says what the schema guaranteed: a
//! required `str` is a `&str`, a required `int` an `i64` (a boolean is 0 or
//! 1, Python's `bool` being an `int`), a required `bool` a `bool`, a
//! required `dict` a `&Map`, a required argument of a looser spec the
//! `&Value` as given, an optional one the `Option<&Value>` as given (absent
//! or any falsy value is unchecked by the schema). A body that does not fit
//! is refused with an error, never read with a default.

use authnz_proto::request::RequestType;
use authnz_proto::schema::{BOOL, DICT, INT, Param, STR};
use serde_json::{Map, Value};

use super::ActionError;

/// An argument that passed an `int` spec: integers, and booleans as 0/1
/// (Python `bool` is an `int`).
pub fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A field of an argument struct: its wire name, and whether its Rust type
/// can hold a parameter ([`FromArg::fits`]).
pub type Field = (&'static str, fn(&Param) -> bool);

/// The typed arguments of one request type, decoded from its body after the
/// schema check (and the 64-bit range check) passed. Implemented by
/// [`request_args!`] for each struct of `super::request_args`.
pub trait Decode<'a>: Sized {
    /// The request type whose arguments these are.
    const KIND: RequestType;
    /// Each field: its wire name, and whether the field's Rust type can hold
    /// a parameter (its spec, required or not). A test ties these to the
    /// request table.
    const FIELDS: &'static [Field];
    /// Decode a schema-checked body. A body that did not pass the schema is
    /// refused with an error, never read with defaults.
    fn decode(body: &'a Map<String, Value>) -> Result<Self, ActionError>;
}

/// A field type of an argument struct: what it holds and how it is read.
pub trait FromArg<'a>: Sized {
    /// Whether this type holds the parameter `p` without loss: its spec
    /// guarantees the type, and it is required unless the type is optional.
    fn fits(p: &Param) -> bool;
    /// Read the argument `name` (`None`: absent from the body).
    fn from_arg(name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError>;
}

/// The fields of the argument struct `T` (for the tie test).
#[cfg(test)]
pub(crate) fn fields_of<'a, T: Decode<'a>>() -> &'static [Field] {
    T::FIELDS
}

/// The error for a body the schema check should have refused.
fn unchecked(name: &'static str) -> ActionError {
    ActionError::internal(
        "argument decoding",
        format!("'{name}' is not what the schema checked"),
    )
}

/// A required `str`.
impl<'a> FromArg<'a> for &'a str {
    fn fits(p: &Param) -> bool {
        p.required && p.spec == STR
    }
    fn from_arg(name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError> {
        v.and_then(Value::as_str).ok_or_else(|| unchecked(name))
    }
}

/// A required `int` (a boolean is 0 or 1, as in Python).
impl<'a> FromArg<'a> for i64 {
    fn fits(p: &Param) -> bool {
        p.required && p.spec == INT
    }
    fn from_arg(name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError> {
        v.and_then(py_int).ok_or_else(|| unchecked(name))
    }
}

/// A required `bool`.
impl<'a> FromArg<'a> for bool {
    fn fits(p: &Param) -> bool {
        p.required && p.spec == BOOL
    }
    fn from_arg(name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError> {
        v.and_then(Value::as_bool).ok_or_else(|| unchecked(name))
    }
}

/// A required `dict`.
impl<'a> FromArg<'a> for &'a Map<String, Value> {
    fn fits(p: &Param) -> bool {
        p.required && p.spec == DICT
    }
    fn from_arg(name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError> {
        v.and_then(Value::as_object).ok_or_else(|| unchecked(name))
    }
}

/// A required argument of any spec, as given: for specs that accept more
/// than one type (`Any`, `["int", "None"]`, `["str", "list"]`, ...), which
/// the handler interprets itself.
impl<'a> FromArg<'a> for &'a Value {
    fn fits(p: &Param) -> bool {
        p.required
    }
    fn from_arg(name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError> {
        v.ok_or_else(|| unchecked(name))
    }
}

/// An optional argument, as given (`None`: absent). The schema checks an
/// optional argument only when it is truthy, so a falsy one may be of any
/// type: the handler decides what it means.
impl<'a> FromArg<'a> for Option<&'a Value> {
    fn fits(p: &Param) -> bool {
        !p.required
    }
    fn from_arg(_name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError> {
        Ok(v)
    }
}

/// A required `int` together with the value given, for replies that echo
/// the argument as sent (`true` stays `true`).
#[derive(Debug, Clone, Copy)]
pub struct IntArg<'a> {
    /// The integer (a boolean as 0 or 1).
    pub value: i64,
    /// The JSON value as sent.
    pub given: &'a Value,
}

impl<'a> FromArg<'a> for IntArg<'a> {
    fn fits(p: &Param) -> bool {
        i64::fits(p)
    }
    fn from_arg(name: &'static str, v: Option<&'a Value>) -> Result<Self, ActionError> {
        let given = v.ok_or_else(|| unchecked(name))?;
        Ok(IntArg {
            value: i64::from_arg(name, v)?,
            given,
        })
    }
}

/// Declares the argument struct of request types: `Kind => Name { field:
/// Type, ... }`, fields in schema order, named as on the wire (a field
/// whose wire name is a Rust keyword gives it as `field = "wire": Type`).
/// Generates the struct and its [`Decode`], and appends the declaration to
/// the list the tie test checks against the request table.
macro_rules! request_args {
    (@wire $field:ident) => { stringify!($field) };
    (@wire $field:ident $wire:literal) => { $wire };
    (@impl $kind:ident $name:ident [$($lt:lifetime)?] { $($field:ident $(= $wire:literal)? : $ty:ty),* }) => {
        request_args!(@impl2 $kind $name [$($lt)?] ($($lt)? 'de) { $($field $(= $wire)? : $ty),* });
    };
    (@impl2 $kind:ident $name:ident [$($lt:lifetime)?] ($l:lifetime $($rest:lifetime)?) { $($field:ident $(= $wire:literal)? : $ty:ty),* }) => {
        impl<$l> $crate::actions::args::Decode<$l> for $name $(<$lt>)? {
            const KIND: RequestType = RequestType::$kind;
            const FIELDS: &'static [$crate::actions::args::Field] = &[
                $((
                    request_args!(@wire $field $($wire)?),
                    <$ty as $crate::actions::args::FromArg<$l>>::fits,
                ),)*
            ];
            fn decode(body: &$l Map<String, Value>) -> Result<Self, ActionError> {
                Ok($name {
                    $($field: $crate::actions::args::FromArg::from_arg(
                        request_args!(@wire $field $($wire)?),
                        body.get(request_args!(@wire $field $($wire)?)),
                    )?,)*
                })
            }
        }
    };
    ($(
        $(#[$meta:meta])*
        $kind:ident => $name:ident $(<$lt:lifetime>)? {
            $($(#[$fmeta:meta])* $field:ident $(= $wire:literal)? : $ty:ty),* $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            #[doc = ""]
            #[doc = concat!("The arguments of `", stringify!($kind), "`.")]
            #[derive(Debug, Clone, Copy)]
            pub struct $name $(<$lt>)? {
                $($(#[$fmeta])* pub $field: $ty,)*
            }

            request_args!(@impl $kind $name [$($lt)?] { $($field $(= $wire)? : $ty),* });
        )*

        /// Every declared argument struct: its request type and fields.
        #[cfg(test)]
        pub(crate) fn declared() -> Vec<(RequestType, &'static [$crate::actions::args::Field])> {
            vec![$((
                RequestType::$kind,
                $crate::actions::args::fields_of::<$name>(),
            ),)*]
        }
    };
}
pub(crate) use request_args;

/// Whether `n` is an integer (no fraction or exponent as written) that does
/// not fit an `i64`. Python's ints are unbounded; this server's are 64-bit.
pub fn is_out_of_range_int(n: &serde_json::Number) -> bool {
    if n.as_i64().is_some() {
        return false;
    }
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `n` is a float with an integral value outside the 64-bit range.
/// Numbers keep their JSON text (Python semantics), so an integer literal of
/// any size is an int and [`is_out_of_range_int`] catches it; this is a
/// second guard for integer-only arguments should a float such as `1e300`
/// ever get past the schema's `int` check.
fn is_out_of_range_integral_float(n: &serde_json::Number) -> bool {
    // 2^63 as f64. -2^63 itself fits an i64, but the parser keeps an integer
    // that fits as an integer: a float of that value is -2^63 - 1 or below,
    // rounded.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    n.is_f64()
        && n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0 && f.abs() >= LIMIT)
}

/// Refuse a request whose named arguments hold an integer outside the 64-bit
/// range, before its action runs, so that no user id, count or duration is
/// ever wrapped, saturated or replaced by a default. Upstream's database
/// rejects such a value with an unhandled error, so this is HTTP 400 too.
/// `args` names each argument and whether it is integer-only (typed `int` or
/// `["int","None"]`); for those an integral float beyond the range counts as
/// such an integer too.
pub fn check_int_ranges(
    body: &Map<String, Value>,
    args: impl IntoIterator<Item = (&'static str, bool)>,
) -> Result<(), ActionError> {
    for (name, int_only) in args {
        if let Some(Value::Number(n)) = body.get(name)
            && (is_out_of_range_int(n) || (int_only && is_out_of_range_integral_float(n)))
        {
            return Err(ActionError::Unhandled(format!(
                "'{name}': integer out of the 64-bit range"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn out_of_range_integers() {
        let n = |v: Value| match v {
            Value::Number(n) => n,
            _ => unreachable!(),
        };
        assert!(!is_out_of_range_int(&n(json!(i64::MAX))));
        assert!(!is_out_of_range_int(&n(json!(i64::MIN))));
        assert!(is_out_of_range_int(&n(json!(1u64 << 63))));
        assert!(is_out_of_range_int(&n(json!(u64::MAX))));
        assert!(!is_out_of_range_int(&n(json!(1.5))));
        assert!(!is_out_of_range_int(&n(json!(1e300))));
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"target_userid": 9223372036854775808, "x": 18446744073709551615}"#,
        )
        .expect("json");
        assert!(check_int_ranges(&body, [("target_userid", true)]).is_err());
        assert!(check_int_ranges(&body, [("x", false)]).is_err());
        assert!(check_int_ranges(&body, [("absent", true)]).is_ok());
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"big": 18446744073709551616, "small": -9223372036854775809, "frac": 1e300, "ok": 5.0}"#)
                .expect("json");
        assert!(check_int_ranges(&body, [("big", true)]).is_err());
        assert!(check_int_ranges(&body, [("small", true)]).is_err());
        assert!(check_int_ranges(&body, [("frac", true)]).is_err());
        assert!(check_int_ranges(&body, [("ok", true)]).is_ok());
        // Numbers keep their JSON text, so an integer literal is a (Python)
        // int even where the argument may also be a float: out of range
        // either way. A float stays a float there.
        assert!(check_int_ranges(&body, [("big", false)]).is_err());
        assert!(check_int_ranges(&body, [("frac", false), ("ok", false)]).is_ok());
    }
}
