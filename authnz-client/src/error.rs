//! What can go wrong with a request, kept apart so a frontend can react to
//! each: the connection ([`Error::Transport`], [`Error::Timeout`]), the HTTP
//! status of a refused request ([`Error::BadRequest`],
//! [`Error::Unauthorized`], [`Error::TooManyRequests`],
//! [`Error::ServerError`], [`Error::Status`]), a reply that breaks the
//! protocol ([`Error::Decrypt`], [`Error::ReqidMismatch`],
//! [`Error::Protocol`]), and a request the server answered but refused
//! (`success: false`, [`Error::Failed`]).
//!
//! No variant holds the key, a password or a token; the raw result object of
//! a failure prints with secrets and e-mail addresses redacted.

use std::time::Duration;

use authnz_proto::RequestType;
use serde_json::Value;

use crate::secret::RedactedJson;

/// The error of a client call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client could not be built (bad URL, bad key, `https://` without
    /// the `https` feature).
    #[error("client configuration: {0}")]
    Config(String),
    /// Connecting, sending or receiving failed (refused, reset, closed, or
    /// no connection within the connect timeout).
    #[error("transport error: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No complete reply within the request timeout (connecting included).
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// 400: invalid parameters, unknown request type, unhandled action error.
    #[error("HTTP 400 from the server: {body}")]
    BadRequest {
        /// The plain-text body (docs/PROTOCOL.md §1.10).
        body: String,
    },
    /// 401: the server could not decrypt the request (wrong key), or the
    /// replay guard refused it.
    #[error("HTTP 401 from the server (wrong key?): {body}")]
    Unauthorized {
        /// The plain-text body.
        body: String,
    },
    /// 429: rate limited; retry after the given time.
    #[error("HTTP 429 from the server, retry after {retry_after:?}")]
    TooManyRequests {
        /// The `Retry-After` header, if it was a number of seconds.
        retry_after: Option<Duration>,
        /// The plain-text body.
        body: String,
    },
    /// 500: malformed request object, or a broken server.
    #[error("HTTP 500 from the server: {body}")]
    ServerError {
        /// The plain-text body.
        body: String,
    },
    /// Any other unexpected status (404 for a disallowed host, 405, ...).
    #[error("HTTP {status} from the server")]
    Status {
        /// The status code.
        status: u16,
        /// The body as text (lossy), at most 4 KiB of it.
        body: String,
    },
    /// A 200 reply that does not decrypt with the key.
    #[error("reply does not decrypt with the key: {0}")]
    Decrypt(#[source] authnz_proto::OpenError),
    /// The reply carries another `reqid` than the request: it answers some
    /// other request and must not be used (docs/PROTOCOL.md §1.8).
    #[error("reply reqid {received} differs from the request's {sent:?}")]
    ReqidMismatch {
        /// The reqid sent.
        sent: String,
        /// The reqid received (any JSON value, or null when absent).
        received: Value,
    },
    /// The decrypted reply is not the envelope, or its result object does
    /// not have the fields of the request type.
    #[error("malformed reply: {0}")]
    Protocol(String),
    /// The server answered `success: false`.
    #[error("{0}")]
    Failed(Box<Failure>),
}

impl Error {
    /// The refusal, when the server answered `success: false`.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Error::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// The HTTP status of a refused request (not for `success: false`,
    /// which comes with 200).
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::BadRequest { .. } => Some(400),
            Error::Unauthorized { .. } => Some(401),
            Error::TooManyRequests { .. } => Some(429),
            Error::ServerError { .. } => Some(500),
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A request the server answered with `success: false`.
pub struct Failure {
    /// The request type.
    pub request: RequestType,
    /// `failure_reason` of the envelope: absent for some failures (nothing
    /// deleted, the login lock, a schema failure).
    pub failure_reason: Option<String>,
    /// The messages meant for the end user.
    pub messages: Vec<String>,
    /// The whole result object `R` (`response`), for the fields some
    /// failures carry (`user-new`'s `user_id` when the user exists, the
    /// `problems` of a schema failure).
    pub response: Value,
}

impl Failure {
    /// The `problems` of a schema failure (docs/PROTOCOL.md §1.9), if this
    /// is one.
    pub fn problems(&self) -> Option<&Vec<Value>> {
        self.response.get("response")?.get("problems")?.as_array()
    }

    /// What a `user-login` with the right password of an account with a
    /// second factor answers: the kinds enabled and the ticket for
    /// `user-login-second-factor`. `None` for any other failure.
    pub fn second_factor(&self) -> Option<SecondFactorRequired> {
        if self.request != RequestType::UserLogin {
            return None;
        }
        let r = &self.response;
        let ticket = r.get("login_ticket")?.as_str()?;
        Some(SecondFactorRequired {
            user_id: r.get("user_id")?.as_i64()?,
            second_factor: r
                .get("second_factor")?
                .as_array()?
                .iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect(),
            login_ticket: crate::Secret::new(ticket),
        })
    }
}

/// A login that waits for its second step ([`Failure::second_factor`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorRequired {
    pub user_id: i64,
    /// The kinds enabled: `totp`, `passkey`, `recovery`.
    pub second_factor: Vec<String>,
    /// Single use, bound to the session the login was made with, valid for
    /// five minutes.
    pub login_ticket: crate::Secret,
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failure")
            .field("request", &self.request.name())
            .field("failure_reason", &self.failure_reason)
            .field("messages", &self.messages)
            .field("response", &RedactedJson(&self.response))
            .finish()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} refused", self.request.name())?;
        if let Some(reason) = &self.failure_reason {
            write!(f, ": {reason}")?;
        }
        Ok(())
    }
}
