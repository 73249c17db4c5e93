//! `session-jwt-issue` (not upstream): a short-lived signed token (JWT,
//! EdDSA over Ed25519) for the user of an active, signed-in session, for
//! downstream services that verify it locally against
//! `GET /.well-known/jwks.json` (see [`crate::jwt`]).
//!
//! The token names the user (`sub`, `role`), the service it is for (`aud`),
//! the issuer (`iss`), its times (`iat`, `exp`), its own id (`jti`) and the
//! session through an opaque id (`sid`), never the session token itself.

use authnz_api::ANONYMOUS_USER_ID;
use serde_json::Value;

use super::reply::Reply;
use super::request_args::SessionJwtIssueArgs;
use super::{ActionError, Context};
use crate::jwt::TokenRequest;

/// The longest accepted `audience`, in characters.
pub const MAX_AUDIENCE_CHARS: usize = 256;

const ISSUED: &str = "JWT issued.";
const NOT_ISSUED: &str = "Could not issue a JWT for this session.";
const NO_SESSION: &str = "session does not exist or expired";
const ANONYMOUS: &str = "session is anonymous: sign in first";
const INACTIVE: &str = "user is not active";
const BAD_AUDIENCE: &str = "audience must be 1 to 256 printable characters";
const BAD_LIFETIME: &str = "expires_seconds must be a positive number of seconds";
const DB_ERROR: &str = "DB error when retrieving session info";
const NO_KEY: &str = "no usable signing key";

fn refused(reason: &str) -> Reply {
    Reply::failure(reason, &[NOT_ISSUED]).with("jwt", Value::Null)
}

/// Whether `audience` is acceptable: 1 to [`MAX_AUDIENCE_CHARS`]
/// characters, none of them a control character, not blank.
fn valid_audience(audience: &str) -> bool {
    let count = audience.chars().count();
    (1..=MAX_AUDIENCE_CHARS).contains(&count)
        && !audience.trim().is_empty()
        && !audience.chars().any(char::is_control)
}

pub async fn session_jwt_issue(
    ctx: &Context,
    args: SessionJwtIssueArgs<'_>,
) -> Result<Reply, ActionError> {
    let audience = args.audience;
    if !valid_audience(audience) {
        return Ok(refused(BAD_AUDIENCE));
    }
    let requested = match args.expires_seconds {
        n if n >= 1 => n.unsigned_abs(),
        _ => return Ok(refused(BAD_LIFETIME)),
    };
    let lifetime_secs = requested.min(ctx.jwt.settings().max_expiry.as_secs());
    let token = args.session_token;
    let now = ctx.clock.now();
    let (session, user) = match ctx.sessions.active_session(token, now).await {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(refused(NO_SESSION)),
        Err(e) => {
            tracing::warn!(error = %e, "session-jwt-issue: session look-up failed");
            return Ok(refused(DB_ERROR));
        }
    };
    if session.user_id == ANONYMOUS_USER_ID {
        return Ok(refused(ANONYMOUS));
    }
    if !user.is_active {
        return Ok(refused(INACTIVE));
    }
    let request = TokenRequest {
        user_id: user.user_id,
        role: &user.user_role,
        audience,
        session_token: token,
        now,
        lifetime_secs,
    };
    match ctx.jwt.issue(&request).await {
        Ok(jwt) => {
            tracing::info!(user = %ctx.pii(&user.user_id.to_string()), "JWT issued");
            Ok(Reply::success(&[ISSUED])
                .with("jwt", jwt)
                .with("expires_seconds", lifetime_secs))
        }
        Err(e) => {
            tracing::warn!(error = %e, "session-jwt-issue: cannot sign");
            Ok(refused(NO_KEY))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_rules() {
        assert!(valid_audience("billing"));
        assert!(valid_audience(&"a".repeat(MAX_AUDIENCE_CHARS)));
        assert!(!valid_audience(&"a".repeat(MAX_AUDIENCE_CHARS + 1)));
        assert!(!valid_audience(""));
        assert!(!valid_audience("   "));
        assert!(!valid_audience("svc\n"));
    }
}
