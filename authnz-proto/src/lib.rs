//! The authnz wire contract, with no I/O: what a frontend and the server
//! exchange, and nothing about how either does its work (docs/PROTOCOL.md
//! describes the protocol in prose).
//!
//! - [`codec`]: the outer standard-base64 layer and Fernet around a JSON
//!   document.
//! - [`envelope`]: the 200 response envelope and the nested schema failure.
//! - [`errors`]: the non-200 outcomes and their exact bodies, which frontends
//!   see verbatim as `failure_reason`.
//! - [`schema`]: request argument checks with Python's type rules.
//! - [`request`]: the request table, each request type once with its wire
//!   name, parameter schema, aggressive rate limit and login-likeness.
//! - [`reply`]: the result object an action builds.
//! - [`python`]: Python's wire semantics (JSON text, numbers, `int()`,
//!   truthiness, `repr`).
//!
//! Its dependencies are serde, serde_json, fernet, base64, chrono and
//! small pure crates; never an async runtime, an HTTP stack, a database or a
//! mail client (a test checks the dependency tree).

pub mod codec;
pub mod envelope;
pub mod errors;
pub mod python;
pub mod reply;
pub mod request;
pub mod schema;

pub use codec::{Codec, OpenError, TokenStamp};
pub use errors::ProtocolError;
pub use reply::Reply;
pub use request::{RateFamily, RequestType};
