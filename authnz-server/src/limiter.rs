//! Step 6c of the request pipeline (PROTOCOL.md 1.7, 4.1) and the `/health` limit
//! (PROTOCOL.md 9.1): which keys a request is counted under, which limit applies to
//! each, and what happens when the limiter's backend is down.
//!
//! A request of type `T` from client address `A` is decided under the key
//! `T-A` with [`RateLimitsConfig::limit_for`]. A request whose type contains
//! `email` (and whose body is not `null`) also names an e-mail `E`
//! (`body.email`, else `body.email_address`; neither -> 429 as upstream) and
//! is decided under `T-@H` with [`RateLimitsConfig::email_limit_for`], where
//! `H` is a salted hash of `E`: the limiter's backend (possibly a shared
//! Redis) never holds an address in clear. Request types the server does not
//! know share one bucket per address, so a client cannot create keys at will
//! by inventing types. A rejected request is counted under no key.
//!
//! Backend failure: the limiter **fails open**. A decision that errors (Redis
//! unreachable or timing out) lets the request through and logs a warning at
//! most every [`WARN_EVERY`]; the count of such decisions is kept for
//! diagnostics. Rate limiting is a protection on top of authentication, and a
//! limiter outage should not take every frontend down with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use authnz_api::{Clock, RateDecision, RateLimit, RateLimiter};
use serde_json::Value;

use crate::ratelimit::RateLimitsConfig;
use authnz_core::validate::pii::{PII_SALT_NONE, pii_hash};
use authnz_core::warn_gate::WarnGate;
use authnz_proto::request::{RequestType, email_of, names_an_email};

/// Upstream's fixed `Retry-After` (PROTOCOL.md 4.1), sent when the refusal is not a
/// rate decision (an e-mail request without an e-mail).
pub const UPSTREAM_RETRY_AFTER_SECS: u64 = 180;

/// Least time between two warnings about a failing limiter backend.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// The bucket of request types the server does not know.
const UNKNOWN_TYPE: &str = "(unknown)";

/// The request type `/health` is counted as (PROTOCOL.md 9.1).
const HEALTH_TYPE: &str = "apikey-healthcheck";

/// Addresses longer than this are hashed in keys (`client_ipaddr` is
/// whatever the frontend sends).
const MAX_ADDRESS_LEN: usize = 64;

/// The metric counting refusals, by class (`crate::telemetry`).
const RATE_LIMITED: &str = crate::telemetry::names::RATE_LIMITED;

/// The outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allowed,
    /// Answer 429 with this `Retry-After` (whole seconds, at least 1).
    Limited {
        /// Seconds until a retry under the same limit would be allowed.
        retry_after_secs: u64,
    },
}

/// The configured limits applied through a [`RateLimiter`] backend.
#[derive(Debug)]
pub struct RequestLimiter {
    config: RateLimitsConfig,
    backend: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    /// Salt for the e-mail keys.
    salt: String,
    failed_open: AtomicU64,
    warn: WarnGate,
}

impl RequestLimiter {
    /// Limits `config` through `backend`, time from `clock`; e-mails in keys
    /// are hashed with `pii_salt` (or a fixed salt when PII is logged in
    /// clear, so keys never hold an address).
    pub fn new(
        config: RateLimitsConfig,
        backend: Arc<dyn RateLimiter>,
        clock: Arc<dyn Clock>,
        pii_salt: &str,
    ) -> Self {
        let salt = if pii_salt == PII_SALT_NONE {
            "authnz-rate-limiter".to_owned()
        } else {
            pii_salt.to_owned()
        };
        Self {
            config,
            backend,
            clock,
            salt,
            failed_open: AtomicU64::new(0),
            warn: WarnGate::new(WARN_EVERY),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &RateLimitsConfig {
        &self.config
    }

    /// How many decisions were let through because the backend failed.
    pub fn failed_open(&self) -> u64 {
        self.failed_open.load(Ordering::Relaxed)
    }

    /// Step 6c for a request of type `request_type` from `client_ipaddr`
    /// (already known to be truthy) with `body` (already known to be
    /// present).
    pub async fn check_request(
        &self,
        request_type: &Value,
        client_ipaddr: &Value,
        body: &Value,
    ) -> Verdict {
        let name = match request_type.as_str() {
            Some(n) if RequestType::from_name(n).is_some() => n,
            _ => UNKNOWN_TYPE,
        };
        // Upstream: e-mail types without an e-mail are refused before
        // anything else is decided.
        let email = if request_type.as_str().is_some_and(names_an_email) && !body.is_null() {
            match email_of(body) {
                Some(e) => Some(e),
                None => {
                    metrics::counter!(RATE_LIMITED, "class" => "missing_email").increment(1);
                    return Verdict::Limited {
                        retry_after_secs: UPSTREAM_RETRY_AFTER_SECS,
                    };
                }
            }
        } else {
            None
        };
        let limit = if name == UNKNOWN_TYPE {
            self.config.limit_for("")
        } else {
            self.config.limit_for(name)
        };
        let key = format!("{name}-{}", address_key(client_ipaddr));
        let verdict = self.decide(&key, limit.limit).await;
        if verdict != Verdict::Allowed {
            metrics::counter!(RATE_LIMITED, "class" => "address").increment(1);
            return verdict;
        }
        match email {
            Some(email) => {
                let key = format!("{name}-@{}", pii_hash(&email, &self.salt));
                let verdict = self
                    .decide(&key, self.config.email_limit_for(name).limit)
                    .await;
                if verdict != Verdict::Allowed {
                    metrics::counter!(RATE_LIMITED, "class" => "email").increment(1);
                }
                verdict
            }
            None => Verdict::Allowed,
        }
    }

    /// The `/health` limit: type `apikey-healthcheck` keyed by the caller's
    /// TCP address (PROTOCOL.md 9.1).
    pub async fn check_health(&self, peer: std::net::IpAddr) -> Verdict {
        let key = format!("{HEALTH_TYPE}-{peer}");
        let verdict = self
            .decide(&key, self.config.limit_for(HEALTH_TYPE).limit)
            .await;
        if verdict != Verdict::Allowed {
            metrics::counter!(RATE_LIMITED, "class" => "health").increment(1);
        }
        verdict
    }

    async fn decide(&self, key: &str, limit: RateLimit) -> Verdict {
        match self.backend.check(key, limit, self.clock.now()).await {
            Ok(RateDecision::Allowed) => Verdict::Allowed,
            Ok(d @ RateDecision::Limited { .. }) => Verdict::Limited {
                retry_after_secs: d.retry_after_secs().unwrap_or(1),
            },
            Err(e) => {
                let n = self.failed_open.fetch_add(1, Ordering::Relaxed) + 1;
                if self.warn.ready() {
                    tracing::warn!(
                        error = %e,
                        failed_open_total = n,
                        "rate limiter backend failed: request allowed (fail-open)"
                    );
                }
                Verdict::Allowed
            }
        }
    }
}

/// The address part of a key: the string as sent (or the JSON text of a
/// non-string), hashed when longer than [`MAX_ADDRESS_LEN`].
fn address_key(client_ipaddr: &Value) -> String {
    let text = match client_ipaddr {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.len() <= MAX_ADDRESS_LEN {
        text
    } else {
        format!("#{}", pii_hash(&text, "authnz-rate-limiter-address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authnz_api::{ManualClock, MemoryRateLimiter, StoreError};
    use chrono::NaiveDateTime;
    use serde_json::json;

    use crate::ratelimit::parse_ratelimits;

    fn limiter(config: &str) -> (RequestLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            chrono::DateTime::from_timestamp(1_700_000_000, 0)
                .unwrap()
                .naive_utc(),
        ));
        let l = RequestLimiter::new(
            parse_ratelimits(config).unwrap().unwrap(),
            Arc::new(MemoryRateLimiter::default()),
            clock.clone(),
            "salt",
        );
        (l, clock)
    }

    async fn run(l: &RequestLimiter, t: &str, ip: &str, body: Value, n: usize) -> usize {
        let mut allowed = 0;
        for _ in 0..n {
            if l.check_request(&json!(t), &json!(ip), &body).await == Verdict::Allowed {
                allowed += 1;
            }
        }
        allowed
    }

    #[tokio::test]
    async fn burst_then_limited_then_recovers_at_the_rate() {
        let (l, clock) = limiter("session:60;burst:150");
        assert_eq!(
            run(&l, "session-new", "10.0.0.1", json!({}), 300).await,
            150
        );
        let v = l
            .check_request(&json!("session-new"), &json!("10.0.0.1"), &json!({}))
            .await;
        assert_eq!(
            v,
            Verdict::Limited {
                retry_after_secs: 1
            }
        );
        // Other addresses and other types have their own buckets.
        assert_eq!(run(&l, "session-new", "10.0.0.2", json!({}), 1).await, 1);
        assert_eq!(run(&l, "session-exists", "10.0.0.1", json!({}), 1).await, 1);
        // 60/min: one more per second.
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(run(&l, "session-new", "10.0.0.1", json!({}), 5).await, 1);
        clock.advance(chrono::Duration::seconds(10));
        assert_eq!(run(&l, "session-new", "10.0.0.1", json!({}), 20).await, 10);
    }

    #[tokio::test]
    async fn aggressive_and_override_limits() {
        let (l, clock) = limiter("user-list:10");
        assert_eq!(run(&l, "user-new", "a", json!({}), 300).await, 5);
        assert_eq!(run(&l, "user-list", "a", json!({}), 300).await, 10);
        let v = l
            .check_request(&json!("user-new"), &json!("a"), &json!({}))
            .await;
        // 5/min: the next one in 12 s.
        assert_eq!(
            v,
            Verdict::Limited {
                retry_after_secs: 12
            }
        );
        clock.advance(chrono::Duration::seconds(12));
        assert_eq!(run(&l, "user-new", "a", json!({}), 3).await, 1);
        let (l, _) = limiter("user-new:50");
        assert_eq!(run(&l, "user-new", "a", json!({}), 300).await, 50);
    }

    #[tokio::test]
    async fn email_types_are_counted_per_email_too() {
        let (l, _) = limiter("user-sendemail-signup:100");
        let body = |e: &str| json!({"email": e});
        // Per e-mail: `user-sendemail-signup` limit (100, override) for the
        // address and the e-mail alike; different addresses share the e-mail.
        let mut allowed = 0;
        for i in 0..150 {
            let ip = format!("10.1.{}.{}", i / 200, i % 200);
            if l.check_request(&json!("user-sendemail-signup"), &json!(ip), &body("x@y.z"))
                .await
                == Verdict::Allowed
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 100);
        // email_address is the fallback; no e-mail at all -> 429 (upstream).
        assert_eq!(
            run(
                &l,
                "user-lookup-email",
                "b",
                json!({"email": "", "email_address": "q@r.s"}),
                1
            )
            .await,
            1
        );
        assert_eq!(
            l.check_request(
                &json!("user-lookup-email"),
                &json!("b"),
                &json!({"email": ""})
            )
            .await,
            Verdict::Limited {
                retry_after_secs: UPSTREAM_RETRY_AFTER_SECS
            }
        );
        // A null body is not checked for an e-mail.
        assert_eq!(
            l.check_request(&json!("user-lookup-email"), &json!("b"), &Value::Null)
                .await,
            Verdict::Allowed
        );
    }

    #[tokio::test]
    async fn unknown_types_share_one_bucket() {
        let (l, _) = limiter("ipaddr:60;burst:3");
        let mut allowed = 0;
        for i in 0..10 {
            let t = json!(format!("no-such-type-{i}"));
            if l.check_request(&t, &json!("a"), &json!({})).await == Verdict::Allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
        assert_eq!(
            l.check_request(&json!(5), &json!("a"), &json!({})).await,
            Verdict::Limited {
                retry_after_secs: 1
            }
        );
    }

    #[derive(Debug)]
    struct Down;

    #[async_trait::async_trait]
    impl RateLimiter for Down {
        async fn check(
            &self,
            _key: &str,
            _limit: RateLimit,
            _now: NaiveDateTime,
        ) -> Result<RateDecision, StoreError> {
            Err(StoreError::Unavailable {
                source: "connection refused".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_failing_backend_fails_open_and_is_counted() {
        let l = RequestLimiter::new(
            RateLimitsConfig::default(),
            Arc::new(Down),
            Arc::new(authnz_api::SystemClock),
            "none",
        );
        for _ in 0..3 {
            assert_eq!(
                l.check_request(&json!("user-new"), &json!("a"), &json!({}))
                    .await,
                Verdict::Allowed
            );
        }
        assert_eq!(l.failed_open(), 3);
    }
}
