//! Session requests (PROTOCOL.md 3.1): `session-new`, `session-exists`,
//! `session-delete`, `session-delete-userid`.

use authnz_api::{AuditEventType, AuditOutcome};
use std::net::IpAddr;

use authnz_api::{ANONYMOUS_USER_ID, Session};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use serde_json::Value;

use super::args::py_int;
use super::reply::{Reply, dt, py_bool, session_info};
use super::request_args::{
    SessionDeleteArgs, SessionDeleteUseridArgs, SessionExistsArgs, SessionNewArgs,
};
use super::{ActionError, Context};
use authnz_proto::python::truth::truthy;

/// A new session token: 32 random bytes, URL-safe base64 without padding
/// (Python `secrets.token_urlsafe(32)`, 43 characters).
pub fn new_session_token() -> Result<String, ActionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ActionError::internal("session token", e))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The longest stored `ip_address` (the column is `VARCHAR(280)` in the
/// schema); longer text is refused on every backend alike, not only where the
/// column type enforces it.
const MAX_IP_ADDRESS_CHARS: usize = 280;

/// Canonical text of an IP address (IPv6 compressed and lower case, IPv4-mapped
/// addresses in dotted form), or `None` if it is not an address.
///
/// An IPv6 address may carry a scope (zone) id after `%` (`fe80::1%eth0`), as
/// Python's `ipaddress` accepts since 3.9: the address part is canonicalised
/// and the scope id kept as given; an empty scope id or a second `%` is
/// invalid, and IPv4 addresses take no scope.
pub fn canonical_ip(text: &str) -> Option<String> {
    let canonical = match text.split_once('%') {
        None => text.parse::<IpAddr>().ok()?.to_string(),
        Some((addr, scope)) => {
            if scope.is_empty() || scope.contains('%') {
                return None;
            }
            let addr = addr.parse::<std::net::Ipv6Addr>().ok()?;
            format!("{addr}%{scope}")
        }
    };
    (canonical.chars().count() <= MAX_IP_ADDRESS_CHARS).then_some(canonical)
}

/// Parse `session-new.expires`: upstream's `%Y-%m-%dT%H:%M:%S.%f` after removing
/// every `Z`, plus (Q-3 fixed) the same without a fraction.
pub fn parse_expires(text: &str) -> Option<NaiveDateTime> {
    let cleaned: String = text.chars().filter(|&c| c != 'Z').collect();
    let (main, frac) = match cleaned.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (cleaned.as_str(), None),
    };
    let base = NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S").ok()?;
    let micros = match frac {
        None => 0,
        Some(f) if (1..=6).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            // Left-aligned like Python %f: "5" is 500000 microseconds.
            let padded = format!("{f:0<6}");
            padded.parse::<i64>().ok()?
        }
        Some(_) => return None,
    };
    base.checked_add_signed(chrono::TimeDelta::microseconds(micros))
}

const NEW_FAILED: (&str, &str) = (
    "DB error when making new session",
    "Could not create a new session.",
);

pub async fn session_new(ctx: &Context, args: SessionNewArgs<'_>) -> Result<Reply, ActionError> {
    let failure = || {
        Reply::failure(NEW_FAILED.0, &[NEW_FAILED.1])
            .with("session_token", Value::Null)
            .with("expires", Value::Null)
    };
    let Some(ip_address) = canonical_ip(args.ip_address) else {
        return Ok(failure());
    };
    let Some(expires) = parse_expires(args.expires) else {
        return Ok(failure());
    };
    // `user_id` is typed ["int","None"], which accepts anything. Falsy
    // means the anonymous user; any other non-integer cannot reference a user.
    let user_id = match args.user_id {
        v if !truthy(v) => ANONYMOUS_USER_ID,
        v => match py_int(v) {
            Some(id) => id,
            None => return Ok(failure()),
        },
    };
    let extra_info_json = Some(args.extra_info_json).filter(|v| !v.is_null()).cloned();
    let session = Session {
        session_token: new_session_token()?,
        ip_address,
        user_agent: args.user_agent.to_owned(),
        user_id,
        created: ctx.clock.now(),
        expires: authnz_api::time::truncate_micros(expires),
        extra_info_json,
    };
    match ctx.sessions.create_session(&session).await {
        Ok(()) => {
            tracing::info!(user = %ctx.pii(&user_id.to_string()), "session created");
            Ok(
                Reply::success(&["Generated session_token successfully. Session initiated."])
                    .with("session_token", session.session_token)
                    .with("expires", dt(Some(&session.expires))),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "session-new failed");
            Ok(failure())
        }
    }
}

pub async fn session_exists(
    ctx: &Context,
    args: SessionExistsArgs<'_>,
) -> Result<Reply, ActionError> {
    let token = args.session_token;
    match ctx.sessions.active_session(token, ctx.clock.now()).await {
        Ok(Some((session, user))) => Ok(Reply::success(&["Session look up successful."])
            .with("session_info", session_info(&session, &user))),
        Ok(None) => Ok(Reply::failure(
            "session does not exist or expired",
            &["Session look up failed."],
        )
        .with("session_info", Value::Null)),
        Err(e) => {
            tracing::warn!(error = %e, "session-exists failed");
            Ok(Reply::failure(
                "DB error when retrieving session info",
                &["Session look up failed."],
            )
            .with("session_info", Value::Null))
        }
    }
}

pub async fn session_delete(
    ctx: &Context,
    args: SessionDeleteArgs<'_>,
) -> Result<Reply, ActionError> {
    let token = args.session_token;
    match ctx.sessions.delete_session(token).await {
        Ok(n) => {
            let ok = n == 1;
            if ok {
                ctx.audit(AuditEventType::SessionRevoked, AuditOutcome::Ok)
                    .reason("by-token")
                    .emit();
            }
            let msg = format!("Session delete processed, success: {}.", py_bool(ok));
            Ok(if ok {
                Reply::success(&[msg])
            } else {
                Reply::failure_without_reason(&[msg])
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "session-delete failed");
            Ok(Reply::failure(
                "DB error when deleting session",
                &["Session could not be deleted."],
            ))
        }
    }
}

/// `session-delete-userid`, with Q-4 fixed: `keep_current_session = false`
/// deletes every session of the user, the presented one included.
pub async fn session_delete_userid(
    ctx: &Context,
    args: SessionDeleteUseridArgs<'_>,
) -> Result<Reply, ActionError> {
    let token = args.session_token;
    let user_id = args.user_id;
    let keep = (args.keep_current_session && !token.is_empty()).then_some(token);
    match ctx.sessions.delete_user_sessions(user_id, keep).await {
        Ok(n) => {
            let ok = n > 0;
            if ok {
                ctx.audit(AuditEventType::SessionRevoked, AuditOutcome::Ok)
                    .subject(user_id)
                    .reason(if keep.is_some() {
                        "other-sessions"
                    } else {
                        "all-sessions"
                    })
                    .emit();
            }
            let msg = format!("Sessions delete processed. Success: {}.", py_bool(ok));
            Ok(if ok {
                Reply::success(&[msg])
            } else {
                Reply::failure_without_reason(&[msg])
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "session-delete-userid failed");
            Ok(Reply::failure(
                "DB error when updating session info",
                &["Sessions could not be deleted."],
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authnz_api::time::to_isoformat;

    #[test]
    fn expires_formats() {
        let iso = |s: &str| parse_expires(s).map(|t| to_isoformat(&t));
        assert_eq!(
            iso("2030-01-01T00:00:00.5Z").as_deref(),
            Some("2030-01-01T00:00:00.500000")
        );
        assert_eq!(
            iso("2030-01-01T00:00:00.123456").as_deref(),
            Some("2030-01-01T00:00:00.123456")
        );
        assert_eq!(
            iso("2030-01-01T00:00:00").as_deref(),
            Some("2030-01-01T00:00:00")
        );
        assert_eq!(
            iso("2030-01-01T00:00:00Z").as_deref(),
            Some("2030-01-01T00:00:00")
        );
        assert_eq!(
            iso("2030-01-01T00:00:00.000000").as_deref(),
            Some("2030-01-01T00:00:00")
        );
        assert!(iso("2030-01-01T00:00:00+00:00").is_none());
        assert!(iso("2030-01-01T00:00:00.1234567").is_none());
        assert!(iso("2030-01-01 00:00:00.5").is_none());
        assert!(iso("tomorrow").is_none());
    }

    #[test]
    fn ip_canonical_text() {
        assert_eq!(canonical_ip("::0:1").as_deref(), Some("::1"));
        assert_eq!(
            canonical_ip("2001:DB8::0001").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            canonical_ip("::FFFF:1.2.3.4").as_deref(),
            Some("::ffff:1.2.3.4")
        );
        assert_eq!(canonical_ip("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert!(canonical_ip("localhost").is_none());
        // Scoped IPv6 (Python's ipaddress keeps the zone id verbatim).
        assert_eq!(
            canonical_ip("FE80::0001%eth0").as_deref(),
            Some("fe80::1%eth0")
        );
        assert_eq!(canonical_ip("fe80::1%25").as_deref(), Some("fe80::1%25"));
        assert!(canonical_ip("fe80::1%").is_none());
        assert!(canonical_ip("fe80::1%a%b").is_none());
        assert!(canonical_ip("10.0.0.1%eth0").is_none());
        assert!(canonical_ip(&format!("fe80::1%{}", "x".repeat(300))).is_none());
    }

    #[test]
    fn tokens_are_43_url_safe_chars() {
        let t = new_session_token().expect("token");
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
