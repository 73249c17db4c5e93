//! The authnzerver wire protocol (spec sections 1 and 2).
//!
//! - [`codec`]: the two base64 layers and Fernet around a JSON document.
//! - [`errors`]: the exact non-200 bodies frontends see as `failure_reason`.
//! - [`envelope`]: the 200 response envelope and the nested schema failure.
//! - [`schema`]: Python-compatible type checks of request arguments.
//! - [`pytruth`]: Python truthiness of JSON values.
//! - [`pyjson`]: JSON text exactly as Python's `json.dumps` writes it.

pub mod codec;
pub mod envelope;
pub mod errors;
pub mod pyjson;
pub mod pytruth;
pub mod schema;
