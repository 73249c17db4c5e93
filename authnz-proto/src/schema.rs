//! Request argument validation with Python's type rules (docs/PROTOCOL.md §2).
//!
//! Each request type has required args and optional kwargs, each with a type
//! spec: one name or a list of names (`str`, `int`, `float`, `dict`, `list`,
//! `bool`, `Any`, `None`). The rules are upstream's, quirks included:
//! `true` is an `int`, `1` is not a `float`, a spec naming `None` accepts
//! anything, and optional values are checked only when truthy.

use crate::python::number::PyNumber;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::python::truth::truthy;

/// A Python type name as the upstream schema writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PyType {
    /// `str`
    Str,
    /// `int` (a `bool` is one too: Python's `bool` subclasses `int`).
    Int,
    /// `float`
    Float,
    /// `dict`
    Dict,
    /// `list`
    List,
    /// `bool`
    Bool,
    /// `Any`: anything but `null`.
    Any,
    /// `None`: a spec naming it accepts anything (upstream's quirk).
    None,
}

impl PyType {
    /// The name as written in the schema and in problem reports.
    pub const fn name(self) -> &'static str {
        match self {
            PyType::Str => "str",
            PyType::Int => "int",
            PyType::Float => "float",
            PyType::Dict => "dict",
            PyType::List => "list",
            PyType::Bool => "bool",
            PyType::Any => "Any",
            PyType::None => "None",
        }
    }

    /// Python `isinstance(v, self)` for a decoded JSON value, upstream's way.
    pub fn matches(self, v: &Value) -> bool {
        match self {
            PyType::Str => v.is_string(),
            // Python bool is a subclass of int.
            // A number's JSON text decides its Python type (`crate::python::number`).
            PyType::Int => {
                v.is_boolean()
                    || v.as_number()
                        .is_some_and(|n| matches!(PyNumber::of(n), PyNumber::Int(_)))
            }
            PyType::Float => v
                .as_number()
                .is_some_and(|n| matches!(PyNumber::of(n), PyNumber::Float(_))),
            PyType::Dict => v.is_object(),
            PyType::List => v.is_array(),
            PyType::Bool => v.is_boolean(),
            PyType::Any => !v.is_null(),
            PyType::None => true,
        }
    }
}

impl Serialize for PyType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A type spec as written in the upstream schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSpec {
    /// A single type name, shown as a string in problem reports.
    One(PyType),
    /// A list of type names, shown as an array.
    AnyOf(&'static [PyType]),
}

impl TypeSpec {
    /// The type names, in the order written.
    pub fn types(&self) -> &[PyType] {
        match self {
            TypeSpec::One(t) => std::slice::from_ref(t),
            TypeSpec::AnyOf(ts) => ts,
        }
    }

    /// Python `isinstance` against any of the names.
    pub fn matches(&self, v: &Value) -> bool {
        self.types().iter().any(|t| t.matches(v))
    }

    /// Whether only integers pass this spec (`int`, or `["int", "None"]`):
    /// such an argument is an integer or absent, never a float.
    pub fn is_integer_only(&self) -> bool {
        *self == INT || *self == INT_OR_NONE
    }
}

impl Serialize for TypeSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TypeSpec::One(t) => t.serialize(s),
            TypeSpec::AnyOf(ts) => ts.serialize(s),
        }
    }
}

/// One argument of a request type.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub spec: TypeSpec,
    pub required: bool,
}

/// One entry of the `problems` list of docs/PROTOCOL.md §1.9.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub param: &'static str,
    pub problem: &'static str,
    pub required_type: TypeSpec,
    pub required_param: bool,
}

/// Check `body` against `params` (required ones first, in schema order).
/// Returns every problem found; empty means valid.
pub fn check(params: &[Param], body: &Map<String, Value>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for p in params.iter().filter(|p| p.required) {
        match body.get(p.name) {
            None => problems.push(Problem {
                param: p.name,
                problem: "missing",
                required_type: p.spec,
                required_param: true,
            }),
            Some(v) if !p.spec.matches(v) => problems.push(Problem {
                param: p.name,
                problem: "incorrect type",
                required_type: p.spec,
                required_param: true,
            }),
            Some(_) => {}
        }
    }
    for p in params.iter().filter(|p| !p.required) {
        if let Some(v) = body.get(p.name)
            && truthy(v)
            && !p.spec.matches(v)
        {
            problems.push(Problem {
                param: p.name,
                problem: "incorrect type",
                required_type: p.spec,
                required_param: false,
            });
        }
    }
    problems
}

/// Shorthand for a required argument.
pub const fn req(name: &'static str, spec: TypeSpec) -> Param {
    Param {
        name,
        spec,
        required: true,
    }
}

/// Shorthand for an optional argument.
pub const fn opt(name: &'static str, spec: TypeSpec) -> Param {
    Param {
        name,
        spec,
        required: false,
    }
}

/// `"str"`
pub const STR: TypeSpec = TypeSpec::One(PyType::Str);
/// `"int"`
pub const INT: TypeSpec = TypeSpec::One(PyType::Int);
/// `"float"`
pub const FLOAT: TypeSpec = TypeSpec::One(PyType::Float);
/// `"dict"`
pub const DICT: TypeSpec = TypeSpec::One(PyType::Dict);
/// `"bool"`
pub const BOOL: TypeSpec = TypeSpec::One(PyType::Bool);
/// `"Any"`
pub const ANY: TypeSpec = TypeSpec::One(PyType::Any);
/// `["int", "None"]`
pub const INT_OR_NONE: TypeSpec = TypeSpec::AnyOf(&[PyType::Int, PyType::None]);
/// `["str", "None"]`
pub const STR_OR_NONE: TypeSpec = TypeSpec::AnyOf(&[PyType::Str, PyType::None]);
/// `["dict", "None"]`
pub const DICT_OR_NONE: TypeSpec = TypeSpec::AnyOf(&[PyType::Dict, PyType::None]);
/// `["str", "int"]`
pub const STR_OR_INT: TypeSpec = TypeSpec::AnyOf(&[PyType::Str, PyType::Int]);
/// `["float", "int"]`
pub const FLOAT_OR_INT: TypeSpec = TypeSpec::AnyOf(&[PyType::Float, PyType::Int]);
/// `["int", "float"]`
pub const INT_OR_FLOAT: TypeSpec = TypeSpec::AnyOf(&[PyType::Int, PyType::Float]);
/// `["str", "list"]`: `subject` of the API-key requests, a string or (as
/// upstream documents but its schema does not accept) a list of strings.
pub const STR_OR_LIST: TypeSpec = TypeSpec::AnyOf(&[PyType::Str, PyType::List]);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn python_type_rules() {
        assert!(INT.matches(&json!(1)));
        assert!(INT.matches(&json!(true)));
        assert!(INT.matches(&json!(-5)));
        assert!(!INT.matches(&json!(1.0)));
        assert!(!INT.matches(&json!("1")));
        assert!(FLOAT.matches(&json!(1.5)));
        assert!(FLOAT.matches(&serde_json::from_str::<Value>("1e3").expect("json")));
        assert!(!FLOAT.matches(&json!(1)));
        assert!(BOOL.matches(&json!(false)));
        assert!(!BOOL.matches(&json!(0)));
        assert!(ANY.matches(&json!(0)));
        assert!(!ANY.matches(&json!(null)));
        for v in [json!(null), json!("s"), json!({}), json!([1])] {
            assert!(INT_OR_NONE.matches(&v), "{v}");
        }
    }

    /// Python's types of `json.loads` numbers: any integer literal is an
    /// `int`, whatever its size; `NaN`, `Infinity` and too large a float
    /// literal are `float`s.
    #[test]
    fn python_number_types() {
        let py = |t: &str| crate::python::json::loads(t.as_bytes()).expect("json");
        for int in [
            "123456789012345678901234567890",
            "-18446744073709551617",
            "-0",
        ] {
            assert!(INT.matches(&py(int)), "{int}");
            assert!(!FLOAT.matches(&py(int)), "{int}");
        }
        for float in ["NaN", "Infinity", "-Infinity", "1e400", "-1E+999", "1.5"] {
            assert!(FLOAT.matches(&py(float)), "{float}");
            assert!(!INT.matches(&py(float)), "{float}");
        }
    }

    #[test]
    fn problems_in_schema_order_with_written_specs() {
        let params = [
            req("a", STR),
            opt("o", INT),
            req("b", INT_OR_NONE),
            req("c", INT),
        ];
        let body = obj(json!({"c": "x", "o": "not-int"}));
        let problems = serde_json::to_value(check(&params, &body)).expect("json");
        assert_eq!(
            problems,
            json!([
                {"param": "a", "problem": "missing", "required_type": "str", "required_param": true},
                {"param": "b", "problem": "missing", "required_type": ["int", "None"], "required_param": true},
                {"param": "c", "problem": "incorrect type", "required_type": "int", "required_param": true},
                {"param": "o", "problem": "incorrect type", "required_type": "int", "required_param": false},
            ])
        );
    }

    #[test]
    fn falsy_optional_values_are_not_checked() {
        let params = [opt("o", INT)];
        for v in [
            json!(""),
            json!(0),
            json!(false),
            json!(null),
            json!([]),
            json!({}),
        ] {
            assert!(check(&params, &obj(json!({"o": v}))).is_empty());
        }
    }
}
