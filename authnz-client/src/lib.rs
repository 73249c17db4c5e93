//! An async Rust client for authnz, and for the original Python
//! authnzerver: every request type of the request table and `GET /health`,
//! typed requests and replies, on [`authnz_proto`]'s codec.
//!
//! - [`Client`]: a keep-alive connection pool (hyper-util), connect and
//!   request timeouts, a fresh `reqid` per request; a reply with another
//!   `reqid` is refused ([`Error::ReqidMismatch`]).
//! - [`requests`]: one struct per request type with exactly its wire
//!   arguments, its reply struct, and the [`Client`] method
//!   ([`Client::session_new`], [`Client::user_login`], ...).
//!   [`Client::send`] sends any request type with a JSON body.
//! - [`Error`]: transport, HTTP status (400, 401, 429 with `Retry-After`,
//!   500), and `success: false` ([`Failure`]) kept apart.
//! - Secrets ([`Secret`], [`Key`]) never show in `Debug` output.
//!
//! A runnable example: `examples/quickstart.rs` (the README shows it).
//!
//! ```no_run
//! use authnz_client::{Client, Key, requests::{SessionNew, UserLogin}};
//!
//! # async fn demo() -> Result<(), authnz_client::Error> {
//! let key = Key::from_text(&std::fs::read_to_string("/path/to/secret-key").unwrap_or_default())?;
//! let authnz = Client::new("http://127.0.0.1:13431", key)?;
//! let session = authnz
//!     .session_new(&SessionNew {
//!         ip_address: "203.0.113.7".into(),
//!         user_agent: "Mozilla/5.0".into(),
//!         user_id: None,
//!         expires: "2030-01-01T00:00:00".into(),
//!         extra_info_json: None,
//!     })
//!     .await?;
//! let login = authnz
//!     .user_login(&UserLogin {
//!         session_token: session.session_token,
//!         email: "user@example.org".into(),
//!         password: "a password".into(),
//!     })
//!     .await;
//! match login {
//!     Ok(user) => println!("user {} ({:?})", user.user_id, user.user_role),
//!     Err(e) if e.failure().is_some() => println!("refused: {e}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
pub mod requests;
mod secret;
pub mod types;

pub use authnz_proto::RequestType;
pub use client::{Client, ClientBuilder, Envelope, Health, Key};
pub use error::{Error, Failure, SecondFactorRequired};
pub use secret::Secret;
