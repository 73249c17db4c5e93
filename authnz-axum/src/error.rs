//! Why the layer, an extractor or a helper refused, and the response each
//! refusal becomes.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A refusal of the layer, an extractor or a helper of [`crate::Auth`].
/// As a response: see each variant.
#[derive(Debug)]
pub enum AuthError {
    /// authnz answered 429, or the caller is over the layer's own
    /// [`crate::RequestLimits`]: 429 with the same `Retry-After`.
    RateLimited {
        /// authnz's `Retry-After`, or when the layer's limit allows the
        /// next request.
        retry_after: Option<Duration>,
    },
    /// authnz could not be reached or failed (transport, timeout, 400,
    /// 401, 500, a broken reply): 503. The cause is logged, never sent.
    Unavailable(authnz_client::Error),
    /// authnz refused the request (`success: false`), e.g. a wrong password
    /// at login: 400 with the messages meant for the end user.
    Refused {
        /// `failure_reason`, for the program.
        reason: Option<String>,
        /// The messages for the end user.
        messages: Vec<String>,
    },
    /// The password was right (or the provider vouched for the user) but
    /// the account has a second factor (`failure_reason` `second factor
    /// required`): finish with [`crate::Auth::login_second_factor`] and
    /// `ticket`. The session stays as it was (the ticket is bound to it).
    /// As a response: 401 asking for the second factor. `Debug` hides the
    /// ticket.
    SecondFactorRequired {
        /// The single-use login ticket (five minutes).
        ticket: authnz_client::Secret,
        /// The second factors the account has: `totp`, `passkey`,
        /// `recovery` (authnz's `second_factor` list).
        kinds: Vec<String>,
    },
    /// An unsafe request without the session's CSRF token: 403.
    Csrf,
    /// Not signed in: 401, or 303 to the configured login page.
    NotLoggedIn {
        /// Where to send a browser, if configured.
        login_path: Option<String>,
    },
    /// Signed in but not allowed (role or permission): 403.
    Forbidden,
    /// `Authorization: Bearer` with a key that is malformed, not issued by
    /// this site, expired or revoked; or no key where one is required: 401.
    InvalidApiKey,
    /// A URL-encoded form too large to look for the CSRF token in: 413.
    PayloadTooLarge,
    /// An extractor was used on a route without [`crate::AuthLayer`]: 500.
    NotInstalled,
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::RateLimited { retry_after } => {
                write!(f, "rate limited, retry after {retry_after:?}")
            }
            AuthError::Unavailable(e) => write!(f, "authnz unavailable: {e}"),
            AuthError::Refused { reason, messages } => {
                write!(f, "refused by authnz")?;
                if let Some(r) = reason {
                    write!(f, ": {r}")?;
                }
                if !messages.is_empty() {
                    write!(f, " ({})", messages.join(" "))?;
                }
                Ok(())
            }
            AuthError::SecondFactorRequired { kinds, .. } => {
                write!(f, "second factor required ({})", kinds.join(", "))
            }
            AuthError::Csrf => f.write_str("missing or wrong CSRF token"),
            AuthError::NotLoggedIn { .. } => f.write_str("not signed in"),
            AuthError::Forbidden => f.write_str("not allowed"),
            AuthError::InvalidApiKey => f.write_str("invalid, expired or revoked API key"),
            AuthError::PayloadTooLarge => f.write_str("form too large"),
            AuthError::NotInstalled => f.write_str("AuthLayer is not installed on this route"),
        }
    }
}

impl std::error::Error for AuthError {}

impl AuthError {
    /// The messages for the end user of a [`AuthError::Refused`] (empty
    /// otherwise).
    pub fn messages(&self) -> &[String] {
        match self {
            AuthError::Refused { messages, .. } => messages,
            _ => &[],
        }
    }
}

/// `failure_reason` of a login that needs a second factor.
const SECOND_FACTOR_REQUIRED: &str = "second factor required";

impl From<authnz_client::Error> for AuthError {
    fn from(e: authnz_client::Error) -> Self {
        match e {
            authnz_client::Error::TooManyRequests { retry_after, .. } => {
                AuthError::RateLimited { retry_after }
            }
            authnz_client::Error::Failed(f)
                if f.failure_reason.as_deref() == Some(SECOND_FACTOR_REQUIRED) =>
            {
                let ticket = f.response.get("login_ticket").and_then(|v| v.as_str());
                match ticket {
                    Some(t) => AuthError::SecondFactorRequired {
                        ticket: t.into(),
                        kinds: f
                            .response
                            .get("second_factor")
                            .and_then(|v| v.as_array())
                            .map(|a| {
                                a.iter()
                                    .filter_map(|k| k.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    },
                    None => AuthError::Refused {
                        reason: f.failure_reason,
                        messages: f.messages,
                    },
                }
            }
            authnz_client::Error::Failed(f) => AuthError::Refused {
                reason: f.failure_reason,
                messages: f.messages,
            },
            other => AuthError::Unavailable(other),
        }
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut r = (status, text.to_owned()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        match self {
            AuthError::RateLimited { retry_after } => {
                let mut r = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "429 Too Many Requests: try again later.\n",
                );
                if let Some(after) = retry_after {
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs()));
                }
                r
            }
            AuthError::Unavailable(e) => {
                tracing::error!(error = %e, "authnz request failed");
                plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503 Service Unavailable: the authentication service did not answer.\n",
                )
            }
            AuthError::Refused { messages, .. } => {
                let mut text = messages.join("\n");
                if text.is_empty() {
                    text = "The request was refused.".into();
                }
                text.push('\n');
                plain(StatusCode::BAD_REQUEST, &text)
            }
            AuthError::SecondFactorRequired { .. } => plain(
                StatusCode::UNAUTHORIZED,
                "401 Unauthorized: a second factor is required to sign in.\n",
            ),
            AuthError::Csrf => plain(
                StatusCode::FORBIDDEN,
                "403 Forbidden: the CSRF token is missing or wrong. Reload the page and try again.\n",
            ),
            AuthError::NotLoggedIn {
                login_path: Some(path),
            } => {
                let mut r = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(&path) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            AuthError::NotLoggedIn { login_path: None } => plain(
                StatusCode::UNAUTHORIZED,
                "401 Unauthorized: please sign in.\n",
            ),
            AuthError::Forbidden => plain(
                StatusCode::FORBIDDEN,
                "403 Forbidden: you are not allowed to do this.\n",
            ),
            AuthError::InvalidApiKey => {
                let mut r = plain(
                    StatusCode::UNAUTHORIZED,
                    "401 Unauthorized: invalid, expired or revoked API key.\n",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                r
            }
            AuthError::PayloadTooLarge => {
                plain(StatusCode::PAYLOAD_TOO_LARGE, "413 Payload Too Large\n")
            }
            AuthError::NotInstalled => {
                tracing::error!("an authnz-axum extractor is used on a route without AuthLayer");
                plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "500 Internal Server Error\n",
                )
            }
        }
    }
}
