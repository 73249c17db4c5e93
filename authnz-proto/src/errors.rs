//! Non-200 responses, spelled exactly as docs/PROTOCOL.md §1.10 gives them.
//! Frontends using the Python client see these bodies verbatim as
//! `failure_reason`.

/// Body of every 400.
pub const BODY_400: &str =
    "HTTP 400: Could not service this request because of invalid request parameters.";
/// Body of every 401.
pub const BODY_401: &str = "HTTP 401: Could not service this request because of invalid request authentication token or violation of host restriction.";
/// Body of every 405.
pub const BODY_405: &str = "HTTP 405: Could not service this request.";
/// Body of every 429 (sent with a `Retry-After` header).
pub const BODY_429: &str =
    "HTTP 429: Could not service this request because the set rate limit has been exceeded.";
/// Body of every 500.
pub const BODY_500: &str = "HTTP 500: Could not service this request.";
/// Tornado's default 404 page, sent for unknown paths and disallowed hosts.
pub const BODY_404_HTML: &str =
    "<html><title>404: Not Found</title><body>404: Not Found</body></html>";

/// Content type of encrypted responses and plain error bodies.
pub const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";
/// Content type of the 404 page.
pub const TEXT_HTML: &str = "text/html; charset=UTF-8";
/// Content type of `/health`.
pub const APPLICATION_JSON: &str = "application/json; charset=UTF-8";

/// The non-200 outcomes of the request pipeline (docs/PROTOCOL.md §1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// 400: invalid parameters, unknown request type, unhandled action error.
    BadRequest,
    /// 401: body not decodable, bad token, not JSON, falsy plaintext.
    Unauthorized,
    /// 404: unknown path or disallowed host.
    NotFound,
    /// 405: wrong method.
    MethodNotAllowed,
    /// 429: rate limited; `Retry-After` carries the seconds until a retry
    /// would be allowed (upstream's fixed 180 where no limit decided it).
    TooManyRequests {
        /// Value of the `Retry-After` header, whole seconds.
        retry_after_secs: u64,
    },
    /// 500: malformed request object.
    ServerError,
}

impl ProtocolError {
    /// HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            ProtocolError::BadRequest => 400,
            ProtocolError::Unauthorized => 401,
            ProtocolError::NotFound => 404,
            ProtocolError::MethodNotAllowed => 405,
            ProtocolError::TooManyRequests { .. } => 429,
            ProtocolError::ServerError => 500,
        }
    }

    /// Exact body text.
    pub fn body(self) -> &'static str {
        match self {
            ProtocolError::BadRequest => BODY_400,
            ProtocolError::Unauthorized => BODY_401,
            ProtocolError::NotFound => BODY_404_HTML,
            ProtocolError::MethodNotAllowed => BODY_405,
            ProtocolError::TooManyRequests { .. } => BODY_429,
            ProtocolError::ServerError => BODY_500,
        }
    }

    /// Content type of the body.
    pub fn content_type(self) -> &'static str {
        match self {
            ProtocolError::NotFound => TEXT_HTML,
            _ => TEXT_PLAIN,
        }
    }
}
