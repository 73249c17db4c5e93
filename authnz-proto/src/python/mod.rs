//! Python's wire semantics, in one place. The original server is Python, so
//! what goes over the wire (and into shared database columns) is what Python
//! writes and reads:
//!
//! - [`json`]: JSON text exactly as `json.dumps` writes it, and read as
//!   `json.loads` reads it (`NaN`/`Infinity`, byte-order marks, exact
//!   numbers).
//! - [`number`]: which JSON numbers are Python `int`s and which `float`s, and
//!   Python's comparisons of them.
//! - [`convert`]: Python's `int()` and `float()` of request values.
//! - [`truth`]: Python truthiness of JSON values.
//! - [`repr`]: Python `repr()` of strings, lists and sets, and of bools.
//! - [`printable`]: `str.isprintable()`, for `repr`, and the lookup in the
//!   generated Unicode range tables.
//! - [`logtext`]: client text made safe for a log line (its `repr`, cut).

pub mod convert;
pub mod json;
pub mod logtext;
pub mod number;
pub mod printable;
pub mod repr;
pub mod truth;
