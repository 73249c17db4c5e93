//! Webhooks (not upstream): audit events POSTed to configured endpoints in
//! the Standard Webhooks format.
//!
//! **Configuration.** A JSON list of `{"url", "secret", "events"}`
//! ([`parse_config`]): `secret` is written `whsec_<base64>` and never
//! printed; `events` lists audit event wire names, or is `["*"]` for every
//! event.
//!
//! **Outbox.** The audit writer turns each event into one [`NewDelivery`]
//! per subscribed endpoint ([`Webhooks::deliveries`]) and appends them in
//! the events' transaction, so an event is never logged without its
//! deliveries; the server's delivery worker drains the outbox.
//!
//! **Format.** The body is `{"type", "timestamp", "data"}`: `type` the
//! event's wire name, `timestamp` its time (RFC 3339, UTC), `data` holds
//! `user_id` (the subject), `actor_user_id` when it differs, and `outcome`
//! and `reason` when set. The request carries `webhook-id` (`msg_<outbox
//! id>`, the same on every attempt), `webhook-timestamp` (Unix seconds of
//! the attempt) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
//! "id.timestamp.body" under the decoded secret>`: [`signature`]).

use std::collections::HashSet;
use std::time::Duration;

use authnz_api::{AuditEvent, AuditEventType, NewDelivery, WEBHOOK_URL_MAX};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// The prefix of a secret as configured.
pub const SECRET_PREFIX: &str = "whsec_";

/// One configured endpoint.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    /// The decoded secret.
    secret: Vec<u8>,
    /// The event types it wants; `None` for every one.
    events: Option<HashSet<AuditEventType>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("events", &self.events)
            .finish()
    }
}

impl Endpoint {
    /// Whether it wants events of type `event`.
    pub fn wants(&self, event: AuditEventType) -> bool {
        self.events.as_ref().is_none_or(|e| e.contains(&event))
    }

    /// The `webhook-signature` value for a message.
    pub fn signature(&self, id: &str, timestamp: i64, body: &str) -> String {
        signature(&self.secret, id, timestamp, body)
    }
}

/// The configured endpoints.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    pub endpoints: Vec<Endpoint>,
}

impl Webhooks {
    /// The endpoint whose URL is `url` (the first, if listed twice).
    pub fn endpoint(&self, url: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.url == url)
    }

    /// One delivery per event and endpoint that wants it.
    pub fn deliveries(&self, events: &[AuditEvent]) -> Vec<NewDelivery> {
        let mut out = Vec::new();
        for e in events {
            let mut body = None;
            for endpoint in self.endpoints.iter().filter(|x| x.wants(e.event)) {
                let body = body.get_or_insert_with(|| body_of(e)).clone();
                out.push(NewDelivery {
                    endpoint: endpoint.url.clone(),
                    event_type: e.event.name().to_owned(),
                    body,
                    created: e.time,
                });
            }
        }
        out
    }
}

/// The JSON body delivered for `event`.
pub fn body_of(event: &AuditEvent) -> String {
    let mut data = Map::new();
    data.insert("user_id".into(), json!(event.subject_user_id));
    if event.actor_user_id.is_some() && event.actor_user_id != event.subject_user_id {
        data.insert("actor_user_id".into(), json!(event.actor_user_id));
    }
    data.insert("outcome".into(), json!(event.outcome.name()));
    if let Some(reason) = &event.reason {
        data.insert("reason".into(), json!(reason));
    }
    let timestamp = event
        .time
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    json!({"type": event.event.name(), "timestamp": timestamp, "data": Value::Object(data)})
        .to_string()
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body" under secret>`.
pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut ctx = ring::hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

/// The pause before attempt `failures + 1` after `failures` failed ones:
/// `base` doubled per failure after the first, at most an hour, times a
/// jitter factor in `[0.5, 1.0)` given as `jitter` in `[0, 1)`.
pub fn backoff(base: Duration, failures: u32, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << failures.saturating_sub(1).min(20));
    doubled
        .min(Duration::from_secs(3600))
        .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Read the webhooks file's JSON. Errors name the entry and field at fault
/// and never quote a secret.
pub fn parse_config(text: &str) -> Result<Webhooks, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("expected a JSON list of {\"url\", \"secret\", \"events\"}".into());
    };
    let mut endpoints = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |what: &str| format!("entry {i}: {what}");
        let Value::Object(o) = item else {
            return Err(at("expected an object {\"url\", \"secret\", \"events\"}"));
        };
        if let Some(k) = o
            .keys()
            .find(|k| !["url", "secret", "events"].contains(&k.as_str()))
        {
            return Err(at(&format!("unknown field {k:?}")));
        }
        let url = o
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| at("\"url\" must be a text"))?;
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() > WEBHOOK_URL_MAX
            || url.chars().any(char::is_control)
            || url.contains(' ')
        {
            return Err(at(&format!(
                "\"url\" must be an http:// or https:// URL of at most {WEBHOOK_URL_MAX} characters"
            )));
        }
        let secret = o
            .get("secret")
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix(SECRET_PREFIX))
            .and_then(|b| STANDARD.decode(b).ok())
            .filter(|k| k.len() >= 16)
            .ok_or_else(|| {
                at("\"secret\" must be whsec_ followed by the base64 of at least 16 bytes")
            })?;
        let events = match o.get("events") {
            Some(Value::Array(names)) if names.len() == 1 && names[0] == "*" => None,
            Some(Value::Array(names)) if !names.is_empty() => {
                let mut set = HashSet::new();
                for n in names {
                    let t = n
                        .as_str()
                        .and_then(AuditEventType::from_name)
                        .ok_or_else(|| at(&format!("unknown event type {n}")))?;
                    set.insert(t);
                }
                Some(set)
            }
            _ => {
                return Err(at(
                    "\"events\" must be a non-empty list of event types, or [\"*\"]",
                ));
            }
        };
        endpoints.push(Endpoint {
            url: url.to_owned(),
            secret,
            events,
        });
    }
    Ok(Webhooks { endpoints })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use authnz_api::AuditOutcome;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        let secret = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(
                &secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn config_errors_are_clear_and_never_quote_the_secret() {
        let bad = [
            ("{}", "JSON list"),
            ("[1]", "entry 0"),
            (
                r#"[{"url":"ftp://x","secret":"whsec_AAAAAAAAAAAAAAAAAAAAAA==","events":["*"]}]"#,
                "url",
            ),
            (
                r#"[{"url":"http://x","secret":"whsec_c2hvcnQ=","events":["*"]}]"#,
                "secret",
            ),
            (
                r#"[{"url":"http://x","secret":"topsecretvalue!!!!!","events":["*"]}]"#,
                "secret",
            ),
            (
                &format!(r#"[{{"url":"http://x","secret":"{SECRET}","events":["nope"]}}]"#),
                "unknown event type \"nope\"",
            ),
            (
                &format!(r#"[{{"url":"http://x","secret":"{SECRET}","events":[]}}]"#),
                "events",
            ),
            (
                &format!(r#"[{{"url":"http://x","secret":"{SECRET}","events":["*"],"x":1}}]"#),
                "unknown field",
            ),
        ];
        for (text, want) in bad {
            let e = parse_config(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
            assert!(!e.contains("topsecret") && !e.contains("MfKQ9r8"), "{e}");
        }
    }

    fn event(kind: AuditEventType, actor: Option<i64>, subject: Option<i64>) -> AuditEvent {
        AuditEvent {
            time: chrono::DateTime::from_timestamp(1_700_000_000, 5_000)
                .unwrap()
                .naive_utc(),
            event: kind,
            outcome: AuditOutcome::Ok,
            actor_user_id: actor,
            subject_user_id: subject,
            client_address: Some("203.0.113.0".into()),
            request_id: Some("r1".into()),
            reason: None,
        }
    }

    #[test]
    fn deliveries_follow_the_subscriptions() {
        let hooks = parse_config(&format!(
            r#"[{{"url":"http://a/","secret":"{SECRET}","events":["*"]}},
                {{"url":"http://b/","secret":"{SECRET}","events":["user.locked","logout"]}}]"#
        ))
        .unwrap();
        let out = hooks.deliveries(&[
            event(AuditEventType::UserLocked, Some(1), Some(2)),
            event(AuditEventType::LoginSucceeded, Some(2), Some(2)),
        ]);
        let urls: Vec<_> = out.iter().map(|d| d.endpoint.as_str()).collect();
        assert_eq!(urls, ["http://a/", "http://b/", "http://a/"]);
        let body: Value = serde_json::from_str(&out[0].body).unwrap();
        assert_eq!(
            body,
            json!({"type": "user.locked", "timestamp": "2023-11-14T22:13:20.000005Z",
                   "data": {"user_id": 2, "actor_user_id": 1, "outcome": "ok"}})
        );
        let same: Value = serde_json::from_str(&out[2].body).unwrap();
        assert_eq!(same["data"], json!({"user_id": 2, "outcome": "ok"}));
        assert!(!out[0].body.contains("203.0.113"), "no client address");
        assert!(format!("{hooks:?}").contains("redacted"));
        assert!(!format!("{hooks:?}").contains("MfKQ"));
    }

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let ten = Duration::from_secs(10);
        assert_eq!(backoff(ten, 1, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(ten, 1, 0.999_999).as_secs(), 9);
        assert_eq!(backoff(ten, 3, 0.0), Duration::from_secs(20));
        assert_eq!(backoff(ten, 30, 0.0), Duration::from_secs(1800));
    }
}
